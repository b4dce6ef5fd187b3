"""``snn demo``: the main job in miniature. Builds a small spiking network, lowers it to the IR, saves and reloads
the IR, runs it on the torch backend and checks it against the front end."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import torch

from . import backends, ir
from .container import Sequential
from .lower import lower
from .neurons import LI, LIF
from .synapses import Linear


def run_demo(seed: int = 0, steps: int = 100, batch: int = 8) -> float:
    torch.manual_seed(seed)
    model = Sequential(Linear(40, 64), LIF(64, tau_mem=10.0), Linear(64, 64),
                       LIF(64, tau_mem=20.0, recurrent=True), Linear(64, 10), LI(10, tau_mem=20.0))
    print(f"[1/4] model: {sum(p.numel() for p in model.parameters())} parameters\n{model}")
    x = (torch.rand(steps, batch, 40) < 0.1).float()
    y_front, _ = model(x)
    graph = lower(model)
    print(f"[2/4] lowered to IR v{graph.version}: " + " -> ".join(
        f"{n}:{type(node).__name__}{node.output_shape}" for n, node in graph.nodes.items()))
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "model.snn.h5"
        ir.save(graph, path)
        size = path.stat().st_size
        graph = ir.load(path)
    print(f"[3/4] saved and reloaded the IR ({size / 1024:.1f} KiB, HDF5)")
    t0 = time.perf_counter()
    y_back = backends.get("torch").build(graph)(x)
    elapsed = time.perf_counter() - t0
    diff = (y_front - y_back).abs().max().item()
    print(f"[4/4] torch backend: {steps} steps x {batch} samples in {elapsed * 1e3:.1f} ms; "
          f"max |front end - backend| = {diff:.2e}")
    return diff


def _cmd(args) -> int:
    diff = run_demo(args.seed)
    return 0 if diff <= 1e-5 else 1


def register(sub) -> None:
    p = sub.add_parser("demo", help="build, lower and simulate a small network (the main job in miniature)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.set_defaults(func=_cmd)
