"""Backend registry: each backend names itself, says whether it can run here (and why not), and how to load it.

``available()`` lists every registered backend with its status; ``get(name)`` imports and returns the backend
module. A backend registers with :func:`register` from its own package (the torch backend below).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class BackendInfo:
    """``name``; ``description``; ``usable``: whether it can run here; ``reason``: why not, or what it runs on."""

    name: str
    description: str
    usable: bool
    reason: str


@dataclass(frozen=True)
class _Entry:
    module: str
    description: str
    probe: Callable[[], tuple[bool, str]]


_REGISTRY: dict[str, _Entry] = {}


def register(name: str, module: str, description: str, probe: Callable[[], tuple[bool, str]]) -> None:
    """Registers backend ``name`` implemented by importable ``module``; ``probe()`` -> (usable, reason)."""
    _REGISTRY[name] = _Entry(module, description, probe)


def available() -> list[BackendInfo]:
    """Every registered backend with whether it is usable on this machine and why (not)."""
    out = []
    for name, entry in _REGISTRY.items():
        try:
            usable, reason = entry.probe()
        except Exception as e:  # a probe that breaks means the backend is unusable, and says why
            usable, reason = False, f"{type(e).__name__}: {e}"
        out.append(BackendInfo(name, entry.description, usable, reason))
    return out


def get(name: str):
    """Imports and returns the backend module ``name``; a clear error if unknown or unusable."""
    if name not in _REGISTRY:
        raise ValueError(f"backend: expected one of {sorted(_REGISTRY)}, got {name!r}")
    usable, reason = _REGISTRY[name].probe()
    if not usable:
        raise RuntimeError(f"backend {name!r} cannot run here: {reason}")
    return importlib.import_module(_REGISTRY[name].module)


def _torch_probe() -> tuple[bool, str]:
    import torch

    devices = "cpu" + (f", cuda ({torch.cuda.get_device_name(0)})" if torch.cuda.is_available() else "")
    return True, f"torch {torch.__version__} on {devices}"


register("torch", "snn.backends.torch", "PyTorch simulation of the IR (CPU/CUDA, float)", _torch_probe)

# The Lava backends (lava, lava-fixed, loihi) register from their own package; lava is imported only on use.
from .lava import register as _register_lava  # noqa: E402

_register_lava()
