"""``snn export --target lava|nir`` and ``snn run --backend lava|lava-fixed|loihi`` (nir: :mod:`snn.nir_cli`)."""

from __future__ import annotations

import argparse
import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

BACKENDS = ("lava", "lava-fixed", "loihi")


@dataclass
class Source:
    """A model to run: its IR ``graph``, the prediction rule ``loss_kind`` and the ``data`` config (checkpoints)."""

    graph: object
    loss_kind: str = "sum"
    data: Optional[object] = None


def load_source(path: str | Path) -> Source:
    """An IR file (``snn.ir.save`` output, with the data options and prediction rule it records, see
    :mod:`snn.train.model_file`), a NIR file (``.nir``), a checkpoint file or a training run folder."""
    from ... import ir
    from ...train import model_file

    p = Path(path)
    if not p.exists():
        raise ValueError(f"model: {str(p)!r} does not exist (expected an IR .h5 file, a checkpoint or a run folder)")
    if p.is_file() and p.suffix == ".nir":  # a NIR file records no dataset or prediction rule: --data, sum rule
        from ...nir_io import import_nir

        return Source(import_nir(p).graph)
    if p.is_file() and p.suffix == ".h5":
        graph = ir.load(p)
        return Source(graph, model_file.trained_loss_kind(graph, str(p)), model_file.trained_data(graph, str(p)))
    from ...train.checkpoint import load_model
    from ...train.data import load_split

    model, cfg = load_model(p)
    shape = tuple(load_split(cfg.data, "test").feature_shape)
    return Source(model_file.lower_trained(model, cfg, shape), cfg.loss.kind, cfg.data)


def _check_out(out: Path, overwrite: bool) -> None:
    """Refuses an ``--out`` the export would refuse, naming the command-line flag, before any slow work."""
    if out.exists() and not out.is_dir():
        raise ValueError(f"snn export: --out {out} is a file; expected a directory (new, empty, or replaced with "
                         f"--overwrite)")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise ValueError(f"snn export: --out {out} exists and is not an empty directory; pass --overwrite to "
                         f"replace it")


def _cmd_export(args) -> int:
    from ... import nir_cli

    if args.target == "nir":  # the NIR target lives in snn/nir_cli.py
        return nir_cli.export_command(args)
    nir_cli.refuse(args, nir_cli.NIR_ONLY, "lava")
    from .backend import prepare
    from .netx import export
    from .quantize import QuantConfig

    _check_out(Path(args.out), args.overwrite)
    src = load_source(args.model)
    ext = args.spikeforge_extensions
    net = prepare(src.graph, "fixed_pt", QuantConfig(vth_bits=args.vth_bits, lossy=args.lossy, netx=not ext))
    out = export(net, args.out, source=args.model, overwrite=args.overwrite, extensions=ext)
    print(f"exported {len(net.layers)} layers ({', '.join(la.name for la in net.layers)}) to {out} "
          f"(netx HDF5 + manifest.json; Lava latency {net.latency} steps; "
          f"{'spikeforge extensions: readable by spikeforge only' if ext else 'loads in lava-dl netx'})")
    return 0


def _dataset(src: Source, name: Optional[str], split: str):
    """``split`` of dataset ``name`` (default: the model's own), binned with the frame options the model was trained
    with (the dataset's defaults when the model records none); its frames must have the model's input shape."""
    from ...train.config import DataConfig
    from ...train.data import load_split

    if src.data is None and not name:
        raise ValueError("snn run: --data: expected a dataset name (the model file does not record the dataset it "
                         "was trained on)")
    data = src.data or DataConfig(name=name)
    if name:
        data = dataclasses.replace(data, name=name)
    ds = load_split(data, split)
    if tuple(ds.feature_shape) != tuple(src.graph.input_shape):
        options = f"the frame options {data.frames} the model was trained with" if src.data else \
            "the dataset's default frame options (the model file does not record the options it was trained with)"
        raise ValueError(f"snn run: {data.name} {split} frames have shape {tuple(ds.feature_shape)} with {options}, "
                         f"but the model expects input shape {tuple(src.graph.input_shape)}")
    return ds


