"""Frame datasets for training: binned once for the whole split (vectorised), cached on disk (sparse), then
expanded to dense frames per item.

``FrameDataset[i] -> (frames, label)`` with ``frames`` a float32 tensor ``(T_i, *feature_shape)``.
:func:`pad_collate` stacks a batch time-major.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from snn._progress import bar as tqdm

from . import cache
from .events import EventDataset
from .transforms import FrameConfig, bin_chunk

_CELLS_PER_CHUNK = 1 << 24  # bounds the binning's temporary memory (int64 counts: 128 MiB)


class FrameDataset(torch.utils.data.Dataset):
    """Frames of every sample of an event dataset, held in memory sparse (:class:`cache.SparseFrames`).

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
        self._nfeat = nfeat = math.prod(self.feature_shape)
        path = (cache.cache_path(Path(cache_dir), events.name, events.split, events.source, config)
                if cache_dir is not None else None)
        sparse = cache.load(path, nfeat) if path is not None else None
        self.from_cache = sparse is not None
        if sparse is None:
            sparse = self._build(events, nfeat, progress)
            if path is not None:
                cache.save(path, sparse)
        self._sparse, self.lengths, self.labels = sparse, sparse.lengths, sparse.labels
        self._bin_starts = np.concatenate([[0], np.cumsum(self.lengths)])
        self._nz_starts = np.concatenate([[0], np.cumsum(sparse.row_nnz, dtype=np.int64)])

    def _build(self, events: EventDataset, nfeat: int, progress: bool) -> cache.SparseFrames:
        per_chunk = int(np.clip(_CELLS_PER_CHUNK // (nfeat * (self.config.steps or 128)), 1, 1024))
        parts = []
        with tqdm(total=len(events), desc=f"binning {events.name} {events.split}", unit="sample",
                  disable=not progress) as bar:
            for chunk in events.chunks(per_chunk):
                parts.append(cache.SparseFrames.from_dense(*bin_chunk(chunk, events.sensor_size, self.config),
                                                           chunk.labels))
                bar.update(len(chunk))
        return cache.SparseFrames.concat(parts)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        s, nfeat = self._sparse, self._nfeat
        b0, b1 = self._bin_starts[i], self._bin_starts[i + 1]
        a0, a1 = self._nz_starts[b0], self._nz_starts[b1]
        # flat cell index = bin * nfeat + feature; cells are unique, so a plain assignment scatters the counts
        cells = np.repeat(np.arange(0, (b1 - b0) * nfeat, nfeat, dtype=np.intp), s.row_nnz[b0:b1])
        cells += s.cols[a0:a1]
        x = np.zeros((b1 - b0) * nfeat, np.float32)
        x[cells] = s.counts[a0:a1].astype(np.float32)
        return torch.from_numpy(x).reshape(-1, *self.feature_shape), int(self.labels[i])

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
