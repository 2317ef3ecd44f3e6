"""Trial layer: a model's scores on a split: the val split each epoch, the test split at the
trainable's last epoch and in the driver's best-trial test."""

from __future__ import annotations

from trainables.data import Data


def scores(model, batches, split: str) -> dict:
    """`{split}_loss` and `{split}_accuracy` of `model` on `batches`."""
    result = model.evaluate(batches, verbose=0, return_dict=True)
    return {f"{split}_loss": float(result["loss"]), f"{split}_accuracy": float(result["accuracy"])}


def evaluate(model, data: Data, config: dict) -> dict:
    """The test split's scores."""
    from trainables import pipeline

    return scores(model, pipeline.eval_batches(data, "test", config), "test")
