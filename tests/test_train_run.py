"""End-to-end runs of ``snn train`` / ``snn eval`` as subprocesses on a small generated dataset (delay-patterns):
resume after SIGKILL equals an uninterrupted run, DDP on 2 CPU processes equals one process, bad input."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from snn.train import checkpoint

SNN = [sys.executable, "-m", "snn"]
TINY_DATA = ("data.frames={dt: 2.0, options: {train: 160, test: 40, duration_ms: 40, channels: 16, "
             "pattern_channels: 4, classes: 4, spacing_ms: 2.0}}")


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    return tmp_path_factory.mktemp("data")


def _env():
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    env.pop("WORLD_SIZE", None)
    return env


def _train_args(out: Path, data_root: Path, *extra: str) -> list[str]:
    return ["train", "--defaults", "--dataset", "delay-patterns", "--quiet", "--out", str(out), "--batch-size", "16",
            f"data.root={data_root}", TINY_DATA, "model.hidden=[24]", "optim.lr=5e-3", *extra]


def _run(args, **kw):
    return subprocess.run(SNN + args, capture_output=True, text=True, env=_env(), timeout=240, **kw)


def _only_run(out: Path) -> Path:
    runs = sorted(out.iterdir())
    assert len(runs) == 1, runs
    return runs[0]


def train_killed_at(epoch: int, step: int, out: Path, data_root: Path, *extra: str) -> None:
    """``snn train`` in a child that SIGKILLs itself before training step ``step`` (0-based) of epoch ``epoch``
    (1-based): a real crash at a chosen point, independent of how fast the machine is."""
    code = f"""if True:
        import os, signal, sys
        from snn.cli import main
        from snn.train.trainer import Trainer
        step, seen = Trainer._train_step, []

        def step_then_die(self, *args):
            if self.epoch == {epoch - 1}:  # completed epochs
                if len(seen) == {step}:
                    os.kill(os.getpid(), signal.SIGKILL)
                seen.append(1)
            return step(self, *args)
        Trainer._train_step = step_then_die
        sys.exit(main(sys.argv[1:]))
    """
    child = subprocess.run([sys.executable, "-c", code, *_train_args(out, data_root, *extra)], capture_output=True,
                           text=True, env=_env(), timeout=240)
    assert child.returncode == -signal.SIGKILL, child.stdout + child.stderr


@pytest.fixture
def cli(capsys):
    """Runs ``snn ...`` in this process (one thread, as the subprocesses) -> (exit code, stdout, stderr)."""
    from snn.cli import main

    def run(args):
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            code = main(list(args))
        finally:
            torch.set_num_threads(threads)
        out = capsys.readouterr()
        return code, out.out, out.err
    return run


def _params(run: Path, which=checkpoint.LAST) -> dict:
    return checkpoint.load(run / "checkpoints" / which)["model"]


def test_resume_after_sigkill_matches_uninterrupted_run(tmp_path, data_root, cli):
    extra = ("train.epochs=3", "model.dropout=0.2")  # dropout: the resumed RNG state matters
    code, _, err = cli(_train_args(tmp_path / "ref", data_root, *extra))
    assert code == 0, err
    reference = _params(_only_run(tmp_path / "ref"))

    train_killed_at(2, 2, tmp_path / "killed", data_root, *extra)  # inside epoch 2
    run = _only_run(tmp_path / "killed")
    killed_at = checkpoint.load(run / "checkpoints" / checkpoint.LAST)
    assert killed_at["epoch"] == 1, "the kill must land inside epoch 2"
    for name, value in killed_at["model"].items():
        if name.endswith("weight"):
            assert not torch.equal(value, reference[name]), "epoch-1 weights must differ from the final ones"

    code, stdout, err = cli(["train", "--resume", str(run), "--quiet"])
    assert code == 0, err
    assert "(resumed)" in stdout and "epoch   3/3" in stdout and "epoch   1/3" not in stdout
    final = _params(run)
    assert final.keys() == reference.keys()
    for name in reference:
        torch.testing.assert_close(final[name], reference[name], rtol=0, atol=0, msg=name)
    lines = [json.loads(x) for x in (run / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in lines] == [1, 2, 3]
    results = json.loads((run / "results.json").read_text())
    assert 0 <= results["test_acc"] <= 1 and results["test_samples"] == 40

    # snn eval on the torch backend (through the IR) agrees with the front end's test accuracy of best.pt
    code, _, err = cli(["eval", str(run), "--quiet", "--set", f"data.root={data_root}"])
    assert code == 0, err
    report = json.loads((run / "eval-delay-patterns-test-torch.json").read_text())
    assert report["samples"] == 40
    assert report["accuracy"] == pytest.approx(results["test_acc"], abs=1 / 40 + 1e-9)
    assert (run / "eval-delay-patterns-test-torch.png").stat().st_size > 0


def test_ddp_two_processes_equal_single_process(tmp_path, data_root, cli):
    extra = ("train.epochs=2", "data.val_fraction=0.1")
    code, _, err = cli(_train_args(tmp_path / "single", data_root, *extra))
    assert code == 0, err
    ddp = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                          "-m", "snn"] + _train_args(tmp_path / "ddp", data_root, *extra),
                         capture_output=True, text=True, env=_env(), timeout=240)
    assert ddp.returncode == 0, ddp.stdout + ddp.stderr
    assert "2 process(es)" in ddp.stdout
    run = _only_run(tmp_path / "ddp")  # only rank 0 writes
    a, b = _params(_only_run(tmp_path / "single")), _params(run)
    steps = checkpoint.load(run / "checkpoints" / checkpoint.LAST)["optimizer"]["state"][0]["step"]
    assert int(steps) == 2 * 9  # 144 training samples in global batches of 16, two epochs
    for name in a:
        torch.testing.assert_close(b[name], a[name], rtol=1e-5, atol=1e-6, msg=name)


def test_bad_input_is_a_clear_error_and_overwrites_nothing(tmp_path, cli):
    code, _, err = cli(["train", "--out", str(tmp_path), "optim.lrr=1"])
    assert code == 2 and "unknown key 'optim.lrr'" in err
    code, _, err = cli(["train", "--out", str(tmp_path), "train.epochs=ten"])
    assert code == 2 and "train.epochs: expected int" in err
    code, _, err = cli(["train", "--dataset", "shd", "--out", str(tmp_path), f"data.root={tmp_path / 'nothing'}"])
    assert code == 2 and "shd" in err
    assert not any(tmp_path.glob("shd*")), "no run folder for a run that could not start"
    code, _, err = cli(["train", "--resume", str(tmp_path / "no-such-run")])
    assert code == 2 and "does not exist" in err
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"PK\x03\x04 not really a zip")
    code, _, err = cli(["eval", str(corrupt)])
    assert code == 2 and "corrupt" in err and corrupt.read_bytes().startswith(b"PK")
