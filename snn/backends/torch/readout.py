"""Torch kernels of the nodes NIR brought in (:class:`snn.ir.CubaLI`, :class:`snn.ir.Integrator`,
:class:`snn.ir.Scale`, :class:`snn.ir.Threshold`, :class:`snn.ir.Conv1d`): the nodes' equations, one step at a time
where there is state (reads only the IR)."""

from __future__ import annotations

import torch

from ... import ir
from .simulator import _t, register_kernel, register_trace_kernel


@register_trace_kernel(ir.CubaLI, spiking=False)
def _cubali(node: ir.CubaLI, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    alpha = torch.exp(-node.dt / _t(node.tau_syn, x))
    beta = torch.exp(-node.dt / _t(node.tau_mem, x))
    i, v = torch.zeros_like(x[0]), torch.zeros_like(x[0])
    out = torch.empty_like(x)
    for t in range(x.shape[0]):
        i = alpha * i + x[t]
        v = beta * v + i
        out[t] = v
    return out, out


@register_trace_kernel(ir.Integrator, spiking=False)
def _integrator(node: ir.Integrator, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    v = torch.zeros_like(x[0])
    out = torch.empty_like(x)
    for t in range(x.shape[0]):
        v = v + x[t]
        out[t] = v
    return out, out


@register_kernel(ir.Scale)
def _scale(node: ir.Scale, x: torch.Tensor) -> torch.Tensor:
    return x * _t(node.scale, x)


@register_kernel(ir.Threshold)
def _threshold(node: ir.Threshold, x: torch.Tensor) -> torch.Tensor:
    return (x > _t(node.threshold, x)).to(x.dtype)


@register_kernel(ir.Conv1d)
def _conv1d(node: ir.Conv1d, x: torch.Tensor) -> torch.Tensor:
    T, B = x.shape[:2]
    y = torch.nn.functional.conv1d(x.flatten(0, 1), _t(node.weight, x), None if node.bias is None else
                                   _t(node.bias, x), node.stride, node.padding, node.dilation, node.groups)
    return y.unflatten(0, (T, B))
