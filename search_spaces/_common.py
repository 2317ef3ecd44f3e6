"""Declarations layer: what every space shares: the Space declaration, budgets, and the common
hyperparameter block.

A space module declares and loads nothing. It holds one `SPACE = Space(...)`; its docstring gives
the command to run it, its default budget and the report's reference accuracy.
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass, field, replace
from typing import Callable

from trainables.optimizers import NAMES as OPTIMIZERS

# Learning-rate ranges per optimizer (log-uniform): Adadelta needs rates near 1, Adam near 1e-3.
LEARNING_RATES = {
    "sgd": (1e-4, 0.3), "rmsprop": (1e-5, 1e-2), "adam": (1e-5, 1e-2), "adadelta": (1e-3, 3.0),
    "adagrad": (1e-4, 0.3), "adamax": (1e-5, 3e-2), "nadam": (1e-5, 1e-2),
}
BATCH_SIZES = (32, 64, 128, 256)


def suggest_common(trial, optimizers=OPTIMIZERS, batch_sizes=BATCH_SIZES, dropout=(0.0, 0.6)):
    """The block every space searches: optimizer, learning_rate (range by optimizer), batch_size,
    dropout. Optuna define-by-run: call it from a space's `define(trial)`."""
    optimizer = trial.suggest_categorical("optimizer", list(optimizers))
    trial.suggest_float("learning_rate", *LEARNING_RATES[optimizer], log=True)
    trial.suggest_categorical("batch_size", list(batch_sizes))
    trial.suggest_float("dropout", *dropout)


def suggest_input(trial):
    """Normalization and augmentation (trainables/pipeline.py), for spaces where they matter."""
    trial.suggest_categorical("normalize", ["none", "featurewise", "zca"])
    trial.suggest_categorical("flip", [False, True])
    trial.suggest_float("zoom", 0.0, 0.5)
    trial.suggest_float("rotation", 0.0, 30.0)


@dataclass(frozen=True)
class Budget:
    """How many trials, and ASHA's epochs: max_t, grace period, reduction factor."""
    num_samples: int
    max_epochs: int
    grace_period: int
    reduction_factor: int = 3

    def rungs(self) -> tuple[int, ...]:
        """The epochs at which ASHA (driver/halving.py) may stop a trial, placed as Ray's
        ASHAScheduler places them (with numpy's log, as it does, so that the rounding agrees for
        experiments started with it, which resume with it)."""
        import numpy as np
        ratio = self.max_epochs / self.grace_period
        count = int(np.log(ratio) / np.log(self.reduction_factor) + 1)
        return tuple(self.grace_period * self.reduction_factor ** k for k in range(count))


# The bundled digits are small and easy: the same budget serves every space on them.
DIGITS_BUDGET = Budget(num_samples=24, max_epochs=20, grace_period=2, reduction_factor=3)
# --smoke-test: the smallest run that still exercises trials, ASHA rungs and the report.
SMOKE_BUDGET = Budget(num_samples=6, max_epochs=4, grace_period=1, reduction_factor=2)


@dataclass(frozen=True)
class Space:
    description: str                 # one line, for --list-spaces
    model: str                       # the model's catalogue name (or family when it is searched)
    dataset: str                     # the space's own dataset
    define: Callable | None          # Optuna define-by-run: suggests, returns the constants
    points_to_evaluate: list[dict]   # the report's own configuration(s), evaluated first
    budget: Budget                   # for the space's own dataset
    reference: dict = field(default_factory=dict)  # dataset -> (test accuracy, "source")
    gpu: float = 0.25                # share of one GPU per trial, when GPUs exist
    backbone_model: str | None = None  # transfer spaces: a model of theirs; the driver checks
                                       # (downloads) its backbone's weights before Ray starts,
                                       # and the config gets `weights` (--weights)
    features: bool = False           # trials train heads on the backbone's features, computed
                                     # once by the driver (feature cache)
    metric: str = "val_accuracy"
    mode: str = "max"
    grid: dict | None = None         # a study: every combination, run to the full budget
    constants: dict = field(default_factory=dict)  # a study's fixed hyperparameters
    per_model: dict = field(default_factory=dict)  # a study's settings by model: {model: {k: v}}
    table_reference: dict | list | None = None  # a study's report table (JSON), for analysis
    limited_by: tuple = ()           # settings that narrow `define`, passed to it as keywords:
                                     # "weights" (--weights), "max_epochs" (a trial's budget)

    @property
    def transfer(self) -> bool:
        return self.backbone_model is not None

    def narrowed(self, *, weights: str | None, max_epochs: int) -> Space:
        """The space as a search with these settings can honestly run it: `define` given the
        settings it is `limited_by`, so its Optuna distributions (search.json, the study, the
        report) hold only values a trial can run (--weights none: no ImageNet choices; no
        searched epoch count that a trial's budget cuts off), and the report points fitted into
        them: a number outside a narrowed range is clipped to it, a point whose choice is gone
        is left out (Optuna would run an enqueued number as given, out of range or not)."""
        if not self.limited_by:
            return self
        given = {"weights": weights, "max_epochs": max_epochs}
        define = functools.partial(self.define, **{k: given[k] for k in self.limited_by})
        points = [fitted for fitted in (fit_point(define, p) for p in self.points_to_evaluate)
                  if fitted is not None]
        return replace(self, define=define, points_to_evaluate=points)

    def budget_for(self, dataset: str) -> Budget:
        if dataset != "digits" or dataset == self.dataset:
            return self.budget
        if self.grid:  # a study runs every trial to the end: keep digits quick
            return replace(self.budget, max_epochs=min(self.budget.max_epochs, 10))
        return DIGITS_BUDGET


def study(*, description: str, model: str, dataset: str, grid: dict, constants: dict,
          budget: Budget, reference: dict | None = None, per_model: dict | None = None,
          table_reference: dict | list | None = None, gpu: float = 0.25) -> Space:
    """A space that reproduces a report table: a fixed grid, no Optuna, no ASHA stopping.
    Its table is built by the function of the same name in analysis/studies.py."""
    return Space(description=description, model=model, dataset=dataset, define=None,
                 points_to_evaluate=[], budget=replace(budget, grace_period=budget.max_epochs),
                 reference=reference or {}, gpu=gpu, grid=grid, constants=constants,
                 per_model=per_model or {}, table_reference=table_reference)


def fit_point(define: Callable, point: dict) -> dict | None:
    """`point` inside the distributions `define` gives it: numbers clipped into their ranges;
    None when it holds a choice `define` does not offer."""
    import optuna
    from optuna.distributions import CategoricalDistribution
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study()
    study.enqueue_trial(point)
    trial = study.ask()
    with warnings.catch_warnings():  # "out of range": what this function is here to mend
        warnings.simplefilter("ignore")
        try:
            define(trial)
        except ValueError as e:  # Optuna: an enqueued choice "not in" the offered choices
            if " not in " in str(e):
                return None
            raise
    fitted = dict(point)
    for name, dist in trial.distributions.items():
        if name in point and not isinstance(dist, CategoricalDistribution):
            fitted[name] = type(point[name])(min(max(point[name], dist.low), dist.high))
    return fitted


def override(budget: Budget, **values) -> Budget:
    """The budget with the given fields replaced (None leaves a field as it is)."""
    return replace(budget, **{k: v for k, v in values.items() if v is not None})
