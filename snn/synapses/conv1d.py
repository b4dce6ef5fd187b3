"""1-D convolution over sequences of ``(C, L)`` inputs, with its lowering to :class:`snn.ir.Conv1d` and rebuild."""

from __future__ import annotations

import torch
from torch import nn

from .. import ir
from ..lower import _np, register_lowering
from ..rebuild import _load, register_rebuild


class Conv1d(nn.Conv1d):
    """``torch.nn.Conv1d`` applied to every time step: ``(T, B, C, L) -> (T, B, C', L')``.

    ``step`` takes one batch ``(B, C, L)``. Arguments are those of ``torch.nn.Conv1d`` (integer zero padding).
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.padding_mode != "zeros" or isinstance(self.padding, str):
            raise ValueError(f"Conv1d: padding: expected integer zero padding, got padding={self.padding!r}, "
                             f"padding_mode={self.padding_mode!r}")

    def _check(self, x: torch.Tensor, rank: int) -> None:
        layout = "(T, B, C, L)" if rank == 4 else "(B, C, L)"
        if not isinstance(x, torch.Tensor) or x.dim() != rank or x.shape[-2] != self.in_channels:
            got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"Conv1d: input: expected shape {layout} with C = {self.in_channels}, got {got}")
        if not torch.is_floating_point(x):
            raise ValueError(f"Conv1d: input: expected a floating-point tensor, got dtype {x.dtype}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check(x, 4)
        T, B = x.shape[:2]
        return super().forward(x.flatten(0, 1)).unflatten(0, (T, B))

    def step(self, x: torch.Tensor, state=None) -> tuple[torch.Tensor, None]:
        self._check(x, 3)
        return super().forward(x), None


@register_lowering(Conv1d)
def _lower_conv1d(m: Conv1d, shape) -> ir.Conv1d:
    if len(shape) != 2 or shape[0] != m.in_channels:
        raise ValueError(f"lower: Conv1d expects input shape (C={m.in_channels}, L), but the layer before it gives "
                         f"{tuple(shape)}")
    return ir.Conv1d(_np(m.weight), _np(m.bias), shape[1], m.stride[0], m.padding[0], m.dilation[0], m.groups)


@register_rebuild(ir.Conv1d)
def _rebuild_conv1d(node: ir.Conv1d) -> Conv1d:
    c_out, c_in, k = node.weight.shape
    m = Conv1d(c_in * node.groups, c_out, k, stride=node.stride, padding=node.padding, dilation=node.dilation,
               groups=node.groups, bias=node.bias is not None)
    _load(m.weight, node.weight)
    _load(m.bias, node.bias)
    return m
