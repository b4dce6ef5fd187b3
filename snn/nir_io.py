"""``snn.export_nir`` and ``snn.import_nir``: models and IR graphs to and from NIR files (see docs/nir.md).

The conversion itself (discretisation, peers' conventions) lives in :mod:`snn.backends.nir`; this module adds the
front end: lowering a model on export, rebuilding a trainable model on import.
"""

from __future__ import annotations

import os
from typing import NamedTuple, Optional

from torch import nn

from . import ir
from .backends import nir as nir_backend
from .container import Sequential
from .lower import lower
from .rebuild import rebuild

__all__ = ["export_nir", "import_nir", "Imported"]


class Imported(NamedTuple):
    """What :func:`import_nir` returns: the IR ``graph`` and the front-end ``model`` rebuilt from it (None when the
    graph is not a chain of layers the front end has; the graph still runs on the backends)."""

    graph: ir.Graph
    model: Optional[Sequential]


def export_nir(model_or_graph, path: str | os.PathLike | None = None, *, input_shape=None,
               dt: Optional[float] = None, gain: str = "r"):
    """A ``nir.NIRGraph`` of a model (lowered with :func:`snn.lower`, in ``eval()`` semantics: integer delays) or of
    an IR graph; written to ``path`` (``nir.write`` HDF5) when given.

    Args:
        input_shape: feature shape of one input step, for models whose first layer does not declare it.
        dt: the NIR step in seconds one model step stands for (default: the model's ``dt`` ms / 1000); write
            ``dt=1e-4`` for snnTorch 1.0.0's importer, which assumes that step.
        gain: ``"r"`` (``r = tau / dt``) or ``"threshold"`` (``r = 1``, for Norse 1.1.0's importer); see
            :func:`snn.backends.nir.to_nir`.
    """
    if isinstance(model_or_graph, ir.Graph):
        graph = model_or_graph
    elif isinstance(model_or_graph, nn.Module):
        graph = lower(model_or_graph, input_shape)
    else:
        raise TypeError(f"export_nir: expected an nn.Module or an snn.ir.Graph, got {type(model_or_graph).__name__}")
    g = nir_backend.to_nir(graph, dt=dt, gain=gain)
    if path is not None:
        nir_backend.write(g, path)
    return g


def import_nir(graph_or_path, *, dt: Optional[float] = None, convention: Optional[str] = None) -> Imported:
    """Reads a NIR graph or ``.nir`` file into an IR graph and a trainable front-end model.

    Args:
        graph_or_path: a ``nir.NIRGraph`` or the path of a file ``nir.write`` wrote.
        dt: read the file by forward Euler at this step (seconds); the model's ``dt`` is ``1000 * dt`` ms.
        convention: ``"spikeforge"``, ``"snntorch"`` or ``"norse"`` when the file does not say (see docs/nir.md).

    Raises :class:`snn.backends.nir.NIRError` (a ValueError) naming the file and the node; warns
    (:class:`snn.backends.nir.NIRConventionWarning`) which interpretation it applied to a foreign file.
    """
    if isinstance(graph_or_path, (str, os.PathLike)):
        where = str(graph_or_path)
        g = nir_backend.read(graph_or_path)
    else:
        where, g = "import_nir", graph_or_path
    graph = nir_backend.from_nir(g, dt=dt, convention=convention, where=where)
    try:
        model = rebuild(graph)
    except ValueError:
        model = None
    return Imported(graph, model)
