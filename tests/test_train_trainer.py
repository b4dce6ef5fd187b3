"""The Trainer in-process on a tiny dataset: Ctrl-C leaves a resumable run, checkpoint compatibility checks,
load_model, layer hooks for schedules (epoch_end / after_optimizer_step), early stopping, param-group learning rates."""

import json

import pytest
import torch
from torch import nn

import snn
from snn import models
from snn.train import Trainer, checkpoint, from_dict, load_model


class Toy(torch.utils.data.Dataset):
    """3 classes; class c fires channels 4c..4c+3 more often; lengths 6..9 steps (padding exercised)."""

    feature_shape, num_classes, dt = (12,), 3, 1.0

    def __init__(self, n, seed):
        g = torch.Generator().manual_seed(seed)
        self.y = torch.randint(0, 3, (n,), generator=g)
        self.x = [(torch.rand(6 + i % 4, 12, generator=g)
                   < 0.05 + 0.5 * (torch.arange(12) // 4 == self.y[i]).float()).float() for i in range(n)]

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return self.x[i], int(self.y[i])


def _cfg(**train):
    return from_dict({"model": {"hidden": [10]}, "optim": {"lr": 1e-2},
                      "train": {"epochs": 3, "batch_size": 8, "quiet": True, **train}})


class _Interrupt:
    def on_batch_end(self, trainer, epoch, step):
        if epoch == 1 and step == 2:
            raise KeyboardInterrupt


def test_ctrl_c_leaves_a_resumable_run_equal_to_an_uninterrupted_one(tmp_path):
    data, val = Toy(48, 0), Toy(16, 1)
    ref = Trainer(_cfg(), data, val_set=val, run_dir=tmp_path / "ref")
    ref.fit()
    stopped = Trainer(_cfg(), data, val_set=val, run_dir=tmp_path / "run", callbacks=[_Interrupt()])
    stopped.fit()
    assert stopped.interrupted and stopped.epoch == 1
    assert checkpoint.load(tmp_path / "run" / "checkpoints" / "last.pt")["epoch"] == 1
    resumed = Trainer(_cfg(), data, val_set=val, run_dir=tmp_path / "run")
    resumed.fit(resume=True)
    for (name, a), b in zip(ref.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(a, b), name
    log = [json.loads(x) for x in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log] == [1, 2, 3]
    assert set(log[0]) >= {"train_loss", "train_acc", "val_loss", "val_acc", "rates", "epoch_time_s",
                           "samples_per_s", "lr"}


def test_checkpoint_compatibility_and_load_model(tmp_path):
    t = Trainer(_cfg(epochs=1), Toy(24, 0), val_set=Toy(8, 1), run_dir=tmp_path)
    t.fit()
    model, cfg = load_model(tmp_path)
    assert cfg.model["hidden"] == [10] and cfg.model["dt"] == 1.0
    x = torch.rand(5, 2, 12)
    torch.testing.assert_close(model(x)[0], t.model.eval()(x)[0])
    ckpt = torch.load(tmp_path / "checkpoints" / "best.pt", weights_only=True)
    for key, value, match in [("format_version", 99, "format version 99"), ("ir_version", 99, "IR version 99"),
                              ("format", "other", "expected a spikeforge-checkpoint")]:
        bad = dict(ckpt, **{key: value})
        torch.save(bad, tmp_path / "bad.pt")
        with pytest.raises(ValueError, match=match):
            checkpoint.load(tmp_path / "bad.pt")
    data = (tmp_path / "checkpoints" / "last.pt").read_bytes()
    (tmp_path / "trunc.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="corrupt"):
        load_model(tmp_path / "trunc.pt")
    # the data must fit the checkpoint's model on resume
    with pytest.raises(ValueError, match="inputs"):
        t2 = Trainer(_cfg(epochs=2), _Wider(24, 0), run_dir=tmp_path)
        t2.fit(resume=True)


class _Wider(Toy):
    feature_shape = (12,)
    num_classes = 4


class _Scheduled(nn.Module):
    """Identity with the schedule hooks a delay layer uses; counts the calls."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(1))
        self.steps, self.epochs = 0, []

    def forward(self, x):
        return x * self.scale

    def after_optimizer_step(self):
        self.steps += 1
        with torch.no_grad():
            self.scale.clamp_(0.5, 0.9)

    def epoch_end(self, epoch, num_epochs):
        self.epochs.append((epoch, num_epochs))


@models.register_model("test-scheduled")
def _scheduled_model(input_shape, num_classes, *, dt=1.0):
    return snn.Sequential(_Scheduled(), snn.Linear(input_shape[0], 8), snn.LIF(8, dt=dt),
                          snn.Linear(8, num_classes), snn.LI(num_classes, dt=dt))


def test_layer_hooks_param_groups_and_early_stopping():
    cfg = from_dict({"model": {"type": "test-scheduled"}, "optim": {"lr": 1e-2, "schedule": "constant",
                     "param_groups": [{"match": "scale", "lr": 0.5}]},
                     "train": {"epochs": 3, "batch_size": 8, "quiet": True}})
    t = Trainer(cfg, Toy(40, 0))
    t.fit()
    hooked = t.model[0]
    assert hooked.steps == 3 * 5 and hooked.epochs == [(1, 3), (2, 3), (3, 3)]
    assert 0.5 <= hooked.scale.item() <= 0.9
    assert [g["lr"] for g in t.optimizer.param_groups] == [0.5, 1e-2]

    class Worse:  # a validation accuracy that never improves after epoch 1 -> stop after `patience` more epochs
        def on_epoch_end(self, trainer, record):
            record["val_acc"] = 1.0 if record["epoch"] == 1 else 0.0
            trainer.best = trainer.history[0]

    t = Trainer(_cfg(epochs=10, patience=2), Toy(24, 0), val_set=Toy(8, 1), callbacks=[Worse()])
    t.fit()
    assert [r["epoch"] for r in t.history] == [1, 2, 3]
