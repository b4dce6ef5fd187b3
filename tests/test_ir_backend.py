"""Lowering to the IR, IR save/load, and the torch backend reproducing the front end on random networks."""

import random

import h5py
import numpy as np
import pytest
import torch
from torch import nn

import snn
from snn import ir


def random_network(seed: int) -> tuple[snn.Sequential, tuple[int, ...]]:
    """A random chain of Linear + LIF/CubaLIF layers (random resets, per-neuron parameters, recurrence), LI readout."""
    rng = random.Random(seed)
    torch.manual_seed(seed)
    dt = rng.choice([0.5, 1.0, 2.0])
    sizes = [rng.randint(3, 24) for _ in range(rng.randint(2, 4))]
    layers = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        layers.append(snn.Linear(n_in, n_out, bias=rng.random() < 0.5))
        kind = rng.choice([snn.LIF, snn.CubaLIF])
        kwargs = dict(tau_mem=torch.empty(n_out).uniform_(2, 40), threshold=torch.empty(n_out).uniform_(0.3, 1.5),
                      reset=rng.choice(["subtract", "zero", "none"]), recurrent=rng.random() < 0.5, dt=dt)
        if kind is snn.CubaLIF:
            kwargs["tau_syn"] = torch.empty(n_out).uniform_(1, 10)
        layers.append(kind(n_out, **kwargs))
    layers += [snn.Linear(sizes[-1], 5), snn.LI(5, tau_mem=rng.uniform(5, 50), dt=dt)]
    return snn.Sequential(*layers), (sizes[0],)


def conv_network() -> snn.Sequential:
    torch.manual_seed(7)
    return snn.Sequential(
        snn.Conv2d(2, 4, 3, stride=2, padding=1), snn.LIF((4, 5, 5), tau_mem=5.0, reset="zero"),
        snn.Conv2d(4, 6, 3, padding=(1, 0), dilation=1, groups=2, bias=False), snn.CubaLIF((6, 5, 3)),
        snn.Flatten((6, 5, 3)), nn.Dropout(0.3), snn.Linear(90, 4), snn.LI(4),
    )


@pytest.mark.parametrize("seed", range(12))
def test_torch_backend_reproduces_front_end(seed):
    model, in_shape = random_network(seed)
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(60, 4, *in_shape, generator=g) < 0.4).float() * 2.0
    y_front, _ = model(x)
    sim = snn.backends.get("torch").build(snn.lower(model))
    assert (y_front - sim(x)).abs().max().item() <= 1e-6


def test_random_networks_spike():
    # Guard against a vacuous equivalence: the random networks above must actually produce spikes.
    spiking = 0
    for seed in range(12):
        model, in_shape = random_network(seed)
        x = (torch.rand(60, 4, *in_shape) < 0.4).float() * 2.0
        res = snn.backends.get("torch").build(snn.lower(model)).run(x, record=True)
        spiking += sum(int(v.sum() > 0) for k, v in res.records.items() if k.startswith(("lif", "cubalif")))
    assert spiking >= 12


def test_conv_network_lowers_and_reproduces():
    model = conv_network().eval()
    x = (torch.rand(30, 3, 2, 10, 10) < 0.3).float()
    graph = snn.lower(model, input_shape=(2, 10, 10))
    assert [type(n).__name__ for n in graph.nodes.values()] == \
        ["Conv2d", "LIF", "Conv2d", "CubaLIF", "Flatten", "Linear", "LI"]
    assert graph.output_shape == (4,)
    y, _ = model(x)
    assert (y - snn.backends.get("torch").build(graph)(x)).abs().max().item() <= 1e-6


