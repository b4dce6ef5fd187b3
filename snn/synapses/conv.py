"""2-D convolution over sequences of frames."""

from __future__ import annotations

import torch
from torch import nn


class Conv2d(nn.Conv2d):
    """``torch.nn.Conv2d`` applied to every time step: ``(T, B, C, H, W) -> (T, B, C', H', W')``.

    ``step`` takes one frame batch ``(B, C, H, W)``. Arguments are those of ``torch.nn.Conv2d`` (zero padding).
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.padding_mode != "zeros" or isinstance(self.padding, str):
            raise ValueError(f"Conv2d: padding: expected integer zero padding, got padding={self.padding!r}, "
                             f"padding_mode={self.padding_mode!r}")

    def _check(self, x: torch.Tensor, rank: int) -> None:
        layout = "(T, B, C, H, W)" if rank == 5 else "(B, C, H, W)"
        if not isinstance(x, torch.Tensor) or x.dim() != rank or x.shape[-3] != self.in_channels:
            got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"Conv2d: input: expected shape {layout} with C = {self.in_channels}, got {got}")
        if not torch.is_floating_point(x):
            raise ValueError(f"Conv2d: input: expected a floating-point tensor, got dtype {x.dtype}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check(x, 5)
        T, B = x.shape[:2]
        y = super().forward(x.flatten(0, 1))
        return y.unflatten(0, (T, B))

    def step(self, x: torch.Tensor, state=None) -> tuple[torch.Tensor, None]:
        self._check(x, 4)
        return super().forward(x), None

    def output_shape(self, input_shape: tuple[int, int, int]) -> tuple[int, int, int]:
        """``(C', H', W')`` for an input frame of ``(C, H, W)``."""
        _, h, w = input_shape
        kh, kw = self.kernel_size
        (sh, sw), (ph, pw), (dh, dw) = self.stride, self.padding, self.dilation
        return (self.out_channels, (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1, (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1)
