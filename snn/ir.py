"""The spikeforge graph IR: small typed nodes, a graph of named nodes and edges, and pickle-free serialisation.

A node is the *what* of a layer, written in the front end's units (time constants in ms, ``dt`` in ms); each
backend decides *how* to run it. Every node states its discrete-time equation, per step of ``dt`` ms::

    Linear   y = W x + b                         W (out, in), b (out,) or None
    DelayLinear  y_i[t] = sum_j W_ij x_j[t - D_ij] + b_i   integer delays D (out, in) in steps
    Conv2d   y = conv2d(x, W, stride, padding, dilation, groups) + b, on frames (C, H, W)
    Conv1d   y = conv1d(x, W, stride, padding, dilation, groups) + b, on vectors (C, L)
    Flatten  y = flatten(x)                      (C, H, W) -> (C*H*W,)
    LIF      v = beta v + x [+ W_rec s_prev];  s = H(v - threshold);  reset subtract | zero | none
    CubaLIF  i = alpha i + x [+ W_rec s_prev]; v = beta v + i; s = H(v - threshold); reset as LIF
    RefractoryLIF  as LIF with reset zero, then v held at 0 (no spike) for ``refractory`` steps after a spike
    LI       v = beta v + x;  output v
    CubaLI   i = alpha i + x;  v = beta v + i;  output v
    Integrator  v = v + x;  output v                 (NIR's I: no leak, no dt)
    Scale    y = scale * x                       (elementwise)
    Threshold  y = H(x - threshold)              (memoryless spike function)
    IF       v = v + x [+ W_rec s_prev];  s = H(v - threshold);  reset as LIF     (no leak, no dt)
    AdLIF    u = alpha u + (1 - alpha)(x [+ W_rec s_prev] - w); s = H(u - threshold); reset;
             w = beta w + (1 - beta)(a u + b s)   here alpha = exp(-dt / tau_mem), beta = exp(-dt / tau_adapt)
    SumPool2d  y = sum of each kernel_size window (stride, zero padding) per channel, on frames (C, H, W)
    AvgPool2d  y = SumPool2d / (kH kW)   (padding counts as zeros in the mean)
    ELM      b = kappa_s b + branch_sum(w_s * x[routing]);  m = kappa_m m + g * 1.7159 tanh(2/3 MLP([b, kappa_m m]))
             y = W_y m + c_y   (Expressive Leaky Memory neuron, see :class:`ELM`)
    AstroLIF per astrocyte domain g: k, v, q = K x_g, V x_g, Q x_g;  H = Lambda H + c v k^T  (c = 1 - Lambda
             for normalise "ema", 1 for "none");  o = H q;  u = beta u (1 - s_prev) + x;  s = H(u + o - threshold)
with ``beta = exp(-dt / tau_mem)`` and ``alpha = exp(-dt / tau_syn)`` (AdLIF: the paper's letters, on its line).

A graph has one input and one output: the pseudo-names ``"input"`` and ``"output"`` appear in its edges. A node
with several incoming edges receives their sum. New node types register with :func:`register_node`; they
serialise with no extra code as long as their fields are arrays, numbers, strings, tuples or ``None``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import math
import operator
import os
import typing
from dataclasses import dataclass, field
from typing import Any, ClassVar, Optional

import h5py
import numpy as np

from . import _checks
from ._io import atomic_path

IR_VERSION = 2
INPUT, OUTPUT = "input", "output"

NODE_TYPES: dict[str, type["Node"]] = {}


def register_node(cls):
    """Class decorator: makes a node type known to :func:`load` (keyed by class name)."""
    NODE_TYPES[cls.__name__] = cls
    return cls


def _array(name: str, value, node: str, *, ndim: int | None = None) -> np.ndarray:
    a = np.asarray(value, dtype=np.float32)
    if ndim is not None and a.ndim != ndim:
        raise ValueError(f"{node}: {name}: expected a {ndim}-D array, got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{node}: {name}: expected finite values")
    return a


def _ints(name: str, value, node: str, *, length: int | None = None, minimum: int = 1) -> tuple[int, ...]:
    """``value`` as a tuple of integers >= ``minimum`` (of ``length`` items, or at least one)."""
    try:
        t = tuple(operator.index(v) for v in value)
    except TypeError:
        t = None
    if t is None or len(t) != (length or len(t)) or not t or min(t) < minimum:
        what = f"{length} integers" if length else "one or more integers"
        raise ValueError(f"{node}: {name}: expected {what} >= {minimum}, got {value!r}")
    return t


@dataclass(eq=False)
class Node:
    """Base of IR nodes: subclasses define ``input_shape`` and ``output_shape`` (feature shapes, no T or B)."""

    kind: ClassVar[str] = "Node"

    @property
    def input_shape(self) -> tuple[int, ...]:
        raise NotImplementedError

    @property
    def output_shape(self) -> tuple[int, ...]:
        raise NotImplementedError


@register_node
@dataclass(eq=False)
class Linear(Node):
    """``y = W x + b``. ``weight``: (out, in); ``bias``: (out,) or None."""

    weight: np.ndarray
    bias: Optional[np.ndarray] = None

    def __post_init__(self) -> None:
        self.weight = _array("weight", self.weight, "Linear", ndim=2)
        if self.bias is not None:
            self.bias = _array("bias", self.bias, "Linear", ndim=1)
            if self.bias.shape[0] != self.weight.shape[0]:
                raise ValueError(f"Linear: bias: expected shape ({self.weight.shape[0]},), got {self.bias.shape}")

    @property
    def input_shape(self):
        return (self.weight.shape[1],)

    @property
    def output_shape(self):
        return (self.weight.shape[0],)


@register_node
@dataclass(eq=False)
class Conv2d(Node):
    """2-D convolution with zero padding on frames ``input_shape = (C, H, W)``.

    ``weight``: (C_out, C / groups, kH, kW); ``bias``: (C_out,) or None; ``stride``, ``padding``, ``dilation``:
    (h, w) pairs.
    """

    weight: np.ndarray
    bias: Optional[np.ndarray]
    input_hw: tuple[int, int]
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1

    def __post_init__(self) -> None:
        self.weight = _array("weight", self.weight, "Conv2d", ndim=4)
        c_out = self.weight.shape[0]
        if self.bias is not None:
            self.bias = _array("bias", self.bias, "Conv2d", ndim=1)
            if self.bias.shape != (c_out,):
                raise ValueError(f"Conv2d: bias: expected shape ({c_out},), got {self.bias.shape}")
        self.input_hw = _ints("input_hw", self.input_hw, "Conv2d", length=2)
        self.stride = _ints("stride", self.stride, "Conv2d", length=2)
        self.padding = _ints("padding", self.padding, "Conv2d", length=2, minimum=0)
        self.dilation = _ints("dilation", self.dilation, "Conv2d", length=2)
        (self.groups,) = _ints("groups", (self.groups,), "Conv2d")
        if c_out % self.groups:
            raise ValueError(f"Conv2d: groups: expected a divisor of the {c_out} output channels, got {self.groups}")
        if min(self.output_shape[1:]) < 1:
            raise ValueError(f"Conv2d: input_hw: a {self.input_hw} frame gives an empty output "
                             f"{self.output_shape[1:]} with kernel {self.weight.shape[2:]}, stride {self.stride}, "
                             f"padding {self.padding}, dilation {self.dilation}")

    @property
    def input_shape(self):
        return (self.weight.shape[1] * self.groups, *self.input_hw)

    @property
    def output_shape(self):
        (h, w), (kh, kw) = self.input_hw, self.weight.shape[2:]
        (sh, sw), (ph, pw), (dh, dw) = self.stride, self.padding, self.dilation
        return (self.weight.shape[0], (h + 2 * ph - dh * (kh - 1) - 1) // sh + 1,
                (w + 2 * pw - dw * (kw - 1) - 1) // sw + 1)


@register_node
@dataclass(eq=False)
class Flatten(Node):
    """``(C, H, W) -> (C*H*W,)`` (row-major, as ``torch.flatten``)."""

    shape: tuple[int, ...]

    def __post_init__(self) -> None:
        self.shape = _ints("shape", self.shape, "Flatten")

    @property
    def input_shape(self):
        return self.shape

    @property
    def output_shape(self):
        return (math.prod(self.shape),)


@register_node
@dataclass(eq=False)
class DelayLinear(Node):
    """Dense synapses with an integer delay per synapse: ``y_i[t] = sum_j W_ij x_j[t - D_ij] + b_i``.

    ``weight``: (out, in); ``delay``: (out, in) non-negative integer steps (of ``dt``); ``bias``: (out,) or None.
    Inputs before ``t = 0`` are zero.
    """

    weight: np.ndarray
    delay: np.ndarray
    bias: Optional[np.ndarray] = None

    def __post_init__(self) -> None:
        self.weight = _array("weight", self.weight, "DelayLinear", ndim=2)
        d = np.asarray(self.delay)
        if d.shape != self.weight.shape:
            raise ValueError(f"DelayLinear: delay: expected shape {self.weight.shape} like weight, got {d.shape}")
        if d.dtype.kind not in "fiu" or d.size and (not np.all(np.isfinite(d)) or np.any(d < 0) or np.any(
                d != np.round(d)) or np.any(d > np.iinfo(np.int32).max)):
            raise ValueError("DelayLinear: delay: expected integers in 0..2**31-1 (steps)")
        self.delay = d.astype(np.int64)
        if self.bias is not None:
            self.bias = _array("bias", self.bias, "DelayLinear", ndim=1)
            if self.bias.shape != (self.weight.shape[0],):
                raise ValueError(f"DelayLinear: bias: expected shape ({self.weight.shape[0]},), got {self.bias.shape}")

    @property
    def max_delay(self) -> int:
        return int(self.delay.max()) if self.delay.size else 0

    @property
    def input_shape(self):
        return (self.weight.shape[1],)

    @property
    def output_shape(self):
        return (self.weight.shape[0],)


def _neuron_arrays(node, names: tuple[str, ...]) -> None:
    """Validates per-neuron parameter arrays (finite, > 0, all of one shape) and ``dt``."""
    where = type(node).__name__
    _checks.positive("dt", float(node.dt), where=where)
    node.dt = float(node.dt)
    shape = None
    for name in names:
        a = _array(name, getattr(node, name), where)
        if a.size and not np.all(a > 0):
            raise ValueError(f"{where}: {name}: expected every value > 0, got min {a.min():g}")
        if shape is not None and a.shape != shape:
            raise ValueError(f"{where}: {name}: expected shape {shape} like {names[0]}, got {a.shape}")
        shape = a.shape
        setattr(node, name, a)


@register_node
@dataclass(eq=False)
class LIF(Node):
    """Leaky integrate-and-fire (see the module docstring). Arrays are per neuron, of the layer's shape.

    ``tau_mem`` (ms), ``threshold``, ``reset`` in {subtract, zero, none}, ``dt`` (ms), ``recurrent_weight`` (n, n)
    applied to the previous step's spikes, or None.
    """

    tau_mem: np.ndarray
    threshold: np.ndarray
    reset: str
    dt: float
    recurrent_weight: Optional[np.ndarray] = None
    _params: ClassVar[tuple[str, ...]] = ("tau_mem", "threshold")

    def __post_init__(self) -> None:
        _neuron_arrays(self, self._params)
        _checks.reset_mode(self.reset, where=type(self).__name__)
        if self.recurrent_weight is not None:
            n = int(np.prod(self.tau_mem.shape))
            self.recurrent_weight = _array("recurrent_weight", self.recurrent_weight, type(self).__name__, ndim=2)
            if self.recurrent_weight.shape != (n, n) or self.tau_mem.ndim != 1:
                raise ValueError(f"{type(self).__name__}: recurrent_weight: expected shape ({n}, {n}) on a 1-D "
                                 f"layer, got {self.recurrent_weight.shape} on shape {self.tau_mem.shape}")

    @property
    def input_shape(self):
        return tuple(self.tau_mem.shape)

    output_shape = input_shape


@register_node
@dataclass(eq=False)
class CubaLIF(LIF):
    """Current-based LIF: as :class:`LIF` plus ``tau_syn`` (ms) per neuron for the synaptic current."""

    tau_syn: np.ndarray = None
    _params: ClassVar[tuple[str, ...]] = ("tau_mem", "threshold", "tau_syn")


@register_node
@dataclass(eq=False)
class RefractoryLIF(LIF):
    """As :class:`LIF` plus ``refractory`` (steps): after a spike the neuron holds ``v = 0`` and cannot fire for that
    many steps (``v = 0 if refractory else beta v + x [+ W_rec s_prev]``). Only ``reset="zero"``."""

    refractory: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        (self.refractory,) = _ints("refractory", (self.refractory,), "RefractoryLIF", minimum=0)
        if self.reset != "zero":
            raise ValueError(f"RefractoryLIF: reset: expected 'zero', got {self.reset!r}")


@register_node
@dataclass(eq=False)
class LI(Node):
    """Leaky integrator readout: ``v = exp(-dt / tau_mem) v + x``, output ``v``. ``tau_mem`` (ms), ``dt`` (ms)."""

    tau_mem: np.ndarray
    dt: float

    def __post_init__(self) -> None:
        _neuron_arrays(self, ("tau_mem",))

    @property
    def input_shape(self):
        return tuple(self.tau_mem.shape)

    output_shape = input_shape


ELM_UPDATES = ("v1", "v2")


@register_node
@dataclass(eq=False)
class ELM(Node):
    """Expressive Leaky Memory neuron layer (Spieler et al., ICLR 2024), per step of ``dt`` ms::

        b_t  = kappa_s b_{t-1} + sum_{j in branch k} w_j x_t[r(j)]           kappa_s = exp(-dt / tau_s)
        dm_t = 1.7159 tanh(2/3 (W2 relu(W1 [b_t, kappa_m m_{t-1}] + c1) + c2))     kappa_m = exp(-dt / tau_m)
        m_t  = kappa_m m_{t-1} + g dm_t      g = lam (1 - kappa_m) ("v1") | 1 - exp(-dt lam / tau_m) ("v2")
        y_t  = W_y m_t + c_y

    ``synapse_weight`` (synapses,) >= 0; ``routing`` (synapses,) integer input index of each synapse, or None (synapse
    ``j`` reads input ``j``); synapses ``k * synapses_per_branch ...`` form branch ``k``; ``tau_s`` (ms) scalar,
    ``tau_m`` (memory,) ms; ``mlp_weight1`` (H, branches + memory), ``mlp_bias1`` (H,), ``mlp_weight2`` (memory, H),
    ``mlp_bias2`` (memory,), ``readout_weight`` (out, memory), ``readout_bias`` (out,). The state starts at zero.
    """

    in_features: int
    synapse_weight: np.ndarray
    routing: Optional[np.ndarray]
    synapses_per_branch: int
    tau_s: float
    tau_m: np.ndarray
    lam: float
    update: str
    mlp_weight1: np.ndarray
    mlp_bias1: np.ndarray
    mlp_weight2: np.ndarray
    mlp_bias2: np.ndarray
    readout_weight: np.ndarray
    readout_bias: np.ndarray
    dt: float

    def __post_init__(self) -> None:
        w = "ELM"
        (self.in_features,) = _ints("in_features", (self.in_features,), w)
        (self.synapses_per_branch,) = _ints("synapses_per_branch", (self.synapses_per_branch,), w)
        for name in ("tau_s", "lam", "dt"):
            _checks.positive(name, float(getattr(self, name)), where=w)
            setattr(self, name, float(getattr(self, name)))
        if self.update not in ELM_UPDATES:
            raise ValueError(f"{w}: update: expected one of {list(ELM_UPDATES)}, got {self.update!r}")
        self.synapse_weight = _array("synapse_weight", self.synapse_weight, w, ndim=1)
        if np.any(self.synapse_weight < 0):
            raise ValueError(f"{w}: synapse_weight: expected values >= 0, got min {self.synapse_weight.min():g}")
        n_syn = self.synapse_weight.shape[0]
        if self.routing is None:
            if n_syn != self.in_features:
                raise ValueError(f"{w}: synapse_weight: without routing expected {self.in_features} synapses (one "
                                 f"per input), got {n_syn}")
        else:
            r = np.asarray(self.routing)
            if r.shape != (n_syn,) or r.dtype.kind not in "iu" or (r.size and (r.min() < 0 or
                                                                             r.max() >= self.in_features)):
                raise ValueError(f"{w}: routing: expected {n_syn} integers in 0..{self.in_features - 1}, got dtype "
                                 f"{r.dtype}, shape {r.shape}")
            self.routing = r.astype(np.int64)
        if n_syn % self.synapses_per_branch:
            raise ValueError(f"{w}: synapses_per_branch: {self.synapses_per_branch} does not divide the {n_syn} "
                             "synapses")
        self.tau_m = _array("tau_m", self.tau_m, w, ndim=1)
        if not np.all(self.tau_m > 0):
            raise ValueError(f"{w}: tau_m: expected every value > 0 ms, got min {self.tau_m.min():g}")
        d_m, n_b = self.tau_m.shape[0], n_syn // self.synapses_per_branch
        hidden = np.shape(self.mlp_bias1)[0] if np.ndim(self.mlp_bias1) == 1 else -1
        out = np.shape(self.readout_bias)[0] if np.ndim(self.readout_bias) == 1 else -1
        shapes = {"mlp_weight1": (hidden, n_b + d_m), "mlp_bias1": (hidden,), "mlp_weight2": (d_m, hidden),
                  "mlp_bias2": (d_m,), "readout_weight": (out, d_m), "readout_bias": (out,)}
        for name, shape in shapes.items():
            a = _array(name, getattr(self, name), w)
            if a.shape != shape or min(shape) < 1:
                raise ValueError(f"{w}: {name}: expected shape {shape}, got {a.shape}")
            setattr(self, name, a)

    @property
    def branches(self) -> int:
        return self.synapse_weight.shape[0] // self.synapses_per_branch

    @property
    def input_shape(self):
        return (self.in_features,)

    @property
    def output_shape(self):
        return (self.readout_bias.shape[0],)


@register_node
@dataclass(eq=False)
class AstroLIF(Node):
    """AM-SU-style astrocyte-modulated LIF (see the module docstring and :mod:`snn.neurons.astro`), ``n`` neurons
    in ``G`` astrocyte domains of ``m = n / G``.

    ``tau_mem`` (ms), ``threshold``: (n,); ``dt`` (ms); ``decay``: Lambda (G, d_k), each in (0, 1);
    ``key_weight``, ``query_weight``: (G, d_k, m); ``value_weight``: (G, m, m); ``normalise``: "ema" or "none".
    """

    tau_mem: np.ndarray
    threshold: np.ndarray
    dt: float
    decay: np.ndarray
    key_weight: np.ndarray
    value_weight: np.ndarray
    query_weight: np.ndarray
    normalise: str

    def __post_init__(self) -> None:
        where = "AstroLIF"
        _neuron_arrays(self, ("tau_mem", "threshold"))
        if self.tau_mem.ndim != 1:
            raise ValueError(f"{where}: tau_mem: expected a 1-D array (n,), got shape {self.tau_mem.shape}")
        self.decay = _array("decay", self.decay, where, ndim=2)
        if self.decay.size and not np.all((self.decay > 0) & (self.decay < 1)):
            raise ValueError(f"{where}: decay: expected every value in the open interval (0, 1), got "
                             f"{self.decay.min():g}..{self.decay.max():g}")
        g, dk = self.decay.shape
        n = self.tau_mem.shape[0]
        m = n // g if g and n % g == 0 else None
        for name, shape in (("key_weight", (g, dk, m)), ("value_weight", (g, m, m)), ("query_weight", (g, dk, m))):
            a = _array(name, getattr(self, name), where, ndim=3)
            if m is None or a.shape != shape:
                raise ValueError(f"{where}: {name}: expected shape {shape} for {n} neurons in {g} domains "
                                 f"(decay {self.decay.shape}), got {a.shape}")
            setattr(self, name, a)
        if self.normalise not in ("ema", "none"):
            raise ValueError(f"{where}: normalise: expected 'ema' or 'none', got {self.normalise!r}")

    @property
    def input_shape(self):
        return tuple(self.tau_mem.shape)

    output_shape = input_shape


def _positive_shape(shape) -> bool:
    return len(shape) > 0 and all(int(d) == d and d > 0 for d in shape)


@dataclass(eq=False)
class Graph:
    """Named nodes and directed edges between them, with ``"input"`` and ``"output"`` as the graph's ends.

    Attributes:
        nodes: name -> node, in insertion order.
        edges: (source, target) pairs; a node with several inputs receives their sum.
        input_shape: feature shape of the graph's input (no T or B).
        dt: simulation step (ms) shared by every neuron node.
        metadata: free-form JSON-serialisable information (e.g. the front-end class names).
    """

    nodes: dict[str, Node]
    edges: list[tuple[str, str]]
    input_shape: tuple[int, ...]
    dt: float
    metadata: dict[str, Any] = field(default_factory=dict)
    version: int = IR_VERSION

    def __post_init__(self) -> None:
        self.edges = [tuple(e) for e in self.edges]
        self.input_shape = tuple(int(v) for v in self.input_shape)
        self.validate()

    @property
    def output_shape(self) -> tuple[int, ...]:
        (src,) = self.predecessors(OUTPUT)
        return self.input_shape if src == INPUT else self.nodes[src].output_shape

    def predecessors(self, name: str) -> list[str]:
        return [s for s, t in self.edges if t == name]

    def topological_order(self) -> list[str]:
        """Node names such that every node comes after its predecessors."""
        indeg = {n: len(self.predecessors(n)) for n in self.nodes}
        ready = [t for s, t in self.edges if s == INPUT and t != OUTPUT]
        order: list[str] = []
        while ready:
            n = ready.pop(0)
            order.append(n)
            for s, t in self.edges:
                if s == n and t != OUTPUT:
                    indeg[t] -= 1
                    if indeg[t] == 0:
                        ready.append(t)
        if len(order) != len(self.nodes):
            missing = sorted(set(self.nodes) - set(order))
            raise ValueError(f"Graph: nodes {missing} are not reachable from 'input' or lie on a cycle")
        return order

    def validate(self) -> None:
        """Checks names, edges, a single output edge, acyclicity, ``dt`` and that connected shapes agree."""
        for name in (INPUT, OUTPUT):
            if name in self.nodes:
                raise ValueError(f"Graph: node name {name!r} is reserved")
        known = set(self.nodes) | {INPUT, OUTPUT}
        for i, (s, t) in enumerate(self.edges):
            if s not in known or t not in known or s == OUTPUT or t == INPUT:
                raise ValueError(f"Graph: edge ({s!r}, {t!r}) names an unknown node or runs the wrong way")
            if (s, t) in self.edges[:i]:
                raise ValueError(f"Graph: edge ({s!r}, {t!r}) is listed twice")
        if not _positive_shape(self.input_shape):
            raise ValueError(f"Graph: input_shape: expected one or more sizes > 0, got {self.input_shape}")
        if len(self.predecessors(OUTPUT)) != 1:
            raise ValueError(f"Graph: expected exactly one edge into 'output', got {self.predecessors(OUTPUT)}")
        _checks.positive("dt", float(self.dt), where="Graph")
        for name in self.topological_order():
            node = self.nodes[name]
            for which, shape in (("input", node.input_shape), ("output", node.output_shape)):
                if not _positive_shape(shape):
                    raise ValueError(f"Graph: node {name!r} ({type(node).__name__}): expected an {which} shape of "
                                     f"one or more sizes > 0, got {tuple(shape)}")
            node_dt = getattr(node, "dt", None)
            if node_dt is not None and not math.isclose(node_dt, self.dt, rel_tol=1e-9):
                raise ValueError(f"Graph: node {name!r} has dt={node_dt} ms but the graph has dt={self.dt} ms")
            for src in self.predecessors(name):
                shape = self.input_shape if src == INPUT else self.nodes[src].output_shape
                if tuple(shape) != tuple(node.input_shape):
                    raise ValueError(f"Graph: edge {src!r} -> {name!r}: {src!r} gives shape {tuple(shape)} but "
                                     f"{name!r} ({type(node).__name__}) expects {tuple(node.input_shape)}")

    @classmethod
    def chain(cls, nodes: dict[str, Node], input_shape, dt: float, metadata: dict | None = None) -> "Graph":
        """A linear chain ``input -> nodes... -> output``."""
        names = [INPUT, *nodes, OUTPUT]
        return cls(dict(nodes), list(zip(names[:-1], names[1:])), tuple(input_shape), dt, dict(metadata or {}))


# --- serialisation -------------------------------------------------------------------------------------------------
#
# File layout (HDF5, format version 2): root attributes ``format`` = "spikeforge-ir", ``version``, ``graph`` (JSON:
# edges, input_shape, dt, metadata, order) and ``sha256``; one group ``nodes/<name>`` per node with attributes ``type``
# (class name), ``fields`` (JSON of the non-array fields) and ``sha256``, and one dataset per array field. A node's
# sha256 covers its type, fields and arrays (name, dtype, shape, bytes); the root's covers the version, the graph JSON
# and every node's name and sha256. Version 1 is the same without the sha256 attributes; it still loads, unchecked.

FORMAT = "spikeforge-ir"
_GRAPH_KEYS = ("edges", "input_shape", "dt", "metadata", "order")
# Lowest format that checksums HDF5's own metadata (superblock v3, object headers v2); readable by HDF5 >= 1.10.
_LIBVER = ("v110", "v110")


class IRFormatError(ValueError):
    """A file that is not a well-formed spikeforge IR file; the message names the file, the place inside it (HDF5
    attribute, group or dataset, JSON key), what was expected and what was found."""


def _name_error(name) -> str | None:
    """Why ``name`` cannot name a node in a file (None when it can)."""
    if not isinstance(name, str) or not name or name == "." or "/" in name or "\0" in name:
        return "a non-empty string without '/' or NUL, other than '.'"
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return "a string encodable as UTF-8"
    return None


def _sha256(*parts: str | bytes) -> str:
    """Hex sha256 of length-prefixed ``parts`` (so that no two different part lists hash alike)."""
    h = hashlib.sha256()
    for part in parts:
        data = part.encode("utf-8", "surrogatepass") if isinstance(part, str) else part
        h.update(len(data).to_bytes(8, "little") + data)
    return h.hexdigest()


def _node_digest(type_name: str, fields_json: str, arrays: dict[str, np.ndarray]) -> str:
    parts = []
    for key in sorted(arrays):
        a = np.ascontiguousarray(arrays[key])
        parts += [key, a.dtype.str, repr(a.shape), a.tobytes()]
    return _sha256(type_name, fields_json, *parts)


def _graph_digest(version: int, graph_json: str, node_digests: dict[str, str]) -> str:
    return _sha256(str(version), graph_json, *(p for item in node_digests.items() for p in item))


def _set_text(obj, name: str, text: str) -> None:
    """A fixed-length UTF-8 attribute: stored in the (checksummed) object header, not in HDF5's unchecked global
    heap, where a flipped byte can send the HDF5 library into an endless loop."""
    obj.attrs[name] = np.bytes_(text.encode("utf-8"))


def save(graph: Graph, path: str | os.PathLike) -> None:
    """Writes ``graph`` to one HDF5 file (arrays as datasets, everything else as JSON attributes, sha256 digests of
    the content), atomically."""
    graph_json = json.dumps({"edges": graph.edges, "input_shape": graph.input_shape, "dt": graph.dt,
                             "metadata": graph.metadata, "order": list(graph.nodes)})
    records, digests = [], {}
    for name, node in graph.nodes.items():
        problem = _name_error(name)
        if problem:
            raise ValueError(f"ir.save: node name {name!r}: expected {problem}")
        arrays, scalars = {}, {}
        for fld in dataclasses.fields(node):
            value = getattr(node, fld.name)
            (arrays if isinstance(value, np.ndarray) else scalars)[fld.name] = value
        record = (type(node).__name__, json.dumps(scalars), arrays)
        records.append(record)
        digests[name] = _node_digest(*record)
    with atomic_path(path, suffix=".h5") as tmp, h5py.File(tmp, "w", libver=_LIBVER) as f:
        _set_text(f, "format", FORMAT)
        f.attrs["version"] = IR_VERSION
        _set_text(f, "graph", graph_json)
        _set_text(f, "sha256", _graph_digest(IR_VERSION, graph_json, digests))
        nodes = f.create_group("nodes")
        for (name, digest), (type_name, fields_json, arrays) in zip(digests.items(), records):
            g = nodes.create_group(name)
            _set_text(g, "type", type_name)
            _set_text(g, "fields", fields_json)
            _set_text(g, "sha256", digest)
            for key, value in arrays.items():
                g.create_dataset(key, data=value)


def load(path: str | os.PathLike) -> Graph:
    """Reads and fully validates a graph written by :func:`save`.

    Raises :class:`IRFormatError` (a ValueError) naming the file and the place inside it for: a file that is not
    readable HDF5 or is truncated; a missing attribute, group, dataset, JSON key or node field; an *unknown* one
    (refused, not ignored: it would carry a meaning this version cannot honour); a value of the wrong type, dtype
    or shape; edges that name no node; shapes that do not chain; and (version 2) content whose sha256 differs from
    the recorded one, e.g. flipped bytes.
    """
    try:
        f = h5py.File(path, "r")
    except (OSError, ValueError) as e:
        raise IRFormatError(f"{path}: not a readable spikeforge IR file (HDF5): {e}") from None
    with f:
        return _Reader(path, f).graph()


_FLOAT_MAX = float(np.finfo(np.float64).max)  # a JSON integer above it has no float value (OverflowError)


def _describe(value) -> str:
    if isinstance(value, np.ndarray):
        return f"an array of dtype {value.dtype} and shape {value.shape}"
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 60 else text[:57] + '...'}"


def _type_error(hint, value) -> str | None:
    """What ``hint`` (a node field's annotation) expects when ``value`` does not fit it, else None."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is typing.Union:
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        problem = _type_error(inner[0], value) if len(inner) == 1 else None
        return problem and f"{problem} or null"
    if hint is np.ndarray:
        return None if isinstance(value, np.ndarray) else "an HDF5 dataset (array)"
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str:
        return None if isinstance(value, str) else "a string"
    if hint is float:
        return None if number and abs(value) <= _FLOAT_MAX else "a number"
    if hint is int:
        return None if number and isinstance(value, int) else "an integer"
    if origin is tuple:
        n = None if len(args) == 2 and args[1] is Ellipsis else len(args)
        ok = (isinstance(value, list) and (n is None or len(value) == n)
              and all(isinstance(v, int) and not isinstance(v, bool) for v in value))
        return None if ok else f"a list of {n or 'one or more'} integers"
    return None


class _Reader:
    """One pass over an open IR file; every check raises :class:`IRFormatError` naming the file and the place."""

    def __init__(self, path, f: h5py.File):
        self.path, self.f = path, f
        self.size = os.path.getsize(path)
        self.version = IR_VERSION

    def error(self, where: str, expected: str, found: str) -> IRFormatError:
        return IRFormatError(f"{self.path}: {where}: expected {expected}, found {found}")

    @contextlib.contextmanager
    def hdf5(self, where: str):
        """Turns a failure inside h5py (corrupt or truncated file) into an IRFormatError."""
        try:
            yield
        except (OSError, RuntimeError, KeyError, ValueError, TypeError) as e:
            raise IRFormatError(f"{self.path}: {where}: corrupt or unreadable HDF5 data "
                                f"({type(e).__name__}: {e})") from None

    def attrs(self, obj, where: str, allowed: tuple[str, ...]) -> dict[str, Any]:
        """Every attribute of ``obj``; all of ``allowed`` must be there and nothing else."""
        with self.hdf5(where):
            found = {name: obj.attrs[name] for name in obj.attrs}
        for name in allowed:
            if name not in found:
                raise self.error(where, f"attribute {name!r}", "none")
        unknown = sorted(set(found) - set(allowed))
        if unknown:
            raise self.error(where, f"only the attributes {list(allowed)}", f"unknown attribute(s) {unknown}")
        return found

    def members(self, group, where: str, allowed: set[str]) -> dict[str, Any]:
        """The groups and datasets in ``group`` (hard links only), all named in ``allowed``."""
        with self.hdf5(where):
            links = {name: group.get(name, getlink=True) for name in group}
        unknown = sorted(set(links) - allowed)
        if unknown:
            raise self.error(where, f"only the members {sorted(allowed)}", f"unknown member(s) {unknown}")
        for name, link in links.items():
            if not isinstance(link, h5py.HardLink):
                raise self.error(f"{where}/{name}", "a group or dataset",
                                 f"a {type(link).__name__} (links are refused)")
        with self.hdf5(where):
            return {name: group[name] for name in links}

    def text(self, value, where: str) -> str:
        if isinstance(value, bytes):
            try:
                value = value.decode("utf-8")
            except UnicodeDecodeError as e:
                raise self.error(where, "UTF-8 text", f"undecodable bytes ({e})") from None
        if not isinstance(value, str):
            raise self.error(where, "a string", _describe(value))
        return str(value)

    def json(self, value, where: str, keys: tuple[str, ...] | None = None) -> tuple[str, dict]:
        """The text of a JSON-object attribute and its decoded value (with exactly ``keys`` when given)."""
        text = self.text(value, where)
        try:
            obj = json.loads(text)
        except (ValueError, RecursionError) as e:
            raise self.error(where, "a JSON object", f"undecodable text ({e})") from None
        if not isinstance(obj, dict):
            raise self.error(where, "a JSON object", _describe(obj))
        if keys is not None and set(obj) != set(keys):
            missing, unknown = sorted(set(keys) - set(obj)), sorted(set(obj) - set(keys))
            raise self.error(where, f"the keys {list(keys)}", f"missing {missing}, unknown {unknown}")
        return text, obj

    def array(self, ds, where: str) -> np.ndarray:
        if not isinstance(ds, h5py.Dataset):
            raise self.error(where, "a dataset", "a group")
        self.attrs(ds, where, ())
        with self.hdf5(where):
            dtype, shape = ds.dtype, ds.shape
        if shape is None or dtype.kind not in "fiu":
            raise self.error(where, "a numeric array", f"dtype {dtype}, shape {shape}")
        nbytes = math.prod(shape) * dtype.itemsize
        if nbytes > max(16 * self.size, 1 << 26):
            raise self.error(where, f"data that fits the file ({self.size} bytes)", f"shape {shape} ({nbytes} bytes)")
        with self.hdf5(where):
            return np.asarray(ds[()])

    def graph(self) -> Graph:
        attrs = self.attrs_header()
        version = self.version = attrs["version"]
        graph_json, meta = self.json(attrs["graph"], "attribute 'graph'", _GRAPH_KEYS)
        order = self.order(meta)
        nodes_group = self.members(self.f, "/", {"nodes"}).get("nodes")
        if nodes_group is None and (order or version > 1):  # version 1 wrote no group for a graph without nodes
            raise self.error("/", "a group 'nodes'", "none")
        if nodes_group is not None and not isinstance(nodes_group, h5py.Group):
            raise self.error("'nodes'", "a group", "a dataset")
        groups = self.members(nodes_group, "group 'nodes'", set(order)) if nodes_group is not None else {}
        nodes, digests = {}, {}
        for name in order:
            if name not in groups:
                raise self.error("group 'nodes'", f"a group {name!r} (listed in attribute 'graph' key 'order')", "none")
            nodes[name], digests[name] = self.node(name, groups[name])
        edges, input_shape, dt, metadata = (meta[k] for k in ("edges", "input_shape", "dt", "metadata"))
        where = "attribute 'graph'"
        if not isinstance(edges, list) or not all(
                isinstance(e, list) and len(e) == 2 and all(isinstance(n, str) for n in e) for e in edges):
            raise self.error(f"{where} key 'edges'", "a list of [source, target] name pairs", _describe(edges))
        if _type_error(tuple[int, ...], input_shape):
            raise self.error(f"{where} key 'input_shape'", "a list of one or more integers", _describe(input_shape))
        if _type_error(float, dt):
            raise self.error(f"{where} key 'dt'", "a number (ms)", _describe(dt))
        if not isinstance(metadata, dict):
            raise self.error(f"{where} key 'metadata'", "a JSON object", _describe(metadata))
        try:
            graph = Graph(nodes, edges, input_shape, dt, metadata, version)
        except ValueError as e:
            raise IRFormatError(f"{self.path}: {where}: {e}") from None
        if version > 1:
            self.check_digest(attrs["sha256"], _graph_digest(version, graph_json, digests), "/", "the graph")
        return graph

    def check_digest(self, stored, actual: str, where: str, what: str) -> None:
        stored = self.text(stored, f"{where} attribute 'sha256'")
        if stored != actual:
            raise self.error(where, f"the sha256 recorded in attribute 'sha256' ({stored[:12]}...)", f"{actual[:12]}"
                             f"... ({what} changed since it was written: the file is corrupt or was edited)")

    def attrs_header(self) -> dict[str, Any]:
        """The root attributes, after checking ``format`` and ``version`` (``version`` becomes an int)."""
        with self.hdf5("/"):
            fmt, version = self.f.attrs.get("format"), self.f.attrs.get("version")
        if not isinstance(fmt, (str, bytes)) or self.text(fmt, "attribute 'format'") != FORMAT:
            raise IRFormatError(f"{self.path}: not a spikeforge IR file (attribute format={fmt!r}, "
                                f"expected {FORMAT!r})")
        if not isinstance(version, (int, np.integer)) or isinstance(version, (bool, np.bool_)) or version < 1:
            raise self.error("attribute 'version'", f"an integer 1..{IR_VERSION}", _describe(version))
        if version > IR_VERSION:
            raise IRFormatError(f"{self.path}: IR version {version} is newer than this spikeforge reads "
                                f"({IR_VERSION}); upgrade spikeforge")
        attrs = self.attrs(self.f, "/", ("format", "version", "graph") + (("sha256",) if version > 1 else ()))
        attrs["version"] = int(version)
        return attrs

    def order(self, meta: dict) -> list[str]:
        order = meta["order"]
        where = "attribute 'graph' key 'order'"
        if not isinstance(order, list):
            raise self.error(where, "a list of node names", _describe(order))
        for name in order:
            problem = _name_error(name)
            if problem:
                raise self.error(where, f"node names, each {problem}", _describe(name))
        if len(set(order)) != len(order):
            raise self.error(where, "distinct node names", f"{sorted({n for n in order if order.count(n) > 1})} twice")
        return order

    def node(self, name: str, group) -> tuple[Node, str]:
        """The node stored in ``group`` and its digest."""
        where = f"group 'nodes/{name}'"
        if not isinstance(group, h5py.Group):
            raise self.error(where, "a group", "a dataset")
        attrs = self.attrs(group, where, ("type", "fields") + (("sha256",) if self.version > 1 else ()))
        type_name = self.text(attrs["type"], f"{where} attribute 'type'")
        cls = NODE_TYPES.get(type_name)
        if cls is None or not dataclasses.is_dataclass(cls):
            raise self.error(f"{where} attribute 'type'", f"a loadable node type {sorted(NODE_TYPES)}",
                             repr(type_name))
        fields_json, scalars = self.json(attrs["fields"], f"{where} attribute 'fields'")
        hints = _field_hints(cls)
        datasets = self.members(group, where, set(hints))
        unknown = sorted(set(scalars) - set(hints))
        if unknown:
            raise self.error(f"{where} attribute 'fields'", f"only the fields of {type_name} {list(hints)}",
                             f"unknown field(s) {unknown}")
        arrays, kwargs = {}, {}
        for fname, hint in hints.items():
            if fname in datasets and fname in scalars:
                raise self.error(where, f"field {fname!r} once", "both a dataset and a key in attribute 'fields'")
            if fname in datasets:
                place = f"dataset 'nodes/{name}/{fname}'"
                value = arrays[fname] = self.array(datasets[fname], place)
            elif fname in scalars:
                place, value = f"{where} attribute 'fields' key {fname!r}", scalars[fname]
            else:
                raise self.error(where, f"field {fname!r} of {type_name} (a dataset or a key in attribute 'fields')",
                                 "none")
            problem = _type_error(hint, value)
            if problem:
                raise self.error(place, problem, _describe(value))
            kwargs[fname] = value
        try:
            node = cls(**kwargs)
        except ValueError as e:
            raise IRFormatError(f"{self.path}: {where}: {e}") from None
        for fname, value in arrays.items():
            want = getattr(getattr(node, fname), "dtype", value.dtype)
            if value.dtype != want:
                raise self.error(f"dataset 'nodes/{name}/{fname}'", f"dtype {want}", f"dtype {value.dtype}")
        digest = _node_digest(type_name, fields_json, arrays)
        if self.version > 1:
            self.check_digest(attrs["sha256"], digest, where, "its type, fields or arrays")
        return node, digest


def _field_hints(cls) -> dict[str, Any]:
    """Field name -> type annotation (``Any`` where it cannot be resolved) of a node dataclass."""
    try:
        hints = typing.get_type_hints(cls)
    except (NameError, TypeError):
        hints = {}
    return {f.name: hints.get(f.name, Any) for f in dataclasses.fields(cls) if f.init}


# --- nodes added with the adaptive neurons, IF and pooling (issue 14) ---------------------------------------------

@register_node
@dataclass(eq=False)
class IF(Node):
    """Integrate-and-fire, no leak: ``v = v + x [+ W_rec s_prev]; s = H(v - threshold)``; ``reset`` in {subtract,
    zero, none}. ``threshold`` per neuron (its shape is the layer's); ``recurrent_weight`` (n, n) or None."""

    threshold: np.ndarray
    reset: str
    recurrent_weight: Optional[np.ndarray] = None

    def __post_init__(self) -> None:
        self.threshold = _array("threshold", self.threshold, "IF")
        if self.threshold.size and not np.all(self.threshold > 0):
            raise ValueError(f"IF: threshold: expected every value > 0, got min {self.threshold.min():g}")
        _checks.reset_mode(self.reset, where="IF")
        _recurrent(self, self.threshold.shape)

    @property
    def input_shape(self):
        return tuple(self.threshold.shape)

    output_shape = input_shape


def _recurrent(node, shape: tuple[int, ...]) -> None:
    """Validates an optional ``recurrent_weight`` (n, n) of a 1-D layer of ``shape``."""
    if node.recurrent_weight is None:
        return
    where, n = type(node).__name__, int(np.prod(shape))
    node.recurrent_weight = _array("recurrent_weight", node.recurrent_weight, where, ndim=2)
    if node.recurrent_weight.shape != (n, n) or len(shape) != 1:
        raise ValueError(f"{where}: recurrent_weight: expected shape ({n}, {n}) on a 1-D layer, got "
                         f"{node.recurrent_weight.shape} on shape {tuple(shape)}")


@register_node
@dataclass(eq=False)
class AdLIF(Node):
    """Adaptive LIF, symplectic Euler (SE-adLIF, Baronig et al. 2025; equations in :mod:`snn.neurons.adaptive`).

    Per neuron: ``tau_mem`` and ``tau_adapt`` (ms, > 0), ``threshold`` (> 0), ``a`` (sub-threshold coupling) and ``b``
    (spike-triggered coupling), both >= 0 and already multiplied by the paper's factor ``q``; ``reset`` in
    {zero, subtract, none}; ``dt`` (ms); ``recurrent_weight`` (n, n) or None.
    """

    tau_mem: np.ndarray
    tau_adapt: np.ndarray
    threshold: np.ndarray
    a: np.ndarray
    b: np.ndarray
    reset: str
    dt: float
    recurrent_weight: Optional[np.ndarray] = None

    def __post_init__(self) -> None:
        _neuron_arrays(self, ("tau_mem", "tau_adapt", "threshold"))
        for name in ("a", "b"):
            v = _array(name, getattr(self, name), "AdLIF")
            if v.shape != self.tau_mem.shape or (v.size and v.min() < 0):
                raise ValueError(f"AdLIF: {name}: expected values >= 0 of shape {self.tau_mem.shape} like tau_mem, "
                                 f"got shape {v.shape}" + (f", min {v.min():g}" if v.size else ""))
            setattr(self, name, v)
        _checks.reset_mode(self.reset, where="AdLIF")
        _recurrent(self, self.tau_mem.shape)

    @property
    def input_shape(self):
        return tuple(self.tau_mem.shape)

    output_shape = input_shape


@dataclass(eq=False)
class _Pool2d(Node):
    """Pooling over each frame ``shape = (C, H, W)``, channel by channel: windows of ``kernel_size`` (kH, kW) every
    ``stride`` (sH, sW) pixels over the input padded with ``padding`` (pH, pW) zeros on each side (floor mode)."""

    shape: tuple[int, int, int]
    kernel_size: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int] = (0, 0)

    def __post_init__(self) -> None:
        where = type(self).__name__
        self.shape = _ints("shape", self.shape, where, length=3)
        self.kernel_size = _ints("kernel_size", self.kernel_size, where, length=2)
        self.stride = _ints("stride", self.stride, where, length=2)
        self.padding = _ints("padding", self.padding, where, length=2, minimum=0)
        if any(2 * p > k for p, k in zip(self.padding, self.kernel_size)):
            raise ValueError(f"{where}: padding: expected at most half of kernel_size {self.kernel_size} on each "
                             f"side, got {self.padding}")
        if min(self.output_shape[1:]) < 1:
            raise ValueError(f"{where}: shape: a {self.shape[1:]} frame gives an empty output "
                             f"{self.output_shape[1:]} with kernel_size {self.kernel_size}, stride {self.stride}, "
                             f"padding {self.padding}")

    @property
    def input_shape(self):
        return self.shape

    @property
    def output_shape(self):
        c, h, w = self.shape
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        return (c, (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1)


@register_node
@dataclass(eq=False)
class SumPool2d(_Pool2d):
    """Sum pooling: each output is the sum of its window (see ``_Pool2d`` for the fields)."""


@register_node
@dataclass(eq=False)
class AvgPool2d(_Pool2d):
    """Average pooling: the window's sum divided by ``kH * kW`` (padded zeros count, as torch's default)."""


# --- nodes added for NIR's CubaLI, I, Scale and Threshold (issue 12) --------------------------------------------------

@register_node
@dataclass(eq=False)
class CubaLI(Node):
    """Current-based leaky integrator readout: ``i = alpha i + x; v = beta v + i``, output ``v``, with
    ``alpha = exp(-dt / tau_syn)``, ``beta = exp(-dt / tau_mem)``; ``tau_mem``, ``tau_syn`` (ms) per neuron, ``dt``
    (ms)."""

    tau_mem: np.ndarray
    tau_syn: np.ndarray
    dt: float

    def __post_init__(self) -> None:
        _neuron_arrays(self, ("tau_mem", "tau_syn"))

    @property
    def input_shape(self):
        return tuple(self.tau_mem.shape)

    output_shape = input_shape


@register_node
@dataclass(eq=False)
class Integrator(Node):
    """Non-leaky integrator readout (NIR's ``I``): ``v = v + x``, output ``v``; ``shape`` the layer's neurons."""

    shape: tuple[int, ...]

    def __post_init__(self) -> None:
        self.shape = _ints("shape", self.shape, "Integrator")

    @property
    def input_shape(self):
        return self.shape

    output_shape = input_shape


@register_node
@dataclass(eq=False)
class Scale(Node):
    """Elementwise gain: ``y = scale * x``; ``scale`` per feature (its shape is the layer's), any finite value."""

    scale: np.ndarray

    def __post_init__(self) -> None:
        self.scale = _array("scale", self.scale, "Scale")
        if self.scale.ndim == 0:
            raise ValueError("Scale: scale: expected a per-feature array of the layer's shape, got a scalar")

    @property
    def input_shape(self):
        return tuple(self.scale.shape)

    output_shape = input_shape


@register_node
@dataclass(eq=False)
class Threshold(Node):
    """Memoryless spike function: ``y = H(x - threshold)`` (1 where ``x > threshold``, else 0); ``threshold`` per
    feature (its shape is the layer's), any finite value. No state, no ``dt``."""

    threshold: np.ndarray

    def __post_init__(self) -> None:
        self.threshold = _array("threshold", self.threshold, "Threshold")
        if self.threshold.ndim == 0:
            raise ValueError("Threshold: threshold: expected a per-feature array of the layer's shape, got a scalar")

    @property
    def input_shape(self):
        return tuple(self.threshold.shape)

    output_shape = input_shape


@register_node
@dataclass(eq=False)
class Conv1d(Node):
    """1-D convolution with zero padding on sequences of vectors ``input_shape = (C, L)`` (per time step).

    ``weight``: (C_out, C / groups, K); ``bias``: (C_out,) or None; ``input_len`` L; ``stride``, ``padding``,
    ``dilation``, ``groups``: integers.
    """

    weight: np.ndarray
    bias: Optional[np.ndarray]
    input_len: int
    stride: int = 1
    padding: int = 0
    dilation: int = 1
    groups: int = 1

    def __post_init__(self) -> None:
        self.weight = _array("weight", self.weight, "Conv1d", ndim=3)
        c_out = self.weight.shape[0]
        if self.bias is not None:
            self.bias = _array("bias", self.bias, "Conv1d", ndim=1)
            if self.bias.shape != (c_out,):
                raise ValueError(f"Conv1d: bias: expected shape ({c_out},), got {self.bias.shape}")
        (self.input_len,) = _ints("input_len", (self.input_len,), "Conv1d")
        (self.stride,) = _ints("stride", (self.stride,), "Conv1d")
        (self.padding,) = _ints("padding", (self.padding,), "Conv1d", minimum=0)
        (self.dilation,) = _ints("dilation", (self.dilation,), "Conv1d")
        (self.groups,) = _ints("groups", (self.groups,), "Conv1d")
        if c_out % self.groups:
            raise ValueError(f"Conv1d: groups: expected a divisor of the {c_out} output channels, got {self.groups}")
        if self.output_shape[1] < 1:
            raise ValueError(f"Conv1d: input_len: a length-{self.input_len} input gives an empty output with kernel "
                             f"{self.weight.shape[2]}, stride {self.stride}, padding {self.padding}, dilation "
                             f"{self.dilation}")

    @property
    def input_shape(self):
        return (self.weight.shape[1] * self.groups, self.input_len)

    @property
    def output_shape(self):
        k = self.weight.shape[2]
        return (self.weight.shape[0],
                (self.input_len + 2 * self.padding - self.dilation * (k - 1) - 1) // self.stride + 1)
