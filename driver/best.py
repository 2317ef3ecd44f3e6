"""Driver layer: the search's best trial, and the ensemble of its best trials, scored on the test
set, into best_test.json."""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

from analysis.results import best_trial, load, ranked_trials
from trainables.data import Data

from driver import child


class Tester:
    """The spawned child process that tests, with Keras imported (which takes seconds:
    docs/benchmarks.md, "Mechanisms in the code"), at the lowest CPU priority: started by `start`
    as the search starts, its import takes the cycles that Ray's
    start and the trials leave idle (without an ensemble, by the first `submit`). TensorFlow
    never holds GPU memory in the driver."""

    def __init__(self, data: Data | None = None):
        self._pool, self._data = None, data

    def start(self, members: list[tuple[dict, Path]] = ()) -> None:
        """Start the process; with `members` ((config, checkpoint folder) of finished trials,
        needs the data), their test-set probabilities are computed next and kept in it, so that
        `score_best_trial` finds those it needs ready."""
        if self._pool is None:
            self._pool = child.pool(_prepare)
            self._pool.submit(int)  # the process starts now, not at the first real task
        if members:
            self.submit(_test_probabilities, members, self._data)

    def submit(self, fn, *args):
        """`fn(*args)` in the process; one that has died (killed, out of memory) is replaced."""
        from concurrent.futures.process import BrokenProcessPool
        self.start()
        try:
            return self._pool.submit(fn, *args)
        except BrokenProcessPool:
            self._pool.shutdown(wait=False)
            self._pool = None
            return self.submit(fn, *args)

    def shutdown(self, wait: bool = True) -> None:
        """Stop the process once its work is done; `wait=False` (a search that never ran) kills
        it, as it may still be importing Keras for seconds."""
        if self._pool is not None:
            if not wait:
                import multiprocessing
                for process in multiprocessing.active_children():  # the driver's only one
                    process.kill()
            self._pool.shutdown(wait=wait, cancel_futures=not wait)
            self._pool = None


def score_best_trial(experiment: Path, data: Data, ensemble: int = 1,
                     tester: Tester | None = None) -> Callable[[], dict | None]:
    """Start scoring the best trial (and, with `ensemble` > 1, the ensemble of the `ensemble`
    best trials) on the test set; returns the function that waits for the record (also written
    to best_test.json; None when no trial has a usable result), and shuts `tester` down.

    A trial that finished its budget tested its best weights itself: without an ensemble that
    score is the record, at once. Otherwise the test set's class probabilities of each trial
    still to score come from its latest checkpoint's best weights, in the tester's process: the
    driver goes on writing the report while it predicts."""
    tester = tester or Tester()
    trials = load(experiment).trials
    best = best_trial(trials)
    if best is None or not best["checkpoint"]:
        tester.shutdown()
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
    if not scored:
        tester.shutdown()
        return lambda: written([])
    task = (_test_probabilities, [(m["config"], Path(m["checkpoint"])) for m in scored], data)
    future = tester.submit(*task)

    def wait() -> dict:
        from concurrent.futures.process import BrokenProcessPool
        try:
            try:
                return written(future.result())
            except BrokenProcessPool:  # the tester died mid-test: once more, in a new one
                return written(tester.submit(*task).result())
        except Exception as e:
            if not tested:  # no test score of the best trial: as an error in the search
                raise
            print(f"warning: the ensemble of the best trials was not tested ({type(e).__name__}: "
                  f"{e}); the best trial's own test score stands", file=sys.stderr, flush=True)
            return written([])
        finally:
            tester.shutdown()
    return wait


def likely_members(finished: list[tuple[float, dict, Path]], size: int
                   ) -> list[tuple[dict, Path]]:
    """The (config, checkpoint) of the `size` best of the search's finished trials ((best val
    accuracy, config, checkpoint), in the order they were created): the ensemble's members
    unless the trials still running beat them."""
    scored = [f for f in finished if not math.isnan(f[0])]  # NaN: diverged before any result
    return [(config, checkpoint) for _, config, checkpoint in
            sorted(scored, key=lambda f: -f[0])[:size]] if size > 1 else []


def ensemble_members(trials, size: int) -> list[dict]:
    """The first `size` of `ranked_trials` that have weights to test (so the best trial first);
    [] when `size` is 1 or less."""
    if size <= 1:
        return []
    ranked = ranked_trials(trials)
    top = ranked[ranked["checkpoint"] != ""].head(size)
    return top[["trial_id", "config", "checkpoint"]].to_dict("records")


def scores_on_test(probabilities: np.ndarray, labels: np.ndarray) -> dict:
    """Test loss (cross-entropy, probabilities clipped as Keras clips them) and accuracy."""
    picked = probabilities[np.arange(len(labels)), labels]
    return {"test_loss": float(-np.log(np.clip(picked, 1e-7, 1.0)).mean()),
            "test_accuracy": float((probabilities.argmax(axis=1) == labels).mean())}


def _prepare() -> None:
    """The lowest CPU priority (Linux's SCHED_IDLE: any other process that wants a core takes it
    at once; elsewhere nice 19): whatever else runs on the machine comes first, the trials
    above all. SIGINT and SIGTERM ignored: the driver decides how a search ends, and a
    Ctrl-C in a terminal reaches its whole process group (a batch scheduler's SIGTERM every
    process of the job), this child included, which would die with the test half done. Then
    Keras imported. GPUs in memory-growth mode: the
    child tests finished trials while the last one may still train on the same GPU, and
    TensorFlow's default would take nearly all of its memory at the first prediction."""
    import os
    import signal

    from trainables.train import configure_tensorflow, import_keras
    os.nice(19 - os.nice(0))
    if hasattr(os, "SCHED_IDLE"):
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, signal.SIG_IGN)
    import_keras()
    configure_tensorflow({"threads": os.cpu_count() or 1, "memory_growth": True,
                          "pin_cores": False})


# A process-wide cache, in the tester's process: each best-weights file's test-split probabilities
# (`_test_probabilities`), by (path, modification time, size); kept for the whole search.
_PROBABILITY_CACHE: dict[tuple, np.ndarray] = {}


def _kept_weights() -> list[tuple]:
    """The (weights file, its modification time and size) whose probabilities this process
    keeps, in the order it computed them."""
    return list(_PROBABILITY_CACHE)


def _test_probabilities(members: list[tuple[dict, Path]], data: Data) -> list[np.ndarray]:
    """Each (config, checkpoint)'s class probabilities on the test split, from its best weights;
    those of weights already seen in this process (the same file, unchanged) are not computed
    again."""
    import keras

    from trainables import pipeline
    from trainables.train import built_model, load_weights

    probabilities = []
    for config, checkpoint in members:
        weights = (checkpoint / "best.npz").resolve()
        seen = weights.stat()
        key = (str(weights), seen.st_mtime_ns, seen.st_size)  # a trial's: its config is fixed
        if key not in _PROBABILITY_CACHE:
            keras.backend.clear_session()
            model = built_model(config, data)
            model.set_weights(load_weights(weights))
            batches = pipeline.eval_batches(data, "test", config)
            _PROBABILITY_CACHE[key] = model.predict(batches, verbose=0)
        probabilities.append(_PROBABILITY_CACHE[key])
    return probabilities
