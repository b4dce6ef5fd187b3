"""Memory measurements shared by the benchmark scripts: bytes saved for backward, and peak RSS of a code block."""

from __future__ import annotations

import ctypes
import gc
from typing import Callable

import torch


class SavedTensors:
    """Records every tensor autograd saves for backward while the ``with`` block runs, counting each storage once.

    Saved tensors that share a storage (views, the same tensor saved by two operations) count once, with the whole
    storage's bytes, because that is what stays in memory until backward. ``nbytes``: total bytes;
    ``bytes_of(t)``: the bytes of the storage of ``t`` if it was saved (e.g. the model input), else 0. Tensors that
    a custom ``autograd.Function`` keeps as plain attributes of ``ctx`` (not via ``save_for_backward``) are not seen.
    """

    def __init__(self) -> None:
        self._storages: dict[tuple, torch.UntypedStorage] = {}  # kept alive: no address is reused while counting
        self._hooks = torch.autograd.graph.saved_tensors_hooks(self._pack, lambda t: t)

    @staticmethod
    def _key(t: torch.Tensor) -> tuple:
        st = t.untyped_storage()
        return st.data_ptr(), st.device, st.nbytes()

    def _pack(self, t: torch.Tensor) -> torch.Tensor:
        self._storages[self._key(t)] = t.untyped_storage()
        return t

    def __enter__(self) -> "SavedTensors":
        self._hooks.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._hooks.__exit__(*exc)

    @property
    def nbytes(self) -> int:
        return sum(st.nbytes() for st in self._storages.values())

    def bytes_of(self, t: torch.Tensor) -> int:
        return self._storages[self._key(t)].nbytes() if self._key(t) in self._storages else 0

    def release(self) -> None:
        """Drops the references to the counted storages."""
        self._storages.clear()


def saved_bytes(step: Callable[[], None], x: torch.Tensor | None = None) -> tuple[int, int]:
    """Runs ``step`` (forward + backward) once; returns (bytes saved for backward, of which the storage of ``x``)."""
    with SavedTensors() as saved:
        step()
    out = saved.nbytes, (saved.bytes_of(x) if x is not None else 0)
    saved.release()
    return out


def _status_kb(field: str) -> int:
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def peak_rss_increase(block: Callable[[], None]) -> int:
    """Bytes by which the resident set's peak during ``block`` exceeds the resident set just before it (Linux).

    Before the block: garbage collection, ``malloc_trim(0)`` (freed heap memory goes back to the system) and a reset
    of the kernel's peak counter (``5`` into ``/proc/self/clear_refs``); after it, ``VmHWM - VmRSS(before)`` from
    ``/proc/self/status``. Raises OSError where the peak cannot be reset (not Linux, or a restricted /proc).
    """
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass  # not glibc: freed memory may stay resident and the increase is then a lower bound
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    before = _status_kb("VmRSS")
    block()
    return (_status_kb("VmHWM") - before) * 1024
