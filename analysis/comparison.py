"""Analysis layer: Several searches side by side: one row per search, its best trial.

    from analysis import compare
    table = compare(["results/basenet", "results/mired", "results/model_comparison"])

    python -m analysis compare results/basenet results/mired --out results/comparison
    # -> comparison.csv, comparison.md, comparison.tex, comparison.png in results/comparison/

Columns (stable, one row per folder in the order given):

    experiment               str      the experiment's name (its folder name)
    space, dataset, model    str      from search.json (model: the trials' model in older folders)
    finished                 bool     the search ran to its end (else: interrupted)
    trials                   int64    trials in the folder
    completed                int64    of which completed their budget
    best_trial               str      Ray's trial id of the best trial by val accuracy ("" if none)
    configuration            str      its config, "key=value, ..." (seed left out)
    val_accuracy             float64  its best validation accuracy
    test_accuracy            float64  its test accuracy (best_test.json, else its own), or NaN
    reference_test_accuracy  float64  the report's number for this space on this dataset, or NaN
    difference               float64  test_accuracy - reference_test_accuracy
    reference_source         str      where the report's number comes from
    params                   Int64    the best trial's model parameters
    epochs                   Int64    epochs the best trial trained
    training_time_s          float64  the best trial's training time, seconds
    search_wall_time_s       float64  wall-clock seconds from the search's start to its end
                                      (search.json's started and finished); NaN for a search
                                      that did not finish; for a resumed one, its last run's
    trials_training_time_s   float64  every trial's training time summed, seconds: more than
                                      the wall-clock time when trials ran side by side
    folder                   str      the folder as given

A str column holds "" where there is nothing (best_trial and configuration of a search without a
result); `analysis.read_csv("comparison.csv")` reads the CSV back to these columns and dtypes.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from analysis.results import Results, _number, best_trial, load
from analysis.tables import COMPARISON

COLUMNS = COMPARISON  # the comparison table's columns and dtypes (analysis/tables.py)


def _format(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _wall_time(search: dict) -> float:
    """Seconds from search.json's started to its finished; NaN unless both are there."""
    started, finished = _number(search.get("started")), _number(search.get("finished"))
    return finished - started if finished >= started else math.nan  # False for NaN


def _row(res: Results, folder) -> dict:
    from analysis.report import reference_for
    ref, source = reference_for(res)
    row = {"experiment": res.folder.name, "space": res.space, "dataset": res.dataset,
           "model": res.model, "finished": res.finished, "trials": len(res.trials),
           "completed": int((res.trials["status"] == "completed").sum()),
           "reference_test_accuracy": ref, "reference_source": source,
           "search_wall_time_s": _wall_time(res.search),
           "trials_training_time_s": float(res.trials["training_time_s"].sum()),
           "folder": str(folder)}
    best = best_trial(res.trials)
    if best is None:
        return row | {"best_trial": "", "configuration": ""}
    t = res.trials[res.trials["trial_id"] == best["trial_id"]].iloc[0]
    test = t["test_accuracy"]
    if res.best_test and res.best_test.get("trial_id") == best["trial_id"]:
        test = float(res.best_test["test_accuracy"])
    return row | {
        "best_trial": best["trial_id"],
        "configuration": ", ".join(f"{k}={_format(v)}" for k, v in best["config"].items()
                                   if k != "seed"),
        "val_accuracy": best["val_accuracy"], "test_accuracy": test,
        "difference": test - ref if ref is not None else None,
        "params": t["params"], "epochs": t["epochs"], "training_time_s": t["training_time_s"],
    }


def compare(folders) -> pd.DataFrame:
    """One row per experiment folder: its best trial beside the report's reference.
    Raises ExperimentError for a folder that is no readable experiment."""
    rows = [_row(load(f), f) for f in folders]
    return pd.DataFrame(rows, columns=list(COLUMNS)).astype(COLUMNS)


def plot(table: pd.DataFrame, path: Path):
    """Validation and test accuracy of each search's best trial, the report's number beside, on
    an accuracy axis zoomed to the data (analysis/plots.py draws it). Returns the figure."""
    from analysis.plots import comparison
    return comparison(table, path)


def write(table: pd.DataFrame, out) -> Path:
    """comparison.{csv,md,tex,png} in `out`; returns the path of comparison.md."""
    from analysis.report import save_table
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    save_table(table, out, "comparison", latex=True)
    plot(table, out / "comparison.png")
    return out / "comparison.md"
