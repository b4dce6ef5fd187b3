"""Draws docs/img/ndigits.png: a few ndigits samples as frames (one row per sample, one column per 50 ms).

Run: ``python benchmarks/plot_ndigits.py [--root DIR]``; ON events red, OFF events blue.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import snn.datasets as D  # noqa: E402
from snn.datasets import ndigits  # noqa: E402

OUT = Path(__file__).resolve().parent.parent / "docs" / "img" / "ndigits.png"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default=None)
    args = ap.parse_args()
    ds = D.frames("ndigits", "test", root=args.root, dt=50.0)
    images, labels = ndigits.digits()
    picks = [int(np.flatnonzero(ds.labels == d)[0]) for d in (0, 3, 5, 8)]
    steps = int(ds.lengths.max())
    fig, axes = plt.subplots(len(picks), steps + 1, figsize=(1.3 * (steps + 1), 1.4 * len(picks)))
    test_images = images[ndigits.is_test(np.arange(len(images)))][np.argsort(labels[::5], kind="stable")]
    for r, i in enumerate(picks):
        x, y = ds[i]
        axes[r, 0].imshow(test_images[i], cmap="gray_r")
        axes[r, 0].set_ylabel(f"label {y}")
        top = max(float(x.max()), 1.0)
        for k in range(steps):
            rgb = np.stack([x[k, 1].numpy(), np.zeros((34, 34)), x[k, 0].numpy()], -1) / top
            axes[r, k + 1].imshow(np.clip(rgb * 2, 0, 1))
            if r == 0:
                axes[r, k + 1].set_title(f"{50 * k}-{50 * (k + 1)} ms", fontsize=8)
        if r == 0:
            axes[r, 0].set_title("8 x 8 source", fontsize=8)
    for ax in axes.ravel():
        ax.set_xticks([]), ax.set_yticks([])
    fig.tight_layout()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(OUT, dpi=60)
    print(f"-> {OUT} ({OUT.stat().st_size / 1e3:.0f} kB)")


if __name__ == "__main__":
    main()
