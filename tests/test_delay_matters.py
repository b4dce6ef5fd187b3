"""Reduced "delays matter" run on delay-patterns: the delay network beats the same network without delays."""

import importlib.util
import sys
from pathlib import Path

import torch

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "delays_matter.py"


def _experiment():
    spec = importlib.util.spec_from_file_location("delays_matter", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_delays_beat_no_delays_on_delay_patterns(tmp_path):
    dm = _experiment()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        rows = {r["model"]: r for r in dm.run(dm.REDUCED, kinds=("delays", "no delays"))}
    finally:
        torch.set_num_threads(threads)
    delays, plain = rows["delays"]["test_acc"], rows["no delays"]["test_acc"]
    assert delays >= 0.6, rows
    assert delays >= plain + 0.08, rows
