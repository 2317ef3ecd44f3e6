"""Memory of a reused actor: RSS after each of many trials trained one after another in one
process through the real trainable (bench/_inprocess.py), MiRed space configurations on digits.

    python bench/memory.py [--trials 40] [--epochs 2] [--root OTHER_CHECKOUT]

Prints RSS (MiB) after every trial and the ratio last / after trial 5 (target <= 1.2).
`--root` runs another checkout's trainables (e.g. a git worktree of the previous commit).
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from pathlib import Path

p = argparse.ArgumentParser()
p.add_argument("--trials", type=int, default=40)
p.add_argument("--epochs", type=int, default=2)
p.add_argument("--space", default="mired")
p.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1])
args = p.parse_args()
sys.path.insert(0, str(args.root.resolve()))
sys.path.insert(1, str(Path(__file__).resolve().parent))
from _inprocess import Recorder, rss_mib, space_configs  # noqa: E402


def main() -> None:
    from trainables import pipeline
    from trainables.datasets import load
    data = load("digits")
    rss, start = [], time.perf_counter()
    with Recorder() as rec:
        for i, config in enumerate(space_configs(args.space, args.trials)):
            rec.run({**config, "seed": 0}, data, args.epochs)
            gc.collect()
            rss.append(rss_mib())
            print(f"trial {i + 1:>2} {config['model']:<12} batch {config['batch_size']:>3}: "
                  f"RSS {rss[-1]:.0f} MiB, augment fns {len(pipeline._AUGMENT_FNS)}, "
                  f"{time.perf_counter() - start:.0f} s", flush=True)
    print(f"root {args.root}: RSS after trial 5 {rss[4]:.0f} MiB, after trial {len(rss)} "
          f"{rss[-1]:.0f} MiB, ratio {rss[-1] / rss[4]:.2f} (target <= 1.2); "
          f"curve: {' '.join(f'{r:.0f}' for r in rss)}")


if __name__ == "__main__":
    main()
