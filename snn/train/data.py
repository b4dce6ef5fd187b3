"""The datasets of a run, from :func:`snn.datasets.frames` as the config's ``data`` section says."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from torch.utils.data import Dataset

from .config import DataConfig
from .trainer import split_validation


@dataclass
class Splits:
    """``train`` (without the validation share), ``val`` (or None) and ``test`` datasets."""

    train: Dataset
    val: Optional[Dataset]
    test: Dataset


def load_split(data: DataConfig, split: str, progress: bool = False) -> Dataset:
    """One split (``train``, ``test``, or ``valid`` where the dataset has one) of the configured dataset, as frames
    (``progress``: bars while a generated dataset is built or frames are binned the first time)."""
    from .. import datasets

    return datasets.frames(data.name, split, root=data.root, **{"progress": progress, **data.frames})


def load_splits(data: DataConfig, seed: int, progress: bool = False) -> Splits:
    """Train/validation/test datasets; the validation share is drawn from the training split with ``seed``."""
    train, val = split_validation(load_split(data, "train", progress), data.val_fraction, seed)
    return Splits(train, val, load_split(data, "test", progress))
