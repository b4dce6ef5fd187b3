"""``snn demo`` (what ``make demo`` runs): the main job, the whole path a user takes, as a list of steps.

Each step is ``fn(ctx: DemoContext) -> str``: it does one thing, may leave results on ``ctx`` for later steps, and
returns one plain sentence saying what was done and where its files are, printed once under the step's title. A new
step (energy report...) is one entry in ``STEPS``.
"""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import torch

from .train.cli import CONFIG_DIR

ACCURACY_TARGET = 0.90
DEFAULT_CONFIG = CONFIG_DIR / "ndigits.yaml"
IR_FILE = "model.snn.h5"  # the saved IR, inside the run folder


@dataclass
class DemoContext:
    """What the steps share: the run ``config``, its ``run_dir`` once trained, and ``results`` by step."""

    config: "object"
    run_dir: Optional[Path] = None
    results: dict = field(default_factory=dict)


def describe(graph) -> str:
    """The layers of an IR chain in order, e.g. ``578 inputs (2x17x17) -> Linear -> 128 LIF -> Linear -> 10 LI``:
    neuron layers with their size, synapse and shape nodes by type."""
    shape = graph.input_shape
    parts = [f"{math.prod(shape)} inputs" + (f" ({'x'.join(map(str, shape))})" if len(shape) > 1 else "")]
    for name in graph.topological_order():
        node = graph.nodes[name]
        size = f"{math.prod(node.output_shape)} " if hasattr(node, "tau_mem") else ""
        parts.append(f"{size}{type(node).__name__}")
    return " -> ".join(parts)


def step_train(ctx: DemoContext) -> str:
    """Trains the configured network (default: LIF on ndigits) and evaluates its best epoch on the test split."""
    from .train.checkpoint import load, load_model, resolve
    from .train.model_file import lower_trained
    from .train.run import train

    outcome = train(ctx.config)
    if outcome.interrupted:
        raise KeyboardInterrupt
    ctx.run_dir = outcome.run_dir
    ctx.results["test_acc"] = outcome.test.accuracy
    model, cfg = load_model(ctx.run_dir)
    graph = lower_trained(model, cfg, load(resolve(ctx.run_dir))["input_shape"])
    ctx.results["architecture"] = describe(graph)
    epochs = outcome.history
    return (f"Trained a {ctx.results['architecture']} network "
            f"({sum(p.numel() for p in model.parameters())} parameters) on {cfg.data.name} for {len(epochs)} "
            f"epoch{'s' * (len(epochs) != 1)} ({sum(r['epoch_time_s'] for r in epochs):.1f} s); its best epoch "
            f"classifies {100 * outcome.test.accuracy:.2f}% of the {outcome.test.samples} test samples correctly. "
            f"Run folder (config.yaml, log.jsonl, checkpoints/, curves.png, results.json): {ctx.run_dir}")


def step_evaluate_ir(ctx: DemoContext) -> str:
    """Reloads the best checkpoint, lowers it to the IR and evaluates it on the torch backend (``snn eval``)."""
    from .train.checkpoint import load_model
    from .train.data import load_split
    from .train.evaluate import evaluate_on_backend

    model, cfg = load_model(ctx.run_dir)
    test = load_split(cfg.data, "test")
    res = evaluate_on_backend(model, test, kind=cfg.loss.kind, num_classes=test.num_classes, backend="torch",
                              input_shape=tuple(test.feature_shape), progress=False)
    ctx.results["ir_test_acc"] = res.accuracy
    return (f"Converted the best checkpoint to spikeforge's graph IR and ran it on the torch backend: "
            f"{100 * res.accuracy:.2f}% test accuracy (the trained model: {100 * ctx.results['test_acc']:.2f}%).")


def step_save_ir(ctx: DemoContext) -> str:
    """Saves the IR (with the data options it was trained with) beside the run, reads it back and compares its
    output with the front end's."""
    from . import backends, ir
    from .datasets import pad_collate
    from .train.checkpoint import load_model
    from .train.data import load_split
    from .train.model_file import lower_trained

    model, cfg = load_model(ctx.run_dir)
    test = load_split(cfg.data, "test")
    path = ctx.run_dir / IR_FILE
    ir.save(lower_trained(model, cfg, tuple(test.feature_shape)), path)
    graph = ir.load(path)
    x, _, _ = pad_collate([test[i] for i in range(min(32, len(test)))])
    with torch.no_grad():
        diff = (backends.get("torch").build(graph)(x) - model(x)[0]).abs().max().item()
    ctx.results["ir_max_diff"] = diff
    return (f"Saved the IR with the data options it was trained with to {path} ({path.stat().st_size / 1024:.1f} "
            f"KiB) and read it back: on 32 test samples its output differs from the trained model's by at most "
            f"{diff:.1e}.")


