"""IR graph -> :class:`LavaNet` in floating-point Lava units, and the extension point for new node types.

The chain ``input -> synapse nodes -> neuron node -> synapse nodes -> neuron node ... -> output`` becomes one
:class:`Layer` per neuron node. Consecutive synapse nodes (``Linear``, ``Conv2d``, ``Flatten``, ``SumPool2d``,
``AvgPool2d``) compose into one ``Dense`` (a convolution or a pooling is unrolled to its dense matrix); a
``DelayLinear`` becomes a ``DelayDense``; a bias moves into the neuron (Lava adds ``bias_mant`` to ``v``).

Extension point: :func:`register_synapse` / :func:`register_neuron` say how an IR node type lowers;
:func:`register_neuron_kind` says which Lava process (built-in or custom, see :mod:`.processes`) runs a neuron kind
and how the integer simulator steps it. Errors name the IR node and the option that cannot be expressed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from ... import ir
from .network import LavaNet, Layer, Neuron, Synapse

MAX_DELAY = 63  # Loihi 2 synaptic delay field: 6 bits (SPEC §4)


@dataclass(frozen=True)
class NeuronKind:
    """How a neuron kind runs. ``make_process(neuron, precision) -> lava process`` (imports lava lazily);
    ``model(precision) -> ProcessModel class``; ``state``: Var names reset between samples (and recorded);
    ``spiking``: False for a graded readout; ``fixed_point``: False for a float-only kind."""

    make_process: Callable
    model: Callable
    state: tuple[str, ...]
    spiking: bool = True
    fixed_point: bool = True  # False: float only; quantisation refuses the kind, naming the layer


NEURON_KINDS: dict[str, NeuronKind] = {}

# A synapse lowering maps (node, name, input shape) to (W (out, in), bias or None, delay (out, in) or None).
SynapseLowering = Callable[[ir.Node, str], tuple[Optional[np.ndarray], Optional[np.ndarray], Optional[np.ndarray]]]
# A neuron lowering maps (node, name, bias (n,)) to (Neuron, recurrent weight (n, n) or None).
NeuronLowering = Callable[[ir.Node, str, np.ndarray], tuple[Neuron, Optional[np.ndarray]]]
SYNAPSE_LOWERINGS: dict[type, SynapseLowering] = {}
NEURON_LOWERINGS: dict[type, NeuronLowering] = {}


def register_neuron_kind(kind: str, spec: NeuronKind) -> None:
    NEURON_KINDS[kind] = spec


def register_synapse(node_type: type):
    """Decorator: ``fn(node, name) -> (W or None for identity, bias or None, delay or None)``."""
    def deco(fn):
        SYNAPSE_LOWERINGS[node_type] = fn
        return fn
    return deco


def register_neuron(node_type: type):
    """Decorator: ``fn(node, name, bias) -> (Neuron, recurrent weight or None)``; raise ValueError naming the
    layer for options Lava cannot express."""
    def deco(fn):
        NEURON_LOWERINGS[node_type] = fn
        return fn
    return deco


# --- synapses ------------------------------------------------------------------------------------------------------

@register_synapse(ir.Linear)
def _linear(node: ir.Linear, name: str):
    return node.weight.astype(np.float64), node.bias, None


@register_synapse(ir.Flatten)
def _flatten(node: ir.Flatten, name: str):
    return None, None, None


@register_synapse(ir.DelayLinear)
def _delay_linear(node: ir.DelayLinear, name: str):
    return node.weight.astype(np.float64), node.bias, node.delay.copy()  # range: lower() checks it, naming the neuron layer too


def _unroll(node, name: str, weight: np.ndarray, stride, padding, dilation, groups) -> np.ndarray:
    """The dense (out, in) matrix of a zero-padded 2-D convolution of ``node``'s frames (exact; memory in*out)."""
    import torch
    import torch.nn.functional as F

    n_in = math.prod(node.input_shape)
    if n_in * math.prod(node.output_shape) > 5e7:
        raise ValueError(f"Lava lowering: layer {name!r} ({type(node).__name__}): expected at most 5e7 dense "
                         f"synapses when unrolled, got {n_in * math.prod(node.output_shape):.3g}")
    eye = torch.eye(n_in, dtype=torch.float64).reshape(n_in, *node.input_shape)
    w = torch.as_tensor(weight, dtype=torch.float64)
    cols = F.conv2d(eye, w, None, stride, padding, dilation, groups).reshape(n_in, -1)
    return cols.t().numpy()


