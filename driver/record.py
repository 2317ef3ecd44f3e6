"""Driver layer: search.json, the experiment's own record of what it ran with.

--resume reads the settings back (a resumed search must not change what its trials run), and
analysis reads everything a report needs from it alone (the reports' reference numbers, the search
space's distributions, the versions), so a results folder stands alone on any machine.
"""

from __future__ import annotations

import json
import platform
import time
from dataclasses import asdict, replace
from importlib import metadata

from search_spaces._common import Budget, Space

from driver.settings import KEPT_ON_RESUME, Settings, UsageError

VERSIONED = ("ray", "keras", "tensorflow", "optuna", "numpy", "pandas")


def versions() -> dict:
    found = {"python": platform.python_version()}
    for package in VERSIONED:
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = None
    return found


def distributions(space: Space, settings: Settings, asks: int = 300) -> dict:
    """Each searched parameter's Optuna distribution, as JSON: the union over the space's
    conditional branches (found by asking its define-by-run function `asks` times at random; a
    study's grid is categorical), so every trial's value lies inside it (optuna.db, importance)."""
    import optuna
    from optuna.distributions import (CategoricalDistribution, FloatDistribution,
                                      IntDistribution, distribution_to_json)

    if settings.grid:
        return {k: distribution_to_json(CategoricalDistribution(v))
                for k, v in settings.grid.items() if len(v) > 1}
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    union: dict = {}
    for _ in range(asks):
        trial = study.ask()
        space.define(trial)
        for name, d in trial.distributions.items():
            seen = union.get(name)
            if seen is None:
                union[name] = d
            elif isinstance(d, CategoricalDistribution):
                union[name] = CategoricalDistribution(
                    [*seen.choices, *(c for c in d.choices if c not in seen.choices)])
            elif isinstance(d, (FloatDistribution, IntDistribution)):
                union[name] = type(d)(min(seen.low, d.low), max(seen.high, d.high), log=d.log,
                                      step=d.step)
        study.tell(trial, 0.0)
    return {k: distribution_to_json(d) for k, d in union.items()}


def write(settings: Settings, space: Space, **extra) -> None:
    """Write (or update) search.json: the settings, what analysis needs, and `extra`."""
    path = settings.experiment / "search.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    record = json.loads(path.read_text()) if path.exists() else {}
    if "distributions" not in record:  # the space cannot change on resume: computed once
        record["distributions"] = distributions(space, settings)
    reference, source = space.reference.get(
        settings.dataset, (None, f"none: the reports did not use {settings.dataset}"))
    record |= {k: v for k, v in asdict(settings).items() if k not in ("resume", "address")}
    record |= {
        "model": space.model, "space_dataset": space.dataset, "metric": space.metric,
        "mode": space.mode, "reference": {"test_accuracy": reference, "source": source},
        "table_reference": space.table_reference, "versions": versions(), **extra}
    partial = path.with_name("search.json.part")
    partial.write_text(json.dumps(record, indent=2))
    partial.replace(path)


def started(settings: Settings, space: Space) -> None:
    write(settings, space, started=time.time(), finished=None)


def finished(settings: Settings, space: Space, stopped_by: str | None = None) -> None:
    write(settings, space, finished=time.time(), stopped_by=stopped_by)


def with_saved_settings(settings: Settings) -> Settings:
    """`settings` with what the interrupted search ran with (search.json) put back."""
    from ray import tune

    path = settings.experiment / "search.json"
    if not tune.Tuner.can_restore(str(settings.experiment)):
        raise UsageError(f"--resume: {settings.experiment} holds no experiment to resume; "
                         f"drop --resume to start one")
    try:
        saved = json.loads(path.read_text())
        if not isinstance(saved, dict):
            raise ValueError(f"a JSON {type(saved).__name__}, not an object")
        kept = {"ema_epochs": 0.0}  # searches before 2026-11-24 kept no weight average
        kept |= {k: saved[k] for k in KEPT_ON_RESUME if k in saved}
        kept["budget"] = Budget(**saved["budget"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise UsageError(f"--resume: cannot read {path} ({e}); is {settings.experiment} an "
                         f"experiment of this suite?") from None
    if saved.get("space") != settings.space:
        raise UsageError(f"--resume: {settings.experiment} is a search of space "
                         f"{saved.get('space')!r}, not {settings.space!r}")
    return replace(settings, **kept)
