"""Analysis layer: The report's pictures (PNG), readable at a glance and by colour-blind readers:
categories in the Okabe-Ito palette (with a marker shape per trial status as well), continuous
values in viridis, legends outside the data."""

from __future__ import annotations

import contextlib
import math
import textwrap
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
            plt.close(fig)  # off pyplot's list; the Figure itself stays readable by its caller


def zoom(values, pad: float = 0.08, low: float | None = 0.0, high: float | None = 1.0,
         least: float = 0.02) -> tuple[float, float]:
    """Axis limits that hug the data: its range plus `pad` of it each side, at least `least`
    wide (one value, or several equal), clipped to [low, high] where given (an accuracy axis
    has no room below 0 or above 1). A fixed 0-1 axis makes 0.955 and 0.986 look alike."""
    v = np.asarray([x for x in np.ravel(values) if x is not None and np.isfinite(x)], float)
    if not v.size:
        return (low if low is not None else 0.0), (high if high is not None else 1.0)
    lo, hi = float(v.min()), float(v.max())
    margin = max((hi - lo) * pad, (least - (hi - lo)) / 2, 0.0)
    lo, hi = lo - margin, hi + margin
    return (max(lo, low) if low is not None else lo), (min(hi, high) if high is not None else hi)


def save_plot(draw, path: Path):
    """Call draw(ax) on a fresh figure and save it as PNG (the studies' tables)."""
    with figure(path, figsize=(9, 5)) as (fig, ax):
        draw(ax)
    return fig


def _status_legend(fig, statuses, extra=()):
    from matplotlib.lines import Line2D
    handles = [Line2D([], [], color=STATUS_STYLE[s][0], marker=STATUS_STYLE[s][1], linestyle="",
                      label=s) for s in STATUSES if s in set(statuses)]
    fig.legend(handles=handles + list(extra), loc="outside lower center",
               ncol=len(handles) + len(extra), title="trial status", frameon=False)



def curves(res: Results, path: Path, top: int = 5):
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
    return fig


def search(res: Results, path: Path):
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
    return fig


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


LABEL_PT = 7  # the value labels on the parallel axes


def _spaced(ticks: list, labels: list[str], height_in: float) -> list[tuple[float, str]]:
    """The (position, label) pairs of one parallel axis that fit its height without touching:
    every k-th of many categories, and one label where all ticks say the same (equal scores)."""
    pairs = list(dict(zip(labels, ticks)).items())  # equal labels: the first position only
    gap = 1.6 * LABEL_PT / 72 / max(height_in, 1e-9)  # one line of text and room, in [0, 1]
    kept: list[tuple[float, str]] = []
    for label, t in sorted(pairs, key=lambda p: p[1]):
        if not kept or t - kept[-1][0] >= gap:
            kept.append((t, label))
    return kept


def _wrapped(name: str, width: int = 14) -> str:
    """A long parameter name broken at its underscores, so that neighbouring names never meet."""
    if len(name) <= width or "_" not in name:
        return name
    parts, lines = name.split("_"), [""]
    for part in parts:
        piece = part if not lines[-1] else "_" + part
        if lines[-1] and len(lines[-1] + piece) > width:
            lines[-1] += "_"
            lines.append(part)
        else:
            lines[-1] += piece
    return "\n".join(lines)


def parallel(res: Results, path: Path, dists: dict, order: list[str] | None = None):
    """Parallel coordinates of every trial, one axis per searched parameter, the last one the
    best validation accuracy (its range is the data's); each trial a line coloured by it.
    Returns the figure."""
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
    height, width = 5.5, max(7, 1.9 * len(columns) + 2)
    with figure(path, figsize=(width, height)) as (fig, ax):
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
            # the axes take about 3/4 of the figure's height; on a white box, so that the
            # lines crossing behind a label leave it legible
            for t, label in _spaced(ticks, labels, 0.75 * height / 1.1):
                ax.text(xi - 0.04, t, label, ha="right", va="center", fontsize=LABEL_PT,
                        zorder=5, bbox={"boxstyle": "square,pad=0.1", "facecolor": "white",
                                        "edgecolor": "none", "alpha": 0.85})
        ax.set_xticks(x, [_wrapped(n) for n in [*names, "val accuracy"]])
        ax.set_yticks([])
        ax.set_xlim(-0.5, len(columns) - 0.8)
        ax.set_ylim(-0.05, 1.05)
        ax.grid(False)
        # about 10 characters of the title's size to an inch of the axes (the figure less the
        # colorbar and margins), over which the title is centred
        chars = int((width - 2) * 10)
        ax.set_title("\n".join(textwrap.wrap(
            f"Parallel coordinates: {len(res.trials)} trials, coloured by best validation "
            "accuracy", chars)
            + textwrap.wrap("(solid: completed, dashed: stopped by ASHA, dotted: diverged, "
                            "failed or unfinished; grey: no result)", chars)))
        fig.colorbar(matplotlib.cm.ScalarMappable(norm, cmap), ax=ax,
                     label="best validation accuracy")
    return fig


def slices(res: Results, path: Path, dists: dict, order: list[str] | None = None):
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
                # upright, many names side by side meet (a slant only hides that they do)
                ax.set_xticks(range(len(labels)), labels,
                              rotation=90 if len(labels) > 4 else 0)
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
    return fig


