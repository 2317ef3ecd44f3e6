"""Analysis layer: The report's pictures (PNG), readable at a glance and by colour-blind readers:
categories in the Okabe-Ito palette (with a marker shape per trial status as well), continuous
values in viridis, legends outside the data."""

from __future__ import annotations

import contextlib
import math
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.results import STATUSES, Results

# Okabe & Ito (2008), "Color Universal Design": distinguishable under every common colour blindness.
OKABE_ITO = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#000000",
             "#F0E442"]
STATUS_STYLE = {  # colour, marker
    "completed": ("#0072B2", "o"), "stopped": ("#E69F00", "s"), "diverged": ("#D55E00", "X"),
    "error": ("#CC79A7", "D"), "unfinished": ("#56B4E9", "^"), "not started": ("#000000", "v"),
}
CMAP = "viridis"


def pyplot():
    """matplotlib.pyplot, drawing to files (Agg): no screen needed."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


@contextlib.contextmanager
def figure(path: Path, *args, **kwargs):
    """A constrained-layout figure with the suite's style, saved as PNG at the end."""
    from cycler import cycler
    plt = pyplot()

    with plt.rc_context({"axes.prop_cycle": cycler(color=OKABE_ITO), "axes.grid": True,
                         "grid.alpha": 0.3, "image.cmap": CMAP}):
        fig, axes = plt.subplots(*args, layout="constrained", **kwargs)
        try:
            yield fig, axes
            fig.savefig(path, dpi=100)
        finally:
            plt.close(fig)


def save_plot(draw, path: Path) -> None:
    """Call draw(ax) on a fresh figure and save it as PNG (the studies' tables)."""
    with figure(path, figsize=(9, 5)) as (fig, ax):
        draw(ax)


def _status_legend(fig, statuses, extra=()):
    from matplotlib.lines import Line2D
    handles = [Line2D([], [], color=STATUS_STYLE[s][0], marker=STATUS_STYLE[s][1], linestyle="",
                      label=s) for s in STATUSES if s in set(statuses)]
    fig.legend(handles=handles + list(extra), loc="outside lower center",
               ncol=len(handles) + len(extra), title="trial status", frameon=False)



def curves(res: Results, path: Path, top: int = 5) -> None:
    """Train and validation loss and accuracy per epoch of the `top` best trials."""
    from matplotlib.ticker import MaxNLocator
    with figure(path, 1, 2, figsize=(12, 4.5)) as (fig, axes):
        for i, trial_id in enumerate(res.trials["trial_id"].head(top)):
            rows = res.epochs[res.epochs["trial_id"] == trial_id]
            colour = OKABE_ITO[i % len(OKABE_ITO)]
            for ax, metric in zip(axes, ["loss", "accuracy"]):
                ax.plot(rows["epoch"], rows[metric], color=colour, marker=".",
                        label=f"{trial_id} train")
                ax.plot(rows["epoch"], rows[f"val_{metric}"], color=colour, linestyle="--",
                        marker=".", label=f"{trial_id} validation")
        for ax, metric in zip(axes, ["loss", "accuracy"]):
            ax.set(xlabel="epoch", ylabel=metric, title=f"{metric}: the {top} best trials")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        handles, labels = axes[1].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside right upper", fontsize=8,
                   title="trial (solid: train, dashed: validation)", title_fontsize=8)


def search(res: Results, path: Path) -> None:
    """Validation accuracy per epoch of every trial, by status: where ASHA stopped which."""
    from matplotlib.ticker import MaxNLocator
    status = res.trials.set_index("trial_id")["status"]
    with figure(path, figsize=(9, 5)) as (fig, ax):
        for trial_id, rows in res.epochs.groupby("trial_id"):
            colour, marker = STATUS_STYLE[status.get(trial_id, "unfinished")]
            ax.plot(rows["epoch"], rows["val_accuracy"], color=colour, marker=marker,
                    markersize=4, alpha=0.8)
        ax.set(xlabel="epoch", ylabel="validation accuracy",
               title=f"Every trial: {len(res.trials)} trials, {len(res.epochs)} epochs trained")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        _status_legend(fig, status[status.index.isin(res.epochs["trial_id"])])


