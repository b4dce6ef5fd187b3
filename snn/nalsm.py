"""NALSM: the neuron-astrocyte liquid state machine (Ivanov & Michmizos, NeurIPS 2021; SPEC §2), no backpropagation.

A 3-D liquid of ``side^3`` LIF neurons on a unit grid, 80% excitatory, with a refractory period; neuron ``j``
connects to ``i`` with probability ``C[type_j -> type_i] exp(-(D_ij / 3)^2)`` (``C_EE, C_EI, C_IE, C_II = 0.2, 0.1,
0.3, 0.05``, no self-connections); each input channel reaches each liquid neuron with probability 0.15. Weights start
at +3 (excitatory), -3 (inhibitory) and +-3 with a random sign (input; our reading of "+-3"). Per step of ``dt`` ms (refractory neurons hold ``v = 0``)::

    v = exp(-dt / tau_mem) v + W_in x_t + W s_{t-1};   s = v > threshold;   v[s] = 0, refractory for R steps

During self-organisation the synapses follow trace STDP (:mod:`snn.plasticity.stdp`: potentiation 0.15 and
depression ``A`` for excitatory and input presynaptic neurons, swapped for inhibitory; clips E [0, 3], I [-3, 0],
input [-3, 3]); ``A`` is the NALSM astrocyte (:mod:`snn.plasticity.astrocyte`) or, for "unregulated STDP", fixed at
0.15. The frozen liquid's features are spike counts; :func:`to_ir` lowers it to ``Linear -> RefractoryLIF``.
Connections are stored as dense ``(post, pre)`` tensors with a boolean mask (a 1000-neuron liquid: 4 MB).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from . import ir
from .plasticity import astrocyte_step, stdp_update, trace_step

PLASTICITY = ("none", "stdp", "astro")


@dataclass(frozen=True)
class LiquidConfig:
    """Liquid knobs (times in ms). ``connect``: C for (E->E, E->I, I->E, I->I); ``w_astro``: the astrocyte's w_A."""

    side: int = 10
    excitatory: float = 0.8
    tau_mem: float = 64.0
    threshold: float = 20.0
    refractory_ms: float = 2.0
    dt: float = 1.0
    connect: tuple = (0.2, 0.1, 0.3, 0.05)
    length: float = 3.0
    input_density: float = 0.15
    weight: float = 3.0
    tau_trace: float = 10.0
    rate: float = 0.15
    w_astro: float = 0.015
    seed: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.side, bool) or not isinstance(self.side, int) or self.side <= 0:
            raise ValueError(f"NALSM: side: expected a positive integer, got {self.side!r}")
        for name in ("tau_mem", "threshold", "dt", "length", "weight", "tau_trace"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
                raise ValueError(f"NALSM: {name}: expected a finite number > 0, got {v!r}")
        if not isinstance(self.refractory_ms, (int, float)) or self.refractory_ms < 0:
            raise ValueError(f"NALSM: refractory_ms: expected a number >= 0, got {self.refractory_ms!r}")
        probs = {"excitatory": self.excitatory, "input_density": self.input_density}
        probs.update({f"connect[{i}]": c for i, c in enumerate(self.connect)})
        if len(self.connect) != 4:
            raise ValueError(f"NALSM: connect: expected 4 probabilities (EE, EI, IE, II), got {self.connect!r}")
        for name, p in probs.items():
            if not isinstance(p, (int, float)) or not 0 <= p <= 1:
                raise ValueError(f"NALSM: {name}: expected a probability in [0, 1], got {p!r}")

    @property
    def n(self) -> int:
        return self.side ** 3

    @property
    def refractory_steps(self) -> int:
        return round(self.refractory_ms / self.dt)


class Liquid:
    """A seeded liquid for ``n_in`` input channels: ``w`` (n, n) and ``w_in`` (n, n_in) with masks, ``excitatory``
    (n,) bool. :meth:`run` simulates it, learning when ``plasticity`` is ``"stdp"`` or ``"astro"``."""

    def __init__(self, n_in: int, cfg: LiquidConfig = LiquidConfig()):
        if isinstance(n_in, bool) or not isinstance(n_in, int) or n_in <= 0:
            raise ValueError(f"NALSM: n_in: expected a positive integer, got {n_in!r}")
        self.cfg, self.n_in, n = cfg, n_in, cfg.n
        g = torch.Generator().manual_seed(cfg.seed)
        grid = torch.arange(cfg.side, dtype=torch.float64)
        pos = torch.cartesian_prod(grid, grid, grid)                          # (n, 3)
        self.excitatory = torch.randperm(n, generator=g) < round(cfg.excitatory * n)
        exc = self.excitatory
        c_ee, c_ei, c_ie, c_ii = cfg.connect
        c = torch.where(exc[None, :], torch.where(exc[:, None], c_ee, c_ei), torch.where(exc[:, None], c_ie, c_ii))
        p = c * torch.exp(-(torch.cdist(pos, pos) / cfg.length) ** 2)         # (post, pre)
        p.fill_diagonal_(0)
        self.mask = torch.rand(n, n, generator=g, dtype=torch.float64) < p
        self.in_mask = torch.rand(n, n_in, generator=g, dtype=torch.float64) < cfg.input_density
        sign = torch.where(exc, cfg.weight, -cfg.weight).float()
        self.w = torch.where(self.mask, sign[None, :], torch.zeros(()))
        in_sign = torch.where(torch.rand(n, n_in, generator=g) < 0.5, cfg.weight, -cfg.weight)
        self.w_in = torch.where(self.in_mask, in_sign, 0.0)
        lo = torch.where(exc, 0.0, -cfg.weight)
        self.lo, self.hi = lo, torch.where(exc, cfg.weight, 0.0)

    def run(self, x: torch.Tensor, plasticity: str = "none") -> torch.Tensor:
        """Spikes ``(T, B, n)`` for input spikes ``x`` ``(T, B, n_in)``; with plasticity the weights learn in place
        (STDP summed over the batch; one astrocyte per sample)."""
        cfg = self.cfg
        if plasticity not in PLASTICITY:
            raise ValueError(f"NALSM: plasticity: expected one of {list(PLASTICITY)}, got {plasticity!r}")
        if not isinstance(x, torch.Tensor) or x.dim() != 3 or x.shape[2] != self.n_in:
            got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"NALSM: input: expected shape (T, B, {self.n_in}) (the liquid's input layer), got {got}")
        x = x.to(self.w.dtype)
        T, B, _ = x.shape
        beta = torch.exp(-cfg.dt / torch.full((cfg.n,), cfg.tau_mem, dtype=x.dtype))  # as the IR kernel computes it
        alpha = math.exp(-cfg.dt / cfg.tau_trace)
        frozen = plasticity == "none"
        drive = torch.nn.functional.linear(x, self.w_in) if frozen else None  # the IR's Linear node, one call
        v = x.new_zeros(B, cfg.n)
        s = torch.zeros_like(v)
        ref = torch.zeros_like(v)
        tr, tr_in = torch.zeros_like(v), x.new_zeros(B, self.n_in)
        a = x.new_full((B, 1), cfg.rate)
        exc = self.excitatory
        out = torch.empty(T, B, cfg.n, dtype=x.dtype)
        for t in range(T):
            inp = (drive[t] if frozen else x[t] @ self.w_in.t()) + s @ self.w.t()
            v = torch.where(ref > 0, 0.0, beta * v + inp)
            s_new = (v > cfg.threshold).to(x.dtype)
            v = v * (1 - s_new)
            ref = torch.where(s_new > 0, float(cfg.refractory_steps), (ref - 1).clamp_min(0))
            if not frozen:  # pairs with earlier spikes (traces before this step's update)
                if plasticity == "astro":
                    a = astrocyte_step(a[:, 0], s_new, x[t], cfg.w_astro)[:, None]
                plus = torch.where(exc[None, :], cfg.rate, a)
                minus = torch.where(exc[None, :], a, cfg.rate)
                self.w = stdp_update(self.w, self.mask, tr, s_new, tr, s_new, plus, minus, self.lo, self.hi)
                self.w_in = stdp_update(self.w_in, self.in_mask, tr_in, x[t], tr, s_new, cfg.rate, a,
                                        -cfg.weight, cfg.weight)
                tr, tr_in = trace_step(tr, s_new, alpha), trace_step(tr_in, x[t], alpha)
            s = s_new
            out[t] = s
        return out


