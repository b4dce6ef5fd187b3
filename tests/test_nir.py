"""NIR export/import (snn.export_nir / snn.import_nir, snn.backends.nir): round trips, the discretisation checked
against an independent forward-Euler reading of the NIR equations, and bad input."""

import warnings

import h5py
import nir
import numpy as np
import pytest
import torch

import snn
from snn.backends.nir import NIRConventionWarning, NIRError
from snn.backends.torch.simulator import build

T, B = 40, 3


def _spikes(shape, seed, p=0.3, scale=2.0):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(T, B, *shape, generator=g) < p).float() * scale


def _models():
    torch.manual_seed(0)
    tau = torch.linspace(2.0, 30.0, 12)
    return {
        "linear-lif-zero": (snn.Sequential(snn.Linear(6, 12, bias=False), snn.LIF(12, tau_mem=tau, reset="zero")),
                            (6,)),
        "affine-lif-subtract": (snn.Sequential(snn.Linear(6, 12), snn.LIF(12, tau_mem=7.0, threshold=0.6)), (6,)),
        "recurrent-lif": (snn.Sequential(snn.Linear(6, 12), snn.LIF(12, reset="zero", recurrent=True)), (6,)),
        "recurrent-cubalif": (snn.Sequential(snn.Linear(6, 12), snn.CubaLIF(12, tau_syn=3.0, reset="zero",
                                                                             recurrent=True)), (6,)),
        "cubalif-none-li": (snn.Sequential(snn.Linear(6, 12), snn.CubaLIF(12, reset="none", threshold=1.5),
                                           snn.Linear(12, 4), snn.LI(4, tau_mem=tau[:4])), (6,)),
        "conv-flatten": (snn.Sequential(snn.Conv2d(2, 3, 3, padding=1, stride=2), snn.LIF((3, 4, 4), tau_mem=5.0),
                                        snn.Flatten((3, 4, 4)), snn.Linear(48, 5), snn.LI(5)), (2, 8, 8)),
        "conv-nobias": (snn.Sequential(snn.Conv2d(2, 3, 3, bias=False, groups=1, dilation=2),
                                       snn.LIF((3, 4, 4), reset="zero")), (2, 8, 8)),
        "delays": (snn.Sequential(snn.DelayedLinear(6, 12, 7, bias=True), snn.LIF(12),
                                  snn.DelayedLinear(12, 4, 5)), (6,)),
        "if-subtract": (snn.Sequential(snn.Linear(6, 12), snn.IF(12, threshold=torch.linspace(0.5, 2.0, 12))), (6,)),
        "recurrent-if-zero": (snn.Sequential(snn.Linear(6, 12), snn.IF(12, reset="zero", recurrent=True)), (6,)),
        "conv-sumpool-if": (snn.Sequential(snn.Conv2d(2, 3, 3, padding=1), snn.SumPool2d(2),
                                           snn.IF((3, 4, 4), reset="zero"), snn.Flatten((3, 4, 4)),
                                           snn.Linear(48, 5), snn.LI(5)), (2, 8, 8)),
        "avgpool-padded": (snn.Sequential(snn.AvgPool2d((3, 2), stride=(2, 1), padding=(1, 0)),
                                          snn.LIF((2, 4, 7), reset="zero", threshold=0.3)), (2, 8, 8)),
        "sumpool-if": (snn.Sequential(snn.SumPool2d(2), snn.IF((2, 4, 4), reset="zero", threshold=1.5)), (2, 8, 8)),
        "cubali-readout": (snn.Sequential(snn.Linear(6, 12), snn.LIF(12, reset="zero"), snn.Linear(12, 4),
                                          snn.CubaLI(4, tau_mem=tau[:4], tau_syn=torch.linspace(1.5, 9.0, 4))), (6,)),
        "integrator-readout": (snn.Sequential(snn.Linear(6, 12), snn.IF(12, reset="zero"), snn.Linear(12, 4),
                                              snn.Integrator(4)), (6,)),
        "scale-threshold": (snn.Sequential(snn.Linear(6, 12), snn.Scale(12, torch.linspace(-1.0, 2.0, 12)),
                                           snn.Threshold(12, torch.linspace(-0.5, 0.5, 12)), snn.Linear(12, 4),
                                           snn.Scale(4, 1.0)), (6,)),
        "conv1d-flatten": (snn.Sequential(snn.Conv1d(2, 3, 3, padding=2, stride=2, dilation=2),
                                          snn.LIF((3, 5), reset="zero", threshold=0.3), snn.Flatten((3, 5)),
                                          snn.Linear(15, 4), snn.LI(4)), (2, 10)),
        "conv1d-nobias": (snn.Sequential(snn.Conv1d(2, 4, 2, bias=False),
                                                snn.IF((4, 9), reset="zero", threshold=0.2)), (2, 10)),
    }


