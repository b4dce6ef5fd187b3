"""NALSM: trace STDP and the astrocyte rule against hand references, the seeded liquid, the branching factor, the
frozen liquid's lowering (torch backend identical; Lava's custom refractory kind), and bad input."""

import pytest
import torch

from snn import ir
from snn.backends.lava import lowering as lava_lowering
from snn.nalsm import Liquid, LiquidConfig, branching_factor, features, to_ir
from snn.plasticity import astrocyte_step, stdp_update, trace_step


def test_trace_and_stdp_against_loops():
    g = torch.Generator().manual_seed(0)
    B, pre, post = 3, 5, 4
    x_pre, x_post = torch.rand(B, pre, generator=g, dtype=torch.float64), torch.rand(B, post, generator=g,
                                                                                     dtype=torch.float64)
    s_pre = (torch.rand(B, pre, generator=g) < 0.5).double()
    s_post = (torch.rand(B, post, generator=g) < 0.5).double()
    w = torch.rand(post, pre, generator=g, dtype=torch.float64) * 2 - 1
    mask = torch.rand(post, pre, generator=g) < 0.7
    plus, minus = torch.rand(B, pre, generator=g, dtype=torch.float64), torch.rand(B, 1, generator=g,
                                                                                  dtype=torch.float64)
    lo, hi = torch.full((pre,), -0.5, dtype=torch.float64), torch.full((pre,), 0.6, dtype=torch.float64)
    got = stdp_update(w, mask, x_pre, s_pre, x_post, s_post, plus, minus, lo, hi)
    want = w.clone()
    for i in range(post):
        for j in range(pre):
            if mask[i, j]:
                dw = sum(plus[b, j] * x_pre[b, j] * s_post[b, i] - minus[b, 0] * x_post[b, i] * s_pre[b, j]
                         for b in range(B))
                want[i, j] = min(max(w[i, j] + dw, lo[j]), hi[j])
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    assert torch.equal(trace_step(torch.tensor([1.0]), torch.tensor([1.0]), 0.5), torch.tensor([0.55]))


def test_astrocyte_rule_by_hand():
    a = astrocyte_step(torch.tensor([0.15, 0.3]), torch.tensor([[1.0, 1, 1], [0, 0, 0]]),
                       torch.tensor([[1.0, 0], [1, 1]]), 0.015)
    want = [0.15 + (0.015 * (3 - 1) + 0.15 - 0.15) / 100, 0.3 + (0.015 * (0 - 2) + 0.15 - 0.3) / 100]
    torch.testing.assert_close(a, torch.tensor(want), rtol=1e-6, atol=1e-9)


def test_liquid_is_seeded_and_follows_the_spec():
    a, b = Liquid(20, LiquidConfig(side=6, seed=3)), Liquid(20, LiquidConfig(side=6, seed=3))
    assert torch.equal(a.w, b.w) and torch.equal(a.w_in, b.w_in)
    assert not torch.equal(a.w, Liquid(20, LiquidConfig(side=6, seed=4)).w)
    assert a.excitatory.sum() == round(0.8 * 216) and not a.mask.diagonal().any()
    exc = a.excitatory
    assert torch.all(a.w[:, exc][a.mask[:, exc]] == 3) and torch.all(a.w[:, ~exc][a.mask[:, ~exc]] == -3)
    assert 0.1 < a.in_mask.double().mean() < 0.2
    # neighbours connect far more often than neurons 4 grid steps apart (exp(-(D/3)^2))
    pos = torch.cartesian_prod(*(torch.arange(6.0),) * 3)
    d = torch.cdist(pos, pos)
    assert a.mask[d == 1].double().mean() > 5 * a.mask[d >= 4].double().mean()


