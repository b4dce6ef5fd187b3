"""docs/training.md, "Runs, plots and recipes": its bash block runs as written (``snn`` as ``python -m snn``) and
leaves what the text says it does."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import yaml
from test_datasets_generated import data_root  # noqa: F401 (the session's shared ndigits build)

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "training.md"


def _block() -> str:
    text = PAGE.read_text()
    section = text[text.index("## Runs, plots and recipes"):]
    return re.search(r"```bash\n(.*?)```", section, flags=re.S).group(1)


def test_runs_plot_block_runs_as_written(tmp_path, data_root):  # noqa: F811
    script = f"set -euo pipefail\nsnn() {{ {sys.executable} -m snn \"$@\"; }}\n" + _block()
    env = dict(os.environ, SNN_DATA=str(data_root), OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    done = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    printed = yaml.safe_load((tmp_path / "my.yaml").read_text())
    assert printed["model"]["hidden"] == [128] and printed["data"]["frames"]["downsample"] == 2
    (run,) = (tmp_path / "runs").iterdir()
    assert run.name.startswith("tried-")
    (row,) = json.loads((tmp_path / "runs.json").read_text())
    assert row["name"] == run.name and row["state"] == "finished" and row["epochs_done"] == 1
    assert row["test_acc"] == json.loads((run / "results.json").read_text())["test_acc"]
    for split in ("test", "train"):
        for kind in ("raster", "membrane", "rates"):
            assert (run / f"activity-{split}-{kind}.png").is_file(), (split, kind)
    assert "finished" in done.stdout and "tried-" in done.stdout