MODELS = _models()


@pytest.mark.parametrize("name", sorted(MODELS))
def test_round_trip_is_exact(name, tmp_path):
    model, shape = MODELS[name]
    model.eval()
    graph = snn.lower(model, shape)
    path = tmp_path / "m.nir"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NIRConventionWarning)  # subtract/none resets warn, tested below
        snn.export_nir(model, path, input_shape=shape)
    assert nir.read(path) is not None  # nir's own reader with its type checks
    graph2, model2 = snn.import_nir(path)
    # every parameter comes back bit for bit (node names may be reordered, the values may not)
    assert set(graph2.nodes) == set(graph.nodes) and graph2.dt == graph.dt
    for key, node in graph.nodes.items():
        other = graph2.nodes[key]
        assert type(other) is type(node)
        for field in node.__dataclass_fields__:
            a, b = getattr(node, field), getattr(other, field)
            if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
                assert a is not None and b is not None and a.dtype == b.dtype and np.array_equal(a, b), (key, field)
            else:
                assert a == b, (key, field)
    x = _spikes(shape, 1)
    with torch.no_grad():
        expected = model(x)[0]
        assert torch.equal(build(graph2)(x), expected)
        assert torch.equal(model2(x)[0], expected)
    assert expected.abs().sum() > 0


def test_rebuilt_model_trains_further():
    model, shape = MODELS["recurrent-lif"]
    _, model2 = snn.import_nir(snn.export_nir(model))
    model2.train()
    out, _ = model2(_spikes(shape, 2))
    out.sum().backward()
    assert model2[0].weight.grad is not None and model2[1].recurrent_weight.grad.abs().sum() > 0


# --- the file itself: an independent forward-Euler reading of the NIR equations -----------------------------------

def _pool(x: np.ndarray, v) -> np.ndarray:
    """NIR SumPool2d/AvgPool2d on ``(B, C, H, W)`` by explicit windows over the zero-padded frame."""
    (kh, kw), (sh, sw), (ph, pw) = v.kernel_size, v.stride, v.padding
    x = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    ho, wo = (x.shape[2] - kh) // sh + 1, (x.shape[3] - kw) // sw + 1
    out = np.stack([np.stack([x[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw].sum(axis=(2, 3)) for j in range(wo)], -1)
                    for i in range(ho)], -2)
    return out / (kh * kw) if isinstance(v, nir.AvgPool2d) else out


def _conv1d(x: np.ndarray, v) -> np.ndarray:
    """NIR Conv1d on ``(B, C, L)`` by explicit windows over the zero-padded input (integer padding)."""
    w, (s, p, d, groups) = v.weight, (int(v.stride), int(v.padding), int(v.dilation), int(v.groups))
    x = np.pad(x, ((0, 0), (0, 0), (p, p)))
    c_out, c_in, k = w.shape
    length = (x.shape[2] - d * (k - 1) - 1) // s + 1
    out = np.zeros((x.shape[0], c_out, length))
    for o in range(c_out):
        g = o // (c_out // groups)
        for j in range(length):
            window = x[:, g * c_in:(g + 1) * c_in, j * s:j * s + d * (k - 1) + 1:d]
            out[:, o, j] = (window * w[o]).sum(axis=(1, 2)) + v.bias[o]
    return out


