"""Analysis layer: The report tables that studies rebuild, our numbers beside the reports' own.

One function per study space, named as the space: Results -> (table, plot function or None).
The reports' numbers come from search.json's `table_reference` (the study module's TABLE_REFERENCE,
written by the driver as JSON); a folder without it gets the table with empty reference columns.
"""

from __future__ import annotations

import pandas as pd

from analysis.results import Results


def _reference(res: Results, kind: type = dict):
    """The study's report table, as search.json recorded it (empty when it did not)."""
    ref = res.table_reference
    return ref if isinstance(ref, kind) else kind()


def note(res: Results) -> str:
    """What the reader must keep in mind when comparing our numbers with the report's."""
    if res.table_reference is None:
        return ("search.json records no table_reference (a search run before the driver wrote "
                "it): the report's columns are empty.\n")
    own = res.search.get("space_dataset")
    if own is None:
        return (f"search.json does not record on which dataset the report measured its numbers; "
                f"ours are on {res.dataset}: unless that is the report's dataset, compare the "
                "pattern, not the values.\n")
    if own != res.dataset:
        return (f"The report's numbers were measured on {own}, ours on {res.dataset}: compare "
                "the pattern, not the values.\n")
    return ""


def _flip_zoom(reference) -> dict:
    """augmentation_grid's table_reference, a list of {flip, zoom, test_accuracy} records (JSON
    has no tuple keys) -> {(flip, zoom): test accuracy}."""
    table = {}
    for r in reference if isinstance(reference, list) else []:
        if isinstance(r, dict) and {"flip", "zoom", "test_accuracy"} <= r.keys():
            table[(bool(r["flip"]), float(r["zoom"]))] = r["test_accuracy"]
    return table


def _number(value) -> float:
    """A reference number as a float; NaN where the reference has none."""
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) \
        else float("nan")


def _legend(ax) -> None:
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)


def _last_epoch(res: Results) -> pd.DataFrame:
    """Each trial's metrics at its last epoch (where within-trial early stopping left it)."""
    return res.epochs.sort_values("epoch").groupby("trial_id").tail(1).set_index("trial_id")


def optimizers_cv(res: Results):
    """Rows I1..I5, Mean, Std; columns the optimizers: validation accuracy of each fold at the
    last epoch (the report's early stopping did not restore the best weights), report beside."""
    last = _last_epoch(res)
    trials = res.trials.set_index("trial_id")
    trials["fold_accuracy"] = last["val_accuracy"]
    ours = trials.pivot_table(index="fold", columns="optimizer", values="fold_accuracy")
    reference = _reference(res)
    ours = ours[sorted(ours.columns, key=lambda o: list(reference).index(o)
                       if o in reference else len(reference))]
    ours.index = [f"I{int(f) + 1}" for f in ours.index]
    ours.loc["Mean"] = ours.mean()
    ours.loc["Std"] = ours.iloc[:-1].std(ddof=1)
    table = pd.DataFrame(index=ours.index)
    for opt in ours.columns:
        table[opt] = ours[opt]
        if opt in reference:
            folds, mean = reference[opt][:-1], reference[opt][-1]
            by_row = {f"I{i + 1}": v for i, v in enumerate(folds)}
            by_row |= {"Mean": mean, "Std": pd.Series(folds).std(ddof=1)}
            table[f"{opt} (report)"] = [by_row[r] for r in table.index]
    table = table.reset_index(names="fold")  # a nameless column reads back as "Unnamed: 0"

    def plot(ax):
        means, stds = ours.loc["Mean"], ours.loc["Std"]
        x = range(len(means))
        ax.bar([i - 0.2 for i in x], means, 0.4, yerr=stds, capsize=4, label="ours")
        refs = [_number((reference.get(o) or [None])[-1]) for o in means.index]
        ax.bar([i + 0.2 for i in x], refs, 0.4, label="report 000", alpha=0.6)
        ax.set_xticks(list(x), means.index)
        ax.set(ylabel="validation accuracy (mean of folds, std as bars)",
               title="Optimizers, 5-fold cross-validation")
        _legend(ax)
    return table, plot


def model_comparison(res: Results):
    """One row per model (and per modification the grid varied), scores at the best epoch."""
    reference = _reference(res)
    grid = res.search.get("grid")
    varied = [k for k in (grid if isinstance(grid, dict) else {})
              if k != "model" and k in res.trials.columns]
    rows = []
    for _, t in res.trials.iterrows():
        ref, source = (list(reference.get(t["model"]) or []) + [None, ""])[:2]
        rows.append({"model": t["model"], **{k: t[k] for k in varied},
                     "loss": t["loss"], "accuracy": t["accuracy"], "val_loss": t["val_loss"],
                     "val_accuracy": t["val_accuracy"], "test_accuracy": t["test_accuracy"],
                     "epochs": t["epochs"], "params": t["params"],
                     "reference_test_accuracy": _number(ref), "reference_source": source})
    order = {m: i for i, m in enumerate(reference)}
    table = pd.DataFrame(rows).sort_values(["model", *varied], key=lambda c: c.map(order)
                                           if c.name == "model" else c).reset_index(drop=True)

    def plot(ax):
        labels = [" ".join(str(r[k]) for k in ["model", *varied]) for _, r in table.iterrows()]
        x = range(len(table))
        ax.barh([i - 0.2 for i in x], table["test_accuracy"], 0.4, label="ours")
        ax.barh([i + 0.2 for i in x], table["reference_test_accuracy"], 0.4, label="report",
                alpha=0.6)
        ax.set_yticks(list(x), labels, fontsize=7)
        ax.invert_yaxis()
        ax.set(xlabel="test accuracy", title="Models from scratch")
        _legend(ax)
    return table, plot


def augmentation_grid(res: Results):
    """Report 002 table 4: horizontal flip x zoom range, in the report's order."""
    reference = _flip_zoom(_reference(res, list))
    rows = [{"horizontal_flip": bool(t["flip"]), "zoom_range": float(t["zoom"]),
             "val_accuracy": t["val_accuracy"], "test_accuracy": t["test_accuracy"],
             "reference_test_accuracy": _number(reference.get((bool(t["flip"]),
                                                                         float(t["zoom"]))))}
            for _, t in res.trials.iterrows()]
    table = pd.DataFrame(rows).sort_values(["zoom_range", "horizontal_flip"]).reset_index(drop=True)

    def plot(ax):
        labels = [f"{'T' if r.horizontal_flip else 'F'}/{r.zoom_range:g}"
                  for r in table.itertuples()]
        x = range(len(table))
        ax.bar([i - 0.2 for i in x], table["test_accuracy"], 0.4, label="ours")
        ax.bar([i + 0.2 for i in x], table["reference_test_accuracy"], 0.4, label="report 002",
               alpha=0.6)
        ax.set_xticks(list(x), labels)
        ax.set(xlabel="horizontal flip / zoom range", ylabel="test accuracy",
               title="Augmentation grid")
        _legend(ax)
    return table, plot


TABLES = {f.__name__: f for f in (optimizers_cv, model_comparison, augmentation_grid)}
