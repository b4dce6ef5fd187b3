"""Lowering of :class:`~snn.neurons.astro.AstroLIF` to :class:`snn.ir.AstroLIF` (parameters in front-end units)."""

from __future__ import annotations

from .. import ir
from ..lower import _expect_shape, _np, register_lowering
from .astro import AstroLIF


@register_lowering(AstroLIF)
def lower_astro_lif(m: AstroLIF, shape) -> ir.AstroLIF:
    """``tau_mem`` (ms, as clamped in use), the threshold, ``Lambda`` and the key/value/query weights."""
    _expect_shape(m, m.shape, shape)
    return ir.AstroLIF(_np(m.time_constant("tau_mem")), _np(m.threshold), m.dt, _np(m.astrocyte_decay()),
                       _np(m.key_weight), _np(m.value_weight), _np(m.query_weight), m.normalise)
