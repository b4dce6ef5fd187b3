"""Writers of small files in the exact on-disk formats, with known contents, for tests and benchmarks.

``write_shd`` writes an SHD/SSC-format HDF5 file; ``write_nmnist_tree`` / ``write_nmnist_zip`` write N-MNIST
``.bin`` files in ``Train|Test/<digit>/`` folders or a zip archive. ``random_audio`` / ``random_camera`` make
reproducible random samples to feed them.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Sequence

import h5py
import numpy as np

from snn._io import atomic_path

from .nmnist import FOLDERS, encode_bin


def write_shd(path: str | Path, times: Sequence[np.ndarray], units: Sequence[np.ndarray], labels: Sequence[int],
              *, keys: Sequence[str] | None = None, speakers: Sequence[int] | None = None,
              time_dtype=np.float64, unit_dtype=np.uint16) -> Path:
    """Writes samples (``times`` in seconds, ``units`` channel ids) in SHD layout, atomically; returns the path."""
    path = Path(path)
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        t = f.create_dataset("spikes/times", (len(times),), dtype=h5py.vlen_dtype(np.dtype(time_dtype)))
        u = f.create_dataset("spikes/units", (len(units),), dtype=h5py.vlen_dtype(np.dtype(unit_dtype)))
        for i, (ti, ui) in enumerate(zip(times, units)):
            t[i], u[i] = np.asarray(ti, dtype=time_dtype), np.asarray(ui, dtype=unit_dtype)
        f["labels"] = np.asarray(labels, dtype=np.uint16)
        f["extra/speaker"] = np.asarray(speakers if speakers is not None else np.zeros(len(labels)), dtype=np.uint16)
        if keys is not None:
            f["extra/keys"] = np.array([k.encode() for k in keys])
        meta = f.create_group("extra/meta_info")
        for field in ("gender", "age", "body_height"):
            meta[field] = np.zeros(1, dtype=np.uint16)
    return path


def random_audio(n: int, seed: int = 0, *, channels: int = 700, mean_events: int = 200, max_s: float = 1.4):
    """``n`` random SHD-like samples: ``(times_us, units)`` per sample, sorted by time, integer microseconds."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        k = int(rng.poisson(mean_events))
        t = np.sort(rng.integers(0, int(max_s * 1e6), k))
        out.append((t, rng.integers(0, channels, k)))
    return out


def random_camera(n: int, seed: int = 0, *, size: int = 34, mean_events: int = 300, max_us: int = 300_000):
    """``n`` random N-MNIST-like samples: ``(x, y, t_us, p)`` per sample, sorted by time."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        k = int(rng.poisson(mean_events))
        t = np.sort(rng.integers(0, max_us, k))
        out.append((rng.integers(0, size, k), rng.integers(0, size, k), t, rng.integers(0, 2, k)))
    return out


def write_nmnist_tree(folder: str | Path, samples: Sequence[tuple], labels: Sequence[int]) -> Path:
    """Writes ``folder/<label>/<index:05d>.bin`` for each ``(x, y, t_us, p)`` sample; returns ``folder``."""
    folder = Path(folder)
    for i, (sample, label) in enumerate(zip(samples, labels)):
        (folder / str(int(label))).mkdir(parents=True, exist_ok=True)
        (folder / str(int(label)) / f"{i:05d}.bin").write_bytes(encode_bin(*sample))
    return folder


def write_nmnist_zip(path: str | Path, split: str, samples: Sequence[tuple], labels: Sequence[int]) -> Path:
    """Writes a zip laid out like the original archives (``Train|Test/<label>/<index:05d>.bin``), atomically."""
    path = Path(path)
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
        for i, (sample, label) in enumerate(zip(samples, labels)):
            z.writestr(f"{FOLDERS[split]}/{int(label)}/{i:05d}.bin", encode_bin(*sample))
    return path


def replace_dir(tmp: Path, final: Path) -> None:
    """Moves the finished folder ``tmp`` onto the absent ``final`` in one rename (a concurrent winner is kept)."""
    try:
        os.replace(tmp, final)
    except OSError:
        if not final.is_dir():
            raise
