"""The downloader against a local HTTP server on 127.0.0.1: fresh download, resume, checksum mismatch, mirrors."""

import argparse
import hashlib
import http.server
import io
import socket
import tempfile
import threading
import zipfile

import numpy as np
import pytest

import snn.datasets as D
from snn.cli import main
from snn.datasets import shd
from snn.datasets.cli import register
from snn.datasets.download import ChecksumError, DownloadError, Resource, download, ensure
from snn.datasets.testing import random_audio, write_shd


class _Server:
    """Serves ``files`` (path -> bytes) on 127.0.0.1; honours ``Range: bytes=N-`` unless ``ranges`` is False."""

    def __init__(self, files, ranges=True):
        self.files, self.ranges, self.log = files, ranges, []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                body = outer.files.get(self.path)
                rng = self.headers.get("Range")
                outer.log.append((self.path, rng))
                if body is None:
                    self.send_error(404)
                    return
                start = int(rng[len("bytes="):-1]) if rng and outer.ranges else 0
                if start >= len(body) and rng:
                    self.send_error(416)
                    return
                self.send_response(206 if start else 200)
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                self.wfile.write(body[start:])

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def _closed_port_url():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/x"


PAYLOAD = bytes(np.random.default_rng(0).integers(0, 256, 300_000, dtype=np.uint8))
MD5 = hashlib.md5(PAYLOAD).hexdigest()


def test_fresh_download_verifies_and_leaves_no_part(tmp_path):
    with _Server({"/a.bin": PAYLOAD}) as srv:
        res = Resource("a.bin", MD5, (srv.url + "/a.bin",))
        path = download(res, tmp_path, progress=False)
        assert path.read_bytes() == PAYLOAD and not (tmp_path / "a.bin.part").exists()
        download(res, tmp_path, progress=False)  # valid file present: no second request
        assert len(srv.log) == 1


def test_resume_requests_only_the_rest(tmp_path):
    (tmp_path / "a.bin.part").write_bytes(PAYLOAD[:123_456])
    with _Server({"/a.bin": PAYLOAD}) as srv:
        path = download(Resource("a.bin", MD5, (srv.url + "/a.bin",)), tmp_path, progress=False)
    assert srv.log == [("/a.bin", "bytes=123456-")]
    assert path.read_bytes() == PAYLOAD


def test_server_ignoring_range_restarts_cleanly(tmp_path):
    (tmp_path / "a.bin.part").write_bytes(b"stale bytes")
    with _Server({"/a.bin": PAYLOAD}, ranges=False) as srv:
        path = download(Resource("a.bin", MD5, (srv.url + "/a.bin",)), tmp_path, progress=False)
    assert path.read_bytes() == PAYLOAD


def test_complete_part_file_is_finished_without_body(tmp_path):
    (tmp_path / "a.bin.part").write_bytes(PAYLOAD)
    with _Server({"/a.bin": PAYLOAD}) as srv:
        path = download(Resource("a.bin", MD5, (srv.url + "/a.bin",)), tmp_path, progress=False)
    assert path.read_bytes() == PAYLOAD and srv.log == [("/a.bin", f"bytes={len(PAYLOAD)}-")]


def test_checksum_mismatch_keeps_nothing_that_looks_complete(tmp_path):
    corrupt = PAYLOAD[:-1] + bytes([PAYLOAD[-1] ^ 1])
    with _Server({"/a.bin": corrupt}) as srv:
        with pytest.raises(ChecksumError, match=MD5):
            download(Resource("a.bin", MD5, (srv.url + "/a.bin",)), tmp_path, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_mirrors_in_order_and_all_failing(tmp_path):
    dead = _closed_port_url()
    with _Server({"/a.bin": PAYLOAD}) as srv:
        path = download(Resource("a.bin", MD5, (dead, srv.url + "/missing", srv.url + "/a.bin")), tmp_path,
                        progress=False)
        assert path.read_bytes() == PAYLOAD
        with pytest.raises(DownloadError) as err:
            download(Resource("b.bin", MD5, (dead, srv.url + "/missing")), tmp_path, progress=False)
    msg = str(err.value)
    assert dead in msg and "404" in msg and "b.bin" in msg


def _shd_zip():
    samples = random_audio(6, seed=12)
    buf = io.BytesIO()
    with tempfile.TemporaryDirectory() as d:
        h5 = write_shd(f"{d}/shd_train.h5", [t / 1e6 for t, _ in samples], [u for _, u in samples], [0, 1, 2, 3, 4, 5])
        with zipfile.ZipFile(buf, "w") as z:
            z.write(h5, "shd_train.h5")
    return samples, buf.getvalue()


def test_shd_download_unpack_and_load(tmp_path, monkeypatch):
    samples, archive = _shd_zip()
    with _Server({"/datasets/shd_train.h5.zip": archive}) as srv:
        monkeypatch.setattr(shd, "_BASE", srv.url + "/datasets/")
        monkeypatch.setitem(shd._MD5, ("shd", "train"), hashlib.md5(archive).hexdigest())
        with pytest.raises(D.DatasetNotFoundError) as err:
            D.load("shd", "train", root=tmp_path)
        msg = str(err.value)
        assert str(tmp_path / "shd" / "shd_train.h5") in msg and "shd_train.h5.zip" in msg and "SNN_DATA" in msg
        ds = D.load("shd", "train", root=tmp_path, download=True)
        assert [ds[i][1] for i in range(6)] == [0, 1, 2, 3, 4, 5]
        np.testing.assert_array_equal(ds[4][0]["x"], samples[4][1])
        D.load("shd", "train", root=tmp_path, download=True)
        assert len(srv.log) == 1  # present files are never fetched again


def test_ensure_without_files_names_them(tmp_path):
    res = Resource("x.zip", "0" * 32, ("https://example.invalid/x.zip",), (("x.h5", "x.h5"),))
    with pytest.raises(FileNotFoundError, match="x.h5.*https://example.invalid/x.zip"):
        ensure(res, tmp_path / "x", download_missing=False, what="X", root=tmp_path)


def test_missing_dataset_tells_every_way_to_set_the_root(tmp_path, capsys):
    with pytest.raises(D.DatasetNotFoundError) as err:
        D.load("shd", "test", root=tmp_path)
    for way in ("root=...", "--set data.root=DIR", "--root DIR", "$SNN_DATA"):
        assert way in str(err.value)
    # the option it names is the one snn train takes: the error names the files under the root it was given
    out = tmp_path / "runs"
    assert main(["train", "--dataset", "shd", "--model", "lif", "--out", str(out), "--set",
                 f"data.root={tmp_path / 'data'}"]) != 0
    assert str(tmp_path / "data" / "shd" / "shd_train.h5") in capsys.readouterr().err


def test_nmnist_missing_error_says_where(tmp_path):
    with pytest.raises(D.DatasetNotFoundError, match=r"nmnist.*test\.zip.*Test"):
        D.load("nmnist", "test", root=tmp_path)


def test_cli_prepare_fails_cleanly_without_network(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(shd, "_BASE", _closed_port_url() + "/")
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["datasets", "prepare", "shd", "--root", str(tmp_path)])
    assert args.func(args) == 1
    assert "shd_train.h5.zip" in capsys.readouterr().err
