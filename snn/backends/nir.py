"""NIR (Neuromorphic Intermediate Representation, package ``nir`` 1.0.x) <-> spikeforge IR, reading the IR only.

Discretisation. NIR neurons are continuous time (``tau dv/dt = (v_leak - v) + r I``, seconds); our nodes are
discrete with ``dt`` in ms (``v_t = beta v_{t-1} + x_t``, ``beta = exp(-dt / tau_mem)``). We convert with forward
Euler at the step ``dt_s`` (seconds) that the file declares in its graph metadata ``dt``: Euler gives
``v_t = (1 - dt_s / tau) v_{t-1} + (dt_s r / tau) I_t``, so on export

    tau = dt_s / (1 - beta),   r = tau / dt_s,   v_leak = 0,   v_reset = 0     (LIF, LI; CubaLIF's ``tau_mem``)
    tau_syn = dt_s / (1 - alpha),   w_in = tau_syn / dt_s                      (CubaLIF)

and on import ``beta = 1 - dt_s / tau``, ``tau_mem = -dt / ln(beta)`` (ms) and the input gain
``g = dt_s r / tau`` (times ``dt_s w_in / tau_syn`` for CubaLIF) is folded into the threshold (``theta / g``: the
spikes are those of ``v / g``) of spiking nodes, or into the weights feeding an LI readout. Our own files also carry
the IR's exact values in node metadata (``spikeforge_*``), used when they agree with the NIR parameters, so
export -> import is bit-exact. IF (``dv/dt = r I``, no leak) exports ``r = 1 / dt_s`` (Euler gain ``dt_s r = 1`` per
step, ours) and imports with threshold ``v_threshold / (dt_s r)``. NIR's reset is "to ``v_reset``" (our ``zero``);
a ``subtract`` or ``none`` reset is written to node metadata and a :class:`NIRConventionWarning` says peers will read
it as a zero reset.

Recurrence is a cycle ``LIF -> Linear -> LIF`` in NIR and the ``recurrent_weight`` of our node. Per-synapse integer
delays (:class:`snn.ir.DelayLinear`) become one branch ``Delay -> Linear`` per distinct delay value ``d`` (NIR's
Delay is per channel: each branch delays every input channel by ``d dt_s`` and its Linear holds the synapses whose
delay is ``d``); the branches merge back on import.

Other tools' files: snnTorch writes ``r = tau / 1e-4`` (dt = 1e-4 s) and no dt; Norse writes ``tau = 1e-3 / tau_inv``
and ``r = 1``, which reproduce Norse at dt = 1e-6 s. :func:`from_nir` recognises them (or takes ``dt=`` /
``convention=``) and says in a :class:`NIRConventionWarning` what it applied; a file it cannot place is an error
that names these arguments.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import warnings
from typing import Optional

import h5py
import numpy as np

from .. import ir

__all__ = ["NIRError", "NIRConventionWarning", "CONVENTIONS", "to_nir", "from_nir", "read", "write"]

CONVENTIONS = {"spikeforge": None, "snntorch": 1e-4, "norse": 1e-6}  # convention -> its dt (s); ours: from metadata
SOURCE = "spikeforge"
_RTOL = 1e-5


class NIRError(ValueError):
    """A NIR graph or file spikeforge cannot read; the message names the file or node, expected and found."""


class NIRConventionWarning(UserWarning):
    """Which interpretation of a NIR file was applied, or what a peer will read differently in an exported one."""


def _nir():
    try:
        import nir
    except ImportError as e:  # a declared dependency: only a broken install gets here
        raise ImportError(f"NIR export/import needs the package 'nir' ({e}); pip install nir") from None
    return nir


# --- export ----------------------------------------------------------------------------------------------------------

def _f64(a) -> np.ndarray:
    return np.asarray(a, dtype=np.float64)


def _leak(tau_ms: np.ndarray, dt_ms: float, dt_s: float) -> tuple[np.ndarray, np.ndarray]:
    """NIR ``(tau, gain r)`` (s, dimensionless) whose Euler step at ``dt_s`` is our decay ``exp(-dt / tau_ms)``."""
    tau = dt_s / -np.expm1(-dt_ms / _f64(tau_ms))
    return tau, tau / dt_s


def _export_node(name: str, node: ir.Node, dt_ms: float, dt_s: float, gain: str, nir) -> dict:
    """NIR nodes for one IR node: ``{nir_name: nir_node}``; the first is the node itself."""
    meta = {}
    if isinstance(node, ir.Linear):
        if node.bias is None:
            return {name: nir.Linear(weight=node.weight)}
        return {name: nir.Affine(weight=node.weight, bias=node.bias)}
    if isinstance(node, ir.Conv2d):
        bias = node.bias if node.bias is not None else np.zeros(node.weight.shape[0], np.float32)
        return {name: nir.Conv2d(input_shape=np.array(node.input_hw), weight=node.weight, stride=np.array(node.stride),
                                 padding=np.array(node.padding), dilation=np.array(node.dilation),
                                 groups=node.groups, bias=bias,
                                 metadata={"spikeforge_bias": int(node.bias is not None)})}
    if isinstance(node, ir.Conv1d):
        if node.groups != 1:  # nir 1.0.8 types the input (C / groups, L), and nir.read type-checks every file
            raise NIRError(f"export_nir: node {name!r} (Conv1d): groups={node.groups}: nir 1.0.8 derives a grouped "
                           f"Conv1d's input type as (C / groups, L) and its reader refuses the file; expected groups=1")
        bias = node.bias if node.bias is not None else np.zeros(node.weight.shape[0], np.float32)
        return {name: nir.Conv1d(input_shape=node.input_len, weight=node.weight, stride=node.stride,
                                 padding=node.padding, dilation=node.dilation, groups=1, bias=bias,
                                 metadata={"spikeforge_bias": int(node.bias is not None)})}
    if isinstance(node, ir.Flatten):
        return {name: nir.Flatten(input_type={"input": np.array(node.shape)}, start_dim=0, end_dim=-1)}
    if isinstance(node, (ir.LIF, ir.LI)):
        tau, r = _leak(node.tau_mem, dt_ms, dt_s)
        zeros = np.zeros_like(tau)
        meta["spikeforge_tau_mem"] = node.tau_mem
        if isinstance(node, ir.LI):
            return {name: nir.LI(tau=tau, r=r, v_leak=zeros, metadata=meta)}
        meta.update(_reset_meta(name, node))
        if isinstance(node, ir.RefractoryLIF) and node.refractory:
            meta["spikeforge_refractory"] = node.refractory
            warnings.warn(f"export_nir: node {name!r}: NIR's LIF has no refractory period; refractory="
                          f"{node.refractory} steps is kept in the node's metadata for spikeforge, other readers will "
                          "run the layer without it", NIRConventionWarning, stacklevel=4)
        thr = _f64(node.threshold)
        if isinstance(node, ir.CubaLIF):
            tau_syn, w_in = _leak(node.tau_syn, dt_ms, dt_s)
            meta["spikeforge_tau_syn"] = node.tau_syn
            out = {name: nir.CubaLIF(tau_syn=tau_syn, tau_mem=tau, r=r, v_leak=zeros, v_threshold=thr,
                                     v_reset=zeros, w_in=w_in, metadata=meta)}
        else:
            if gain == "threshold":  # r = 1: the Euler input gain dt/tau = 1 - beta scales v, so the threshold too
                r, thr = np.ones_like(r), thr * dt_s / tau
            out = {name: nir.LIF(tau=tau, r=r, v_leak=zeros, v_threshold=thr, v_reset=zeros, metadata=meta)}
        return _with_recurrence(out, name, node, nir)
    if isinstance(node, ir.IF):  # dv/dt = r I: Euler at dt_s adds dt_s r I, our unit gain when r = 1 / dt_s
        thr = _f64(node.threshold)
        return _with_recurrence({name: nir.IF(r=np.full(thr.shape, 1.0 / dt_s), v_threshold=thr,
                                              v_reset=np.zeros_like(thr), metadata=_reset_meta(name, node))},
                                name, node, nir)
    if isinstance(node, ir.CubaLI):
        tau, r = _leak(node.tau_mem, dt_ms, dt_s)
        tau_syn, w_in = _leak(node.tau_syn, dt_ms, dt_s)
        return {name: nir.CubaLI(tau_syn=tau_syn, tau_mem=tau, r=r, v_leak=np.zeros_like(tau), w_in=w_in,
                                 metadata={"spikeforge_tau_mem": node.tau_mem, "spikeforge_tau_syn": node.tau_syn})}
    if isinstance(node, ir.Integrator):  # dv/dt = r I: unit Euler gain dt_s r per step, as IF
        return {name: nir.I(r=np.full(node.shape, 1.0 / dt_s))}
    if isinstance(node, ir.Scale):  # marked: an all-ones Scale of ours stays a node (unmarked ones are identities)
        return {name: nir.Scale(scale=node.scale, metadata={"spikeforge_node": "Scale"})}
    if isinstance(node, ir.Threshold):
        return {name: nir.Threshold(threshold=node.threshold)}
    if isinstance(node, (ir.SumPool2d, ir.AvgPool2d)):
        pool = getattr(nir, type(node).__name__)(kernel_size=np.array(node.kernel_size), stride=np.array(node.stride),
                                                 padding=np.array(node.padding))
        pool.input_type = {"input": np.array(node.input_shape)}  # nir leaves them None; its type check needs them
        pool.output_type = {"output": np.array(node.output_shape)}
        return {name: pool}
    if isinstance(node, ir.DelayLinear):
        out = {}
        for k, d in enumerate(np.unique(node.delay) if node.delay.size else [0]):
            w = np.where(node.delay == d, node.weight, 0).astype(np.float32)
            out[f"{name}_d{d}_delay"] = nir.Delay(delay=np.full(node.weight.shape[1], d * dt_s))
            out[f"{name}_d{d}"] = (nir.Affine(weight=w, bias=node.bias) if k == 0 and node.bias is not None
                                   else nir.Linear(weight=w))
        return out
    raise NIRError(f"export_nir: node {name!r}: IR node type {type(node).__name__} has no NIR mapping; supported: "
                   "Linear, Conv1d, Conv2d, Flatten, LIF, CubaLIF, LI, CubaLI, IF, Integrator, Scale, Threshold, "
                   "SumPool2d, AvgPool2d, DelayLinear")


def _reset_meta(name: str, node) -> dict:
    """A spiking node's exact threshold and reset for spikeforge's reader; warns when peers will read another reset."""
    if node.reset != "zero":
        warnings.warn(f"export_nir: node {name!r}: NIR has no {node.reset!r} reset (it resets to v_reset = 0); "
                      "the reset is kept in the node's metadata for spikeforge, other readers will reset to zero",
                      NIRConventionWarning, stacklevel=5)
    return {"spikeforge_threshold": node.threshold, "spikeforge_reset": node.reset}


def _with_recurrence(out: dict, name: str, node, nir) -> dict:
    """Adds the ``{name}_rec`` Linear of a recurrent spiking node (``to_nir`` wires the cycle)."""
    if node.recurrent_weight is not None:
        out[f"{name}_rec"] = nir.Linear(weight=node.recurrent_weight)
    return out


def to_nir(graph: ir.Graph, *, dt: Optional[float] = None, gain: str = "r") -> "nir.NIRGraph":  # noqa: F821
    """The NIR graph of an IR graph.

    Args:
        graph: the IR graph (``dt`` in ms).
        dt: the NIR step in seconds that one of our steps stands for (default ``graph.dt / 1000``); written to the
            graph metadata ``dt``. snnTorch 1.0.0's importer assumes 1e-4 whatever the file says: pass ``dt=1e-4`` to
            write a file it reads right.
        gain: where a LIF's input gain goes: ``"r"`` (default, ``r = tau / dt``, snnTorch's convention) or
            ``"threshold"`` (``r = 1``, ``v_threshold = threshold * dt / tau``: the same dynamics with ``v`` scaled by
            ``dt / tau``; Norse 1.1.0's importer ignores ``r`` on LIF and reads these files right).
    """
    nir = _nir()
    dt_s = graph.dt / 1000.0 if dt is None else float(dt)
    if not (math.isfinite(dt_s) and dt_s > 0):
        raise NIRError(f"export_nir: dt: expected a step > 0 in seconds, got {dt!r}")
    if gain not in ("r", "threshold"):
        raise NIRError(f"export_nir: gain: expected 'r' or 'threshold', got {gain!r}")
    nodes = {ir.INPUT: nir.Input(input_type={"input": np.array(graph.input_shape)})}
    entries, exits, edges = {ir.INPUT: [ir.INPUT]}, {ir.INPUT: [ir.INPUT]}, []
    for name in graph.topological_order():
        node = graph.nodes[name]
        made = _export_node(name, node, graph.dt, dt_s, gain, nir)
        clash = sorted(set(made) & (set(nodes) | {ir.OUTPUT}))
        if clash:
            raise NIRError(f"export_nir: node {name!r}: the NIR names {clash} it needs are taken by other nodes")
        nodes.update(made)
        if isinstance(node, ir.DelayLinear):
            delays = [n for n in made if n.endswith("_delay")]
            entries[name], exits[name] = delays, [n[:-len("_delay")] for n in delays]
            edges += [(dl, dl[:-len("_delay")]) for dl in delays]
        else:
            entries[name] = exits[name] = [name]
            if f"{name}_rec" in made:
                edges += [(name, f"{name}_rec"), (f"{name}_rec", name)]
    out_src = graph.predecessors(ir.OUTPUT)[0]
    if len(exits[out_src]) > 1:  # several delay branches feed the output: sum them in a unit Scale
        total = f"{out_src}_sum"
        nodes[total] = nir.Scale(scale=np.ones(graph.output_shape, np.float32))
        edges += [(e, total) for e in exits[out_src]]
        exits[out_src] = [total]
    nodes[ir.OUTPUT] = nir.Output(output_type={"output": np.array(graph.output_shape)})
    for s, t in graph.edges:
        edges += [(a, b) for a in exits[s] for b in (entries[t] if t != ir.OUTPUT else [ir.OUTPUT])]
    meta = {"source": SOURCE, "dt": dt_s, "dt_ms": float(graph.dt), "discretisation": "forward-euler"}
    try:
        return nir.NIRGraph(nodes=nodes, edges=edges, metadata=meta, type_check=True)
    except (ValueError, KeyError, TypeError) as e:
        raise NIRError(f"export_nir: nir refused the graph: {e}") from None


def write(graph: "nir.NIRGraph", path: str | os.PathLike) -> None:  # noqa: F821
    """Writes a NIR graph to ``path`` atomically (``nir.write``'s HDF5 format)."""
    from .._io import atomic_path

    nir = _nir()
    with atomic_path(path, suffix=".nir") as tmp:
        nir.write(tmp, graph)


# Datasets a node group must hold in a file, per node type (``nir.read`` would fail on them with a bare KeyError).
_FILE_FIELDS = {
    "Input": ("shape",), "Output": ("shape",), "Linear": ("weight",), "Affine": ("weight", "bias"),
    "Conv1d": ("weight", "stride", "padding", "dilation", "groups", "bias"),
    "Conv2d": ("weight", "stride", "padding", "dilation", "groups", "bias"), "Flatten": ("start_dim", "end_dim"),
    "LIF": ("tau", "r", "v_leak", "v_threshold"), "LI": ("tau", "r", "v_leak"),
    "CubaLIF": ("tau_syn", "tau_mem", "r", "v_leak", "v_threshold", "w_in"),
    "CubaLI": ("tau_syn", "tau_mem", "r", "v_leak", "w_in"), "IF": ("r", "v_threshold"), "I": ("r",),
    "Delay": ("delay",), "Scale": ("scale",), "Threshold": ("threshold",),
    "SumPool2d": ("kernel_size", "stride", "padding"), "AvgPool2d": ("kernel_size", "stride", "padding"),
    "NIRGraph": ("nodes", "edges"),
}


def _check_group(path, group, name: str) -> None:
    """Every node group in a file has a known ``type`` and the datasets its type needs; errors name the node."""
    t = group.get("type")
    kind = t[()] if t is not None and isinstance(t, h5py.Dataset) else None
    kind = kind.decode("utf-8", "replace") if isinstance(kind, bytes) else kind
    if kind not in _FILE_FIELDS:
        raise NIRError(f"{path}: node {name!r}: unknown NIR node type {kind!r}; known: {sorted(_FILE_FIELDS)}")
    missing = [k for k in _FILE_FIELDS[kind] if k not in group]
    if missing:
        raise NIRError(f"{path}: node {name!r} ({kind}): missing parameter(s) {missing}")
    if kind == "NIRGraph":
        for key in group["nodes"]:
            _check_group(path, group["nodes"][key], key)


def read(path: str | os.PathLike) -> "nir.NIRGraph":  # noqa: F821
    """``nir.read(path)`` with its failures (not HDF5, truncated, unknown node type, bad fields) as :class:`NIRError`
    naming the file."""
    nir = _nir()
    if not os.path.isfile(path):
        raise NIRError(f"{path}: no such NIR file")
    try:
        with h5py.File(path, "r") as f:
            if not isinstance(f.get("node"), h5py.Group):
                raise NIRError(f"{path}: not a NIR file (no group 'node'; found {sorted(f)})")
            _check_group(path, f["node"], "graph")
    except (OSError, RuntimeError, KeyError) as e:
        raise NIRError(f"{path}: not a readable NIR file (corrupt or truncated HDF5): {e}") from None
    try:
        return nir.read(path)
    except NIRError:
        raise
    except Exception as e:  # nir raises bare KeyError/ValueError/TypeError/AssertionError on bad content
        raise NIRError(f"{path}: nir could not read the graph: {type(e).__name__}: {e}") from None


# --- import ----------------------------------------------------------------------------------------------------------

_READABLE = ("Input", "Output", "Linear", "Affine", "Conv2d", "Flatten", "LIF", "CubaLIF", "LI", "IF", "SumPool2d",
             "AvgPool2d", "Delay", "Scale", "CubaLI", "I", "Threshold", "Conv1d")


def _inline_subgraphs(nodes: dict, edges: list) -> tuple[dict, list]:
    """Replaces nested NIRGraph nodes (snnTorch wraps recurrent layers in one) by their inner nodes."""
    nir = _nir()
    for name in [n for n, v in nodes.items() if isinstance(v, nir.NIRGraph)]:
        sub = nodes.pop(name)
        inner, inner_edges = _inline_subgraphs(dict(sub.nodes), list(sub.edges))
        ins = {n for n, v in inner.items() if isinstance(v, nir.Input)}
        outs = {n for n, v in inner.items() if isinstance(v, nir.Output)}
        key = {n: f"{name}_{n}" for n in inner}
        heads = [key[t] for s, t in inner_edges if s in ins]
        tails = [key[s] for s, t in inner_edges if t in outs]
        nodes.update({key[n]: v for n, v in inner.items() if n not in ins | outs})
        new = [(key[s], key[t]) for s, t in inner_edges if s not in ins and t not in outs]
        for s, t in edges:
            if t == name:
                new += [(s, h) for h in heads]
            elif s == name:
                new += [(tl, t) for tl in tails]
            else:
                new.append((s, t))
        edges = new
    return nodes, edges


def _time_params(node) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(tau, gain-giving factor)`` pairs of a neuron: LIF/LI (tau, r), CubaLIF/CubaLI (tau_mem, r)."""
    nir = _nir()
    if isinstance(node, (nir.LIF, nir.LI)):
        return [(_f64(node.tau), _f64(node.r))]
    if isinstance(node, (nir.CubaLIF, nir.CubaLI)):
        return [(_f64(node.tau_mem), _f64(node.r))]
    return []


def _choose_dt(g, nodes: dict, dt: Optional[float], convention: Optional[str], where: str) -> tuple[float, str]:
    """The step (s) to read the file at and the convention applied; warns which one unless the file is ours."""
    meta = g.metadata if isinstance(g.metadata, dict) else {}
    source = meta.get("source")
    source = source.decode() if isinstance(source, bytes) else source
    if convention is not None and convention not in CONVENTIONS:
        raise NIRError(f"{where}: convention: expected one of {sorted(CONVENTIONS)}, got {convention!r}")
    if dt is not None:
        dt_s = float(dt)
        if not (math.isfinite(dt_s) and dt_s > 0):
            raise NIRError(f"{where}: dt: expected a step > 0 in seconds, got {dt!r}")
        return dt_s, convention or "dt"
    if convention is not None and CONVENTIONS[convention] is not None:
        why = (": Norse 1.1.0 writes tau = 1e-3 / tau_inv, 1000x below the time constant, so its files reproduce "
               "Norse at dt = 1e-6 s") if convention == "norse" else ""
        warnings.warn(f"{where}: read with the {convention} convention at dt = {CONVENTIONS[convention]:g} s "
                      f"(forward Euler){why}", NIRConventionWarning, stacklevel=4)
        return CONVENTIONS[convention], convention
    if "dt" in meta:
        dt_s = float(np.asarray(meta["dt"]).reshape(-1)[0])
        if not (math.isfinite(dt_s) and dt_s > 0):
            raise NIRError(f"{where}: graph metadata dt: expected a step > 0 in seconds, got {meta['dt']!r}")
        if source != SOURCE:
            warnings.warn(f"{where}: read at the dt = {dt_s:g} s declared in the graph metadata (forward Euler)",
                          NIRConventionWarning, stacklevel=4)
        return dt_s, "spikeforge" if source == SOURCE else "metadata"
    if convention == "spikeforge":
        raise NIRError(f"{where}: convention 'spikeforge' needs a graph metadata 'dt', and the file has none")
    pairs = [p for v in nodes.values() for p in _time_params(v)]
    has_if = any(isinstance(v, (_nir().IF, _nir().I)) for v in nodes.values())  # gain dt r needs dt; snnTorch: none
    if not pairs and not has_if:
        return 1e-3, "none"
    if not has_if and all(np.allclose(r, tau / CONVENTIONS["snntorch"], rtol=_RTOL) for tau, r in pairs):
        warnings.warn(f"{where}: no dt in the file; every neuron has r = tau / 1e-4, snnTorch's convention: read at "
                      "dt = 1e-4 s (forward Euler; pass dt= or convention= to read it otherwise)",
                      NIRConventionWarning, stacklevel=4)
        return CONVENTIONS["snntorch"], "snntorch"
    raise NIRError(f"{where}: ambiguous time step: the file declares no dt (graph metadata 'dt') and its neurons do "
                   "not follow snnTorch's r = tau / 1e-4 (or include IF nodes or I nodes, whose input gain dt * r "
                   "needs dt); pass dt=<seconds per step> (forward Euler at that step) or "
                   "convention='norse' (Norse 1.1.0 files: tau is 1000x too small, read at dt = 1e-6 s) or "
                   "'snntorch' (dt = 1e-4 s)")


class _Importer:
    """One NIR graph -> one IR graph; every error names the node."""

    def __init__(self, g, dt, convention, where: str):
        self.nir = _nir()
        self.where = where
        nodes, edges = _inline_subgraphs(dict(g.nodes), [tuple(e) for e in g.edges])
        self.nodes, self.edges = nodes, edges
        self.dt_s, self.convention = _choose_dt(g, nodes, dt, convention, where)
        self.dt_ms = self.dt_s * 1000.0

    def error(self, name: str, text: str) -> NIRError:
        node = self.nodes.get(name)
        kind = type(node).__name__ if node is not None else "?"
        return NIRError(f"{self.where}: node {name!r} ({kind}): {text}")

    # -- neurons ------------------------------------------------------------------------------------------------------

    def _array(self, name, node, field) -> np.ndarray:
        value = getattr(node, field, None)
        if value is None:
            raise self.error(name, f"missing parameter {field!r}")
        a = _f64(value)
        if not np.all(np.isfinite(a)):
            raise self.error(name, f"{field}: expected finite values")
        return a

    def _decay(self, name, tau: np.ndarray, field: str) -> np.ndarray:
        """Our time constant (ms) for a NIR ``tau`` (s) read by forward Euler at ``dt_s``."""
        if np.any(tau <= self.dt_s):
            raise self.error(name, f"{field}: every value must exceed the step dt = {self.dt_s:g} s (forward Euler "
                                   f"decay 1 - dt/tau must be > 0), got min {tau.min():g} s; pass a smaller dt=")
        return -self.dt_ms / np.log1p(-self.dt_s / tau)

    def _exact(self, node, key: str, derived: np.ndarray, rel: float = 1e-6):
        """Our own file's exact value from node metadata, when it agrees with what the NIR parameter gives."""
        meta = getattr(node, "metadata", None) or {}
        if self.convention != "spikeforge" or key not in meta:
            return derived
        exact = np.asarray(meta[key])
        if exact.dtype.kind != "f" or exact.shape != np.shape(derived):
            return derived
        return exact if np.allclose(_f64(exact), derived, rtol=rel, atol=0) else derived

    def neuron(self, name: str, node) -> ir.Node:
        nir = self.nir
        tau_field = "tau" if isinstance(node, (nir.LIF, nir.LI)) else "tau_mem"
        synaptic = isinstance(node, (nir.CubaLIF, nir.CubaLI))
        readout = isinstance(node, (nir.LI, nir.CubaLI))
        tau, r = self._array(name, node, tau_field), self._array(name, node, "r")
        v_leak = self._array(name, node, "v_leak")
        arrays = [tau, r, v_leak]
        if not readout:
            thr = self._array(name, node, "v_threshold")
            v_reset = _f64(node.v_reset) if getattr(node, "v_reset", None) is not None else np.zeros(1)
            arrays += [thr, v_reset]
        if synaptic:
            tau_syn, w_in = self._array(name, node, "tau_syn"), self._array(name, node, "w_in")
            arrays += [tau_syn, w_in]
        try:
            shape = np.broadcast_shapes(*(a.shape for a in arrays))
        except ValueError:
            raise self.error(name, f"parameter shapes {[a.shape for a in arrays]} do not broadcast together") from None
        if not shape:
            raise self.error(name, "parameters are scalars: the layer's size is unknown; expected per-neuron arrays")
        tau, r, v_leak = (np.broadcast_to(a, shape) for a in (tau, r, v_leak))
        if np.any(v_leak != 0):
            raise self.error(name, "v_leak != 0 is not supported (our neurons leak to 0); expected v_leak = 0")
        tau_mem = self._exact(node, "spikeforge_tau_mem", self._decay(name, tau, tau_field))
        gain = self.dt_s * r / tau
        if isinstance(node, nir.LI):
            return ir.LI(tau_mem, self.dt_ms), gain
        if not readout and np.any(v_reset != 0):
            raise self.error(name, "v_reset != 0 is not supported; expected v_reset = 0 (our zero reset)")
        if synaptic:
            tau_syn, w_in = np.broadcast_to(tau_syn, shape), np.broadcast_to(w_in, shape)
            if self.convention == "norse":  # Norse adds its input to the current unscaled but writes w_in = 1
                w_in = tau_syn / self.dt_s
                warnings.warn(f"{self.where}: node {name!r}: Norse convention: w_in set to tau_syn / dt (Norse's "
                              "current jumps by its input; Norse 1.1.0 writes w_in = 1)", NIRConventionWarning,
                              stacklevel=5)
            gain = gain * self.dt_s * w_in / tau_syn
            tau_syn = self._exact(node, "spikeforge_tau_syn", self._decay(name, tau_syn, "tau_syn"))
        if isinstance(node, nir.CubaLI):
            return ir.CubaLI(tau_mem, tau_syn, self.dt_ms), gain
        if np.any(gain <= 0):
            raise self.error(name, f"input gain dt*r/tau{' * dt*w_in/tau_syn' if synaptic else ''}"
                                   f" must be > 0, got min {gain.min():g}")
        threshold, reset = self._firing(node, thr, gain, shape)
        common = dict(tau_mem=tau_mem, threshold=threshold, reset=reset, dt=self.dt_ms)
        if isinstance(node, nir.CubaLIF):
            return ir.CubaLIF(**common, tau_syn=tau_syn), None
        refractory = (getattr(node, "metadata", None) or {}).get("spikeforge_refractory", 0)
        if self.convention == "spikeforge" and reset == "zero" and int(refractory) > 0:
            return ir.RefractoryLIF(**common, refractory=int(refractory)), None  # our own file's frozen NALSM liquid
        return ir.LIF(**common), None

    def _firing(self, node, thr: np.ndarray, gain: np.ndarray, shape) -> tuple[np.ndarray, str]:
        """``(threshold, reset)`` of a spiking node: ``v_threshold / gain`` (the spikes of ``v / gain``, our unit input
        gain), or our own file's exact values from its metadata."""
        threshold = self._exact(node, "spikeforge_threshold", np.broadcast_to(thr, shape) / gain, rel=1e-5)
        reset = (getattr(node, "metadata", None) or {}).get("spikeforge_reset", "zero")
        reset = reset.decode() if isinstance(reset, bytes) else str(reset)
        if reset not in ("zero", "subtract", "none") or self.convention != "spikeforge":
            reset = "zero"
        return threshold, reset

    def integrate_and_fire(self, name: str, node) -> ir.IF:
        """NIR IF (``dv/dt = r I``) read by forward Euler: input gain ``dt_s r`` per step (Norse: ``r``, see below)."""
        r, thr = self._array(name, node, "r"), self._array(name, node, "v_threshold")
        v_reset = _f64(node.v_reset) if getattr(node, "v_reset", None) is not None else np.zeros(1)
        try:
            shape = np.broadcast_shapes(r.shape, thr.shape, v_reset.shape)
        except ValueError:
            raise self.error(name, f"parameter shapes {[r.shape, thr.shape, v_reset.shape]} do not broadcast "
                                   "together") from None
        if not shape:
            raise self.error(name, "parameters are scalars: the layer's size is unknown; expected per-neuron arrays")
        if np.any(v_reset != 0):
            raise self.error(name, "v_reset != 0 is not supported; expected v_reset = 0 (our zero reset)")
        gain = np.broadcast_to(r, shape) * (1.0 if self.convention == "norse" else self.dt_s)
        if self.convention == "norse":
            warnings.warn(f"{self.where}: node {name!r}: Norse convention: IF's r read as the input gain per step "
                          "(Norse's IAF adds its input unscaled, whatever dt, and writes r = 1)", NIRConventionWarning,
                          stacklevel=5)
        if np.any(gain <= 0):
            raise self.error(name, f"input gain dt*r must be > 0, got min {gain.min():g}")
        threshold, reset = self._firing(node, thr, gain, shape)
        return ir.IF(threshold, reset)

    def integrator(self, name: str, node, shape: tuple[int, ...]) -> tuple[ir.Integrator, np.ndarray]:
        """NIR I (``dv/dt = r I``) read by forward Euler: ``v += dt_s r x`` per step; the gain ``dt_s r`` (Norse: ``r``,
        as its IF) goes into the feeding Linear, as an LI's."""
        r = np.broadcast_to(self._array(name, node, "r"), shape)
        gain = r * (1.0 if self.convention == "norse" else self.dt_s)
        if np.any(gain <= 0):
            raise self.error(name, f"input gain dt*r must be > 0, got min {gain.min():g}")
        return ir.Integrator(shape), gain

    def conv1d(self, name: str, node, shape: tuple[int, ...]) -> ir.Conv1d:
        """NIR Conv1d on a ``(C, L)`` input; ``padding="valid"`` is 0, ``"same"`` the symmetric padding that keeps L
        (stride 1, an even ``dilation (K - 1)``), anything else an error."""
        if len(shape) != 2:
            raise self.error(name, f"expected a (C, L) input, got shape {shape}")
        w = self._array(name, node, "weight")
        if w.ndim != 3:
            raise self.error(name, f"weight: expected a 3-D (C_out, C_in / groups, K) array, got shape {w.shape}")
        stride, dilation, groups = (self._ints(name, getattr(node, f), f) for f in ("stride", "dilation", "groups"))
        if len(stride) != 1 or len(dilation) != 1 or len(groups) != 1:
            raise self.error(name, f"stride, dilation, groups: expected integers, got {node.stride!r}, "
                                   f"{node.dilation!r}, {node.groups!r}")
        padding, total = node.padding, dilation[0] * (w.shape[2] - 1)
        if isinstance(padding, str):
            if padding == "valid" or (padding == "same" and stride[0] == 1 and total % 2 == 0):
                padding = 0 if padding == "valid" else total // 2
            else:
                raise self.error(name, f"padding {padding!r}: only 'valid', or 'same' with stride 1 and an even "
                                       f"dilation * (K - 1) (symmetric zero padding), got stride {stride[0]}, "
                                       f"dilation * (K - 1) = {total}")
        (padding,) = self._ints(name, padding, "padding")
        b = self._array(name, node, "bias")
        if (getattr(node, "metadata", None) or {}).get("spikeforge_bias", 1) == 0 and not np.any(b):
            b = None
        return ir.Conv1d(w, b, shape[1], stride[0], padding, dilation[0], groups[0])

    def pool(self, name: str, node, shape: tuple[int, ...]) -> ir.Node:
        """NIR SumPool2d/AvgPool2d on a ``(C, H, W)`` input (an int kernel_size, stride or padding serves both axes)."""
        if len(shape) != 3:
            raise self.error(name, f"expected a (C, H, W) input, got shape {shape}")
        pairs = []
        for field in ("kernel_size", "stride", "padding"):
            v = self._ints(name, getattr(node, field), field)
            if len(v) not in (1, 2):
                raise self.error(name, f"{field}: expected an int or an (H, W) pair, got {getattr(node, field)!r}")
            pairs.append(v * (3 - len(v)) if len(v) == 1 else v)
        return getattr(ir, type(node).__name__)(shape, *pairs)

    # -- structure ----------------------------------------------------------------------------------------------------

    def preds(self, name: str) -> list[str]:
        return [s for s, t in self.edges if t == name]

    def succs(self, name: str) -> list[str]:
        return [t for s, t in self.edges if s == name]

    def _ints(self, name: str, value, field: str) -> tuple[int, ...]:
        a = np.atleast_1d(np.asarray(value))
        if a.dtype.kind not in "iuf" or np.any(a != np.round(a)):
            raise self.error(name, f"{field}: expected integers, got {value!r}")
        return tuple(int(v) for v in a)

    def expects(self, name: str) -> Optional[tuple[int, ...]]:
        """The unbatched input shape a node declares by its parameters (None where only its input tells)."""
        nir, v = self.nir, self.nodes[name]
        if isinstance(v, (nir.Linear, nir.Affine)):
            return (int(np.shape(v.weight)[1]),)
        if isinstance(v, nir.Delay):
            return tuple(np.shape(v.delay))
        if isinstance(v, (nir.LIF, nir.CubaLIF, nir.LI, nir.CubaLI)):
            return tuple(np.shape(v.tau if isinstance(v, (nir.LIF, nir.LI)) else v.tau_mem))
        if isinstance(v, nir.IF):
            return tuple(np.shape(v.v_threshold))
        if isinstance(v, (nir.I, nir.Scale, nir.Threshold)):
            field = {"I": "r", "Scale": "scale", "Threshold": "threshold"}[type(v).__name__]
            shape = tuple(np.shape(getattr(v, field)))
            return shape or None  # a scalar fits any input
        return None

    def input_shape(self, name: str) -> tuple[int, ...]:
        shape = self._ints(name, self.nodes[name].input_type["input"], "input_type")
        needs = {self.expects(t) for t in self.succs(name)} - {None}
        if len(shape) > 1 and shape[0] == 1 and needs == {shape[1:]}:
            warnings.warn(f"{self.where}: input {name!r} has the batched shape {shape}; read as {shape[1:]} (one "
                          "sample with a batch dimension, as snnTorch and Norse write it)", NIRConventionWarning,
                          stacklevel=5)
            shape = shape[1:]
        return shape

    def convert(self, name: str, shape: tuple[int, ...]):
        """``(IR node or None for an identity, input gain or None)`` for NIR node ``name`` fed ``shape``."""
        nir, v = self.nir, self.nodes[name]
        if isinstance(v, (nir.Linear, nir.Affine)):
            w = self._array(name, v, "weight")
            if w.ndim != 2:
                raise self.error(name, f"weight: expected a 2-D (out, in) array, got shape {w.shape}")
            b = self._array(name, v, "bias") if isinstance(v, nir.Affine) else None
            return ir.Linear(w, b), None
        if isinstance(v, nir.Conv1d):
            return self.conv1d(name, v, shape), None
        if isinstance(v, nir.Conv2d):
            if len(shape) != 3:
                raise self.error(name, f"expected a (C, H, W) input, got shape {shape}")
            b = self._array(name, v, "bias")
            if (getattr(v, "metadata", None) or {}).get("spikeforge_bias", 1) == 0 and not np.any(b):
                b = None
            return ir.Conv2d(self._array(name, v, "weight"), b, shape[1:], self._ints(name, v.stride, "stride"),
                             self._ints(name, v.padding, "padding"), self._ints(name, v.dilation, "dilation"),
                             self._ints(name, v.groups, "groups")[0]), None
        if isinstance(v, nir.Flatten):
            declared = self._ints(name, v.input_type["input"], "input_type") if v.input_type.get("input") is not None \
                else shape
            start, end = int(v.start_dim), int(v.end_dim)
            if len(declared) == len(shape) + 1 or (start == 1 and len(shape) > 1 and declared == shape):
                start, end = start - 1, (end - 1 if end >= 0 else end)  # counts a batch dimension (snnTorch, Norse)
            if start != 0 or end not in (-1, len(shape) - 1):
                raise self.error(name, f"start_dim={v.start_dim}, end_dim={v.end_dim} on input {declared}: only a "
                                       "flatten of every feature dimension is supported")
            return ir.Flatten(shape), None
        if isinstance(v, (nir.LIF, nir.CubaLIF, nir.LI, nir.CubaLI)):
            return self.neuron(name, v)
        if isinstance(v, nir.I):
            return self.integrator(name, v, shape)
        if isinstance(v, nir.Threshold):
            return ir.Threshold(np.broadcast_to(self._array(name, v, "threshold"), shape)), None
        if isinstance(v, nir.IF):
            return self.integrate_and_fire(name, v), None
        if isinstance(v, (nir.SumPool2d, nir.AvgPool2d)):
            return self.pool(name, v, shape), None
        if isinstance(v, nir.Delay):
            steps = self._array(name, v, "delay") / self.dt_s
            if steps.ndim != 1 or np.any(steps < 0) or not np.allclose(steps, np.round(steps), rtol=0, atol=1e-6):
                raise self.error(name, f"delay: expected a 1-D array of non-negative whole multiples of dt = "
                                       f"{self.dt_s:g} s, got {v.delay!r} s")
            n = steps.shape[0]
            return ir.DelayLinear(np.eye(n), np.broadcast_to(np.round(steps), (n, n))), None
        if isinstance(v, nir.Scale):  # all ones: an identity (our delay-branch sum), unless our file marks a node
            s = self._array(name, v, "scale")
            if np.all(s == 1) and (getattr(v, "metadata", None) or {}).get("spikeforge_node") != "Scale":
                return None, None
            return ir.Scale(np.broadcast_to(s, shape)), None
        raise self.error(name, "unsupported")

    def order(self, start: str) -> list[str]:
        indeg = {n: len(self.preds(n)) for n in self.nodes if n not in self.loops}
        ready, order = [start], []
        while ready:
            n = ready.pop(0)
            order.append(n)
            for t in self.succs(n):
                indeg[t] -= 1
                if indeg[t] == 0:
                    ready.append(t)
        left = sorted(set(indeg) - set(order))
        if left:
            raise NIRError(f"{self.where}: nodes {left} are not reachable from the input or lie on a cycle that is "
                           "not a recurrent LIF/CubaLIF/IF -> Linear/Affine -> same neuron loop")
        return order

    def graph(self) -> ir.Graph:
        nir = self.nir
        for name, v in self.nodes.items():
            if type(v).__name__ not in _READABLE:
                raise self.error(name, f"NIR node type {type(v).__name__} is not supported by spikeforge; supported: "
                                       f"{', '.join(_READABLE)}")
        ins = [n for n, v in self.nodes.items() if isinstance(v, nir.Input)]
        outs = [n for n, v in self.nodes.items() if isinstance(v, nir.Output)]
        if len(ins) != 1 or len(outs) != 1:
            raise NIRError(f"{self.where}: expected one Input and one Output node, got inputs {ins}, outputs {outs}")
        recurrent = {}
        for w, v in self.nodes.items():
            p = self.preds(w)
            if isinstance(v, (nir.Linear, nir.Affine)) and len(p) == 1 and p == self.succs(w) \
                    and isinstance(self.nodes[p[0]], (nir.LIF, nir.CubaLIF, nir.IF)):
                recurrent[p[0]] = w
        self.edges = [e for e in self.edges if e not in set(recurrent.items()) | {(w, n) for n, w in recurrent.items()}]
        self.loops = set(recurrent.values())
        order = self.order(ins[0])
        shapes = {ins[0]: self.input_shape(ins[0])}
        nodes, gains, rename, alias = {}, {}, {}, {ins[0]: ir.INPUT, outs[0]: ir.OUTPUT}
        for name in order[1:]:
            srcs = self.preds(name)
            got = {shapes[s] for s in srcs}
            if len(got) != 1:
                raise self.error(name, f"its inputs {srcs} give different shapes {sorted(got)}")
            (shape,) = got
            if name == outs[0]:
                continue
            need = self.expects(name)
            if need is not None and need != shape:
                raise self.error(name, f"expects input shape {need}, but {srcs} give{'s' if len(srcs) == 1 else ''} "
                                       f"{shape}: the shapes do not chain")
            try:
                node, gains[name] = self.convert(name, shape)
            except ValueError as e:
                if isinstance(e, NIRError):
                    raise
                raise self.error(name, str(e)) from None
            if node is None:
                alias[name], shapes[name] = None, shape
                continue
            rename[name] = f"{name}_node" if name in (ir.INPUT, ir.OUTPUT) else name
            nodes[rename[name]] = node
            shapes[name] = tuple(node.output_shape)
        for name in list(alias):
            if alias[name] is None:  # identities: connect their inputs straight to their outputs
                self.edges = [e for e in self.edges if name not in e] + [
                    (s, t) for s in self.preds(name) for t in self.succs(name)]
                del alias[name]
        edges = [(alias.get(s, rename.get(s, s)), alias.get(t, rename.get(t, t))) for s, t in self.edges]
        for name, w in recurrent.items():
            self.fold_recurrent(nodes, edges, rename.get(name, name), w)
        for name, gain in gains.items():
            if gain is not None:
                self.fold_gain(nodes, edges, rename.get(name, name), gain)
        _fuse_delays(nodes, edges)
        meta = {"nir_convention": self.convention, "nir_dt_s": self.dt_s}
        try:
            return ir.Graph(nodes, edges, shapes[ins[0]], self.dt_ms, meta)
        except ValueError as e:
            raise NIRError(f"{self.where}: {e}") from None

    def fold_recurrent(self, nodes: dict, edges: list, name: str, w_name: str) -> None:
        """The cycle ``name -> w_name -> name`` becomes ``name``'s recurrent weight; an Affine's bias moves onto the
        one weight node that feeds ``name`` (added every step, t = 0 included, as the cycle's bias is)."""
        v = self.nodes[w_name]
        w = self._array(w_name, v, "weight")
        node = nodes[name]
        try:
            nodes[name] = dataclasses.replace(node, recurrent_weight=w)
        except ValueError as e:
            raise self.error(w_name, f"recurrent weight of {name!r}: {e}") from None
        bias = self._array(w_name, v, "bias") if isinstance(v, self.nir.Affine) else None
        if bias is None or not np.any(bias):
            return
        feed = [s for s, t in edges if t == name]
        target = nodes.get(feed[0]) if len(feed) == 1 else None
        if not isinstance(target, (ir.Linear, ir.DelayLinear)) or [t for s, t in edges if s == feed[0]] != [name]:
            raise self.error(w_name, f"a recurrent bias needs one Linear/Affine feeding {name!r} alone to carry it, "
                                     f"found inputs {feed}")
        target.bias = (target.bias if target.bias is not None else 0) + bias.astype(np.float32)

    def fold_gain(self, nodes: dict, edges: list, name: str, gain: np.ndarray) -> None:
        """A readout's (LI, CubaLI, I) input gain ``g`` != 1 scales the rows of the one Linear feeding it (its output is
        ``v``); with no such Linear, a :class:`snn.ir.Scale` node ``<name>_gain`` before the readout carries it."""
        if np.allclose(gain, 1.0, rtol=1e-6, atol=0):
            return
        feed = [s for s, t in edges if t == name]
        target = nodes.get(feed[0]) if len(feed) == 1 else None
        if not isinstance(target, (ir.Linear, ir.DelayLinear)) or [t for s, t in edges if s == feed[0]] != [name]:
            scale = f"{name}_gain"
            if scale in nodes or scale in (ir.INPUT, ir.OUTPUT):
                raise self.error(name, f"input gain != 1 needs a Scale node {scale!r}, a name the graph already uses")
            nodes[scale] = ir.Scale(gain)
            edges[:] = [(s, scale if t == name else t) for s, t in edges] + [(scale, name)]
            return
        target.weight = (target.weight * gain[:, None]).astype(np.float32)
        if target.bias is not None:
            target.bias = (target.bias * gain).astype(np.float32)


def _fuse_delays(nodes: dict, edges: list) -> None:
    """Delay -> Linear pairs become one DelayLinear; parallel DelayLinears with disjoint synapses (our per-delay
    branches) merge into one. Edits ``nodes`` and ``edges`` in place."""

    def preds(n):
        return [s for s, t in edges if t == n]

    def succs(n):
        return [t for s, t in edges if s == n]

    def replace(old: list[str], new: str) -> None:
        edges[:] = list(dict.fromkeys((new if s in old else s, new if t in old else t) for s, t in edges
                                      if not (s in old and t in old)))

    for name in list(nodes):
        d = nodes.get(name)
        nxt = succs(name)
        if isinstance(d, ir.DelayLinear) and len(nxt) == 1 and preds(nxt[0]) == [name] \
                and isinstance(nodes.get(nxt[0]), ir.Linear) and np.array_equal(d.weight, np.eye(len(d.weight))):
            lin = nodes[nxt[0]]
            nodes[nxt[0]] = ir.DelayLinear(lin.weight, np.broadcast_to(d.delay[0], lin.weight.shape), lin.bias)
            del nodes[name]
            replace([name, nxt[0]], nxt[0])
    groups: dict[tuple, list[str]] = {}
    for name, node in nodes.items():
        if isinstance(node, ir.DelayLinear):
            groups.setdefault((tuple(sorted(preds(name))), tuple(sorted(succs(name)))), []).append(name)
    for members in (m for m in groups.values() if len(m) > 1):
        parts = [nodes[m] for m in members]
        if len({p.weight.shape for p in parts}) != 1 or np.any(sum((p.weight != 0).astype(int) for p in parts) > 1):
            continue  # overlapping synapses: leave the branches as parallel nodes (the graph sums them)
        weight = sum(p.weight for p in parts)
        delay = sum(np.where(p.weight != 0, p.delay, 0) for p in parts)
        biases = [p.bias for p in parts if p.bias is not None]
        bases = {re.sub(r"_d\d+$", "", m) for m in members}
        new = bases.pop() if len(bases) == 1 and not (bases & set(nodes) - set(members)) else members[0]
        for m in members:
            del nodes[m]
        nodes[new] = ir.DelayLinear(weight, delay, sum(biases) if biases else None)
        replace(members, new)


def from_nir(graph, *, dt: Optional[float] = None, convention: Optional[str] = None, where: str = "import_nir"):
    """The IR graph of a ``nir.NIRGraph``.

    Args:
        graph: the NIR graph (type-checked by ``nir``).
        dt: the step (seconds) to read the file at by forward Euler; overrides the file's metadata ``dt`` and the
            convention's step. The IR's ``dt`` is ``1000 * dt`` ms.
        convention: ``"spikeforge"`` (metadata ``dt``), ``"snntorch"`` (dt = 1e-4 s) or ``"norse"`` (dt = 1e-6 s,
            what Norse 1.1.0's ``tau = 1e-3 / tau_inv`` means); needed only when the file does not say.
        where: the name errors and warnings give the graph (e.g. its file).

    Raises :class:`NIRError` naming the node for unsupported node types, missing parameters, shapes that do not
    chain and parameters our nodes cannot express; warns (:class:`NIRConventionWarning`) which convention it applied.
    """
    nir = _nir()
    if not isinstance(graph, nir.NIRGraph):
        raise NIRError(f"{where}: expected a nir.NIRGraph, got {type(graph).__name__}")
    return _Importer(graph, dt, convention, where).graph()
