"""Backend ``loihi``: the quantised network on the bit-exact integer simulator in torch (batched, CPU/CUDA)."""

from .backend import LavaModel, prepare


def build(graph, quant=None, device="cpu") -> LavaModel:
    """``build(graph)(x)``: quantises ``graph`` and simulates Loihi 2's integer arithmetic exactly, on ``device``."""
    return LavaModel(prepare(graph, "fixed_pt", quant), "intsim", device)
