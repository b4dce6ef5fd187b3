"""ELM: the Expressive Leaky Memory neuron layer as a floating-point Lava process (no fixed-point model).

The ``Dense`` before it delivers the branch input ``a_in`` (routing, ``relu(w_s)`` and the branch sums folded into one
matrix); per step::

    b = kappa_s b + a_in + bias
    m = kappa_m m + gain * 1.7159 tanh(2/3 (w2 relu(w1_b b + w1_m (kappa_m m) + c1) + c2))
    out = w_y m + c_y          (a graded output)
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

PARAMS = ("kappa_s", "bias", "kappa_m", "gain", "w1_b", "w1_m", "c1", "w2", "c2", "w_y", "c_y")


class ELM(AbstractProcess):
    """An ELM layer: ``a_in`` (branches,) -> ``s_out`` (out,) graded; state ``b`` (branches,), ``m`` (memory,).

    Keyword arguments: the arrays of :data:`PARAMS` (``kappa_s`` of shape (1,)), in float units.
    """

    def __init__(self, *, name: str | None = None, **params):
        missing = sorted(set(PARAMS) - set(params))
        if missing or set(params) - set(PARAMS):
            raise ValueError(f"ELM process: expected the parameters {list(PARAMS)}, missing {missing}, unknown "
                             f"{sorted(set(params) - set(PARAMS))}")
        n_b, d_m, n_out = params["w1_b"].shape[1], params["w1_m"].shape[1], params["w_y"].shape[0]
        super().__init__(name=name)
        self.a_in = InPort(shape=(n_b,))
        self.s_out = OutPort(shape=(n_out,))
        self.b = Var(shape=(n_b,), init=0)
        self.m = Var(shape=(d_m,), init=0)
        for key in PARAMS:
            value = np.asarray(params[key], dtype=np.float64)
            setattr(self, key, Var(shape=value.shape, init=value))


@implements(proc=ELM, protocol=LoihiProtocol)
@requires(CPU)
@tag("floating_pt")
class PyELMFloat(PyLoihiProcessModel):
    a_in: PyInPort = LavaPyType(PyInPort.VEC_DENSE, float)
    s_out: PyOutPort = LavaPyType(PyOutPort.VEC_DENSE, float)
    b: np.ndarray = LavaPyType(np.ndarray, float)
    m: np.ndarray = LavaPyType(np.ndarray, float)
    kappa_s: np.ndarray = LavaPyType(np.ndarray, float)
    bias: np.ndarray = LavaPyType(np.ndarray, float)
    kappa_m: np.ndarray = LavaPyType(np.ndarray, float)
    gain: np.ndarray = LavaPyType(np.ndarray, float)
    w1_b: np.ndarray = LavaPyType(np.ndarray, float)
    w1_m: np.ndarray = LavaPyType(np.ndarray, float)
    c1: np.ndarray = LavaPyType(np.ndarray, float)
    w2: np.ndarray = LavaPyType(np.ndarray, float)
    c2: np.ndarray = LavaPyType(np.ndarray, float)
    w_y: np.ndarray = LavaPyType(np.ndarray, float)
    c_y: np.ndarray = LavaPyType(np.ndarray, float)

    def run_spk(self):
        self.b[:] = self.kappa_s * self.b + self.a_in.recv() + self.bias
        km = self.kappa_m * self.m
        h = np.maximum(self.w1_b @ self.b + self.w1_m @ km + self.c1, 0.0)
        self.m[:] = km + self.gain * 1.7159 * np.tanh(2.0 / 3.0 * (self.w2 @ h + self.c2))
        self.s_out.send(self.w_y @ self.m + self.c_y)
