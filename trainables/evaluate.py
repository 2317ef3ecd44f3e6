"""Test-set evaluation: of a trial's best weights in memory, and of the search's best trial."""

from __future__ import annotations

import json
from pathlib import Path

from trainables.datasets import Data


def evaluate(model, data: Data, config: dict) -> dict:
    from trainables import pipeline

    result = model.evaluate(pipeline.eval_batches(data, "test", config), verbose=0,
                            return_dict=True)
    return {"test_loss": float(result["loss"]), "test_accuracy": float(result["accuracy"])}


def evaluate_best_trial(experiment: Path, data: Data) -> dict | None:
    """Evaluate the best trial's best weights (from its latest checkpoint) on the test set and
    write best_test.json in the experiment folder; None when no trial has a usable result."""
    from analysis.results import best_trial, load

    trials = load(experiment).trials
    best = best_trial(trials)
    if best is None or not best["checkpoint"]:
        return None
    row = trials.set_index("trial_id").loc[best["trial_id"]]
    if row["test_accuracy"] == row["test_accuracy"]:  # not NaN: the trial tested these weights
        scores = {"test_loss": float(row["test_loss"]), "test_accuracy": float(row["test_accuracy"])}
    else:  # stopped by ASHA before its budget: test its best weights here
        from trainables.train import compiled_model, load_weights
        model = compiled_model(best["config"], data)
        model.set_weights(load_weights(Path(best["checkpoint"]) / "best.npz"))
        scores = evaluate(model, data, best["config"])
    record = {"trial_id": best["trial_id"],
              "checkpoint": str(Path(best["checkpoint"]).relative_to(experiment)),
              "val_accuracy": best["val_accuracy"], **scores}
    (experiment / "best_test.json").write_text(json.dumps(record, indent=2))
    return record
