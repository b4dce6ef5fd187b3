"""The adaptive LIF and IF through the command line: `snn train` builds them from `model.neuron`, `snn eval` reloads
the run, `snn export --target lava` maps IF and refuses the adaptive LIF naming the layer."""

import json

import pytest

from snn.cli import main

OPTS = ["--defaults", "--dataset", "delay-patterns", "--quiet", "--batch-size", "16"]
TINY = ["train.epochs=1",
        "data.frames={dt: 2.0, options: {train: 64, test: 32, duration_ms: 30, channels: 12, pattern_channels: 4, "
        "classes: 4, spacing_ms: 2.0}}", "model.hidden=[16]", "model.threshold=0.05"]


def _train(tmp_path, *extra):
    out = tmp_path / "runs"
    assert main(["train", *OPTS, "--out", str(out), f"data.root={tmp_path / 'data'}", *TINY, *extra]) == 0
    (run,) = out.iterdir()
    return run


@pytest.mark.timeout(300)
def test_adlif_trains_evaluates_and_is_refused_by_lava(tmp_path, capsys):
    run = _train(tmp_path, "model.neuron=adlif", "model.recurrent=true",
                 "model.adaptation={tau_adapt: 100.0, q: 10.0, learn_adaptation: true}")
    results = json.loads((run / "results.json").read_text())
    assert set(results["test_rates"]) == {"adlif_1"} and results["test_rates"]["adlif_1"] > 0
    assert main(["eval", str(run)]) == 0
    capsys.readouterr()
    assert main(["export", "--target", "lava", str(run), "--out", str(tmp_path / "exp")]) == 2
    assert "layer 'adlif_1' (AdLIF)" in capsys.readouterr().err


@pytest.mark.timeout(300)
def test_if_trains_and_bad_options_are_refused(tmp_path, capsys):
    run = _train(tmp_path, "model.neuron=if", "model.reset=subtract")
    assert "if_1" in json.loads((run / "results.json").read_text())["test_rates"]
    assert main(["train", *OPTS, "--out", str(tmp_path / "r2"), f"data.root={tmp_path / 'data'}", *TINY,
                 "model.neuron=lif", "model.adaptation={q: 1.0}"]) == 2
    assert "adaptation: only for neuron 'adlif'" in capsys.readouterr().err
