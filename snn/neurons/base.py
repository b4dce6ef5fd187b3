"""The stateful-module contract every neuron model follows."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


class Stateful(nn.Module):
    """A module with explicit state.

    ``forward(x (T, B, ...), state=None) -> (y (T, B, ...), state)`` runs a whole sequence;
    ``step(x (B, ...), state=None) -> (y (B, ...), state)`` runs one step. Both give the same numbers.
    ``state=None`` starts from :meth:`initial_state`.
    """

    def initial_state(self, batch_size: int, device=None, dtype=torch.float32) -> Any:
        raise NotImplementedError

    def step(self, x: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        raise NotImplementedError
