"""Driver layer: the one place that builds a Ray Tune Tuner, new or restored.

A search is Optuna (TPE) proposing from the space's define-by-run function, with the report's
configurations first, and ASHA stopping weak trials by epoch; a study is a fixed grid run to the
full budget. Either way every trial runs `trainables.train.train` with the dataset from Ray's object
store, on the CPUs/GPUs the settings give it, reusing actors between trials.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

from ray import tune
from search_spaces._common import Space
from trainables.data import Data
from trainables.private_apis import point_trial_at, restored_run_config

from driver import warm
from driver.console import Console, searched_names
from driver.halving import Halving
from driver.settings import Settings


def define(trial, *, space_define, constants: dict):
    """The space's define-by-run function plus the constants from the command line."""
    return {**(space_define(trial) or {}), **constants}


def per_model(spec, *, key: str, table: dict, default):
    """A study setting that follows the trial's model (Ray resolves it after the grid)."""
    return table.get(spec.config["model"], {}).get(key, default)


# Process-wide: this process's experiment folder (make_tuner sets it), for trial_dirname, which Tune
# pickles into the experiment by name and so cannot carry the folder a resumed search is in now.
_THIS_EXPERIMENT: list[Path] = []


def trial_dirname(trial) -> str:
    """The trial's folder name; Tune calls it once for every trial it creates, before the trial
    starts, also in a resumed experiment (tuner.pkl names this function), so it is also where a
    new trial of a moved experiment is sent where the experiment is now
    (private_apis.point_trial_at)."""
    if _THIS_EXPERIMENT:
        point_trial_at(trial, _THIS_EXPERIMENT[0])
    return f"trial_{trial.trial_id}"


class LastTrial(tune.Callback):
    """Does nothing. Experiments started by earlier versions of the suite hold one in their
    tuner.pkl (Tune pickles a search's callbacks and restores them on --resume): this name lets
    them resume."""


def make_tuner(settings: Settings, space: Space, data: Data, verbose: bool = False):
    """The Tuner of this search. The console (driver/console.py) says what the trials do;
    `verbose` adds Ray Tune's own output (its status tables and per-trial boxes)."""
    from optuna.samplers import TPESampler
    from ray.tune.search.optuna import OptunaSearch

    from trainables.train import train

    budget = settings.budget
    trainable = tune.with_resources(
        tune.with_parameters(train, data=data, max_epochs=budget.max_epochs,
                             rungs=() if settings.grid else budget.rungs(),
                             checkpoint_every=settings.checkpoint_every),
        {"cpu": settings.cpus_per_trial, "gpu": settings.gpus_per_trial})
    console = Console(searched_names(settings.experiment), space.metric, space.mode)
    if not verbose:
        # Ray 2.60's new output engine prints its experiment box and a TensorBoard command for a
        # temporary folder even at verbose=0 (AirProgressReporter.experiment_started checks no
        # verbosity); its legacy engine prints nothing at 0. Read by Tuner.fit.
        os.environ["RAY_AIR_NEW_OUTPUT"] = "0"
        # A failed trial's traceback, logged in full at every failure: the console gives its
        # exception line; the traceback stays in the trial's error.txt (report/failures.md).
        os.environ["TUNE_PRINT_ALL_TRIAL_ERRORS"] = "0"
    _THIS_EXPERIMENT[:] = [settings.experiment]
    if settings.resume:  # Tune restores the callbacks the search started with
        tuner = tune.Tuner.restore(str(settings.experiment), trainable=trainable,
                                   resume_unfinished=True, resume_errored=True)
        # ... and its verbosity: this run's --verbose, and this run's console in place of the
        # pickled one (an experiment started before the console had none: it gets one).
        run_config = restored_run_config(tuner)
        if run_config is not None:
            run_config.verbose = 1 if verbose else 0
            run_config.callbacks = [c for c in run_config.callbacks or []
                                    if not isinstance(c, (Console, LastTrial))] + [console]
        return tuner
    run_config = tune.RunConfig(
        name=settings.name, storage_path=settings.storage,
        checkpoint_config=tune.CheckpointConfig(num_to_keep=2),
        failure_config=tune.FailureConfig(max_failures=settings.max_failures),
        verbose=1 if verbose else 0,  # 0: the console's lines alone
        callbacks=[console])
    tune_config = dict(metric=space.metric, mode=space.mode,
                       max_concurrent_trials=settings.max_concurrent, reuse_actors=True,
                       trial_dirname_creator=trial_dirname, time_budget_s=settings.time_budget)
    if settings.grid:  # a study: every combination of the grid, each to the full budget
        grid = {k: tune.grid_search(v) for k, v in settings.grid.items()}
        keys = {k for values in space.per_model.values() for k in values} - set(grid)
        derived = {k: tune.sample_from(functools.partial(
            per_model, key=k, table=space.per_model, default=settings.constants.get(k)))
            for k in keys}
        return tune.Tuner(
            trainable,
            param_space={**settings.constants, **settings.trial_constants(), **grid, **derived},
            tune_config=tune.TuneConfig(**tune_config), run_config=run_config)
    storage, study_name = warm.study(settings.warm_start, space, settings) \
        if settings.warm_start else (None, None)
    searcher = OptunaSearch(
        space=functools.partial(define, space_define=space.define,
                                constants=settings.trial_constants()),
        metric=space.metric, mode=space.mode,
        # a warm start already evaluated the reports' points (they were its first trials)
        points_to_evaluate=None if storage else [{**p} for p in space.points_to_evaluate],
        sampler=TPESampler(seed=settings.seed), storage=storage, study_name=study_name)
    scheduler = Halving(rungs=budget.rungs(), max_t=budget.max_epochs,
                        reduction_factor=budget.reduction_factor)
    return tune.Tuner(
        trainable,
        tune_config=tune.TuneConfig(search_alg=searcher, scheduler=scheduler,
                                    num_samples=budget.num_samples, **tune_config),
        run_config=run_config)
