"""Event containers shared by every loader.

A sample is a numpy structured array with tonic's field names and dtypes, so tonic transforms apply to it:
audio-like sets (SHD, SSC, the synthetic tasks) use ``(t, x, p)``, camera sets (N-MNIST, ndigits) ``(x, y, t, p)``;
``t`` is in microseconds, every field is int64. Internally a run of samples travels as one flat :class:`EventChunk`
(all events concatenated plus offsets), which is what the vectorised binning consumes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np

AUDIO_DTYPE = np.dtype([("t", np.int64), ("x", np.int64), ("p", np.int64)])
CAMERA_DTYPE = np.dtype([("x", np.int64), ("y", np.int64), ("t", np.int64), ("p", np.int64)])


class DatasetFormatError(ValueError):
    """A dataset file that does not follow its format; the message names the file, the sample and the rule."""


class DatasetWarning(UserWarning):
    """Something in a dataset's files was skipped; the message counts and names it."""


@dataclass(frozen=True)
class EventChunk:
    """Events of consecutive samples, concatenated.

    ``t`` (int64, us), ``x``, ``y``, ``p`` (int64; ``y`` is all zeros for audio-like sets) hold every event;
    sample ``i`` owns ``offsets[i]:offsets[i + 1]``; ``labels[i]`` is its class.
    """

    t: np.ndarray
    x: np.ndarray
    y: np.ndarray
    p: np.ndarray
    offsets: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def sample_ids(self) -> np.ndarray:
        """Index (within the chunk) of the sample each event belongs to."""
        return np.repeat(np.arange(len(self), dtype=np.int64), np.diff(self.offsets))

    @staticmethod
    def concat(parts: Sequence["EventChunk"]) -> "EventChunk":
        if not parts:
            raise ValueError("EventChunk.concat: no parts")
        sizes = np.concatenate([[0]] + [np.diff(c.offsets) for c in parts])
        return EventChunk(
            t=np.concatenate([c.t for c in parts]),
            x=np.concatenate([c.x for c in parts]),
            y=np.concatenate([c.y for c in parts]),
            p=np.concatenate([c.p for c in parts]),
            offsets=np.cumsum(sizes, dtype=np.int64),
            labels=np.concatenate([c.labels for c in parts]),
        )


def structured(dtype: np.dtype, t, x, p, y=None) -> np.ndarray:
    """Builds one sample's structured array (tonic layout) from field arrays."""
    out = np.empty(len(t), dtype=dtype)
    out["t"], out["x"], out["p"] = t, x, p
    if "y" in dtype.names:
        out["y"] = 0 if y is None else y
    return out


class EventDataset:
    """An indexable set of event samples: ``ds[i] -> (events, label)``.

    Subclasses implement :meth:`_chunk` (read samples ``start:stop`` as one flat chunk) and set ``labels`` (int64,
    one per sample), ``sensor_size`` (tonic order ``(W, H, P)``), ``dtype``, ``classes`` and ``source`` (a string
    that changes when any file the dataset reads changes, see :func:`cache.source_key`; it keys the frame cache).
    """

    name: str
    split: str
    labels: np.ndarray
    sensor_size: tuple[int, int, int]
    dtype: np.dtype
    classes: list[str] | None
    num_classes: int
    source: str

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[np.ndarray, int]:
        n = len(self)
        if not isinstance(index, (int, np.integer)) or not -n <= index < n:
            raise IndexError(f"{self.name} {self.split}: index {index!r} out of range for {n} samples")
        i = int(index) % n
        c = self._chunk(i, i + 1)
        return structured(self.dtype, c.t, c.x, c.p, c.y), int(c.labels[0])

    def chunks(self, max_events: int) -> Iterator[EventChunk]:
        """Yields the whole dataset as consecutive chunks of about ``max_events`` events: one sample first, then as
        many samples (1 to 4096) as would hold ``max_events`` if each were as large as the largest of the chunk
        before (event counts are only known once read)."""
        start, size = 0, 1
        while start < len(self):
            chunk = self._chunk(start, min(start + size, len(self)))
            start += len(chunk)
            largest = int(np.diff(chunk.offsets).max())
            size = min(max(max_events // max(largest, 1), 1), 4096)
            yield chunk

    def _chunk(self, start: int, stop: int) -> EventChunk:
        raise NotImplementedError

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(name={self.name!r}, split={self.split!r}, samples={len(self)}, "
                f"sensor_size={self.sensor_size}, num_classes={self.num_classes})")


def sort_by_time(chunk: EventChunk) -> EventChunk:
    """Returns the chunk with every sample's events in non-decreasing time (stable); a no-op when already sorted."""
    if len(chunk.t) < 2:
        return chunk
    ids = chunk.sample_ids
    back = (np.diff(chunk.t) < 0) & (ids[1:] == ids[:-1])
    if not back.any():
        return chunk
    order = np.lexsort((chunk.t, ids))
    return EventChunk(chunk.t[order], chunk.x[order], chunk.y[order], chunk.p[order], chunk.offsets, chunk.labels)
