"""docs/training.md as executable claims: the Python example runs as written (and a second fit() into its run folder is
refused), the config block lists the code's defaults, a diverging run stops naming the tensor."""

import inspect
import json
import re
from pathlib import Path

import pytest
import torch
import yaml
from test_datasets_generated import data_root  # noqa: F401 (the session's shared ndigits build)
from test_train_trainer import Toy, _cfg

from snn import models
from snn.train import Trainer, checkpoint
from snn.train.config import Config

PAGE = Path(__file__).resolve().parents[1] / "docs" / "training.md"


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", PAGE.read_text(), flags=re.S)


def test_python_example_runs_and_its_folder_takes_one_run(tmp_path, monkeypatch, data_root):  # noqa: F811
    monkeypatch.setenv("SNN_DATA", str(data_root))
    monkeypatch.chdir(tmp_path)
    (code,) = _blocks("python")
    scope = {"__name__": "docs_example"}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the subprocess tests: no thread oversubscription on a busy machine
    try:
        exec(compile(code, str(PAGE), "exec"), scope)
    finally:
        torch.set_num_threads(threads)
    run = tmp_path / scope["run_dir"]
    assert run.parent == tmp_path / "runs" and run.name.startswith("example-")
    log = [json.loads(x)["epoch"] for x in (run / "log.jsonl").read_text().splitlines()]
    assert log == [1, 2, 3]
    again = Trainer(scope["cfg"], scope["splits"].train, val_set=scope["splits"].val, run_dir=run)
    with pytest.raises(ValueError, match="already holds a run"):
        again.fit()
    assert [json.loads(x)["epoch"] for x in (run / "log.jsonl").read_text().splitlines()] == [1, 2, 3]


def test_config_block_lists_the_defaults():
    documented = yaml.safe_load(next(b for b in _blocks("yaml") if b.startswith("name:")))
    defaults = Config().to_dict()
    for section in ("name", "seed", "data", "loss", "optim", "train"):
        assert documented[section] == defaults[section], section
    builder = inspect.signature(models.MODELS["lif"]).parameters.values()
    lif = {p.name: list(p.default) if isinstance(p.default, tuple) else p.default for p in builder
           if p.kind is p.KEYWORD_ONLY}
    assert documented["model"] == {"type": "lif", **lif}


def test_config_yaml_has_every_model_option(tmp_path):
    Trainer(_cfg(epochs=1), Toy(16, 0), run_dir=tmp_path).fit()
    written = yaml.safe_load((tmp_path / "config.yaml").read_text())
    builder = inspect.signature(models.MODELS["lif"]).parameters.values()
    options = [p.name for p in builder if p.kind is p.KEYWORD_ONLY]
    assert set(written["model"]) == {"type", *options}
    assert written["model"]["hidden"] == [10] and written["model"]["dt"] == 1.0  # given, and from the data
    assert set(written) == set(Config().to_dict())


def test_a_diverging_run_stops_naming_the_tensor_and_keeps_the_last_good_best(tmp_path):
    class Diverge:
        def on_batch_end(self, trainer, epoch, step):
            if epoch == 1:
                with torch.no_grad():
                    trainer.model[0].weight[0, 0] = float("nan")

    t = Trainer(_cfg(), Toy(24, 0), run_dir=tmp_path, callbacks=[Diverge()])
    with pytest.raises(ValueError, match=r"diverged in epoch 2 \(not checkpointed; the run keeps epoch 1\): model tensor '0.weight'"):
        t.fit()
    assert checkpoint.load(tmp_path / "checkpoints" / checkpoint.BEST)["epoch"] == 1
    assert checkpoint.load(tmp_path / "checkpoints" / checkpoint.LAST)["epoch"] == 1
