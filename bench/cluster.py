"""Benchmark, run by hand: the same search on one Ray node and on several nodes of the same total
CPUs, each a real cluster on this machine's loopback (cluster/loopback.py), the search submitted
with `ray job submit` as cluster/README.md does it. Prints a Markdown section for
docs/benchmarks.md (`--append docs/benchmarks.md` appends it).

    python bench/cluster.py                      # 16 trials of basenet on digits per layout
    python bench/cluster.py --num-samples 32 --append docs/benchmarks.md

Per layout: trials per hour (trials / the search's wall time, search.json's started..finished),
and the suite's scheduling overhead per trial, i.e. wall time beyond training time, where training
time is each trial's own `time_total_s`:
  - overall: (slots x wall - sum of time_total_s) / trials; includes the one-off start-up (Tune,
    every trial actor's start and TensorFlow import),
  - steady state: for each trial actor, (last trial end - first trial start) - sum of its
    trials' time_total_s, summed over actors, per trial: the gaps between one trial and the next
    on the same actor (the driver's result handling, ASHA, the actor's reset). A trial ends
    when its worker writes its last checkpoint folder (the folder's time, to the millisecond;
    the driver's own files are all synced at the end) and started time_total_s before that.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The repository first, in place of bench/: there `cluster` would be this very file.
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]

from cluster.loopback import LoopbackCluster  # noqa: E402

LAYOUTS = {  # key: (description, CPUs per node, head first)
    "one": ("one node, 2 CPUs", [2]),
    "two": ("two nodes, 1 CPU each (head + worker)", [1, 1]),
    "workers": ("driver-only head + two 1-CPU workers", [0, 1, 1]),
}


def cpu_model() -> str:
    for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
        if line.startswith("Model name:"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def other_load() -> str:
    """Load average and the busiest processes not of this benchmark, right now."""
    mine = {os.getpid()}
    out = subprocess.run(["ps", "-eo", "pid,ppid,pcpu,args", "--sort=-pcpu"],
                         capture_output=True, text=True).stdout.splitlines()[1:]
    busy = [line.split(None, 3) for line in out]
    busy = [b for b in busy if int(b[0]) not in mine and float(b[2]) >= 10 and "rayc-" not in b[3]]
    top = "; ".join(f"{b[2]}% {b[3][:60]}" for b in busy[:3]) or "none above 10% CPU"
    return f"load average {os.getloadavg()[0]:.2f}; busiest other processes: {top}"


def measure(folder: Path, slots: int) -> dict:
    search = json.loads((folder / "search.json").read_text())
    wall = search["finished"] - search["started"]
    trials = []
    for trial in folder.glob("trial_*"):
        rows = [json.loads(line) for line in (trial / "result.json").read_text().splitlines()]
        end = max(c.stat().st_mtime for c in trial.glob("checkpoint_*"))
        train = rows[-1]["time_total_s"]
        node = rows[-1]["node_id"]
        trials.append({"node": node, "actor": (node, rows[-1]["pid"]), "train": train,
                       "epochs": len(rows), "start": end - train, "end": end})
    n = len(trials)
    train = sum(t["train"] for t in trials)
    idle = 0.0
    for actor in {t["actor"] for t in trials}:  # a reused actor runs its trials one by one
        on = [t for t in trials if t["actor"] == actor]
        span = max(t["end"] for t in on) - min(t["start"] for t in on)
        idle += span - sum(t["train"] for t in on)
    first_start = min(t["start"] for t in trials)
    return {"trials": n, "epochs": sum(t["epochs"] for t in trials), "wall": wall,
            "train": train, "per_hour": n / wall * 3600,
            "overhead": (slots * wall - train) / n, "steady": idle / n,
            "startup": first_start - search["started"],
            "nodes_used": len({t["node"] for t in trials})}


def run_layout(key: str, args, storage: Path) -> dict:
    name, cpus = LAYOUTS[key]
    before = other_load()
    with LoopbackCluster(cpus) as cluster:
        proc = cluster.submit(
            "python", "run_search.py", "--space", "basenet", "--dataset", "digits",
            "--num-samples", str(args.num_samples), "--max-epochs", str(args.max_epochs),
            "--grace-period", "1", "--reduction-factor", "2", "--max-concurrent", str(sum(cpus)),
            "--storage-path", str(storage), "--name", key,
            "--address", "auto", timeout=3600)
        after = other_load()
    if proc.returncode != 0:
        sys.exit(f"{name}: the search failed\n{(proc.stdout + proc.stderr)[-4000:]}")
    result = measure(storage / key, slots=sum(cpus))
    return {**result, "name": name, "cpus": cpus, "load": f"before: {before}; after: {after}"}


def section(results: list[dict], args) -> str:
    date = datetime.date.today().isoformat()
    lines = [
        f"## Ray cluster on loopback: one node versus several (bench/cluster.py, {date})",
        "",
        f"Machine: {cpu_model()}, {os.cpu_count()} cores; Ray {ray_version()}. Each layout is a "
        f"real cluster of `ray start` nodes on 127.0.0.x (token auth on), the search submitted "
        f"with `ray job submit`: basenet on digits, {args.num_samples} trials, ASHA max "
        f"{args.max_epochs} epochs / grace 1 / factor 2, `--max-concurrent` = the CPUs, "
        f"1 CPU per trial, actors reused. Same total CPUs (2) in every layout. Wall: the "
        f"search's started..finished in search.json. Start-up: from then to the first trial's "
        f"start (Tune, actor start, TensorFlow import). Overhead per trial, overall: (CPUs x "
        f"wall - the trials' summed time_total_s) / trials. Steady state: the gaps between "
        f"consecutive trials on one reused actor, per trial (from the trials' own time_total_s "
        f"and their last checkpoint's time).",
        "",
        "| layout | nodes used / with CPUs | trials | epochs | wall (s) | trials per hour | "
        "start-up (s) | overhead per trial, overall (s) | overhead per trial, steady state (s) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        with_cpus = sum(1 for c in r["cpus"] if c)
        lines.append(f"| {r['name']} | {r['nodes_used']} / {with_cpus} | {r['trials']} | "
                     f"{r['epochs']} | {r['wall']:.1f} | {r['per_hour']:.0f} | "
                     f"{r['startup']:.1f} | {r['overhead']:.2f} | {r['steady']:.2f} |")
    lines += ["", "Load while measuring (other work shares these 2 cores):", ""]
    lines += [f"- {r['name']}: {r['load']}" for r in results]
    return "\n".join(lines) + "\n"


def ray_version() -> str:
    import importlib.metadata
    return importlib.metadata.version("ray")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--num-samples", type=int, default=16)
    p.add_argument("--max-epochs", type=int, default=4)
    p.add_argument("--layouts", nargs="+", choices=list(LAYOUTS), default=list(LAYOUTS),
                   help="; ".join(f"{k}: {v[0]}" for k, v in LAYOUTS.items()))
    p.add_argument("--append", type=Path, help="append the section to this Markdown file")
    p.add_argument("--keep", type=Path, help="keep the experiments in this (new) folder")
    args = p.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as storage:
        storage = args.keep or storage
        for key in args.layouts:
            print(f"... {LAYOUTS[key][0]}", flush=True)
            start = time.monotonic()
            results.append(run_layout(key, args, Path(storage)))
            print(f"    done in {time.monotonic() - start:.0f} s", flush=True)
    text = section(results, args)
    print(text)
    if args.append:
        with open(args.append, "a") as f:
            f.write(("\n" if args.append.exists() and args.append.stat().st_size else "") + text)


if __name__ == "__main__":
    main()
