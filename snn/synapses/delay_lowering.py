"""Lowering of the delay layers to :class:`snn.ir.DelayLinear`: integer delays ``d = K//2 - round(P)`` (steps)."""

from __future__ import annotations

import torch

from .. import ir
from ..lower import register_lowering
from .delay import AxonalDelayedLinear, DelayedLinear


def _np(t: torch.Tensor):
    return t.detach().cpu().to(torch.float32).numpy().copy()


@register_lowering(DelayedLinear)
@register_lowering(AxonalDelayedLinear)
def lower_delayed_linear(m, shape) -> ir.DelayLinear:
    """Rounded positions become the ``(out, in)`` integer delay matrix (axonal delays repeat over outputs)."""
    name = type(m).__name__
    if tuple(shape) != (m.in_features,):
        raise ValueError(f"lower: {name} expects input shape ({m.in_features},), but the layer before it "
                         f"gives {tuple(shape)}")
    p = m.positions.detach()
    if not bool(torch.isfinite(p).all()) or bool((p.abs() > m.limit).any()):
        raise ValueError(f"lower: {name}: positions: expected finite values in [-{m.limit}, {m.limit}] "
                         f"(max_delay={m.max_delay}), got range [{p.min().item():g}, {p.max().item():g}]; "
                         "call after_optimizer_step() to clamp them")
    delay = m.delays().expand(m.out_features, m.in_features)
    bias = None if m.bias is None else _np(m.bias)
    return ir.DelayLinear(_np(m.weight), delay.cpu().numpy().copy(), bias)
