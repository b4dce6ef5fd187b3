"""The spikeforge graph IR: small typed nodes, a graph of named nodes and edges, and pickle-free serialisation.

A node is the *what* of a layer, written in the front end's units (time constants in ms, ``dt`` in ms); each
backend decides *how* to run it. Every node states its discrete-time equation, per step of ``dt`` ms::

    Linear   y = W x + b                         W (out, in), b (out,) or None
    DelayLinear  y_i[t] = sum_j W_ij x_j[t - D_ij] + b_i   integer delays D (out, in) in steps
    Conv2d   y = conv2d(x, W, stride, padding, dilation, groups) + b, on frames (C, H, W)
    Flatten  y = flatten(x)                      (C, H, W) -> (C*H*W,)
    LIF      v = beta v + x [+ W_rec s_prev];  s = H(v - threshold);  reset subtract | zero | none
    CubaLIF  i = alpha i + x [+ W_rec s_prev]; v = beta v + i; s = H(v - threshold); reset as LIF
    LI       v = beta v + x;  output v
with ``beta = exp(-dt / tau_mem)`` and ``alpha = exp(-dt / tau_syn)``.

A graph has one input and one output: the pseudo-names ``"input"`` and ``"output"`` appear in its edges. A node
with several incoming edges receives their sum. New node types register with :func:`register_node`; they
serialise with no extra code as long as their fields are arrays, numbers, strings, tuples or ``None``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from dataclasses import dataclass, field
from typing import Any, ClassVar, Optional

import h5py
import numpy as np

from . import _checks
from ._io import atomic_path

IR_VERSION = 1
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
        if self.bias is not None:
            self.bias = _array("bias", self.bias, "Conv2d", ndim=1)
        self.input_hw, self.stride, self.padding, self.dilation = (
            tuple(int(v) for v in t) for t in (self.input_hw, self.stride, self.padding, self.dilation))
        self.groups = int(self.groups)

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
        self.shape = tuple(int(v) for v in self.shape)

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
        if d.size and (not np.all(np.isfinite(d)) or np.any(d < 0) or np.any(d != np.round(d))):
            raise ValueError("DelayLinear: delay: expected non-negative integers (steps)")
        self.delay = d.astype(np.int64)
        if self.bias is not None:
            self.bias = _array("bias", self.bias, "DelayLinear", ndim=1)

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
        for s, t in self.edges:
            if s not in known or t not in known or s == OUTPUT or t == INPUT:
                raise ValueError(f"Graph: edge ({s!r}, {t!r}) names an unknown node or runs the wrong way")
        if len(self.predecessors(OUTPUT)) != 1:
            raise ValueError(f"Graph: expected exactly one edge into 'output', got {self.predecessors(OUTPUT)}")
        _checks.positive("dt", float(self.dt), where="Graph")
        for name in self.topological_order():
            node = self.nodes[name]
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

def save(graph: Graph, path: str | os.PathLike) -> None:
    """Writes ``graph`` to one HDF5 file (arrays as datasets, everything else as JSON attributes), atomically."""
    with atomic_path(path, suffix=".h5") as tmp, h5py.File(tmp, "w") as f:
        f.attrs["format"] = "spikeforge-ir"
        f.attrs["version"] = graph.version
        f.attrs["graph"] = json.dumps({"edges": graph.edges, "input_shape": graph.input_shape, "dt": graph.dt,
                                       "metadata": graph.metadata, "order": list(graph.nodes)})
        for name, node in graph.nodes.items():
            g = f.create_group(f"nodes/{name}")
            g.attrs["type"] = type(node).__name__
            scalars = {}
            for fld in dataclasses.fields(node):
                value = getattr(node, fld.name)
                if isinstance(value, np.ndarray):
                    g.create_dataset(fld.name, data=value)
                else:
                    scalars[fld.name] = value
            g.attrs["fields"] = json.dumps(scalars)


def load(path: str | os.PathLike) -> Graph:
    """Reads a graph written by :func:`save`; errors name the file and what is wrong."""
    try:
        f = h5py.File(path, "r")
    except (OSError, ValueError) as e:
        raise ValueError(f"{path}: not a readable spikeforge IR file (HDF5): {e}") from None
    with f:
        if f.attrs.get("format") != "spikeforge-ir":
            raise ValueError(f"{path}: not a spikeforge IR file (attribute format={f.attrs.get('format')!r})")
        version = int(f.attrs["version"])
        if version > IR_VERSION:
            raise ValueError(f"{path}: IR version {version} is newer than this spikeforge reads ({IR_VERSION})")
        meta = json.loads(f.attrs["graph"])
        nodes = {}
        for name in meta["order"]:
            g = f[f"nodes/{name}"]
            type_name = g.attrs["type"]
            if type_name not in NODE_TYPES:
                raise ValueError(f"{path}: node {name!r} has unknown type {type_name!r}; known: {sorted(NODE_TYPES)}")
            kwargs = json.loads(g.attrs["fields"])
            kwargs.update({k: np.asarray(g[k]) for k in g.keys()})
            nodes[name] = NODE_TYPES[type_name](**kwargs)
    return Graph(nodes, meta["edges"], meta["input_shape"], meta["dt"], meta["metadata"], version)
