"""Whole-sequence kernels per IR node type, and the simulator that runs a graph in topological order."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from ... import ir

# A kernel maps the node and its input sequence (T, B, *in_shape) to the output sequence (T, B, *out_shape).
Kernel = Callable[[ir.Node, torch.Tensor], torch.Tensor]
NODE_KERNELS: dict[type, Kernel] = {}


def register_kernel(node_type: type) -> Callable[[Kernel], Kernel]:
    """Decorator registering how the torch backend runs an IR node type."""

    def deco(fn: Kernel) -> Kernel:
        NODE_KERNELS[node_type] = fn
        return fn

    return deco


def _t(a, like: torch.Tensor) -> torch.Tensor:
    return torch.as_tensor(a, dtype=like.dtype, device=like.device)


@register_kernel(ir.Linear)
def _linear(node: ir.Linear, x: torch.Tensor) -> torch.Tensor:
    return F.linear(x, _t(node.weight, x), None if node.bias is None else _t(node.bias, x))


@register_kernel(ir.Conv2d)
def _conv2d(node: ir.Conv2d, x: torch.Tensor) -> torch.Tensor:
    T, B = x.shape[:2]
    y = F.conv2d(x.flatten(0, 1), _t(node.weight, x), None if node.bias is None else _t(node.bias, x),
                 node.stride, node.padding, node.dilation, node.groups)
    return y.unflatten(0, (T, B))


@register_kernel(ir.Flatten)
def _flatten(node: ir.Flatten, x: torch.Tensor) -> torch.Tensor:
    return x.flatten(2)


# Kernels that also give the membrane potential, for plots of what a layer does: node type -> (fn, spiking), where
# ``fn(node, x) -> (output, v)`` with ``v`` (T, B, *shape) the membrane after integrating step t and before its reset,
# and ``spiking`` says whether the output is spikes (0/1).
TRACE_KERNELS: dict[type, tuple[Callable[[ir.Node, torch.Tensor], tuple[torch.Tensor, torch.Tensor]], bool]] = {}


def register_trace_kernel(node_type: type, spiking: bool) -> Callable:
    """Decorator registering a kernel that returns ``(output, membrane)`` for ``node_type``; it also becomes the
    node type's kernel (its output alone)."""

    def deco(fn):
        TRACE_KERNELS[node_type] = (fn, spiking)
        NODE_KERNELS[node_type] = lambda node, x: fn(node, x)[0]
        return fn

    return deco


