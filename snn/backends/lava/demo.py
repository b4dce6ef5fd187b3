"""The ``make demo`` step for Lava: export the trained demo model into its run folder, run the export on Lava fixed
point on a subset, measure the agreement with the integer simulator and the torch backend."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch


EXPORT_DIR = "lava"  # the export's folder inside the run folder


def lava_step(run_dir: str | Path, n_samples: int = 16, batch: int = 16, seed: int = 0) -> dict:
    """Exports ``run_dir``'s model to ``run_dir/lava/`` (netx + manifest), reads the export back, runs ``n_samples``
    test samples on Lava ``fixed_pt``, on the ``loihi`` integer simulator and on torch; returns the agreement figures
    (``samples``, ``bit_exact_samples``, ``agreement_with_torch``, ``lava_accuracy``, ``layers``, ``export_dir``,
    ``seconds``)."""
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
    export_dir = netx.export(net, Path(run_dir) / EXPORT_DIR, source=str(run_dir))
    back = netx.read(export_dir)
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
    return {"samples": total, "bit_exact_samples": same, "agreement_with_torch": agree_torch / total,
            "lava_accuracy": hits / total, "layers": len(net.layers), "export_dir": export_dir,
            "seconds": time.perf_counter() - t0}
