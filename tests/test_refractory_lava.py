"""RefractoryLIF on Lava: the custom process (float) against the torch backend spike for spike on a self-organised
NALSM liquid; the integer step against an independent numpy model and against real Lava fixed_pt, bit for bit."""

import dataclasses

import numpy as np
import pytest
import torch

import snn
from snn.backends.lava import intsim, lowering, quantize, runtime
from snn.backends.lava.network import LavaNet, Layer, Neuron, Synapse
from snn.nalsm import Liquid, LiquidConfig, to_ir

pytestmark = pytest.mark.timeout(300)


def _liquid_graph():
    liq = Liquid(10, LiquidConfig(side=3, seed=1))
    x = (torch.rand(40, 2, 10, generator=torch.Generator().manual_seed(0)) < 0.3).float()
    liq.run(x, "astro")  # self-organised: weights no longer all +-3
    return to_ir(liq), x


def test_float_process_matches_the_torch_backend_spike_for_spike():
    graph, x = _liquid_graph()
    want = snn.backends.get("torch").build(graph, dtype=torch.float64)(x.double()).numpy()
    net = lowering.lower(graph)
    assert [la.neuron.kind for la in net.layers] == ["lif_refractory"] and net.layers[0].recurrent is not None
    got = runtime.run(net, x.numpy().astype(np.float64)).output
    assert want.sum() > 20
    np.testing.assert_array_equal(got, want)
    # the refractory period matters here: without it the torch backend gives other spikes
    graph.nodes["liquid"] = dataclasses.replace(graph.nodes["liquid"], refractory=0)
    assert not np.array_equal(snn.backends.get("torch").build(graph, dtype=torch.float64)(x.double()).numpy(), want)


# --- an independent integer reference: SPEC §4's LIF, one step at a time, plus the refractory hold ---------------

def _trunc(p):
    return np.fix(p / 4096.0).astype(np.int64)


def _eff(w):
    w = np.asarray(w, np.int64)
    if w.min() >= 0:
        return np.clip(w, 0, 255)
    return np.clip(w, -255, 0) if w.max() <= 0 else (np.clip(w, -256, 255) // 2) * 2


def _shift(a, e):
    return a * 2 ** e if e >= 0 else np.floor_divide(a, 2 ** -e)


def ref_layer(layer, x):
    """(spikes, u, v), each (T, B, n), for one fixed-point refractory layer fed integer input x (T, B, in); the
    values stay far from any 32-bit wrap or 24-bit saturation (checked by the caller's choice of ranges)."""
    syn, rec, nr = layer.synapse, layer.recurrent, layer.neuron
    T, B, _ = x.shape
    u, v, ref, prev = (np.zeros((B, nr.n), np.int64) for _ in range(4))
    out, us, vs = (np.zeros((T, B, nr.n), np.int64) for _ in range(3))
    for t in range(T):
        a = _shift(x[t] @ _eff(syn.weight).T, syn.weight_exp) + _shift(prev @ _eff(rec.weight).T, rec.weight_exp)
        u = _trunc(u * (4096 - nr.du - 1)) + a * 64
        v = _trunc(v * (4096 - nr.dv)) + u + np.asarray(nr.bias_mant) * 2 ** nr.bias_exp
        v = np.where(ref > 0, 0, v)
        s = v > nr.vth * 64
        v = np.where(s, 0, v)
        ref = np.where(s, nr.extra["refractory"], np.maximum(ref - 1, 0))
        out[t], us[t], vs[t], prev = s, u, v, s.astype(np.int64)
    return out, us, vs


def random_net(seed, refractory=3, n_in=6, n=9):
    rng = np.random.default_rng(seed)
    layer = Layer("liq", Synapse(rng.integers(-255, 256, (n, n_in)), None, 1, graded=False),
                  Neuron("lif_refractory", n, int(rng.integers(0, 4096)), int(rng.integers(0, 800)),
                         int(rng.integers(100, 600)), rng.integers(-100, 100, n), 3, {"refractory": refractory}),
                  Synapse(rng.integers(-200, 200, (n, n)), None, 1))
    return LavaNet([layer], (n_in,), (n,), "fixed_pt", 1.0)


@pytest.mark.parametrize("seed", range(4))
def test_int_step_matches_the_numpy_reference(seed):
    net = random_net(seed, refractory=1 + seed)
    x = np.random.default_rng(10 + seed).integers(0, 2, (30, 3, 6))
    got = intsim.simulate(net, x, record=True)
    s, u, v = ref_layer(net.layers[0], x)
    assert not any(got.overflow.values())
    np.testing.assert_array_equal(got.output.numpy(), s)
    np.testing.assert_array_equal(got.records["liq"]["u"].numpy(), u)
    np.testing.assert_array_equal(got.records["liq"]["v"].numpy(), v)
    assert 0.05 < s.mean() < 0.6
    plain = dataclasses.replace(net.layers[0], neuron=dataclasses.replace(net.layers[0].neuron, kind="lif"))
    assert not np.array_equal(intsim.simulate(LavaNet([plain], (6,), (9,), "fixed_pt", 1.0), x).output.numpy(), s)


def test_int_step_is_bit_exact_with_lava_fixed_pt():
    net = random_net(7, refractory=2)
    x = (np.random.default_rng(4).random((16, 2, 6)) < 0.5).astype(np.int64)
    lava = runtime.run(net, x, record=True)
    sim = intsim.simulate(net, x, record=True)
    assert sim.output.sum() > 10
    np.testing.assert_array_equal(sim.output.numpy(), lava.output)
    for var in ("u", "v"):
        np.testing.assert_array_equal(sim.records["liq"][var].numpy(), lava.records["liq"][var], var)


def test_quantised_liquid_runs_on_lava_fixed_pt_like_the_integer_simulator():
    graph, x = _liquid_graph()
    net = quantize.quantize(lowering.lower(graph))
    xi = x.numpy().astype(np.int64)
    lava = runtime.run(net, xi)
    sim = intsim.simulate(net, xi)
    assert sim.output.sum() > 20
    np.testing.assert_array_equal(sim.output.numpy(), lava.output)


def test_refractory_beyond_the_counter_is_refused():
    graph, _ = _liquid_graph()
    graph.nodes["liquid"] = dataclasses.replace(graph.nodes["liquid"], refractory=300)
    with pytest.raises(ValueError, match=r"layer 'liquid' \(RefractoryLIF\): refractory=300 steps: expected at most"):
        lowering.lower(graph)
