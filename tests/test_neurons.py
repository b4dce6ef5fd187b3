"""LIF-family neurons against closed-form solutions; whole-sequence vs streaming; learnable parameters."""

import math

import pytest
import torch

import snn


def test_lif_constant_input_closed_form():
    # Constant input I below threshold: v_t = I (1 - beta^t) / (1 - beta); no spike.
    tau, dt, current = 20.0, 0.5, 0.015  # steady state I / (1 - beta) = 0.61 < threshold
    beta = math.exp(-dt / tau)
    lif = snn.LIF(1, tau_mem=tau, dt=dt, threshold=1.0)
    x = torch.full((50, 1, 1), current, dtype=torch.float64)
    lif = lif.double()
    _, state = lif(x)
    expected = current * (1 - beta**50) / (1 - beta)
    assert state.v.item() == pytest.approx(expected, rel=1e-12)


def test_lif_first_spike_time_closed_form():
    # Suprathreshold constant input: the first spike is at the first t with I (1 - beta^t)/(1 - beta) > theta.
    tau, current, theta = 10.0, 0.3, 1.0
    beta = math.exp(-1.0 / tau)
    t_star = math.ceil(math.log(1 - theta * (1 - beta) / current) / math.log(beta))
    s, _ = snn.LIF(1, tau_mem=tau, threshold=theta).double()(torch.full((40, 1, 1), current, dtype=torch.float64))
    first = int(torch.nonzero(s[:, 0, 0])[0]) + 1  # steps are 1-based in the closed form
    assert first == t_star


def test_cuba_impulse_response_closed_form():
    # One input pulse of size q at t=0, no spike: i_t = q alpha^t, v_t = q sum_k alpha^k beta^(t-k).
    tau_mem, tau_syn, q, T = 8.0, 3.0, 0.2, 30
    a, b = math.exp(-1 / tau_syn), math.exp(-1 / tau_mem)
    x = torch.zeros(T, 1, 1, dtype=torch.float64)
    x[0] = q
    neuron = snn.CubaLIF(1, tau_mem=tau_mem, tau_syn=tau_syn).double()
    state = None
    for t in range(T):
        _, state = neuron.step(x[t], state)
        v_expected = q * sum(a**k * b ** (t - k) for k in range(t + 1))
        assert state.v.item() == pytest.approx(v_expected, rel=1e-12)
        assert state.i.item() == pytest.approx(q * a**t, rel=1e-12)


@pytest.mark.parametrize("reset, v_after", [("subtract", 0.5), ("zero", 0.0), ("none", 1.5)])
def test_reset_modes(reset, v_after):
    lif = snn.LIF(1, tau_mem=1e9, threshold=1.0, reset=reset).double()  # beta ~ 1: no leak
    s, state = lif(torch.tensor([[[1.5]]], dtype=torch.float64))
    assert s.item() == 1.0
    assert state.v.item() == pytest.approx(v_after, abs=1e-8)


def test_li_closed_form():
    tau, T = 5.0, 12
    beta = math.exp(-1 / tau)
    x = torch.randn(T, 3, 4, dtype=torch.float64)
    v, _ = snn.LI(4, tau_mem=tau).double()(x)
    ref = torch.zeros(3, 4, dtype=torch.float64)
    for t in range(T):
        ref = beta * ref + x[t]
        torch.testing.assert_close(v[t], ref)


def _stream(model, x):
    state, out = None, []
    for x_t in x:
        y, state = model.step(x_t, state)
        out.append(y)
    return torch.stack(out), state


@pytest.mark.parametrize("make", [
    lambda: snn.LIF(6, tau_mem=torch.linspace(2, 30, 6), threshold=0.7),
    lambda: snn.LIF(6, recurrent=True, reset="zero"),
    lambda: snn.CubaLIF(6, tau_syn=torch.linspace(1, 9, 6), recurrent=True),
    lambda: snn.LI(6, tau_mem=7.0),
])
def test_sequence_equals_streaming(make):
    torch.manual_seed(0)
    neuron = make()
    x = torch.randn(25, 4, 6)
    y_seq, st_seq = neuron(x)
    y_str, st_str = _stream(neuron, x)
    torch.testing.assert_close(y_seq, y_str, rtol=0, atol=0)
    for a, b in zip(st_seq, st_str):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_sequential_sequence_equals_streaming_and_split_sequences():
    torch.manual_seed(1)
    model = snn.Sequential(snn.Conv2d(2, 4, 3, padding=1), snn.LIF((4, 6, 6)), snn.Flatten((4, 6, 6)),
                           snn.Linear(144, 10), snn.CubaLIF(10, recurrent=True), snn.Linear(10, 3), snn.LI(3))
    x = (torch.rand(20, 2, 2, 6, 6) < 0.3).float()
    y, _ = model(x)
    y_stream, _ = _stream(model, x)
    torch.testing.assert_close(y, y_stream, rtol=0, atol=1e-6)
    # Continuing from the returned state equals one long run.
    y1, st = model(x[:8])
    y2, _ = model(x[8:], st)
    torch.testing.assert_close(torch.cat([y1, y2]), y, rtol=0, atol=1e-6)