def _axis(values: pd.Series, dist):
    """(positions in [0, 1], tick positions, tick labels, is categorical) of one parameter."""
    from optuna.distributions import CategoricalDistribution
    if isinstance(dist, CategoricalDistribution):
        choices = [c for c in dist.choices]
        index = {repr(c): i for i, c in enumerate(choices)}
        n = max(len(choices) - 1, 1)
        pos = pd.Series([index.get(repr(v), np.nan) / n if _present(v) else np.nan
                         for v in values], index=values.index, dtype=float)
        ticks = [i / n for i in range(len(choices))] if len(choices) > 1 else [0.0]
        return pos.astype(float), ticks, [str(c) for c in choices], True
    low, high, log = float(dist.low), float(dist.high), bool(getattr(dist, "log", False))
    f = np.log10 if log else (lambda x: x)
    span = (f(high) - f(low)) or 1.0
    numeric = pd.to_numeric(values, errors="coerce").astype(float)
    pos = (f(numeric.where(numeric > 0) if log else numeric) - f(low)) / span
    ticks = np.logspace(np.log10(low), np.log10(high), 5) if log else np.linspace(low, high, 5)
    return pos, [(f(v) - f(low)) / span for v in ticks], [f"{v:.3g}" for v in ticks], False


def _present(v) -> bool:
    """False for the NaN that marks a parameter the trial does not have (None is a value)."""
    return not (isinstance(v, float) and math.isnan(v))


def _param_values(res: Results, name: str) -> pd.Series:
    """Each trial's value of `name`; NaN where the trial has none (None is a value)."""
    return pd.Series([c.get(name, math.nan) for c in res.trials["config"]],
                     index=res.trials.index, dtype=object)  # no casting: 2 stays 2, None None


def parallel(res: Results, path: Path, dists: dict, order: list[str] | None = None) -> None:
    """Parallel coordinates of every trial, one axis per searched parameter, the last one the
    best validation accuracy; each trial a line coloured by it."""
    import matplotlib
    names = order or sorted(dists)
    acc = res.trials["val_accuracy"].astype(float)
    lo, hi = (acc.min(), acc.max()) if acc.notna().any() else (0.0, 1.0)
    hi = hi if hi > lo else lo + 1e-9
    norm = matplotlib.colors.Normalize(lo, hi)
    cmap = matplotlib.colormaps[CMAP]
    columns = [_axis(_param_values(res, n), dists[n]) for n in names]
    acc_ticks = np.linspace(lo, hi, 5)
    columns.append(((acc - lo) / (hi - lo), [(v - lo) / (hi - lo) for v in acc_ticks],
                    [f"{v:.3g}" for v in acc_ticks], False))
    with figure(path, figsize=(max(7, 1.9 * len(columns) + 2), 5.5)) as (fig, ax):
        x = np.arange(len(columns))
        ys = np.array([c[0].to_numpy(dtype=float) for c in columns]).T  # trials x axes
        styles = {"completed": "-", "stopped": "--"}
        for i in np.argsort(acc.fillna(-np.inf).to_numpy()):  # best drawn last, on top
            status = res.trials["status"].iloc[i]
            colour = "0.6" if math.isnan(acc.iloc[i]) else cmap(norm(acc.iloc[i]))
            ax.plot(x, ys[i], color=colour, linestyle=styles.get(status, ":"), linewidth=1.6,
                    marker="o", markersize=3, alpha=0.9)
        for xi, (_, ticks, labels, _) in zip(x, columns):
            ax.axvline(xi, color="0.3", linewidth=0.8)
            for t, label in zip(ticks, labels):
                ax.text(xi - 0.04, t, label, ha="right", va="center", fontsize=7)
        ax.set_xticks(x, [*names, "val accuracy"])
        ax.set_yticks([])
        ax.set_xlim(-0.5, len(columns) - 0.8)
        ax.set_ylim(-0.05, 1.05)
        ax.grid(False)
        ax.set_title(f"Parallel coordinates: {len(res.trials)} trials, coloured by best "
                     "validation accuracy\n(solid: completed, dashed: stopped by ASHA, dotted: "
                     "diverged, failed or unfinished; grey: no result)")
        fig.colorbar(matplotlib.cm.ScalarMappable(norm, cmap), ax=ax,
                     label="best validation accuracy")


