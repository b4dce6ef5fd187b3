"""Accuracy cost of quantisation on a trained run: float torch vs the loihi integer simulator (whole test set) vs
Lava fixed point and Lava float (a seeded subset). Usage: python benchmarks/lava_quantisation.py RUN_DIR [-n 64]"""

import argparse
import platform

import torch

from snn.backends.lava.cli import load_source, run_on_dataset
from snn.train.data import load_split


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("run")
    ap.add_argument("-n", type=int, default=64, help="samples run on Lava")
    args = ap.parse_args()
    src = load_source(args.run)
    ds = load_split(src.data, "test")
    print(f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, "
          f"python {platform.python_version()}, torch {torch.__version__}")
    for backend, n in (("loihi", len(ds)), ("lava-fixed", args.n), ("lava", args.n)):
        r = run_on_dataset(src.graph, ds, backend, n, 64 if backend == "loihi" else 16, src.loss_kind, 0, False)
        print(f"| {backend} | {r['samples']} | {100 * r['torch_accuracy']:.2f} | {100 * r['accuracy']:.2f} | "
              f"{100 * r['agreement']:.2f} | {1e3 * r['seconds_per_sample']:.1f} |")


if __name__ == "__main__":
    main()
