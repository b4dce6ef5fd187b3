"""Do learnable delays matter? Trains three small networks on ``delay-patterns`` and prints a Markdown table.

- ``delays``: DelayedLinear -> SequenceBatchNorm -> LIF -> Linear -> LI (the paper's block, one hidden layer);
- ``no delays``: the same network with a plain Linear in place of DelayedLinear;
- ``LIF, same params``: a wider plain LIF network with about as many parameters as ``delays``.

In ``delay-patterns`` every class fires the same channels once each; only the relative spike times differ, so a
network must realign them (delays) to turn a class into a coincidence. The membranes (hidden LIF and LI readout)
have ``tau_mem`` = 2 ms at ``dt`` = 1 ms, far shorter than the 8 ms between a pattern's spikes: without delays a
neuron sees isolated spikes, and the spike counts are the same for every class. Loss and optimisers follow the paper's recipe
(SPEC §3): cross-entropy of ``sum_t softmax(v_t)``, Adam on weights, Adam with a higher learning rate and cosine decay
on positions, sigma annealed each epoch, positions clamped after each step. Everything is seeded.

Run: ``.venv/bin/python benchmarks/delays_matter.py`` (full, about 3 minutes on 2 CPU cores) or ``--reduced``
(the test suite's version). ``--root DIR`` puts the generated data there; ``--out FILE`` also writes the table.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

import snn
from snn.datasets import frames, pad_collate


# delay-patterns knobs: 8 channels fire once each, 8 ms apart in a class-specific order (a 56 ms pattern), in a
# 90 ms window with 0.5 ms jitter and 2 Hz noise; at tau_mem = 2 ms a membrane keeps exp(-8/2) = 2% of a spike
# by the next one, so only delays can bring a pattern's spikes together.
TASK = (("channels", 32), ("pattern_channels", 8), ("spacing_ms", 8.0), ("jitter_ms", 0.5), ("noise_hz", 2.0),
        ("duration_ms", 90.0))


@dataclass(frozen=True)
class ExperimentConfig:
    """Knobs of the experiment (times in ms); ``data``: generator knobs of ``delay-patterns`` (``seed`` added)."""

    seed: int = 0
    dt: float = 1.0
    hidden: int = 64
    max_delay: int = 57        # taps K: delays 0..56 ms at dt = 1 ms, the span of a pattern
    epochs: int = 20
    batch_size: int = 64
    lr: float = 5e-3
    position_lr: float = 0.3
    tau_mem: float = 2.0       # hidden and readout membranes, much shorter than the 8 ms spacing
    data: tuple = TASK + (("train", 2000), ("test", 500))
    root: str | None = None


# the test suite's version: the same task with fewer samples, a narrower network and fewer epochs
REDUCED = ExperimentConfig(epochs=12, hidden=32, lr=1e-2, position_lr=0.5, data=TASK + (("train", 600), ("test", 200)))


def build(kind: str, cfg: ExperimentConfig, n_in: int, n_out: int) -> snn.Sequential:
    """One of ``delays``, ``no delays``, ``LIF, same params``."""
    lif = dict(tau_mem=cfg.tau_mem, threshold=1.0, reset="zero", dt=cfg.dt, surrogate="atan", slope=5.0)
    hidden = cfg.hidden
    if kind == "delays":
        first = snn.DelayedLinear(n_in, hidden, cfg.max_delay)
    elif kind == "no delays":
        first = snn.Linear(n_in, hidden, bias=False)
    elif kind == "LIF, same params":
        target = 2 * n_in * cfg.hidden + cfg.hidden * n_out  # weights + positions of "delays"
        hidden = math.ceil(target / (n_in + n_out))
        first = snn.Linear(n_in, hidden, bias=False)
    else:
        raise ValueError(f"kind: expected 'delays', 'no delays' or 'LIF, same params', got {kind!r}")
    return snn.Sequential(first, snn.SequenceBatchNorm(hidden), snn.LIF(hidden, **lif),
                          snn.Linear(hidden, n_out, bias=False), snn.LI(n_out, tau_mem=cfg.tau_mem, dt=cfg.dt))


def loss_fn(v: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of ``sum_t softmax(v_t)`` (the paper's readout loss)."""
    return F.cross_entropy(F.softmax(v, -1).sum(0), labels)


