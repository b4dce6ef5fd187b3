"""Pure functions of learnable synaptic delays (Hammouamri, Khalfaoui-Hassani & Masquelier, ICLR 2024; SPEC §3).

Every synapse (out ``i``, in ``j``) has a weight ``W_ij`` and a real position ``P_ij`` in ``[-(K//2), K//2]``
(``K`` odd, the number of taps). Training spreads each synapse over the ``K`` taps with a normalised Gaussian::

    c = P + K//2;  s = |sigma| + 0.27;  g[n] = exp(-0.5 ((n - c) / s)^2);  k[n] = W g[n] / (sum_n g + 1e-7)
    I_i[t] = sum_j sum_n k_ij[n] x_j[t - (K-1) + n]          (causal: K-1 zeros before t = 0)

which is ``DCLS.construct.modules.Dcls1d`` (version ``"gauss"``) on a left-padded input. The delay of a synapse is
``d = K//2 - P`` steps; at evaluation ``sigma = 0`` and positions are rounded, so the layer becomes
``I_i[t] = sum_j W_ij x_j[t - d_ij] + b_i`` with integer ``d_ij`` in ``[0, K-1]``.

The integer form runs in :func:`snn.backends.torch.delay.integer_delay_linear` (event-driven scatter for spike
trains, one matmul per distinct delay otherwise), shared by the front end's ``eval()`` mode and the torch backend.
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F

__all__ = ["SIGMA_OFFSET", "NORM_EPS", "gaussian_kernel", "delay_conv", "integer_delays", "integer_kernel",
           "shift_channels"]

SIGMA_OFFSET = 0.27  # added to |sigma| so the narrowest kernel still spans about one tap (as dcls "gauss")
NORM_EPS = 1e-7      # in the kernel's normaliser (as dcls)


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
