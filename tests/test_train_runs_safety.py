"""Run folders and checkpoints under attack, with real processes, signals and files: two runs never share a folder,
a second writer is refused (a dead one's lock is taken over), resume options are applied or refused, a crash between
last.pt and best.pt or inside epoch 1 resumes correctly, SIGTERM stops like Ctrl-C, checkpoints detect a flipped bit
and non-finite weights, written files follow the umask, and no progress bar writes carriage returns into a log."""

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
from test_train_run import (SNN, _env, _only_run, _params, _train_args, cli, data_root,  # noqa: F401 (fixtures)
                            train_killed_at)
from test_train_trainer import Toy, _cfg

from snn import _io
from snn.train import Trainer, checkpoint, from_dict, rundir
from snn.train.run import train


def _spawn(code: str, *args: str) -> subprocess.Popen:
    """A child python running ``code`` (with ``sys.argv[1:] = args``), output to a pipe."""
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=_env())


def _wait_for(predicate, proc: subprocess.Popen, what: str, timeout: float = 120.0) -> None:
    deadline = time.time() + timeout
    while not predicate():
        if proc.poll() is not None:
            raise AssertionError(f"child exited ({proc.returncode}) before {what}:\n{proc.communicate()[0]}")
        if time.time() > deadline:
            proc.kill()
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def _log_epochs(run: Path) -> list[int]:
    return [json.loads(line)["epoch"] for line in (run / "log.jsonl").read_text().splitlines()]


# -- run folders and the lock ---------------------------------------------------------------------------------------

def test_runs_started_in_the_same_second_get_their_own_folders(tmp_path, monkeypatch):
    monkeypatch.setattr(rundir.time, "strftime", lambda fmt: "20250101-120000")  # every call in one second
    made = [rundir.new_run_dir(tmp_path, "same") for _ in range(3)]
    assert [p.name for p in made] == ["same-20250101-120000", "same-20250101-120000-2", "same-20250101-120000-3"]
    assert all(p.is_dir() for p in made), "the folder exists when new_run_dir returns (nobody else can take it)"


def test_second_writer_is_refused_and_a_dead_writers_lock_is_taken_over(tmp_path, data_root, cli):
    out = tmp_path / "runs"
    proc = subprocess.Popen(SNN + _train_args(out, data_root, "train.epochs=500"), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=_env())
    try:
        _wait_for(lambda: any(p.stat().st_size for p in out.glob("*/run.lock")), proc, "the run's lock details")
        run = _only_run(out)
        code, _, err = cli(["train", "--resume", str(run), "--quiet"])
        assert code == 2, err
        assert f"pid {proc.pid}" in err and socket.gethostname() in err and "started" in err and "in use" in err
        with pytest.raises(rundir.RunLockError, match=f"pid {proc.pid}"):
            Trainer(_cfg(), Toy(16, 0), run_dir=run).fit(resume=True)
        # training has begun (config.yaml is written after the lock): a run killed before that has nothing to resume
        _wait_for(lambda: (run / "config.yaml").is_file(), proc, "the run's config.yaml")
        proc.send_signal(signal.SIGKILL)  # dies holding the lock: the file stays behind
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert (run / rundir.LOCK).is_file()
    last = run / "checkpoints" / checkpoint.LAST
    done = checkpoint.load(last)["epoch"] if last.is_file() else 0
    code, stdout, err = cli(["train", "--resume", str(run), "--quiet", "--epochs", str(done + 1)])
    assert code == 0, err
    assert f"taking over the stale lock of pid {proc.pid} on host {socket.gethostname()}" in stdout
    assert "no longer runs" in stdout
    assert _log_epochs(run) == list(range(1, done + 2))
    assert not (run / rundir.LOCK).exists(), "the lock is removed when the resume ends"


HOLD = """
    import sys, time
    from snn.train import rundir
    with rundir.hold(sys.argv[1]):
        print("held", flush=True)
        time.sleep(600)
"""


def test_ddp_ranks_all_stop_on_a_locked_run_folder(tmp_path, data_root, cli):
    code, _, err = cli(_train_args(tmp_path / "runs", data_root, "train.epochs=1"))
    assert code == 0, err
    run = _only_run(tmp_path / "runs")
    holder = _spawn(HOLD, str(run))
    try:
        assert holder.stdout.readline().strip() == "held"
        ddp = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                              "-m", "snn", "train", "--resume", str(run), "--quiet", "--epochs", "2"],
                             capture_output=True, text=True, env=_env(), timeout=120)  # no rank waits forever
    finally:
        holder.kill()
        holder.wait()
    assert ddp.returncode != 0
    assert ddp.stderr.count(f"in use by pid {holder.pid}") == 2, ddp.stdout + ddp.stderr  # rank 0 and rank 1
    assert _log_epochs(run) == [1]