@register_synapse(ir.Conv2d)
def _conv2d(node: ir.Conv2d, name: str):
    """Unrolls the convolution into its dense (out, in) matrix."""
    w = _unroll(node, name, node.weight, node.stride, node.padding, node.dilation, node.groups)
    bias = None if node.bias is None else np.repeat(node.bias, math.prod(node.output_shape[1:]))
    return w, bias, None


@register_synapse(ir.SumPool2d)
@register_synapse(ir.AvgPool2d)
def _pool2d(node, name: str):
    """Pooling is a depthwise convolution with a constant kernel (1, or 1 / (kH kW) for the mean): unrolled."""
    channels, (kh, kw) = node.shape[0], node.kernel_size
    value = 1.0 / (kh * kw) if isinstance(node, ir.AvgPool2d) else 1.0
    kernel = np.full((channels, 1, kh, kw), value)
    return _unroll(node, name, kernel, node.stride, node.padding, 1, channels), None, None


# --- neurons -------------------------------------------------------------------------------------------------------

def _uniform(node, field: str, name: str) -> float:
    a = np.asarray(getattr(node, field), dtype=np.float64).ravel()
    if a.size and not np.allclose(a, a[0], rtol=1e-6, atol=0):
        raise ValueError(f"Lava lowering: layer {name!r} ({type(node).__name__}): {field}: expected one value for "
                         f"the whole layer (a Lava LIF process has scalar {field}), got {a.min():g}..{a.max():g}")
    return float(a[0])


@register_neuron(ir.LIF)
@register_neuron(ir.CubaLIF)
def _lif(node: ir.LIF, name: str, bias: np.ndarray):
    kind = {"zero": "lif", "subtract": "lif_subtract"}.get(node.reset)
    if kind is None:
        raise ValueError(f"Lava lowering: layer {name!r} ({type(node).__name__}): reset={node.reset!r} cannot be "
                         f"expressed on Lava; expected reset 'zero' (Lava LIF) or 'subtract' (custom SubtractLIF)")
    dv = 1.0 - math.exp(-node.dt / _uniform(node, "tau_mem", name))
    du = 1.0
    if isinstance(node, ir.CubaLIF):
        du = 1.0 - math.exp(-node.dt / _uniform(node, "tau_syn", name))
        if np.any(bias != 0):
            raise ValueError(f"Lava lowering: layer {name!r} (CubaLIF): bias: a bias before a CubaLIF cannot be "
                             f"expressed (Lava adds bias to v, not to the current u); expected no bias")
    n = math.prod(node.output_shape)
    neuron = Neuron(kind, n, du, dv, _uniform(node, "threshold", name), bias.astype(np.float64))
    return neuron, node.recurrent_weight


@register_neuron(ir.IF)
def _if(node: ir.IF, name: str, bias: np.ndarray):
    """IF is Lava's LIF (or SubtractLIF) with no leak: ``dv = 0`` and ``du = 1`` (the current lasts one step)."""
    kind = {"zero": "lif", "subtract": "lif_subtract"}.get(node.reset)
    if kind is None:
        raise ValueError(f"Lava lowering: layer {name!r} (IF): reset={node.reset!r} cannot be expressed on Lava; "
                         f"expected reset 'zero' (Lava LIF) or 'subtract' (custom SubtractLIF)")
    n = math.prod(node.output_shape)
    return Neuron(kind, n, 1.0, 0.0, _uniform(node, "threshold", name), bias.astype(np.float64)), node.recurrent_weight


@register_neuron(ir.AdLIF)
def _adlif(node: ir.AdLIF, name: str, bias: np.ndarray):
    raise ValueError(f"Lava lowering: layer {name!r} (AdLIF): the adaptive LIF has no Lava process (Lava's LIF, "
                     f"SubtractLIF and LIFRefractory have no adaptation current fed by the membrane and the spikes); "
                     f"run it on the torch backend")


@register_neuron(ir.LI)
def _li(node: ir.LI, name: str, bias: np.ndarray):
    dv = 1.0 - math.exp(-node.dt / _uniform(node, "tau_mem", name))
    return Neuron("readout", math.prod(node.output_shape), 1.0, dv, 0.0, bias.astype(np.float64)), None


# --- the graph -----------------------------------------------------------------------------------------------------

