"""Encoders against closed forms: rate statistics within binomial / Poisson tolerances, latency spike times, delta
reconstruction within the threshold; seeding; bad input; use inside a model and as a per-sample transform."""

import math

import numpy as np
import pytest
import torch

import snn
from snn.encoders import DeltaEncoder, LatencyEncoder, RateEncoder


def test_bernoulli_counts_follow_the_binomial():
    p = torch.tensor([0.0, 0.02, 0.25, 0.5, 0.9, 1.0])
    T, B = 3000, 4
    spikes = RateEncoder(T, gain=0.5, seed=0)(2 * p.expand(B, -1))
    assert set(spikes.unique().tolist()) <= {0.0, 1.0}
    counts = spikes.sum(0).double()  # (B, 6), each ~ Binomial(T, p)
    mean, sd = T * p.double(), torch.sqrt(T * p.double() * (1 - p.double()))
    assert torch.all((counts - mean).abs() <= 5 * sd + 1e-9)  # 5 sigma; exact at p = 0 and p = 1
    # independence across steps: P(s_t = s_{t+1} = 1) = p^2 for p = 0.5 (binomial tolerance over (T-1) B pairs)
    both = (spikes[1:, :, 3] * spikes[:-1, :, 3]).mean().item()
    n = (T - 1) * B
    assert abs(both - 0.25) <= 5 * math.sqrt(0.25 * 0.75 / n)


def test_poisson_counts_follow_the_poisson_law():
    lam = torch.tensor([0.0, 0.05, 0.7, 2.5])
    T, B = 4000, 3
    n = RateEncoder(T, "poisson", seed=1)(lam.expand(B, -1)).double()
    assert torch.equal(n, n.round()) and n.min() >= 0
    total = n.sum(0)  # ~ Poisson(T lam)
    assert torch.all((total - T * lam).abs() <= 5 * torch.sqrt(T * lam.double()) + 1e-9)
    var = n[:, :, 2:].var(0)  # Poisson: variance = mean = lam; sd of the sample variance ~ sqrt((lam + 2 lam^2) / T)
    assert torch.all((var - lam[2:]).abs() <= 5 * torch.sqrt((lam[2:] + 2 * lam[2:] ** 2) / T))
    assert n[:, :, 3].max() > 1  # counts, not capped at one per step


def test_rate_seeding():
    x = torch.rand(2, 5)
    a, b = RateEncoder(50, seed=7), RateEncoder(50, seed=7)
    assert torch.equal(a(x), b(x)) and torch.equal(a(x), b(x))  # the same sequence of draws
    assert not torch.equal(RateEncoder(50, seed=8)(x), RateEncoder(50, seed=7)(x))
    enc = RateEncoder(50, seed=3)
    first = enc.transform(x[0], index=11)
    enc.transform(x[1], index=2)
    assert torch.equal(enc.transform(x[0], index=11), first)  # per-sample: order does not matter
    assert not torch.equal(enc.transform(x[0], index=12), first)
    torch.manual_seed(0)
    g1 = RateEncoder(50)(x)
    torch.manual_seed(0)
    assert torch.equal(RateEncoder(50)(x), g1)  # no seed: torch's global RNG


@pytest.mark.parametrize("T", [11, 25])
def test_linear_latency_spike_times(T):
    x = torch.tensor([[0.0, 0.005, 0.3, 0.62, 0.9, 1.0]])
    s = LatencyEncoder(T)(x)
    for j, v in enumerate(x[0].tolist()):
        times = torch.nonzero(s[:, 0, j]).flatten().tolist()
        assert times == ([] if v <= 0.01 else [int(np.round((1 - v) * (T - 1)))])


def test_log_latency_spike_times():
    tau, theta, T = 4.0, 0.2, 12
    x = torch.tensor([0.1, 0.2, 0.21, 0.26, 0.4, 0.75, 1.0])
    s = LatencyEncoder(T, "log", tau=tau, threshold=theta).transform(x)
    for j, v in enumerate(x.tolist()):
        expected = []
        if v > theta:
            t = round(tau * math.log(v / (v - theta)))
            expected = [t] if t < T else []
        assert torch.nonzero(s[:, j]).flatten().tolist() == expected
    assert s[:, 2].sum() == 0 and s[:, 3].sum() == 1  # 0.21: t = 12.2 -> beyond T; 0.26: t = 6


