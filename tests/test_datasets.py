"""Loaders, frames, cache and collation on files written in the exact on-disk formats (known contents)."""

import math
import zipfile

import numpy as np
import pytest
import torch

import snn.datasets as D
from snn.datasets import cache, nmnist
from snn.datasets.events import EventChunk
from snn.datasets.testing import random_audio, random_camera, write_nmnist_tree, write_nmnist_zip, write_shd
from snn.datasets.transforms import FrameConfig, bin_events


def _write_shd_split(root, name, split, samples, labels, **kw):
    return write_shd(root / name / f"{name}_{split}.h5", [t / 1e6 for t, _ in samples], [u for _, u in samples],
                     labels, **kw)


@pytest.mark.parametrize("time_dtype", [np.float64, np.float32])
def test_shd_roundtrip_every_event_and_label(tmp_path, time_dtype):
    samples = random_audio(12, seed=1)
    samples[3] = (np.zeros(0, np.int64), np.zeros(0, np.int64))  # empty samples are legal in SHD
    labels = [i % 20 for i in range(12)]
    keys = [f"word-{k}" for k in range(20)]
    _write_shd_split(tmp_path, "shd", "train", samples, labels, keys=keys, time_dtype=time_dtype)
    ds = D.load("shd", "train", root=tmp_path)
    assert len(ds) == 12 and ds.sensor_size == (700, 1, 1) and ds.num_classes == 20 and ds.classes == keys
    for i, (t, u) in enumerate(samples):
        ev, y = ds[i]
        assert ev.dtype.names == ("t", "x", "p") and y == labels[i]
        np.testing.assert_array_equal(ev["t"], t)  # written as integer us, read back exactly
        np.testing.assert_array_equal(ev["x"], u)
        assert (ev["p"] == 1).all()
    assert len(ds[3][0]) == 0


def test_ssc_valid_split_and_classes(tmp_path):
    samples = random_audio(4, seed=2)
    _write_shd_split(tmp_path, "ssc", "valid", samples, [0, 34, 7, 20])
    ds = D.load("ssc", "valid", root=tmp_path)
    assert ds.num_classes == 35 and [ds[i][1] for i in range(4)] == [0, 34, 7, 20]
    with pytest.raises(ValueError, match="split"):
        D.load("shd", "valid", root=tmp_path)


def test_shd_unsorted_sample_is_sorted_stably(tmp_path):
    t = np.array([0.5, 0.1, 0.5, 0.2])
    u = np.array([10, 11, 12, 13])
    write_shd(tmp_path / "shd" / "shd_test.h5", [t], [u], [3])
    ev, _ = D.load("shd", "test", root=tmp_path)[0]
    np.testing.assert_array_equal(ev["t"], [100000, 200000, 500000, 500000])
    np.testing.assert_array_equal(ev["x"], [11, 13, 10, 12])


def _expected_nmnist_order(samples, labels):
    """Files are read by digit, then name (the writer names them by index)."""
    return sorted(range(len(labels)), key=lambda i: (labels[i], i))


@pytest.mark.parametrize("container", ["tree", "zip"])
def test_nmnist_roundtrip_every_event_and_label(tmp_path, container):
    samples = random_camera(15, seed=3)
    samples[4] = tuple(np.zeros(0, np.int64) for _ in range(4))
    labels = [7, 1, 3, 0, 9, 2, 2, 5, 6, 4, 8, 1, 0, 3, 7]
    if container == "tree":
        write_nmnist_tree(tmp_path / "nmnist" / "Train", samples, labels)
    else:
        write_nmnist_zip(tmp_path / "nmnist" / "train.zip", "train", samples, labels)
    ds = D.load("nmnist", "train", root=tmp_path)
    assert len(ds) == 15 and ds.sensor_size == (34, 34, 2) and ds.classes == [str(d) for d in range(10)]
    for j, i in enumerate(_expected_nmnist_order(samples, labels)):
        ev, y = ds[j]
        assert ev.dtype.names == ("x", "y", "t", "p") and y == labels[i]
        for k, field in enumerate("xytp"):
            np.testing.assert_array_equal(ev[field], samples[i][k])


