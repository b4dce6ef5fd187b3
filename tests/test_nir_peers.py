"""NIR interop with the released peers (snnTorch 1.0.0, Norse 1.1.0; SPEC §5), in all four directions, on
feed-forward, CubaLIF, recurrent and convolutional networks. Each test runs the peer's own model or importer and
compares spikes with ours; where a peer cannot read a file (its bug), the test pins that behaviour (docs/nir.md)."""

import warnings

import nir
import norse.torch as norse
import numpy as np
import pytest
import snntorch
import snntorch.utils
import torch
from norse.torch.functional.lif import LIFParameters
from norse.torch.functional.lif_box import LIFBoxParameters
from snntorch.export_nir import export_to_nir
from snntorch.import_nir import import_from_nir

import snn
from snn.backends.nir import NIRConventionWarning, NIRError

T, B = 60, 4


def _x(shape, seed, p=0.5, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(T, B, *shape, generator=g) < p).float() * scale


def _run(net, x, reset=None):
    """A peer's stateful module (hidden state inside, or returned as ``(out, state)``) over ``(T, B, ...)``."""
    if reset is not None:
        reset(net)
    out, state = [], None
    with torch.no_grad():
        for t in range(len(x)):
            y = net(x[t]) if reset is not None else net(x[t], state)
            if reset is None:
                y, state = y
            out.append(y[0] if isinstance(y, tuple) else y)
    return torch.stack(out)


def _ours(path_or_graph, x, **kw):
    graph, model = snn.import_nir(path_or_graph, **kw)
    with torch.no_grad():
        return model(x)[0], graph


def _snntorch_lif(n, beta, threshold, **kw):
    return snntorch.Leaky(beta=torch.as_tensor(beta).expand(n).clone(), threshold=torch.full((n,), threshold),
                          init_hidden=True, reset_mechanism="zero", reset_delay=False, **kw)


# --- snnTorch -> spikeforge ------------------------------------------------------------------------------------------

def _snntorch_nets():
    torch.manual_seed(0)
    ff = torch.nn.Sequential(torch.nn.Linear(4, 6), _snntorch_lif(6, torch.linspace(0.5, 0.95, 6), 0.5),
                             torch.nn.Linear(6, 3), _snntorch_lif(3, 0.8, 0.3, output=True))
    cuba = torch.nn.Sequential(torch.nn.Linear(4, 6), snntorch.Synaptic(
        alpha=torch.full((6,), 0.7), beta=torch.linspace(0.6, 0.9, 6), threshold=torch.full((6,), 0.8),
        init_hidden=True, reset_mechanism="zero", reset_delay=False, output=True))
    rec = torch.nn.Sequential(torch.nn.Linear(4, 6), snntorch.RLeaky(
        beta=torch.full((6,), 0.85), threshold=torch.full((6,), 0.5), linear_features=6, init_hidden=True,
        reset_mechanism="zero", reset_delay=False, output=True))
    conv = torch.nn.Sequential(torch.nn.Conv2d(2, 3, 3), snntorch.Leaky(
        beta=torch.full((3, 6, 6), 0.9), threshold=torch.full((3, 6, 6), 0.4), init_hidden=True,
        reset_mechanism="zero", reset_delay=False), torch.nn.Flatten(), torch.nn.Linear(108, 3),
        _snntorch_lif(3, 0.8, 0.3, output=True))
    return {"ff": (ff, (4,)), "cuba": (cuba, (4,)), "rec": (rec, (4,)), "conv": (conv, (2, 8, 8))}


@pytest.mark.parametrize("kind", ["ff", "cuba", "rec", "conv"])
def test_snntorch_files_import_and_spike_as_snntorch(kind, tmp_path):
    net, shape = _snntorch_nets()[kind]
    x = _x(shape, 1)
    expected = _run(net, x, reset=snntorch.utils.reset)
    sample = torch.zeros(1, *shape) if kind == "conv" else torch.zeros(shape)
    path = tmp_path / "snntorch.nir"
    nir.write(path, export_to_nir(net, sample, **({"ignore_dims": [0]} if kind == "conv" else {})))
    with pytest.warns(NIRConventionWarning, match=r"r = tau / 1e-4, snnTorch's convention: read at dt = 1e-4 s"):
        ours, graph = _ours(path, x)
    assert graph.dt == pytest.approx(0.1)  # ms
    assert expected.sum() > 10
    assert torch.equal(ours, expected)


