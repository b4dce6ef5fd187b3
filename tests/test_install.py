"""A non-editable install (a wheel, no checkout beside it): the shipped configs come with the package, and the
installed ``snn`` trains the documented default network from another folder."""

import os
import shutil
import site
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = sorted(p.stem for p in (ROOT / "snn" / "configs").glob("*.yaml"))


def _run(args, cwd, **kw):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env.update(OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    proc = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=240, **kw)
    assert proc.returncode == 0, f"{args}: exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """Builds a wheel from a copy of the sources and installs it (no dependencies) into a fresh venv; returns
    ``(venv python, folder outside the checkout)``.

    The venv sees the project's dependencies (torch, lava...) through a ``.pth`` file naming this interpreter's
    site-packages: ``venv --system-site-packages`` made from a venv would see the base interpreter's packages
    instead. A ``.pth`` file does not run the ``.pth`` files of the folder it adds, so the editable install's
    import hook for the checkout stays inactive: ``import snn`` can only find the wheel's copy.
    """
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    shutil.copytree(ROOT / "snn", src / "snn", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-index", "--no-deps", "--no-build-isolation",
          "-w", tmp / "dist", src], cwd=tmp)
    (wheel,) = (tmp / "dist").glob("spikeforge-*.whl")
    _run([sys.executable, "-m", "venv", "--without-pip", tmp / "venv"], cwd=tmp)
    python = tmp / "venv" / "bin" / "python"
    purelib = Path(_run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], cwd=tmp).strip())
    (purelib / "_project_dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    _run([python, "-m", "pip", "install", "-q", "--no-index", "--no-deps", wheel], cwd=tmp)
    elsewhere = tmp / "elsewhere"
    elsewhere.mkdir()
    return python, elsewhere


def test_installed_package_is_imported_and_ships_its_configs(installed):
    python, elsewhere = installed
    venv = python.parent.parent
    out = _run([python, "-c", "import snn, snn.demo, snn.train.cli as c; print(snn.__file__); "
                              "print(c.CONFIG_DIR); print(snn.demo.DEFAULT_CONFIG.is_file())"], cwd=elsewhere)
    module, config_dir, demo_default = out.split()
    assert Path(module).is_relative_to(venv) and Path(config_dir).is_relative_to(venv)
    assert sorted(p.stem for p in Path(config_dir).glob("*.yaml")) == SHIPPED
    assert demo_default == "True"
    help_text = " ".join(_run([venv / "bin" / "snn", "train", "--help"], cwd=elsewhere).split()).replace("- ", "-")
    assert f"shipped: {', '.join(SHIPPED)}" in help_text


def test_installed_snn_train_uses_the_shipped_default_config(installed, ndigits_root):
    """The documented default (configs/ndigits.yaml): frames of 2 x 34 x 34 pixels downsampled, hidden LIF layers,
    10 readout neurons; every layer a weight matrix plus a bias."""
    python, elsewhere = installed
    cfg = yaml.safe_load((ROOT / "configs" / "ndigits.yaml").read_text())
    sizes = [2 * (34 // cfg["data"]["frames"]["downsample"]) ** 2, *cfg["model"]["hidden"], 10]
    expected = sum(n_in * n_out + n_out for n_in, n_out in zip(sizes[:-1], sizes[1:]))
    out = _run([python.parent / "snn", "train", "--epochs", "1", "--quiet", "--out", elsewhere / "runs",
                f"data.root={ndigits_root}"], cwd=elsewhere)
    assert f"model lif with {expected} parameters" in out
    (run,) = (elsewhere / "runs").iterdir()
    assert yaml.safe_load((run / "config.yaml").read_text())["model"]["hidden"] == cfg["model"]["hidden"]
