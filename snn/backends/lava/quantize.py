"""Float :class:`LavaNet` -> Loihi integers (SPEC §4), and the range check every fixed-point network passes.

Per layer, with ``m = w_max / max|W|`` (``W`` and the recurrent weights share it) and a weight exponent ``e``, one
float unit of membrane is ``S = m * 2**e`` units of ``a_in`` and ``64 * S`` units of the 24-bit ``v``::

    weight mantissa  w   = round(W m)   (even when the signs are mixed: Lava drops the lowest bit there)
    weight_exp       e   = largest in [-8, 7] with vth <= 2**vth_bits
    vth                  = round(threshold * S)                        17 bits
    dv                   = round(4096 * dv_float)                      12 bits
    du                   = round(4096 * du_float) - 1                  12 bits (LIF: du_float = 1 -> 4095)
    bias_mant            = round(bias * S), bias_exp = 6               13 bits signed
A readout's graded output ``v`` is ``64 * S`` times its float value (``LavaNet.out_scale``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .network import LavaNet, Layer, Neuron, Synapse

W_RANGE = (-256, 255)
DU_RANGE = DV_RANGE = (0, 4095)
VTH_RANGE = (0, 2 ** 17 - 1)
BIAS_MANT_RANGE = (-4096, 4095)
BIAS_EXP_RANGE = (0, 7)
WEIGHT_EXP_RANGE = (-8, 7)
BIAS_EXP = 6  # netx's convention: bias in units of a_in


@dataclass(frozen=True)
class QuantConfig:
    """``weight_max``: largest weight mantissa used (<= 254); ``vth_bits``: the threshold is scaled to at most
    ``2**vth_bits`` (12 leaves 32 thresholds of head room in the 24-bit ``u`` and ``v``); ``netx``: weight exponent
    0 on every layer, as lava-dl netx (which has none) runs it: a positive exponent is dropped (coarser threshold),
    a negative one is folded into the weight scale (fewer weight bits)."""

    weight_max: int = 254
    vth_bits: int = 12
    netx: bool = False

    def __post_init__(self):
        if not 1 <= self.weight_max <= 254:
            raise ValueError(f"QuantConfig: weight_max: expected 1..254, got {self.weight_max}")
        if not 1 <= self.vth_bits <= 16:
            raise ValueError(f"QuantConfig: vth_bits: expected 1..16, got {self.vth_bits}")


def _mantissas(w: np.ndarray, m: float) -> np.ndarray:
    q = np.round(w * m)
    if q.min(initial=0) < 0 < q.max(initial=0):  # mixed signs: Lava truncates to even values
        q = 2 * np.round(w * m / 2)
    return q.astype(np.int64)


def _layer(layer: Layer, cfg: QuantConfig) -> tuple[Layer, float]:
    nr = layer.neuron
    w_abs = max(np.abs(layer.synapse.weight).max(initial=0),
                0 if layer.recurrent is None else np.abs(layer.recurrent.weight).max(initial=0))
    m = cfg.weight_max / w_abs if w_abs > 0 else 1.0
    if nr.kind == "readout":
        e = 0
    else:
        if nr.vth <= 0:
            raise ValueError(f"quantise: layer {layer.name!r}: threshold: expected > 0, got {nr.vth:g}")
        e = max(WEIGHT_EXP_RANGE[0], min(WEIGHT_EXP_RANGE[1], math.floor(math.log2(2 ** cfg.vth_bits / (nr.vth * m)))))
        if cfg.netx:
            m, e = m * 2.0 ** min(e, 0), 0
    s = m * 2.0 ** e
    syn = Synapse(_mantissas(layer.synapse.weight, m), layer.synapse.delay, e, layer.synapse.graded)
    rec = None if layer.recurrent is None else Synapse(_mantissas(layer.recurrent.weight, m), None, e)
    neuron = Neuron(nr.kind, nr.n, int(round(4096 * nr.du)) - 1, int(round(4096 * nr.dv)),
                    int(round(nr.vth * s)), np.round(nr.bias_mant * s).astype(np.int64), BIAS_EXP, dict(nr.extra))
    return Layer(layer.name, syn, neuron, rec), 64 * s


def quantize(net: LavaNet, config: QuantConfig | None = None) -> LavaNet:
    """The fixed-point network for a floating-point one; raises ValueError naming a layer that does not fit."""
    if net.precision != "floating_pt":
        raise ValueError(f"quantise: expected a floating_pt network, got {net.precision}")
    cfg = config or QuantConfig()
    layers, scale = [], 1.0
    for layer in net.layers:
        q, scale = _layer(layer, cfg)
        layers.append(q)
    out = LavaNet(layers, net.input_shape, net.output_shape, "fixed_pt", net.dt, scale)
    validate(out)
    return out


def _check(layer: str, what: str, values, lo: int, hi: int) -> None:
    a = np.asarray(values)
    if a.size and (a.min() < lo or a.max() > hi):
        raise ValueError(f"quantise: layer {layer!r}: {what}: expected {lo}..{hi} (Loihi range), "
                         f"got {a.min()}..{a.max()}")


def validate(net: LavaNet) -> None:
    """Checks every fixed-point parameter is in its Loihi range (lava does not check them)."""
    from .lowering import MAX_DELAY

    for layer in net.layers:
        for label, syn in (("weight", layer.synapse), ("recurrent weight", layer.recurrent)):
            if syn is None:
                continue
            _check(layer.name, label, syn.weight, *W_RANGE)
            _check(layer.name, f"{label} exponent", syn.weight_exp, *WEIGHT_EXP_RANGE)
            if syn.delay is not None:
                _check(layer.name, "delay", syn.delay, 0, MAX_DELAY)
        nr = layer.neuron
        _check(layer.name, "du", nr.du, *DU_RANGE)
        _check(layer.name, "dv", nr.dv, *DV_RANGE)
        _check(layer.name, "vth", nr.vth, *VTH_RANGE)
        _check(layer.name, "bias mantissa", nr.bias_mant, *BIAS_MANT_RANGE)
        _check(layer.name, "bias exponent", nr.bias_exp, *BIAS_EXP_RANGE)
