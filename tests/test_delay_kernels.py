"""Compiled delay kernels (snn/kernels/csrc/delay.cpp): the event-driven paths against the pure-PyTorch references,
a naive loop and dcls; the fallbacks; bad input. They need the kernels built (`python -m snn.kernels build`, which
`make setup` runs)."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from snn import kernels
from snn.backends.torch import delay as TD
from snn.synapses import delay_events as E
from snn.synapses import delay_functional as D
from snn.synapses.delay import DelayedLinear
from test_delay import _integer_case, assert_layer_matches_dcls, naive_delay_linear


@pytest.fixture
def ops():
    o = kernels.ops()
    assert o is not None, kernels.status()
    return o


@pytest.fixture
def fallback(monkeypatch):
    monkeypatch.setenv("SPIKEFORGE_KERNELS", "0")
    assert kernels.ops() is None


def _spikes(shape, rate, seed, binary=True, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(shape, generator=g) < rate).to(dtype)
    return x if binary else x * torch.randn(shape, generator=g, dtype=dtype)


# --- integer inference (eval mode, torch backend) ------------------------------------------------------------------

@pytest.mark.parametrize("binary", [True, False])
@pytest.mark.parametrize("history", [0, 5])
def test_compiled_scatter_equals_naive_loop(ops, binary, history):
    w, d, b, x = _integer_case(5, T=30, binary=binary)  # pruned synapses, an input with no synapse, delays up to K - 1
    y = TD.integer_delay_linear(torch.tensor(x[12 - history:]), torch.tensor(w), torch.tensor(d), torch.tensor(b),
                                history=history, path="scatter")
    want = naive_delay_linear(x[12 - history:], w, d, b)[history:]  # inputs before the given ones count as zero
    np.testing.assert_allclose(y.numpy(), want, rtol=1e-12, atol=1e-12)


def test_compiled_scatter_float32_equals_reference_path(ops):
    torch.manual_seed(0)
    w, d = torch.randn(33, 21), torch.randint(0, 9, (33, 21))
    x = _spikes((40, 6, 21), 0.1, 1, dtype=torch.float32)
    y = TD.compiled_scatter(x, w, d, history=8)
    assert y is not None
    torch.testing.assert_close(y, TD.scatter_delay_linear(x, TD.plan_scatter(w, d), history=8), rtol=1e-6,
                               atol=1e-6)


def test_compiled_scatter_result_does_not_depend_on_thread_count(ops):
    x, w, d = _spikes((60, 8, 30), 0.2, 2, dtype=torch.float32), torch.randn(40, 30), torch.randint(0, 11, (40, 30))
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = ops.delay_scatter(x, w, d, 0)
        torch.set_num_threads(2)
        assert torch.equal(ops.delay_scatter(x, w, d, 0), one)
    finally:
        torch.set_num_threads(threads)


def test_event_kernels_do_not_depend_on_thread_count_and_handle_no_events(ops):
    x = _spikes((40, 5, 30), 0.1, 11, dtype=torch.float32).reshape(-1, 30)
    kt, gy = torch.randn(9, 30, 70), torch.randn(32, 5, 70)
    threads = torch.get_num_threads()
    try:
        runs = []
        for n in (1, 2):
            torch.set_num_threads(n)
            ev = ops.delay_events(x)
            runs.append((ops.delay_conv_forward(*ev, kt, 32, 5), ops.delay_conv_grad_kernel(*ev, gy, 9, 30)))
    finally:
        torch.set_num_threads(threads)
    assert all(torch.equal(a, b) for a, b in zip(*runs))
    none = ops.delay_events(torch.zeros_like(x))
    assert none[1].numel() == 0
    assert not ops.delay_conv_forward(*none, kt, 32, 5).any() and not ops.delay_conv_grad_kernel(*none, gy, 9, 30).any()


def test_integer_scatter_falls_back_without_kernels_or_with_gradients(ops, monkeypatch):
    w, d = torch.randn(5, 7), torch.randint(0, 4, (5, 7))
    x = _spikes((12, 2, 7), 0.3, 3, dtype=torch.float32)
    assert TD.compiled_scatter(x, w, d) is not None
    assert TD.compiled_scatter(x, w.requires_grad_(), d) is None  # a gradient to carry: the torch path
    y = TD.integer_delay_linear(x, w, d, path="scatter")
    y.sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), _column_sums(x.numpy(), d.numpy(), 12), rtol=1e-6)
    assert TD.compiled_scatter(x.half(), w.detach().half(), d) is None  # dtypes it does not cover
    monkeypatch.setenv("SPIKEFORGE_KERNELS", "0")
    assert TD.compiled_scatter(x, w.detach(), d) is None


def _column_sums(x, d, T):
    """d y / d W_ij summed over the output: sum_t x[t - d_ij, :, j] over the steps that reach the output."""
    out = np.zeros(d.shape)
    for i in range(d.shape[0]):
        for j in range(d.shape[1]):
            out[i, j] = x[: T - int(d[i, j]), :, j].sum()
    return out


def test_auto_path_uses_the_compiled_threshold(ops, monkeypatch):
    calls = []
    monkeypatch.setattr(TD, "grouped_delay_linear", lambda *a, **k: calls.append("grouped"))
    monkeypatch.setattr(TD, "scatter_delay_linear", lambda *a, **k: calls.append("torch scatter"))
    w, d = torch.randn(4, 10), torch.randint(0, 5, (4, 10))
    x = _spikes((20, 2, 10), 0.35, 10, dtype=torch.float32)  # between SCATTER_BELOW and COMPILED_SCATTER_BELOW
    assert TD.SCATTER_BELOW < torch.count_nonzero(x) / x.numel() < TD.COMPILED_SCATTER_BELOW
    TD.integer_delay_linear(x, w, d)                   # compiled scatter
    TD.integer_delay_linear(torch.rand(20, 2, 10), w, d)
    monkeypatch.setenv("SPIKEFORGE_KERNELS", "0")
    TD.integer_delay_linear(x, w, d)
    TD.integer_delay_linear(x, w, d, path="scatter")
    assert calls == ["grouped", "grouped", "torch scatter"]


def test_compiled_scatter_rejects_bad_input(ops):
    x, w, d = torch.zeros(5, 2, 3), torch.ones(4, 3), torch.zeros(4, 3, dtype=torch.int64)
    with pytest.raises(RuntimeError, match="delays: expected non-negative steps, got -1"):
        ops.delay_scatter(x, w, d - 1, 0)
    with pytest.raises(RuntimeError, match=r"weight: expected \(out, 3\)"):
        ops.delay_scatter(x, torch.ones(4, 2), d, 0)
    with pytest.raises(RuntimeError, match="history: expected 0..5, got 6"):
        ops.delay_scatter(x, w, d, 6)
    with pytest.raises(RuntimeError, match="x: expected float32 or float64"):
        ops.delay_scatter(x.int(), w, d, 0)


# --- training: Gaussian kernel, causal convolution -----------------------------------------------------------------

@pytest.mark.parametrize("binary", [True, False])
@pytest.mark.parametrize("input_grad", [False, True])
def test_event_path_equals_dense_reference_output_and_gradients(ops, binary, input_grad):
    """float64, so that the different summation orders agree to rounding; 70 outputs: full and partial blocks."""
    K, n_in, n_out = 7, 11, 70
    g = torch.Generator().manual_seed(4)
    x = _spikes((30 + K - 1, 3, n_in), 0.15, 4, binary).requires_grad_(input_grad)
    weight = torch.randn(n_out, n_in, dtype=torch.float64, generator=g, requires_grad=True)
    positions = (torch.rand(n_out, n_in, dtype=torch.float64, generator=g) * 6 - 3).requires_grad_()
    bias = torch.randn(n_out, dtype=torch.float64, generator=g, requires_grad=True)
    sigma = torch.tensor(1.3, dtype=torch.float64)
    gy = torch.randn(30, 3, n_out, dtype=torch.float64, generator=g)
    results = []
    for run in (E.gaussian_delay_events,
                lambda x, w, p, s, k, b: D.delay_conv(x, D.gaussian_kernel(w, p, s, k), b)):
        y = run(x, weight, positions, sigma, K, bias)
        inputs = [x, weight, positions, bias] if input_grad else [weight, positions, bias]
        results.append((y, *torch.autograd.grad((y * gy).sum(), inputs)))
    for got, want in zip(*results):
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


def test_event_path_layer_equals_dcls_output_and_gradients(ops):
    torch.manual_seed(6)
    K = 25
    m = DelayedLinear(13, 70, K, bias=True)
    assert_layer_matches_dcls(m, _spikes((40, 3, 13), 0.1, 6, dtype=torch.float32), atol=1e-5)


def test_event_path_layer_equals_fallback_layer_in_float64(ops, monkeypatch):
    """Whole layer, training mode, streamed in two chunks (history from the state): compiled vs pure PyTorch."""
    torch.manual_seed(7)
    m = DelayedLinear(9, 20, 9).double()
    x = _spikes((30, 4, 9), 0.1, 7)
    runs = []
    for env in ("1", "0"):
        monkeypatch.setenv("SPIKEFORGE_KERNELS", env)
        m.zero_grad()
        y1, state = m(x[:17])
        y2, _ = m(x[17:], state)
        torch.cat([y1, y2]).pow(2).sum().backward()
        runs.append((y1, y2, m.weight.grad.clone(), m.positions.grad.clone()))
    for got, want in zip(*runs):
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)


def test_auto_takes_the_event_path_only_for_sparse_covered_input(ops, monkeypatch):
    calls = []
    monkeypatch.setattr(E, "gaussian_delay_events", lambda *a, **k: calls.append("events"))
    w, p = torch.randn(4, 6), torch.zeros(4, 6)
    spikes = _spikes((20, 2, 6), 0.05, 8, dtype=torch.float32)
    E.gaussian_delay_auto(spikes, w, p, 1.0, 5)
    E.gaussian_delay_auto(torch.rand(20, 2, 6), w, p, 1.0, 5)                      # dense input
    E.gaussian_delay_auto(spikes.bfloat16(), w.bfloat16(), p.bfloat16(), 1.0, 5)  # dtype not covered
    E.gaussian_delay_auto(spikes, w, p, torch.tensor(1.0, requires_grad=True), 5)  # sigma to be trained
    monkeypatch.setenv("SPIKEFORGE_KERNELS", "0")
    E.gaussian_delay_auto(spikes, w, p, 1.0, 5)                                    # kernels off
    assert calls == ["events"]


def test_event_path_rejects_bad_input(ops, monkeypatch):
    x, w, p = torch.zeros(10, 2, 3), torch.zeros(4, 3), torch.zeros(4, 3)
    with pytest.raises(ValueError, match=r"gaussian_delay_events: expected .* got x torch.float32 \(10, 2, 3\) .* "
                                         r"weight torch.float64"):
        E.gaussian_delay_events(x, w.double(), p, 1.0, 5)
    with pytest.raises(ValueError, match=r"got x torch.float32 \(3, 2, 3\)"):  # shorter than the kernel
        E.gaussian_delay_events(x[:3], w, p, 1.0, 5)
    kt = torch.zeros(5, 3, 4)
    row_ptr, cols, vals = ops.delay_events(x.reshape(-1, 3))
    with pytest.raises(RuntimeError, match=r"row_ptr: expected contiguous int64 \(23,\)"):
        ops.delay_conv_forward(row_ptr, cols, vals, kt, 7, 2)
    with pytest.raises(RuntimeError, match="cols: index 3 out of range for 3 input channels"):
        ops.delay_conv_forward(torch.tensor([0] + [1] * 12), torch.tensor([3], dtype=torch.int32), torch.ones(1), kt,
                               2, 2)
    monkeypatch.setenv("SPIKEFORGE_KERNELS", "0")
    with pytest.raises(ValueError, match="compiled kernels: off"):
        E.gaussian_delay_events(x, w, p, 1.0, 5)


def test_fallback_layer_runs_without_kernels(fallback):
    torch.manual_seed(9)
    m = DelayedLinear(5, 3, 5)
    x = _spikes((12, 2, 5), 0.2, 9, dtype=torch.float32)
    kernel = m.kernel()
    torch.testing.assert_close(m(x)[0], D.delay_conv(F.pad(x, (0, 0, 0, 0, 4, 0)), kernel))
    m.eval()
    with torch.no_grad():
        y = m(x)[0]
    np.testing.assert_allclose(y.numpy(), naive_delay_linear(x.numpy(), m.weight.detach().numpy(),
                                                             m.delays().numpy()), rtol=1e-5, atol=1e-6)
