"""The ``snn`` command line: help, version, info."""

import subprocess
import sys

import snn
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