def accuracy(model: snn.Sequential, loader) -> float:
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for x, y, _ in loader:
            v, _ = model(x)
            correct += int((F.softmax(v, -1).sum(0).argmax(-1) == y).sum())
            total += len(y)
    return correct / total


def train(model: snn.Sequential, loader, cfg: ExperimentConfig, desc: str) -> None:
    positions = [p for n, p in model.named_parameters() if n.endswith("positions")]
    rest = [p for n, p in model.named_parameters() if not n.endswith("positions")]
    steps = cfg.epochs * len(loader)
    opt_w = torch.optim.Adam(rest, lr=cfg.lr, weight_decay=1e-5)
    sched_w = torch.optim.lr_scheduler.OneCycleLR(opt_w, max_lr=cfg.lr, total_steps=steps)
    opts = [(opt_w, sched_w)]
    if positions:
        opt_p = torch.optim.Adam(positions, lr=cfg.position_lr)
        opts.append((opt_p, torch.optim.lr_scheduler.CosineAnnealingLR(opt_p, T_max=steps)))
    for epoch in tqdm(range(cfg.epochs), desc=desc, leave=False):
        model.train()
        for x, y, _ in loader:
            v, _ = model(x)
            loss = loss_fn(v, y)
            for opt, _ in opts:
                opt.zero_grad()
            loss.backward()
            for opt, sched in opts:
                opt.step()
                sched.step()
            for m in model.modules():
                if hasattr(m, "after_optimizer_step"):
                    m.after_optimizer_step()
        for m in model.modules():
            if hasattr(m, "epoch_end"):
                m.epoch_end(epoch + 1, cfg.epochs)


def run(cfg: ExperimentConfig = ExperimentConfig(), kinds=("delays", "no delays", "LIF, same params")) -> list[dict]:
    """Trains each kind from the same seed; returns rows ``{model, params, train_acc, test_acc, seconds}``."""
    options = dict(cfg.data, seed=cfg.seed)
    train_set = frames("delay-patterns", "train", dt=cfg.dt, root=cfg.root, options=options)
    test_set = frames("delay-patterns", "test", dt=cfg.dt, root=cfg.root, options=options)
    x0, _ = train_set[0]
    n_in, n_out = x0.shape[-1], 8
    rows = []
    for kind in kinds:
        torch.manual_seed(cfg.seed)
        g = torch.Generator().manual_seed(cfg.seed)
        train_loader = DataLoader(train_set, cfg.batch_size, shuffle=True, collate_fn=pad_collate, generator=g)
        test_loader = DataLoader(test_set, 256, collate_fn=pad_collate)
        model = build(kind, cfg, n_in, n_out)
        start = time.perf_counter()
        train(model, train_loader, cfg, kind)
        rows.append({"model": kind, "params": sum(p.numel() for p in model.parameters()),
                     "train_acc": accuracy(model, train_loader), "test_acc": accuracy(model, test_loader),
                     "seconds": time.perf_counter() - start})
    return rows


def table(rows: list[dict]) -> str:
    lines = ["| model | parameters | train acc. | test acc. | train time (s) |", "|---|---|---|---|---|"]
    lines += [f"| {r['model']} | {r['params']} | {100 * r['train_acc']:.1f}% | {100 * r['test_acc']:.1f}% | "
              f"{r['seconds']:.0f} |" for r in rows]
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reduced", action="store_true", help="the test suite's short version")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--root", help="data folder (default: the datasets' default)")
    p.add_argument("--out", type=Path, help="also write the table here")
    args = p.parse_args(argv)
    torch.set_num_threads(1)  # small batches: one thread is fastest and leaves the other cores alone
    cfg = replace(REDUCED if args.reduced else ExperimentConfig(), seed=args.seed, root=args.root)
    text = table(run(cfg))
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
