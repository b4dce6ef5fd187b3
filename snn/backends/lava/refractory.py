"""Lava lowering of :class:`snn.ir.RefractoryLIF`: Lava's LIF has no refractory period, so ``refractory > 0`` is an
error naming the layer; ``refractory = 0`` is an ordinary zero-reset LIF."""

from __future__ import annotations

import numpy as np

from ... import ir
from .lowering import _lif, register_neuron


@register_neuron(ir.RefractoryLIF)
def _refractory_lif(node: ir.RefractoryLIF, name: str, bias: np.ndarray):
    if node.refractory:
        raise ValueError(f"Lava lowering: layer {name!r} (RefractoryLIF): refractory={node.refractory} steps cannot "
                         f"be expressed (Lava's LIF has no refractory period); expected 0, or run it on the torch "
                         f"backend")
    return _lif(node, name, bias)
