"""Search efficiency on digits: ASHA + Optuna versus the same trials all run to the full budget.

    python bench/efficiency.py [--trials 16] [--epochs 16]

Both use Optuna TPE with the same seed; "FIFO" is ASHA with grace period = max epochs, so no trial
stops early. Reports epochs trained, wall time, best validation and test accuracy side by side.
"""

import argparse
import tempfile
from pathlib import Path

from _common import machine, search, test_accuracy, trials


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--trials", type=int, default=16)
    p.add_argument("--epochs", type=int, default=16)
    args = p.parse_args()
    common = ["--space", "basenet", "--dataset", "digits", "--num-samples", args.trials,
              "--max-epochs", args.epochs]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, extra in [("ASHA + Optuna", []), ("FIFO + Optuna", ["--grace-period",
                                                                      args.epochs])]:
            wall, folder = search(Path(tmp), label.split()[0].lower(), *common, *extra)
            t = trials(folder)
            rows.append((label, int(t["epochs"].sum()), wall, t["val_accuracy"].max(),
                         test_accuracy(folder)))
    print(f"machine: {machine()}")
    print(f"{args.trials} trials, up to {args.epochs} epochs each, digits")
    print("| scheduler | epochs trained | wall (s) | best val accuracy | test accuracy |")
    print("| --- | --- | --- | --- | --- |")
    for label, epochs, wall, val, test in rows:
        print(f"| {label} | {epochs} | {wall:.0f} | {val:.4f} | {test:.4f} |")
    (_, e_asha, w_asha, v_asha, _), (_, e_fifo, w_fifo, v_fifo, _) = rows
    print(f"epochs ratio FIFO/ASHA: {e_fifo / e_asha:.2f}x (target >= 3); wall ratio "
          f"{w_fifo / w_asha:.2f}x; best val accuracy difference {100 * (v_fifo - v_asha):+.2f} "
          f"points (target within 1)")


if __name__ == "__main__":
    main()
