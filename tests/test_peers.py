"""Cross-checks against snnTorch 1.0.0 and Norse 1.1.0 (the mappings are written down in docs/neurons.md).

- snnTorch ``Leaky(beta, reset_delay=False)`` == our ``LIF(tau_mem=-dt/ln(beta))`` with the same reset.
  (snnTorch's default ``reset_delay=True`` subtracts the threshold one step late, after the next decay: a
  different model.)
- Norse ``LIFBoxCell(p, dt)``: ``v += dt/tau (x - v)`` == our ``LIF`` with ``beta = 1 - dt * tau_mem_inv``,
  zero reset, fed ``(1 - beta) * x``.
- Norse ``LIFCell(p, dt)`` == our ``CubaLIF`` with ``beta = 1 - dt * tau_mem_inv``,
  ``alpha = 1 - dt * tau_syn_inv``, zero reset, fed ``(1 - beta) * x``.
- Known differences, checked so the docs stay true: snnTorch's subtract reset needs ``v > 2 theta`` in a step after
  its stored membrane stayed above threshold; Norse's "super" surrogate is our fast-sigmoid with slope 1 (its
  ``alpha`` is ignored).
"""


import pytest
import torch

import snn

snntorch = pytest.importorskip("snntorch")
norse = pytest.importorskip("norse.torch")

T, B, N = 200, 8, 32


