"""AstroLIF: an AM-SU-style astrocyte-modulated LIF layer (our reading of Shen et al., arXiv 2312.07625; SPEC §2).

The paper published no code; this follows its figure. A LIF layer of ``n`` neurons is split into ``groups`` astrocyte
domains of ``m = n / groups`` neurons (``groups = 1``: one astrocyte shared by the layer). Each astrocyte senses the
presynaptic drive ``x_t`` of its own neurons (the layer's input current, e.g. the output of a ``Linear``), keeps a
slow state ``H`` (``m x d_k``) and feeds a gliotransmitter signal ``o_t`` back to its neurons, added before the
threshold. Per domain ``g`` and step of ``dt`` ms::

    k_t = K_g x_t,   v_t = V_g x_t,   q_t = Q_g x_t            keys, values (m), queries (d_k); x_t: the domain's drive
    H_t = Lambda (.) H_{t-1} + c (.) v_t k_t^T                   Lambda = sigmoid(rho) in (0, 1), one per key dimension
    o_t = H_t q_t                                                feedback (membrane units)
    u_t = beta u_{t-1} (1 - s_{t-1}) + x_t                       beta = exp(-dt / tau_mem); zero reset
    s_t = Heaviside(u_t + o_t - threshold)                       surrogate gradient in backward

``c = 1`` with ``normalise="none"`` (the figure) and ``c = 1 - Lambda`` with ``normalise="ema"`` (default): ``H`` is
then an exponential moving average of ``v k^T``, bounded by the largest ``|v_t k_t^T|`` seen however long the
sequence and however close ``Lambda`` gets to 1. ``o_t`` does not enter ``u``: the astrocyte shifts when a neuron
fires, not what it integrates. Use it where a second, slower and input-dependent memory helps (sums over time,
context), as a drop-in for ``LIF`` after a ``Linear``.

Functional core: :func:`astro_lif_step` (pure) and :func:`astro_lif_sequence`; :class:`AstroLIF` is a thin module.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import nn

from .. import _checks
from ..surrogate import Surrogate, surrogate as make_surrogate
from .lif import _LeakyBase, _per_neuron

__all__ = ["AstroLIFState", "AstroLIFDynamics", "astro_lif_step", "astro_lif_sequence", "astro_feedback", "AstroLIF",
           "NORMALISE", "DECAY_RANGE"]

NORMALISE = ("ema", "none")
# Lambda is kept in this closed range inside (0, 1) (a float32 sigmoid would round a large logit to exactly 1).
DECAY_RANGE = (1e-4, 1 - 1e-4)
_LOGIT_MAX = math.log(DECAY_RANGE[1] / DECAY_RANGE[0])


class AstroLIFState(NamedTuple):
    """State of an :class:`AstroLIF` layer.

    Attributes:
        u: membrane potential ``(B, n)`` (threshold units).
        s: spikes of the previous step ``(B, n)`` (they reset ``u`` at this step).
        h: astrocyte state ``(B, groups, m, d_k)`` (membrane units per query unit).
    """

    u: torch.Tensor
    s: torch.Tensor
    h: torch.Tensor


class AstroLIFDynamics(NamedTuple):
    """Per-step coefficients of an :class:`AstroLIF` layer.

    Attributes:
        beta: membrane decay per step ``(n,)``, ``exp(-dt / tau_mem)``.
        threshold: firing threshold ``(n,)`` (membrane units).
        decay: astrocyte decay ``Lambda`` per step ``(groups, d_k)``, in (0, 1).
        key_weight / query_weight: ``(groups, d_k, m)``; value_weight: ``(groups, m, m)``.
        normalise: ``"ema"`` (increment scaled by ``1 - Lambda``) or ``"none"``.
        spike_fn: Heaviside with a surrogate gradient.
        detach_reset: if True the reset ``(1 - s_{t-1})`` carries no gradient.
    """

    beta: torch.Tensor
    threshold: torch.Tensor
    decay: torch.Tensor
    key_weight: torch.Tensor
    value_weight: torch.Tensor
    query_weight: torch.Tensor
    normalise: str
    spike_fn: Surrogate
    detach_reset: bool = True


def astro_lif_step(x: torch.Tensor, state: AstroLIFState, p: AstroLIFDynamics
                   ) -> tuple[torch.Tensor, AstroLIFState]:
    """One step: drive ``x`` ``(B, n)`` -> spikes ``(B, n)`` and the new state (equations in the module docstring)."""
    groups, m = p.value_weight.shape[:2]
    xg = x.reshape(x.shape[0], groups, m)
    k = torch.einsum("bgi,gki->bgk", xg, p.key_weight)
    v = torch.einsum("bgi,gji->bgj", xg, p.value_weight)
    q = torch.einsum("bgi,gki->bgk", xg, p.query_weight)
    lam = p.decay[:, None, :]
    inc = v[..., :, None] * k[..., None, :]
    h = lam * state.h + ((1 - lam) * inc if p.normalise == "ema" else inc)
    o = torch.einsum("bgjk,bgk->bgj", h, q).reshape_as(x)
    r = state.s.detach() if p.detach_reset else state.s
    u = p.beta * state.u * (1 - r) + x
    s = p.spike_fn(u + o - p.threshold)
    return s, AstroLIFState(u, s, h)


def astro_feedback(x: torch.Tensor, h: torch.Tensor, p: AstroLIFDynamics, chunk: int
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """The astrocyte feedback ``o`` ``(T, B, n)`` of a whole drive ``x`` ``(T, B, n)`` and the final ``H``, in chunks of
    ``chunk`` steps computed in parallel (``H`` depends on ``x`` only, never on the spikes).

    Within a chunk starting from ``H0``, step ``i``: ``o_i = (H0 (q_i * Lambda^(i+1))) + sum_{r<=i} v_r
    sum_k q_i[k] c_k k_r[k] Lambda_k^(i-r)``; equal to the step-by-step recurrence up to float rounding.
    """
    T, B, n = x.shape
    groups, m = p.value_weight.shape[:2]
    xg = x.reshape(T, B, groups, m)
    k = torch.einsum("tbgi,gki->tbgk", xg, p.key_weight)
    v = torch.einsum("tbgi,gji->tbgj", xg, p.value_weight)
    q = torch.einsum("tbgi,gki->tbgk", xg, p.query_weight)
    log_lam = torch.log(p.decay)                                      # (G, d_k)
    ck = k * (1 - p.decay) if p.normalise == "ema" else k
    out = []
    for t0 in range(0, T, chunk):
        c = min(chunk, T - t0)
        i = torch.arange(c, device=x.device, dtype=x.dtype)
        lag = i[:, None] - i[None, :]                                 # i - r
        decay = torch.exp(lag.clamp_min(0)[..., None, None] * log_lam) * (lag >= 0)[..., None, None]  # (c, c, G, dk)
        qs, ks, vs = q[t0:t0 + c], ck[t0:t0 + c], v[t0:t0 + c]
        scores = torch.einsum("ibgk,irgk,rbgk->bgir", qs, decay, ks)
        powers = torch.exp((i[:, None, None] + 1) * log_lam)           # Lambda^(i+1), (c, G, d_k)
        o = torch.einsum("bgir,rbgj->ibgj", scores, vs) + torch.einsum("bgjk,ibgk->ibgj", h, qs * powers[:, None])
        out.append(o.reshape(c, B, n))
        tail = torch.exp((c - 1 - i)[:, None, None] * log_lam)        # Lambda^(c-1-r)
        h = powers[-1][:, None, :] * h + torch.einsum("rbgj,rbgk->bgjk", vs, ks * tail[:, None])
    return torch.cat(out), h


def astro_lif_sequence(x: torch.Tensor, state: AstroLIFState, p: AstroLIFDynamics, chunk: int | None = None
                       ) -> tuple[torch.Tensor, AstroLIFState]:
    """Runs :func:`astro_lif_step` over ``(T, B, n)``; returns spikes ``(T, B, n)`` and the final state.

    ``chunk``: compute the astrocyte part in parallel chunks of that many steps (:func:`astro_feedback`), then the
    LIF loop alone: faster on long sequences, equal up to float rounding. ``None``: step by step, identical to
    :func:`astro_lif_step`.
    """
    if chunk is None:
        out = []
        for x_t in x.unbind(0):
            s, state = astro_lif_step(x_t, state, p)
            out.append(s)
        return torch.stack(out), state
    o, h = astro_feedback(x, state.h, p, chunk)
    u, s, out = state.u, state.s, []
    for x_t, o_t in zip(x.unbind(0), o.unbind(0)):
        r = s.detach() if p.detach_reset else s
        u = p.beta * u * (1 - r) + x_t
        s = p.spike_fn(u + o_t - p.threshold)
        out.append(s)
    return torch.stack(out), AstroLIFState(u, s, h)


def _decay_logit(value, shape: tuple[int, ...], where: str) -> torch.Tensor:
    """``log(d / (1 - d))`` of a decay given as a scalar or a tensor broadcastable to ``shape``, each in (0, 1)."""
    d = torch.as_tensor(value, dtype=torch.float64)
    lo, hi = DECAY_RANGE
    if d.numel() == 0 or not bool(torch.isfinite(d).all()) or not bool(((d >= lo) & (d <= hi)).all()):
        got = d.tolist() if d.numel() <= 4 else f"values in {d.min().item():g}..{d.max().item():g}"
        raise ValueError(f"{where}: decay: expected every value in the open interval (0, 1) (within "
                         f"{lo:g}..{hi:g}), got {got}")
    try:
        d = d.expand(shape).clone()
    except RuntimeError:
        raise ValueError(f"{where}: decay: expected a scalar or a tensor broadcastable to (groups, key_size) = "
                         f"{shape}, got shape {tuple(d.shape)}") from None
    return torch.log(d / (1 - d)).to(torch.get_default_dtype())


def _positive_int(name: str, value, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{where}: {name}: expected a positive integer, got {value!r}")
    return value


class AstroLIF(_LeakyBase):
    """AM-SU-style astrocyte-modulated LIF layer of ``n`` neurons (equations in the module docstring).

    Args:
        n: neurons of the layer (its input is their drive, ``(T, B, n)``).
        groups: astrocyte domains; ``n`` must be a multiple of it (1 = one astrocyte shared by the layer).
        key_size: ``d_k``, keys and queries per astrocyte.
        decay: astrocyte decay ``Lambda`` per step, in (0, 1): a scalar or ``(groups, key_size)``.
        learn_decay: train ``Lambda`` (kept in (0, 1) through a sigmoid); otherwise a buffer.
        normalise: ``"ema"`` (default; ``H`` bounded over long sequences) or ``"none"`` (the figure).
        tau_mem: membrane time constant (ms); threshold: firing threshold (membrane units); dt: step (ms).
        learn_tau: train ``tau_mem`` per neuron.
        surrogate / slope: spike surrogate (see :mod:`snn.surrogate`); detach_reset: no gradient through the reset.
        init_scale: key/value/query weights start uniform in ``+-init_scale / sqrt(m)``.
        chunk: ``forward`` computes the astrocyte in parallel chunks of this many steps (faster for long sequences,
            equal to ``step`` up to float rounding); None (default): step by step, identical to ``step``.

    ``forward(x (T, B, n), state=None) -> (spikes (T, B, n), state)``;
    ``step(x (B, n), state=None) -> (spikes (B, n), state)``.
    """

    def __init__(self, n: int, *, groups: int = 1, key_size: int = 8, decay=0.9, learn_decay: bool = True,
                 normalise: str = "ema", tau_mem=20.0, threshold=1.0, dt: float = 1.0, learn_tau: bool = False,
                 surrogate: str = "atan", slope: float | None = None, detach_reset: bool = True,
                 init_scale: float = 1.0, chunk: int | None = None) -> None:
        name = type(self).__name__
        n = _positive_int("n", n, name)
        super().__init__(n, dt, learn_tau)
        self.groups = _positive_int("groups", groups, name)
        self.key_size = _positive_int("key_size", key_size, name)
        _checks.positive("init_scale", init_scale, where=name)
        self.chunk = None if chunk is None else _positive_int("chunk", chunk, name)
        self.init_scale = float(init_scale)
        if n % self.groups:
            raise ValueError(f"{name}: groups: expected a divisor of the {n} neurons, got {groups}")
        if normalise not in NORMALISE:
            raise ValueError(f"{name}: normalise: expected one of {list(NORMALISE)}, got {normalise!r}")
        self.normalise = normalise
        self.spike_fn = make_surrogate(surrogate, slope)
        self.detach_reset = bool(detach_reset)
        self._time_constant("tau_mem", tau_mem)
        self.register_buffer("threshold", _per_neuron("threshold", threshold, self.shape, name))
        m, g, dk = n // self.groups, self.groups, self.key_size
        logit = _decay_logit(decay, (g, dk), name)
        self.learn_decay = bool(learn_decay)
        if self.learn_decay:
            self.decay_logit = nn.Parameter(logit)
        else:
            self.register_buffer("decay_logit", logit)
        self.key_weight = nn.Parameter(torch.empty(g, dk, m))
        self.value_weight = nn.Parameter(torch.empty(g, m, m))
        self.query_weight = nn.Parameter(torch.empty(g, dk, m))
        self.reset_parameters()

    @property
    def group_size(self) -> int:
        return self.shape[0] // self.groups

    def reset_parameters(self) -> None:
        """Key, value and query weights uniform in ``+-init_scale/sqrt(m)`` (``init_scale = 1``: as ``nn.Linear`` on a
        domain's drive; the feedback ``o`` is cubic in them, so a weak drive may need a larger ``init_scale``)."""
        bound = self.init_scale / math.sqrt(self.group_size)
        for w in (self.key_weight, self.value_weight, self.query_weight):
            nn.init.uniform_(w, -bound, bound)

    def astrocyte_decay(self) -> torch.Tensor:
        """``Lambda = sigmoid(decay_logit)``, ``(groups, key_size)``, clamped into ``DECAY_RANGE`` inside (0, 1)."""
        return torch.sigmoid(self.decay_logit.clamp(-_LOGIT_MAX, _LOGIT_MAX))

    def dynamics(self) -> AstroLIFDynamics:
        return AstroLIFDynamics(self.decay("tau_mem"), self.threshold, self.astrocyte_decay(), self.key_weight,
                                self.value_weight, self.query_weight, self.normalise, self.spike_fn,
                                self.detach_reset)

    def initial_state(self, batch_size: int, device=None, dtype=torch.float32) -> AstroLIFState:
        z = torch.zeros(batch_size, *self.shape, device=device, dtype=dtype)
        h = torch.zeros(batch_size, self.groups, self.group_size, self.key_size, device=device, dtype=dtype)
        return AstroLIFState(z, z, h)

    def forward(self, x: torch.Tensor, state: AstroLIFState | None = None) -> tuple[torch.Tensor, AstroLIFState]:
        self._check_input(x, leading=2)
        if state is None:
            state = self.initial_state(x.shape[1], x.device, x.dtype)
        return astro_lif_sequence(x, state, self.dynamics(), self.chunk)

    def step(self, x: torch.Tensor, state: AstroLIFState | None = None) -> tuple[torch.Tensor, AstroLIFState]:
        self._check_input(x, leading=1)
        if state is None:
            state = self.initial_state(x.shape[0], x.device, x.dtype)
        return astro_lif_step(x, state, self.dynamics())

    def extra_repr(self) -> str:
        return (f"n={self.shape[0]}, groups={self.groups}, key_size={self.key_size}, normalise={self.normalise!r}, "
                f"tau_mem (ms), dt={self.dt}, surrogate={self.spike_fn.kind}(slope={self.spike_fn.slope})")