def test_snntorch_does_not_export_the_reset_so_subtract_models_read_as_zero_reset(tmp_path):
    # SPEC §5: a "subtract" and a "zero" Leaky give the same file; NIR's reset is to v_reset, so we read zero.
    files = []
    for reset in ("subtract", "zero"):
        torch.manual_seed(0)
        net = torch.nn.Sequential(torch.nn.Linear(4, 6), snntorch.Leaky(
            beta=torch.full((6,), 0.9), threshold=torch.full((6,), 0.5), init_hidden=True, reset_mechanism=reset,
            output=True))
        g = export_to_nir(net, torch.zeros(4))
        files.append({k: getattr(v, "v_reset", None) for k, v in g.nodes.items()})
    assert str(files[0]) == str(files[1])
    with pytest.warns(NIRConventionWarning):
        graph, _ = snn.import_nir(g)
    assert graph.nodes["1"].reset == "zero"


# --- Norse -> spikeforge ---------------------------------------------------------------------------------------------

def _norse_nets():
    torch.manual_seed(0)
    lifbox = norse.LIFBoxCell(LIFBoxParameters(tau_mem_inv=torch.linspace(50., 300., 6), v_th=torch.full((6,), 0.1),
                                               v_leak=torch.zeros(6)))
    ff = norse.SequentialState(torch.nn.Linear(4, 6), lifbox, torch.nn.Linear(6, 3), norse.LIFBoxCell(
        LIFBoxParameters(tau_mem_inv=torch.full((3,), 100.), v_th=torch.full((3,), 0.05), v_leak=torch.zeros(3))))
    cuba = norse.SequentialState(torch.nn.Linear(4, 6), norse.LIFCell(LIFParameters(
        tau_mem_inv=torch.linspace(50., 300., 6), tau_syn_inv=torch.full((6,), 200.), v_th=torch.full((6,), 0.2),
        v_leak=torch.zeros(6), v_reset=torch.zeros(6))))
    conv = norse.SequentialState(torch.nn.Conv2d(2, 3, 3), norse.LIFBoxCell(LIFBoxParameters(
        tau_mem_inv=torch.full((3, 6, 6), 100.), v_th=torch.full((3, 6, 6), 0.05), v_leak=torch.zeros(3, 6, 6))))
    return {"ff": (ff, (4,)), "cuba": (cuba, (4,)), "conv": (conv, (2, 8, 8))}


@pytest.mark.parametrize("kind", ["ff", "cuba", "conv"])
def test_norse_files_import_and_spike_as_norse(kind, tmp_path):
    net, shape = _norse_nets()[kind]
    x = _x(shape, 2)
    expected = _run(net, x)
    path = tmp_path / "norse.nir"
    graph = norse.to_nir(net, torch.zeros(shape))
    if kind == "conv":  # Norse 1.1.0 leaves Conv2d.input_shape None, which nir.write cannot store: use the graph
        with pytest.raises(TypeError):
            nir.write(path, graph)
        path = graph
    else:
        nir.write(path, graph)
    with pytest.raises(NIRError, match="ambiguous time step.*convention='norse'"):
        snn.import_nir(path)
    with pytest.warns(NIRConventionWarning, match="norse convention at dt = 1e-06 s"):
        ours, graph = _ours(path, x, convention="norse")
    assert expected.sum() > 10
    assert torch.equal(ours, expected)


def test_norse_recurrent_and_flatten_export_none_nodes_nir_cannot_write(tmp_path):
    # SPEC §5: Norse 1.1.0 exports LIFRecurrentCell (and Flatten) as None nodes that nir.write rejects, so no
    # recurrent Norse file exists to import.
    net = norse.SequentialState(torch.nn.Linear(4, 6), norse.LIFRecurrentCell(6, 6))
    g = norse.to_nir(net, torch.zeros(4))
    assert any(v is None for v in g.nodes.values())
    with pytest.raises(Exception):
        nir.write(tmp_path / "rec.nir", g)


# --- spikeforge -> snnTorch ------------------------------------------------------------------------------------------

