"""Delay-layer speed: training step vs the ``dcls`` package, integer inference vs a dense K-tap convolution.

Rows (CPU, float32, median of repeats, same process and inputs for both sides of each ratio):

- training: forward + backward of ``DelayedLinear`` (Gaussian kernel + causal conv1d) vs ``dcls.Dcls1d``
  ('gauss') on the same left-padded input;
- inference: the grouped integer path (one matmul per distinct delay, :mod:`snn.torch` backend kernel) vs the
  same integer delays run as a dense ``K``-tap conv1d, for random per-synapse delays, axonal delays and pruned
  synapses (90% of weights zero).

Run ``.venv/bin/python benchmarks/bench_delays.py [--out docs/benchmarks.md]``; with ``--out`` the "Delays"
section of that file is replaced (other sections are kept).
"""

from __future__ import annotations

import argparse
import platform
import re
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from DCLS.construct.modules import Dcls1d

import snn
from snn.synapses import delay_functional as D

SHD = dict(T=100, B=64, n_in=140, n_out=256, K=25)  # the paper's first SHD layer, 10 ms bins


def timeit(fn, repeats: int = 7) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


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

    return {"ours": timeit(step_ours), "peer": timeit(step_dcls)}


def integer_case(kind: str, n_in, n_out, K):
    g = torch.Generator().manual_seed(1)
    w = torch.randn(n_out, n_in, generator=g) / n_in ** 0.5
    if kind == "axonal delays":
        d = torch.randint(0, K, (n_in,), generator=g).expand(n_out, n_in)
    else:
        d = torch.randint(0, K, (n_out, n_in), generator=g)
    if kind == "pruned 90%, per-synapse delays":
        w = w * (torch.rand(n_out, n_in, generator=g) < 0.1)
    return snn.ir.DelayLinear(w.numpy(), d.numpy())


def bench_inference(kind: str, T, B, n_in, n_out, K) -> dict:
    node = integer_case(kind, n_in, n_out, K)
    graph = snn.ir.Graph.chain({"delay": node}, (n_in,), 1.0)
    sim = snn.backends.get("torch").build(graph)
    kernel = D.integer_kernel(torch.tensor(node.weight), torch.tensor(node.delay), K)
    x = (torch.rand(T, B, n_in, generator=torch.Generator().manual_seed(2)) < 0.1).float()

    def conv():
        with torch.no_grad():
            return D.delay_conv(F.pad(x, (0, 0, 0, 0, K - 1, 0)), kernel)

    torch.testing.assert_close(sim(x), conv(), rtol=1e-4, atol=1e-4)  # both sides compute the same thing
    groups = len(D.plan_delay_groups(torch.tensor(node.weight), torch.tensor(node.delay)))
    return {"ours": timeit(lambda: sim(x)), "peer": timeit(conv), "groups": groups}


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import os
    return (f"{cpu}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads; Python "
            f"{platform.python_version()}, torch {torch.__version__}")


def report(sizes: dict = SHD) -> str:
    T, B, n_in, n_out, K = (sizes[k] for k in ("T", "B", "n_in", "n_out", "K"))
    lines = ["## Delays", "",
             f"`benchmarks/bench_delays.py` on {machine()}. Layer {n_in} -> {n_out}, K = {K} taps, T = {T}, "
             f"B = {B}, input spike rate 10%, float32, median of 7 runs. Ratio = peer time / our time "
             "(> 1: we are faster).", "",
             "| case | ours (ms) | peer | peer (ms) | ratio |", "|---|---|---|---|---|"]
    tr = bench_training(T, B, n_in, n_out, K)
    lines.append(f"| training step (fwd + bwd), Gaussian kernel | {1e3 * tr['ours']:.1f} | dcls 0.1.1 Dcls1d "
                 f"'gauss' | {1e3 * tr['peer']:.1f} | {tr['peer'] / tr['ours']:.2f} |")
    for kind in ("per-synapse delays", "axonal delays", "pruned 90%, per-synapse delays"):
        r = bench_inference(kind, T, B, n_in, n_out, K)
        lines.append(f"| integer inference, {kind} ({r['groups']} delay groups) | {1e3 * r['ours']:.1f} | "
                     f"dense {K}-tap conv1d | {1e3 * r['peer']:.1f} | {r['peer'] / r['ours']:.2f} |")
    return "\n".join(lines) + "\n"


def replace_section(path: Path, section: str) -> None:
    """Replaces the "## Delays" section of ``path`` (up to the next "## "), or appends it; keeps the rest."""
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    pattern = re.compile(r"^## Delays\n.*?(?=^## |\Z)", re.S | re.M)
    text = pattern.sub(lambda _: section + "\n", text) if pattern.search(text) else text.rstrip() + "\n\n" + section
    path.write_text(text)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, help="replace the Delays section of this Markdown file")
    args = p.parse_args(argv)
    section = report()
    print(section)
    if args.out:
        replace_section(args.out, section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
