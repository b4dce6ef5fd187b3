"""``snn runs`` on real run folders made by ``snn train`` (finished, killed mid-run, locked by a live process),
``snn train --print-config`` against the config a real run records, and ``snn eval --split valid``."""

import json
import os
import subprocess
import sys

import pytest
import yaml
from test_train_run import _only_run, _train_args, cli, data_root, train_killed_at  # noqa: F401 (fixtures)

from snn.datasets.testing import random_audio, write_shd
from snn.train import rundir
from snn.train.config import Config


def _log_epochs(run):
    return len((run / "log.jsonl").read_text().splitlines())


def test_runs_table_json_states_and_sort(tmp_path, data_root, cli):  # noqa: F811
    out = tmp_path / "runs"
    code, _, err = cli(_train_args(out, data_root, "train.epochs=2", "name=done"))
    assert code == 0, err
    finished = _only_run(out)
    train_killed_at(2, 1, out, data_root, "train.epochs=3", "name=killed")  # dies inside epoch 2
    killed = next(p for p in out.iterdir() if p.name.startswith("killed-"))
    assert (killed / rundir.LOCK).is_file(), "SIGKILL leaves the lock file of a dead process behind"

    code, stdout, err = cli(["runs", str(out), "--json"])
    assert code == 0, err
    rows = {r["name"]: r for r in json.loads(stdout)}
    assert set(rows) == {finished.name, killed.name}
    results = json.loads((finished / "results.json").read_text())
    vals = [json.loads(x)["val_acc"] for x in (finished / "log.jsonl").read_text().splitlines()]
    done = rows[finished.name]
    assert (done["state"], done["dataset"], done["model"]) == ("finished", "delay-patterns", "lif")
    assert done["params"] == (16 * 24 + 24) + (24 * 4 + 4)  # Linear 16->24 and readout 24->4, weights + biases
    assert (done["epochs_done"], done["epochs"]) == (2, 2)
    assert done["test_acc"] == results["test_acc"] and done["best_val_acc"] == max(vals)
    stopped = rows[killed.name]
    assert (stopped["state"], stopped["epochs_done"], stopped["epochs"], stopped["test_acc"]) == \
        ("interrupted", _log_epochs(killed), 3, None)
    assert stopped["epochs_done"] == 1

    with rundir.hold(killed, announce=lambda msg: None):  # a live process (this one) holds the lock: running
        code, stdout, _ = cli(["runs", str(out), "--json"])
        running = {r["name"]: r for r in json.loads(stdout)}[killed.name]
        assert running["state"] == "running" and running["holder"]["pid"] == os.getpid()
    code, stdout, _ = cli(["runs", str(out), "--json"])
    assert {r["name"]: r["state"] for r in json.loads(stdout)}[killed.name] == "interrupted"

    code, stdout, _ = cli(["runs", str(out), "--sort", "test"])
    lines = stdout.splitlines()
    assert code == 0 and lines[0].split()[:3] == ["name", "dataset", "model"]
    assert lines[1].startswith(finished.name) and lines[2].startswith(killed.name)  # the untested run last
    assert "finished" in lines[1] and f"{100 * results['test_acc']:.2f}" in lines[1] and "1/3" in lines[2]
    code, stdout, _ = cli(["runs", str(out), "--sort", "name", "--json"])
    assert [r["name"] for r in json.loads(stdout)] == sorted([finished.name, killed.name])

    # a resumed finished run is not finished until it is tested again: the resume rewrites the log
    code, _, err = cli(["train", "--resume", str(finished), "--quiet", "--epochs", "3"])
    assert code == 0, err
    code, stdout, _ = cli(["runs", str(out), "--json"])
    assert {r["name"]: (r["state"], r["epochs_done"]) for r in json.loads(stdout)}[finished.name] == ("finished", 3)


