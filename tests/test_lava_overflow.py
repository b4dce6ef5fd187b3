"""Overflow in the Loihi integer simulator: it wraps exactly where lava-nc 0.10.0's fixed_pt models wrap (int32 sums
and input shift, 24-bit u, saturating v), counts those events per layer, `snn eval` / `snn run` warn about them, and
the head room the docs state holds. Also the exact float64 products that let `loihi` run on CUDA."""

import math
import warnings

import numpy as np
import pytest
import torch

import snn
from snn import ir
from snn.backends.lava import intsim, runtime
from snn.backends.lava.intsim import IntegerOverflowWarning, Overflow
from snn.backends.lava.network import LavaNet, Layer, Neuron, Synapse
from test_lava_intsim import assert_matches_reference, random_fixed_net

BIG = 2 ** 23 - 1  # the largest fixed-point input (24-bit graded spike)


# --- exactness with 32-bit wraps --------------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(6))
def test_intsim_matches_reference_when_32_bit_sums_wrap(seed):
    rng = np.random.default_rng(seed)
    net = random_fixed_net(rng, delays=seed % 2 == 0, readout=seed % 3 != 0)
    x = rng.integers(-BIG, BIG + 1, (20, 3, 6))
    got = assert_matches_reference(net, x)
    assert got.overflow["l0"].input > 0  # the 32-bit wrap really happened


def one_readout(e=7):
    """One graded input, weight mantissa 254 << e, no current decay (u = a << 6 each step), no leak on v."""
    return LavaNet([Layer("r", Synapse(np.array([[254]]), None, e, graded=True),
                          Neuron("readout", 1, 4095, 0, 0, np.zeros(1, int), 0))], (1,), (1,), "fixed_pt", 1.0)


@pytest.mark.parametrize("xs,want", [
    ([1] * 10, Overflow(0, 0, 6)),      # u = 2080768 per step: v passes 2^23 - 1 at the 5th step, stays clipped
    ([4, 0, 0], Overflow(0, 0, 0)),     # u = 8323072 <= 2^23: fits
    ([5, 0, 0], Overflow(0, 1, 0)),     # u = 10403840 > 2^23: one 24-bit wrap, v = u (negative) fits
    ([1033, 0], Overflow(1, 1, 1)),     # a << 6 = 2149433344 > 2^31 - 1: 32-bit wrap, then u and v out of range
])
def test_overflow_counts_in_closed_form(xs, want):
    """a = 254 * 2^7 * x = 32512 x; u = a << 6 = 2080768 x (du = 4095); v accumulates u (dv = 0)."""
    res = intsim.simulate(one_readout(), np.array(xs).reshape(-1, 1, 1))
    assert res.overflow == {"r": want}


def big_input_net(kind0, delays, e0, seed=0):
    """Graded first layer (Dense with e < 0: Lava's int32 dot, or DelayDense), recurrence, three neuron kinds."""
    rng = np.random.default_rng(seed)
    n_in, n1, n2, n3 = 5, 6, 5, 3
    l1 = Layer("h", Synapse(rng.integers(-256, 256, (n1, n_in)), rng.integers(0, 3, (n1, n_in)) if delays else None,
                            e0, graded=True),
               Neuron(kind0, n1, 100, 300, 2 ** 16, rng.integers(-100, 100, n1), 3),
               None if delays else Synapse(rng.integers(150, 256, (n1, n1)), None, 7))
    l2 = Layer("g", Synapse(rng.integers(100, 256, (n2, n1)), None, 7),
               Neuron("lif_subtract" if kind0 == "lif" else "lif", n2, 10, 30, 2 ** 15, np.zeros(n2, int), 0))
    l3 = Layer("o", Synapse(rng.integers(-255, 256, (n3, n2)), None, 7),
               Neuron("readout", n3, 0, 10, 0, rng.integers(-50, 50, n3), 2))
    return LavaNet([l1, l2, l3], (n_in,), (n3,), "fixed_pt", 1.0)


