"""AstroLIF speed: the step-by-step recurrence vs the parallel chunked form (``chunk=64``), with a plain LIF layer
of the same size as the floor.

Forward + backward of one 128-neuron layer (4 astrocyte domains, 4 keys) on a random drive, batch 16, at T = 27 and
T = 500, float32, one torch thread, median of round-robin repeats (all sides of a row time once per repeat). Both
AstroLIF forms compute the same function (checked before timing; tests/test_astro.py checks spikes, state and
gradients). Run ``.venv/bin/python benchmarks/bench_astro.py``: prints the table and replaces the "AstroLIF" section
of docs/benchmarks.md (``--no-write`` only prints).
"""

from __future__ import annotations

import argparse
import sys

import torch

import snn
from _report import machine, write_section
from bench_delays import timeit

N, B, GROUPS, KEYS, CHUNK, REPEATS = 128, 16, 4, 4, 64, 5


def sides(T: int) -> dict:
    torch.manual_seed(0)
    step = snn.AstroLIF(N, groups=GROUPS, key_size=KEYS, tau_mem=10.0, threshold=0.5)
    chunked = snn.AstroLIF(N, groups=GROUPS, key_size=KEYS, tau_mem=10.0, threshold=0.5, chunk=CHUNK)
    chunked.load_state_dict(step.state_dict())
    lif = snn.LIF(N, tau_mem=10.0, threshold=0.5)
    x = torch.randn(T, B, N, generator=torch.Generator().manual_seed(1)) * 0.3
    with torch.no_grad():
        a, b = step(x)[0], chunked(x)[0]
    assert (a != b).float().mean() < 1e-3, "the two AstroLIF forms disagree"  # rounding may flip a rare spike

    def fwd_bwd(module):
        def run():
            xr = x.clone().requires_grad_(True)
            module(xr)[0].sum().backward()
        return run
    return timeit({"step": fwd_bwd(step), "chunked": fwd_bwd(chunked), "lif": fwd_bwd(lif)}, REPEATS)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--no-write", action="store_true", help="print only, leave docs/benchmarks.md alone")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    rows = []
    for T in (27, 500):
        t = sides(T)
        rows.append(f"| {T} | {1e3 * t['step']:.1f} | {1e3 * t['chunked']:.1f} | {t['step'] / t['chunked']:.1f}x | "
                    f"{1e3 * t['lif']:.1f} |")
    body = (f"`benchmarks/bench_astro.py` on {machine()}. Forward + backward of one {N}-neuron `snn.AstroLIF` "
            f"({GROUPS} domains, {KEYS} keys) on a random drive, batch {B}, float32, median of {REPEATS} round-robin "
            "repeats (ms); a plain `snn.LIF` of the same size as the floor.\n\n"
            f"| T | step by step | `chunk={CHUNK}` | step / chunked | plain LIF |\n|---|---|---|---|---|\n"
            + "\n".join(rows))
    print(body)
    if not args.no_write:
        write_section("AstroLIF", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