def run_on_dataset(graph, dataset, backend: str, n: int, batch: int, loss_kind: str = "sum",
                   seed: int = 0, progress: bool = True) -> dict:
    """Runs ``n`` samples (a seeded random subset) on ``backend`` and on torch; accuracy, agreement, timing."""
    from ..._progress import bar as tqdm

    from ... import backends
    from ...datasets import pad_collate
    from ...train.losses import predict

    if n < 1 or batch < 1:
        raise ValueError(f"snn run: expected -n >= 1 and --batch >= 1, got {n} and {batch}")
    idx = np.random.default_rng(seed).permutation(len(dataset))[:n]
    model, ref = backends.get(backend).build(graph), backends.get("torch").build(graph)
    hits = ref_hits = agree = 0
    seconds = 0.0
    for start in tqdm(range(0, len(idx), batch), desc=f"run on {backend}", unit="batch", disable=not progress):
        x, y, lengths = pad_collate([dataset[int(i)] for i in idx[start:start + batch]])
        t0 = time.perf_counter()
        out = model(x)
        seconds += time.perf_counter() - t0
        pred, ref_pred = predict(out, loss_kind, lengths), predict(ref(x), loss_kind, lengths)
        hits += int((pred == y).sum())
        ref_hits += int((ref_pred == y).sum())
        agree += int((pred == ref_pred).sum())
    if hasattr(model, "warn_overflow"):  # integer backends: warns naming each layer whose u wrapped / v saturated
        model.warn_overflow()
    m = len(idx)
    return {"backend": backend, "samples": m, "accuracy": hits / m, "torch_accuracy": ref_hits / m,
            "agreement": agree / m, "seconds_per_sample": seconds / m}


def _cmd_run(args) -> int:
    src = load_source(args.model)
    ds = _dataset(src, args.data, args.split)
    r = run_on_dataset(src.graph, ds, args.backend, args.n, args.batch, src.loss_kind, args.seed, not args.quiet)
    print(f"{args.backend}: accuracy {100 * r['accuracy']:.2f}% on {r['samples']} samples "
          f"(torch {100 * r['torch_accuracy']:.2f}%); prediction agreement with torch {100 * r['agreement']:.2f}%; "
          f"{1e3 * r['seconds_per_sample']:.1f} ms per sample")
    return 0


def register(sub) -> None:
    from ... import nir_cli

    p = sub.add_parser(
        "export", help="write a model for Loihi 2 (lava-dl netx HDF5 + manifest.json) or as a NIR graph",
        description="--target lava (default): quantises MODEL to Loihi 2 integers (8-bit weights at exponent 0 as "
                    "lava-dl netx runs them, 12-bit decays, 17-bit threshold) and writes OUT/network.net (lava-dl "
                    "netx HDF5) and OUT/manifest.json; the directory appears atomically; layers that do not fit "
                    "Loihi's ranges are named in the error. --target nir: writes the model as a NIR graph to the "
                    "file OUT (docs/nir.md).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("model", help="IR file (.h5 from snn.ir.save), checkpoint (.pt) or training run folder")
    p.add_argument("--target", choices=["lava", "nir"], default="lava", help="export format")
    p.add_argument("--out", required=True, help="output directory (created; must be empty unless --overwrite); "
                                                "for --target nir, the .nir file")
    p.add_argument("--vth-bits", type=int, default=12, help="scale each layer so its threshold is <= 2**BITS")
    p.add_argument("--overwrite", action="store_true", help="replace an existing export directory")
    p.add_argument("--spikeforge-extensions", action="store_true",
                   help="allow what lava-dl netx cannot express (subtract reset, delay 63, weight exponents): "
                        "the file is then readable by spikeforge only")
    p.add_argument("--lossy", action="store_true", help="export even when quantisation loses more than 5%% on a "
                                                        "threshold, weight matrix or time constant (warns)")
    nir_cli.add_arguments(p)
    p.set_defaults(func=_cmd_export)

    p = sub.add_parser(
        "run", help="run a saved model on Lava (float or fixed point) or the Loihi integer simulator",
        description="Runs N samples of a dataset through MODEL on BACKEND and through the torch backend; prints the "
                    "accuracy, the prediction agreement with torch and the time per sample. lava and lava-fixed run "
                    "lava-nc's Loihi2SimCfg on CPU (seconds per batch); loihi is the bit-exact integer simulator.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("model", help="IR file (.h5), NIR file (.nir; needs --data), checkpoint (.pt) or training run "
                                 "folder")
    p.add_argument("--backend", choices=BACKENDS, default="lava-fixed", help="where to run")
    p.add_argument("--data", help="dataset name (default: the one the model was trained on); its frames are binned "
                                  "with the options the model was trained with")
    p.add_argument("--split", default="test", help="dataset split")
    p.add_argument("-n", type=int, default=32, help="number of samples (a seeded random subset)")
    p.add_argument("--batch", type=int, default=16, help="samples per Lava run (preloaded into the source)")
    p.add_argument("--seed", type=int, default=0, help="seed of the sample subset")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_run)
