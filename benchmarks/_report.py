"""Shared by the benchmark scripts: machine details and writing one section of docs/benchmarks.md."""

from __future__ import annotations

import os
import platform
import re
from pathlib import Path

import torch

from snn._io import atomic_path

DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"
HEADER = ("# Benchmarks\n\nMeasured by the scripts in `benchmarks/` (`make bench` runs them all). Each section "
          "names the machine it ran on; compare numbers only within one section.\n")


def machine() -> str:
    """One line: CPU model, cores, Python and torch versions, GPU if any."""
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (f"{cpu}, {os.cpu_count()} cores, {gpu}; Python {platform.python_version()}, torch {torch.__version__}, "
            f"{torch.get_num_threads()} torch threads")


def write_section(title: str, body: str) -> None:
    """Replaces (or appends) the ``## title`` section of docs/benchmarks.md, atomically."""
    text = DOC.read_text() if DOC.exists() else HEADER
    section = f"## {title}\n\n{body.strip()}\n"
    pattern = re.compile(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", re.S | re.M)
    text = pattern.sub(lambda _: section + "\n", text) if pattern.search(text) else text.rstrip() + "\n\n" + section
    with atomic_path(DOC) as tmp:
        tmp.write_text(text)
