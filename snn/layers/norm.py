"""Batch normalisation over sequences ``(T, B, C)``: statistics over time and batch together (SPEC §3 recipe).

At inference it is the per-channel affine map ``y = scale * x + shift`` with ``scale = gamma / sqrt(var + eps)``
and ``shift = beta - mean * scale``. :func:`fold_batchnorm` merges it into the synapse layer before it (so it
costs nothing on hardware); a norm layer left alone lowers to a diagonal :class:`snn.ir.Linear`.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

from .. import ir
from ..lower import register_lowering
from ..synapses import AxonalDelayedLinear, DelayedLinear, Linear


class SequenceBatchNorm(nn.BatchNorm1d):
    """``torch.nn.BatchNorm1d(C)`` on ``(T, B, C)`` sequences (time and batch share statistics) or ``(B, C)`` steps.

    Arguments as ``BatchNorm1d`` (``num_features``, ``eps``, ``momentum``, ``affine``). Streaming ``step`` is meant
    for ``eval()`` mode, where it uses the running statistics like :meth:`forward`.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor) or x.dim() not in (2, 3) or x.shape[-1] != self.num_features:
            got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"SequenceBatchNorm: input: expected shape (T, B, {self.num_features}) or "
                             f"(B, {self.num_features}), got {got}")
        return super().forward(x.reshape(-1, self.num_features)).reshape(x.shape)

    def step(self, x: torch.Tensor, state=None) -> tuple[torch.Tensor, None]:
        return self(x), None

    def scale_shift(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(scale, shift)`` of the inference map ``y = scale * x + shift`` (running statistics)."""
        if self.running_mean is None:
            raise ValueError("SequenceBatchNorm: track_running_stats=False has no inference statistics to export")
        scale = torch.rsqrt(self.running_var + self.eps)
        if self.affine:
            scale = scale * self.weight
        shift = -self.running_mean * scale + (self.bias if self.affine else 0)
        return scale.detach(), shift.detach()


@register_lowering(SequenceBatchNorm)
def _lower_batchnorm(m: SequenceBatchNorm, shape):
    if tuple(shape) != (m.num_features,):
        raise ValueError(f"lower: SequenceBatchNorm expects input shape ({m.num_features},), but the layer before "
                         f"it gives {tuple(shape)}")
    scale, shift = m.scale_shift()
    return ir.Linear(np.diag(scale.cpu().float().numpy()), shift.cpu().float().numpy())


_FOLDABLE = (Linear, DelayedLinear, AxonalDelayedLinear)


def fold_batchnorm(model: nn.Sequential) -> nn.Sequential:
    """A copy of ``model`` where every :class:`SequenceBatchNorm` right after a ``Linear`` or delay layer is merged
    into that layer (rows of ``W`` scaled, bias set to ``scale * b + shift``) and replaced by ``nn.Identity``.

    Delays are untouched, so the folded layer gives the same output as the pair in ``eval()`` mode.
    """
    model = copy.deepcopy(model)
    for seq in [m for m in model.modules() if isinstance(m, nn.Sequential)]:
        names = list(seq._modules)
        for prev_name, name in zip(names, names[1:]):
            prev, bn = seq._modules[prev_name], seq._modules[name]
            if not (isinstance(bn, SequenceBatchNorm) and isinstance(prev, _FOLDABLE)):
                continue
            scale, shift = bn.scale_shift()
            with torch.no_grad():
                bias = shift if prev.bias is None else prev.bias * scale + shift
                prev.weight.mul_(scale.unsqueeze(1))
                prev.bias = nn.Parameter(bias.clone())
            seq._modules[name] = nn.Identity()
    return model
