"""Spiking Heidelberg Digits (SHD) and Spiking Speech Commands (SSC): HDF5 files (SPEC §6).

Layout: ``spikes/times`` (ragged float, seconds), ``spikes/units`` (ragged int, channel 0..699), ``labels`` (int),
one entry per sample each (at least one sample), optionally ``extra/keys`` (class names), ``extra/speaker`` and
``extra/meta_info``. Samples come out in tonic's ``(t, x, p)`` layout with ``t`` in microseconds and ``p = 1``: the
exact product of the float seconds and 10**6, rounded once to the nearest integer (ties to even; tonic truncates).
Empty samples are legal and come out as zero events. Times must be finite, >= 0 and below 2**52 us (about 4.5e9 s,
where float64 seconds stop resolving a microsecond); units in 0..699 (0..channels-1); a sample whose times are not
sorted is sorted (stable) on reading.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import h5py
import numpy as np

from . import cache
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
_RAGGED = {"spikes/times": ("f", "float seconds"), "spikes/units": ("iu", "integer channel ids")}
MAX_US = 2.0 ** 52  # times at or above this many us are rejected (float64 seconds no longer resolve 1 us there)
_SPLIT = 2.0 ** 27 + 1  # Veltkamp's splitter: a float64 = hi + lo with 26-bit halves


def _describe(node) -> str:
    """How an HDF5 node looks, for error messages."""
    if not isinstance(node, h5py.Dataset):
        return "a group"
    base = h5py.check_vlen_dtype(node.dtype)
    return (f"a ragged {base} array of shape {node.shape}" if base is not None else
            f"a flat {node.dtype} array of shape {node.shape}")


def _product_error(a: np.ndarray, b: float, p: np.ndarray) -> np.ndarray:
    """``a * b - p`` exactly, for ``p = a * b`` rounded (Dekker's two-product; no under/overflow in range)."""
    def split(v):
        c = _SPLIT * v
        hi = c - (c - v)
        return hi, v - hi
    (ah, al), (bh, bl) = split(a), split(np.float64(b))
    return ((ah * bh - p) + ah * bl + al * bh) + al * bl


def seconds_to_us(t_s: np.ndarray, t_us: np.ndarray) -> np.ndarray:
    """Integer us from float64 seconds ``t_s`` and their rounded product ``t_us = t_s * 1e6`` (below 2**52): the
    exact product rounded once to the nearest integer, ties to even. Rounding ``t_us`` again would be wrong where the
    product's own rounding landed on a half: the float 3.5e-06 lies just below 3.5 us, yet 3.5e-06 * 1e6 == 3.5."""
    r = np.rint(t_us)
    half = np.flatnonzero(np.abs(t_us - r) == 0.5)
    if half.size:
        d = t_us[half] - r[half]  # +-0.5: rint went down (+) or up (-) from the half
        e = _product_error(t_s[half], 1e6, t_us[half])  # where the exact product lies: above (+) or below (-)
        r[half] += np.where(np.sign(e) == np.sign(d), np.sign(d), 0.0)
    return r.astype(np.int64)


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
        self._check_layout()
        self.labels = np.asarray(self._file["labels"][()], dtype=np.int64)
        n_times, n_units = len(self._file["spikes/times"]), len(self._file["spikes/units"])
        if not n_times == n_units == len(self.labels):
            raise DatasetFormatError(f"{self.path}: spikes/times has {n_times} samples, spikes/units {n_units}, "
                                     f"labels {len(self.labels)}; they must be equal")
        if not n_times:
            raise DatasetFormatError(f"{self.path}: labels, spikes/times, spikes/units hold 0 samples; expected at "
                                     f"least one")
        bad = np.flatnonzero((self.labels < 0) | (self.labels >= self.num_classes))
        if bad.size:
            raise DatasetFormatError(f"{self.path}: sample {bad[0]}: label {self.labels[bad[0]]} outside "
                                     f"0..{self.num_classes - 1}")
        keys = self._file.get("extra/keys")
        self.classes = [k.decode() if isinstance(k, bytes) else str(k) for k in keys[()]] if keys is not None else None
        # sampled blocks of the whole file and the labels in full: a copy that keeps size and times is told apart
        labels_hash = hashlib.sha256(self.labels.tobytes()).hexdigest()
        self.source = cache.source_key([str(self.path.resolve()), cache.stat_key(self.path.stat()),
                                        cache.fingerprint(self.path), labels_hash])

    def _check_layout(self) -> None:
        """``spikes/times`` and ``spikes/units`` ragged 1-D, ``labels`` 1-D integers; else an error naming the key."""
        for key, (kinds, what) in _RAGGED.items():
            node = self._file[key]
            base = h5py.check_vlen_dtype(node.dtype) if isinstance(node, h5py.Dataset) else None
            if base is None or node.ndim != 1 or np.dtype(base).kind not in kinds:  # (base is str for text)
                raise DatasetFormatError(f"{self.path}: {key}: expected a ragged (variable-length) 1-D array, one "
                                         f"entry per sample, of {what}; found {_describe(node)}")
        node = self._file["labels"]
        if not isinstance(node, h5py.Dataset) or node.ndim != 1 or node.dtype.kind not in "iu":
            raise DatasetFormatError(f"{self.path}: labels: expected one integer per sample (a 1-D integer array); "
                                     f"found {_describe(node)}")

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
        t_us = t_s * 1e6
        self._check(t_s, t_us, x, offsets, start)
        t = seconds_to_us(t_s, t_us)
        chunk = EventChunk(t, x, np.zeros_like(x), np.ones_like(x), offsets, self.labels[start:stop])
        return sort_by_time(chunk)

    def _check(self, t_s: np.ndarray, t_us: np.ndarray, x: np.ndarray, offsets: np.ndarray, start: int) -> None:
        for bad, rule in (
            (~(t_us < MAX_US) | ~(t_s >= 0), "times must be finite and >= 0 s, and below 2**52 us (4.5e9 s: beyond, "
                                             "float64 seconds do not resolve a microsecond)"),
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
