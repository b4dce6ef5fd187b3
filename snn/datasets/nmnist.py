"""N-MNIST (Orchard et al. 2015): one ``.bin`` file per sample, in ``Train/<digit>/`` and ``Test/<digit>/`` folders
or inside the original ``train.zip`` / ``test.zip`` archives (SPEC §6).

Each event is 5 bytes: byte 0 = x, byte 1 = y, bit 7 of byte 2 = polarity, the low 23 bits of bytes 2-4 (big-endian)
= timestamp in us. As in the original reader, an event with ``y == 240`` is a timestamp-overflow marker: it adds
2**13 us to every later timestamp and is dropped. Other coordinates must lie on the 34 x 34 sensor. An empty file is
an empty sample; a file whose length is not a multiple of 5 is truncated and rejected; events are sorted by time
(stable) if a file holds them out of order.

Layout, the same for folder trees and zips: a sample is ``<label>/<name>.bin`` below the split folder, with ``<label>``
exactly one of ``0`` .. ``9`` and ``<name>`` not starting with ``.``. A folder named by any other number (``10``,
``03``) is an error. Everything else below the split folder (``._*`` and ``.DS_Store`` files, other files and folders;
in a zip also ``__MACOSX/`` copies) is skipped with one :class:`DatasetWarning` that counts and names it.
"""

from __future__ import annotations

import os
import warnings
import zipfile
import zlib
from pathlib import Path

import numpy as np

from . import cache
from .download import Resource, default_root, ensure
from .events import CAMERA_DTYPE, DatasetFormatError, DatasetWarning, EventChunk, EventDataset

WIDTH = HEIGHT = 34
OVERFLOW_Y = 240
OVERFLOW_US = 1 << 13
MAX_T = (1 << 23) - 1
FOLDERS = {"train": "Train", "test": "Test"}
LABELS = {str(d): d for d in range(10)}  # label folder name -> label
_SHOWN = 8  # skipped entries named in the warning
_BASE = "https://data.mendeley.com/public-files/datasets/468j46mzdv/files/"
RESOURCES = {  # tonic's copies (SPEC §6)
    "train": Resource("train.zip", "20959b8e626244a1b502305a9e6e2031",
                      (_BASE + "39c25547-014b-4137-a934-9d29fa53c7a0/file_downloaded",)),
    "test": Resource("test.zip", "69ca8762b2fe404d9b9bad1103e97832",
                     (_BASE + "05a4d654-7e03-4c15-bdfa-9bb2bcbea494/file_downloaded",)),
}


def parse_bin(data: bytes, source: str = "<bytes>", sensor: tuple[int, int] = (WIDTH, HEIGHT)):
    """Decodes one ``.bin`` payload into ``(x, y, t, p)`` int64 arrays (``t`` in us), sorted by time.

    Raises :class:`DatasetFormatError` naming ``source`` for a truncated payload or an off-sensor event.
    """
    if len(data) % 5:
        raise DatasetFormatError(f"{source}: {len(data)} bytes is not a multiple of 5 (5-byte events): truncated?")
    raw = np.frombuffer(data, dtype=np.uint8).reshape(-1, 5).astype(np.int64)
    x, y = raw[:, 0], raw[:, 1]
    p = raw[:, 2] >> 7
    t = ((raw[:, 2] & 0x7F) << 16) | (raw[:, 3] << 8) | raw[:, 4]
    marker = y == OVERFLOW_Y
    if marker.any():
        t = t + OVERFLOW_US * np.cumsum(marker)
        keep = ~marker
        x, y, t, p = x[keep], y[keep], t[keep], p[keep]
    off = (x >= sensor[0]) | (y >= sensor[1])
    if off.any():
        k = int(np.flatnonzero(off)[0])
        raise DatasetFormatError(f"{source}: event {k}: (x={x[k]}, y={y[k]}) is off the {sensor[0]} x {sensor[1]} "
                                 f"sensor")
    if (np.diff(t) < 0).any():
        order = np.argsort(t, kind="stable")
        x, y, t, p = x[order], y[order], t[order], p[order]
    return x, y, t, p


