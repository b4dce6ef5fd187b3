"""The torch kernel of :class:`snn.ir.ELM`: the node's equations, one step at a time (reads only the IR)."""

from __future__ import annotations

import math

import torch

from ... import ir
from .simulator import _t, register_kernel


def elm_steps(node: ir.ELM, x: torch.Tensor):
    """Runs the node's equations on ``x`` (T, B, in), yielding per step ``(w1_in, h, m, y)``: the MLP's input
    ``[b_t, kappa_m m_{t-1}]`` (B, branches + memory), its hidden layer ``h`` (B, H), the memory ``m_t`` (B, memory)
    and the output ``y_t`` (B, out) (the energy counter reads the intermediate values)."""
    tau_m = _t(node.tau_m, x)
    kappa_m = torch.exp(-node.dt / tau_m)
    gain = node.lam * (1 - kappa_m) if node.update == "v1" else 1 - torch.exp(-node.dt * node.lam / tau_m)
    kappa_s = math.exp(-node.dt / node.tau_s)
    w_s = _t(node.synapse_weight, x)
    routing = None if node.routing is None else torch.as_tensor(node.routing, device=x.device)
    w1, c1 = _t(node.mlp_weight1, x), _t(node.mlp_bias1, x)
    w2, c2 = _t(node.mlp_weight2, x), _t(node.mlp_bias2, x)
    w_y, c_y = _t(node.readout_weight, x), _t(node.readout_bias, x)
    B = x.shape[1]
    b = x.new_zeros(B, node.branches)
    m = x.new_zeros(B, tau_m.shape[0])
    for t in range(x.shape[0]):
        z = (x[t] if routing is None else x[t][:, routing]) * w_s
        b = kappa_s * b + z.reshape(B, node.branches, node.synapses_per_branch).sum(-1)
        w1_in = torch.cat([b, kappa_m * m], 1)
        h = torch.relu(w1_in @ w1.t() + c1)
        m = kappa_m * m + gain * 1.7159 * torch.tanh(2 / 3 * (h @ w2.t() + c2))
        yield w1_in, h, m, m @ w_y.t() + c_y


@register_kernel(ir.ELM)
def _elm(node: ir.ELM, x: torch.Tensor) -> torch.Tensor:
    out = x.new_empty(x.shape[0], x.shape[1], node.readout_bias.shape[0])
    for t, (*_, y) in enumerate(elm_steps(node, x)):
        out[t] = y
    return out
