"""Event-driven training path of the Gaussian delay convolution (compiled kernels, ``snn/kernels/csrc/delay.cpp``).

:func:`snn.synapses.delay_functional.delay_conv` is the reference: a dense conv1d whose cost is the same for every
input. Spike trains are mostly zeros, so :func:`delay_conv_auto` runs the same causal convolution over the nonzero
inputs only, when the compiled kernels are built and the input allows it (:func:`gaussian_delay_auto`, the training
forward of ``DelayedLinear``):

- forward: the Gaussian kernel (no autograd graph), then ``y[t, b] = sum_n sum_{j active at (t + n, b)}
  x kernel[:, j, n]`` per output row, the active inputs listed once (CSR) by ``delay_events``;
- backward, hand-written: the kernel's gradient ``G[n] = sum_{t, b} x[t + n, b, j] gy[t, b, :]`` over the same events
  (the list is what is saved for backward, not the dense input), then the weight and position gradients from ``G``
  and the recomputed Gaussian; the input's gradient, when it is needed, is the dense correlation of the reference
  (``torch.nn.grad.conv1d_input``).

Cost: nonzero inputs x ``K`` x ``out`` instead of every input. Above ``EVENTS_BELOW`` nonzero inputs, or for inputs
it does not cover (not CPU, not float32 / float64, a sigma that needs a gradient), the reference runs.
"""

from __future__ import annotations

from typing import Optional

import torch

from .. import kernels
from . import delay_functional as D

__all__ = ["EVENTS_BELOW", "event_path_applies", "gaussian_delay_events", "gaussian_delay_auto"]

# delay_conv_auto takes the event path when fewer than this share of the inputs (history included) are nonzero:
# above it the dense conv1d is as fast (docs/benchmarks.md, "Delays", training density rows).
EVENTS_BELOW = 0.25


def event_path_applies(x: torch.Tensor, weight: torch.Tensor, positions: torch.Tensor, sigma, max_delay: int) -> bool:
    """Whether the compiled event path can run the Gaussian delay convolution (density aside)."""
    return (kernels.ops() is not None and x.dim() == 3 and x.device.type == "cpu"
            and x.dtype in (torch.float32, torch.float64) and x.shape[0] >= max_delay >= 1
            and all(t.device.type == "cpu" and t.dtype == x.dtype and t.shape == (weight.shape[0], x.shape[2])
                    for t in (weight, positions))
            and not (isinstance(sigma, torch.Tensor) and (sigma.requires_grad or sigma.numel() != 1)))


