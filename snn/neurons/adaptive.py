"""Adaptive LIF with a spike-triggered adaptation current, discretised with symplectic Euler (SE-adLIF).

The model of Baronig, Ferrand, Sabathiel & Legenstein, "Advancing spatio-temporal processing through adaptation in
spiking neural networks" (Nature Communications 2025; arXiv:2408.07517, 2024), the recurrent state of the art on SHD.
In continuous time a membrane ``u`` driven by the input current ``I`` is pulled down by an adaptation current ``w``
that follows ``u`` (sub-threshold coupling ``a``) and jumps at each spike (spike-triggered coupling ``b``)::

    tau_mem   du/dt = -u + I - w                      (reset of u at a spike)
    tau_adapt dw/dt = -w + q (a u + b tau_adapt S(t))

The paper's symplectic-Euler step, per step of ``dt`` ms, with ``alpha = exp(-dt / tau_mem)`` and
``beta = exp(-dt / tau_adapt)``::

    u_t = alpha u_{t-1} + (1 - alpha) (x_t [+ W_rec s_{t-1}] - w_{t-1})
    s_t = H(u_t - threshold)
    reset: zero u_t <- u_t (1 - s_t) (the paper's) | subtract u_t <- u_t - s_t threshold | none
    w_t = beta w_{t-1} + (1 - beta) q (a u_t + b s_t)

"Symplectic": ``w_t`` reads the membrane of the *same* step after its reset, ``u_t``, where forward Euler (EF-adLIF)
would read ``u_{t-1}`` and ``s_{t-1}``; this keeps the discrete neuron stable and oscillating like the continuous one.
Our reading of the paper (and of its code, github.com/IGITUGraz/SE-adlif): the spike term enters ``w`` as
``(1 - beta) q b s_t``, the reset carries no gradient (``detach_reset``), and ``q`` (120 in the paper) rescales
``a`` in ``[0, 1]`` and ``b`` in ``[0, 2]``, the ranges the paper clamps them to when they are learned. The paper also
learns the initial ``u_0`` and ``w_0`` and uses a SLAYER-style surrogate; here the state starts at zero and the
surrogate is any of :mod:`snn.surrogate`.

Units: ``u``, ``w``, ``x`` and ``threshold`` in membrane units; the input enters scaled by ``1 - alpha`` (a constant
input ``I`` settles at ``u = I`` without adaptation); ``tau_mem``, ``tau_adapt`` and ``dt`` in ms; ``a``, ``b``,
``q`` dimensionless. Use it where a neuron must integrate over long, changing inputs (speech, SHD/SSC).
"""

from __future__ import annotations

from typing import NamedTuple, Optional

import torch
from torch import nn

from .. import _checks
from ..surrogate import Surrogate
from .lif import LIF, _per_neuron

__all__ = ["AdLIFState", "AdLIFDynamics", "adlif_step", "adlif_sequence", "AdLIF", "A_RANGE", "B_RANGE"]

A_RANGE = (0.0, 1.0)  # learned a and b are clamped into these ranges (the paper's), before the factor q
B_RANGE = (0.0, 2.0)


class AdLIFState(NamedTuple):
    """State of an adaptive LIF layer (all ``(B, *shape)``).

    Attributes:
        v: membrane potential ``u`` (membrane units).
        w: adaptation current (membrane units).
        s: spikes of the previous step (read by the recurrent connection).
    """

    v: torch.Tensor
    w: torch.Tensor
    s: torch.Tensor


class AdLIFDynamics(NamedTuple):
    """Per-step coefficients of an adaptive LIF layer, broadcastable to ``(B, *shape)``.

    Attributes:
        alpha: membrane decay per step, ``exp(-dt / tau_mem)``.
        beta: adaptation decay per step, ``exp(-dt / tau_adapt)``.
        a: sub-threshold coupling ``q a`` (dimensionless).
        b: spike-triggered coupling ``q b`` (membrane units per spike).
        threshold: firing threshold (membrane units).
        reset: ``"zero"``, ``"subtract"`` or ``"none"``.
        spike_fn: Heaviside with a surrogate gradient.
        recurrent_weight: ``(n, n)`` matrix applied to the previous spikes, or ``None``.
        detach_reset: if True the reset carries no gradient.
    """

    alpha: torch.Tensor
    beta: torch.Tensor
    a: torch.Tensor
    b: torch.Tensor
    threshold: torch.Tensor
    reset: str
    spike_fn: Surrogate
    recurrent_weight: Optional[torch.Tensor] = None
    detach_reset: bool = True


