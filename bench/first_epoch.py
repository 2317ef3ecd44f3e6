"""First-epoch cost of a trial on a reused actor: first epoch minus a later one.

    python bench/first_epoch.py [--trials 8] [--epochs 4]

Runs the default digits search's kind of trials (BaseNet; the report's configurations, then
configurations drawn from the basenet space) one after another in one process through the real
trainable (bench/_inprocess.py), and prints per trial: first epoch, median later epoch, the
difference. Trial 1 pays the process's one-time costs (imports, XLA's start); the target is on
trials 2.. (a reused actor).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

_root = next((a.split("=", 1)[1] for a in sys.argv if a.startswith("--root=")), None)
sys.path.insert(0, str(Path(_root or Path(__file__).resolve().parents[1]).resolve()))
sys.path.insert(1, str(Path(__file__).resolve().parent))
from _inprocess import Recorder, epoch_times, space_configs  # noqa: E402

def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--trials", type=int, default=12)
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--model", default="basenet")
    p.add_argument("--root", help="another checkout's trainables (--root=PATH)")
    p.add_argument("--extra", default="", help="k=v,k=v added to every config (e.g. flip=True)")
    args = p.parse_args()
    from trainables.datasets import load
    data = load("digits")
    extra = dict(kv.split("=") for kv in args.extra.split(",") if kv)
    extra = {k: (v == "True" if v in ("True", "False") else float(v) if "." in v else v)
             for k, v in extra.items()}
    excess = []
    with Recorder() as rec:
        for i, config in enumerate(space_configs("basenet", args.trials)):
            config = {**config, "model": args.model, "seed": 0, **extra}
            times = epoch_times(rec.run(config, data, args.epochs))
            later = statistics.median(times[1:])
            if i:
                excess.append(times[0] - later)
            print(f"trial {i + 1} batch {config['batch_size']:>3} {config['optimizer']:<8} "
                  f"first {times[0]:.3f} s, later {later:.3f} s, first - later "
                  f"{times[0] - later:.3f} s", flush=True)
    print(f"reused actor (trials 2..{args.trials}): first-epoch excess median "
          f"{statistics.median(excess):.3f} s, range {min(excess):.3f}-{max(excess):.3f} s")


if __name__ == "__main__":
    main()
