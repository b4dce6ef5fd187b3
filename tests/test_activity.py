"""Activity plots (raster, membrane, rates) against the front-end model run by torch itself and a numpy membrane
loop; ``snn plot RUN`` and ``snn eval --plots`` on a real trained run."""

import numpy as np
import pytest
import torch
from matplotlib import image
from test_train_run import _only_run, _train_args, cli, data_root  # noqa: F401 (fixtures)

from snn import LI, LIF, Linear, Sequential, lower
from snn.train.activity import plot_activity, record_activity

PNG = b"\x89PNG\r\n\x1a\n"


def _model():
    torch.manual_seed(0)
    model = Sequential(Linear(6, 12), LIF(12, tau_mem=8.0, threshold=0.6, reset="subtract", dt=1.0),
                       Linear(12, 5), LIF(5, tau_mem=15.0, threshold=0.4, reset="zero", dt=1.0),
                       Linear(5, 3), LI(3, tau_mem=10.0, dt=1.0))
    with torch.no_grad():
        model[0].weight.mul_(3.0)
        model[2].weight.mul_(2.0)
    return model.eval()


def _reference(model, x):
    """Outputs and inputs of every LIF/LI module from the front end's own forward pass (forward hooks)."""
    seen = {}

    def hook(module, args, output):
        seen[module] = (args[0].detach(), output[0].detach())

    handles = [m.register_forward_hook(hook) for m in model if isinstance(m, (LIF, LI))]
    with torch.no_grad():
        model(x)
    for h in handles:
        h.remove()
    return seen


def _membrane(inp, tau, theta, reset, dt=1.0):
    """Membrane before reset, by a plain numpy loop: v = exp(-dt/tau) v + x; spike when v > theta."""
    beta, v, out = np.exp(-dt / tau), np.zeros(inp.shape[1:]), []
    for xt in inp:
        v = beta * v + xt
        out.append(v.copy())
        s = v > theta
        v = v - s * theta if reset == "subtract" else (v * ~s if reset == "zero" else v)
    return np.stack(out)


def test_raster_traces_and_rates_are_the_networks_activity(tmp_path):
    model = _model()
    T, B = 40, 6
    x = (torch.rand(T, B, 6, generator=torch.Generator().manual_seed(1)) < 0.3).float()
    lengths = [40, 40, 31, 40, 25, 40]
    graph = lower(model, (6,))
    act = record_activity(graph, x, lengths, sample=2, neurons=None)
    drawn = plot_activity(act, tmp_path, prefix="t")
    for kind, path in drawn["paths"].items():
        assert path.read_bytes()[:8] == PNG and image.imread(path).shape[2] in (3, 4), kind

    ref = _reference(model, x)
    lifs = [m for m in model if isinstance(m, LIF)]
    spiking = [n for n in graph.topological_order() if type(graph.nodes[n]).__name__ == "LIF"]
    assert list(drawn["raster"]) == spiking and len(spiking) == 2
    valid = (torch.arange(T)[:, None] < torch.tensor(lengths)[None]).float()
    for name, module, (tau, theta, reset) in zip(spiking, lifs, [(8.0, 0.6, "subtract"), (15.0, 0.4, "zero")]):
        inp, spikes = ref[module]
        sample = spikes[:31, 2].numpy()
        assert sample.sum() > 0, "the test needs spikes"
        t, n = drawn["raster"][name]
        expected = np.nonzero(sample)
        np.testing.assert_array_equal(t, expected[0])
        np.testing.assert_array_equal(n, expected[1])
        rates = ((spikes * valid[..., None]).sum((0, 1)) / valid.sum()).numpy()
        np.testing.assert_allclose(drawn["rates"][name], rates, rtol=1e-6)
        v = _membrane(inp[:31, 2].double().numpy(), tau, theta, reset)
        chosen = act.neurons[name]
        assert chosen == sorted(np.argsort(-sample.sum(0), kind="stable")[:3].tolist())
        np.testing.assert_allclose(drawn["membrane"][name], v[:, chosen], rtol=1e-5, atol=1e-5)
    readout = next(n for n in graph.topological_order() if type(graph.nodes[n]).__name__ == "LI")
    np.testing.assert_allclose(drawn["membrane"][readout], ref[model[5]][1][:31, 2].numpy(), rtol=1e-5, atol=1e-6)

    picked = record_activity(graph, x, lengths, neurons=[0, 2])
    assert all(v == [0, 2] for v in picked.neurons.values())
    with pytest.raises(ValueError, match=r"neurons \[7\] out of range for layer .* of 5 neurons"):
        record_activity(graph, x, lengths, neurons=[0, 7])
    with pytest.raises(ValueError, match="sample: expected an index in 0..5, got 6"):
        record_activity(graph, x, lengths, sample=6)


def test_snn_plot_and_eval_plots_on_a_trained_run(tmp_path, data_root, cli):  # noqa: F811
    code, _, err = cli(_train_args(tmp_path / "runs", data_root, "train.epochs=1"))
    assert code == 0, err
    run = _only_run(tmp_path / "runs")
    code, stdout, err = cli(["plot", str(run), "--samples", "8", "--neurons", "0,3"])
    assert code == 0, err
    for kind in ("raster", "membrane", "rates"):
        assert (run / f"activity-test-{kind}.png").read_bytes()[:8] == PNG
    code, stdout, err = cli(["eval", str(run), "--quiet", "--plots", "--split", "train", "--out", str(tmp_path / "e"),
                             "--samples", "4"])
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "e").glob("activity-*.png")) == \
        ["activity-train-membrane.png", "activity-train-raster.png", "activity-train-rates.png"]
    code, _, err = cli(["plot", str(run), "--neurons", "0,x"])
    assert code == 2 and "--neurons" in err
    code, _, err = cli(["plot", str(run), "--neurons", "99"])
    assert code == 2 and "neurons [99] out of range" in err
