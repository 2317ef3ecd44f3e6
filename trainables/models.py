"""Model builders: pure functions (config, input_shape, num_classes) -> uncompiled keras.Model.

Notation in docstrings follows ../shared/PRACTICE_MODELS.md: C(n,k) Conv2D, P MaxPooling2D 2x2,
BN BatchNormalization, D(p) Dropout, F Flatten, FC(n) Dense. Builders read only the config keys they
need (`dropout`, and the model's own), import no Ray and load no data.
"""

from __future__ import annotations

import keras
from keras import layers


def _inputs(input_shape):
    return keras.Input(shape=tuple(input_shape), name="image")


def _classifier(x, num_classes):
    return layers.Dense(num_classes, activation="softmax", name="predictions")(x)


def _conv(x, filters, kernel, bn=None, padding="valid", strides=1):
    """Conv2D + relu, with BatchNormalization `before` or `after` the relu, or none."""
    x = layers.Conv2D(filters, kernel, padding=padding, strides=strides, use_bias=bn != "before")(x)
    if bn == "before":
        x = layers.BatchNormalization()(x)
    x = layers.Activation("relu")(x)
    if bn == "after":
        x = layers.BatchNormalization()(x)
    return x


def _basenet(config, input_shape, num_classes, bn=None, name="basenet"):
    inputs = _inputs(input_shape)
    x = _conv(inputs, 6, 5, bn)
    x = layers.MaxPooling2D(2)(x)
    x = _conv(x, 16, 5, bn)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(50, activation="relu")(x)
    x = layers.Dropout(config.get("dropout", 0.0))(x)
    return keras.Model(inputs, _classifier(x, num_classes), name=name)


def basenet(config, input_shape, num_classes):
    """BaseNet (exact): C(6,5) relu, P, C(16,5) relu, P, F, FC(50) relu, FC(classes).

    `dropout` adds one Dropout after FC(50); the reports used none (dropout=0 is the report's net).
    """
    return _basenet(config, input_shape, num_classes)


def basenet_bn_before(config, input_shape, num_classes):
    """BaseNet with BN between each conv and its relu (001, exact by description)."""
    return _basenet(config, input_shape, num_classes, bn="before", name="basenet_bn_before")


def basenet_bn_after(config, input_shape, num_classes):
    """BaseNet with BN after each conv's relu (001, exact by description)."""
    return _basenet(config, input_shape, num_classes, bn="after", name="basenet_bn_after")


BUILDERS = {f.__name__: f for f in (basenet, basenet_bn_before, basenet_bn_after)}


def all_builders() -> dict:
    """Every model by catalogue name: trained from scratch (here) and transfer (trainables.transfer)."""
    from trainables import transfer
    return {**BUILDERS, **transfer.BUILDERS}


def build(config, input_shape, num_classes) -> keras.Model:
    """The model named by config["model"]."""
    builders = all_builders()
    name = config["model"]
    if name not in builders:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(sorted(builders))}")
    return builders[name](config, input_shape, num_classes)
