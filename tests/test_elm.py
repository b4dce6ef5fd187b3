"""ELM and Branch-ELM against an independent float64 step-by-step reference written from SPEC §2."""

import math

import pytest
import torch

import snn
from snn.neurons.elm import ELMState, elm_sequence, random_routing


def reference(x, raw, *, routing, spb, tau_s, bounds, lam, update, dt):
    """SPEC §2 literally, one step at a time, one trace per *synapse*: x (T, B, in) -> y (T, B, out)."""
    tau_min, tau_max = bounds
    tau_m = tau_min + (tau_max - tau_min) * torch.sigmoid(raw["tau_m_logit"])
    kappa_m = torch.exp(-dt / tau_m)
    kappa_s = math.exp(-dt / tau_s)
    if update == "v1":
        gain = lam * (1 - kappa_m)
    else:
        gain = 1 - torch.exp(-dt * lam / tau_m)
    w_s = torch.relu(raw["w_s"])
    n_syn = w_s.shape[0]
    T, B, _ = x.shape
    s = torch.zeros(B, n_syn, dtype=x.dtype)
    m = torch.zeros(B, tau_m.shape[0], dtype=x.dtype)
    ys = []
    for t in range(T):
        xr = x[t] if routing is None else torch.stack([x[t][:, int(r)] for r in routing], 1)
        s = kappa_s * s + w_s * xr
        b = s.reshape(B, n_syn // spb, spb).sum(-1)
        inp = torch.cat([b, kappa_m * m], 1)
        h = torch.relu(inp @ raw["mlp_in.weight"].t() + raw["mlp_in.bias"])
        dm = 1.7159 * torch.tanh(2 / 3 * (h @ raw["mlp_out.weight"].t() + raw["mlp_out.bias"]))
        m = kappa_m * m + gain * dm
        ys.append(m @ raw["readout.weight"].t() + raw["readout.bias"])
    return torch.stack(ys)


def _model(branch, update, dt=1.0, seed=0, hidden=10):
    torch.manual_seed(seed)
    common = dict(memory_units=6, mlp_hidden=hidden, tau_s=3.0, tau_m_init=(2.0, 40.0), tau_m_bounds=(0.5, 100.0),
                  lam=4.0, update=update, w_s_init=0.7, dt=dt)
    if branch:
        m = snn.BranchELM(9, 4, branches=5, synapses_per_branch=3, routing_seed=seed, **common)
    else:
        m = snn.ELM(9, 4, **common)
    with torch.no_grad():  # spread the weights so that relu(w_s) has both signs in play
        m.w_s.add_(torch.randn_like(m.w_s))
        for p in (m.mlp_in.weight, m.mlp_out.weight):
            p.mul_(3)
    return m


@pytest.mark.parametrize("branch", [False, True])
@pytest.mark.parametrize("update", ["v1", "v2"])
@pytest.mark.parametrize("hidden", [10, 4])  # 4: fewer MLP units than branches
def test_outputs_and_gradients_match_the_reference(branch, update, hidden):
    m = _model(branch, update, dt=2.0, hidden=hidden).double()
    x = (torch.rand(30, 3, 9, dtype=torch.float64) < 0.3).double() * torch.rand(30, 3, 9, dtype=torch.float64)
    target = torch.randn(30, 3, 4, dtype=torch.float64)
    y, _ = m(x)
    ((y - target) ** 2).sum().backward()
    raw = {k: v.detach().clone().requires_grad_(True) for k, v in m.named_parameters()}
    y_ref = reference(x, raw, routing=m.routing, spb=m.synapses_per_branch, tau_s=3.0, bounds=(0.5, 100.0), lam=4.0,
                      update=update, dt=2.0)
    ((y_ref - target) ** 2).sum().backward()
    torch.testing.assert_close(y, y_ref, rtol=1e-10, atol=1e-10)
    for name, p in m.named_parameters():
        assert p.grad.abs().sum() > 0, name
        torch.testing.assert_close(p.grad, raw[name].grad, rtol=1e-9, atol=1e-10, msg=name)


def test_v1_and_v2_differ():
    x = torch.rand(20, 2, 9, dtype=torch.float64)
    y1, _ = _model(False, "v1").double()(x)
    y2, _ = _model(False, "v2").double()(x)
    assert (y1 - y2).abs().max() > 1e-3


@pytest.mark.parametrize("branch", [False, True])
@pytest.mark.parametrize("update", ["v1", "v2"])
@pytest.mark.parametrize("hidden", [10, 4])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_sequence_equals_step_by_step_exactly_and_continues_from_state(branch, update, hidden, dtype):
    """Bit for bit: whole sequence, one step at a time, and a sequence split in three all give the same numbers."""
    m = _model(branch, update, hidden=hidden).to(dtype)
    x = (torch.rand(40, 2, 9) < 0.5).to(dtype) * torch.rand(40, 2, 9, dtype=dtype)
    y, state = m(x)
    steps, st = [], None
    for x_t in x:
        y_t, st = m.step(x_t, st)
        steps.append(y_t)
    assert torch.equal(y, torch.stack(steps))
    assert torch.equal(state.b, st.b) and torch.equal(state.m, st.m)
    y_a, s_a = m(x[:17])
    y_b, s_b = m(x[17:18], s_a)
    y_c, s_c = m(x[18:], s_b)
    assert torch.equal(torch.cat([y_a, y_b, y_c]), y)
    assert torch.equal(s_c.b, state.b) and torch.equal(s_c.m, state.m)


def test_memory_timescales_stay_in_their_bounds_under_training():
    m = _model(True, "v2")
    before = m.tau_m().detach().clone()
    opt = torch.optim.Adam(m.parameters(), lr=1.0)  # huge steps push the logits far out
    x = torch.rand(15, 4, 9)
    for i in range(30):
        y, _ = m(x)
        loss = (y ** 2).mean() * (1 if i % 2 else -1)
        opt.zero_grad()
        loss.backward()
        opt.step()
        tau = m.tau_m().detach()
        assert bool((tau >= 0.5).all()) and bool((tau <= 100.0).all()), tau
    assert (tau - before).abs().max() > 1.0  # they did move
    assert torch.isfinite(m(x)[0]).all()


def test_tau_m_starts_log_spaced_over_the_init_range():
    m = snn.ELM(3, 2, memory_units=5, tau_m_init=(1.0, 10000.0), tau_m_bounds=(0.0, 20000.0))
    torch.testing.assert_close(m.tau_m().detach().double(), torch.tensor([1.0, 10.0, 100.0, 1e3, 1e4],
                                                                         dtype=torch.float64), rtol=1e-4, atol=0)


def test_frozen_tau_m_is_a_buffer():
    m = snn.ELM(3, 2, memory_units=4, learn_tau_m=False)
    assert "tau_m_logit" not in dict(m.named_parameters()) and "tau_m_logit" in m.state_dict()


def test_routing_is_seeded_covers_every_input_and_reloads(tmp_path):
    a = snn.BranchELM(7, 2, memory_units=3, branches=4, synapses_per_branch=5, routing_seed=1)
    assert torch.equal(a.routing, snn.BranchELM(7, 2, memory_units=3, branches=4, synapses_per_branch=5,
                                                routing_seed=1).routing)
    assert set(a.routing.tolist()) == set(range(7))
    counts = torch.bincount(a.routing, minlength=7)
    assert counts.max() - counts.min() <= 1
    assert not torch.equal(a.routing, random_routing(7, 20, 2))
    torch.save(a.state_dict(), tmp_path / "m.pt")
    b = snn.BranchELM(7, 2, memory_units=3, branches=4, synapses_per_branch=5, routing_seed=2)
    b.load_state_dict(torch.load(tmp_path / "m.pt", weights_only=True))
    assert torch.equal(a.routing, b.routing)
    x = torch.rand(5, 2, 7)
    torch.testing.assert_close(a(x)[0], b(x)[0], rtol=0, atol=0)
    bad = dict(a.state_dict(), routing=torch.full((20,), 7))
    with pytest.raises(ValueError, match="routing"):
        b.load_state_dict(bad)


def test_paper_shd_parameter_counts():
    """SHD: 700 inputs, d_m = 100, MLP hidden 2 d_m, 20 outputs (paper: 186K); Branch-ELM 100 x 15 (paper: 67K)."""
    def count(m):
        return sum(p.numel() for p in m.parameters())

    mlp = lambda branches: (branches + 100) * 200 + 200 + 200 * 100 + 100  # noqa: E731
    readout, tau = 100 * 20 + 20, 100
    assert count(snn.ELM(700, 20)) == 700 + tau + mlp(700) + readout == 183_120
    assert count(snn.BranchELM(700, 20)) == 1500 + tau + mlp(100) + readout == 63_920
    # the paper code's own rule (trainable parameters only; its SHD notebook freezes tau_m): 100 fewer each
    assert count(snn.ELM(700, 20, learn_tau_m=False)) == 183_020
    assert count(snn.BranchELM(700, 20, learn_tau_m=False)) == 63_820


def test_parameter_count_equals_the_paper_codes_published_neuronio_count():
    """github.com/AaronSpieler/elmneuron README, models/num_memory_100: Branch-ELM on NeuronIO (1278 inputs,
    45 branches x 100 synapses, d_m = 100, 2 outputs, tau_m frozen) has 54002 parameters."""
    m = snn.BranchELM(1278, 2, 100, branches=45, synapses_per_branch=100, learn_tau_m=False)
    assert sum(p.numel() for p in m.parameters()) == 54_002


@pytest.mark.parametrize("kwargs, match", [
    (dict(in_features=0), "in_features"),
    (dict(out_features=-1), "out_features"),
    (dict(memory_units=0), "memory_units"),
    (dict(mlp_hidden=2.5), "mlp_hidden"),
    (dict(tau_s=0.0), "tau_s"),
    (dict(dt=-1.0), "dt"),
    (dict(lam=float("nan")), "lam"),
    (dict(update="v3"), "update"),
    (dict(tau_m_init=(150.0, 1.0)), "tau_m_init"),
    (dict(tau_m_init=(1.0, 2000.0)), "tau_m_init"),
    (dict(tau_m_bounds=(-1.0, 1000.0)), "tau_m_bounds"),
    (dict(tau_m_bounds=(1.0,)), "tau_m_bounds"),
    (dict(w_s_init="a"), "w_s_init"),
])
def test_bad_arguments_are_clear_errors(kwargs, match):
    args = {"in_features": 4, "out_features": 2, **kwargs}
    with pytest.raises(ValueError, match=match):
        snn.ELM(**args)


@pytest.mark.parametrize("kwargs, match", [
    (dict(branches=0), "branches"),
    (dict(synapses_per_branch=-2), "synapses_per_branch"),
    (dict(branches=2, synapses_per_branch=3), "cannot route all 10 inputs"),
    (dict(routing_seed=1.5), "routing_seed"),
])
def test_bad_branch_arguments_are_clear_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        snn.BranchELM(10, 2, **kwargs)


def test_bad_input_shape_names_the_layer():
    m = snn.ELM(4, 2, memory_units=3)
    with pytest.raises(ValueError, match=r"ELM: input: expected shape \(T, B, 4\)"):
        m(torch.zeros(3, 2, 5))
    with pytest.raises(ValueError, match=r"ELM: input: expected shape \(B, 4\)"):
        m.step(torch.zeros(3, 2, 4))


def test_memory_recurrence_backward_passes_gradcheck():
    """The hand-written backward through time against finite differences, every input (initial memory included)."""
    from snn.neurons.elm import _MemoryRecurrence

    g = torch.Generator().manual_seed(0)
    T, B, H, d = 6, 2, 5, 3
    args = [torch.randn(T, B, H, generator=g), torch.randn(B, d, generator=g), torch.rand(d, generator=g),
            torch.rand(d, generator=g) * 3, torch.randn(H, d, generator=g), torch.randn(d, H, generator=g),
            torch.randn(d, generator=g)]
    args = [a.double().requires_grad_(True) for a in args]
    assert torch.autograd.gradcheck(_MemoryRecurrence.apply, args)


@pytest.mark.parametrize("branch", [False, True])
def test_sequence_backward_passes_gradcheck_from_a_given_state(branch):
    """Trace filter, batched products and memory loop against finite differences, initial state included."""
    m = _model(branch, "v2").double()
    g = torch.Generator().manual_seed(1)
    x = torch.rand(5, 2, 9, generator=g, dtype=torch.float64).requires_grad_(True)
    b0 = torch.randn(2, m.branches, generator=g, dtype=torch.float64).requires_grad_(True)
    m0 = torch.randn(2, 6, generator=g, dtype=torch.float64).requires_grad_(True)

    def run(x, b0, m0, *params):
        p = m.dynamics()._replace(w1_b=params[0], c1=params[1], w_y=params[2])
        y, st = elm_sequence(x, ELMState(b0, m0), p)
        return y, st.b, st.m

    p = m.dynamics()
    params = [t.detach().clone().requires_grad_(True) for t in (p.w1_b, p.c1, p.w_y)]
    assert torch.autograd.gradcheck(run, (x, b0, m0, *params))
