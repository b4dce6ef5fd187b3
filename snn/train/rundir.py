"""Run folders: created atomically, never reused, and locked while a process writes in them.

:func:`new_run_dir` makes ``out_dir/<name>-<YYYYmmdd-HHMMSS>`` (``-2``, ``-3``... when taken) with one ``mkdir``,
so two runs started in the same second get two folders; :func:`check_unused` refuses a folder that already holds
another run's epochs. :func:`hold` keeps ``RUN/run.lock`` while a run or a resume
writes there: an exclusive ``flock`` on the file plus the holder's pid, host, start time and command inside it. A
second writer gets a :class:`RunLockError` naming the holder. The kernel drops the ``flock`` when its process dies
(SIGKILL, power loss on the same host), so a lock file left behind is taken over with a message when its process
ran on this host; one from another host is refused (this host cannot tell whether it still runs): delete the file
once that process has stopped.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import Callable, Iterator

LOCK = "run.lock"
_HELD: dict[Path, list] = {}  # resolved run folder -> [fd, depth]: this process's locks (re-entrant)


# Files that mean a folder already holds a run (config.yaml alone or an empty log.jsonl do not: no epoch done).
RUN_FILES = ("checkpoints/last.pt", "checkpoints/best.pt", "log.jsonl", "results.json")


class RunLockError(ValueError):
    """The run folder is locked by another process."""


def check_unused(run_dir: Path) -> None:
    """A ValueError if ``run_dir`` already holds a run's epochs (a new run there would mix with it)."""
    found = [name for name in RUN_FILES if (run_dir / name).is_file()
             and (name != "log.jsonl" or (run_dir / name).stat().st_size)]
    if found:
        raise ValueError(f"run folder {run_dir} already holds a run ({', '.join(found)}); continue it with "
                         f"fit(resume=True) (snn train --resume {run_dir}) or give a new run folder (e.g. "
                         f"snn.train.rundir.new_run_dir(out_dir, name))")


def new_run_dir(out_dir: str | Path, name: str) -> Path:
    """Creates and returns ``out_dir/<name>-<YYYYmmdd-HHMMSS>`` (with ``-2``, ``-3``... if taken)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    base = out / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"
    path, k = base, 2
    while True:
        try:
            path.mkdir()
            return path
        except FileExistsError:
            path, k = Path(f"{base}-{k}"), k + 1


def describe(info: dict) -> str:
    """``pid P on host H (started T: command)`` of a lock's holder."""
    text = f"pid {info.get('pid', '?')} on host {info.get('host', '?')} (started {info.get('started', '?')}"
    return text + (f": {info['command']})" if info.get("command") else ")")


def _read(fd: int) -> dict:
    raw = os.pread(fd, 1 << 16, 0)
    try:
        info = json.loads(raw) if raw.strip() else {}
    except ValueError:
        return {"pid": "?", "host": "?", "started": f"unreadable lock file contents {raw[:80]!r}"}
    return info if isinstance(info, dict) else {}


def _pid_alive(pid) -> bool:
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError, TypeError, OverflowError):
        return True
    return True


def _acquire(run_dir: Path, announce: Callable[[str], None]) -> int:
    path = run_dir / LOCK
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            info = _read(fd)
            os.close(fd)
            who = describe(info) if info else "another process (still writing its details)"
            raise RunLockError(f"run folder {run_dir} is in use by {who}; lock file {path}. Wait for that run to "
                               f"finish or stop it (Ctrl-C or kill {info.get('pid', 'PID')}) first") from None
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)  # the holder removed the file between our open and flock: try the new one
    old = _read(fd)
    if old:
        if old.get("host") != socket.gethostname():
            os.close(fd)
            raise RunLockError(f"run folder {run_dir}: lock file {path} was left by {describe(old)}, another host; "
                               f"this host cannot tell whether that run still writes here. If it has stopped, "
                               f"delete {path} and try again")
        gone = "no longer runs" if not _pid_alive(old.get("pid")) else "no longer holds it"
        announce(f"run folder {run_dir}: taking over the stale lock of {describe(old)}, which {gone}")
    info = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%d %H:%M:%S %z"),
            "command": " ".join(sys.argv)}
    os.ftruncate(fd, 0)
    os.pwrite(fd, (json.dumps(info) + "\n").encode(), 0)
    os.fsync(fd)
    return fd


@contextlib.contextmanager
def hold(run_dir: str | Path, announce: Callable[[str], None] = print) -> Iterator[Path]:
    """Holds ``run_dir/run.lock`` (creating ``run_dir``) for the ``with`` block; re-entrant within this process.

    Raises :class:`RunLockError` if another process holds it; ``announce`` gets the take-over message of a stale
    lock. The lock file is removed on exit.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    key = run_dir.resolve()
    if key in _HELD:
        _HELD[key][1] += 1
        try:
            yield run_dir
        finally:
            _HELD[key][1] -= 1
        return
    fd = _acquire(run_dir, announce)
    _HELD[key] = [fd, 1]
    try:
        yield run_dir
    finally:
        del _HELD[key]
        with contextlib.suppress(FileNotFoundError):
            os.unlink(run_dir / LOCK)  # still ours: nobody else can take it while we hold the flock
        os.close(fd)
