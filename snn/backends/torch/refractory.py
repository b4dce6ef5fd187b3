"""Torch kernel of :class:`snn.ir.RefractoryLIF` (LIF with zero reset and a refractory period), from the IR only."""

from __future__ import annotations

import torch

from ... import ir
from .simulator import _t, register_kernel


@register_kernel(ir.RefractoryLIF)
def refractory_lif(node: ir.RefractoryLIF, x: torch.Tensor) -> torch.Tensor:
    """``x`` (T, B, n) -> spikes; a refractory neuron holds ``v = 0`` for ``node.refractory`` steps after a spike."""
    beta = torch.exp(-node.dt / _t(node.tau_mem, x))
    theta = _t(node.threshold, x)
    w_rec = None if node.recurrent_weight is None else _t(node.recurrent_weight, x)
    v = torch.zeros_like(x[0])
    s = torch.zeros_like(x[0])
    ref = torch.zeros_like(x[0])
    out = torch.empty_like(x)
    for t in range(x.shape[0]):
        inp = x[t] if w_rec is None else x[t] + s @ w_rec.t()
        v = torch.where(ref > 0, 0.0, beta * v + inp)
        s = (v > theta).to(x.dtype)
        v = v * (1 - s)
        ref = torch.where(s > 0, float(node.refractory), (ref - 1).clamp_min(0))
        out[t] = s
    return out
