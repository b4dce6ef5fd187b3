"""The IR of a trained model with what running it needs, kept in ``Graph.metadata`` so a saved file runs alone.

``metadata["data"]``: ``{"name": dataset, "frames": {...}}``, the :func:`snn.datasets.frames` options it was trained
with (``dt`` and ``duration`` in ms, ``downsample``, ``pool``...); ``metadata["loss_kind"]``: the prediction rule
(:data:`snn.train.config.LOSS_KINDS`). ``snn run MODEL.h5`` reads both back.
"""

from __future__ import annotations

from typing import Optional

from .. import ir
from .config import LOSS_KINDS, Config, DataConfig


def lower_trained(model, cfg: Config, input_shape) -> ir.Graph:
    """Lowers ``model`` (trained with ``cfg``) to the IR and records the data options and prediction rule."""
    from ..lower import lower

    graph = lower(model, tuple(input_shape))
    graph.metadata.update({"data": {"name": cfg.data.name, "frames": dict(cfg.data.frames)},
                           "loss_kind": cfg.loss.kind})
    return graph


def trained_data(graph: ir.Graph, where: str) -> Optional[DataConfig]:
    """The data config recorded by :func:`lower_trained` (None when the graph records none); ``where`` names the
    file in errors."""
    data = graph.metadata.get("data")
    if data is None:
        return None
    if not (isinstance(data, dict) and isinstance(data.get("name"), str) and isinstance(data.get("frames"), dict)
            and set(data) == {"name", "frames"}):
        raise ValueError(f"{where}: metadata 'data': expected {{'name': str, 'frames': dict}}, got {data!r}")
    return DataConfig(name=data["name"], frames=dict(data["frames"]))


def trained_loss_kind(graph: ir.Graph, where: str, default: str = "sum") -> str:
    """The prediction rule recorded by :func:`lower_trained` (``default`` when the graph records none)."""
    kind = graph.metadata.get("loss_kind", default)
    if kind not in LOSS_KINDS:
        raise ValueError(f"{where}: metadata 'loss_kind': expected one of {list(LOSS_KINDS)}, got {kind!r}")
    return kind
