"""Trial layer: the seven optimizers of the reports, by name, as fresh Keras optimizers, the
one compile call every model gets, and the weight average an optimizer may keep."""

from __future__ import annotations

import contextlib

# Keras's default learning rates: the optimizer-comparison study (report 000) used these.
DEFAULT_LEARNING_RATES = {
    "sgd": 0.01, "rmsprop": 0.001, "adam": 0.001, "adadelta": 0.001,
    "adagrad": 0.001, "adamax": 0.001, "nadam": 0.001,
}
NAMES = tuple(DEFAULT_LEARNING_RATES)


def make(name: str, learning_rate: float, ema_momentum: float | None = None):
    """A new optimizer; with `ema_momentum`, one that also keeps an exponential moving
    average of the weights it trains (`_averaging`). SGD is the reports' SGD(momentum=0.9,
    nesterov=True, decay=1e-6): Keras 3 has no `decay`, and InverseTimeDecay(decay_steps=1,
    decay_rate=1e-6) is the same lr / (1 + 1e-6 * iterations) schedule."""
    optimizer = _make(name, learning_rate)
    if ema_momentum is not None:
        _averaging(optimizer, ema_momentum)
    return optimizer


def _make(name: str, learning_rate: float):
    import keras

    if name == "sgd":
        schedule = keras.optimizers.schedules.InverseTimeDecay(learning_rate, 1, 1e-6)
        return keras.optimizers.SGD(schedule, momentum=0.9, nesterov=True)
    classes = {
        "rmsprop": keras.optimizers.RMSprop, "adam": keras.optimizers.Adam,
        "adadelta": keras.optimizers.Adadelta, "adagrad": keras.optimizers.Adagrad,
        "adamax": keras.optimizers.Adamax, "nadam": keras.optimizers.Nadam,
    }
    if name not in classes:
        raise ValueError(f"unknown optimizer {name!r}; choose one of: {', '.join(NAMES)}")
    return classes[name](learning_rate)


def _averaging(optimizer, momentum: float) -> None:
    """Keras's weight average (`use_ema`): after every step, average = momentum x average +
    (1 - momentum) x weights, in the train function (the first step copies the weights). One
    change: Keras's `finalize_variable_values`, which overwrites the weights with the average at
    the end of every `fit` call, does nothing, so that the weights trained on stay the trained
    ones (two-phase fine-tuning fits twice; phase 2 goes on from phase 1's trained weights, as
    without an average). The average is evaluated through `averaged`."""
    optimizer.use_ema, optimizer.ema_overwrite_frequency = True, None
    optimizer.ema_momentum = float(momentum)
    optimizer.finalize_variable_values = lambda var_list: None


def inner(optimizer):
    """The optimizer itself, or the one a LossScaleOptimizer wraps (Keras wraps it at compile
    under the mixed_float16 policy)."""
    return getattr(optimizer, "inner_optimizer", optimizer)


def ema_momentum_of(optimizer) -> float | None:
    """The momentum of the weight average `optimizer` keeps; None when it keeps none."""
    optimizer = inner(optimizer)
    return float(optimizer.ema_momentum) if optimizer.use_ema else None


@contextlib.contextmanager
def averaged(model):
    """Within: the model's trained variables hold its optimizer's weight averages, if it keeps
    them (BatchNormalization's statistics stay as trained); the trained values come back after.
    The swap is Keras's own `finalize_variable_values` (the class's: `_averaging` turns the
    instance's off)."""
    optimizer = inner(model.optimizer)
    if not optimizer.use_ema:
        yield
        return
    import tensorflow as tf

    variables = model.trainable_variables  # those the optimizer was built on, in its order
    trained = [tf.identity(variable.value) for variable in variables]
    type(optimizer).finalize_variable_values(optimizer, variables)
    try:
        yield
    finally:
        for variable, value in zip(variables, trained):
            variable.assign(value)


def compile(model, name: str, learning_rate: float, steps_per_execution: int = 1,
            ema_momentum: float | None = None) -> None:
    """Compile `model` for the suite's classification: a fresh `name` optimizer at
    `learning_rate` (keeping a weight average with `ema_momentum`; without the leaking all-reduce:
    private_apis.sum_gradients_only_under_a_strategy), sparse categorical cross-entropy, accuracy,
    `steps_per_execution` train steps per call of the train function; its optimizer, loss and
    metric variables built at once.

    Keras 3.15's TensorFlow trainer, with no distribution strategy, leaves that build to the
    first trace of the train step; a tf.function whose first trace creates variables is traced
    a second time, so every trial traced its train step twice (docs/benchmarks.md, "Mechanisms
    in the code"). Built here through the public API on one batch of zeros (the metrics reset
    after; nothing random is drawn, the weights stay bit-identical), the step is traced once.
    tests/test_speed.py keeps both true."""
    import numpy as np

    from trainables.private_apis import sum_gradients_only_under_a_strategy

    optimizer = sum_gradients_only_under_a_strategy(make(name, learning_rate, ema_momentum))
    model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"], steps_per_execution=steps_per_execution)
    output = model.outputs[0]
    labels = np.zeros((1,), np.int32)
    scores = np.zeros((1, *output.shape[1:]), output.dtype)
    model.compute_loss(y=labels, y_pred=scores, training=False)
    model.compute_metrics(None, labels, scores, None)
    model.reset_metrics()
    model.optimizer.build(model.trainable_variables)
