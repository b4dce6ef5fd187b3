"""Backend ``lava``: Lava ``Loihi2SimCfg`` with floating-point process models."""

from .backend import LavaModel, prepare


def build(graph) -> LavaModel:
    """``build(graph)(x)``: runs ``graph`` on Lava in floating point (see :class:`.backend.LavaModel`)."""
    return LavaModel(prepare(graph, "floating_pt"), "lava")
