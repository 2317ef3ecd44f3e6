"""Trial layer: a model's scores on a split: the val split each epoch; the test split's class
probabilities and scores at the trainable's last epoch and in the driver's best-trial test."""

from __future__ import annotations

import numpy as np

from trainables.data import Data

# In a trial's last checkpoint, beside best.npz: the test split's class probabilities of those
# weights, which the driver's ensemble then reads instead of predicting them again.
PROBABILITIES = "test_probabilities.npy"


def scores(model, batches, split: str) -> dict:
    """`{split}_loss` and `{split}_accuracy` of `model` on `batches`."""
    result = model.evaluate(batches, verbose=0, return_dict=True)
    return {f"{split}_loss": float(result["loss"]), f"{split}_accuracy": float(result["accuracy"])}


def probabilities(model, data: Data, config: dict) -> np.ndarray:
    """The test split's class probabilities, float32."""
    from trainables import pipeline

    return np.asarray(model.predict(pipeline.eval_batches(data, "test", config), verbose=0),
                      dtype=np.float32)


def scores_on_test(probabilities: np.ndarray, labels: np.ndarray) -> dict:
    """Test loss (cross-entropy, probabilities clipped as Keras clips them) and accuracy."""
    picked = probabilities[np.arange(len(labels)), labels]
    return {"test_loss": float(-np.log(np.clip(picked, 1e-7, 1.0)).mean()),
            "test_accuracy": float((probabilities.argmax(axis=1) == labels).mean())}


def final_test(model, data: Data, config: dict) -> tuple[dict, np.ndarray]:
    """The test split's scores, and its class probabilities."""
    predicted = probabilities(model, data, config)
    return scores_on_test(predicted, data.y_test), predicted
