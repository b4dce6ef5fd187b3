"""Pure functions of learnable synaptic delays (Hammouamri, Khalfaoui-Hassani & Masquelier, ICLR 2024; SPEC §3).

Every synapse (out ``i``, in ``j``) has a weight ``W_ij`` and a real position ``P_ij`` in ``[-(K//2), K//2]``
(``K`` odd, the number of taps). Training spreads each synapse over the ``K`` taps with a normalised Gaussian::

    c = P + K//2;  s = |sigma| + 0.27;  g[n] = exp(-0.5 ((n - c) / s)^2);  k[n] = W g[n] / (sum_n g + 1e-7)
    I_i[t] = sum_j sum_n k_ij[n] x_j[t - (K-1) + n]          (causal: K-1 zeros before t = 0)

which is ``DCLS.construct.modules.Dcls1d`` (version ``"gauss"``) on a left-padded input. The delay of a synapse is
``d = K//2 - P`` steps; at evaluation ``sigma = 0`` and positions are rounded, so the layer becomes
``I_i[t] = sum_j W_ij x_j[t - d_ij] + b_i`` with integer ``d_ij`` in ``[0, K-1]``.

The integer form runs as one matmul per distinct delay, shifted in time (:func:`plan_delay_groups`,
:func:`integer_delay_linear`): each group keeps only the rows and columns that carry a synapse of that delay, as a
dense block or, when the block is mostly empty, a sparse CSR matrix, so the cost follows the synapses rather than
``K``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F

__all__ = ["SIGMA_OFFSET", "NORM_EPS", "gaussian_kernel", "delay_conv", "integer_delays", "integer_kernel",
           "DelayGroup", "plan_delay_groups", "integer_delay_linear", "shift_channels"]

SIGMA_OFFSET = 0.27  # added to |sigma| so the narrowest kernel still spans about one tap (as dcls "gauss")
NORM_EPS = 1e-7      # in the kernel's normaliser (as dcls)
# A delay group runs as a sparse CSR matmul when its synapses fill less than this share of its dense block:
# on CPU a sparse product costs about 20x a dense one per multiply-add (see docs/benchmarks.md, "Delays").
SPARSE_BELOW = 0.05


def gaussian_kernel(weight: torch.Tensor, positions: torch.Tensor, sigma, max_delay: int) -> torch.Tensor:
    """The ``(..., K)`` delay kernel ``k[n] = W g[n] / (sum g + 1e-7)`` of weights and positions of one shape.

    Args:
        weight: synaptic weights, any shape ``S`` (e.g. ``(out, in)``).
        positions: real positions (steps), broadcastable to ``S``; tap ``P + K//2`` is the kernel's centre.
        sigma: Gaussian width (steps), a float or a tensor broadcastable to ``S``; ``|sigma| + 0.27`` is used.
        max_delay: ``K``, the number of taps (odd).
    """
    taps = torch.arange(max_delay, device=weight.device, dtype=weight.dtype)
    centre = (positions + max_delay // 2).unsqueeze(-1)
    width = (torch.as_tensor(sigma, dtype=weight.dtype, device=weight.device).abs() + SIGMA_OFFSET)
    if width.dim():
        width = width.unsqueeze(-1)
    g = torch.exp(-0.5 * ((taps - centre) / width) ** 2)
    return weight.unsqueeze(-1) * g / (g.sum(-1, keepdim=True) + NORM_EPS)


def delay_conv(x: torch.Tensor, kernel: torch.Tensor, bias: Optional[torch.Tensor] = None, *,
               groups: int = 1) -> torch.Tensor:
    """Causal convolution of a time-major sequence with a delay kernel.

    ``x``: ``(T + K - 1, B, in)``, already carrying ``K - 1`` steps of history (zeros or a stream's buffer) before the
    ``T`` new steps; ``kernel``: ``(out, in / groups, K)`` (tap ``K - 1`` is delay 0). Returns ``(T, B, out)``.
    """
    y = F.conv1d(x.permute(1, 2, 0), kernel, bias, groups=groups)
    return y.permute(2, 0, 1)


def integer_delays(positions: torch.Tensor, max_delay: int) -> torch.Tensor:
    """Integer delays ``d = K//2 - round(P)`` (steps, int64, in ``[0, K-1]``); rounding is half to even."""
    return (max_delay // 2 - torch.round(positions.detach())).to(torch.int64)


def integer_kernel(weight: torch.Tensor, delays: torch.Tensor, max_delay: int) -> torch.Tensor:
    """The one-hot ``(..., K)`` kernel of integer delays: ``W`` at tap ``K - 1 - d``, zeros elsewhere."""
    k = torch.zeros(*weight.shape, max_delay, dtype=weight.dtype, device=weight.device)
    return k.scatter(-1, (max_delay - 1 - delays).expand(weight.shape).unsqueeze(-1), weight.unsqueeze(-1))


@dataclass(frozen=True)
class DelayGroup:
    """The synapses of one delay: ``y[t, :, rows] += x[t - delay, :, cols] @ weight.T``.

    Attributes:
        delay: steps; rows / cols: output / input indices of the block (int64);
        weight: ``(len(rows), len(cols))``, dense or sparse CSR (zeros where a synapse has another delay).
    """

    delay: int
    rows: torch.Tensor
    cols: torch.Tensor
    weight: torch.Tensor


def plan_delay_groups(weight: torch.Tensor, delays: torch.Tensor, sparse_below: float = SPARSE_BELOW
                      ) -> list[DelayGroup]:
    """Splits ``weight`` ``(out, in)`` by the integer ``delays`` ``(out, in)`` into one block per distinct delay.

    Zero weights are dropped. A block is stored as sparse CSR when its synapses fill less than ``sparse_below``
    of it. Build the plan once per weight set and reuse it (the torch backend does).
    """
    weight = weight.detach()
    groups = []
    live = weight != 0
    for d in torch.unique(delays[live]).tolist():
        mask = live & (delays == d)
        rows = mask.any(1).nonzero().squeeze(1)
        cols = mask.any(0).nonzero().squeeze(1)
        block = torch.where(mask, weight, torch.zeros_like(weight))[rows][:, cols]
        if int(mask.sum()) < sparse_below * block.numel():
            with warnings.catch_warnings():  # "sparse CSR support is in beta": known, and tested here
                warnings.simplefilter("ignore", UserWarning)
                block = block.to_sparse_csr()
        groups.append(DelayGroup(int(d), rows, cols, block))
    return groups


def integer_delay_linear(x: torch.Tensor, groups: list[DelayGroup], out_features: int,
                         bias: Optional[torch.Tensor] = None, history: int = 0) -> torch.Tensor:
    """``y_i[t] = sum_j W_ij x_j[t - d_ij] + b_i`` for a plan of :func:`plan_delay_groups`.

    ``x``: ``(history + T, B, in)``, the first ``history`` steps being earlier input (a stream's buffer; inputs
    before it count as zero). Returns ``(T, B, out)``.
    """
    total, batch = x.shape[:2]
    steps = total - history
    y = x.new_zeros(steps, batch, out_features)
    for g in groups:
        start = history - g.delay  # first input step feeding output step 0
        lo = max(0, -start)        # output steps before lo see only zeros
        if lo >= steps:
            continue
        src = x[start + lo: start + steps, :, :].index_select(2, g.cols)
        if g.weight.layout == torch.sparse_csr:
            part = (g.weight @ src.reshape(-1, len(g.cols)).t().contiguous()).t().reshape(steps - lo, batch, -1)
        else:
            part = src @ g.weight.t()
        if len(g.rows) == out_features:  # every output has a synapse of this delay: no scatter needed
            y[lo:] += part
        else:
            y[lo:].index_add_(2, g.rows, part)
    if bias is not None:
        y = y + bias
    return y


def shift_channels(x: torch.Tensor, delays: torch.Tensor, history: int = 0) -> torch.Tensor:
    """Delays every input channel by its own integer delay: ``y[t, :, j] = x[history + t - d_j, :, j]``.

    ``x``: ``(history + T, B, C)``; ``delays``: ``(C,)`` int64 in ``[0, history]`` when there is history, any
    non-negative value otherwise (steps before the sequence are zero). Returns ``(T, B, C)``.
    """
    total, batch, channels = x.shape
    steps = total - history
    pad = max(int(delays.max()) - history, 0) if delays.numel() else 0
    xp = F.pad(x, (0, 0, 0, 0, pad, 0))
    t = torch.arange(steps, device=x.device).unsqueeze(1) + history + pad - delays.to(x.device)  # (T, C)
    return xp.gather(0, t.unsqueeze(1).expand(steps, batch, channels))