def step_lava(ctx: DemoContext) -> str:
    """Exports the model into the run folder (netx HDF5 + manifest), runs test samples on Lava fixed point (Loihi 2
    simulation) and compares with the bit-exact integer simulator and the torch backend."""
    from .backends.lava.demo import lava_step

    res = lava_step(ctx.run_dir, n_samples=16)
    ctx.results["lava"] = res
    return (f"Converted the network to Loihi 2's integer arithmetic, saved it for Loihi 2 (lava-dl's netx format: "
            f"network.net and manifest.json) in {res['export_dir']}, and ran {res['samples']} test samples through "
            f"Lava's simulation of the chip: {res['bit_exact_samples']}/{res['samples']} outputs are identical to "
            f"spikeforge's own integer simulator, {100 * res['agreement_with_torch']:.1f}% of the predictions equal "
            f"the floating-point model's, and {100 * res['lava_accuracy']:.1f}% are correct.")


def step_profile(ctx: DemoContext) -> str:
    """Profiles the saved IR on test samples (``snn profile``): counts, energy estimates, the report in the run
    folder."""
    from . import ir
    from .energy import report
    from .energy.cli import batches, provenance
    from .energy.profile import profile
    from .train.data import load_split

    path = ctx.run_dir / IR_FILE
    test = load_split(ctx.config.data, "test")
    p = profile(ir.load(path), batches(test, 256, 64, 0), label=ctx.run_dir.name, loss_kind=ctx.config.loss.kind,
                provenance=provenance(path, ctx.config.data, "test", "torch"))
    html = report.write([p], ctx.run_dir / "energy")
    ctx.results["energy_report"] = html
    est = {e.target.name: e for e in p.estimates}
    snn, ann = est["SNN accelerator (AC)"], est["ANN FP32"]
    return (f"Counted the spikes and synaptic operations of {p.counts.samples} test samples and estimated the energy "
            f"per inference on {len(p.estimates)} published hardware targets (a digital spiking accelerator: "
            f"{report.fmt_joules(snn.low)}; the same network as an FP32 ANN: {report.fmt_joules(ann.low)}). "
            f"Report (open in a browser): {html}; also report.md, metrics.json and layers.csv beside it.")


# The demo, in order. Append a step as ("title", fn).
STEPS: list[tuple[str, Callable[[DemoContext], str]]] = [
    ("train and test", step_train),
    ("evaluate through the IR", step_evaluate_ir),
    ("save the IR", step_save_ir),
    ("export and run on Lava (Loihi 2, fixed point)", step_lava),
    ("energy profile", step_profile),
]


def run_demo(config) -> DemoContext:
    """Runs every step of ``STEPS`` on ``config``: prints each title, then one sentence saying what the step did;
    returns the shared context."""
    ctx = DemoContext(config)
    start = time.perf_counter()
    for i, (title, fn) in enumerate(STEPS, 1):
        print(f"\n[{i}/{len(STEPS)}] {title}", flush=True)
        t0 = time.perf_counter()
        summary = fn(ctx)
        print(f"  {summary} ({time.perf_counter() - t0:.1f} s)", flush=True)
    print(f"\ndemo finished in {time.perf_counter() - start:.1f} s; every file is in {ctx.run_dir}. Run the saved "
          f"model again with: snn run --backend loihi {ctx.run_dir / IR_FILE}", flush=True)
    return ctx


def _positive_int(text: str) -> int:
    """argparse type: an integer >= 1 (``--epochs 0`` is refused, not replaced by the config's value)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}")
    return value


def _cmd(args) -> int:
    from .train.config import apply_overrides, from_dict, load

    extra = [f"seed={args.seed}"] + ([f"train.epochs={args.epochs}"] if args.epochs is not None else []) + \
        [f"train.out_dir={args.out}"] + (["train.quiet=true"] if args.quiet else []) + list(args.set or [])
    cfg = from_dict(apply_overrides(load(args.config), extra))
    try:
        ctx = run_demo(cfg)
    except KeyboardInterrupt:
        print("demo interrupted")
        return 130
    acc = ctx.results.get("test_acc", 0.0)
    if acc < ACCURACY_TARGET:
        print(f"test accuracy {100 * acc:.2f}% is below the {100 * ACCURACY_TARGET:.0f}% target")
        return 1
    lava = ctx.results.get("lava", {})
    if lava and lava["bit_exact_samples"] != lava["samples"]:
        print("Lava fixed point and the integer simulator disagree")
        return 1
    return 0 if ctx.results.get("ir_max_diff", 0.0) <= 1e-4 else 1


def register(sub) -> None:
    p = sub.add_parser("demo", help="the main job: train on ndigits, evaluate, export, run on Lava (what `make demo` runs)",
                       description="Trains the default spiking network on the offline ndigits dataset, evaluates "
                                   "it on the test split, evaluates it again through the IR on the torch backend, "
                                   "saves the run under --out, exports it to Lava's netx format (in the run folder) "
                                   "and runs test samples on Lava fixed point, then profiles its activity and "
                                   "energy (a report in the run folder). "
                                   "Exit code 1 if test accuracy is below 90% or a backend disagrees.")
    p.add_argument("--config", default=str(DEFAULT_CONFIG), help="training config (default: the shipped ndigits.yaml)")
    p.add_argument("--epochs", type=_positive_int, help="override train.epochs (>= 1)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--out", default="runs", help="runs folder (default runs)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="config override (repeatable)")
    p.set_defaults(func=_cmd)
