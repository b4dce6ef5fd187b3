"""The NALSM protocol as a run (``snn nalsm``): self-organise a liquid, freeze it, extract spike-count features, train
a linear readout, write a run folder.

Phases, all seeded by ``seed`` (SPEC §2; Ivanov & Michmizos 2021):

1. build the liquid (:class:`snn.nalsm.Liquid`, the ``liquid`` section: any :class:`~snn.nalsm.LiquidConfig` field);
2. self-organise it on the first ``organise.samples`` samples of a seeded permutation of the training split, in
   batches of ``organise.batch_size``, with ``organise.plasticity`` (``astro``: NALSM, ``stdp``: unregulated STDP,
   ``none``: a plain LSM, no learning);
3. freeze it; measure the branching factor (:func:`snn.nalsm.branching_factor`) on the first ``measure`` samples of
   the readout's training set;
4. spike counts, L1-normalised (:func:`snn.nalsm.features`), of ``readout.train_samples`` training and
   ``readout.test_samples`` test samples (0: the whole split);
5. a linear readout trained full-batch for ``readout.epochs`` epochs (``adadelta`` or ``adam``; ``standardise``
   rescales each feature with the training statistics first).

The run folder holds ``nalsm_config.yaml`` (the validated config), ``liquid.pt`` (the self-organised liquid: tensors
and plain values only, read back with ``torch.load(weights_only=True)`` by :func:`load_liquid`), ``readout.pt`` and
``results.json``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import torch
import torch.nn.functional as F
import yaml

from . import _progress
from ._io import atomic_dir, atomic_path
from .nalsm import BF_BUFFER, BF_WINDOW, PLASTICITY, Liquid, LiquidConfig, branching_factor, features
from .train.config import DataConfig, _build

LIQUID_FORMAT = "spikeforge-nalsm-liquid"
LIQUID_VERSION = 1
READOUT_OPTIMIZERS = ("adadelta", "adam")


@dataclass
class OrganiseConfig:
    """Self-organisation: ``samples`` training samples (0: none), STDP summed over ``batch_size`` samples."""

    plasticity: str = "astro"
    samples: int = 64
    batch_size: int = 8


@dataclass
class ReadoutConfig:
    """The linear readout on spike-count features. ``train_samples`` / ``test_samples``: 0 is the whole split;
    ``batch_size``: samples per liquid run while extracting features."""

    train_samples: int = 0
    test_samples: int = 0
    batch_size: int = 8
    epochs: int = 200
    optimizer: str = "adadelta"
    lr: float = 0.1
    standardise: bool = False


@dataclass
class NalsmConfig:
    """A NALSM run: ``data`` as in ``snn train`` (``name``, ``root``, ``frames`` only); ``liquid``: fields of
    :class:`snn.nalsm.LiquidConfig` (its ``seed`` defaults to ``seed``)."""

    name: str = "nalsm"
    seed: int = 0
    data: DataConfig = field(default_factory=DataConfig)
    liquid: dict = field(default_factory=dict)
    organise: OrganiseConfig = field(default_factory=OrganiseConfig)
    measure: int = 32
    readout: ReadoutConfig = field(default_factory=ReadoutConfig)

    def liquid_config(self) -> LiquidConfig:
        known = [f.name for f in dataclasses.fields(LiquidConfig)]
        values = dict(self.liquid)
        for key in values:
            if key not in known:
                raise ValueError(f"config: unknown key 'liquid.{key}'; expected one of {known}")
        if isinstance(values.get("connect"), list):
            values["connect"] = tuple(values["connect"])
        return LiquidConfig(**{"seed": self.seed, **values})

    def to_dict(self) -> dict:
        out = dataclasses.asdict(self)
        out["data"] = {k: out["data"][k] for k in ("name", "root", "frames")}
        return out


def config_from_dict(values: dict) -> NalsmConfig:
    """A validated :class:`NalsmConfig` (unknown keys, wrong types and out-of-range values are errors naming them)."""
    cfg = _build(NalsmConfig, values, "")
    for key in ("val_fraction", "num_workers"):
        if isinstance(values.get("data"), dict) and key in values["data"]:
            raise ValueError(f"config: data.{key}: not used by snn nalsm (the readout trains on the training split "
                             f"and tests on the test split, in this process); remove it")
    checks = [
        ("organise.plasticity", cfg.organise.plasticity in PLASTICITY, f"one of {list(PLASTICITY)}"),
        ("organise.samples", cfg.organise.samples >= 0, "an int >= 0"),
        ("organise.batch_size", cfg.organise.batch_size >= 1, "an int >= 1"),
        ("measure", cfg.measure >= 1, "an int >= 1"),
        ("readout.train_samples", cfg.readout.train_samples >= 0, "an int >= 0 (0: the whole split)"),
        ("readout.test_samples", cfg.readout.test_samples >= 0, "an int >= 0 (0: the whole split)"),
        ("readout.batch_size", cfg.readout.batch_size >= 1, "an int >= 1"),
        ("readout.epochs", cfg.readout.epochs >= 1, "an int >= 1"),
        ("readout.optimizer", cfg.readout.optimizer in READOUT_OPTIMIZERS, f"one of {list(READOUT_OPTIMIZERS)}"),
        ("readout.lr", cfg.readout.lr > 0 and math.isfinite(cfg.readout.lr), "a finite number > 0"),
    ]
    for path, ok, expected in checks:
        if not ok:
            obj = cfg
            for part in path.split("."):
                obj = getattr(obj, part)
            raise ValueError(f"config: {path}: expected {expected}, got {obj!r}")
    cfg.liquid_config()  # validates the liquid section
    return cfg


# ---------- the liquid on disk ----------

def save_liquid(liquid: Liquid, path: str | Path) -> None:
    """Writes the liquid (config, masks, weights) atomically; tensors and plain values only (no pickled objects)."""
    cfg = dataclasses.asdict(liquid.cfg)
    cfg["connect"] = list(cfg["connect"])
    state = {"format": LIQUID_FORMAT, "version": LIQUID_VERSION, "n_in": liquid.n_in, "config": cfg,
             **{k: getattr(liquid, k).clone() for k in ("w", "w_in", "mask", "in_mask", "excitatory")}}
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_liquid(path: str | Path) -> Liquid:
    """The liquid written by :func:`save_liquid` (``torch.load(weights_only=True)``; shapes, dtypes and that every
    weight lies on a connection are checked)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"NALSM liquid: file {str(path)!r} does not exist")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any unreadable file is the same error for the user
        raise ValueError(f"NALSM liquid: {path}: not a readable weights-only torch file: {e}") from None
    if not isinstance(state, dict) or state.get("format") != LIQUID_FORMAT:
        raise ValueError(f"NALSM liquid: {path}: expected a {LIQUID_FORMAT!r} file (snn nalsm's liquid.pt)")
    if state.get("version") != LIQUID_VERSION:
        raise ValueError(f"NALSM liquid: {path}: expected format version {LIQUID_VERSION}, "
                         f"got {state.get('version')!r}")
    cfg = dict(state["config"])
    cfg["connect"] = tuple(cfg["connect"])
    liquid = Liquid(int(state["n_in"]), LiquidConfig(**cfg))
    for key in ("w", "w_in", "mask", "in_mask", "excitatory"):
        want, got = getattr(liquid, key), state.get(key)
        if not isinstance(got, torch.Tensor) or got.shape != want.shape or got.dtype != want.dtype:
            desc = f"{tuple(got.shape)} {got.dtype}" if isinstance(got, torch.Tensor) else repr(type(got).__name__)
            raise ValueError(f"NALSM liquid: {path}: {key}: expected {tuple(want.shape)} {want.dtype}, got {desc}")
        setattr(liquid, key, got)
    for w, m in (("w", "mask"), ("w_in", "in_mask")):
        if torch.any(getattr(liquid, w)[~getattr(liquid, m)] != 0):
            raise ValueError(f"NALSM liquid: {path}: {w} has weights where {m} has no connection")
    liquid.lo = torch.where(liquid.excitatory, 0.0, -liquid.cfg.weight)
    liquid.hi = torch.where(liquid.excitatory, liquid.cfg.weight, 0.0)
    return liquid


