"""Does the NALSM astrocyte hold the liquid near criticality? Branching factor and readout accuracy on ``ndigits`` for a
plain LSM, an LSM with unregulated STDP and NALSM (STDP regulated by the astrocyte); prints a Markdown table.

All three start from the same seeded 1000-neuron liquid (SPEC §2). The two plastic ones self-organise on the first
``organise`` training samples (STDP summed over batches of 8); then the weights are frozen, the branching factor is
measured on held-out samples, and a linear readout is trained on L1-normalised spike counts, standardised (Adam,
lr 1e-2, full batch; the paper's Adadelta at lr 0.1 barely moved in 200 full-batch epochs on features of ~1e-3).
Inputs: ndigits frames at 1 ms over 300 ms, 2 x 2 pixel blocks summed (578 channels), counts clipped to 1.

Run: ``.venv/bin/python benchmarks/nalsm_branching.py`` (a few minutes on 2 cores) or ``--reduced`` (the test's
version: branching factors only). ``--root DIR`` puts the generated data there.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F

import snn.datasets as D
from snn.nalsm import Liquid, LiquidConfig, branching_factor, features

MODES = {"LSM": "none", "LSM + unregulated STDP": "stdp", "NALSM": "astro"}


@dataclass(frozen=True)
class ExperimentConfig:
    """Sample counts per phase; ``readout_train`` = 0 skips the readout."""

    side: int = 10
    organise: int = 64
    measure: int = 32
    readout_train: int = 480
    test: int = 360
    epochs: int = 200
    seed: int = 0
    root: str | None = None


REDUCED = ExperimentConfig(organise=16, measure=16, readout_train=0, test=0)


def inputs(split: str, count: int, root, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``count`` samples of a seeded permutation of the split (the splits are ordered by label)."""
    ds = D.frames("ndigits", split, 1.0, root=root, duration=300.0, downsample=2)
    idx = torch.randperm(len(ds), generator=torch.Generator().manual_seed(seed))[:count].tolist()
    x = torch.stack([ds[i][0] for i in idx], 1).flatten(2).clamp(max=1)
    return x, torch.tensor([int(ds.labels[i]) for i in idx])


def spikes(liquid: Liquid, x: torch.Tensor, plasticity: str = "none", batch: int = 8) -> torch.Tensor:
    return torch.cat([liquid.run(x[:, i:i + batch], plasticity) for i in range(0, x.shape[1], batch)], 1)


def readout(train: tuple, test: tuple, epochs: int) -> float:
    """Test accuracy of a linear readout on spike-count features, standardised with the training statistics
    (Adam, lr 1e-2, full batch)."""
    (f_tr, y_tr), (f_te, y_te) = train, test
    mean, std = f_tr.mean(0), f_tr.std(0).clamp_min(1e-6)
    f_tr, f_te = (f_tr - mean) / std, (f_te - mean) / std
    lin = torch.nn.Linear(f_tr.shape[1], 10)
    opt = torch.optim.Adam(lin.parameters(), lr=1e-2)
    for _ in range(epochs):
        loss = F.cross_entropy(lin(f_tr), y_tr)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        return (lin(f_te).argmax(-1) == y_te).float().mean().item()


def run(cfg: ExperimentConfig = ExperimentConfig()) -> list[dict]:
    x, y = inputs("train", cfg.organise + cfg.measure + cfg.readout_train, cfg.root, cfg.seed)
    organise, measure, ro = (x[:, :cfg.organise], x[:, cfg.organise:cfg.organise + cfg.measure],
                             (x[:, cfg.organise + cfg.measure:], y[cfg.organise + cfg.measure:]))
    rows = []
    for name, mode in MODES.items():
        t0 = time.perf_counter()
        liquid = Liquid(x.shape[2], LiquidConfig(side=cfg.side, seed=cfg.seed))
        if mode != "none":
            spikes(liquid, organise, mode)
        s = spikes(liquid, measure)
        row = {"model": name, "branching": branching_factor(s, liquid.mask), "rate": s.mean().item()}
        if cfg.readout_train:
            xt, yt = inputs("test", cfg.test, cfg.root, cfg.seed)
            row["accuracy"] = readout((features(spikes(liquid, ro[0])), ro[1]), (features(spikes(liquid, xt)), yt),
                                      cfg.epochs)
        row["seconds"] = time.perf_counter() - t0
        rows.append(row)
    return rows


def table(rows: list[dict]) -> str:
    acc = "accuracy" in rows[0]
    lines = ["| liquid | branching factor | spikes per neuron per ms |" + (" readout test accuracy |" if acc else "")
             + " time (s) |", "|---|---|---|" + ("---|" if acc else "") + "---|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['branching']:.2f} | {r['rate']:.4f} |"
                     + (f" {100 * r['accuracy']:.1f}% |" if acc else "") + f" {r['seconds']:.0f} |")
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
