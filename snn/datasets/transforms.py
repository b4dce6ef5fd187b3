"""Event -> frame binning, vectorised over many samples at once.

Bin ``k`` of a sample holds the events with ``start + k*dt <= t < start + (k+1)*dt`` (times from the recording's
zero, not from its first event as tonic's ``ToFrame`` does). With ``duration`` set every sample is cropped / zero-padded
to ``ceil(duration / dt)`` bins; without it a sample gets as many bins as its last event needs (at least one, so an
empty sample is one frame of zeros). Features: audio-like sensors ``(W, 1, 1)`` give ``(ceil(W / pool),)`` channels,
each the sum of ``pool`` neighbours (700 -> 140 with ``pool=5``); camera sensors ``(W, H, P)`` give
``(P, ceil(H / downsample), ceil(W / downsample))`` with ``downsample x downsample`` pixel blocks summed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .events import EventChunk


@dataclass(frozen=True)
class FrameConfig:
    """How events become frames. ``dt``, ``start`` and ``duration`` are in ms.

    ``pool`` sums groups of channels (audio-like sensors), ``downsample`` sums square pixel blocks (cameras),
    ``binary`` turns counts into 0/1, ``flatten`` makes the feature shape one-dimensional.
    """

    dt: float
    duration: float | None = None
    start: float = 0.0
    pool: int = 1
    downsample: int = 1
    binary: bool = False
    flatten: bool = False

    def __post_init__(self):
        for name in ("dt", "duration"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0
                                  or not math.isfinite(v)):
                raise ValueError(f"FrameConfig.{name}: expected a finite number of ms > 0, got {v!r}")
        if not isinstance(self.start, (int, float)) or not 0 <= self.start < math.inf:
            raise ValueError(f"FrameConfig.start: expected a finite number of ms >= 0, got {self.start!r}")
        for name in ("pool", "downsample"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"FrameConfig.{name}: expected an int >= 1, got {v!r}")

    @property
    def steps(self) -> int | None:
        """Fixed number of bins, or None for per-sample lengths."""
        return None if self.duration is None else math.ceil(round(self.duration / self.dt, 9))

    def feature_shape(self, sensor_size: tuple[int, int, int], *, unflattened: bool = False) -> tuple[int, ...]:
        w, h, p = sensor_size
        if h == 1 and p == 1:
            if self.downsample != 1:
                raise ValueError("FrameConfig.downsample: only for camera sensors; use pool for channels")
            shape = (-(-w // self.pool),)
        else:
            if self.pool != 1:
                raise ValueError("FrameConfig.pool: only for audio-like (W, 1, 1) sensors; use downsample")
            shape = (p, -(-h // self.downsample), -(-w // self.downsample))
        return (math.prod(shape),) if self.flatten and not unflattened else shape


def _feature_index(chunk: EventChunk, sensor_size, cfg: FrameConfig) -> np.ndarray:
    w, h, p = sensor_size
    if h == 1 and p == 1:
        return chunk.x // cfg.pool
    _, hd, wd = cfg.feature_shape(sensor_size, unflattened=True)
    return (chunk.p * hd + chunk.y // cfg.downsample) * wd + chunk.x // cfg.downsample


def bin_events(chunk: EventChunk, sensor_size: tuple[int, int, int], cfg: FrameConfig):
    """Where every event of ``chunk`` lands: ``(rows, features, lengths)`` for all samples at once.

    ``lengths[i]`` is sample ``i``'s number of bins; the samples' bins are numbered one after another (sample ``i``'s
    start at ``lengths[:i].sum()``). ``rows`` and ``features`` (int64) give the bin and the feature of each event that
    falls inside its sample's bins (the others are dropped); ``rows`` is nondecreasing when every sample's events are
    time-sorted, as the loaders give them.
    """
    n = len(chunk)
    dt_us, start_us = cfg.dt * 1000.0, cfg.start * 1000.0
    b = np.floor((chunk.t - start_us) / dt_us).astype(np.int64)
    sizes = np.diff(chunk.offsets)
    if cfg.steps is not None:
        lengths = np.full(n, cfg.steps, dtype=np.int64)
    else:
        last = np.where(sizes > 0, b[np.maximum(chunk.offsets[1:] - 1, 0)] if len(b) else 0, -1)
        lengths = np.maximum(last + 1, 1)
    ids = chunk.sample_ids
    keep = (b >= 0) & (b < lengths[ids])
    frame_start = np.concatenate([[0], np.cumsum(lengths)])
    return frame_start[ids[keep]] + b[keep], _feature_index(chunk, sensor_size, cfg)[keep], lengths
