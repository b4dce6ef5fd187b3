"""The fused LIF kernels (snn/neurons/lif_fused.py, snn/kernels/csrc/lif.cpp) against the per-step reference path
(the same modules with ``SPIKEFORGE_KERNELS=0``) and a loop of the equations written here, plus their fallbacks."""

import itertools
import math

import pytest
import torch

import snn
from snn import kernels
from snn.neurons import lif_fused

FUSED_PAIR, FUSED_LIF = "_LinearLIFSequenceBackward", "_LIFSequenceBackward"


@pytest.fixture(autouse=True)
def _kernels_on(monkeypatch):
    monkeypatch.delenv("SPIKEFORGE_KERNELS", raising=False)
    assert kernels.ops() is not None, kernels.status()  # make setup builds them


def _reference(monkeypatch, fn):
    """``fn()`` with the compiled kernels off: the per-step autograd path."""
    with monkeypatch.context() as m:
        m.setenv("SPIKEFORGE_KERNELS", "0")
        return fn()


def _net(dtype, reset, surrogate, detach, bias=True):
    torch.manual_seed(0)
    return snn.Sequential(
        snn.Linear(40, 70, bias=bias),  # >= SPARSE_MIN_OUTPUTS: sparse input takes the spike-driven products
        snn.LIF(70, tau_mem=torch.rand(70) * 20 + 2, threshold=torch.rand(70) * 0.5 + 0.1, reset=reset,
                surrogate=surrogate, detach_reset=detach),
        snn.Linear(70, 20),
        snn.LIF(20, reset=reset, surrogate=surrogate, detach_reset=detach, threshold=0.2),
    ).to(dtype)


def _first_pair_sparse(out) -> bool:
    """Whether the first fused pair of the graph behind ``out`` (the one nearest the input) took the sparse path."""
    node, pairs = out.grad_fn, []
    while node is not None:
        if type(node).__name__ == FUSED_PAIR:
            pairs.append(node)
        node = next((n for n, _ in node.next_functions if n is not None and type(n).__name__ != "AccumulateGrad"),
                    None)
    return pairs[-1].config[5]


def _run(model, x, state=None):
    """Output, final state of the last layer and the gradients of a loss on the spikes and on that state."""
    x = x.clone().requires_grad_(True)
    out, st = model(x, state)
    g = torch.Generator().manual_seed(3)
    loss = (out * torch.randn(out.shape, generator=g, dtype=out.dtype)).sum() + (st[-1].v ** 2).sum()
    grads = torch.autograd.grad(loss, [x, *model.parameters()])
    return out, st[-1].v, grads, out.grad_fn


@pytest.mark.parametrize("reset,surrogate,detach", list(itertools.product(
    ("subtract", "zero", "none"), ("atan", "fast_sigmoid", "triangle"), (True, False))))
@pytest.mark.parametrize("density", [0.05, 0.6])  # below and above SPARSE_BELOW: spike-driven and dense products
def test_linear_lif_matches_reference_float64(monkeypatch, reset, surrogate, detach, density):
    model = _net(torch.float64, reset, surrogate, detach)
    x = (torch.rand(25, 8, 40, generator=torch.Generator().manual_seed(1)) < density).double()
    fast = _run(model, x)
    ref = _reference(monkeypatch, lambda: _run(model, x))
    assert type(fast[3]).__name__ == FUSED_PAIR and type(ref[3]).__name__ != FUSED_PAIR
    assert _first_pair_sparse(fast[0]) == (density < lif_fused.SPARSE_BELOW)
    assert 0 < float(fast[0].detach().mean()) < 1
    assert torch.equal(fast[0], ref[0])
    torch.testing.assert_close(fast[1], ref[1], rtol=1e-12, atol=1e-12)
    for a, b in zip(fast[2], ref[2]):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("bias", [True, False])
def test_linear_lif_float32_and_float_input(monkeypatch, bias):
    """float32 (gradients equal up to summation order) on spikes and on non-spike input (dense path)."""
    model = _net(torch.float32, "subtract", "atan", True, bias=bias)
    for x in ((torch.rand(30, 4, 40) < 0.1).float(), torch.randn(30, 4, 40) * 0.3):
        fast, ref = _run(model, x), _reference(monkeypatch, lambda: _run(model, x))
        assert type(fast[3]).__name__ == FUSED_PAIR
        assert torch.equal(fast[0], ref[0])
        for a, b in zip(fast[2], ref[2]):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_lif_alone_matches_reference(monkeypatch):
    """LIF and IF on a multi-dimensional shape after a convolution: the fused LIF-only node."""
    torch.manual_seed(0)
    model = snn.Sequential(snn.Conv2d(2, 3, 3, padding=1), snn.LIF((3, 5, 5), tau_mem=5.0, threshold=0.2),
                           snn.Conv2d(3, 2, 3, padding=1), snn.IF((2, 5, 5), threshold=0.3, reset="zero")).double()
    x = (torch.rand(12, 3, 2, 5, 5, generator=torch.Generator().manual_seed(2)) < 0.3).double()
    fast, ref = _run(model, x), _reference(monkeypatch, lambda: _run(model, x))
    assert type(fast[3]).__name__ == FUSED_LIF
    assert torch.equal(fast[0], ref[0]) and float(fast[0].detach().mean()) > 0
    for a, b in zip(fast[2], ref[2]):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