def adlif_step(x: torch.Tensor, state: AdLIFState, p: AdLIFDynamics) -> tuple[torch.Tensor, AdLIFState]:
    """One symplectic-Euler step (module docstring): input ``x`` ``(B, *shape)`` -> spikes ``(B, *shape)``, state."""
    if p.recurrent_weight is not None:
        x = x + state.s @ p.recurrent_weight.t()
    v = p.alpha * state.v + (1 - p.alpha) * (x - state.w)
    s = p.spike_fn(v - p.threshold)
    r = s.detach() if p.detach_reset else s
    if p.reset == "zero":
        v = v * (1 - r)
    elif p.reset == "subtract":
        v = v - r * p.threshold
    w = p.beta * state.w + (1 - p.beta) * (p.a * v + p.b * s)
    return s, AdLIFState(v, w, s)


def adlif_sequence(x: torch.Tensor, state: AdLIFState, p: AdLIFDynamics) -> tuple[torch.Tensor, AdLIFState]:
    """Runs :func:`adlif_step` over ``(T, B, *shape)``; returns spikes ``(T, B, *shape)`` and the last state."""
    out = []
    for x_t in x.unbind(0):
        s, state = adlif_step(x_t, state, p)
        out.append(s)
    return torch.stack(out), state


class AdLIF(LIF):
    """Adaptive LIF layer (SE-adLIF, see the module docstring for the equations and the paper).

    Args:
        shape: neurons of the layer, an int or a tuple.
        tau_mem: membrane time constant ``tau_u`` (ms), scalar or per neuron (the paper learns it in 5..25 ms).
        tau_adapt: adaptation time constant ``tau_w`` (ms), scalar or per neuron (the paper: 60..300 ms).
        a: sub-threshold coupling (>= 0; the paper learns it in ``A_RANGE``), scalar or per neuron.
        b: spike-triggered coupling (>= 0; the paper learns it in ``B_RANGE``), scalar or per neuron.
        q: the paper's fixed factor on ``a`` and ``b`` (default 120).
        threshold, reset (default ``"zero"``, the paper's), dt (ms), learn_tau, learn_threshold, recurrent,
        surrogate, slope, detach_reset: as :class:`LIF`; ``learn_tau`` also learns ``tau_adapt``.
        learn_adaptation: learn ``a`` and ``b`` per neuron, clamped into ``A_RANGE`` / ``B_RANGE`` in the forward
            pass (their initial values must lie there).

    ``forward(x (T, B, *shape), state=None) -> (spikes, AdLIFState)``; ``step(x (B, *shape), state=None)``.
    """

    def __init__(self, shape, *, tau_mem=15.0, tau_adapt=180.0, a=0.5, b=1.0, q: float = 120.0,
                 reset: str = "zero", learn_adaptation: bool = False, **kwargs) -> None:
        super().__init__(shape, tau_mem=tau_mem, reset=reset, **kwargs)
        name = type(self).__name__
        self._time_constant("tau_adapt", tau_adapt)
        _checks.positive("q", q, where=name)
        self.q = float(q)
        self.learn_adaptation = bool(learn_adaptation)
        for key, value, (lo, hi) in (("a", a, A_RANGE), ("b", b, B_RANGE)):
            t = _per_neuron(key, value, self.shape, name, zero=True)
            if self.learn_adaptation:
                if not bool(((t >= lo) & (t <= hi)).all()):
                    raise ValueError(f"{name}: {key}: expected values in [{lo}, {hi}] when learned "
                                     f"(learn_adaptation=True), got {t.min().item():g}..{t.max().item():g}")
                self.register_parameter(key, nn.Parameter(t))
            else:
                self.register_buffer(key, t)

    def coupling(self, key: str) -> torch.Tensor:
        """The coupling ``a`` or ``b`` in use, times ``q`` (clamped into its range first when learned)."""
        value = getattr(self, key)
        if self.learn_adaptation:
            value = value.clamp(*(A_RANGE if key == "a" else B_RANGE))
        return self.q * value

    def dynamics(self) -> AdLIFDynamics:
        return AdLIFDynamics(
            alpha=self.decay("tau_mem"), beta=self.decay("tau_adapt"), a=self.coupling("a"), b=self.coupling("b"),
            threshold=self.effective_threshold(), reset=self.reset, spike_fn=self.spike_fn,
            recurrent_weight=self.recurrent_weight, detach_reset=self.detach_reset)

    def initial_state(self, batch_size: int, device=None, dtype=torch.float32) -> AdLIFState:
        z = torch.zeros(batch_size, *self.shape, device=device, dtype=dtype)
        return AdLIFState(z, z, z)

    def forward(self, x: torch.Tensor, state: AdLIFState | None = None) -> tuple[torch.Tensor, AdLIFState]:
        self._check_input(x, leading=2)
        if state is None:
            state = self.initial_state(x.shape[1], x.device, x.dtype)
        return adlif_sequence(x, state, self.dynamics())

    def step(self, x: torch.Tensor, state: AdLIFState | None = None) -> tuple[torch.Tensor, AdLIFState]:
        self._check_input(x, leading=1)
        if state is None:
            state = self.initial_state(x.shape[0], x.device, x.dtype)
        return adlif_step(x, state, self.dynamics())

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, tau_adapt (ms), q={self.q}, learn_adaptation={self.learn_adaptation}"

