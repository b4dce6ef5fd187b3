"""``snn profile`` end to end on a small IR model and the offline ndigits dataset: the four files, their contents,
the bad-input errors, and the HTML report rendered by headless Chromium (every figure loaded, a screenshot kept)."""

import csv
import json
import re
import shutil
import subprocess

import numpy as np
import pytest
import torch

from snn import ir
from snn.cli import main
from snn.energy import TargetError, count, load_yaml
from snn.energy.cli import batches
from snn.train.config import DataConfig
from snn.train.data import load_split

SHAPE = (2, 34, 34)  # ndigits frames with the dataset's defaults


def _graph(metadata=True):
    rng = np.random.default_rng(0)
    n = int(np.prod(SHAPE))
    nodes = {"flat": ir.Flatten(SHAPE), "fc1": ir.Linear(rng.normal(0, 0.05, (32, n))),
             "lif1": ir.LIF(np.full(32, 20.0), np.full(32, 0.3), "subtract", 10.0),
             "fc2": ir.Linear(rng.normal(0, 0.5, (10, 32))), "li": ir.LI(np.full(10, 20.0), 10.0)}
    meta = {"data": {"name": "ndigits", "frames": {}}, "loss_kind": "sum"} if metadata else {}
    return ir.Graph.chain(nodes, SHAPE, 10.0, meta)


@pytest.fixture
def model(tmp_path, ndigits_root, monkeypatch):
    monkeypatch.setenv("SNN_DATA", str(ndigits_root))
    path = tmp_path / "m.h5"
    ir.save(_graph(), path)
    return path


@pytest.fixture
def report(model, tmp_path, capsys):
    out = tmp_path / "report"
    assert main(["profile", str(model), "-n", "20", "--batch", "8", "--out", str(out), "--quiet"]) == 0
    captured = capsys.readouterr()
    assert f"report: {out / 'report.html'}" in captured.out
    assert "'fc1' (Linear) receives non-binary input" in captured.err or "fc1" in captured.out
    return out


def test_profile_writes_the_four_files_with_the_counts(report):
    m = json.loads((report / "metrics.json").read_text())
    assert m["schema"] == "spikeforge.energy-report/1"
    (model,) = m["models"]
    s = model["summary"]
    assert set(s["SynapticOperations"]) == {"Dense", "Effective_MACs", "Effective_ACs"}
    # the same 20 samples counted through the API give the same numbers
    ds = load_split(DataConfig(name="ndigits"), "test")
    expected = count(_graph(), [x for x, _, _ in batches(ds, 20, 8, 0)]).neurobench()
    assert s["SynapticOperations"] == pytest.approx(expected["SynapticOperations"])
    assert s["Footprint"] == expected["Footprint"] and s["ActivationSparsity"] == pytest.approx(
        expected["ActivationSparsity"])
    assert len(model["per_step"]["lif1"]["spikes"]) == 30 and len(model["per_step"]["fc1"]["effective_ops"]) == 30
    assert model["provenance"]["samples"] == 20 and model["provenance"]["dataset"] == "ndigits"
    assert re.fullmatch(r"[0-9a-f]{64}", model["provenance"]["model_sha256"])
    energy = {e["target"]: e for e in model["energy"]}
    assert energy["Loihi 1"]["lower_bound"] and energy["Loihi 1"]["energy_J_range"][1] is None
    lo, hi = energy["SNN + SRAM (Lemaire-style)"]["energy_J_range"]
    assert 0 < lo < hi and all(e["tag"] == "estimated" and e["source"] for e in model["energy"])
    assert model["measured"]["wall_time_s"]["tag"] == "measured"
    assert model["measured"]["energy_J"]["value"] is not None or model["measured"]["energy_J"]["reason"]
    assert any("fc1" in w and "MACs" in w for w in model["warnings"])
    assert any("memory access not modelled" in w for w in model["warnings"])
    rows = list(csv.DictReader(open(report / "layers.csv")))
    assert [r["layer"] for r in rows] == ["flat", "fc1", "lif1", "fc2", "li"]
    assert float(rows[1]["Dense"]) == 30 * 32 * int(np.prod(SHAPE))  # T = 300 ms / 10 ms
    md = (report / "report.md").read_text()
    assert "## Warnings" in md and "Loihi 1" in md and "figures/energy_per_target.png" in md
    html = (report / "report.html").read_text()
    assert html.count("data:image/png;base64,") >= 5 and "src='http" not in html and 'src="http' not in html