@register_trace_kernel(ir.LIF, spiking=True)
@register_trace_kernel(ir.CubaLIF, spiking=True)
def _lif(node: ir.LIF, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    beta = torch.exp(-node.dt / _t(node.tau_mem, x))
    alpha = torch.exp(-node.dt / _t(node.tau_syn, x)) if isinstance(node, ir.CubaLIF) else None
    theta = _t(node.threshold, x)
    w_rec = None if node.recurrent_weight is None else _t(node.recurrent_weight, x)
    v = torch.zeros_like(x[0])
    i = torch.zeros_like(x[0])
    s = torch.zeros_like(x[0])
    out = torch.empty_like(x)
    trace = torch.empty_like(x)
    for t in range(x.shape[0]):
        inp = x[t] if w_rec is None else x[t] + s @ w_rec.t()
        i = inp if alpha is None else alpha * i + inp
        v = beta * v + i
        trace[t] = v
        s = (v > theta).to(x.dtype)
        if node.reset == "subtract":
            v = v - s * theta
        elif node.reset == "zero":
            v = v * (1 - s)
        out[t] = s
    return out, trace


@register_trace_kernel(ir.LI, spiking=False)
def _li(node: ir.LI, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    beta = torch.exp(-node.dt / _t(node.tau_mem, x))
    v = torch.zeros_like(x[0])
    out = torch.empty_like(x)
    for t in range(x.shape[0]):
        v = beta * v + x[t]
        out[t] = v
    return out, out


def _reset(node, v: torch.Tensor, s: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    if node.reset == "subtract":
        return v - s * theta
    if node.reset == "zero":
        return v * (1 - s)
    return v


@register_trace_kernel(ir.IF, spiking=True)
def _if(node: ir.IF, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    theta = _t(node.threshold, x)
    w_rec = None if node.recurrent_weight is None else _t(node.recurrent_weight, x)
    v, s = torch.zeros_like(x[0]), torch.zeros_like(x[0])
    out, trace = torch.empty_like(x), torch.empty_like(x)
    for t in range(x.shape[0]):
        v = v + (x[t] if w_rec is None else x[t] + s @ w_rec.t())
        trace[t] = v
        s = (v > theta).to(x.dtype)
        v = _reset(node, v, s, theta)
        out[t] = s
    return out, trace


@register_trace_kernel(ir.AdLIF, spiking=True)
def _adlif(node: ir.AdLIF, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    alpha = torch.exp(-node.dt / _t(node.tau_mem, x))
    beta = torch.exp(-node.dt / _t(node.tau_adapt, x))
    theta, a, b = _t(node.threshold, x), _t(node.a, x), _t(node.b, x)
    w_rec = None if node.recurrent_weight is None else _t(node.recurrent_weight, x)
    u, w, s = torch.zeros_like(x[0]), torch.zeros_like(x[0]), torch.zeros_like(x[0])
    out, trace = torch.empty_like(x), torch.empty_like(x)
    for t in range(x.shape[0]):
        inp = x[t] if w_rec is None else x[t] + s @ w_rec.t()
        u = alpha * u + (1 - alpha) * (inp - w)
        trace[t] = u
        s = (u > theta).to(x.dtype)
        u = _reset(node, u, s, theta)
        w = beta * w + (1 - beta) * (a * u + b * s)
        out[t] = s
    return out, trace


@register_kernel(ir.SumPool2d)
@register_kernel(ir.AvgPool2d)
def _pool2d(node, x: torch.Tensor) -> torch.Tensor:
    divisor = None if isinstance(node, ir.AvgPool2d) else 1
    y = F.avg_pool2d(x.flatten(0, 1), node.kernel_size, node.stride, node.padding, divisor_override=divisor)
    return y.unflatten(0, tuple(x.shape[:2]))


@dataclass
class SimulationResult:
    """``output``: the graph output ``(T, B, ...)``; ``records``: node name -> its output (when recorded)."""

    output: torch.Tensor
    records: dict[str, torch.Tensor]


class Simulator:
    """Runs an IR graph with torch. ``device``: where to run; ``dtype``: float32 (default) or float64."""

    def __init__(self, graph: ir.Graph, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32):
        graph.validate()
        unsupported = sorted({type(n).__name__ for n in graph.nodes.values() if type(n) not in NODE_KERNELS})
        if unsupported:
            raise ValueError(f"torch backend: no kernel for node types {unsupported}; "
                             f"supported: {sorted(t.__name__ for t in NODE_KERNELS)}")
        self.graph, self.device, self.dtype = graph, torch.device(device), dtype
        self.order = graph.topological_order()

    def run(self, x: torch.Tensor, record: bool = False) -> SimulationResult:
        expected = self.graph.input_shape
        if not isinstance(x, torch.Tensor) or x.dim() != 2 + len(expected) or tuple(x.shape[2:]) != expected:
            got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"torch backend: input: expected shape (T, B, {', '.join(map(str, expected))}), got {got}")
        values = {ir.INPUT: x.to(self.device, self.dtype)}
        with torch.no_grad():
            for name in self.order:
                srcs = self.graph.predecessors(name)
                inp = values[srcs[0]]
                for s in srcs[1:]:
                    inp = inp + values[s]
                values[name] = NODE_KERNELS[type(self.graph.nodes[name])](self.graph.nodes[name], inp)
        (out_src,) = self.graph.predecessors(ir.OUTPUT)
        records = {k: v for k, v in values.items() if k != ir.INPUT} if record else {}
        return SimulationResult(values[out_src], records)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.run(x).output


def build(graph: ir.Graph, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32) -> Simulator:
    """A :class:`Simulator` for ``graph`` on ``device``."""
    return Simulator(graph, device, dtype)
