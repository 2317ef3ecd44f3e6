"""Driver layer: a search that starts from an earlier one (--warm-start FOLDER).

The earlier experiment's finished trials become trials of the new search's Optuna study before it
samples anything, so TPE starts from what they learned. They are the trials the report writes into
the earlier folder's optuna.db (analysis/optuna_study.py's `frozen_trials`, the one function that
makes Optuna trials of a results folder), built again from its results: the report's optuna.db
may be missing (a search interrupted before its report) or older than the results (a resume
interrupted since), the results never are. Completed trials come with their best validation
accuracy, trials ASHA stopped as pruned with their per-epoch values, diverged and failed ones as
failed; unfinished and unstarted trials taught nothing and are left out. Their parameters take
the distributions of the space as this search narrows it. A different space, a study, or values
that space can no longer produce is a UsageError.
"""

from __future__ import annotations

import json
from pathlib import Path

from search_spaces._common import Space

from driver.settings import Settings, UsageError

SEEDING = ("completed", "stopped", "diverged", "error")  # the statuses that taught the sampler


def warm_trials(folder: str, space: Space, settings: Settings) -> list:
    """The earlier experiment's trials as optuna FrozenTrials over this space's distributions."""
    from optuna.distributions import json_to_distribution

    from analysis.optuna_study import OutsideDistribution, frozen_trials
    from analysis.results import load
    from driver import record

    path = Path(folder).expanduser()
    try:
        earlier = json.loads((path / "search.json").read_text())
    except (OSError, ValueError) as e:
        raise UsageError(f"--warm-start {folder}: no readable search.json there ({e}); give the "
                         f"folder of an earlier experiment of this suite") from None
    if settings.grid:
        raise UsageError(f"--warm-start applies to searches; {settings.space} is a study (a "
                         f"fixed grid)")
    if not isinstance(earlier, dict) or earlier.get("space") != settings.space:
        raise UsageError(f"--warm-start {folder} is a search of space "
                         f"{earlier.get('space') if isinstance(earlier, dict) else None!r}, not "
                         f"{settings.space!r}; warm-start from a search of the same space")
    distributions = {k: json_to_distribution(v)
                     for k, v in record.distributions(space, settings).items()}
    try:
        trials = frozen_trials(load(path), distributions, strict=True)
    except OutsideDistribution as e:
        raise UsageError(f"--warm-start {folder}: {e}, which this space cannot produce; the "
                         f"spaces differ, start without --warm-start") from None
    trials = [t for t in trials if t.user_attrs["status"] in SEEDING]
    if not trials:
        raise UsageError(f"--warm-start {folder}: no finished trial there to start from")
    for t in trials:
        t.user_attrs["warm_start"] = str(path)
    return trials


def study(folder: str, space: Space, settings: Settings):
    """(storage, study name) holding the warm trials, for OptunaSearch to load and continue."""
    import optuna
    storage = optuna.storages.InMemoryStorage()
    name = f"{settings.name}-warm"
    optuna.create_study(storage=storage, study_name=name,
                        direction="maximize" if space.mode == "max" else "minimize"
                        ).add_trials(warm_trials(folder, space, settings))
    return storage, name
