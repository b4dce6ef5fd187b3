"""benchmarks/bench_lif.py times the same network in every framework: on a tiny network the peers' spikes equal
spikeforge's, and where a framework has the same surrogate and reset the weight gradients equal them too."""

import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import bench_lif  # noqa: E402

SIZES, T, B = (30, 16, 16, 4), 25, 3


def _run(name, density=0.3):
    """Output spikes and the first layer's weight gradient of one training loss, for framework ``name``."""
    model, run = bench_lif._build(name, bench_lif._linears(SIZES, density))
    g = torch.Generator().manual_seed(3)
    x = (torch.rand(T, B, SIZES[0], generator=g) < density).float()
    y = torch.randint(0, SIZES[-1], (B,), generator=g)
    out = run(x)
    F.cross_entropy(out.sum(0), y).backward()
    first = next(p for p in model.parameters() if p.dim() == 2)
    return out.detach(), first.grad


@pytest.mark.parametrize("name", [bench_lif.PLAIN, "SpikingJelly", "Norse"])
def test_peers_spike_like_spikeforge(name):
    ours, _ = _run(bench_lif.OURS)
    assert ours.mean() > 0.01  # the network fires: the comparison means something
    torch.testing.assert_close(_run(name)[0], ours, rtol=0, atol=0)


@pytest.mark.parametrize("name", [bench_lif.PLAIN, "SpikingJelly"])
def test_same_surrogate_and_reset_give_the_same_gradients(name):
    torch.testing.assert_close(_run(name)[1], _run(bench_lif.OURS)[1], rtol=1e-4, atol=1e-6)


def test_snntorch_differs_only_where_a_reset_leaves_the_membrane_above_threshold():
    # with weights small enough that v never reaches 2 x threshold, snnTorch's Leaky spikes as the others do
    model, run = bench_lif._build("snnTorch", [torch.nn.Linear(30, 4)])
    ours_model, ours_run = bench_lif._build(bench_lif.OURS, [torch.nn.Linear(30, 4)])
    with torch.no_grad():
        for m in (model, ours_model):
            lin = next(c for c in m.modules() if isinstance(c, torch.nn.Linear))
            lin.weight.fill_(0.05)
            lin.bias.zero_()
    x = (torch.rand(T, B, 30, generator=torch.Generator().manual_seed(0)) < 0.5).float()
    ours = ours_run(x)
    assert ours.sum() > 0
    torch.testing.assert_close(run(x), ours, rtol=0, atol=0)
