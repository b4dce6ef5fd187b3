"""The runs of a folder at a glance (``snn runs``): what each trained, how far it got, how well, and its state.

A run is a sub-folder holding ``config.yaml`` (written when the run starts, :mod:`snn.train.run`). Its state is

- ``running``: a live process holds ``run.lock`` (the holder recorded in the lock file runs on this host; a lock of
  another host counts as running, as :func:`snn.train.rundir.hold` refuses it too);
- ``finished``: ``results.json`` (the test of the best epoch) is at least as new as ``log.jsonl`` (a resume rewrites
  the log, so a resumed run is not finished until it is tested again);
- ``interrupted``: anything else (stopped by Ctrl-C, SIGTERM or a crash; ``snn train --resume RUN`` continues it).

Accuracies are fractions in [0, 1]; ``params`` counts the model's trainable and frozen ``nn.Parameter`` elements,
rebuilt from ``checkpoints/last.pt`` (None before the first epoch is checkpointed).
"""

from __future__ import annotations

import json
import socket
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional

from . import checkpoint, rundir
from .config import load

STATES = ("running", "finished", "interrupted")
# --sort keys -> (field, descending): accuracies, epochs and dates list the largest first.
SORT_KEYS = {"name": ("name", False), "dataset": ("dataset", False), "model": ("model", False),
             "params": ("params", True), "epochs": ("epochs_done", True), "val": ("best_val_acc", True),
             "test": ("test_acc", True), "date": ("started", True), "state": ("state", False)}


@dataclass
class RunInfo:
    """One run folder. ``started``: when ``config.yaml`` was written (local time, ``YYYY-mm-dd HH:MM:SS``);
    ``epochs_done`` of ``epochs`` (``train.epochs``); ``best_val_acc``: the best validation accuracy logged (None
    without a validation split); ``test_acc``: of the best epoch (None until tested); ``holder``: the lock holder's
    details while running."""

    name: str
    path: str
    dataset: str
    model: str
    params: Optional[int]
    epochs_done: int
    epochs: Optional[int]
    best_val_acc: Optional[float]
    test_acc: Optional[float]
    started: str
    state: str
    holder: Optional[dict] = None


def lock_holder(run_dir: Path) -> Optional[dict]:
    """The details in ``run_dir/run.lock`` if its process still runs (or runs on another host), else None.

    Reads the file only: taking even a shared ``flock`` could make a run that starts at that instant fail."""
    try:
        raw = (run_dir / rundir.LOCK).read_text()
    except FileNotFoundError:
        return None
    try:
        info = json.loads(raw) if raw.strip() else {}
    except ValueError:
        info = {}
    if not isinstance(info, dict) or "pid" not in info:
        return {"pid": "?", "host": "?", "started": "details not written yet"}  # a holder is writing them now
    if info.get("host") != socket.gethostname():
        return info
    return info if rundir._pid_alive(info["pid"]) else None


def _log(run_dir: Path) -> list[dict]:
    path = run_dir / "log.jsonl"
    if not path.is_file():
        return []
    records = []
    for i, line in enumerate(path.read_text().splitlines(), 1):
        try:
            records.append(json.loads(line))
        except ValueError:
            raise ValueError(f"snn runs: {path} line {i}: not JSON ({line[:60]!r})") from None
    return records


def _params(run_dir: Path) -> Optional[int]:
    if not (run_dir / "checkpoints" / checkpoint.LAST).is_file():
        return None
    model, _ = checkpoint.load_model(run_dir, which=checkpoint.LAST)
    return sum(p.numel() for p in model.parameters())


def describe(run_dir: str | Path) -> RunInfo:
    """The :class:`RunInfo` of one run folder; a ValueError naming the file if one of its files is unreadable."""
    run_dir = Path(run_dir)
    config = load(run_dir / "config.yaml")
    log = _log(run_dir)
    results_file, log_file = run_dir / "results.json", run_dir / "log.jsonl"
    results = json.loads(results_file.read_text()) if results_file.is_file() else None
    holder = lock_holder(run_dir)
    if holder is not None:
        state = "running"
    elif results is not None and (not log_file.is_file()
                                  or results_file.stat().st_mtime_ns >= log_file.stat().st_mtime_ns):
        state = "finished"
    else:
        state = "interrupted"
    vals = [r["val_acc"] for r in log if r.get("val_acc") is not None]
    started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime((run_dir / "config.yaml").stat().st_mtime))
    return RunInfo(name=run_dir.name, path=str(run_dir), dataset=str(config.get("data", {}).get("name", "?")),
                   model=str(config.get("model", {}).get("type", "?")), params=_params(run_dir),
                   epochs_done=len(log), epochs=config.get("train", {}).get("epochs"),
                   best_val_acc=max(vals) if vals else None,
                   test_acc=results.get("test_acc") if results and state == "finished" else None,
                   started=started, state=state, holder=holder)


def scan(folder: str | Path = "runs", sort: str = "date") -> list[RunInfo]:
    """The runs directly under ``folder`` (sub-folders with ``config.yaml``), sorted by ``sort`` (a key of
    :data:`SORT_KEYS`; missing values last)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"snn runs: folder {str(folder)!r} does not exist")
    if sort not in SORT_KEYS:
        raise ValueError(f"snn runs: --sort: expected one of {list(SORT_KEYS)}, got {sort!r}")
    runs = [describe(p) for p in sorted(folder.iterdir()) if (p / "config.yaml").is_file()]
    field, descending = SORT_KEYS[sort]
    present = [r for r in runs if getattr(r, field) is not None]
    missing = [r for r in runs if getattr(r, field) is None]
    return sorted(present, key=lambda r: getattr(r, field), reverse=descending) + missing


def _percent(value: Optional[float]) -> str:
    return "-" if value is None else f"{100 * value:.2f}"


def table(runs: list[RunInfo]) -> str:
    """A text table of ``runs`` (accuracies in %)."""
    header = ["name", "dataset", "model", "params", "epochs", "best val %", "test %", "started", "state"]
    rows = [[r.name, r.dataset, r.model, "-" if r.params is None else f"{r.params:,}",
             f"{r.epochs_done}/{r.epochs if r.epochs is not None else '?'}", _percent(r.best_val_acc),
             _percent(r.test_acc), r.started, r.state] for r in runs]
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows)]
    numeric = {3, 4, 5, 6}
    lines = ["  ".join(c.rjust(w) if i in numeric else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths)))
             for row in [header, *rows]]
    return "\n".join(line.rstrip() for line in lines)


def as_json(runs: list[RunInfo]) -> str:
    """``runs`` as a JSON list of :class:`RunInfo` objects."""
    return json.dumps([asdict(r) for r in runs], indent=1)
