"""One training run end to end: run folder, data, :class:`Trainer`, test evaluation of the best epoch, results.

Used by ``snn train`` and ``snn demo``; works the same under ``torchrun`` (rank 0 creates and locks the run folder,
only rank 0 writes). The run folder is created (and locked, :mod:`snn.train.rundir`) before the data are loaded, and
stays locked until the results are written; Ctrl-C or SIGTERM at any point leaves a resumable run.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from .. import _io
from . import checkpoint, distributed, rundir, signals
from .config import Config, dump
from .data import load_splits
from .trainer import EvalResult, Trainer


@dataclass
class RunOutcome:
    """``run_dir``; ``test``: the best epoch on the test split (None if interrupted); ``history``; ``interrupted``
    and ``stop_signal`` (the signal number that stopped it: SIGINT for Ctrl-C, SIGTERM)."""

    run_dir: Path
    test: Optional[EvalResult]
    history: list
    interrupted: bool = False
    stop_signal: Optional[int] = None

    @property
    def exit_code(self) -> int:
        """0, or ``128 + signal`` when stopped (130 for Ctrl-C, 143 for SIGTERM), as a shell reports it."""
        return 128 + (self.stop_signal or 2) if self.interrupted else 0


def train(cfg: Config, *, resume_dir: str | Path | None = None, run_dir: str | Path | None = None) -> RunOutcome:
    """Trains ``cfg`` in a new run folder (or ``run_dir``), or continues ``resume_dir``; evaluates the best epoch on
    the test split and writes ``results.json`` and ``confusion.png``.

    A ValueError if the folder is locked by another process (:class:`~snn.train.rundir.RunLockError`), or when
    resuming a run that has nothing left to do (all ``train.epochs`` trained and tested, or stopped early).
    """
    ctx = distributed.setup(cfg.train.device)
    resume = resume_dir is not None
    created: list[Path] = []
    try:
        with contextlib.ExitStack() as stack:
            stack.enter_context(signals.stop_on_signals())
            path = Path(distributed.on_main(ctx, lambda: _claim(stack, cfg, resume_dir, run_dir, created)))
            try:
                return _train(cfg, ctx, path, resume)
            except KeyboardInterrupt as e:
                if ctx.is_main:
                    print(f"\ninterrupted ({signals.Interrupted(signals.signal_of(e))}) outside the training loop; "
                          f"resume with: snn train --resume {path}", flush=True)
                return RunOutcome(path, None, [], interrupted=True, stop_signal=signals.signal_of(e))
    except Exception:
        for folder in created:  # a new run that could not start (e.g. its data are missing) leaves no folder
            _remove_if_unstarted(folder)
        raise
    finally:
        distributed.teardown(ctx)


def _remove_if_unstarted(folder: Path) -> None:
    """Removes ``folder`` if it holds nothing but the ``config.yaml`` written when it was created."""
    if {p.name for p in folder.iterdir()} <= {"config.yaml"}:
        (folder / "config.yaml").unlink(missing_ok=True)
        folder.rmdir()


def _claim(stack: contextlib.ExitStack, cfg: Config, resume_dir, run_dir, created: list) -> str:
    """On rank 0: creates (or checks) and locks the run folder before anything slow; returns its path (appended to
    ``created`` if this call created it)."""
    if resume_dir is not None:
        path = Path(resume_dir)
        if not path.is_dir():
            raise ValueError(f"resume: run folder {str(path)!r} does not exist")
        stack.enter_context(rundir.hold(path))
        _check_resumable(path, cfg)
        return str(path)
    if run_dir is None:
        created.append(rundir.new_run_dir(cfg.train.out_dir, cfg.name))
    path = Path(run_dir) if run_dir is not None else created[0]
    stack.enter_context(rundir.hold(path))
    rundir.check_unused(path)  # before the data are loaded
    if not (path / "config.yaml").exists():  # a run stopped before its first epoch is resumable from this
        with signals.writing(), _io.atomic_path(path / "config.yaml") as tmp:
            tmp.write_text(dump(cfg))
    return str(path)


def _check_resumable(path: Path, cfg: Config) -> None:
    """A ValueError if a resume of ``path`` would undo epochs (``train.epochs`` below the completed ones) or do
    nothing (every epoch trained and tested, or stopped early)."""
    last = path / "checkpoints" / checkpoint.LAST
    if not last.is_file():
        return
    ckpt = checkpoint.load(last)
    done, epochs, patience = ckpt["epoch"], cfg.train.epochs, cfg.train.patience
    if done > epochs:
        raise ValueError(f"resume: train.epochs = {epochs} is fewer than the {done} epochs run {path} already "
                         f"completed; pass --epochs N with N > {done} to train it further")
    if not (path / "results.json").is_file():
        return
    if done == epochs:
        raise ValueError(f"resume: run {path} is complete: {done} of {epochs} epochs trained and the best tested "
                         f"(results.json); to train it further pass --epochs N with N > {done}")
    best = ckpt.get("best", {}).get("epoch", done)
    if patience is not None and done - best >= patience:
        raise ValueError(f"resume: run {path} stopped early after epoch {done} (no better result since epoch {best}, "
                         f"train.patience = {patience}); to continue pass --set train.patience=N with N > "
                         f"{done - best}, or train.patience=null")


def _train(cfg: Config, ctx: distributed.Context, run_dir: Path, resume: bool) -> RunOutcome:
    splits = load_splits(cfg.data, cfg.seed, progress=ctx.is_main and not cfg.train.quiet)
    trainer = Trainer(cfg, splits.train, val_set=splits.val, run_dir=run_dir, ctx=ctx)
    if ctx.is_main:
        print(f"run {run_dir}{' (resumed)' if resume else ''}: {cfg.data.name} "
              f"({len(splits.train)} train / {len(splits.val) if splits.val else 0} val / {len(splits.test)} "
              f"test), model {cfg.model['type']} with {sum(p.numel() for p in trainer.model.parameters())} "
              f"parameters, {ctx.world_size} process(es) on {ctx.device}", flush=True)
    history = trainer.fit(resume=resume)
    if trainer.interrupted:
        return RunOutcome(run_dir, None, history, interrupted=True, stop_signal=trainer.stop_signal)
    distributed.barrier(ctx)  # rank 0 has written best.pt
    best = checkpoint.load(checkpoint.resolve(run_dir), map_location=ctx.device)
    trainer.model.load_state_dict(best["model"])
    test = trainer.evaluate(splits.test)
    if ctx.is_main:
        with signals.writing():
            write_results(run_dir, best, test)
    # Ranks leave together: a rank that destroys its gloo group while rank 0 is still writing can abort at exit.
    distributed.barrier(ctx)
    return RunOutcome(run_dir, test, history)


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
