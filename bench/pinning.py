"""Core pinning (--pin-cores): two one-CPU trials at a time, pinned against unpinned.

    KERAS_HOME=/tmp/si/keras python bench/pinning.py [--dataset cifar100_25] [--trials 8]
                                                     [--epochs 5] [--repeats 4]

The same sampled basenet trials (same seed, no early stopping) both ways, alternately; the measure
is the search loop (search.json's start to finish: Tuner.fit). A dataset other than digits reads
what KERAS_HOME holds (full-size stand-ins: see bench/concurrency.py).
"""

import argparse
import json
import statistics
import tempfile
from pathlib import Path

from _common import machine, search


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--dataset", default="cifar100_25")
    p.add_argument("--trials", type=int, default=8)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--repeats", type=int, default=4)
    args = p.parse_args()
    print(f"machine: {machine()}; {args.trials} basenet trials x {args.epochs} epochs, "
          f"{args.dataset}, 2 at a time, 1 CPU each")
    ratios = []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):
            loops = {}
            for pinned in (False, True) if r % 2 == 0 else (True, False):
                _, folder = search(Path(tmp), f"p{int(pinned)}r{r}", "--space", "basenet",
                                   "--dataset", args.dataset, "--num-samples", args.trials,
                                   "--max-epochs", args.epochs, "--grace-period", args.epochs,
                                   "--cpus-per-trial", 1, "--max-concurrent", 2,
                                   *(["--pin-cores"] if pinned else []))
                record = json.loads((folder / "search.json").read_text())
                loops[pinned] = record["finished"] - record["started"]
            ratios.append(loops[False] / loops[True])
            print(f"run {r + 1}: unpinned {loops[False]:.1f} s, pinned {loops[True]:.1f} s, "
                  f"unpinned / pinned {ratios[-1]:.3f}", flush=True)
    print(f"unpinned / pinned: {' '.join(f'{x:.3f}' for x in ratios)}; median "
          f"{statistics.median(ratios):.3f} (above 1: pinning faster)")


if __name__ == "__main__":
    main()