# ---------- the protocol ----------

def _split(cfg: NalsmConfig, split: str):
    import snn.datasets as D

    return D.frames(cfg.data.name, split, root=cfg.data.root, **cfg.data.frames)


def _inputs(ds, idx: list[int]) -> torch.Tensor:
    """Input spikes ``(T, B, channels)``; shorter samples are padded with silence to the batch's longest."""
    xs = [ds[i][0].flatten(1) for i in idx]
    return torch.nn.utils.rnn.pad_sequence(xs)


def _batches(idx: list[int], size: int, desc: str, quiet: bool):
    starts = range(0, len(idx), size)
    return (idx[i:i + size] for i in _progress.bar(starts, disable=quiet, desc=desc, unit="batch"))


def spike_features(liquid: Liquid, ds, idx: list[int], batch: int, desc: str = "features", quiet: bool = True
                   ) -> torch.Tensor:
    """L1-normalised spike counts ``(len(idx), n)`` of the frozen liquid."""
    out = [features(liquid.run(_inputs(ds, b))) for b in _batches(idx, batch, desc, quiet)]
    return torch.cat(out) if out else torch.zeros(0, liquid.cfg.n)


def _readout(cfg: ReadoutConfig, f_tr, y_tr, classes: int) -> dict:
    mean, std = (f_tr.mean(0), f_tr.std(0).clamp_min(1e-6)) if cfg.standardise else (None, None)
    lin = torch.nn.Linear(f_tr.shape[1], classes, dtype=f_tr.dtype)
    x = (f_tr - mean) / std if cfg.standardise else f_tr
    opt = (torch.optim.Adadelta if cfg.optimizer == "adadelta" else torch.optim.Adam)(lin.parameters(), lr=cfg.lr)
    for _ in range(cfg.epochs):
        loss = F.cross_entropy(lin(x), y_tr)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return {"weight": lin.weight.detach(), "bias": lin.bias.detach(),
            **({"mean": mean, "std": std} if cfg.standardise else {})}


