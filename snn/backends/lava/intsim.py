"""Bit-exact integer simulator of a fixed-point :class:`LavaNet` in torch (batched, CPU or CUDA): the ``loihi``
backend.

It implements SPEC §4's Loihi 2 equations exactly as lava-nc 0.10.0 computes them with ``fixed_pt`` (numpy
``int32`` where Lava uses it), and matches Lava in spikes and in ``u``/``v`` at every step, overflows included, but
without Lava's pipeline latency: outputs line up with the torch backend. Per layer (``wrap32``: two's complement
32-bit, as Lava's ``int32`` arrays; everything else exact in int64)::

    W  = clip(W, sign-mode range);  W = (W >> k) << k,  k = 1 if signs are mixed else 0     (once)
    x[t]     = sum_{j: D_ij = d} W_ij s_j[t - d]     (a graded Dense with weight_exp < 0: wrap32(x), Lava's int32 dot)
    a[t]     = wrap32(shift(x[t], weight_exp) + shift(W_rec s[t - 1], weight_exp))   shift: << e, or >> -e (floor)
    u = wrap24(wrap32(trunc0(u (4096 - du - 1) / 4096) + (a << 6)))      wrap24: once, as Lava: +-2^24 if beyond
    v = clip(wrap32(trunc0(v (4096 - dv) / 4096) + u + (bias_mant << bias_exp)), -(2^23 - 1), 2^23 - 1)
    LIF: s = v > vth << 6; v[s] = 0     SubtractLIF: v[s] -= vth << 6     readout: output v

Per layer it counts (:class:`Overflow`) the elements (step x sample x neuron) where a 32-bit sum wrapped, ``u`` left
24 bits, or ``v`` saturated: the places the integer network departs from its float model. Matrix products run in
float64 when every partial sum provably stays below 2^53 (exact; CUDA has no integer matmul), else in int64 on CPU.
New neuron kinds register their step with :func:`register_int_step`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from .network import LavaNet, Neuron, Synapse

UV_MAX = 2 ** 23
W_ABS_MAX = 256  # |effective weight| <= 256 in every sign mode
FLOAT64_EXACT = 2 ** 53


@dataclass
class Overflow:
    """Counts for one layer, in elements (step x sample x neuron). ``input``: the 32-bit arithmetic of the input
    (synaptic sums, ``a << 6``, ``+ u``) wrapped; ``u_wrap``: the current ``u`` left 24 bits and was wrapped;
    ``v_clip``: the membrane ``v`` saturated at +-(2^23 - 1) (or its 32-bit sum wrapped)."""

    input: int = 0
    u_wrap: int = 0
    v_clip: int = 0

    def __add__(self, other: "Overflow") -> "Overflow":
        return Overflow(self.input + other.input, self.u_wrap + other.u_wrap, self.v_clip + other.v_clip)

    def __bool__(self) -> bool:
        return bool(self.input or self.u_wrap or self.v_clip)


class IntegerOverflowWarning(UserWarning):
    """The integer network wrapped or saturated a state somewhere: its outputs differ from the float model there."""


def overflow_message(counts: dict[str, Overflow], backend: str) -> str | None:
    """One line naming every layer with a nonzero :class:`Overflow`, or None when there is none."""
    bad = [f"layer {name!r}: u wrapped {c.u_wrap}x, v saturated {c.v_clip}x, 32-bit input overflow {c.input}x"
           for name, c in counts.items() if c]
    if not bad:
        return None
    return (f"{backend}: integer overflow ({'; '.join(bad)}; counts are steps x samples x neurons): the fixed-point "
            f"network departs from the float model there (see 'Head room' in docs/backends/lava.md)")


# step(u, v, a_in, neuron params on the device, counters) -> (u, v, output of this step); a_in is (exact input,
# Lava's 32-bit input) and params["wide"] says whether 32-bit sums can wrap (see _subthreshold, the shared part)
IntStep = Callable[[torch.Tensor, torch.Tensor, tuple[torch.Tensor, torch.Tensor], dict, "Counters"],
                   tuple[torch.Tensor, torch.Tensor, torch.Tensor]]
INT_STEPS: dict[str, IntStep] = {}


def register_int_step(kind: str):
    def deco(fn: IntStep) -> IntStep:
        INT_STEPS[kind] = fn
        return fn
    return deco


def wrap32(x: torch.Tensor) -> torch.Tensor:
    """Two's complement 32-bit wrap of int64 values, as numpy's int32 arithmetic in Lava."""
    return ((x + 2 ** 31) & (2 ** 32 - 1)) - 2 ** 31


class Counters:
    """Overflow counts of one layer, accumulated on the device (no synchronisation per step); ``add(i, mask)``
    with ``i`` 0 (input), 1 (u_wrap), 2 (v_clip)."""

    def __init__(self, device):
        self.counts = torch.zeros(3, dtype=torch.int64, device=device)

    def add(self, i: int, mask: torch.Tensor) -> None:
        self.counts[i] += mask.sum()

    def result(self) -> Overflow:
        return Overflow(*(int(c) for c in self.counts.tolist()))


def _trunc_decay(x: torch.Tensor, keep: int) -> torch.Tensor:
    return torch.div(x * keep, 4096, rounding_mode="trunc")


def _subthreshold(u, v, a_in, p, c: Counters):
    """``a_in``: (exact int64 input, Lava's 32-bit input). ``p["wide"]`` is False when the layer's input is provably
    at most 2^18 in magnitude: then ``|u| <= 2^23`` after every step and no 32-bit sum can wrap (nothing to do)."""
    exact, a = a_in
    decayed = _trunc_decay(u, 4096 - p["du"] - 1)
    u = decayed + (a << 6)
    if p["wide"]:
        u32 = wrap32(u)
        c.add(0, u32 != decayed + (exact << 6))
        u = u32
    hi, lo = u > UV_MAX, u <= -UV_MAX
    c.add(1, hi | lo)
    u = torch.where(hi, u - 2 * UV_MAX, torch.where(lo, u + 2 * UV_MAX, u))
    pre = _trunc_decay(v, 4096 - p["dv"]) + u + p["bias"]
    v = (wrap32(pre) if p["wide"] else pre).clamp(-(UV_MAX - 1), UV_MAX - 1)
    c.add(2, v != pre)
    return u, v


@register_int_step("lif")
def _lif(u, v, a_in, p, c):
    u, v = _subthreshold(u, v, a_in, p, c)
    s = v > p["vth"] * 64
    return u, torch.where(s, torch.zeros_like(v), v), s.to(torch.int64)


@register_int_step("lif_subtract")
def _lif_subtract(u, v, a_in, p, c):
    u, v = _subthreshold(u, v, a_in, p, c)
    s = v > p["vth"] * 64
    return u, v - s.to(torch.int64) * (p["vth"] * 64), s.to(torch.int64)


@register_int_step("readout")
def _readout(u, v, a_in, p, c):
    u, v = _subthreshold(u, v, a_in, p, c)
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


def matmul_dtype(fan_in: int, s_abs_max: int, device: torch.device, where: str) -> torch.dtype:
    """float64 when ``256 * s_abs_max * fan_in < 2^53`` (every partial sum of integer products is then exact in
    float64, in any order); else int64, which only the CPU has (a ValueError naming ``where`` on other devices)."""
    if W_ABS_MAX * max(int(s_abs_max), 1) * max(int(fan_in), 1) < FLOAT64_EXACT:
        return torch.float64
    if device.type != "cpu":
        raise ValueError(f"loihi backend: {where}: exact integer products need |W| * |input| * fan_in = "
                         f"{W_ABS_MAX} * {s_abs_max} * {fan_in} < 2^53 on {device.type} (no integer matmul there); "
                         f"run on the CPU (device='cpu') or use smaller inputs")
    return torch.int64


def exact_matmul(s: torch.Tensor, w: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``s @ w.T`` exactly, int64 out (``dtype`` from :func:`matmul_dtype`; ``s`` and ``w`` hold integers)."""
    return (s.to(dtype) @ w.to(dtype).t()).to(torch.int64)


def _shift(a: torch.Tensor, e: int) -> torch.Tensor:
    return a << e if e > 0 else a >> -e


def _abs_max(a: torch.Tensor) -> int:
    if not a.numel():
        return 0
    lo, hi = torch.aminmax(a)
    return max(int(hi), -int(lo))


def _synaptic(syn: Synapse, s: torch.Tensor, s_abs_max: int, where: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Input currents (T, B, out) for integer-valued input s (T, B, in), before the neuron (delays applied, latency
    removed): (exact, as Lava computes them in 32 bits); the same tensor twice when no 32-bit sum can wrap."""
    w = torch.as_tensor(effective_weights(syn.weight), device=s.device)
    dtype = matmul_dtype(w.shape[1], s_abs_max, s.device, where)
    w = w.to(dtype)
    e = syn.weight_exp
    if syn.delay is None:
        x = exact_matmul(s, w, dtype)
        exact = _shift(x, e)
        if syn.graded and e < 0 and _abs_max(x) >= 2 ** 31:  # Lava's graded Dense: an int32 dot, then the shift
            return exact, wrap32(_shift(wrap32(x), e))
    else:
        d = torch.as_tensor(syn.delay, device=s.device)
        exact = torch.zeros(s.shape[0], s.shape[1], w.shape[0], dtype=torch.int64, device=s.device)
        for k in torch.unique(d).tolist():
            if k < s.shape[0]:
                exact[k:] += _shift(exact_matmul(s[:s.shape[0] - k], torch.where(d == k, w, 0), dtype), e)
    return exact, (exact if _abs_max(exact) < 2 ** 31 else wrap32(exact))


def _recurrent_bound(syn: Synapse) -> int:
    """Largest |recurrent input| one step can bring (spikes are 0/1)."""
    rows = int(np.abs(effective_weights(syn.weight)).sum(axis=1).max(initial=0))
    return rows << syn.weight_exp if syn.weight_exp >= 0 else (rows >> -syn.weight_exp) + 1


def _params(nr: Neuron, device) -> dict:
    bias = np.left_shift(np.asarray(nr.bias_mant, dtype=np.int64), int(nr.bias_exp))
    return {"du": int(nr.du), "dv": int(nr.dv), "vth": int(nr.vth), "bias": torch.as_tensor(bias, device=device),
            "extra": dict(nr.extra)}  # a fresh dict per layer and call: a step may also keep extra state in it


@dataclass
class IntResult:
    """``output`` (T, B, *out) int64: spikes, or a readout's ``v``; ``records``: layer -> {"u", "v", "s": the layer's
    output} (T, B, n);
    ``overflow``: layer -> :class:`Overflow` counts of this run."""

    output: torch.Tensor
    records: dict[str, dict[str, torch.Tensor]]
    overflow: dict[str, Overflow] = field(default_factory=dict)


def check_device(device: str | torch.device) -> torch.device:
    """``device`` as a torch.device; a ValueError when it is a CUDA device this machine does not have."""
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"loihi backend: device: expected 'cpu' or an available GPU, got {str(dev)!r} "
                         f"(torch.cuda.is_available() is False here)")
    return dev


def simulate(net: LavaNet, x, record: bool = False, device: str | torch.device = "cpu") -> IntResult:
    """Runs integer inputs ``x`` (T, B, *input_shape) through the fixed-point ``net``."""
    from .runtime import check_input

    if net.precision != "fixed_pt":
        raise ValueError(f"integer simulator: expected a fixed_pt network, got {net.precision}")
    device = check_device(device)
    x = torch.as_tensor(check_input(x.cpu().numpy() if isinstance(x, torch.Tensor) else x, net, "loihi backend"))
    s, s_abs_max = x.to(device), _abs_max(x)
    records, overflow = {}, {}
    for layer in net.layers:
        where = f"layer {layer.name!r}"
        exact, a = _synaptic(layer.synapse, s, s_abs_max, where)
        rec = layer.recurrent
        step, p = INT_STEPS[layer.neuron.kind], _params(layer.neuron, device)
        p["wide"] = _abs_max(exact) + (0 if rec is None else _recurrent_bound(rec)) > 2 ** 18
        counters = Counters(device)
        u = torch.zeros_like(a[0])
        v = torch.zeros_like(a[0])
        out = torch.empty_like(a)
        us, vs = (torch.empty_like(a), torch.empty_like(a)) if record else (None, None)
        if rec is not None:
            rec_dtype = matmul_dtype(rec.weight.shape[1], 1, device, where)
            w_rec = torch.as_tensor(effective_weights(rec.weight), device=device).to(rec_dtype)
        prev = torch.zeros_like(a[0])
        for t in range(a.shape[0]):
            a_in = exact[t], a[t]
            if rec is not None:
                r = _shift(exact_matmul(prev, w_rec, rec_dtype), rec.weight_exp)
                a_in = (exact[t] + r, wrap32(a[t] + r)) if p["wide"] else (a[t] + r,) * 2
            u, v, out[t] = step(u, v, a_in, p, counters)
            prev = out[t]
            if record:
                us[t], vs[t] = u, v
        if record:
            records[layer.name] = {"u": us, "v": vs, "s": out}
        overflow[layer.name] = counters.result()
        s, s_abs_max = out, _abs_max(out)
    return IntResult(s.reshape(*s.shape[:2], *net.output_shape), records, overflow)
