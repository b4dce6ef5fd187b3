"""The ``snn`` command line."""

from __future__ import annotations

import argparse
import importlib
import platform
import sys

from . import __version__

# Modules that add subcommands: each has ``register(subparsers)`` setting ``func`` on its parser.
COMMAND_MODULES = ["snn.demo", "snn.backends.lava.cli", "snn.train.cli", "snn.datasets.cli", "snn.energy.cli"]


def _cmd_version(args) -> int:
    print(f"spikeforge {__version__}")
    return 0


def _cmd_info(args) -> int:
    import torch

    from . import backends

    print(f"spikeforge {__version__}")
    print(f"python     {platform.python_version()} ({sys.executable})")
    print(f"platform   {platform.platform()}")
    print(f"torch      {torch.__version__}")
    cuda = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "not available"
    print(f"cuda       {cuda}")
    for dist in ("numpy", "h5py", "nir", "lava-nc", "snntorch", "norse", "dcls"):
        print(f"{dist:<10} {_dist_version(dist)}")
    print("backends:")
    for b in backends.available():
        print(f"  {b.name:<12} {'usable' if b.usable else 'unusable':<9} {b.reason}")
    return 0


def _dist_version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return "not installed"


# The commands in snn/commands/, one module each (registered after COMMAND_MODULES, the same way).
COMMANDS = ["snn.commands.runs", "snn.commands.plot", "snn.commands.nalsm"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="snn", description="spikeforge: train spiking neural networks and run them on simulation and "
                                "neuromorphic backends.")
    parser.add_argument("--version", action="version", version=f"spikeforge {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    p = sub.add_parser("version", help="print the spikeforge version")
    p.set_defaults(func=_cmd_version)
    p = sub.add_parser("info", help="versions, torch device, and which backends are usable here and why not")
    p.set_defaults(func=_cmd_info)
    for module in COMMAND_MODULES + COMMANDS:
        importlib.import_module(module).register(sub)
    return parser


# What a command raises for bad input (the message names the file / option / layer); anything else is a bug and keeps
# its traceback. RuntimeError covers the backends' "cannot run here" (Lava, CUDA) errors.
USER_ERRORS = (ValueError, FileNotFoundError, FileExistsError, ImportError, RuntimeError)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except USER_ERRORS as e:  # bad input, missing files, unusable backends: one line, exit 2, no traceback
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
