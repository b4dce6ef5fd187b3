"""Losses and prediction rules for spiking readouts.

The readout gives ``out`` of shape ``(T, B, C)``: the membrane of a non-spiking readout (LI) or the spikes of a
spiking one. Padded batches carry ``lengths`` (B,): steps ``t >= lengths[b]`` are ignored. Each kind first reduces
``out`` over time to scores ``(B, C)``; the loss is the cross-entropy of those scores and the prediction their
argmax, so training and evaluation (on any backend) apply one rule:

- ``sum``:          ``sum_t v_t`` over valid steps
- ``max``:          ``max_t v_t`` over valid steps
- ``softmax_sum``:  ``sum_t softmax(v_t)`` (the learnable-delay paper's readout; its sum is fed to the
                    cross-entropy as scores)
- ``last``:         ``v`` at the last valid step
- ``count``:        spike counts ``sum_t s_t`` (for a spiking readout; same arithmetic as ``sum``)
"""

from __future__ import annotations

from typing import Callable, Optional, Sequence

import torch
import torch.nn.functional as F

from .config import LOSS_KINDS


def valid_mask(T: int, lengths: Optional[torch.Tensor], batch: int, device=None) -> torch.Tensor:
    """``(T, B, 1)`` float mask: 1 where ``t < lengths[b]`` (all ones when ``lengths`` is None)."""
    if lengths is None:
        return torch.ones(T, batch, 1, device=device)
    t = torch.arange(T, device=device)[:, None]
    return (t < lengths.to(device)[None, :]).float()[..., None]


def _sum(out, mask):
    return (out * mask).sum(0)


def _max(out, mask):
    return out.masked_fill(mask == 0, float("-inf")).amax(0)


def _softmax_sum(out, mask):
    return (F.softmax(out, dim=-1) * mask).sum(0)


def _last(out, mask):
    last = (mask[..., 0].sum(0).long() - 1).clamp_min(0)
    return out[last, torch.arange(out.shape[1], device=out.device)]


REDUCTIONS: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "sum": _sum, "max": _max, "softmax_sum": _softmax_sum, "last": _last, "count": _sum,
}


def scores(out: torch.Tensor, kind: str, lengths: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Reduces a readout ``(T, B, C)`` over valid time steps to class scores ``(B, C)`` by ``kind``."""
    if kind not in REDUCTIONS:
        raise ValueError(f"loss kind: expected one of {list(LOSS_KINDS)}, got {kind!r}")
    if out.dim() != 3:
        raise ValueError(f"loss: readout: expected shape (T, B, C), got {tuple(out.shape)}")
    mask = valid_mask(out.shape[0], lengths, out.shape[1], out.device).to(out.dtype)
    return REDUCTIONS[kind](out, mask)


def predict(out: torch.Tensor, kind: str, lengths: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Predicted classes ``(B,)``: argmax of :func:`scores`."""
    return scores(out, kind, lengths).argmax(-1)


def readout_loss(out: torch.Tensor, labels: torch.Tensor, kind: str, lengths: Optional[torch.Tensor] = None,
                 reduction: str = "mean") -> torch.Tensor:
    """Cross-entropy of :func:`scores` against ``labels`` (B,)."""
    return F.cross_entropy(scores(out, kind, lengths).float(), labels, reduction=reduction)


def firing_rates(spikes: Sequence[torch.Tensor], lengths: Optional[torch.Tensor] = None) -> list[torch.Tensor]:
    """Mean spikes per neuron and valid step (0..1) of each recorded layer output ``(T, B, ...)``."""
    rates = []
    for s in spikes:
        mask = valid_mask(s.shape[0], lengths, s.shape[1], s.device).to(s.dtype)
        mask = mask.reshape(mask.shape[:2] + (1,) * (s.dim() - 2))
        neurons = s[0, 0].numel()
        rates.append((s * mask).sum() / (mask.sum() * neurons))
    return rates


def rate_penalty(rates: Sequence[torch.Tensor], target: float) -> torch.Tensor:
    """``mean_l (rate_l - target)^2`` over layers (0 when there are none)."""
    if not rates:
        return torch.zeros(())
    return torch.stack([(r - target) ** 2 for r in rates]).mean()
