"""What a trained network does, seen from its IR: spike rasters, membrane traces and firing-rate histograms.

:func:`record_activity` runs an :class:`snn.ir.Graph` on the torch backend with ``record=True`` (every node's output)
and re-runs each neuron node's trace kernel (:data:`snn.backends.torch.TRACE_KERNELS`) on its recorded input for the
membrane potential, so it works for any model that lowers. :func:`plot_activity` draws three PNGs from that record
and returns the arrays it drew; :func:`plot_run` does both for a run folder and a dataset split (``snn plot``,
``snn eval --plots``).

Units: time in steps of the frames' ``dt`` (ms, shown on the axes), membrane potential in the layer's own units (the
threshold line is drawn), firing rate in spikes per neuron per step (0..1).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import torch

from .. import _io, ir

PLOTS = ("raster", "membrane", "rates")


@dataclass
class Activity:
    """The recorded activity of one batch.

    ``spikes``: spiking layer -> ``(T, N)`` 0/1 of the shown sample (features flattened, its own length);
    ``membrane``: neuron layer -> ``(T, k)`` membrane (before reset) of the chosen neurons ``neurons[layer]``;
    ``threshold``: spiking layer -> the chosen neurons' thresholds; ``rates``: spiking layer -> ``(N,)`` spikes per
    step of each neuron averaged over the batch's valid steps; ``dt``: ms per step; ``layer_types``: IR type names.
    """

    spikes: dict[str, np.ndarray] = field(default_factory=dict)
    membrane: dict[str, np.ndarray] = field(default_factory=dict)
    neurons: dict[str, list[int]] = field(default_factory=dict)
    threshold: dict[str, np.ndarray] = field(default_factory=dict)
    rates: dict[str, np.ndarray] = field(default_factory=dict)
    dt: float = 1.0
    layer_types: dict[str, str] = field(default_factory=dict)


def record_activity(graph: ir.Graph, x: torch.Tensor, lengths: Optional[Sequence[int]] = None, *, sample: int = 0,
                    neurons: Optional[Sequence[int]] = None, top: int = 3) -> Activity:
    """Runs ``graph`` on ``x`` ``(T, B, *input_shape)`` (valid steps per sample: ``lengths``, default all T).

    ``sample``: the batch index shown in rasters and traces; ``neurons``: flattened indices traced in every neuron
    layer (default: the ``top`` most active neurons of the sample in spiking layers, every output up to 10 in
    non-spiking ones). A ValueError naming the index when ``sample`` or a neuron index is out of range.
    """
    from ..backends.torch import TRACE_KERNELS, build

    T, B = x.shape[:2]
    lengths = torch.full((B,), T) if lengths is None else torch.as_tensor(lengths)
    if not 0 <= sample < B:
        raise ValueError(f"record_activity: sample: expected an index in 0..{B - 1}, got {sample}")
    result = build(graph).run(x, record=True)
    valid = (torch.arange(T)[:, None] < lengths[None, :]).float()  # (T, B)
    act = Activity(dt=float(next((n.dt for n in graph.nodes.values() if hasattr(n, "dt")), 1.0)))
    steps = int(lengths[sample])
    for name in graph.topological_order():
        node = graph.nodes[name]
        if type(node) not in TRACE_KERNELS:
            continue
        kernel, spiking = TRACE_KERNELS[type(node)]
        inp = sum(result.records[s] if s != ir.INPUT else x for s in graph.predecessors(name))
        _, v = kernel(node, inp)
        out = result.records[name].flatten(2)
        v = v.flatten(2)
        width = out.shape[-1]
        act.layer_types[name] = type(node).__name__
        if spiking:
            act.spikes[name] = out[:steps, sample].numpy()
            per_neuron = (out * valid[..., None]).sum((0, 1)) / valid.sum()
            act.rates[name] = per_neuron.numpy()
        if neurons is not None:
            chosen = [int(i) for i in neurons]
            bad = [i for i in chosen if not 0 <= i < width]
            if bad:
                raise ValueError(f"record_activity: neurons {bad} out of range for layer {name!r} of {width} neurons")
        elif spiking:
            counts = out[:steps, sample].sum(0)
            chosen = sorted(torch.argsort(counts, descending=True, stable=True)[:top].tolist())
        else:
            chosen = list(range(min(width, 10)))
        act.neurons[name] = chosen
        act.membrane[name] = v[:steps, sample, chosen].numpy()
        if spiking:
            act.threshold[name] = np.broadcast_to(np.asarray(node.threshold, dtype=float).reshape(-1),
                                                  (width,))[chosen]
    return act


def _pyplot():
    from .plots import _pyplot

    return _pyplot()


def _save(fig, path: Path) -> None:
    with _io.atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=110)


def plot_activity(act: Activity, folder: str | Path, prefix: str = "activity", title: str = "") -> dict:
    """Writes ``<prefix>-raster.png``, ``<prefix>-membrane.png`` and ``<prefix>-rates.png`` into ``folder``.

    Returns ``{"paths": {kind: Path}, "raster": {layer: (steps, neurons)}, "membrane": {layer: (T, k)},
    "rates": {layer: (N,)}}``: the data read back from the drawn artists (what the pictures show).
    """
    plt = _pyplot()
    folder = Path(folder)
    layers = list(act.spikes)
    if not layers:
        raise ValueError(f"plot_activity: the network has no spiking layer to plot (neuron layers: "
                         f"{act.layer_types or 'none'})")
    paths, drawn = {}, {"raster": {}, "membrane": {}, "rates": {}}
    suffix = f" — {title}" if title else ""

    fig, axes = plt.subplots(len(layers), 1, figsize=(8, 1.2 + 1.8 * len(layers)), squeeze=False, sharex=True)
    for ax, name in zip(axes[:, 0], layers):
        t, n = np.nonzero(act.spikes[name])
        size = float(np.clip(600 / act.spikes[name].shape[1], 2, 40))  # marks as tall as a row allows
        dots = ax.scatter(t * act.dt, n, s=size, marker="|", color="black", linewidths=0.8)
        ax.yaxis.get_major_locator().set_params(integer=True)
        ax.set(ylabel=f"{name}\nneuron", ylim=(-0.5, act.spikes[name].shape[1] - 0.5))
        ax.set_title(f"{name} ({act.layer_types[name]}): {int(act.spikes[name].sum())} spikes", fontsize=9)
        xy = np.asarray(dots.get_offsets())
        drawn["raster"][name] = (np.rint(xy[:, 0] / act.dt).astype(int), xy[:, 1].astype(int))
    axes[-1, 0].set_xlabel("time (ms)")
    fig.suptitle(f"spike raster of one sample{suffix}", fontsize=10)
    fig.tight_layout()
    paths["raster"] = folder / f"{prefix}-raster.png"
    _save(fig, paths["raster"])
    plt.close(fig)

    traced = list(act.membrane)
    fig, axes = plt.subplots(len(traced), 1, figsize=(8, 1.2 + 1.8 * len(traced)), squeeze=False, sharex=True)
    for ax, name in zip(axes[:, 0], traced):
        v = act.membrane[name]
        steps = np.arange(v.shape[0]) * act.dt
        lines = [ax.plot(steps, v[:, j], lw=0.9, label=f"#{i}")[0] for j, i in enumerate(act.neurons[name])]
        if name in act.threshold:
            for theta in np.unique(act.threshold[name]):
                ax.axhline(theta, color="grey", ls="--", lw=0.7)
        ax.set(ylabel="membrane")
        ax.set_title(f"{name} ({act.layer_types[name]})" + (": threshold dashed" if name in act.threshold else ""),
                     fontsize=9)
        ax.legend(fontsize=7, loc="upper right", ncol=min(5, len(lines)))
        drawn["membrane"][name] = np.stack([ln.get_ydata() for ln in lines], axis=1) if lines else v
    axes[-1, 0].set_xlabel("time (ms)")
    fig.suptitle(f"membrane potential (before reset) of chosen neurons{suffix}", fontsize=10)
    fig.tight_layout()
    paths["membrane"] = folder / f"{prefix}-membrane.png"
    _save(fig, paths["membrane"])
    plt.close(fig)

    fig, axes = plt.subplots(1, len(layers), figsize=(1.5 + 3.2 * len(layers), 3.2), squeeze=False)
    for ax, name in zip(axes[0], layers):
        rates = act.rates[name]
        ax.hist(rates, bins=np.linspace(0, max(float(rates.max()), 1e-3), 21), color="tab:blue")
        ax.set(xlabel="spikes per neuron per step", ylabel="neurons")
        ax.set_title(f"{name}: mean {rates.mean():.3f}, silent {int((rates == 0).sum())}/{rates.size}", fontsize=9)
        drawn["rates"][name] = rates
    fig.suptitle(f"firing rates{suffix}", fontsize=10)
    fig.tight_layout()
    paths["rates"] = folder / f"{prefix}-rates.png"
    _save(fig, paths["rates"])
    plt.close(fig)
    return {"paths": paths, **drawn}


def plot_run(run: str | Path, split: str = "test", *, samples: int = 32, sample: int = 0,
             neurons: Optional[Sequence[int]] = None, out: str | Path | None = None, data_overrides=()) -> dict:
    """Loads the best checkpoint of ``run`` (a run folder or checkpoint file), lowers it, runs the first ``samples``
    of ``split`` on the torch backend and plots them (:func:`plot_activity`) into ``out`` (default: the run folder)
    as ``activity-<split>-*.png``. Returns :func:`plot_activity`'s dict plus ``"activity"``."""
    from ..datasets import pad_collate
    from .checkpoint import load_model, resolve
    from .config import apply_overrides, from_dict
    from .data import load_split
    from .model_file import lower_trained

    path = resolve(run)
    model, cfg = load_model(path)
    cfg = from_dict(apply_overrides(cfg.to_dict(), list(data_overrides)))
    dataset = load_split(cfg.data, split)
    if samples < 1 or not 0 <= sample < min(samples, len(dataset)):
        raise ValueError(f"plot: expected samples >= 1 and sample in 0..{min(samples, len(dataset)) - 1}, got "
                         f"samples={samples}, sample={sample}")
    x, y, lengths = pad_collate([dataset[i] for i in range(min(samples, len(dataset)))])
    graph = lower_trained(model.eval(), cfg, dataset.feature_shape)
    act = record_activity(graph, x, lengths, sample=sample, neurons=neurons)
    folder = Path(out) if out is not None else (path.parent.parent if path.parent.name == "checkpoints" else
                                                path.parent)
    drawn = plot_activity(act, folder, prefix=f"activity-{split}",
                          title=f"{cfg.data.name} {split} sample {sample} (label {int(y[sample])})")
    return {**drawn, "activity": act}
