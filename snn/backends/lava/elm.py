"""Lava lowering of :class:`snn.ir.ELM` to the floating-point :class:`.processes.elm.ELM` process.

The synapses (routing, ``relu(w_s)``, branch sums) fold into the layer's ``Dense`` as one ``(branches, in)`` matrix;
a bias before the layer reaches the process through that matrix. Fixed point is refused (see :func:`check_fixed`).
"""

from __future__ import annotations

import math

import numpy as np

from ... import ir
from .lowering import NeuronKind, register_neuron, register_neuron_kind
from .network import Neuron


def fold(node: ir.ELM) -> np.ndarray:
    """The ``(branches, in)`` matrix of the node's synapses: entry ``k, i`` sums the weights of branch ``k``'s
    synapses that read input ``i``."""
    n_syn = node.synapse_weight.shape[0]
    routing = np.arange(n_syn) if node.routing is None else node.routing
    a = np.zeros((node.branches, node.in_features))
    np.add.at(a, (np.arange(n_syn) // node.synapses_per_branch, routing), node.synapse_weight.astype(np.float64))
    return a


@register_neuron(ir.ELM)
def _elm(node: ir.ELM, name: str, bias: np.ndarray):
    a = fold(node)
    tau_m = node.tau_m.astype(np.float64)
    kappa_m = np.exp(-node.dt / tau_m)
    gain = node.lam * (1 - kappa_m) if node.update == "v1" else 1 - np.exp(-node.dt * node.lam / tau_m)
    w1 = node.mlp_weight1.astype(np.float64)
    params = dict(input_fold=a, kappa_s=np.array([math.exp(-node.dt / node.tau_s)]), bias=a @ bias,
                  kappa_m=kappa_m, gain=gain, w1_b=w1[:, :node.branches], w1_m=w1[:, node.branches:],
                  c1=node.mlp_bias1, w2=node.mlp_weight2, c2=node.mlp_bias2, w_y=node.readout_weight,
                  c_y=node.readout_bias)
    n_out = node.output_shape[0]
    return Neuron("elm", n_out, 0.0, 0.0, 0.0, np.zeros(n_out), extra=params), None


def _process(neuron: Neuron, precision: str):
    if precision != "floating_pt":
        raise ValueError(f"Lava backend: neuron kind 'elm': {precision} is not supported (floating point only)")
    from .processes.elm import PARAMS, ELM

    return ELM(**{k: neuron.extra[k] for k in PARAMS})


def _model(precision: str):
    from .processes.elm import PyELMFloat

    return PyELMFloat


def check_fixed(layer_name: str) -> ValueError:
    """The error for an ELM layer in a fixed-point network."""
    from .quantize import QuantisationError

    return QuantisationError(f"quantise: layer {layer_name!r} (ELM): fixed point is not supported: the ELM's MLP, "
                             "scaled tanh and per-unit memory decays have no faithful Loihi integer form here; run it "
                             "on the floating-point 'lava' backend (or 'torch')")


register_neuron_kind("elm", NeuronKind(_process, _model, ("b", "m"), spiking=False))
