"""Analysis layer: The report of one experiment, in report/ inside its folder (report/README.md is
the entry point):

    trials.{csv,md}      every trial, best first: status, epochs, config, scores, time
    best.{csv,md}        the best configuration beside the report's reference accuracy
    importance.{csv,md,png}  what mattered: importance of each searched hyperparameter over the
                         complete trials (optuna-dashboard's basis and numbers)
    parallel.png         every trial across the hyperparameters, coloured by val accuracy
    slice.png            val accuracy against each hyperparameter
    pareto.png           what it cost: accuracy against training time (and model size where
                         it differs), the front over completed trials
    failures.{csv,md}    diverged, failed and retried trials: epoch and reason
    curves.png, search.png   learning curves of the best trials; every trial's val accuracy
    table.{csv,md,tex,png}   a study's rebuilt report table (analysis/studies.py)

and ../optuna.db, the search as an Optuna study (analysis/optuna_study.py). Everything is read from
search.json and the trial files alone (analysis/results.py): nothing of the suite's spaces or
trainables is imported, so a report can be rebuilt anywhere:

    python -m analysis results/basenet
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd

import analysis.optuna_study as optuna_study
import analysis.plots as plots
import analysis.studies as studies
import analysis.tables as tables
from analysis.results import TRIAL_COLUMNS, Results, best_trial, load

SHOWN = ["trial_id", "status", "epochs", "best_epoch"]
SCORES = ["val_accuracy", "val_loss", "accuracy", "loss", "test_accuracy", "training_time_s"]
FAILURE_COLUMNS = tables.FAILURES


LATEX_HEAD = ("% A table for \\input{{{name}}} inside a document whose preamble has "
              "\\usepackage{{booktabs}}.\n")


def save_table(df: pd.DataFrame, folder: Path, stem: str, latex: bool = False) -> None:
    """stem.csv (which analysis.read_csv reads back to the dtypes analysis/tables.py documents),
    stem.md, and stem.tex when `latex`."""
    df = tables.typed(df, f"{stem}.csv")
    df.to_csv(folder / f"{stem}.csv", index=False)
    (folder / f"{stem}.md").write_text(df.to_markdown(index=False, floatfmt=".4g") + "\n")
    if latex:
        # escape: column names and values hold _ (val_accuracy, fashion_mlp, batch_size=32),
        # and & % # too in free text such as a reference's source; bare, LaTeX rejects them.
        # pandas leaves them bare by default since 2.0.
        tex = df.to_latex(index=False, float_format="%.4g", escape=True, na_rep="--")
        (folder / f"{stem}.tex").write_text(LATEX_HEAD.format(name=f"{stem}.tex") + tex)


def config_columns(res: Results) -> list[str]:
    return [c for c in res.trials.columns if c not in TRIAL_COLUMNS and c != "seed"]


def trials_table(res: Results) -> pd.DataFrame:
    """All trials, best first: config, epochs run, best val accuracy and loss, test accuracy,
    training time in seconds, status."""
    return res.trials[SHOWN + config_columns(res) + SCORES]


def reference_for(res: Results) -> tuple[float | None, str]:
    """The report's own test accuracy for this space and dataset (search.json), and its source."""
    acc, source = res.reference
    if "reference" not in res.search:
        source = (f"none recorded: search.json predates the report's number for {res.space} on "
                  f"{res.dataset}")
    return acc, source


def best_table(res: Results) -> pd.DataFrame:
    """The best configuration, its scores, and the report's reference beside them."""
    best = best_trial(res.trials)
    if best is None:  # the fixed columns still, so that best.csv reads back (no config known)
        return pd.DataFrame(columns=list(tables.BEST)).astype(tables.BEST)
    row = res.trials[res.trials["trial_id"] == best["trial_id"]].iloc[0]
    test = res.best_test["test_accuracy"] if res.best_test else row["test_accuracy"]
    ref, source = reference_for(res)
    config = {k: v for k, v in best["config"].items() if k != "seed"}
    return pd.DataFrame([{
        "space": res.space, "dataset": res.dataset, **config,
        "trial_id": best["trial_id"], "epochs": row["epochs"], "best_epoch": row["best_epoch"],
        "val_accuracy": best["val_accuracy"], "test_accuracy": test,
        "reference_test_accuracy": ref,
        "difference": (test - ref) if ref is not None and pd.notna(test) else None,
        "reference_source": source,
    }])


