"""Analysis layer: Every search is also an Optuna study: <experiment>/optuna.db, and the importance
of each hyperparameter.

    import optuna
    study = optuna.load_study(study_name="basenet", storage="sqlite:///results/basenet/optuna.db")
    optuna.visualization.matplotlib.plot_optimization_history(study)

write(res) rebuilds optuna.db from the experiment folder alone (report.write calls it), from scratch
each time: the study is written to a temporary file beside it, which then replaces optuna.db in one
os.replace, so a reader never sees half a study. The study is named after the experiment's folder
(search.json's `name`, unless the folder was renamed), its direction is search.json's mode (max ->
maximize), its metric is named after search.json's metric (`val_accuracy`: what optuna-dashboard
and Optuna's plots label the value), and it holds one Optuna trial per Ray trial, in the order
they started:

    params                the trial's values of the searched parameters, with the distributions
                          of search.json's `distributions` (a study: its grid, as categorical
                          distributions; a folder older than both: inferred from the trials)
    value                 the trial's best val_accuracy (the search's metric)
    intermediate values   val_accuracy of every epoch, keyed by epoch
    state                 COMPLETE (completed its budget), PRUNED (stopped by ASHA; value kept),
                          FAIL (diverged, error, and also unfinished or not started: Optuna allows
                          no RUNNING trial to be added, and we keep every trial rather than leave
                          some out; user_attrs["status"] says which it was)
    user_attrs            trial_id (Ray's), status, epochs, test_accuracy, params (count or None)
    datetime_start/_complete  the trial's first report minus its first epoch, plus its time

frozen_trials(res, dists) makes those Optuna trials; a warm start (driver/warm.py) seeds a new
search with the same ones, over the new search's distributions.

importances(res) ranks the searched parameters on the basis optuna-dashboard uses for this very
study, so that the report and the dashboard show the same numbers: Optuna's default evaluator
(PED-ANOVA) over the COMPLETE trials, those that ran the whole budget, each at its best
val_accuracy. Trials ASHA stopped are left out: a score after 2 epochs is no rival to one after
20, and mixing them ranks what makes a trial learn fast, not what makes it good.
"""

from __future__ import annotations

import datetime
import json
import math
import os
import warnings
from pathlib import Path

import pandas as pd

from analysis.results import Results, _number

STATES = {"completed": "COMPLETE", "stopped": "PRUNED"}  # every other status: FAIL
MIN_TRIALS = 4  # fewer than this and importance is not computed


def _quiet():
    import optuna
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def _scalar(value) -> bool:
    return value is None or isinstance(value, (bool, int, float, str))


