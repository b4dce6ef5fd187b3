"""Leaky integrate-and-fire neurons: LIF, current-based LIF (CuBa), the leaky-integrator readout LI, and IF (no leak).

Discrete-time dynamics per step of ``dt`` ms (SPEC §1-2), with ``beta = exp(-dt / tau_mem)`` and
``alpha = exp(-dt / tau_syn)``::

    i_t = alpha * i_{t-1} + x_t              (CubaLIF only)
    v_t = beta * v_{t-1} + i_t               (LIF: + x_t)
    s_t = H(v_t - threshold)                 (surrogate gradient in backward)
    reset: subtract  v_t -= s_t * threshold
           zero      v_t *= 1 - s_t
           none      v_t unchanged

A recurrent layer adds ``W_rec @ s_{t-1}`` to ``x_t``. LI is ``v_t = beta * v_{t-1} + x_t`` with ``v_t`` as its
output. IF is LIF with ``beta = 1`` (no ``tau_mem``). Use LIF for spiking hidden layers, CubaLIF where a synaptic
filter (a second time constant) helps, LI as a readout whose membrane is fed to the loss, IF where the membrane must
not forget (rate codes, converted ANNs).

Each model is a pure ``*_step`` function on explicit state, a ``*_sequence`` function that runs a whole
``(T, B, ...)`` sequence (the one place a faster kernel replaces), and a thin ``nn.Module`` that owns parameters.
"""

from __future__ import annotations

import math
from typing import NamedTuple, Optional

import torch
from torch import nn

from .. import _checks
from ..surrogate import Surrogate, surrogate as make_surrogate
from . import lif_fused
from .base import Stateful

__all__ = [
    "LIFState", "CubaLIFState", "LIState", "LIFDynamics",
    "lif_step", "lif_sequence", "li_step", "li_sequence",
    "LIF", "CubaLIF", "LI", "IF",
]


class LIFState(NamedTuple):
    """State of a LIF or CubaLIF layer (all ``(B, *shape)``).

    Attributes:
        v: membrane potential (threshold units).
        i: synaptic current (CubaLIF; zeros for LIF).
        s: spikes of the previous step (read by the recurrent connection).
    """

    v: torch.Tensor
    i: torch.Tensor
    s: torch.Tensor


CubaLIFState = LIFState


class LIState(NamedTuple):
    """State of an LI readout: ``v``, the membrane potential ``(B, *shape)``."""

    v: torch.Tensor


class LIFDynamics(NamedTuple):
    """Per-step coefficients of a LIF-family layer, broadcastable to ``(B, *shape)``.

    Attributes:
        beta: membrane decay per step, ``exp(-dt / tau_mem)`` (dimensionless).
        alpha: synaptic decay per step, ``exp(-dt / tau_syn)``; ``None`` for LIF (no synaptic current).
        threshold: firing threshold (membrane units).
        reset: ``"subtract"``, ``"zero"`` or ``"none"``.
        spike_fn: Heaviside with a surrogate gradient.
        recurrent_weight: ``(n, n)`` matrix applied to the previous spikes, or ``None``.
        detach_reset: if True the reset carries no gradient (the usual choice in surrogate training).
    """

    beta: torch.Tensor
    alpha: Optional[torch.Tensor]
    threshold: torch.Tensor
    reset: str
    spike_fn: Surrogate
    recurrent_weight: Optional[torch.Tensor] = None
    detach_reset: bool = True


def lif_step(x: torch.Tensor, state: LIFState, p: LIFDynamics) -> tuple[torch.Tensor, LIFState]:
    """One step of LIF / CubaLIF: ``x`` ``(B, *shape)`` input current -> spikes ``(B, *shape)`` and new state."""
    if p.recurrent_weight is not None:
        x = x + state.s @ p.recurrent_weight.t()
    i = x if p.alpha is None else p.alpha * state.i + x
    v = p.beta * state.v + i
    s = p.spike_fn(v - p.threshold)
    r = s.detach() if p.detach_reset else s
    if p.reset == "subtract":
        v = v - r * p.threshold
    elif p.reset == "zero":
        v = v * (1 - r)
    return s, LIFState(v, i if p.alpha is not None else state.i, s)