def _euler(g: nir.NIRGraph, x: np.ndarray, dt: float) -> np.ndarray:
    """Runs a NIR graph by forward Euler at ``dt`` (s), straight from the NIR equations (reset to v_reset):
    tau dv/dt = v_leak - v + r I;  tau_syn dI/dt = -I + w_in S (CubaLIF);  dv/dt = r I (IF);  a node's input is the
    sum of its incoming edges, the previous step's value for edges that close a cycle."""
    order, seen = [], set()
    inp = [n for n, v in g.nodes.items() if isinstance(v, nir.Input)][0]

    def visit(n):
        if n in seen:
            return
        seen.add(n)
        for s, t in g.edges:
            if s == n:
                visit(t)
        order.insert(0, n)
    visit(inp)
    pos = {n: i for i, n in enumerate(order)}
    state = {n: {"v": 0.0, "i": 0.0} for n in g.nodes}
    prev = {n: 0.0 for n in g.nodes}
    outs = []
    for t in range(x.shape[0]):
        cur = {}
        for n in order:
            v = g.nodes[n]
            srcs = [s for s, d in g.edges if d == n]
            total = sum((cur[s] if pos[s] < pos[n] else prev[s]) for s in srcs) if srcs else 0.0
            if isinstance(v, nir.Input):
                cur[n] = x[t]
            elif isinstance(v, nir.Output):
                cur[n] = total
            elif isinstance(v, nir.Affine):
                cur[n] = total @ v.weight.T + v.bias
            elif isinstance(v, nir.Linear):
                cur[n] = total @ v.weight.T
            elif isinstance(v, (nir.SumPool2d, nir.AvgPool2d)):
                cur[n] = _pool(total, v)
            elif isinstance(v, nir.Conv1d):
                cur[n] = _conv1d(total, v)
            elif isinstance(v, nir.Flatten):
                cur[n] = total.reshape(total.shape[0], -1)
            elif isinstance(v, nir.Scale):
                cur[n] = v.scale * total
            elif isinstance(v, nir.Threshold):
                cur[n] = (total > v.threshold).astype(np.float64)
            elif isinstance(v, nir.I):  # dv/dt = r I, output v
                state[n]["v"] = state[n]["v"] + dt * v.r * total
                cur[n] = state[n]["v"]
            elif isinstance(v, (nir.LIF, nir.CubaLIF, nir.LI, nir.CubaLI)):
                st = state[n]
                tau = v.tau_mem if isinstance(v, (nir.CubaLIF, nir.CubaLI)) else v.tau
                if isinstance(v, (nir.CubaLIF, nir.CubaLI)):
                    st["i"] = st["i"] + dt / v.tau_syn * (-st["i"] + v.w_in * total)
                    total = st["i"]
                st["v"] = st["v"] + dt / tau * (v.v_leak - st["v"] + v.r * total)
                if isinstance(v, (nir.LI, nir.CubaLI)):
                    cur[n] = st["v"]
                else:
                    s = (st["v"] > v.v_threshold).astype(np.float64)
                    st["v"] = np.where(s > 0, v.v_reset, st["v"])
                    cur[n] = s
            elif isinstance(v, nir.IF):  # dv/dt = r I
                st = state[n]
                st["v"] = st["v"] + dt * v.r * total
                s = (st["v"] > v.v_threshold).astype(np.float64)
                st["v"] = np.where(s > 0, v.v_reset, st["v"])
                cur[n] = s
            else:
                raise AssertionError(type(v))
        prev = cur
        outs.append(cur[[n for n, v in g.nodes.items() if isinstance(v, nir.Output)][0]])
    return np.stack(outs)


@pytest.mark.parametrize("name", ["linear-lif-zero", "recurrent-lif", "recurrent-cubalif", "recurrent-if-zero",
                                  "sumpool-if", "avgpool-padded", "cubali-readout", "integrator-readout",
                                  "scale-threshold", "conv1d-flatten", "conv1d-nobias"])
