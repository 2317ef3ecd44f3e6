"""The report of one experiment: tables (CSV + Markdown) and learning curves (PNG) in report/.

    python -m analysis results/basenet      # rebuilds results/basenet/report/ from the folder alone
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from analysis import studies
from analysis.results import Results, best_trial, load

HIDDEN = {"_config", "checkpoint", "seed", "diverged", "params"}


def save_table(df: pd.DataFrame, folder: Path, stem: str, latex: bool = False) -> None:
    df.to_csv(folder / f"{stem}.csv", index=False)
    (folder / f"{stem}.md").write_text(df.to_markdown(index=False, floatfmt=".4g") + "\n")
    if latex:
        (folder / f"{stem}.tex").write_text(df.to_latex(index=False, float_format="%.4g"))


def trials_table(res: Results) -> pd.DataFrame:
    """All trials, best first: config, epochs run, best val accuracy and loss, test accuracy, status."""
    first = ["trial_id", "status", "epochs", "best_epoch"]
    scores = ["val_accuracy", "val_loss", "accuracy", "loss", "test_accuracy"]
    config = [c for c in res.trials.columns
              if c not in HIDDEN and c not in first + scores and c != "test_loss"]
    return res.trials[first + config + scores]


def reference_for(search: dict) -> tuple[float | None, str]:
    """The report's own test accuracy for this space and dataset, and where it comes from (as
    search.json recorded them)."""
    reference = search.get("reference") or {}
    return reference.get("test_accuracy"), reference.get("source", "not recorded")


def best_table(res: Results) -> pd.DataFrame:
    """The best configuration, its scores, and the report's reference beside them."""
    best = best_trial(res.trials)
    if best is None:
        return pd.DataFrame()
    row = res.trials[res.trials["trial_id"] == best["trial_id"]].iloc[0]
    test = res.best_test["test_accuracy"] if res.best_test else row["test_accuracy"]
    ref, source = reference_for(res.search)
    config = {k: v for k, v in best["config"].items() if k != "seed"}
    return pd.DataFrame([{
        "space": res.search["space"], "dataset": res.search["dataset"], **config,
        "trial_id": best["trial_id"], "epochs": row["epochs"], "best_epoch": row["best_epoch"],
        "val_accuracy": best["val_accuracy"], "test_accuracy": test,
        "reference_test_accuracy": ref,
        "difference": (test - ref) if ref is not None and pd.notna(test) else None,
        "reference_source": source,
    }])


def plot_curves(res: Results, path: Path, top: int = 5) -> None:
    """Train and validation loss and accuracy per epoch of the `top` best trials."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for i, trial_id in enumerate(res.trials["trial_id"].head(top)):
        rows = res.epochs[res.epochs["trial_id"] == trial_id]
        for ax, metric in zip(axes, ["loss", "accuracy"]):
            ax.plot(rows["epoch"], rows[metric], color=f"C{i}", label=f"{trial_id} train")
            ax.plot(rows["epoch"], rows[f"val_{metric}"], color=f"C{i}", linestyle="--",
                    label=f"{trial_id} val")
    for ax, metric in zip(axes, ["loss", "accuracy"]):
        ax.set(xlabel="epoch", ylabel=metric, title=f"{metric}: best {top} trials")
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_search(res: Results, path: Path) -> None:
    """Validation accuracy per epoch of every trial: where ASHA stopped which."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    for trial_id, rows in res.epochs.groupby("trial_id"):
        ax.plot(rows["epoch"], rows["val_accuracy"], marker=".", alpha=0.7)
    ax.set(xlabel="epoch", ylabel="val_accuracy",
           title=f"{len(res.trials)} trials, {len(res.epochs)} epochs trained")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def save_plot(draw, path: Path) -> None:
    """Call draw(ax) on a fresh figure and save it as PNG."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 5))
    draw(ax)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write(folder) -> Path:
    """Write report/ inside the experiment folder; returns the path of its README.md."""
    res = load(folder)
    out = res.folder / "report"
    out.mkdir(exist_ok=True)
    trials, best = trials_table(res), best_table(res)
    save_table(trials, out, "trials")
    save_table(best, out, "best")
    budget = res.search["budget"]
    counts = trials["status"].value_counts().to_dict() if len(trials) else {}
    lines = [
        f"# {res.search['space']} on {res.search['dataset']}", "",
        f"- budget: {budget['num_samples']} trials, up to {budget['max_epochs']} epochs, "
        f"ASHA grace {budget['grace_period']}, reduction factor {budget['reduction_factor']}",
        f"- trials: {len(trials)} ({', '.join(f'{v} {k}' for k, v in counts.items())}); "
        f"epochs trained: {len(res.epochs)}",
        f"- search {'finished' if res.search.get('finished') else 'did not finish'}", "",
    ]
    if len(res.epochs):
        plot_curves(res, out / "curves.png")
        plot_search(res, out / "search.png")
        lines += ["![learning curves](curves.png)", "", "![search](search.png)", ""]
    if res.search["space"] in studies.TABLES and len(res.trials):
        table, plot = studies.TABLES[res.search["space"]](res)
        save_table(table, out, "table", latex=True)
        save_plot(plot, out / "table.png")
        space_dataset = res.search.get("space_dataset", res.search["dataset"])
        note = ("" if res.search["dataset"] == space_dataset else
                f"The report's numbers were measured on {space_dataset}, ours on "
                f"{res.search['dataset']}: compare the pattern, not the values.\n")
        lines += ["## The report's table, rebuilt", "", note, "![table](table.png)", "",
                  (out / "table.md").read_text()]
    lines += ["## Best configuration", "", (out / "best.md").read_text(),
              "## All trials", "", (out / "trials.md").read_text()]
    readme = out / "README.md"
    readme.write_text("\n".join(lines))
    return readme