def test_lowered_parameters_are_the_modules(tmp_path):
    lif = snn.CubaLIF(3, tau_mem=torch.tensor([2.0, 3.0, 4.0]), tau_syn=1.5, threshold=0.25, reset="zero", dt=0.5)
    graph = snn.lower(snn.Sequential(snn.Linear(2, 3), lif))
    node = graph.nodes["cubalif_1"]
    np.testing.assert_array_equal(node.tau_mem, [2.0, 3.0, 4.0])
    np.testing.assert_array_equal(node.tau_syn, [1.5, 1.5, 1.5])
    np.testing.assert_array_equal(node.threshold, [0.25] * 3)
    assert (node.reset, node.dt, graph.dt) == ("zero", 0.5, 0.5)
    assert graph.edges == [("input", "linear_0"), ("linear_0", "cubalif_1"), ("cubalif_1", "output")]


@pytest.mark.parametrize("seed", [0, 3])
def test_save_load_round_trip(tmp_path, seed):
    model, in_shape = random_network(seed)
    graph = snn.lower(model)
    path = tmp_path / "net.h5"
    ir.save(graph, path)
    loaded = ir.load(path)
    assert list(loaded.nodes) == list(graph.nodes) and loaded.edges == graph.edges
    assert (loaded.input_shape, loaded.dt, loaded.version) == (graph.input_shape, graph.dt, ir.IR_VERSION)
    for name, node in graph.nodes.items():
        other = loaded.nodes[name]
        assert type(other) is type(node)
        for key, value in vars(node).items():
            if isinstance(value, np.ndarray):
                np.testing.assert_array_equal(getattr(other, key), value)
            else:
                assert getattr(other, key) == value
    x = (torch.rand(20, 2, *in_shape) < 0.5).float()
    torch.testing.assert_close(snn.backends.get("torch").build(loaded)(x), model(x)[0], rtol=0, atol=1e-6)


def test_ir_file_holds_no_pickle(tmp_path):
    path = tmp_path / "net.h5"
    ir.save(snn.lower(conv_network(), input_shape=(2, 10, 10)), path)
    with h5py.File(path) as f:
        dtypes = []
        f.visititems(lambda name, obj: dtypes.append(obj.dtype) if isinstance(obj, h5py.Dataset) else None)
    assert dtypes and all(d.kind in "fiu" for d in dtypes)


def test_unknown_module_names_it_and_lists_supported():
    model = snn.Sequential(snn.Linear(3, 3), nn.ReLU(), snn.LIF(3))
    with pytest.raises(ValueError, match=r"module '1' of type ReLU is not supported; supported: .*snn\.LIF"):
        snn.lower(model)


def test_custom_lowering_registration():
    class Scale(nn.Module):
        def __init__(self, n, k):
            super().__init__()
            self.n, self.k = n, k

        def forward(self, x):
            return x * self.k

    @snn.register_lowering(Scale)
    def _lower_scale(m, shape):
        return ir.Linear(np.eye(m.n) * m.k)

    try:
        model = snn.Sequential(snn.Linear(3, 3), Scale(3, 2.0), snn.LIF(3))
        x = torch.rand(10, 2, 3)
        torch.testing.assert_close(snn.backends.get("torch").build(snn.lower(model))(x), model(x)[0])
    finally:
        del snn.lower.__globals__["LOWERINGS"][Scale]


@pytest.mark.parametrize("model, kwargs, match", [
    (snn.Sequential(snn.Linear(3, 4), snn.LIF(5)), {}, r"LIF expects input shape \(5,\), but the layer before it gives \(4,\)"),
    (snn.Sequential(snn.LIF(4, dt=1.0), snn.Linear(4, 4), snn.LIF(4, dt=0.5)), {}, "share one dt"),
    (snn.Sequential(snn.Conv2d(2, 3, 3), snn.LIF((3, 2, 2))), {}, "input_shape"),
    (snn.Sequential(), {}, "input shape"),
])
def test_lowering_errors(model, kwargs, match):
    with pytest.raises(ValueError, match=match):
        snn.lower(model, **kwargs)


