"""Bad input: truncated, corrupt or inconsistent files give errors naming the file, the sample and the rule."""

import zipfile
from fractions import Fraction

import h5py
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import snn.datasets as D
from snn.datasets import DatasetFormatError, nmnist
from snn.datasets.shd import HeidelbergFile
from snn.datasets.testing import random_audio, random_camera, write_nmnist_tree, write_nmnist_zip, write_shd


def _read_all(ds):
    return [ds[i] for i in range(len(ds))]


def _shd(path, times, units, labels):
    return write_shd(path, times, units, labels)


@pytest.mark.parametrize("times, units, rule", [
    ([np.array([0.1, -0.2])], [np.array([1, 2])], "finite and >= 0"),
    ([np.array([0.1, np.nan])], [np.array([1, 2])], "finite and >= 0"),
    ([np.array([0.1, 0.2])], [np.array([1, 700])], r"units must be in 0\.\.699"),
])
def test_bad_spikes_name_file_sample_and_spike(tmp_path, times, units, rule):
    good = [np.array([0.0]), np.array([0.5])]
    path = _shd(tmp_path / "bad.h5", good + times, [np.array([3]), np.array([4])] + units, [0, 1, 2])
    ds = HeidelbergFile(path)
    assert ds[0][1] == 0  # good samples still read
    with pytest.raises(DatasetFormatError, match=rf"bad\.h5: sample 2, spike 1: .*{rule}"):
        ds[2]


def test_times_units_length_mismatch(tmp_path):
    path = _shd(tmp_path / "m.h5", [np.array([0.1, 0.2])], [np.array([1])], [0])
    with pytest.raises(DatasetFormatError, match=r"m\.h5: sample 0: 2 times but 1 units"):
        HeidelbergFile(path)[0]


def test_label_out_of_range_and_count_mismatch(tmp_path):
    path = _shd(tmp_path / "l.h5", [np.array([0.1])], [np.array([1])], [20])
    with pytest.raises(DatasetFormatError, match=r"l\.h5: sample 0: label 20 outside 0\.\.19"):
        HeidelbergFile(path)
    with h5py.File(tmp_path / "c.h5", "w") as f:
        f.create_dataset("spikes/times", (2,), dtype=h5py.vlen_dtype(np.float32))
        f.create_dataset("spikes/units", (2,), dtype=h5py.vlen_dtype(np.uint16))
        f["labels"] = np.zeros(3, np.uint8)
    with pytest.raises(DatasetFormatError, match=r"c\.h5: spikes/times has 2 samples.*labels 3"):
        HeidelbergFile(tmp_path / "c.h5")


def test_wrong_keys(tmp_path):
    with h5py.File(tmp_path / "k.h5", "w") as f:
        f["times"] = np.zeros(3)
        f["labels"] = np.zeros(3)
    with pytest.raises(DatasetFormatError, match=r"k\.h5: missing HDF5 keys \['spikes/times', 'spikes/units'\]"):
        HeidelbergFile(tmp_path / "k.h5")


def test_truncated_and_garbage_hdf5(tmp_path):
    samples = random_audio(40, seed=13, mean_events=2000)
    path = _shd(tmp_path / "t.h5", [t / 1e6 for t, _ in samples], [u for _, u in samples], [0] * 40)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DatasetFormatError, match=r"t\.h5"):
        _read_all(HeidelbergFile(path))
    (tmp_path / "g.h5").write_bytes(b"\x89HDF garbage" * 100)
    with pytest.raises(DatasetFormatError, match=r"g\.h5: not a readable HDF5 file"):
        HeidelbergFile(tmp_path / "g.h5")


def test_empty_shd_sample_gives_one_zero_frame(tmp_path):
    write_shd(tmp_path / "shd" / "shd_train.h5", [np.zeros(0), np.array([0.015])], [np.zeros(0), np.array([9])],
              [5, 6])
    ds = D.frames("shd", "train", root=tmp_path, pool=1, cache=False)
    x0, y0 = ds[0]
    assert y0 == 5 and x0.shape == (1, 700) and x0.sum() == 0
    x1, _ = ds[1]
    assert x1.shape == (2, 700) and x1[1, 9] == 1 and x1.sum() == 1


