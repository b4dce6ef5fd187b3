"""AstroLIF (AM-SU-style astrocyte-modulated LIF) against an independent float64 step-by-step reference."""

import math

import pytest
import torch

import snn
import snn.models
from snn.neurons.astro import astro_lif_step


class _AtanSpike(torch.autograd.Function):
    """Heaviside(x > 0) with the atan pseudo-derivative (a / 2) / (1 + (pi / 2 a x)^2), written out here."""

    @staticmethod
    def forward(ctx, x, a):
        ctx.save_for_backward(x)
        ctx.a = a
        return (x > 0).double()

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * (ctx.a / 2) / (1 + (math.pi / 2 * ctx.a * x) ** 2), None


def reference(x, K, V, Q, lam, beta, theta, normalise, slope=2.0):
    """The figure's equations, one domain and one sample at a time with plain matrix products (float64)."""
    T, B, n = x.shape
    G, m = V.shape[:2]
    out = []
    for b in range(B):
        u = torch.zeros(n, dtype=torch.float64)
        s = torch.zeros(n, dtype=torch.float64)
        H = [torch.zeros(m, K.shape[1], dtype=torch.float64) for _ in range(G)]
        spikes = []
        for t in range(T):
            o = []
            for g in range(G):
                xg = x[t, b, g * m:(g + 1) * m]
                k, v, q = K[g] @ xg, V[g] @ xg, Q[g] @ xg
                c = (1 - lam[g]) if normalise == "ema" else torch.ones_like(lam[g])
                H[g] = lam[g][None, :] * H[g] + c[None, :] * torch.outer(v, k)
                o.append(H[g] @ q)
            u = beta * u * (1 - s.detach()) + x[t, b]
            s = _AtanSpike.apply(u + torch.cat(o) - theta, slope)
            spikes.append(s)
        out.append(torch.stack(spikes))
    return torch.stack(out, 1)


@pytest.mark.parametrize("groups, normalise", [(1, "ema"), (3, "ema"), (2, "none")])
def test_outputs_and_gradients_match_the_reference(groups, normalise):
    torch.manual_seed(groups)
    n, T, B = 6, 25, 3
    layer = snn.AstroLIF(n, groups=groups, key_size=4, decay=torch.rand(groups, 4) * 0.9 + 0.05,
                         normalise=normalise, tau_mem=7.0, threshold=0.8, learn_tau=True).double()
    with torch.no_grad():
        for w in (layer.key_weight, layer.value_weight, layer.query_weight):
            w.mul_(3)  # a feedback large enough to change which neurons spike
    x = (torch.rand(T, B, n, dtype=torch.float64) * 1.2).requires_grad_()
    readout = torch.randn(T, B, n, dtype=torch.float64)
    s, _ = layer(x)
    params = [layer.key_weight, layer.value_weight, layer.query_weight, layer.decay_logit, layer.tau_mem]
    grads = torch.autograd.grad((s * readout).sum(), [x, *params])

    x2 = x.detach().clone().requires_grad_()
    K, V, Q, rho, tau = (p.detach().clone().requires_grad_() for p in params)
    ref = reference(x2, K, V, Q, torch.sigmoid(rho), torch.exp(-1.0 / tau), layer.threshold, normalise)
    ref_grads = torch.autograd.grad((ref * readout).sum(), [x2, K, V, Q, rho, tau])

    assert 0.05 < ref.mean() < 0.95
    torch.testing.assert_close(s, ref, rtol=0, atol=0)
    for name, g, r in zip(["x", "key", "value", "query", "decay", "tau_mem"], grads, ref_grads):
        torch.testing.assert_close(g, r, rtol=1e-9, atol=1e-11, msg=lambda m: f"grad {name}: {m}")


def test_the_astrocyte_changes_the_spikes():
    # The same drive with and without the feedback o_t: the astrocyte must matter (else the test above is vacuous).
    torch.manual_seed(1)
    layer = snn.AstroLIF(8, key_size=4).double()
    with torch.no_grad():
        layer.value_weight.mul_(4)
    x = torch.rand(40, 2, 8, dtype=torch.float64)
    s, _ = layer(x)
    plain, _ = snn.LIF(8, tau_mem=20.0, reset="zero").double()(x)
    assert not torch.equal(s, plain)
    with torch.no_grad():
        layer.value_weight.zero_()  # H = 0: exactly a zero-reset LIF
    torch.testing.assert_close(layer(x)[0], plain, rtol=0, atol=0)


