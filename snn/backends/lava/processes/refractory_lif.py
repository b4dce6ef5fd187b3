"""RefractoryLIF: Lava's LIF (zero reset) plus a refractory period of ``refractory`` steps after each spike, during
which ``v`` is held at 0 and the neuron cannot fire; ``u`` keeps integrating its input.

Float:  ``u = u (1 - du) + a_in;  v = 0 if ref > 0 else v (1 - dv) + u + bias_mant;  s = v > vth;  v[s] = 0``.
Fixed:  Lava LIF's bit-accurate equations (SPEC §4) for ``u`` and ``v``, then ``v = 0`` while refractory and
``s = v > vth << 6``. Both then set ``ref = refractory`` where a spike was sent, else ``max(ref - 1, 0)``.
"""

from __future__ import annotations

import numpy as np
from lava.magma.core.decorator import implements, requires, tag
from lava.magma.core.model.py.model import PyLoihiProcessModel
from lava.magma.core.model.py.ports import PyInPort, PyOutPort
from lava.magma.core.model.py.type import LavaPyType
from lava.magma.core.process.ports.ports import InPort, OutPort
from lava.magma.core.process.process import AbstractProcess
from lava.magma.core.process.variable import Var
from lava.magma.core.resources import CPU
from lava.magma.core.sync.protocols.loihi_protocol import LoihiProtocol

from . import _fixed


class RefractoryLIF(AbstractProcess):
    """``n`` zero-reset LIF neurons with a refractory period of ``refractory`` steps; other parameters as Lava's
    ``LIF``. ``ref``: steps of refractoriness left per neuron."""

    def __init__(self, *, n: int, du, dv, vth, bias_mant, bias_exp=0, refractory: int, name: str | None = None):
        super().__init__(n=n, name=name)
        self.a_in = InPort(shape=(n,))
        self.s_out = OutPort(shape=(n,))
        self.u = Var(shape=(n,), init=0)
        self.v = Var(shape=(n,), init=0)
        self.ref = Var(shape=(n,), init=0)
        self.du = Var(shape=(1,), init=du)
        self.dv = Var(shape=(1,), init=dv)
        self.vth = Var(shape=(1,), init=vth)
        self.bias_mant = Var(shape=(n,), init=bias_mant)
        self.bias_exp = Var(shape=(n,), init=bias_exp)
        self.refractory = Var(shape=(1,), init=int(refractory))


def _fire(model, v: np.ndarray, theta) -> np.ndarray:
    """Holds refractory neurons at 0, fires, resets to 0 and advances the refractory counters; returns the spikes."""
    v = np.where(model.ref > 0, 0, v)
    s = v > theta
    v[s] = 0
    model.v[:] = v
    model.ref[:] = np.where(s, model.refractory.item(), np.maximum(model.ref - 1, 0))
    return s


@implements(proc=RefractoryLIF, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyRefractoryLIFFloat(PyLoihiProcessModel):
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    u: np.ndarray = LavaPyType(np.ndarray, float)
    v: np.ndarray = LavaPyType(np.ndarray, float)
    ref: np.ndarray = LavaPyType(np.ndarray, int)
    du: np.ndarray = LavaPyType(np.ndarray, float)
    dv: np.ndarray = LavaPyType(np.ndarray, float)
    vth: np.ndarray = LavaPyType(np.ndarray, float)
    bias_mant: np.ndarray = LavaPyType(np.ndarray, float)
    bias_exp: np.ndarray = LavaPyType(np.ndarray, float)
    refractory: np.ndarray = LavaPyType(np.ndarray, int)

    def run_spk(self):
        self.u[:] = self.u * (1 - self.du) + self.a_in.recv()
        s = _fire(self, self.v * (1 - self.dv) + self.u + self.bias_mant, self.vth.item())
        self.s_out.send(s)


@implements(proc=RefractoryLIF, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PyRefractoryLIFFixed(PyLoihiProcessModel):
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
    u: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    v: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    ref: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=8)
    du: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=12)
    dv: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=12)
    vth: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=17)
    bias_mant: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=13)
    bias_exp: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=3)
    refractory: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=8)

    def run_spk(self):
        self.u[:] = _fixed.current(self.u, self.a_in.recv(), self.du.item())
        v = _fixed.voltage(self.v, self.u, self.dv.item(), self.bias_mant, self.bias_exp)
        s = _fire(self, v, int(self.vth.item()) << _fixed.ACT_SHIFT)
        self.s_out.send(s.astype(np.int32))
