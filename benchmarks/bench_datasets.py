"""Frame-loading throughput on an SHD-format file: spikeforge (first epoch, cached epoch) vs tonic's SHD + ToFrame.

Writes a synthetic file of SHD's real size (8156 samples, ~10k events each, 700 channels, up to 1.4 s) with
``snn.datasets.testing.write_shd``, then times one pass over every sample as 10 ms count frames over all 700 channels:

- spikeforge first epoch: ``snn.datasets.frames`` bins the split (vectorised) and writes its cache, then the pass;
- spikeforge cached epoch: a new ``frames`` call reads the cache (no HDF5), then the pass;
- tonic: ``tonic.datasets.SHD(transform=ToFrame(time_window=10 ms))``, a pass over ``--tonic-samples`` samples
  (it opens the HDF5 file and bins per sample, so its rate does not depend on how many are timed).

Run: ``python benchmarks/bench_datasets.py`` (the table goes to docs/benchmarks.md, section "Datasets").
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np
from _report import DOC, machine, write_section

import snn.datasets as D
from snn.datasets.testing import write_shd


def make_file(path: Path, samples: int, events: int, seed: int = 0) -> int:
    rng = np.random.default_rng(seed)
    times, units = [], []
    for _ in range(samples):
        k = int(rng.normal(events, events / 5)) if events else 0
        k = max(k, 0)
        times.append(np.sort(rng.uniform(0, rng.uniform(0.6, 1.4), k)).astype(np.float32))
        units.append(rng.integers(0, 700, k).astype(np.uint16))
    write_shd(path, times, units, rng.integers(0, 20, samples), time_dtype=np.float32,
              keys=[f"class-{k}" for k in range(20)])  # tonic reads extra/keys
    return sum(len(t) for t in times)


def epoch(ds, limit=None) -> tuple[float, int]:
    n = len(ds) if limit is None else min(limit, len(ds))
    start = time.perf_counter()
    total = 0
    for i in range(n):
        x, _ = ds[i]
        total += x.shape[0]
    return time.perf_counter() - start, total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=8156)
    ap.add_argument("--events", type=int, default=10_000)
    ap.add_argument("--tonic-samples", type=int, default=500)
    ap.add_argument("--no-doc", action="store_true", help="print the table only")
    args = ap.parse_args()
    try:
        import tonic
    except ImportError:
        tonic = None
    info = (f"{machine()}; numpy {np.__version__}, h5py {h5py.__version__}, "
            f"tonic {tonic.__version__ if tonic else 'not installed'}; load average {os.getloadavg()[0]:.1f} "
            f"at the start")
    with tempfile.TemporaryDirectory() as work:
        root = Path(work)
        h5 = root / "shd" / "shd_train.h5"
        t0 = time.perf_counter()
        n_events = make_file(h5, args.samples, args.events)
        print(f"wrote {h5} ({h5.stat().st_size / 1e6:.0f} MB, {n_events} events) in {time.perf_counter() - t0:.0f} s")
        rows = []

        t0 = time.perf_counter()
        ds = D.frames("shd", "train", root=root, pool=1, dt=10.0)
        build = time.perf_counter() - t0
        pass_s, _ = epoch(ds)
        rows.append(("spikeforge, first epoch (bin + write cache + pass)", build + pass_s, len(ds)))
        cache_mb = sum(p.stat().st_size for p in (root / "cache").rglob("*.npz")) / 1e6

        t0 = time.perf_counter()
        ds = D.frames("shd", "train", root=root, pool=1, dt=10.0)
        load_s = time.perf_counter() - t0
        assert ds.from_cache
        pass_s, _ = epoch(ds)
        rows.append(("spikeforge, cached epoch (read cache + pass)", load_s + pass_s, len(ds)))
        pass_s, _ = epoch(ds)
        rows.append(("spikeforge, later epoch (in memory)", pass_s, len(ds)))

        if tonic is not None:
            tdir = root / "tonic"
            (tdir / "SHD").mkdir(parents=True)
            os.link(h5, tdir / "SHD" / "shd_train.h5")
            (tdir / "SHD" / "shd_train.h5.zip").write_bytes(b"")  # tonic checks the archive is present
            tds = tonic.datasets.SHD(str(tdir), train=True,
                                     transform=tonic.transforms.ToFrame(sensor_size=(700, 1, 1), time_window=10_000))
            n = min(args.tonic_samples, len(tds))
            seconds, _ = epoch(tds, n)
            rows.append((f"tonic SHD + ToFrame (timed on {n} samples)", seconds, n))
    base = rows[-1][2] / rows[-1][1] if tonic is not None else None
    lines = [f"SHD-format file written by `benchmarks/bench_datasets.py`: {args.samples} samples, "
             f"{n_events / args.samples:.0f} events per sample on average ({n_events} in all), 700 channels; "
             f"every sample binned to 10 ms count frames over all 700 channels (float32 tensors). "
             f"Frame cache on disk (sparse, deflated): {cache_mb:.0f} MB; reading it back took {load_s:.2f} s of the "
             f"cached epoch.", "",
             f"Machine: {info}. The machine is shared: compare rows of one run only.", "",
             "| path | seconds | samples | samples/s | vs tonic |", "|---|---:|---:|---:|---:|"]
    for name, seconds, n in rows:
        rate = n / seconds
        lines.append(f"| {name} | {seconds:.2f} | {n} | {rate:,.0f} | {rate / base:.1f}x |" if base else
                     f"| {name} | {seconds:.2f} | {n} | {rate:,.0f} | - |")
    if base:
        ratio = rows[1][2] / rows[1][1] / base
        lines += ["", f"Issue target (cached epoch >= 10x tonic's samples/s): {'met' if ratio >= 10 else 'not met'} "
                      f"in this run ({ratio:.1f}x)."]
    lines += ["", "Frames stay sparse in memory too: every `ds[i]` expands one sample's nonzero cells into a dense "
                  "float32 tensor, which is all the later-epoch row measures."]
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.no_doc:
        write_section("Datasets", text)
        print(f"-> {DOC}")


if __name__ == "__main__":
    main()
