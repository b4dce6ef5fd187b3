"""Lowering: front-end modules -> :class:`snn.ir.Graph`.

Each supported module type has one lowering function ``fn(module, input_shape) -> ir.Node | None`` (``None`` for
modules that are the identity at inference, such as dropout). New module types register theirs with
:func:`register_lowering`. Containers (:class:`snn.Sequential`, ``torch.nn.Sequential``) lower to a chain.
"""

from __future__ import annotations

from typing import Callable, Optional

import numpy as np
import torch
from torch import nn

from . import ir
from .neurons.adaptive import AdLIF
from .neurons.lif import IF, LI, LIF, CubaLIF
from .synapses import AvgPool2d, Conv2d, Flatten, Linear, SumPool2d

LoweringFn = Callable[[nn.Module, tuple[int, ...]], Optional[ir.Node]]
LOWERINGS: dict[type, LoweringFn] = {}


def register_lowering(module_type: type) -> Callable[[LoweringFn], LoweringFn]:
    """Decorator: ``@register_lowering(MyModule) def fn(module, input_shape) -> ir.Node``."""

    def deco(fn: LoweringFn) -> LoweringFn:
        LOWERINGS[module_type] = fn
        return fn

    return deco


def _np(t: torch.Tensor | None) -> np.ndarray | None:
    return None if t is None else t.detach().cpu().to(torch.float32).numpy().copy()


def _expect_shape(module: nn.Module, expected: tuple[int, ...], got: tuple[int, ...]) -> None:
    if tuple(expected) != tuple(got):
        raise ValueError(f"lower: {type(module).__name__} expects input shape {tuple(expected)}, "
                         f"but the layer before it gives {tuple(got)}")


@register_lowering(Linear)
def _lower_linear(m: Linear, shape):
    _expect_shape(m, (m.in_features,), shape)
    return ir.Linear(_np(m.weight), _np(m.bias))


@register_lowering(Conv2d)
def _lower_conv(m: Conv2d, shape):
    if len(shape) != 3 or shape[0] != m.in_channels:
        raise ValueError(f"lower: Conv2d expects input shape (C={m.in_channels}, H, W), but the layer before it "
                         f"gives {tuple(shape)}")
    return ir.Conv2d(_np(m.weight), _np(m.bias), shape[1:], m.stride, m.padding, m.dilation, m.groups)


@register_lowering(Flatten)
def _lower_flatten(m: Flatten, shape):
    _expect_shape(m, m.shape, shape)
    return ir.Flatten(m.shape)


@register_lowering(LIF)
@register_lowering(CubaLIF)
def _lower_lif(m: LIF, shape):
    _expect_shape(m, m.shape, shape)
    common = dict(tau_mem=_np(m.time_constant("tau_mem")), threshold=_np(m.effective_threshold()),
                  reset=m.reset, dt=m.dt, recurrent_weight=_np(m.recurrent_weight))
    if isinstance(m, CubaLIF):
        return ir.CubaLIF(**common, tau_syn=_np(m.time_constant("tau_syn")))
    return ir.LIF(**common)


@register_lowering(LI)
def _lower_li(m: LI, shape):
    _expect_shape(m, m.shape, shape)
    return ir.LI(_np(m.time_constant("tau_mem")), m.dt)


@register_lowering(IF)
def _lower_if(m: IF, shape):
    _expect_shape(m, m.shape, shape)
    return ir.IF(_np(m.effective_threshold()), m.reset, _np(m.recurrent_weight))


@register_lowering(AdLIF)
def _lower_adlif(m: AdLIF, shape):
    _expect_shape(m, m.shape, shape)
    return ir.AdLIF(_np(m.time_constant("tau_mem")), _np(m.time_constant("tau_adapt")), _np(m.effective_threshold()),
                    _np(m.coupling("a")), _np(m.coupling("b")), m.reset, m.dt, _np(m.recurrent_weight))


@register_lowering(SumPool2d)
@register_lowering(AvgPool2d)
def _lower_pool(m, shape):
    if len(shape) != 3:
        raise ValueError(f"lower: {type(m).__name__} expects input frames (C, H, W), but the layer before it gives "
                         f"{tuple(shape)}")
    node = ir.SumPool2d if isinstance(m, SumPool2d) else ir.AvgPool2d
    return node(shape, m.kernel_size, m.stride, m.padding)


@register_lowering(nn.Dropout)
@register_lowering(nn.Identity)
def _lower_identity(m, shape):
    return None


def _first_shape(module: nn.Module) -> tuple[int, ...] | None:
    """The input feature shape a module declares, where it does."""
    if isinstance(module, nn.Sequential):
        return _first_shape(module[0]) if len(module) else None
    if isinstance(module, Linear) or isinstance(getattr(module, "in_features", None), int):  # Linear, ELM, ...
        return (module.in_features,)
    return getattr(module, "shape", None)


def _leaves(module: nn.Module, prefix: str = ""):
    """(name, module) of every non-container module, in execution order."""
    if isinstance(module, nn.Sequential):
        for name, child in module.named_children():
            yield from _leaves(child, f"{prefix}{name}.")
    else:
        yield prefix.rstrip(".") or type(module).__name__.lower(), module


def lower(model: nn.Module, input_shape=None) -> ir.Graph:
    """Lowers a model to the IR.

    Args:
        model: a supported module or a (nested) ``Sequential`` of them.
        input_shape: feature shape of one input step (no T or B); needed only when the first layer does not
            declare it (e.g. a ``Conv2d`` first layer needs ``(C, H, W)``).

    Raises ValueError naming any unsupported module and listing the supported types, or a shape mismatch.
    """
    shape = input_shape if input_shape is not None else _first_shape(model)
    if shape is None:
        raise ValueError(f"lower: cannot infer the input shape of {type(model).__name__}; pass input_shape=(...)")
    shape = tuple(int(s) for s in shape)
    nodes: dict[str, ir.Node] = {}
    dts = set()
    cur = shape
    for name, module in _leaves(model):
        fn = LOWERINGS.get(type(module))
        if fn is None:
            supported = sorted({t.__module__.split(".")[0] + "." + t.__name__ for t in LOWERINGS})
            raise ValueError(f"lower: module {name!r} of type {type(module).__qualname__} is not supported; "
                             f"supported: {', '.join(supported)} (register more with snn.register_lowering)")
        node = fn(module, cur)
        if node is None:
            continue
        key = name.replace(".", "_")
        if key.isdigit():
            key = f"{type(node).__name__.lower()}_{key}"
        nodes[key] = node
        cur = node.output_shape
        if getattr(node, "dt", None) is not None:
            dts.add(node.dt)
    if not nodes:
        raise ValueError(f"lower: {type(model).__name__} has no layers to lower")
    if len(dts) > 1:
        raise ValueError(f"lower: every neuron layer must share one dt; found {sorted(dts)} ms")
    dt = dts.pop() if dts else 1.0
    return ir.Graph.chain(nodes, shape, dt, {"model": type(model).__name__})
