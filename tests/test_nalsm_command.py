"""``snn nalsm``: the paper's N-MNIST protocol through the command on a small format-exact N-MNIST tree, the run
folder, seeding, the saved liquid (weights-only file) reloading to identical features, and bad input."""

import json
import re

import pytest
import torch
import yaml

from snn import nalsm_protocol as P
from snn.cli import main
from snn.datasets.testing import random_camera, write_nmnist_tree
from snn.nalsm import Liquid, LiquidConfig, features

# the paper's protocol, shortened: 60 ms of each recording, a 64-neuron liquid, 4 samples to self-organise
SMALL = ["--set", "data.frames={dt: 1.0, duration: 60.0, binary: true}", "--set", "liquid.side=4",
         "--set", "organise.samples=4", "--set", "readout.epochs=3", "--set", "measure=4"]


@pytest.fixture(scope="module")
def nmnist_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("nmnist-data")
    camera = dict(mean_events=4000, max_us=60_000)  # enough events in 60 ms to drive a small liquid
    write_nmnist_tree(root / "nmnist" / "Train", random_camera(10, seed=1, **camera), [i % 10 for i in range(10)])
    write_nmnist_tree(root / "nmnist" / "Test", random_camera(4, seed=2, **camera), [3, 1, 4, 1])
    return root


def _run(root, out, *extra):
    return main(["nalsm", "--config", "snn/configs/nmnist_nalsm.yaml", "--out", str(out), "--quiet",
                 "--set", f"data.root={root}", *SMALL, *extra])


def test_nmnist_protocol_through_the_command(nmnist_root, tmp_path, capsys):
    assert _run(nmnist_root, tmp_path / "a") == 0
    run = tmp_path / "a"
    assert sorted(p.name for p in run.iterdir()) == ["liquid.pt", "nalsm_config.yaml", "readout.pt", "results.json"]
    res = json.loads((run / "results.json").read_text())
    assert res["inputs"] == 34 * 34 * 2 and res["neurons"] == 64 and res["plasticity"] == "astro"
    assert res["organise_samples"] == 4 and res["train_samples"] == 10 and res["test_samples"] == 4
    assert 0 <= res["test_acc"] <= 1 and 0 <= res["train_acc"] <= 1
    cfg = yaml.safe_load((run / "nalsm_config.yaml").read_text())
    assert cfg["readout"]["optimizer"] == "adadelta" and cfg["liquid"]["side"] == 4
    assert P.config_from_dict(cfg).to_dict() == cfg                   # the written config reads back
    readout = torch.load(run / "readout.pt", weights_only=True)
    assert readout["weight"].shape == (10, 64)
    # seeded: the same command gives the same liquid and results
    assert _run(nmnist_root, tmp_path / "b") == 0
    a, b = P.load_liquid(run / "liquid.pt"), P.load_liquid(tmp_path / "b" / "liquid.pt")
    assert torch.equal(a.w, b.w) and torch.equal(a.w_in, b.w_in)
    res_b = json.loads((tmp_path / "b" / "results.json").read_text())
    assert {k: v for k, v in res.items() if k != "seconds"} == {k: v for k, v in res_b.items() if k != "seconds"}
    # self-organisation changed the weights (the liquid's initial weights are all +-3)
    assert res["spikes_per_neuron_per_step"] > 0
    assert not torch.equal(a.w, Liquid(a.n_in, a.cfg).w) and not torch.equal(a.w_in, Liquid(a.n_in, a.cfg).w_in)
    # the saved liquid through --liquid: no self-organisation, the same features, branching factor and accuracies
    assert _run(nmnist_root, tmp_path / "c", "--liquid", str(run / "liquid.pt")) == 0
    res_c = json.loads((tmp_path / "c" / "results.json").read_text())
    assert res_c["plasticity"] == "loaded" and res_c["organise_samples"] == 0
    for key in ("branching_factor", "spikes_per_neuron_per_step", "train_acc", "test_acc"):
        assert res_c[key] == res[key]
    # an existing run folder is not replaced without --overwrite
    capsys.readouterr()
    assert _run(nmnist_root, tmp_path / "a") == 2
    assert "not empty" in capsys.readouterr().err


