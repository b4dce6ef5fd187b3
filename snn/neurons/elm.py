"""The Expressive Leaky Memory neuron (ELM) and Branch-ELM (Spieler, Rahaman, Martius, Schoelkopf, Levina; ICLR 2024).

A single ELM "neuron" is a small recurrent unit modelled on a cortical neuron: leaky synaptic traces feed, through
an MLP, ``d_m`` memory units that decay with learned time constants (from ms to a second); a linear map reads the
memory out. It is not spiking: use it where a long, learned memory of the input matters (an SHD-Adding-style task
with a gap between the things to combine) and parameters are few; use LIF networks where spikes and event-driven
hardware matter. Discrete-time dynamics per step of ``dt`` ms (SPEC §2)::

    z_t  = relu(w_s) * x_t[r]                      synapse j reads input r(j) (identity for ELM)
    b_t  = kappa_s * b_{t-1} + sum_{j in branch k} z_t,j     kappa_s = exp(-dt / tau_s)
    dm_t = 1.7159 * tanh(2/3 * (W2 relu(W1 [b_t, kappa_m * m_{t-1}] + c1) + c2))
    m_t  = kappa_m * m_{t-1} + g * dm_t             kappa_m = exp(-dt / tau_m)
    y_t  = W_y m_t + c_y
    g    = lambda * (1 - kappa_m)                   update "v1" (the paper)
         = 1 - exp(-dt * lambda / tau_m)            update "v2" (the authors' code, version 2)
    tau_m = tau_min + (tau_max - tau_min) * sigmoid(theta)    learned through theta, always inside its bounds

The paper filters every synapse (``s_t = kappa_s s_{t-1} + z_t``) and sums the traces of a branch; the code's v2
filters the branch sums. With one ``tau_s`` for all synapses the two are the same linear map, so this module keeps
one trace per branch for both updates (for ELM every synapse is its own branch).

:func:`elm_sequence` computes the input weighting and routing, the MLP's input half and the readout as batched
products over all steps at once, and loops over ``T`` only for the element-wise trace filter and the memory
recurrence (both with hand-written backward passes). :func:`elm_step` is the same on one step, and every step is
computed exactly as on its own, so stepping, whole sequences and split sequences give bit-identical numbers.
:class:`ELM` and :class:`BranchELM` are thin modules that own the parameters.
"""

from __future__ import annotations

import math
from typing import NamedTuple, Optional

import torch
from torch import nn

from .. import _checks
from .base import Stateful

__all__ = ["ELMState", "ELMDynamics", "elm_step", "elm_sequence", "random_routing", "ELM", "BranchELM",
           "UPDATES"]

UPDATES = ("v1", "v2")
TANH_SCALE, TANH_SLOPE = 1.7159, 2.0 / 3.0  # LeCun's scaled tanh on the MLP output


class ELMState(NamedTuple):
    """State of an ELM layer.

    Attributes:
        b: branch traces ``(B, branches)`` (synaptic traces for ELM, where each synapse is a branch).
        m: memory units ``(B, memory_units)``.
    """

    b: torch.Tensor
    m: torch.Tensor


class ELMDynamics(NamedTuple):
    """Per-step coefficients and weights of an ELM layer.

    Attributes:
        synapse_weight: non-negative synaptic weights ``relu(w_s)`` ``(synapses,)``.
        routing: input index of each synapse ``(synapses,)`` (int64), or None (synapse ``j`` reads input ``j``).
        synapses_per_branch: synapses summed per branch (1 for ELM).
        kappa_s: trace decay per step ``exp(-dt / tau_s)`` (a 0-d tensor).
        kappa_m: memory decay per step ``exp(-dt / tau_m)`` ``(memory_units,)``.
        gain: memory input gain ``g`` ``(memory_units,)`` (v1 or v2, see the module docstring).
        w1_b, w1_m, c1: the MLP's hidden layer split into its branch ``(H, branches)`` and memory ``(H, memory)``
            halves, and its bias ``(H,)``.
        w2, c2: the MLP's output layer ``(memory, H)`` and bias ``(memory,)``.
        w_y, c_y: linear readout ``(out, memory)`` and bias ``(out,)``.
    """

    synapse_weight: torch.Tensor
    routing: Optional[torch.Tensor]
    synapses_per_branch: int
    kappa_s: torch.Tensor
    kappa_m: torch.Tensor
    gain: torch.Tensor
    w1_b: torch.Tensor
    w1_m: torch.Tensor
    c1: torch.Tensor
    w2: torch.Tensor
    c2: torch.Tensor
    w_y: torch.Tensor
    c_y: torch.Tensor


