"""``snn train`` and ``snn eval``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from .. import _io

CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"  # package data: installed with snn, configs/ in a checkout
# Keys that may change when resuming a run; anything else would make the resumed run a different experiment.
RESUMABLE_KEYS = ("train.epochs", "train.quiet", "train.patience", "train.tensorboard", "train.device",
                  "data.root", "data.num_workers")
# The shorthand options of `snn train`: argparse dest -> config key.
SHORTHANDS = {"dataset": "data.name", "model": "model.type", "epochs": "train.epochs", "batch_size": "train.batch_size",
              "lr": "optim.lr", "seed": "seed", "name": "name", "out": "train.out_dir", "device": "train.device"}

TRAIN_EPILOG = """examples:
  snn train                                   # the default: configs/ndigits.yaml
  snn train --dataset shd --model lif         # configs/shd_lif.yaml
  snn train --config configs/ndigits.yaml optim.lr=2e-3 model.hidden=[256,128] train.epochs=5
  snn train --resume runs/ndigits-lif-20250101-120000
  snn train --dataset ndigits --model conv --print-config   # the resolved config, every default; trains nothing
  torchrun --nproc_per_node=2 -m snn train --config configs/ndigits.yaml   # DDP, gloo on CPU

Any config key can be set as KEY=VALUE after the options, or with --set KEY=VALUE anywhere (values are YAML).
A run writes runs/<name>-<timestamp>/ with config.yaml, log.jsonl (one JSON object per epoch), checkpoints/last.pt
and best.pt, curves.png, and test results; run.lock while it runs (a second writer is refused).
--resume may change only --epochs, --device, --quiet and the keys train.epochs/quiet/patience/tensorboard/device,
data.root/num_workers; Ctrl-C and SIGTERM stop at a safe point and print the resume command.
"""


def shipped_configs() -> list[str]:
    """Names (without ``.yaml``) of the configs shipped in :data:`CONFIG_DIR`."""
    return sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))


def find_config(dataset: str, model: str | None) -> Path:
    """The shipped config for a dataset (and model): ``<dataset>_<model>[s].yaml`` or ``<dataset>.yaml``.

    Raises ValueError naming the files tried and the shipped configs when there is none (never a silent fallback).
    """
    names = ([f"{dataset}_{model}.yaml", f"{dataset}_{model}s.yaml"] if model else []) + [f"{dataset}.yaml"]
    for name in names:
        if (CONFIG_DIR / name).is_file():
            return CONFIG_DIR / name
    raise ValueError(f"snn train: no shipped config for --dataset {dataset}"
                     f"{f' --model {model}' if model else ''} (looked for {', '.join(names)} in {CONFIG_DIR}; "
                     f"shipped: {', '.join(shipped_configs()) or 'none'}); pass --config FILE, or --defaults to "
                     f"start from the built-in defaults")


def resolve_config(args) -> dict:
    """The config mapping of ``snn train`` arguments: file (or shipped default), shorthands, KEY=VALUE overrides."""
    from . import config as C

    if args.config and args.defaults:
        raise ValueError("snn train: --config and --defaults exclude each other")
    values = {} if args.defaults else C.load(args.config or find_config(args.dataset or "ndigits", args.model))
    shorthand = {key: getattr(args, dest) for dest, key in SHORTHANDS.items()}
    overrides = [_as_override(k, v) for k, v in shorthand.items()
                 if v is not None and not (k == "data.name" and values.get("data", {}).get("name") == v)]
    if args.model is not None and values.get("model", {}).get("type") not in (None, args.model):
        values = {**values, "model": {}}  # another model type: its options do not carry over
    if args.quiet:
        overrides.append("train.quiet=true")
    values = C.apply_overrides(values, overrides + _overrides(args))
    if "name" not in values:
        values["name"] = f"{values.get('data', {}).get('name', 'ndigits')}-{values.get('model', {}).get('type', 'lif')}"
    return values


def _as_override(key: str, value) -> str:
    """``KEY=VALUE`` of a shorthand option (strings quoted so that YAML keeps them strings)."""
    return f"{key}={json.dumps(value) if isinstance(value, str) else value}"


def _overrides(args) -> list[str]:
    return list(getattr(args, "overrides", None) or []) + list(args.set or [])


def fill_defaults(cfg):
    """``cfg`` with every default written out: the dataset's frame settings (registry defaults, then
    :class:`~snn.datasets.FrameConfig`'s) and every model option, ``model.dt`` from the frames as training sets it."""
    import dataclasses

    from ..datasets import FrameConfig, registry
    from .trainer import fill_model_defaults, resolve_model_dt

    frames = {**registry.spec(cfg.data.name).frame_defaults, **cfg.data.frames}
    known = {f.name for f in dataclasses.fields(FrameConfig)}
    settings = dataclasses.asdict(FrameConfig(**{k: v for k, v in frames.items() if k in known}))
    cfg.data.frames = {**settings, **frames}
    resolve_model_dt(cfg.model, cfg.data.frames["dt"])
    fill_model_defaults(cfg.model)
    return cfg