def lif_sequence(x: torch.Tensor, state: LIFState, p: LIFDynamics) -> tuple[torch.Tensor, LIFState]:
    """Runs :func:`lif_step` over a whole sequence ``(T, B, *shape)``; returns spikes ``(T, B, *shape)``.

    This is the whole-sequence entry point of the LIF family: a fused kernel can replace it without changing
    the modules.
    """
    out = []
    for x_t in x.unbind(0):
        s, state = lif_step(x_t, state, p)
        out.append(s)
    return torch.stack(out), state


def li_step(x: torch.Tensor, state: LIState, beta: torch.Tensor) -> tuple[torch.Tensor, LIState]:
    """One step of the leaky integrator: ``v_t = beta * v_{t-1} + x_t``; the output is ``v_t``."""
    v = beta * state.v + x
    return v, LIState(v)


def li_sequence(x: torch.Tensor, state: LIState, beta: torch.Tensor) -> tuple[torch.Tensor, LIState]:
    """Runs :func:`li_step` over ``(T, B, *shape)``; returns the membrane trace ``(T, B, *shape)``."""
    out = []
    for x_t in x.unbind(0):
        v, state = li_step(x_t, state, beta)
        out.append(v)
    return torch.stack(out), state


# Learnable time constants and thresholds are clamped into these ranges in the forward pass (ms; membrane units).
TAU_RANGE_MS = (1e-2, 1e5)
THRESHOLD_MIN = 1e-3


def _per_neuron(name: str, value, shape: tuple[int, ...], where: str, *, zero: bool = False) -> torch.Tensor:
    """A positive (``zero=True``: non-negative) finite scalar or tensor broadcast to a per-neuron tensor of ``shape``
    (torch's default dtype)."""
    t = torch.as_tensor(value).to(torch.get_default_dtype())
    if not zero:
        _checks.positive(name, t, where=where)
    elif not bool(torch.isfinite(t).all()) or bool((t < 0).any()):
        raise ValueError(f"{where}: {name}: expected finite values >= 0, got {value!r}")
    try:
        return t.expand(shape).clone()
    except RuntimeError:
        raise ValueError(f"{where}: {name}: expected a scalar or a tensor broadcastable to {shape}, "
                         f"got shape {tuple(t.shape)}") from None


class _LeakyBase(Stateful):
    """Shared parameter handling of the LIF family: shape, ``dt``, time constants."""

    def __init__(self, shape, dt: float, learn_tau: bool) -> None:
        super().__init__()
        self.shape = _checks.shape_tuple("shape", shape)
        _checks.positive("dt", dt, where=type(self).__name__)
        self.dt = float(dt)
        self.learn_tau = bool(learn_tau)

    def _time_constant(self, name: str, value) -> None:
        t = _per_neuron(name, value, self.shape, type(self).__name__)
        if self.learn_tau:
            self.register_parameter(name, nn.Parameter(t))
        else:
            self.register_buffer(name, t)

    def time_constant(self, name: str) -> torch.Tensor:
        """The named time constant (ms), clamped into ``TAU_RANGE_MS`` when it is learned."""
        tau = getattr(self, name)
        return tau.clamp(*TAU_RANGE_MS) if self.learn_tau else tau

    def decay(self, name: str = "tau_mem") -> torch.Tensor:
        """Per-step decay ``exp(-dt / tau)`` of the named time constant."""
        return torch.exp(-self.dt / self.time_constant(name))

    def _check_input(self, x: torch.Tensor, leading: int) -> None:
        _checks.input_tensor(x, self.shape, leading=leading, where=type(self).__name__)


