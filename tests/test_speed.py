"""Speed and memory changes that must not change what is trained: the compiled augmentation is
shared by every zoom and rotation range and gives the same pixels; a reused actor's memory stays
bounded over many trials."""

from __future__ import annotations

import math

import numpy as np
import pytest

from trainables import pipeline
from trainables.train import compiled_model, new_session


def test_augmentation_settings_share_one_compile_and_give_the_baked_in_pixels():
    """Flip, zoom and rotation are arguments of the compiled augmentation: trials drawing other
    values reuse it, and the pixels are those of a function with the values as constants."""
    import tensorflow as tf
    rng = np.random.default_rng(0)
    x = tf.constant(rng.integers(0, 256, (16, 32, 32, 3), np.uint8))
    scale, offset = tf.constant([1 / 255] * 3), tf.constant([0.0] * 3)
    seed = tf.constant([5, 6], tf.int64)
    pipeline._AUGMENT_FNS.clear()
    for flip, zoom, rotation in [(True, 0.2, 15.0), (True, 0.37, 7.3), (False, 0.1, 10.0)]:
        ours = pipeline._augment(x, seed, scale, offset, flip, zoom, rotation, 16)

        @tf.function(jit_compile=True)
        def baked(images, seed):
            transforms = pipeline._random_transforms(16, seed, 32, 32, flip, zoom, rotation)
            return pipeline._affine_bilinear(images, transforms) * scale + offset
        np.testing.assert_array_equal(ours.numpy(), baked(x, seed).numpy())
    assert len(pipeline._AUGMENT_FNS) == 1


@pytest.mark.slow
def test_a_reused_process_does_not_grow_over_trials(digits, trial_session):
    """Twelve one-epoch trials through the trainable in one process, as a reused actor runs them:
    the first four meet every batch size, the rest draw new dropout, rates and augmentation
    ranges (continuous: a cache keyed by their values would grow). RSS after trial 12 at most
    1.2x RSS after trial 5 (bench/memory.py runs 40 MiRed trials). BaseNet is too small for the
    RSS bound alone to catch the old per-value XLA cache (it passed before that fix): the cache
    sizes are asserted too. Ray's per-trial API is replaced by stand-ins (conftest's trial_session):
    no Ray process starts."""
    import gc
    from pathlib import Path

    from trainables.train import train

    def rss_mib() -> float:
        status = Path("/proc/self/status").read_text().splitlines()
        return next(int(l.split()[1]) / 1024 for l in status if l.startswith("VmRSS:"))

    pipeline._AUGMENT_FNS.clear()
    rng = np.random.default_rng(0)
    optimizers = ["adam", "rmsprop", "sgd", "nadam"]
    rss = []
    for i in range(12):
        config = {"model": "basenet", "optimizer": optimizers[i % 4],
                  "learning_rate": float(10 ** rng.uniform(-4, -2)),
                  "batch_size": (32, 64, 128, 256)[i % 4], "dropout": float(rng.uniform(0.1, 0.5)),
                  "flip": bool(i % 2), "zoom": float(rng.uniform(0.05, 0.3)),
                  "rotation": float(rng.uniform(1, 20)), "seed": i}
        train(config, data=digits, max_epochs=1)
        gc.collect()
        rss.append(rss_mib())
    assert len(trial_session.reports) == 12  # every trial trained its epoch and reported it
    assert rss[-1] <= 1.2 * rss[4], [round(r) for r in rss]
    # what grew before: one compiled augmentation kept per drawn (zoom, rotation), later one per
    # (flip, batch size); now one for every trial here
    assert len(pipeline._AUGMENT_FNS) == 1


def test_a_finished_trials_train_step_graph_is_freed(digits):
    """A reused actor trains trial after trial: once a trial's model is dropped and the session
    cleared, its traced train step (a graph of 1,000-3,000 operations) must be garbage. Keras's
    all-reduce over one replica registered a tf.custom_gradient per trace in TensorFlow's global
    gradient registry, whose closure kept every trial's graph alive (optimizers.compile no longer
    all-reduces without a distribution strategy)."""
    import gc

    import keras
    from tensorflow.python.framework.func_graph import FuncGraph

    def train_steps_alive() -> int:
        gc.collect()
        return sum(isinstance(o, FuncGraph) and o.name == "one_step_on_data"
                   for o in gc.get_objects())

    keras.backend.clear_session()
    before = train_steps_alive()
    for optimizer in ("adam", "sgd", "rmsprop"):
        keras.backend.clear_session()
        config = {"model": "fashion_mlp", "optimizer": optimizer, "learning_rate": 1e-3,
                  "batch_size": 256, "dropout": 0.2, "seed": 0}
        model = compiled_model(config, digits)
        model.fit(pipeline.train_batches(digits, config), epochs=1, verbose=0)
        assert train_steps_alive() == before + 1  # this trial's, while its model lives
        del model
    keras.backend.clear_session()
    assert train_steps_alive() == before


