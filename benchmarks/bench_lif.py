"""LIF training speed and memory: spikeforge vs plain PyTorch, SpikingJelly, snnTorch and Norse (issue 13, SPEC §8).

Workloads (CPU, float32, 2 torch threads, every framework in the same run, timed round-robin: each repeat times
every framework once, so load from other processes falls on all alike):

- (a) SHD-sized 700-256-256-20 LIF network (Linear + LIF per layer), T = 100, batch 64, binary Bernoulli input at
  2 %, 10 % and 30 % density; one training step = forward, cross-entropy on the output layer's spike counts (summed
  over T) against fixed random labels, backward, SGD step (lr 1e-3) from the initial weights (put back before every
  step: see ``training_step``).
- (b) the Open Neuromorphic framework benchmark's shape: one Linear(n, n) + one LIF layer, batch 16, T = 500,
  n = 4096, forward + backward of the summed output spikes. Input as in its published harness
  (open-neuromorphic.github.io, content/blog/spiking-neural-network-framework-benchmarking/docker/run_benchmark.py):
  ``torch.randn(T, B, n)``, a dense Gaussian current, not spikes; no SGD step.

Sides: spikeforge; plain PyTorch (the Linear on the whole sequence, a per-step loop with its own arctan spike
function); SpikingJelly's ``LIFNode`` with ``step_mode='m'`` (2.0 has no ``backend`` argument: it picks its CPU
implementation itself); snnTorch's ``Leaky``; Norse's ``LIFBoxCell`` (its ``LIF`` adds a synaptic current, a different
neuron). Every framework runs the same neuron: ``v = beta v + I`` with ``beta = exp(-dt / tau_mem)`` (tau_mem 10 ms,
dt 1 ms), spike when ``v > 1``, subtract reset (detached where the framework allows; Norse does not detach), arctan
surrogate ``(a/2) / (1 + (pi a x / 2)^2)``, a = 2 (Norse has none: its SuperSpike ``1 / (1 + a|x|)^2``, a = 2); the
same initial weights (``nn.Linear``'s default, in (a) scaled so that the hidden layers fire at an SHD-like 5-15 %: see
``_linears``; Norse's further scaled by ``1 / (1 - beta)``, because its box LIF integrates ``(1 - beta) * I``). The
Linear runs once on the whole sequence for every framework (time-batched) and the peers' neuron loops walk
``unbind(0)`` slices: spikeforge is built with its public API (``snn.Sequential(snn.Linear, snn.LIF, ...)``), so it
uses whatever fast path the library picks. Before timing, every framework's output spikes are compared with ours (the
share that is equal is reported; tests/test_bench_lif.py checks the equivalence on a small network).

Memory: bytes of the tensors saved for backward in one step (``torch.autograd.graph.saved_tensors_hooks``, each
storage once, the input included when a framework saves it), both workloads; for (a), the peak resident-set increase
of 3 training steps at 10 % density, each framework in a fresh subprocess: model, optimiser and input built, one
warm-up step, then ``VmHWM`` (after a reset of the peak) minus ``VmRSS`` before the steps
(:func:`_measure.peak_rss_increase`).

When the compiled kernels are built (``snn.kernels.status()``), spikeforge is also timed with them switched off
(``SPIKEFORGE_KERNELS=0`` around each of its calls, checked with the profiler: with them off no ``spikeforge::``
operator may run). Run ``.venv/bin/python benchmarks/bench_lif.py`` (a few minutes; ``--quick``: small shapes, about a
minute, nothing written; ``--no-write``: print only); it replaces the "LIF training step (workload a)" and
"Open Neuromorphic shape (workload b)" sections of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import importlib.metadata as md
import json
import math
import os
import subprocess
import sys
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

import snn
import snn.kernels
from _measure import peak_rss_increase, saved_bytes
from _report import machine, write_section
from bench_delays import timeit

THREADS = 2
DT, TAU_MEM, THRESHOLD, SLOPE = 1.0, 10.0, 1.0, 2.0
BETA = math.exp(-DT / TAU_MEM)
LR = 1e-3
WEIGHT_GAIN = 3.0
A = dict(sizes=(700, 256, 256, 20), T=100, B=64, densities=(0.02, 0.10, 0.30), repeats=7)
B_SHAPE = dict(n=4096, T=500, B=16, repeats=2)
QUICK_A = dict(A, sizes=(70, 32, 32, 10), T=20, B=8, repeats=2)
QUICK_B = dict(n=128, T=50, B=4, repeats=2)
RSS_DENSITY, RSS_STEPS = 0.10, 3
OURS, OURS_OFF, PLAIN = "spikeforge", "spikeforge, kernels off", "plain PyTorch"
PEERS = ("SpikingJelly", "snnTorch", "Norse")
DISTS = {"SpikingJelly": "spikingjelly", "snnTorch": "snntorch", "Norse": "norse"}


# --- the same network in each framework: build(linears) -> (module holding the parameters, run(x) -> spikes) ---

def _copy(lin: nn.Linear, cls=nn.Linear, scale: float = 1.0) -> nn.Linear:
    new = cls(lin.in_features, lin.out_features)
    with torch.no_grad():
        new.weight.copy_(lin.weight * scale)
        new.bias.copy_(lin.bias * scale)
    return new


def _ours(linears):
    layers = []
    for lin in linears:
        layers += [_copy(lin, snn.Linear), snn.LIF(lin.out_features, tau_mem=TAU_MEM, dt=DT, threshold=THRESHOLD,
                                                   reset="subtract", surrogate="atan", slope=SLOPE)]
    model = snn.Sequential(*layers)
    return model, lambda x: model(x)[0]


class _ATanSpike(torch.autograd.Function):
    """Heaviside forward, arctan pseudo-derivative backward (the plain-PyTorch side's own, independent of snn)."""

    @staticmethod
    def forward(ctx, v):
        ctx.save_for_backward(v)
        return (v > 0).to(v.dtype)

    @staticmethod
    def backward(ctx, grad):
        (v,) = ctx.saved_tensors
        return grad * (SLOPE / 2) / (1 + (math.pi / 2 * SLOPE * v) ** 2)


def _plain(linears):
    model = nn.ModuleList(_copy(lin) for lin in linears)

    def run(x):
        for fc in model:
            v, out = None, []
            for cur in fc(x).unbind(0):
                v = cur if v is None else BETA * v + cur
                s = _ATanSpike.apply(v - THRESHOLD)
                v = v - s.detach() * THRESHOLD
                out.append(s)
            x = torch.stack(out)
        return x
    return model, run


def _spikingjelly(linears):
    from spikingjelly.activation_based import functional, layer, neuron, surrogate

    mods = []
    for lin in linears:  # decay_input=False, v_reset=None: v = (1 - 1/tau) v + x, subtract reset
        mods += [_copy(lin, layer.Linear), neuron.LIFNode(
            tau=1 / (1 - BETA), decay_input=False, v_threshold=THRESHOLD, v_reset=None,
            surrogate_function=surrogate.ATan(alpha=SLOPE), detach_reset=True, step_mode="m")]
    model = nn.Sequential(*mods)
    functional.set_step_mode(model, "m")

    def run(x):
        functional.reset_net(model)
        return model(x)
    return model, run


def _loop(model, make_state, cell):
    """Time-batched Linear, then per layer a loop of ``cell(lif, current, state) -> (spikes, state)`` from
    ``make_state(first current)``."""
    def run(x):
        for fc, lif in zip(model[0::2], model[1::2]):
            cur = fc(x)
            state, out = make_state(cur[0]), []
            for cur_t in cur.unbind(0):  # unbind, not cur[t]: indexing makes backward O(T^2)
                s, state = cell(lif, cur_t, state)
                out.append(s)
            x = torch.stack(out)
        return x
    return run


def _snntorch(linears):
    import snntorch
    from snntorch import surrogate

    mods = []
    for lin in linears:
        mods += [_copy(lin), snntorch.Leaky(beta=BETA, threshold=THRESHOLD, spike_grad=surrogate.atan(alpha=SLOPE),
                                            reset_mechanism="subtract", reset_delay=False)]
    model = nn.Sequential(*mods)
    return model, _loop(model, torch.zeros_like, lambda lif, c, mem: lif(c, mem))


def _norse(linears):
    from norse.torch import LIFBoxCell, LIFBoxParameters
    from norse.torch.functional.reset import reset_subtract

    p = LIFBoxParameters(tau_mem_inv=torch.tensor((1 - BETA) / (DT * 1e-3)), v_leak=torch.tensor(0.0),
                         v_th=torch.tensor(THRESHOLD), v_reset=torch.tensor(0.0), method="super",
                         alpha=torch.tensor(SLOPE), reset_method=reset_subtract)
    mods = []
    for lin in linears:  # its box LIF adds (1 - beta) * input: scale the weights back
        mods += [_copy(lin, scale=1 / (1 - BETA)), LIFBoxCell(p, dt=DT * 1e-3)]
    model = nn.Sequential(*mods)
    return model, _loop(model, lambda cur: None, lambda lif, c, state: lif(c, state))


BUILDERS = {OURS: _ours, PLAIN: _plain, "SpikingJelly": _spikingjelly, "snnTorch": _snntorch, "Norse": _norse}


def versions() -> str:
    return ", ".join([f"spikeforge {snn.__version__}", f"torch {torch.__version__}"]
                     + [f"{name} {md.version(dist)}" for name, dist in DISTS.items()])


def kernels_in_use() -> bool:
    return snn.kernels.ops() is not None


class _KernelsOff:
    """Runs a callable with ``SPIKEFORGE_KERNELS=0`` (the loader reads it at every call)."""

    def __init__(self, fn: Callable):
        self.fn = fn

    def __call__(self, *args):
        old = os.environ.get("SPIKEFORGE_KERNELS")
        os.environ["SPIKEFORGE_KERNELS"] = "0"
        try:
            return self.fn(*args)
        finally:
            if old is None:
                del os.environ["SPIKEFORGE_KERNELS"]
            else:
                os.environ["SPIKEFORGE_KERNELS"] = old


def compiled_op_calls(fn: Callable) -> dict[str, int]:
    """``spikeforge::`` operators (compiled kernels) that one call of ``fn`` runs, with their call counts."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        fn()
    return {e.key: e.count for e in prof.key_averages() if e.key.startswith("spikeforge::")}


# --- workloads ---

def _linears(sizes, density: float | None = None, seed: int = 0) -> list[nn.Linear]:
    """The initial weights every framework copies: ``nn.Linear``'s default; for workload (a) (``density`` given)
    scaled by WEIGHT_GAIN, the first layer's by a further ``sqrt(0.1 / density)``, so that the hidden layers fire at
    an SHD-like 5-15 % at every input density (an untrained default-initialised network is nearly silent)."""
    torch.manual_seed(seed)
    linears = [nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:])]
    if density is not None:
        with torch.no_grad():
            for i, lin in enumerate(linears):
                lin.weight.mul_(WEIGHT_GAIN * (math.sqrt(0.1 / density) if i == 0 else 1.0))
    return linears


def _frameworks(with_off: bool) -> list[str]:
    return [OURS] + ([OURS_OFF] if with_off else []) + [PLAIN, *PEERS]


def _build(name: str, linears):
    """(model, run) of framework ``name``; for OURS_OFF, ``run`` switches the compiled kernels off."""
    model, run = BUILDERS[OURS if name == OURS_OFF else name](linears)
    return model, (_KernelsOff(run) if name == OURS_OFF else run)


def _off_if(name: str, step: Callable) -> Callable:
    """``step`` (forward and backward) with the compiled kernels off for OURS_OFF."""
    return _KernelsOff(step) if name == OURS_OFF else step


def _input_a(cfg, density: float):
    g = torch.Generator().manual_seed(1)
    x = (torch.rand(cfg["T"], cfg["B"], cfg["sizes"][0], generator=g) < density).float()
    return x, torch.randint(0, cfg["sizes"][-1], (cfg["B"],), generator=g)


def training_step(model: nn.Module, run: Callable, x, y) -> Callable[[], None]:
    """One SGD step from the initial weights: the parameters are put back first (a copy of 0.3 M values, the same
    for every framework), because the steps would otherwise drive the hidden rates far from the stated 5-15 % (at
    lr 1e-3 to about 30 % within a dozen steps), and with them the cost of every spike-driven path."""
    params = list(model.parameters())
    initial = [p.detach().clone() for p in params]
    opt = torch.optim.SGD(params, lr=LR)

    def step():
        with torch.no_grad():
            for p, p0 in zip(params, initial):
                p.copy_(p0)
        opt.zero_grad()
        F.cross_entropy(run(x).sum(0), y).backward()
        opt.step()
    return step


class _CountFirstCall:
    """A step whose first call (timeit's untimed warm-up) also counts the bytes it saves for backward:
    ``saved`` = (bytes, of which the storage of ``x``) from :func:`_measure.saved_bytes`."""

    def __init__(self, step: Callable[[], None], x: torch.Tensor | None = None):
        self.step, self.x, self.saved = step, x, None

    def __call__(self) -> None:
        if self.saved is None:
            self.saved = saved_bytes(self.step, self.x)
        else:
            self.step()


def _agreement(outs: dict) -> dict[str, float]:
    """Share of output (step, sample, neuron) spikes equal to ours, per framework."""
    ref = outs[OURS]
    return {name: float((o == ref).float().mean()) for name, o in outs.items()}


def run_a(cfg, with_off: bool) -> dict:
    """Workload (a) at every density: times (s), saved bytes, spike agreement, hidden spike rates of ours."""
    names = _frameworks(with_off)
    res = {"time": {}, "saved": {}, "saved_input": {}, "agree": {}, "rates": {}, "kernel_ops": {}}
    for d in cfg["densities"]:
        x, y = _input_a(cfg, d)
        built = {name: _build(name, _linears(cfg["sizes"], d)) for name in names}
        with torch.no_grad():
            res["agree"][d] = _agreement({n: run(x) for n, (_, run) in built.items()})
            h, rates = x, []
            for m in built[OURS][0]:
                h = m(h)[0] if isinstance(m, snn.LIF) else m(h)
                if isinstance(m, snn.LIF):
                    rates.append(float(h.mean()))
            res["rates"][d] = rates
        steps = {name: _off_if(name, training_step(model, run, x, y)) for name, (model, run) in built.items()}
        if with_off:
            res["kernel_ops"][d] = {name: compiled_op_calls(steps[name]) for name in (OURS, OURS_OFF)}
            if res["kernel_ops"][d][OURS_OFF]:
                raise RuntimeError(f"SPIKEFORGE_KERNELS=0 did not switch the compiled kernels off: "
                                   f"{res['kernel_ops'][d][OURS_OFF]} ran")
        counted = {name: _CountFirstCall(step, x) for name, step in steps.items()}
        for name, t in timeit(counted, cfg["repeats"]).items():
            res["time"].setdefault(name, {})[d] = t
            res["saved"].setdefault(name, {})[d], res["saved_input"].setdefault(name, {})[d] = counted[name].saved
        print(f"density {d:.0%}: " + ", ".join(f"{n} {res['time'][n][d] * 1e3:.1f} ms" for n in names), flush=True)
    return res


def run_b(cfg, with_off: bool) -> dict:
    """Workload (b): times (s) and saved bytes of forward + backward, spike agreement with ours."""
    names = _frameworks(with_off)
    n, T, B = cfg["n"], cfg["T"], cfg["B"]
    x = torch.randn(T, B, n, generator=torch.Generator().manual_seed(2))
    built = {name: _build(name, _linears((n, n))) for name in names}
    with torch.no_grad():
        agree = _agreement({name: run(x) for name, (_, run) in built.items()})

    def fwd_bwd(model, run):
        def step():
            model.zero_grad()
            run(x).sum().backward()
        return step

    steps = {name: _CountFirstCall(_off_if(name, fwd_bwd(*b))) for name, b in built.items()}
    times = timeit(steps, cfg["repeats"])
    print("workload b: " + ", ".join(f"{k} {v:.2f} s" for k, v in times.items()), flush=True)
    return {"time": times, "saved": {name: step.saved[0] for name, step in steps.items()}, "agree": agree}


def rss_child(name: str, quick: bool) -> None:
    """In a fresh process: peak RSS increase (bytes) of RSS_STEPS training steps of workload (a); prints JSON."""
    cfg = QUICK_A if quick else A
    x, y = _input_a(cfg, RSS_DENSITY)
    step = _off_if(name, training_step(*_build(name, _linears(cfg["sizes"], RSS_DENSITY)), x, y))
    step()  # warm-up: gradients allocated, lazy initialisation done

    def steps():
        for _ in range(RSS_STEPS):
            step()
    print(json.dumps({"rss": peak_rss_increase(steps)}))


def rss_all(names, quick: bool) -> dict[str, int]:
    """Peak RSS increase (bytes) per framework, each in its own subprocess."""
    out = {}
    for name in names:
        cmd = [sys.executable, __file__, "--rss-child", name] + (["--quick"] if quick else [])
        p = subprocess.run(cmd, capture_output=True, text=True)
        if p.returncode:
            raise RuntimeError(f"RSS measurement of {name} failed:\n{p.stderr[-2000:]}")
        out[name] = json.loads(p.stdout.strip().splitlines()[-1])["rss"]
    return out


# --- report ---

def _mb(b: int) -> str:
    return f"{b / 1e6:.1f}"


def _met(ok: bool) -> str:
    return "met" if ok else "not met"


def _fastest_peer(values: dict, d=None) -> tuple[str, float]:
    pick = {p: (values[p] if d is None else values[p][d]) for p in PEERS}
    best = min(pick, key=pick.get)
    return best, pick[best]


def report_a(cfg, res, rss, kernel_line: str) -> tuple[str, list[str]]:
    ds = cfg["densities"]
    names = list(res["time"])
    sizes = "-".join(map(str, cfg["sizes"]))
    lines = [f"`benchmarks/bench_lif.py` on {machine()}. Versions: {versions()}. {kernel_line}", "",
             f"{sizes} LIF network (Linear + LIF per layer), T = {cfg['T']}, batch {cfg['B']}, one training step "
             "(forward, cross-entropy on the output spike counts, backward, SGD), Bernoulli input. Median of "
             f"{cfg['repeats']} round-robin repeats (ms). Every framework runs the same neuron and initial weights "
             "(scaled so that the hidden layers fire; see the script's docstring). Saved: MB of tensors saved for "
             "backward in one step (each storage once; in brackets the share that is the input itself). Peak RSS: "
             f"MB by which the resident set's peak during {RSS_STEPS} steps at {RSS_DENSITY:.0%} density exceeds "
             "the resident set before them, each framework in a fresh process after one warm-up step.", "",
             "| framework | " + " | ".join(f"{d:.0%} (ms)" for d in ds) + " | "
             + " | ".join(f"saved {d:.0%} (MB)" for d in ds) + " | peak RSS (MB) | output spikes equal to ours |",
             "|---|" + "---:|" * (2 * len(ds) + 2)]
    for n in names:
        saved = [f"{_mb(res['saved'][n][d])} ({_mb(res['saved_input'][n][d])})" for d in ds]
        agree = min(res["agree"][d][n] for d in ds)
        lines.append(f"| {n} | " + " | ".join(f"{res['time'][n][d] * 1e3:.1f}" for d in ds) + " | "
                     + " | ".join(saved) + f" | {_mb(rss[n])} | {agree:.2%} |")
    ratio = {d: _fastest_peer(res["time"], d)[1] / res["time"][OURS][d] for d in ds}
    lines += ["", "Fastest peer (SpikingJelly, snnTorch, Norse) / spikeforge time, > 1: we are faster: "
              + ", ".join(f"{d:.0%}: {ratio[d]:.2f}x ({_fastest_peer(res['time'], d)[0]})" for d in ds) + "."]
    if OURS_OFF in res["time"]:
        lines.append("spikeforge with kernels off / on: "
                     + ", ".join(f"{d:.0%}: {res['time'][OURS_OFF][d] / res['time'][OURS][d]:.2f}x" for d in ds)
                     + ".")
    lines.append("Output spikes equal to ours: the lowest share over the densities. snnTorch's `Leaky` (reset_delay "
                 "False) subtracts the previous step's reset before it compares with the threshold and cancels it "
                 "after, so it differs from the others where the membrane stays above threshold after a reset.")
    lines.append("Hidden-layer spike rates (spikeforge): " + "; ".join(
        f"{d:.0%} input: " + ", ".join(f"{r:.1%}" for r in res["rates"][d]) for d in ds) + ".")
    low = [d for d in ds if d <= 0.10]
    hi = [d for d in ds if d > 0.10]
    saved_ratio = max(res["saved"][OURS][d] / _fastest_peer(res["saved"], d)[1] for d in ds)
    targets = [f"| (a) speed at <= 10% density: >= 3x the fastest peer | {min(ratio[d] for d in low):.2f}x | "
               f"{_met(all(ratio[d] >= 3 for d in low))} |",
               f"| (a) speed at 30% density: never slower than the fastest peer | "
               f"{min(ratio[d] for d in hi):.2f}x | {_met(all(ratio[d] >= 1 for d in hi))} |",
               f"| (a) bytes saved for backward <= half the lowest peer's | {saved_ratio:.2f} of it (worst density) "
               f"| {_met(saved_ratio <= 0.5)} |"]
    r = rss[OURS] / _fastest_peer(rss)[1]
    targets.append(f"| (a) peak RSS increase <= half the lowest peer's | {r:.2f} of it | {_met(r <= 0.5)} |")
    return "\n".join(lines), targets


def report_b(cfg, res) -> tuple[str, list[str]]:
    t, s = res["time"], res["saved"]
    lines = [f"`benchmarks/bench_lif.py` on {machine()}. Versions: {versions()}.", "",
             f"One Linear({cfg['n']} -> {cfg['n']}) + one LIF layer, batch {cfg['B']}, T = {cfg['T']}, forward + "
             "backward of the summed spikes, input `torch.randn(T, B, n)` as in the Open Neuromorphic harness (a "
             f"dense current; no parameter update). Median of {cfg['repeats']} round-robin repeats. The published "
             "numbers (SPEC §8: Spyx fp32 0.076 s at 16k neurons on an RTX 4090) are GPU numbers and not comparable "
             "with this CPU run.", "",
             "| framework | seconds | saved for backward (MB) | fastest peer / this | output spikes equal to ours |",
             "|---|---:|---:|---:|---:|"]
    best = _fastest_peer(t)[1]
    lines += [f"| {n} | {t[n]:.3f} | {_mb(s[n])} | {best / t[n]:.2f}x | {res['agree'][n]:.2%} |" for n in t]
    peer, best = _fastest_peer(t)
    target = [f"| (b) Open Neuromorphic shape, n = {cfg['n']}, CPU: fastest peer ({peer}) / ours | "
              f"{best / t[OURS]:.2f}x | no target on CPU |",
              "| (b) fused GPU kernel at the Open Neuromorphic shape below 0.05 s | no GPU in this run | "
              "not measured |"]
    return "\n".join(lines), target


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small shapes, 2 repeats, nothing written (development)")
    ap.add_argument("--no-write", action="store_true", help="print only; leave docs/benchmarks.md as it is")
    ap.add_argument("--rss-child", choices=list(BUILDERS) + [OURS_OFF], help=argparse.SUPPRESS)
    args = ap.parse_args()
    torch.set_num_threads(THREADS)
    if args.rss_child:
        return rss_child(args.rss_child, args.quick)
    cfg_a, cfg_b = (QUICK_A, QUICK_B) if args.quick else (A, B_SHAPE)
    load0 = os.getloadavg()[0]
    with_off = kernels_in_use()
    kernel_line = snn.kernels.status() + "."
    res_a = run_a(cfg_a, with_off)
    if with_off:
        kernel_line += " Compiled operators per step with them on: " + "; ".join(
            f"{d:.0%}: " + (", ".join(f"{k} x{v}" for k, v in ops[OURS].items()) or "none")
            for d, ops in res_a["kernel_ops"].items()) + "."
    rss = rss_all(list(res_a["time"]), args.quick)
    body_a, targets = report_a(cfg_a, res_a, rss, kernel_line)
    res_b = run_b(cfg_b, with_off)
    body_b, target_b = report_b(cfg_b, res_b)
    load = f"Load average (1 min) at the start and the end of the run: {load0:.1f}, {os.getloadavg()[0]:.1f}."
    body_a += "\n\n" + load
    body_b += "\n\n" + load
    table = ["", "Issue 13 targets (measured in this run; the machine is shared, so compare ratios):", "",
             "| target | measured | status |", "|---|---|---|"] + targets + target_b
    body_a += "\n" + "\n".join(table)
    print(body_a, "", body_b, sep="\n")
    if not (args.quick or args.no_write):
        write_section("LIF training step (workload a)", body_a)
        write_section("Open Neuromorphic shape (workload b)", body_b)


if __name__ == "__main__":
    sys.exit(main())
