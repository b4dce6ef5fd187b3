"""SumPool2d / AvgPool2d: the front end against torch.nn.functional and a per-window loop, the torch backend, IR
save/load, and the Lava lowering folding them into one dense synapse."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import snn
from snn import ir
from snn.backends.lava import lowering


def window_sums(x, k, s, p):
    """Per-window loop over a zero-padded numpy frame batch (N, C, H, W): the sum of every window."""
    (kh, kw), (sh, sw), (ph, pw) = k, s, p
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    ho, wo = (xp.shape[2] - kh) // sh + 1, (xp.shape[3] - kw) // sw + 1
    out = np.zeros(x.shape[:2] + (ho, wo))
    for i in range(ho):
        for j in range(wo):
            out[:, :, i, j] = xp[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw].sum((2, 3))
    return out


CASES = [((2, 2), None, (0, 0)), ((3, 2), (2, 1), (1, 0)), ((3, 3), (1, 1), (1, 1)), ((2, 3), (3, 2), (1, 1))]


@pytest.mark.parametrize("k, s, p", CASES)
def test_pooling_matches_torch_functional_and_window_loop(k, s, p):
    x = torch.rand(4, 3, 2, 9, 8, dtype=torch.float64)
    stride = k if s is None else s
    for cls in (snn.SumPool2d, snn.AvgPool2d):
        y = cls(k, s, p)(x)
        flat = x.flatten(0, 1)
        avg = F.avg_pool2d(flat, k, stride, p).unflatten(0, (4, 3))
        loop = torch.from_numpy(window_sums(flat.numpy(), k, stride, p)).unflatten(0, (4, 3))
        if cls is snn.AvgPool2d:
            torch.testing.assert_close(y, avg, rtol=1e-12, atol=1e-12)
            loop = loop / (k[0] * k[1])
        else:
            torch.testing.assert_close(y, avg * (k[0] * k[1]), rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(y, loop, rtol=1e-12, atol=1e-12)
        y_step = torch.stack([cls(k, s, p).step(x_t)[0] for x_t in x])
        torch.testing.assert_close(y, y_step, rtol=0, atol=0)


def test_sum_pool_of_spikes_counts_them():
    x = torch.zeros(1, 1, 1, 4, 4)
    x[0, 0, 0, :2, :2] = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    assert snn.SumPool2d(2)(x)[0, 0, 0].tolist() == [[3.0, 0.0], [0.0, 0.0]]


def conv_pool_network():
    torch.manual_seed(3)
    return snn.Sequential(snn.Conv2d(2, 4, 3, padding=1), snn.LIF((4, 9, 8), tau_mem=5.0),
                          snn.SumPool2d(2), snn.Conv2d(4, 6, 3, padding=1), snn.IF((6, 4, 4), threshold=2.0),
                          snn.AvgPool2d((3, 2), stride=(1, 2), padding=(1, 0)), snn.Flatten((6, 4, 2)),
                          snn.Linear(48, 5), snn.LI(5))


def test_torch_backend_and_ir_round_trip(tmp_path):
    model = conv_pool_network()
    x = (torch.rand(25, 3, 2, 9, 8, generator=torch.Generator().manual_seed(0)) < 0.4).float()
    y, _ = model(x)
    graph = snn.lower(model, input_shape=(2, 9, 8))
    pools = [n for n in graph.nodes.values() if isinstance(n, (ir.SumPool2d, ir.AvgPool2d))]
    assert [(type(n).__name__, n.kernel_size, n.stride, n.padding) for n in pools] == [
        ("SumPool2d", (2, 2), (2, 2), (0, 0)), ("AvgPool2d", (3, 2), (1, 2), (1, 0))]
    ir.save(graph, tmp_path / "m.h5")
    res = snn.backends.get("torch").build(ir.load(tmp_path / "m.h5")).run(x, record=True)
    assert res.records["if_4"].sum() > 0
    assert (res.output - y).abs().max().item() <= 1e-6


@pytest.mark.parametrize("node", [ir.SumPool2d, ir.AvgPool2d])
def test_lava_lowering_folds_pooling_into_the_dense_synapse(node):
    rng = np.random.default_rng(0)
    conv = ir.Conv2d(rng.normal(0, 0.5, (3, 2, 3, 3)), rng.normal(0, 0.1, 3), (7, 6), padding=(1, 1))
    pool = node((3, 7, 6), (3, 2), (2, 2), (1, 1))
    n_out = int(np.prod(pool.output_shape))
    g = ir.Graph.chain({"conv": conv, "pool": pool, "flat": ir.Flatten(pool.output_shape),
                        "lif": ir.LIF(np.full(n_out, 5.0), np.ones(n_out), "zero", 1.0)}, (2, 7, 6), 1.0)
    (layer,) = lowering.lower(g).layers
    assert layer.synapse.source == "conv+pool+flat"
    x = rng.random((5, 2, 7, 6))
    xt = torch.from_numpy(x)
    want = F.avg_pool2d(F.conv2d(xt, torch.from_numpy(conv.weight).double(), None, 1, 1), (3, 2), 2, 1)
    if node is ir.SumPool2d:
        want = want * 6
    bias = F.avg_pool2d(torch.from_numpy(conv.bias).double().view(1, 3, 1, 1).expand(1, 3, 7, 6), (3, 2), 2, 1)
    bias = bias * (6 if node is ir.SumPool2d else 1)
    np.testing.assert_allclose(x.reshape(5, -1) @ layer.synapse.weight.T, want.reshape(5, -1).numpy(), atol=1e-12)
    np.testing.assert_allclose(layer.neuron.bias_mant, bias.reshape(-1).numpy(), atol=1e-12)


@pytest.mark.parametrize("build, match", [
    (lambda: snn.SumPool2d(0), "kernel_size"),
    (lambda: snn.AvgPool2d(2, stride=(1, 0)), "stride"),
    (lambda: snn.AvgPool2d(2, padding=2), "padding: expected at most half"),
    (lambda: ir.SumPool2d((2, 3, 3), (4, 4), (1, 1)), "empty output"),
    (lambda: ir.AvgPool2d((2, 3), (2, 2), (1, 1)), "shape"),
    (lambda: snn.SumPool2d(2)(torch.rand(3, 2, 4, 4)), r"\(T, B, C, H, W\)"),
    (lambda: snn.SumPool2d(5)(torch.rand(3, 2, 1, 4, 4)), "smaller than the kernel"),
    (lambda: snn.lower(snn.Sequential(snn.Linear(4, 4), snn.SumPool2d(2))), r"SumPool2d expects input frames"),
])
def test_bad_arguments(build, match):
    with pytest.raises(ValueError, match=match):
        build()
