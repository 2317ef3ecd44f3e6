"""The suite's ASHA (driver/halving.py): Optuna's promotion rule, decided in Ray Tune's scheduler
interface."""

from types import SimpleNamespace

import pytest
from ray.tune.schedulers import TrialScheduler

from driver.halving import Halving, promoted

CONTINUE, STOP = TrialScheduler.CONTINUE, TrialScheduler.STOP


def test_a_trial_goes_on_while_it_is_in_the_top_third_of_the_rung_its_own_result_included():
    assert promoted(0.5, [0.5], 3)  # the first at a rung
    assert not promoted(0.4, [0.5, 0.4], 3)  # fewer than 3 results: only the best goes on
    assert promoted(0.6, [0.5, 0.6], 3)
    # Ray's ASHAScheduler promotes this one (above the 2/3 quantile of the three before it)
    assert not promoted(0.25, [0.1, 0.2, 0.3, 0.25], 3)
    assert promoted(0.25, [0.1, 0.2, 0.25, 0.05, 0.15, 0.3], 3)  # top 2 of 6


def _decide(scheduler, trial_id, epoch, value):
    return scheduler.on_trial_result(None, SimpleNamespace(trial_id=trial_id),
                                     {"training_iteration": epoch, "val_accuracy": value})


@pytest.mark.parametrize("mode, sign", [("max", 1), ("min", -1)])
def test_the_scheduler_decides_at_the_rungs_in_either_direction_and_stops_at_max_t(mode, sign):
    scheduler = Halving(rungs=(2, 6, 18), max_t=20, reduction_factor=3)
    assert scheduler.set_search_properties("val_accuracy", mode)
    scheduler.on_trial_add(None, SimpleNamespace(trial_id="a"))
    assert list(scheduler.rungs) == [2, 6, 18]
    assert _decide(scheduler, "a", 1, sign * 0.1) == CONTINUE  # before the first rung
    assert _decide(scheduler, "a", 2, sign * 0.5) == CONTINUE  # the first at the rung
    assert _decide(scheduler, "b", 2, sign * 0.4) == STOP
    assert _decide(scheduler, "c", 2, float("nan")) == STOP  # diverged: the worst
    assert _decide(scheduler, "a", 2, sign * 0.0) == CONTINUE  # a repeated epoch: judged once
    assert _decide(scheduler, "d", 5, sign * 0.9) == CONTINUE  # resumed past the rung: judged
    assert scheduler.rungs[2] == {"a": 0.5, "b": 0.4, "c": float("-inf"), "d": 0.9}
    assert _decide(scheduler, "a", 20, sign * 0.9) == STOP


def test_a_scheduler_without_a_direction_says_so():
    scheduler = Halving(rungs=(1,), max_t=4, reduction_factor=2)
    with pytest.raises(ValueError, match="mode='min' or 'max'"):
        scheduler.on_trial_add(None, SimpleNamespace(trial_id="a"))
