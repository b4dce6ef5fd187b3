"""Frame datasets for training: binned once for the whole split (vectorised), cached on disk, then sliced.

``FrameDataset[i] -> (frames, label)`` with ``frames`` a float32 tensor ``(T_i, *feature_shape)``.
:func:`pad_collate` stacks a batch time-major.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from . import cache
from .events import EventDataset
from .transforms import FrameConfig, bin_chunk

_CELLS_PER_CHUNK = 1 << 24  # bounds the binning's temporary memory (int64 counts: 128 MiB)


class FrameDataset(torch.utils.data.Dataset):
    """Frames of every sample of an event dataset, held in memory as one compact integer array.

    Built from ``events`` with ``config`` (see :class:`FrameConfig`), or read from ``cache_dir`` when a cache entry
    for the same files and config exists (then no event file is read). Attributes: ``feature_shape``,
    ``num_classes``, ``classes``, ``dt`` (ms), ``lengths`` (bins per sample), ``labels``.
    """

    def __init__(self, events: EventDataset, config: FrameConfig, cache_dir: str | Path | None = None,
                 progress: bool = False):
        self.config, self.dt = config, config.dt
        self.feature_shape = config.feature_shape(events.sensor_size)
        self.num_classes, self.classes, self.name, self.split = (events.num_classes, events.classes, events.name,
                                                                 events.split)
        path = (cache.cache_path(Path(cache_dir), events.name, events.split, events.source, config)
                if cache_dir is not None else None)
        cached = cache.load(path) if path is not None else None
        self.from_cache = cached is not None
        if cached is None:
            cached = self._build(events, progress)
            if path is not None:
                cache.save(path, *cached)
        self._frames, self.lengths, self.labels = cached
        self._starts = np.concatenate([[0], np.cumsum(self.lengths)])

    def _build(self, events: EventDataset, progress: bool):
        nfeat = math.prod(self.feature_shape)
        per_chunk = int(np.clip(_CELLS_PER_CHUNK // (nfeat * (self.config.steps or 128)), 1, 1024))
        frames, lengths, labels = [], [], []
        with tqdm(total=len(events), desc=f"binning {events.name} {events.split}", unit="sample",
                  disable=not progress) as bar:
            for chunk in events.chunks(per_chunk):
                f, n = bin_chunk(chunk, events.sensor_size, self.config)
                frames.append(f), lengths.append(n), labels.append(chunk.labels)
                bar.update(len(chunk))
        dtype = np.result_type(*[f.dtype for f in frames])
        return np.concatenate(frames).astype(dtype, copy=False), np.concatenate(lengths), np.concatenate(labels)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        x = self._frames[self._starts[i]:self._starts[i + 1]]
        return torch.from_numpy(x.astype(np.float32)).reshape(-1, *self.feature_shape), int(self.labels[i])

    def __repr__(self) -> str:
        return (f"FrameDataset({self.name!r}, {self.split!r}, samples={len(self)}, dt={self.dt} ms, "
                f"feature_shape={self.feature_shape}, T={int(self.lengths.min())}..{int(self.lengths.max())})")


def pad_collate(batch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Stacks ``[(frames (T_i, ...), label), ...]`` into ``(x (T_max, B, ...), labels (B,), lengths (B,))``.

    Shorter samples are zero-padded at the end; the valid-step mask is
    ``torch.arange(T_max)[:, None] < lengths[None, :]`` (shape ``(T_max, B)``).
    """
    if not batch:
        raise ValueError("pad_collate: empty batch")
    lengths = torch.tensor([f.shape[0] for f, _ in batch], dtype=torch.int64)
    x = batch[0][0].new_zeros((int(lengths.max()), len(batch), *batch[0][0].shape[1:]))
    for b, (f, _) in enumerate(batch):
        x[: f.shape[0], b] = f
    return x, torch.tensor([int(y) for _, y in batch], dtype=torch.int64), lengths
