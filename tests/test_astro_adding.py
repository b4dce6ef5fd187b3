"""Reduced "what the astrocyte adds" run (benchmarks/astro_adding.py --reduced): on a spike-adding variant the first
pattern must be held across a 40 ms gap; the AstroLIF network learns the sum, the same LIF network without the
astrocyte (at least as many parameters, same budget) stays at chance."""

import importlib.util
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "astro_adding.py"
pytestmark = pytest.mark.timeout(600)


def _experiment():
    spec = importlib.util.spec_from_file_location("astro_adding", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_the_astrocyte_remembers_what_the_lif_network_forgets(tmp_path):
    aa = _experiment()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        rows = {r["model"]: r for r in aa.run(aa.replace(aa.REDUCED, root=str(tmp_path)))}
    finally:
        torch.set_num_threads(threads)
    astro, lif = rows["astro"], rows["LIF, same params"]
    assert lif["params"] >= astro["params"], rows
    assert lif["test_acc"] <= 0.6, rows          # chance: 50% (a + b = 1 half of the time)
    assert astro["test_acc"] >= lif["test_acc"] + 0.15, rows
