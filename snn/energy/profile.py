"""Profiling a model over dataset batches: counts, estimates per target, measurements, accuracy and provenance."""

from __future__ import annotations

import datetime
import hashlib
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional

import numpy as np

from .. import __version__, ir
from .counting import Accumulator, Counts
from .measure import Meter
from .targets import Estimate, Target, builtin, estimate

RASTER_LAYERS = 4  # spiking layers shown in the raster of one sample


@dataclass
class Profile:
    """Everything a report shows about one model: ``counts``, ``estimates`` per target, ``measured`` (JSON),
    ``accuracy`` (None without labels), ``raster`` (layer -> (T, neurons) spikes of the first sample) and
    ``provenance``."""

    label: str
    counts: Counts
    estimates: list[Estimate]
    measured: dict
    provenance: dict
    accuracy: Optional[float] = None
    raster: dict[str, np.ndarray] = field(default_factory=dict)


def graph_hash(graph: ir.Graph) -> str:
    """sha256 of the graph's node types, names and arrays (in topological order)."""
    h = hashlib.sha256()
    for name in graph.topological_order():
        node = graph.nodes[name]
        h.update(f"{name}:{type(node).__name__}".encode())
        for key, value in sorted(vars(node).items()):
            if isinstance(value, np.ndarray):
                h.update(key.encode() + np.ascontiguousarray(value).tobytes())
    return h.hexdigest()


def git_revision() -> str:
    """The git commit of the spikeforge source tree, or why it is unknown."""
    root = Path(__file__).resolve().parents[2]
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                             timeout=10)
    except (OSError, subprocess.SubprocessError) as e:
        return f"unknown ({type(e).__name__})"
    return out.stdout.strip() if out.returncode == 0 else "unknown (not a git checkout)"


def torch_runner(graph: ir.Graph, device: str = "cpu"):
    """``run(x) -> (output, records)`` on the torch backend, recording every node's output."""
    from ..backends.torch import build

    sim = build(graph, device)

    def run(x):
        res = sim.run(x, record=True)
        return res.output, res.records

    return run


def loihi_runner(graph):
    """``run(x) -> (output, records)`` on the ``loihi`` integer simulator (bit-exact with Lava fixed point).

    Each neuron layer's record is the simulator's own output (spikes; a readout's ``v`` divided by the output scale
    as the backend returns it). The nodes Lava fuses into a layer's synapse stage (Flatten, Linear, Conv2d,
    DelayLinear) are recomputed with the IR's float weights from the simulator's spikes: their operation counts use
    the float weights' zero pattern (quantisation may round more weights to zero on the chip).
    """
    from ..backends.lava import intsim
    from ..backends.lava.backend import prepare
    from ..backends.torch.simulator import NODE_KERNELS

    net = prepare(graph, "fixed_pt")
    layers = {la.name: la for la in net.layers}

    def run(x):
        res = intsim.simulate(net, x, record=True)
        values = {ir.INPUT: x.float()}
        for name in graph.topological_order():
            node = graph.nodes[name]
            (src,) = graph.predecessors(name)
            if name in layers:
                out = res.records[name]["s"].float()
                if not isinstance(node, ir.LIF):
                    out = out / net.out_scale
                values[name] = out.reshape(*out.shape[:2], *node.output_shape)
            else:
                values[name] = NODE_KERNELS[type(node)](node, values[src])
        (last,) = graph.predecessors(ir.OUTPUT)
        return values[last], {k: v for k, v in values.items() if k != ir.INPUT}

    return run


def profile(graph: ir.Graph, batches: Iterable, *, label: str, provenance: dict, loss_kind: str = "sum",
            targets: list[Target] | None = None, run=None, device: str = "cpu", progress=None) -> Profile:
    """Counts ``graph`` over ``batches`` of ``(x (T, B, *in), labels (B,) or None, lengths (B,) or None)``.

    ``run(x) -> (output, records)`` defaults to :func:`torch_runner`; ``progress`` wraps the batch iterable (a bar).
    Accuracy uses the training prediction rule ``loss_kind``.
    """
    from ..train.losses import predict

    run = run or torch_runner(graph, device)
    acc, meter = Accumulator(graph), Meter()
    hits = labelled = 0
    raster: dict[str, np.ndarray] = {}
    for x, y, lengths in (progress(batches) if progress else batches):
        out, records = meter.measure(run, x)
        acc.add(x.to(out.device, out.dtype), records)
        if not raster:
            spiking = [n for n in acc.order if isinstance(graph.nodes[n], ir.LIF)][:RASTER_LAYERS]
            raster = {n: records[n][:, 0].flatten(1).cpu().numpy() for n in spiking}
        if y is not None:
            hits += int((predict(out.float().cpu(), loss_kind, lengths) == y).sum())
            labelled += len(y)
    counts = acc.result()
    targets = builtin() if targets is None else targets
    prov = {"framework": f"spikeforge {__version__}", "git_revision": git_revision(), "model_sha256": graph_hash(graph),
            "samples": counts.samples, "T": counts.steps, "dt_ms": graph.dt, "device": device,
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"), **provenance}
    return Profile(label, counts, [estimate(t, counts) for t in targets], meter.result(counts.samples, device), prov,
                   hits / labelled if labelled else None, raster)
