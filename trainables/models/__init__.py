"""Trial layer: model builders, pure functions (config, input_shape, num_classes) -> uncompiled
keras.Model, by catalogue name.

Families: `basenets.py` (BaseNet and its variants), `mired.py` (MiRed), `fashion.py` (report 004),
`transfer.py` (ImageNet backbones with the reports' heads). Notation in docstrings follows
../shared/PRACTICE_MODELS.md: C(n,k) Conv2D, P MaxPooling2D 2x2, BN BatchNormalization, D(p)
Dropout, F Flatten, FC(n) Dense. Builders read only the config keys they need, import no Ray and
load no data.

This module imports no Keras (the driver asks it for shapes and backbones before anything heavy);
the families are imported when a model is built. Every model has one input shape,
`input_shape(model, data_shape)`, which the pipeline converts any dataset to (resize, grey <-> RGB),
so a builder never adapts to the data.
"""

from __future__ import annotations

CIFAR, FASHION, IMAGENET = (32, 32, 3), (28, 28, 1), (224, 224, 3)
FAMILIES = ("basenets", "mired", "fashion", "transfer")

# Models whose report trained them at a fixed shape other than CIFAR's 32x32x3.
NATIVE_INPUT = {
    "fashion_cnn": FASHION, "fashion_mlp": FASHION,                # report 004
    "nasnet_mobile_head": IMAGENET, "nasnet_mobile_top50": IMAGENET,  # PathMNIST 28 -> 224 (000)
}
# Every model by catalogue name, known without importing Keras (the driver checks --set values
# against it); a test keeps it equal to the families' BUILDERS.
NAMES = (
    "basenet", "basenet_bn_before", "basenet_bn_after", "basenet_batch_optimized", "basenet21",
    "basenet22", "basenet23", "mired_v1", "mired_v2", "mired_v3", "mired_v4", "mired_v5",
    "mired_bn_v1", "mired_bn_v2", "mired_bn_v3", "fashion_cnn", "fashion_mlp",
    "resnet50_head", "resnet50_fc_head", "resnet50_conv_head", "resnet50_extractor_v1",
    "resnet50_extractor_v2", "resnet50_extractor_v3", "resnet50_extractor_fc500",
    "resnet50_finetune", "inception_resnet_v2_head", "nasnet_mobile_head", "nasnet_mobile_top50",
    "mobilenet_cifar10")
# The ImageNet backbone of a transfer model, by the prefix of its name.
BACKBONE_PREFIXES = ("resnet50", "inception_resnet_v2", "nasnet_mobile", "mobilenet")


def backbone_of(model: str) -> str | None:
    """The ImageNet backbone `model` is built on, or None for a model trained from scratch."""
    return next((b for b in BACKBONE_PREFIXES if model.startswith(b)), None)


def input_shape(model: str, data_shape: tuple) -> tuple:
    """The shape `model` takes when trained on data of `data_shape`: its report's fixed shape;
    for transfer models the data's own (CUB at its image size, CIFAR-10 at 32); for features (a
    1-D data shape: cached backbone features) the features themselves; else CIFAR's 32x32x3."""
    data_shape = tuple(data_shape)
    if len(data_shape) != 3:
        return data_shape
    if model in NATIVE_INPUT:
        return NATIVE_INPUT[model]
    return data_shape if backbone_of(model) else CIFAR


def builders() -> dict:
    """Every model by catalogue name (imports Keras)."""
    import importlib
    table = {}
    for family in FAMILIES:
        table |= importlib.import_module(f"{__name__}.{family}").BUILDERS
    return table


def build(config, input_shape, num_classes):
    """The model named by config["model"], as a keras.Model."""
    table = builders()
    name = config["model"]
    if name not in table:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(sorted(table))}")
    return table[name](config, input_shape, num_classes)
