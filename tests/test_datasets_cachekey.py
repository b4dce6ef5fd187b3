"""The frame cache is keyed on every file it read: a rewritten, moved or replaced file gives fresh frames, even when
its size and modification time are kept."""

import os
import shutil
import zipfile

import numpy as np
import pytest

import snn.datasets as D
from snn.datasets import cache
from snn.datasets.nmnist import encode_bin
from snn.datasets.testing import random_audio, random_camera, write_nmnist_tree, write_shd


def _camera_counts(sample):
    """Reference: events per (polarity, y, x) of one ``(x, y, t, p)`` sample (all fall in the frames at dt 10 ms)."""
    x, y, _, p = sample
    counts = np.zeros((2, 34, 34), np.int64)
    np.add.at(counts, (p, y, x), 1)
    return counts


def _audio_counts(units):
    """Reference: events per channel of one sample (all fall in the frames)."""
    return np.bincount(units, minlength=700)


def _keep_stat(path, before):
    """Restores the modification (and access) time of ``before`` on ``path`` and checks the size is unchanged."""
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = path.stat()
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)


def _changed(sample):
    """Same number of events (so the same file size), other pixels."""
    x, y, t, p = sample
    return 33 - x, 33 - y, t, 1 - p


def test_rewritten_bin_with_same_size_and_mtime_gives_fresh_frames(tmp_path):
    samples = random_camera(4, seed=1)
    write_nmnist_tree(tmp_path / "nmnist" / "Train", samples, [3, 3, 5, 7])
    first = D.frames("nmnist", "train", root=tmp_path)
    assert not first.from_cache and D.frames("nmnist", "train", root=tmp_path).from_cache
    target = tmp_path / "nmnist" / "Train" / "3" / "00001.bin"
    before = target.stat()
    new = _changed(samples[1])
    target.write_bytes(encode_bin(*new))
    _keep_stat(target, before)
    again = D.frames("nmnist", "train", root=tmp_path)
    assert not again.from_cache
    np.testing.assert_array_equal(again[1][0].sum(0).numpy(), _camera_counts(new))
    np.testing.assert_array_equal(again[0][0].sum(0).numpy(), _camera_counts(samples[0]))


def test_bin_moved_to_another_label_folder_gives_fresh_labels(tmp_path):
    samples = random_camera(4, seed=2)
    write_nmnist_tree(tmp_path / "nmnist" / "Train", samples, [3, 3, 5, 7])
    assert [y for _, y in D.frames("nmnist", "train", root=tmp_path)] == [3, 3, 5, 7]
    train = tmp_path / "nmnist" / "Train"
    os.rename(train / "3" / "00001.bin", train / "5" / "00001.bin")
    moved = D.frames("nmnist", "train", root=tmp_path)
    assert not moved.from_cache
    assert [y for _, y in moved] == [3, 5, 5, 7]  # ordered by label, then name: 3/00000, 5/00001, 5/00002, 7/00003
    np.testing.assert_array_equal(moved[1][0].sum(0).numpy(), _camera_counts(samples[1]))


def _stored_zip(path, samples, labels):
    """An N-MNIST zip with stored (uncompressed) members and fixed member dates: the same event counts give the same
    archive size whatever the events are."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        for i, (sample, label) in enumerate(zip(samples, labels)):
            z.writestr(zipfile.ZipInfo(f"Train/{label}/{i:05d}.bin", date_time=(2020, 1, 1, 0, 0, 0)),
                       encode_bin(*sample))


def test_zip_rewritten_with_same_size_and_mtime_gives_fresh_frames(tmp_path):
    samples = random_camera(3, seed=3)
    path = tmp_path / "nmnist" / "train.zip"
    path.parent.mkdir(parents=True)
    _stored_zip(path, samples, [1, 2, 4])
    assert not D.frames("nmnist", "train", root=tmp_path).from_cache
    before = path.stat()
    new = [samples[0], _changed(samples[1]), samples[2]]
    _stored_zip(path, new, [1, 2, 4])
    _keep_stat(path, before)
    again = D.frames("nmnist", "train", root=tmp_path)
    assert not again.from_cache
    for i in range(3):
        np.testing.assert_array_equal(again[i][0].sum(0).numpy(), _camera_counts(new[i]))


def _write_audio(path, samples, labels):
    return write_shd(path, [t / 1e6 for t, _ in samples], [u for _, u in samples], labels)


@pytest.mark.parametrize("ctime", ["kept", "not kept"])
def test_hdf5_replaced_by_a_copy_with_same_size_and_mtime_gives_fresh_frames(tmp_path, monkeypatch, ctime):
    if ctime == "not kept":  # a file system without a reliable status-change time: the content fingerprint decides
        monkeypatch.setattr(cache, "stat_key", lambda st: [st.st_size, st.st_mtime_ns])
    old = random_audio(5, seed=4)
    path = _write_audio(tmp_path / "shd" / "shd_train.h5", old, [0, 1, 2, 3, 4])
    assert not D.frames("shd", "train", root=tmp_path, pool=1).from_cache
    before = path.stat()
    # another recording with the same number of events per sample and the same labels: the same HDF5 layout and size
    new = [(np.sort(t // 2), (u + 1) % 700) for t, u in old]
    other = _write_audio(tmp_path / "other.h5", new, [0, 1, 2, 3, 4])
    assert other.stat().st_size == before.st_size
    shutil.copyfile(other, path)
    _keep_stat(path, before)
    again = D.frames("shd", "train", root=tmp_path, pool=1)
    assert not again.from_cache
    for i, (_, u) in enumerate(new):
        np.testing.assert_array_equal(again[i][0].sum(0).numpy(), _audio_counts(u))


def test_fingerprint_tells_same_size_contents_apart_and_ignores_copies(tmp_path):
    rng = np.random.default_rng(5)
    for size in (1000, 3 << 20):  # read whole; read in sampled blocks
        data = rng.integers(0, 256, size, dtype=np.uint8).tobytes()
        a, b, c = tmp_path / f"a{size}", tmp_path / f"b{size}", tmp_path / f"c{size}"
        a.write_bytes(data)
        shutil.copy2(a, c)
        b.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))  # the last byte is always in a sampled block
        assert cache.fingerprint(a) == cache.fingerprint(c) != cache.fingerprint(b)