def slices(res: Results, path: Path, dists: dict, order: list[str] | None = None) -> None:
    """Best validation accuracy against each searched parameter (categorical ones too)."""
    names = order or sorted(dists)
    cols = 2 if len(names) == 4 else min(len(names), 3) or 1
    rows = math.ceil(len(names) / cols) or 1
    with figure(path, rows, cols, figsize=(4.2 * cols, 3.4 * rows + 0.8), sharey=True,
                squeeze=False) as (fig, axes):
        acc = res.trials["val_accuracy"].astype(float)
        jitter = np.random.default_rng(0).uniform(-0.12, 0.12, len(res.trials))
        for ax, name in zip(axes.flat, names):
            dist = dists[name]
            values = _param_values(res, name)
            pos, ticks, labels, categorical = _axis(values, dist)
            for status, (colour, marker) in STATUS_STYLE.items():
                pick = (res.trials["status"] == status).to_numpy() & pos.notna().to_numpy()
                if not pick.any():
                    continue
                if categorical:
                    xs = pos.to_numpy()[pick] * (len(labels) - 1) + jitter[pick]
                else:
                    xs = pd.to_numeric(values[pick], errors="coerce").to_numpy(dtype=float)
                ax.scatter(xs, acc.to_numpy()[pick], color=colour, marker=marker, s=36,
                           alpha=0.85, edgecolors="white", linewidths=0.5)
            if categorical:
                ax.set_xticks(range(len(labels)), labels, rotation=30 if len(labels) > 4 else 0)
                ax.set_xlim(-0.5, len(labels) - 0.5)
            elif getattr(dist, "log", False):
                ax.set_xscale("log")
            ax.set(xlabel=name + (" (log scale)" if getattr(dist, "log", False) else ""))
        for ax in axes[:, 0]:
            ax.set_ylabel("best validation accuracy")
        for ax in list(axes.flat)[len(names):]:
            ax.set_visible(False)
        fig.suptitle("Validation accuracy against each hyperparameter")
        _status_legend(fig, res.trials.loc[acc.notna(), "status"])


def pareto_front(cost: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Indices of the points no other point beats on both: lower cost and higher score."""
    order = np.lexsort((-score, cost))  # by cost, ties: best score first
    front, best = [], -np.inf
    for i in order:
        if score[i] > best:
            front.append(i)
            best = score[i]
    return np.array(front, dtype=int)


def pareto(res: Results, path: Path) -> None:
    """Best validation accuracy against model parameters and against training time, each with
    its Pareto front (no other trial is both cheaper and more accurate)."""
    from matplotlib.lines import Line2D
    usable = res.trials[res.trials["val_accuracy"].notna()]
    with figure(path, 1, 2, figsize=(12, 5), sharey=True) as (fig, axes):
        for ax, column, label in [(axes[0], "params", "model parameters"),
                                  (axes[1], "time", "training time of the trial (s)")]:
            data = usable[usable[column].notna()]
            cost = data[column].to_numpy(dtype=float)
            score = data["val_accuracy"].to_numpy(dtype=float)
            for status, (colour, marker) in STATUS_STYLE.items():
                pick = (data["status"] == status).to_numpy()
                if pick.any():
                    ax.scatter(cost[pick], score[pick], color=colour, marker=marker, s=40,
                               alpha=0.85, edgecolors="white", linewidths=0.5, zorder=2)
            if len(data):
                front = pareto_front(cost, score)
                ax.step(cost[front], score[front], where="post", color="black", linewidth=1.2,
                        zorder=1)
                ax.scatter(cost[front], score[front], s=130, facecolors="none",
                           edgecolors="black", linewidths=1.4, zorder=3)
                if column == "params" and cost.min() > 0 and cost.max() / cost.min() > 20:
                    ax.set_xscale("log")
            ax.set(xlabel=label, title=f"Accuracy against {label.split(' (')[0]}")
        axes[0].set_ylabel("best validation accuracy")
        front_handle = Line2D([], [], color="black", marker="o", markerfacecolor="none",
                              markersize=10, label="Pareto front")
        _status_legend(fig, usable["status"], extra=[front_handle])
        fig.suptitle("What it cost: accuracy against model size and training time")


def importance(table: pd.DataFrame, path: Path, note: str) -> None:
    """Horizontal bars of the importances, largest on top."""
    with figure(path, figsize=(8, 0.55 * len(table) + 1.8)) as (fig, ax):
        ax.barh(table["parameter"], table["importance"], color=OKABE_ITO[0])
        for y, v in enumerate(table["importance"]):
            ax.text(v, y, f" {v:.2f}", va="center", fontsize=9)
        ax.invert_yaxis()
        ax.set_xlim(0, max(1e-9, table["importance"].max()) * 1.18)
        ax.set(xlabel="importance: share of the variance of val accuracy (fANOVA; sums to 1)",
               title=f"Hyperparameter importance ({note.split(' (')[0].split(' over ')[-1]})")
        ax.grid(axis="y", visible=False)
