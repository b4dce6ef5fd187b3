"""Makes unmodified lava-nc 0.10.0 importable on Python 3.11+ and imports it (SPEC §4).

lava-nc 0.10.0 declares dataclass fields with a ``ByteEncoder()`` default in ``lava/magma/compiler/var_model.py``;
Python 3.11 rejects unhashable dataclass defaults. :func:`install` registers an import hook that builds that one
module with ``ByteEncoder`` made hashable (``unsafe_hash=True``); installed files are never edited. The hook is a
no-op where the module is already imported (an earlier fix, or Python < 3.11).
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.abc
import importlib.util
import sys

_TARGET = "lava.magma.compiler.var_model"
_CLASS = "ByteEncoder"


def lava_missing_reason() -> str | None:
    """Why lava-nc cannot be imported here (without importing it), or None when it is installed."""
    try:
        spec = importlib.util.find_spec("lava.magma")
    except (ImportError, ValueError) as e:
        return f"lava-nc is not importable: {e}"
    if spec is None:
        return ("lava-nc is not installed (install with `pip install --ignore-requires-python lava-nc==0.10.0`, "
                "see SPEC §4 and the Makefile)")
    return None


class _HashableByteEncoderLoader(importlib.abc.Loader):
    """Runs the real loader with ``dataclasses.dataclass`` wrapped so that ``ByteEncoder`` gets a hash."""

    def __init__(self, inner):
        self.inner = inner

    def create_module(self, spec):
        return self.inner.create_module(spec)

    def exec_module(self, module):
        original = dataclasses.dataclass

        def patched(cls=None, /, **kwargs):
            def wrap(c):
                if c.__name__ == _CLASS and c.__module__ == _TARGET:
                    kwargs.setdefault("unsafe_hash", True)
                return original(c, **kwargs)

            return wrap if cls is None else wrap(cls)

        dataclasses.dataclass = patched
        try:
            self.inner.exec_module(module)
        finally:
            dataclasses.dataclass = original


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):
        if fullname != _TARGET:
            return None
        for finder in sys.meta_path:
            if finder is self:
                continue
            spec = finder.find_spec(fullname, path, target) if hasattr(finder, "find_spec") else None
            if spec is not None and spec.loader is not None:
                spec.loader = _HashableByteEncoderLoader(spec.loader)
                return spec
        return None


def install() -> None:
    """Registers the import hook once (harmless when ``var_model`` is already imported)."""
    if _TARGET in sys.modules or any(isinstance(f, _Finder) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, _Finder())


def _import_lava_multiprocessing() -> None:
    """lava calls ``multiprocessing.set_start_method('fork')`` at import, which raises when something (a data
    loader, a test runner) fixed the start method first. Lava's runtime needs fork, so it is set with force then."""
    import multiprocessing as mp

    name = "lava.magma.runtime.message_infrastructure.multiprocessing"
    if name in sys.modules or mp.get_start_method(allow_none=True) is None:
        importlib.import_module(name)
        return
    original = mp.set_start_method
    mp.set_start_method = lambda method, force=False: original(method, force=True)
    try:
        importlib.import_module(name)
    finally:
        mp.set_start_method = original


def import_lava():
    """Applies the fix and imports the lava modules the backend uses; a clear ImportError when lava-nc is missing.

    Returns the ``lava.magma.core.run_configs`` module (a handle proving the import worked).
    """
    reason = lava_missing_reason()
    if reason:
        raise ImportError(f"Lava backend: {reason}")
    install()
    import lava.magma.compiler.var_model  # noqa: F401  (built here, with the fix)
    import lava.magma.core.run_configs as run_configs

    _import_lava_multiprocessing()

    return run_configs
