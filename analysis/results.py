"""A Ray Tune experiment folder -> pandas DataFrames, read from the files Ray writes.

Each trial folder holds params.json (its config) and result.json (one JSON line per reported epoch);
the suite adds search.json (space, dataset, budget) and best_test.json (the best trial's test score).
Nothing here imports Ray or TensorFlow, so a folder can be analysed anywhere, finished or not.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

METRICS = ["loss", "accuracy", "val_loss", "val_accuracy"]


@dataclass
class Results:
    folder: Path
    search: dict            # search.json: space, dataset, budget, seed, started, finished
    trials: pd.DataFrame    # one row per trial
    epochs: pd.DataFrame    # one row per trial and epoch
    best_test: dict | None  # best_test.json, when the search got that far


def _read_lines(path: Path) -> list[dict]:
    rows = []
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:  # the line a killed process was writing
                pass
    return rows


def _status(row, max_epochs: int, finished: bool, errored: bool) -> str:
    if row["diverged"]:
        return "diverged"
    if pd.notna(row["test_accuracy"]):
        return "completed"
    if errored:
        return "error"
    if finished:
        return "stopped" if row["epochs"] else "not started"
    return "unfinished"


def load(folder) -> Results:
    folder = Path(folder)
    search_file = folder / "search.json"
    if not search_file.exists():
        raise FileNotFoundError(f"{folder} is not an experiment of this suite (no search.json)")
    search = json.loads(search_file.read_text())
    max_epochs, finished = search["budget"]["max_epochs"], bool(search.get("finished"))

    trials, epochs = [], []
    for trial_dir in sorted(p for p in folder.iterdir() if (p / "params.json").exists()):
        config = json.loads((trial_dir / "params.json").read_text())
        rows = _read_lines(trial_dir / "result.json")
        trial_id = rows[0]["trial_id"] if rows else trial_dir.name.removeprefix("trial_")
        # A trial resumed from a checkpoint repeats the epochs after it: keep the latest report.
        by_epoch = {r["training_iteration"]: r for r in rows}
        for it in sorted(by_epoch):
            r = by_epoch[it]
            epochs.append({"trial_id": trial_id, "epoch": it,
                           **{m: r.get(m) for m in METRICS}})
        last = by_epoch[max(by_epoch)] if by_epoch else {}
        best = max(by_epoch.values(), key=lambda r: r.get("val_accuracy", -1)) if by_epoch else {}
        checkpoints = sorted(trial_dir.glob("checkpoint_*"))
        row = {
            "trial_id": trial_id,
            **{k: v for k, v in config.items()},
            "epochs": len(by_epoch),
            "best_epoch": best.get("training_iteration"),
            "val_accuracy": best.get("val_accuracy"),
            "val_loss": best.get("val_loss"),
            "accuracy": best.get("accuracy"),
            "loss": best.get("loss"),
            "test_accuracy": last.get("test_accuracy"),
            "test_loss": last.get("test_loss"),
            "params": last.get("params"),
            "diverged": any(r.get("diverged") for r in by_epoch.values()),
            "checkpoint": str(checkpoints[-1]) if checkpoints else "",
            "_config": config,
        }
        row["status"] = _status(row, max_epochs, finished, (trial_dir / "error.txt").exists())
        trials.append(row)

    best_test_file = folder / "best_test.json"
    best_test = json.loads(best_test_file.read_text()) if best_test_file.exists() else None
    trials_df = pd.DataFrame(trials)
    if not trials_df.empty:
        trials_df = trials_df.sort_values("val_accuracy", ascending=False, na_position="last")
    return Results(folder, search, trials_df.reset_index(drop=True), pd.DataFrame(epochs),
                   best_test)


def best_trial(trials: pd.DataFrame) -> dict | None:
    """The trial with the highest validation accuracy, diverged and result-less trials excluded."""
    usable = trials[~trials["diverged"] & trials["val_accuracy"].notna()] if len(trials) else trials
    if usable.empty:
        return None
    row = usable.loc[usable["val_accuracy"].idxmax()]
    return {"trial_id": row["trial_id"], "config": row["_config"],
            "val_accuracy": float(row["val_accuracy"]), "checkpoint": row["checkpoint"]}