def _our_nets(dt=1.0):
    torch.manual_seed(0)
    tau = torch.linspace(2.0, 20.0, 6)
    ff = snn.Sequential(snn.Linear(4, 6), snn.LIF(6, tau_mem=tau, threshold=0.5, reset="zero", dt=dt),
                        snn.Linear(6, 3), snn.LIF(3, tau_mem=5.0, threshold=0.3, reset="zero", dt=dt))
    cuba = snn.Sequential(snn.Linear(4, 6), snn.CubaLIF(6, tau_mem=tau, tau_syn=3.0, threshold=0.8, reset="zero",
                                                        dt=dt))
    rec = snn.Sequential(snn.Linear(4, 6), snn.LIF(6, tau_mem=6.0, threshold=0.5, reset="zero", dt=dt,
                                                   recurrent=True))
    conv = snn.Sequential(snn.Conv2d(2, 3, 3), snn.LIF((3, 6, 6), tau_mem=8.0, threshold=0.4, reset="zero", dt=dt),
                          snn.Flatten((3, 6, 6)), snn.Linear(108, 3), snn.LIF(3, threshold=0.3, reset="zero", dt=dt))
    return {"ff": (ff, (4,)), "cuba": (cuba, (4,)), "rec": (rec, (4,)), "conv": (conv, (2, 8, 8))}


@pytest.mark.parametrize("kind", ["ff", "cuba", "conv"])
def test_our_files_import_into_snntorch_and_spike_as_ours(kind, tmp_path):
    model, shape = _our_nets()[kind]
    if kind == "conv":  # without the Flatten, which snnTorch applies to the batch dimension too (pinned below)
        model = model[:2]
    x = _x(shape, 3)
    with torch.no_grad():
        expected = model(x)[0]
    path = tmp_path / "ours.nir"
    # snnTorch's importer assumes 1e-4 s per step whatever the file says
    snn.export_nir(model, path, input_shape=shape, dt=1e-4)
    peer = import_from_nir(nir.read(path))
    assert expected.sum() > 10
    assert torch.equal(_run(peer, x, reset=lambda m: None), expected)


def test_snntorch_importer_miswires_our_recurrent_files(tmp_path):
    # SPEC §5: snnTorch 1.0.0 applies W_rec to x + s_{t-1}: it reads the file but its spikes differ from the NIR
    # semantics (and from ours).
    model, shape = _our_nets()["rec"]
    x = _x(shape, 4)
    with torch.no_grad():
        expected = model(x)[0]
    path = tmp_path / "rec.nir"
    snn.export_nir(model, path, dt=1e-4)
    peer = import_from_nir(nir.read(path))
    assert not torch.equal(_run(peer, x, reset=lambda m: None), expected)


def test_snntorch_importer_cannot_run_our_flatten_or_read_li(tmp_path):
    # snnTorch applies torch's Flatten(0, -1) of our (unbatched, NIR-typed) Flatten to the batched tensor, and has
    # no mapping for LI.
    model, shape = _our_nets()["conv"]
    snn.export_nir(model, tmp_path / "conv.nir", input_shape=shape, dt=1e-4)
    with pytest.raises(RuntimeError, match=rf"1x{B * 108} and 108x3"):
        _run(import_from_nir(nir.read(tmp_path / "conv.nir")), _x(shape, 5), reset=lambda m: None)
    li = snn.Sequential(snn.Linear(4, 3), snn.LI(3))
    snn.export_nir(li, tmp_path / "li.nir", dt=1e-4)
    with pytest.raises(ValueError, match="Unknown node type .*LI"):
        import_from_nir(nir.read(tmp_path / "li.nir"))


# --- spikeforge -> Norse ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["ff", "cuba", "rec", "conv"])
def test_our_files_import_into_norse_and_spike_as_ours(kind, tmp_path):
    model, shape = _our_nets()[kind]
    if kind == "conv":  # without the Flatten, which Norse applies to the batch dimension too (next test)
        model = model[:2]
    x = _x(shape, 6)
    with torch.no_grad():
        expected = model(x)[0]
    path = tmp_path / "ours.nir"
    # Norse ignores r on LIF: put the gain in the threshold
    snn.export_nir(model, path, input_shape=shape, gain="threshold")
    peer = norse.from_nir(nir.read(path), dt=1e-3)
    assert expected.sum() > 10
    assert torch.equal(_run(peer, x), expected)


