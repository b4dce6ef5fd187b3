"""Learnable delays: equivalence with dcls, a naive loop and finite differences; streaming; hooks; bad input."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from DCLS.construct.modules import Dcls1d

import snn
from snn.backends.torch import delay as TD
from snn.synapses import delay_functional as D
from snn.synapses.delay import AxonalDelayedLinear, DelayedLinear, SigmaSchedule


def naive_delay_linear(x, weight, delay, bias=None):
    """Independent reference: I_i[t] = sum_j W_ij x_j[t - d_ij] (+ b_i), plain Python loops."""
    T, B, n_in = x.shape
    n_out = weight.shape[0]
    y = np.zeros((T, B, n_out))
    for t in range(T):
        for i in range(n_out):
            for j in range(n_in):
                s = t - int(delay[i, j])
                if s >= 0:
                    y[t, :, i] += weight[i, j] * x[s, :, j]
            if bias is not None:
                y[t, :, i] += bias[i]
    return y


def dcls_reference(weight, positions, sigma, K, bias=None, version="gauss"):
    ref = Dcls1d(weight.shape[1], weight.shape[0], kernel_count=1, dilated_kernel_size=K, bias=bias is not None,
                 version=version)
    with torch.no_grad():
        ref.weight.copy_(weight.unsqueeze(-1))
        ref.P.copy_(positions.reshape(1, *weight.shape, 1))
        ref.SIG.fill_(sigma)
        if bias is not None:
            ref.bias.copy_(bias)
    return ref


def run_dcls(ref, x, K):
    """dcls on a time-major input, left-padded by K-1 zeros as in SNN-delays."""
    return ref(F.pad(x.permute(1, 2, 0), (K - 1, 0))).permute(2, 0, 1)


@pytest.mark.parametrize("K,sigma,bias", [(25, 12.0, False), (25, 0.23, True), (7, 1.7, True), (1, 0.5, False)])
def test_gaussian_path_equals_dcls_output_and_gradients(K, sigma, bias):
    torch.manual_seed(K)
    m = DelayedLinear(13, 9, K, bias=bias)
    with torch.no_grad():
        m.positions.uniform_(-(K // 2), K // 2)
        m.sigma.fill_(sigma)
    assert_layer_matches_dcls(m, (torch.rand(40, 3, 13) < 0.3).float(), atol=1e-6)


def assert_layer_matches_dcls(m, x, atol: float) -> None:
    """``DelayedLinear`` ``m`` against dcls with the same weights, positions and sigma: output (rtol 1e-5) and the
    weight and position gradients of a random projection (rtol 1e-4; ``atol`` for the output, 10x for gradients)."""
    K = m.max_delay
    ref = dcls_reference(m.weight.detach(), m.positions.detach(), m.sigma.item(), K,
                         None if m.bias is None else m.bias.detach())
    y, _ = m(x)
    y_ref = run_dcls(ref, x, K)
    torch.testing.assert_close(y, y_ref, rtol=1e-5, atol=atol)
    g = torch.randn_like(y)
    (y * g).sum().backward()
    (y_ref * g).sum().backward()
    torch.testing.assert_close(m.weight.grad, ref.weight.grad.squeeze(-1), rtol=1e-4, atol=10 * atol)
    torch.testing.assert_close(m.positions.grad, ref.P.grad.reshape(m.weight.shape), rtol=1e-4, atol=10 * atol)


def test_axonal_gaussian_path_equals_dcls_with_shared_positions():
    torch.manual_seed(1)
    K = 9
    m = AxonalDelayedLinear(6, 4, K, bias=True)
    with torch.no_grad():
        m.sigma.fill_(2.0)
    pos = m.positions.detach().expand(4, 6)
    ref = dcls_reference(m.weight.detach(), pos, 2.0, K, m.bias.detach())
    x = torch.rand(30, 2, 6)
    torch.testing.assert_close(m(x)[0], run_dcls(ref, x, K), rtol=1e-5, atol=1e-6)


def test_eval_equals_dcls_evaluation_protocol():
    """The paper evaluates with dcls 'max', SIG = 0 and rounded positions; eval() mode must give the same."""
    torch.manual_seed(2)
    K = 11
    m = DelayedLinear(8, 5, K).eval()
    ref = dcls_reference(m.weight.detach(), m.positions.detach().round(), 0.0, K, version="max")
    x = (torch.rand(25, 4, 8) < 0.4).float()
    torch.testing.assert_close(m(x)[0], run_dcls(ref, x, K), rtol=1e-5, atol=1e-6)


def _integer_case(seed, T=17, B=2, n_in=7, n_out=5, K=9, binary=True):
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(n_out, n_in))
    w[rng.random(w.shape) < 0.2] = 0.0  # pruned synapses
    w[:, 1] = 0.0                       # an input with no synapse at all
    d = rng.integers(0, K, size=(n_out, n_in))
    b = rng.normal(size=n_out)
    x = (rng.random((T, B, n_in)) < 0.3) * (1.0 if binary else rng.normal(size=(T, B, n_in)))
    return w, d, b, x


@pytest.mark.parametrize("binary", [True, False])
@pytest.mark.parametrize("path", ["grouped-dense", "grouped-sparse", "scatter"])
def test_integer_paths_equal_naive_loop(path, binary):
    w, d, b, x = _integer_case(3, binary=binary)
    wt, dt, bt, xt = (torch.tensor(a) for a in (w, d, b, x))
    if path == "scatter":
        y = TD.scatter_delay_linear(xt, TD.plan_scatter(wt, dt), bt)
    else:  # every group a dense block / every group sparse CSR
        groups = TD.plan_delay_groups(wt, dt, sparse_below=0.0 if path == "grouped-dense" else 1.1)
        y = TD.grouped_delay_linear(xt, groups, w.shape[0], bt)
    np.testing.assert_allclose(y.numpy(), naive_delay_linear(x, w, d, b), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("path", ["scatter", "grouped"])
def test_integer_paths_with_history_equal_naive_loop_on_the_whole_stream(path, monkeypatch):
    """Second half of a stream given its K-1 steps of history; tiny chunks make the scatter loop run many times."""
    monkeypatch.setattr(TD, "SCATTER_CHUNK", 16)
    w, d, b, x = _integer_case(4, T=30, binary=False)
    h = 8  # K - 1
    y = TD.integer_delay_linear(torch.tensor(x[12 - h:]), torch.tensor(w), torch.tensor(d), torch.tensor(b),
                                history=h, path=path)
    np.testing.assert_allclose(y.numpy(), naive_delay_linear(x, w, d, b)[12:], rtol=1e-10, atol=1e-12)


def test_auto_path_follows_input_density(monkeypatch):
    monkeypatch.setenv("SPIKEFORGE_KERNELS", "0")  # the pure-PyTorch paths (tests/test_delay_kernels.py: compiled)
    calls = []
    for name in ("scatter_delay_linear", "grouped_delay_linear"):
        real = getattr(TD, name)
        monkeypatch.setattr(TD, name, lambda *a, _real=real, _name=name, **k: calls.append(_name) or _real(*a, **k))
    w, d = torch.randn(4, 10), torch.randint(0, 5, (4, 10))
    sparse = torch.zeros(20, 2, 10)
    sparse[3, 1, 4] = 1.0           # 1 nonzero in 400: spikes
    dense = torch.rand(20, 2, 10)   # no zeros
    TD.integer_delay_linear(sparse, w, d)
    TD.integer_delay_linear(dense, w, d)
    with TD.delay_path("grouped"):
        TD.integer_delay_linear(sparse, w, d)
    TD.integer_delay_linear(dense, w, d, path="scatter")
    assert calls == ["scatter_delay_linear", "grouped_delay_linear", "grouped_delay_linear", "scatter_delay_linear"]
    with pytest.raises(ValueError, match="delay path: expected one of"):
        TD.integer_delay_linear(dense, w, d, path="fast")


@pytest.mark.parametrize("path", ["scatter", "grouped"])
def test_eval_module_and_torch_backend_equal_naive_loop(path):
    torch.manual_seed(4)
    K = 15
    m = DelayedLinear(10, 6, K, bias=True).eval()
    with torch.no_grad():
        m.weight[m.weight.abs() < 0.1] = 0.0  # pruned
    x = (torch.rand(30, 3, 10) < 0.3) * torch.rand(30, 3, 10) * 2
    d = (K // 2 - torch.round(m.positions.detach())).numpy()
    expected = naive_delay_linear(x.double().numpy(), m.weight.detach().double().numpy(), d,
                                  m.bias.detach().double().numpy())
    sim = snn.backends.get("torch").build(snn.lower(m))
    with TD.delay_path(path), torch.no_grad():
        np.testing.assert_allclose(m(x)[0].numpy(), expected, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(sim(x).numpy(), expected, rtol=1e-5, atol=1e-5)


def test_axonal_eval_equals_naive_loop():
    torch.manual_seed(5)
    K = 7
    m = AxonalDelayedLinear(5, 3, K).eval()
    x = torch.rand(20, 2, 5)
    d = (K // 2 - torch.round(m.positions.detach())).numpy()
    expected = naive_delay_linear(x.double().numpy(), m.weight.detach().double().numpy(),
                                  np.broadcast_to(d, (3, 5)))
    np.testing.assert_allclose(m(x)[0].detach().numpy(), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("cls", [DelayedLinear, AxonalDelayedLinear])
def test_position_gradients_match_finite_differences(cls):
    torch.manual_seed(6)
    m = cls(4, 3, 7).double()
    with torch.no_grad():
        m.sigma.fill_(0.8)
    x = torch.rand(12, 2, 4, dtype=torch.float64)
    w = m.weight.detach()

    def f(pos):
        if cls is DelayedLinear:
            return D.delay_conv(F.pad(x, (0, 0, 0, 0, 6, 0)), D.gaussian_kernel(w, pos, 0.8, 7))
        k = D.gaussian_kernel(torch.ones_like(pos), pos, 0.8, 7).unsqueeze(1)
        return F.linear(D.delay_conv(F.pad(x, (0, 0, 0, 0, 6, 0)), k, groups=4), w)

    pos = m.positions.detach().clone().requires_grad_(True)
    assert torch.autograd.gradcheck(f, (pos,), eps=1e-6, atol=1e-7, rtol=1e-5)
    # and the module's own backward gives the same gradient as the functional form checked above
    g = torch.randn(12, 2, 3, dtype=torch.float64)
    (m(x)[0] * g).sum().backward()
    (f(pos) * g).sum().backward()
    torch.testing.assert_close(m.positions.grad, pos.grad)


@pytest.mark.parametrize("train", [True, False])
@pytest.mark.parametrize("cls", [DelayedLinear, AxonalDelayedLinear])
def test_streaming_steps_and_chunks_equal_whole_sequence(cls, train):
    torch.manual_seed(7)
    m = cls(5, 4, 9).train(train)
    x = (torch.rand(16, 3, 5) < 0.5).float()
    with torch.no_grad():
        y, _ = m(x)
        state, steps = None, []
        for x_t in x:
            y_t, state = m.step(x_t, state)
            steps.append(y_t)
        a, s = m(x[:6])
        b, _ = m(x[6:], s)
    torch.testing.assert_close(torch.stack(steps), y, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(torch.cat([a, b]), y, rtol=1e-5, atol=1e-6)


def test_sigma_schedule_and_trainer_hooks():
    sched = SigmaSchedule(12.0, 0.23)
    assert sched(0, 100) == pytest.approx(12.0)
    assert sched(25, 100) == pytest.approx(0.23)
    assert sched(80, 100) == pytest.approx(0.23)
    ratio = sched(1, 100) / sched(0, 100)
    assert sched(11, 100) / sched(10, 100) == pytest.approx(ratio)
    assert ratio == pytest.approx((0.23 / 12.0) ** (1 / 25))
    m = DelayedLinear(3, 2, 25)
    assert m.sigma.item() == pytest.approx(12.0)  # K // 2
    m.epoch_end(150 // 4, 150)
    assert m.sigma.item() == pytest.approx(0.23)
    assert m.state_dict()["sigma"].item() == pytest.approx(0.23)  # checkpoints carry it
    with torch.no_grad():
        m.positions.fill_(40.0)
        m.positions[0, 0] = -40.0
    m.after_optimizer_step()
    assert m.positions.max().item() == 12.0 and m.positions.min().item() == -12.0


def test_lowering_gives_integer_delay_matrix_and_roundtrips(tmp_path):
    torch.manual_seed(8)
    K = 25
    model = snn.Sequential(DelayedLinear(12, 8, K), snn.LIF(8), AxonalDelayedLinear(8, 3, 5, bias=True), snn.LI(3))
    with torch.no_grad():
        model[0].positions[0, 0] = 2.5   # half to even: round -> 2, delay 10
        model[0].positions[0, 1] = -12.0  # delay 24
    g = snn.lower(model)
    nodes = [n for n in g.nodes.values() if isinstance(n, snn.ir.DelayLinear)]
    assert len(nodes) == 2
    assert nodes[0].delay.dtype == np.int64 and nodes[0].delay.shape == (8, 12)
    assert nodes[0].delay[0, 0] == 10 and nodes[0].delay[0, 1] == 24
    np.testing.assert_array_equal(nodes[0].delay, (K // 2 - np.round(model[0].positions.detach().numpy())))
    assert (nodes[1].delay == nodes[1].delay[0]).all()  # axonal: one delay per input, repeated over outputs
    path = tmp_path / "delays.h5"
    snn.ir.save(g, path)
    g2 = snn.ir.load(path)
    x = (torch.rand(40, 2, 12) < 0.3).float()
    model.eval()
    with torch.no_grad():
        y, _ = model(x)
    torch.testing.assert_close(snn.backends.get("torch").build(g2)(x), y, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("bad", [0, -3, 4, 2.0, True, "25"])
def test_bad_max_delay(bad):
    with pytest.raises(ValueError, match="max_delay"):
        DelayedLinear(3, 2, bad)


def test_bad_positions_on_load_and_lowering():
    m = DelayedLinear(3, 2, 5)
    sd = m.state_dict()
    sd["positions"] = torch.full((2, 3), 3.5)
    with pytest.raises(ValueError, match=r"positions.*\[-2, 2\]"):
        m.load_state_dict(sd)
    with torch.no_grad():
        m.positions.fill_(7.0)
    with pytest.raises(ValueError, match="DelayedLinear: positions"):
        snn.lower(m)


def test_bad_input_and_state():
    m = DelayedLinear(3, 2, 5)
    with pytest.raises(ValueError, match=r"DelayedLinear: input: expected shape \(T, B, 3\)"):
        m(torch.zeros(4, 2, 5))
    with pytest.raises(ValueError, match="DelayedLinear: state"):
        m(torch.zeros(4, 2, 3), snn.synapses.delay.DelayState(torch.zeros(2, 2, 3)))