def untested_note(res: Results, best: pd.DataFrame) -> str:
    """Why the best configuration has no test score, in one line; "" when it has one."""
    if not len(best) or pd.notna(best["test_accuracy"].iloc[0]):
        return ""
    trial = res.trials.set_index("trial_id").loc[best["trial_id"].iloc[0]]
    every = res.search.get("checkpoint_every")
    if trial["checkpoint"] or trial["status"] == "unfinished":
        return ("No test score yet: the search stopped before its best trial was tested; "
                "`--resume` finishes the search and tests it.\n")
    if isinstance(every, int) and every > 1 and trial["epochs"] < every:
        return (f"No test score: ASHA stopped this trial at epoch {trial['epochs']}, before its "
                f"first checkpoint (`--checkpoint-every {every}`), so none of its weights were "
                f"kept to test.\n")
    return ("No test score: no checkpoint of this trial can be read (missing or damaged; see "
            "Skipped), so there are no weights of it to test.\n")


def ensemble_note(res: Results) -> str:
    """The ensemble's test score beside the best trial's, in one line; "" without one."""
    ensemble = (res.best_test or {}).get("ensemble")
    if not ensemble:
        return ""
    ids = ensemble["trial_ids"]
    return (f"Ensemble of the {len(ids)} trials with the best val accuracy (their predicted class "
            f"probabilities averaged; `--ensemble`): test accuracy "
            f"{ensemble['test_accuracy']:.4f}, against {res.best_test['test_accuracy']:.4f} for "
            f"the best trial alone. Trials: {', '.join(map(str, ids))}.\n")


def failures_table(res: Results) -> pd.DataFrame:
    """Diverged, failed (error) and retried trials: the epoch it happened in and why."""
    rows = []
    for _, t in res.trials.iterrows():
        if t["status"] == "diverged":
            reason = "the loss became NaN"
        elif t["status"] == "error":
            reason = t["error"] or "failed; Ray wrote no error.txt"
        elif t["retried"]:
            reason = "retried from its checkpoint after: " + (t["error"] or "a failure")
        else:
            continue
        rows.append({"trial_id": t["trial_id"], "status": t["status"], "retried": t["retried"],
                     "epoch": t["failed_epoch"], "reason": reason})
    return pd.DataFrame(rows, columns=list(FAILURE_COLUMNS)).astype(FAILURE_COLUMNS)


def _md(df: pd.DataFrame) -> str:
    return df.to_markdown(index=False, floatfmt=".4g") + "\n"


def _concurrency(trials_at_a_time) -> str:
    """One line on repeatability: trials at a time make the order of results a matter of timing."""
    if not isinstance(trials_at_a_time, int) or isinstance(trials_at_a_time, bool):
        return "- trials at a time: not recorded"
    if trials_at_a_time == 1:
        return ("- one trial at a time: the same command gives the same trials, stop decisions "
                "and metrics")
    return (f"- up to {trials_at_a_time} trials at a time: the order in which results arrive, "
            f"and so the sampler's proposals and ASHA's decisions, depend on timing; "
            f"`--max-concurrent 1` makes a search repeatable")


def _evaluated(ema_epochs) -> str:
    """One line on which weights the val and test scores are of (`--ema-epochs`)."""
    if not ema_epochs:  # 0, or a search.json from before the option: the trained weights
        return "- val and test scores: of the weights as trained"
    return (f"- val and test scores: of an exponential moving average of the weights over "
            f"{ema_epochs:g} epoch{'s' if ema_epochs != 1 else ''} (`--ema-epochs`; training "
            f"itself is unchanged)")


def _summary(res: Results, trials: pd.DataFrame) -> list[str]:
    budget = res.search.get("budget") or {}
    grid = res.search.get("grid") if isinstance(res.search.get("grid"), dict) else None
    counts = trials["status"].value_counts().to_dict() if len(trials) else {}
    statuses = ", ".join(f"{v} {k}" for k, v in counts.items())  # "" without trials
    hours = trials["training_time_s"].sum() / 3600 if len(trials) else 0.0
    return [
        f"# {res.space} on {res.dataset}", "",
        f"- model: {res.model}; metric: {res.metric} ({res.mode})",
        (f"- grid: {'; '.join(f'{k} in {v}' for k, v in grid.items())}: every combination "
         f"trained for up to {budget.get('max_epochs')} epochs (no ASHA)") if grid else
        f"- budget: {budget.get('num_samples')} trials, up to {budget.get('max_epochs')} epochs, "
        f"ASHA grace {budget.get('grace_period')}, reduction factor "
        f"{budget.get('reduction_factor')}",
        f"- trials: {len(trials)}{f' ({statuses})' if statuses else ''}; "
        f"epochs trained: {len(res.epochs)}; training time: {hours * 60:.1f} min in all",
        f"- search {'finished' if res.finished else 'did not finish'}"
        + (f" (stopped by its {res.search['stopped_by']})" if res.search.get("stopped_by")
           else ""),
        _evaluated(res.search.get("ema_epochs")),
        _concurrency(res.search.get("max_concurrent")),
        "- the search as an Optuna study: `../optuna.db` "
        f"(`optuna.load_study(study_name={res.name!r}, storage='sqlite:///.../optuna.db')`)",
        # Ray prints a --logdir in its temporary session folder (/tmp/ray): a staging copy,
        # not the results, cleaned away in time; the experiment folder holds the event files.
        f"- learning curves in TensorBoard: `tensorboard --logdir {res.folder}` (every trial's "
        "event files are in its folder)", "",
    ]