@pytest.mark.parametrize("dt_ms", [1.0, 0.5])
def test_exported_file_reproduces_our_spikes_by_forward_euler_at_its_dt(name, dt_ms, tmp_path):
    torch.set_default_dtype(torch.float64)
    try:
        model, shape = _models()[name]
        for m in model:
            if hasattr(m, "dt"):
                m.dt = dt_ms
        graph = snn.lower(model, shape)
        path = tmp_path / "m.nir"
        snn.export_nir(graph, path, dt=dt_ms / 1000)  # IF-only graphs keep the default dt: the step is set here
        g = nir.read(path)
        assert float(g.metadata["dt"]) == dt_ms / 1000
        x = _spikes(shape, 3).double()
        reference = _euler(g, x.numpy(), float(g.metadata["dt"]))
        ours = build(graph, dtype=torch.float64)(x).numpy()
    finally:
        torch.set_default_dtype(torch.float32)
    assert np.abs(ours).sum() > 20
    if ours.dtype.kind == "f" and not np.all(np.isin(ours, (0, 1))):  # membrane readouts: Euler equals our decay
        np.testing.assert_allclose(ours, reference, rtol=1e-9, atol=1e-9)
    else:
        assert np.array_equal(ours, reference)


def test_subtract_reset_export_warns_that_peers_reset_to_zero():
    model, shape = MODELS["affine-lif-subtract"]
    with pytest.warns(NIRConventionWarning, match=r"node 'lif_1'.*no 'subtract' reset"):
        snn.export_nir(model)


def test_delays_become_per_delay_branches(tmp_path):
    # NIR's Delay is per channel: each distinct delay d gets a branch Delay(d * dt, every input) -> Linear holding
    # exactly the synapses with delay d.
    model, shape = MODELS["delays"]
    model.eval()
    g = snn.export_nir(model)
    node = snn.lower(model).nodes["delaylinear_0"]
    for d in np.unique(node.delay):
        delay = g.nodes[f"delaylinear_0_d{d}_delay"].delay
        assert np.allclose(delay, d * 1e-3)
        assert np.array_equal(g.nodes[f"delaylinear_0_d{d}"].weight, np.where(node.delay == d, node.weight, 0))


# --- bad input -------------------------------------------------------------------------------------------------------

@pytest.fixture
def good_file(tmp_path):
    model, _ = MODELS["linear-lif-zero"]
    path = tmp_path / "good.nir"
    snn.export_nir(model, path)
    return path


def test_truncated_file(good_file, tmp_path):
    bad = tmp_path / "cut.nir"
    data = good_file.read_bytes()
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(NIRError, match="cut.nir"):
        snn.import_nir(bad)


def test_not_hdf5_and_missing_file(tmp_path):
    bad = tmp_path / "junk.nir"
    bad.write_bytes(b"\x89HDF not really" * 10)
    with pytest.raises(NIRError, match="junk.nir: not a readable NIR file"):
        snn.import_nir(bad)
    with pytest.raises(NIRError, match="no such NIR file"):
        snn.import_nir(tmp_path / "absent.nir")


def test_unknown_node_type_named(good_file):
    with h5py.File(good_file, "r+") as f:
        del f["node/nodes/lif_1/type"]
        f["node/nodes/lif_1"].create_dataset("type", data="Astrocyte", dtype=h5py.string_dtype())
    with pytest.raises(NIRError, match=r"node 'lif_1': unknown NIR node type 'Astrocyte'"):
        snn.import_nir(good_file)


def test_missing_parameter_named(good_file):
    with h5py.File(good_file, "r+") as f:
        del f["node/nodes/lif_1/tau"]
    with pytest.raises(NIRError, match=r"node 'lif_1' \(LIF\): missing parameter\(s\) \['tau'\]"):
        snn.import_nir(good_file)


def test_shapes_that_do_not_chain_named():
    g = nir.NIRGraph(nodes={"input": nir.Input(input_type={"input": np.array([5])}),
                            "fc": nir.Linear(weight=np.ones((3, 4))),
                            "output": nir.Output(output_type={"output": np.array([3])})},
                     edges=[("input", "fc"), ("fc", "output")], metadata={"dt": 1e-3}, type_check=False)
    with pytest.raises(NIRError, match=r"node 'fc' \(Linear\): expects input shape \(4,\).*\(5,\).*do not chain"):
        snn.import_nir(g)


