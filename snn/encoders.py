"""Encoders: static or analog values -> spike trains, as modules in a model or as per-sample dataset transforms.

Three families, each an ``nn.Module`` whose ``forward`` maps a batch to a time-major spike tensor, and whose
``transform(sample, index=None)`` maps one sample (no batch dimension) to ``(T, ...)``:

- :class:`RateEncoder`: each step is an independent draw. ``"bernoulli"``: ``s_t ~ Bernoulli(p)`` with
  ``p = gain * x`` in ``[0, 1]`` (binary spikes); ``"poisson"``: ``n_t ~ Poisson(lam)`` events with ``lam = gain * x``
  >= 0 expected events per step (integer counts, so a step can carry more than one event).
- :class:`LatencyEncoder`: time to first spike, one spike per feature, larger values earlier; features ``x <=
  threshold`` stay silent. ``"linear"``: ``t = round((1 - x) (T - 1))``; ``"log"`` (an RC membrane charged by a
  constant current ``x`` crossing ``threshold``): ``t = round(tau ln(x / (x - threshold)))``, silent when ``t >= T``.
  ``x`` in ``[0, 1]``; ``t`` and ``tau`` in steps.
- :class:`DeltaEncoder` (send-on-delta / threshold crossing) for analog signals ``(T, B, *shape)``: a reference
  level ``r`` starts at 0 and follows the signal in steps of ``threshold``; at each step ``n_t = trunc((x_t - r_{t-1})
  / threshold)`` crossings are sent, ``ON = max(n_t, 0)`` and ``OFF = max(-n_t, 0)`` (two channels, like a camera's
  polarities), and ``r_t = r_{t-1} + n_t threshold``. So ``threshold * sum_{k <= t} (ON_k - OFF_k) = r_t`` stays within
  ``threshold`` of ``x_t``: the signal is recoverable from the spikes.

Randomness (rate): with ``seed`` the encoder owns a ``torch.Generator`` seeded once, so a run of calls repeats;
``transform(sample, index=i)`` draws from a generator seeded by ``(seed, i)``, so sample ``i`` gets the same spikes
whatever the order or worker that loads it. Without ``seed`` draws come from torch's global RNG
(``torch.manual_seed``). Bad values (out of range, non-finite) raise a ``ValueError`` naming the encoder and argument:
nothing is clipped silently.
"""

from __future__ import annotations

import math
import operator
from typing import Optional

import numpy as np
import torch
from torch import nn

__all__ = ["RateEncoder", "LatencyEncoder", "DeltaEncoder"]


def _steps(num_steps, where: str) -> int:
    if isinstance(num_steps, bool) or not isinstance(num_steps, int) or num_steps < 1:
        raise ValueError(f"{where}: num_steps: expected an int >= 1, got {num_steps!r}")
    return num_steps


def _number(name: str, value, where: str, *, low: float = 0.0, low_open: bool = True, high: float = math.inf,
            high_open: bool = True) -> float:
    ok = not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
    ok = ok and (value > low if low_open else value >= low) and (value < high if high_open else value <= high)
    if not ok:
        rng = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        raise ValueError(f"{where}: {name}: expected a finite number in {rng}, got {value!r}")
    return float(value)


def _tensor(x, where: str, *, min_dim: int) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        x = torch.as_tensor(x)
    if not (torch.is_floating_point(x) or x.dtype in (torch.uint8, torch.int16, torch.int32, torch.int64,
                                                      torch.bool)):
        raise ValueError(f"{where}: input: expected real numbers, got dtype {x.dtype}")
    x = x.to(torch.get_default_dtype()) if not torch.is_floating_point(x) else x
    if x.dim() < min_dim:
        raise ValueError(f"{where}: input: expected at least {min_dim} dimensions, got shape {tuple(x.shape)}")
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{where}: input: expected finite values")
    return x


def _in_range(x: torch.Tensor, low: float, high: float, what: str, where: str) -> None:
    bad = (x < low) | (x > high)
    if bool(bad.any()):
        raise ValueError(f"{where}: input: expected {what} in [{low:g}, {high:g}], got {int(bad.sum())} value(s) "
                         f"outside, range {x.min().item():g}..{x.max().item():g} (scale the data first)")


class _Encoder(nn.Module):
    """Shared ``transform`` (one sample) and seeding; subclasses implement ``_encode(x, generator)`` on a batch."""

    batch_dim = 0  # the batch dimension of forward's input (1 for time-major signals)

    def __init__(self, seed: Optional[int]) -> None:
        super().__init__()
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
            raise ValueError(f"{type(self).__name__}: seed: expected an int >= 0 or None, got {seed!r}")
        self.seed = seed
        self._generator = None if seed is None else torch.Generator().manual_seed(seed)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._encode(x, self._generator)

    def transform(self, sample, index: Optional[int] = None) -> torch.Tensor:
        """Encodes one sample (no batch dimension); with ``seed`` and ``index``, sample ``index`` always gets the same
        spikes. Returns ``(T, ...)``."""
        gen = self._generator
        if index is not None and self.seed is not None:
            state = np.random.SeedSequence([self.seed, operator.index(index)]).generate_state(2, np.uint32)
            gen = torch.Generator().manual_seed(int(state[0]) << 31 | int(state[1]) >> 1)
        x = _tensor(sample, type(self).__name__, min_dim=self.batch_dim)
        return self._encode(x.unsqueeze(self.batch_dim), gen).select(1, 0)  # output (T, B=1, ...)

    def _encode(self, x: torch.Tensor, generator: Optional[torch.Generator]) -> torch.Tensor:
        raise NotImplementedError


