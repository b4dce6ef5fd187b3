"""One Linear + one LIF layer, forward + backward over a sequence: spikeforge vs snnTorch vs Norse on this machine.

The shape follows the Open Neuromorphic framework benchmark (SPEC §8: batch 16, T = 500); on a 2-core CPU we use
fewer neurons. Every framework gets the same harness: the Linear runs once on the whole sequence and the neuron loop
walks ``unbind(0)`` slices (indexing ``cur[t]`` in the loop would make every backward step O(T)). Usage: ``python benchmarks/bench_neurons.py [--steps 500] [--batch 16] [--neurons 256 1024]``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

import snn
from _report import machine, write_section


def _ours(n_in, n):
    model = snn.Sequential(snn.Linear(n_in, n), snn.LIF(n, tau_mem=10.0, reset="subtract"))
    return lambda x: model(x)[0]


def _snntorch(n_in, n):
    import snntorch

    fc, lif = torch.nn.Linear(n_in, n), snntorch.Leaky(beta=0.9, reset_delay=False)

    def run(x):
        cur, out = fc(x), []
        mem = torch.zeros_like(cur[0])
        for cur_t in cur.unbind(0):  # unbind, not cur[t]: indexing makes backward O(T^2)
            s, mem = lif(cur_t, mem)
            out.append(s)
        return torch.stack(out)

    return run


def _norse(n_in, n):
    import norse.torch as norse

    fc, lif = torch.nn.Linear(n_in, n), norse.LIFBoxCell()  # Norse 1.1 has no box-LIF sequence module

    def run(x):
        cur, state, out = fc(x), None, []
        for cur_t in cur.unbind(0):
            s, state = lif(cur_t, state)
            out.append(s)
        return torch.stack(out)

    return run


def time_fwd_bwd(fn, x, repeats: int) -> float:
    """Median seconds of forward + backward."""
    times = []
    for i in range(repeats + 1):
        xr = x.clone().requires_grad_(True)
        t0 = time.perf_counter()
        fn(xr).sum().backward()
        if i:  # the first run warms up
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=500)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--inputs", type=int, default=100)
    ap.add_argument("--neurons", type=int, nargs="+", default=[256, 1024])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    torch.manual_seed(0)
    rows = []
    for n in args.neurons:
        x = (torch.rand(args.steps, args.batch, args.inputs) < 0.1).float()
        t = {name: time_fwd_bwd(make(args.inputs, n), x, args.repeats)
             for name, make in [("spikeforge", _ours), ("snnTorch 1.0", _snntorch), ("Norse 1.1", _norse)]}
        rows.append(f"| {n} | {t['spikeforge']:.3f} | {t['snnTorch 1.0']:.3f} | {t['Norse 1.1']:.3f} | "
                    f"{t['snnTorch 1.0'] / t['spikeforge']:.2f}x | {t['Norse 1.1'] / t['spikeforge']:.2f}x |")
        print(rows[-1], flush=True)
    body = (f"Linear({args.inputs} -> n) + LIF, batch {args.batch}, T = {args.steps}, forward + backward, median of "
            f"{args.repeats} runs (seconds; lower is better). Ratios > 1 mean spikeforge is faster.\n"
            f"Command: `python benchmarks/bench_neurons.py`. Machine: {machine()}.\n\n"
            "| neurons | spikeforge | snnTorch 1.0 | Norse 1.1 | snnTorch / ours | Norse / ours |\n"
            "|---|---|---|---|---|---|\n" + "\n".join(rows))
    write_section("LIF layer, forward + backward", body)


if __name__ == "__main__":
    main()
