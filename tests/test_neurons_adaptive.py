"""IF and the adaptive LIF (SE-adLIF) against independent float64 step-by-step references written here (outputs and
surrogate gradients), whole sequence == streaming, lowering, the torch backend and IR save/load."""

import math

import numpy as np
import pytest
import torch

import snn
from snn import ir
from test_neurons import _stream


def st_spike(x, slope=2.0):
    """Heaviside forward; backward the atan pseudo-derivative (a/2) / (1 + (pi/2 a x)^2), through its antiderivative
    (1/pi) atan(pi/2 a x) (a straight-through estimator written independently of snn.surrogate)."""
    g = torch.atan(math.pi / 2 * slope * x) / math.pi
    return (x > 0).to(x.dtype) + (g - g.detach())  # exactly H(x) forward


def ref_if(x, theta, reset, w_rec=None):
    T = x.shape[0]
    v = torch.zeros_like(x[0])
    s = torch.zeros_like(x[0])
    out = []
    for t in range(T):
        v = v + x[t] + (0 if w_rec is None else s @ w_rec.t())
        s = st_spike(v - theta)
        if reset == "subtract":
            v = v - s.detach() * theta
        elif reset == "zero":
            v = v * (1 - s.detach())
        out.append(s)
    return torch.stack(out), v


def ref_adlif(x, tau_u, tau_w, a, b, q, theta, reset, dt, w_rec=None):
    """Baronig et al. (2025), symplectic Euler: u from w_{t-1}, then spike and reset, then w from the new u and s."""
    alpha, beta = torch.exp(-dt / tau_u), torch.exp(-dt / tau_w)
    u = torch.zeros_like(x[0])
    w = torch.zeros_like(x[0])
    s = torch.zeros_like(x[0])
    out = []
    for t in range(x.shape[0]):
        i = x[t] + (0 if w_rec is None else s @ w_rec.t())
        u = alpha * u + (1 - alpha) * (i - w)
        s = st_spike(u - theta)
        if reset == "zero":
            u = u * (1 - s.detach())
        elif reset == "subtract":
            u = u - s.detach() * theta
        w = beta * w + (1 - beta) * q * (a * u + b * s)
        out.append(s)
    return torch.stack(out), u, w


@pytest.mark.parametrize("reset", ["subtract", "zero", "none"])
@pytest.mark.parametrize("recurrent", [False, True])
def test_if_matches_reference_outputs_and_gradients(reset, recurrent):
    torch.manual_seed(0)
    n = 6
    theta = torch.linspace(0.5, 1.5, n, dtype=torch.float64)
    neuron = snn.IF(n, threshold=theta, reset=reset, recurrent=recurrent, learn_threshold=True).double()
    x = (torch.randn(40, 3, n, dtype=torch.float64) * 0.6).requires_grad_()
    s, state = neuron(x)
    w_rec = neuron.recurrent_weight
    s_ref, v_ref = ref_if(x, neuron.threshold, reset, w_rec)
    assert s.sum() > 20
    torch.testing.assert_close(s, s_ref, rtol=0, atol=0)
    torch.testing.assert_close(state.v, v_ref, rtol=1e-12, atol=1e-12)
    weights = torch.randn_like(s)
    params = [x, neuron.threshold] + ([w_rec] if recurrent else [])
    got = torch.autograd.grad((s * weights).sum(), params)
    want = torch.autograd.grad((s_ref * weights).sum(), params)
    for g, r in zip(got, want):
        assert r.abs().sum() > 0
        torch.testing.assert_close(g, r, rtol=1e-10, atol=1e-12)


def test_if_closed_form_first_spike():
    # Constant input I, no leak: v_t = I t, the first spike at the first t with I t > theta.
    current, theta = 0.13, 1.0
    s, _ = snn.IF(1, threshold=theta).double()(torch.full((30, 1, 1), current, dtype=torch.float64))
    assert int(torch.nonzero(s[:, 0, 0])[0]) + 1 == math.floor(theta / current) + 1