def test_learnable_tau_and_threshold_get_gradients_and_stay_in_range():
    lif = snn.LIF(5, learn_tau=True, learn_threshold=True, tau_mem=10.0, threshold=0.5)
    assert {n for n, _ in lif.named_parameters()} == {"tau_mem", "threshold"}
    x = torch.rand(30, 2, 5)
    s, _ = lif(x)
    s.sum().backward()
    assert lif.tau_mem.grad.abs().sum() > 0 and lif.threshold.grad.abs().sum() > 0
    with torch.no_grad():
        lif.tau_mem.fill_(-5.0)
        lif.threshold.fill_(-1.0)
    assert lif.time_constant("tau_mem").min() > 0
    assert lif.effective_threshold().min() > 0
    assert torch.isfinite(lif(x)[0]).all()


def test_fixed_parameters_are_buffers():
    lif = snn.CubaLIF(3)
    assert list(lif.parameters()) == []
    assert set(lif.state_dict()) == {"tau_mem", "tau_syn", "threshold"}


def test_surrogate_reaches_weights():
    torch.manual_seed(0)
    model = snn.Sequential(snn.Linear(4, 8), snn.LIF(8, surrogate="fast_sigmoid"), snn.Linear(8, 2), snn.LI(2))
    y, _ = model(torch.rand(10, 3, 4))
    y.sum().backward()
    assert model[0].weight.grad.abs().sum() > 0


@pytest.mark.parametrize("build, match", [
    (lambda: snn.LIF(4, dt=0), "dt"),
    (lambda: snn.LIF(4, dt=-1.0), "dt"),
    (lambda: snn.LIF(4, tau_mem=0.0), "tau_mem"),
    (lambda: snn.LIF(4, tau_mem=torch.tensor([1.0, -2.0, 3.0, 4.0])), "tau_mem"),
    (lambda: snn.LIF(4, tau_mem=torch.ones(3)), "tau_mem"),
    (lambda: snn.CubaLIF(4, tau_syn=-1.0), "tau_syn"),
    (lambda: snn.LIF(4, threshold=0.0), "threshold"),
    (lambda: snn.LIF(4, reset="soft"), "reset"),
    (lambda: snn.LIF(0), "shape"),
    (lambda: snn.LIF((2, 2), recurrent=True), "recurrent"),
    (lambda: snn.LIF(4, surrogate="relu"), "surrogate"),
    (lambda: snn.LI(4, tau_mem=float("inf")), "tau_mem"),
])
def test_bad_parameters(build, match):
    with pytest.raises(ValueError, match=match):
        build()


@pytest.mark.parametrize("module, x, match", [
    (snn.LIF(4), torch.rand(5, 4), r"expected shape \(T, B, 4\), got \(5, 4\)"),
    (snn.LIF(4), torch.rand(5, 2, 3), r"expected shape \(T, B, 4\), got \(5, 2, 3\)"),
    (snn.LIF(4), torch.ones(5, 2, 4, dtype=torch.int64), "floating-point"),
    (snn.LI(4), [1.0, 2.0], "tensor"),
    (snn.Linear(4, 2), torch.rand(5, 2, 3), r"\(T, B, 4\)"),
    (snn.Conv2d(2, 4, 3), torch.rand(5, 3, 8, 8), r"\(T, B, C, H, W\)"),
    (snn.Flatten((2, 3)), torch.rand(5, 2, 3, 2), r"\(T, B, 2, 3\)"),
])
def test_bad_input(module, x, match):
    with pytest.raises(ValueError, match=match):
        module(x)


def test_bad_step_input():
    with pytest.raises(ValueError, match=r"expected shape \(B, 4\)"):
        snn.LIF(4).step(torch.rand(3, 2, 4))


def test_sequential_bad_state_length():
    model = snn.Sequential(snn.Linear(2, 2), snn.LIF(2))
    with pytest.raises(ValueError, match="one per module"):
        model(torch.rand(3, 1, 2), state=(None,))
