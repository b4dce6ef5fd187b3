"""Spiking Heidelberg Digits (SHD) and Spiking Speech Commands (SSC): HDF5 files (SPEC §6).

Layout: ``spikes/times`` (ragged float, seconds), ``spikes/units`` (ragged int, channel 0..699), ``labels`` (int),
optionally ``extra/keys`` (class names), ``extra/speaker`` and ``extra/meta_info``. Samples come out in tonic's
``(t, x, p)`` layout with ``t`` in microseconds (rounded to the nearest us; tonic truncates) and ``p = 1``.
Empty samples are legal and come out as zero events. Times must be finite and >= 0 and units in 0..699 (0..channels-1);
a sample whose times are not sorted is sorted (stable) on reading.
"""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np

from .download import Resource, default_root, ensure
from .events import AUDIO_DTYPE, DatasetFormatError, EventChunk, EventDataset, sort_by_time

CHANNELS = 700
_BASE = "https://zenkelab.org/datasets/"
# md5 of tonic's mirror archives (SPEC §6; SSC sums from tonic 1.7.0's source).
_MD5 = {
    ("shd", "train"): "f3252aeb598ac776c1b526422d90eecb",
    ("shd", "test"): "1503a5064faa34311c398fb0a1ed0a6f",
    ("ssc", "train"): "d102be95e7144fcc0553d1f45ba94170",
    ("ssc", "valid"): "b4eee3516a4a90dd0c71a6ac23a8ae43",
    ("ssc", "test"): "a35ff1e9cffdd02a20eb850c17c37748",
}
NUM_CLASSES = {"shd": 20, "ssc": 35}
SPLITS = {"shd": ("train", "test"), "ssc": ("train", "valid", "test")}
_REQUIRED = ("spikes/times", "spikes/units", "labels")


def resource(name: str, split: str) -> Resource:
    h5 = f"{name}_{split}.h5"
    return Resource(filename=h5 + ".zip", md5=_MD5[name, split], urls=(_BASE + h5 + ".zip",), members=((h5, h5),))


class HeidelbergFile(EventDataset):
    """One SHD/SSC-format HDF5 file read lazily; ``name`` ``"shd"`` or ``"ssc"`` fixes the class count, other
    names (the synthetic tasks) give ``num_classes`` and ``channels`` themselves."""

    dtype = AUDIO_DTYPE

    def __init__(self, path: str | Path, name: str = "shd", split: str = "train", num_classes: int | None = None,
                 channels: int = CHANNELS):
        self.path, self.name, self.split, self.channels = Path(path), name, split, channels
        self.sensor_size = (channels, 1, 1)
        self.num_classes = num_classes if num_classes is not None else NUM_CLASSES[name]
        try:
            self._file = h5py.File(self.path, "r")
        except OSError as e:
            raise DatasetFormatError(f"{self.path}: not a readable HDF5 file ({e})") from e
        missing = [k for k in _REQUIRED if k not in self._file]
        if missing:
            raise DatasetFormatError(f"{self.path}: missing HDF5 keys {missing}; an SHD/SSC file has {list(_REQUIRED)}")
        self._pid = os.getpid()
        self.labels = np.asarray(self._file["labels"][()], dtype=np.int64).reshape(-1)
        n_times, n_units = len(self._file["spikes/times"]), len(self._file["spikes/units"])
        if not n_times == n_units == len(self.labels):
            raise DatasetFormatError(f"{self.path}: spikes/times has {n_times} samples, spikes/units {n_units}, "
                                     f"labels {len(self.labels)}; they must be equal")
        bad = np.flatnonzero((self.labels < 0) | (self.labels >= self.num_classes))
        if bad.size:
            raise DatasetFormatError(f"{self.path}: sample {bad[0]}: label {self.labels[bad[0]]} outside "
                                     f"0..{self.num_classes - 1}")
        keys = self._file.get("extra/keys")
        self.classes = [k.decode() if isinstance(k, bytes) else str(k) for k in keys[()]] if keys is not None else None
        st = self.path.stat()
        self.source = f"{self.path.resolve()}:{st.st_size}:{st.st_mtime_ns}"

    def _handle(self) -> h5py.File:
        """The open file; reopened in a forked process (DataLoader workers), where an inherited handle is unsafe."""
        if self._pid != os.getpid():
            self._file, self._pid = h5py.File(self.path, "r"), os.getpid()
        return self._file

    def _chunk(self, start: int, stop: int) -> EventChunk:
        try:
            f = self._handle()
            times, units = f["spikes/times"][start:stop], f["spikes/units"][start:stop]
        except OSError as e:  # truncated or corrupt data blocks surface here
            raise DatasetFormatError(f"{self.path}: samples {start}..{stop - 1}: cannot read spikes ({e})") from e
        sizes = np.array([len(a) for a in times], dtype=np.int64)
        usizes = np.array([len(a) for a in units], dtype=np.int64)
        if (sizes != usizes).any():
            i = int(np.flatnonzero(sizes != usizes)[0])
            raise DatasetFormatError(f"{self.path}: sample {start + i}: {sizes[i]} times but {usizes[i]} units")
        offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        t_s = np.concatenate([np.asarray(a, dtype=np.float64) for a in times]) if sizes.sum() else np.zeros(0)
        x = np.concatenate([np.asarray(a, dtype=np.int64) for a in units]) if sizes.sum() else np.zeros(0, np.int64)
        self._check(t_s, x, offsets, start)
        t = np.rint(t_s * 1e6).astype(np.int64)
        chunk = EventChunk(t, x, np.zeros_like(x), np.ones_like(x), offsets, self.labels[start:stop])
        return sort_by_time(chunk)

    def _check(self, t_s: np.ndarray, x: np.ndarray, offsets: np.ndarray, start: int) -> None:
        for bad, rule in (
            (~np.isfinite(t_s) | (t_s < 0), "times must be finite and >= 0 s"),
            ((x < 0) | (x >= self.channels), f"units must be in 0..{self.channels - 1}"),
        ):
            if bad.any():
                k = int(np.flatnonzero(bad)[0])
                i = int(np.searchsorted(offsets, k, side="right") - 1)
                raise DatasetFormatError(f"{self.path}: sample {start + i}, spike {k - offsets[i]}: time "
                                         f"{t_s[k]!r} s, unit {x[k]}: {rule}")

    def close(self) -> None:
        self._file.close()


def load(name: str, split: str = "train", root: str | Path | None = None, download: bool = False) -> HeidelbergFile:
    """Opens ``<root>/<name>/<name>_<split>.h5`` (``name`` is ``"shd"`` or ``"ssc"``), downloading it if asked."""
    if split not in SPLITS[name]:
        raise ValueError(f"{name}: split must be one of {list(SPLITS[name])}, got {split!r}")
    root = Path(root).expanduser() if root is not None else default_root()
    folder = root / name
    ensure(resource(name, split), folder, download_missing=download, what=f"{name.upper()} {split}", root=root)
    return HeidelbergFile(folder / f"{name}_{split}.h5", name, split)
