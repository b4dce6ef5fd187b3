"""``snn demo`` end to end (one epoch, in this process): what it prints, what it leaves in the run folder, and the
saved IR running with the documented ``snn run --backend loihi MODEL.h5 --data ndigits`` line."""

import contextlib
import io
import re
import shlex
from pathlib import Path

import pytest
import torch
import yaml

from snn import ir
from snn.backends.lava import netx
from snn.cli import main

ROOT = Path(__file__).resolve().parents[1]
STEP_TITLES = ["train and test", "evaluate through the IR", "save the IR",
               "export and run on Lava (Loihi 2, fixed point)", "energy profile"]


@pytest.fixture(scope="module")
def demo(ndigits_root, tmp_path_factory):
    """Runs ``snn demo --epochs 1`` once: (exit code, stdout, run folder)."""
    out = tmp_path_factory.mktemp("demo-runs")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    buf = io.StringIO()
    try:
        with contextlib.redirect_stdout(buf):
            code = main(["demo", "--epochs", "1", "--quiet", "--out", str(out), "--set", f"data.root={ndigits_root}"])
    finally:
        torch.set_num_threads(threads)
    (run,) = out.iterdir()
    return code, buf.getvalue(), run


def _expected_architecture() -> str:
    """The demo network written from the shipped config: N-MNIST-sized frames (2 x 34 x 34) downsampled, one
    hidden LIF layer per entry of ``model.hidden``, an LI readout of 10 classes."""
    cfg = yaml.safe_load((ROOT / "configs" / "ndigits.yaml").read_text())
    side = 34 // cfg["data"]["frames"]["downsample"]
    layers = "".join(f" -> Linear -> {h} LIF" for h in cfg["model"]["hidden"])
    return f"{2 * side * side} inputs (2x{side}x{side}) -> Flatten{layers} -> Linear -> 10 LI"


def test_demo_says_each_step_once_with_the_architecture(demo):
    code, out, run = demo
    assert code in (0, 1)  # 1: one epoch may stay below the 90% target; it must still run every step
    lines = out.splitlines()
    for i, title in enumerate(STEP_TITLES, 1):
        assert sum(line.startswith(f"[{i}/{len(STEP_TITLES)}]") for line in lines) == 1, title
        assert lines.count(f"[{i}/{len(STEP_TITLES)}] {title}") == 1
    summaries = [line for line in lines if line.startswith("  ")]
    assert len(summaries) == len(STEP_TITLES) and len(set(summaries)) == len(summaries)
    assert not any("[lava]" in line for line in lines)
    assert f"Trained a {_expected_architecture()} network" in summaries[0]
    assert str(run) in summaries[0] and str(run / "model.snn.h5") in summaries[2]
    assert str(run / "lava") in summaries[3]
    assert "bit-exact" not in out and "fixed_pt" not in out  # plain words


def test_demo_keeps_the_lava_export_in_the_run_folder(demo):
    _, _, run = demo
    assert (run / "lava" / "network.net").is_file() and (run / "lava" / "manifest.json").is_file()
    back = netx.read(run / "lava")
    assert len(back.layers) == 2


def test_demo_refuses_zero_epochs(capsys):
    with pytest.raises(SystemExit) as e:
        main(["demo", "--epochs", "0"])
    assert e.value.code == 2 and "--epochs: expected an integer >= 1, got '0'" in capsys.readouterr().err


def test_saved_ir_records_the_data_options_it_was_trained_with(demo):
    _, _, run = demo
    cfg = yaml.safe_load((ROOT / "configs" / "ndigits.yaml").read_text())
    graph = ir.load(run / "model.snn.h5")
    assert graph.metadata["data"] == {"name": "ndigits", "frames": cfg["data"]["frames"]}
    assert graph.metadata["loss_kind"] == cfg["loss"]["kind"]


def _documented_run_line() -> list[str]:
    page = (ROOT / "docs" / "backends" / "lava.md").read_text()
    (line,) = re.findall(r"^snn run --backend loihi \S+\.h5 --data ndigits[^#\n]*", page, flags=re.M)
    return shlex.split(line)


def test_documented_snn_run_on_the_saved_ir(demo, ndigits_root, monkeypatch, capsys):
    _, _, run = demo
    monkeypatch.setenv("SNN_DATA", str(ndigits_root))
    args = _documented_run_line()[1:]
    args[[i for i, a in enumerate(args) if a.endswith(".h5")][0]] = str(run / "model.snn.h5")
    args[args.index("-n") + 1] = "16"
    assert main(args + ["--quiet"]) == 0, capsys.readouterr().err
    assert re.search(r"^loihi: accuracy [\d.]+% on 16 samples", capsys.readouterr().out, flags=re.M)


def test_ir_without_data_options_is_a_clear_error(demo, ndigits_root, monkeypatch, capsys, tmp_path):
    _, _, run = demo
    monkeypatch.setenv("SNN_DATA", str(ndigits_root))
    g = ir.load(run / "model.snn.h5")
    ir.save(ir.Graph(g.nodes, g.edges, g.input_shape, g.dt, {}), tmp_path / "bare.h5")
    assert main(["run", "--backend", "loihi", str(tmp_path / "bare.h5"), "-n", "4"]) == 2
    assert "expected a dataset name" in capsys.readouterr().err
    assert main(["run", "--backend", "loihi", str(tmp_path / "bare.h5"), "--data", "ndigits", "-n", "4"]) == 2
    err = capsys.readouterr().err
    assert "(2, 34, 34)" in err and "expects input shape (2, 17, 17)" in err and "does not record" in err
    ir.save(ir.Graph(g.nodes, g.edges, g.input_shape, g.dt, {"data": {"name": "ndigits"}}), tmp_path / "bad.h5")
    assert main(["run", "--backend", "loihi", str(tmp_path / "bad.h5"), "-n", "4"]) == 2
    err = capsys.readouterr().err
    assert str(tmp_path / "bad.h5") in err and "metadata 'data'" in err


def test_demo_prints_where_the_energy_report_is(demo):
    _, out, run = demo
    summaries = [line for line in out.splitlines() if line.startswith("  ")]
    assert f"Report (open in a browser): {run / 'energy' / 'report.html'}" in summaries[4]
    for name in ("report.html", "report.md", "metrics.json", "layers.csv"):
        assert (run / "energy" / name).is_file(), name
