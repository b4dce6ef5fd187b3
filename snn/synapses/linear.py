"""Dense synapses and flattening, for sequences ``(T, B, ...)`` and single steps ``(B, ...)``."""

from __future__ import annotations

import torch
from torch import nn

from .. import _checks


class Linear(nn.Linear):
    """``y = x W^T + b`` on the last dimension; any leading dimensions (time, batch) pass through.

    Args: in_features, out_features, bias (as ``torch.nn.Linear``).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor) or x.dim() < 2 or x.shape[-1] != self.in_features:
            got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"Linear: input: expected shape (T, B, {self.in_features}) or (B, {self.in_features}), "
                             f"got {got}")
        if not torch.is_floating_point(x):
            raise ValueError(f"Linear: input: expected a floating-point tensor, got dtype {x.dtype}")
        return super().forward(x)

    def step(self, x: torch.Tensor, state=None) -> tuple[torch.Tensor, None]:
        return self(x), None


class Flatten(nn.Module):
    """Flattens the feature dimensions: ``(T, B, *shape) -> (T, B, prod(shape))``; ``step``: ``(B, *shape)``.

    Args:
        shape: the feature shape it expects (e.g. ``(C, H, W)``), needed to lower it to the IR.
    """

    def __init__(self, shape) -> None:
        super().__init__()
        self.shape = _checks.shape_tuple("shape", shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _checks.input_tensor(x, self.shape, leading=2, where="Flatten")
        return x.flatten(2)

    def step(self, x: torch.Tensor, state=None) -> tuple[torch.Tensor, None]:
        _checks.input_tensor(x, self.shape, leading=1, where="Flatten")
        return x.flatten(1), None

    def extra_repr(self) -> str:
        return f"shape={self.shape}"
