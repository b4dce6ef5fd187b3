"""Speed of the ``loihi`` backend's integer simulator against a plain per-step loop of the same integer equations.

The network has the ``make demo`` shapes: a 578-128-10 LIF model (zero reset, LI readout, tau 20 ms, dt 10 ms;
random weights, the first layer's scaled by 4 so that the hidden layer fires), lowered to the IR and quantised to
Loihi 2 fixed point as ``snn run --backend loihi`` does (``prepare(graph, "fixed_pt")``). Input: Bernoulli spikes at
5 %, T = 30, batches of 64 and of 1. Timed round-robin, median of repeats, on the CPU with one torch thread (the loop's
numpy is single-threaded too; the simulator's per-step operations are small, and with 2 threads on a loaded 2-core
machine OpenMP's waiting made them about 6x slower):

- ours: :func:`snn.backends.lava.intsim.simulate`, the simulator ``snn run --backend loihi`` runs (batched torch,
  synaptic products for all steps at once, the neuron update looped over T);
- the plain loop: the test suite's independent numpy model of SPEC §4 (``ref_simulate`` in
  tests/test_lava_intsim.py): one step at a time, the synaptic product and the integer neuron equations per step.

Before timing, both outputs (readout membranes, int64) must be identical. Run ``.venv/bin/python
benchmarks/bench_loihi.py`` (well under a minute; ``--no-write`` only prints); it replaces the "Loihi integer
simulator" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

import snn
import snn.models
from snn.backends.lava import intsim
from snn.backends.lava.backend import prepare
from _report import machine, write_section
from bench_delays import timeit

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from test_lava_intsim import ref_simulate  # noqa: E402  (the independent reference the tests check against)

T, N_IN, N_HID, N_OUT, RATE, GAIN = 30, 578, 128, 10, 0.05, 4.0
BATCHES, REPEATS, THREADS = (64, 1), 9, 1


def fixed_net():
    """The quantised fixed-point network and the hidden layer's name."""
    torch.manual_seed(0)
    model = snn.models.build({"type": "lif", "hidden": [N_HID], "tau_mem": 20.0, "reset": "zero", "tau_out": 20.0,
                              "dt": 10.0}, (N_IN,), N_OUT)
    first = next(m for m in model.modules() if isinstance(m, torch.nn.Linear))
    with torch.no_grad():
        first.weight.mul_(GAIN)
    return prepare(snn.lower(model), "fixed_pt")


def bench(net, batch: int) -> dict:
    x = (torch.rand(T, batch, N_IN, generator=torch.Generator().manual_seed(batch)) < RATE).float()
    xn = x.numpy().astype(np.int64)
    res = intsim.simulate(net, x, record=True)
    ref, _ = ref_simulate(net, xn)
    if not np.array_equal(res.output.numpy().reshape(ref.shape), ref):
        raise RuntimeError(f"loihi simulator and the plain loop differ at batch {batch}: "
                           f"{int((res.output.numpy().reshape(ref.shape) != ref).sum())} of {ref.size} outputs")
    hidden = res.records[net.layers[0].name]["s"]
    times = timeit({"ours": lambda: intsim.simulate(net, x), "loop": lambda: ref_simulate(net, xn)}, REPEATS)
    return dict(times, rate=float(hidden.float().mean()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md as it is")
    args = ap.parse_args()
    torch.set_num_threads(THREADS)
    net = fixed_net()
    rows = []
    for b in BATCHES:
        r = bench(net, b)
        rows.append(f"| {b} | {r['ours'] * 1e3:.1f} | {r['loop'] * 1e3:.1f} | {r['loop'] / r['ours']:.1f}x | "
                    f"{r['rate']:.1%} |")
        print(rows[-1], flush=True)
    body = "\n".join([
        f"`benchmarks/bench_loihi.py` on {machine()}.", "",
        f"The `loihi` backend's integer simulator (`snn.backends.lava.intsim.simulate`, batched torch) against a "
        f"plain per-step numpy loop of the same integer equations (the independent model in "
        f"tests/test_lava_intsim.py), on a {N_IN}-{N_HID}-{N_OUT} LIF network with LI readout quantised to Loihi 2 "
        f"fixed point (the `make demo` shapes, random weights), T = {T}, Bernoulli input spikes at {RATE:.0%}. "
        f"Both give identical integer outputs (checked before timing). Median of {REPEATS} round-robin repeats.", "",
        "| batch | simulator (ms) | plain loop (ms) | loop / simulator | hidden spike rate |",
        "|---:|---:|---:|---:|---:|", *rows, "",
        "Issue 13 target (e), the simulator measured against a plain loop with the ratio in the table: met."])
    print(body)
    if not args.no_write:
        write_section("Loihi integer simulator", body)


if __name__ == "__main__":
    main()
