"""Time to quality: the suite against what a user would run instead, on digits (the default
search) and on the full-size cifar100_25 stand-in (tests/standins.py), at the space's own budget
and at a short one (WORKLOADS).

    python bench/peers.py [--workloads digits cifar100_25 cifar100_25-default] [--seeds 0 1 2]
                          [--systems suite optuna2 optuna1 kerastuner] [--standins DIR]
                          [--out FILE.json]

Systems, as whole processes, alternated (the order rotates with the seed):
  suite    `python run_search.py --space basenet` (Ray Tune, TPE, ASHA, a trial per core)
  optuna2  bench/optuna_peer.py --workers <cores>: one process per core sharing one journal study
  optuna1  bench/optuna_peer.py: one process
  kerastuner  bench/kerastuner_peer.py: KerasTuner's Hyperband, one process (its own trial count;
           `pip install -r bench/requirements.txt`)
Same builder, data, split, pipeline, budget, sampler seed, pruning rule (successive halving at the
space's grace period and reduction factor) and the report's configurations first.

For each system, a curve of the best val accuracy so far against wall time since its process
started, from every epoch's result. Per workload and seed it prints, against each peer: the
peer's wall time divided by the time the suite needed to reach the peer's final best val (- when
it never did), the suite's best val at the peer's end, each final best val and wall time, and
when the suite's search loop ended ("trained by": after it, the suite tests its best trials and
writes its report, which the peers do not do). Target (against optuna2): the first ratio at
least 1.5 in every seed; at equal budget the suite's wall time no longer (median over seeds)
with a final best val no lower.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT, machine

sys.path.insert(0, str(ROOT / "tests"))

# name: (dataset, budget flags). cifar100_25: a short budget, a minute and a half on 2 cores,
# grace period and reduction factor the space's own (3 and 3: rungs at 3 and 9 epochs);
# cifar100_25-default: the space's default budget, what `--space basenet` runs (24 trials up to
# 30 epochs, rungs at 3, 9 and 27), a few minutes.
WORKLOADS = {"digits": ("digits", []),
             "cifar100_25": ("cifar100_25", ["--num-samples", "16", "--max-epochs", "9"]),
             "cifar100_25-default": ("cifar100_25", [])}
SYSTEMS = ("suite", "optuna2", "optuna1", "kerastuner")
TARGET = 1.5


def _suite_curve(folder: Path) -> list[tuple[float, float]]:
    """(unix time, val) of every epoch in a results folder. Ray stamps results in whole seconds;
    each trial's start is pinned to the sub-second by its rows' own elapsed times."""
    points = []
    for result in folder.glob("*/result.json"):
        rows = [json.loads(line) for line in result.read_text().splitlines() if line.strip()]
        if not rows:
            continue
        low = max(r["timestamp"] - r["time_total_s"] for r in rows)
        high = min(r["timestamp"] + 1 - r["time_total_s"] for r in rows)
        start = (low + max(low, high)) / 2
        points += [(start + r["time_total_s"], r["val_accuracy"]) for r in rows]
    return points


def run(system: str, workload: str, seed: int, tmp: Path, env: dict) -> dict:
    name = f"{system}-{workload}-{seed}"
    dataset, budget = WORKLOADS[workload]
    common = ["--dataset", dataset, "--seed", str(seed), *budget]
    log = tmp / f"{name}.jsonl"  # the peers' record of every epoch
    if system == "suite":
        command = ["run_search.py", "--space", "basenet", "--storage-path", str(tmp),
                   "--name", name, *common]
    elif system == "kerastuner":
        command = ["bench/kerastuner_peer.py", "--log", str(log), *common]
    else:
        workers = os.cpu_count() if system == "optuna2" else 1
        command = ["bench/optuna_peer.py", "--log", str(log), "--workers", str(workers), *common]
    start = time.time()
    proc = subprocess.run([sys.executable, *command], cwd=ROOT, env=env, capture_output=True,
                          text=True)
    wall = time.time() - start
    if proc.returncode:
        raise SystemExit(f"{name} failed:\n{proc.stdout[-2000:]}{proc.stderr[-3000:]}")
    if system == "suite":
        points = _suite_curve(tmp / name)
    else:
        points = [(r["t"], r["val"]) for r in map(json.loads, log.read_text().splitlines())]
    points.sort()
    curve, best = [], 0.0
    for t, val in points:
        best = max(best, val)
        curve.append((t - start, best))
    # When the search loop ended: the suite then tests its best trials and writes its report,
    # which the peers do not do.
    trained = (json.loads((tmp / name / "search.json").read_text())["finished"] - start
               if system == "suite" else wall)
    return {"wall": wall, "trained": trained, "epochs": len(points), "best": best,
            "curve": curve}


def reach(curve, value: float) -> float | None:
    """Seconds until the curve's best val reached `value`; None if it never did."""
    return next((t for t, best in curve if best >= value), None)


