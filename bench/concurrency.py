"""Concurrency: trials per hour with 2 one-CPU trials at a time versus 1 at a time.

    python bench/concurrency.py [--trials 12] [--epochs 10] [--repeats 3] [--more 24]
                                [--dataset cifar100_25] [-- extra flags]

--dataset other than digits reads what KERAS_HOME holds (full-size stand-ins:
`python -c "import sys, pathlib; sys.path.insert(0, 'tests'); import standins;
standins.write(pathlib.Path('/tmp/si'), only=['cifar100'])"`, then KERAS_HOME=/tmp/si/keras).

The same trials (Optuna, same seed, no early stopping) both ways. Two measures: the whole command
(Python, TensorFlow and Ray start-up, data, report included) and the search loop alone (from
search.json's start to its finish: Tuner.fit). With --repeats, the two run alternately and the
speed-up is the median of the pairs' (single runs on a shared machine vary by 20%).

With --more M, each repeat also runs M trials both ways, and the trials per hour of the M - trials
extra ones (M - trials over the difference of the two loops' times) are the rate of a long search:
what every search pays once (the trial processes' start, Keras's import, the last trial running
alone on a core) cancels out. The sampler's later suggestions depend on which trials finished
first, so M sampled trials are not the same work both ways; --cv runs the optimizers_cv study
instead (six optimizers x the first trials/6 folds, patience 4), the same trials however they
finish.
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
    p.add_argument("--more", type=int, help="a second, larger number of trials (see above)")
    p.add_argument("--cv", action="store_true", help="the optimizers_cv study (see above)")
    p.add_argument("--dataset", default="digits")
    p.add_argument("extra", nargs="*", help="flags for run_search.py (after --)")
    args = p.parse_args()
    if args.more is not None and args.more <= args.trials:
        p.error("--more must be larger than --trials")
    if args.cv and any(n % 6 or n > 30 for n in (args.trials, args.more or 6)):
        p.error("with --cv, --trials and --more are multiples of 6 up to 30 (6 optimizers x "
                "up to 5 folds)")
    sizes = (args.trials,) if args.more is None else (args.trials, args.more)
    print(f"machine: {machine()}")
    print(f"{' and '.join(map(str, sizes))} trials x {args.epochs} epochs, {args.dataset}, 1 CPU per "
          f"trial, {'optimizers_cv' if args.cv else 'basenet'} {' '.join(args.extra)}")
    ratios = {"command": [], "search loop": [], "extra trials": []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):
            walls, loops = {}, {}
            for concurrent in (1, 2) if r % 2 == 0 else (2, 1):
                for n in sizes:
                    trials = (["--space", "optimizers_cv", "--set",
                               "fold=" + ",".join(map(str, range(n // 6)))] if args.cv else
                              ["--space", "basenet", "--num-samples", n])
                    walls[concurrent, n], folder = search(
                        Path(tmp), f"c{concurrent}n{n}r{r}", *trials, "--dataset", args.dataset,
                        "--max-epochs", args.epochs, "--grace-period", args.epochs,
                        "--cpus-per-trial", 1, "--max-concurrent", concurrent, *args.extra)
                    record = json.loads((folder / "search.json").read_text())
                    loops[concurrent, n] = record["finished"] - record["started"]
            for c in (1, 2):
                for n in sizes:
                    print(f"run {r + 1}, {n} trials, {c} at a time: command "
                          f"{walls[c, n]:.1f} s ({3600 * n / walls[c, n]:.0f} trials/hour), "
                          f"search loop {loops[c, n]:.1f} s "
                          f"({3600 * n / loops[c, n]:.0f} trials/hour)", flush=True)
                if args.more is not None:
                    extra = loops[c, args.more] - loops[c, args.trials]
                    print(f"run {r + 1}, {c} at a time: the {args.more - args.trials} extra "
                          f"trials {3600 * (args.more - args.trials) / extra:.0f} trials/hour",
                          flush=True)
            ratios["command"].append(walls[1, args.trials] / walls[2, args.trials])
            ratios["search loop"].append(loops[1, args.trials] / loops[2, args.trials])
            if args.more is not None:
                ratios["extra trials"].append((loops[1, args.more] - loops[1, args.trials])
                                              / (loops[2, args.more] - loops[2, args.trials]))
    for what, xs in ratios.items():
        if xs:
            print(f"speed-up, {what}: {' '.join(f'{x:.2f}' for x in xs)}; median "
                  f"{statistics.median(xs):.2f}x"
                  + (" (target >= 1.6)" if what != "command" else ""))


if __name__ == "__main__":
    main()
