"""On-disk cache of binned frames: one compressed ``.npz`` per (dataset files, split, transform, format version).

Frames are stored sparse, as CSR over time bins (see :class:`SparseFrames`). Read with ``allow_pickle=False``; written
through a temporary file and ``os.replace`` so a crash never leaves a half-written cache under its final name.
A loader names the files it read with :func:`source_key` over :func:`stat_key` (and :func:`fingerprint` for files
whose contents a copy could change while keeping size and times); the key changes whenever one of them does.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import zipfile
import zlib
from pathlib import Path

import numpy as np

from snn._io import atomic_path

from .transforms import FrameConfig

VERSION = 2  # bump when the binning or the file layout changes (1: dense frames; 2: sparse CSR over bins)
_FIELDS = ("cols", "counts", "row_nnz", "lengths", "labels")


def uint_for(top: int) -> np.dtype:
    """Smallest unsigned int dtype holding ``0..top`` (uint8, uint16, uint32, else uint64)."""
    for dtype in (np.uint8, np.uint16, np.uint32):
        if top <= np.iinfo(dtype).max:
            return np.dtype(dtype)
    return np.dtype(np.uint64)


@dataclasses.dataclass(frozen=True)
class SparseFrames:
    """The nonzero frame cells of every sample, CSR over time bins (samples one after another).

    Bin ``k`` (over all samples) holds ``row_nnz[k]`` nonzero cells: feature indices ``cols`` (ascending, unique
    within a bin) and their ``counts`` (events, or 1 for binary frames); sample ``i`` owns ``lengths[i]`` bins;
    ``labels[i]`` is its class. ``cols``/``row_nnz`` use the smallest unsigned dtype that fits the feature count,
    ``counts`` the smallest that fits the largest count.
    """

    cols: np.ndarray
    counts: np.ndarray
    row_nnz: np.ndarray
    lengths: np.ndarray
    labels: np.ndarray

    @staticmethod
    def concat(parts: list["SparseFrames"]) -> "SparseFrames":
        def cat(name):
            arrays = [getattr(p, name) for p in parts]
            return np.concatenate(arrays).astype(np.result_type(*arrays), copy=False)
        return SparseFrames(*(cat(name) for name in _FIELDS))

    def valid(self, nfeat: int) -> bool:
        """Whether the arrays are consistent with each other and with ``nfeat`` features."""
        if any(getattr(self, name).ndim != 1 for name in _FIELDS) or len(self.lengths) != len(self.labels):
            return False
        if any(getattr(self, name).dtype.kind != "u" for name in ("cols", "counts", "row_nnz")):
            return False
        return (len(self.row_nnz) == int(self.lengths.sum()) and (self.lengths >= 1).all()
                and len(self.cols) == len(self.counts) == int(self.row_nnz.sum(dtype=np.int64))
                and (len(self.cols) == 0 or int(self.cols.max()) < nfeat)
                and (len(self.row_nnz) == 0 or int(self.row_nnz.max()) <= nfeat))


_FP_BLOCK, _FP_BLOCKS = 1 << 16, 16


def stat_key(st: os.stat_result) -> list[int]:
    """What identifies a file's version without reading it: size, modification and status-change time (ns).

    The status-change time (``st_ctime_ns``) moves on every write, rename, copy or ``utime`` and cannot be set back,
    so a file rewritten with its size and modification time restored still gets a new key.
    """
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns]


def fingerprint(path: Path) -> str:
    """A cheap content hash: sha256 of the size and of 16 blocks of 64 KiB spread evenly from the first byte to the
    last (the whole file when smaller than 1 MiB), so at most 1 MiB is read whatever the size."""
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        h = hashlib.sha256(str(size).encode())
        if size <= _FP_BLOCK * _FP_BLOCKS:
            h.update(f.read())
        else:
            for i in range(_FP_BLOCKS):
                f.seek(i * (size - _FP_BLOCK) // (_FP_BLOCKS - 1))
                h.update(f.read(_FP_BLOCK))
    return h.hexdigest()


def source_key(parts) -> str:
    """A short digest of JSON-serialisable ``parts`` describing the files a dataset read (see :func:`stat_key`)."""
    return hashlib.sha256(json.dumps(parts, separators=(",", ":")).encode()).hexdigest()


def cache_path(folder: Path, name: str, split: str, source: str, cfg: FrameConfig) -> Path:
    """File for these frames; the name hashes the source files' identity, the config and :data:`VERSION`."""
    key = json.dumps({"v": VERSION, "source": source, "cfg": dataclasses.asdict(cfg)}, sort_keys=True)
    return folder / f"{name}-{split}-{hashlib.sha256(key.encode()).hexdigest()[:16]}.npz"


def save(path: Path, frames: SparseFrames) -> None:
    """Writes an ``.npz`` deflated at level 1 (several times faster to write than the default level, about as fast
    to read), with a ``version`` member holding :data:`VERSION`."""
    arrays = [("version", np.array([VERSION], np.int64))] + [(name, getattr(frames, name)) for name in _FIELDS]
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        for name, array in arrays:
            with z.open(f"{name}.npy", "w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.ascontiguousarray(array), allow_pickle=False)


def load(path: Path, nfeat: int) -> SparseFrames | None:
    """The cached frames, or None when absent, unreadable, of another format version or inconsistent with ``nfeat``
    features per bin (the caller then rebuilds them)."""
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            if z["version"].tolist() != [VERSION]:
                return None
            frames = SparseFrames(*(z[name] for name in _FIELDS))
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error):
        return None
    return frames if frames.valid(nfeat) else None
