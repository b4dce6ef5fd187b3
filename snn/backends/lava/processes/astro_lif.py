"""AstroLIF: the AM-SU-style astrocyte-modulated LIF (:class:`snn.ir.AstroLIF`) as a custom Lava process.

Float only (per step, ``x = a_in + bias``, ``G`` astrocyte domains of ``m`` neurons, ``x_g`` a domain's drive)::

    k, v, q = K_g x_g, V_g x_g, Q_g x_g;   h = decay h + gain v k^T;   o = h q
    u = beta u + x;   s = u + o > vth;   u[s] = 0

``gain`` is ``1 - decay`` (normalise "ema") or 1 ("none"). There is no fixed-point model: the astrocyte's products
``v k^T`` and ``h q`` have no faithful Loihi integer form, so the lowering refuses ``fixed_pt``.
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


class AstroLIF(AbstractProcess):
    """``n`` astrocyte-modulated LIF neurons. ``beta``, ``vth``, ``bias``: (n,); ``decay``, ``gain``: (G, d_k);
    ``key_weight``, ``query_weight``: (G, d_k, m); ``value_weight``: (G, m, m)."""

    def __init__(self, *, beta, vth, bias, decay, gain, key_weight, value_weight, query_weight,
                 name: str | None = None):
        n = int(np.size(beta))
        g, m = np.shape(value_weight)[:2]
        dk = np.shape(key_weight)[1]
        super().__init__(name=name)
        self.a_in = InPort(shape=(n,))
        self.s_out = OutPort(shape=(n,))
        self.u = Var(shape=(n,), init=0)
        self.h = Var(shape=(g, m, dk), init=0)
        self.beta = Var(shape=(n,), init=beta)
        self.vth = Var(shape=(n,), init=vth)
        self.bias = Var(shape=(n,), init=bias)
        self.decay = Var(shape=(g, dk), init=decay)
        self.gain = Var(shape=(g, dk), init=gain)
        self.key_weight = Var(shape=(g, dk, m), init=key_weight)
        self.value_weight = Var(shape=(g, m, m), init=value_weight)
        self.query_weight = Var(shape=(g, dk, m), init=query_weight)


@implements(proc=AstroLIF, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyAstroLIFFloat(PyLoihiProcessModel):
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    u: np.ndarray = LavaPyType(np.ndarray, float)
    h: np.ndarray = LavaPyType(np.ndarray, float)
    beta: np.ndarray = LavaPyType(np.ndarray, float)
    vth: np.ndarray = LavaPyType(np.ndarray, float)
    bias: np.ndarray = LavaPyType(np.ndarray, float)
    decay: np.ndarray = LavaPyType(np.ndarray, float)
    gain: np.ndarray = LavaPyType(np.ndarray, float)
    key_weight: np.ndarray = LavaPyType(np.ndarray, float)
    value_weight: np.ndarray = LavaPyType(np.ndarray, float)
    query_weight: np.ndarray = LavaPyType(np.ndarray, float)

    def run_spk(self):
        x = self.a_in.recv() + self.bias
        g, m = self.value_weight.shape[:2]
        xg = x.reshape(g, m)
        k = np.einsum("gki,gi->gk", self.key_weight, xg)
        v = np.einsum("gji,gi->gj", self.value_weight, xg)
        q = np.einsum("gki,gi->gk", self.query_weight, xg)
        self.h[:] = self.decay[:, None, :] * self.h + self.gain[:, None, :] * (v[:, :, None] * k[:, None, :])
        o = np.einsum("gjk,gk->gj", self.h, q).reshape(-1)
        self.u[:] = self.beta * self.u + x
        s = self.u + o > self.vth
        self.u[s] = 0
        self.s_out.send(s)