def test_runs_bad_folder_and_sort_key(tmp_path, cli):  # noqa: F811
    code, _, err = cli(["runs", str(tmp_path / "nowhere")])
    assert code == 2 and "nowhere" in err and "does not exist" in err
    with pytest.raises(SystemExit):
        cli(["runs", str(tmp_path), "--sort", "speed"])
    code, stdout, _ = cli(["runs", str(tmp_path)])
    assert code == 0 and "no runs" in stdout


def test_print_config_is_what_a_run_records(tmp_path, data_root, cli):  # noqa: F811
    args = _train_args(tmp_path / "out", data_root, "train.epochs=1")
    code, printed, err = cli(args + ["--print-config"])
    assert code == 0, err
    assert not (tmp_path / "out").exists(), "--print-config trains nothing"
    shown = yaml.safe_load(printed)
    defaults = Config().to_dict()
    for section in ("data", "loss", "optim", "train"):
        assert set(shown[section]) == set(defaults[section]), section
    assert shown["optim"]["lr"] == 5e-3 and shown["train"]["batch_size"] == 16 and shown["train"]["epochs"] == 1
    frames = shown["data"]["frames"]
    uncropped = frames["duration"] is None  # no crop length set
    assert frames["dt"] == 2.0 and uncropped and frames["pool"] == 1 and frames["binary"] is False
    code, _, err = cli(args)
    assert code == 0, err
    recorded = yaml.safe_load((_only_run(tmp_path / "out") / "config.yaml").read_text())
    assert shown["model"] == recorded["model"]  # every option, dt from the frames, as the trainer fills them in
    for section in ("name", "seed", "loss", "optim", "train"):
        assert shown[section] == recorded[section], section
    # the printed config trains the same run when given back as --config
    (tmp_path / "printed.yaml").write_text(printed)
    code, again, _ = cli(["train", "--config", str(tmp_path / "printed.yaml"), "--print-config"])
    assert code == 0 and yaml.safe_load(again) == shown


def test_print_config_as_a_subprocess_prints_only_yaml(tmp_path):
    done = subprocess.run([sys.executable, "-m", "snn", "train", "--print-config", "--model", "delay",
                           "--dataset", "shd"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    cfg = yaml.safe_load(done.stdout)
    assert cfg["model"]["type"] == "delay" and cfg["model"]["max_delay"] == 25 and cfg["data"]["frames"]["pool"] == 5


def _ssc_tree(root):
    for split, n, seed in (("train", 24, 0), ("valid", 7, 1), ("test", 5, 2)):
        samples = random_audio(n, seed=seed, mean_events=60, max_s=0.1)
        write_shd(root / "ssc" / f"ssc_{split}.h5", [t / 1e6 for t, _ in samples], [u for _, u in samples],
                  [i % 35 for i in range(n)])


def test_eval_valid_split_of_ssc_and_a_clear_error_without_one(tmp_path, data_root, cli):  # noqa: F811
    _ssc_tree(tmp_path / "data")
    code, _, err = cli(["train", "--defaults", "--dataset", "ssc", "--quiet", "--out", str(tmp_path / "runs"),
                        "--epochs", "1", "--batch-size", "8", f"data.root={tmp_path / 'data'}",
                        "data.frames={dt: 10.0, pool: 50}", "model.hidden=[8]"])
    assert code == 0, err
    run = _only_run(tmp_path / "runs")
    code, stdout, err = cli(["eval", str(run), "--split", "valid", "--quiet"])
    assert code == 0, err
    report = json.loads((run / "eval-ssc-valid-torch.json").read_text())
    assert report["split"] == "valid" and report["samples"] == 7 and "ssc valid" in stdout

    code, _, err = cli(_train_args(tmp_path / "dp", data_root, "train.epochs=1"))
    assert code == 0, err
    code, _, err = cli(["eval", str(_only_run(tmp_path / "dp")), "--split", "valid", "--quiet"])
    assert code == 2
    assert "--split valid" in err and "delay-patterns" in err and "['train', 'test']" in err