def test_saved_liquid_reloads_to_identical_features(tmp_path):
    liquid = Liquid(12, LiquidConfig(side=3, seed=5))
    x = (torch.rand(60, 4, 12, generator=torch.Generator().manual_seed(0)) < 0.3).float()
    liquid.run(x, "astro")
    P.save_liquid(liquid, tmp_path / "liquid.pt")
    back = P.load_liquid(tmp_path / "liquid.pt")
    assert back.cfg == liquid.cfg and back.n_in == 12
    for key in ("w", "w_in", "mask", "in_mask", "excitatory", "lo", "hi"):
        assert torch.equal(getattr(back, key), getattr(liquid, key)), key
    assert torch.equal(features(back.run(x)), features(liquid.run(x)))


class _NotWeights:
    pass


def test_liquid_file_bad_input(tmp_path):
    liquid = Liquid(5, LiquidConfig(side=2))
    P.save_liquid(liquid, tmp_path / "ok.pt")
    state = torch.load(tmp_path / "ok.pt", weights_only=True)
    torch.save({**state, "extra": _NotWeights()}, tmp_path / "pickled.pt")
    with pytest.raises(ValueError, match="weights-only"):
        P.load_liquid(tmp_path / "pickled.pt")
    torch.save({**state, "w": state["w"][:, :3]}, tmp_path / "shape.pt")
    with pytest.raises(ValueError, match=r"w: expected \(8, 8\)"):
        P.load_liquid(tmp_path / "shape.pt")
    w = state["w"].clone()
    w[~state["mask"]] = 1.0
    torch.save({**state, "w": w}, tmp_path / "offmask.pt")
    with pytest.raises(ValueError, match="where mask has no connection"):
        P.load_liquid(tmp_path / "offmask.pt")
    torch.save({"format": "something else"}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="spikeforge-nalsm-liquid"):
        P.load_liquid(tmp_path / "other.pt")
    with pytest.raises(ValueError, match="does not exist"):
        P.load_liquid(tmp_path / "missing.pt")


def test_liquid_with_wrong_input_layer_is_refused(nmnist_root, tmp_path, capsys):
    P.save_liquid(Liquid(578, LiquidConfig(side=2)), tmp_path / "l.pt")
    assert _run(nmnist_root, tmp_path / "r", "--liquid", str(tmp_path / "l.pt")) == 2
    err = capsys.readouterr().err
    assert "578 channels" in err and "2312" in err and not (tmp_path / "r").exists()


def test_samples_too_short_for_the_branching_factor_are_refused_before_any_work(nmnist_root, tmp_path, capsys):
    rc = _run(nmnist_root, tmp_path / "r", "--set", "data.frames={dt: 1.0, duration: 50.0, binary: true}")
    assert rc == 2 and not (tmp_path / "r").exists()
    assert re.search(r"data.frames: the branching factor needs samples of more than 58 steps .* give 50",
                     capsys.readouterr().err)


@pytest.mark.parametrize("override, message", [
    ("liquid.sides=3", "unknown key 'liquid.sides'"),
    ("organise.plasticity=hebb", "organise.plasticity: expected one of"),
    ("readout.optimizer=sgd", "readout.optimizer: expected one of"),
    ("readout.lr=0", "readout.lr: expected a finite number > 0"),
    ("liquid.connect=[0.2, 0.1, 1.5, 0.05]", r"connect\[2\]: expected a probability"),
    ("liquid.tau_mem=-1", "tau_mem: expected a finite number > 0"),
    ("data.val_fraction=0.2", "data.val_fraction: not used by snn nalsm"),
])
def test_bad_config_names_the_key(tmp_path, capsys, override, message):
    rc = main(["nalsm", "--config", "snn/configs/ndigits_nalsm.yaml", "--out", str(tmp_path / "r"), "--set",
               override])
    assert rc == 2
    assert re.search(message, capsys.readouterr().err)


def test_help_explains_the_protocol(capsys):
    with pytest.raises(SystemExit):
        main(["nalsm", "--help"])
    out = capsys.readouterr().out
    assert "branching factor" in out and "liquid.pt" in out and "--liquid" in out
