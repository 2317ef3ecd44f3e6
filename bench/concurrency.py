"""Concurrency: trials per hour with 2 one-CPU trials at a time versus 1 at a time.

    python bench/concurrency.py [--trials 12] [--epochs 10] [--repeats 3] [-- extra flags]

The same trials (Optuna, same seed, no early stopping) both ways. Two measures: the whole command
(Python, TensorFlow and Ray start-up, data, report included) and the search loop alone (from
search.json's start to its finish: Tuner.fit). With --repeats, the two run alternately and the
speed-up is the median of the pairs' (single runs on a shared machine vary by 20%).
"""

import argparse
import json
import statistics
import tempfile
from pathlib import Path

from _common import machine, search


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--trials", type=int, default=12)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("extra", nargs="*", help="flags for run_search.py (after --)")
    args = p.parse_args()
    common = ["--space", "basenet", "--dataset", "digits", "--num-samples", args.trials,
              "--max-epochs", args.epochs, "--grace-period", args.epochs, "--cpus-per-trial", 1,
              *args.extra]
    print(f"machine: {machine()}")
    print(f"{args.trials} trials x {args.epochs} epochs, digits, 1 CPU per trial "
          f"{' '.join(args.extra)}")
    ratios = {"command": [], "search loop": []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):
            walls, loops = {}, {}
            for concurrent in (1, 2) if r % 2 == 0 else (2, 1):
                walls[concurrent], folder = search(Path(tmp), f"c{concurrent}r{r}", *common,
                                                   "--max-concurrent", concurrent)
                record = json.loads((folder / "search.json").read_text())
                loops[concurrent] = record["finished"] - record["started"]
            for c in (1, 2):
                print(f"run {r + 1}, {c} at a time: command {walls[c]:.1f} s "
                      f"({3600 * args.trials / walls[c]:.0f} trials/hour), search loop "
                      f"{loops[c]:.1f} s ({3600 * args.trials / loops[c]:.0f} trials/hour)",
                      flush=True)
            ratios["command"].append(walls[1] / walls[2])
            ratios["search loop"].append(loops[1] / loops[2])
    for what, xs in ratios.items():
        print(f"speed-up, {what}: {' '.join(f'{x:.2f}' for x in xs)}; median "
              f"{statistics.median(xs):.2f}x" + (" (target >= 1.6)" if what != "command" else ""))


if __name__ == "__main__":
    main()
