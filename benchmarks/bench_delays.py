"""Delay-layer speed: training step vs the ``dcls`` package, integer inference vs a dense K-tap convolution.

Rows (CPU, float32, median of repeats taken round-robin, same process and inputs for every side of a row):

- training: forward + backward of ``DelayedLinear`` (Gaussian kernel + causal conv1d) on its automatic path (the
  compiled event path of :mod:`snn.synapses.delay_events` when built), on the pure-PyTorch fallback
  (``SPIKEFORGE_KERNELS=0``: Gaussian kernel + dense conv1d), and ``dcls.Dcls1d`` ('gauss') on the same left-padded
  input, at the issue's 10% input spikes and two other densities;
- inference: the integer paths of :mod:`snn.backends.torch.delay` (compiled scatter, PyTorch scatter, one matmul per
  distinct delay) vs the same integer delays run as a dense ``K``-tap conv1d, for random per-synapse delays, axonal
  delays and pruned synapses (90% of weights zero), on spikes at an SHD-like 5% rate (batch 64 and 256), then a
  density sweep; one dense layer without delays (``F.linear``) is timed alongside as the floor.

The targets of issue 13 are printed under the tables: integer inference >= 10x the dense conv1d at 5% input
(per-synapse delays), training step >= 2x dcls at 10% input. Run ``.venv/bin/python benchmarks/bench_delays.py``: it
prints the tables and replaces the "Delays" section of docs/benchmarks.md (other sections are kept).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from DCLS.construct.modules import Dcls1d

import snn
from snn import kernels
from snn.backends.torch import delay as TD
from snn.synapses import delay_events as E
from snn.synapses import delay_functional as D
from _report import machine, write_section

SHD = dict(T=100, B=64, n_in=140, n_out=256, K=25)  # the paper's first SHD layer, 10 ms bins
REPEATS = 7
SPIKE_RATE = 0.05  # share of (step, channel) bins holding a spike: SHD-like at 10 ms bins after pooling
TRAIN_RATES = (0.1, 0.02, 0.3)  # the 10% first, then the two sides of the event path's threshold
# (kind, batch, input rate) of the inference rows: the three cases at the SHD-like rate and two batch sizes, then
# a density sweep that locates the crossovers behind TD.SCATTER_BELOW / TD.COMPILED_SCATTER_BELOW
INFERENCE = ([(k, b, SPIKE_RATE) for b in (64, 256) for k in ("per-synapse delays", "axonal delays", "pruned 90%")]
             + [("per-synapse delays", 64, r) for r in (0.01, 0.1, 0.2, 0.4)])
TARGET_INFERENCE, TARGET_TRAINING = 10.0, 2.0  # issue 13: x the dense conv1d at 5%, x dcls at 10%


@contextmanager
def fallback():
    """The pure-PyTorch paths: compiled kernels off (``SPIKEFORGE_KERNELS=0``) inside the block."""
    old = os.environ.get("SPIKEFORGE_KERNELS")
    os.environ["SPIKEFORGE_KERNELS"] = "0"
    try:
        yield
    finally:
        if old is None:
            del os.environ["SPIKEFORGE_KERNELS"]
        else:
            os.environ["SPIKEFORGE_KERNELS"] = old


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


def bench_training(rate, T, B, n_in, n_out, K) -> dict:
    """Times of one forward + backward of ``DelayedLinear`` (automatic path and PyTorch fallback) and of dcls."""
    torch.manual_seed(0)
    ours = snn.DelayedLinear(n_in, n_out, K)
    ref = Dcls1d(n_in, n_out, kernel_count=1, dilated_kernel_size=K, bias=False, version="gauss")
    with torch.no_grad():
        ref.weight.copy_(ours.weight.unsqueeze(-1))
        ref.P.copy_(ours.positions.reshape(1, n_out, n_in, 1))
        ref.SIG.fill_(ours.sigma.item())
    x = (torch.rand(T, B, n_in) < rate).float()
    xp = F.pad(x.permute(1, 2, 0), (K - 1, 0))

    def step_ours():
        ours.zero_grad()
        ours(x)[0].sum().backward()

    def step_fallback():
        with fallback():
            step_ours()

    def step_dcls():
        ref.zero_grad()
        ref(xp).sum().backward()

    return timeit({"ours": step_ours, "fallback": step_fallback, "peer": step_dcls})


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
    """Times of the integer paths (planning included, as each call of the backend kernel plans) and of the same
    integer delays as a dense ``K``-tap conv1d, on Bernoulli spikes of ``rate`` per step."""
    w, d = integer_case(kind, n_in, n_out, K)
    kernel = D.integer_kernel(w, d, K)
    x = (torch.rand(T, B, n_in, generator=torch.Generator().manual_seed(2)) < rate).float()

    def conv():
        return D.delay_conv(F.pad(x, (0, 0, 0, 0, K - 1, 0)), kernel)

    def dense():  # one dense layer without delays: the floor a delay layer's inference cost is compared to
        return F.linear(x, w)

    def path(name):
        return lambda: TD.integer_delay_linear(x, w, d, path=name)

    def torch_scatter():
        with fallback():
            return TD.integer_delay_linear(x, w, d, path="scatter")

    sides = {"compiled": path("scatter"), "scatter": torch_scatter, "grouped": path("grouped"), "conv": conv,
             "dense": dense}
    if not TD.compiled_applies(x, w, d):
        del sides["compiled"]
    with torch.no_grad():
        reference = conv()
        for name in ("compiled", "scatter", "grouped"):  # every side computes the same thing
            if name in sides:
                torch.testing.assert_close(sides[name](), reference, rtol=1e-4, atol=1e-4)
        out = timeit(sides)
        below = TD.COMPILED_SCATTER_BELOW if "compiled" in sides else TD.SCATTER_BELOW
    out["auto"] = ("compiled scatter" if "compiled" in sides else "scatter") if rate < below else "grouped"
    return out


def _ms(r: dict, name: str) -> str:
    return f"{1e3 * r[name]:.1f}" if name in r else "n/a"


def _ratio(r: dict, num: str, den: str) -> str:
    return f"{r[num] / r[den]:.2f}" if num in r and den in r else "n/a"


def _verdict(ratio, target: float) -> str:
    if ratio is None:
        return "not measured (compiled kernels not built)"
    return f"{ratio:.1f}x, target >= {target:g}x: {'met' if ratio >= target else 'NOT met'} in this run"


def report(sizes: dict = SHD) -> str:
    T, B, n_in, n_out, K = (sizes[k] for k in ("T", "B", "n_in", "n_out", "K"))
    built = kernels.ops() is not None
    load_start = os.getloadavg()[0]
    lines = [f"`benchmarks/bench_delays.py` on {machine()}. Layer {n_in} -> {n_out}, K = {K} taps, T = {T}, "
             f"float32, median of {REPEATS} runs taken round-robin over the sides of a row, all rows of one run. "
             "Ratio = other side's time / our time (> 1: we are faster). Load average {load} (other processes "
             "on the machine slow every side, not always alike).", "",
             f"Paths: {kernels.status()}. `ours` is each layer's automatic path: the compiled event-driven kernels "
             "of `snn/kernels/csrc/delay.cpp` where they apply, else the pure-PyTorch path; the fallback column is "
             "the pure-PyTorch path (`SPIKEFORGE_KERNELS=0`).", "",
             f"Training step (forward + backward, Gaussian kernel), B = {B}; `ours` takes the event path below "
             f"{E.EVENTS_BELOW:.0%} nonzero inputs (history included):", "",
             "| input rate | ours (ms) | PyTorch fallback (ms) | dcls 0.1.1 Dcls1d 'gauss' (ms) | dcls / ours | "
             "dcls / fallback |", "|---|---|---|---|---|---|"]
    train_ratio = None
    for rate in TRAIN_RATES:
        tr = bench_training(rate, T, B, n_in, n_out, K)
        lines.append(f"| {rate:.0%} | {_ms(tr, 'ours')} | {_ms(tr, 'fallback')} | {_ms(tr, 'peer')} | "
                     f"{_ratio(tr, 'peer', 'ours')} | {_ratio(tr, 'peer', 'fallback')} |")
        if rate == 0.1 and built:
            train_ratio = tr["peer"] / tr["ours"]
    lines += ["", f"Integer inference (torch backend kernel of `ir.DelayLinear`, planning included) on Bernoulli "
              f"spikes, vs the same integer delays as a dense {K}-tap conv1d. `auto` takes the scatter path below "
              f"{TD.COMPILED_SCATTER_BELOW:.0%} nonzero inputs when it runs compiled, {TD.SCATTER_BELOW:.0%} in "
              "PyTorch:", "",
              "| delays | B | input rate | compiled scatter (ms) | PyTorch scatter (ms) | grouped (ms) | "
              "dense conv1d (ms) | conv / compiled | conv / PyTorch scatter | conv / grouped | auto | "
              "dense layer, no delays (ms) |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    infer_ratio = None
    for kind, batch, rate in INFERENCE:
        r = bench_inference(kind, rate, T, batch, n_in, n_out, K)
        lines.append(f"| {kind} | {batch} | {rate:.0%} | {_ms(r, 'compiled')} | {_ms(r, 'scatter')} | "
                     f"{_ms(r, 'grouped')} | {_ms(r, 'conv')} | {_ratio(r, 'conv', 'compiled')} | "
                     f"{_ratio(r, 'conv', 'scatter')} | {_ratio(r, 'conv', 'grouped')} | {r['auto']} | "
                     f"{_ms(r, 'dense')} |")
        if (kind, batch, rate) == ("per-synapse delays", 64, SPIKE_RATE) and "compiled" in r:
            infer_ratio = r["conv"] / r["compiled"]
    lines[0] = lines[0].replace("{load}", f"{load_start:.1f} at the start, {os.getloadavg()[0]:.1f} at the end")
    lines += ["", "Issue 13 targets, this run:", "",
              f"- integer inference, per-synapse delays, B = 64, {SPIKE_RATE:.0%} input, dense conv1d / compiled "
              f"scatter: {_verdict(infer_ratio, TARGET_INFERENCE)};",
              f"- training step, 10% input, dcls / ours: {_verdict(train_ratio, TARGET_TRAINING)}."]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args(argv)
    body = report()
    print(body)
    write_section("Delays", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