@pytest.mark.timeout(300)
@pytest.mark.parametrize("kind0,delays,e0", [("lif", False, -2), ("lif_subtract", True, 3)])
def test_intsim_is_bit_exact_with_lava_when_everything_overflows(kind0, delays, e0):
    """Inputs up to 2^23 - 1 on a real Lava fixed_pt run: 32-bit input wraps, u wraps, v saturation, all equal."""
    net = big_input_net(kind0, delays, e0)
    rng = np.random.default_rng(1)
    x = rng.integers(-BIG, BIG + 1, (12, 2, 5))
    x[:, :, 0] = BIG
    lava = runtime.run(net, x, record=True)
    sim = intsim.simulate(net, x, record=True)
    np.testing.assert_array_equal(sim.output.numpy(), lava.output)
    for name in ("h", "g", "o"):
        for var in ("u", "v"):
            np.testing.assert_array_equal(sim.records[name][var].numpy(), lava.records[name][var], f"{name}.{var}")
    h = sim.overflow["h"]
    assert h.input > 0 and h.u_wrap > 0 and h.v_clip > 0 and sim.overflow["g"].u_wrap > 0


def test_inputs_beyond_24_bits_are_refused():
    with pytest.raises(ValueError, match=r"within \+-8388607 .*24 bits"):
        intsim.simulate(one_readout(), np.full((2, 1, 1), 2 ** 23))


# --- the CubaLIF of the issue: steady input of 2 thresholds --------------------------------------------------------

def cuba_model():
    model = snn.Sequential(snn.Linear(1, 2, bias=False),
                           snn.CubaLIF(2, tau_mem=20.0, tau_syn=20.0, threshold=1.0, reset="zero"))
    with torch.no_grad():
        model[0].weight.fill_(1.0)
    return model


def steady(value, T=80, n=3):
    return [(torch.full((T, 1), float(value)), i % 2) for i in range(n)]


def test_cuba_wrap_is_counted_and_reported_by_eval():
    from snn.train.evaluate import evaluate_on_backend

    model = cuba_model()
    layer = [n for n, node in snn.lower(model, (1,)).nodes.items() if isinstance(node, ir.CubaLIF)][0]
    with pytest.warns(IntegerOverflowWarning, match=rf"loihi: integer overflow \(layer '{layer}': u wrapped "
                                                    rf"[1-9]\d*x"):
        evaluate_on_backend(model, steady(2), kind="sum", num_classes=2, backend="loihi", progress=False)
    # the counts are the wraps that make the spikes differ from torch: u wraps at step 30
    built = snn.backends.get("loihi").build(snn.lower(model, (1,)))
    x = torch.full((80, 1, 1), 2.0)
    res = intsim.simulate(built.net, x, record=True)
    u = res.records[layer]["u"][:, 0, 0]
    assert int(torch.nonzero(u < 0)[0]) == 30 and res.overflow[layer].u_wrap > 0
    assert built(x).sum() < snn.backends.get("torch").build(snn.lower(model, (1,)))(x).sum()
    with warnings.catch_warnings():  # one threshold per step is within the head room: silent
        warnings.simplefilter("error")
        evaluate_on_backend(model, steady(1), kind="sum", num_classes=2, backend="loihi", progress=False)


def test_cuba_wrap_is_reported_by_snn_run():
    from snn.backends.lava.cli import run_on_dataset

    model = cuba_model()
    graph = snn.lower(model, (1,))
    with pytest.warns(IntegerOverflowWarning, match=r"layer '.*': u wrapped [1-9]"):
        run_on_dataset(graph, steady(2), "loihi", 3, 2, progress=False)


# --- head room and ranges stated in docs/backends/lava.md -----------------------------------------------------------

def cuba_layer(weight, threshold, tau_syn, dt=1.0):
    return ir.Graph.chain({"fc": ir.Linear(np.array([[weight]])),
                           "c": ir.CubaLIF(np.full(1, 20.0), np.full(1, threshold), "zero", dt,
                                           tau_syn=np.full(1, tau_syn))}, (1,), dt)


def u_wraps(graph, steps):
    model = snn.backends.get("loihi").build(graph)
    model(torch.ones(steps, 1, 1))
    return model.overflow["c"].u_wrap, model.net.layers[0].neuron


