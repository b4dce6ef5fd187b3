"""Atomic writes: a crash never leaves a half-written file or folder under the final name.

Files and folders written here get the modes any other program would give them under the process umask
(``0o666 & ~umask`` for files, ``0o777 & ~umask`` for folders), not the private ``0o600``/``0o700`` of ``mkstemp`` /
``mkdtemp``: with umask 022 a checkpoint is ``-rw-r--r--`` and an export folder ``drwxr-xr-x``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Iterator

_UMASK_LOCK = threading.Lock()


def umask() -> int:
    """The process umask (read without changing it where ``/proc`` tells it, else set and restored at once)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode of a new file under the umask: ``0o666 & ~umask``."""
    return 0o666 & ~umask()


def dir_mode() -> int:
    """The mode of a new folder under the umask: ``0o777 & ~umask``."""
    return 0o777 & ~umask()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yields a temporary path beside ``path``; on success it gets the umask's file mode, is fsynced and renamed
    onto ``path``.

    On an exception the temporary file is removed and ``path`` is left as it was.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=suffix + ".tmp", dir=final.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, file_mode())
        _fsync(tmp_path)
        os.replace(tmp_path, final)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike, *, overwrite: bool = False) -> Iterator[Path]:
    """Yields a new empty temporary folder beside ``path``; on success it gets the umask's folder mode, its files
    are fsynced and it is renamed onto ``path``.

    ``path`` must not exist, or be an empty folder, or (``overwrite``) be any folder; an existing one is replaced
    as a whole (renamed aside first, so ``path`` always names a complete folder). On an exception the temporary
    folder is removed and ``path`` is left as it was. A FileExistsError names ``path`` if it is a file, or a
    non-empty folder without ``overwrite``.
    """
    final = Path(path)
    if final.exists() and not final.is_dir():
        raise FileExistsError(f"{final} exists and is not a folder")
    if final.exists() and not overwrite and any(final.iterdir()):
        raise FileExistsError(f"folder {final} exists and is not empty; not replacing it")
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
    try:
        yield tmp
        os.chmod(tmp, dir_mode())
        for p in sorted(tmp.rglob("*")):
            if p.is_file() and not p.is_symlink():
                _fsync(p)
        _fsync(tmp)
        if final.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".old", dir=final.parent))
            os.replace(final, old)
            os.replace(tmp, final)
            shutil.rmtree(old)
        else:
            os.replace(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
