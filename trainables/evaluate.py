"""Trial layer: a model's test-set score (the trainable's last epoch, and the driver's best-trial
test)."""

from __future__ import annotations

from trainables.data import Data


def evaluate(model, data: Data, config: dict) -> dict:
    from trainables import pipeline

    result = model.evaluate(pipeline.eval_batches(data, "test", config), verbose=0,
                            return_dict=True)
    return {"test_loss": float(result["loss"]), "test_accuracy": float(result["accuracy"])}