def pareto_front(cost: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Indices of the points no other point beats on both: lower cost and higher score."""
    order = np.lexsort((-score, cost))  # by cost, ties: best score first
    front, best = [], -np.inf
    for i in order:
        if score[i] > best:
            front.append(i)
            best = score[i]
    return np.array(front, dtype=int)


def _time_column(trials: pd.DataFrame) -> str:
    """The trials' training-time column: `training_time_s`, named `time` in older code."""
    return "training_time_s" if "training_time_s" in trials.columns else "time"


def pareto_panels(res: Results) -> list[dict]:
    """What pareto.png draws, panel by panel: {column, label, data (the trials with a score and a
    cost), front (trial ids on the Pareto front)}.

    A cost axis is drawn only where the trials differ in it: with one model size for all, the
    parameter panel would be a vertical stripe that says nothing. The front is drawn over the
    trials that ran their whole budget: one that ASHA stopped after an epoch is cheap because it
    was stopped, not a configuration anyone would pick, so it is shown (marked as stopped) but
    never on the front. Without completed trials (a search stopped early) there is no front."""
    usable = res.trials[res.trials["val_accuracy"].notna()]
    panels = []
    for column, label in [("params", "model parameters"),
                          (_time_column(res.trials), "training time of the trial (s)")]:
        data = usable[usable[column].notna()]
        if column == "params" and data[column].nunique() < 2:
            continue
        full = data[data["status"] == "completed"]
        front = full["trial_id"].iloc[pareto_front(full[column].to_numpy(dtype=float),
                                                   full["val_accuracy"].to_numpy(dtype=float))]
        panels.append({"column": column, "label": label, "data": data, "front": list(front)})
    return panels


def pareto(res: Results, path: Path):
    """Best validation accuracy against model parameters (where the trials differ in size) and
    against training time, each with the Pareto front of the completed trials (no other
    completed trial is both cheaper and more accurate). Returns the figure."""
    from matplotlib.lines import Line2D
    panels = pareto_panels(res)
    with figure(path, 1, len(panels), figsize=(6 * len(panels) + 0.5, 5), sharey=True,
                squeeze=False) as (fig, axes):
        for ax, panel in zip(axes[0], panels):
            data, column = panel["data"], panel["column"]
            cost = data[column].to_numpy(dtype=float)
            score = data["val_accuracy"].to_numpy(dtype=float)
            for status, (colour, marker) in STATUS_STYLE.items():
                pick = (data["status"] == status).to_numpy()
                if pick.any():
                    ax.scatter(cost[pick], score[pick], color=colour, marker=marker, s=40,
                               alpha=0.85, edgecolors="white", linewidths=0.5, zorder=2)
            on = data.set_index("trial_id").loc[panel["front"]]
            if len(on):
                ax.step(on[column], on["val_accuracy"], where="post", color="black",
                        linewidth=1.2, zorder=1)
                ax.scatter(on[column], on["val_accuracy"], s=130, facecolors="none",
                           edgecolors="black", linewidths=1.4, zorder=3, gid="pareto front")
            if column == "params" and cost.min() > 0 and cost.max() / cost.min() > 20:
                ax.set_xscale("log")
            ax.set(xlabel=panel["label"], title=f"Accuracy against {panel['label'].split(' (')[0]}")
        axes[0][0].set_ylim(*zoom(res.trials["val_accuracy"]))
        axes[0][0].set_ylabel("best validation accuracy")
        front_handle = Line2D([], [], color="black", marker="o", markerfacecolor="none",
                              markersize=10, label="Pareto front (completed trials only)")
        _status_legend(fig, res.trials.loc[res.trials["val_accuracy"].notna(), "status"],
                       extra=[front_handle])
        fig.suptitle("What it cost: accuracy against model size and training time"
                     if len(panels) == 2 else
                     "What it cost: accuracy against training time\n(every trial has the same "
                     "model size)")
    return fig


def importance(table: pd.DataFrame, path: Path, basis: str):
    """Horizontal bars of the importances, largest on top; `basis` (which trials) in the title."""
    with figure(path, figsize=(8, 0.55 * len(table) + 1.8)) as (fig, ax):
        ax.barh(table["parameter"], table["importance"], color=OKABE_ITO[0])
        for y, v in enumerate(table["importance"]):
            ax.text(v, y, f" {v:.2f}", va="center", fontsize=9)
        ax.invert_yaxis()
        ax.set_xlim(0, max(1e-9, table["importance"].max()) * 1.18)
        ax.set(xlabel="importance (PED-ANOVA, as optuna-dashboard; sums to 1)",
               title=f"Hyperparameter importance over {basis}")
        ax.grid(axis="y", visible=False)
    return fig


def comparison(table: pd.DataFrame, path: Path):
    """Validation and test accuracy of each search's best trial, the report's number beside it:
    dots on an axis zoomed to the data (bars would have to start at 0, and on a 0-1 axis 0.955
    and 0.986 look alike). Returns the figure."""
    labels = [f"{r.experiment}\n{r.space} on {r.dataset}" + ("" if r.finished else
                                                              " (interrupted)")
              for r in table.itertuples()]
    y = np.arange(len(table))
    with figure(path, figsize=(10, 0.8 * len(table) + 2)) as (fig, ax):
        for column, offset, colour, marker, label in [
                ("val_accuracy", -0.15, OKABE_ITO[0], "o", "validation (best trial)"),
                ("test_accuracy", 0.0, OKABE_ITO[1], "s", "test (best trial)"),
                ("reference_test_accuracy", 0.15, "black", "D", "report's test accuracy")]:
            values = table[column].astype(float)
            if values.notna().any():
                ax.scatter(values, y + offset, color=colour, marker=marker, s=60, zorder=3,
                           label=label)
        ax.set_yticks(list(y), labels, fontsize=8)
        ax.set_ylim(len(table) - 0.5, -0.5)  # the first search on top
        ax.set_xlim(*zoom(table[["val_accuracy", "test_accuracy",
                                 "reference_test_accuracy"]].astype(float).to_numpy()))
        ax.set(xlabel="accuracy (the axis spans the data, not 0-1)",
               title="Best trial of each search")
        fig.legend(loc="outside lower center", ncol=3, frameon=False)
    return fig
