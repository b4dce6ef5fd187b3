"""What can be measured here: wall time per inference always; CPU package energy from RAPL when the kernel exposes
it readably. Every value is tagged ``measured`` with its instrument; what cannot be measured says why."""

from __future__ import annotations

import time
from pathlib import Path

RAPL = Path("/sys/class/powercap/intel-rapl:0/energy_uj")
IDLE_SECONDS = 0.5


def _read_uj(path: Path) -> int:
    return int(path.read_text().strip())


def rapl_status(path: Path = RAPL) -> tuple[bool, str]:
    """(readable, reason): whether RAPL's package energy counter can be read here, and why not."""
    if not path.parent.parent.exists():
        return False, (f"RAPL is not exposed here ({path.parent.parent} does not exist: no Intel/AMD RAPL driver, "
                       f"or a container or VM that hides it)")
    if not path.exists():
        return False, f"RAPL: {path} does not exist (no package domain)"
    try:
        _read_uj(path)
    except PermissionError:
        return False, f"RAPL: {path} is not readable by this user (root only since Linux 5.10, CVE-2020-8694)"
    except (OSError, ValueError) as e:
        return False, f"RAPL: cannot read {path}: {e}"
    return True, f"RAPL package counter {path}"


class Meter:
    """Times (and, with RAPL, meters) the calls made inside :meth:`measure`; :meth:`result` gives the JSON."""

    def __init__(self, rapl: Path = RAPL):
        self.seconds = 0.0
        self.rapl, self.rapl_reason = rapl_status(rapl)
        self.path = rapl
        self.energy_uj = 0
        self.idle_w = None
        if self.rapl:
            e0 = _read_uj(rapl)
            time.sleep(IDLE_SECONDS)
            self.idle_w = max(_read_uj(rapl) - e0, 0) * 1e-6 / IDLE_SECONDS

    def measure(self, fn, *args):
        """``fn(*args)``, timed (and metered)."""
        e0 = _read_uj(self.path) if self.rapl else 0
        t0 = time.perf_counter()
        out = fn(*args)
        self.seconds += time.perf_counter() - t0
        if self.rapl:
            self.energy_uj += max(_read_uj(self.path) - e0, 0)  # a counter wrap loses that call: counted as 0
        return out

    def result(self, samples: int, device: str) -> dict:
        """Per inference: wall time, and energy with idle power subtracted (or why there is none)."""
        out = {"wall_time_s": {"value": self.seconds / samples, "tag": "measured",
                               "instrument": "time.perf_counter around the backend's forward pass (batched; the "
                                             "time of a batch divided by its samples)", "device": device}}
        if self.rapl:
            joules = self.energy_uj * 1e-6 - self.idle_w * self.seconds
            out["energy_J"] = {"value": joules / samples, "tag": "measured", "instrument": self.rapl_reason,
                               "idle_power_W": self.idle_w, "note": "whole CPU package, idle power subtracted"}
        else:
            out["energy_J"] = {"value": None, "tag": "not measured", "reason": self.rapl_reason + (
                "; NVML not used: the model ran on the CPU" if device == "cpu" else "")}
        return out
