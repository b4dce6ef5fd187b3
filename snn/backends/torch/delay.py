"""Torch kernel of :class:`snn.ir.DelayLinear`: one matmul per distinct delay, shifted in time.

The synapses are grouped by delay (:func:`snn.synapses.delay_functional.plan_delay_groups`, a few passes over the
weight matrix per call); each group runs as a dense block or sparse product whose size follows its synapses, not
``K``.
"""

from __future__ import annotations

import torch

from ... import ir
from ...synapses.delay_functional import integer_delay_linear, plan_delay_groups
from .simulator import register_kernel


@register_kernel(ir.DelayLinear)
def delay_linear(node: ir.DelayLinear, x: torch.Tensor) -> torch.Tensor:
    """``y_i[t] = sum_j W_ij x_j[t - D_ij] + b_i`` on ``x`` ``(T, B, in)``; inputs before ``t = 0`` are zero."""
    w = torch.as_tensor(node.weight, dtype=x.dtype, device=x.device)
    d = torch.as_tensor(node.delay, dtype=torch.int64, device=x.device)
    bias = None if node.bias is None else torch.as_tensor(node.bias, dtype=x.dtype, device=x.device)
    return integer_delay_linear(x, plan_delay_groups(w, d), node.weight.shape[0], bias)