def test_norse_flattens_the_batch_dimension_of_our_flatten(tmp_path):
    # Our Flatten is start_dim 0 on an unbatched (C, H, W), as NIR types it; Norse applies torch's Flatten(0, -1)
    # to a batched tensor, so the Linear after it gets (1, B*C*H*W).
    model, shape = _our_nets()["conv"]
    snn.export_nir(model, tmp_path / "conv.nir", input_shape=shape, gain="threshold")
    peer = norse.from_nir(nir.read(tmp_path / "conv.nir"), dt=1e-3)
    with pytest.raises(RuntimeError, match=rf"1x{B * 108} and 108x3"):
        _run(peer, _x(shape, 8))


def test_norse_ignores_r_so_default_files_read_wrong(tmp_path):
    model, shape = _our_nets()["ff"]
    x = _x(shape, 7)
    with torch.no_grad():
        expected = model(x)[0]
    snn.export_nir(model, tmp_path / "ours.nir")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        peer = norse.from_nir(nir.read(tmp_path / "ours.nir"), dt=1e-3)
    assert not torch.equal(_run(peer, x), expected)
    assert np.allclose(nir.read(tmp_path / "ours.nir").nodes["lif_1"].r, 1 / -np.expm1(-1 / model[1].tau_mem.numpy()))


# --- IF and pooling (NIR IF, SumPool2d, AvgPool2d) -------------------------------------------------------------------

def test_snntorch_avgpool_files_import_and_spike_as_snntorch(tmp_path):
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(2, 3, 3), torch.nn.AvgPool2d(2), snntorch.Leaky(
        beta=torch.full((3, 3, 3), 0.9), threshold=torch.full((3, 3, 3), 0.3), init_hidden=True,
        reset_mechanism="zero", reset_delay=False, output=True))
    x = _x((2, 8, 8), 11)
    expected = _run(net, x, reset=snntorch.utils.reset)
    nir.write(tmp_path / "pool.nir", export_to_nir(net, torch.zeros(1, 2, 8, 8), ignore_dims=[0]))
    with pytest.warns(NIRConventionWarning, match="snnTorch's convention"):
        ours, graph = _ours(tmp_path / "pool.nir", x)
    assert type(graph.nodes["1"]) is snn.ir.AvgPool2d and graph.nodes["1"].kernel_size == (2, 2)
    assert expected.sum() > 10
    assert torch.equal(ours, expected)


def test_snntorch_writes_no_avgpool_padding_so_padded_pools_do_not_export():
    # snnTorch 1.0.0 writes padding=(0, 0) for every AvgPool2d: a padded pool's file does not type-check in nir
    net = torch.nn.Sequential(torch.nn.Conv2d(2, 3, 3), torch.nn.AvgPool2d(3, stride=2, padding=1), snntorch.Leaky(
        beta=torch.full((3, 3, 3), 0.9), threshold=torch.full((3, 3, 3), 0.3), init_hidden=True, output=True))
    with pytest.raises(ValueError, match=r"type mismatch: 1.output: \[\[3 2 2\]\] -> 2.input: \[\[3 3 3\]\]"):
        export_to_nir(net, torch.zeros(1, 2, 8, 8), ignore_dims=[0])


@pytest.mark.parametrize("pool", [snn.AvgPool2d(2, padding=1), snn.SumPool2d(2)])
def test_our_pooling_files_import_into_snntorch_and_spike_as_ours(pool, tmp_path):
    torch.manual_seed(0)
    size = 4 if isinstance(pool, snn.AvgPool2d) else 3
    model = snn.Sequential(snn.Conv2d(2, 3, 3), pool, snn.LIF((3, size, size), tau_mem=8.0, threshold=0.2,
                                                             reset="zero"))
    x = _x((2, 8, 8), 12)
    with torch.no_grad():
        expected = model(x)[0]
    snn.export_nir(model, tmp_path / "pool.nir", input_shape=(2, 8, 8), dt=1e-4)
    peer = import_from_nir(nir.read(tmp_path / "pool.nir"))
    assert expected.sum() > 10
    assert torch.equal(_run(peer, x, reset=lambda m: None), expected)