class LIF(_LeakyBase):
    """Leaky integrate-and-fire layer of neurons of ``shape`` (see the module docstring for the equations).

    Args:
        shape: neurons of the layer, an int or a tuple (e.g. ``(C, H, W)`` after a convolution).
        tau_mem: membrane time constant (ms), scalar or per neuron.
        threshold: firing threshold (membrane units), scalar or per neuron.
        reset: ``"subtract"`` (default), ``"zero"`` or ``"none"``.
        dt: simulation step (ms).
        learn_tau / learn_threshold: train per-neuron ``tau_mem`` / ``threshold`` (clamped to valid ranges).
        recurrent: add an all-to-all recurrent weight ``W_rec`` (1-D ``shape`` only).
        surrogate: ``"atan"``, ``"fast_sigmoid"`` or ``"triangle"``; ``slope`` its sharpness (None = default).
        detach_reset: stop the gradient through the reset term.

    ``forward(x (T, B, *shape), state=None) -> (spikes (T, B, *shape), state)``;
    ``step(x (B, *shape), state=None) -> (spikes (B, *shape), state)``.
    """

    has_synapse = False
    leaky = True  # False for IF: no tau_mem, beta = 1

    def __init__(self, shape, *, tau_mem=10.0, threshold=1.0, reset: str = "subtract", dt: float = 1.0,
                 learn_tau: bool = False, learn_threshold: bool = False, recurrent: bool = False,
                 surrogate: str = "atan", slope: float | None = None, detach_reset: bool = True) -> None:
        super().__init__(shape, dt, learn_tau)
        name = type(self).__name__
        self.reset = _checks.reset_mode(reset, where=name)
        self.spike_fn = make_surrogate(surrogate, slope)
        self.detach_reset = bool(detach_reset)
        self.learn_threshold = bool(learn_threshold)
        if self.leaky:
            self._time_constant("tau_mem", tau_mem)
        th = _per_neuron("threshold", threshold, self.shape, name)
        if self.learn_threshold:
            self.threshold = nn.Parameter(th)
        else:
            self.register_buffer("threshold", th)
        if recurrent:
            if len(self.shape) != 1:
                raise ValueError(f"{name}: recurrent: expected a 1-D shape (n,), got {self.shape}")
            n = self.shape[0]
            self.recurrent_weight = nn.Parameter(torch.empty(n, n))
        else:
            self.register_parameter("recurrent_weight", None)
        self.reset_parameters()

    @property
    def recurrent(self) -> bool:
        return self.recurrent_weight is not None

    def reset_parameters(self) -> None:
        """Initialises the recurrent weight uniformly in ``+-1/sqrt(n)`` (as ``nn.Linear``)."""
        if self.recurrent_weight is not None:
            bound = 1 / math.sqrt(self.shape[0])
            nn.init.uniform_(self.recurrent_weight, -bound, bound)

    def effective_threshold(self) -> torch.Tensor:
        """The threshold in use (clamped to ``>= THRESHOLD_MIN`` when learned)."""
        return self.threshold.clamp_min(THRESHOLD_MIN) if self.learn_threshold else self.threshold

    def dynamics(self) -> LIFDynamics:
        return LIFDynamics(
            beta=self.decay("tau_mem") if self.leaky else torch.ones((), dtype=self.threshold.dtype,
                                                                       device=self.threshold.device),
            alpha=self.decay("tau_syn") if self.has_synapse else None,
            threshold=self.effective_threshold(),
            reset=self.reset,
            spike_fn=self.spike_fn,
            recurrent_weight=self.recurrent_weight,
            detach_reset=self.detach_reset,
        )

    def initial_state(self, batch_size: int, device=None, dtype=torch.float32) -> LIFState:
        z = torch.zeros(batch_size, *self.shape, device=device, dtype=dtype)
        return LIFState(z, z, z)

    def forward(self, x: torch.Tensor, state: LIFState | None = None) -> tuple[torch.Tensor, LIFState]:
        self._check_input(x, leading=2)
        if state is None:
            state = self.initial_state(x.shape[1], x.device, x.dtype)
        p = self.dynamics()
        if lif_fused.fusable(x, p, state.v) is not None:
            spikes, v = lif_fused.lif_sequence_fused(x, state.v, p)
            return spikes, LIFState(v, state.i, spikes[-1])
        return lif_sequence(x, state, p)

    def forward_after(self, linear: nn.Linear, x: torch.Tensor,
                      state: LIFState | None = None) -> tuple[torch.Tensor, LIFState] | None:
        """``self(linear(x), state)`` as one fused node (:func:`lif_fused.linear_lif_sequence`), or None where the
        fused kernels do not apply (then run the two modules one after the other)."""
        if (not isinstance(x, torch.Tensor) or x.dim() != 3 or x.shape[-1] != linear.in_features
                or self.shape != (linear.out_features,)):
            return None
        if state is None:
            state = self.initial_state(x.shape[1], x.device, x.dtype)
        p = self.dynamics()
        if lif_fused.fusable(x, p, state.v, linear.weight, linear.bias) is None:
            return None
        spikes, v = lif_fused.linear_lif_sequence(x, linear.weight, linear.bias, state.v, p)
        return spikes, LIFState(v, state.i, spikes[-1])

    def step(self, x: torch.Tensor, state: LIFState | None = None) -> tuple[torch.Tensor, LIFState]:
        self._check_input(x, leading=1)
        if state is None:
            state = self.initial_state(x.shape[0], x.device, x.dtype)
        return lif_step(x, state, self.dynamics())

    def extra_repr(self) -> str:
        taus = ("tau_mem" + (", tau_syn" if self.has_synapse else "") + f" (ms), dt={self.dt}, ") if self.leaky else ""
        return (f"shape={self.shape}, {taus}reset={self.reset!r}, "
                f"surrogate={self.spike_fn.kind}(slope={self.spike_fn.slope}), recurrent={self.recurrent}")


