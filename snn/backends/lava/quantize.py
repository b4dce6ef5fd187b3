"""Float :class:`LavaNet` -> Loihi integers (SPEC §4), the precision each layer keeps, and the range check every
fixed-point network passes.

Per layer, with ``m = w_max / max|W|`` (``W`` and the recurrent weights share it) and a weight exponent ``e``, one
float unit of membrane is ``S = m * 2**e`` units of ``a_in`` and ``64 * S`` units of the 24-bit ``v``::

    weight mantissa  w   = round(W m)   (even when the signs are mixed: Lava drops the lowest bit there)
    weight_exp       e   = largest in [-8, 7] with vth <= 2**vth_bits
    vth                  = round(threshold * S)                        17 bits
    dv                   = round(4096 * dv_float)                      12 bits (tau_mem)
    du                   = round(4096 * du_float) - 1                  12 bits (tau_syn; LIF: du_float = 1 -> 4095)
    bias_mant            = round(bias * S), bias_exp = 6               13 bits signed
A readout's graded output ``v`` is ``64 * S`` times its float value (``LavaNet.out_scale``).

Nothing collapses silently: each layer's loss is measured against the float network, in front-end terms, and a loss
beyond ``QuantConfig.tolerance`` is a :class:`QuantisationError` (a :class:`QuantisationWarning` with
``lossy=True``) naming the layer, the front-end parameter and the error:

- threshold: ``|vth - threshold S| / (threshold S)``, relative error of the threshold (coarse when the weights are
  much larger than the threshold: ``e`` stops at 7);
- weights: ``||w / m - W|| / ||W||`` per matrix (relative RMS error; also counts the weights rounded to 0);
- ``tau_mem`` / ``tau_syn``: relative error of the leak's steady-state gain ``1 / (1 - decay)`` (``= tau / dt`` for
  ``tau >> dt``; a decay rounded to 0 is "no leak", an infinite error; a decay of exactly 0, IF, is exact).
Values outside a Loihi field (a threshold needing more than 17 bits, a bias beyond the 13-bit mantissa) are always
errors. The bias keeps ``1 / S`` (under 1/2048 of a threshold per step) absolute precision and is not checked.
"""

from __future__ import annotations

import math
import warnings
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


class QuantisationError(ValueError):
    """A parameter cannot be expressed in Loihi's integers within the tolerance (or at all)."""


class QuantisationWarning(UserWarning):
    """A parameter lost more precision than the tolerance; accepted because ``QuantConfig(lossy=True)``."""


@dataclass(frozen=True)
class QuantConfig:
    """``weight_max``: largest weight mantissa used (<= 254); ``vth_bits``: the threshold is scaled to at most
    ``2**vth_bits`` (12 leaves 32 to 64 thresholds of head room in the 24-bit ``u`` and ``v``); ``tolerance``:
    largest relative error accepted for a threshold, a weight matrix (RMS) or a time constant's gain;
    ``lossy``: a loss beyond the tolerance is a :class:`QuantisationWarning` instead of an error; ``netx``: weight
    exponent 0 on every layer, as lava-dl netx (which has none) runs it: a positive exponent is dropped (coarser
    threshold), a negative one is folded into the weight scale (fewer weight bits)."""

    weight_max: int = 254
    vth_bits: int = 12
    tolerance: float = 0.05
    lossy: bool = False
    netx: bool = False

    def __post_init__(self):
        if not 1 <= self.weight_max <= 254:
            raise ValueError(f"QuantConfig: weight_max: expected 1..254, got {self.weight_max}")
        if not 1 <= self.vth_bits <= 16:
            raise ValueError(f"QuantConfig: vth_bits: expected 1..16, got {self.vth_bits}")
        if not 0 < self.tolerance < 1:
            raise ValueError(f"QuantConfig: tolerance: expected a relative error in (0, 1), got {self.tolerance}")


_ADVICE = "QuantConfig(tolerance=..., lossy=True) or snn export --lossy accepts it with a warning"


