"""Counts on the ``loihi`` integer simulator: its spikes per layer and step equal the spikes Lava fixed point
produces (derived from the membrane Lava's monitors record), and the counts follow those spikes."""

import numpy as np
import torch

from snn import ir
from snn.backends.lava import runtime
from snn.backends.lava.backend import prepare
from snn.energy import count
from snn.energy.profile import loihi_runner


def _graph():
    rng = np.random.default_rng(0)
    q = lambda a: np.round(a * 8) / 8  # noqa: E731
    return ir.Graph.chain({
        "fc1": ir.Linear(q(rng.normal(0, 0.6, (14, 9)))),
        "lif1": ir.LIF(np.full(14, 8.0), np.full(14, 1.0), "zero", 1.0, q(rng.normal(0, 0.3, (14, 14)))),
        "fc2": ir.Linear(q(rng.normal(0, 0.6, (10, 14)))),
        "lif2": ir.LIF(np.full(10, 12.0), np.full(10, 1.0), "subtract", 1.0),
        "fc3": ir.Linear(q(rng.normal(0, 0.6, (4, 10)))),
        "out": ir.LI(np.full(4, 12.0), 1.0)}, (9,), 1.0)


def _lava_spikes(layer, rec) -> np.ndarray:
    """Spikes from Lava's recorded ``u`` and post-reset ``v``: ``v_pre = trunc0(v_prev (4096 - dv) / 4096) + u +
    bias`` (SPEC §4), a spike where ``v_pre > vth << 6``."""
    nr = layer.neuron
    u, v = rec["u"].astype(np.int64), rec["v"].astype(np.int64)
    v_prev = np.concatenate([np.zeros_like(v[:1]), v[:-1]])
    bias = np.left_shift(np.asarray(nr.bias_mant, dtype=np.int64), int(nr.bias_exp))
    v_pre = np.fix(v_prev * (4096 - int(nr.dv)) / 4096).astype(np.int64) + u + bias
    return v_pre > (int(nr.vth) << 6)


def test_loihi_spike_counts_equal_lava_fixed_point():
    g = _graph()
    x = torch.tensor((np.random.default_rng(1).random((16, 3, 9)) < 0.35).astype(np.float32))
    run = loihi_runner(g)
    counts = count(g, [x], run=lambda b: run(b)[1])
    layers = {c.name: c for c in counts.layers}
    net = prepare(g, "fixed_pt")
    lava = runtime.run(net, x.numpy().astype(np.int64), record=True)
    for layer in net.layers[:-1]:
        lava_s = _lava_spikes(layer, lava.records[layer.name])
        assert lava_s.sum() > 10, "the test must exercise spiking"
        np.testing.assert_array_equal(layers[layer.name].spikes_per_step, lava_s.sum((1, 2)))
        np.testing.assert_array_equal(layers[layer.name].spikes_per_neuron, lava_s.sum((0, 1)))
    # the second layer's ACs are its input spikes times the nonzero weights they reach
    s1 = _lava_spikes(net.layers[0], lava.records["lif1"])
    assert layers["fc2"].acs == (s1.sum((0, 1)) * (g.nodes["fc2"].weight != 0).sum(0)).sum()
