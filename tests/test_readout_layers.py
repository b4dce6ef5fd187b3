"""CubaLI, Integrator, Scale and Threshold: front end, IR node, torch backend, rebuild, against numpy references."""

import math

import numpy as np
import pytest
import torch

import snn
from snn import ir
from snn.backends.torch.simulator import build

T, B = 25, 3


def _x(shape, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(T, B, *shape, generator=g, dtype=torch.float64)


def _reference_cubali(x: np.ndarray, tau_mem, tau_syn, dt) -> np.ndarray:
    """i[t] = exp(-dt/tau_syn) i[t-1] + x[t];  v[t] = exp(-dt/tau_mem) v[t-1] + i[t], written out per element."""
    out = np.zeros_like(x)
    for b in range(x.shape[1]):
        for n in range(x.shape[2]):
            a, be = math.exp(-dt / tau_syn[n]), math.exp(-dt / tau_mem[n])
            i = v = 0.0
            for t in range(x.shape[0]):
                i = a * i + x[t, b, n]
                v = be * v + i
                out[t, b, n] = v
    return out


def test_cubali_matches_the_reference_step_and_sequence_and_ir():
    torch.set_default_dtype(torch.float64)
    try:
        tau_mem, tau_syn = torch.tensor([2.0, 10.0, 40.0]), torch.tensor([1.0, 5.0, 0.5])
        m = snn.CubaLI(3, tau_mem=tau_mem, tau_syn=tau_syn, dt=0.5)
        x = _x((3,), 0)
        ref = _reference_cubali(x.numpy(), tau_mem.tolist(), tau_syn.tolist(), 0.5)
        y, state = m(x)
        np.testing.assert_allclose(y.numpy(), ref, rtol=1e-12, atol=1e-12)
        s, steps = None, []
        for x_t in x:
            v, s = m.step(x_t, s)
            steps.append(v)
        assert torch.equal(torch.stack(steps), y) and torch.equal(state.v, s.v)
        graph = snn.lower(m)
        assert isinstance(graph.nodes["cubali"], ir.CubaLI) and graph.dt == 0.5
        np.testing.assert_allclose(build(graph, dtype=torch.float64)(x).numpy(), ref, rtol=1e-6, atol=1e-6)
    finally:
        torch.set_default_dtype(torch.float32)


def test_integrator_counts_and_scale_threshold_are_elementwise():
    x = _x((4,), 1).float()
    y, state = snn.Integrator(4)(x)
    np.testing.assert_allclose(y.numpy(), np.cumsum(x.numpy(), axis=0), rtol=1e-5, atol=1e-5)
    assert torch.equal(state.v, y[-1])
    s = torch.tensor([2.0, -1.0, 0.0, 0.5])
    assert torch.equal(snn.Scale(4, s)(x), x * s)
    th = torch.tensor([-0.5, 0.0, 0.5, 1.0])
    spikes = snn.Threshold(4, th)(x)
    assert torch.equal(spikes, torch.from_numpy((x.numpy() > th.numpy()).astype(np.float32)))
    model = snn.Sequential(snn.Scale(4, s), snn.Threshold(4, th), snn.Integrator(4))
    graph = snn.lower(model)
    assert [type(n).__name__ for n in graph.nodes.values()] == ["Scale", "Threshold", "Integrator"]
    assert torch.equal(build(graph)(x), model(x)[0])


def test_threshold_trains_through_its_surrogate():
    m = snn.Threshold(3, 0.5, learn_threshold=True)
    x = torch.randn(T, B, 3, requires_grad=True)
    m(x).sum().backward()
    assert x.grad.abs().sum() > 0 and m.threshold.grad.abs().sum() > 0


def test_ir_files_and_rebuild_keep_the_new_nodes(tmp_path):
    torch.manual_seed(0)
    model = snn.Sequential(snn.Linear(3, 4), snn.Scale(4, torch.tensor([1.0, 2.0, -1.0, 0.5])),
                           snn.Threshold(4, 0.2), snn.Linear(4, 2), snn.CubaLI(2, tau_syn=3.0), snn.Integrator(2))
    graph = snn.lower(model)
    ir.save(graph, tmp_path / "g.h5")
    loaded = ir.load(tmp_path / "g.h5")
    x = _x((3,), 2).float()
    expected = model(x)[0]
    assert torch.equal(build(loaded)(x), expected)
    assert torch.equal(snn.rebuild(loaded)(x)[0], expected)


@pytest.mark.parametrize("make, match", [
    (lambda: ir.CubaLI(np.ones(3), np.ones(2), 1.0), r"CubaLI: tau_syn: expected shape \(3,\)"),
    (lambda: ir.CubaLI(np.ones(3), np.zeros(3), 1.0), r"CubaLI: tau_syn: expected every value > 0"),
    (lambda: ir.Integrator((0,)), r"Integrator: shape: expected one or more integers >= 1"),
    (lambda: ir.Scale(np.array([1.0, np.nan])), r"Scale: scale: expected finite values"),
    (lambda: ir.Scale(2.0), r"Scale: scale: expected a per-feature array"),
    (lambda: ir.Threshold(1.0), r"Threshold: threshold: expected a per-feature array"),
    (lambda: snn.Scale(3, torch.ones(2)), r"Scale: scale: expected a scalar or a tensor broadcastable to \(3,\)"),
    (lambda: snn.Threshold(3, float("inf")), r"Threshold: threshold: expected finite values"),
    (lambda: snn.CubaLI(3, tau_syn=-1.0), r"CubaLI.*tau_syn"),
])
def test_bad_parameters_are_named(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_wrong_input_shapes_are_named():
    with pytest.raises(ValueError, match=r"Scale: input: expected trailing feature shape \(3,\)"):
        snn.Scale(3)(torch.zeros(T, B, 4))
    with pytest.raises(ValueError, match="Integrator"):
        snn.Integrator(3)(torch.zeros(T, B, 4))
    with pytest.raises(ValueError, match=r"lower: CubaLI expects input shape \(3,\)"):
        snn.lower(snn.Sequential(snn.Linear(2, 4), snn.CubaLI(3)))
