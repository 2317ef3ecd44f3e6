"""Trial layer: the seven optimizers of the reports, by name, as fresh Keras optimizers, and the
one compile call every model gets."""

from __future__ import annotations

# Keras's default learning rates: the optimizer-comparison study (report 000) used these.
DEFAULT_LEARNING_RATES = {
    "sgd": 0.01, "rmsprop": 0.001, "adam": 0.001, "adadelta": 0.001,
    "adagrad": 0.001, "adamax": 0.001, "nadam": 0.001,
}
NAMES = tuple(DEFAULT_LEARNING_RATES)


def make(name: str, learning_rate: float):
    """A new optimizer. SGD is the reports' SGD(momentum=0.9, nesterov=True, decay=1e-6):
    Keras 3 has no `decay`, and InverseTimeDecay(decay_steps=1, decay_rate=1e-6) is the same
    lr / (1 + 1e-6 * iterations) schedule."""
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


def _without_all_reduce(optimizer):
    """`optimizer`, summing gradients over replicas only under a distribution strategy.

    Keras 3.15's TensorFlow optimizer all-reduces the gradients in every trace, also over the
    one replica of no strategy. That all-reduce is a graph-mode tf.custom_gradient, which
    registers a new gradient function in TensorFlow's process-wide gradient registry and never
    removes it; its closure holds the traced gradients, so every trial's train-step graph
    (1,000-3,000 operations) stayed alive in a reused actor after clear_session: +10-20 MiB per
    trial (tensorflow#62854, keras#17458). With one replica the sum is the gradients themselves,
    so they pass through unchanged (bit-identical weights; tests/test_speed.py keeps both)."""
    import tensorflow as tf

    all_reduce = optimizer._all_reduce_sum_gradients

    def sum_gradients(grads_and_vars):
        if tf.distribute.has_strategy():
            return all_reduce(grads_and_vars)
        return list(grads_and_vars)

    optimizer._all_reduce_sum_gradients = sum_gradients
    return optimizer


def compile(model, name: str, learning_rate: float, steps_per_execution: int = 1) -> None:
    """Compile `model` for the suite's classification: a fresh `name` optimizer at
    `learning_rate` (without the leaking all-reduce: `_without_all_reduce`), sparse categorical
    cross-entropy, accuracy, `steps_per_execution` train steps per call of the train function;
    its optimizer and metric variables built at once.

    Keras 3.15's TensorFlow trainer, with no distribution strategy, leaves that build to the
    first trace of the train step; a tf.function whose first trace creates variables is traced
    a second time, so every trial traced its train step twice (0.3-0.5 s each for BaseNet on
    2 cores). Built here on symbolic inputs (the same variables, all zeros: nothing random is
    drawn, the weights stay bit-identical), the step is traced once. tests/test_speed.py keeps
    both true."""
    import tensorflow as tf

    model.compile(optimizer=_without_all_reduce(make(name, learning_rate)),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                  steps_per_execution=steps_per_execution)
    images = model.inputs[0]
    model._symbolic_build(data_batch=(tf.TensorSpec(images.shape, images.dtype),
                                      tf.TensorSpec((None,), tf.int32)))