def test_resume_of_a_folder_still_being_set_up_names_its_holder(tmp_path, cli):
    run = tmp_path / "new-run"  # locked by a starting run that has not written config.yaml yet
    holder = _spawn(HOLD, str(run))
    try:
        assert holder.stdout.readline().strip() == "held"
        code, _, err = cli(["train", "--resume", str(run), "--quiet"])
    finally:
        holder.kill()
        holder.wait()
    assert code == 2 and f"in use by pid {holder.pid}" in err, err
    code, _, err = cli(["train", "--resume", str(run), "--quiet"])  # the holder is gone: now it is no run at all
    assert code == 2 and "is not a run folder" in err, err


def test_a_stop_signal_waits_for_the_write_in_progress():
    from snn.train import signals

    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    written = []
    with signals.stop_on_signals():
        with pytest.raises(signals.Interrupted, match="SIGTERM"):
            with signals.writing():
                os.kill(os.getpid(), signal.SIGTERM)  # Python runs the handler right after this call: it defers
                written.append("the rest of the write")
        assert written == ["the rest of the write"]
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            written.append("never")
    assert written == ["the rest of the write"]
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before


def test_trainer_refuses_a_folder_holding_another_run(tmp_path):
    run = tmp_path / "example"
    Trainer(_cfg(), Toy(24, 0), run_dir=run).fit()
    with pytest.raises(ValueError, match=r"already holds a run .*fit\(resume=True\)"):
        Trainer(_cfg(), Toy(24, 0), run_dir=run).fit()
    assert _log_epochs(run) == [1, 2, 3], "the refused second run wrote nothing"
    assert checkpoint.load(run / "checkpoints" / checkpoint.LAST)["epoch"] == 3
    # snn.train.run.train checks before loading data (this dataset is missing: that error would come later)
    missing = from_dict({"data": {"name": "shd", "root": str(tmp_path / "nothing")}, "train": {"device": "cpu"}})
    with pytest.raises(ValueError, match="already holds a run"):
        train(missing, run_dir=run)


# -- resume options -------------------------------------------------------------------------------------------------

def test_resume_applies_safe_options_and_refuses_the_others(tmp_path, data_root, cli):
    code, _, err = cli(_train_args(tmp_path, data_root, "train.epochs=2"))
    assert code == 0, err
    run = _only_run(tmp_path)
    for option, named in [(["--lr", "0.1"], "--lr (optim.lr)"), (["--seed", "3"], "--seed (seed)"),
                          (["--out", str(tmp_path / "x")], "--out (train.out_dir)"),
                          (["--batch-size", "8"], "--batch-size (train.batch_size)"), (["--name", "x"], "--name"),
                          (["--dataset", "shd"], "--dataset (data.name)"), (["--config", "c.yaml"], "--config"),
                          (["optim.lr=0.1"], "optim.lr=0.1"), (["--set", "model.hidden=[8]"], "model.hidden=[8]")]:
        code, _, err = cli(["train", "--resume", str(run), *option])
        assert code == 2 and "cannot change" in err and named in err, (option, err)
    code, _, err = cli(["train", "--resume", str(run)])
    assert code == 2 and "is complete: 2 of 2 epochs" in err and "--epochs N with N > 2" in err
    code, _, err = cli(["train", "--resume", str(run), "--epochs", "1"])
    assert code == 2 and "fewer than the 2 epochs" in err
    assert _log_epochs(run) == [1, 2], "a refused resume writes nothing"

    code, stdout, err = cli(["train", "--resume", str(run), "--epochs", "3", "--device", "cpu", "--quiet"])
    assert code == 0, err
    assert "epoch   3/3" in stdout and "epoch   2/" not in stdout
    assert _log_epochs(run) == [1, 2, 3]
    assert checkpoint.load(run / "checkpoints" / checkpoint.LAST)["config"]["train"]["epochs"] == 3


# -- crashes at the worst moments -----------------------------------------------------------------------------------

CRASH_AFTER_LAST = """
    import os, sys
    from snn.cli import main
    from snn.train import checkpoint
    save, crash_epoch = checkpoint.save, int(sys.argv[1])

    def save_then_crash(path, payload):
        save(path, payload)
        if path.name == checkpoint.LAST and payload["epoch"] == crash_epoch:
            os._exit(17)  # a hard stop between writing last.pt and best.pt
    checkpoint.save = save_then_crash
    sys.exit(main(sys.argv[2:]))
"""


