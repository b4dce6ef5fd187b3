"""ELM against LIF networks on ``spike-adding``: a pattern, a 100 ms gap, a second pattern; label = the sum.

The first pattern must be held across the gap, which is what ELM's learned memory time constants are for. Three
models with about the same number of parameters and the same training budget (epochs, batch size, optimiser):

- ``ELM``: one :class:`snn.ELM` layer (``d_m`` memory units), loss on the last step (the paper's);
- ``LIF, recurrent``: ``Linear -> LIF (recurrent) -> Linear -> LI``, loss on the summed readout;
- ``LIF, feed-forward``: ``Linear -> LIF -> Linear -> LI``, wider to match the parameter count.

Run: ``.venv/bin/python benchmarks/elm_adding.py`` (full) or ``--reduced`` (the test suite's version);
``--root DIR`` puts the generated data there; ``--out FILE`` also writes the Markdown table. Everything is seeded;
it runs on one thread (the matrices are small).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from torch.utils.data import DataLoader

import snn
from snn.datasets import frames, pad_collate
from snn.train.losses import predict, readout_loss


@dataclass(frozen=True)
class ExperimentConfig:
    """Knobs (times in ms). ``data``: generator knobs of ``spike-adding`` (``seed`` added)."""

    seed: int = 0
    dt: float = 2.0
    memory_units: int = 20       # ELM d_m; the LIF widths follow from its parameter count
    epochs: int = 30
    batch_size: int = 16
    lr: float = 5e-3
    tau_mem: float = 20.0        # LIF hidden and LI readout (ms)
    data: tuple = (("train", 2000), ("test", 500))
    root: str | None = None


REDUCED = ExperimentConfig(epochs=12, data=(("train", 1000), ("test", 200)))
KINDS = ("ELM", "LIF, recurrent", "LIF, feed-forward")


def params(model) -> int:
    return sum(p.numel() for p in model.parameters())


def build(kind: str, cfg: ExperimentConfig, n_in: int, n_out: int) -> tuple[snn.Sequential, str]:
    """The model ``kind`` and its loss kind (see :mod:`snn.train.losses`)."""
    elm = snn.Sequential(snn.ELM(n_in, n_out, cfg.memory_units, dt=cfg.dt))
    if kind == "ELM":
        return elm, "last"
    target = params(elm)
    lif = dict(tau_mem=cfg.tau_mem, threshold=1.0, reset="subtract", dt=cfg.dt, surrogate="atan", slope=5.0)
    if kind == "LIF, recurrent":  # h^2 + (n_in + n_out + 1) h + n_out = target
        b = n_in + n_out + 1
        hidden = max(1, round((-b + math.sqrt(b * b + 4 * (target - n_out))) / 2))
    elif kind == "LIF, feed-forward":
        hidden = max(1, round((target - n_out) / (n_in + n_out + 1)))
    else:
        raise ValueError(f"kind: expected one of {list(KINDS)}, got {kind!r}")
    model = snn.Sequential(snn.Linear(n_in, hidden), snn.LIF(hidden, recurrent=kind == "LIF, recurrent", **lif),
                           snn.Linear(hidden, n_out), snn.LI(n_out, tau_mem=cfg.tau_mem, dt=cfg.dt))
    return model, "sum"


def accuracy(model, loader, kind: str) -> float:
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for x, y, lengths in loader:
            out, _ = model(x)
            correct += int((predict(out, kind, lengths) == y).sum())
            total += len(y)
    return correct / total


def run(cfg: ExperimentConfig, kinds=KINDS) -> list[dict]:
    """Trains each model from the same seed; returns one row per model."""
    options = {"seed": cfg.seed, **dict(cfg.data)}
    train_set = frames("spike-adding", "train", dt=cfg.dt, root=cfg.root, options=options)
    test_set = frames("spike-adding", "test", dt=cfg.dt, root=cfg.root, options=options)
    n_in, n_out = math.prod(train_set.feature_shape), train_set.num_classes
    rows = []
    for kind in kinds:
        torch.manual_seed(cfg.seed)
        model, loss_kind = build(kind, cfg, n_in, n_out)
        g = torch.Generator().manual_seed(cfg.seed)
        loader = DataLoader(train_set, cfg.batch_size, shuffle=True, collate_fn=pad_collate, generator=g)
        opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=cfg.epochs * len(loader))
        start = time.perf_counter()
        for _ in range(cfg.epochs):
            model.train()
            for x, y, lengths in loader:
                out, _ = model(x)
                loss = readout_loss(out, y, loss_kind, lengths)
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
        seconds = time.perf_counter() - start
        test = DataLoader(test_set, 256, collate_fn=pad_collate)
        rows.append({"model": kind, "params": params(model), "loss": loss_kind,
                     "test_acc": accuracy(model, test, loss_kind), "train_s": seconds})
    return rows


def table(rows: list[dict], cfg: ExperimentConfig) -> str:
    lines = ["| model | parameters | loss | test accuracy | training time (s) |", "|---|---|---|---|---|"]
    lines += [f"| {r['model']} | {r['params']} | {r['loss']} | {100 * r['test_acc']:.1f}% | {r['train_s']:.0f} |"
              for r in rows]
    return "\n".join(lines) + (f"\n\n{cfg.epochs} epochs, batch {cfg.batch_size}, Adam lr {cfg.lr} with cosine decay, "
                               f"dt {cfg.dt} ms, seed {cfg.seed}, data {dict(cfg.data)}.")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reduced", action="store_true", help="the test suite's smaller version")
    ap.add_argument("--root", help="folder for the generated data (default: the datasets' root)")
    ap.add_argument("--out", help="also write the table to this file")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)  # small matrices: one thread is fastest on a shared 2-core machine
    cfg = replace(REDUCED if args.reduced else ExperimentConfig(), root=args.root)
    text = table(run(cfg), cfg)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
