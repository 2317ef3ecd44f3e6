"""Trial layer: report 004's Fashion-MNIST CNN and one-hidden-layer MLP; native input 28x28x1."""

from __future__ import annotations

import keras
from keras import layers

from trainables.models._layers import _classifier, _conv, _dense, _dropout, _inputs

MLP_UNITS = (512, 2048)  # the report's two hidden sizes


def fashion_cnn(config, input_shape, num_classes):
    """Fashion-MNIST CNN (004; pooling placement **reconstructed**).

    The report's words: 784 inputs, two convs (32 then 64 filters, 3x3), two hidden layers of 600
    and 120 units, 10 outputs, relu, dropout 0.25, max pooling as the subsampling. Its diagram was
    lost, so where the pooling and the dropout sit is a choice: one MaxPooling2D 2x2 after the
    second conv, then the Dropout, as in Keras's classic MNIST CNN that this net follows:
    C(32,3) relu, C(64,3) relu, P, D(dropout), F (12x12x64 = 9216), FC(600) relu, FC(120) relu,
    FC(classes). `dropout` is that Dropout's rate: dropout=0.25 is the report's net."""
    inputs = _inputs(input_shape)
    x = _conv(_conv(inputs, 32, 3), 64, 3)
    x = _dropout(config)(layers.MaxPooling2D(2)(x))
    x = layers.Flatten()(x)
    x = _dense(_dense(x, 600), 120)
    return keras.Model(inputs, _classifier(x, num_classes), name="fashion_cnn")


def fashion_mlp(config, input_shape, num_classes):
    """Fashion-MNIST MLP (004, exact): F (784), FC(n) relu, FC(classes), n = config["n"] (the
    report tried 512 and 2048; 512 is the default).

    `dropout` adds one Dropout after FC(n); the report used none (dropout=0 is the report's net)."""
    n = int(config.get("n", MLP_UNITS[0]))
    if n < 1:
        raise ValueError(f"fashion_mlp needs n >= 1 hidden units, not {n}")
    inputs = _inputs(input_shape)
    x = _dropout(config)(_dense(layers.Flatten()(inputs), n))
    return keras.Model(inputs, _classifier(x, num_classes), name="fashion_mlp")


BUILDERS = {f.__name__: f for f in (fashion_cnn, fashion_mlp)}