def test_sequence_equals_steps():
    torch.manual_seed(2)
    layer = snn.AstroLIF(8, groups=2, key_size=3)
    x = torch.rand(30, 4, 8)
    s_seq, st_seq = layer(x)
    state, outs = None, []
    for t in range(30):
        s_t, state = layer.step(x[t], state)
        outs.append(s_t)
    assert torch.equal(torch.stack(outs), s_seq)
    for a, b in zip(state, st_seq):
        assert torch.equal(a, b)


def test_ema_keeps_the_state_bounded_over_long_sequences():
    # With normalise="ema", |H| <= max_t |v_t k_t^T| whatever T and Lambda; "none" grows like 1 / (1 - Lambda).
    torch.manual_seed(3)
    x = torch.rand(2000, 1, 4, dtype=torch.float64)
    bounded = snn.AstroLIF(4, key_size=2, decay=0.999, normalise="ema").double()
    p = bounded.dynamics()
    bound = max((torch.einsum("gji,bi->bgj", p.value_weight, xt)[..., None]
                 * torch.einsum("gki,bi->bgk", p.key_weight, xt)[..., None, :]).abs().max() for xt in x)
    _, state = bounded(x)
    assert state.h.abs().max() <= bound + 1e-12
    free = snn.AstroLIF(4, key_size=2, decay=0.999, normalise="none").double()
    free.load_state_dict(bounded.state_dict())
    assert free(x)[1].h.abs().max() > 50 * state.h.abs().max()


def test_learned_decay_stays_in_the_open_interval():
    layer = snn.AstroLIF(4, key_size=2, decay=0.999)
    opt = torch.optim.SGD(layer.parameters(), lr=100.0)
    for _ in range(3):
        opt.zero_grad()
        s, st = layer(torch.rand(20, 2, 4) * 3)
        (st.h.sum() + s.sum()).backward()
        opt.step()
    lam = layer.astrocyte_decay()
    assert bool(((lam > 0) & (lam < 1)).all())


@pytest.mark.parametrize("kwargs, argument", [
    (dict(decay=1.0), "decay"), (dict(decay=0.0), "decay"), (dict(decay=-0.5), "decay"),
    (dict(decay=float("nan")), "decay"), (dict(decay=torch.full((2, 2), 0.5)), "decay"),
    (dict(groups=0), "groups"), (dict(groups=3), "groups"), (dict(key_size=0), "key_size"),
    (dict(key_size=-1), "key_size"), (dict(normalise="l2"), "normalise"), (dict(tau_mem=0.0), "tau_mem"),
    (dict(threshold=-1.0), "threshold"), (dict(dt=0.0), "dt"), (dict(init_scale=0.0), "init_scale"),
])
def test_bad_arguments_name_the_argument(kwargs, argument):
    with pytest.raises(ValueError, match=rf"AstroLIF: {argument}: expected"):
        snn.AstroLIF(4, **kwargs)


@pytest.mark.parametrize("n", [0, -3, 2.5])
def test_bad_size_names_the_argument(n):
    with pytest.raises(ValueError, match="AstroLIF: n: expected a positive integer"):
        snn.AstroLIF(n)


def test_bad_input_shape_is_refused():
    with pytest.raises(ValueError, match=r"AstroLIF: input: expected shape \(T, B, 4\)"):
        snn.AstroLIF(4)(torch.zeros(5, 2, 3))


def test_step_function_is_pure():
    layer = snn.AstroLIF(4, key_size=2)
    state = layer.initial_state(2)
    x = torch.rand(2, 4)
    a = astro_lif_step(x, state, layer.dynamics())
    b = astro_lif_step(x, state, layer.dynamics())
    assert all(torch.equal(p, q) for p, q in zip(a[1], b[1])) and torch.equal(state.h, torch.zeros_like(state.h))


