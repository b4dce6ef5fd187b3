"""Delay-layer speed: training step vs the ``dcls`` package, integer inference vs a dense K-tap convolution.

Rows (CPU, float32, median of repeats, same process and inputs for both sides of each ratio):

- training: forward + backward of ``DelayedLinear`` (Gaussian kernel + causal conv1d) vs ``dcls.Dcls1d``
  ('gauss') on the same left-padded input;
- inference: the two integer paths of :mod:`snn.backends.torch.delay` (event-driven scatter; one matmul per
  distinct delay) vs the same integer delays run as a dense ``K``-tap conv1d, for random per-synapse delays, axonal
  delays and pruned synapses (90% of weights zero), on spikes at an SHD-like 5% rate (batch 64 and 256), then a
  density sweep; one dense layer without delays (``F.linear``) is timed alongside as the floor.

Run ``.venv/bin/python benchmarks/bench_delays.py``: it prints the tables and replaces the "Delays" section of
docs/benchmarks.md (other sections are kept).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch
import torch.nn.functional as F
from DCLS.construct.modules import Dcls1d

import snn
from snn.backends.torch import delay as TD
from snn.synapses import delay_functional as D
from _report import machine, write_section

SHD = dict(T=100, B=64, n_in=140, n_out=256, K=25)  # the paper's first SHD layer, 10 ms bins
REPEATS = 7
SPIKE_RATE = 0.05  # share of (step, channel) bins holding a spike: SHD-like at 10 ms bins after pooling
# (kind, batch, input rate) of the inference rows: the three cases at the SHD-like rate and two batch sizes, then
# a density sweep that locates the crossover behind TD.SCATTER_BELOW
INFERENCE = ([(k, b, SPIKE_RATE) for b in (64, 256) for k in ("per-synapse delays", "axonal delays", "pruned 90%")]
             + [("per-synapse delays", 64, r) for r in (0.01, 0.1, 0.2, 0.4)])


def timeit(fns: dict, repeats: int = REPEATS) -> dict:
    """Median seconds of each callable, run round-robin (each repeat times every side once), so that load from
    other processes on a shared machine falls on all sides alike."""
    for fn in fns.values():
        fn()
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    return {name: statistics.median(ts) for name, ts in times.items()}


def bench_training(T, B, n_in, n_out, K) -> dict:
    torch.manual_seed(0)
    ours = snn.DelayedLinear(n_in, n_out, K)
    ref = Dcls1d(n_in, n_out, kernel_count=1, dilated_kernel_size=K, bias=False, version="gauss")
    with torch.no_grad():
        ref.weight.copy_(ours.weight.unsqueeze(-1))
        ref.P.copy_(ours.positions.reshape(1, n_out, n_in, 1))
        ref.SIG.fill_(ours.sigma.item())
    x = (torch.rand(T, B, n_in) < 0.1).float()
    xp = F.pad(x.permute(1, 2, 0), (K - 1, 0))

    def step_ours():
        ours.zero_grad()
        ours(x)[0].sum().backward()

    def step_dcls():
        ref.zero_grad()
        ref(xp).sum().backward()

    return timeit({"ours": step_ours, "peer": step_dcls})


def integer_case(kind: str, n_in, n_out, K):
    """``(weight, delays)`` of one case: random per-synapse delays, axonal delays, or 90% of the weights pruned."""
    g = torch.Generator().manual_seed(1)
    w = torch.randn(n_out, n_in, generator=g) / n_in ** 0.5
    if kind == "axonal delays":
        d = torch.randint(0, K, (n_in,), generator=g).expand(n_out, n_in).contiguous()
    else:
        d = torch.randint(0, K, (n_out, n_in), generator=g)
    if kind == "pruned 90%":
        w = w * (torch.rand(n_out, n_in, generator=g) < 0.1)
    return w, d


def bench_inference(kind: str, rate: float, T, B, n_in, n_out, K) -> dict:
    """Times of the scatter and grouped paths (planning included, as each call of the backend kernel plans) and
    of the same integer delays as a dense ``K``-tap conv1d, on Bernoulli spikes of ``rate`` per step."""
    w, d = integer_case(kind, n_in, n_out, K)
    kernel = D.integer_kernel(w, d, K)
    x = (torch.rand(T, B, n_in, generator=torch.Generator().manual_seed(2)) < rate).float()

    def conv():
        return D.delay_conv(F.pad(x, (0, 0, 0, 0, K - 1, 0)), kernel)

    def dense():  # one dense layer without delays: the floor a delay layer's inference cost is compared to
        return F.linear(x, w)

    def path(name):
        return lambda: TD.integer_delay_linear(x, w, d, path=name)

    with torch.no_grad():
        reference = conv()
        for name in ("scatter", "grouped"):  # every side computes the same thing
            torch.testing.assert_close(path(name)(), reference, rtol=1e-4, atol=1e-4)
        out = timeit({"scatter": path("scatter"), "grouped": path("grouped"), "conv": conv, "dense": dense})
    out["auto"] = "scatter" if rate < TD.SCATTER_BELOW else "grouped"
    return out


def report(sizes: dict = SHD) -> str:
    T, B, n_in, n_out, K = (sizes[k] for k in ("T", "B", "n_in", "n_out", "K"))
    lines = [f"`benchmarks/bench_delays.py` on {machine()}. Layer {n_in} -> {n_out}, K = {K} taps, T = {T}, "
             f"float32, median of {REPEATS} runs taken round-robin over the sides of a row, all rows of one run. Ratio = peer time / our time (> 1: we are "
             "faster).", "",
             f"Training step, B = {B}, input spike rate 10%:", "",
             "| case | ours (ms) | peer | peer (ms) | ratio |", "|---|---|---|---|---|"]
    tr = bench_training(T, B, n_in, n_out, K)
    lines.append(f"| forward + backward, Gaussian kernel | {1e3 * tr['ours']:.1f} | dcls 0.1.1 Dcls1d "
                 f"'gauss' | {1e3 * tr['peer']:.1f} | {tr['peer'] / tr['ours']:.2f} |")
    lines += ["", f"Integer inference (torch backend kernel of `ir.DelayLinear`, planning included) on Bernoulli "
              f"spikes, vs the same integer delays as a dense {K}-tap conv1d. `auto` takes the scatter path below "
              f"{TD.SCATTER_BELOW:.0%} nonzero inputs:", "",
              "| delays | B | input rate | scatter (ms) | grouped (ms) | dense conv1d (ms) | conv / scatter | "
              "conv / grouped | auto | dense layer, no delays (ms) |", "|---|---|---|---|---|---|---|---|---|---|"]
    for kind, batch, rate in INFERENCE:
        r = bench_inference(kind, rate, T, batch, n_in, n_out, K)
        lines.append(f"| {kind} | {batch} | {rate:.0%} | {1e3 * r['scatter']:.1f} | {1e3 * r['grouped']:.1f} | "
                     f"{1e3 * r['conv']:.1f} | {r['conv'] / r['scatter']:.2f} | {r['conv'] / r['grouped']:.2f} | "
                     f"{r['auto']} | {1e3 * r['dense']:.1f} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args(argv)
    body = report()
    print(body)
    write_section("Delays", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
