"""Recipes: the ``conv`` model type (structure, shapes, the IR/torch backend agrees with the front end) and
``configs/nmnist_conv.yaml`` trained through ``snn train`` on a format-exact N-MNIST tree, then evaluated and plotted
through the IR; the synthetic-task configs are valid and pick the documented settings."""

import json

import pytest
import torch
import yaml
from test_train_run import _only_run, cli  # noqa: F401 (fixture)

import snn
from snn import models
from snn.datasets.testing import random_camera, write_nmnist_tree
from snn.train.cli import CONFIG_DIR, find_config
from snn.train.config import from_dict


def _conv_out(n, k=5, s=2):
    return (n + 2 * (k // 2) - k) // s + 1  # torch.nn.Conv2d's output size with zero padding k // 2


@pytest.mark.parametrize("pool", ["sum", "avg", "none"])
def test_conv_model_structure_and_backend_agree(pool):
    """conv -> LIF -> pool blocks (2x2 windows; or stride-2 convolutions with pool: none), lowered to the IR and run
    by the torch backend as by the front end."""
    torch.manual_seed(0)
    stride = 2 if pool == "none" else 1
    model = models.build({"type": "conv", "channels": [4, 6], "kernel": 5, "stride": stride, "pool": pool,
                          "hidden": [12], "dt": 10.0}, (2, 34, 34), 10)
    kinds = [type(m).__name__ for m in model]
    block = ["Conv2d", "LIF"] + {"sum": ["SumPool2d"], "avg": ["AvgPool2d"], "none": []}[pool]
    assert kinds == block * 2 + ["Flatten", "Linear", "LIF", "Linear", "LI"]
    h = _conv_out(_conv_out(34)) if pool == "none" else (_conv_out(34, s=1) // 2) // 2  # 34 -> 17 -> 8 with pools
    assert model[len(block) * 2 + 1].in_features == 6 * h * h and h == {"none": 9}.get(pool, 8)
    x = (torch.rand(12, 3, 2, 34, 34) < 0.1).float() * 4
    with torch.no_grad():
        y, _ = model.eval()(x)
    graph = snn.lower(model, (2, 34, 34))
    torch.testing.assert_close(snn.backends.get("torch").build(graph)(x), y, rtol=1e-5, atol=1e-5)


def test_conv_model_refuses_bad_options():
    with pytest.raises(ValueError, match=r"model \(conv\): expected frames of shape \(C, H, W\), got input shape"):
        models.build({"type": "conv"}, (578,), 10)
    with pytest.raises(ValueError, match=r"model \(conv\): channels: expected a list of positive sizes"):
        models.build({"type": "conv", "channels": [8, 0]}, (2, 34, 34), 10)
    with pytest.raises(ValueError, match=r"model \(conv\): pool: expected one of \['sum', 'avg', 'none'\], got 'max'"):
        models.build({"type": "conv", "pool": "max"}, (2, 34, 34), 10)
    with pytest.raises(ValueError, match=r"pool_size: 2 x 2 pooling leaves no pixel of a \(1, 1\) frame \(block 3\)"):
        models.build({"type": "conv", "channels": [4, 4, 4]}, (2, 4, 4), 10)


def test_shipped_recipes_are_valid_configs():
    for name in ("nmnist_conv", "ndigits_conv", "delay-patterns_delay", "spike-adding_delay"):
        cfg = from_dict(yaml.safe_load((CONFIG_DIR / f"{name}.yaml").read_text()))
        assert cfg.model["type"] in models.MODELS, name
    assert find_config("nmnist", "conv").name == "nmnist_conv.yaml"
    assert find_config("delay-patterns", "delay").name == "delay-patterns_delay.yaml"
    assert find_config("spike-adding", "delay").name == "spike-adding_delay.yaml"


def test_nmnist_conv_recipe_smoke_trains_on_format_exact_files(tmp_path, cli):  # noqa: F811
    root = tmp_path / "data"
    for folder, n, seed in (("Train", 20, 0), ("Test", 10, 1)):
        write_nmnist_tree(root / "nmnist" / folder, random_camera(n, seed=seed, mean_events=400),
                          [i % 10 for i in range(n)])
    code, stdout, err = cli(["train", "--config", str(CONFIG_DIR / "nmnist_conv.yaml"), "--quiet", "--epochs", "1",
                             "--batch-size", "8", "--out", str(tmp_path / "runs"), f"data.root={root}"])
    assert code == 0, err
    run = _only_run(tmp_path / "runs")
    written = yaml.safe_load((run / "config.yaml").read_text())
    assert written["model"]["type"] == "conv" and written["model"]["channels"] == [12, 64]
    assert (written["model"]["pool"], written["model"]["stride"]) == ("avg", 1)
    assert "(18 train / 2 val / 10 test), model conv with" in stdout
    results = json.loads((run / "results.json").read_text())
    assert results["test_samples"] == 10
    code, _, err = cli(["eval", str(run), "--quiet", "--plots", "--samples", "4"])
    assert code == 0, err
    report = json.loads((run / "eval-nmnist-test-torch.json").read_text())
    assert report["samples"] == 10 and report["accuracy"] == pytest.approx(results["test_acc"], abs=1e-9)
    assert (run / "activity-test-raster.png").is_file()