class _Losses:
    """Collects one layer's precision losses; raises or warns per ``QuantConfig.lossy``."""

    def __init__(self, cfg: QuantConfig):
        self.cfg = cfg

    def check(self, rel: float, message: str) -> None:
        if rel <= self.cfg.tolerance:
            return
        text = f"{message}; tolerance {self.cfg.tolerance:.0%}"
        if not self.cfg.lossy:
            raise QuantisationError(f"{text} ({_ADVICE})")
        warnings.warn(text, QuantisationWarning, stacklevel=4)


def _pct(rel: float) -> str:
    return "infinite" if math.isinf(rel) else f"{rel:.1%}"


def _mantissas(w: np.ndarray, m: float) -> np.ndarray:
    q = np.round(w * m)
    if q.min(initial=0) < 0 < q.max(initial=0):  # mixed signs: Lava truncates to even values
        q = 2 * np.round(w * m / 2)
    return q.astype(np.int64)


def _weights(layer: str, syn: Synapse, m: float, why: str, losses: _Losses) -> np.ndarray:
    q = _mantissas(syn.weight, m)
    norm = float(np.linalg.norm(syn.weight))
    if norm > 0:
        rel = float(np.linalg.norm(q / m - syn.weight)) / norm
        nz = syn.weight != 0
        zeroed = int(np.count_nonzero(nz & (q == 0)))
        losses.check(rel, f"quantise: layer {layer!r}: weights of {syn.source or 'its synapse'!r}: relative RMS "
                          f"error {rel:.1%} with 8-bit weights, {zeroed} of {int(nz.sum())} nonzero weights "
                          f"rounded to 0 ({why})")
    return q


def _decay(layer: str, param: str, d: float, dt: float, lo: int, losses: _Losses) -> int:
    """``round(4096 d)`` clamped to [lo, 4096] for a decay ``d`` (fraction lost per step) from ``param``."""
    q = int(round(4096 * d))
    if d == 0.0:  # no leak (IF): exact
        return max(q, lo)
    if d == 1.0 or (q >= 4095 and d > 0.99):  # no memory: 4095 vs 4096 changes the gain by < 0.03 %
        return min(q, 4096)
    rel = math.inf if q == 0 else abs(4096 * d / q - 1)
    tau = -dt / math.log1p(-d)
    got = "no leak at all (decay 0)" if q == 0 else f"an effective {param} of {-dt / math.log1p(-q / 4096):.4g} ms"
    losses.check(rel, f"quantise: layer {layer!r}: {param} = {tau:.4g} ms at dt = {dt:g} ms: Loihi's 12-bit decay "
                      f"round(4096 (1 - exp(-dt/{param}))) = {q} gives {got} (relative error of the leak's "
                      f"steady-state gain {_pct(rel)})")
    return max(q, lo)