def encode_bin(x, y, t, p) -> bytes:
    """Encodes events into the 5-byte format (no overflow markers: ``t`` must be < 2**23 us)."""
    x, y, t, p = (np.asarray(a, dtype=np.int64) for a in (x, y, t, p))
    if len(t) and (t.min() < 0 or t.max() > MAX_T or x.min() < 0 or x.max() > 255 or y.min() < 0 or y.max() > 255
                   or not np.isin(p, (0, 1)).all()):
        raise ValueError("encode_bin: needs 0 <= t < 2**23 us, 0 <= x, y <= 255 and p in {0, 1}")
    raw = np.empty((len(t), 5), dtype=np.uint8)
    raw[:, 0], raw[:, 1] = x, y
    raw[:, 2] = (p << 7) | (t >> 16)
    raw[:, 3], raw[:, 4] = (t >> 8) & 0xFF, t & 0xFF
    return raw.tobytes()


def _label_folder(name: str, where: str) -> int | None:
    """The label of a folder ``name`` below the split folder, None when it is not a label folder; a folder named by
    another number is an error (``where`` names it)."""
    if name in LABELS:
        return LABELS[name]
    if name.isdigit():
        raise DatasetFormatError(f"{where}/: a folder named by a number outside 0..9; label folders are exactly "
                                 f"0, 1, ..., 9 (N-MNIST's 10 classes): move it out of the split folder")
    return None


def _is_sample(name: str) -> bool:
    return name.endswith(".bin") and not name.startswith(".")


