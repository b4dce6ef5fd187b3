"""``snn nalsm --config CONFIG``: the NALSM protocol (:mod:`snn.nalsm_protocol`), no backpropagation in the liquid."""

from __future__ import annotations

import json


def _cmd_nalsm(args) -> int:
    from .. import nalsm_protocol as P
    from ..train.config import apply_overrides, load

    cfg = P.config_from_dict(apply_overrides(load(args.config), args.set))
    out = args.out or f"runs/{cfg.name}"
    results = P.run(cfg, out, liquid_file=args.liquid, overwrite=args.overwrite, quiet=args.quiet)
    print(json.dumps(results, indent=2))
    print(f"run folder: {out}")
    return 0


def register(sub) -> None:
    p = sub.add_parser(
        "nalsm", help="NALSM: self-organise a liquid by astrocyte-regulated STDP, then train a linear readout",
        description="Runs the neuron-astrocyte liquid state machine protocol (Ivanov & Michmizos 2021): build a seeded "
                    "3-D LIF liquid; self-organise it by STDP on organise.samples training samples (plasticity "
                    "astro: the astrocyte sets the depression rate; stdp: unregulated; none: a plain LSM); freeze "
                    "it; measure the branching factor; train a linear readout on L1-normalised spike counts. Writes "
                    "the run folder OUT (default runs/<name>): nalsm_config.yaml, liquid.pt (the self-organised "
                    "weights, reloadable with --liquid), readout.pt and results.json (branching factor, spike rate, "
                    "train and test accuracy). Configs: snn/configs/ndigits_nalsm.yaml, snn/configs/nmnist_nalsm.yaml.")
    p.add_argument("--config", required=True, metavar="CONFIG", help="YAML config (see snn/configs/*_nalsm.yaml)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set organise.plasticity=stdp (repeatable)")
    p.add_argument("--out", default=None, metavar="OUT", help="run folder to write (default runs/<name>)")
    p.add_argument("--liquid", default=None, metavar="LIQUID_PT",
                   help="start from a saved liquid (a run's liquid.pt) and skip self-organisation")
    p.add_argument("--overwrite", action="store_true", help="replace an existing non-empty run folder")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_nalsm)
