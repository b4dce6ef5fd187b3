"""Fused whole-sequence LIF: one autograd node per layer, with a hand-written backward through time.

Two entry points, both used automatically when :func:`fusable` allows (otherwise the per-step reference
:func:`snn.neurons.lif.lif_sequence` runs):

- :func:`lif_sequence_fused` replaces ``lif_sequence`` for a LIF / IF layer on any input current;
- :func:`linear_lif_sequence` runs ``Linear -> LIF`` as one node (``snn.Sequential`` picks such pairs). A 0/1 spike
  input that is sparse (below :data:`SPARSE_BELOW` ones, at least :data:`SPARSE_MIN_OUTPUTS` outputs) is kept as the
  indices of its ones (compressed rows): the input product and the weight gradient sum the weight rows / gradient
  rows of the active inputs, and backward recomputes the input current from them when a row has few ones
  (:data:`RECOMPUTE_BELOW`). A dense spike input is kept as ``uint8`` (a quarter of float32) with the current, and
  runs dense products. The membrane is never stored: backward re-runs the forward in C++.

The loops run in the compiled kernels of :mod:`snn.kernels` (C++, CPU, float32 / float64); they follow ``lif_step``
operation by operation, so spikes and gradients equal the reference's (up to the summation order of the products).
"""

from __future__ import annotations

from typing import Optional

import torch

from .. import kernels

__all__ = ["SPARSE_BELOW", "SPARSE_MIN_OUTPUTS", "RECOMPUTE_BELOW", "fusable", "lif_sequence_fused",
           "linear_lif_sequence"]

RESETS = {"subtract": 0, "zero": 1, "none": 2}
SURROGATES = {"atan": 0, "fast_sigmoid": 1, "triangle": 2}
# Share of ones in the input below which the spike-driven products beat the dense ones, and the fewest outputs
# for which they do (they sum rows of at least 64 values in vector registers; a narrow layer's dense product is
# cheap anyway). Chosen from timings of the single operators against addmm / mm on a 2-core x86 CPU at SHD sizes
# (700 -> 256: the input product breaks even near 20 % ones, the weight gradient near 12 %); benchmarks/bench_lif.py
# measures the whole training step at 2, 10 and 30 %.
SPARSE_BELOW = 0.15
SPARSE_MIN_OUTPUTS = 64
# Ones per input row (per step and sample) below which backward recomputes the input current from the kept
# spikes rather than keeping the current itself (one float per step, sample and neuron).
RECOMPUTE_BELOW = 48


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
        ctx.ops = ops  # backward uses the kernels forward used, whatever SPIKEFORGE_KERNELS says by then
        ctx.config = (reset, surrogate, slope, detach_reset)
        return spikes, v_final

    @staticmethod
    def backward(ctx, grad_spikes, grad_v_final):
        current, v0, beta, threshold = ctx.saved_tensors
        reset, surrogate, slope, detach_reset = ctx.config
        grad_current, grad_v0 = ctx.ops.lif_backward(
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


class _LinearLIFSequence(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, v0, beta, threshold, reset, surrogate, slope, detach_reset):
        ops = kernels.ops()
        T, B, K = x.shape
        flat = x.reshape(T * B, K).contiguous()
        bits, ones = ops.spike_pack(flat)
        spiking = ones >= 0
        sparse = spiking and ones < SPARSE_BELOW * flat.numel() and weight.shape[0] >= SPARSE_MIN_OUTPUTS
        w, b = weight.detach(), None if bias is None else bias.detach()
        if sparse:
            cols, row_ptr = ops.spike_csr(bits)
            current = ops.csr_linear(cols, row_ptr, w.t().contiguous(), b)
            saved_input = (cols, row_ptr)
        else:
            current = torch.addmm(b, flat, w.t()) if b is not None else flat @ w.t()
            saved_input = (bits if spiking else flat, None)
        # Recompute the input current in backward only where that is cheap (a sparse input with few ones per row);
        # otherwise keep it, so that backward costs no more products than an unfused Linear + LIF. A current that is
        # not kept takes the spikes in its buffer.
        recompute = sparse and ones < RECOMPUTE_BELOW * T * B
        if recompute:
            spikes = current.view(T, B, -1)
            v_final = ops.lif_forward_(spikes, v0, beta, threshold, reset)
        else:
            spikes, v_final = ops.lif_forward(current.view(T, B, -1), v0, beta, threshold, reset)
        ctx.save_for_backward(*saved_input, weight, bias, v0, beta, threshold, None if recompute else current)
        ctx.ops = ops  # backward uses the kernels forward used, whatever SPIKEFORGE_KERNELS says by then
        ctx.config = (reset, surrogate, slope, detach_reset, spiking, sparse, (T, B, K))
        return spikes, v_final

    @staticmethod
    def backward(ctx, grad_spikes, grad_v_final):
        saved, row_ptr, weight, bias, v0, beta, threshold, current = ctx.saved_tensors
        reset, surrogate, slope, detach_reset, spiking, sparse, (T, B, K) = ctx.config
        ops = ctx.ops
        w = weight.detach()
        args = (v0, beta, threshold, reset, grad_spikes.contiguous(), grad_v_final.contiguous(), surrogate, slope,
                detach_reset)
        if current is None:  # recomputed here, so its buffer takes the gradient (one buffer less at the peak)
            g = ops.csr_linear(saved, row_ptr, w.t().contiguous(), None if bias is None else bias.detach())
            grad_v0 = ops.lif_backward_(g.view(T, B, -1), *args)
        else:
            g, grad_v0 = ops.lif_backward(current.view(T, B, -1), *args)
            g = g.view(T * B, -1)
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[1]:  # before grad_x: a float copy of a uint8 input is freed before grad_x is made
            if sparse:
                grad_w = ops.csr_weight_grad(saved, row_ptr, g, K).t()
            else:
                grad_w = g.t() @ (saved.to(w.dtype) if spiking else saved)
        if bias is not None and ctx.needs_input_grad[2]:
            grad_b = g.sum(0)
        if ctx.needs_input_grad[0]:
            grad_x = (g @ w).view(T, B, K)
        return grad_x, grad_w, grad_b, grad_v0, None, None, None, None, None, None


def linear_lif_sequence(x: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor], v0: torch.Tensor,
                        p: "LIFDynamics") -> tuple[torch.Tensor, torch.Tensor]:
    """``Linear`` then LIF over a whole sequence: ``x`` ``(T, B, in)``, ``weight`` ``(n, in)``, ``bias`` ``(n,)`` or
    None, initial membrane ``v0`` ``(B, n)`` -> spikes ``(T, B, n)`` and the final membrane. Only where
    :func:`fusable` returned the ops."""
    shape = (weight.shape[0],)
    beta, threshold = _per_neuron(p.beta, shape, x.dtype), _per_neuron(p.threshold, shape, x.dtype)
    return _LinearLIFSequence.apply(x, weight, bias, v0.contiguous(), beta, threshold, *_config(p))
