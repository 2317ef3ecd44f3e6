"""The weight average a trial validates, keeps and tests (`ema_epochs`): the average Keras keeps
is the exponential moving average of the weights after each step, over about `ema_epochs`
epochs; training itself is unchanged; evaluating swaps the average in and the trained weights
back; a search's best weights are the average's."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from trainables import optimizers, pipeline
from trainables.train import compiled_model, ema_momentum, load_weights, new_session

CONFIG = {"model": "basenet", "optimizer": "adam", "learning_rate": 2e-3, "batch_size": 64,
          "dropout": 0.2, "seed": 0}


def test_momentum_spreads_the_average_over_the_epochs_asked():
    assert ema_momentum(CONFIG, 1078) is None  # absent: off
    assert ema_momentum({**CONFIG, "ema_epochs": 0}, 1078) is None
    steps = math.ceil(1078 / 64)  # 17 steps an epoch
    assert ema_momentum({**CONFIG, "ema_epochs": 1}, 1078) == pytest.approx(1 - 1 / steps)
    assert ema_momentum({**CONFIG, "ema_epochs": 3}, 1078) == pytest.approx(1 - 1 / (3 * steps))
    assert ema_momentum({**CONFIG, "ema_epochs": 0.01}, 1078) == 0.0  # shorter than a step


def _trained(digits, config, epochs=2):
    """(model, the weights after every train step) for `epochs` epochs, one step per call."""
    import keras
    new_session("float32", config["seed"])
    model = compiled_model(config, digits, spe=1)
    after_steps = []
    record = keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs: after_steps.append(
            [v.numpy() for v in model.trainable_variables]))
    model.fit(pipeline.train_batches(digits, config), epochs=epochs, verbose=0,
              callbacks=[record])
    return model, after_steps


def test_the_average_is_the_moving_average_of_the_weights_after_each_step(digits):
    config = {**CONFIG, "ema_epochs": 1}
    model, after_steps = _trained(digits, config)
    m = np.float32(ema_momentum(config, len(digits.y_train)))
    average = after_steps[0]  # the first step copies the weights
    for weights in after_steps[1:]:
        average = [m * a + (1 - m) * w for a, w in zip(average, weights)]
    kept = optimizers.inner(model.optimizer)._model_variables_moving_average
    assert len(kept) == len(average) == 8  # 4 layers: kernel, bias
    for a, b in zip(kept, average, strict=True):
        np.testing.assert_allclose(a.numpy(), b, rtol=1e-5, atol=1e-6)
    # over an epoch's span it lags the trained weights visibly
    assert max(np.abs(a.numpy() - w).max() for a, w in zip(kept, after_steps[-1])) > 1e-3


def test_averaging_leaves_training_unchanged(digits):
    """The average is a shadow: the trained weights are bit-identical with and without it."""
    plain, _ = _trained(digits, CONFIG)
    averaged, _ = _trained(digits, {**CONFIG, "ema_epochs": 1})
    for a, b in zip(plain.get_weights(), averaged.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_averaged_swaps_the_average_in_and_the_trained_weights_back(digits):
    model, _ = _trained(digits, {**CONFIG, "ema_epochs": 1}, epochs=1)
    trained = model.get_weights()
    averages = optimizers.inner(model.optimizer)._model_variables_moving_average
    averages = [v.numpy() for v in averages]
    val = pipeline.eval_batches(digits, "val", CONFIG)
    with optimizers.averaged(model):
        for v, a in zip(model.trainable_variables, averages, strict=True):
            np.testing.assert_array_equal(v.numpy(), a)
        scores = model.evaluate(val, verbose=0, return_dict=True)
    for a, b in zip(model.get_weights(), trained, strict=True):
        np.testing.assert_array_equal(a, b)
    # the same scores as the averages assigned straight from the optimizer's own variables
    for v, a in zip(model.trainable_variables, averages, strict=True):
        v.assign(a)
    assert model.evaluate(val, verbose=0, return_dict=True) == scores
    model.set_weights(trained)
    plain, _ = _trained(digits, CONFIG, epochs=1)
    with optimizers.averaged(plain):  # no average kept: the weights stay as trained
        for a, b in zip(plain.get_weights(), trained, strict=True):
            np.testing.assert_array_equal(a, b)


@pytest.mark.slow
def test_a_search_validates_keeps_and_tests_the_average(smoke_search, digits):
    """The best trial's reported best val accuracy is that of its best.npz (the average at its
    best epoch, not the trained weights of any checkpoint), and search.json and the report say
    which weights were evaluated."""
    import json

    from analysis.results import best_trial, load
    folder, _ = smoke_search
    assert json.loads((folder / "search.json").read_text())["ema_epochs"] == 1.0
    res = load(folder)
    best = best_trial(res.trials)
    assert best["config"]["ema_epochs"] == 1.0
    kept = load_weights(Path(best["checkpoint"]) / "best.npz")
    model = compiled_model(best["config"], digits)
    model.set_weights(kept)
    val = model.evaluate(pipeline.eval_batches(digits, "val", best["config"]), verbose=0,
                         return_dict=True)
    assert val["accuracy"] == pytest.approx(best["val_accuracy"], abs=1e-6)
    trained = load_weights(Path(best["checkpoint"]) / "last.npz")[:len(kept)]
    assert any(np.abs(a - b).max() > 0 for a, b in zip(kept, trained))
    readme = (folder / "report" / "README.md").read_text()
    assert "an exponential moving average of the weights over 1 epoch" in readme