# The NALSM repository's branching-factor window and per-sample buffer, in steps (ms at 1 ms steps).
BF_WINDOW, BF_BUFFER = 4, 25


def branching_factor(spikes: torch.Tensor, mask: torch.Tensor, window: int = BF_WINDOW,
                     buffer: int = BF_BUFFER) -> float:
    """The NALSM repository's branching factor (``compute_branching_factor.py``; SPEC §2): for each spike of a neuron
    at step ``t``, the spikes of its postsynaptic neurons in steps ``t+1 .. t+window`` over the spikes of its
    presynaptic neurons in ``t-window .. t-1`` (a denominator of at least 1); averaged over the neuron's spikes, then
    over the neurons that spiked, then over the samples. Spikes within ``buffer + window`` steps of either end of a
    sample are not counted (the repository's 25 ms buffer at 1 ms steps). ``spikes``: (T, B, n) of one liquid;
    ``mask``: (post, pre) connections. NaN when no spike falls in the counted steps. 1 is the critical value:
    activity neither dies out nor grows from one step to the next."""
    T = spikes.shape[0]
    lo, hi = buffer + window, T - buffer - window
    if hi <= lo:
        raise ValueError(f"branching_factor: spikes: need more than {2 * (buffer + window)} steps (buffer {buffer}, "
                         f"window {window} at each end), got {T}")
    s = spikes.to(torch.float64)
    before = torch.cat([torch.zeros_like(s[:1]), s.cumsum(0)])  # before[k] = spikes in steps 0 .. k-1
    past = before[lo:hi] - before[lo - window:hi - window]
    future = before[lo + 1 + window:hi + 1 + window] - before[lo + 1:hi + 1]
    m = mask.to(torch.float64)
    ratio = (future @ m) / (past @ m.t()).clamp_min(1)
    fired = s[lo:hi]
    per_neuron = (ratio * fired).sum(0) / fired.sum(0)      # (B, n): NaN for neurons without counted spikes
    per_sample = per_neuron.nanmean(-1)
    return float(per_sample.nanmean())


def features(spikes: torch.Tensor) -> torch.Tensor:
    """Spike counts per neuron ``(B, n)``, L1-normalised per sample (the readout's input)."""
    counts = spikes.sum(0)
    return counts / counts.sum(-1, keepdim=True).clamp_min(1)


def to_ir(liquid: Liquid) -> ir.Graph:
    """The frozen liquid as ``input -> Linear(W_in) -> RefractoryLIF(W) -> output`` (spikes out)."""
    cfg, n = liquid.cfg, liquid.cfg.n
    node = ir.RefractoryLIF(torch.full((n,), cfg.tau_mem).numpy(), torch.full((n,), cfg.threshold).numpy(), "zero",
                            cfg.dt, liquid.w.float().numpy(), refractory=cfg.refractory_steps)
    return ir.Graph.chain({"input_synapses": ir.Linear(liquid.w_in.float().numpy()), "liquid": node},
                          (liquid.n_in,), cfg.dt, {"model": "NALSM"})
