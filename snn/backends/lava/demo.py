"""The ``make demo`` step for Lava: export the trained demo model, run it on Lava fixed point on a subset, print the
agreement with the integer simulator and the torch backend."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def lava_step(run_dir: str | Path, n_samples: int = 16, batch: int = 16, seed: int = 0) -> dict:
    """Exports ``run_dir``'s model (netx + manifest), reads the export back, runs ``n_samples`` test samples on Lava
    ``fixed_pt`` and on the ``loihi`` integer simulator and torch; prints and returns the agreement figures."""
    from ...datasets import pad_collate
    from ...train.losses import predict
    from .. import get
    from . import intsim, netx, runtime
    from .backend import prepare
    from .quantize import QuantConfig
    from .cli import load_source
    from ...train.data import load_split

    t0 = time.perf_counter()
    src = load_source(run_dir)
    ds = load_split(src.data, "test")
    idx = np.random.default_rng(seed).permutation(len(ds))[:n_samples]
    net = prepare(src.graph, "fixed_pt", QuantConfig(netx=True))  # what lava-dl netx runs
    with tempfile.TemporaryDirectory() as d:
        back = netx.read(netx.export(net, Path(d) / "lava", source=str(run_dir)))
    ref = get("torch").build(src.graph)
    same = agree_torch = hits = total = 0
    for start in range(0, len(idx), batch):
        x, y, lengths = pad_collate([ds[int(i)] for i in idx[start:start + batch]])
        lava = torch.as_tensor(runtime.run(back, x.numpy()).output)
        sim = intsim.simulate(net, x).output
        same += int((lava == sim).reshape(*lava.shape[:2], -1).all(2).all(0).sum())
        pred = predict(lava.float() / net.out_scale, src.loss_kind, lengths)
        agree_torch += int((pred == predict(ref(x), src.loss_kind, lengths)).sum())
        hits += int((pred == y).sum())
        total += len(y)
    out = {"samples": total, "bit_exact_samples": same, "agreement_with_torch": agree_torch / total,
           "lava_accuracy": hits / total, "seconds": time.perf_counter() - t0}
    print(f"[lava] exported {len(net.layers)} layers to netx, ran {total} test samples on Lava fixed_pt: "
          f"{same}/{total} bit-exact with the loihi integer simulator, prediction agreement with torch "
          f"{100 * out['agreement_with_torch']:.1f}%, accuracy {100 * out['lava_accuracy']:.1f}% "
          f"({out['seconds']:.1f} s)")
    return out
