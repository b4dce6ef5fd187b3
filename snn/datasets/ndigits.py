"""``ndigits``: an offline N-MNIST look-alike built from scikit-learn's 1797 handwritten 8 x 8 digits.

Each image is scaled to a ``box``-pixel square centred on the 34 x 34 sensor (bilinear) and moved along N-MNIST's
three saccades (a triangle, each leg ``saccade_ms`` long with a smooth cosine velocity profile) in front of a
simulated event camera: every ``step_us`` each pixel compares its log intensity ``log(I + eps)`` with the level of
its last event and emits ``floor(change / threshold)`` ON or OFF events (timestamps uniform inside the step). Each
pixel's threshold carries a fixed mismatch (Gaussian, ``mismatch`` relative std) and every pixel fires background
noise events at ``noise_hz``. The streams are written once in the N-MNIST ``.bin`` format
(``<root>/ndigits/<key>/Train|Test/<digit>/<index>.bin``) and read back through the N-MNIST loader. Everything is
drawn from ``seed``; the split is fixed: sklearn indices divisible by 5 are the test set (360), the rest train (1437).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from .. import _io
from .._progress import bar as tqdm

from .download import default_root
from .nmnist import FOLDERS, HEIGHT, WIDTH, NMNISTFiles, encode_bin
from .testing import replace_dir

VERSION = 2


@dataclass(frozen=True)
class NDigitsConfig:
    """Recording simulation knobs. Lengths in sensor pixels, times as named, intensities in [0, 1]."""

    seed: int = 0
    box: float = 24.0          # digit size on the sensor, px (MNIST's 28 x 28 box holds a ~20 px digit)
    amplitude: float = 2.5     # saccade triangle half-size, px
    saccade_ms: float = 100.0  # duration of each of the three saccades
    step_us: int = 2000        # simulation step
    eps: float = 0.1           # log(I + eps): dark pixels stay finite
    threshold: float = 0.3     # contrast threshold (log units), ON and OFF
    mismatch: float = 0.05     # relative std of the per-pixel threshold
    offset_px: float = 0.5     # per-sample random start offset, uniform in +-offset_px
    noise_hz: float = 0.2      # background events per pixel per second (each polarity half)

    def key(self) -> str:
        text = json.dumps({"v": VERSION, **dataclasses.asdict(self)}, sort_keys=True)
        return f"v{VERSION}-seed{self.seed}-{hashlib.sha256(text.encode()).hexdigest()[:10]}"


def digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits: images (1797, 8, 8) scaled to [0, 1] and labels (1797,)."""
    from sklearn.datasets import load_digits  # ships the data; imported late: only ndigits needs it

    d = load_digits()
    return d.images.astype(np.float32) / 16.0, d.target.astype(np.int64)


def is_test(index: np.ndarray) -> np.ndarray:
    """The fixed split: sample ``index`` (sklearn order) is in the test set."""
    return np.asarray(index) % 5 == 0


def saccade_path(cfg: NDigitsConfig) -> np.ndarray:
    """Image displacement ``(steps + 1, 2)`` (dx, dy in px) at each step boundary along the three saccades."""
    a = cfg.amplitude
    corners = np.array([[-a, -a], [a, a], [-a, a], [-a, -a]], dtype=np.float64)  # diagonal, left, up
    per_leg = round(cfg.saccade_ms * 1000 / cfg.step_us)
    s = (1 - np.cos(np.pi * np.arange(per_leg) / per_leg)) / 2  # smooth start and stop
    legs = [corners[k] + s[:, None] * (corners[k + 1] - corners[k]) for k in range(3)]
    return np.concatenate(legs + [corners[-1:]])


def _weights(shift: torch.Tensor, size: int, box: float) -> torch.Tensor:
    """Bilinear sampling matrices (N, size, 8): sensor pixel centre -> weights on the 8 image pixels along one axis.

    The image spans ``box`` px centred on the sensor, displaced by ``shift`` (N,) px; outside it is dark.
    """
    centre = torch.arange(size, dtype=torch.float32) + 0.5 - size / 2
    pos = (centre[None, :] - shift[:, None]) * (8 / box) + 4  # in image pixels, 0..8 across the image
    return torch.relu(1 - (pos[:, :, None] - (torch.arange(8, dtype=torch.float32) + 0.5)).abs())


def _render(images: torch.Tensor, shift: torch.Tensor, box: float) -> torch.Tensor:
    """Images (N, 8, 8) drawn on the sensor, displaced by ``shift`` (N, 2) px (dx, dy): (N, H, W) intensities.

    Separable bilinear interpolation with zero padding (what ``grid_sample`` computes), as two small matmuls.
    """
    return _weights(shift[:, 1], HEIGHT, box) @ images @ _weights(shift[:, 0], WIDTH, box).transpose(1, 2)


