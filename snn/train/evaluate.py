"""Evaluation of a trained model on any backend: lower to the IR, build on the backend, apply the training
prediction rule (:func:`snn.train.losses.predict`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from .. import _progress, backends
from ..lower import lower
from . import losses


@dataclass
class BackendResult:
    """``accuracy`` (0..1), ``confusion`` ``(C, C)`` (row: true class), ``samples``, ``backend``."""

    accuracy: float
    confusion: np.ndarray
    samples: int
    backend: str


@torch.no_grad()
def evaluate_on_backend(model: torch.nn.Module, dataset: Dataset, *, kind: str, num_classes: int,
                        backend: str = "torch", batch_size: int = 128, input_shape=None,
                        progress: bool = True) -> BackendResult:
    """Accuracy and confusion matrix of ``model`` run by ``backend`` on ``dataset``.

    The model is lowered with :func:`snn.lower`; ``backends.get(backend).build(graph)`` must map
    ``(T, B, *in)`` to ``(T, B, num_classes)``; ``kind`` is the loss kind that fixes the prediction rule.
    """
    from ..datasets import pad_collate

    graph = lower(model.eval(), input_shape)
    run = backends.get(backend).build(graph)
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, collate_fn=pad_collate)
    confusion = np.zeros((num_classes, num_classes), dtype=np.int64)
    for x, y, lengths in _progress.bar(loader, desc=f"eval on {backend}", unit="batch", disable=not progress,
                                         leave=False):
        out = run(x)
        out = out if isinstance(out, torch.Tensor) else torch.as_tensor(np.asarray(out))
        if out.shape[:2] != x.shape[:2] or out.shape[-1] != num_classes:
            raise ValueError(f"backend {backend!r}: expected output (T={x.shape[0]}, B={x.shape[1]}, "
                             f"{num_classes}), got {tuple(out.shape)}")
        pred = losses.predict(out.float(), kind, lengths)
        np.add.at(confusion, (y.numpy(), pred.numpy()), 1)
    if hasattr(run, "warn_overflow"):  # integer backends: warns naming each layer whose u wrapped / v saturated
        run.warn_overflow()
    n = int(confusion.sum())
    return BackendResult(float(np.trace(confusion)) / max(n, 1), confusion, n, backend)