def _gaussian(positions: torch.Tensor, width: float, max_delay: int):
    """``(d, g, S)`` of :func:`~snn.synapses.delay_functional.gaussian_kernel` in the kernels' tap-major layout:
    ``d[n] = n - c`` and ``g[n] = exp(-0.5 (d[n] / width)^2)`` ``(K, in, out)``, ``S = sum_n g + 1e-7`` ``(in, out)``;
    ``positions`` ``(out, in)``. Same operations per element as the reference."""
    taps = torch.arange(max_delay, device=positions.device, dtype=positions.dtype).view(-1, 1, 1)
    d = taps - (positions.t().contiguous() + max_delay // 2)
    g = (d / width).square_().mul_(-0.5).exp_()
    return d, g, g.sum(0).add_(D.NORM_EPS)


class _EventGaussianDelay(torch.autograd.Function):
    """``delay_conv(x, gaussian_kernel(weight, positions, width - 0.27, K))`` over the events of ``x`` (``row_ptr``,
    ``cols``, ``vals``: CSR of ``(S * B, in)``), with a hand-written backward; nothing of the size of ``x`` is
    saved, and the Gaussian is recomputed in backward. The kernel is built tap-major, ``(K, in, out)``, as the
    compiled kernels take it."""

    @staticmethod
    def forward(ctx, x, weight, positions, events, width, max_delay):
        with torch.no_grad():
            _, g, total = _gaussian(positions, width, max_delay)
            kt = weight.t().contiguous() * g / total  # (K, in, out): kernel[i, j, n] = kt[n, j, i]
        steps, batch = x.shape[0] - max_delay + 1, x.shape[1]
        y = kernels.ops().delay_conv_forward(*events, kt, steps, batch)
        ctx.save_for_backward(*events, weight, positions)
        ctx.width, ctx.max_delay, ctx.x_shape = width, max_delay, x.shape
        return y

    @staticmethod
    def backward(ctx, gy):
        row_ptr, cols, vals, weight, positions = ctx.saved_tensors
        width, max_delay = ctx.width, ctx.max_delay
        total_steps, batch, n_in = ctx.x_shape
        gy = gy.contiguous()
        d, g, total = _gaussian(positions, width, max_delay)
        wt = weight.t().contiguous()  # (in, out); contiguous, so that the products are too
        g_x = g_weight = g_positions = None
        if ctx.needs_input_grad[0]:  # dense: every input step gets a gradient
            kernel = (wt * g / total).permute(2, 1, 0)
            g_x = torch.nn.grad.conv1d_input((batch, n_in, total_steps), kernel, gy.permute(1, 2, 0))
            g_x = g_x.permute(2, 0, 1)
        if ctx.needs_input_grad[1] or ctx.needs_input_grad[2]:
            # G[n] = dL/dk[n] (K, in, out); k[n] = W g[n] / S, dg[n]/dc = g[n] d[n] / width^2 (c = P + K//2)
            grad_k = kernels.ops().delay_conv_grad_kernel(row_ptr, cols, vals, gy, max_delay, n_in)
            gk_g = (grad_k * g).sum(0)  # sum_n G[n] g[n]
            if ctx.needs_input_grad[1]:
                g_weight = (gk_g / total).t()
            if ctx.needs_input_grad[2]:
                dg = g.mul_(d).div_(width * width)  # dg[n]/dc, in place of g (no longer needed)
                g_positions = (wt / total * ((grad_k * dg).sum(0) - gk_g * dg.sum(0) / total)).t()
        return g_x, g_weight, g_positions, None, None, None


def gaussian_delay_events(x: torch.Tensor, weight: torch.Tensor, positions: torch.Tensor, sigma, max_delay: int,
                          bias: Optional[torch.Tensor] = None, events=None) -> torch.Tensor:
    """``delay_conv(x, gaussian_kernel(weight, positions, sigma, K), bias)`` over the nonzero inputs, compiled.

    ``x`` ``(T + K - 1, B, in)``; ``weight`` and ``positions`` ``(out, in)``, all float32 or all float64 on CPU;
    ``sigma`` (steps) a float or a tensor that needs no gradient. ``events``: ``ops().delay_events`` of ``x`` when
    already at hand. Raises ValueError where the event path does not apply (see :func:`event_path_applies`).
    """
    if not event_path_applies(x, weight, positions, sigma, max_delay):
        raise ValueError(f"gaussian_delay_events: expected the compiled kernels ({kernels.status()}), CPU float32 / "
                         f"float64 x (T + K - 1, B, in) with T >= 1, weight and positions (out, in) of x's dtype and "
                         f"a sigma without gradient; got x {x.dtype} {tuple(x.shape)} on {x.device}, weight "
                         f"{weight.dtype} {tuple(weight.shape)}, positions {positions.dtype} "
                         f"{tuple(positions.shape)}, K = {max_delay}")
    if events is None:
        events = kernels.ops().delay_events(x.detach().reshape(-1, x.shape[2]))
    width = float(torch.as_tensor(sigma).abs()) + D.SIGMA_OFFSET
    y = _EventGaussianDelay.apply(x, weight, positions, events, width, max_delay)
    return y + bias if bias is not None else y


def gaussian_delay_auto(x: torch.Tensor, weight: torch.Tensor, positions: torch.Tensor, sigma, max_delay: int,
                        bias: Optional[torch.Tensor] = None) -> torch.Tensor:
    """The Gaussian delay convolution: the event path for sparse inputs it covers, the dense reference otherwise."""
    if event_path_applies(x, weight, positions, sigma, max_delay):
        events = kernels.ops().delay_events(x.detach().reshape(-1, x.shape[2]))
        if events[1].numel() < EVENTS_BELOW * x.numel():
            return gaussian_delay_events(x, weight, positions, sigma, max_delay, bias, events)
    return D.delay_conv(x, D.gaussian_kernel(weight, positions, sigma, max_delay), bias)