class NMNISTFiles(EventDataset):
    """N-MNIST-format samples read lazily from a folder tree or a zip archive.

    ``location`` is either the split's folder (holding ``0/`` .. ``9/``) or a zip whose members are
    ``[<prefix>/]Train|Test/<label>/<name>.bin`` (one prefix); files are ordered by label, then name. See the module
    docstring for what is skipped and what is an error. ``source`` covers every file read: per file its name, size and
    times (a tree), or the archive's size and times and every member's name, CRC-32 and size (a zip).
    """

    sensor_size = (WIDTH, HEIGHT, 2)
    dtype = CAMERA_DTYPE
    num_classes = 10
    classes = [str(d) for d in range(10)]

    def __init__(self, location: str | Path, split: str = "train", name: str = "nmnist"):
        self.location, self.split, self.name = Path(location), split, name
        self._zip, self._pid = None, None
        if self.location.is_dir():
            found, skipped, container = self._list_tree()
        elif zipfile.is_zipfile(self.location):
            found, skipped, container = self._list_zip()
        elif self.location.exists():
            raise DatasetFormatError(f"{self.location}: neither a folder of digit folders nor a readable zip archive")
        else:
            raise FileNotFoundError(f"{self.location}: no such folder or zip")
        if skipped:
            shown = ", ".join(skipped[:_SHOWN]) + (", ..." if len(skipped) > _SHOWN else "")
            warnings.warn(f"{self.location}: skipped {len(skipped)} entries that are not samples "
                          f"(<label 0..9>/<name>.bin): {shown}", DatasetWarning, stacklevel=2)
        if not found:
            raise DatasetFormatError(f"{self.location}: no <digit>/<name>.bin files for split {split!r}")
        found.sort()
        self._members = [m for _, m, _ in found]
        self.labels = np.array([d for d, _, _ in found], dtype=np.int64)
        self.source = cache.source_key([str(self.location.resolve()), container, [key for _, _, key in found]])

    def _list_tree(self) -> tuple[list, list, list]:
        """``(label, "<label>/<name>", [name, *stat_key])`` per sample, the skipped entries, and ``[]`` (nothing
        else read)."""
        found, skipped = [], []
        for top in sorted(os.scandir(self.location), key=lambda e: e.name):
            label = _label_folder(top.name, str(self.location / top.name)) if top.is_dir() else None
            if label is None:
                skipped.append(top.name)
                continue
            for entry in os.scandir(top.path):
                member = f"{top.name}/{entry.name}"
                if entry.is_file() and _is_sample(entry.name):
                    found.append((label, member, [member, *cache.stat_key(entry.stat())]))
                else:
                    skipped.append(member)
        return found, sorted(skipped), []

    def _list_zip(self) -> tuple[list, list, list]:
        """As :meth:`_list_tree` for a zip (members below ``[<prefix>/]<Train|Test>/``; ``[member, CRC-32, size]``
        per sample), and the archive's stat key."""
        folder = FOLDERS[self.split]
        found, skipped, prefixes = [], [], set()
        for info in self._open_zip().infolist():
            parts = info.filename.rstrip("/").split("/")
            if folder not in parts[:-1]:
                continue  # not below a split folder of ours: the other split, or files beside it
            at = parts.index(folder)
            prefix, rel = parts[:at], parts[at + 1:]
            if any(p.startswith(".") or p == "__MACOSX" for p in prefix):  # a metadata copy of the split
                if not info.is_dir():
                    skipped.append(info.filename)
                continue
            folder_of = info.is_dir() or len(rel) > 1  # rel[0] names a folder (a label folder, if a digit)
            label = _label_folder(rel[0], f"{self.location}: {'/'.join(parts[:at + 2])}") if folder_of else None
            if info.is_dir():
                continue  # folder entries hold nothing
            if label is not None and len(rel) == 2 and _is_sample(rel[1]):
                found.append((label, info.filename, [info.filename, info.CRC, info.file_size]))
                prefixes.add("/".join(prefix + [folder]))
            else:
                skipped.append(info.filename)
        if len(prefixes) > 1:
            raise DatasetFormatError(f"{self.location}: {len(prefixes)} {folder} folders "
                                     f"({', '.join(sorted(prefixes))}); expected one copy of the split")
        return found, skipped, cache.stat_key(self.location.stat())

    def _open_zip(self) -> zipfile.ZipFile:
        if self._zip is None or self._pid != os.getpid():  # one handle per process (DataLoader workers fork)
            try:
                self._zip, self._pid = zipfile.ZipFile(self.location), os.getpid()
            except zipfile.BadZipFile as e:
                raise DatasetFormatError(f"{self.location}: corrupt zip archive ({e})") from e
        return self._zip

    def _read(self, i: int) -> bytes:
        member = self._members[i]
        if self.location.is_dir():
            return (self.location / member).read_bytes()
        try:
            return self._open_zip().read(member)
        except (zipfile.BadZipFile, zlib.error, OSError, EOFError) as e:
            raise DatasetFormatError(f"{self.location}: member {member}: cannot read ({e})") from e

    def _chunk(self, start: int, stop: int) -> EventChunk:
        parts = [parse_bin(self._read(i), f"{self.location}/{self._members[i]}" if self.location.is_dir()
                           else f"{self.location}:{self._members[i]}") for i in range(start, stop)]
        sizes = [len(q[0]) for q in parts]
        cat = [np.concatenate([q[k] for q in parts]) for k in range(4)]
        offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        return EventChunk(t=cat[2], x=cat[0], y=cat[1], p=cat[3], offsets=offsets, labels=self.labels[start:stop])


def load(split: str = "train", root: str | Path | None = None, download: bool = False) -> NMNISTFiles:
    """Opens N-MNIST from ``<root>/nmnist/Train|Test/`` if present, else ``<root>/nmnist/train.zip|test.zip``."""
    if split not in FOLDERS:
        raise ValueError(f"nmnist: split must be one of {list(FOLDERS)}, got {split!r}")
    root = Path(root).expanduser() if root is not None else default_root()
    folder = root / "nmnist"
    if (folder / FOLDERS[split]).is_dir():
        return NMNISTFiles(folder / FOLDERS[split], split)
    res = RESOURCES[split]
    try:
        ensure(res, folder, download_missing=download, what=f"N-MNIST {split}", root=root)
    except FileNotFoundError as e:
        raise type(e)(f"{e} (or unpack it so that {folder / FOLDERS[split]}/0..9/*.bin exist)") from None
    return NMNISTFiles(folder / res.filename, split)
