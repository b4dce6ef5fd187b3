"""Hardware-independent activity and operation counts of an IR graph, per layer and per time step.

Counts come from the recorded input and output of every node (the torch backend's ``run(x, record=True)``, or any
backend that returns the same records), so counting costs nothing when it is off: nothing is hooked into a
simulator. Definitions follow NeuroBench 2.3.0 (Yik et al. 2025), per sample:

- ``Dense``: synaptic operations with every weight and every input taken as nonzero (bias excluded; a convolution
  counts only the taps that land inside the frame, as NeuroBench's all-ones copy of the layer does).
- ``Effective_MACs`` / ``Effective_ACs``: operations where both the weight and the input are nonzero; those of a time
  step whose input lies in {-1, 0, 1} are ACs, the others MACs (NeuroBench decides per forward call = per step of a
  batch; so does this counter, per step of each batch it is given).
- Delays: synapse ``ij`` at step ``t`` reads ``x_j[t - D_ij]`` (zero before ``t = 0``): the effective count uses
  the delayed input. Recurrent weights of a LIF layer read the layer's own spikes of the previous step (ACs).
- Neuron layers: every neuron is updated every step (``MembraneUpdates``, time-driven); an update is *active* when
  the neuron's input (feed-forward plus recurrent) is nonzero at that step, *idle* otherwise.
- ``ActivationSparsity``: share of zero outputs over every neuron layer (every LIF kind, IF, AdLIF, AstroLIF, ELM and
  the LI readout).
- Pooling windows count one addition per in-frame tap; the ELM's MLP and readout and the astrocyte's products are
  MACs on the layer's state; adaptation, synaptic currents, traces and astrocyte state are ``state_updates``
  (docs/energy.md has the table).

A node type without a counter is reported as not counted, never as zero; register one with :func:`register_counter`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Iterable

import numpy as np
import torch
import torch.nn.functional as F

from .. import ir


@dataclass
class LayerCounts:
    """Totals for one IR node over every sample counted (divide by ``samples`` for per-sample values). ``steps``:
    the longest batch; ``sample_steps``: samples x steps summed over batches (batches may differ in length; the
    zero-padded steps of a batch's shorter samples are counted, as the backend runs them).

    ``kind``: "synapse", "neuron", "shape" (no operations) or "not counted". Synapse layers fill ``dense``,
    ``macs``, ``acs`` (and per source step ``ops_per_step``), ``weights`` / ``zero_weights`` and ``fan_in``; neuron
    layers fill ``neurons``, ``spikes_per_step`` (T,), ``spikes_per_neuron`` (neurons,), ``updates``,
    ``active_updates`` and ``state_updates`` (other state variables: adaptation, synaptic current, traces); LIF
    layers with recurrent weights fill both. Every counted layer fills ``nonzero_inputs`` / ``inputs`` (its input
    activity). ``params``: number of array values; ``footprint``: their bytes as the IR
    stores them.
    """

    name: str
    type: str
    kind: str
    input_shape: tuple
    output_shape: tuple
    params: int = 0
    footprint: int = 0
    weights: int = 0
    zero_weights: int = 0
    fan_in: float = 0.0
    dense: float = 0.0
    macs: float = 0.0
    acs: float = 0.0
    ops_per_step: np.ndarray = None  # effective operations per source step
    non_ternary_input: bool = False
    neurons: int = 0
    spiking: bool = False
    spikes_per_step: np.ndarray = None
    spikes_per_neuron: np.ndarray = None
    updates: float = 0.0
    active_updates: float = 0.0
    state_updates: float = 0.0  # updates of state variables besides the membrane (adaptation, traces, astrocyte)
    zero_outputs: float = 0.0
    outputs: float = 0.0
    nonzero_inputs: float = 0.0
    inputs: float = 0.0
    steps: int = 0
    samples: int = 0
    sample_steps: int = 0


@dataclass
class Counts:
    """Counts of every node of ``graph`` in topological order, ``samples`` counted over at most ``steps`` steps;
    ``warnings``: what the counter could not count or priced as MACs."""

    layers: list[LayerCounts]
    samples: int
    steps: int
    warnings: list[str] = field(default_factory=list)

    def per_sample(self, key: str) -> float:
        """Sum of ``key`` over layers divided by the number of samples."""
        return sum(getattr(la, key) for la in self.layers) / max(self.samples, 1)

    def neurobench(self) -> dict:
        """The NeuroBench metrics (its key names), per sample."""
        weights = sum(la.weights for la in self.layers)
        outputs = sum(la.outputs for la in self.layers)
        return {
            "Footprint": sum(la.footprint for la in self.layers),
            "ConnectionSparsity": sum(la.zero_weights for la in self.layers) / weights if weights else 0.0,
            "ActivationSparsity": sum(la.zero_outputs for la in self.layers) / outputs if outputs else 0.0,
            "SynapticOperations": {"Effective_MACs": self.per_sample("macs"), "Effective_ACs": self.per_sample("acs"),
                                   "Dense": self.per_sample("dense")},
            "MembraneUpdates": self.per_sample("updates"),
        }


# A counter adds what one batch contributes: (node, input (T, B, *in), output (T, B, *out), LayerCounts) -> None.
Counter = Callable[[ir.Node, torch.Tensor, torch.Tensor, LayerCounts], None]
COUNTERS: dict[type, tuple[str, Counter]] = {}


def register_counter(node_type: type, kind: str):
    """Decorator registering how nodes of ``node_type`` are counted (``kind``: synapse, neuron or shape)."""

    def deco(fn: Counter) -> Counter:
        COUNTERS[node_type] = (kind, fn)
        return fn

    return deco


def _ternary_steps(x: torch.Tensor) -> torch.Tensor:
    """(T,) bool: step ``t`` of the batch has every input in {-1, 0, 1}."""
    return ((x == 0) | (x == 1) | (x == -1)).flatten(1).all(1)


def _add_steps(total: np.ndarray | None, new: np.ndarray) -> np.ndarray:
    """Adds per-step arrays of possibly different lengths (the shorter one padded with zeros)."""
    if total is None:
        return new
    if len(new) > len(total):
        total, new = new, total
    total = total.copy()
    total[:len(new)] += new
    return total


def _add_ops(c: LayerCounts, eff_per_step: torch.Tensor, ternary: torch.Tensor | None, dense: float) -> None:
    """Adds effective operations per step (ACs where ``ternary``; ``None``: products of a layer's internal real-valued
    state, always MACs and not a warning) and ``dense`` operations."""
    eff = eff_per_step.double().cpu()
    if ternary is None:
        ternary = torch.zeros(len(eff), dtype=torch.bool)
    else:
        ternary = ternary.cpu()
        c.non_ternary_input |= bool((~ternary).any())
    c.acs += float(eff[ternary].sum())
    c.macs += float(eff[~ternary].sum())
    c.dense += dense
    c.ops_per_step = _add_steps(c.ops_per_step, eff.numpy())


def _synapse_static(c: LayerCounts, w: np.ndarray) -> None:
    c.weights += w.size
    c.zero_weights += int((w == 0).sum())


def _linear_effective(x: torch.Tensor, w: np.ndarray) -> torch.Tensor:
    """(T,) operations with nonzero weight and nonzero input: ``sum_{b,j} [x_bj != 0] * nnz(W[:, j])``."""
    return _column_effective(x, (w != 0).sum(0))


def _column_effective(x: torch.Tensor, nnz_col: np.ndarray) -> torch.Tensor:
    """(T,) ``sum_{b,j} [x_bj != 0] * nnz_col[j]``: ``nnz_col[j]`` nonzero weights read input ``j``."""
    return (x != 0).flatten(2).double().sum(1) @ torch.as_tensor(nnz_col, dtype=torch.float64, device=x.device)


@register_counter(ir.Linear, "synapse")
def _count_linear(node: ir.Linear, x, y, c: LayerCounts) -> None:
    T, B = x.shape[:2]
    _add_ops(c, _linear_effective(x, node.weight), _ternary_steps(x), float(T * B * node.weight.size))


@register_counter(ir.DelayLinear, "synapse")
def _count_delay(node: ir.DelayLinear, x, y, c: LayerCounts) -> None:
    T, B = x.shape[:2]
    active = (x != 0).flatten(2).double().sum(1)  # (T, in): nonzero inputs per source step
    eff = torch.zeros(T, dtype=torch.float64, device=x.device)
    for d in np.unique(node.delay):
        if d >= T:
            continue
        nnz_col = torch.as_tensor(((node.weight != 0) & (node.delay == d)).sum(0), dtype=torch.float64,
                                  device=x.device)
        eff[:T - d] += active[:T - d] @ nnz_col  # a spike at source step t reaches the target at t + d < T
    _add_ops(c, eff, _ternary_steps(x), float(T * B * node.weight.size))


def _count_convolution(conv, weight: np.ndarray, input_shape, x: torch.Tensor, c: LayerCounts) -> None:
    """``conv(input, weight)`` of a Conv1d/Conv2d node: the nonzero-input mask convolved with the nonzero-weight mask;
    Dense counts the in-frame taps (an all-ones copy of the layer), as NeuroBench."""
    T, B = x.shape[:2]
    w_nz = torch.as_tensor(weight != 0, dtype=torch.float64, device=x.device)
    eff = conv((x != 0).flatten(0, 1).double(), w_nz).unflatten(0, (T, B)).flatten(1).sum(1)
    ones = torch.ones(1, *input_shape, dtype=torch.float64, device=x.device)
    dense = float(conv(ones, torch.ones_like(w_nz)).sum()) * T * B
    _add_ops(c, eff, _ternary_steps(x), dense)


@register_counter(ir.Conv2d, "synapse")
def _count_conv(node: ir.Conv2d, x, y, c: LayerCounts) -> None:
    conv = lambda inp, w: F.conv2d(inp, w, None, node.stride, node.padding, node.dilation, node.groups)  # noqa: E731
    _count_convolution(conv, node.weight, node.input_shape, x, c)


@register_counter(ir.Conv1d, "synapse")
def _count_conv1d(node: ir.Conv1d, x, y, c: LayerCounts) -> None:
    conv = lambda inp, w: F.conv1d(inp, w, None, node.stride, node.padding, node.dilation, node.groups)  # noqa: E731
    _count_convolution(conv, node.weight, node.input_shape, x, c)


@register_counter(ir.Scale, "synapse")
def _count_scale(node: ir.Scale, x, y, c: LayerCounts) -> None:
    """One multiplication per feature and step; a zero input or a zero gain costs nothing. Dense: features."""
    T, B = x.shape[:2]
    nz = torch.as_tensor(node.scale != 0, device=x.device)
    _add_ops(c, ((x != 0) & nz).flatten(1).double().sum(1), _ternary_steps(x), float(T * B * node.scale.size))


@register_counter(ir.Flatten, "shape")
def _count_flatten(node, x, y, c) -> None:
    """A reshape: no operations."""


@register_counter(ir.SumPool2d, "synapse")
@register_counter(ir.AvgPool2d, "synapse")
def _count_pool(node: ir.SumPool2d, x, y, c: LayerCounts) -> None:
    """A window sum: one addition per in-frame tap (an average pool is a depthwise convolution with weights
    ``1 / (kH kW)``: counted the same); padded zeros cost nothing, as for :class:`ir.Conv2d`."""
    T, B = x.shape[:2]
    ones = torch.ones(node.shape[0], 1, *node.kernel_size, dtype=torch.float64, device=x.device)
    pool = lambda inp: F.conv2d(inp, ones, None, node.stride, node.padding, 1, node.shape[0])  # noqa: E731
    eff = pool((x != 0).flatten(0, 1).double()).unflatten(0, (T, B)).flatten(1).sum(1)
    dense = float(pool(torch.ones(1, *node.shape, dtype=torch.float64, device=x.device)).sum()) * T * B
    _add_ops(c, eff, _ternary_steps(x), dense)


def _count_neurons(c: LayerCounts, inp: torch.Tensor, y: torch.Tensor, spiking: bool) -> None:
    T, B = y.shape[:2]
    c.neurons = math.prod(y.shape[2:])
    c.spiking = spiking
    c.updates += float(y[0].numel() * T)
    c.active_updates += float((inp != 0).sum())
    c.zero_outputs += float((y == 0).sum())
    c.outputs += float(y.numel())
    if spiking:
        per_step = y.flatten(1).double().sum(1).cpu().numpy()
        per_neuron = y.flatten(2).double().sum((0, 1)).cpu().numpy()
        c.spikes_per_step = _add_steps(c.spikes_per_step, per_step)
        c.spikes_per_neuron = per_neuron if c.spikes_per_neuron is None else c.spikes_per_neuron + per_neuron


@register_counter(ir.LIF, "neuron")
@register_counter(ir.CubaLIF, "neuron")
@register_counter(ir.RefractoryLIF, "neuron")
@register_counter(ir.IF, "neuron")
def _count_lif(node: ir.LIF, x, y, c: LayerCounts) -> None:
    """LIF, CubaLIF, RefractoryLIF (a refractory neuron is still updated every step) and IF (no leak)."""
    inp = x
    if node.recurrent_weight is not None:
        T, B = y.shape[:2]
        prev = torch.cat([torch.zeros_like(y[:1]), y[:-1]])  # the recurrent weights read the previous step's spikes
        _add_ops(c, _linear_effective(prev, node.recurrent_weight), torch.ones(T, dtype=torch.bool),
                 float(T * B * node.recurrent_weight.size))
        inp = x + prev @ torch.as_tensor(node.recurrent_weight, dtype=y.dtype, device=y.device).t()
    _count_neurons(c, inp, y, spiking=True)
    if isinstance(node, ir.CubaLIF):
        c.state_updates += float(y[0].numel() * y.shape[0])  # the synaptic current


@register_counter(ir.AdLIF, "neuron")
def _count_adlif(node: ir.AdLIF, x, y, c: LayerCounts) -> None:
    """As LIF, plus the adaptation variable ``w``: one state update per neuron per step."""
    _count_lif(node, x, y, c)
    c.state_updates += float(y[0].numel() * y.shape[0])


@register_counter(ir.LI, "neuron")
@register_counter(ir.Integrator, "neuron")
def _count_li(node: ir.LI, x, y, c: LayerCounts) -> None:
    """LI and the non-leaky Integrator readouts."""
    _count_neurons(c, x, y, spiking=False)


@register_counter(ir.CubaLI, "neuron")
def _count_cuba_li(node: ir.CubaLI, x, y, c: LayerCounts) -> None:
    """As LI, plus the synaptic current: one state update per neuron per step."""
    _count_neurons(c, x, y, spiking=False)
    c.state_updates += float(y[0].numel() * y.shape[0])


@register_counter(ir.Threshold, "neuron")
def _count_threshold(node: ir.Threshold, x, y, c: LayerCounts) -> None:
    """A memoryless spike function: one update (a comparison) per neuron per step, its spikes counted as spikes."""
    _count_neurons(c, x, y, spiking=True)


@register_counter(ir.ELM, "neuron")
def _count_elm(node: ir.ELM, x, y, c: LayerCounts) -> None:
    """Synapses ``w_j x[r(j)]`` as synaptic operations on the input; the MLP (``W1``, ``W2``) and the readout ``W_y``
    as MACs on the ELM's real-valued state (zero entries cost nothing); the memory ``m`` as the membrane updates
    (every unit every step, all active: the MLP's bias drives it), the branch traces ``b`` as state updates."""
    from ..backends.torch.elm import elm_steps

    T, B = x.shape[:2]
    routing = np.arange(node.in_features) if node.routing is None else node.routing
    nnz_syn = np.bincount(routing[node.synapse_weight != 0], minlength=node.in_features)
    _add_ops(c, _column_effective(x, nnz_syn), _ternary_steps(x), float(T * B * node.synapse_weight.size))
    steps = [[], [], []]
    for w1_in, h, m, _ in elm_steps(node, x.to(y.dtype)):
        for acc, state, w in zip(steps, (w1_in, h, m), (node.mlp_weight1, node.mlp_weight2, node.readout_weight)):
            acc.append(_linear_effective(state[None], w))
    for acc, w in zip(steps, (node.mlp_weight1, node.mlp_weight2, node.readout_weight)):
        _add_ops(c, torch.cat(acc) if acc else torch.zeros(0), None, float(T * B * w.size))
    memory, branches = node.tau_m.shape[0], node.branches
    c.neurons, c.spiking = int(y.shape[2]), False
    c.updates += float(T * B * memory)
    c.active_updates += float(T * B * memory)
    c.state_updates += float(T * B * branches)
    c.zero_outputs += float((y == 0).sum())
    c.outputs += float(y.numel())


@register_counter(ir.AstroLIF, "neuron")
def _count_astro(node: ir.AstroLIF, x, y, c: LayerCounts) -> None:
    """Keys, values and queries ``K x``, ``V x``, ``Q x`` (per domain) as synaptic operations on the drive ``x``; the
    astrocyte's ``v k^T`` (into ``H``) and ``H q`` as MACs on its real-valued state (zero entries cost nothing); the
    ``G m d_k`` entries of ``H`` as state updates every step; the LIF part as a LIF layer."""
    from ..backends.torch.astro import astro_steps

    T, B = x.shape[:2]
    G, dk, m = node.key_weight.shape
    blocks = [np.concatenate([node.key_weight[g], node.value_weight[g], node.query_weight[g]]) for g in range(G)]
    nnz_col = np.concatenate([(b != 0).sum(0) for b in blocks])  # input i of domain g is column g m + i
    _add_ops(c, _column_effective(x, nnz_col), _ternary_steps(x), float(T * B * sum(b.size for b in blocks)))
    outer, read = [], []
    for k, v, q, h, _ in astro_steps(node, x.to(y.dtype)):
        outer.append(((v != 0).double().sum(-1) * (k != 0).double().sum(-1)).sum()[None])
        read.append(((h != 0).double() * (q != 0).double()[:, :, None, :]).sum()[None])
    for eff in (outer, read):
        _add_ops(c, torch.cat(eff) if eff else torch.zeros(0), None, float(T * B * G * m * dk))
    c.state_updates += float(T * B * G * m * dk)
    _count_neurons(c, x, y, spiking=True)


def _arrays(node: ir.Node) -> list[np.ndarray]:
    return [v for v in vars(node).values() if isinstance(v, np.ndarray)]


# The weight arrays of a node (for ConnectionSparsity), where they are not ``weight`` and ``recurrent_weight``.
_WEIGHTS = {ir.ELM: ("synapse_weight", "mlp_weight1", "mlp_weight2", "readout_weight"),
            ir.AstroLIF: ("key_weight", "value_weight", "query_weight")}


def _new(name: str, node: ir.Node) -> LayerCounts:
    kind = COUNTERS.get(type(node), ("not counted",))[0]
    arrays = _arrays(node)
    c = LayerCounts(name, type(node).__name__, kind, tuple(node.input_shape), tuple(node.output_shape),
                    params=sum(a.size for a in arrays), footprint=sum(a.nbytes for a in arrays))
    for w in _WEIGHTS.get(type(node), ("weight", "recurrent_weight")):
        if getattr(node, w, None) is not None:
            _synapse_static(c, getattr(node, w))
    w = next((w for w in (getattr(node, "weight", None), getattr(node, "recurrent_weight", None)) if w is not None),
             None)
    if w is not None:
        c.fan_in = float((w != 0).sum(1).mean())
    return c


class Accumulator:
    """Adds batches of recorded activity to the counts of ``graph``; :meth:`result` gives :class:`Counts`."""

    def __init__(self, graph: ir.Graph):
        self.graph = graph
        self.order = graph.topological_order()
        self.layers = {name: _new(name, graph.nodes[name]) for name in self.order}
        self.samples = 0
        self.steps = None

    def add(self, x: torch.Tensor, records: dict[str, torch.Tensor]) -> None:
        """Counts one batch: ``x`` the graph input ``(T, B, *in)``; ``records`` every node's output."""
        missing = [n for n in self.order if n not in records]
        if missing:
            raise ValueError(f"energy counting: the backend recorded no output for nodes {missing}")
        T, B = x.shape[:2]
        self.steps = max(self.steps or 0, T)
        values = {ir.INPUT: x, **records}
        for name in self.order:
            node, c = self.graph.nodes[name], self.layers[name]
            srcs = self.graph.predecessors(name)
            inp = values[srcs[0]]
            for s in srcs[1:]:
                inp = inp + values[s]
            c.steps, c.samples, c.sample_steps = self.steps, c.samples + B, c.sample_steps + T * B
            if type(node) in COUNTERS:
                COUNTERS[type(node)][1](node, inp, values[name], c)
                c.nonzero_inputs += float((inp != 0).sum())
                c.inputs += float(inp.numel())
        self.samples += B

    def result(self) -> Counts:
        if not self.samples:
            raise ValueError("energy counting: no samples were counted (empty dataset split?)")
        warnings = []
        for c in self.layers.values():
            if c.kind == "not counted":
                warnings.append(f"layer {c.name!r} of type {c.type} is not counted: its operations are missing from "
                                f"every total (no counter registered for {c.type})")
            elif c.non_ternary_input:
                warnings.append(f"layer {c.name!r} ({c.type}) receives non-binary input: its effective operations "
                                f"are priced as MACs (the encoding layer)")
        return Counts(list(self.layers.values()), self.samples, self.steps, warnings)


def count(graph: ir.Graph, batches: Iterable[torch.Tensor], run: Callable | None = None) -> Counts:
    """Counts ``graph`` over input batches ``(T, B, *in)``. ``run(x) -> records`` (node name -> output) defaults to
    the torch backend's ``build(graph).run(x, record=True).records``."""
    if run is None:
        from ..backends.torch import build

        sim = build(graph)
        run = lambda x: sim.run(x, record=True).records  # noqa: E731
    acc = Accumulator(graph)
    for x in batches:
        acc.add(x, run(x))
    return acc.result()
