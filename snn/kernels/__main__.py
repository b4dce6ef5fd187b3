"""``python -m snn.kernels build`` compiles the C++ kernels (``make setup`` runs it); ``status`` says what is in use."""

import argparse
import sys

from . import build, status


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m snn.kernels", description=__doc__)
    ap.add_argument("action", choices=("build", "status"))
    ap.add_argument("-v", "--verbose", action="store_true", help="show the compiler's commands")
    args = ap.parse_args(argv)
    if args.action == "build":
        print(f"built {build(verbose=args.verbose)}")
    print(status())
    return 0


if __name__ == "__main__":
    sys.exit(main())
