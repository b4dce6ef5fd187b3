"""Binning keeps its temporary memory near its budget whatever the sample lengths, and the chunked result equals an
unchunked reference."""

import tracemalloc

import numpy as np
import pytest

import snn.datasets as D
from snn.datasets.frames import build
from snn.datasets.testing import random_audio, write_shd

_FIELDS = ("cols", "counts", "row_nnz", "lengths", "labels")


def _long_samples(n, seed):
    """SHD-like samples of 1.4 s (the last event at 1.399 s), ~300 events each: sparse, but 1400 x 700 cells per
    sample at dt = 1 ms."""
    samples = random_audio(n, seed=seed, mean_events=300, max_s=1.4)
    return [(np.append(t, 1_399_000), np.append(u, 699)) for t, u in samples]


def _reference(samples, dt_us, nfeat):
    """Unchunked: each sample's whole dense (bins, channels) count matrix at once."""
    out = []
    for t, u in samples:
        f = np.zeros((t.max() // dt_us + 1 if len(t) else 1, nfeat), np.int64)  # an empty sample: one zero frame
        np.add.at(f, (t // dt_us, u), 1)
        out.append(f)
    return out


def _dense(sparse, nfeat):
    """Expands sparse frames (CSR over bins) back to one dense array per sample."""
    rows = np.repeat(np.arange(len(sparse.row_nnz)), sparse.row_nnz.astype(np.int64))
    dense = np.zeros((len(sparse.row_nnz), nfeat), np.int64)
    dense[rows, sparse.cols.astype(np.int64)] = sparse.counts
    return np.split(dense, np.cumsum(sparse.lengths)[:-1])


@pytest.mark.parametrize("budget_mib", [1, 4])
def test_binning_peak_memory_stays_near_the_budget(tmp_path, budget_mib):
    samples = _long_samples(30, seed=1)
    labels = [i % 20 for i in range(30)]
    write_shd(tmp_path / "shd" / "shd_train.h5", [t / 1e6 for t, _ in samples], [u for _, u in samples], labels)
    events = D.load("shd", "train", root=tmp_path)
    cfg = D.FrameConfig(dt=1.0)  # 700 features; unchunked, the counts alone would be 30 x 1400 x 700 x 8 B = 235 MB
    budget = budget_mib << 20
    tracemalloc.start()
    try:
        sparse = build(events, cfg, budget=budget)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    output = sum(getattr(sparse, name).nbytes for name in _FIELDS)
    # generous margin: the budget, the output twice (parts, then their concatenation) and 1 MiB of small objects
    assert peak <= budget + 2 * output + (1 << 20), (peak, budget, output)
    ref = _reference(samples, 1000, 700)
    got = _dense(sparse, 700)
    assert list(sparse.labels) == labels and len(got) == len(ref)
    for r, g in zip(ref, got):
        np.testing.assert_array_equal(g, r)


@pytest.mark.parametrize("budget", [1, 700 * 8 * 3, 1 << 30])  # less than one bin, three bins, everything at once
def test_chunked_binning_equals_unchunked_reference_for_any_budget(tmp_path, budget):
    samples = _long_samples(6, seed=2)
    samples[2] = (np.zeros(0, np.int64), np.zeros(0, np.int64))  # an empty sample: one frame of zeros
    samples[4] = (np.full(300, 700_000), np.full(300, 5))  # 300 events in one cell: counts need uint16
    write_shd(tmp_path / "shd" / "shd_train.h5", [t / 1e6 for t, _ in samples], [u for _, u in samples],
              [1, 2, 3, 4, 5, 6])
    events = D.load("shd", "train", root=tmp_path)
    sparse = build(events, D.FrameConfig(dt=1.0), budget=budget)
    ref = _reference(samples, 1000, 700)
    got = _dense(sparse, 700)
    for r, g in zip(ref, got):
        np.testing.assert_array_equal(g, r)
    assert sparse.counts.dtype == np.uint16
