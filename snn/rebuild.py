"""Rebuilding: :class:`snn.ir.Graph` -> a trainable front-end :class:`snn.Sequential` (the inverse of :mod:`snn.lower`).

Each IR node type has one function ``fn(node) -> nn.Module`` registered with :func:`register_rebuild`; the graph must
be a chain ``input -> ... -> output`` (what :func:`snn.lower` produces). The rebuilt model lowers back to the same
graph, so it runs the same numbers on every backend, and its parameters (weights, recurrent weights) train further.
Time constants and thresholds come back as fixed per-neuron buffers (``learn_tau=False``).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from torch import nn

from . import ir
from .container import Sequential
from .neurons.lif import IF, LI, LIF, CubaLIF
from .synapses import AvgPool2d, Conv2d, DelayedLinear, Flatten, Linear, SumPool2d

RebuildFn = Callable[[ir.Node], nn.Module]
REBUILDERS: dict[type, RebuildFn] = {}


def register_rebuild(node_type: type) -> Callable[[RebuildFn], RebuildFn]:
    """Decorator: ``@register_rebuild(ir.MyNode) def fn(node) -> nn.Module``."""

    def deco(fn: RebuildFn) -> RebuildFn:
        REBUILDERS[node_type] = fn
        return fn

    return deco


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.as_tensor(np.array(a, dtype=np.float32))


def _load(param: nn.Parameter | None, value) -> None:
    if param is not None:
        with torch.no_grad():
            param.copy_(_t(value))


@register_rebuild(ir.Linear)
def _linear(node: ir.Linear) -> Linear:
    out, inp = node.weight.shape
    m = Linear(inp, out, bias=node.bias is not None)
    _load(m.weight, node.weight)
    _load(m.bias, node.bias)
    return m


@register_rebuild(ir.Conv2d)
def _conv(node: ir.Conv2d) -> Conv2d:
    c_out, c_in, kh, kw = node.weight.shape
    m = Conv2d(c_in * node.groups, c_out, (kh, kw), stride=node.stride, padding=node.padding,
               dilation=node.dilation, groups=node.groups, bias=node.bias is not None)
    _load(m.weight, node.weight)
    _load(m.bias, node.bias)
    return m


@register_rebuild(ir.Flatten)
def _flatten(node: ir.Flatten) -> Flatten:
    return Flatten(node.shape)


@register_rebuild(ir.LIF)
@register_rebuild(ir.CubaLIF)
def _lif(node: ir.LIF) -> LIF:
    kwargs = dict(tau_mem=_t(node.tau_mem), threshold=_t(node.threshold), reset=node.reset, dt=node.dt,
                  recurrent=node.recurrent_weight is not None)
    shape = tuple(node.tau_mem.shape)
    m = CubaLIF(shape, tau_syn=_t(node.tau_syn), **kwargs) if isinstance(node, ir.CubaLIF) else LIF(shape, **kwargs)
    _load(m.recurrent_weight, node.recurrent_weight)
    return m


@register_rebuild(ir.IF)
def _if(node: ir.IF) -> IF:
    m = IF(tuple(node.threshold.shape), threshold=_t(node.threshold), reset=node.reset,
           recurrent=node.recurrent_weight is not None)
    _load(m.recurrent_weight, node.recurrent_weight)
    return m


@register_rebuild(ir.SumPool2d)
@register_rebuild(ir.AvgPool2d)
def _pool(node) -> SumPool2d | AvgPool2d:
    module = SumPool2d if isinstance(node, ir.SumPool2d) else AvgPool2d
    return module(node.kernel_size, stride=node.stride, padding=node.padding)


@register_rebuild(ir.LI)
def _li(node: ir.LI) -> LI:
    return LI(tuple(node.tau_mem.shape), tau_mem=_t(node.tau_mem), dt=node.dt)


@register_rebuild(ir.DelayLinear)
def _delay(node: ir.DelayLinear) -> DelayedLinear:
    """A ``DelayedLinear`` with ``K`` = the smallest odd tap count covering the largest delay, positions
    ``K//2 - d`` (so its integer delays are ``d``) and sigma at its final width; in ``eval()`` it is exact."""
    out, inp = node.weight.shape
    taps = node.max_delay + 1 + node.max_delay % 2
    m = DelayedLinear(inp, out, taps, bias=node.bias is not None)
    _load(m.weight, node.weight)
    _load(m.bias, node.bias)
    _load(m.positions, taps // 2 - node.delay)
    m.sigma.fill_(m.schedule.sigma_final)
    return m


def rebuild(graph: ir.Graph) -> Sequential:
    """The front-end model of a chain graph (in ``eval()`` mode; call ``train()`` to train it further).

    Raises ValueError for a graph that is not a chain or holds a node type without a rebuild function.
    """
    graph.validate()
    order, prev = [], ir.INPUT
    while True:
        nxt = [t for s, t in graph.edges if s == prev]
        if len(nxt) != 1 or (nxt[0] != ir.OUTPUT and graph.predecessors(nxt[0]) != [prev]):
            raise ValueError(f"rebuild: the graph is not a chain input -> ... -> output (at {prev!r}: successors "
                             f"{nxt}); only chains become an snn.Sequential")
        if nxt[0] == ir.OUTPUT:
            break
        order.append(prev := nxt[0])
    if len(order) != len(graph.nodes):
        raise ValueError(f"rebuild: nodes {sorted(set(graph.nodes) - set(order))} are off the input -> output chain")
    modules = []
    for name in order:
        node = graph.nodes[name]
        fn = REBUILDERS.get(type(node))
        if fn is None:
            raise ValueError(f"rebuild: node {name!r}: no front-end module for IR node type {type(node).__name__}; "
                             f"supported: {sorted(t.__name__ for t in REBUILDERS)}")
        modules.append(fn(node))
    return Sequential(*modules).eval()
