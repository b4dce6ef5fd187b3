"""Smoke run of configs/shd_adlif.yaml (recurrent SE-adLIF) through `snn train` on tiny SHD-format files."""

import json
from pathlib import Path

import torch

import snn.cli
from snn.datasets.testing import random_audio, write_shd
from snn.train.config import from_dict, load

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "shd_adlif.yaml"


def _write_split(root: Path, split: str, n: int, seed: int) -> None:
    samples = random_audio(n, seed=seed, mean_events=1500, max_s=0.5)  # a few thousand events, as SHD's recordings
    write_shd(root / "shd" / f"shd_{split}.h5", [t / 1e6 for t, _ in samples], [u for _, u in samples],
              [i % 4 for i in range(n)])


def _train(root: Path, *overrides: str) -> Path:
    threads = torch.get_num_threads()
    try:
        code = snn.cli.main(["train", "--config", str(CONFIG), "--quiet", f"data.root={root}",
                             f"train.out_dir={root / 'runs'}", "train.epochs=4", "train.batch_size=8",
                             "model.hidden=[16,16]", "data.val_fraction=0.2", "data.num_workers=0", *overrides])
    finally:
        torch.set_num_threads(threads)
    assert code == 0
    return max((root / "runs").iterdir(), key=lambda p: p.stat().st_mtime_ns)


def _log(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]


def test_shd_adlif_config_fires_and_learns(tmp_path):
    """The shipped recipe is a recurrent AdLIF network with the paper's q; on SHD-format files both hidden layers
    fire from the first epoch, the training loss falls, and the trained network runs lowered on the torch backend."""
    cfg = from_dict(load(CONFIG))
    assert (cfg.model["type"], cfg.model["neuron"], cfg.model["recurrent"]) == ("lif", "adlif", True)
    assert cfg.model["adaptation"]["q"] == 120.0 and cfg.data.name == "shd"
    _write_split(tmp_path, "train", 24, seed=0)
    _write_split(tmp_path, "test", 8, seed=1)
    run = _train(tmp_path)
    log = _log(run)
    assert len(log) == 4
    assert set(log[0]["rates"]) == {"adlif_1", "adlif_3"}  # Linear -> AdLIF twice: both hidden layers recorded
    assert all(rate > 0.01 for epoch in log for rate in epoch["rates"].values()), [e["rates"] for e in log]
    losses = [e["train_loss"] for e in log]
    assert losses[-1] < 0.8 * losses[0] and losses == sorted(losses, reverse=True), losses
    assert snn.cli.main(["eval", str(run), "--backend", "torch", "--quiet"]) == 0  # AdLIF lowered to the IR
    evaluated = json.loads((run / "eval-shd-test-torch.json").read_text())
    assert evaluated["samples"] == 8 and 0 <= evaluated["accuracy"] <= 1
    assert snn.cli.main(["plot", str(run), "--samples", "4"]) == 0  # AdLIF's trace kernel: its layers are drawn
    assert all((run / f"activity-test-{kind}.png").stat().st_size > 0 for kind in ("raster", "membrane", "rates"))


def test_shd_adlif_at_threshold_one_stays_silent(tmp_path):
    """Why the recipe lowers the threshold: at 1.0 the same network on the same files emits no spike at all in the
    first epoch (q a = 60 keeps the membrane far below threshold), so the hidden layers cannot learn."""
    _write_split(tmp_path, "train", 24, seed=0)
    _write_split(tmp_path, "test", 8, seed=1)
    log = _log(_train(tmp_path, "model.threshold=1.0", "train.epochs=1"))
    assert all(rate == 0 for rate in log[0]["rates"].values()), log[0]["rates"]