def predict(readout: dict, f: torch.Tensor) -> torch.Tensor:
    """Class indices ``(B,)`` of the readout for features ``f`` ``(B, n)``."""
    if "mean" in readout:
        f = (f - readout["mean"]) / readout["std"]
    return (f @ readout["weight"].t() + readout["bias"]).argmax(-1)


def run(cfg: NalsmConfig, out: str | Path, *, liquid_file: Optional[str | Path] = None, overwrite: bool = False,
        quiet: bool = False) -> dict:
    """Runs the protocol into the run folder ``out`` (written atomically); returns the results. ``liquid_file``:
    start from a saved liquid (skips self-organisation)."""
    t0 = time.perf_counter()
    torch.manual_seed(cfg.seed)
    train, test = _split(cfg, "train"), _split(cfg, "test")
    steps, _, n_in = _inputs(train, [0]).shape
    if steps <= 2 * (BF_BUFFER + BF_WINDOW):
        raise ValueError(f"NALSM: data.frames: the branching factor needs samples of more than "
                         f"{2 * (BF_BUFFER + BF_WINDOW)} steps ({BF_BUFFER}-step buffer and {BF_WINDOW}-step window "
                         f"at each end), the frames {cfg.data.frames} give {steps}")
    if liquid_file is not None:
        liquid = load_liquid(liquid_file)
        if liquid.n_in != n_in:
            raise ValueError(f"NALSM liquid: {liquid_file}: its input layer has {liquid.n_in} channels, the data "
                             f"{cfg.data.name!r} with frames {cfg.data.frames} gives {n_in}")
    else:
        liquid = Liquid(n_in, cfg.liquid_config())
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(cfg.seed)).tolist()
    organise = order[:cfg.organise.samples] if liquid_file is None and cfg.organise.plasticity != "none" else []
    for b in _batches(organise, cfg.organise.batch_size, "self-organise", quiet):
        liquid.run(_inputs(train, b), cfg.organise.plasticity)
    ro_train = order[:cfg.readout.train_samples or len(order)]
    ro_test = list(range(cfg.readout.test_samples or len(test)))
    s = liquid.run(_inputs(train, ro_train[:cfg.measure]))
    bf, rate = branching_factor(s, liquid.mask), s.mean().item()
    f_tr = spike_features(liquid, train, ro_train, cfg.readout.batch_size, "features (train)", quiet)
    f_te = spike_features(liquid, test, ro_test, cfg.readout.batch_size, "features (test)", quiet)
    y_tr, y_te = torch.as_tensor(train.labels[ro_train]).long(), torch.as_tensor(test.labels[ro_test]).long()
    readout = _readout(cfg.readout, f_tr, y_tr, train.num_classes)
    results = {"name": cfg.name, "plasticity": "loaded" if liquid_file else cfg.organise.plasticity,
               "neurons": liquid.cfg.n, "inputs": n_in, "organise_samples": len(organise),
               "branching_factor": None if math.isnan(bf) else bf,  # null: no spike in the counted steps
               "spikes_per_neuron_per_step": rate,
               "train_acc": (predict(readout, f_tr) == y_tr).float().mean().item(),
               "test_acc": (predict(readout, f_te) == y_te).float().mean().item(),
               "train_samples": len(ro_train), "test_samples": len(ro_test), "seconds": time.perf_counter() - t0}
    with atomic_dir(out, overwrite=overwrite) as tmp:
        (tmp / "nalsm_config.yaml").write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
        save_liquid(liquid, tmp / "liquid.pt")
        torch.save(readout, tmp / "readout.pt")
        (tmp / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    return results
