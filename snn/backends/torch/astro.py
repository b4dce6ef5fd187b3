"""Torch kernel of :class:`snn.ir.AstroLIF` (the AM-SU-style astrocyte-modulated LIF), read from the IR only."""

from __future__ import annotations

import torch

from ... import ir
from .simulator import _t, register_kernel


def astro_steps(node: ir.AstroLIF, x: torch.Tensor):
    """Runs the node's equations on the drive ``x`` (T, B, n), yielding per step ``(k, v, q, h, s)``: keys and
    queries (B, G, d_k), values (B, G, m), the astrocyte state ``h`` (B, G, m, d_k) and the spikes ``s`` (B, n) (the
    energy counter reads the intermediate values)."""
    beta = torch.exp(-node.dt / _t(node.tau_mem, x))
    theta = _t(node.threshold, x)
    lam = _t(node.decay, x)[:, None, :]                              # (G, 1, d_k)
    gain = 1 - lam if node.normalise == "ema" else torch.ones_like(lam)
    K, V, Q = (_t(w, x) for w in (node.key_weight, node.value_weight, node.query_weight))
    T, B, n = x.shape
    G, m = V.shape[:2]
    h = x.new_zeros(B, G, m, K.shape[1])
    u = torch.zeros_like(x[0])
    for t in range(T):
        xg = x[t].view(B, G, m)
        k = torch.einsum("bgi,gki->bgk", xg, K)
        v = torch.einsum("bgi,gji->bgj", xg, V)
        q = torch.einsum("bgi,gki->bgk", xg, Q)
        h = lam * h + gain * (v[..., :, None] * k[..., None, :])
        o = torch.einsum("bgjk,bgk->bgj", h, q).reshape(B, n)
        u = beta * u + x[t]
        s = (u + o > theta).to(x.dtype)
        u = u * (1 - s)                                              # zero reset (the figure's u (1 - s_prev))
        yield k, v, q, h, s


@register_kernel(ir.AstroLIF)
def astro_lif(node: ir.AstroLIF, x: torch.Tensor) -> torch.Tensor:
    """``x`` (T, B, n) drive -> spikes (T, B, n); equations in :mod:`snn.ir`."""
    out = torch.empty_like(x)
    for t, (*_, s) in enumerate(astro_steps(node, x)):
        out[t] = s
    return out