@pytest.fixture(autouse=True)
def float64_parameters():
    """Peers and ours both in float64, so parameters are not rounded to float32 on the way in."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


def _tau_from_decay(decay, dt_ms=1.0):
    return -dt_ms / torch.log(torch.as_tensor(decay, dtype=torch.float64))


def _inputs(seed, scale=0.6):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(T, B, N, generator=g, dtype=torch.float64) * scale


@pytest.mark.parametrize("reset", ["subtract", "zero"])
def test_lif_matches_snntorch_leaky(reset):
    # threshold 0.75 is exact in binary: snnTorch keeps its threshold in float32.
    beta = torch.linspace(0.5, 0.98, N, dtype=torch.float64)
    x = _inputs(1)
    peer = snntorch.Leaky(beta=beta, threshold=0.75, reset_mechanism=reset, reset_delay=False)
    mem = torch.zeros(B, N, dtype=torch.float64)
    peer_spikes, peer_mem = [], []
    for t in range(T):
        spk, mem = peer(x[t], mem)
        peer_spikes.append(spk)
        peer_mem.append(mem)
    ours = snn.LIF(N, tau_mem=_tau_from_decay(beta), threshold=0.75, reset=reset).double()
    spikes, state = ours(x)
    assert spikes.sum() > 100, "the test must exercise spiking"
    assert torch.equal(spikes, torch.stack(peer_spikes))
    torch.testing.assert_close(state.v, peer_mem[-1], rtol=0, atol=1e-9)


def test_lif_gradient_matches_snntorch_atan():
    # Same ATan surrogate (alpha = 2) and, with reset_delay=False, an undetached reset: identical gradients.
    beta = torch.full((N,), 0.9, dtype=torch.float64)
    x = _inputs(2).requires_grad_(True)
    peer = snntorch.Leaky(beta=beta, threshold=1.0, reset_delay=False, spike_grad=snntorch.surrogate.atan(alpha=2.0))
    mem, out = torch.zeros(B, N, dtype=torch.float64), []
    for t in range(T):
        spk, mem = peer(x[t], mem)
        out.append(spk)
    (g_peer,) = torch.autograd.grad((torch.stack(out) * torch.arange(T).view(T, 1, 1)).sum(), x)
    ours = snn.LIF(N, tau_mem=_tau_from_decay(0.9), surrogate="atan", slope=2.0, detach_reset=False).double()
    s, _ = ours(x)
    (g_ours,) = torch.autograd.grad((s * torch.arange(T).view(T, 1, 1)).sum(), x)
    # snnTorch's spike tensor is float32 inside (``(x > 0).float()``), so its gradient carries float32 rounding.
    torch.testing.assert_close(g_ours, g_peer, rtol=1e-6, atol=1e-9)


def test_lif_matches_norse_lifbox():
    from norse.torch.functional.lif_box import LIFBoxParameters

    dt_s = 1e-3
    tau_mem_inv = torch.linspace(20, 400, N, dtype=torch.float64)  # 1/s
    p = LIFBoxParameters(tau_mem_inv=tau_mem_inv, v_th=torch.tensor(0.5, dtype=torch.float64))
    x = _inputs(3, scale=1.6)
    peer = norse.LIFBoxCell(p, dt=dt_s)
    state, peer_spikes = None, []
    for t in range(T):
        z, state = peer(x[t], state)
        peer_spikes.append(z)
    beta = 1 - dt_s * tau_mem_inv
    ours = snn.LIF(N, tau_mem=_tau_from_decay(beta), threshold=0.5, reset="zero").double()
    spikes, st = ours((1 - beta) * x)
    assert spikes.sum() > 100
    assert torch.equal(spikes, torch.stack(peer_spikes))
    torch.testing.assert_close(st.v, state.v, rtol=0, atol=1e-9)


def test_cubalif_matches_norse_lifcell():
    from norse.torch.functional.lif import LIFParameters

    dt_s = 1e-3
    tau_mem_inv = torch.linspace(50, 300, N, dtype=torch.float64)
    tau_syn_inv = torch.linspace(400, 100, N, dtype=torch.float64)
    p = LIFParameters(tau_syn_inv=tau_syn_inv, tau_mem_inv=tau_mem_inv, v_th=torch.tensor(0.4, dtype=torch.float64))
    x = _inputs(4, scale=0.5)
    peer = norse.LIFCell(p, dt=dt_s)
    state, peer_spikes = None, []
    for t in range(T):
        z, state = peer(x[t], state)
        peer_spikes.append(z)
    beta, alpha = 1 - dt_s * tau_mem_inv, 1 - dt_s * tau_syn_inv
    ours = snn.CubaLIF(N, tau_mem=_tau_from_decay(beta), tau_syn=_tau_from_decay(alpha), threshold=0.4,
                       reset="zero").double()
    spikes, st = ours((1 - beta) * x)
    assert spikes.sum() > 100
    assert torch.equal(spikes, torch.stack(peer_spikes))
    torch.testing.assert_close(st.v, state.v, rtol=0, atol=1e-9)
    # Norse stores the current after its decay and unscaled; ours before the next step's decay, scaled.
    torch.testing.assert_close(alpha * st.i / (1 - beta), state.i, rtol=1e-9, atol=1e-9)


def _snntorch_leaky(beta, threshold, x, reset="subtract"):
    peer = snntorch.Leaky(beta=beta, threshold=threshold, reset_mechanism=reset, reset_delay=False)
    mem, spikes = torch.zeros_like(x[0]), []
    for t in range(len(x)):
        spk, mem = peer(x[t], mem)
        spikes.append(spk)
    return torch.stack(spikes)


def test_snntorch_subtract_reset_needs_two_thresholds_after_a_step_above_two_thresholds():
    # docs/neurons.md: with beta 0.9, threshold 1 and inputs (2.5, 0, 0, ...) both fire at t = 0 (v = 2.5); at t = 1
    # v = 0.9 * 1.5 = 1.35: our LIF fires, snnTorch does not (its stored membrane 1.5 > threshold asks for v > 2).
    x = torch.zeros(8, 1, 1, dtype=torch.float64)
    x[0] = 2.5
    peer = _snntorch_leaky(torch.tensor(0.9, dtype=torch.float64), 1.0, x)
    ours, _ = snn.LIF(1, tau_mem=_tau_from_decay(0.9), threshold=1.0, reset="subtract").double()(x)
    assert peer.flatten().tolist() == [1, 0, 0, 0, 0, 0, 0, 0]
    assert ours.flatten().tolist() == [1, 1, 0, 0, 0, 0, 0, 0]


def test_snntorch_subtract_reset_follows_the_documented_condition():
    # Strong random drive: snnTorch fires iff v_t > theta (1 + H(m_{t-1} - theta)) with m = v - theta s its stored
    # membrane; ours iff v_t > theta. The trains agree up to the first step whose previous stored membrane exceeds
    # theta, and they do differ on this input.
    theta, beta = 1.0, torch.linspace(0.5, 0.95, N, dtype=torch.float64)
    x = _inputs(5, scale=1.0) * (torch.rand(T, B, N, generator=torch.Generator().manual_seed(6)) < 0.3) * 3.0
    m, rule = torch.zeros(B, N, dtype=torch.float64), []
    for t in range(T):
        v = beta * m + x[t]
        s = (v > theta * (1 + (m > theta).double())).double()
        rule.append(s)
        m = v - theta * s
    peer = _snntorch_leaky(beta, theta, x)
    assert torch.equal(peer, torch.stack(rule))
    ours, _ = snn.LIF(N, tau_mem=_tau_from_decay(beta), threshold=theta, reset="subtract").double()(x)
    m, above = torch.zeros(B, N, dtype=torch.float64), []  # our stored membrane above theta before step t
    for t in range(T):
        above.append(m > theta)
        m = beta * m + x[t] - theta * ours[t]
    first = torch.cumsum(torch.stack(above).long(), 0) == 0  # steps before the first such step
    assert torch.equal(peer[first], ours[first])
    assert not torch.equal(peer, ours) and (peer != ours).sum() > 10


@pytest.mark.parametrize("alpha", [1.0, 10.0, 100.0])
def test_norse_super_surrogate_is_fast_sigmoid_with_slope_one(alpha):
    # Norse 1.1.0's "super" backward is 1 / (1 + |x|)^2 whatever alpha is (100 by default).
    from norse.torch.functional.threshold import threshold

    x = torch.linspace(-3, 3, 61, dtype=torch.float64, requires_grad=True)
    (g_peer,) = torch.autograd.grad(threshold(x, "super", torch.as_tensor(alpha)).sum(), x)
    x2 = x.detach().clone().requires_grad_(True)
    (g_ours,) = torch.autograd.grad(snn.Surrogate("fast_sigmoid", 1.0)(x2).sum(), x2)
    torch.testing.assert_close(g_ours, g_peer, rtol=1e-12, atol=0)
    if alpha != 1.0:
        g_alpha = snn.Surrogate("fast_sigmoid", alpha).derivative(x.detach())
        assert not torch.allclose(g_alpha, g_peer)


def test_lif_gradient_matches_norse_lifbox_super():
    # End to end: Norse's default LIFBox surrogate ("super", alpha 100) trains like ours with fast_sigmoid slope 1.
    from norse.torch.functional.lif_box import LIFBoxParameters

    dt_s, tau_mem_inv = 1e-3, torch.full((N,), 100.0, dtype=torch.float64)
    p = LIFBoxParameters(tau_mem_inv=tau_mem_inv, v_th=torch.tensor(0.5, dtype=torch.float64), method="super",
                         alpha=torch.tensor(100.0, dtype=torch.float64))
    x = _inputs(7, scale=1.6).requires_grad_(True)
    peer, state, out = norse.LIFBoxCell(p, dt=dt_s), None, []
    for t in range(T):
        z, state = peer(x[t], state)
        out.append(z)
    weights = torch.arange(T, dtype=torch.float64).view(T, 1, 1)
    (g_peer,) = torch.autograd.grad((torch.stack(out) * weights).sum(), x)
    beta = 1 - dt_s * tau_mem_inv
    ours = snn.LIF(N, tau_mem=_tau_from_decay(beta), threshold=0.5, reset="zero", surrogate="fast_sigmoid",
                   slope=1.0, detach_reset=False).double()
    s, _ = ours((1 - beta) * x)
    assert s.sum() > 100
    (g_ours,) = torch.autograd.grad((s * weights).sum(), x)
    torch.testing.assert_close(g_ours, g_peer, rtol=1e-9, atol=1e-12)
