"""Fetching dataset archives: HTTP download with resume, md5 check, atomic rename, and unpacking.

A download streams into ``<name>.part``; an interrupted one resumes from the bytes already there with an HTTP
``Range`` request. Only an archive whose md5 matches is renamed to its final name, so a file under the final name is
always complete. Unpacked files are written through a temporary file and ``os.replace`` as well.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from snn._progress import bar as tqdm

from snn._io import atomic_path

_BLOCK = 1 << 20


class DownloadError(OSError):
    """No mirror delivered a valid archive; the message lists every attempt and how to get the file by hand."""


class ChecksumError(DownloadError):
    """A downloaded file's md5 differs from the published one."""


class DatasetNotFoundError(FileNotFoundError):
    """The files a loader needs are not under ``root``; the message says which files, where, and how to get them."""


@dataclass(frozen=True)
class Resource:
    """One published archive: its file name, md5, mirror URLs (tried in order) and the members the loaders read.

    ``members`` maps a path inside the archive to the path (relative to the dataset folder) it is unpacked to;
    an empty mapping means the archive itself is read (N-MNIST zips).
    """

    filename: str
    md5: str
    urls: tuple[str, ...]
    members: tuple[tuple[str, str], ...] = ()

    def how_to_get(self, folder: Path) -> str:
        unpack = "".join(f"; unzip {m} to {folder / dst}" for m, dst in self.members)
        return f"download {self.urls[0]} (md5 {self.md5}) to {folder / self.filename}{unpack}"


def default_root() -> Path:
    """``$SNN_DATA`` if set, else ``~/.cache/spikeforge``."""
    env = os.environ.get("SNN_DATA")
    return Path(env).expanduser() if env else Path("~/.cache/spikeforge").expanduser()


def md5sum(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_BLOCK), b""):
            h.update(block)
    return h.hexdigest()


def _stream(url: str, part: Path, progress: bool, timeout: float) -> None:
    """Appends the rest of ``url`` to ``part`` (resuming from its size), restarting if the server ignores Range."""
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416:  # nothing left to send: the part file already holds the whole resource
            return
        raise
    with response:
        if have and response.status != 206:
            have = 0  # server sent the whole file: start over
        length = response.headers.get("Content-Length")
        total = have + int(length) if length is not None else None
        with open(part, "ab" if have else "wb") as f, tqdm(
            total=total, initial=have, unit="B", unit_scale=True, desc=part.name[:-5], disable=not progress
        ) as bar:
            for block in iter(lambda: response.read(_BLOCK), b""):
                f.write(block)
                bar.update(len(block))
            f.flush()
            os.fsync(f.fileno())


def download(resource: Resource, folder: Path, *, progress: bool = True, timeout: float = 60.0) -> Path:
    """Returns ``folder/resource.filename`` with a verified md5, downloading (or resuming) it if needed.

    Raises :class:`ChecksumError` when the bytes received do not match (the partial file is deleted so the next
    try starts clean) and :class:`DownloadError` when no mirror answers.
    """
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / resource.filename
    if final.exists() and md5sum(final) == resource.md5:
        return final
    part = folder / (resource.filename + ".part")
    failures = []
    for url in resource.urls:
        try:
            _stream(url, part, progress, timeout)
        except (urllib.error.URLError, OSError) as e:
            failures.append(f"{url}: {e}")
            continue
        got = md5sum(part)
        if got != resource.md5:
            part.unlink()
            raise ChecksumError(f"{url}: md5 of the downloaded {resource.filename} is {got}, expected {resource.md5}; "
                                f"the partial file was deleted, try again or {resource.how_to_get(folder)}")
        os.replace(part, final)
        return final
    raise DownloadError(f"could not download {resource.filename} (a partial file, if any, is kept to resume):\n  "
                        + "\n  ".join(failures) + f"\nto get it by hand: {resource.how_to_get(folder)}")


def unpack(archive: Path, resource: Resource, folder: Path) -> None:
    """Extracts ``resource.members`` from the zip ``archive`` into ``folder``, each atomically."""
    try:
        with zipfile.ZipFile(archive) as z:
            for member, dst in resource.members:
                with atomic_path(folder / dst) as tmp, z.open(member) as src, open(tmp, "wb") as out:
                    shutil.copyfileobj(src, out, _BLOCK)
    except (zipfile.BadZipFile, KeyError) as e:
        raise DownloadError(f"{archive}: cannot unpack {[m for m, _ in resource.members]}: {e}") from e


def ensure(resource: Resource, folder: Path, *, download_missing: bool, what: str, root: Path) -> None:
    """Makes sure the files ``resource`` provides are in ``folder``; never downloads when they are already there.

    Without them and with ``download_missing`` false, raises :class:`DatasetNotFoundError` naming the expected
    files, the root and how to get them.
    """
    needed = [folder / dst for _, dst in resource.members] or [folder / resource.filename]
    if all(p.exists() for p in needed):
        return
    if not download_missing:
        missing = ", ".join(str(p) for p in needed if not p.exists())
        raise DatasetNotFoundError(
            f"{what}: missing {missing} (root {root}). To read it from another root: root=... in Python, "
            f"--set data.root=DIR to `snn train` / `snn eval`, --root DIR to `snn datasets`, or set $SNN_DATA. "
            f"Get it with download=True, `snn datasets prepare`, or {resource.how_to_get(folder)}")
    archive = download(resource, folder)
    if resource.members:
        unpack(archive, resource, folder)
