"""``snn profile``: counts, energy estimates per target and measurements of models over a dataset split, written
as a report (report.html, report.md, metrics.json, layers.csv)."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import numpy as np

BACKENDS = ("torch", "loihi")


def load_dataset(src, name: str | None, split: str, where: str):
    """``split`` of dataset ``name`` (default: the model's own) binned as the model was trained; its frames must
    have the model's input shape."""
    from ..train.config import DataConfig
    from ..train.data import load_split

    if src.data is None and not name:
        raise ValueError(f"snn profile: {where}: --dataset: expected a dataset name (the model does not record the "
                         f"dataset it was trained on)")
    data = src.data or DataConfig(name=name)
    if name:
        data = dataclasses.replace(data, name=name)
    ds = load_split(data, split)
    if len(ds) == 0:
        raise ValueError(f"snn profile: {data.name} split {split!r} is empty: nothing to count")
    if tuple(ds.feature_shape) != tuple(src.graph.input_shape):
        raise ValueError(f"snn profile: {where}: {data.name} {split} frames have shape {tuple(ds.feature_shape)} but "
                         f"the model expects input shape {tuple(src.graph.input_shape)}")
    return ds, data


def batches(dataset, n: int, batch: int, seed: int):
    """``n`` samples (a seeded random subset; all when ``n`` is 0) as ``(x, labels, lengths)`` batches."""
    from ..datasets import pad_collate

    idx = np.random.default_rng(seed).permutation(len(dataset))[:n or len(dataset)]
    return [pad_collate([dataset[int(i)] for i in idx[s:s + batch]]) for s in range(0, len(idx), batch)]


def provenance(model, data, split: str, backend: str) -> dict:
    """What a report names about its inputs: the model, dataset, split, input encoding and backend."""
    frames = ", ".join(f"{k}={v}" for k, v in sorted(data.frames.items())) or "dataset defaults"
    return {"model": str(model), "dataset": data.name, "split": split, "input_encoding": f"frames ({frames})",
            "backend": backend}


def profile_model(path: str, args, targets):
    from .._progress import bar
    from ..backends.lava.cli import load_source
    from .profile import loihi_runner, profile

    src = load_source(path)
    ds, data = load_dataset(src, args.dataset, args.split, path)
    prov = provenance(path, data, args.split, args.backend)
    progress = lambda it: bar(it, desc=f"profile {Path(path).name}", unit="batch", disable=args.quiet)  # noqa: E731
    run = loihi_runner(src.graph) if args.backend == "loihi" else None
    return profile(src.graph, batches(ds, args.n, args.batch, args.seed), label=Path(path).name, provenance=prov,
                   loss_kind=src.loss_kind, targets=targets, progress=progress, run=run)


def _cmd(args) -> int:
    from . import report, targets as tg

    if args.n < 0 or args.batch < 1:
        raise ValueError(f"snn profile: expected -n >= 0 and --batch >= 1, got {args.n} and {args.batch}")
    targets = [t for t in tg.builtin() if args.baseline == "ann" or not t.baseline]
    for path in args.targets or []:
        targets += tg.load_yaml(path)
    profiles = [profile_model(m, args, targets) for m in args.models]
    html = report.write(profiles, args.out)
    p = profiles[0]
    acc = "" if p.accuracy is None else f", accuracy {100 * p.accuracy:.2f}%"
    print(f"profiled {p.label} on {p.counts.samples} samples{acc}; report: {html} (also report.md, metrics.json, "
          f"layers.csv in {Path(args.out)})")
    for w in p.counts.warnings:
        print(f"warning: {w}", file=sys.stderr)
    return 0


def register(sub) -> None:
    p = sub.add_parser(
        "profile", help="activity, synaptic operations and estimated energy per target, as a report",
        description="Runs MODEL(s) over a dataset split on the torch backend, counts spikes, firing rates, "
                    "sparsity, Dense / effective MAC / effective AC synaptic operations and neuron updates per layer "
                    "and time step (NeuroBench definitions), estimates the energy per inference on published "
                    "targets (SPEC §7, each with its source) and writes OUT/report.html (self-contained), "
                    "report.md, metrics.json and layers.csv. Several models: one summary row each and an accuracy "
                    "against energy figure; the first is shown in detail.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("models", nargs="+", metavar="RUN_OR_MODEL", help="training run folder, checkpoint or IR .h5 file")
    p.add_argument("--dataset", help="dataset name (default: the one the model was trained on)")
    p.add_argument("--split", default="test", help="dataset split")
    p.add_argument("-n", type=int, default=256, help="samples (a seeded random subset; 0: the whole split)")
    p.add_argument("--batch", type=int, default=64, help="samples per batch")
    p.add_argument("--seed", type=int, default=0, help="seed of the sample subset")
    p.add_argument("--backend", choices=BACKENDS, default="torch", help="where the model runs while counting")
    p.add_argument("--baseline", choices=["ann", "none"], default="ann", help="show the equivalent ANN targets")
    p.add_argument("--targets", action="append", metavar="YAML", help="extra energy targets (repeatable)")
    p.add_argument("--out", required=True, help="report folder (created; files in it are replaced)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd)
