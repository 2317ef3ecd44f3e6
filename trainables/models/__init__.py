"""Model builders: pure functions (config, input_shape, num_classes) -> uncompiled keras.Model.

Scratch models live by family: `basenets.py` (BaseNet and its variants), `mired.py` (MiRed),
`fashion.py` (report 004); transfer models in `trainables.transfer`. Notation in docstrings follows
../shared/PRACTICE_MODELS.md: C(n,k) Conv2D, P MaxPooling2D 2x2, BN BatchNormalization, D(p)
Dropout, F Flatten, FC(n) Dense. Builders read only the config keys they need (`dropout`, and the
model's own), import no Ray and load no data.

Every model has a native input (`input_shape(name)`); the pipeline converts any dataset to it
(resize, grey <-> RGB), so a builder never adapts to the data.
"""

from __future__ import annotations

import keras

from trainables.models import basenets, fashion, mired
from trainables.models._layers import _classifier, _conv, _dense, _dropout, _inputs  # noqa: F401

BUILDERS = {**basenets.BUILDERS, **mired.BUILDERS, **fashion.BUILDERS}

CIFAR_SHAPE, FASHION_SHAPE = (32, 32, 3), (28, 28, 1)
# Native input of each scratch model: the shape its report trained it on.
INPUT_SHAPES = {name: FASHION_SHAPE if name in fashion.BUILDERS else CIFAR_SHAPE
                for name in BUILDERS}


def all_builders() -> dict:
    """Every model by catalogue name: trained from scratch (here) and transfer (trainables.transfer)."""
    from trainables import transfer
    return {**BUILDERS, **transfer.BUILDERS}


def input_shape(name: str, default: tuple | None = None) -> tuple:
    """The model's native input shape (height, width, channels).

    Scratch models: their report's (28x28x1 for fashion_cnn / fashion_mlp, 32x32x3 otherwise).
    Transfer models: `trainables.transfer.INPUT_SHAPES[name]` where that module declares one.
    A model without a native shape takes its data's: give that as `default`; without one it is an
    error."""
    if name in INPUT_SHAPES:
        return INPUT_SHAPES[name]
    from trainables import transfer
    shape = getattr(transfer, "INPUT_SHAPES", {}).get(name, default)
    if shape is None:
        if name not in all_builders():
            raise ValueError(f"unknown model {name!r}; known: {', '.join(sorted(all_builders()))}")
        raise ValueError(f"model {name!r} has no native input shape; pass the data's as default")
    return tuple(shape)


def build(config, input_shape, num_classes) -> keras.Model:
    """The model named by config["model"]."""
    builders = all_builders()
    name = config["model"]
    if name not in builders:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(sorted(builders))}")
    return builders[name](config, input_shape, num_classes)
