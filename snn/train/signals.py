"""Ctrl-C (SIGINT) and SIGTERM stop a run the same way, at a safe point.

Inside :func:`stop_on_signals` both signals raise :class:`Interrupted` (a KeyboardInterrupt) in the main thread,
except while :func:`writing` is active (a checkpoint or log line being written): there the signal waits until the
write is done. The training loop catches it, keeps the last completed epoch and prints the resume command.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Iterator

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(KeyboardInterrupt):
    """A stop asked by ``signum`` (SIGINT or SIGTERM)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class _State:
    depth = 0  # nesting of stop_on_signals
    writing = 0  # nesting of writing
    pending: int | None = None
    previous: dict = {}


def _handler(signum, frame) -> None:
    if _State.writing:
        _State.pending = signum
        return
    raise Interrupted(signum)


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """SIGINT and SIGTERM raise :class:`Interrupted` inside the block (main thread only; re-entrant)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    if _State.depth == 0:
        _State.previous = {s: signal.signal(s, _handler) for s in SIGNALS}
    _State.depth += 1
    try:
        yield
    finally:
        _State.depth -= 1
        if _State.depth == 0:
            for s, h in _State.previous.items():
                signal.signal(s, h)
            _State.pending = None


@contextlib.contextmanager
def writing() -> Iterator[None]:
    """Defers a stop signal until the block (writing files) is done."""
    _State.writing += 1
    try:
        yield
    finally:
        _State.writing -= 1
    if _State.writing == 0 and _State.pending is not None:
        signum, _State.pending = _State.pending, None
        raise Interrupted(signum)


def signal_of(error: BaseException) -> int:
    """The signal number behind a KeyboardInterrupt (SIGINT for a plain one)."""
    return getattr(error, "signum", signal.SIGINT)
