"""Concurrency: trials per hour with 2 one-CPU trials at a time versus 1 at a time.

    python bench/concurrency.py [--trials 8] [--epochs 6]

The same trials (Optuna, same seed, no early stopping) both ways. Two measures: the whole command
(Python, TensorFlow and Ray start-up, data, report included) and the search loop alone (from
search.json's start to its finish: Tuner.fit).
"""

import argparse
import json
import tempfile
from pathlib import Path

from _common import machine, search


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--trials", type=int, default=12)
    p.add_argument("--epochs", type=int, default=10)
    args = p.parse_args()
    common = ["--space", "basenet", "--dataset", "digits", "--num-samples", args.trials,
              "--max-epochs", args.epochs, "--grace-period", args.epochs, "--cpus-per-trial", 1]
    walls, loops = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for concurrent in (1, 2):
            walls[concurrent], folder = search(Path(tmp), f"c{concurrent}", *common,
                                               "--max-concurrent", concurrent)
            record = json.loads((folder / "search.json").read_text())
            loops[concurrent] = record["finished"] - record["started"]
    print(f"machine: {machine()}")
    print(f"{args.trials} trials x {args.epochs} epochs, digits, 1 CPU per trial")
    for c in (1, 2):
        print(f"{c} at a time: command {walls[c]:.1f} s ({3600 * args.trials / walls[c]:.0f} "
              f"trials/hour), search loop {loops[c]:.1f} s ({3600 * args.trials / loops[c]:.0f} "
              f"trials/hour)")
    print(f"speed-up: command {walls[1] / walls[2]:.2f}x, search loop {loops[1] / loops[2]:.2f}x "
          f"(target >= 1.6)")


if __name__ == "__main__":
    main()