def test_profile_bad_inputs_are_named(model, tmp_path, capsys):
    bad = tmp_path / "t.yaml"
    bad.write_text("name: chip\ndescription: d\nsource: s\nconstants: {synop: -1}\nterms: {effective_ops: synop}\n")
    assert main(["profile", str(model), "--targets", str(bad), "--out", str(tmp_path / "o"), "--quiet"]) == 2
    assert "target 'chip': constants.synop: expected a number >= 0" in capsys.readouterr().err
    other = tmp_path / "other.h5"
    g = _graph()
    g.metadata["data"]["name"] = "delay-patterns"
    ir.save(g, other)
    assert main(["profile", str(other), "--out", str(tmp_path / "o"), "--quiet"]) == 2
    assert "but the model expects input shape (2, 34, 34)" in capsys.readouterr().err
    plain = tmp_path / "plain.h5"
    ir.save(_graph(metadata=False), plain)
    assert main(["profile", str(plain), "--out", str(tmp_path / "o"), "--quiet"]) == 2
    assert "--dataset: expected a dataset name" in capsys.readouterr().err


@pytest.mark.parametrize("text, field", [
    ("description: d\nsource: s\nconstants: {a: 1}\nterms: {spikes: a}\n", "name"),
    ("name: c\ndescription: d\nsource: s\nterms: {spikes: a}\n", "constants"),
    ("name: c\ndescription: d\nsource: s\nconstants: {a: [2, 1]}\nterms: {spikes: a}\n", "constants.a"),
    ("name: c\ndescription: d\nsource: s\nconstants: {a: 1}\nterms: {flops: a}\n", "terms.flops"),
    ("name: c\ndescription: d\nsource: s\nconstants: {a: 1}\nterms: {spikes: b}\n", "terms.spikes"),
    ("name: c\ndescription: d\nsource: s\nconstants: {a: 1}\nterms: {spikes: a}\nvoltage: 1\n", "voltage"),
])
def test_target_yaml_errors_name_the_field(tmp_path, text, field):
    p = tmp_path / "t.yaml"
    p.write_text(text)
    with pytest.raises(TargetError, match=re.escape(field)):
        load_yaml(p)


def test_user_target_prices_the_counts(tmp_path):
    p = tmp_path / "t.yaml"
    p.write_text("- name: chip\n  description: d\n  source: s\n  constants: {synop: 2.0, update: [1, 3]}\n"
                 "  terms: {effective_ops: synop, membrane_updates: update}\n")
    (t,) = load_yaml(p)
    from snn.energy import estimate
    c = count(_graph(metadata=False), [torch.rand(4, 2, *SHAPE)])
    e = estimate(t, c)
    nb = c.neurobench()
    ops = nb["SynapticOperations"]["Effective_MACs"] + nb["SynapticOperations"]["Effective_ACs"]
    assert e.low == pytest.approx((2.0 * ops + 1.0 * nb["MembraneUpdates"]) * 1e-12)
    assert e.high == pytest.approx((2.0 * ops + 3.0 * nb["MembraneUpdates"]) * 1e-12)


FIGURE_CHECK = """<script>window.addEventListener('load', () => {
  const imgs = [...document.images];
  document.body.setAttribute('data-figures', imgs.map(i => i.complete && i.naturalWidth > 0 ? 1 : 0).join(''));
});</script>"""


def test_report_renders_in_headless_chromium(report, tmp_path):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    assert browser, ("Chromium is not installed: `make test` installs Debian's chromium (apt-get install -y "
                     "chromium, as root); install it to render the report")
    html = (report / "report.html").read_text()
    probe = tmp_path / "probe.html"
    probe.write_text(html.replace("</body>", FIGURE_CHECK + "</body>"))
    flags = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
             "--virtual-time-budget=10000"]
    dom = subprocess.run(flags + ["--dump-dom", probe.as_uri()], capture_output=True, text=True, timeout=120)
    found = re.search(r'data-figures="([01]*)"', dom.stdout)
    assert found, f"Chromium did not run the page's check: {dom.stderr[-2000:]}"
    assert found.group(1) == "1" * html.count("<img"), f"figures that did not load: {found.group(1)}"
    shot = report / "screenshot.png"
    subprocess.run(flags + ["--window-size=1280,2400", f"--screenshot={shot}", (report / "report.html").as_uri()],
                   capture_output=True, timeout=120)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20000
    print(f"screenshot kept at {shot}")


