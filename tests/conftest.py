"""Fixtures shared by several test files."""

import fcntl
import os

import pytest


@pytest.fixture(scope="session")
def ndigits_root(tmp_path_factory):
    """A data root holding the built ndigits dataset, one per test session and shared by xdist workers (the lock
    makes the first worker build it; test_datasets_generated's ``data_root`` uses the same folder and lock)."""
    from snn.datasets import ndigits

    base = tmp_path_factory.getbasetemp()
    root = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "datasets-root"
    root.mkdir(exist_ok=True)
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        ndigits.prepare(root)
        fcntl.flock(lock, fcntl.LOCK_UN)
    return root
