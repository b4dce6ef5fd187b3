"""AstroLIF on Lava: the custom float process against the torch backend on random inputs; fixed point refused."""

import numpy as np
import pytest
import torch

import snn
import snn.models
from snn.backends.lava import lowering, quantize, runtime

pytestmark = pytest.mark.timeout(300)


def _graph(seed=0):
    torch.manual_seed(seed)
    net = snn.models.build({"type": "astro", "hidden": [12], "groups": 3, "key_size": 4, "decay": 0.8,
                            "threshold": 0.5, "normalise": "none"}, (5,), 3)
    with torch.no_grad():
        net[1].value_weight.mul_(3)
        net[1].tau_mem.copy_(torch.linspace(5.0, 30.0, 12))  # per-neuron time constants
    return snn.lower(net)


def test_lava_float_process_matches_the_torch_backend():
    graph = _graph()
    x = np.random.default_rng(1).random((30, 3, 5)) * 1.5
    ref = snn.backends.get("torch").build(graph, dtype=torch.float64).run(torch.tensor(x), record=True)
    spikes = ref.records[list(graph.nodes)[1]]
    assert 0.05 < spikes.mean() < 0.95
    net = lowering.lower(graph)
    assert [la.neuron.kind for la in net.layers] == ["astro_lif", "readout"]
    got = runtime.run(net, x).output
    np.testing.assert_allclose(got, ref.output.numpy(), rtol=1e-9, atol=1e-9)


def test_the_comparison_above_sees_the_astrocyte():
    # Zeroing the value weights (no feedback) changes the output: the Lava test would catch a process ignoring H.
    graph = _graph()
    x = torch.tensor(np.random.default_rng(1).random((30, 3, 5)) * 1.5)
    with_astro = snn.backends.get("torch").build(graph, dtype=torch.float64)(x)
    list(graph.nodes.values())[1].value_weight[:] = 0
    assert not torch.allclose(with_astro, snn.backends.get("torch").build(graph, dtype=torch.float64)(x))


def test_fixed_point_is_refused_naming_the_layer():
    net = lowering.lower(_graph())
    with pytest.raises(quantize.QuantisationError, match=r"layer 'astrolif_1': neuron kind 'astro_lif' has no faithful "
                                                         r"fixed-point form"):
        quantize.quantize(net)

