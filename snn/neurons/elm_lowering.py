"""Lowering of :class:`ELM` and :class:`BranchELM` to :class:`snn.ir.ELM`: effective values (``relu(w_s)``, the
bounded ``tau_m`` in ms), the MLP and readout as they are."""

from __future__ import annotations

import torch

from .. import ir
from ..lower import register_lowering
from .elm import ELM, BranchELM


def _np(t: torch.Tensor):
    return t.detach().cpu().to(torch.float32).numpy().copy()


@register_lowering(ELM)
@register_lowering(BranchELM)
def lower_elm(m: ELM, shape) -> ir.ELM:
    if tuple(shape) != (m.in_features,):
        raise ValueError(f"lower: {type(m).__name__} expects input shape ({m.in_features},), but the layer before it "
                         f"gives {tuple(shape)}")
    return ir.ELM(
        in_features=m.in_features, synapse_weight=_np(torch.relu(m.w_s)),
        routing=None if m.routing is None else m.routing.cpu().numpy().copy(),
        synapses_per_branch=m.synapses_per_branch, tau_s=m.tau_s, tau_m=_np(m.tau_m()), lam=m.lam, update=m.update,
        mlp_weight1=_np(m.mlp_in.weight), mlp_bias1=_np(m.mlp_in.bias), mlp_weight2=_np(m.mlp_out.weight),
        mlp_bias2=_np(m.mlp_out.bias), readout_weight=_np(m.readout.weight), readout_bias=_np(m.readout.bias),
        dt=m.dt)