def test_branching_factor_by_hand():
    # neuron 2 -> neuron 0 -> neuron 1; window 2, no buffer: counted steps 2 .. 5 of 8
    mask = torch.zeros(3, 3, dtype=torch.bool)
    mask[0, 2] = mask[1, 0] = True
    s = torch.zeros(8, 2, 3)
    s[0, 0, 2] = s[1, 0, 2] = 1         # two presynaptic spikes before neuron 0's at t = 2 (neuron 2 itself: too early)
    s[2, 0, 0] = 1                      # neuron 0: 2 postsynaptic spikes (t = 3, 4) over 2 presynaptic -> 1
    s[3, 0, 1] = s[4, 0, 1] = 1         # neuron 1: no targets, one presynaptic spike before each -> 0 and 0
    s[7, 1, 0] = 1                      # sample 1: a spike outside the counted steps only -> NaN, left out
    assert branching_factor(s, mask, window=2, buffer=0) == pytest.approx(0.5)   # mean of neurons 0 and 1
    s[5, 0, 1] = 1                      # neuron 0's third descendant falls outside its window: unchanged
    assert branching_factor(s, mask, window=2, buffer=0) == pytest.approx(0.5)
    s[1, 0, 0] = 1                      # ... and a neuron-0 spike at t = 1 is before the counted steps
    assert branching_factor(s, mask, window=2, buffer=0) == pytest.approx((1 + 0) / 2)
    with pytest.raises(ValueError, match="need more than 58 steps"):
        branching_factor(torch.zeros(40, 1, 3), mask)


def test_frozen_liquid_lowers_and_runs_identically_after_save_and_load(tmp_path):
    liq = Liquid(30, LiquidConfig(side=5, seed=1))
    x = (torch.rand(60, 2, 30, generator=torch.Generator().manual_seed(0)) < 0.3).float()
    liq.run(x, "astro")                                          # self-organise a little
    spikes = liq.run(x)
    assert 0 < spikes.mean() < 0.5
    ir.save(to_ir(liq), tmp_path / "liquid.h5")
    graph = ir.load(tmp_path / "liquid.h5")
    assert [type(n).__name__ for n in graph.nodes.values()] == ["Linear", "RefractoryLIF"]
    from snn.backends import torch as torch_backend

    assert torch.equal(torch_backend.build(graph)(x), spikes)
    net = lava_lowering.lower(graph)  # the custom refractory process (tests/test_refractory_lava.py runs it)
    assert [la.neuron.kind for la in net.layers] == ["lif_refractory"] and net.layers[0].neuron.extra == {"refractory": 2}


def test_refractory_zero_lowers_to_an_ordinary_lava_lif():
    liq = Liquid(10, LiquidConfig(side=3, refractory_ms=0.0))
    net = lava_lowering.lower(to_ir(liq))
    assert [la.neuron.kind for la in net.layers] == ["lif"] and net.layers[0].recurrent is not None


@pytest.mark.parametrize("kwargs, message", [
    (dict(connect=(0.2, 1.5, 0.3, 0.05)), r"connect\[1\]: expected a probability in \[0, 1\]"),
    (dict(input_density=-0.1), r"input_density: expected a probability"),
    (dict(side=0), "side: expected a positive integer"), (dict(tau_mem=0.0), "tau_mem: expected"),
    (dict(refractory_ms=-1.0), "refractory_ms: expected"),
])
def test_bad_config_names_the_argument(kwargs, message):
    with pytest.raises(ValueError, match=f"NALSM: {message}"):
        LiquidConfig(**kwargs)


def test_input_shape_must_match_the_input_layer():
    liq = Liquid(10, LiquidConfig(side=3))
    with pytest.raises(ValueError, match=r"NALSM: input: expected shape \(T, B, 10\) \(the liquid's input layer\), "
                                         r"got \(5, 2, 11\)"):
        liq.run(torch.zeros(5, 2, 11))
    with pytest.raises(ValueError, match="NALSM: plasticity"):
        liq.run(torch.zeros(5, 2, 10), "hebb")


def test_features_are_l1_normalised_counts():
    s = torch.tensor([[[1.0, 0.0]], [[1.0, 1.0]], [[0.0, 0.0]]])
    assert torch.equal(features(s), torch.tensor([[2 / 3, 1 / 3]]))
