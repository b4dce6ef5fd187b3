"""Pair-based STDP with exponential traces (NALSM, Ivanov & Michmizos 2021; SPEC §2).

Per step of ``dt`` ms, with ``alpha = exp(-dt / tau)`` (tau = 10 ms in NALSM)::

    x <- alpha (x + 0.1 S)                                    trace of each neuron's spikes S
    dW_ij = a_plus_j x_pre_j S_post_i - a_minus_j x_post_i S_pre_j   for each existing synapse j -> i
    W <- clip(W + dW, lo_j, hi_j)

``a_plus``, ``a_minus``, ``lo`` and ``hi`` are per presynaptic neuron, so excitatory, inhibitory and input synapses
each get their own rates and bounds (NALSM swaps the rates for inhibitory presynaptic neurons).
"""

from __future__ import annotations

import torch

TRACE_GAIN = 0.1


def trace_step(x: torch.Tensor, s: torch.Tensor, alpha: float) -> torch.Tensor:
    """``x <- alpha (x + 0.1 s)``: the STDP trace ``(B, n)`` after spikes ``s`` ``(B, n)``."""
    return alpha * (x + TRACE_GAIN * s)


def stdp_update(w: torch.Tensor, mask: torch.Tensor, x_pre: torch.Tensor, s_pre: torch.Tensor, x_post: torch.Tensor,
                s_post: torch.Tensor, a_plus: torch.Tensor, a_minus: torch.Tensor, lo: torch.Tensor,
                hi: torch.Tensor) -> torch.Tensor:
    """The new weights ``(post, pre)`` after one step (summed over the batch); only synapses in ``mask`` change.

    ``x_pre``, ``s_pre``: ``(B, pre)``; ``x_post``, ``s_post``: ``(B, post)``; ``a_plus``, ``a_minus``: scalars or
    broadcastable to ``(B, pre)`` (per sample and presynaptic neuron); ``lo``, ``hi``: ``(pre,)`` or scalars.
    """
    dw = s_post.t() @ (a_plus * x_pre) - x_post.t() @ (a_minus * s_pre)
    return torch.where(mask, torch.clamp(w + dw, lo, hi), w)
