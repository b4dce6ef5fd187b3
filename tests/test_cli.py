"""The ``snn`` command line: help, version, info."""

import subprocess
import sys
from pathlib import Path

import pytest

import snn
import snn.ir
import snn.datasets
from snn.cli import main


def test_console_script_help_lists_commands():
    out = subprocess.run([sys.executable, "-m", "snn", "--help"], capture_output=True, text=True, check=True).stdout
    for command in ("version", "info", "demo", "train", "eval", "export", "run", "datasets"):
        assert command in out


def test_version(capsys):
    assert main(["version"]) == 0
    assert capsys.readouterr().out.strip() == f"spikeforge {snn.__version__}"


def test_info_reports_versions_and_backends(capsys):
    import torch

    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert f"torch      {torch.__version__}" in out
    assert "backends:" in out and "torch" in out and "usable" in out


def test_unknown_command_fails():
    proc = subprocess.run([sys.executable, "-m", "snn", "fly"], capture_output=True, text=True)
    assert proc.returncode == 2 and "invalid choice" in proc.stderr


def test_datasets_subcommand_is_wired(capsys):
    assert main(["datasets", "list"]) == 0
    listed = capsys.readouterr().out
    for name in snn.datasets.available():
        assert name in listed


ROOT = Path(__file__).resolve().parents[1]


def test_documented_configs_path_is_the_shipped_package_data():
    """`configs/...` in a checkout (the docs' paths) are the files the package ships in snn/configs/."""
    assert (ROOT / "configs").resolve() == (ROOT / "snn" / "configs").resolve()
    shipped = sorted(p.name for p in (ROOT / "snn" / "configs").glob("*.yaml"))
    assert shipped and shipped == sorted(p.name for p in (ROOT / "configs").glob("*.yaml"))


def test_train_help_lists_the_shipped_configs(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    help_text = " ".join(capsys.readouterr().out.split()).replace("- ", "-")  # argparse may wrap after a hyphen
    names = sorted(p.stem for p in (ROOT / "snn" / "configs").glob("*.yaml"))
    assert f"shipped: {', '.join(names)}" in help_text


@pytest.mark.parametrize("args", [["--dataset", "delay-patterns"], ["--dataset", "shd"],
                                  ["--dataset", "nmnist", "--model", "lif"]])
def test_train_dataset_without_a_shipped_config_is_an_error(tmp_path, capsys, args):
    """No silent fallback to the built-in defaults: the error names what was looked for and what is shipped."""
    assert main(["train", *args, "--out", str(tmp_path), "train.epochs=1"]) == 2
    err = capsys.readouterr().err
    shipped = ", ".join(sorted(p.stem for p in (ROOT / "snn" / "configs").glob("*.yaml")))
    assert f"no shipped config for --dataset {args[1]}" in err and f"shipped: {shipped}" in err
    assert "--config FILE" in err and "--defaults" in err
    assert not any(tmp_path.iterdir()), "no run folder for a run that could not start"


def test_train_defaults_excludes_config(capsys):
    assert main(["train", "--defaults", "--config", str(ROOT / "configs" / "ndigits.yaml")]) == 2
    assert "--config and --defaults exclude each other" in capsys.readouterr().err


def test_export_refusal_names_the_overwrite_flag(tmp_path, capsys):
    model = snn.Sequential(snn.Linear(6, 8), snn.LIF(8, tau_mem=10.0, dt=1.0, reset="zero"),  # netx has no subtract reset
                           snn.Linear(8, 3), snn.LI(3, tau_mem=20.0, dt=1.0))
    snn.ir.save(snn.lower(model), tmp_path / "m.h5")
    out = tmp_path / "exp"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert main(["export", str(tmp_path / "m.h5"), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "pass --overwrite to replace it" in err and "pass overwrite" not in err
    assert (out / "keep.txt").read_text() == "mine"
    (tmp_path / "file").write_text("x")
    assert main(["export", str(tmp_path / "m.h5"), "--out", str(tmp_path / "file"), "--overwrite"]) == 2
    assert "is a file; expected a directory" in capsys.readouterr().err
    assert main(["export", str(tmp_path / "m.h5"), "--out", str(out), "--overwrite"]) == 0
    assert (out / "network.net").is_file() and not (out / "keep.txt").exists()
