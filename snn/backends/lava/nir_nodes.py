"""Lava lowering of the nodes NIR brought in (:class:`snn.ir.CubaLI`, :class:`snn.ir.Integrator`,
:class:`snn.ir.Scale`, :class:`snn.ir.Threshold`, :class:`snn.ir.Conv1d`).

CubaLI is the graded ``readout`` process with a current decay: ``u = (1 - du) u + a_in; v = (1 - dv) v + u`` with
``du = 1 - alpha``, ``dv = 1 - beta``. Integrator is the readout with ``du = 1`` (the current lasts one step) and
``dv = 0`` (no leak). Scale is a diagonal synapse. Threshold is Lava's LIF with ``du = dv = 1``: ``v = a_in`` each
step, a spike where ``v > vth``, then the reset, which the next step overwrites. Conv1d on ``(C, L)`` is the
``Conv2d`` of ``(C, 1, L)`` frames (same flat order), unrolled to its dense matrix.
"""

from __future__ import annotations

import math

import numpy as np

from ... import ir
from .lowering import _conv2d, _uniform, register_neuron, register_synapse
from .network import Neuron


@register_neuron(ir.CubaLI)
def _cubali(node: ir.CubaLI, name: str, bias: np.ndarray):
    if np.any(bias != 0):
        raise ValueError(f"Lava lowering: layer {name!r} (CubaLI): bias: a bias before a CubaLI cannot be expressed "
                         f"(Lava adds bias to v, not to the current u); expected no bias")
    du = 1.0 - math.exp(-node.dt / _uniform(node, "tau_syn", name))
    dv = 1.0 - math.exp(-node.dt / _uniform(node, "tau_mem", name))
    return Neuron("readout", math.prod(node.output_shape), du, dv, 0.0, bias.astype(np.float64)), None


@register_neuron(ir.Integrator)
def _integrator(node: ir.Integrator, name: str, bias: np.ndarray):
    return Neuron("readout", math.prod(node.output_shape), 1.0, 0.0, 0.0, bias.astype(np.float64)), None


@register_synapse(ir.Scale)
def _scale(node: ir.Scale, name: str):
    return np.diag(node.scale.ravel().astype(np.float64)), None, None


@register_neuron(ir.Threshold)
def _threshold(node: ir.Threshold, name: str, bias: np.ndarray):
    n = math.prod(node.output_shape)
    return Neuron("lif", n, 1.0, 1.0, _uniform(node, "threshold", name), bias.astype(np.float64)), None


@register_synapse(ir.Conv1d)
def _conv1d(node: ir.Conv1d, name: str):
    frames = ir.Conv2d(node.weight[:, :, None, :], node.bias, (1, node.input_len), (1, node.stride),
                       (0, node.padding), (1, node.dilation), node.groups)
    return _conv2d(frames, name)