def test_truncated_and_off_sensor_bin(tmp_path):
    folder = write_nmnist_tree(tmp_path / "Train", random_camera(3, seed=14), [0, 1, 2])
    f = folder / "1" / "00001.bin"
    f.write_bytes(f.read_bytes()[:-2])
    ds = nmnist.NMNISTFiles(folder)
    ds[0]
    with pytest.raises(DatasetFormatError, match=r"1/00001\.bin: \d+ bytes is not a multiple of 5"):
        ds[1]
    g = folder / "2" / "00002.bin"
    g.write_bytes(g.read_bytes()[:10] + bytes([34, 0, 0, 0, 9]))
    with pytest.raises(DatasetFormatError, match=r"2/00002\.bin: event 2: \(x=34, y=0\) is off the 34 x 34 sensor"):
        ds[2]


def test_corrupt_zip_and_corrupt_member(tmp_path):
    (tmp_path / "bad.zip").write_bytes(b"PK\x03\x04 not really a zip" * 10)
    with pytest.raises(DatasetFormatError, match=r"bad\.zip"):
        nmnist.NMNISTFiles(tmp_path / "bad.zip")
    samples = [(np.zeros(50, int), np.zeros(50, int), np.arange(50), np.zeros(50, int))]
    path = write_nmnist_zip(tmp_path / "train.zip", "train", samples, [3])
    with zipfile.ZipFile(path) as z:
        info = z.getinfo("Train/3/00000.bin")
        start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    data = bytearray(path.read_bytes())
    data[start + 3] ^= 0xFF
    path.write_bytes(bytes(data))
    ds = nmnist.NMNISTFiles(path)
    with pytest.raises(DatasetFormatError, match=r"train\.zip: member Train/3/00000\.bin: cannot read"):
        ds[0]


def test_empty_tree_is_an_error(tmp_path):
    (tmp_path / "Train" / "0").mkdir(parents=True)
    with pytest.raises(DatasetFormatError, match="no <digit>/<name>.bin files"):
        nmnist.NMNISTFiles(tmp_path / "Train")


def test_index_out_of_range(tmp_path):
    folder = write_nmnist_tree(tmp_path / "Train", random_camera(2, seed=15), [0, 1])
    ds = nmnist.NMNISTFiles(folder)
    assert ds[-1][1] == 1
    with pytest.raises(IndexError, match="out of range for 2 samples"):
        ds[2]


# ---------- HDF5 layouts that are not SHD's: clear errors, never numpy tracebacks ----------

def test_file_with_zero_samples_is_an_error(tmp_path):
    path = write_shd(tmp_path / "shd" / "shd_train.h5", [], [], [])
    with pytest.raises(DatasetFormatError, match=r"shd_train\.h5: labels, spikes/times, spikes/units hold 0 samples; "
                                                 r"expected at least one"):
        D.frames("shd", "train", root=tmp_path)


def _flatten(path, key):
    """Rewrites ``key`` of an SHD file as one flat array of every sample's values (not ragged)."""
    with h5py.File(path, "a") as f:
        flat = np.concatenate(list(f[key][()]))
        del f[key]
        f[key] = flat


@pytest.mark.parametrize("key, kind", [("spikes/times", "float"), ("spikes/units", "int")])
def test_flat_times_or_units_are_an_error(tmp_path, key, kind):
    # one spike per sample, so the flat array even has one entry per sample
    path = _shd(tmp_path / "flat.h5", [np.array([0.1]), np.array([0.2]), np.array([0.3])],
                [np.array([4]), np.array([5]), np.array([6])], [0, 1, 2])
    _flatten(path, key)
    with pytest.raises(DatasetFormatError, match=rf"flat\.h5: {key}: expected a ragged .*one entry per sample, of {kind}.*"
                                                 rf"found a flat \w+ array of shape \(\d+,\)"):
        D.FrameDataset(HeidelbergFile(path), D.FrameConfig(dt=10.0))


