"""The offline datasets: ndigits (simulated event camera) and the synthetic temporal tasks; the CLI."""

import argparse

import numpy as np
import pytest

import snn.datasets as D
from snn import _io
from snn.datasets import ndigits, synthetic
from snn.datasets.cli import register


@pytest.fixture(scope="session")
def data_root(ndigits_root):
    """The session's data root with ndigits built (tests/conftest.py)."""
    return ndigits_root


def test_ndigits_layout_and_split(data_root):
    train, test = D.load("ndigits", "train", root=data_root), D.load("ndigits", "test", root=data_root)
    _, labels = ndigits.digits()
    assert (len(train), len(test)) == (1437, 360)
    assert train.sensor_size == (34, 34, 2) and train.num_classes == 10
    # the fixed split: sklearn indices divisible by 5 are the test set; same label multiset
    np.testing.assert_array_equal(np.sort(test.labels), np.sort(labels[::5]))
    built = ndigits.prepare(data_root)
    files = sorted(p.name for p in (built / "Test").rglob("*.bin"))
    assert built.stat().st_mode & 0o777 == 0o777 & ~_io.umask()  # like any folder a program makes, not mkdtemp's 0700
    assert files == [f"{i:05d}.bin" for i in range(0, 1797, 5)]
    ev, _ = test[0]
    assert ev.dtype == D.CAMERA_DTYPE and 2000 < len(ev) < 20000
    assert (np.diff(ev["t"]) >= 0).all() and ev["t"].min() >= 0 and ev["t"].max() < 300_000
    assert 0.3 < ev["p"].mean() < 0.7


def test_ndigits_closed_path_gives_equal_on_and_off_per_pixel():
    # The saccades return to their start, so without noise every pixel's ON and OFF counts must match exactly.
    images, _ = ndigits.digits()
    cfg = ndigits.NDigitsConfig(noise_hz=0.0, seed=3)
    for x, y, t, p in ndigits.simulate(images[:12], cfg):
        assert len(t) > 500
        on = np.bincount((y * 34 + x)[p == 1], minlength=34 * 34)
        off = np.bincount((y * 34 + x)[p == 0], minlength=34 * 34)
        np.testing.assert_array_equal(on, off)


def test_ndigits_dark_image_is_silent_and_seed_is_deterministic():
    cfg = ndigits.NDigitsConfig(noise_hz=0.0)
    (x, _, _, _), = ndigits.simulate(np.zeros((1, 8, 8), np.float32), cfg)
    assert len(x) == 0
    images, _ = ndigits.digits()
    a = ndigits.simulate(images[:3], ndigits.NDigitsConfig(seed=1))
    b = ndigits.simulate(images[:3], ndigits.NDigitsConfig(seed=1))
    c = ndigits.simulate(images[:3], ndigits.NDigitsConfig(seed=2))
    for u, v, w in zip(a, b, c):
        for k in range(4):
            np.testing.assert_array_equal(u[k], v[k])
        assert len(u[2]) != len(w[2]) or not np.array_equal(u[2], w[2])


def test_ndigits_frames_are_linearly_separable(data_root):
    from sklearn.linear_model import RidgeClassifier

    def features(split):
        ds = D.frames("ndigits", split, root=data_root, dt=100.0, downsample=2)  # one frame per saccade
        assert ds.feature_shape == (2, 17, 17) and set(ds.lengths.tolist()) == {3}
        return np.stack([np.log1p(ds[i][0].numpy().ravel()) for i in range(len(ds))]), ds.labels

    x, y = features("train")
    xt, yt = features("test")
    acc = RidgeClassifier(alpha=10.0).fit(x, y).score(xt, yt)
    assert acc > 0.93, acc


def test_ndigits_default_frames(data_root):
    ds = D.frames("ndigits", "train", root=data_root)
    x, y = ds[0]
    assert ds.dt == 10.0 and ds.feature_shape == (2, 34, 34) and x.shape == (30, 2, 34, 34)
    assert x.sum().item() == len(D.load("ndigits", "train", root=data_root)[0][0])


def _counts(ds):
    return np.stack([np.bincount(ds[i][0]["x"], minlength=ds.sensor_size[0]) for i in range(len(ds))])


