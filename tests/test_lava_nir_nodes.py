"""CubaLI, Integrator, Scale, Threshold and Conv1d on Lava (floating point): the same outputs as the torch backend."""

import numpy as np
import pytest
import torch

import snn
from snn import ir
from snn.backends.lava import lowering, runtime

pytestmark = pytest.mark.timeout(300)


def _graph(readout):
    rng = np.random.default_rng(0)
    return ir.Graph.chain({"fc1": ir.Linear(rng.integers(-4, 8, (6, 5)) / 8),
                           "gain": ir.Scale(np.array([1.0, 2.0, 0.5, -1.0, 1.5, 1.0])),
                           "spike": ir.Threshold(np.full(6, 0.25)),
                           "fc2": ir.Linear(rng.integers(-4, 8, (3, 6)) / 8), "ro": readout}, (5,), 1.0)


@pytest.mark.parametrize("readout", [ir.CubaLI(np.array([4.0, 4.0, 4.0]), np.array([2.0, 2.0, 2.0]), 1.0),
                                     ir.Integrator((3,))], ids=["cubali", "integrator"])
def test_lava_float_matches_the_torch_backend(readout):
    g = _graph(readout)
    net = lowering.lower(g)
    assert [layer.neuron.kind for layer in net.layers] == ["lif", "readout"]
    x = (np.random.default_rng(1).random((15, 2, 5)) < 0.5).astype(np.float64)
    ref = snn.backends.get("torch").build(g, dtype=torch.float64).run(torch.from_numpy(x), record=True)
    assert ref.records["spike"].sum() > 10 and np.abs(ref.output.numpy()).sum() > 1
    np.testing.assert_allclose(runtime.run(net, x).output, ref.output.numpy(), rtol=1e-9, atol=1e-9)


def test_per_neuron_threshold_and_cubali_bias_are_refused_by_name():
    g = ir.Graph.chain({"fc": ir.Linear(np.ones((2, 2))), "spike": ir.Threshold(np.array([0.5, 1.0]))}, (2,), 1.0)
    with pytest.raises(ValueError, match=r"layer 'spike' \(Threshold\): threshold: expected one value"):
        lowering.lower(g)
    g = ir.Graph.chain({"fc": ir.Linear(np.ones((2, 2)), np.ones(2)), "ro": ir.CubaLI(np.ones(2), np.ones(2), 1.0)},
                       (2,), 1.0)
    with pytest.raises(ValueError, match=r"layer 'ro' \(CubaLI\): bias"):
        lowering.lower(g)


def test_conv1d_unrolls_to_the_torch_convolution():
    rng = np.random.default_rng(3)
    conv = ir.Conv1d(rng.integers(-4, 8, (4, 1, 3)) / 8, None, 7, stride=2, padding=1, dilation=2, groups=2)
    w, bias, delay = lowering.SYNAPSE_LOWERINGS[ir.Conv1d](conv, "conv")
    x = rng.normal(size=(5, 2, 7))
    ref = snn.backends.get("torch").build(ir.Graph.chain({"conv": conv}, (2, 7), 1.0), dtype=torch.float64)(
        torch.from_numpy(x[None])).numpy()[0]
    np.testing.assert_allclose(x.reshape(5, -1) @ w.T, ref.reshape(5, -1), rtol=1e-12, atol=1e-12)
    assert bias is None and delay is None