def write(folder, best_test: Callable[[], dict | None] | None = None) -> Path:
    """Write report/ (and optuna.db) inside the experiment folder; returns report/README.md.

    `best_test`, when given, returns best_test.json's record: a caller still computing it (the
    driver tests the best trial in another process meanwhile) is waited for only once the plots
    are drawn, before the tables that show the test score."""
    res = load(folder)
    out = res.folder / "report"
    out.mkdir(exist_ok=True)
    trials, failures = trials_table(res), failures_table(res)
    save_table(trials, out, "trials")
    save_table(failures, out, "failures")
    files = ["[trials](trials.md)", "[best](best.md)", "[failures](failures.md)"]
    lines: list[str] = []  # the best configuration goes first: it is filled in after the plots

    try:
        optuna_study.write(res)
    except Exception as e:  # a report without optuna.db beats no report
        res.skipped.append(("optuna.db", f"not written: {type(e).__name__}: {e}"))

    dists, _ = optuna_study.distributions(res)
    searched = {k: d for k, d in dists.items() if not d.single()}
    importance, note, basis = optuna_study.importances(res)
    save_table(importance, out, "importance")
    files.append("[importance](importance.md)")
    lines += ["## What mattered: hyperparameter importance", "", note, ""]
    if len(importance):
        plots.importance(importance, out / "importance.png", basis)
        files.append("[importance.png](importance.png)")
        lines += ["![hyperparameter importance](importance.png)", "", _md(importance)]
    order = [p for p in importance["parameter"] if p in searched] + sorted(
        set(searched) - set(importance["parameter"]))

    scored = res.trials["val_accuracy"].notna().any()
    if scored and searched:
        plots.parallel(res, out / "parallel.png", searched, order)
        plots.slices(res, out / "slice.png", searched, order)
        files += ["[parallel.png](parallel.png)", "[slice.png](slice.png)"]
        lines += ["## Every trial across the hyperparameters", "",
                  "![parallel coordinates](parallel.png)", "", "![val accuracy against each "
                  "hyperparameter](slice.png)", ""]
    if scored:
        panels = plots.pareto_panels(res)
        plots.pareto(res, out / "pareto.png")
        files.append("[pareto.png](pareto.png)")
        same = ("" if any(p["column"] == "params" for p in panels) else
                " Every trial has the same model size, so only training time is drawn.")
        stopped = ((res.trials["status"] == "stopped") & res.trials["val_accuracy"].notna()).sum()
        off = (f" The {stopped} trials ASHA stopped are drawn (squares) but left off the front: "
               f"they are cheap because they were stopped." if stopped else "")
        lines += ["## What it cost", "", "Circled: the Pareto front of the trials that ran "
                  "their whole budget, those no other such trial beats on both accuracy and "
                  "cost." + off + same, "", "![accuracy against cost](pareto.png)", ""]
    if len(res.epochs):
        plots.curves(res, out / "curves.png")
        plots.search(res, out / "search.png")
        files += ["[curves.png](curves.png)", "[search.png](search.png)"]
        lines += ["## Learning curves", "", "![learning curves](curves.png)", "",
                  "![every trial](search.png)", ""]

    if best_test is not None:
        res.best_test = best_test()
    best = best_table(res)
    save_table(best, out, "best")
    notes = [n for n in (untested_note(res, best), ensemble_note(res)) if n]
    lines[:0] = ["## Best configuration", "",
                 _md(best) if len(best) else "No trial has a result yet.\n", *notes]

    if res.space in studies.TABLES and len(res.trials):
        table, plot = studies.TABLES[res.space](res)
        save_table(table, out, "table", latex=True)
        plots.save_plot(plot, out / "table.png")
        files += ["[table](table.md)", "[table.tex](table.tex)", "[table.png](table.png)"]
        lines += ["## The report's table, rebuilt", "", studies.note(res),
                  "![table](table.png)", "", _md(table)]

    lines += ["## Failures", "", _md(failures) if len(failures) else
              "No trial diverged, failed or was retried.\n"]
    res.skipped[:] = list(dict.fromkeys(res.skipped))  # distributions are read twice
    if res.skipped:
        skipped = pd.DataFrame(res.skipped, columns=["file", "why it was skipped"])
        lines += ["## Skipped", "", "Damaged files (or lines of them) that were left out; the "
                  "rest of the report stands without them.", "", _md(skipped)]
    lines += ["## All trials", "", _md(trials)]
    head = _summary(res, trials) + ["Files: " + ", ".join(files), ""]
    readme = out / "README.md"
    readme.write_text("\n".join(head + lines))
    return readme