def _template_decode(ev, chans, offsets_ms, window_ms=2.0):
    """Oracle with delays: shift each pattern channel back by its class offset and count coincidences."""
    t_ms = ev["t"] / 1000.0
    scores = []
    for off in offsets_ms:
        aligned = np.concatenate([t_ms[ev["x"] == c] - o for c, o in zip(chans, off)])
        hist = np.histogram(aligned, bins=np.arange(-100, 400, window_ms))[0]
        scores.append(hist.max())
    return int(np.argmax(scores))


def test_delay_patterns_timing_decides_counts_do_not(tmp_path):
    from sklearn.linear_model import LogisticRegression

    cfg = synthetic.DelayPatternsConfig(train=400, test=200)
    train = D.load("delay-patterns", "train", root=tmp_path, train=400, test=200)
    test = D.load("delay-patterns", "test", root=tmp_path, train=400, test=200)
    assert train.sensor_size == (64, 1, 1) and train.num_classes == 8 and len(test) == 200
    assert np.bincount(train.labels).tolist() == [50] * 8
    chans, offsets = synthetic.templates(cfg, cfg.classes)
    assert len({tuple(o) for o in offsets}) == 8 and all(sorted(o) == sorted(offsets[0]) for o in offsets)
    oracle = np.mean([_template_decode(test[i][0], chans, offsets) == test[i][1] for i in range(len(test))])
    assert oracle > 0.95, oracle
    counts = LogisticRegression(max_iter=500).fit(_counts(train), train.labels).score(_counts(test), test.labels)
    assert counts < 0.3, counts  # chance is 1/8
    ev, _ = train[0]
    assert ev["t"].min() >= 0 and ev["t"].max() < 200_000 and (np.diff(ev["t"]) >= 0).all()


def test_spike_adding_label_is_sum_and_needs_both_patterns(tmp_path):
    from sklearn.linear_model import LogisticRegression

    opts = {"train": 400, "test": 200, "gap_ms": 80.0}
    cfg = synthetic.SpikeAddingConfig(**opts)
    train, test = (D.load("spike-adding", s, root=tmp_path, **opts) for s in ("train", "test"))
    assert train.num_classes == 7 and train.classes[6] == "sum-6"
    chans, offsets = synthetic.templates(cfg, cfg.digits)
    half = 1000 * (cfg.duration_ms / 2)
    decoded = []
    for i in range(len(test)):
        ev, y = test[i]
        a = _template_decode(ev[ev["t"] < half], chans, offsets)
        b = _template_decode(ev[ev["t"] >= half], chans, offsets)
        decoded.append(a + b == y)
    assert np.mean(decoded) > 0.95
    counts = LogisticRegression(max_iter=500).fit(_counts(train), train.labels).score(_counts(test), test.labels)
    assert counts < 0.4, counts  # the most frequent sum (3 with 4 digits) is 25 % of samples


def test_synthetic_deterministic_per_seed(tmp_path):
    a = D.load("spike-adding", "test", root=tmp_path / "a", train=10, test=10, seed=5)
    b = D.load("spike-adding", "test", root=tmp_path / "b", train=10, test=10, seed=5)
    c = D.load("spike-adding", "test", root=tmp_path / "a", train=10, test=10, seed=6)
    assert all(np.array_equal(a[i][0], b[i][0]) for i in range(10))
    assert not all(np.array_equal(a[i][0], c[i][0]) for i in range(10))


def _cli(*argv):
    parser = argparse.ArgumentParser(prog="snn")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["datasets", *argv])
    return args.func(args)


def test_cli_list_info_prepare(tmp_path, capsys):
    assert _cli("list") == 0
    out = capsys.readouterr().out
    assert all(name in out for name in D.available())
    assert _cli("info", "shd", "--root", str(tmp_path)) == 0
    out = capsys.readouterr().out
    assert "shd_train.h5" in out and str(tmp_path) in out and "dt=10.0" in out
    assert _cli("prepare", "delay-patterns", "--root", str(tmp_path)) == 0
    assert "delay-patterns test: 500 samples" in capsys.readouterr().out
    assert len(list((tmp_path / "cache" / "frames").glob("delay-patterns-*.npz"))) == 2
