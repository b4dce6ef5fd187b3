"""Synthetic temporal tasks in SHD's layout, where spike times carry the label and spike counts do not.

Both tasks are built from *timed patterns*: the same ``pattern_channels`` input channels each fire once, in an order
and at offsets (multiples of ``spacing_ms``) that depend on the class, so every class has the same per-channel counts
and, at any moment, at most one pattern channel fires: a network with short membrane time constants and no delays
sees nothing but isolated spikes, while synaptic delays that realign the offsets turn a class into a coincidence.
Each spike is jittered (Gaussian, ``jitter_ms``) and every channel also fires Poisson noise at ``noise_hz``.

- ``delay-patterns``: one pattern, placed at a random time in the window; label = the pattern's class.
- ``spike-adding``: pattern ``a``, a silent-ish ``gap_ms``, pattern ``b``; label = ``a + b`` (SHD-Adding's idea), so
  the first pattern must be remembered across the gap.

The sets are written once as SHD-format HDF5 files (``<root>/<name>/<key>/<split>.h5``) and read back through the
SHD loader. Everything is drawn from ``seed``; templates are shared by the splits, samples are not.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np
from snn._progress import bar as tqdm

from .download import default_root
from .shd import HeidelbergFile
from .testing import write_shd

VERSION = 1
SPLITS = ("train", "test")


@dataclass(frozen=True)
class DelayPatternsConfig:
    """Knobs of ``delay-patterns`` (times in ms, rates in Hz)."""

    seed: int = 0
    classes: int = 8
    channels: int = 64
    pattern_channels: int = 16
    spacing_ms: float = 5.0
    jitter_ms: float = 1.0
    noise_hz: float = 5.0
    duration_ms: float = 200.0
    train: int = 2000
    test: int = 500


@dataclass(frozen=True)
class SpikeAddingConfig:
    """Knobs of ``spike-adding``: ``digits`` pattern classes give ``2 * digits - 1`` sums (times in ms, rates in Hz)."""

    seed: int = 0
    digits: int = 4
    channels: int = 64
    pattern_channels: int = 8
    spacing_ms: float = 4.0
    jitter_ms: float = 0.5
    noise_hz: float = 2.0
    gap_ms: float = 100.0
    onset_jitter_ms: float = 10.0
    train: int = 2000
    test: int = 500

    @property
    def classes(self) -> int:
        return 2 * self.digits - 1

    @property
    def duration_ms(self) -> float:
        span = (self.pattern_channels - 1) * self.spacing_ms
        return 2 * (span + self.onset_jitter_ms) + self.gap_ms + 4 * self.jitter_ms


def _key(cfg) -> str:
    text = json.dumps({"v": VERSION, **dataclasses.asdict(cfg)}, sort_keys=True)
    return f"v{VERSION}-seed{cfg.seed}-{hashlib.sha256(text.encode()).hexdigest()[:10]}"


def templates(cfg, count: int) -> tuple[np.ndarray, np.ndarray]:
    """``(channels (pattern_channels,), offsets_ms (count, pattern_channels))``: the shared channel set and, per
    class, each channel's offset, a distinct permutation of ``0, spacing, 2 spacing, ...``."""
    rng = np.random.default_rng([cfg.seed, 0])
    if cfg.pattern_channels > cfg.channels:
        raise ValueError(f"pattern_channels ({cfg.pattern_channels}) must be <= channels ({cfg.channels})")
    chans = np.sort(rng.choice(cfg.channels, cfg.pattern_channels, replace=False))
    perms: list[tuple] = []
    while len(perms) < count:  # distinct orders (guaranteed to exist for >= 3 channels and few classes)
        perm = tuple(rng.permutation(cfg.pattern_channels))
        if perm not in perms:
            perms.append(perm)
    return chans, np.array(perms, dtype=np.float64) * cfg.spacing_ms


