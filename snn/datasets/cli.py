"""``snn datasets list | info NAME | prepare NAME [--root DIR]``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .download import DownloadError, default_root
from .events import DatasetFormatError
from .registry import available, frames, spec


def register(subparsers) -> argparse.ArgumentParser:
    """Adds the ``datasets`` command to an argparse ``subparsers`` object; ``args.func(args)`` runs it -> exit code."""
    parser = subparsers.add_parser("datasets", help="list, describe and prepare datasets")
    commands = parser.add_subparsers(dest="datasets_command", required=True)
    commands.add_parser("list", help="names of the datasets").set_defaults(func=_list)
    info = commands.add_parser("info", help="what a dataset is, its splits, files and frame defaults")
    info.add_argument("name", choices=available())
    info.add_argument("--root", type=Path, default=None, help="data folder (default $SNN_DATA or ~/.cache/spikeforge)")
    info.set_defaults(func=_info)
    prep = commands.add_parser("prepare", help="download or build a dataset and cache its default frames")
    prep.add_argument("name", choices=available())
    prep.add_argument("--root", type=Path, default=None, help="data folder (default $SNN_DATA or ~/.cache/spikeforge)")
    prep.set_defaults(func=_prepare)
    return parser


def _list(args) -> int:
    for name in available():
        print(f"{name:15s} {spec(name).description}")
    return 0


def _info(args) -> int:
    s = spec(args.name)
    root = args.root or default_root()
    print(f"{s.name}: {s.description}")
    print(f"splits: {', '.join(s.splits)}")
    print(f"root: {root}")
    print("files: " + ("built offline on first use" if s.generated else
                       f"{s.files} under the root (download=True or `snn datasets prepare` fetches them)"))
    print("frame defaults: " + ", ".join(f"{k}={v}" for k, v in s.frame_defaults.items()))
    return 0


def _prepare(args) -> int:
    s = spec(args.name)
    try:
        for split in s.splits:
            ds = frames(args.name, split, root=args.root, download=True, progress=True)
            print(f"{args.name} {split}: {len(ds)} samples, frames {tuple(ds.feature_shape)} at dt={ds.dt} ms, "
                  f"{int(ds.lengths.min())}..{int(ds.lengths.max())} steps")
    except (DownloadError, FileNotFoundError, DatasetFormatError) as e:
        print(f"snn datasets prepare {args.name}: {e}", file=sys.stderr)
        return 1
    return 0
