"""Pooling over frames: ``SumPool2d`` and ``AvgPool2d`` applied to every time step of ``(T, B, C, H, W)``.

Each output pixel of channel ``c`` is the sum (or the mean over ``kH * kW``) of a ``kernel_size`` window of the
same channel, windows every ``stride`` pixels over the frame padded with ``padding`` zeros on each side (floor
mode; padded zeros count in the mean, as torch's ``avg_pool2d`` default). Both are linear and stateless, so the
Lava lowering folds them into the dense synapse of the next neuron layer. Sum pooling of spikes keeps integer
counts (a window of k spikes gives k); average pooling keeps the scale of the input.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.utils import _pair

__all__ = ["SumPool2d", "AvgPool2d"]


class _Pool2d(nn.Module):
    divide = True  # False: sum pooling

    def __init__(self, kernel_size, stride=None, padding=0) -> None:
        super().__init__()
        name = type(self).__name__
        self.kernel_size = _pair_of(kernel_size, "kernel_size", name, minimum=1)
        self.stride = self.kernel_size if stride is None else _pair_of(stride, "stride", name, minimum=1)
        self.padding = _pair_of(padding, "padding", name, minimum=0)
        if any(2 * p > k for p, k in zip(self.padding, self.kernel_size)):
            raise ValueError(f"{name}: padding: expected at most half of kernel_size {self.kernel_size} on each "
                             f"side, got {self.padding}")

    def _pool(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(x, self.kernel_size, self.stride, self.padding,
                            divisor_override=None if self.divide else 1)

    def _check(self, x, rank: int) -> None:
        layout = "(T, B, C, H, W)" if rank == 5 else "(B, C, H, W)"
        name = type(self).__name__
        if not isinstance(x, torch.Tensor) or x.dim() != rank:
            got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"{name}: input: expected shape {layout}, got {got}")
        if not torch.is_floating_point(x):
            raise ValueError(f"{name}: input: expected a floating-point tensor, got dtype {x.dtype}")
        out = self.output_shape(tuple(x.shape[-3:]))
        if min(out[1:]) < 1:
            raise ValueError(f"{name}: input: a {tuple(x.shape[-2:])} frame is smaller than the kernel "
                             f"{self.kernel_size} (padding {self.padding})")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(T, B, C, H, W) -> (T, B, C, H', W')``."""
        self._check(x, 5)
        return self._pool(x.flatten(0, 1)).unflatten(0, tuple(x.shape[:2]))

    def step(self, x: torch.Tensor, state=None) -> tuple[torch.Tensor, None]:
        """One frame batch ``(B, C, H, W)``."""
        self._check(x, 4)
        return self._pool(x), None

    def output_shape(self, input_shape: tuple[int, int, int]) -> tuple[int, int, int]:
        """``(C, H', W')`` for an input frame of ``(C, H, W)``."""
        c, h, w = input_shape
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        return (c, (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class SumPool2d(_Pool2d):
    """Sum pooling over every frame: ``y = sum of the kernel_size window`` (args as ``torch.nn.AvgPool2d``:
    ``kernel_size``, ``stride`` (default ``kernel_size``), ``padding``; ints or (h, w) pairs, in pixels)."""

    divide = False


class AvgPool2d(_Pool2d):
    """Average pooling over every frame: the window's sum over ``kH * kW`` (padded zeros count). Args as
    :class:`SumPool2d`."""


def _pair_of(value, name: str, where: str, *, minimum: int) -> tuple[int, int]:
    pair = _pair(value)
    if len(pair) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) and v >= minimum for v in pair):
        raise ValueError(f"{where}: {name}: expected an int >= {minimum} or a pair of them, got {value!r}")
    return tuple(pair)
