"""The Loihi integer simulator against an independent numpy model of SPEC §4; quantisation; lowering errors; netx
files. No Lava runs here (see test_lava.py)."""

import json

import numpy as np
import pytest
import torch

import snn
from snn import ir
from snn.backends.lava import intsim, lowering, netx, quantize
from snn.backends.lava.network import LavaNet, Layer, Neuron, Synapse


# --- an independent reference: SPEC §4 equations, one step at a time, plain numpy --------------------------------

def ref_weights(w):
    w = np.asarray(w, dtype=np.int64)
    if w.min() >= 0:
        return np.clip(w, 0, 255)
    if w.max() <= 0:
        return np.clip(w, -255, 0)
    w = np.clip(w, -256, 255)
    return (w // 2) * 2  # (w >> 1) << 1 = floor to even


def wrap32(x):
    """numpy int32 arithmetic, as Lava's fixed_pt models compute sums and the input shift."""
    return (np.asarray(x, np.int64) + 2 ** 31) % 2 ** 32 - 2 ** 31


def trunc0(p):
    return np.fix(p / 4096.0).astype(np.int64)  # |p| < 2^40: exact in float64


def ref_simulate(net, x):
    """Per-step numpy model; returns (output (T, B, n), {layer: (u, v)})."""
    T, B = x.shape[:2]
    s = x.reshape(T, B, -1).astype(np.int64)
    rec = {}
    for layer in net.layers:
        syn, nr = layer.synapse, layer.neuron
        w = ref_weights(syn.weight)
        d = np.zeros_like(w) if syn.delay is None else syn.delay
        n = nr.n
        u, v, prev = np.zeros((B, n), np.int64), np.zeros((B, n), np.int64), np.zeros((B, n), np.int64)
        out, us, vs = (np.zeros((T, B, n), np.int64) for _ in range(3))
        for t in range(T):
            a = np.zeros((B, n), np.int64)
            for k in np.unique(d):
                if t - k >= 0:
                    acc = s[t - k] @ np.where(d == k, w, 0).T
                    if syn.graded and syn.delay is None:
                        acc = wrap32(acc)  # Lava's graded Dense: an int32 dot product
                    a += acc * 2 ** syn.weight_exp if syn.weight_exp >= 0 else np.floor_divide(acc, 2 ** -syn.weight_exp)
            if layer.recurrent is not None:
                acc = prev @ ref_weights(layer.recurrent.weight).T
                e = layer.recurrent.weight_exp
                a += acc * 2 ** e if e >= 0 else np.floor_divide(acc, 2 ** -e)
            u = wrap32(trunc0(u * (4096 - nr.du - 1)) + wrap32(a) * 64)
            u = np.where(u > 2 ** 23, u - 2 ** 24, np.where(u <= -2 ** 23, u + 2 ** 24, u))
            v = np.clip(wrap32(trunc0(v * (4096 - nr.dv)) + u + np.asarray(nr.bias_mant) * 2 ** nr.bias_exp),
                        -(2 ** 23 - 1), 2 ** 23 - 1)
            if nr.kind == "readout":
                o = v.copy()
            else:
                sp = v > nr.vth * 64
                o = sp.astype(np.int64)
                v = np.where(sp, 0, v) if nr.kind == "lif" else v - sp * nr.vth * 64
            out[t], us[t], vs[t], prev = o, u, v, o
        rec[layer.name] = (us, vs)
        s = out
    return s, rec


def random_fixed_net(rng, n_in=6, sizes=(7, 5), *, delays=False, wrap=False, saturate=False, readout=True):
    layers, fan_in = [], n_in
    kinds = ["lif", "lif_subtract"]
    for i, n in enumerate(sizes):
        last = i == len(sizes) - 1
        kind = "readout" if (last and readout) else kinds[i % 2]
        hi = 600 if saturate else 255
        w = rng.integers(100, 256, (n, fan_in)) if wrap and i == 0 else rng.integers(-hi, hi + 1, (n, fan_in))
        d = rng.integers(0, 5, (n, fan_in)) if delays and i == 0 else None
        e = 6 if wrap else int(rng.integers(-3, 3))
        rec = Synapse(rng.integers(-200, 200, (n, n)), None, e) if (i == 0 and not last) else None
        vth = int(rng.integers(1, 2000)) if not wrap else int(rng.integers(2 ** 16, 2 ** 17 - 1))
        nr = Neuron(kind, n, int(rng.integers(0, 100 if wrap else 4096)), int(rng.integers(0, 4096)), vth,
                    rng.integers(-4096, 4096, n), int(rng.integers(0, 8)))
        layers.append(Layer(f"l{i}", Synapse(w, d, e, graded=i == 0), nr, rec))
        fan_in = n
    return LavaNet(layers, (n_in,), (sizes[-1],), "fixed_pt", 1.0)


def assert_matches_reference(net, x):
    """The integer simulator equals the numpy reference in output, u and v at every step; returns its result."""
    got = intsim.simulate(net, x, record=True)
    want, rec = ref_simulate(net, x)
    np.testing.assert_array_equal(got.output.numpy(), want)
    for name, (u, v) in rec.items():
        np.testing.assert_array_equal(got.records[name]["u"].numpy(), u)
        np.testing.assert_array_equal(got.records[name]["v"].numpy(), v)
    return got


@pytest.mark.parametrize("seed", range(12))
def test_intsim_matches_numpy_reference(seed):
    rng = np.random.default_rng(seed)
    net = random_fixed_net(rng, delays=seed % 2 == 0, wrap=seed % 3 == 0, saturate=seed % 4 == 1,
                           readout=seed % 5 != 0)
    x = rng.integers(0, 2, (25, 3, 6))
    assert_matches_reference(net, x)


def test_wrap_and_saturation_cases_are_exercised():
    """The random families above really reach the interesting corners."""
    rng = np.random.default_rng(0)
    net = random_fixed_net(rng, wrap=True)
    _, rec = ref_simulate(net, rng.integers(0, 2, (25, 3, 6)))
    u = rec["l0"][0]
    assert net.layers[0].synapse.weight.min() > 0 and u.min() < 0  # positive weights, spikes: only a wrap
    sat = random_fixed_net(np.random.default_rng(1), saturate=True)
    assert np.abs(sat.layers[0].synapse.weight).max() > 256


def test_intsim_wraps_current_at_24_bits():
    """Closed form: one input neuron, weight 255 << 7 per step into u with du = 4095 (u = a << 6 each step)."""
    net = LavaNet([Layer("l", Synapse(np.array([[255], [255]]), None, 7), Neuron("readout", 2, 4095, 4095, 0,
                                                                                    np.zeros(2, int), 0))],
                  (1,), (2,), "fixed_pt", 1.0)
    u = intsim.simulate(net, np.ones((1, 1, 1)), record=True).records["l"]["u"]
    assert u[0, 0, 0].item() == 255 * 2 ** 7 * 64  # 2088960 < 2^23: no wrap
    big = LavaNet([Layer("l", Synapse(np.array([[255]]), None, 7), Neuron("readout", 1, 4095, 4095, 0,
                                                                          np.zeros(1, int), 0))], (1,), (1,),
                  "fixed_pt", 1.0)
    xs = np.full((1, 1, 1), 5)  # graded input 5: a = 5 * 255 * 128, u = a * 64 = 10444800 > 2^23
    u = intsim.simulate(big, xs, record=True).records["l"]["u"].item()
    assert u == 5 * 255 * 128 * 64 - 2 ** 24


# --- quantisation and lowering ---------------------------------------------------------------------------------------

def chain(seed=0, reset="zero", n_in=10, hidden=16, n_out=4, bias=True, delay=None):
    rng = np.random.default_rng(seed)
    fc1 = (ir.DelayLinear(rng.normal(0, 0.4, (hidden, n_in)), delay, None) if delay is not None
           else ir.Linear(rng.normal(0, 0.4, (hidden, n_in)), rng.normal(0, 0.05, hidden) if bias else None))
    return ir.Graph.chain({"fc1": fc1,
                           "lif1": ir.LIF(np.full(hidden, 8.0), np.full(hidden, 1.0), reset, 1.0),
                           "fc2": ir.Linear(rng.normal(0, 0.4, (n_out, hidden))),
                           "out": ir.LI(np.full(n_out, 15.0), 1.0)}, (n_in,), 1.0)


def test_quantised_parameters_follow_the_formulas():
    g = chain()
    net = quantize.quantize(lowering.lower(g))
    l1 = net.layers[0]
    w = g.nodes["fc1"].weight
    m = 254 / np.abs(w).max()
    assert l1.neuron.dv == round(4096 * (1 - np.exp(-1 / 8.0)))
    assert l1.neuron.du == 4095
    s = m * 2.0 ** l1.synapse.weight_exp
    assert l1.neuron.vth == round(s) and 2 ** 11 < l1.neuron.vth <= 2 ** 12
    np.testing.assert_array_equal(l1.synapse.weight, 2 * np.round(w * m / 2))
    np.testing.assert_array_equal(l1.neuron.bias_mant, np.round(g.nodes["fc1"].bias * s))


def test_loihi_backend_tracks_torch_on_a_random_network():
    g = chain(seed=3, reset="subtract")
    x = (torch.rand(40, 8, 10, generator=torch.Generator().manual_seed(0)) < 0.3).float()
    ref = snn.backends.get("torch").build(g)(x)
    got = snn.backends.get("loihi").build(g)(x)
    err = (got - ref).abs().max().item() / ref.abs().max().item()
    assert err < 0.1  # quantisation cost on the readout membrane, relative


def test_lowering_errors_name_the_layer_and_option():
    with pytest.raises(ValueError, match=r"'lif1'.*reset='none'"):
        lowering.lower(chain(reset="none"))
    d = np.zeros((16, 10), int)
    d[3, 4] = 64
    with pytest.raises(ValueError, match=r"'fc1'.*delay.*63.*64"):
        lowering.lower(chain(delay=d))
    g = chain()
    g.nodes["lif1"].threshold[0] = 2.0
    with pytest.raises(ValueError, match=r"'lif1'.*threshold"):
        lowering.lower(g)
    g = ir.Graph.chain({"fc": ir.Linear(np.ones((3, 2))), "lif": ir.CubaLIF(np.full(3, 5.0), np.ones(3), "zero",
                                                                            1.0, tau_syn=np.full(3, 2.0))}, (2,), 1.0)
    lowering.lower(g)  # fine without a bias
    g.nodes["fc"].bias = np.ones(3, np.float32)
    with pytest.raises(ValueError, match=r"'lif'.*CubaLIF.*bias"):
        lowering.lower(g)


def test_out_of_range_parameters_name_the_layer():
    g = chain()
    g.nodes["fc1"].bias[:] = 50.0  # 50 thresholds per step: beyond the 13-bit bias mantissa
    with pytest.raises(ValueError, match=r"'lif1'.*bias mantissa"):
        quantize.quantize(lowering.lower(g))


def test_empty_batch_and_bad_input_are_refused():
    model = snn.backends.get("loihi").build(chain())
    with pytest.raises(ValueError, match=r"batch of B >= 1"):
        model(torch.zeros(5, 0, 10))
    with pytest.raises(ValueError, match=r"expected shape \(T, B, 10\)"):
        model(torch.zeros(5, 2, 9))
    with pytest.raises(ValueError, match="integer values"):
        model(torch.full((5, 2, 10), 0.5))


def test_delay_linear_on_loihi_matches_closed_form():
    """One synapse, weight w, delay 3: the readout membrane sees the input spike exactly 3 steps later."""
    g = ir.Graph.chain({"d": ir.DelayLinear(np.array([[0.5]]), np.array([[3]])),
                        "o": ir.LI(np.array([1e9]), 1.0)}, (1,), 1.0)
    x = torch.zeros(8, 1, 1)
    x[1] = 1
    with pytest.warns(quantize.QuantisationWarning, match=r"'o'.*tau_mem.*no leak"):  # tau 1e9 ms: no leak, lossy
        model = snn.backends.get("loihi").build(g, quantize.QuantConfig(lossy=True))
    y = model(x)[:, 0, 0]
    assert torch.nonzero(y).flatten().tolist() == list(range(4, 8))
    assert y[4].item() == pytest.approx(0.5, rel=1e-3)


# --- netx -----------------------------------------------------------------------------------------------------------

def test_netx_round_trip_and_manifest(tmp_path):
    rng = np.random.default_rng(5)
    net = random_fixed_net(rng, delays=True)
    for layer in net.layers:
        layer.neuron.bias_exp = quantize.BIAS_EXP
        layer.synapse.weight = np.clip(layer.synapse.weight, -256, 255)
    out = netx.export(net, tmp_path / "exp", source="unit test", extensions=True)  # subtract reset, exponents
    back = netx.read(out)
    x = rng.integers(0, 2, (15, 2, 6))
    np.testing.assert_array_equal(intsim.simulate(back, x).output.numpy(), ref_simulate(net, x)[0])
    man = json.loads((out / "manifest.json").read_text())
    assert man["latency_steps"] == 2 and man["layers"][0]["max_delay"] == net.layers[0].synapse.max_delay
    import h5py
    with h5py.File(out / "network.net") as f:
        assert f["layer/1/neuron/iDecay"][()] == net.layers[0].neuron.du + 1
        assert f["layer/1/neuron/vThMant"][()] == net.layers[0].neuron.vth


def test_netx_export_is_atomic(tmp_path, monkeypatch):
    net = quantize.quantize(lowering.lower(chain()), quantize.QuantConfig(netx=True))

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(netx, "_write_h5", boom)
    with pytest.raises(OSError):
        netx.export(net, tmp_path / "exp")
    assert list(tmp_path.iterdir()) == []
    monkeypatch.undo()
    netx.export(net, tmp_path / "exp")
    with pytest.raises(ValueError, match="not an empty directory"):
        netx.export(net, tmp_path / "exp")
    bad = quantize.quantize(lowering.lower(chain()))
    bad.layers[0].neuron.vth = 2 ** 17
    with pytest.raises(ValueError, match=r"'lif1'.*vth"):
        netx.export(bad, tmp_path / "exp2")
    assert not (tmp_path / "exp2").exists()