def _cmd_train(args) -> int:
    from .config import dump, from_dict
    from .run import train

    if args.print_config:
        print(dump(fill_defaults(from_dict(resolve_config(args) if args.resume is None else resume_config(args)))),
              end="")
        return 0
    if args.resume is None:
        return train(from_dict(resolve_config(args))).exit_code
    return train(from_dict(resume_config(args)), resume_dir=args.resume).exit_code


def resume_config(args) -> dict:
    """The config of ``snn train --resume RUN``: the run's own (from ``last.pt``, or ``config.yaml`` of a run stopped
    in epoch 1) with the options that may change on resume; a ValueError naming any option that may not."""
    from . import checkpoint, rundir
    from . import config as C

    run = Path(args.resume)
    if not run.is_dir():
        raise ValueError(f"snn train --resume: run folder {str(run)!r} does not exist")
    given = {dest: key for dest, key in SHORTHANDS.items() if getattr(args, dest) is not None}
    refused = (["--config"] if args.config else []) + (["--defaults"] if args.defaults else []) + \
        [f"--{dest.replace('_', '-')} ({key})" for dest, key in given.items() if key not in RESUMABLE_KEYS] + \
        [o for o in _overrides(args) if o.partition("=")[0] not in RESUMABLE_KEYS]
    if refused:
        raise ValueError(f"snn train --resume: a resumed run keeps its own config and folder (anything else would be "
                         f"another experiment); cannot change {', '.join(refused)}. Only --epochs, --device, --quiet "
                         f"and KEY=VALUE for {', '.join(RESUMABLE_KEYS)} may change on resume; start a new run for "
                         f"the rest")
    last = run / "checkpoints" / checkpoint.LAST
    if last.is_file():
        values = checkpoint.load(last)["config"]
    elif (run / "config.yaml").is_file():
        values = C.load(run / "config.yaml")
    else:
        with rundir.hold(run, announce=lambda _: None):  # a run still setting its folder up: name it, not "no run"
            pass
        raise ValueError(f"snn train --resume: {run} is not a run folder (no checkpoints/{checkpoint.LAST}, no "
                         f"config.yaml)")
    extra = [_as_override(key, getattr(args, dest)) for dest, key in given.items()]
    return C.apply_overrides(values, extra + _overrides(args) + (["train.quiet=true"] if args.quiet else []))


def format_confusion(confusion: np.ndarray) -> str:
    """A text confusion matrix (rows: true class, columns: predicted)."""
    C = confusion.shape[0]
    width = max(3, len(str(int(confusion.max()))) + 1) if confusion.size else 3
    lines = ["true\\pred" + "".join(f"{j:>{width}}" for j in range(C))]
    lines += [f"{i:>9}" + "".join(f"{int(v):>{width}}" for v in row) for i, row in enumerate(confusion)]
    return "\n".join(lines)


def _cmd_eval(args) -> int:
    from ..datasets import registry
    from .checkpoint import load_model, resolve
    from .config import apply_overrides, from_dict
    from .data import load_split
    from .evaluate import evaluate_on_backend
    from .plots import plot_confusion

    path = Path(args.checkpoint)
    if path.suffix == ".nir":  # a NIR file records no dataset or prediction rule: --dataset and loss.kind say them
        from ..nir_io import import_nir
        from .config import Config

        if not args.dataset:
            raise ValueError(f"snn eval: --dataset: expected a dataset name ({path} is a NIR file, which does not "
                             "record the dataset)")
        model, cfg, allowed = import_nir(path).model, Config(), ("data.", "loss.kind=")
        if model is None:
            raise ValueError(f"snn eval: {path}: the NIR graph is not a chain of front-end layers; run it with "
                             "snn run instead")
    else:
        path = resolve(args.checkpoint)
        (model, cfg), allowed = load_model(path), ("data.",)
    overrides = ([f"data.name={args.dataset}"] if args.dataset else []) + _overrides(args)
    bad = [o for o in overrides if not o.startswith(allowed)]
    if bad:
        keys = "data.* keys" + (" and loss.kind" if len(allowed) > 1 else "")
        raise ValueError(f"snn eval: only {keys} may be overridden, got {bad}")
    cfg = from_dict(apply_overrides(cfg.to_dict(), overrides))
    splits = registry.spec(cfg.data.name).splits
    if args.split not in splits:
        raise ValueError(f"snn eval --split {args.split}: dataset {cfg.data.name} has the splits {list(splits)}"
                         + (" (its validation share was drawn from the train split during training: data.val_fraction"
                            ")" if args.split in ("valid", "val") else ""))
    dataset = load_split(cfg.data, args.split)
    first = tuple(dataset.feature_shape)
    result = evaluate_on_backend(model, dataset, kind=cfg.loss.kind, num_classes=dataset.num_classes,
                                 backend=args.backend, batch_size=args.batch_size, input_shape=first,
                                 progress=not args.quiet)
    print(f"{cfg.data.name} {args.split}: accuracy {100 * result.accuracy:.2f}% on {result.samples} samples "
          f"(backend {args.backend}, checkpoint {path})")
    print(format_confusion(result.confusion))
    out = Path(args.out) if args.out else (path.parent.parent if path.parent.name == "checkpoints" else Path("."))
    stem = f"eval-{cfg.data.name}-{args.split}-{args.backend}"
    with _io.atomic_path(out / f"{stem}.json") as tmp:
        tmp.write_text(json.dumps({"checkpoint": str(path), "dataset": cfg.data.name, "split": args.split,
                                   "backend": args.backend, "accuracy": result.accuracy,
                                   "samples": result.samples, "confusion": result.confusion.tolist()}, indent=1))
    plot_confusion(result.confusion, out / f"{stem}.png",
                   title=f"{cfg.data.name} {args.split} on {args.backend}: {100 * result.accuracy:.2f}%")
    print(f"wrote {out / (stem + '.json')} and {out / (stem + '.png')}")
    if args.plots:
        from ..commands.plot import parse_neurons
        from .activity import plot_run

        drawn = plot_run(path, args.split, samples=args.samples, sample=args.sample,
                         neurons=parse_neurons(args.neurons), out=out, data_overrides=overrides)
        print("wrote " + ", ".join(str(p) for p in drawn["paths"].values()) + " (torch backend)")
    return 0


