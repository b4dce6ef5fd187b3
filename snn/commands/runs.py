"""``snn runs [DIR]``: the runs of a folder as a table or JSON (:mod:`snn.train.runs`)."""

from __future__ import annotations



def _cmd_runs(args) -> int:
    from ..train import runs

    found = runs.scan(args.folder, args.sort)
    if args.json:
        print(runs.as_json(found))
    elif not found:
        print(f"no runs in {args.folder} (a run is a folder with config.yaml, made by snn train)")
    else:
        print(runs.table(found))
    return 0


def register(sub) -> None:
    from ..train.runs import SORT_KEYS

    p = sub.add_parser("runs", help="list the runs of a folder: dataset, model, size, epochs, accuracies, state",
                       description="List the training runs under DIR (default runs): name, dataset, model, "
                                   "parameters, epochs done/planned, best validation and test accuracy (%%), start "
                                   "date, and state (running: its lock is held; finished: tested after its last "
                                   "epoch; interrupted: resumable with snn train --resume RUN).")
    p.add_argument("folder", nargs="?", default="runs", metavar="DIR", help="folder of run folders (default runs)")
    p.add_argument("--sort", default="date", choices=list(SORT_KEYS),
                   help="sort key (default date; accuracies, sizes, epochs and dates list the largest first)")
    p.add_argument("--json", action="store_true", help="print a JSON list (accuracies as fractions 0..1)")
    p.set_defaults(func=_cmd_runs)
