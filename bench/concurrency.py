"""Concurrency: trials per hour with 2 one-CPU trials at a time versus 1 at a time.

    python bench/concurrency.py [--trials 8] [--epochs 6]

The same trials (Optuna, same seed, no early stopping) both ways; wall time of the whole command.
"""

import argparse
import tempfile
from pathlib import Path

from _common import machine, search


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--trials", type=int, default=8)
    p.add_argument("--epochs", type=int, default=6)
    args = p.parse_args()
    common = ["--space", "basenet", "--dataset", "digits", "--num-samples", args.trials,
              "--max-epochs", args.epochs, "--grace-period", args.epochs, "--cpus-per-trial", 1]
    walls = {}
    with tempfile.TemporaryDirectory() as tmp:
        for concurrent in (1, 2):
            walls[concurrent], _ = search(Path(tmp), f"c{concurrent}", *common,
                                          "--max-concurrent", concurrent)
    print(f"machine: {machine()}")
    print(f"{args.trials} trials x {args.epochs} epochs, digits, 1 CPU per trial")
    for c, wall in walls.items():
        print(f"{c} at a time: {wall:.1f} s, {3600 * args.trials / wall:.0f} trials/hour")
    print(f"speed-up: {walls[1] / walls[2]:.2f}x (target >= 1.6)")


if __name__ == "__main__":
    main()