def test_crash_between_last_and_best_checkpoint_keeps_the_best_epoch(tmp_path, data_root, cli):
    extra = ("train.epochs=3", "data.val_fraction=0.25")
    code, _, err = cli(_train_args(tmp_path / "ref", data_root, *extra))
    assert code == 0, err
    ref = _only_run(tmp_path / "ref")
    ref_best = json.loads((ref / "results.json").read_text())["best_epoch"]
    history = checkpoint.load(ref / "checkpoints" / checkpoint.LAST)["history"]
    improved = [r["epoch"] for i, r in enumerate(history) if r["val_acc"] > max([h["val_acc"] for h in history[:i]],
                                                                                   default=-1)]
    crash = max(improved)
    assert crash >= 2, f"the reference run must improve after epoch 1 for this test, got {history}"

    out = tmp_path / "crashed"
    child = subprocess.run([sys.executable, "-c", textwrap.dedent(CRASH_AFTER_LAST), str(crash),
                            *_train_args(out, data_root, *extra)], capture_output=True, text=True, env=_env(),
                           timeout=240)
    assert child.returncode == 17, child.stdout + child.stderr
    run = _only_run(out)
    assert checkpoint.load(run / "checkpoints" / checkpoint.BEST)["epoch"] < crash, "best.pt is one best behind"
    # read at this instant, the run folder names epoch `crash` as its best, with that epoch's weights
    best_now = checkpoint.load(checkpoint.resolve(run))
    assert best_now["epoch"] == crash
    code, stdout, err = cli(["train", "--resume", str(run), "--quiet"])
    assert code == 0, err
    assert f"records epoch {crash} as the best" in stdout
    assert json.loads((run / "results.json").read_text())["best_epoch"] == ref_best
    for name, value in _params(ref, checkpoint.BEST).items():
        torch.testing.assert_close(_params(run, checkpoint.BEST)[name], value, rtol=0, atol=0, msg=name)


def test_run_killed_during_epoch_1_resumes_from_scratch(tmp_path, data_root, cli):
    extra = ("train.epochs=2",)
    code, _, err = cli(_train_args(tmp_path / "ref", data_root, *extra))
    assert code == 0, err
    train_killed_at(1, 2, tmp_path / "killed", data_root, *extra)
    run = _only_run(tmp_path / "killed")
    assert not (run / "checkpoints" / checkpoint.LAST).exists()
    code, stdout, err = cli(["train", "--resume", str(run), "--quiet"])
    assert code == 0, err
    assert "no completed epoch" in stdout and "starting it from scratch" in stdout
    assert _log_epochs(run) == [1, 2]
    reference = _params(_only_run(tmp_path / "ref"))
    for name, value in _params(run).items():
        torch.testing.assert_close(value, reference[name], rtol=0, atol=0, msg=name)


def test_sigterm_stops_like_ctrl_c(tmp_path, data_root, cli):
    out = tmp_path / "runs"
    proc = subprocess.Popen(SNN + _train_args(out, data_root, "train.epochs=500"), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=_env())
    try:
        _wait_for(lambda: any(p.stat().st_size for p in out.glob("*/log.jsonl")), proc, "the first epoch")
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    run = _only_run(out)
    assert proc.returncode == 128 + signal.SIGTERM, output
    assert "interrupted (SIGTERM)" in output and f"resume with: snn train --resume {run}" in output
    assert "Traceback" not in output
    done = checkpoint.load(run / "checkpoints" / checkpoint.LAST)["epoch"]
    assert done >= 1 and _log_epochs(run) == list(range(1, done + 1))
    assert not (run / rundir.LOCK).exists()
    code, stdout, err = cli(["train", "--resume", str(run), "--quiet", "--epochs", str(done + 1)])
    assert code == 0, err
    assert _log_epochs(run) == list(range(1, done + 2))


# -- checkpoint integrity -------------------------------------------------------------------------------------------

def _saved(tmp_path) -> tuple[Path, dict]:
    t = Trainer(_cfg(epochs=1), Toy(16, 0), run_dir=tmp_path / "run")
    t.fit()
    return tmp_path / "run" / "checkpoints" / checkpoint.LAST, t.model.state_dict()


def test_a_flipped_bit_in_the_weights_is_an_error_naming_the_file(tmp_path):
    path, state = _saved(tmp_path)
    data = bytearray(path.read_bytes())
    weight = next(v for k, v in state.items() if k.endswith("weight"))
    at = bytes(data).find(weight.numpy().tobytes())
    assert at > 0, "the weights are stored as raw bytes in the file"
    data[at + weight.numel() * 2 + 1] ^= 0x04  # one bit of one float in the middle of the tensor
    bad = tmp_path / "flipped.pt"
    bad.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=f"checkpoint '{bad}': content hash mismatch"):
        checkpoint.load(bad)


