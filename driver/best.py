"""Driver layer: the search's best trial scored on the test set, into best_test.json."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from analysis.results import best_trial, load
from trainables.data import Data


def score_best_trial(experiment: Path, data: Data) -> Callable[[], dict | None]:
    """Start scoring the best trial on the test set; returns the function that waits for the
    record (also written to best_test.json; None when no trial has a usable result).

    A trial that finished its budget tested its best weights itself: that score is the record,
    at once. One that ASHA stopped is tested here from its latest checkpoint's best weights, in a
    spawned child process: the driver goes on writing the report while the child imports
    TensorFlow (about 3 s) and tests (and TensorFlow never holds GPU memory in the driver)."""
    trials = load(experiment).trials
    best = best_trial(trials)
    if best is None or not best["checkpoint"]:
        return lambda: None
    row = trials.set_index("trial_id").loc[best["trial_id"]]
    record = {"trial_id": best["trial_id"],
              "checkpoint": str(Path(best["checkpoint"]).relative_to(experiment)),
              "val_accuracy": best["val_accuracy"]}

    def written(scores: dict) -> dict:
        (experiment / "best_test.json").write_text(json.dumps(record | scores, indent=2))
        return record | scores

    if row["test_accuracy"] == row["test_accuracy"]:  # not NaN: the trial tested these weights
        scores = written({"test_loss": float(row["test_loss"]),
                          "test_accuracy": float(row["test_accuracy"])})
        return lambda: scores
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_quiet)
    future = pool.submit(_test_weights, best["config"], Path(best["checkpoint"]), data)

    def wait() -> dict:
        try:
            return written(future.result())
        finally:
            pool.shutdown()
    return wait


def _quiet() -> None:
    """The child's stderr to /dev/null: TensorFlow's start-up lines (oneDNN, CUDA probing, which
    no log level silences) would otherwise follow the search's last lines. Its errors still reach
    the driver, raised by the future."""
    import os
    os.dup2(os.open(os.devnull, os.O_WRONLY), 2)


def _test_weights(config: dict, checkpoint: Path, data: Data) -> dict:
    from trainables.evaluate import evaluate
    from trainables.train import compiled_model, import_keras, load_weights

    import_keras()
    model = compiled_model(config, data)
    model.set_weights(load_weights(checkpoint / "best.npz"))
    return evaluate(model, data, config)
