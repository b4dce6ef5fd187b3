"""The neuron kinds the lowering emits, and which Lava process and process model runs each (imports lava lazily)."""

from __future__ import annotations

import numpy as np

from .lowering import NeuronKind, register_neuron_kind
from .network import Neuron


def _cast(neuron: Neuron, precision: str):
    if precision == "fixed_pt":
        return (int(neuron.du), int(neuron.dv), int(neuron.vth), neuron.bias_mant.astype(np.int32),
                np.full(neuron.n, neuron.bias_exp, dtype=np.int32))
    return neuron.du, neuron.dv, neuron.vth, neuron.bias_mant.astype(np.float64), np.zeros(neuron.n)


def _lava_lif(neuron: Neuron, precision: str):
    from lava.proc.lif.process import LIF

    du, dv, vth, bias_mant, bias_exp = _cast(neuron, precision)
    return LIF(shape=(neuron.n,), du=du, dv=dv, vth=vth, bias_mant=bias_mant, bias_exp=bias_exp)


def _lava_lif_model(precision: str):
    from lava.proc.lif.models import PyLifModelBitAcc, PyLifModelFloat

    return PyLifModelBitAcc if precision == "fixed_pt" else PyLifModelFloat


def _subtract_lif(neuron: Neuron, precision: str):
    from .processes.subtract_lif import SubtractLIF

    du, dv, vth, bias_mant, bias_exp = _cast(neuron, precision)
    return SubtractLIF(n=neuron.n, du=du, dv=dv, vth=vth, bias_mant=bias_mant, bias_exp=bias_exp)


def _subtract_lif_model(precision: str):
    from .processes.subtract_lif import PySubtractLIFFixed, PySubtractLIFFloat

    return PySubtractLIFFixed if precision == "fixed_pt" else PySubtractLIFFloat


def _readout(neuron: Neuron, precision: str):
    from .processes.readout import Readout

    du, dv, _, bias_mant, bias_exp = _cast(neuron, precision)
    return Readout(n=neuron.n, du=du, dv=dv, bias_mant=bias_mant, bias_exp=bias_exp)


def _readout_model(precision: str):
    from .processes.readout import PyReadoutFixed, PyReadoutFloat

    return PyReadoutFixed if precision == "fixed_pt" else PyReadoutFloat


register_neuron_kind("lif", NeuronKind(_lava_lif, _lava_lif_model, ("u", "v")))
register_neuron_kind("lif_subtract", NeuronKind(_subtract_lif, _subtract_lif_model, ("u", "v")))
register_neuron_kind("readout", NeuronKind(_readout, _readout_model, ("u", "v"), spiking=False))
