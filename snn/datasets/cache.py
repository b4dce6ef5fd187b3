"""On-disk cache of binned frames: one compressed ``.npz`` per (dataset files, split, transform, format version).

Read with ``allow_pickle=False``; written through a temporary file and ``os.replace`` so a crash never leaves a
half-written cache under its final name.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import zipfile
from pathlib import Path

import numpy as np

from snn._io import atomic_path

from .transforms import FrameConfig

VERSION = 1  # bump when the binning or the file layout changes: old entries are then simply not found


def cache_path(folder: Path, name: str, split: str, source: str, cfg: FrameConfig) -> Path:
    """File for these frames; the name hashes the source files' identity, the config and :data:`VERSION`."""
    key = json.dumps({"v": VERSION, "source": source, "cfg": dataclasses.asdict(cfg)}, sort_keys=True)
    return folder / f"{name}-{split}-{hashlib.sha256(key.encode()).hexdigest()[:16]}.npz"


def save(path: Path, frames: np.ndarray, lengths: np.ndarray, labels: np.ndarray) -> None:
    """Writes an ``.npz`` deflated at level 1: frames are mostly zeros, and level 1 compresses them several times
    faster than ``np.savez_compressed``'s default for a slightly larger file."""
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        for name, array in (("frames", frames), ("lengths", lengths), ("labels", labels)):
            with z.open(f"{name}.npy", "w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.ascontiguousarray(array), allow_pickle=False)


def load(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """The cached ``(frames, lengths, labels)``, or None when absent or unreadable (it is then rebuilt)."""
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            out = z["frames"], z["lengths"], z["labels"]
    except (OSError, ValueError, KeyError, EOFError):
        return None
    frames, lengths, labels = out
    if frames.ndim != 2 or len(lengths) != len(labels) or int(lengths.sum()) != len(frames):
        return None
    return out
