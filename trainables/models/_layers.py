"""Trial layer: layer helpers every model family shares (inputs, the float32 classifier, conv and
dense blocks with optional BatchNormalization, the configured dropout)."""

from __future__ import annotations

import keras
from keras import layers


def _inputs(input_shape):
    return keras.Input(shape=tuple(input_shape), name="image")


def _classifier(x, num_classes):
    # float32 even under mixed precision: a float16 softmax loses small probabilities.
    return layers.Dense(num_classes, activation="softmax", name="predictions", dtype="float32")(x)


def _conv(x, filters, kernel, bn=None, padding="valid", strides=1):
    """Conv2D (with its bias, as the reports' Keras code) + relu, with BatchNormalization `before`
    or `after` the relu, or none. Before BN the bias is redundant (BN subtracts the batch mean)
    but the reports kept it, and so do the exact models: their parameter counts are the reports'."""
    x = layers.Conv2D(filters, kernel, padding=padding, strides=strides)(x)
    return _relu(x, bn)


def _dense(x, units, bn=None):
    """Dense + relu, with BatchNormalization `before` or `after` the relu, or none (bias as `_conv`)."""
    return _relu(layers.Dense(units)(x), bn)


def _relu(x, bn):
    if bn not in (None, "before", "after"):
        raise ValueError(f"bn must be None, 'before' or 'after', not {bn!r}")
    if bn == "before":
        x = layers.BatchNormalization()(x)
    x = layers.Activation("relu")(x)
    if bn == "after":
        x = layers.BatchNormalization()(x)
    return x


def _dropout(config, scale=1.0):
    """A Dropout layer at `scale` times the config's `dropout` (0 when absent: a no-op layer)."""
    return layers.Dropout(float(config.get("dropout", 0.0)) * scale)