def test_graph_validation_errors():
    lin = ir.Linear(np.ones((3, 2)))
    with pytest.raises(ValueError, match="expects"):
        ir.Graph.chain({"a": lin, "b": ir.Linear(np.ones((2, 2)))}, (2,), 1.0)
    with pytest.raises(ValueError, match="unknown node"):
        ir.Graph({"a": lin}, [("input", "a"), ("a", "nope"), ("a", "output")], (2,), 1.0)
    with pytest.raises(ValueError, match="exactly one edge into 'output'"):
        ir.Graph({"a": lin}, [("input", "a")], (2,), 1.0)
    with pytest.raises(ValueError, match="reserved"):
        ir.Graph({"input": lin}, [("input", "output")], (2,), 1.0)
    with pytest.raises(ValueError, match="dt"):
        ir.Graph.chain({"l": ir.LIF(np.ones(2), np.ones(2), "zero", dt=2.0)}, (2,), 1.0)
    with pytest.raises(ValueError, match="tau_mem"):
        ir.LIF(np.array([1.0, -1.0]), np.ones(2), "zero", 1.0)
    with pytest.raises(ValueError, match="reset"):
        ir.LIF(np.ones(2), np.ones(2), "bounce", 1.0)
    with pytest.raises(ValueError, match="delay"):
        ir.DelayLinear(np.ones((2, 2)), np.array([[0, 1], [2, -1]]))


def test_graph_with_fan_in_sums_inputs():
    a, b = ir.Linear(np.array([[1.0, 0.0]])), ir.Linear(np.array([[0.0, 2.0]]))
    g = ir.Graph({"a": a, "b": b, "li": ir.LI(np.full(1, 1e9), 1.0)},
                 [("input", "a"), ("input", "b"), ("a", "li"), ("b", "li"), ("li", "output")], (2,), 1.0)
    x = torch.tensor([[[1.0, 1.0]], [[0.0, 0.0]]])
    y = snn.backends.get("torch").build(g)(x)
    torch.testing.assert_close(y[:, 0, 0], torch.tensor([3.0, 3.0]))


@pytest.mark.parametrize("content, match", [(b"not hdf5 at all", "not a readable"), (None, "not a spikeforge IR")])
def test_load_rejects_bad_files(tmp_path, content, match):
    path = tmp_path / "bad.h5"
    if content is None:
        with h5py.File(path, "w") as f:
            f.attrs["format"] = "something-else"
    else:
        path.write_bytes(content)
    with pytest.raises(ValueError, match=match):
        ir.load(path)


def test_load_rejects_truncated_file(tmp_path):
    path = tmp_path / "net.h5"
    ir.save(snn.lower(random_network(1)[0]), path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="net.h5"):
        ir.load(path)


def test_save_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "net.h5"
    path.write_bytes(b"previous")
    graph = snn.lower(random_network(2)[0])
    monkeypatch.setattr(ir.h5py.Group, "create_dataset", lambda *a, **k: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError, match="disk full"):
        ir.save(graph, path)
    assert path.read_bytes() == b"previous"
    assert [p.name for p in tmp_path.iterdir()] == ["net.h5"]


def test_backend_input_errors():
    sim = snn.backends.get("torch").build(snn.lower(snn.Sequential(snn.Linear(3, 2), snn.LIF(2))))
    with pytest.raises(ValueError, match=r"expected shape \(T, B, 3\)"):
        sim(torch.rand(4, 3))


def test_backend_registry():
    infos = {b.name: b for b in snn.backends.available()}
    assert infos["torch"].usable and "torch" in infos["torch"].reason
    with pytest.raises(ValueError, match="expected one of"):
        snn.backends.get("spinnaker9")


def test_unsupported_node_in_backend():
    @ir.register_node
    class Mystery(ir.Node):
        @property
        def input_shape(self):
            return (2,)

        output_shape = input_shape

    try:
        with pytest.raises(ValueError, match="no kernel for node types \\['Mystery'\\]"):
            snn.backends.get("torch").build(ir.Graph.chain({"m": Mystery()}, (2,), 1.0))
    finally:
        del ir.NODE_TYPES["Mystery"]