def _astro_net(seed=0):
    torch.manual_seed(seed)
    net = snn.models.build({"type": "astro", "hidden": [12], "groups": 3, "key_size": 4, "decay": 0.8,
                            "threshold": 0.5}, (5,), 3)
    with torch.no_grad():
        net[1].value_weight.mul_(3)
    return net


def test_lowered_graph_runs_on_the_torch_backend_like_the_front_end(tmp_path):
    from snn import ir
    from snn.backends import torch as torch_backend

    net = _astro_net().float().double()  # parameters exactly representable in the IR's float32 arrays
    graph = snn.lower(net)
    with torch.no_grad():  # Lambda as stored (the IR keeps sigmoid(logit) in float32)
        net[1].decay_logit.copy_(torch.logit(torch.as_tensor(list(graph.nodes.values())[1].decay, dtype=torch.float64)))
    x = (torch.rand(40, 4, 5, dtype=torch.float64) < 0.4).double()
    with torch.no_grad():
        want, _ = net(x)
        spikes = net[1](net[0](x))[0]
    assert [type(n).__name__ for n in graph.nodes.values()] == ["Linear", "AstroLIF", "Linear", "LI"]
    ir.save(graph, tmp_path / "astro.h5")
    loaded = ir.load(tmp_path / "astro.h5")
    node = loaded.nodes[list(loaded.nodes)[1]]
    assert node.normalise == "ema" and node.decay.shape == (3, 4) and node.value_weight.shape == (3, 4, 4)
    res = torch_backend.build(loaded, dtype=torch.float64).run(x, record=True)
    assert 0 < spikes.mean() < 1
    got_spikes = res.records[list(loaded.nodes)[1]]
    torch.testing.assert_close(got_spikes, spikes, rtol=0, atol=0)
    torch.testing.assert_close(res.output, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("field, value, message", [
    ("decay", [[0.5, 1.0]], "decay: expected every value in the open interval"),
    ("decay", [[0.0, 0.5]], "decay: expected every value in the open interval"),
    ("value_weight", torch.zeros(1, 3, 3).numpy(), r"value_weight: expected shape \(1, 4, 4\)"),
    ("normalise", "l2", "normalise: expected 'ema' or 'none'"),
])
def test_ir_node_refuses_bad_fields(field, value, message):
    import numpy as np

    from snn import ir

    good = dict(tau_mem=np.full(4, 10.0), threshold=np.ones(4), dt=1.0, decay=np.full((1, 2), 0.5),
                key_weight=np.zeros((1, 2, 4)), value_weight=np.zeros((1, 4, 4)), query_weight=np.zeros((1, 2, 4)),
                normalise="ema")
    ir.AstroLIF(**good)
    with pytest.raises(ValueError, match=f"AstroLIF: {message}"):
        ir.AstroLIF(**{**good, field: value})


@pytest.mark.parametrize("normalise, chunk", [("ema", 7), ("none", 16), ("ema", 100)])
def test_chunked_form_equals_the_step_recurrence(normalise, chunk):
    torch.manual_seed(4)
    layer = snn.AstroLIF(6, groups=2, key_size=3, decay=torch.rand(2, 3) * 0.9 + 0.05, normalise=normalise,
                         learn_tau=True).double()
    with torch.no_grad():
        layer.value_weight.mul_(3)
    x = (torch.rand(45, 3, 6, dtype=torch.float64) * 1.2).requires_grad_()
    readout = torch.randn(45, 3, 6, dtype=torch.float64)
    params = [x, layer.key_weight, layer.value_weight, layer.query_weight, layer.decay_logit, layer.tau_mem]
    s, st = layer(x)
    grads = torch.autograd.grad((s * readout).sum() + st.h.sum(), params)
    layer.chunk = chunk
    s2, st2 = layer(x)
    grads2 = torch.autograd.grad((s2 * readout).sum() + st2.h.sum(), params)
    assert 0.05 < s.mean() < 0.95
    torch.testing.assert_close(s2, s, rtol=0, atol=0)
    for a, b in zip(st2, st):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    for g2, g in zip(grads2, grads):
        torch.testing.assert_close(g2, g, rtol=1e-8, atol=1e-10)
