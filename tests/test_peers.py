"""Cross-checks against snnTorch 1.0.0 and Norse 1.1.0 (the mappings are written down in docs/neurons.md).

- snnTorch ``Leaky(beta, reset_delay=False)`` == our ``LIF(tau_mem=-dt/ln(beta))`` with the same reset.
  (snnTorch's default ``reset_delay=True`` subtracts the threshold one step late, after the next decay: a
  different model.)
- Norse ``LIFBoxCell(p, dt)``: ``v += dt/tau (x - v)`` == our ``LIF`` with ``beta = 1 - dt * tau_mem_inv``,
  zero reset, fed ``(1 - beta) * x``.
- Norse ``LIFCell(p, dt)`` == our ``CubaLIF`` with ``beta = 1 - dt * tau_mem_inv``,
  ``alpha = 1 - dt * tau_syn_inv``, zero reset, fed ``(1 - beta) * x``.
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