def test_streaming_state_and_its_gradient(monkeypatch):
    """Two chunks with the state carried equal one sequence, and the gradient reaches the initial membrane."""
    model = _net(torch.float64, "zero", "atan", True)
    x = (torch.rand(30, 4, 40, generator=torch.Generator().manual_seed(5)) < 0.2).double()
    whole, _ = model(x)
    first, state = model(x[:13])
    second, _ = model(x[13:], state)
    assert torch.equal(torch.cat([first, second]), whole)

    def grad_of_start():
        v0 = torch.full((4, 70), 0.3, dtype=torch.float64, requires_grad=True)
        start = tuple(model[1].initial_state(4, dtype=torch.float64)._replace(v=v0) if i == 1 else None
                      for i in range(4))
        out, _ = model(x, start)
        return torch.autograd.grad(out.sum(), v0)[0]
    fast = grad_of_start()
    torch.testing.assert_close(fast, _reference(monkeypatch, grad_of_start), rtol=1e-10, atol=1e-12)
    assert fast.abs().sum() > 0


def _surrogate_grad(d, slope):
    return (slope / 2) / (1 + (math.pi / 2 * slope * d) ** 2)


def test_fused_pair_matches_a_loop_of_the_equations():
    """Against the equations written out here (zero reset, atan surrogate, detached reset), forward and backward."""
    torch.manual_seed(0)
    T, B, K, N, tau, th = 20, 3, 16, 9, 7.0, 0.5  # both exact in float32 (the buffers start in float32)
    lin, lif = snn.Linear(K, N).double(), snn.LIF(N, tau_mem=tau, threshold=th, reset="zero").double()
    x = (torch.rand(T, B, K) < 0.3).double()
    out, _ = snn.Sequential(lin, lif)(x)
    upstream = torch.randn(T, B, N, dtype=torch.float64)
    grad_w, = torch.autograd.grad((out * upstream).sum(), lin.weight)
    beta = math.exp(-1.0 / tau)
    with torch.no_grad():
        cur = x @ lin.weight.t() + lin.bias
        v, pre, spikes = torch.zeros(B, N, dtype=torch.float64), [], []
        for t in range(T):
            v = beta * v + cur[t]
            s = (v > th).double()
            pre.append(v)
            spikes.append(s)
            v = v * (1 - s)
        gv, g_cur = torch.zeros(B, N, dtype=torch.float64), [None] * T
        for t in reversed(range(T)):
            g = upstream[t] * _surrogate_grad(pre[t] - th, 2.0) + gv * (1 - spikes[t])
            g_cur[t] = g
            gv = beta * g
        expected_w = torch.einsum("tbn,tbk->nk", torch.stack(g_cur), x)
    assert torch.equal(out, torch.stack(spikes)) and out.sum() > 0
    torch.testing.assert_close(grad_w, expected_w, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("make", [
    lambda: snn.LIF(20, recurrent=True), lambda: snn.LIF(20, learn_tau=True), lambda: snn.LIF(20, learn_threshold=True),
    lambda: snn.CubaLIF(20)], ids=["recurrent", "learn_tau", "learn_threshold", "cuba"])
def test_layers_the_kernels_do_not_cover_run_the_reference(make):
    model = snn.Sequential(snn.Linear(10, 20), make())
    out, _ = model((torch.rand(6, 2, 10) < 0.5).float())
    assert type(out.grad_fn).__name__ not in (FUSED_PAIR, FUSED_LIF)


def test_kernels_off_runs_the_reference(monkeypatch):
    monkeypatch.setenv("SPIKEFORGE_KERNELS", "0")
    assert kernels.ops() is None and "off" in kernels.status()
    out, _ = snn.Sequential(snn.Linear(10, 20), snn.LIF(20))(torch.rand(6, 2, 10))
    assert type(out.grad_fn).__name__ not in (FUSED_PAIR, FUSED_LIF)


def _saved_storages(fn):
    saved = []

    def pack(t):
        saved.append(t)
        return t
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return {t.untyped_storage().data_ptr(): t for t in saved}


@pytest.mark.parametrize("density", [0.02, 0.3])
def test_what_the_fused_pair_keeps_for_backward(density):
    """Sparse spikes: the indices of the ones and the parameters, nothing per neuron and step. Dense spikes: the input
    as uint8 and the input current. Counted here by hand from the shapes and the number of ones."""
    T, B, K, N = 50, 8, 70, 80
    lin, lif = snn.Linear(K, N), snn.LIF(N)
    x = (torch.rand(T, B, K, generator=torch.Generator().manual_seed(0)) < density).float()
    storages = _saved_storages(lambda: snn.Sequential(lin, lif)(x))
    total = sum(t.untyped_storage().nbytes() for t in storages.values())
    params = 4 * (N * K + N + B * N + N + N)  # weight, bias, initial membrane, beta, threshold
    ones = int(x.sum())
    if density < lif_fused.SPARSE_BELOW:
        assert ones < lif_fused.RECOMPUTE_BELOW * T * B
        assert total == 4 * ones + 8 * (T * B + 1) + params  # int32 column per one, int64 row offsets
    else:
        assert total == T * B * K + 4 * T * B * N + params


def test_spike_ops_against_dense_products():
    ops = kernels.ops()
    g = torch.Generator().manual_seed(0)
    for R, K, N in ((33, 37, 150), (5, 8, 64), (7, 3, 1), (4, 20, 5)):
        x = (torch.rand(R, K, generator=g) < 0.3).double()
        x[1] = 0  # a row without ones
        w = torch.randn(K, N, generator=g, dtype=torch.float64)
        grad = torch.randn(R, N, generator=g, dtype=torch.float64)
        bits, ones = ops.spike_pack(x)
        assert ones == int(x.sum()) and torch.equal(bits, x.to(torch.uint8))
        cols, row_ptr = ops.spike_csr(bits)
        assert row_ptr.tolist() == [0, *x.sum(1).cumsum(0).long().tolist()]
        assert cols.tolist() == x.nonzero()[:, 1].tolist()
        torch.testing.assert_close(ops.csr_linear(cols, row_ptr, w, w[0]), x @ w + w[0], rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(ops.csr_weight_grad(cols, row_ptr, grad, K), x.t() @ grad, rtol=1e-12,
                                   atol=1e-12)
    assert ops.spike_pack(torch.tensor([0.0, 1.0, 0.5]))[1] == -1  # not spikes: the caller takes the dense path


def test_spike_ops_refuse_wrong_inputs():
    ops = kernels.ops()
    with pytest.raises(RuntimeError, match="spike_csr: x: expected a contiguous uint8"):
        ops.spike_csr(torch.ones(3, 4))
    with pytest.raises(RuntimeError, match=r"column 9 outside \[0, 4\)"):
        ops.csr_weight_grad(torch.tensor([9], dtype=torch.int32), torch.tensor([0, 1]), torch.ones(1, 2), 4)
    with pytest.raises(RuntimeError, match="lif_forward: shapes disagree"):
        ops.lif_forward(torch.ones(3, 2, 4), torch.zeros(2, 5), torch.ones(4), torch.ones(4), 0)


def test_observer_sees_layer_outputs_and_keeps_pairs_fused():
    """snn.Sequential.observer: each module's output (a fused Linear has none), the pair stays one node."""
    torch.manual_seed(0)
    model = snn.Sequential(snn.Linear(10, 70), snn.LIF(70, threshold=0.1), snn.Linear(70, 5), snn.LI(5))
    x = (torch.rand(8, 3, 10) < 0.3).float()
    seen = []
    model.observer = lambda module, out: seen.append((module, out))
    out, _ = model(x)
    assert [m for m, _ in seen] == [model[1], model[2], model[3]]
    with torch.no_grad():
        spikes, _ = model[1](model[0](x))
    assert torch.equal(seen[0][1], spikes) and spikes.sum() > 0
    assert torch.equal(seen[2][1], out)
    assert FUSED_PAIR in _node_names(out)


def _node_names(out):
    names, stack, seen = set(), [out.grad_fn], set()
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        names.add(type(node).__name__)
        stack += [n for n, _ in node.next_functions]
    return names


def test_trainer_rate_recorder_keeps_the_pairs_fused():
    """The trainer's firing-rate recorder used forward hooks, which made every Linear + LIF pair run unfused."""
    from snn.train.trainer import _SpikeRecorder

    torch.manual_seed(0)
    inner = snn.Sequential(snn.Linear(70, 64), snn.LIF(64, threshold=0.1))
    model = snn.Sequential(inner, snn.Linear(64, 5), snn.LIF(5, threshold=0.1))
    recorder = _SpikeRecorder(model)
    x = (torch.rand(8, 3, 70) < 0.2).float()
    out, _ = model(x)
    assert FUSED_PAIR in _node_names(out)
    with torch.no_grad():
        hidden, _ = inner[1](inner[0](x))
    assert list(recorder.outputs) == ["lif_0.1", "lif_2"]
    assert torch.equal(recorder.outputs["lif_0.1"], hidden) and torch.equal(recorder.outputs["lif_2"], out)


def test_backward_uses_the_kernels_forward_used(monkeypatch):
    """Turning the kernels off between forward and backward does not break a graph built with them."""
    model = snn.Sequential(snn.Linear(10, 70), snn.LIF(70, threshold=0.1), snn.LIF(70, threshold=0.1))
    x = (torch.rand(8, 3, 10) < 0.2).float()
    out, _ = model(x)
    assert {FUSED_PAIR, FUSED_LIF} <= _node_names(out)
    monkeypatch.setenv("SPIKEFORGE_KERNELS", "0")
    out.sum().backward()
    assert model[0].weight.grad is not None and torch.isfinite(model[0].weight.grad).all()