def test_conv1d_import_needs_vectors_and_reads_string_padding():
    w = np.arange(12.0).reshape(3, 2, 2)

    def graph(padding, shape=(2, 5), stride=1):
        conv = nir.Conv1d(input_shape=shape[-1], weight=w, stride=stride, padding=padding, dilation=2, groups=1,
                          bias=np.zeros(3))
        return nir.NIRGraph(nodes={"input": nir.Input(input_type={"input": np.array(shape)}), "conv": conv,
                                   "output": nir.Output(output_type={"output": conv.output_type["output"]})},
                            edges=[("input", "conv"), ("conv", "output")], metadata={"dt": 1e-3}, type_check=False)
    with pytest.warns(NIRConventionWarning):
        same, _ = snn.import_nir(graph("same"))
        valid, _ = snn.import_nir(graph("valid"))
    assert (same.nodes["conv"].padding, same.output_shape) == (1, (3, 5))  # dilation * (K - 1) = 2: one each side
    assert (valid.nodes["conv"].padding, valid.output_shape) == (0, (3, 3))
    with pytest.raises(NIRError, match=r"node 'conv' \(Conv1d\): padding 'same': only 'valid', or 'same' with "
                                       r"stride 1"):
        snn.import_nir(graph("same", stride=2))
    with pytest.raises(NIRError, match=r"node 'conv' \(Conv1d\): expected a \(C, L\) input, got shape \(10,\)"):
        snn.import_nir(graph(0, shape=(10,)))


def _lif_graph(tau, r, meta=None, **extra):
    n = len(tau)
    params = dict(tau=np.asarray(tau, float), r=np.asarray(r, float), v_leak=np.zeros(n), v_threshold=np.ones(n))
    params.update(extra)
    return nir.NIRGraph(nodes={"input": nir.Input(input_type={"input": np.array([n])}), "lif": nir.LIF(**params),
                               "output": nir.Output(output_type={"output": np.array([n])})},
                        edges=[("input", "lif"), ("lif", "output")], metadata=meta or {})


def test_ambiguous_file_asks_for_dt_or_convention():
    g = _lif_graph([0.02, 0.03], [1.0, 1.0])
    with pytest.raises(NIRError, match=r"ambiguous time step.*dt=.*convention="):
        snn.import_nir(g)
    with pytest.warns(NIRConventionWarning, match="dt = 0.001 s"):
        graph, _ = snn.import_nir(_lif_graph([0.02, 0.03], [1.0, 1.0], {"dt": 1e-3}))
    # forward Euler at 1 ms: beta = 1 - dt/tau; gain dt*r/tau folded into the threshold
    assert np.allclose(np.exp(-1.0 / graph.nodes["lif"].tau_mem), [1 - 1 / 20, 1 - 1 / 30], rtol=1e-6)
    assert np.allclose(graph.nodes["lif"].threshold, [20.0, 30.0], rtol=1e-6)
    graph, _ = snn.import_nir(g, dt=1e-3)
    assert np.allclose(graph.nodes["lif"].threshold, [20.0, 30.0], rtol=1e-6)


def test_parameters_our_neurons_cannot_express_are_named():
    with pytest.raises(NIRError, match=r"node 'lif' \(LIF\): v_leak != 0"):
        snn.import_nir(_lif_graph([0.02], [20.0], {"dt": 1e-3}, v_leak=np.ones(1)))
    with pytest.raises(NIRError, match=r"node 'lif' \(LIF\): v_reset != 0"):
        snn.import_nir(_lif_graph([0.02], [20.0], {"dt": 1e-3}, v_reset=np.ones(1)))
    with pytest.raises(NIRError, match=r"node 'lif' \(LIF\): tau: every value must exceed the step"):
        snn.import_nir(_lif_graph([1e-4], [1.0], {"dt": 1e-3}))


# --- command line ----------------------------------------------------------------------------------------------------