def _layer(layer: Layer, cfg: QuantConfig, dt: float) -> tuple[Layer, float]:
    nr, syn, rec = layer.neuron, layer.synapse, layer.recurrent
    losses = _Losses(cfg)
    w_ff = float(np.abs(syn.weight).max(initial=0))
    w_rec = 0.0 if rec is None else float(np.abs(rec.weight).max(initial=0))
    w_abs = max(w_ff, w_rec)
    m = cfg.weight_max / w_abs if w_abs > 0 else 1.0
    sources = repr(syn.source or "its synapse")
    if rec is not None:
        sources += f" and {rec.source or 'the recurrent weights'!r}"
    if nr.kind == "readout":
        e = 0
    else:
        if nr.vth <= 0:
            raise QuantisationError(f"quantise: layer {layer.name!r}: threshold: expected > 0, got {nr.vth:g}")
        e = max(WEIGHT_EXP_RANGE[0],
                min(WEIGHT_EXP_RANGE[1], math.floor(math.log2(2 ** cfg.vth_bits / (nr.vth * m)))))
        if cfg.netx:
            m, e = m * 2.0 ** min(e, 0), 0
    s = m * 2.0 ** e
    shared = "the feed-forward and recurrent weights share one 8-bit scale"
    why = {"ff": f"the largest is {w_abs:.3g}", "rec": f"the largest is {w_abs:.3g}"}
    if rec is not None and w_ff > 0 and w_rec > 0:
        why["ff" if w_rec > w_ff else "rec"] = (f"{shared} and the {'recurrent' if w_rec > w_ff else 'feed-forward'} "
                                                f"ones are {max(w_ff, w_rec) / min(w_ff, w_rec):.3g} times larger")
    q_syn = Synapse(_weights(layer.name, syn, m, why["ff"], losses), syn.delay, e, syn.graded, syn.source)
    q_rec = None if rec is None else Synapse(_weights(layer.name, rec, m, why["rec"], losses), None, e,
                                             source=rec.source)
    vth = 0
    if nr.kind != "readout":
        want = nr.vth * s
        vth = int(round(want))
        if vth > VTH_RANGE[1]:
            raise QuantisationError(
                f"quantise: layer {layer.name!r}: weights of {sources}: expected the largest weight above "
                f"threshold / {2 ** 8 * VTH_RANGE[1] / cfg.weight_max:.4g} (8-bit weights, weight_exp >= -8, 17-bit "
                f"threshold), got {w_abs:.3g} = threshold / {nr.vth / w_abs:.4g} (threshold {nr.vth:g}): scale the "
                f"weights up or the threshold down")
        rel = abs(vth - want) / want
        losses.check(rel, f"quantise: layer {layer.name!r}: threshold {nr.vth:g} against weights of {sources} up to "
                          f"{w_abs:.3g} ({w_abs / nr.vth:.3g} thresholds): with 8-bit weights and weight_exp <= "
                          f"{WEIGHT_EXP_RANGE[1]} the threshold is {want:.3g} units and rounds to {vth} (relative "
                          f"error {rel:.1%}); scale the weights down or the threshold up")
    du = _decay(layer.name, "tau_syn", nr.du, dt, 1, losses) - 1
    dv = min(_decay(layer.name, "tau_mem", nr.dv, dt, 0, losses), DV_RANGE[1])
    bias = np.round(nr.bias_mant * s).astype(np.int64)
    if bias.size and (bias.min() < BIAS_MANT_RANGE[0] or bias.max() > BIAS_MANT_RANGE[1]):
        b = float(np.abs(nr.bias_mant).max())
        limit = BIAS_MANT_RANGE[1] / s
        thr = "" if nr.kind == "readout" else f" = {b / nr.vth:.3g} thresholds per step"
        raise QuantisationError(f"quantise: layer {layer.name!r}: bias of {syn.source or 'its synapse'!r}: expected "
                                f"|bias| <= {limit:.4g} (Loihi's 13-bit bias mantissa at this layer's scale), got "
                                f"{b:.4g}{thr}")
    neuron = Neuron(nr.kind, nr.n, du, dv, vth, bias, BIAS_EXP, dict(nr.extra))
    return Layer(layer.name, q_syn, neuron, q_rec), 64 * s


def quantize(net: LavaNet, config: QuantConfig | None = None) -> LavaNet:
    """The fixed-point network for a floating-point one; a :class:`QuantisationError` naming the layer and the
    front-end parameter that does not fit or loses more than ``config.tolerance``."""
    if net.precision != "floating_pt":
        raise ValueError(f"quantise: expected a floating_pt network, got {net.precision}")
    from .lowering import NEURON_KINDS

    cfg = config or QuantConfig()
    for layer in net.layers:
        if layer.neuron.kind == "elm":
            from .elm import check_fixed

            raise check_fixed(layer.name)
    layers, scale = [], 1.0
    for layer in net.layers:
        if not NEURON_KINDS[layer.neuron.kind].fixed_point:
            raise QuantisationError(f"quantise: layer {layer.name!r}: neuron kind {layer.neuron.kind!r} has no "
                                    f"faithful fixed-point form; run it on the floating-point 'lava' backend")
        q, scale = _layer(layer, cfg, net.dt)
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
                _check(layer.name, f"delay of {syn.source or 'its synapse'!r}", syn.delay, 0, MAX_DELAY)
        nr = layer.neuron
        _check(layer.name, "du", nr.du, *DU_RANGE)
        _check(layer.name, "dv", nr.dv, *DV_RANGE)
        _check(layer.name, "vth", nr.vth, *VTH_RANGE)
        _check(layer.name, "bias mantissa", nr.bias_mant, *BIAS_MANT_RANGE)
        _check(layer.name, "bias exponent", nr.bias_exp, *BIAS_EXP_RANGE)