class CubaLIF(LIF):
    """Current-based LIF: a synaptic current with time constant ``tau_syn`` (ms, default 5) feeds the membrane.

    Same arguments as :class:`LIF` plus ``tau_syn``.
    """

    has_synapse = True

    def __init__(self, shape, *, tau_syn=5.0, **kwargs) -> None:
        super().__init__(shape, **kwargs)
        self._time_constant("tau_syn", tau_syn)


class LI(_LeakyBase):
    """Leaky-integrator readout ``v_t = exp(-dt / tau_mem) * v_{t-1} + x_t``; outputs the membrane trace.

    Args:
        shape: neurons (int or tuple); tau_mem: time constant (ms); dt: step (ms); learn_tau: train tau.
    """

    def __init__(self, shape, *, tau_mem=10.0, dt: float = 1.0, learn_tau: bool = False) -> None:
        super().__init__(shape, dt, learn_tau)
        self._time_constant("tau_mem", tau_mem)

    def initial_state(self, batch_size: int, device=None, dtype=torch.float32) -> LIState:
        return LIState(torch.zeros(batch_size, *self.shape, device=device, dtype=dtype))

    def forward(self, x: torch.Tensor, state: LIState | None = None) -> tuple[torch.Tensor, LIState]:
        self._check_input(x, leading=2)
        if state is None:
            state = self.initial_state(x.shape[1], x.device, x.dtype)
        return li_sequence(x, state, self.decay())

    def step(self, x: torch.Tensor, state: LIState | None = None) -> tuple[torch.Tensor, LIState]:
        self._check_input(x, leading=1)
        if state is None:
            state = self.initial_state(x.shape[0], x.device, x.dtype)
        return li_step(x, state, self.decay())

    def extra_repr(self) -> str:
        return f"shape={self.shape}, tau_mem (ms), dt={self.dt}"


class IF(LIF):
    """Integrate-and-fire layer (no leak): ``v_t = v_{t-1} + x_t [+ W_rec s_{t-1}]``, ``s_t = H(v_t - threshold)``,
    then the reset (``"subtract"`` by default, ``"zero"`` or ``"none"``).

    :func:`lif_step` with ``beta = 1``: it has no time constant and no ``dt``. Use it for rate-coded networks (e.g.
    converted ANNs), where the membrane must not forget. Arguments: those of :class:`LIF` without ``tau_mem``,
    ``dt`` and ``learn_tau``.
    """

    leaky = False

    def __init__(self, shape, *, threshold=1.0, reset: str = "subtract", learn_threshold: bool = False,
                 recurrent: bool = False, surrogate: str = "atan", slope: float | None = None,
                 detach_reset: bool = True) -> None:
        super().__init__(shape, threshold=threshold, reset=reset, learn_threshold=learn_threshold,
                         recurrent=recurrent, surrogate=surrogate, slope=slope, detach_reset=detach_reset)
