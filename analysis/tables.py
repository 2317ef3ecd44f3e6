"""Analysis layer: The CSV files the analysis writes, their documented columns and dtypes, and
read_csv, which reads any of them back to exactly those:

    from analysis import read_csv
    trials = read_csv("results/basenet/report/trials.csv")

Plain `pandas.read_csv` guesses each column's type from its values: a Ray trial id that is all
digits, or looks like `1234e567`, comes back as a number; a count with a gap (`Int64`) as floats;
a text column that is empty in every row as floats. read_csv is `pandas.read_csv` with the dtypes
below, and "" for a missing text; columns not named here (a search's configuration: one per key of
params.json) are left to pandas to infer.

    report/trials.csv      TRIALS: trial_id, status, epochs, best_epoch, <configuration>,
                           val_accuracy, val_loss, accuracy, loss, test_accuracy, training_time_s
    report/best.csv        BEST: space, dataset, <configuration>, trial_id, epochs, best_epoch,
                           val_accuracy, test_accuracy, reference_test_accuracy, difference,
                           reference_source (no row when no trial has a result)
    report/failures.csv    FAILURES: trial_id, status, retried, epoch, reason
    report/importance.csv  IMPORTANCE: parameter, importance
    report/table.csv       STUDY: a study's rebuilt table (analysis/studies.py); its columns
                           depend on the study: optimizers_cv fold, then one column per optimizer
                           and its "(report)" column; model_comparison model, <what the grid
                           varied>, loss, accuracy, val_loss, val_accuracy, test_accuracy,
                           epochs, params, reference_test_accuracy, reference_source;
                           augmentation_grid horizontal_flip, zoom_range, val_accuracy,
                           test_accuracy, reference_test_accuracy
    comparison.csv         analysis.comparison.COLUMNS (documented in analysis/comparison.py)
    table<N>_<dataset>.csv TRANSFER: analysis/transfer_tables.py's tables

Times are seconds, and their columns say so (`training_time_s`).
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from analysis.results import TRIAL_COLUMNS

SCORES = {"val_accuracy": "float64", "val_loss": "float64", "accuracy": "float64",
          "loss": "float64", "test_accuracy": "float64"}
TRIALS = {c: TRIAL_COLUMNS[c] for c in ("trial_id", "status", "epochs", "best_epoch")} | SCORES | {
    "training_time_s": "float64"}
BEST = {"space": "str", "dataset": "str", "trial_id": "str", "epochs": "int64",
        "best_epoch": "Int64", "val_accuracy": "float64", "test_accuracy": "float64",
        "reference_test_accuracy": "float64", "difference": "float64",
        "reference_source": "str"}  # the configuration's columns go after dataset
FAILURES = {"trial_id": "str", "status": "str", "retried": "bool", "epoch": "Int64",
            "reason": "str"}
IMPORTANCE = {"parameter": "str", "importance": "float64"}
STUDY = SCORES | {"fold": "str", "model": "str", "epochs": "int64", "params": "Int64",
                  "reference_test_accuracy": "float64", "reference_source": "str",
                  "horizontal_flip": "bool", "zoom_range": "float64"}
TRANSFER = {"model": "str", "key": "str", "train loss": "float64", "train accuracy": "float64",
            "val loss": "float64", "val accuracy": "float64", "test accuracy": "float64",
            "report": "float64", "report metric": "str", "difference": "float64",
            "report source": "str", "trials": "Int64", "epochs": "Int64", "trial": "str",
            "experiment": "str"}

COMPARISON = {
    "experiment": "str", "space": "str", "dataset": "str", "model": "str", "finished": "bool",
    "trials": "int64", "completed": "int64", "best_trial": "str", "configuration": "str",
    "val_accuracy": "float64", "test_accuracy": "float64", "reference_test_accuracy": "float64",
    "difference": "float64", "reference_source": "str", "params": "Int64", "epochs": "Int64",
    "training_time_s": "float64", "search_wall_time_s": "float64",
    "trials_training_time_s": "float64", "folder": "str",
}


def dtypes(name: str) -> dict[str, str]:
    """The documented dtypes of the suite's CSV file called `name` (a file name or path)."""
    name = Path(name).name
    known = {"trials.csv": TRIALS, "best.csv": BEST, "failures.csv": FAILURES,
             "importance.csv": IMPORTANCE, "table.csv": STUDY, "comparison.csv": COMPARISON}
    if name in known:
        return known[name]
    if re.fullmatch(r"table\d+_\w+\.csv", name):
        return TRANSFER
    raise ValueError(f"{name} is none of the CSV files the analysis writes")


def typed(df: pd.DataFrame, name: str) -> pd.DataFrame:
    """`df` with the documented dtypes of its columns (those it has), "" for a missing text:
    what is written is then exactly what read_csv gives back."""
    types = {c: t for c, t in dtypes(name).items() if c in df.columns}
    text = [c for c, t in types.items() if t == "str"]
    return df.astype(types).fillna({c: "" for c in text})


def read_csv(path) -> pd.DataFrame:
    """One of the suite's CSV files, with its documented columns' dtypes (`dtypes`)."""
    header = pd.read_csv(path, nrows=0).columns
    types = {c: t for c, t in dtypes(path).items() if c in header}
    # keep_default_na stays: "" and NaN mean missing; a text's missing value is "" in memory
    df = pd.read_csv(path, dtype=types)
    return df.fillna({c: "" for c, t in types.items() if t == "str"})