class _StepLinear(torch.autograd.Function):
    """``y_t = x_t W^T (+ c)`` for every step of ``x`` ``(T, B, K)``, as one batched product (``bmm``) over the steps.

    ``F.linear`` on ``(T, B, K)`` folds the steps into one ``(T*B, K)`` product, and BLAS may then round a row
    differently than in the ``(B, K)`` product of a single step. ``bmm`` computes every step as its own ``(B, K)``
    product, so a row's numbers do not depend on ``T``: the sequence and the single step agree bit for bit. The
    backward pass (not bit-matched to anything) folds the steps again for speed.
    """

    @staticmethod
    @torch.amp.custom_fwd(device_type="cuda")  # the backward then runs under the forward's autocast state
    def forward(ctx, x, w, c):
        wt = w.t().expand(x.shape[0], *w.t().shape)
        ctx.save_for_backward(x, w)
        ctx.has_bias = c is not None
        if c is None:
            return torch.bmm(x, wt)
        return torch.baddbmm(c.expand(x.shape[0], x.shape[1], c.shape[0]), x, wt)

    @staticmethod
    @torch.amp.custom_bwd(device_type="cuda")
    @torch.autograd.function.once_differentiable
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        return (torch.matmul(g, w), g.flatten(0, 1).t() @ x.flatten(0, 1),
                g.sum((0, 1)) if ctx.has_bias else None)


class _LeakyTrace(torch.autograd.Function):
    """All states of ``b_t = kappa * b_{t-1} + u_t`` (``u`` ``(T, ...)``, ``b_{-1} = b0``), one step at a time.

    The forward loop does exactly the single step's arithmetic (so sequence and step agree bit for bit); the backward
    pass runs the same recurrence backwards in time. ``kappa`` (a 0-d tensor) is a constant here.
    """

    @staticmethod
    def forward(ctx, u, b0, kappa):
        if kappa.requires_grad:
            raise ValueError("ELM: kappa_s is a constant (tau_s is not learned); got a kappa_s that requires grad")
        out = torch.empty_like(u)
        b = b0
        for t in range(u.shape[0]):
            b = kappa * b + u[t]
            out[t] = b
        ctx.save_for_backward(kappa)
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, g):
        (kappa,) = ctx.saved_tensors
        g_u = torch.empty_like(g)
        g_b = torch.zeros_like(g[0])
        for t in range(g.shape[0] - 1, -1, -1):  # dL/du_t = g_t + kappa dL/du_{t+1}
            g_b = kappa * g_b + g[t]
            g_u[t] = g_b
        return g_u, kappa * g_b, None


