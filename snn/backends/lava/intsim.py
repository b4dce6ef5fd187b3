"""Bit-exact integer simulator of a fixed-point :class:`LavaNet` in torch (batched, CPU or CUDA): the ``loihi``
backend.

It implements SPEC §4's Loihi 2 equations as lava-nc 0.10.0 simulates them with ``fixed_pt``, and matches Lava in
spikes and in ``u``/``v`` at every step, but without Lava's pipeline latency: outputs line up with the torch
backend. Per layer (all integers, int64)::

    W  = clip(W, sign-mode range);  W = (W >> k) << k,  k = 1 if signs are mixed else 0     (once)
    a[t + d] += shift(sum_{j: D_ij = d} W_ij s_j[t], weight_exp)        shift: << e, or >> -e (floor)
    a[t]     += shift(W_rec s[t - 1], weight_exp)                       (recurrent)
    u = wrap24(trunc0(u (4096 - du - 1) / 4096) + (a << 6))
    v = clip(trunc0(v (4096 - dv) / 4096) + u + (bias_mant << bias_exp), -(2^23 - 1), 2^23 - 1)
    LIF: s = v > vth << 6; v[s] = 0     SubtractLIF: v[s] -= vth << 6     readout: output v
New neuron kinds register their step with :func:`register_int_step`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from .network import LavaNet, Neuron, Synapse

UV_MAX = 2 ** 23

# step(u, v, a_in, neuron params on the device) -> (u, v, output of this step)
IntStep = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, dict], tuple[torch.Tensor, torch.Tensor, torch.Tensor]]
INT_STEPS: dict[str, IntStep] = {}


def register_int_step(kind: str):
    def deco(fn: IntStep) -> IntStep:
        INT_STEPS[kind] = fn
        return fn
    return deco


def _trunc_decay(x: torch.Tensor, keep: int) -> torch.Tensor:
    return torch.div(x * keep, 4096, rounding_mode="trunc")


def _subthreshold(u, v, a_in, p):
    u = _trunc_decay(u, 4096 - p["du"] - 1) + a_in * 64
    u = torch.where(u > UV_MAX, u - 2 * UV_MAX, torch.where(u <= -UV_MAX, u + 2 * UV_MAX, u))
    v = (_trunc_decay(v, 4096 - p["dv"]) + u + p["bias"]).clamp(-(UV_MAX - 1), UV_MAX - 1)
    return u, v


@register_int_step("lif")
def _lif(u, v, a_in, p):
    u, v = _subthreshold(u, v, a_in, p)
    s = v > p["vth"] * 64
    return u, torch.where(s, torch.zeros_like(v), v), s.to(torch.int64)


@register_int_step("lif_subtract")
def _lif_subtract(u, v, a_in, p):
    u, v = _subthreshold(u, v, a_in, p)
    s = v > p["vth"] * 64
    return u, v - s.to(torch.int64) * (p["vth"] * 64), s.to(torch.int64)


@register_int_step("readout")
def _readout(u, v, a_in, p):
    u, v = _subthreshold(u, v, a_in, p)
    return u, v, v


def effective_weights(w: np.ndarray) -> np.ndarray:
    """The weights Lava's fixed-point Dense uses: clipped to the sign mode's 8-bit range, lowest bit dropped when
    the signs are mixed."""
    w = np.asarray(w, dtype=np.int64)
    if w.size == 0 or w.min() >= 0:
        return np.clip(w, 0, 255)
    if w.max() <= 0:
        return np.clip(w, -255, 0)
    return (np.clip(w, -256, 255) >> 1) << 1


def _shift(a: torch.Tensor, e: int) -> torch.Tensor:
    return a << e if e > 0 else a >> -e


def _synaptic(syn: Synapse, s: torch.Tensor) -> torch.Tensor:
    """Input currents a (T, B, out) for input s (T, B, in), before the neuron (delays applied, latency removed)."""
    w = torch.as_tensor(effective_weights(syn.weight), device=s.device)
    if syn.delay is None:
        return _shift(s @ w.t(), syn.weight_exp)
    d = torch.as_tensor(syn.delay, device=s.device)
    a = torch.zeros(s.shape[0], s.shape[1], w.shape[0], dtype=torch.int64, device=s.device)
    for k in torch.unique(d).tolist():
        if k < s.shape[0]:
            a[k:] += _shift(s[:s.shape[0] - k] @ torch.where(d == k, w, 0).t(), syn.weight_exp)
    return a


def _params(nr: Neuron, device) -> dict:
    bias = np.left_shift(np.asarray(nr.bias_mant, dtype=np.int64), int(nr.bias_exp))
    return {"du": int(nr.du), "dv": int(nr.dv), "vth": int(nr.vth), "bias": torch.as_tensor(bias, device=device)}


@dataclass
class IntResult:
    """``output`` (T, B, *out) int64: spikes, or a readout's ``v``; ``records``: layer -> {"u", "v"} (T, B, n)."""

    output: torch.Tensor
    records: dict[str, dict[str, torch.Tensor]]


def simulate(net: LavaNet, x, record: bool = False, device: str | torch.device = "cpu") -> IntResult:
    """Runs integer inputs ``x`` (T, B, *input_shape) through the fixed-point ``net``."""
    from .runtime import check_input

    if net.precision != "fixed_pt":
        raise ValueError(f"integer simulator: expected a fixed_pt network, got {net.precision}")
    x = torch.as_tensor(check_input(x.cpu().numpy() if isinstance(x, torch.Tensor) else x, net, "loihi backend"))
    s = x.to(device=device, dtype=torch.int64)
    records = {}
    for layer in net.layers:
        a = _synaptic(layer.synapse, s)
        step, p = INT_STEPS[layer.neuron.kind], _params(layer.neuron, device)
        u = torch.zeros_like(a[0])
        v = torch.zeros_like(a[0])
        out = torch.empty_like(a)
        us, vs = (torch.empty_like(a), torch.empty_like(a)) if record else (None, None)
        w_rec = None if layer.recurrent is None else torch.as_tensor(effective_weights(layer.recurrent.weight),
                                                                     device=device)
        prev = torch.zeros_like(a[0])
        for t in range(a.shape[0]):
            a_in = a[t] if w_rec is None else a[t] + _shift(prev @ w_rec.t(), layer.recurrent.weight_exp)
            u, v, out[t] = step(u, v, a_in, p)
            prev = out[t]
            if record:
                us[t], vs[t] = u, v
        if record:
            records[layer.name] = {"u": us, "v": vs}
        s = out
    return IntResult(s.reshape(*s.shape[:2], *net.output_shape), records)
