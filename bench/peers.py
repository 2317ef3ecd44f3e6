"""The suite's default digits search against "Optuna alone" (bench/optuna_alone.py), both as
whole processes, alternately.

    python bench/peers.py [--repeats 5]

Suite: `python run_search.py --space basenet --dataset digits` (Ray Tune, TPE seed 0, ASHA grace
2 factor 3, 24 trials, at most 20 epochs, 2 trials at a time on 2 cores). Optuna alone: one
process, TPE seed 0, SuccessiveHalvingPruner(2, 3), the same space, points, model, split and
pipeline. Recorded: wall time, epochs trained, best validation accuracy, test accuracy of the
best trial's best weights. Target: the suite at least 1.3x faster, best val within 0.5 points.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT, machine, search, trials


def suite(tmp: Path, name: str) -> dict:
    wall, folder = search(tmp, name, "--space", "basenet", "--dataset", "digits")
    t = trials(folder)
    best = json.loads((folder / "best_test.json").read_text())
    return {"wall": wall, "epochs": int(t["epochs"].sum()), "best_val": best["val_accuracy"],
            "test": best["test_accuracy"]}


def optuna_alone() -> dict:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "bench/optuna_alone.py"], cwd=ROOT,
                          capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode:
        raise SystemExit(proc.stderr[-3000:])
    return {"wall": wall, **json.loads(proc.stdout.strip().splitlines()[-1])}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args()
    runs = {"suite": [], "optuna": []}
    print(f"machine: {machine()}; load before {Path('/proc/loadavg').read_text().split()[:3]}")
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):
            order = ("suite", "optuna") if r % 2 == 0 else ("optuna", "suite")
            for who in order:
                row = suite(Path(tmp), f"s{r}") if who == "suite" else optuna_alone()
                runs[who].append(row)
                print(f"run {r + 1} {who}: wall {row['wall']:.1f} s, epochs {row['epochs']}, "
                      f"best val {row['best_val']:.4f}, test {row['test']:.4f}", flush=True)
    for who, rows in runs.items():
        cols = {k: [row[k] for row in rows] for k in rows[0]}
        print(f"{who}: " + ", ".join(f"{k} median {statistics.median(v):.4g} "
                                     f"({min(v):.4g}-{max(v):.4g})" for k, v in cols.items()))
    speed = [o["wall"] / s["wall"] for s, o in zip(runs["suite"], runs["optuna"])]
    print(f"suite speed-up over Optuna alone per pair: {' '.join(f'{x:.2f}' for x in speed)}; "
          f"median {statistics.median(speed):.2f}x (target >= 1.3)")
    print(f"load after {Path('/proc/loadavg').read_text().split()[:3]}")


if __name__ == "__main__":
    main()
