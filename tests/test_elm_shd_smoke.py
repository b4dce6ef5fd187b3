"""Smoke runs of configs/shd_elm.yaml and shd_branch_elm.yaml through `snn train` on tiny SHD-format files."""

import json
from pathlib import Path

import pytest
import torch

import snn.cli
from snn.datasets.testing import random_audio, write_shd
from snn.neurons.elm import random_routing
from snn.train import checkpoint
from snn.train.config import from_dict, load

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def _write_split(root: Path, split: str, n: int, seed: int) -> None:
    samples = random_audio(n, seed=seed, mean_events=150, max_s=1.3)  # some events beyond the 1 s crop
    write_shd(root / "shd" / f"shd_{split}.h5", [t / 1e6 for t, _ in samples], [u for _, u in samples],
              [i % 20 for i in range(n)])


@pytest.mark.parametrize("model", ["elm", "branch_elm"])
def test_shd_elm_configs_train_end_to_end(model, tmp_path):
    """`snn train --dataset shd --model elm|branch_elm` picks configs/shd_<model>.yaml and trains it."""
    name = f"shd_{model}"
    cfg = from_dict(load(CONFIGS / f"{name}.yaml"))
    assert (cfg.data.frames, cfg.optim.name, cfg.optim.lr, cfg.loss.kind, cfg.train.batch_size, cfg.train.epochs) == \
        ({"dt": 2.0, "duration": 1000.0, "pool": 1}, "adamax", 5e-3, "last", 8, 70)
    assert cfg.model["memory_units"] == 100 and cfg.model["input_dropout"] == 0.5 and cfg.model["dt"] == 2.0
    _write_split(tmp_path, "train", 18, seed=0)
    _write_split(tmp_path, "test", 10, seed=1)
    threads = torch.get_num_threads()
    try:
        code = snn.cli.main(["train", "--dataset", "shd", "--model", model, "--quiet", f"data.root={tmp_path}",
                             f"train.out_dir={tmp_path / 'runs'}", "train.epochs=1", "model.memory_units=6",
                             "data.num_workers=0"])
    finally:
        torch.set_num_threads(threads)
    assert code == 0
    (run,) = (tmp_path / "runs").iterdir()
    assert run.name.startswith(name.replace("_", "-") + "-")
    assert len((run / "log.jsonl").read_text().splitlines()) == 1
    results = json.loads((run / "results.json").read_text())
    assert results["test_samples"] == 10
    assert snn.cli.main(["eval", str(run), "--backend", "torch", "--quiet"]) == 0  # lowered to the IR, torch kernel
    evaluated = json.loads((run / "eval-shd-test-torch.json").read_text())
    assert evaluated["samples"] == 10 and 0 <= evaluated["accuracy"] <= 1
    state = checkpoint.load(run / "checkpoints" / "last.pt")["model"]  # weights_only=True inside
    theta = next(v for k, v in state.items() if k.endswith("tau_m_logit"))
    assert theta.shape == (6,) and bool(torch.isfinite(theta).all())
    routing = [v for k, v in state.items() if k.endswith("routing")]
    if name == "shd_branch_elm":
        assert torch.equal(routing[0], random_routing(700, 1500, 0))
    else:
        assert routing == []


def test_adamax_is_a_known_optimiser():
    """The ELM configs' optimiser (the paper's) builds as torch's Adamax with the configured lr."""
    from snn.train.config import OptimConfig
    from snn.train.schedules import build_optimizer

    opt, _ = build_optimizer(torch.nn.Linear(2, 2), OptimConfig(name="adamax", lr=5e-3, schedule="constant"), 10)
    assert type(opt) is torch.optim.Adamax and opt.param_groups[0]["lr"] == 5e-3
