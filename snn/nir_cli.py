"""``snn export --target nir MODEL --out FILE``: a saved model (IR file, checkpoint or run folder) as a NIR file.

The ``export`` parser lives in :mod:`snn.backends.lava.cli` (the Lava target came first); it hands ``--target nir`` to
:func:`export_command`, which refuses the Lava-only options rather than ignoring them.
"""

from __future__ import annotations

import argparse
from pathlib import Path

# Lava-only options of ``snn export`` and their defaults: given to the nir target, they are refused.
_LAVA_ONLY = {"vth_bits": 12, "spikeforge_extensions": False, "lossy": False}
# NIR-only options and their defaults: given to the lava target, they are refused.
NIR_ONLY = {"nir_dt": None, "nir_gain": "r"}


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The NIR-only options of ``snn export``."""
    p.add_argument("--nir-dt", type=float, default=None,
                   help="nir target: seconds one model step stands for in the file (default: the model's dt; 1e-4 "
                        "for snnTorch 1.0.0's importer)")
    p.add_argument("--nir-gain", choices=["r", "threshold"], default="r",
                   help="nir target: LIF input gain as r = tau/dt (snnTorch) or in the threshold with r = 1 (Norse)")


def refuse(args, options: dict, target: str) -> None:
    """Raises naming the command-line flags in ``options`` that ``args`` sets away from their defaults."""
    given = [f"--{k.replace('_', '-')}" for k, default in options.items() if getattr(args, k, default) != default]
    if given:
        raise ValueError(f"snn export: {', '.join(given)} do(es) not apply to --target {target}")


def export_command(args) -> int:
    from .backends.lava.cli import load_source
    from .nir_io import export_nir

    refuse(args, _LAVA_ONLY, "nir")
    out = Path(args.out)
    if out.is_dir():
        raise ValueError(f"snn export: --out {out} is a directory; the nir target writes one file")
    if out.exists() and not args.overwrite:
        raise ValueError(f"snn export: --out {out} exists; pass --overwrite to replace it")
    graph = load_source(args.model).graph
    g = export_nir(graph, out, dt=args.nir_dt, gain=args.nir_gain)
    print(f"exported {len(graph.nodes)} layers ({', '.join(graph.nodes)}) as {len(g.nodes)} NIR nodes to {out} "
          f"(dt = {g.metadata['dt']:g} s per step, forward Euler; see docs/nir.md for what each peer reads)")
    return 0