def test_ragged_text_times_are_an_error(tmp_path):
    path = _shd(tmp_path / "text.h5", [np.array([0.1])], [np.array([4])], [0])
    with h5py.File(path, "a") as f:
        del f["spikes/times"]
        f.create_dataset("spikes/times", data=np.array(["0.1"], dtype=object), dtype=h5py.string_dtype())
    with pytest.raises(DatasetFormatError, match=r"text\.h5: spikes/times: expected a ragged .* of float seconds; "
                                                 r"found a ragged"):
        HeidelbergFile(path)


@pytest.mark.parametrize("labels, found", [(np.array([0.0, 1.5]), "float64"),
                                           (np.zeros((2, 1), np.uint16), r"shape \(2, 1\)")])
def test_labels_must_be_one_integer_per_sample(tmp_path, labels, found):
    path = _shd(tmp_path / "lab.h5", [np.array([0.1]), np.array([0.2])], [np.array([1]), np.array([2])], [0, 1])
    with h5py.File(path, "a") as f:
        del f["labels"]
        f["labels"] = labels
    with pytest.raises(DatasetFormatError, match=rf"lab\.h5: labels: expected one integer per sample.*found.*{found}"):
        HeidelbergFile(path)


@pytest.mark.parametrize("time", [1e14, 5e9])
def test_time_too_large_for_microseconds_is_an_error(tmp_path, time):
    path = _shd(tmp_path / "big.h5", [np.array([0.1, time])], [np.array([1, 2])], [0])
    with pytest.raises(DatasetFormatError, match=r"big\.h5: sample 0, spike 1: time .* s, unit 2: times must be .* "
                                                 r"below 2\*\*52 us"):
        HeidelbergFile(path)[0]


def test_times_round_once_to_the_nearest_microsecond(tmp_path):
    """float64 seconds -> integer us is the exact product rounded once (ties to even): computed here with fractions."""
    halves = np.array([(k + 0.5) / 1e6 for k in [*range(0, 5000, 7), *range(10 ** 6, 10 ** 6 + 50)]])
    times = np.sort(np.concatenate([np.nextafter(halves, 0), halves, np.nextafter(halves, 1),
                                    [0.0000024999999, 2.5e-6, 3.5e-6, 1 / 128, 3 / 128, 5e-7]]))
    exact = [round(Fraction(float(t)) * 10 ** 6) for t in times]
    assert (np.rint(times * 1e6).astype(np.int64) != exact).sum() > 10  # the test hits the double-rounding cases
    path = _shd(tmp_path / "round.h5", [times], [np.zeros(len(times), np.uint16)], [0])
    np.testing.assert_array_equal(HeidelbergFile(path)[0][0]["t"], exact)


# ---------- fuzzing the .bin parser ----------

@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_parse_bin_on_arbitrary_bytes(data):
    try:
        x, y, t, p = nmnist.parse_bin(data, "fuzz.bin")
    except DatasetFormatError as e:
        assert "fuzz.bin" in str(e)
        return
    raw = np.frombuffer(data, np.uint8).reshape(-1, 5)
    assert len(x) == len(y) == len(t) == len(p) == int((raw[:, 1] != 240).sum())
    assert ((x < 34) & (y < 34)).all() and set(np.unique(p)) <= {0, 1}
    assert (np.diff(t) >= 0).all() and (t >= 0).all()


_event = st.tuples(st.integers(0, 33), st.integers(0, 33), st.integers(0, 2 ** 23 - 1), st.integers(0, 1))


@settings(max_examples=200, deadline=None)
@given(st.lists(_event, max_size=60))
def test_encode_parse_roundtrip(events):
    x, y, t, p = (np.array(c, dtype=np.int64).reshape(-1) for c in zip(*events)) if events else [np.zeros(0, int)] * 4
    got = nmnist.parse_bin(nmnist.encode_bin(x, y, t, p))
    order = sorted(range(len(events)), key=lambda i: events[i][2])  # stable sort by time
    for k in range(4):
        np.testing.assert_array_equal(got[k], [events[i][(0, 1, 2, 3)[k]] for i in order])
