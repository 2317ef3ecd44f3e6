"""The default digits search, run as a user runs it, in this checkout and (optionally) others,
alternately: wall time, search loop (Tuner.fit), the trials' own seconds (their time_total_s,
summed), first-epoch excess on reused actors, later epochs, test accuracy.

    python bench/search_costs.py [--repeats 3] [--compare OTHER_CHECKOUT] [--against "FLAGS"]
                                 [-- extra flags]

--against runs this checkout with FLAGS added as the other side (e.g. `--against "--ensemble 1"`).
After the loop: from the loop's end (search.json's `finished`) to the command's exit (the best
trials tested, the report written, Ray shut down).

First-epoch excess: a trial's first `time_this_iter_s` (Ray counts it from the trial's start on
its actor) minus the median of its later epochs, over the trials that were not the first on
their actor (a reused actor: same `pid` as an earlier trial).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from _common import ROOT, machine, search


def costs(folder: Path) -> dict:
    trials = []
    for d in folder.iterdir():
        lines = (d / "result.json").read_text().splitlines() if (d / "result.json").exists() else []
        rows = [json.loads(l) for l in lines if l.strip()]
        if rows:
            trials.append(rows)
    trials.sort(key=lambda rows: rows[0]["timestamp"] - rows[0]["time_this_iter_s"])
    seen, excess, later = set(), [], []
    for rows in trials:
        pid = rows[0]["pid"]
        iters = [r["time_this_iter_s"] for r in rows]
        if len(iters) > 1:
            later.extend(iters[1:])
            if pid in seen:
                excess.append(iters[0] - statistics.median(iters[1:]))
        seen.add(pid)
    best = json.loads((folder / "best_test.json").read_text())
    record = json.loads((folder / "search.json").read_text())
    return {"loop": record["finished"] - record["started"], "finished": record["finished"],
            "trial_s": sum(rows[-1]["time_total_s"] for rows in trials),
            "excess": statistics.median(excess), "excess_n": len(excess),
            "excess_range": (min(excess), max(excess)), "later": statistics.median(later),
            "epochs": sum(len(t) for t in trials), "test": best["test_accuracy"],
            "val": best["val_accuracy"]}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--compare", type=Path, help="another checkout (e.g. a git worktree of main)")
    p.add_argument("--against", help="flags that make this checkout the other side")
    p.add_argument("extra", nargs="*", help="flags for run_search.py (after --)")
    args = p.parse_args()
    checkouts = {"this": (ROOT, [])}
    if args.compare:
        checkouts["other"] = (args.compare.resolve(), [])
    if args.against:
        checkouts[args.against] = (ROOT, args.against.split())
    rows = {k: [] for k in checkouts}
    print(f"machine: {machine()}; load before: {Path('/proc/loadavg').read_text().split()[:3]}")
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):
            order = list(checkouts.items())  # alternated: neither side always runs first
            for n, (label, (checkout, flags)) in enumerate(order[::-1] if r % 2 else order):
                wall, folder = search(Path(tmp), f"{n}_{r}", "--space", "basenet",
                                      "--dataset", "digits", *args.extra, *flags,
                                      checkout=checkout)
                exited = time.time()
                c = {"wall": wall, **costs(folder)}
                c["after"] = exited - c["finished"]
                rows[label].append(c)
                print(f"{label} run {r + 1}: wall {wall:.1f} s, search loop {c['loop']:.1f} s, "
                      f"after the loop {c['after']:.1f} s, "
                      f"trials {c['trial_s']:.1f} s, epochs {c['epochs']}, first-epoch "
                      f"excess median {c['excess']:.2f} s over {c['excess_n']} reused-actor "
                      f"trials (range {c['excess_range'][0]:.2f}-{c['excess_range'][1]:.2f}), "
                      f"later epoch {c['later']:.3f} s, best val {c['val']:.4f}, test "
                      f"{c['test']:.4f}", flush=True)
    for label, rs in rows.items():
        med = lambda k: statistics.median(x[k] for x in rs)  # noqa: E731
        print(f"{label}: median wall {med('wall'):.1f} s, loop {med('loop'):.1f} s, after the "
              f"loop {med('after'):.1f} s, trials "
              f"{med('trial_s'):.1f} s, first-epoch excess {med('excess'):.2f} s,"
              f" later epoch {med('later'):.3f} s, epochs {med('epochs')}, test {med('test'):.4f}")
    print(f"load after: {Path('/proc/loadavg').read_text().split()[:3]}")


if __name__ == "__main__":
    main()
