"""Training plots: loss/accuracy curves and confusion matrices, written atomically as PNG."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from .. import _io


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_curves(history: Sequence[dict], path: str | Path) -> None:
    """Loss and accuracy per epoch (train, and validation where logged)."""
    plt = _pyplot()
    epochs = [r["epoch"] for r in history]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(9, 3.5))
    for split in ("train", "val"):
        if f"{split}_loss" in history[-1]:
            ax_loss.plot(epochs, [r.get(f"{split}_loss") for r in history], marker=".", label=split)
            ax_acc.plot(epochs, [100 * r.get(f"{split}_acc", np.nan) for r in history], marker=".", label=split)
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy", title="loss")
    ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    with _io.atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def plot_confusion(confusion: np.ndarray, path: str | Path, title: str = "", labels: Sequence[str] | None = None):
    """A confusion matrix (rows: true class, columns: predicted) with counts in the cells."""
    plt = _pyplot()
    C = confusion.shape[0]
    fig, ax = plt.subplots(figsize=(1.5 + 0.45 * C, 1.2 + 0.45 * C))
    im = ax.imshow(confusion, cmap="Blues")
    labels = list(labels) if labels is not None else [str(i) for i in range(C)]
    ax.set(xticks=range(C), yticks=range(C), xticklabels=labels, yticklabels=labels, xlabel="predicted",
           ylabel="true", title=title)
    if C <= 20:
        top = confusion.max() if confusion.size else 0
        for i in range(C):
            for j in range(C):
                ax.text(j, i, int(confusion[i, j]), ha="center", va="center", fontsize=7,
                        color="white" if confusion[i, j] > top / 2 else "black")
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    with _io.atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)
