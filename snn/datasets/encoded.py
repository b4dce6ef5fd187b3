"""``digits-spikes``: scikit-learn's 1797 8 x 8 digits turned into spike trains by :mod:`snn.encoders`.

Each image (pixel values 0..16, scaled by 1/16 to [0, 1]) becomes ``steps`` steps of ``step_ms`` on 64 channels (one
per pixel, row-major): ``encoding: rate`` draws a Bernoulli spike per step with probability ``max_prob * pixel``
(:class:`~snn.encoders.RateEncoder`, sample ``i`` seeded by ``(seed, i)``), ``encoding: latency`` fires each pixel
above 0.01 once at step ``round((1 - pixel) (steps - 1))`` (:class:`~snn.encoders.LatencyEncoder`). A spike of step
``k`` lies at ``(k + 0.5) step_ms``, so frames of ``dt = step_ms`` give back the encoder's output exactly. The split
is ndigits' (sklearn indices divisible by 5 are the test set, 360; the rest train, 1437). Written once in SHD's HDF5
layout (``<root>/digits-spikes/<key>/<split>.h5``) and read through the SHD loader, like the synthetic tasks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..encoders import LatencyEncoder, RateEncoder
from .ndigits import digits, is_test
from .synthetic import _module

ENCODINGS = ("rate", "latency")


@dataclass(frozen=True)
class DigitsSpikesConfig:
    """Knobs of ``digits-spikes``: ``encoding`` (rate | latency), ``steps``, ``step_ms`` (ms), ``max_prob`` (rate:
    spike probability per step of a full pixel), ``seed``."""

    seed: int = 0
    encoding: str = "rate"
    steps: int = 30
    step_ms: float = 1.0
    max_prob: float = 0.5
    channels: int = 64  # 8 x 8 pixels (fixed)

    def __post_init__(self) -> None:
        if self.encoding not in ENCODINGS:
            raise ValueError(f"digits-spikes: encoding: expected one of {list(ENCODINGS)}, got {self.encoding!r}")
        if self.channels != 64:
            raise ValueError(f"digits-spikes: channels: the 8 x 8 digits have 64 pixels, got {self.channels!r}")
        if not (isinstance(self.step_ms, (int, float)) and self.step_ms > 0):
            raise ValueError(f"digits-spikes: step_ms: expected a number of ms > 0, got {self.step_ms!r}")


def _encoder(cfg: DigitsSpikesConfig):
    if cfg.encoding == "rate":
        return RateEncoder(cfg.steps, gain=cfg.max_prob, seed=cfg.seed)
    return LatencyEncoder(cfg.steps)


def _samples(cfg: DigitsSpikesConfig, split: str, progress: bool):
    images, labels = digits()
    index = np.flatnonzero(is_test(np.arange(len(labels))) == (split == "test"))
    encoder = _encoder(cfg)
    times, units = [], []
    for i in index:
        spikes = encoder.transform(torch.from_numpy(images[i].reshape(64)), index=int(i))  # (steps, 64)
        step, unit = np.nonzero(spikes.numpy())
        times.append((step + 0.5) * cfg.step_ms * 1e-3)  # seconds, row-major in time: already sorted
        units.append(unit)
    return times, units, labels[index]


digits_spikes = _module("digits-spikes", _samples, lambda cfg: [str(k) for k in range(10)])