class RateEncoder(_Encoder):
    """Rate coding: ``(B, *shape) -> (num_steps, B, *shape)``, each step an independent draw (module docstring).

    Args:
        num_steps: steps ``T``.
        mode: ``"bernoulli"`` (binary, ``p = gain x`` must lie in [0, 1]) or ``"poisson"`` (counts, ``lam = gain x``
            >= 0 events per step).
        gain: factor on the input (e.g. ``1/16`` for 0..16 pixel values), > 0.
        seed: seed of the encoder's own generator, or None for torch's global RNG.
    """

    def __init__(self, num_steps: int, mode: str = "bernoulli", *, gain: float = 1.0, seed: Optional[int] = None):
        super().__init__(seed)
        name = type(self).__name__
        self.num_steps = _steps(num_steps, name)
        if mode not in ("bernoulli", "poisson"):
            raise ValueError(f"{name}: mode: expected 'bernoulli' or 'poisson', got {mode!r}")
        self.mode = mode
        self.gain = _number("gain", gain, name)

    def _encode(self, x, generator):
        name = type(self).__name__
        x = _tensor(x, name, min_dim=1)
        p = self.gain * x
        shape = (self.num_steps, *p.shape)
        if self.mode == "bernoulli":
            _in_range(p, 0.0, 1.0, "probabilities gain * x", name)
            u = torch.rand(shape, generator=generator, dtype=p.dtype).to(p.device)
            return (u < p).to(p.dtype)
        _in_range(p, 0.0, math.inf, "rates gain * x", name)
        lam = p.detach().cpu().expand(shape).contiguous()
        return torch.poisson(lam, generator=generator).to(p.device)

    def extra_repr(self) -> str:
        return f"num_steps={self.num_steps}, mode={self.mode!r}, gain={self.gain:g}, seed={self.seed}"


class LatencyEncoder(_Encoder):
    """Time-to-first-spike coding: ``(B, *shape) -> (num_steps, B, *shape)``, at most one spike per feature.

    Args:
        num_steps: steps ``T``.
        mode: ``"linear"``: ``t = round((1 - x) (T - 1))``; ``"log"``: ``t = round(tau ln(x / (x - threshold)))``.
        tau: time constant of the log code (steps, > 0).
        threshold: features ``x <= threshold`` do not spike (in [0, 1); > 0 for ``"log"``).
        gain: factor on the input before the code (``gain x`` must lie in [0, 1]).

    Rounding is half to even (``torch.round``). Deterministic: no seed.
    """

    def __init__(self, num_steps: int, mode: str = "linear", *, tau: float = 5.0, threshold: float = 0.01,
                 gain: float = 1.0) -> None:
        super().__init__(None)
        name = type(self).__name__
        self.num_steps = _steps(num_steps, name)
        if mode not in ("linear", "log"):
            raise ValueError(f"{name}: mode: expected 'linear' or 'log', got {mode!r}")
        self.mode = mode
        self.tau = _number("tau", tau, name)
        self.threshold = _number("threshold", threshold, name, low_open=mode == "log", high=1.0)
        self.gain = _number("gain", gain, name)

    def spike_times(self, x: torch.Tensor) -> torch.Tensor:
        """The spike step of every feature (float; ``inf`` where it does not spike)."""
        name = type(self).__name__
        x = self.gain * _tensor(x, name, min_dim=1)
        _in_range(x, 0.0, 1.0, "values gain * x", name)
        fires = x > self.threshold
        if self.mode == "linear":
            t = torch.round((1 - x) * (self.num_steps - 1))
        else:
            safe = torch.where(fires, x, torch.ones_like(x))
            t = torch.round(self.tau * torch.log(safe / (safe - self.threshold)))
        return torch.where(fires & (t < self.num_steps), t, torch.full_like(t, math.inf))

    def _encode(self, x, generator):
        t = self.spike_times(x)
        steps = torch.arange(self.num_steps, device=t.device, dtype=t.dtype).view(-1, *([1] * t.dim()))
        return (steps == t.unsqueeze(0)).to(t.dtype)

    def extra_repr(self) -> str:
        return (f"num_steps={self.num_steps}, mode={self.mode!r}, tau={self.tau:g} (steps), "
                f"threshold={self.threshold:g}, gain={self.gain:g}")


class DeltaEncoder(_Encoder):
    """Send-on-delta coding of analog signals: ``(T, B, *shape) -> (T, B, 2, *shape)`` (ON, OFF crossing counts).

    Args:
        threshold: the level step (signal units, > 0).

    ``transform`` takes one signal ``(T, *shape)`` and returns ``(T, 2, *shape)``. Deterministic: no seed.
    """

    batch_dim = 1

    def __init__(self, threshold: float) -> None:
        super().__init__(None)
        self.threshold = _number("threshold", threshold, type(self).__name__)

    def _encode(self, x, generator):
        x = _tensor(x, type(self).__name__, min_dim=2)
        ref = torch.zeros_like(x[0])
        out = []
        for x_t in x.unbind(0):
            n = torch.trunc((x_t - ref) / self.threshold)
            ref = ref + n * self.threshold
            out.append(torch.stack([n.clamp_min(0), (-n).clamp_min(0)], dim=1))
        return torch.stack(out)

    @staticmethod
    def reconstruct(spikes: torch.Tensor, threshold: float) -> torch.Tensor:
        """The reference level ``threshold * cumsum(ON - OFF)``, ``(T, B, *shape)``: within ``threshold`` of the
        signal."""
        return threshold * torch.cumsum(spikes[:, :, 0] - spikes[:, :, 1], dim=0)

    def extra_repr(self) -> str:
        return f"threshold={self.threshold:g}"