def at(curve, t: float) -> float:
    """The curve's best val at `t` seconds (0 before its first epoch)."""
    return max((best for s, best in curve if s <= t), default=0.0)


def compare(suite: dict, peer: dict) -> dict:
    t = reach(suite["curve"], peer["best"])
    return {"sooner": peer["wall"] / t if t else None, "suite_at_peer_end": at(suite["curve"],
            peer["wall"]), "wall_ratio": suite["wall"] / peer["wall"],
            "trained_ratio": suite["trained"] / peer["wall"],
            "best_gap": suite["best"] - peer["best"]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workloads", nargs="+", choices=list(WORKLOADS), default=list(WORKLOADS))
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--systems", nargs="+", choices=SYSTEMS, default=list(SYSTEMS))
    p.add_argument("--standins", type=Path, help="folder of full-size stand-ins (written there "
                   "once, about 1 minute and 220 MB; default: a temporary folder)")
    p.add_argument("--out", type=Path, help="write every run's numbers and curves here (JSON)")
    args = p.parse_args()
    if "suite" not in args.systems:
        p.error("--systems must include suite")
    print(f"machine: {machine()}; load {Path('/proc/loadavg').read_text().split()[:3]}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        env = dict(os.environ)
        if any(WORKLOADS[w][0] == "cifar100_25" for w in args.workloads):
            import standins
            root = standins.write(args.standins or tmp / "standins", only=["cifar100"])
            env["KERAS_HOME"] = str(root / "keras")
        runs = {}
        for workload in args.workloads:
            for seed in args.seeds:
                k = seed % len(args.systems)
                for system in args.systems[k:] + args.systems[:k]:
                    r = runs[workload, seed, system] = run(system, workload, seed, tmp, env)
                    print(f"{workload} seed {seed} {system}: wall {r['wall']:.1f} s "
                          f"(trained by {r['trained']:.1f} s), {r['epochs']} epochs, "
                          f"best val {r['best']:.4f}", flush=True)
                for peer in args.systems[1:]:
                    c = compare(runs[workload, seed, "suite"], runs[workload, seed, peer])
                    sooner = f"{c['sooner']:.2f}x" if c["sooner"] else "-"
                    print(f"  vs {peer}: reached its best {sooner} sooner; at its end "
                          f"{c['suite_at_peer_end']:.4f}; wall {c['wall_ratio']:.2f} of its "
                          f"(trained by {c['trained_ratio']:.2f}); best {c['best_gap']:+.4f}",
                          flush=True)
    for workload in args.workloads:
        for peer in args.systems[1:]:
            cs = [compare(runs[workload, s, "suite"], runs[workload, s, peer]) for s in args.seeds]
            sooner = [c["sooner"] or 0.0 for c in cs]
            wall = statistics.median(c["wall_ratio"] for c in cs)
            trained = statistics.median(c["trained_ratio"] for c in cs)
            gap = statistics.median(c["best_gap"] for c in cs)
            met = min(sooner) >= TARGET and wall <= 1 and gap >= 0
            print(f"{workload} vs {peer}: sooner {' '.join(f'{x:.2f}' for x in sooner)}; wall "
                  f"ratio median {wall:.2f} (trained by: {trained:.2f}); best gap median "
                  f"{gap:+.4f}"
                  + (f"  [target {'met' if met else 'NOT met'}]" if peer == "optuna2" else ""))
    if args.out:
        args.out.write_text(json.dumps({"machine": machine(), "runs": [
            {"workload": w, "seed": s, "system": y, **r} for (w, s, y), r in runs.items()]}))
    print(f"load after {Path('/proc/loadavg').read_text().split()[:3]}")


if __name__ == "__main__":
    main()
