"""Trial layer: MiRed V1-V5 and MiRed+BatchNormalization V1-V3 (report 002, all exact); native input
32x32x3.

Every conv is valid-padded with stride 1 and a relu; P is MaxPooling2D 2x2. The report's Dropout
rates are reproduced by one `dropout` hyperparameter, per model as its docstring says.
"""

from __future__ import annotations

import keras
from keras import layers

from trainables.models._layers import _classifier, _conv, _dense, _dropout, _inputs


def _mired_plain(config, input_shape, num_classes, filters, kernel, units, name):
    """C(f0,k) C(f1,k) P C(f2,k) C(f3,k) P F FC(units) relu [D(dropout)] FC(classes)."""
    inputs = _inputs(input_shape)
    x = inputs
    for i, f in enumerate(filters):
        x = _conv(x, f, kernel)
        if i % 2:
            x = layers.MaxPooling2D(2)(x)
    x = layers.Flatten()(x)
    x = _dense(x, units)
    x = _dropout(config)(x)
    return keras.Model(inputs, _classifier(x, num_classes), name=name)


def mired_v1(config, input_shape, num_classes):
    """MiRed V1 (002, exact): C(16,5) C(26,5) P C(36,5) C(46,5) P F (2x2x46) FC(50) FC(classes).

    `dropout` adds one Dropout after FC(50); the report had none (dropout=0 is the report's net)."""
    return _mired_plain(config, input_shape, num_classes, (16, 26, 36, 46), 5, 50, "mired_v1")


def mired_v2(config, input_shape, num_classes):
    """MiRed V2 (002, exact): C(32,5) C(64,5) P C(128,5) C(256,5) P F (2x2x256) FC(512) FC(classes).

    `dropout` adds one Dropout after FC(512); the report had none (dropout=0 is the report's net)."""
    return _mired_plain(config, input_shape, num_classes, (32, 64, 128, 256), 5, 512, "mired_v2")


def mired_v3(config, input_shape, num_classes):
    """MiRed V3 (002, exact): V2 with 3x3 kernels, F (5x5x256 = 6400), FC(512), FC(classes).

    `dropout` adds one Dropout after FC(512); the report had none (dropout=0 is the report's net)."""
    return _mired_plain(config, input_shape, num_classes, (32, 64, 128, 256), 3, 512, "mired_v3")


def mired_v4(config, input_shape, num_classes):
    """MiRed V4 (002, exact): C(32,3) D(.5) C(64,3) P C(64,3) D(.5) C(128,3) P F (5x5x128 = 3200)
    FC(512) FC(classes).

    `dropout` is the rate of both conv Dropouts: dropout=0.5 is the report's net."""
    inputs = _inputs(input_shape)
    x = _dropout(config)(_conv(inputs, 32, 3))
    x = layers.MaxPooling2D(2)(_conv(x, 64, 3))
    x = _dropout(config)(_conv(x, 64, 3))
    x = layers.MaxPooling2D(2)(_conv(x, 128, 3))
    x = _dense(layers.Flatten()(x), 512)
    return keras.Model(inputs, _classifier(x, num_classes), name="mired_v4")


def _mired_v5(config, input_shape, num_classes, conv_bn=None, dense_bn=None, name="mired_v5"):
    """C(32,3) D(dropout/2) C(64,3) P C(64,3) D(dropout/2) C(128,3) P F (3200) FC(512) D(dropout)
    FC(256) D(dropout) FC(classes), with BN placed per `conv_bn` / `dense_bn` (see `_conv`)."""
    inputs = _inputs(input_shape)
    x = _dropout(config, 0.5)(_conv(inputs, 32, 3, conv_bn))
    x = layers.MaxPooling2D(2)(_conv(x, 64, 3, conv_bn))
    x = _dropout(config, 0.5)(_conv(x, 64, 3, conv_bn))
    x = layers.MaxPooling2D(2)(_conv(x, 128, 3, conv_bn))
    x = layers.Flatten()(x)
    x = _dropout(config)(_dense(x, 512, dense_bn))
    x = _dropout(config)(_dense(x, 256, dense_bn))
    return keras.Model(inputs, _classifier(x, num_classes), name=name)


def mired_v5(config, input_shape, num_classes):
    """MiRed V5 (002, exact, table 6): C(32,3) D(.25) C(64,3) P C(64,3) D(.25) C(128,3) P F (3200)
    FC(512) D(.5) FC(256) D(.5) FC(classes).

    `dropout` is the dense Dropouts' rate and twice the conv Dropouts': dropout=0.5 is the report's
    net (conv 0.25, dense 0.5)."""
    return _mired_v5(config, input_shape, num_classes)


def mired_bn_v1(config, input_shape, num_classes):
    """MiRed+BatchNormalization V1 (002, exact, from its code): mired_v5 with BN after every conv's
    relu (conv, relu, BN, then the Dropout or pooling); the dense layers have none.

    `dropout` as in mired_v5: dropout=0.5 is the report's net."""
    return _mired_v5(config, input_shape, num_classes, conv_bn="after", name="mired_bn_v1")


def mired_bn_v2(config, input_shape, num_classes):
    """MiRed+BatchNormalization V2 (002, exact by description): mired_v5 with BN after every relu,
    the dense layers' included. `dropout` as in mired_v5: dropout=0.5 is the report's net."""
    return _mired_v5(config, input_shape, num_classes, "after", "after", name="mired_bn_v2")


def mired_bn_v3(config, input_shape, num_classes):
    """MiRed+BatchNormalization V3 (002, exact, table 8): mired_v5 with BN before every relu, the
    dense layers' included (layer, BN, relu, then Dropout or pooling).

    The convs and the two hidden Dense layers keep their bias, as the report's Keras code did
    (1,056 parameters that BN makes redundant, see `_conv`). `dropout` as in mired_v5:
    dropout=0.5 is the report's net."""
    return _mired_v5(config, input_shape, num_classes, "before", "before", name="mired_bn_v3")


BUILDERS = {f.__name__: f for f in (mired_v1, mired_v2, mired_v3, mired_v4, mired_v5,
                                    mired_bn_v1, mired_bn_v2, mired_bn_v3)}
