"""Sequence helpers of the delay recipe: one-mask-per-sequence dropout, BatchNorm over (T, B, C), folding."""

import pytest
import torch

import snn
from snn.layers import SequenceBatchNorm, SequenceDropout, fold_batchnorm


def test_dropout_one_mask_per_sequence_and_identity_in_eval():
    torch.manual_seed(0)
    drop = SequenceDropout(0.4)
    x = torch.ones(50, 8, 30)
    y, mask = drop(x)
    assert torch.equal(y, y[:1].expand_as(y))  # same channels dropped at every step
    values = torch.unique(y)
    assert len(values) == 2 and values[0] == 0 and values[1].item() == pytest.approx(1 / 0.6)
    assert 0.2 < (y[0] == 0).float().mean().item() < 0.6
    steps, state = [], None
    for x_t in x[:5]:
        y_t, state = drop.step(x_t, state)
        steps.append(y_t)
    assert torch.equal(torch.stack(steps), torch.stack(steps)[:1].expand(5, 8, 30))
    drop.eval()
    assert torch.equal(drop(x)[0], x)
    with pytest.raises(ValueError, match="SequenceDropout: p"):
        SequenceDropout(1.0)


def test_batchnorm_statistics_over_time_and_batch():
    torch.manual_seed(1)
    bn = SequenceBatchNorm(4)
    x = torch.randn(10, 6, 4) * 3 + 2
    y = bn(x)
    flat = x.reshape(-1, 4)
    expected = (flat - flat.mean(0)) / torch.sqrt(flat.var(0, unbiased=False) + bn.eps)
    torch.testing.assert_close(y.reshape(-1, 4), expected, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match=r"SequenceBatchNorm: input: expected shape \(T, B, 4\)"):
        bn(torch.zeros(3, 2, 5))


@pytest.mark.parametrize("first", ["delay", "linear"])
def test_fold_and_lowering_match_front_end(first):
    torch.manual_seed(2)
    layer = snn.DelayedLinear(6, 5, 7) if first == "delay" else snn.Linear(6, 5)
    model = snn.Sequential(layer, SequenceBatchNorm(5), snn.LIF(5), SequenceDropout(0.3), snn.Linear(5, 3), snn.LI(3))
    x = (torch.rand(30, 4, 6) < 0.4).float()
    model.train()
    for _ in range(3):  # fill the running statistics
        model(x)
    with torch.no_grad():
        model[1].weight.uniform_(0.5, 2.0)
        model[1].bias.uniform_(-0.5, 0.5)
    model.eval()
    with torch.no_grad():
        y, _ = model(x)
        folded = fold_batchnorm(model)
        torch.testing.assert_close(folded(x)[0], y, rtol=1e-5, atol=1e-5)
    assert isinstance(folded[1], torch.nn.Identity) and isinstance(model[1], SequenceBatchNorm)
    for m in (model, folded):
        graph = snn.lower(m)
        assert not any(type(n).__name__ == "SequenceDropout" for n in graph.nodes.values())
        torch.testing.assert_close(snn.backends.get("torch").build(graph)(x), y, rtol=1e-4, atol=1e-4)
    assert len(snn.lower(folded).nodes) == len(snn.lower(model).nodes) - 1
