"""SubtractLIF: LIF with subtractive reset, ``v -= vth`` on a spike (Lava's LIF sets ``v = 0``).

Float:  ``u = u (1 - du) + a_in;  v = v (1 - dv) + u + bias_mant;  s = v > vth;  v[s] -= vth``.
Fixed:  Lava LIF's bit-accurate equations (SPEC §4) with ``v[s] -= vth << 6``; ``u`` is never reset.
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


class SubtractLIF(AbstractProcess):
    """``n`` subtract-reset LIF neurons; parameters as Lava's ``LIF`` (``du``, ``dv``, ``vth``, ``bias_mant``,
    ``bias_exp``)."""

    def __init__(self, *, n: int, du, dv, vth, bias_mant, bias_exp=0, name: str | None = None):
        super().__init__(n=n, name=name)
        self.a_in = InPort(shape=(n,))
        self.s_out = OutPort(shape=(n,))
        self.u = Var(shape=(n,), init=0)
        self.v = Var(shape=(n,), init=0)
        self.du = Var(shape=(1,), init=du)
        self.dv = Var(shape=(1,), init=dv)
        self.vth = Var(shape=(1,), init=vth)
        self.bias_mant = Var(shape=(n,), init=bias_mant)
        self.bias_exp = Var(shape=(n,), init=bias_exp)


@implements(proc=SubtractLIF, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PySubtractLIFFloat(PyLoihiProcessModel):
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    u: np.ndarray = LavaPyType(np.ndarray, float)
    v: np.ndarray = LavaPyType(np.ndarray, float)
    du: np.ndarray = LavaPyType(np.ndarray, float)
    dv: np.ndarray = LavaPyType(np.ndarray, float)
    vth: np.ndarray = LavaPyType(np.ndarray, float)
    bias_mant: np.ndarray = LavaPyType(np.ndarray, float)
    bias_exp: np.ndarray = LavaPyType(np.ndarray, float)

    def run_spk(self):
        self.u[:] = self.u * (1 - self.du) + self.a_in.recv()
        self.v[:] = self.v * (1 - self.dv) + self.u + self.bias_mant
        s = self.v > self.vth
        self.v[s] -= self.vth
        self.s_out.send(s)


@implements(proc=SubtractLIF, protocol=LoihiProtocol)
@requires(CPU)
@tag("fixed_pt")
class PySubtractLIFFixed(PyLoihiProcessModel):
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, np.int32, precision=24)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, np.int32, precision=24)
    u: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    v: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=24)
    du: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=12)
    dv: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=12)
    vth: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=17)
    bias_mant: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=13)
    bias_exp: np.ndarray = LavaPyType(np.ndarray, np.int32, precision=3)

    def run_spk(self):
        self.u[:] = _fixed.current(self.u, self.a_in.recv(), self.du.item())
        v = _fixed.voltage(self.v, self.u, self.dv.item(), self.bias_mant, self.bias_exp)
        theta = int(self.vth.item()) << _fixed.ACT_SHIFT
        s = v > theta
        v[s] -= theta
        self.v[:] = v
        self.s_out.send(s.astype(np.int32))
