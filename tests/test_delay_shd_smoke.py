"""Smoke run of configs/shd_delays.yaml through `snn train` on a tiny SHD-format file (40 train / 20 test)."""

import json
from pathlib import Path

import torch

import snn.cli
from snn.train import checkpoint
from snn.datasets.testing import random_audio, write_shd
from snn.synapses.delay import DelayedLinear

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "shd_delays.yaml"
EPOCHS = 8  # sigma anneals over the first EPOCHS // 4 = 2 epochs


def _write_split(root: Path, split: str, n: int, seed: int) -> None:
    samples = random_audio(n, seed=seed, mean_events=150, max_s=0.5)
    write_shd(root / "shd" / f"shd_{split}.h5", [t / 1e6 for t, _ in samples], [u for _, u in samples],
              [i % 20 for i in range(n)])


def test_shd_delays_config_trains_end_to_end(tmp_path, monkeypatch):
    _write_split(tmp_path, "train", 40, seed=0)
    _write_split(tmp_path, "test", 20, seed=1)
    sigmas = []  # (epoch, sigma after the hook) of every delay layer, recorded around the real hook
    real_hook = DelayedLinear.epoch_end

    def spy(self, epoch, num_epochs):
        real_hook(self, epoch, num_epochs)
        sigmas.append((epoch, self.sigma.item()))

    monkeypatch.setattr(DelayedLinear, "epoch_end", spy)
    threads = torch.get_num_threads()
    try:
        code = snn.cli.main(["train", "--config", str(CONFIG), "--quiet", f"data.root={tmp_path}",
                             f"train.out_dir={tmp_path / 'runs'}", f"train.epochs={EPOCHS}", "train.batch_size=16",
                             "model.hidden=[16,16]", "data.num_workers=0"])
    finally:
        torch.set_num_threads(threads)
    assert code == 0
    (run,) = (tmp_path / "runs").iterdir()
    assert run.name.startswith("shd-delays-")
    assert (run / "checkpoints" / "last.pt").is_file() and (run / "checkpoints" / "best.pt").is_file()
    assert len((run / "log.jsonl").read_text().splitlines()) == EPOCHS
    assert json.loads((run / "results.json").read_text())["test_samples"] == 20

    # sigma: K//2 = 12 at the start, times (0.23 / 12) ** (1/2) after each of the first 2 epochs, then 0.23
    expected = {e: 12.0 * (0.23 / 12.0) ** min(e / 2, 1.0) for e in range(1, EPOCHS + 1)}
    layers = 3  # two hidden delay layers and the delayed readout
    assert len(sigmas) == layers * EPOCHS
    for epoch, sigma in sigmas:
        assert abs(sigma - expected[epoch]) < 1e-5, (epoch, sigma)

    state = checkpoint.load(run / "checkpoints" / "last.pt")["model"]  # weights_only=True inside
    positions = [v for k, v in state.items() if k.endswith("positions")]
    assert len(positions) == layers
    for p in positions:
        assert p.abs().max().item() <= 12.0   # clamped to [-K//2, K//2] ...
    assert any((p.abs() == 12.0).any() for p in positions)  # ... and the clamp was needed (lr 0.1 pushes past it)
    sigma_saved = [v.item() for k, v in state.items() if k.endswith("sigma")]
    assert sigma_saved == [torch.tensor(0.23).item()] * layers