def test_several_models_get_a_row_each_and_the_accuracy_energy_figure(model, tmp_path, capsys):
    g = _graph()
    g.nodes["lif1"].threshold = np.full(32, 0.6, dtype=np.float32)  # fewer spikes: a second point
    other = tmp_path / "sparser.h5"
    ir.save(g, other)
    out = tmp_path / "two"
    assert main(["profile", str(model), str(other), "-n", "8", "--out", str(out), "--quiet"]) == 0, \
        capsys.readouterr().err
    m = json.loads((out / "metrics.json").read_text())
    assert [x["summary"]["label"] for x in m["models"]] == ["m.h5", "sparser.h5"]
    assert (out / "figures" / "accuracy_vs_energy.png").is_file()
    assert "sparser.h5" in (out / "report.md").read_text()


def _every_node_type_graph():
    """One of each node type the torch backend runs, on ndigits frames (2, 34, 34) -> 10 classes."""
    rng = np.random.default_rng(1)
    lin = lambda o, i, s=0.5: ir.Linear(rng.normal(0, s, (o, i)))  # noqa: E731
    n = 16
    nodes = {"sum": ir.SumPool2d(SHAPE, (2, 2), (2, 2)), "avg": ir.AvgPool2d((2, 17, 17), (3, 3), (2, 2), (1, 1)),
             "flat": ir.Flatten((2, 9, 9)), "fc1": lin(n, 162, 0.3), "if": ir.IF(np.full(n, 0.5), "subtract"),
             "fc2": lin(n, n), "adlif": ir.AdLIF(np.full(n, 20.0), np.full(n, 50.0), np.full(n, 0.3),
                                                   np.full(n, 0.1), np.full(n, 0.1), "subtract", 10.0),
             "fc3": lin(n, n), "refr": ir.RefractoryLIF(np.full(n, 20.0), np.full(n, 0.3), "zero", 10.0, None, 1),
             "fc4": lin(n, n), "cuba": ir.CubaLIF(np.full(n, 20.0), np.full(n, 0.3), "zero", 10.0, None,
                                                  np.full(n, 10.0)),
             "fc5": lin(n, n), "astro": ir.AstroLIF(np.full(n, 20.0), np.full(n, 0.3), 10.0, np.full((2, 3), 0.9),
                                                     rng.normal(0, 0.3, (2, 3, 8)), rng.normal(0, 0.3, (2, 8, 8)),
                                                     rng.normal(0, 0.3, (2, 3, 8)), "ema"),
             "elm": ir.ELM(n, rng.uniform(0, 1, 2 * n), np.tile(np.arange(n), 2), 4, 20.0, np.full(4, 30.0), 1.0,
                           "v1", rng.normal(0, 0.5, (8, 8 + 4)), np.zeros(8), rng.normal(0, 0.5, (4, 8)), np.zeros(4),
                           rng.normal(0, 0.5, (10, 4)), np.zeros(10), 10.0),
             "li": ir.LI(np.full(10, 20.0), 10.0)}
    return ir.Graph.chain(nodes, SHAPE, 10.0, {"data": {"name": "ndigits", "frames": {}}, "loss_kind": "sum"})


def test_profile_counts_every_node_type(tmp_path, ndigits_root, monkeypatch, capsys):
    monkeypatch.setenv("SNN_DATA", str(ndigits_root))
    g = _every_node_type_graph()
    assert {type(node).__name__ for node in g.nodes.values()} == {
        "SumPool2d", "AvgPool2d", "Flatten", "Linear", "IF", "AdLIF", "RefractoryLIF", "CubaLIF", "AstroLIF", "ELM",
        "LI"}
    ir.save(g, tmp_path / "all.h5")
    out = tmp_path / "all"
    assert main(["profile", str(tmp_path / "all.h5"), "-n", "8", "--out", str(out), "--quiet"]) == 0, \
        capsys.readouterr().err
    (m,) = json.loads((out / "metrics.json").read_text())["models"]
    assert not any("not counted" in w for w in m["warnings"])
    rows = {r["layer"]: r for r in csv.DictReader(open(out / "layers.csv"))}
    assert all(r["counted"] == "True" for r in rows.values())
    assert all(float(rows[k]["state_updates"]) > 0 for k in ("adlif", "cuba", "astro", "elm"))
    ds = load_split(DataConfig(name="ndigits"), "test")
    expected = count(g, [x for x, _, _ in batches(ds, 8, 32, 0)]).neurobench()
    assert m["summary"]["SynapticOperations"] == pytest.approx(expected["SynapticOperations"])
