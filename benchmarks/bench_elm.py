"""ELM speed: forward + backward of :class:`snn.ELM` / :class:`snn.BranchELM` vs a plain step-by-step loop.

The loop is the paper's equations as they read (SPEC §2): one trace per synapse, the branch sums, the MLP on
``[b_t, kappa_m m_{t-1}]``, the memory update and the readout, one autograd step at a time. Ours computes the
input weighting, routing, trace filtering and the MLP's input half for all steps at once, loops over T only for the
memory (with a hand-written backward through time) and reads out with one matrix product. SHD shapes: 700 inputs,
T = 500 (1 s in 2 ms bins), batch 8, d_m = 100, 20 outputs; spikes at a 2% rate. Median of round-robin repeats
(float32, CPU).

Run ``.venv/bin/python benchmarks/bench_elm.py`` (about a minute): prints the table and replaces the "ELM" section of
docs/benchmarks.md (``--no-write`` only prints).
"""

from __future__ import annotations

import argparse
import math
import sys

import torch

import snn
from _report import machine, write_section
from bench_delays import timeit

SHD = dict(T=500, B=8, n_in=700, n_out=20, memory_units=100)
REPEATS = 3


def paper_loop(m: snn.ELM, x: torch.Tensor) -> torch.Tensor:
    """The paper's equations, step by step with autograd (the baseline)."""
    T, B, _ = x.shape
    tau_m = m.tau_m()
    kappa_m, kappa_s = torch.exp(-m.dt / tau_m), math.exp(-m.dt / m.tau_s)
    gain = m.lam * (1 - kappa_m)
    w_s = torch.relu(m.w_s)
    s = x.new_zeros(B, m.synapses)
    mem = x.new_zeros(B, m.memory_units)
    ys = []
    for t in range(T):
        xr = x[t] if m.routing is None else x[t][:, m.routing]
        s = kappa_s * s + w_s * xr
        b = s.view(B, m.branches, m.synapses_per_branch).sum(-1)
        h = torch.relu(m.mlp_in(torch.cat([b, kappa_m * mem], 1)))
        mem = kappa_m * mem + gain * 1.7159 * torch.tanh(2 / 3 * m.mlp_out(h))
        ys.append(m.readout(mem))
    return torch.stack(ys)


def bench(model: snn.ELM, T: int, B: int, n_in: int) -> dict:
    x = (torch.rand(T, B, n_in, generator=torch.Generator().manual_seed(0)) < 0.02).float()

    def ours():
        model.zero_grad()
        model(x)[0][-1].sum().backward()

    def loop():
        model.zero_grad()
        paper_loop(model, x)[-1].sum().backward()

    with torch.no_grad():
        torch.testing.assert_close(model(x)[0], paper_loop(model, x), rtol=1e-3, atol=1e-4)  # same function
    return timeit({"ours": ours, "loop": loop}, REPEATS)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--no-write", action="store_true", help="print only, leave docs/benchmarks.md alone")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)  # small matrices; one thread also keeps a shared machine's load from dominating
    torch.manual_seed(0)
    s = SHD
    rows = []
    for name, model in (("ELM", snn.ELM(s["n_in"], s["n_out"], s["memory_units"], dt=2.0)),
                        ("Branch-ELM 100 x 15", snn.BranchELM(s["n_in"], s["n_out"], s["memory_units"], dt=2.0))):
        t = bench(model, s["T"], s["B"], s["n_in"])
        rows.append(f"| {name} | {1e3 * t['ours']:.0f} | {1e3 * t['loop']:.0f} | {t['loop'] / t['ours']:.1f}x |")
    body = ("Forward + backward of one ELM layer at SHD shapes (700 inputs, T = 500, batch 8, d_m = 100, 20 outputs, "
            "2% input spikes), `benchmarks/bench_elm.py`; median of 3 round-robin repeats, float32, CPU, one torch "
            "thread.\n\n"
            "| model | ours (ms) | step-by-step loop of the paper's equations (ms) | speed-up |\n|---|---|---|---|\n"
            + "\n".join(rows) + f"\n\nMachine: {machine()}.")
    print(body)
    if not args.no_write:
        write_section("ELM", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