def _infer(values: list):
    """A distribution containing every value seen (older folders have no distributions)."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution
    numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if len(numbers) == len(values) and any(isinstance(v, float) for v in values):
        low, high = min(numbers), max(numbers)
        return FloatDistribution(low, high, log=low > 0 and high / low >= 100)
    unique = sorted(set(values), key=lambda v: (type(v).__name__, v))
    return CategoricalDistribution(unique)


def distributions(res: Results) -> tuple[dict, str]:
    """{parameter: optuna distribution} of the searched parameters, and where they come from."""
    from optuna.distributions import CategoricalDistribution, json_to_distribution
    raw = res.search.get("distributions")
    if isinstance(raw, dict) and raw:
        dists = {}
        for name, text in raw.items():
            try:
                dists[name] = json_to_distribution(text if isinstance(text, str)
                                                   else json.dumps(text))
            except (ValueError, KeyError, TypeError) as e:
                res.skipped.append(("search.json", f"distribution of {name} unreadable ({e}); "
                                                   "inferred from the trials"))
                values = [c[name] for c in res.trials["config"] if name in c]
                if values and all(_scalar(v) for v in values):
                    dists[name] = _infer(values)
        return dists, "search.json"
    grid = res.search.get("grid")
    if isinstance(grid, dict) and grid:
        return {k: CategoricalDistribution(v) for k, v in grid.items()
                if isinstance(v, list) and v and all(_scalar(x) for x in v)}, "the study's grid"
    configs = list(res.trials["config"])
    keys = dict.fromkeys(k for c in configs for k in c if k != "seed")
    dists = {}
    for key in keys:
        values = [c[key] for c in configs if key in c]
        if all(_scalar(v) for v in values) and len({json.dumps(v) for v in values}) > 1:
            dists[key] = _infer(values)
    return dists, "inferred from the trials (search.json has no distributions)"


def _when(seconds, default: float = 0.0) -> datetime.datetime:
    """A Unix time as a datetime; `default` for NaN or a damaged value."""
    seconds = _number(seconds)
    return datetime.datetime.fromtimestamp(seconds if 0 <= seconds < 1e11 else default)


def contains(dist, value) -> bool:
    """Whether Optuna's distribution `dist` can produce `value`: Optuna's own check, as
    `create_trial` makes it of every parameter it is given."""
    import optuna
    try:
        optuna.trial.create_trial(params={"p": value}, distributions={"p": dist}, value=0.0)
    except (ValueError, TypeError):
        return False
    return True


class OutsideDistribution(ValueError):
    """A trial's value that its parameter's distribution cannot produce (`frozen_trials`)."""


def frozen_trials(res: Results, dists: dict, strict: bool = False) -> list:
    """One optuna FrozenTrial per trial, in the order they started, its params those of `dists`.
    A value outside its distribution is left out of the trial (and noted in res.skipped), or
    with `strict` raises OutsideDistribution (driver/warm.py: the trials seed a new search)."""
    _quiet()
    from optuna.trial import FrozenTrial, TrialState
    metric = res.metric if res.metric in res.epochs.columns else "val_accuracy"
    by_trial = {t: rows for t, rows in res.epochs.groupby("trial_id", sort=False)}
    search_start = _when(res.search.get("started")).timestamp()  # for trials with no start
    trials = []
    for number, (_, t) in enumerate(res.trials.sort_values("started", kind="stable",
                                                           na_position="last").iterrows()):
        params, used = {}, {}
        for name, dist in dists.items():
            value = t["config"].get(name)
            if name not in t["config"] or not _scalar(value):
                continue
            if contains(dist, value):
                params[name], used[name] = value, dist
            elif strict:
                raise OutsideDistribution(f"trial {t['trial_id']} has {name}={value!r}")
            else:
                res.skipped.append((f"trial {t['trial_id']}", f"{name}={value!r} lies outside "
                                    f"its distribution {dist}: left out of optuna.db"))
        state = getattr(TrialState, STATES.get(t["status"], "FAIL"))
        value = float(t[metric])
        if state == TrialState.FAIL or math.isnan(value):
            value = None
            if state == TrialState.COMPLETE:
                state = TrialState.FAIL
        rows = by_trial.get(t["trial_id"])
        intermediate = {} if rows is None else {
            int(e): float(v) for e, v in zip(rows["epoch"], rows[metric]) if not math.isnan(v)}
        start = _when(t["started"].timestamp() if pd.notna(t["started"]) else math.nan,
                      search_start)
        test = float(t["test_accuracy"])
        trials.append(FrozenTrial(
            number=number, state=state, value=value, datetime_start=start,
            datetime_complete=start + datetime.timedelta(
                seconds=float(t["training_time_s"]) if 0 <= t["training_time_s"] < 1e9
                else 0.0),
            params=params, distributions=used, intermediate_values=intermediate,
            user_attrs={"trial_id": t["trial_id"], "status": t["status"],
                        "epochs": int(t["epochs"]),
                        "test_accuracy": None if math.isnan(test) else test,
                        "params": None if pd.isna(t["params"]) else int(t["params"])},
            system_attrs={}, trial_id=number))
    return trials


def write(res: Results) -> Path:
    """Rebuild <experiment>/optuna.db from scratch; returns its path."""
    optuna = _quiet()
    final = res.folder / "optuna.db"
    tmp = res.folder / f".optuna.db.{os.getpid()}.tmp"
    tmp.unlink(missing_ok=True)
    dists, _ = distributions(res)
    storage = optuna.storages.RDBStorage(f"sqlite:///{tmp}")
    try:
        study = optuna.create_study(storage=storage, study_name=res.name,
                                    direction="minimize" if res.mode == "min" else "maximize")
        # Without a name optuna-dashboard and Optuna's plots call the value "Objective 0".
        # Experimental since Optuna 3.2, with a warning at every call that helps no reader.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names([res.metric])
        for key, value in [("space", res.space), ("dataset", res.dataset), ("model", res.model),
                           ("metric", res.metric), ("finished", res.finished)]:
            study.set_user_attr(key, value)
        study.add_trials(frozen_trials(res, dists))
    finally:
        storage.remove_session()
        storage.engine.dispose()
    os.replace(tmp, final)
    return final


def importances(res: Results) -> tuple[pd.DataFrame, str, str]:
    """(table of parameter, importance, best first; or empty), a one-line note that states the
    basis or why there is none, and that basis in a few words (the plot's title)."""
    import warnings
    optuna = _quiet()
    dists, source = distributions(res)
    searched = {k: d for k, d in dists.items() if not d.single()}
    empty = pd.DataFrame({"parameter": pd.Series(dtype="str"),
                          "importance": pd.Series(dtype="float64")})
    if len(searched) < 2:
        return empty, (f"Importance needs two searched parameters or more; this search has "
                       f"{len(searched)} ({', '.join(searched) or 'none'})."), ""
    # The study optuna.db holds, trial for trial: what the dashboard reads is what is ranked here.
    study = optuna.create_study(direction="minimize" if res.mode == "min" else "maximize")
    study.add_trials(frozen_trials(res, dists))
    complete = [t for t in study.trials if t.state.name == "COMPLETE"]
    stopped = sum(t.state.name == "PRUNED" for t in study.trials)
    others = len(study.trials) - len(complete) - stopped
    left_out = ", ".join(part for part in (
        f"{stopped} stopped early by ASHA" if stopped else "",
        f"{others} diverged, failed or unfinished" if others else "") if part)
    basis = (f"over the {len(complete)} trial{'s' if len(complete) != 1 else ''} that ran the "
             f"whole budget (COMPLETE in optuna.db), each at its best {res.metric}")
    why_not_stopped = (f"; left out: {left_out} (a score after fewer epochs is not comparable "
                       f"with a full one)" if left_out else "")
    if len(complete) < MIN_TRIALS:
        return empty, (f"No importance: only {len(complete)} trial"
                       f"{'s' if len(complete) != 1 else ''} ran the whole budget, and "
                       f"importance is computed over those alone (COMPLETE in optuna.db), each "
                       f"at its best {res.metric}, from {MIN_TRIALS} of them up"
                       f"{why_not_stopped}. optuna-dashboard ranks the same "
                       f"{len(complete)}: treat its importance as noise. More trials, or a "
                       f"higher `--grace-period`, leave more complete."), ""
    with warnings.catch_warnings():  # "too few trials", "experimental": the note says as much
        warnings.simplefilter("ignore")
        try:
            found = optuna.importance.get_param_importances(
                study, evaluator=optuna.importance.PedAnovaImportanceEvaluator())
        except (ValueError, RuntimeError, ArithmeticError, AssertionError) as e:
            return empty, f"Importance could not be computed: {type(e).__name__} {e}", ""
    found = {k: v for k, v in found.items() if k in searched}
    if not found or any(math.isnan(v) for v in found.values()):
        return empty, "Importance could not be computed: every trial scored the same.", ""
    table = pd.DataFrame({"parameter": list(found), "importance": list(found.values())})
    table = table.astype({"parameter": "str", "importance": "float64"})
    note = (f"Importance (PED-ANOVA, Optuna's default and optuna-dashboard's: how far each "
            f"parameter's values among the best 10% of trials lie from those of all of them; "
            f"sums to 1) {basis}{why_not_stopped}. optuna-dashboard shows the same numbers "
            f"(distributions from {source})")
    if len(set(found.values())) == 1 < len(found):  # Optuna's answer when nothing separates
        note += ("; no parameter separates the best trials from the rest (the best ones tie, "
                 "or share every value), so each gets an equal share")
    if len(complete) < 10:  # the best 10% of fewer than 10 trials is the single best one
        note += (f". Only {len(complete)} trials: the best 10% is the single best trial, so "
                 f"read this as a rough guide")
    missing = sorted(set(searched) - set(found))
    if missing:
        note += f"; {', '.join(missing)} in no complete trial, left out"
    return table, note + ".", f"{len(complete)} complete trials"
