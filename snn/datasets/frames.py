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
from .transforms import FrameConfig, bin_events

BUDGET = 128 << 20  # bytes of temporary memory for binning a split, besides the frames it makes
_EVENT_BYTES = 100  # temporary bytes per event while a chunk is read and binned (about 75 measured on SHD)
_RUN_BYTES = 16 << 20  # dense counting runs: larger ones are slower (page faults of fresh big arrays), not faster


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
            sparse = build(events, config, progress=progress)
            if path is not None:
                cache.save(path, sparse)
        self._sparse, self.lengths, self.labels = sparse, sparse.lengths, sparse.labels
        self._bin_starts = np.concatenate([[0], np.cumsum(self.lengths)])
        self._nz_starts = np.concatenate([[0], np.cumsum(sparse.row_nnz, dtype=np.int64)])

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


def build(events: EventDataset, config: FrameConfig, budget: int = BUDGET, progress: bool = False
          ) -> cache.SparseFrames:
    """Bins every sample of ``events`` into sparse frames using about ``budget`` bytes of temporary memory.

    Half of it goes to events: samples are read in chunks of about ``budget / 2`` bytes of events. The other half
    goes to counting: cells are counted densely (int64) over runs of at most ``budget / 2`` bytes (and at most 16 MiB),
    i.e. a few bins of a long sample or many short samples at once (at least one bin per run).
    """
    if not len(events):
        raise ValueError(f"{events.name} {events.split}: no samples to bin")
    nfeat = math.prod(config.feature_shape(events.sensor_size))
    max_cells = min(budget // 2, _RUN_BYTES) // 8
    parts = []
    with tqdm(total=len(events), desc=f"binning {events.name} {events.split}", unit="sample",
              disable=not progress) as bar:
        for chunk in events.chunks(max(budget // 2 // _EVENT_BYTES, 1)):
            rows, features, lengths = bin_events(chunk, events.sensor_size, config)
            cols, counts, row_nnz = _count_cells(rows, features, int(lengths.sum()), nfeat, config.binary, max_cells)
            parts.append(cache.SparseFrames(cols, counts, row_nnz, lengths, chunk.labels))
            bar.update(len(chunk))
            del chunk, rows, features  # before the next chunk is read
    return cache.SparseFrames.concat(parts)


def _count_cells(rows: np.ndarray, features: np.ndarray, nrows: int, nfeat: int, binary: bool, max_cells: int):
    """Events per (row, feature) cell as CSR arrays ``(cols, counts, row_nnz)`` of the nonzero cells (see
    :class:`cache.SparseFrames`; ``counts`` all 1 when ``binary``).

    Cells are counted densely over runs of ``max_cells // nfeat`` rows (at least one), each starting at the next row
    that holds an event, so rows without events cost nothing but their ``row_nnz`` entry.
    """
    if len(rows) > 1 and (np.diff(rows) < 0).any():  # a loader that gave unsorted events
        order = np.argsort(rows, kind="stable")
        rows, features = rows[order], features[order]
    per_run = max(max_cells // nfeat, 1)
    row_nnz = np.zeros(nrows, cache.uint_for(nfeat))
    cols, counts = [np.zeros(0, cache.uint_for(nfeat - 1))], [np.zeros(0, np.int64)]
    i = 0
    while i < len(rows):
        r0 = int(rows[i])
        r1 = min(r0 + per_run, nrows)
        j = i + int(np.searchsorted(rows[i:], r1))
        cells = np.bincount((rows[i:j] - r0) * nfeat + features[i:j], minlength=(r1 - r0) * nfeat)
        nonzero = np.flatnonzero(cells)
        cols.append((nonzero % nfeat).astype(cols[0].dtype))
        counts.append(cells[nonzero])
        row_nnz[r0:r1] = np.bincount(nonzero // nfeat, minlength=r1 - r0)
        del cells
        i = j
    counts = np.concatenate(counts)
    if binary:
        counts = np.ones(len(counts), np.uint8)
    else:
        counts = counts.astype(cache.uint_for(int(counts.max()) if len(counts) else 0))
    return np.concatenate(cols), counts, row_nnz


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
