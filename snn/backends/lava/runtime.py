"""Runs a :class:`LavaNet` on lava-nc's ``Loihi2SimCfg`` (CPU), whole batches at once.

The batch is preloaded into one source ``RingBuffer``: sample ``b`` occupies the window of ``W = T + L`` steps
starting at ``b W`` (``L`` = latency, one step per synapse stage). ``Reset`` processes zero each layer's state
(neuron ``u``, ``v``, the ``Dense``/``DelayDense`` ``a_buff``) just before that sample's data reaches it, so every
sample starts from rest as in the torch backend. Outputs are read from a sink ``RingBuffer`` (one ``Var.get`` of the
whole buffer) and shifted back by ``L`` steps. Process models are picked through an ``exception_proc_model_map``
keyed by process instance (no package scan). Every process model used is numpy-only.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from .compat import import_lava
from .lowering import NEURON_KINDS
from .network import PRECISIONS, LavaNet, Synapse

GRADED_MAX = 2 ** 23 - 1  # largest |input| of a fixed-point network (24-bit graded spikes)


@dataclass
class LavaResult:
    """``output`` (T, B, n_out) aligned with the torch backend (Lava values: spikes, or a readout's ``v``);
    ``records``: layer name -> var name -> (T, B, n) aligned the same way (only with ``record=True``; the step a
    layer is reset is never part of a sample's window); ``seconds``: compile + run wall time."""

    output: np.ndarray
    records: dict[str, dict[str, np.ndarray]]
    seconds: float


def _synapse_process(syn: Synapse, precision: str):
    from lava.proc.dense.models import (PyDelayDenseModelBitAcc, PyDelayDenseModelFloat, PyDenseModelBitAcc,
                                        PyDenseModelFloat)
    from lava.proc.dense.process import DelayDense, Dense

    fixed = precision == "fixed_pt"
    w = syn.weight.astype(np.int32) if fixed else syn.weight.astype(np.float64)
    kw = dict(weights=w, num_message_bits=24 if syn.graded else 0)
    if fixed:
        kw.update(weight_exp=int(syn.weight_exp), num_weight_bits=8)
    if syn.delay is not None:
        proc = DelayDense(delays=syn.delay.astype(int), **kw)  # lava insists on dtype int
        return proc, PyDelayDenseModelBitAcc if fixed else PyDelayDenseModelFloat
    return Dense(**kw), PyDenseModelBitAcc if fixed else PyDenseModelFloat


def check_input(x: np.ndarray, net: LavaNet, where: str) -> np.ndarray:
    """``x`` as a (T, B, n_in) array; a ValueError naming what is wrong (shape, empty batch, non-integers or
    values beyond 24 bits for fixed point)."""
    x = np.asarray(x)
    expected = net.input_shape
    if x.ndim != 2 + len(expected) or tuple(x.shape[2:]) != tuple(expected):
        raise ValueError(f"{where}: input: expected shape (T, B, {', '.join(map(str, expected))}), got {x.shape}")
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"{where}: input: expected T >= 1 steps and a batch of B >= 1 samples, got {x.shape[:2]}")
    x = x.reshape(x.shape[0], x.shape[1], -1)
    if net.precision == "fixed_pt":
        if not np.array_equal(x, np.round(x)):
            raise ValueError(f"{where}: input: expected integer values (spikes or event counts) for fixed point")
        if x.size and np.abs(x).max() > GRADED_MAX:
            raise ValueError(f"{where}: input: expected integers within +-{GRADED_MAX} (a Loihi 2 graded spike "
                             f"carries 24 bits), got {x.min():g}..{x.max():g}")
    return x


def run(net: LavaNet, x, record: bool = False) -> LavaResult:
    """Runs ``x`` (T, B, *input_shape) through ``net`` on Lava; see :class:`LavaResult`."""
    if net.precision not in PRECISIONS:
        raise ValueError(f"Lava runtime: precision: expected one of {PRECISIONS}, got {net.precision!r}")
    x = check_input(x, net, f"Lava backend ({net.precision})")
    import_lava()
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.io import sink, source
    from lava.proc.io.reset import PyResetFixed, PyResetFloat, Reset
    from lava.proc.monitor.models import PyMonitorModel
    from lava.proc.monitor.process import Monitor

    fixed = net.precision == "fixed_pt"
    T, B, n_in = x.shape
    L = net.latency
    W = T + L
    data = np.zeros((n_in, B, W))
    data[:, :, :T] = x.transpose(2, 1, 0)
    data = data.reshape(n_in, B * W)
    src = source.RingBuffer(data=data.astype(np.int32) if fixed else data)
    pm = {src: source.PySendModelFixed if fixed else source.PySendModelFloat}
    reset_model = PyResetFixed if fixed else PyResetFloat

    def reset(var, offset):
        r = Reset(reset_value=0, interval=W, offset=offset % W)
        r.connect_var(var)
        pm[r] = reset_model

    prev, neurons = src.s_out, []
    for j, layer in enumerate(net.layers, start=1):
        syn, syn_model = _synapse_process(layer.synapse, net.precision)
        kind = NEURON_KINDS[layer.neuron.kind]
        nrn = kind.make_process(layer.neuron, net.precision)
        pm[syn], pm[nrn] = syn_model, kind.model(net.precision)
        prev.connect(syn.s_in)
        syn.a_out.connect(nrn.a_in)
        reset(syn.a_buff, j - 2)
        for var in kind.state:
            reset(getattr(nrn, var), j - 1)
        if layer.recurrent is not None:
            rec, rec_model = _synapse_process(layer.recurrent, net.precision)
            pm[rec] = rec_model
            nrn.s_out.connect(rec.s_in)
            rec.a_out.connect(nrn.a_in)
            reset(rec.a_buff, j - 1)
        neurons.append(nrn)
        prev = nrn.s_out
    n_out = net.layers[-1].neuron.n
    snk = sink.RingBuffer(shape=(n_out,), buffer=B * W)
    pm[snk] = sink.PyReceiveModelFixed if fixed else sink.PyReceiveModelFloat
    prev.connect(snk.a_in)
    monitors = {}  # (layer index, var) -> Monitor; lava's monitor model holds one probe
    if record:
        for j, (nrn, layer) in enumerate(zip(neurons, net.layers)):
            for var in NEURON_KINDS[layer.neuron.kind].state:
                monitors[j, var] = mon = Monitor()
                pm[mon] = PyMonitorModel
                mon.probe(getattr(nrn, var), B * W)

    t0 = time.perf_counter()
    cfg = Loihi2SimCfg(select_tag=net.precision, exception_proc_model_map=pm)
    try:
        src.run(condition=RunSteps(num_steps=B * W), run_cfg=cfg)
        out = np.asarray(snk.data.get()).reshape(n_out, B, W)[:, :, L:L + T].transpose(2, 1, 0)
        records: dict[str, dict[str, np.ndarray]] = {}
        for (j, var), mon in monitors.items():
            got = mon.get_data()[neurons[j].name][var].reshape(B, W, -1)
            records.setdefault(net.layers[j].name, {})[var] = got[:, j + 1:j + 1 + T].transpose(1, 0, 2)
    finally:
        src.stop()
    return LavaResult(out.reshape(T, B, *net.output_shape), records, time.perf_counter() - t0)
