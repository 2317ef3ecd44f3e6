"""Trial layer: BaseNet and the variants built from it (reports 000, 001, 002); native input
32x32x3.

Notation as in ../shared/PRACTICE_MODELS.md: C(n,k) Conv2D, P MaxPooling2D 2x2, BN
BatchNormalization, D(p) Dropout, F Flatten, FC(n) Dense. Convolutions use valid padding unless said.
"""

from __future__ import annotations

import keras
from keras import layers

from trainables.models._layers import _classifier, _conv, _dropout, _inputs


def _basenet(config, input_shape, num_classes, bn=None, name="basenet"):
    inputs = _inputs(input_shape)
    x = _conv(inputs, 6, 5, bn)
    x = layers.MaxPooling2D(2)(x)
    x = _conv(x, 16, 5, bn)
    x = layers.MaxPooling2D(2)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(50, activation="relu")(x)
    x = _dropout(config)(x)
    return keras.Model(inputs, _classifier(x, num_classes), name=name)


def basenet(config, input_shape, num_classes):
    """BaseNet (exact): C(6,5) relu, P, C(16,5) relu, P, F, FC(50) relu, FC(classes).

    `dropout` adds one Dropout after FC(50); the reports used none (dropout=0 is the report's net).
    """
    return _basenet(config, input_shape, num_classes)


def basenet_bn_before(config, input_shape, num_classes):
    """BaseNet with BN between each conv and its relu (001, exact by description).

    `dropout` as in basenet (0 is the report's net). The convs keep their bias, as the report's
    Keras code did (see `_conv`)."""
    return _basenet(config, input_shape, num_classes, bn="before", name="basenet_bn_before")


def basenet_bn_after(config, input_shape, num_classes):
    """BaseNet with BN after each conv's relu (001, exact by description); `dropout` as in basenet."""
    return _basenet(config, input_shape, num_classes, bn="after", name="basenet_bn_after")


def basenet_batch_optimized(config, input_shape, num_classes):
    """BaseNetBatchOptimized (001, exact, from its code): C(16,3) relu BN, C(32,3) relu BN, P,
    C(64,3) relu BN, C(128,3) relu BN, C(256,3) relu BN, P, F (4x4x256 = 4096), FC(50) relu,
    FC(classes).

    `dropout` adds one Dropout after FC(50), as in basenet; the report used none (dropout=0)."""
    inputs = _inputs(input_shape)
    x = _conv(inputs, 16, 3, "after")
    x = _conv(x, 32, 3, "after")
    x = layers.MaxPooling2D(2)(x)
    for filters in (64, 128, 256):
        x = _conv(x, filters, 3, "after")
    x = layers.MaxPooling2D(2)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(50, activation="relu")(x)
    x = _dropout(config)(x)
    return keras.Model(inputs, _classifier(x, num_classes), name="basenet_batch_optimized")


def basenet21(config, input_shape, num_classes):
    """BaseNet2.1 (000, **reconstructed**; its diagram was lost).

    The report's words: more filters, BatchNormalization and one Dropout of rate 0.4 as
    regularisation, the penultimate FC removed, and each 5x5 conv replaced by two successive 3x3.
    Built here: C(32,3) BN relu, C(32,3) BN relu, P, C(64,3) BN relu, C(64,3) BN relu, P,
    F (5x5x64 = 1600), D(dropout), FC(classes). Choices: 32 and 64 filters (BaseNet's 6 and 16
    raised, below the 128-512 of BaseNet2.2); BN before the relu, the order the report gives for
    2.2 ("a conv followed by its normalisation and activation"); valid padding (2.2 is where the
    report adds padding); the Dropout before the classifier, where the removed FC was.
    `dropout` is that Dropout's rate: dropout=0.4 is the report's net."""
    inputs = _inputs(input_shape)
    x = inputs
    for filters in (32, 64):
        x = _conv(x, filters, 3, "before")
        x = _conv(x, filters, 3, "before")
        x = layers.MaxPooling2D(2)(x)
    x = layers.Flatten()(x)
    x = _dropout(config)(x)
    return keras.Model(inputs, _classifier(x, num_classes), name="basenet21")


def _basenet22_trunk(inputs):
    """BaseNet2.2's convolutions, up to and including the stride-2 conv: 8x8x512 from 32x32."""
    x = inputs
    for filters in (128, 256):
        x = _conv(x, filters, 3, "before", padding="same")
        x = _conv(x, filters, 3, "before", padding="same")
        x = layers.MaxPooling2D(2)(x)
    x = layers.UpSampling2D(2)(x)
    return _conv(x, 512, 3, "before", padding="same", strides=2)


def basenet22(config, input_shape, num_classes):
    """BaseNet2.2 (000, **reconstructed**; its diagram was lost).

    The report's words: deeper than 2.1 by one more conv with its normalisation and activation;
    128 to 512 filters per conv; to add depth, an UpSampling2D followed by a conv of stride 2 (the
    stride discards what the upsampling inserted); padding in every conv to keep a usable tensor
    size at the last layer; same dropout as 2.1. Built here, all convs 3x3 `same`, BN before relu:
    C(128) C(128) P, C(256) C(256) P, UpSampling2D(2), C(512, stride 2), P, F (4x4x512 = 8192),
    D(dropout), FC(classes). `dropout` is that Dropout's rate: dropout=0.4 is the report's net."""
    inputs = _inputs(input_shape)
    x = layers.MaxPooling2D(2)(_basenet22_trunk(inputs))
    x = layers.Flatten()(x)
    x = _dropout(config)(x)
    return keras.Model(inputs, _classifier(x, num_classes), name="basenet22")


def _bottleneck(x, width):
    """ResNet bottleneck: 1x1 (width), 3x3 (width), 1x1 back to x's channels, BN each, added to x."""
    channels = x.shape[-1]
    y = _conv(x, width, 1, "before")
    y = _conv(y, width, 3, "before", padding="same")
    y = layers.BatchNormalization()(layers.Conv2D(channels, 1, use_bias=False)(y))
    return layers.Activation("relu")(layers.Add()([x, y]))


def basenet23(config, input_shape, num_classes):
    """BaseNet2.3 (000, **reconstructed**; its diagram was lost).

    The report's words: BaseNet2.2 plus residual blocks of 1x1 and 3x3 convs (after ResNet), and
    the 2x2 max pooling after the last conv replaced by a 4x4 one, so each channel ends as one value.
    Built here: BaseNet2.2 up to its pooling after the stride-2 conv (4x4x512), then two ResNet
    bottleneck blocks (1x1 128, 3x3 128, 1x1 512, identity shortcut, relu after the sum), then
    MaxPooling 4x4 (1x1x512), F (512), D(dropout), FC(classes). `dropout=0.4` is the report's net.
    Needs a 32x32 input (28x28 leaves 3x3 before the 4x4 pooling)."""
    inputs = _inputs(input_shape)
    x = layers.MaxPooling2D(2)(_basenet22_trunk(inputs))
    for _ in range(2):
        x = _bottleneck(x, 128)
    x = layers.MaxPooling2D(4)(x)
    x = layers.Flatten()(x)
    x = _dropout(config)(x)
    return keras.Model(inputs, _classifier(x, num_classes), name="basenet23")


BUILDERS = {f.__name__: f for f in (basenet, basenet_bn_before, basenet_bn_after,
                                    basenet_batch_optimized, basenet21, basenet22, basenet23)}