def test_cli_export_target_nir(tmp_path, capsys):
    from snn.cli import main

    model, shape = MODELS["recurrent-lif"]
    snn.ir.save(snn.lower(model), tmp_path / "m.h5")
    out = tmp_path / "m.nir"
    assert main(["export", "--target", "nir", str(tmp_path / "m.h5"), "--out", str(out)]) == 0
    assert "NIR nodes to" in capsys.readouterr().out
    graph, _ = snn.import_nir(out)
    x = _spikes(shape, 9)
    with torch.no_grad():
        assert torch.equal(build(graph)(x), model(x)[0])
    # an existing file needs --overwrite; Lava-only options are refused, not ignored; and the other way round
    assert main(["export", "--target", "nir", str(tmp_path / "m.h5"), "--out", str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main(["export", "--target", "nir", str(tmp_path / "m.h5"), "--out", str(out), "--overwrite",
                 "--nir-dt", "1e-4"]) == 0
    assert float(nir.read(out).metadata["dt"]) == 1e-4
    assert main(["export", "--target", "nir", str(tmp_path / "m.h5"), "--out", str(out), "--lossy"]) == 2
    assert "--lossy do(es) not apply to --target nir" in capsys.readouterr().err
    assert main(["export", "--target", "lava", str(tmp_path / "m.h5"), "--out", str(tmp_path / "x"),
                 "--nir-gain", "threshold"]) == 2
    assert "--nir-gain do(es) not apply to --target lava" in capsys.readouterr().err


def test_snn_run_reads_a_nir_file_and_asks_for_the_dataset(tmp_path, capsys):
    from snn.backends.lava.cli import load_source
    from snn.cli import main

    model, shape = MODELS["linear-lif-zero"]
    snn.export_nir(model, tmp_path / "m.nir")
    src = load_source(tmp_path / "m.nir")
    assert src.loss_kind == "sum" and src.data is None
    x = _spikes(shape, 10)
    with torch.no_grad():
        assert torch.equal(build(src.graph)(x), model(x)[0])
    assert main(["run", str(tmp_path / "m.nir"), "--backend", "loihi"]) == 2
    assert "--data: expected a dataset name" in capsys.readouterr().err


def test_export_refuses_an_ir_node_without_nir_mapping():
    from dataclasses import dataclass

    @dataclass(eq=False)
    class Astro(snn.ir.Node):  # stands for a node type NIR has no unit for (ELM, astrocytes)
        n: int

        @property
        def input_shape(self):
            return (self.n,)

        output_shape = input_shape

    graph = snn.ir.Graph.chain({"astro": Astro(3)}, (3,), 1.0)
    with pytest.raises(NIRError, match=r"node 'astro': IR node type Astro has no NIR mapping"):
        snn.export_nir(graph)


def _chain(node, shape, meta=None):
    return nir.NIRGraph(nodes={"input": nir.Input(input_type={"input": np.array(shape)}), "n": node,
                               "output": nir.Output(output_type={"output": np.array(node.output_type["output"])})},
                        edges=[("input", "n"), ("n", "output")], metadata=meta or {})


def test_if_import_reads_r_by_forward_euler_and_needs_dt():
    node = nir.IF(r=np.full(3, 2.0), v_threshold=np.array([1.0, 2.0, 4.0]))
    with pytest.raises(NIRError, match="ambiguous time step.*IF nodes.*dt="):
        snn.import_nir(_chain(node, [3]))
    with pytest.warns(NIRConventionWarning, match="dt = 0.001 s declared"):
        graph, _ = snn.import_nir(_chain(node, [3], {"dt": 1e-3}))
    # v_t = v_{t-1} + dt r I_t fires above v_threshold: our unit-gain v = sum I fires above v_threshold / (dt r)
    assert np.allclose(graph.nodes["n"].threshold, [500.0, 1000.0, 2000.0]) and graph.nodes["n"].reset == "zero"
    bad = nir.IF(r=np.ones(3), v_threshold=np.ones(3), v_reset=np.full(3, 0.5))
    with pytest.raises(NIRError, match=r"node 'n' \(IF\): v_reset != 0"):
        snn.import_nir(_chain(bad, [3], {"dt": 1e-3}))


def test_pooling_import_needs_frames_and_takes_int_sizes():
    pool = nir.SumPool2d(kernel_size=np.array(2), stride=np.array(2), padding=np.array(0))
    pool.input_type, pool.output_type = {"input": np.array([6])}, {"output": np.array([3])}
    with pytest.raises(NIRError, match=r"node 'n' \(SumPool2d\): expected a \(C, H, W\) input, got shape \(6,\)"):
        snn.import_nir(_chain(pool, [6], {"dt": 1e-3}))
    pool.input_type, pool.output_type = {"input": np.array([2, 4, 6])}, {"output": np.array([2, 2, 3])}
    with pytest.warns(NIRConventionWarning):
        graph, _ = snn.import_nir(_chain(pool, [2, 4, 6], {"dt": 1e-3}))
    node = graph.nodes["n"]
    assert type(node) is snn.ir.SumPool2d and node.kernel_size == (2, 2) and node.output_shape == (2, 2, 3)


def test_adaptive_lif_export_is_refused_by_name():
    # NIR 1.0 has no adaptive LIF unit (no adaptation current): exporting one is an error, not a plain LIF
    model = snn.Sequential(snn.Linear(3, 4), snn.AdLIF(4))
    with pytest.raises(NIRError, match=r"node 'adlif_1': IR node type AdLIF has no NIR mapping"):
        snn.export_nir(model)


def test_batched_input_shape_is_read_unbatched_with_a_warning():
    g = nir.NIRGraph(nodes={"input": nir.Input(input_type={"input": np.array([1, 4])}),
                            "fc": nir.Linear(weight=np.ones((3, 4))),
                            "output": nir.Output(output_type={"output": np.array([1, 3])})},
                     edges=[("input", "fc"), ("fc", "output")], metadata={"dt": 1e-3}, type_check=False)
    with pytest.warns(NIRConventionWarning, match=r"batched shape \(1, 4\); read as \(4,\)"):
        graph, _ = snn.import_nir(g)
    assert graph.input_shape == (4,)


def test_import_leaves_the_nir_graph_as_it_was():
    # snnTorch 1.0.0's importer rewrites the graph it is given (SPEC §5); ours must not.
    model, _ = MODELS["recurrent-cubalif"]
    g = snn.export_nir(model)
    before = (dict(g.nodes), list(g.edges), {k: dict(vars(v)) for k, v in g.nodes.items()})
    snn.import_nir(g)
    assert dict(g.nodes) == before[0] and list(g.edges) == before[1]
    for k, v in g.nodes.items():
        assert all(vars(v)[f] is before[2][k][f] for f in before[2][k])


def test_snn_eval_reads_a_nir_file(tmp_path, capsys, ndigits_root):
    from snn.cli import main

    torch.manual_seed(0)
    model = snn.Sequential(snn.Flatten((2, 34, 34)), snn.Linear(2 * 34 * 34, 10), snn.LI(10))
    path = tmp_path / "m.nir"
    snn.export_nir(model, path)
    root = f"data.root={ndigits_root}"
    assert main(["eval", str(path), "--quiet", "--set", root]) == 2
    assert "--dataset: expected a dataset name" in capsys.readouterr().err
    assert main(["eval", str(path), "--dataset", "ndigits", "--quiet", "--out", str(tmp_path), "--set", root,
                 "--set", "loss.kind=max"]) == 0
    out = capsys.readouterr().out
    assert "ndigits test: accuracy" in out and (tmp_path / "eval-ndigits-test-torch.json").is_file()


@pytest.mark.parametrize("node", [
    nir.CubaLI(tau_syn=np.array([2e-3, 5e-3, 3e-3]), tau_mem=np.array([4e-3, 1e-2, 2e-2]), r=np.array([1.0, 2.0, 0.5]),
               v_leak=np.zeros(3), w_in=np.array([1.0, 3.0, 2.0])),
    nir.I(r=np.array([2.0, 500.0, 1e3]))])
def test_readout_import_folds_its_gain_and_matches_forward_euler(node):
    # another tool's readout (r, w_in not ours): the Euler gain goes into the Affine feeding it; no metadata for us
    rng = np.random.default_rng(0)
    w = rng.normal(size=(3, 4))
    g = nir.NIRGraph(nodes={"input": nir.Input(input_type={"input": np.array([4])}),
                            "fc": nir.Affine(weight=w, bias=rng.normal(size=3)), "ro": node,
                            "output": nir.Output(output_type={"output": np.array([3])})},
                     edges=[("input", "fc"), ("fc", "ro"), ("ro", "output")], metadata={"dt": 1e-3})
    with pytest.warns(NIRConventionWarning, match="dt = 0.001 s declared"):
        graph, model = snn.import_nir(g)
    assert type(graph.nodes["ro"]).__name__ == {"CubaLI": "CubaLI", "I": "Integrator"}[type(node).__name__]
    x = _spikes((4,), 5).double()
    reference = _euler(g, x.numpy(), 1e-3)
    ours = build(graph, dtype=torch.float64)(x).numpy()
    np.testing.assert_allclose(ours, reference, rtol=1e-5, atol=1e-5)
    with torch.no_grad():
        np.testing.assert_allclose(model(x.float())[0].numpy(), reference, rtol=1e-4, atol=1e-4)


def test_frame_scale_and_threshold_import_on_any_shape():
    scale, theta = np.linspace(-1.0, 2.0, 12).reshape(2, 2, 3), np.full((2, 2, 3), 0.25)
    g = nir.NIRGraph(nodes={"input": nir.Input(input_type={"input": np.array([2, 2, 3])}),
                            "gain": nir.Scale(scale=scale), "spike": nir.Threshold(threshold=theta),
                            "output": nir.Output(output_type={"output": np.array([2, 2, 3])})},
                     edges=[("input", "gain"), ("gain", "spike"), ("spike", "output")], metadata={"dt": 1e-3})
    with pytest.warns(NIRConventionWarning):
        graph, model = snn.import_nir(g)
    x = _spikes((2, 2, 3), 6).double()
    expected = (x.numpy() * scale > theta).astype(np.float32)
    assert np.array_equal(build(graph)(x.float()).numpy(), expected) and expected.sum() > 10
    with torch.no_grad():
        assert np.array_equal(model(x.float())[0].numpy(), expected)


def test_grouped_conv1d_export_is_refused_naming_nirs_type_bug():
    model = snn.Sequential(snn.Conv1d(2, 4, 2, groups=2), snn.IF((4, 9)))
    with pytest.raises(NIRError, match=r"node 'conv1d_0' \(Conv1d\): groups=2: nir 1.0.8 .* expected groups=1"):
        snn.export_nir(model, input_shape=(2, 10))


def test_readout_gain_without_a_linear_feeding_it_becomes_a_scale_node():
    # Input -> LI on frames: no Linear to fold dt*r/tau into; before, an error; now a Scale node keeps it exact
    tau, r = np.full((2, 3), 5e-3), np.full((2, 3), 0.5)
    g = nir.NIRGraph(nodes={"input": nir.Input(input_type={"input": np.array([2, 3])}),
                            "ro": nir.LI(tau=tau, r=r, v_leak=np.zeros((2, 3))),
                            "output": nir.Output(output_type={"output": np.array([2, 3])})},
                     edges=[("input", "ro"), ("ro", "output")], metadata={"dt": 1e-3})
    with pytest.warns(NIRConventionWarning):
        graph, model = snn.import_nir(g)
    assert isinstance(graph.nodes["ro_gain"], snn.ir.Scale) and np.allclose(graph.nodes["ro_gain"].scale, 0.1)
    x = _spikes((2, 3), 7).double()
    reference = np.stack([_euler(g, x[:, b].numpy(), 1e-3) for b in range(B)], 1)
    np.testing.assert_allclose(build(graph, dtype=torch.float64)(x).numpy(), reference, rtol=1e-5, atol=1e-6)
    with torch.no_grad():
        np.testing.assert_allclose(model(x.float())[0].numpy(), reference, rtol=1e-4, atol=1e-5)
