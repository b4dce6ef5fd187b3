"""Lava lowering of :class:`snn.ir.RefractoryLIF`: ``refractory = 0`` is Lava's LIF; ``refractory > 0`` is the
``"lif_refractory"`` kind, run by the custom process :mod:`.processes.refractory_lif` (float and fixed point) and,
on the ``loihi`` backend, by the integer step registered here (bit-exact with the fixed-point process model)."""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from ... import ir
from .intsim import _subthreshold, register_int_step
from .kinds import _cast
from .lowering import NeuronKind, _lif, register_neuron, register_neuron_kind
from .network import Neuron

KIND = "lif_refractory"
MAX_REFRACTORY = 255  # the process model's 8-bit counter


@register_neuron(ir.RefractoryLIF)
def _refractory_lif(node: ir.RefractoryLIF, name: str, bias: np.ndarray):
    neuron, rec = _lif(node, name, bias)
    if not node.refractory:
        return neuron, rec
    if node.refractory > MAX_REFRACTORY:
        raise ValueError(f"Lava lowering: layer {name!r} (RefractoryLIF): refractory={node.refractory} steps: "
                         f"expected at most {MAX_REFRACTORY} (the process's 8-bit counter)")
    return dataclasses.replace(neuron, kind=KIND, extra={"refractory": int(node.refractory)}), rec


def _process(neuron: Neuron, precision: str):
    from .processes.refractory_lif import RefractoryLIF

    du, dv, vth, bias_mant, bias_exp = _cast(neuron, precision)
    return RefractoryLIF(n=neuron.n, du=du, dv=dv, vth=vth, bias_mant=bias_mant, bias_exp=bias_exp,
                         refractory=neuron.extra["refractory"])


def _model(precision: str):
    from .processes.refractory_lif import PyRefractoryLIFFixed, PyRefractoryLIFFloat

    return PyRefractoryLIFFixed if precision == "fixed_pt" else PyRefractoryLIFFloat


register_neuron_kind(KIND, NeuronKind(_process, _model, ("u", "v", "ref")))


@register_int_step(KIND)
def _int_step(u, v, a_in, p, c):
    """Lava's LIF step, then ``v = 0`` while refractory; the counters live in ``p["ref"]`` (one simulation's layer
    parameters, fresh per call). A refractory neuron's discarded ``v`` still counts if it saturated."""
    u, v = _subthreshold(u, v, a_in, p, c)
    ref = p["ref"] if "ref" in p else torch.zeros_like(v)
    v = torch.where(ref > 0, torch.zeros_like(v), v)
    s = v > p["vth"] * 64
    p["ref"] = torch.where(s, p["extra"]["refractory"], (ref - 1).clamp_min(0))
    return u, torch.where(s, torch.zeros_like(v), v), s.to(torch.int64)
