"""Driver layer: the search's best trial scored on the test set, into best_test.json."""

from __future__ import annotations

import json
from pathlib import Path

from analysis.results import best_trial, load
from trainables.data import Data


def evaluate_best_trial(experiment: Path, data: Data) -> dict | None:
    """The best trial's test scores: its own when it finished its budget (it tested its best
    weights), else its best weights from its latest checkpoint tested here (TensorFlow imported
    only then). Written to best_test.json; None when no trial has a usable result."""
    trials = load(experiment).trials
    best = best_trial(trials)
    if best is None or not best["checkpoint"]:
        return None
    row = trials.set_index("trial_id").loc[best["trial_id"]]
    if row["test_accuracy"] == row["test_accuracy"]:  # not NaN: the trial tested these weights
        scores = {"test_loss": float(row["test_loss"]), "test_accuracy": float(row["test_accuracy"])}
    else:  # stopped by ASHA before its budget: test its best weights here
        from trainables.evaluate import evaluate
        from trainables.train import compiled_model, load_weights
        model = compiled_model(best["config"], data)
        model.set_weights(load_weights(Path(best["checkpoint"]) / "best.npz"))
        scores = evaluate(model, data, best["config"])
    record = {"trial_id": best["trial_id"],
              "checkpoint": str(Path(best["checkpoint"]).relative_to(experiment)),
              "val_accuracy": best["val_accuracy"], **scores}
    (experiment / "best_test.json").write_text(json.dumps(record, indent=2))
    return record