def _two_epochs(digits, config: dict, compiled, policy: str = "float32") -> tuple:
    """A fresh session as a trial's (seeded with config["seed"], `policy`), then `compiled()` (a
    compiled model) trained two epochs with validation: (model, weights, per-epoch history)."""
    new_session(policy, config["seed"])
    model = compiled()
    history = model.fit(pipeline.train_batches(digits, config), epochs=2, verbose=0,
                        validation_data=pipeline.eval_batches(digits, "val", config)).history
    return model, model.get_weights(), history


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_the_train_step_is_traced_once_and_trains_the_same_weights(digits, optimizer):
    """optimizers.compile builds the optimizer and metrics before the first trace, so a trial
    traces its train step once (Keras alone traces it twice: the first trace creates those
    variables); two epochs give bit-identical weights and metrics to a plain `model.compile`."""
    from trainables import models, optimizers

    config = {"model": "basenet", "optimizer": optimizer, "learning_rate": 1e-3,
              "batch_size": 64, "dropout": 0.3, "seed": 0}
    traces = {True: [], False: []}

    def counted(ours: bool):
        model = models.build(config, models.input_shape("basenet", digits.input_shape),
                             digits.num_classes)
        if ours:
            optimizers.compile(model, optimizer, 1e-3)
        else:
            model.compile(optimizer=optimizers.make(optimizer, 1e-3),
                          loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        step = model.train_step
        model.train_step = lambda data: traces[ours].append(1) or step(data)
        return model

    _, weights, history = _two_epochs(digits, config, lambda: counted(True))
    _, plain_weights, plain_history = _two_epochs(digits, config, lambda: counted(False))
    assert (len(traces[True]), len(traces[False])) == (1, 2)
    assert history == plain_history
    for a, b in zip(weights, plain_weights, strict=True):
        np.testing.assert_array_equal(a, b)


def test_steps_per_execution_rule(digits):
    """About 3 ms of work per call: BaseNet's batch-32 step already is one on a CPU core; the
    smaller MLP gets 2; on a GPU BaseNet gets a whole epoch (34 steps) per call."""
    from trainables.train import compiled_model, steps_per_execution
    config = {"optimizer": "adam", "learning_rate": 1e-3, "batch_size": 32, "dropout": 0.0,
              "seed": 0}
    basenet = compiled_model({**config, "model": "basenet"}, digits)
    mlp = compiled_model({**config, "model": "fashion_mlp"}, digits)
    assert (basenet.steps_per_execution, mlp.steps_per_execution) == (1, 2)  # the trainable's
    n = len(digits.y_train)
    assert steps_per_execution(basenet, 32, n, "gpu") == math.ceil(n / 32) == 34
    assert steps_per_execution(mlp, 256, n) == 1


@pytest.mark.parametrize("model_name", ["basenet", "basenet_bn_after"])
def test_steps_per_execution_does_not_change_the_weights(digits, model_name):
    """Two epochs with 4 train steps per call and with 1: the same weights and per-epoch metrics
    (to float rounding: the same ops in the same order, only the loop around them differs)."""
    config = {"model": model_name, "optimizer": "adam", "learning_rate": 1e-3, "batch_size": 32,
              "dropout": 0.2, "seed": 1}
    runs = {}
    for spe in (4, 1):
        model, *runs[spe] = _two_epochs(digits, config, lambda: compiled_model(config, digits, spe))
        assert model.steps_per_execution == spe
    (auto_weights, auto_history), (one_weights, one_history) = runs[4], runs[1]
    for a, b in zip(auto_weights, one_weights, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert auto_history.keys() == one_history.keys()
    for key in one_history:
        np.testing.assert_allclose(auto_history[key], one_history[key], rtol=1e-6, atol=1e-7)
