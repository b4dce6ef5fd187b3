"""Reduced "delays matter" run on delay-patterns: with 2 ms membranes only the delay network solves the task."""

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
        cfg = dm.replace(dm.REDUCED, root=str(tmp_path))
        rows = {r["model"]: r for r in dm.run(cfg, kinds=("delays", "no delays"))}
    finally:
        torch.set_num_threads(threads)
    delays, plain = rows["delays"]["test_acc"], rows["no delays"]["test_acc"]
    assert plain <= 0.35, rows            # 8 classes: chance is 12.5%
    assert delays >= 0.6, rows
    assert delays >= plain + 0.3, rows
