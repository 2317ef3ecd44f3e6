"""Driver layer: the search's best trial, and the ensemble of its best trials, scored on the test
set, into best_test.json."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from analysis.results import best_trial, load, ranked_trials
from trainables.data import Data
from trainables.evaluate import PROBABILITIES, scores_on_test

from driver import child


def tester() -> ProcessPoolExecutor:
    """The spawned child process that tests (driver/child.py: it dies with the driver), set up
    by `_prepare`. TensorFlow never holds GPU memory in the driver."""
    return child.pool(_prepare)


def score_best_trial(experiment: Path, data: Data, ensemble: int = 1
                     ) -> Callable[[], dict | None]:
    """Start scoring the best trial (and, with `ensemble` > 1, the ensemble of the `ensemble`
    best trials) on the test set; returns the function that waits for the record (also written
    to best_test.json; None when no trial has a usable result).

    A trial that finished its budget tested its best weights itself, and kept their test set's
    class probabilities in its last checkpoint: the record, ensemble included, comes from those
    at once. The probabilities of each trial still to score (one ASHA stopped, or whose last
    checkpoint is damaged) come from its latest checkpoint's best weights, in a `tester` process:
    the driver goes on writing the report while it predicts."""
    trials = load(experiment).trials
    best = best_trial(trials)
    if best is None or not best["checkpoint"]:
        return lambda: None
    row = trials.set_index("trial_id").loc[best["trial_id"]]
    record = {"trial_id": best["trial_id"],
              "checkpoint": str(Path(best["checkpoint"]).relative_to(experiment)),
              "val_accuracy": best["val_accuracy"]}
    tested = row["test_accuracy"] == row["test_accuracy"]  # not NaN: it tested its weights
    if tested:
        record |= {"test_loss": float(row["test_loss"]),
                   "test_accuracy": float(row["test_accuracy"])}
    members = ensemble_members(trials, ensemble)

    def written(probabilities: list[np.ndarray]) -> dict:
        if not tested:
            record.update(scores_on_test(probabilities[0], data.y_test))
        if len(probabilities) > 1:
            record["ensemble"] = {"trial_ids": [m["trial_id"] for m in members],
                                  **scores_on_test(np.mean(probabilities, axis=0), data.y_test)}
        (experiment / "best_test.json").write_text(json.dumps(record, indent=2))
        return record

    if len(members) > 1:
        scored = members  # the best trial among them, first
    else:
        scored = [] if tested else [best]
    shape = (len(data.y_test), data.num_classes)
    kept = [kept_probabilities(Path(m["checkpoint"]), shape) for m in scored]
    if all(p is not None for p in kept):
        return lambda: written(kept)
    task = (_test_probabilities, [(m["config"], Path(m["checkpoint"]))
                                  for m, p in zip(scored, kept) if p is None], data)
    pools = [tester()]
    future = pools[0].submit(*task)

    def merged(predicted: list[np.ndarray]) -> list[np.ndarray]:  # in the members' order
        predicted = iter(predicted)
        return [next(predicted) if p is None else p for p in kept]

    def wait() -> dict:
        from concurrent.futures.process import BrokenProcessPool
        try:
            try:
                return written(merged(future.result()))
            except BrokenProcessPool:  # the tester died mid-test (killed, out of memory): once
                pools.append(tester())  # more, in a new one
                return written(merged(pools[-1].submit(*task).result()))
        except Exception as e:
            if not tested:  # no test score of the best trial: as an error in the search
                raise
            print(f"warning: the ensemble of the best trials was not tested ({type(e).__name__}: "
                  f"{e}); the best trial's own test score stands", file=sys.stderr, flush=True)
            return written([])
        finally:
            for pool in pools:
                pool.shutdown()
    return wait


def ensemble_members(trials, size: int) -> list[dict]:
    """The first `size` of `ranked_trials` that have weights to test (so the best trial first);
    [] when `size` is 1 or less."""
    if size <= 1:
        return []
    ranked = ranked_trials(trials)
    top = ranked[ranked["checkpoint"] != ""].head(size)
    return top[["trial_id", "config", "checkpoint"]].to_dict("records")


def kept_probabilities(checkpoint: Path, shape: tuple[int, int]) -> np.ndarray | None:
    """The test set's class probabilities a trial kept in `checkpoint` (its last, if it finished
    its budget); None when it holds none, or none of this `shape` (test images x classes)."""
    try:
        probabilities = np.load(checkpoint / PROBABILITIES)
    except (OSError, ValueError):  # none; truncated or not an .npy
        return None
    return probabilities if probabilities.shape == shape else None


def _prepare() -> None:
    """SIGINT and SIGTERM ignored: the driver decides how a search ends, and a Ctrl-C in a
    terminal reaches its whole process group (a batch scheduler's SIGTERM every process of the
    job), this child included, which would die with the test half done. Then Keras imported,
    TensorFlow on every core and GPUs in memory-growth mode: a GPU may be shared (Ray's trial
    processes still exiting, another search), and TensorFlow's default would take nearly all
    of its memory at the first prediction."""
    import os
    import signal

    from trainables.train import configure_tensorflow
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, signal.SIG_IGN)
    configure_tensorflow({"threads": os.cpu_count() or 1, "memory_growth": True})


def _test_probabilities(members: list[tuple[dict, Path]], data: Data) -> list[np.ndarray]:
    """Each (config, checkpoint)'s class probabilities on the test split, from its best
    weights."""
    import keras

    from trainables.evaluate import probabilities as predicted
    from trainables.train import built_model, load_weights

    probabilities = []
    for config, checkpoint in members:
        keras.backend.clear_session()
        model = built_model(config, data)
        model.set_weights(load_weights(checkpoint / "best.npz"))
        probabilities.append(predicted(model, data, config))
    return probabilities
