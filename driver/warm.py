"""Driver layer: a search that starts from an earlier one (--warm-start FOLDER).

The earlier experiment's finished trials become trials of the new search's Optuna study before it
samples anything, so TPE starts from what they learned: completed trials with their best
validation accuracy, trials ASHA stopped as pruned with their per-epoch values, failed ones as
failed. A different space, a study, or values the space can no longer produce is a UsageError.
"""

from __future__ import annotations

import json
from pathlib import Path

from search_spaces._common import Space

from driver.settings import Settings, UsageError

STATES = {"completed": "COMPLETE", "stopped": "PRUNED", "diverged": "FAIL", "error": "FAIL"}


def warm_trials(folder: str, space: Space, settings: Settings) -> list:
    """The earlier experiment's trials as optuna FrozenTrials over this space's distributions."""
    import optuna
    from optuna.distributions import json_to_distribution

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
    results = load(path)
    per_epoch = {trial_id: dict(zip(rows["epoch"].astype(int), rows["val_accuracy"]))
                 for trial_id, rows in results.epochs.groupby("trial_id")}
    trials = []
    for _, row in results.trials.iterrows():
        state = STATES.get(row["status"])
        if state is None:  # unfinished, not started: nothing learned yet
            continue
        params = {k: row["config"][k] for k in distributions if k in row["config"]}
        for key, value in params.items():
            dist = distributions[key]
            if not dist._contains(dist.to_internal_repr(value)):
                raise UsageError(f"--warm-start {folder}: trial {row['trial_id']} has {key}="
                                 f"{value!r}, which this space cannot produce; the spaces "
                                 f"differ, start without --warm-start")
        trials.append(optuna.trial.create_trial(
            params=params, distributions={k: distributions[k] for k in params},
            value=float(row["val_accuracy"]) if state == "COMPLETE" else None,
            intermediate_values=per_epoch.get(row["trial_id"]) if state == "PRUNED" else None,
            state=getattr(optuna.trial.TrialState, state),
            user_attrs={"warm_start": str(path), "ray_trial_id": row["trial_id"]}))
    if not trials:
        raise UsageError(f"--warm-start {folder}: no finished trial there to start from")
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
