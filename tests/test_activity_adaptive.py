"""`snn plot`'s membrane traces of IF and AdLIF layers: the torch backend's trace kernels against the front-end model's
spikes and the paper's equations run by a plain numpy loop."""

import numpy as np
import torch

from snn import IF, LI, AdLIF, Linear, Sequential, lower
from snn.train.activity import plot_activity, record_activity


def _model():
    torch.manual_seed(0)
    model = Sequential(Linear(6, 10), IF(10, threshold=0.8, reset="subtract"),
                       Linear(10, 8), AdLIF(8, tau_mem=5.0, tau_adapt=30.0, a=0.5, b=1.0, q=2.0, threshold=0.3,
                                            dt=1.0),
                       Linear(8, 3), LI(3, tau_mem=10.0, dt=1.0))
    with torch.no_grad():
        model[0].weight.mul_(3.0)
        model[2].weight.mul_(4.0)
    return model.eval()


def _if_membrane(inp, theta):
    """IF membrane before reset: v = v + x; spike when v > theta; subtract reset."""
    v, out = np.zeros(inp.shape[1:]), []
    for xt in inp:
        v = v + xt
        out.append(v.copy())
        v = v - (v > theta) * theta
    return np.stack(out)


def _adlif_membrane(inp, tau_mem, tau_adapt, qa, qb, theta, dt=1.0):
    """SE-adLIF (Baronig et al. 2025) membrane before reset, zero reset: u = alpha u + (1 - alpha)(x - w),
    s = u > theta, u <- u (1 - s), w = beta w + (1 - beta)(q a u + q b s)."""
    alpha, beta = np.exp(-dt / tau_mem), np.exp(-dt / tau_adapt)
    u, w, out = np.zeros(inp.shape[1:]), np.zeros(inp.shape[1:]), []
    for xt in inp:
        u = alpha * u + (1 - alpha) * (xt - w)
        out.append(u.copy())
        s = (u > theta).astype(float)
        u = u * (1 - s)
        w = beta * w + (1 - beta) * (qa * u + qb * s)
    return np.stack(out)


def test_if_and_adlif_membranes_plot(tmp_path):
    model = _model()
    T, B, steps = 50, 4, 41
    x = (torch.rand(T, B, 6, generator=torch.Generator().manual_seed(3)) < 0.3).float()
    seen = {}
    hooks = [m.register_forward_hook(lambda mod, args, out: seen.__setitem__(mod, (args[0], out[0])))
             for m in (model[1], model[3])]
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    graph = lower(model, (6,))
    act = record_activity(graph, x, [T, steps, T, T], sample=1)
    drawn = plot_activity(act, tmp_path, prefix="t")
    names = [n for n in graph.topological_order() if type(graph.nodes[n]).__name__ in ("IF", "AdLIF")]
    assert [act.layer_types[n] for n in names] == ["IF", "AdLIF"] and list(drawn["raster"]) == names
    refs = [_if_membrane(seen[model[1]][0][:steps, 1].double().numpy(), 0.8),
            _adlif_membrane(seen[model[3]][0][:steps, 1].double().numpy(), 5.0, 30.0, 1.0, 2.0, 0.3)]
    for name, module, v in zip(names, (model[1], model[3]), refs):
        spikes = seen[module][1][:steps, 1].numpy()
        assert spikes.sum() > 0, "the test needs spikes"
        np.testing.assert_array_equal(drawn["raster"][name][0], np.nonzero(spikes)[0])
        chosen = act.neurons[name]
        np.testing.assert_allclose(drawn["membrane"][name], v[:, chosen], rtol=1e-5, atol=1e-5)
        np.testing.assert_array_equal(v[:, chosen] > act.threshold[name], spikes[:, chosen] > 0)
    assert (tmp_path / "t-membrane.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