def test_non_finite_weights_are_refused_naming_file_and_tensor(tmp_path):
    path, state = _saved(tmp_path)
    name = next(k for k in state if k.endswith("weight"))
    ckpt = torch.load(path, weights_only=True)
    ckpt["model"][name][0, 0] = float("nan")
    with pytest.raises(ValueError, match=f"'{tmp_path / 'nan.pt'}' not written.*{name}.*1 non-finite"):
        checkpoint.save(tmp_path / "nan.pt", {k: v for k, v in ckpt.items() if k != "sha256"})
    assert not (tmp_path / "nan.pt").exists()
    ckpt["sha256"] = checkpoint.content_hash(ckpt)  # a file that is intact but holds a NaN
    torch.save(ckpt, tmp_path / "nan.pt")
    with pytest.raises(ValueError, match=f"'{tmp_path / 'nan.pt'}': model tensor '{name}' has 1 non-finite"):
        checkpoint.load(tmp_path / "nan.pt")
    # format 1 (no hash) still loads, with a warning that its integrity is not checked; the finite check applies
    old = {k: v for k, v in torch.load(path, weights_only=True).items() if k != "sha256"}
    torch.save(dict(old, format_version=1), tmp_path / "v1.pt")
    with pytest.warns(UserWarning, match="format 1 has no content hash"):
        assert torch.equal(checkpoint.load(tmp_path / "v1.pt")["model"][name], state[name])
    old["model"][name][0, 0] = float("inf")
    torch.save(dict(old, format_version=1), tmp_path / "v1inf.pt")
    with pytest.warns(UserWarning), pytest.raises(ValueError, match=f"v1inf.pt'.*'{name}'"):
        checkpoint.load(tmp_path / "v1inf.pt")


# -- file modes -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_written_files_and_folders_follow_the_umask(tmp_path, umask):
    def check(paths, names):
        assert {p.name for p in paths} >= names
        for p in paths:
            want = (0o777 if p.is_dir() else 0o666) & ~umask
            assert p.stat().st_mode & 0o777 == want, f"{p}: {oct(p.stat().st_mode & 0o777)}, expected {oct(want)}"

    old = os.umask(umask)
    try:
        Trainer(_cfg(epochs=1), Toy(16, 0), val_set=Toy(8, 1), run_dir=tmp_path / "run").fit()
        check(list(tmp_path.rglob("*")), {"last.pt", "best.pt", "config.yaml", "log.jsonl", "curves.png"})
        with _io.atomic_dir(tmp_path / "export") as d:  # the shared helper for export folders (netx)
            (d / "network.net").write_bytes(b"x")
    finally:
        os.umask(old)
    check([tmp_path / "export", tmp_path / "export" / "network.net"], {"export", "network.net"})


# -- progress bars --------------------------------------------------------------------------------------------------

def test_no_carriage_returns_when_output_is_not_a_terminal(tmp_path, data_root):
    args = [a for a in _train_args(tmp_path, data_root, "train.epochs=2") if a != "--quiet"]
    done = subprocess.run(SNN + args + [f"data.root={tmp_path / 'fresh-data'}"], capture_output=True, env=_env(),
                          timeout=240)
    assert done.returncode == 0, done.stderr
    assert b"\r" not in done.stdout + done.stderr
    lines = done.stdout.decode().splitlines()
    assert [line.split()[1] for line in lines if line.startswith("epoch")] == ["1/2", "2/2"]


def test_bars_still_show_on_a_terminal():
    import fcntl
    import pty
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))  # a new pty is 0 columns wide
    child = subprocess.run([sys.executable, "-c", "from snn._progress import bar\nfor _ in bar(range(3)): pass"],
                           stderr=slave, env=_env(), timeout=60)
    os.close(slave)
    shown = os.read(master, 4096)
    os.close(master)
    assert child.returncode == 0 and b"\r" in shown and b"3/3" in shown


def test_every_progress_bar_goes_through_the_helper():
    root = Path(__file__).resolve().parents[1] / "snn"
    users = [str(p.relative_to(root)) for p in root.rglob("*.py") if "import tqdm" in p.read_text()
             or "from tqdm" in p.read_text()]
    assert users == ["_progress.py"]


def test_atomic_dir_replaces_only_what_it_may(tmp_path):
    (tmp_path / "empty").mkdir()
    with _io.atomic_dir(tmp_path / "empty") as d:
        (d / "a").write_text("new")
    assert (tmp_path / "empty" / "a").read_text() == "new"
    with pytest.raises(FileExistsError, match="not empty"):
        with _io.atomic_dir(tmp_path / "empty") as d:
            (d / "a").write_text("newer")
    with pytest.raises(RuntimeError):
        with _io.atomic_dir(tmp_path / "empty", overwrite=True) as d:
            (d / "a").write_text("half")
            raise RuntimeError("crash while writing")
    assert (tmp_path / "empty" / "a").read_text() == "new"
    with _io.atomic_dir(tmp_path / "empty", overwrite=True) as d:
        (d / "b").write_text("whole")
    assert [p.name for p in (tmp_path / "empty").iterdir()] == ["b"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty"], "no temporary folder left behind"
