"""N-MNIST folder layout: label folders are exactly ``0``..``9`` in trees and zips alike; a folder named by another
number is an error; everything else (macOS metadata, hidden files, other files and folders) is skipped with one
warning that counts and names it."""

import zipfile

import numpy as np
import pytest

from snn.datasets import DatasetFormatError, DatasetWarning
from snn.datasets.nmnist import NMNISTFiles, encode_bin
from snn.datasets.testing import random_camera, write_nmnist_tree, write_nmnist_zip

APPLEDOUBLE = b"\x00\x05\x16\x07\x00\x02\x00\x00" + bytes(74)  # the head of a macOS "._" resource-fork file


def _write(tmp_path, form, samples, labels, extra):
    """The split ``Train`` as a tree or a zip, plus ``extra`` {relative path: bytes} under the split folder (paths
    starting with ``../`` go beside it, i.e. at the top of the zip)."""
    if form == "tree":
        location = write_nmnist_tree(tmp_path / "Train", samples, labels)
        for rel, data in extra.items():
            (location / rel).parent.mkdir(parents=True, exist_ok=True)
            (location / rel).write_bytes(data)
        return location
    location = write_nmnist_zip(tmp_path / "train.zip", "train", samples, labels)
    with zipfile.ZipFile(location, "a") as z:
        for rel, data in extra.items():
            z.writestr(rel[3:] if rel.startswith("../") else f"Train/{rel}", data)
    return location


@pytest.mark.parametrize("form", ["tree", "zip"])
def test_metadata_and_stray_files_are_skipped_with_one_counted_warning(tmp_path, form):
    samples = random_camera(3, seed=1)
    extra = {"3/._00000.bin": APPLEDOUBLE, ".DS_Store": b"\x00\x00\x00\x01Bud1", "3/notes.txt": b"hello",
             "00009.bin": encode_bin(*samples[0]), "extra/4/00010.bin": encode_bin(*samples[1])}
    if form == "zip":
        extra["../__MACOSX/Train/3/._00000.bin"] = APPLEDOUBLE
    location = _write(tmp_path, form, samples, [3, 4, 8], extra)
    with pytest.warns(DatasetWarning) as record:
        ds = NMNISTFiles(location, "train")
    assert len(record) == 1
    message = str(record[0].message)
    assert f"skipped {len(extra)} entries" in message and str(location) in message
    for name in ("3/._00000.bin", ".DS_Store", "3/notes.txt", "00009.bin", "extra"):  # each entry is named
        assert name in message
    assert form == "tree" or "__MACOSX/Train/3/._00000.bin" in message
    assert len(ds) == 3 and [ds[i][1] for i in range(3)] == [3, 4, 8]
    for i in range(3):
        np.testing.assert_array_equal(ds[i][0]["t"], samples[i][2])


@pytest.mark.parametrize("form", ["tree", "zip"])
@pytest.mark.parametrize("folder", ["10", "03", "\u0663"])  # ten, a zero-padded three, an Arabic-Indic three
def test_label_folder_outside_0_to_9_is_an_error(tmp_path, form, folder):
    samples = random_camera(2, seed=2)
    location = _write(tmp_path, form, samples, [1, 2], {f"{folder}/00007.bin": encode_bin(*samples[0])})
    with pytest.raises(DatasetFormatError, match=rf"{folder}.*label folders are exactly 0, 1, \.\.\., 9"):
        NMNISTFiles(location, "train")


@pytest.mark.parametrize("form", ["tree", "zip"])
def test_clean_layout_gives_no_warning(tmp_path, form, recwarn):
    samples = random_camera(2, seed=3)
    location = _write(tmp_path, form, samples, [0, 9], {})
    assert [y for _, y in NMNISTFiles(location, "train")] == [0, 9]
    assert not [w for w in recwarn if issubclass(w.category, DatasetWarning)]


def test_zip_with_two_copies_of_the_split_is_an_error(tmp_path):
    samples = random_camera(1, seed=4)
    path = write_nmnist_zip(tmp_path / "train.zip", "train", samples, [1])
    with zipfile.ZipFile(path, "a") as z:
        z.writestr("copy/Train/1/00000.bin", encode_bin(*samples[0]))
    with pytest.raises(DatasetFormatError, match=r"train\.zip.*2 Train folders.*copy/Train"):
        NMNISTFiles(path, "train")
