"""The benchmarks' memory counters (benchmarks/_measure.py) against byte counts worked out by hand."""

import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from _measure import SavedTensors, peak_rss_increase, saved_bytes  # noqa: E402


def test_each_saved_storage_counts_once():
    a = torch.randn(5, requires_grad=True)  # 5 float32: 20 bytes
    with SavedTensors() as saved:
        y = a.exp()  # saves its result y
        z = y * a  # saves y again and a
    assert saved.nbytes == 20 + 20
    assert saved.bytes_of(a) == 20 and saved.bytes_of(torch.zeros(5)) == 0
    z.sum().backward()  # the hooks hand the tensors back unchanged
    e = a.detach().exp()
    torch.testing.assert_close(a.grad, e * a.detach() + e)  # d(a e^a)/da


def test_a_saved_view_counts_its_whole_storage():
    b = torch.randn(10, dtype=torch.float64, requires_grad=True)  # 80 bytes
    other = torch.randn(3, requires_grad=True)  # 12 bytes, saved by mul
    n, n_input = saved_bytes(lambda: (b[2:5].sin().float() * other).sum().backward(), b)
    # sin saves the view b[2:5] (b's whole 80-byte storage); mul saves the float32 copy (12) and other (12)
    assert (n, n_input) == (80 + 12 + 12, 80)


def test_peak_rss_increase_sees_a_transient_array():
    size = 80 * 2 ** 20

    def block():
        a = np.ones(size // 8)  # touched: resident
        del a

    # the kernel's RSS counters lag by up to a few hundred kB (per-thread caches): 1 MiB of slack each way
    assert size - 2 ** 20 <= peak_rss_increase(block) < size + 16 * 2 ** 20
