"""Training configuration: typed sections, YAML loading, ``key=value`` overrides, validation.

A config is a :class:`Config` of five sections (``data``, ``model``, ``loss``, ``optim``, ``train``) plus ``name``
and ``seed``. ``model`` is a free mapping checked by the model builder (:mod:`snn.models`); ``data.frames`` is
passed to :func:`snn.datasets.frames`, which checks it. Every other key is typed: an unknown key or a value of the
wrong type is a ValueError naming the key, what was expected and what was given.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import yaml

LOSS_KINDS = ("sum", "max", "softmax_sum", "last", "count")
OPTIMIZERS = ("adam", "adamw", "sgd", "adamax")
SCHEDULES = ("constant", "cosine", "onecycle")


@dataclass
class DataConfig:
    """Which dataset and how its events become frames.

    Attributes:
        name: a dataset name of :func:`snn.datasets.frames` (``ndigits``, ``shd``, ``nmnist``, ...).
        root: folder holding the dataset files (None: the datasets' default).
        frames: keyword arguments of :func:`snn.datasets.frames` (``dt`` in ms, ``duration`` in ms, ``downsample``...).
        val_fraction: share of the training split held out for validation (0: none), split with ``seed``.
        num_workers: DataLoader worker processes.
    """

    name: str = "ndigits"
    root: Optional[str] = None
    frames: dict = field(default_factory=dict)
    val_fraction: float = 0.1
    num_workers: int = 0


@dataclass
class LossConfig:
    """Readout loss (see :mod:`snn.train.losses`) and spike-rate regularisation.

    Attributes:
        kind: ``sum`` | ``max`` | ``softmax_sum`` | ``last`` | ``count``; the prediction rule follows it.
        rate_weight: weight of the firing-rate penalty ``mean_l (rate_l - rate_target)^2`` (0: off).
        rate_target: target firing rate per neuron and step (spikes/step, 0..1).
    """

    kind: str = "sum"
    rate_weight: float = 0.0
    rate_target: float = 0.05


@dataclass
class ParamGroupConfig:
    """Optimiser settings for the parameters whose name ends with ``match`` (e.g. ``positions``).

    ``lr``/``weight_decay``/``schedule`` of None inherit the optimiser's.
    """

    match: str = ""
    lr: Optional[float] = None
    weight_decay: Optional[float] = None
    schedule: Optional[str] = None


@dataclass
class OptimConfig:
    """Optimiser and learning-rate schedule (stepped once per batch).

    Attributes:
        name: ``adam`` | ``adamw`` | ``sgd`` (momentum 0.9) | ``adamax`` (the ELM paper's).
        lr: peak learning rate; weight_decay: L2 / decoupled decay.
        schedule: ``constant`` | ``cosine`` (to 0) | ``onecycle`` (warm-up over ``pct_start``, then cosine down).
        pct_start: share of steps spent warming up (onecycle).
        grad_clip: max global gradient norm (None: off).
        param_groups: per-group overrides, see :class:`ParamGroupConfig`.
    """

    name: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    schedule: str = "onecycle"
    pct_start: float = 0.25
    grad_clip: Optional[float] = 1.0
    param_groups: list = field(default_factory=list)


@dataclass
class TrainConfig:
    """The training loop.

    Attributes:
        epochs: passes over the training split; batch_size: global batch (split across DDP ranks).
        device: ``auto`` (CUDA when available), ``cpu`` or ``cuda[:i]``.
        amp: mixed precision (float16 autocast with grad scaling) on CUDA; ignored on CPU.
        patience: early stopping after this many epochs without a better validation accuracy (None: off).
        out_dir: runs go to ``out_dir/<name>-<timestamp>/``.
        tensorboard: also write TensorBoard events when ``tensorboard`` is installed.
        quiet: no progress bars, one line per epoch (the rule anyway when stderr is not a terminal).
    """

    epochs: int = 20
    batch_size: int = 64
    device: str = "auto"
    amp: bool = False
    patience: Optional[int] = None
    out_dir: str = "runs"
    tensorboard: bool = False
    quiet: bool = False


@dataclass
class Config:
    """A whole training run: ``name``, ``seed`` and the sections above."""

    name: str = "run"
    seed: int = 0
    data: DataConfig = field(default_factory=DataConfig)
    model: dict = field(default_factory=lambda: {"type": "lif"})
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


_CHOICES = {"loss.kind": LOSS_KINDS, "optim.name": OPTIMIZERS, "optim.schedule": SCHEDULES}


def _type_ok(value, tp) -> bool:
    if typing.get_origin(tp) is typing.Union:
        return any(_type_ok(value, t) for t in typing.get_args(tp))
    if tp is type(None):
        return value is None
    if tp is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, tp)


def _yaml_float(value):
    """YAML 1.1 reads ``1e-3`` (no dot) as a string: accept such numbers for float fields."""
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def _type_name(tp) -> str:
    if typing.get_origin(tp) is typing.Union:
        return " or ".join(_type_name(t) for t in typing.get_args(tp))
    return "null" if tp is type(None) else tp.__name__


def _build(cls, values, where: str):
    if not isinstance(values, dict):
        raise ValueError(f"config: {where or 'top level'}: expected a mapping, got {type(values).__name__}")
    hints = typing.get_type_hints(cls)
    known = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in values.items():
        path = f"{where}.{key}" if where else str(key)
        if key not in known:
            raise ValueError(f"config: unknown key {path!r}; expected one of {known}")
        tp = hints[key]
        value = _yaml_float(value) if float in (tp, *typing.get_args(tp)) else value
        if dataclasses.is_dataclass(tp):
            value = _build(tp, value, path)
        elif not _type_ok(value, tp):
            raise ValueError(f"config: {path}: expected {_type_name(tp)}, got {value!r} ({type(value).__name__})")
        if path in _CHOICES and value not in _CHOICES[path]:
            raise ValueError(f"config: {path}: expected one of {list(_CHOICES[path])}, got {value!r}")
        kwargs[key] = float(value) if tp is float or tp == Optional[float] and value is not None else value
    return cls(**kwargs)


def _check_ranges(cfg: Config) -> None:
    checks = [
        ("data.val_fraction", 0 <= cfg.data.val_fraction < 1, "a number in [0, 1)"),
        ("data.num_workers", cfg.data.num_workers >= 0, "an int >= 0"),
        ("loss.rate_weight", cfg.loss.rate_weight >= 0, "a number >= 0"),
        ("loss.rate_target", 0 <= cfg.loss.rate_target <= 1, "a number in [0, 1]"),
        ("optim.lr", cfg.optim.lr > 0, "a number > 0"),
        ("optim.weight_decay", cfg.optim.weight_decay >= 0, "a number >= 0"),
        ("optim.pct_start", 0 < cfg.optim.pct_start < 1, "a number in (0, 1)"),
        ("optim.grad_clip", cfg.optim.grad_clip is None or cfg.optim.grad_clip > 0, "null or a number > 0"),
        ("train.epochs", cfg.train.epochs >= 1, "an int >= 1"),
        ("train.batch_size", cfg.train.batch_size >= 1, "an int >= 1"),
        ("train.patience", cfg.train.patience is None or cfg.train.patience >= 1, "null or an int >= 1"),
    ]
    for path, ok, expected in checks:
        if not ok:
            section, key = path.split(".")
            raise ValueError(f"config: {path}: expected {expected}, got {getattr(getattr(cfg, section), key)!r}")
    cfg.model = {"type": "lif", **cfg.model}
    if not isinstance(cfg.model["type"], str):
        raise ValueError(f"config: model.type: expected a model name (str), got {cfg.model.get('type')!r}")
    groups = []
    for i, g in enumerate(cfg.optim.param_groups):
        group = _build(ParamGroupConfig, g, f"optim.param_groups[{i}]") if isinstance(g, dict) else g
        if not isinstance(group, ParamGroupConfig) or not group.match:
            raise ValueError(f"config: optim.param_groups[{i}]: expected a mapping with a non-empty 'match', got {g!r}")
        if group.schedule is not None and group.schedule not in SCHEDULES:
            raise ValueError(f"config: optim.param_groups[{i}].schedule: expected one of {list(SCHEDULES)}, "
                             f"got {group.schedule!r}")
        groups.append(dataclasses.asdict(group))
    cfg.optim.param_groups = groups


def from_dict(values: dict) -> Config:
    """A validated :class:`Config` from a nested mapping (missing keys take their defaults)."""
    cfg = _build(Config, values, "")
    _check_ranges(cfg)
    return cfg


def load(path: str | Path) -> dict:
    """Reads a YAML config file into a mapping (validate with :func:`from_dict`)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"config: file {str(path)!r} does not exist")
    try:
        values = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise ValueError(f"config: {path}: not valid YAML: {e}") from None
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise ValueError(f"config: {path}: expected a mapping at the top level, got {type(values).__name__}")
    return values


def apply_overrides(values: dict, overrides: list[str]) -> dict:
    """Applies ``section.key=value`` strings (values parsed as YAML: ``3``, ``1e-3``, ``[256, 256]``, ``null``)."""
    out = _deepcopy(values)
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key or any(not part for part in key.split(".")):
            raise ValueError(f"config override: expected KEY=VALUE with a dotted key (e.g. optim.lr=0.01), "
                             f"got {item!r}")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError as e:
            raise ValueError(f"config override {item!r}: value is not valid YAML: {e}") from None
        node = out
        parts = key.split(".")
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ValueError(f"config override {item!r}: {part!r} is a value, not a section")
            node = child
        node[parts[-1]] = value
    return out


def _deepcopy(values):
    if isinstance(values, dict):
        return {k: _deepcopy(v) for k, v in values.items()}
    if isinstance(values, list):
        return [_deepcopy(v) for v in values]
    return values


def dump(cfg: Config) -> str:
    """The resolved config as YAML."""
    return yaml.safe_dump(cfg.to_dict(), sort_keys=False)
