"""Compiled CPU kernels: C++/OpenMP sources in ``csrc/``, built on this machine by ``make setup``.

Every ``csrc/*.cpp`` registers its operators in the ``spikeforge`` namespace (``TORCH_LIBRARY_FRAGMENT``); they are
compiled into one shared library under ``sys.prefix`` (the virtual environment), by ``python -m snn.kernels build``.
At run time :func:`ops` returns ``torch.ops.spikeforge`` when that library is built and None otherwise; every caller
keeps its pure-PyTorch path as the reference and the fallback, so an install without a compiler works, slower.
``SPIKEFORGE_KERNELS=0`` in the environment turns the compiled kernels off (the benchmarks use it to time the
fallback).
"""

from __future__ import annotations

import functools
import hashlib
import os
import sys
from pathlib import Path

import torch

__all__ = ["SOURCES", "build", "build_dir", "ops", "status"]

NAME = "spikeforge_kernels"
SOURCES = tuple(sorted(str(p) for p in (Path(__file__).parent / "csrc").glob("*.cpp")))
CFLAGS = ["-O3", "-march=native", "-fopenmp", "-ffp-contract=off"]  # no fused multiply-add: same sums as torch


def build_dir() -> Path:
    """Where the library is built: ``$SPIKEFORGE_KERNELS_DIR`` or under ``<sys.prefix>/share/spikeforge/kernels/``, in
    a folder named by the torch version and a hash of the sources and flags, so that a library never runs with
    sources other than its own (an edited source reads as "not built" until rebuilt)."""
    env = os.environ.get("SPIKEFORGE_KERNELS_DIR")
    if env:
        return Path(env)
    digest = hashlib.sha256(" ".join(CFLAGS).encode())
    for src in SOURCES:
        digest.update(Path(src).name.encode() + b"\0" + Path(src).read_bytes())
    return Path(sys.prefix) / "share" / "spikeforge" / "kernels" / f"torch{torch.__version__}-{digest.hexdigest()[:12]}"


def _library() -> Path:
    return build_dir() / f"{NAME}.so"


def build(verbose: bool = False) -> Path:
    """Compiles :data:`SOURCES` into :func:`build_dir` (ninja; only what changed) and loads them. Returns the library."""
    from torch.utils import cpp_extension

    if not SOURCES:
        raise FileNotFoundError(f"snn.kernels: no C++ sources in {Path(__file__).parent / 'csrc'}")
    # torch runs `ninja` from PATH: put this interpreter's scripts folder (the venv's, where make setup installs
    # ninja) first, so a venv used without activating it still finds it
    os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    out = build_dir()
    out.mkdir(parents=True, exist_ok=True)
    cpp_extension.load(NAME, list(SOURCES), extra_cflags=CFLAGS, extra_ldflags=["-fopenmp"], build_directory=str(out),
                       is_python_module=False, verbose=verbose)
    _load.cache_clear()
    return _library()


@functools.lru_cache(maxsize=None)
def _load() -> bool:
    lib = _library()
    if not lib.exists():
        return False
    torch.ops.load_library(str(lib))
    return True


def ops():
    """``torch.ops.spikeforge`` when the compiled library is built (and ``SPIKEFORGE_KERNELS`` is not ``0``), else None."""
    if os.environ.get("SPIKEFORGE_KERNELS", "1") == "0" or not _load():
        return None
    return torch.ops.spikeforge


def status() -> str:
    """One line: whether the compiled kernels are in use, and where they are (or how to build them)."""
    if os.environ.get("SPIKEFORGE_KERNELS", "1") == "0":
        return "compiled kernels: off (SPIKEFORGE_KERNELS=0); pure-PyTorch paths in use"
    if _load():
        return f"compiled kernels: in use ({_library()})"
    return (f"compiled kernels: not built ({_library()} is missing); pure-PyTorch paths in use. "
            "Build them with `python -m snn.kernels build` (make setup does)")
