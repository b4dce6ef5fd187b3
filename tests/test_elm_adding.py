"""Reduced ELM-vs-LIF run on spike-adding: with the same parameter count and training budget ELM clearly beats both
LIF networks (the full table is in docs/elm.md)."""

import importlib.util
import sys
from pathlib import Path

import torch

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "elm_adding.py"


def _experiment():
    spec = importlib.util.spec_from_file_location("elm_adding", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_elm_beats_lif_networks_of_the_same_size_on_spike_adding(tmp_path):
    ea = _experiment()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        cfg = ea.replace(ea.REDUCED, root=str(tmp_path))
        rows = {r["model"]: r for r in ea.run(cfg)}
    finally:
        torch.set_num_threads(threads)
    elm = rows.pop("ELM")
    assert set(rows) == {"LIF, recurrent", "LIF, feed-forward"}
    for lif in rows.values():
        assert abs(elm["params"] - lif["params"]) <= 0.02 * elm["params"], rows
        assert lif["test_acc"] <= 0.35, rows   # 7 sums of two digits 0..3: the commonest (3) is 25% of the samples
        assert elm["test_acc"] >= lif["test_acc"] + 0.25, (elm, rows)
    assert elm["test_acc"] >= 0.5, elm
