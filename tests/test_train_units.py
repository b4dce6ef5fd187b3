"""Config validation, readout losses (against naive loops), schedules (against torch's OneCycleLR), param groups."""

import math

import pytest
import torch
import torch.nn.functional as F

import snn
from snn import models
from snn.train import losses
from snn.train.config import apply_overrides, from_dict, load
from snn.train.schedules import build_optimizer, lr_factor


# -- config ---------------------------------------------------------------------------------------------------------

def test_config_defaults_and_overrides():
    cfg = from_dict(apply_overrides({"optim": {"lr": 0.1}}, ["optim.lr=2e-3", "model.hidden=[32, 16]",
                                                            "train.patience=null", "data.frames.dt=5"]))
    assert cfg.optim.lr == 2e-3 and isinstance(cfg.optim.lr, float)
    assert cfg.model == {"type": "lif", "hidden": [32, 16]}
    assert cfg.train.patience is None and cfg.data.frames == {"dt": 5}


@pytest.mark.parametrize("values, match", [
    ({"optim": {"lrr": 1}}, r"unknown key 'optim.lrr'"),
    ({"bogus": 1}, r"unknown key 'bogus'"),
    ({"train": {"epochs": "ten"}}, r"train.epochs: expected int, got 'ten'"),
    ({"train": {"epochs": 2.5}}, r"train.epochs: expected int"),
    ({"train": {"amp": 1}}, r"train.amp: expected bool"),
    ({"loss": {"kind": "mse"}}, r"loss.kind: expected one of"),
    ({"optim": {"lr": -1}}, r"optim.lr: expected a number > 0"),
    ({"data": {"val_fraction": 1.0}}, r"data.val_fraction"),
    ({"optim": {"param_groups": [{"lr": 0.1}]}}, r"param_groups\[0\]"),
    ({"optim": {"param_groups": [{"match": "x", "momentum": 1}]}}, r"unknown key 'optim.param_groups\[0\].momentum'"),
    ({"data": 3}, r"data: expected a mapping"),
])
def test_config_rejects_bad_values(values, match):
    with pytest.raises(ValueError, match=match):
        from_dict(values)


def test_config_file_errors(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        load(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [1, 2\n")
    with pytest.raises(ValueError, match="not valid YAML"):
        load(bad)
    with pytest.raises(ValueError, match="KEY=VALUE"):
        apply_overrides({}, ["optim.lr"])


def test_model_registry_checks_options():
    m = models.build({"type": "lif", "hidden": [8]}, (2, 3, 3), 4)
    y, _ = m(torch.rand(5, 2, 2, 3, 3))
    assert y.shape == (5, 2, 4)
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['hiden'\]"):
        models.build({"type": "lif", "hiden": [8]}, (4,), 2)
    with pytest.raises(ValueError, match="model.type: expected one of"):
        models.build({"type": "nope"}, (4,), 2)
    # the default demo model lowers to the IR and the torch backend reproduces the front end
    m = models.build({"type": "lif", "hidden": [16], "dropout": 0.2, "reset": "zero"}, (2, 3, 3), 4).eval()
    x = (torch.rand(7, 3, 2, 3, 3) < 0.3).float()
    y_front, _ = m(x)
    y_back = snn.backends.get("torch").build(snn.lower(m))(x)
    torch.testing.assert_close(y_back, y_front)


# -- losses against naive per-sample loops ----------------------------------------------------------------------------

def _naive_scores(out, kind, lengths):
    rows = []
    for b in range(out.shape[1]):
        v = out[: int(lengths[b]), b]  # (T_b, C)
        if kind in ("sum", "count"):
            rows.append(v.sum(0))
        elif kind == "max":
            rows.append(v.max(0).values)
        elif kind == "softmax_sum":
            rows.append(sum(F.softmax(v_t, -1) for v_t in v))
        elif kind == "last":
            rows.append(v[-1])
    return torch.stack(rows)


@pytest.mark.parametrize("kind", ["sum", "max", "softmax_sum", "last", "count"])
def test_readout_losses_match_naive_loops(kind):
    g = torch.Generator().manual_seed(1)
    out = torch.randn(9, 5, 4, generator=g)
    lengths = torch.tensor([9, 3, 1, 7, 5])
    labels = torch.tensor([0, 3, 2, 1, 3])
    ref = _naive_scores(out, kind, lengths)
    torch.testing.assert_close(losses.scores(out, kind, lengths), ref)
    ref_loss = sum(-torch.log_softmax(ref[b], -1)[labels[b]] for b in range(5)) / 5
    torch.testing.assert_close(losses.readout_loss(out, labels, kind, lengths), ref_loss)
    assert torch.equal(losses.predict(out, kind, lengths), ref.argmax(-1))


def test_firing_rates_and_penalty():
    s = torch.zeros(4, 2, 3)
    s[0, 0] = 1   # sample 0: 3 spikes in 4 valid steps x 3 neurons
    s[3, 1] = 1   # sample 1: step 3 is padding (length 3), must not count
    rate = losses.firing_rates([s], torch.tensor([4, 3]))[0]
    assert rate.item() == pytest.approx(3 / (7 * 3))
    pen = losses.rate_penalty([torch.tensor(0.2), torch.tensor(0.0)], 0.1)
    assert pen.item() == pytest.approx((0.01 + 0.01) / 2)


# -- schedules and parameter groups ---------------------------------------------------------------------------------

def test_onecycle_matches_torch_onecycle_shape():
    total, pct = 40, 0.3
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=0.5, momentum=0.9)
    ref = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.5, total_steps=total, pct_start=pct,
                                              cycle_momentum=False)
    ours = [0.5 * lr_factor("onecycle", k, total, pct) for k in range(total)]
    theirs = []
    for _ in range(total):
        theirs.append(opt.param_groups[0]["lr"])
        opt.step()
        ref.step()
    assert ours == pytest.approx(theirs, rel=1e-9)
    assert lr_factor("cosine", 0, 10) == 1 and lr_factor("cosine", 10, 10) == pytest.approx(0)
    assert lr_factor("cosine", 5, 10) == pytest.approx(0.5)


def test_param_groups_select_by_name_suffix_with_own_lr_and_schedule():
    model = models.build({"type": "lif", "hidden": [6], "learn_tau": True}, (3,), 2)
    cfg = from_dict({"optim": {"lr": 1e-2, "schedule": "onecycle",
                               "param_groups": [{"match": "tau_mem", "lr": 0.5, "schedule": "cosine",
                                                 "weight_decay": 0.0}]}})
    opt, sched = build_optimizer(model, cfg.optim, total_steps=10)
    names = [g["name"] for g in opt.param_groups]
    assert names == ["tau_mem", "default"]
    taus = {id(p) for n, p in model.named_parameters() if n.endswith("tau_mem")}
    assert {id(p) for p in opt.param_groups[0]["params"]} == taus and len(taus) == 2
    assert opt.param_groups[0]["lr"] == pytest.approx(0.5)          # cosine starts at the peak
    assert opt.param_groups[1]["lr"] == pytest.approx(1e-2 / 25)    # onecycle starts at peak / 25
    for _ in range(5):
        opt.step()
        sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.5)) / 2)
    with pytest.raises(ValueError, match="selects no parameter"):
        build_optimizer(model, from_dict({"optim": {"param_groups": [{"match": "positions"}]}}).optim, 10)
