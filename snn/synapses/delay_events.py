"""Event-driven training path of the Gaussian delay convolution (compiled kernels, ``snn/kernels/csrc/delay.cpp``).

:func:`snn.synapses.delay_functional.delay_conv` is the reference: a dense conv1d whose cost is the same for every
input. Spike trains are mostly zeros, so :func:`delay_conv_auto` runs the same causal convolution over the nonzero
inputs only, when the compiled kernels are built and the input allows it:

- forward: ``y[t, b] = sum_n sum_{j active at (t + n, b)} x kernel[:, j, n]``, per output row, the active inputs
  listed once (CSR) by ``delay_events``;
- backward: the kernel's gradient ``sum_{t, b} x[t + n, b, j] gy[t, b, :]`` over the same events (the list is what
  is saved for backward, not the dense input); the input's gradient, when it is needed, is the dense correlation
  of the reference (``torch.nn.grad.conv1d_input``).

Cost: nonzero inputs x ``K`` x ``out`` instead of every input. Above ``EVENTS_BELOW`` nonzero inputs, or for inputs
it does not cover (not CPU, not float32 / float64, grouped convolutions), the reference runs.
"""

from __future__ import annotations

from typing import Optional

import torch

from .. import kernels
from . import delay_functional as D

__all__ = ["EVENTS_BELOW", "event_path_applies", "delay_conv_events", "delay_conv_auto"]

# delay_conv_auto takes the event path when fewer than this share of the inputs (history included) are nonzero:
# above it the dense conv1d is as fast (docs/benchmarks.md, "Delays", training density rows).
EVENTS_BELOW = 0.3


def event_path_applies(x: torch.Tensor, kernel: torch.Tensor) -> bool:
    """Whether the compiled event path can run ``delay_conv(x, kernel)`` (density aside)."""
    return (kernels.ops() is not None and x.dim() == 3 and kernel.dim() == 3 and x.device.type == "cpu"
            and kernel.device.type == "cpu" and x.dtype in (torch.float32, torch.float64) and kernel.dtype == x.dtype
            and x.shape[2] == kernel.shape[1] and x.shape[0] >= kernel.shape[2])


class _EventDelayConv(torch.autograd.Function):
    """``delay_conv(x, kernel)`` from the events of ``x`` (``row_ptr``, ``cols``, ``vals``: CSR of ``(S * B, in)``)."""

    @staticmethod
    def forward(ctx, x, kernel, events):
        row_ptr, cols, vals = events
        steps, batch = x.shape[0] - kernel.shape[2] + 1, x.shape[1]
        kt = kernel.detach().permute(2, 1, 0).contiguous()  # (K, in, out)
        y = kernels.ops().delay_conv_forward(row_ptr, cols, vals, kt, steps, batch)
        ctx.save_for_backward(row_ptr, cols, vals, kernel if ctx.needs_input_grad[0] else None)
        ctx.x_shape = x.shape
        return y

    @staticmethod
    def backward(ctx, gy):
        row_ptr, cols, vals, kernel = ctx.saved_tensors
        total, batch, n_in = ctx.x_shape
        gy = gy.contiguous()
        g_kernel = g_x = None
        if ctx.needs_input_grad[1]:
            k = total - gy.shape[0] + 1
            g_kernel = kernels.ops().delay_conv_grad_kernel(row_ptr, cols, vals, gy, k, n_in).permute(2, 1, 0)
        if ctx.needs_input_grad[0]:
            g_x = torch.nn.grad.conv1d_input((batch, n_in, total), kernel, gy.permute(1, 2, 0)).permute(2, 0, 1)
        return g_x, g_kernel, None


def delay_conv_events(x: torch.Tensor, kernel: torch.Tensor, bias: Optional[torch.Tensor] = None,
                      events=None) -> torch.Tensor:
    """:func:`~snn.synapses.delay_functional.delay_conv` (``groups=1``) over the nonzero inputs, compiled.

    ``x`` ``(T + K - 1, B, in)``, ``kernel`` ``(out, in, K)``, both float32 or both float64 on CPU; ``events``: the
    result of ``ops().delay_events`` on ``x`` when already at hand. Raises ValueError when the compiled kernels are
    not built or the input is not covered (see :func:`event_path_applies`).
    """
    if not event_path_applies(x, kernel):
        raise ValueError(f"delay_conv_events: expected the compiled kernels ({kernels.status()}) and CPU float32 / "
                         f"float64 x (T + K - 1, B, in) and kernel (out, in, K) of one dtype, got x {x.dtype} "
                         f"{tuple(x.shape)} on {x.device}, kernel {kernel.dtype} {tuple(kernel.shape)} on "
                         f"{kernel.device}")
    if events is None:
        events = kernels.ops().delay_events(x.detach().reshape(-1, x.shape[2]))
    y = _EventDelayConv.apply(x, kernel, events)
    return y + bias if bias is not None else y


def delay_conv_auto(x: torch.Tensor, kernel: torch.Tensor, bias: Optional[torch.Tensor] = None) -> torch.Tensor:
    """``delay_conv(x, kernel, bias)``: the event path for sparse inputs it covers, the dense reference otherwise."""
    if event_path_applies(x, kernel):
        events = kernels.ops().delay_events(x.detach().reshape(-1, x.shape[2]))
        if events[1].numel() < EVENTS_BELOW * x.numel():
            return delay_conv_events(x, kernel, bias, events)
    return D.delay_conv(x, kernel, bias)
