"""Test-set evaluation: of a trial's best weights in memory, and of the search's best trial."""

from __future__ import annotations

import json
from pathlib import Path

from trainables import pipeline
from trainables.datasets import Data


def evaluate(model, data: Data, config: dict) -> dict:
    result = model.evaluate(pipeline.eval_batches(data, "test", config), verbose=0,
                            return_dict=True)
    return {"test_loss": float(result["loss"]), "test_accuracy": float(result["accuracy"])}


def evaluate_best_trial(experiment: Path, data: Data) -> dict | None:
    """Evaluate the best trial's best weights (from its latest checkpoint) on the test set and
    write best_test.json in the experiment folder; None when no trial has a usable result."""
    from analysis.results import best_trial, load
    from trainables.train import compiled_model, load_weights

    best = best_trial(load(experiment).trials)
    if best is None or not best["checkpoint"]:
        return None
    model = compiled_model(best["config"], data)
    model.set_weights(load_weights(Path(best["checkpoint"]) / "best.npz"))
    record = {"trial_id": best["trial_id"],
              "checkpoint": str(Path(best["checkpoint"]).relative_to(experiment)),
              "val_accuracy": best["val_accuracy"],
              **evaluate(model, data, best["config"])}
    (experiment / "best_test.json").write_text(json.dumps(record, indent=2))
    return record