def _noise(rng, cfg, duration_ms: float):
    k = rng.poisson(cfg.noise_hz * cfg.channels * duration_ms * 1e-3)
    return rng.uniform(0, duration_ms, k), rng.integers(0, cfg.channels, k)


def _finish(rng, cfg, duration_ms, times, units):
    """Adds jitter and noise, keeps spikes inside the window, sorts; returns (seconds, units)."""
    times = times + rng.normal(0, cfg.jitter_ms, len(times))
    nt, nu = _noise(rng, cfg, duration_ms)
    t, u = np.concatenate([times, nt]), np.concatenate([units, nu])
    keep = (t >= 0) & (t < duration_ms)
    order = np.argsort(t[keep], kind="stable")
    return t[keep][order] * 1e-3, u[keep][order]


def _delay_samples(cfg: DelayPatternsConfig, split: str, progress: bool):
    chans, offsets = templates(cfg, cfg.classes)
    rng = np.random.default_rng([cfg.seed, 1 + SPLITS.index(split)])
    n = getattr(cfg, split)
    labels = rng.permutation(np.arange(n) % cfg.classes)
    span = offsets.max()
    latest = cfg.duration_ms - span - 3 * cfg.jitter_ms
    if latest <= 3 * cfg.jitter_ms:
        raise ValueError(f"delay-patterns: duration_ms {cfg.duration_ms} too short for a {span} ms pattern")
    times, units = [], []
    for y in tqdm(labels, desc=f"delay-patterns {split}", unit="sample", disable=not progress):
        t0 = rng.uniform(3 * cfg.jitter_ms, latest)
        t, u = _finish(rng, cfg, cfg.duration_ms, t0 + offsets[y], chans)
        times.append(t), units.append(u)
    return times, units, labels


def _adding_samples(cfg: SpikeAddingConfig, split: str, progress: bool):
    chans, offsets = templates(cfg, cfg.digits)
    rng = np.random.default_rng([cfg.seed, 1 + SPLITS.index(split)])
    n = getattr(cfg, split)
    a, b = rng.integers(0, cfg.digits, n), rng.integers(0, cfg.digits, n)
    span = offsets.max()
    times, units = [], []
    for i in tqdm(range(n), desc=f"spike-adding {split}", unit="sample", disable=not progress):
        t1 = 2 * cfg.jitter_ms + rng.uniform(0, cfg.onset_jitter_ms)
        t2 = t1 + span + cfg.gap_ms + rng.uniform(0, cfg.onset_jitter_ms)
        t, u = _finish(rng, cfg, cfg.duration_ms, np.concatenate([t1 + offsets[a[i]], t2 + offsets[b[i]]]),
                       np.concatenate([chans, chans]))
        times.append(t), units.append(u)
    return times, units, a + b


def _prepare(name: str, cfg, make, class_names, root, progress: bool = False) -> Path:
    root = Path(root).expanduser() if root is not None else default_root()
    folder = root / name / _key(cfg)
    for split in SPLITS:
        path = folder / f"{split}.h5"
        if not path.exists():
            times, units, labels = make(cfg, split, progress)
            write_shd(path, times, units, labels, keys=class_names)  # atomic
    return folder


def _open(name, cfg, make, class_names, split, root, progress):
    if split not in SPLITS:
        raise ValueError(f"{name}: split must be one of {list(SPLITS)}, got {split!r}")
    folder = _prepare(name, cfg, make, class_names, root, progress)
    return HeidelbergFile(folder / f"{split}.h5", name, split, num_classes=len(class_names), channels=cfg.channels)


def _module(name, make, names):
    def load(split, root, cfg, progress=False):
        """The split, generated on first use (seconds) and read through the SHD loader."""
        return _open(name, cfg, make, names(cfg), split, root, progress)

    return SimpleNamespace(load=load)


delay_patterns = _module("delay-patterns", _delay_samples, lambda c: [f"pattern-{k}" for k in range(c.classes)])
spike_adding = _module("spike-adding", _adding_samples, lambda c: [f"sum-{k}" for k in range(c.classes)])
