"""One training run end to end: run folder, data, :class:`Trainer`, test evaluation of the best epoch, results.

Used by ``snn train`` and ``snn demo``; works the same under ``torchrun`` (only rank 0 writes).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from .. import _io
from . import checkpoint, distributed
from .config import Config
from .data import load_splits
from .trainer import EvalResult, Trainer


@dataclass
class RunOutcome:
    """``run_dir``; ``test``: the best epoch on the test split (None if interrupted); ``history``; ``interrupted``."""

    run_dir: Path
    test: Optional[EvalResult]
    history: list
    interrupted: bool = False

    @property
    def exit_code(self) -> int:
        return 130 if self.interrupted else 0


def new_run_dir(out_dir: str | Path, name: str) -> Path:
    """``out_dir/<name>-<YYYYmmdd-HHMMSS>`` (with ``-2``, ``-3``... if taken)."""
    base = Path(out_dir) / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"
    path, k = base, 2
    while path.exists():
        path, k = Path(f"{base}-{k}"), k + 1
    return path


def train(cfg: Config, *, resume_dir: str | Path | None = None, run_dir: str | Path | None = None) -> RunOutcome:
    """Trains ``cfg`` in a new run folder (or ``run_dir``), or continues ``resume_dir``; evaluates ``best.pt`` on the
    test split and writes ``results.json`` and ``confusion.png``."""
    ctx = distributed.setup(cfg.train.device)
    try:
        resume = resume_dir is not None
        if resume:
            run_dir = Path(resume_dir)
        elif run_dir is None:
            run_dir = distributed.broadcast_path(ctx, new_run_dir(cfg.train.out_dir, cfg.name) if ctx.is_main else None)
        run_dir = Path(run_dir)
        splits = load_splits(cfg.data, cfg.seed, progress=ctx.is_main and not cfg.train.quiet)
        trainer = Trainer(cfg, splits.train, val_set=splits.val, run_dir=run_dir, ctx=ctx)
        if ctx.is_main:
            print(f"run {run_dir}{' (resumed)' if resume else ''}: {cfg.data.name} "
                  f"({len(splits.train)} train / {len(splits.val) if splits.val else 0} val / {len(splits.test)} "
                  f"test), model {cfg.model['type']} with {sum(p.numel() for p in trainer.model.parameters())} "
                  f"parameters, {ctx.world_size} process(es) on {ctx.device}", flush=True)
        history = trainer.fit(resume=resume)
        if trainer.interrupted:
            return RunOutcome(run_dir, None, history, interrupted=True)
        distributed.barrier(ctx)  # rank 0 has written best.pt
        best = checkpoint.load(run_dir / "checkpoints" / checkpoint.BEST, map_location=ctx.device)
        trainer.model.load_state_dict(best["model"])
        test = trainer.evaluate(splits.test)
        if ctx.is_main:
            write_results(run_dir, best, test)
        # Ranks leave together: a rank that destroys its gloo group while rank 0 is still writing can abort at exit.
        distributed.barrier(ctx)
        return RunOutcome(run_dir, test, history)
    finally:
        distributed.teardown(ctx)


def write_results(run_dir: Path, best: dict, test: EvalResult) -> None:
    """``results.json`` and ``confusion.png`` of the best epoch on the test split; prints the summary."""
    from .plots import plot_confusion

    results = {"best_epoch": best["best"].get("epoch"), "best": best["best"], "test_loss": test.loss,
               "test_acc": test.accuracy, "test_samples": test.samples, "test_rates": test.rates,
               "confusion": test.confusion.tolist()}
    with _io.atomic_path(run_dir / "results.json") as tmp:
        tmp.write_text(json.dumps(results, indent=1))
    plot_confusion(test.confusion, run_dir / "confusion.png",
                   title=f"test accuracy {100 * test.accuracy:.2f}% (epoch {results['best_epoch']})")
    print(f"test accuracy {100 * test.accuracy:.2f}% ({test.samples} samples, best epoch {results['best_epoch']}); "
          f"results in {run_dir}", flush=True)