def test_snntorch_importer_cannot_read_our_if(tmp_path):
    # snnTorch 1.0.0 reads NIR IF only with r == 1, and then builds a *leaky* Leaky(beta=0.9, init_hidden=False)
    # that its own graph cannot run; our IF files (r = 1 / dt) are refused by its assertion.
    model = snn.Sequential(snn.Linear(4, 6), snn.IF(6, reset="zero", threshold=0.7))
    snn.export_nir(model, tmp_path / "if.nir")
    with pytest.raises(AssertionError, match="r != 1 not supported"):
        import_from_nir(nir.read(tmp_path / "if.nir"))
    snn.export_nir(model, tmp_path / "if1.nir", dt=1.0)  # r = 1 / dt = 1
    peer = import_from_nir(nir.read(tmp_path / "if1.nir"))
    leaky = [m for m in peer.modules() if isinstance(m, snntorch.Leaky)]
    assert len(leaky) == 1 and float(leaky[0].beta) == pytest.approx(0.9) and not leaky[0].init_hidden
    with pytest.raises(TypeError, match="expected Tensor"):
        _run(peer, _x((4,), 13), reset=lambda m: None)


def test_norse_if_files_import_and_spike_as_norse(tmp_path):
    from norse.torch.functional.iaf import IAFParameters

    torch.manual_seed(0)
    net = norse.SequentialState(torch.nn.Linear(4, 6), norse.IAFCell(IAFParameters(v_th=torch.linspace(0.3, 1.5, 6))),
                                torch.nn.Linear(6, 3), norse.IAFCell(IAFParameters(v_th=torch.full((3,), 0.4))))
    x = _x((4,), 14)
    expected = _run(net, x)
    nir.write(tmp_path / "if.nir", norse.to_nir(net, torch.zeros(4)))
    # no dt and IF nodes (whose gain dt * r depends on it): ambiguous; Norse's IAF adds its input unscaled (r = 1)
    with pytest.raises(NIRError, match="ambiguous time step.*IF nodes"):
        snn.import_nir(tmp_path / "if.nir")
    with pytest.warns(NIRConventionWarning, match="IF's r read as the input gain per step"):
        ours, graph = _ours(tmp_path / "if.nir", x, convention="norse")
    assert type(graph.nodes["1"]) is snn.ir.IF
    assert expected.sum() > 10
    assert torch.equal(ours, expected)


def _our_if_nets():
    torch.manual_seed(0)
    return {"if": (snn.Sequential(snn.Linear(4, 6), snn.IF(6, reset="zero", threshold=torch.linspace(0.3, 1.2, 6))),
                   (4,)),
            "sumpool-if": (snn.Sequential(snn.SumPool2d(2), snn.IF((2, 4, 4), reset="zero", threshold=1.5)),
                           (2, 8, 8))}


@pytest.mark.parametrize("kind", ["if", "sumpool-if"])
def test_our_if_and_sumpool_files_import_into_norse_and_spike_as_ours(kind, tmp_path):
    # Norse ignores IF's r (its IAF adds its input unscaled): our r = 1 / dt gives the same unit gain per step
    model, shape = _our_if_nets()[kind]
    x = _x(shape, 15)
    with torch.no_grad():
        expected = model(x)[0]
    snn.export_nir(model, tmp_path / "ours.nir", input_shape=shape)
    peer = norse.from_nir(nir.read(tmp_path / "ours.nir"), dt=1e-3)
    assert expected.sum() > 10
    assert torch.equal(_run(peer, x), expected)


@pytest.mark.parametrize("pool", [snn.AvgPool2d(2), snn.SumPool2d(3, stride=2, padding=1)])
def test_norse_importer_drops_avgpool_and_pooling_padding(pool, tmp_path):
    # Norse 1.1.0 has no AvgPool2d mapping (the node is left out) and reads SumPool2d without its padding: the
    # frames reaching the next layer have the wrong size
    model = snn.Sequential(pool, snn.IF((2, 4, 4), reset="zero"))
    snn.export_nir(model, tmp_path / "pool.nir", input_shape=(2, 8, 8))
    peer = norse.from_nir(nir.read(tmp_path / "pool.nir"), dt=1e-3)
    with pytest.raises(RuntimeError, match="must match the size of tensor b"):
        _run(peer, _x((2, 8, 8), 16))