@pytest.mark.parametrize("reset", ["zero", "subtract", "none"])
@pytest.mark.parametrize("recurrent", [False, True])
def test_adlif_matches_reference_outputs_and_gradients(reset, recurrent):
    torch.manual_seed(1)
    n, dt, q = 5, 0.5, 120.0
    neuron = snn.AdLIF(n, tau_mem=torch.linspace(5, 25, n), tau_adapt=torch.linspace(60, 300, n),
                       a=torch.linspace(0.0, 1.0, n), b=torch.linspace(0.2, 2.0, n), q=q, reset=reset, dt=dt,
                       recurrent=recurrent, learn_tau=True, learn_adaptation=True, learn_threshold=True,
                       threshold=0.4).double()
    x = (torch.rand(80, 3, n, dtype=torch.float64) * 3.0).requires_grad_()
    s, state = neuron(x)
    w_rec = neuron.recurrent_weight
    s_ref, u_ref, w_ref = ref_adlif(x, neuron.tau_mem, neuron.tau_adapt, neuron.a, neuron.b, q, neuron.threshold,
                                    reset, dt, w_rec)
    assert s.sum() > 30
    torch.testing.assert_close(s, s_ref, rtol=0, atol=0)
    torch.testing.assert_close(state.v, u_ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(state.w, w_ref, rtol=1e-12, atol=1e-12)
    weights = torch.randn_like(s)
    params = [x, neuron.tau_mem, neuron.tau_adapt, neuron.a, neuron.b, neuron.threshold] + ([w_rec] if recurrent
                                                                                             else [])
    got = torch.autograd.grad((s * weights).sum(), params)
    want = torch.autograd.grad((s_ref * weights).sum(), params)
    for g, r in zip(got, want):
        assert r.abs().sum() > 0
        torch.testing.assert_close(g, r, rtol=1e-9, atol=1e-12)


def test_adlif_subthreshold_closed_form():
    # Below threshold with b irrelevant, constant input I: (u, w) follows the 2x2 linear map
    # [u; w]_t = M [u; w]_{t-1} + c I with M = [[al, -(1-al)], [(1-be) q a al, be - (1-be) q a (1-al)]].
    al, be, qa, current = math.exp(-1 / 10), math.exp(-1 / 100), 0.5, 0.3
    neuron = snn.AdLIF(1, tau_mem=10.0, tau_adapt=100.0, a=qa, b=0.7, q=1.0, threshold=10.0).double()
    _, state = neuron(torch.full((3000, 1, 1), current, dtype=torch.float64))
    m = np.array([[al, -(1 - al)], [(1 - be) * qa * al, be - (1 - be) * qa * (1 - al)]])
    c = np.array([1 - al, (1 - be) * qa * (1 - al)])
    z = np.zeros(2)
    for _ in range(3000):
        z = m @ z + c * current
    assert state.v.item() == pytest.approx(z[0], rel=1e-10)
    assert state.w.item() == pytest.approx(z[1], rel=1e-10)
    # the fixed point: u = I / (1 + q a), w = q a u
    assert z[0] == pytest.approx(current / (1 + qa), rel=1e-9)


def test_adlif_spike_triggered_adaptation_slows_firing():
    x = torch.full((300, 1, 1), 1.5, dtype=torch.float64)
    counts = [snn.AdLIF(1, a=0.0, b=b, q=1.0, tau_mem=5.0, tau_adapt=100.0).double()(x)[0].sum().item()
              for b in (0.0, 1.0, 2.0)]
    assert counts[0] > counts[1] > counts[2] > 0


@pytest.mark.parametrize("make", [
    lambda: snn.IF(6, threshold=0.7, recurrent=True),
    lambda: snn.IF((2, 3), reset="zero"),
    lambda: snn.AdLIF(6, recurrent=True, tau_mem=torch.linspace(5, 25, 6)),
    lambda: snn.AdLIF((2, 3), reset="subtract", q=10.0),
])
def test_sequence_equals_streaming(make):
    torch.manual_seed(0)
    neuron = make()
    x = torch.rand(30, 4, *neuron.shape) * 20
    y_seq, st_seq = neuron(x)
    y_str, st_str = _stream(neuron, x)
    assert y_seq.sum() > 0
    torch.testing.assert_close(y_seq, y_str, rtol=0, atol=0)
    for a, b in zip(st_seq, st_str):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def adaptive_network(seed):
    torch.manual_seed(seed)
    first = snn.Linear(7, 12)
    with torch.no_grad():
        first.weight.mul_(20.0)  # the adaptive neurons integrate (1 - alpha) x: large inputs make them fire
    return snn.Sequential(first, snn.AdLIF(12, recurrent=True, tau_mem=torch.empty(12).uniform_(5, 25),
                                           tau_adapt=torch.empty(12).uniform_(60, 300),
                                           a=0.1 * torch.rand(12), b=2 * torch.rand(12), dt=0.5),
                          snn.Linear(12, 9), snn.IF(9, recurrent=True, threshold=torch.empty(9).uniform_(0.5, 2)),
                          snn.Linear(9, 4), snn.IF(4, reset="zero"), snn.Linear(4, 3), snn.LI(3, dt=0.5))


@pytest.mark.parametrize("seed", range(3))
def test_torch_backend_reproduces_front_end_and_ir_round_trips(seed, tmp_path):
    model = adaptive_network(seed)
    x = (torch.rand(60, 4, 7, generator=torch.Generator().manual_seed(seed)) < 0.5).float() * 2.0
    y, _ = model(x)
    graph = snn.lower(model)
    assert [type(n).__name__ for n in graph.nodes.values()] == ["Linear", "AdLIF", "Linear", "IF", "Linear", "IF",
                                                                "Linear", "LI"]
    assert graph.dt == 0.5
    ir.save(graph, tmp_path / "m.h5")
    back = ir.load(tmp_path / "m.h5")
    res = snn.backends.get("torch").build(back).run(x, record=True)
    assert res.records["adlif_1"].sum() > 0 and res.records["if_3"].sum() > 0
    assert (res.output - y).abs().max().item() <= 1e-6
    node = back.nodes["adlif_1"]
    np.testing.assert_allclose(node.a, 120 * model[1].a.numpy(), rtol=1e-6)
    np.testing.assert_array_equal(node.tau_adapt, model[1].tau_adapt.numpy())


@pytest.mark.parametrize("build, match", [
    (lambda: snn.AdLIF(3, tau_adapt=0.0), "tau_adapt"),
    (lambda: snn.AdLIF(3, a=-0.1), "a: expected finite values >= 0"),
    (lambda: snn.AdLIF(3, b=float("nan")), "b: expected"),
    (lambda: snn.AdLIF(3, a=1.5, learn_adaptation=True), r"a: expected values in \[0.0, 1.0\]"),
    (lambda: snn.AdLIF(3, q=0.0), "q"),
    (lambda: snn.AdLIF(3, a=torch.ones(2)), "broadcastable"),
    (lambda: snn.IF(3, threshold=-1.0), "threshold"),
    (lambda: snn.IF(3, reset="soft"), "reset"),
    (lambda: ir.AdLIF(np.ones(2), np.ones(2), np.ones(2), np.array([0.0, -1.0]), np.ones(2), "zero", 1.0), "a:"),
    (lambda: ir.AdLIF(np.ones(2), np.ones(2), np.ones(2), np.ones(2), np.ones(3), "zero", 1.0), "b:"),
    (lambda: ir.IF(np.array([1.0, 0.0]), "zero"), "threshold"),
    (lambda: ir.IF(np.ones((2, 2)), "zero", np.ones((4, 4))), "1-D layer"),
])
def test_bad_parameters(build, match):
    with pytest.raises(ValueError, match=match):
        build()


def test_learned_adaptation_is_clamped_and_parameters_registered():
    neuron = snn.AdLIF(3, learn_adaptation=True, learn_tau=True)
    assert {n for n, _ in neuron.named_parameters()} == {"tau_mem", "tau_adapt", "a", "b"}
    with torch.no_grad():
        neuron.a.fill_(5.0)
        neuron.b.fill_(-1.0)
    assert neuron.coupling("a").max().item() == 120.0 and neuron.coupling("b").min().item() == 0.0
    assert set(snn.IF(3).state_dict()) == {"threshold"}
