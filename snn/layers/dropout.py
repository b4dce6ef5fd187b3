"""Dropout with one mask per sequence: the same channels are dropped at every time step (SPEC §3 recipe).

Dropping a channel for the whole sequence, rather than at random steps, removes it as a spike train and keeps
the timing of the remaining channels intact. It lowers to nothing (the identity at inference).
"""

from __future__ import annotations

from typing import Optional

import torch

from ..lower import register_lowering
from ..neurons.base import Stateful


def sequence_dropout_mask(batch_size: int, features: int, p: float, *, device=None, dtype=torch.float32,
                          generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """A ``(B, C)`` mask of ``0`` (probability ``p``) and ``1 / (1 - p)``."""
    keep = torch.rand(batch_size, features, device=device, generator=generator) >= p
    return keep.to(dtype) / (1 - p)


class SequenceDropout(Stateful):
    """``y[t] = x[t] * mask`` with one ``(B, C)`` mask per sequence, drawn from torch's RNG (seeded runs repeat).

    Args: ``p``: drop probability in ``[0, 1)``. Identity in ``eval()`` mode. In streaming ``step`` the mask is the
    state: it is drawn on the first step and kept for the rest of the stream.
    """

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p < 1:
            raise ValueError(f"SequenceDropout: p: expected a probability in [0, 1), got {p!r}")
        self.p = float(p)

    def initial_state(self, batch_size: int, device=None, dtype=torch.float32) -> None:
        """No mask yet: it is drawn on the first input, when the feature size is known."""
        return None

    def _mask(self, x: torch.Tensor, state) -> Optional[torch.Tensor]:
        if not self.training or self.p == 0:
            return None
        if state is None:
            state = sequence_dropout_mask(x.shape[-2], x.shape[-1], self.p, device=x.device, dtype=x.dtype)
        if tuple(state.shape) != tuple(x.shape[-2:]):
            raise ValueError(f"SequenceDropout: state: expected a mask of shape {tuple(x.shape[-2:])}, "
                             f"got {tuple(state.shape)}")
        return state

    def forward(self, x: torch.Tensor, state: Optional[torch.Tensor] = None):
        """``x`` ``(T, B, C)`` -> ``(T, B, C)``, and the mask (None in eval)."""
        if not isinstance(x, torch.Tensor) or x.dim() != 3:
            got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"SequenceDropout: input: expected shape (T, B, C), got {got}")
        mask = self._mask(x, state)
        return (x if mask is None else x * mask), mask

    def step(self, x: torch.Tensor, state: Optional[torch.Tensor] = None):
        """``x`` ``(B, C)``; pass the returned mask back to keep it for the sequence."""
        mask = self._mask(x, state)
        return (x if mask is None else x * mask), mask

    def extra_repr(self) -> str:
        return f"p={self.p}"


@register_lowering(SequenceDropout)
def _lower_dropout(m, shape):
    return None
