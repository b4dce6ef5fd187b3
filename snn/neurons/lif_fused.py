"""Fused whole-sequence LIF: one autograd node per layer, with a hand-written backward through time.

Two entry points, both used automatically when :func:`fusable` allows (otherwise the per-step reference
:func:`snn.neurons.lif.lif_sequence` runs):

- :func:`lif_sequence_fused` replaces ``lif_sequence`` for a LIF / IF layer on any input current;
- :func:`linear_lif_sequence` runs ``Linear -> LIF`` as one node (``snn.Sequential`` picks such pairs). On 0/1 spike
  input it sums weight rows of the active inputs instead of a dense product when the input is sparse (below
  :data:`SPARSE_BELOW` ones), does the same for the weight gradient, saves the input as ``uint8`` (a quarter of
  float32) and recomputes the input current and membrane in backward instead of storing them.

The loops run in the compiled kernels of :mod:`snn.kernels` (C++, CPU, float32 / float64); they follow ``lif_step``
operation by operation, so spikes and gradients equal the reference's (up to the summation order of the products).
"""

from __future__ import annotations

from typing import Optional

import torch

from .. import kernels

__all__ = ["SPARSE_BELOW", "fusable", "lif_sequence_fused", "linear_lif_sequence"]

RESETS = {"subtract": 0, "zero": 1, "none": 2}
SURROGATES = {"atan": 0, "fast_sigmoid": 1, "triangle": 2}
# Share of ones in the input below which the spike-driven products beat the dense ones (benchmarks/bench_lif.py
# measured the crossover near 20 % on a 2-core x86 CPU at SHD sizes).
SPARSE_BELOW = 0.15


def fusable(x: torch.Tensor, p: "LIFDynamics", *params: Optional[torch.Tensor]):
    """The compiled ops when the fused path applies to input ``x`` with dynamics ``p`` (and the extra parameters,
    e.g. a Linear's weight and bias), else None: CPU float32/float64 tensors, no synaptic current (CubaLIF), no
    recurrent weight, time constants and thresholds that are not trained, compiled kernels built."""
    if (x.device.type != "cpu" or x.dtype not in (torch.float32, torch.float64) or x.shape[0] == 0
            or p.alpha is not None
            or p.recurrent_weight is not None or p.beta.requires_grad or p.threshold.requires_grad
            or any(t is not None and (t.device.type != "cpu" or t.dtype != x.dtype) for t in params)):
        return None
    return kernels.ops()


def _per_neuron(t: torch.Tensor, shape, dtype) -> torch.Tensor:
    """A scalar or per-neuron coefficient as a flat contiguous vector over the neurons of ``shape``."""
    return t.detach().to(dtype).expand(shape).reshape(-1).contiguous()


class _LIFSequence(torch.autograd.Function):
    @staticmethod
    def forward(ctx, current, v0, beta, threshold, reset, surrogate, slope, detach_reset):
        ops = kernels.ops()
        spikes, v_final = ops.lif_forward(current, v0, beta, threshold, reset)
        ctx.save_for_backward(current, v0, beta, threshold)
        ctx.config = (reset, surrogate, slope, detach_reset)
        return spikes, v_final

    @staticmethod
    def backward(ctx, grad_spikes, grad_v_final):
        current, v0, beta, threshold = ctx.saved_tensors
        reset, surrogate, slope, detach_reset = ctx.config
        grad_current, grad_v0 = kernels.ops().lif_backward(
            current, v0, beta, threshold, reset, grad_spikes.contiguous(), grad_v_final.contiguous(), surrogate,
            slope, detach_reset)
        return grad_current, grad_v0, None, None, None, None, None, None


def _config(p: "LIFDynamics"):
    return RESETS[p.reset], SURROGATES[p.spike_fn.kind], float(p.spike_fn.slope), bool(p.detach_reset)


def lif_sequence_fused(x: torch.Tensor, v0: torch.Tensor, p: "LIFDynamics") -> tuple[torch.Tensor, torch.Tensor]:
    """LIF over a whole sequence: input current ``x`` ``(T, B, *shape)``, initial membrane ``v0`` ``(B, *shape)``
    -> spikes ``(T, B, *shape)`` and the final membrane. Only where :func:`fusable` returned the ops."""
    shape = x.shape[2:]
    beta, threshold = _per_neuron(p.beta, shape, x.dtype), _per_neuron(p.threshold, shape, x.dtype)
    return _LIFSequence.apply(x.contiguous(), v0.contiguous(), beta, threshold, *_config(p))


def _input_current(ops, x_bits, x_dense, weight, bias, sparse: bool) -> torch.Tensor:
    if sparse:
        return ops.spike_linear(x_bits, weight.detach().t().contiguous(), None if bias is None else bias.detach())
    w = weight.detach()
    return torch.addmm(bias.detach(), x_dense, w.t()) if bias is not None else x_dense @ w.t()


class _LinearLIFSequence(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, v0, beta, threshold, reset, surrogate, slope, detach_reset):
        ops = kernels.ops()
        T, B, K = x.shape
        flat = x.reshape(T * B, K).contiguous()
        bits, ones = ops.spike_pack(flat)
        spiking = ones >= 0
        sparse = spiking and ones < SPARSE_BELOW * flat.numel()
        current = _input_current(ops, bits, flat, weight, bias, sparse)
        spikes, v_final = ops.lif_forward(current.view(T, B, -1), v0, beta, threshold, reset)
        # spike input is kept as uint8 (its float copy is rebuilt in backward when the dense path needs it)
        ctx.save_for_backward(bits if spiking else flat, weight, bias, v0, beta, threshold)
        ctx.config = (reset, surrogate, slope, detach_reset, spiking, sparse, (T, B, K))
        return spikes, v_final

    @staticmethod
    def backward(ctx, grad_spikes, grad_v_final):
        saved, weight, bias, v0, beta, threshold = ctx.saved_tensors
        reset, surrogate, slope, detach_reset, spiking, sparse, (T, B, K) = ctx.config
        ops = kernels.ops()
        dense = saved.to(weight.dtype) if spiking and not sparse else saved
        current = _input_current(ops, saved, dense, weight, bias, sparse).view(T, B, -1)
        grad_current, grad_v0 = ops.lif_backward(current, v0, beta, threshold, reset, grad_spikes.contiguous(),
                                                 grad_v_final.contiguous(), surrogate, slope, detach_reset)
        g = grad_current.view(T * B, -1)
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_x = (g @ weight.detach()).view(T, B, K)
        if ctx.needs_input_grad[1]:
            grad_w = ops.spike_weight_grad(saved, g).t() if sparse else g.t() @ dense
        if bias is not None and ctx.needs_input_grad[2]:
            grad_b = g.sum(0)
        return grad_x, grad_w, grad_b, grad_v0, None, None, None, None, None, None


def linear_lif_sequence(x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor], v0: torch.Tensor,
                        p: "LIFDynamics") -> tuple[torch.Tensor, torch.Tensor]:
    """``Linear`` then LIF over a whole sequence: ``x`` ``(T, B, in)``, ``weight`` ``(n, in)``, ``bias`` ``(n,)`` or
    None, initial membrane ``v0`` ``(B, n)`` -> spikes ``(T, B, n)`` and the final membrane. Only where
    :func:`fusable` returned the ops."""
    shape = (weight.shape[0],)
    beta, threshold = _per_neuron(p.beta, shape, x.dtype), _per_neuron(p.threshold, shape, x.dtype)
    return _LinearLIFSequence.apply(x, weight, bias, v0.contiguous(), beta, threshold, *_config(p))