@contextlib.contextmanager
def _single_thread():
    """The simulation's ops are small and many: one torch thread is faster, and much faster on a busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def simulate(images: np.ndarray, cfg: NDigitsConfig, progress: bool = False) -> list[tuple[np.ndarray, ...]]:
    """Event streams ``(x, y, t_us, p)`` (time-sorted) for images (N, 8, 8) in [0, 1]."""
    rng = np.random.default_rng(cfg.seed)
    n = len(images)
    path = saccade_path(cfg)
    steps = len(path) - 1
    shifts = torch.from_numpy(rng.uniform(-cfg.offset_px, cfg.offset_px, (n, 2))[None] + path[:, None]).float()
    thr = torch.from_numpy(cfg.threshold * np.clip(1 + cfg.mismatch * rng.standard_normal((n, HEIGHT, WIDTH)),
                                                   0.5, None)).float()
    inv_thr = (1 + 1e-4) / thr  # a change within 0.01 % of a threshold crosses it: returns to an exact start level
    imgs = torch.from_numpy(images.astype(np.float32))
    with torch.no_grad(), _single_thread():
        level = torch.log(_render(imgs, shifts[0], cfg.box) + cfg.eps)
        found = []  # per step: (sample, y, x, signed count, step)
        for k in tqdm(range(1, steps + 1), desc="ndigits: simulating", unit="step", disable=not progress):
            change = torch.log(_render(imgs, shifts[k], cfg.box) + cfg.eps).sub_(level).mul_(inv_thr).trunc_()
            level.addcmul_(change, thr)  # the level moves by whole thresholds, as the pixel's events report
            idx = torch.nonzero(change, as_tuple=True)
            signed = change[idx].to(torch.int64).numpy()
            found.append(tuple(a.numpy() for a in idx) + (signed, np.full(len(signed), k - 1)))
    sample, y, x, signed, step = (np.concatenate(c) for c in zip(*found))
    reps = np.abs(signed)
    sample, y, x, step = (np.repeat(a, reps) for a in (sample, y, x, step))
    p = np.repeat((signed > 0).astype(np.int64), reps)
    t = step * cfg.step_us + rng.integers(0, cfg.step_us, len(step))
    n_noise = rng.poisson(cfg.noise_hz * steps * cfg.step_us * 1e-6 * HEIGHT * WIDTH, n)
    noise_sample = np.repeat(np.arange(n), n_noise)
    m = len(noise_sample)
    sample = np.concatenate([sample, noise_sample])
    x = np.concatenate([x, rng.integers(0, WIDTH, m)])
    y = np.concatenate([y, rng.integers(0, HEIGHT, m)])
    p = np.concatenate([p, rng.integers(0, 2, m)])
    t = np.concatenate([t, rng.integers(0, steps * cfg.step_us, m)])
    order = np.lexsort((t, sample))
    sample, x, y, t, p = sample[order], x[order], y[order], t[order], p[order]
    bounds = np.searchsorted(sample, np.arange(n + 1))
    return [(x[a:b], y[a:b], t[a:b], p[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]


def prepare(root: str | Path | None = None, cfg: NDigitsConfig = NDigitsConfig(), progress: bool = False) -> Path:
    """Builds the recordings under ``<root>/ndigits/<cfg.key()>`` unless present; returns that folder."""
    root = Path(root).expanduser() if root is not None else default_root()
    final = root / "ndigits" / cfg.key()
    if final.is_dir():
        return final
    images, labels = digits()
    streams = simulate(images, cfg, progress)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".building-", dir=final.parent))
    os.chmod(tmp, _io.dir_mode())  # mkdtemp's 0700 would outlive the rename
    test = is_test(np.arange(len(labels)))
    for i in tqdm(range(len(labels)), desc="ndigits: writing", unit="file", disable=not progress):
        folder = tmp / FOLDERS["test" if test[i] else "train"] / str(labels[i])
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{i:05d}.bin").write_bytes(encode_bin(*streams[i]))
    replace_dir(tmp, final)
    return final


def load(split: str = "train", root: str | Path | None = None, cfg: NDigitsConfig = NDigitsConfig(),
         progress: bool = False) -> NMNISTFiles:
    """The ``ndigits`` split, built on first use (a few seconds), read through the N-MNIST loader."""
    if split not in FOLDERS:
        raise ValueError(f"ndigits: split must be one of {list(FOLDERS)}, got {split!r}")
    return NMNISTFiles(prepare(root, cfg, progress) / FOLDERS[split], split, name="ndigits")
