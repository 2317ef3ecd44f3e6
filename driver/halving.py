"""Driver layer: asynchronous successive halving (ASHA) as a Ray Tune scheduler, with Optuna's
promotion rule.

A trial reaching a rung (grace period x reduction factor^k epochs) goes on while its val accuracy
ranks in the top 1/reduction factor of every result recorded at that rung, its own included; while
the rung holds fewer than reduction-factor results, only while it is the best there. Ray's
ASHAScheduler compares it with the results recorded before it (the first always goes on), which
promotes more trials while rungs hold few results (what the change bought: docs/benchmarks.md,
"Mechanisms in the code").
"""

from __future__ import annotations

import math

from ray.tune.schedulers import FIFOScheduler, TrialScheduler


def promoted(value: float, recorded: list[float], reduction_factor: int) -> bool:
    """Whether `value`, one of the values `recorded` at a rung (higher is better), is in their
    top 1/reduction_factor, or the best while there are fewer than reduction_factor."""
    keep = max(1, len(recorded) // reduction_factor)
    return value >= sorted(recorded, reverse=True)[keep - 1]


class Halving(FIFOScheduler):
    """ASHA over `training_iteration` (epochs): a trial stops at a rung (an epoch of `rungs`
    below max_t) unless `promoted`, and at max_t."""

    def __init__(self, *, rungs: tuple[int, ...], max_t: int, reduction_factor: int):
        super().__init__()
        self._mode = None
        self.max_t, self.reduction_factor = max_t, reduction_factor
        # rung epoch -> {trial id: value, signed so that higher is better}
        self.rungs = {r: {} for r in rungs if r < max_t}

    def set_search_properties(self, metric, mode, **spec) -> bool:
        if not super().set_search_properties(metric, mode, **spec):
            return False
        self._mode = mode or self._mode
        return True

    def on_trial_add(self, tune_controller, trial) -> None:
        if self._mode not in ("min", "max"):
            raise ValueError("Halving needs tune.TuneConfig(metric=..., mode='min' or 'max')")

    def on_trial_result(self, tune_controller, trial, result: dict) -> str:
        epoch, value = result.get("training_iteration"), result.get(self._metric)
        if epoch is None or value is None:
            return TrialScheduler.CONTINUE
        if epoch >= self.max_t:
            return TrialScheduler.STOP
        # The highest rung the trial has reached; a trial resumed from a checkpoint reports its
        # repeated epochs again, and is judged once per rung.
        rung = max((r for r in self.rungs if r <= epoch), default=None)
        if rung is None or trial.trial_id in self.rungs[rung]:
            return TrialScheduler.CONTINUE
        signed = value if self._mode == "max" else -value
        recorded = self.rungs[rung]
        recorded[trial.trial_id] = -math.inf if math.isnan(signed) else signed
        if promoted(recorded[trial.trial_id], list(recorded.values()), self.reduction_factor):
            return TrialScheduler.CONTINUE
        return TrialScheduler.STOP

    def debug_string(self) -> str:
        return "Halving: " + ", ".join(f"{len(v)} trials at epoch {r}"
                                       for r, v in self.rungs.items())
