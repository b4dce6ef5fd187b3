"""Lava lowering of :class:`snn.ir.AstroLIF` through the extension point: a ``"astro_lif"`` neuron kind run by the
custom float process :mod:`.processes.astro_lif` (fixed point is refused: no faithful integer form)."""

from __future__ import annotations

import math

import numpy as np

from ... import ir
from .lowering import NeuronKind, register_neuron, register_neuron_kind
from .network import Neuron

KIND = "astro_lif"


@register_neuron(ir.AstroLIF)
def _astro_lif(node: ir.AstroLIF, name: str, bias: np.ndarray):
    beta = np.exp(-node.dt / node.tau_mem.astype(np.float64))
    decay = node.decay.astype(np.float64)
    extra = dict(beta=beta, vth=node.threshold.astype(np.float64), decay=decay,
                 gain=1 - decay if node.normalise == "ema" else np.ones_like(decay),
                 key_weight=node.key_weight.astype(np.float64), value_weight=node.value_weight.astype(np.float64),
                 query_weight=node.query_weight.astype(np.float64))
    n = math.prod(node.output_shape)
    # du = 1: the drive passes straight through; dv, vth: the layer's mean (the process reads the per-neuron extra)
    neuron = Neuron(KIND, n, 1.0, float(1 - beta.mean()), float(node.threshold.mean()), bias.astype(np.float64),
                    extra=extra)
    return neuron, None


def _process(neuron: Neuron, precision: str):
    if precision != "floating_pt":
        raise ValueError(f"Lava: neuron kind {KIND!r} (AstroLIF) has no fixed-point model; expected floating_pt")
    from .processes.astro_lif import AstroLIF

    return AstroLIF(bias=neuron.bias_mant.astype(np.float64), **neuron.extra)


def _model(precision: str):
    from .processes.astro_lif import PyAstroLIFFloat

    if precision != "floating_pt":
        raise ValueError(f"Lava: neuron kind {KIND!r} (AstroLIF) has no fixed-point model; expected floating_pt")
    return PyAstroLIFFloat


register_neuron_kind(KIND, NeuronKind(_process, _model, ("u", "h"), fixed_point=False))