def test_nmnist_known_bytes_and_overflow_marker(tmp_path):
    # (x=1, y=2, p=1, t=0x123456), an overflow marker (y = 240), then (x=33, y=0, p=0, t=5)
    data = bytes([1, 2, 0x80 | 0x12, 0x34, 0x56, 0, 240, 0, 0, 0, 33, 0, 0, 0, 5])
    x, y, t, p = nmnist.parse_bin(data)
    np.testing.assert_array_equal(x, [33, 1])  # sorted by time: 5 + 8192 < 0x123456
    np.testing.assert_array_equal(y, [0, 2])
    np.testing.assert_array_equal(t, [5 + 2 ** 13, 0x123456])
    np.testing.assert_array_equal(p, [0, 1])
    assert nmnist.encode_bin([1], [2], [0x123456], [1]) == data[:5]


def test_tonic_transform_applies_to_our_samples(tmp_path):
    tonic = pytest.importorskip("tonic")
    samples = random_audio(2, seed=4)
    _write_shd_split(tmp_path, "shd", "train", samples, [1, 2])
    ds = D.load("shd", "train", root=tmp_path)
    ev, _ = ds[0]
    down = tonic.transforms.Downsample(time_factor=0.5, spatial_factor=0.5)(ev.copy())
    np.testing.assert_array_equal(down["t"], samples[0][0] // 2)
    np.testing.assert_array_equal(down["x"], samples[0][1] // 2)
    cam = random_camera(1, seed=5)
    write_nmnist_tree(tmp_path / "nmnist" / "Test", cam, [4])
    ev, _ = D.load("nmnist", "test", root=tmp_path)[0]
    down = tonic.transforms.Downsample(spatial_factor=0.5)(ev.copy())
    np.testing.assert_array_equal(down["x"], cam[0][0] // 2)
    np.testing.assert_array_equal(down["y"], cam[0][1] // 2)


# ---------- binning against a naive per-event reference ----------

def _reference_frames(samples, sensor, cfg):
    """Per-event loop: the obvious definition, independent of the vectorised code."""
    out = []
    w, h, npol = sensor
    shape = cfg.feature_shape(sensor, unflattened=True)
    for x, y, t, p in samples:
        steps = cfg.steps if cfg.steps is not None else max(
            [int((ti - cfg.start * 1000) // (cfg.dt * 1000)) + 1 for ti in t if ti >= cfg.start * 1000] + [1])
        f = np.zeros((steps, *shape), dtype=np.int64)
        for xi, yi, ti, pi in zip(x, y, t, p):
            b = int(np.floor((ti - cfg.start * 1000) / (cfg.dt * 1000)))
            if 0 <= b < steps:
                if h == 1 and npol == 1:
                    f[b, xi // cfg.pool] += 1
                else:
                    f[b, pi, yi // cfg.downsample, xi // cfg.downsample] += 1
        if cfg.binary:
            f = (f > 0).astype(np.int64)
        out.append(f.reshape(steps, -1) if cfg.flatten else f)
    return out


def bin_chunk(chunk, sensor, cfg):
    """Dense ``(sum(lengths), F)`` frames from where :func:`bin_events` puts each event."""
    rows, features, lengths = bin_events(chunk, sensor, cfg)
    frames = np.zeros((int(lengths.sum()), math.prod(cfg.feature_shape(sensor))), np.int64)
    np.add.at(frames, (rows, features), 1)
    return (frames > 0).astype(np.int64) if cfg.binary else frames, lengths


def _chunk(samples, labels):
    sizes = [len(s[2]) for s in samples]
    cat = [np.concatenate([s[k] for s in samples]).astype(np.int64) for k in range(4)]
    return EventChunk(t=cat[2], x=cat[0], y=cat[1], p=cat[3], offsets=np.concatenate([[0], np.cumsum(sizes)]),
                      labels=np.asarray(labels))


@pytest.mark.parametrize("cfg", [
    FrameConfig(dt=10.0), FrameConfig(dt=7.5, pool=5), FrameConfig(dt=20.0, duration=300.0, pool=7, binary=True),
    FrameConfig(dt=5.0, start=100.0, duration=50.0), FrameConfig(dt=3.0, pool=3, flatten=True)])
def test_audio_binning_matches_reference(cfg):
    audio = random_audio(20, seed=6, mean_events=150, max_s=0.5)
    audio[5] = (np.zeros(0, np.int64), np.zeros(0, np.int64))
    samples = [(u, np.zeros_like(u), t, np.ones_like(u)) for t, u in audio]
    frames, lengths = bin_chunk(_chunk(samples, range(20)), (700, 1, 1), cfg)
    ref = _reference_frames(samples, (700, 1, 1), cfg)
    starts = np.concatenate([[0], np.cumsum(lengths)])
    for i, r in enumerate(ref):
        assert lengths[i] == len(r)
        np.testing.assert_array_equal(frames[starts[i]:starts[i + 1]], r.reshape(len(r), -1))


@pytest.mark.parametrize("cfg", [FrameConfig(dt=10.0), FrameConfig(dt=25.0, downsample=2),
                                 FrameConfig(dt=50.0, downsample=3, binary=True, duration=200.0)])
def test_camera_binning_matches_reference(cfg):
    samples = random_camera(10, seed=7)
    frames, lengths = bin_chunk(_chunk(samples, range(10)), (34, 34, 2), cfg)
    ref = _reference_frames(samples, (34, 34, 2), cfg)
    starts = np.concatenate([[0], np.cumsum(lengths)])
    for i, r in enumerate(ref):
        np.testing.assert_array_equal(frames[starts[i]:starts[i + 1]], r.reshape(len(r), -1))


def test_binning_closed_form():
    # events at 0, 9.999, 10, 25 ms on channels 0, 4, 5, 699; dt = 10 ms, pool 5 -> 140 channels
    chunk = _chunk([(np.array([0, 4, 5, 699]), np.zeros(4, int), np.array([0, 9999, 10000, 25000]), np.ones(4, int))],
                   [0])
    frames, lengths = bin_chunk(chunk, (700, 1, 1), FrameConfig(dt=10.0, pool=5))
    expected = np.zeros((3, 140), int)
    expected[0, 0] = 2
    expected[1, 1] = 1
    expected[2, 139] = 1
    assert list(lengths) == [3]
    np.testing.assert_array_equal(frames, expected)
    assert FrameConfig(dt=10.0, pool=5).feature_shape((700, 1, 1)) == (140,)
    assert FrameConfig(dt=1.0, downsample=2, flatten=True).feature_shape((34, 34, 2)) == (578,)


def test_frame_config_rejects_bad_values():
    for kw in ({"dt": 0}, {"dt": -1.0}, {"dt": float("nan")}, {"dt": 1.0, "pool": 0}, {"dt": 1.0, "duration": 0},
               {"dt": 1.0, "start": -1.0}, {"dt": 1.0, "downsample": 1.5}):
        with pytest.raises(ValueError, match="FrameConfig"):
            FrameConfig(**kw)
    with pytest.raises(ValueError, match="pool"):
        FrameConfig(dt=1.0, pool=2).feature_shape((34, 34, 2))


# ---------- FrameDataset, cache, collate ----------

def test_frames_dataset_cache_and_no_hdf5_after_build(tmp_path):
    samples = random_audio(30, seed=8)
    labels = [i % 20 for i in range(30)]
    _write_shd_split(tmp_path, "shd", "train", samples, labels)
    ds = D.frames("shd", "train", root=tmp_path)  # defaults: dt 10 ms, 700 -> 140
    assert not ds.from_cache and ds.feature_shape == (140,) and ds.dt == 10.0 and ds.num_classes == 20
    for i, (t, u) in enumerate(samples):
        x, y = ds[i]
        assert x.dtype == torch.float32 and y == labels[i]
        assert x.shape == (t.max() // 10000 + 1, 140)
        np.testing.assert_array_equal(x.sum(0).numpy(), np.bincount(u // 5, minlength=140))
    again = D.frames("shd", "train", root=tmp_path)
    assert again.from_cache
    # same frames from the cache entry
    for i in range(30):
        torch.testing.assert_close(again[i][0], ds[i][0])
    other = D.frames("shd", "train", root=tmp_path, dt=5.0, pool=1)
    assert not other.from_cache and other.feature_shape == (700,)
    caches = list((tmp_path / "cache" / "frames").glob("*.npz"))
    assert len(caches) == 2
    # rewriting the source file invalidates its cache entries
    _write_shd_split(tmp_path, "shd", "train", samples[:10], labels[:10])
    fresh = D.frames("shd", "train", root=tmp_path)
    assert not fresh.from_cache and len(fresh) == 10


def test_cached_dataset_works_with_source_closed(tmp_path):
    samples = random_audio(5, seed=9)
    _write_shd_split(tmp_path, "shd", "train", samples, [0, 1, 2, 3, 4])
    events = D.load("shd", "train", root=tmp_path)
    frames = D.FrameDataset(events, FrameConfig(dt=10.0))
    events.close()  # any HDF5 access would now fail
    assert [frames[i][1] for i in range(5)] == [0, 1, 2, 3, 4]
    assert sum(frames[i][0].sum().item() for i in range(5)) == sum(len(t) for t, _ in samples)


def test_corrupt_cache_is_rebuilt(tmp_path):
    _write_shd_split(tmp_path, "shd", "test", random_audio(4, seed=10), [1, 2, 3, 4])
    first = D.frames("shd", "test", root=tmp_path)
    (path,) = (tmp_path / "cache" / "frames").glob("*.npz")
    path.write_bytes(b"not a zip")
    second = D.frames("shd", "test", root=tmp_path)
    assert not second.from_cache
    torch.testing.assert_close(second[2][0], first[2][0])
    with zipfile.ZipFile(path) as z:  # and it was rewritten as a valid npz
        assert {"version.npy", "cols.npy", "counts.npy", "row_nnz.npy", "lengths.npy", "labels.npy"} <= set(
            z.namelist())


# ---------- sparse frame cache: exact round trip, dtypes, format version ----------

def _assert_frames_equal_reference(ds, ref, labels):
    assert len(ds) == len(ref)
    for i, r in enumerate(ref):
        x, y = ds[i]
        assert x.dtype == torch.float32 and y == labels[i]
        assert x.shape == (len(r), *ds.feature_shape)
        np.testing.assert_array_equal(x.numpy(), r.reshape(x.shape))


def _audio_file(tmp_path, n=25, seed=20):
    audio = random_audio(n, seed=seed, mean_events=400, max_s=0.6)
    audio[2] = (np.zeros(0, np.int64), np.zeros(0, np.int64))
    audio[-1] = (np.full(300, 50_000), np.full(300, 123))  # 300 events in one cell: counts need uint16
    labels = [i % 20 for i in range(n)]
    _write_shd_split(tmp_path, "shd", "train", audio, labels)
    return [(u, np.zeros_like(u), t, np.ones_like(u)) for t, u in audio], labels


@pytest.mark.parametrize("transform, cols_dtype, counts_dtype", [
    ({"pool": 1}, np.uint16, np.uint16),                                        # 700 features, counts up to 300
    ({"pool": 5, "dt": 7.5}, np.uint8, np.uint16),                              # 140 features
    ({"pool": 1, "binary": True, "duration": 400.0}, np.uint16, np.uint8),
    ({"pool": 3, "start": 50.0, "flatten": True, "binary": True}, np.uint8, np.uint8)])
def test_sparse_cache_roundtrips_audio_frames_exactly(tmp_path, transform, cols_dtype, counts_dtype):
    samples, labels = _audio_file(tmp_path)
    built = D.frames("shd", "train", root=tmp_path, **transform)
    cached = D.frames("shd", "train", root=tmp_path, **transform)
    assert not built.from_cache and cached.from_cache
    cfg = FrameConfig(**dict({"dt": 10.0}, **transform))
    ref = _reference_frames(samples, (700, 1, 1), cfg)
    _assert_frames_equal_reference(built, ref, labels)
    _assert_frames_equal_reference(cached, ref, labels)
    (path,) = (tmp_path / "cache" / "frames").glob("*.npz")
    with np.load(path, allow_pickle=False) as z:  # only the nonzero cells are stored, in the smallest dtypes
        assert z["cols"].dtype == cols_dtype and z["counts"].dtype == counts_dtype
        assert len(z["cols"]) == sum(int(np.count_nonzero(r)) for r in ref) > 0
        assert z["version"].tolist() == [cache.VERSION]


@pytest.mark.parametrize("transform", [{}, {"downsample": 2, "binary": True}, {"downsample": 3, "flatten": True},
                                       {"dt": 25.0, "duration": 200.0}])
def test_sparse_cache_roundtrips_nmnist_frames_exactly(tmp_path, transform):
    samples = random_camera(12, seed=21)
    samples[3] = tuple(np.zeros(0, np.int64) for _ in range(4))
    labels = [5, 1, 3, 0, 9, 2, 2, 5, 6, 4, 8, 1]
    write_nmnist_tree(tmp_path / "nmnist" / "Train", samples, labels)
    order = _expected_nmnist_order(samples, labels)
    ref = _reference_frames([samples[i] for i in order], (34, 34, 2), FrameConfig(**dict({"dt": 10.0}, **transform)))
    for expect_cached in (False, True):
        ds = D.frames("nmnist", "train", root=tmp_path, **transform)
        assert ds.from_cache == expect_cached
        _assert_frames_equal_reference(ds, ref, [labels[i] for i in order])


def test_uint_for_picks_smallest_dtype():
    assert [cache.uint_for(v) for v in (0, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32)] == [
        np.uint8, np.uint8, np.uint16, np.uint16, np.uint32, np.uint32, np.uint64]


def _write_dense_v1(path, frames, lengths, labels):
    """A cache entry as format version 1 wrote it: dense ``(sum(lengths), F)`` frames, no version member."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, array in (("frames", frames), ("lengths", lengths), ("labels", labels)):
            with z.open(f"{name}.npy", "w") as f:
                np.lib.format.write_array(f, array, allow_pickle=False)


def test_cache_of_an_old_format_version_is_rebuilt(tmp_path, monkeypatch):
    samples, labels = _audio_file(tmp_path, n=8)
    ref = _reference_frames(samples, (700, 1, 1), FrameConfig(dt=10.0, pool=5))
    monkeypatch.setattr(cache, "VERSION", 1)
    old = D.frames("shd", "train", root=tmp_path)  # written by "version 1" (with this layout, version member 1)
    (old_path,) = (tmp_path / "cache" / "frames").glob("*.npz")
    monkeypatch.undo()
    new = D.frames("shd", "train", root=tmp_path)
    assert not old.from_cache and not new.from_cache  # the version is part of the file name
    (new_path,) = set((tmp_path / "cache" / "frames").glob("*.npz")) - {old_path}
    # an old entry under the current name is not misread either: a sparse file saying version 1 (different,
    # consistent frames: one event per sample), then a dense version-1 file of plausible but wrong frames
    lengths = np.asarray(new.lengths)
    one_event = cache.SparseFrames(cols=np.zeros(len(lengths), np.uint8), counts=np.ones(len(lengths), np.uint8),
                                   row_nnz=np.zeros(int(lengths.sum()), np.uint8), lengths=lengths,
                                   labels=np.asarray(labels))
    one_event.row_nnz[np.concatenate([[0], np.cumsum(lengths)[:-1]])] = 1
    assert one_event.valid(140)
    monkeypatch.setattr(cache, "VERSION", 1)
    cache.save(new_path, one_event)
    monkeypatch.undo()
    for write_old in (lambda: None, lambda: _write_dense_v1(new_path, np.ones((int(lengths.sum()), 140), np.uint8),
                                                            lengths, np.asarray(labels))):
        write_old()
        again = D.frames("shd", "train", root=tmp_path)
        assert not again.from_cache
        _assert_frames_equal_reference(again, ref, labels)
        with np.load(new_path, allow_pickle=False) as z:
            assert z["version"].tolist() == [cache.VERSION]
    assert D.frames("shd", "train", root=tmp_path).from_cache


@pytest.mark.parametrize("damage", ["truncated", "flipped byte", "cols out of range", "row_nnz sum",
                                    "labels length", "signed counts"])
def test_damaged_or_inconsistent_cache_is_rebuilt(tmp_path, damage):
    samples, labels = _audio_file(tmp_path, n=6)
    D.frames("shd", "train", root=tmp_path)
    (path,) = (tmp_path / "cache" / "frames").glob("*.npz")
    with np.load(path, allow_pickle=False) as z:
        good = cache.SparseFrames(*(z[k] for k in ("cols", "counts", "row_nnz", "lengths", "labels")))
    data = path.read_bytes()
    if damage == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "flipped byte":
        with zipfile.ZipFile(path) as z:
            start = z.getinfo("cols.npy").header_offset + 200  # inside cols' deflated data
        path.write_bytes(data[:start] + bytes([data[start] ^ 0xFF]) + data[start + 1:])
    else:
        bad = {"cols out of range": dict(cols=good.cols + 140),
               "row_nnz sum": dict(row_nnz=np.roll(good.row_nnz, 1) + (np.arange(len(good.row_nnz)) == 0)),
               "labels length": dict(labels=good.labels[:-1]),
               "signed counts": dict(counts=good.counts.astype(np.int16))}[damage]
        broken = cache.SparseFrames(**dict(vars(good), **bad))
        assert not broken.valid(140)
        cache.save(path, broken)
    again = D.frames("shd", "train", root=tmp_path)
    assert not again.from_cache
    _assert_frames_equal_reference(again, _reference_frames(samples, (700, 1, 1), FrameConfig(dt=10.0, pool=5)),
                                   labels)


def test_pad_collate_time_major_with_lengths():
    a = torch.ones(3, 2, 2)
    b = 2 * torch.ones(5, 2, 2)
    x, y, lengths = D.pad_collate([(a, 4), (b, 1)])
    assert x.shape == (5, 2, 2, 2) and y.tolist() == [4, 1] and lengths.tolist() == [3, 5]
    assert (x[:3, 0] == 1).all() and (x[3:, 0] == 0).all() and (x[:, 1] == 2).all()
    mask = torch.arange(5)[:, None] < lengths[None, :]
    assert mask.sum().item() == 8 and x[~mask].abs().sum() == 0
    with pytest.raises(ValueError):
        D.pad_collate([])


def test_frames_with_dataloader_and_flatten(tmp_path):
    samples = random_camera(6, seed=11)
    write_nmnist_tree(tmp_path / "nmnist" / "Test", samples, [0, 1, 2, 3, 4, 5])
    ds = D.frames("nmnist", "test", root=tmp_path, downsample=2, flatten=True, cache=False)
    assert ds.feature_shape == (578,)
    loader = torch.utils.data.DataLoader(ds, batch_size=4, collate_fn=D.pad_collate)
    x, y, lengths = next(iter(loader))
    assert x.shape == (int(lengths.max()), 4, 578) and y.tolist() == [0, 1, 2, 3]
    assert not (tmp_path / "cache").exists()
    for b in range(4):
        assert x[:, b].sum().item() == len(samples[b][2])  # every event lands in a bin (no time crop)


def test_registry_names_and_unknown():
    assert D.available() == ["shd", "ssc", "nmnist", "ndigits", "delay-patterns", "spike-adding", "digits-spikes"]
    with pytest.raises(ValueError, match="available"):
        D.load("mnist")
    with pytest.raises(ValueError, match="unknown transform"):
        D.frames("shd", "train", bogus=1)