def _branch_input(x: torch.Tensor, p: ELMDynamics) -> torch.Tensor:
    """Weighted synaptic input summed per branch: ``(T, B, in) -> (T, B, branches)``.

    With routing, the synapses fold into one ``(branches, in)`` matrix (entry ``k, i``: the summed weights of branch
    ``k``'s synapses that read input ``i``), so the whole sequence is one (batched) matrix product, not a gather.
    """
    if p.routing is None:
        return x * p.synapse_weight
    n_syn = p.synapse_weight.shape[0]
    branch = torch.arange(n_syn, device=x.device) // p.synapses_per_branch
    fold = x.new_zeros(n_syn // p.synapses_per_branch, x.shape[-1])
    return _StepLinear.apply(x, fold.index_put((branch, p.routing), p.synapse_weight, accumulate=True), None)


def elm_step(x: torch.Tensor, state: ELMState, p: ELMDynamics) -> tuple[torch.Tensor, ELMState]:
    """One step: ``x`` ``(B, in)`` -> output ``(B, out)`` and the new state.

    It is :func:`elm_sequence` on a sequence of one step, so stepping and whole sequences give identical numbers.
    """
    y, state = elm_sequence(x.unsqueeze(0), state, p)
    return y[0], state


class _MemoryRecurrence(torch.autograd.Function):
    """The memory recurrence over a whole sequence with a hand-written backward pass through time.

    ``forward(pre (T, B, H), m0 (B, d), kappa_m (d,), gain (d,), w1_m (H, d), w2 (d, H), c2 (d,)) -> m (T, B, d)``,
    the memory states. Autograd over a Python loop would record ~10 nodes per step and, slicing
    ``pre`` per step, allocate a full-size zero gradient per step (quadratic in T); here the backward loop carries only
    the gradient of ``m`` through time, and the weight gradients are one matrix product each over all steps.
    """

    @staticmethod
    @torch.amp.custom_fwd(device_type="cuda", cast_inputs=torch.float32)  # under autocast the recurrence stays fp32
    def forward(ctx, pre, m0, kappa_m, gain, w1_m, w2, c2):
        T = pre.shape[0]
        m_prev = pre.new_empty(T, *m0.shape)
        h_all = torch.empty_like(pre)
        th_all = pre.new_empty(T, *m0.shape)
        m = m0
        for t in range(T):
            m_prev[t] = m
            km = kappa_m * m
            h = torch.relu(torch.addmm(pre[t], km, w1_m.t()))
            th = torch.tanh(TANH_SLOPE * torch.addmm(c2, h, w2.t()))
            m = km + gain * TANH_SCALE * th
            h_all[t], th_all[t] = h, th
        out = torch.cat([m_prev[1:], m.unsqueeze(0)])
        ctx.save_for_backward(m_prev, h_all, th_all, kappa_m, gain, w1_m, w2)
        return out

    @staticmethod
    @torch.amp.custom_bwd(device_type="cuda")
    @torch.autograd.function.once_differentiable
    def backward(ctx, g_out):
        m_prev, h_all, th_all, kappa_m, gain, w1_m, w2 = ctx.saved_tensors
        g_a, g_o, g_m, g_km = (torch.empty_like(h_all), torch.empty_like(th_all), torch.empty_like(th_all),
                               torch.empty_like(th_all))
        g_next = torch.zeros_like(m_prev[0])
        for t in range(g_out.shape[0] - 1, -1, -1):
            g_m[t] = g = g_out[t] + g_next                                   # dL/dm_t
            g_o[t] = go = g * gain * (TANH_SCALE * TANH_SLOPE) * (1 - th_all[t] ** 2)
            g_a[t] = ga = (go @ w2) * (h_all[t] > 0)
            g_km[t] = gk = torch.addmm(g, ga, w1_m)                          # dL/d(kappa_m m_{t-1})
            g_next = gk * kappa_m
        flat = lambda a: a.flatten(0, 1)  # noqa: E731
        return (g_a, g_next,
                (g_km * m_prev).sum((0, 1)),
                (g_m * TANH_SCALE * th_all).sum((0, 1)),
                flat(g_a).t() @ flat(kappa_m * m_prev),
                flat(g_o).t() @ flat(h_all),
                g_o.sum((0, 1)))


def elm_sequence(x: torch.Tensor, state: ELMState, p: ELMDynamics) -> tuple[torch.Tensor, ELMState]:
    """Runs the ELM over ``x`` ``(T, B, in)``; returns outputs ``(T, B, out)`` and the final state.

    The branch input, ``W1_b b_t + c1`` and the readout are batched matrix products over all steps at once; the
    trace filtering is an element-wise loop over ``T`` and the memory recurrence a loop over ``T`` (both with
    hand-written backward passes). Every step is computed exactly as in a sequence of one step, so a sequence, its
    pieces run one after another and :func:`elm_step` agree bit for bit.
    """
    b = _LeakyTrace.apply(_branch_input(x, p), state.b, p.kappa_s)
    pre = _StepLinear.apply(b, p.w1_b, p.c1)
    m = _MemoryRecurrence.apply(pre, state.m, p.kappa_m, p.gain, p.w1_m, p.w2, p.c2)
    return _StepLinear.apply(m, p.w_y, p.c_y), ELMState(b[-1], m[-1])


def random_routing(in_features: int, synapses: int, seed: int) -> torch.Tensor:
    """Seeded input index of each of ``synapses`` synapses ``(synapses,)`` int64.

    Whole random permutations of the inputs are laid end to end and cut at ``synapses``, then shuffled, so every
    input feeds at least one synapse (``synapses >= in_features``) and no input feeds more than one more synapse than
    any other. The same ``seed`` always gives the same routing, on any machine (torch's CPU generator).
    """
    g = torch.Generator().manual_seed(int(seed))
    reps = -(-synapses // in_features)
    idx = torch.cat([torch.randperm(in_features, generator=g) for _ in range(reps)])[:synapses]
    return idx[torch.randperm(synapses, generator=g)]


def _logit(p: torch.Tensor) -> torch.Tensor:
    return torch.log(p) - torch.log1p(-p)


class ELM(Stateful):
    """An ELM layer: ``in_features`` inputs -> ``memory_units`` memory -> ``out_features`` linear outputs.

    Args:
        in_features / out_features: input and output sizes.
        memory_units: ``d_m``, the number of memory units.
        mlp_hidden: width of the MLP's hidden layer (default ``2 * memory_units``).
        tau_s: synaptic trace time constant (ms).
        tau_m_init: ``(lo, hi)`` ms; memory time constants start log-spaced over this range.
        tau_m_bounds: ``(tau_min, tau_max)`` ms; ``0 <= tau_min < lo <= hi < tau_max``. Learned ``tau_m`` stays inside.
        learn_tau_m: train the memory time constants (through the sigmoid parametrisation).
        lam: ``lambda``, the memory input scale.
        update: ``"v1"`` (the paper's ``g = lambda (1 - kappa_m)``) or ``"v2"`` (``g = 1 - exp(-dt lambda / tau_m)``).
        w_s_init: initial synaptic weight (used through ``relu``).
        dt: simulation step (ms).

    ``forward(x (T, B, in), state=None) -> (y (T, B, out), state)``; ``step(x (B, in), state=None) -> (y, state)``.
    """

    def __init__(self, in_features: int, out_features: int, memory_units: int = 100, *,
                 mlp_hidden: int | None = None, tau_s: float = 5.0, tau_m_init=(1.0, 150.0),
                 tau_m_bounds=(0.0, 1000.0), learn_tau_m: bool = True, lam: float = 5.0, update: str = "v1",
                 w_s_init: float = 0.5, dt: float = 1.0) -> None:
        super().__init__()
        name = type(self).__name__
        sizes = dict(in_features=in_features, out_features=out_features, memory_units=memory_units,
                     mlp_hidden=2 * memory_units if mlp_hidden is None and isinstance(memory_units, int)
                     else mlp_hidden)
        for key, value in sizes.items():
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name}: {key}: expected a positive int, got {value!r}")
        for key, value in (("tau_s", tau_s), ("lam", lam), ("dt", dt)):
            _checks.positive(key, value, where=name)
        if update not in UPDATES:
            raise ValueError(f"{name}: update: expected one of {list(UPDATES)}, got {update!r}")
        lo, hi = self._pair(name, "tau_m_init", tau_m_init)
        tau_min, tau_max = self._pair(name, "tau_m_bounds", tau_m_bounds)
        if not 0 <= tau_min < lo <= hi < tau_max:
            raise ValueError(f"{name}: tau_m_init {tau_m_init!r} and tau_m_bounds {tau_m_bounds!r}: expected "
                             f"0 <= tau_min < lo <= hi < tau_max (ms)")
        if isinstance(w_s_init, bool) or not isinstance(w_s_init, (int, float)) or not math.isfinite(w_s_init):
            raise ValueError(f"{name}: w_s_init: expected a finite number, got {w_s_init!r}")
        self.in_features, self.out_features, self.memory_units = in_features, out_features, memory_units
        self.mlp_hidden = sizes["mlp_hidden"]
        self.tau_s, self.lam, self.dt, self.update = float(tau_s), float(lam), float(dt), update
        self.tau_m_init, self.tau_m_bounds = (lo, hi), (tau_min, tau_max)
        self.learn_tau_m, self.w_s_init = bool(learn_tau_m), float(w_s_init)
        self._build_routing()
        self.w_s = nn.Parameter(torch.empty(self.synapses))
        theta = torch.empty(memory_units)
        if self.learn_tau_m:
            self.tau_m_logit = nn.Parameter(theta)
        else:
            self.register_buffer("tau_m_logit", theta)
        self.mlp_in = nn.Linear(self.branches + memory_units, self.mlp_hidden)
        self.mlp_out = nn.Linear(self.mlp_hidden, memory_units)
        self.readout = nn.Linear(memory_units, out_features)
        self.reset_parameters()

    @staticmethod
    def _pair(name: str, key: str, value) -> tuple[float, float]:
        try:
            a, b = (float(v) for v in value)
        except (TypeError, ValueError):
            raise ValueError(f"{name}: {key}: expected a pair (lo, hi) of numbers in ms, got {value!r}") from None
        if not (math.isfinite(a) and math.isfinite(b)):
            raise ValueError(f"{name}: {key}: expected finite numbers (ms), got {value!r}")
        return a, b

    def _build_routing(self) -> None:
        """ELM: one synapse per input and per branch, no routing."""
        self.synapses, self.branches, self.synapses_per_branch = self.in_features, self.in_features, 1
        self.register_buffer("routing", None)

    def reset_parameters(self) -> None:
        """``w_s = w_s_init``; ``tau_m`` log-spaced over ``tau_m_init``; the linear maps as ``nn.Linear``."""
        nn.init.constant_(self.w_s, self.w_s_init)
        (lo, hi), (tau_min, tau_max) = self.tau_m_init, self.tau_m_bounds
        tau = torch.logspace(math.log10(lo), math.log10(hi), self.memory_units, dtype=torch.float64)
        with torch.no_grad():
            self.tau_m_logit.copy_(_logit((tau - tau_min) / (tau_max - tau_min)))
        for layer in (self.mlp_in, self.mlp_out, self.readout):
            layer.reset_parameters()

    def tau_m(self) -> torch.Tensor:
        """Memory time constants (ms), ``tau_min + (tau_max - tau_min) * sigmoid(theta)``: always inside the bounds."""
        tau_min, tau_max = self.tau_m_bounds
        return tau_min + (tau_max - tau_min) * torch.sigmoid(self.tau_m_logit)

    def dynamics(self) -> ELMDynamics:
        tau_m = self.tau_m()
        kappa_m = torch.exp(-self.dt / tau_m)
        gain = self.lam * (1 - kappa_m) if self.update == "v1" else 1 - torch.exp(-self.dt * self.lam / tau_m)
        w1 = self.mlp_in.weight
        return ELMDynamics(
            synapse_weight=torch.relu(self.w_s), routing=self.routing, synapses_per_branch=self.synapses_per_branch,
            kappa_s=torch.exp(torch.tensor(-self.dt / self.tau_s, dtype=w1.dtype, device=w1.device)),
            kappa_m=kappa_m, gain=gain, w1_b=w1[:, :self.branches], w1_m=w1[:, self.branches:],
            c1=self.mlp_in.bias, w2=self.mlp_out.weight, c2=self.mlp_out.bias,
            w_y=self.readout.weight, c_y=self.readout.bias)

    def initial_state(self, batch_size: int, device=None, dtype=torch.float32) -> ELMState:
        return ELMState(torch.zeros(batch_size, self.branches, device=device, dtype=dtype),
                        torch.zeros(batch_size, self.memory_units, device=device, dtype=dtype))

    def _check(self, x: torch.Tensor, leading: int) -> None:
        _checks.input_tensor(x, (self.in_features,), leading=leading, where=type(self).__name__)

    def forward(self, x: torch.Tensor, state: ELMState | None = None) -> tuple[torch.Tensor, ELMState]:
        self._check(x, leading=2)
        if state is None:
            state = self.initial_state(x.shape[1], x.device, x.dtype)
        return elm_sequence(x, state, self.dynamics())

    def step(self, x: torch.Tensor, state: ELMState | None = None) -> tuple[torch.Tensor, ELMState]:
        self._check(x, leading=1)
        if state is None:
            state = self.initial_state(x.shape[0], x.device, x.dtype)
        return elm_step(x, state, self.dynamics())

    def extra_repr(self) -> str:
        return (f"in={self.in_features}, out={self.out_features}, memory_units={self.memory_units}, "
                f"mlp_hidden={self.mlp_hidden}, branches={self.branches}, tau_s={self.tau_s} ms, "
                f"tau_m_bounds={self.tau_m_bounds} ms, lam={self.lam}, update={self.update!r}, dt={self.dt}")


class BranchELM(ELM):
    """Branch-ELM: ``branches * synapses_per_branch`` synapses, each reading one input chosen at random, summed per
    branch before the MLP (a smaller MLP input than ELM's ``in_features``).

    The routing is drawn from ``routing_seed`` (:func:`random_routing`) and kept as the buffer ``routing``, so a
    model loaded from a ``state_dict`` routes exactly as the one saved. Every input must feed a synapse:
    ``branches * synapses_per_branch >= in_features``. Other arguments as :class:`ELM`.
    """

    def __init__(self, in_features: int, out_features: int, memory_units: int = 100, *, branches: int = 100,
                 synapses_per_branch: int = 15, routing_seed: int = 0, **kwargs) -> None:
        name = type(self).__name__
        for key, value in (("branches", branches), ("synapses_per_branch", synapses_per_branch)):
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"{name}: {key}: expected a positive int, got {value!r}")
        if isinstance(routing_seed, bool) or not isinstance(routing_seed, int):
            raise ValueError(f"{name}: routing_seed: expected an int, got {routing_seed!r}")
        if isinstance(in_features, int) and branches * synapses_per_branch < in_features:
            raise ValueError(f"{name}: branches * synapses_per_branch = {branches} * {synapses_per_branch} = "
                             f"{branches * synapses_per_branch} synapses cannot route all {in_features} inputs; "
                             "expected at least one synapse per input")
        self._routing_args = (branches, synapses_per_branch, routing_seed)
        super().__init__(in_features, out_features, memory_units, **kwargs)

    def _build_routing(self) -> None:
        self.branches, self.synapses_per_branch, self.routing_seed = self._routing_args
        self.synapses = self.branches * self.synapses_per_branch
        self.register_buffer("routing", random_routing(self.in_features, self.synapses, self.routing_seed))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        routing = state_dict.get(prefix + "routing")
        if routing is not None and (routing.shape != self.routing.shape or routing.dtype != torch.int64 or (
                routing.numel() and (int(routing.min()) < 0 or int(routing.max()) >= self.in_features))):
            raise ValueError(f"{type(self).__name__}: state_dict {prefix}routing: expected {self.synapses} int64 "
                             f"input indices in 0..{self.in_features - 1}, got dtype {routing.dtype}, shape "
                             f"{tuple(routing.shape)}")
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", synapses_per_branch={self.synapses_per_branch}, seed={self.routing_seed}"
