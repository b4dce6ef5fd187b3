"""Readout neurons that output their membrane: the current-based leaky integrator CubaLI and the non-leaky
integrator (NIR's ``I``), per step of ``dt`` ms with ``alpha = exp(-dt / tau_syn)``, ``beta = exp(-dt / tau_mem)``::

    CubaLI      i_t = alpha * i_{t-1} + x_t;   v_t = beta * v_{t-1} + i_t;   output v_t
    Integrator  v_t = v_{t-1} + x_t;                                          output v_t

Use CubaLI as a readout whose membrane is smoothed by a synaptic filter, Integrator where the readout must count
(e.g. a spike-count readout of a rate code). Each has pure ``*_step`` / ``*_sequence`` functions on explicit state
and a thin module; this file also registers their lowerings (:mod:`snn.lower`) and rebuilds (:mod:`snn.rebuild`).
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from .. import _checks, ir
from ..lower import _expect_shape, _np, register_lowering
from ..rebuild import _t, register_rebuild
from .base import Stateful
from .lif import LIState, _LeakyBase

__all__ = ["CubaLIState", "cubali_step", "cubali_sequence", "integrator_step", "integrator_sequence", "CubaLI",
           "Integrator"]


class CubaLIState(NamedTuple):
    """State of a CubaLI readout (both ``(B, *shape)``): ``v`` the membrane, ``i`` the synaptic current."""

    v: torch.Tensor
    i: torch.Tensor


def cubali_step(x: torch.Tensor, state: CubaLIState, alpha: torch.Tensor, beta: torch.Tensor
                ) -> tuple[torch.Tensor, CubaLIState]:
    """One CubaLI step: ``i = alpha i + x; v = beta v + i``; the output is ``v``."""
    i = alpha * state.i + x
    v = beta * state.v + i
    return v, CubaLIState(v, i)


def cubali_sequence(x: torch.Tensor, state: CubaLIState, alpha: torch.Tensor, beta: torch.Tensor
                    ) -> tuple[torch.Tensor, CubaLIState]:
    """Runs :func:`cubali_step` over ``(T, B, *shape)``; returns the membrane trace ``(T, B, *shape)``."""
    out = []
    for x_t in x.unbind(0):
        v, state = cubali_step(x_t, state, alpha, beta)
        out.append(v)
    return torch.stack(out), state


def integrator_step(x: torch.Tensor, state: LIState) -> tuple[torch.Tensor, LIState]:
    """One Integrator step: ``v = v + x``; the output is ``v``."""
    v = state.v + x
    return v, LIState(v)


def integrator_sequence(x: torch.Tensor, state: LIState) -> tuple[torch.Tensor, LIState]:
    """Runs :func:`integrator_step` over ``(T, B, *shape)``; returns the membrane trace ``(T, B, *shape)`` (summed
    step by step, in the order every backend sums)."""
    out = []
    for x_t in x.unbind(0):
        v, state = integrator_step(x_t, state)
        out.append(v)
    return torch.stack(out), state


class CubaLI(_LeakyBase):
    """Current-based leaky-integrator readout (equations in the module docstring); outputs the membrane trace.

    Args:
        shape: neurons (int or tuple); tau_mem / tau_syn: time constants (ms, scalar or per neuron; defaults 10, 5);
        dt: step (ms); learn_tau: train both time constants (clamped to valid ranges).
    """

    def __init__(self, shape, *, tau_mem=10.0, tau_syn=5.0, dt: float = 1.0, learn_tau: bool = False) -> None:
        super().__init__(shape, dt, learn_tau)
        self._time_constant("tau_mem", tau_mem)
        self._time_constant("tau_syn", tau_syn)

    def initial_state(self, batch_size: int, device=None, dtype=torch.float32) -> CubaLIState:
        z = torch.zeros(batch_size, *self.shape, device=device, dtype=dtype)
        return CubaLIState(z, z)

    def forward(self, x: torch.Tensor, state: CubaLIState | None = None) -> tuple[torch.Tensor, CubaLIState]:
        self._check_input(x, leading=2)
        if state is None:
            state = self.initial_state(x.shape[1], x.device, x.dtype)
        return cubali_sequence(x, state, self.decay("tau_syn"), self.decay("tau_mem"))

    def step(self, x: torch.Tensor, state: CubaLIState | None = None) -> tuple[torch.Tensor, CubaLIState]:
        self._check_input(x, leading=1)
        if state is None:
            state = self.initial_state(x.shape[0], x.device, x.dtype)
        return cubali_step(x, state, self.decay("tau_syn"), self.decay("tau_mem"))

    def extra_repr(self) -> str:
        return f"shape={self.shape}, tau_mem, tau_syn (ms), dt={self.dt}"


class Integrator(Stateful):
    """Non-leaky integrator readout ``v_t = v_{t-1} + x_t`` (NIR's ``I``); outputs the membrane trace. No
    parameters, no ``dt``. Args: ``shape``: neurons (int or tuple)."""

    def __init__(self, shape) -> None:
        super().__init__()
        self.shape = _checks.shape_tuple("shape", shape)

    def initial_state(self, batch_size: int, device=None, dtype=torch.float32) -> LIState:
        return LIState(torch.zeros(batch_size, *self.shape, device=device, dtype=dtype))

    def forward(self, x: torch.Tensor, state: LIState | None = None) -> tuple[torch.Tensor, LIState]:
        _checks.input_tensor(x, self.shape, leading=2, where="Integrator")
        if state is None:
            state = self.initial_state(x.shape[1], x.device, x.dtype)
        return integrator_sequence(x, state)

    def step(self, x: torch.Tensor, state: LIState | None = None) -> tuple[torch.Tensor, LIState]:
        _checks.input_tensor(x, self.shape, leading=1, where="Integrator")
        if state is None:
            state = self.initial_state(x.shape[0], x.device, x.dtype)
        return integrator_step(x, state)

    def extra_repr(self) -> str:
        return f"shape={self.shape}"


@register_lowering(CubaLI)
def _lower_cubali(m: CubaLI, shape) -> ir.CubaLI:
    _expect_shape(m, m.shape, shape)
    return ir.CubaLI(_np(m.time_constant("tau_mem")), _np(m.time_constant("tau_syn")), m.dt)


@register_lowering(Integrator)
def _lower_integrator(m: Integrator, shape) -> ir.Integrator:
    _expect_shape(m, m.shape, shape)
    return ir.Integrator(m.shape)


@register_rebuild(ir.CubaLI)
def _rebuild_cubali(node: ir.CubaLI) -> CubaLI:
    return CubaLI(tuple(node.tau_mem.shape), tau_mem=_t(node.tau_mem), tau_syn=_t(node.tau_syn), dt=node.dt)


@register_rebuild(ir.Integrator)
def _rebuild_integrator(node: ir.Integrator) -> Integrator:
    return Integrator(node.shape)
