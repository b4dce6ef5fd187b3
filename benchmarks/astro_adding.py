"""What does the astrocyte add? Trains an AstroLIF network and the same LIF network without the astrocyte on a
``spike-adding`` variant and prints a Markdown table.

- ``astro``: Linear -> AstroLIF (2 astrocyte domains of 16 neurons, 4 keys, decays 0.6 / 0.85 / 0.95 / 0.99 per
  step) -> Linear -> LI (``configs/spike_adding_astro.yaml``'s model);
- ``LIF, same params``: Linear -> LIF (zero reset, same tau) -> Linear -> LI, widened to at least as many
  parameters (``configs/spike_adding_lif.yaml``'s model).

The task: pattern ``a`` (4 channels firing once each, 8 ms apart, in one of 2 orders), a 40 ms gap, pattern ``b``;
label ``a + b`` (3 classes; chance = 50%, the share of ``a + b = 1``). Spike counts are equal for every class and
the membranes forget in ~20 ms, so a network must hold ``a`` across the gap. Both models get the same data, seed,
optimiser (Adam), learning rate, batch size and epochs (those of the configs); the loss is cross-entropy on the
readout membrane at the end of the window (every sample padded with silence to the same length).

Run: ``.venv/bin/python benchmarks/astro_adding.py`` (3 seeds) or ``--reduced`` (the test suite's version).
``--root DIR`` puts the generated data there.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import torch
import torch.nn.functional as F
import yaml

import snn
import snn.datasets as D
import snn.models

CONFIGS = Path(__file__).resolve().parents[1] / "snn" / "configs"
KINDS = {"astro": "astro", "LIF, same params": "lif"}


@dataclass(frozen=True)
class ExperimentConfig:
    """``train`` / ``test``: samples generated per split; ``seeds``: one row per model and seed."""

    seeds: tuple = (0, 1, 2)
    train: int = 800
    test: int = 300
    root: str | None = None


REDUCED = ExperimentConfig(seeds=(0,), train=600, test=200)


def config(kind: str) -> dict:
    """The shipped config of ``kind`` (``astro`` or ``lif``)."""
    return yaml.safe_load((CONFIGS / f"spike_adding_{kind}.yaml").read_text())


def data(split: str, cfg: ExperimentConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """``(frames (T, N, channels) padded with silence to one length, labels (N,))`` of the configs' variant."""
    frames = config("astro")["data"]["frames"]
    options = {**frames["options"], "train": cfg.train, "test": cfg.test}
    ds = D.frames("spike-adding", split, frames["dt"], root=cfg.root, options=options)
    x = torch.nn.utils.rnn.pad_sequence([ds[i][0] for i in range(len(ds))])
    return x, torch.tensor([int(ds[i][1]) for i in range(len(ds))])


def run(cfg: ExperimentConfig = ExperimentConfig(), kinds=tuple(KINDS)) -> list[dict]:
    (xtr, ytr), (xte, yte) = data("train", cfg), data("test", cfg)
    rows = []
    for seed in cfg.seeds:
        for kind in kinds:
            shipped = config(KINDS[kind])  # model, learning rate, epochs and batch size
            torch.manual_seed(seed)
            net = snn.models.build(shipped["model"], xtr.shape[2:], int(ytr.max()) + 1)
            opt = torch.optim.Adam(net.parameters(), shipped["optim"]["lr"])
            order = torch.Generator().manual_seed(seed)
            t0 = time.perf_counter()
            for _ in range(shipped["train"]["epochs"]):
                for idx in torch.randperm(len(ytr), generator=order).split(shipped["train"]["batch_size"]):
                    loss = F.cross_entropy(net(xtr[:, idx])[0][-1], ytr[idx])
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
            with torch.no_grad():
                acc = (net(xte)[0][-1].argmax(-1) == yte).float().mean().item()
            rows.append({"model": kind, "seed": seed, "params": sum(p.numel() for p in net.parameters()),
                         "test_acc": acc, "seconds": time.perf_counter() - t0})
    return rows


def table(rows: list[dict]) -> str:
    lines = ["| model | parameters | seed | test accuracy | train time (s) |", "|---|---|---|---|---|"]
    lines += [f"| {r['model']} | {r['params']} | {r['seed']} | {100 * r['test_acc']:.1f}% | {r['seconds']:.0f} |"
              for r in rows]
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reduced", action="store_true", help="the test suite's short version")
    p.add_argument("--root", default=None, help="folder for the generated data")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    print(table(run(replace(REDUCED if args.reduced else ExperimentConfig(), root=args.root))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