def _chain(graph: ir.Graph) -> list[str]:
    order, cur = [], ir.INPUT
    for _ in range(len(graph.nodes) + 1):
        succ = [t for s, t in graph.edges if s == cur]
        if len(succ) != 1:
            raise ValueError(f"Lava lowering: node {cur!r}: expected a chain (one successor per node), got {succ}")
        if succ[0] == ir.OUTPUT:
            return order
        if len(graph.predecessors(succ[0])) != 1:
            raise ValueError(f"Lava lowering: node {succ[0]!r}: expected one input (the Lava lowering runs chains), "
                             f"got {graph.predecessors(succ[0])}")
        order.append(cur := succ[0])
    raise ValueError("Lava lowering: the graph is not a chain")


def lower(graph: ir.Graph) -> LavaNet:
    """Lowers a chain-shaped IR graph to a floating-point :class:`LavaNet` (Lava float var values)."""
    graph.validate()
    layers: list[Layer] = []
    w = b = d = None  # pending synapse stage: W (out, in) or None (identity), bias, delay
    stage: list[str] = []
    for name in _chain(graph):
        node = graph.nodes[name]
        if type(node) in SYNAPSE_LOWERINGS:
            w2, b2, d2 = SYNAPSE_LOWERINGS[type(node)](node, name)
            if w2 is not None and w is not None and (d is not None or d2 is not None):
                raise ValueError(f"Lava lowering: layer {name!r} ({type(node).__name__}): expected a neuron layer "
                                 f"between a delay synapse and another synapse ({stage[-1]!r})")
            if w2 is not None:
                b = (None if b is None else w2 @ b) if w is not None else b
                b = b2 if b is None else (b if b2 is None else b + b2)
                w = w2 if w is None else w2 @ w
                d = d2 if d2 is not None else d
            stage.append(name)
        elif type(node) in NEURON_LOWERINGS:
            n = math.prod(node.input_shape)
            neuron, w_rec = NEURON_LOWERINGS[type(node)](node, name, np.zeros(n) if b is None else np.asarray(b))
            fold = neuron.extra.pop("input_fold", None)  # a node with its own synapses (ELM) folds them in here
            if fold is not None:
                w, stage = (fold if w is None else fold @ w), stage + [name]
            if w is None:
                raise ValueError(f"Lava lowering: layer {name!r} ({type(node).__name__}): expected a synapse layer "
                                 f"(Linear, Conv2d, DelayLinear) before it, got {stage or 'the input'}")
            source = "+".join(stage)
            if d is not None and d.size and d.max() > MAX_DELAY:
                raise ValueError(f"Lava lowering: layer {name!r} ({type(node).__name__}), input synapse {source!r}: "
                                 f"delay: expected at most {MAX_DELAY} steps (Loihi 2 has 6 delay bits), got "
                                 f"{int(d.max())}")
            rec = None if w_rec is None else Synapse(np.asarray(w_rec, dtype=np.float64),
                                                     source=f"{name}.recurrent_weight")
            graded = not layers  # the first stage reads the graph input, which may carry graded values
            layers.append(Layer(name, Synapse(w, d, 0, graded, source), neuron, rec))
            w = b = d = None
            stage = []
        else:
            supported = sorted(t.__name__ for t in (*SYNAPSE_LOWERINGS, *NEURON_LOWERINGS))
            raise ValueError(f"Lava lowering: layer {name!r}: node type {type(node).__name__} has no Lava lowering; "
                             f"supported: {supported}")
    if stage:
        raise ValueError(f"Lava lowering: layers {stage}: expected the graph to end in a neuron layer (LIF, "
                         f"CubaLIF, LI), got synapses after the last neuron")
    if not layers:
        raise ValueError("Lava lowering: the graph has no neuron layer")
    for layer in layers[:-1]:
        if not NEURON_KINDS[layer.neuron.kind].spiking:
            raise ValueError(f"Lava lowering: layer {layer.name!r}: a graded readout must be the last layer")
    return LavaNet(layers, graph.input_shape, graph.output_shape, "floating_pt", graph.dt)

from . import kinds  # noqa: E402,F401  (registers the built-in neuron kinds)
from . import elm  # noqa: E402,F401  (registers the ELM neuron lowering and kind)
from . import astro  # noqa: E402,F401  (registers the AstroLIF lowering and its neuron kind)
from . import refractory  # noqa: E402,F401  (registers the RefractoryLIF lowering)
from . import nir_nodes  # noqa: E402,F401  (registers the CubaLI, Integrator, Scale and Threshold lowerings)