@pytest.mark.parametrize("tau_syn,threshold", [(2.0, 1.0), (10.0, 0.3), (50.0, 1.0), (20.0, 3.0)])
def test_cuba_head_room(tau_syn, threshold):
    """docs: u wraps once a steady input exceeds H = 2^17 / vth * (du + 1) / 4096 thresholds per step (vth the
    layer's quantised threshold), H >= 32 (du + 1) / 4096 ~ 32 (1 - exp(-dt / tau_syn)) ~ 32 dt / tau_syn at the
    default vth_bits = 12, and H < 64 (du + 1) / 4096 unless e stopped at 7 (vth <= 2^11, more head room)."""
    steps = int(10 * tau_syn) + 20
    gain = 1 - math.exp(-1 / tau_syn)
    for per_step in np.geomspace(16, 90, 14) * gain:  # steady input in thresholds per step
        n, nr = u_wraps(cuba_layer(per_step * threshold, threshold, tau_syn), steps)
        assert (nr.du + 1) / 4096 == pytest.approx(gain, rel=0.01)
        head = 2 ** 17 / nr.vth * (nr.du + 1) / 4096
        assert head >= 32 * (nr.du + 1) / 4096 and (head < 64 * (nr.du + 1) / 4096 or nr.vth <= 2 ** 11)
        if abs(per_step / head - 1) > 0.02:
            assert (n > 0) == (per_step > head), (per_step, head, n)
        if per_step < 0.97 * 32 * gain:
            assert n == 0


def test_li_readout_range():
    """docs: the readout membrane saturates at +-(2^23 - 1) / out_scale = +-(2^23 - 1) / (64 * 254) * max|W|."""
    w = np.array([[0.5, 0.25]])
    g = ir.Graph.chain({"fc": ir.Linear(w), "out": ir.LI(np.full(1, 20.0), 1.0)}, (2,), 1.0)
    model = snn.backends.get("loihi").build(g)
    x = torch.full((60, 1, 2), 100.0)  # 62.5 float units per step, gain 20.5: the float membrane passes 1000
    y = model(x)
    limit = (2 ** 23 - 1) / (64 * 254) * 0.5
    assert snn.backends.get("torch").build(g)(x).max() > limit
    assert y.max().item() == pytest.approx(limit, rel=1e-6)
    assert model.overflow["out"].v_clip > 0 and model.overflow["out"].u_wrap == 0
    with pytest.warns(IntegerOverflowWarning, match=r"'out': u wrapped 0x, v saturated [1-9]"):
        model.warn_overflow()
    assert model.overflow == {}


# --- exact products without integer matmul (CUDA) ------------------------------------------------------------------

def test_float64_products_equal_int64_on_worst_case_inputs():
    rng = np.random.default_rng(0)
    fan_in = 4096
    w = torch.as_tensor(rng.choice([-256, 255, 254, -254], (5, fan_in)))
    s = torch.as_tensor(rng.choice([-BIG, BIG, BIG - 1], (3, 2, fan_in)))
    same = torch.full((1, 1, fan_in), BIG), torch.full((1, fan_in), -256)  # every product -2^31 + 256: the largest sum
    cpu = torch.device("cpu")
    for s_, w_ in ((s, w), same):
        assert intsim.matmul_dtype(fan_in, BIG, cpu, "t") == torch.float64
        exact = intsim.exact_matmul(s_, w_, torch.int64)
        assert torch.equal(intsim.exact_matmul(s_, w_, torch.float64), exact)
    assert not torch.equal(intsim.exact_matmul(s, w, torch.float32), intsim.exact_matmul(s, w, torch.int64))


def test_matmul_dtype_bound_and_cuda_refusal():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert intsim.matmul_dtype(2 ** 22, BIG, cuda, "t") == torch.float64        # 256 (2^23 - 1) 2^22 < 2^53
    assert intsim.matmul_dtype(2 ** 22 + 1, BIG, cpu, "t") == torch.int64       # beyond: int64 on the CPU
    with pytest.raises(ValueError, match=r"layer 'x'.*< 2\^53 on cuda .*device='cpu'"):
        intsim.matmul_dtype(2 ** 22 + 1, BIG, cuda, "layer 'x'")


def test_loihi_on_cuda_runs_exactly_or_says_why():
    g = ir.Graph.chain({"fc": ir.Linear(np.random.default_rng(0).normal(0, 1, (4, 3))),
                        "lif": ir.LIF(np.full(4, 10.0), np.ones(4), "zero", 1.0),
                        "fc2": ir.Linear(np.random.default_rng(1).normal(0, 1, (2, 4))),
                        "out": ir.LI(np.full(2, 10.0), 1.0)}, (3,), 1.0)
    x = (torch.rand(30, 4, 3, generator=torch.Generator().manual_seed(0)) < 0.5).float()
    if torch.cuda.is_available():
        got = snn.backends.get("loihi").build(g, device="cuda")(x.cuda()).cpu()
        assert torch.equal(got, snn.backends.get("loihi").build(g)(x))
    else:
        with pytest.raises(ValueError, match=r"device: expected 'cpu' or an available GPU, got 'cuda'"):
            snn.backends.get("loihi").build(g, device="cuda")