def test_delta_reconstructs_within_threshold():
    g = torch.Generator().manual_seed(0)
    t = torch.linspace(0, 4 * math.pi, 400, dtype=torch.float64)
    signal = torch.stack([torch.sin(t), 0.3 * torch.cos(3 * t), torch.cumsum(torch.randn(400, generator=g,
                                                                                          dtype=torch.float64), 0)], 1)
    x = signal.view(400, 1, 3).expand(400, 2, 3)
    theta = 0.05
    spikes = DeltaEncoder(theta)(x)
    assert spikes.shape == (400, 2, 2, 3) and spikes.min() >= 0 and torch.equal(spikes, spikes.round())
    rec = DeltaEncoder.reconstruct(spikes, theta)
    assert (rec - x).abs().max().item() < theta * (1 + 1e-9)
    assert spikes[:, :, 1].sum() > 0 and spikes.max() > 1  # OFF spikes happen; jumps of several thresholds counted


def test_delta_closed_form_steps():
    x = torch.tensor([0.0, 0.24, 0.24, 0.35, -0.1]).view(5, 1)
    s = DeltaEncoder(0.1).transform(x)  # one signal (T, C) -> (T, 2, C)
    assert s[:, 0, 0].tolist() == [0, 2, 0, 1, 0] and s[:, 1, 0].tolist() == [0, 0, 0, 0, 4]


def test_encoders_inside_a_model():
    torch.manual_seed(0)
    model = snn.Sequential(RateEncoder(20, seed=0), snn.Flatten((1, 8, 8)), snn.Linear(64, 10), snn.LIF(10))
    y, _ = model(torch.rand(3, 1, 8, 8))
    assert y.shape == (20, 3, 10)


@pytest.mark.parametrize("build, match", [
    (lambda: RateEncoder(0), "RateEncoder: num_steps"),
    (lambda: RateEncoder(5, "gauss"), "RateEncoder: mode"),
    (lambda: RateEncoder(5, gain=0.0), "RateEncoder: gain"),
    (lambda: RateEncoder(5, seed=-1), "RateEncoder: seed"),
    (lambda: RateEncoder(5)(torch.tensor([[0.5, 1.2]])), r"RateEncoder: input: expected probabilities .* 1 value"),
    (lambda: RateEncoder(5, "poisson")(torch.tensor([[-0.1]])), "RateEncoder: input: expected rates"),
    (lambda: RateEncoder(5)(torch.tensor([[float("nan")]])), "RateEncoder: input: expected finite"),
    (lambda: LatencyEncoder(5)(torch.tensor([[1.5]])), r"LatencyEncoder: input: expected values gain \* x"),
    (lambda: LatencyEncoder(5, "log", threshold=0.0), "LatencyEncoder: threshold"),
    (lambda: LatencyEncoder(5, "exp"), "LatencyEncoder: mode"),
    (lambda: DeltaEncoder(0.0), "DeltaEncoder: threshold"),
    (lambda: DeltaEncoder(0.1)(torch.zeros(5)), "DeltaEncoder: input: expected at least 2 dimensions"),
])
def test_bad_arguments(build, match):
    with pytest.raises(ValueError, match=match):
        build()


@pytest.mark.timeout(300)
def test_digits_spikes_dataset_is_the_encoders_output(tmp_path):
    from snn import datasets as D
    from snn.datasets.ndigits import digits, is_test

    images, labels = digits()
    test_index = np.flatnonzero(is_test(np.arange(len(labels))))
    lat = D.frames("digits-spikes", "test", root=tmp_path, options={"encoding": "latency", "steps": 20},
                   duration=20.0)
    assert len(lat) == len(test_index) == 360
    want = LatencyEncoder(20)(torch.from_numpy(images[test_index].reshape(-1, 64)))  # (20, 360, 64)
    for k in (0, 7, 359):
        x, y = lat[k]
        assert y == labels[test_index[k]]
        torch.testing.assert_close(torch.as_tensor(x), want[:, k], rtol=0, atol=0)
    rate = D.frames("digits-spikes", "train", root=tmp_path, options={"seed": 3})
    i = int(np.flatnonzero(~is_test(np.arange(len(labels))))[5])
    ref = RateEncoder(30, gain=0.5, seed=3).transform(torch.from_numpy(images[i].reshape(64)), index=i)
    torch.testing.assert_close(torch.as_tensor(rate[5][0]), ref, rtol=0, atol=0)
    with pytest.raises(ValueError, match="digits-spikes: encoding"):
        D.frames("digits-spikes", "train", root=tmp_path, options={"encoding": "delta"})
