"""The Lava backends: the IR lowered to Loihi 2 style Lava processes (lava-nc 0.10.0), floating and fixed point.

Registered backends (``snn.backends.get(name).build(graph)(x)``, ``x`` (T, B, *in) -> (T, B, *out), aligned in time
with the torch backend: Lava's one-step-per-synapse latency is shifted out):

- ``lava``        Lava ``Loihi2SimCfg`` with ``floating_pt`` process models (:mod:`.floating`).
- ``lava-fixed``  Lava ``fixed_pt`` (bit-accurate Loihi) after quantisation (:mod:`.fixed`).
- ``loihi``       the bit-exact integer simulator in torch, batched, CPU/GPU (:mod:`.loihi`).

This package module is light: importing it never imports lava. :mod:`.compat` makes lava-nc 0.10.0 importable on
Python 3.11+ and is applied by every module that imports lava. Pieces: :mod:`.lowering` (IR -> :class:`LavaNet`, the
extension point), :mod:`.quantize`, :mod:`.runtime`, :mod:`.intsim`, :mod:`.netx` (export/reader), :mod:`.cli`.
"""

from __future__ import annotations


def _lava_probe() -> tuple[bool, str]:
    from importlib.metadata import PackageNotFoundError, version

    from .compat import lava_missing_reason

    reason = lava_missing_reason()
    if reason:
        return False, reason
    try:
        return True, f"lava-nc {version('lava-nc')} (Loihi2SimCfg on CPU, 3.11 compatibility fix applied)"
    except PackageNotFoundError:
        return True, "lava (version unknown)"


def _loihi_probe() -> tuple[bool, str]:
    import torch

    where = "cpu" + (", cuda" if torch.cuda.is_available() else "")
    return True, f"bit-exact Loihi 2 integer simulator in torch {torch.__version__} ({where})"


def register() -> None:
    """Adds ``lava``, ``lava-fixed`` and ``loihi`` to :mod:`snn.backends` (called when that package is imported)."""
    from .. import register as add

    add("lava", "snn.backends.lava.floating", "Lava Loihi2SimCfg, floating point (lava-nc)", _lava_probe)
    add("lava-fixed", "snn.backends.lava.fixed", "Lava Loihi2SimCfg, bit-accurate fixed point (lava-nc)",
        _lava_probe)
    add("loihi", "snn.backends.lava.loihi", "Loihi 2 fixed point, bit-exact integer simulator (torch)",
        _loihi_probe)
