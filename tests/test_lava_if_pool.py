"""IF and pooling on the Lava backends: IF is Lava's LIF with no leak (dv = 0), pooling folds into the Dense before
the next neuron layer. Checked spike for spike against the torch backend on the integer simulator and on Lava
itself (one small float run); the adaptive LIF is refused with an error naming the layer."""

import numpy as np
import pytest
import torch

import snn
from snn import ir
from snn.backends.lava import lowering, quantize, runtime

pytestmark = pytest.mark.timeout(300)


def if_graph(reset, seed=0):
    """Weights and thresholds exact on Loihi: multiples of 1/127 with max |W| = 1 (mantissas 2k after the 254 scale),
    threshold 1: the quantised network is the float one, so spikes must agree exactly."""
    rng = np.random.default_rng(seed)
    w1 = rng.integers(-60, 127, (12, 8)) / 127
    w1[0, 0] = 1.0
    w2 = rng.integers(-60, 127, (5, 12)) / 127
    w2[0, 0] = 1.0
    return ir.Graph.chain({"fc1": ir.Linear(w1), "if1": ir.IF(np.ones(12), reset),
                           "fc2": ir.Linear(w2), "if2": ir.IF(np.ones(5), reset)}, (8,), 1.0)


@pytest.mark.parametrize("reset", ["zero", "subtract"])
def test_if_on_loihi_integer_simulator_is_spike_exact(reset):
    g = if_graph(reset)
    net = lowering.lower(g)
    assert [(layer.neuron.kind, layer.neuron.du, layer.neuron.dv) for layer in net.layers] == \
        [("lif" if reset == "zero" else "lif_subtract", 1.0, 0.0)] * 2
    q = quantize.quantize(net)  # exact: no QuantisationError, dv stays 0
    assert [layer.neuron.dv for layer in q.layers] == [0, 0]
    x = (torch.rand(60, 4, 8, generator=torch.Generator().manual_seed(1)) < 0.4).float()
    ref = snn.backends.get("torch").build(g, dtype=torch.float64).run(x.double(), record=True)
    got = snn.backends.get("loihi").build(g)(x)
    assert ref.records["if1"].sum() > 50 and ref.output.sum() > 10
    torch.testing.assert_close(got.double(), ref.output, rtol=0, atol=0)


def test_if_and_pooling_on_lava_float_match_the_torch_backend():
    rng = np.random.default_rng(2)
    conv = ir.Conv2d(rng.integers(-4, 8, (2, 1, 3, 3)) / 8, None, (6, 6), padding=(1, 1))
    pool = ir.SumPool2d((2, 6, 6), (2, 2), (2, 2))
    g = ir.Graph.chain({"conv": conv, "if1": ir.IF(np.ones((2, 6, 6)), "subtract"), "pool": pool,
                        "flat": ir.Flatten((2, 3, 3)), "fc": ir.Linear(rng.integers(-4, 8, (4, 18)) / 8),
                        "if2": ir.IF(np.full(4, 1.5), "zero")}, (1, 6, 6), 1.0)
    x = (rng.random((20, 2, 1, 6, 6)) < 0.4).astype(np.float64)
    ref = snn.backends.get("torch").build(g, dtype=torch.float64).run(torch.from_numpy(x), record=True)
    assert ref.records["if1"].sum() > 20 and ref.output.sum() > 5
    res = runtime.run(lowering.lower(g), x)
    np.testing.assert_array_equal(res.output, ref.output.numpy())


def test_adaptive_lif_is_refused_naming_the_layer():
    model = snn.Sequential(snn.Linear(3, 4), snn.AdLIF(4), snn.Linear(4, 2), snn.LI(2))
    with pytest.raises(ValueError, match=r"layer 'adlif_1' \(AdLIF\).*no Lava process.*torch backend"):
        lowering.lower(snn.lower(model))


def test_if_reset_none_is_refused():
    g = if_graph("zero")
    g.nodes["if2"] = ir.IF(np.ones(5), "none")
    with pytest.raises(ValueError, match=r"'if2' \(IF\): reset='none'"):
        lowering.lower(g)
