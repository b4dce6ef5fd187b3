"""Backend ``lava-fixed``: the quantised network on Lava's bit-accurate ``fixed_pt`` process models."""

from .backend import LavaModel, prepare


def build(graph, quant=None) -> LavaModel:
    """``build(graph)(x)``: quantises ``graph`` (:class:`.quantize.QuantConfig` ``quant``) and runs it on Lava."""
    return LavaModel(prepare(graph, "fixed_pt", quant), "lava")
