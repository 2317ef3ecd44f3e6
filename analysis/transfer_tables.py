"""Analysis layer: The transfer-learning tables of the reports (catalogue tables 4-6), ours beside
theirs.

    python -m analysis.transfer_tables results/resnet_head results/finetune_resnet \\
        results/resnet_extractor results/inception_resnet results/nasnet_pathmnist \\
        results/mobilenet_cifar10 --out results/transfer_tables

Every row of each table the experiments belong to is there, in the reports' order, with the
report's number and source (as each experiment's search.json recorded them; the numbers live in
search_spaces/_references.py); our columns are filled from whichever experiments ran that model
(or head / init mode) on that table's dataset. Our row is the best trial by validation accuracy
among those that completed their budget (and so have a test accuracy), else the best overall; its
loss and accuracy columns are at its best epoch, as 002's tables give train / validation loss and
accuracy beside test accuracy.
Written as CSV, Markdown and LaTeX: table4_cub200, table5_pathmnist, table6_cifar10 (those with
an experiment). Columns (analysis.read_csv reads a table's CSV back to these dtypes): model, key
(str), train loss, train accuracy, val loss, val accuracy, test accuracy (float64: ours), report
(float64), report metric (str: which of ours it compares with), difference (float64), report
source (str), trials, epochs (Int64), trial, experiment (str: "" where we have no row).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from analysis.results import load
from analysis.tables import typed

TABLES = {4: "cub200", 5: "pathmnist", 6: "cifar10"}
TITLES = {4: "Transfer learning on CUB-200", 5: "PathMNIST", 6: "CIFAR-10, MobileNet"}


def row_key(config: dict) -> str:
    """The row a trial belongs to: its model, with the head or init mode where those vary."""
    model = config.get("model", "")
    if model == "resnet50_finetune":
        return f"{model}:{config.get('head') or 'gap'}"
    if model == "mobilenet_cifar10":
        return f"{model}:{config.get('init') or 'finetune'}"
    return model


def _report_rows(results) -> list[dict]:
    """The reports' rows of every table the experiments belong to, as their search.json files
    recorded them (search_spaces/_references.py), each row once, in the reports' order."""
    rows, seen = [], set()
    for res in results:
        recorded = res.search.get("table_reference")
        for row in recorded if isinstance(recorded, list) else []:
            if isinstance(row, dict) and "table" in row and row.get("key") not in seen:
                seen.add(row["key"])
                rows.append(row)
    return rows


def _candidates(results) -> pd.DataFrame:
    """Every trial of the given experiments with its row key, dataset and experiment."""
    frames = []
    for res in results:
        if res.trials.empty:
            continue
        trials = res.trials.copy()
        trials["row"] = [row_key(c) for c in trials["config"]]
        trials["dataset"] = res.search.get("dataset")
        trials["experiment"] = str(res.folder)
        if res.best_test:  # the search's best trial, evaluated with its best weights
            best = trials["trial_id"] == res.best_test["trial_id"]
            trials.loc[best, "test_accuracy"] = res.best_test["test_accuracy"]
        frames.append(trials)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _ours(trials: pd.DataFrame) -> dict:
    usable = trials[trials["val_accuracy"].notna() & ~trials["diverged"].astype(bool)]
    if usable.empty:
        return {}
    completed = usable[usable["test_accuracy"].notna()]
    pool = completed if len(completed) else usable
    best = pool.loc[pool["val_accuracy"].idxmax()]
    return {"train loss": best["loss"], "train accuracy": best["accuracy"],
            "val loss": best["val_loss"], "val accuracy": best["val_accuracy"],
            "test accuracy": best["test_accuracy"], "trials": len(usable),
            "epochs": best["epochs"], "trial": best["trial_id"],
            "experiment": Path(best["experiment"]).name}


def tables(folders) -> dict[int, pd.DataFrame]:
    """Table number -> the table, in the reports' row order, for the given experiment folders
    (the tables their search.json files name; every row of such a table, ours where we have it)."""
    results = [load(folder) for folder in folders]
    trials = _candidates(results)
    report_rows = _report_rows(results)
    out = {}
    for number, dataset in TABLES.items():
        rows = []
        for row in report_rows:
            if row["table"] != number:
                continue
            key, what, reference = row["key"], row["model"], row["report"]
            metric, source = row["metric"], row["source"]
            mine = trials[(trials["row"] == key) & (trials["dataset"] == dataset)] \
                if len(trials) else trials
            ours = _ours(mine) if len(mine) else {}
            compared = ours.get(f"{metric} accuracy")
            rows.append({
                "model": what, "key": key, **{c: ours.get(c) for c in (
                    "train loss", "train accuracy", "val loss", "val accuracy", "test accuracy")},
                "report": reference, "report metric": f"{metric} accuracy",
                "difference": (compared - reference) if reference is not None and
                compared is not None and pd.notna(compared) else None,
                "report source": source,
                **{c: ours.get(c) for c in ("trials", "epochs", "trial", "experiment")},
            })
        if rows:  # typed: a column no row of ours fills would otherwise be of objects
            out[number] = typed(pd.DataFrame(rows), f"table{number}_{dataset}.csv")
    return out


def write(folders, out: Path) -> list[Path]:
    """Write table4_cub200, table5_pathmnist, table6_cifar10 (.csv, .md, .tex) into `out`."""
    from analysis.report import save_table
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for number, table in tables(folders).items():
        stem = f"table{number}_{TABLES[number]}"
        save_table(table, out, stem, latex=True)
        written.append(out / f"{stem}.md")
    return written


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m analysis.transfer_tables", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("folders", nargs="+", type=Path, help="experiment folders")
    p.add_argument("--out", type=Path, help="where to write (default: transfer_tables/ beside "
                                            "the first experiment)")
    args = p.parse_args(argv)
    try:
        files = write(args.folders, args.out or args.folders[0].parent / "transfer_tables")
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for file in files:
        print(file)
    return 0


if __name__ == "__main__":
    sys.exit(main())