def register(sub) -> None:
    from ..commands.plot import add_plot_options

    p = sub.add_parser("train", help="train a spiking network (config file + KEY=VALUE overrides; resumable; DDP)",
                       description="Train a spiking network from a YAML config. Runs are resumable and "
                                   "torchrun-ready.", epilog=TRAIN_EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", metavar="FILE", help="YAML config (default: the shipped config of --dataset; "
                                                    f"shipped: {', '.join(shipped_configs())})")
    p.add_argument("--defaults", action="store_true", help="start from the built-in defaults, not a shipped config")
    p.add_argument("--dataset", help="dataset name (ndigits, shd, nmnist, ...); picks configs/<dataset>[_<model>].yaml")
    p.add_argument("--model", help="model type of snn.models (e.g. lif)")
    p.add_argument("--epochs", type=int, help="train.epochs")
    p.add_argument("--batch-size", type=int, help="train.batch_size (global, split across DDP ranks)")
    p.add_argument("--lr", type=float, help="optim.lr (peak)")
    p.add_argument("--seed", type=int, help="seed of initialisation, data order, dropout and validation split")
    p.add_argument("--name", help="run name (folder prefix)")
    p.add_argument("--out", metavar="DIR", help="train.out_dir: runs go to DIR/<name>-<timestamp>/ (default runs)")
    p.add_argument("--device", help="auto | cpu | cuda[:i]")
    p.add_argument("--quiet", action="store_true", help="no progress bars: one line per epoch (also the rule when "
                                                        "stderr is not a terminal)")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue a stopped run from its last completed epoch; may "
                                                      "change only --epochs, --device, --quiet and a few keys")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="a config override (repeatable)")
    p.add_argument("--print-config", action="store_true",
                   help="print the resolved config (every default filled in) as YAML and exit without training")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                   help="config overrides after the options, e.g. optim.lr=1e-3 model.hidden=[256]")
    p.set_defaults(func=_cmd_train)

    p = sub.add_parser("eval", help="accuracy and confusion matrix of a checkpoint on a backend",
                       description="Rebuild a trained model from a checkpoint, lower it to the IR, run it on a "
                                   "backend and apply the training prediction rule. Prints accuracy and the "
                                   "confusion matrix; saves both (JSON + PNG) beside the run.")
    p.add_argument("checkpoint", help="a checkpoint file, a run folder (uses checkpoints/best.pt) or a NIR file "
                                      "(.nir; needs --dataset; prediction rule loss.kind, default sum)")
    p.add_argument("--dataset", help="dataset name (default: the one it was trained on)")
    p.add_argument("--split", default="test",
                   help="split to evaluate: train, test, or valid where the dataset has one (SSC) (default test)")
    p.add_argument("--backend", default="torch", help="backend of snn.backends (default torch; see `snn info`)")
    p.add_argument("--batch-size", type=int, default=128, help="samples per backend call (default 128)")
    p.add_argument("--out", metavar="DIR", help="where the JSON and PNG go (default: the run folder)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="a data override (repeatable), e.g. --set data.root=/data")
    p.add_argument("--plots", action="store_true", help="also write the spike raster, membrane traces and "
                                                        "firing-rate histograms (as snn plot; torch backend)")
    add_plot_options(p)
    p.set_defaults(func=_cmd_eval)
