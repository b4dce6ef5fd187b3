"""Progress bars, in one place: a bar only when stderr is a terminal.

Redirected to a file or a pipe (``snn demo > log 2>&1``, CI, a batch job), a bar would fill the log with carriage
returns; there the bar is off and the commands print their one line per epoch / step instead. Every progress bar in
``snn`` goes through :func:`bar`; :func:`write` prints a line without breaking a bar on the screen.
"""

from __future__ import annotations

import sys

from tqdm import tqdm


def enabled() -> bool:
    """True when stderr (where bars go) is a terminal."""
    stream = sys.stderr
    return stream is not None and hasattr(stream, "isatty") and stream.isatty()


def bar(iterable=None, *, disable: bool = False, **kwargs) -> tqdm:
    """``tqdm(iterable, **kwargs)``, disabled when ``disable`` or when stderr is not a terminal."""
    return tqdm(iterable, disable=disable or not enabled(), **kwargs)


def write(line: str) -> None:
    """Prints ``line`` to stdout (above a running bar, if any)."""
    tqdm.write(line)
    sys.stdout.flush()
