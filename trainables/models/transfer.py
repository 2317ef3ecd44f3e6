"""Trial layer: transfer-learning models, ImageNet backbones with the reports' heads.

Every builder is pure, `(config, input_shape, num_classes) -> uncompiled keras.Model`, and builds

    image (float in [0, 1], as the pipeline feeds it)
      -> [Resizing, only when the input is smaller than the backbone accepts]
      -> Preprocess (x 255, then the backbone's own `preprocess_input`)
      -> backbone (a nested keras.Model named "backbone", called with training=False)
      -> head (named in HEADS) -> FC(classes) softmax

A 1-D input (cached backbone features, driver/features.py) skips everything up to the head.

Config keys the builders (and trainables/phases.py's `start_phase2`) read:

    weights     "imagenet" (Keras's download and cache), "none" (random init) or a weights file;
                run_search.py sets it for every transfer space (--weights); absent means "none",
                so a builder never reaches the network on its own
    dropout     rate of the head's first Dropout (the reports' rate is the space's starting point);
                a second Dropout, where the report had one, keeps the report's 0.5
    head        resnet50_finetune's head: gap, fc1024, fc500, fc512, fc512_256, conv (see HEADS)
    unfreeze    "all" or N: the top N layers of the backbone (as `backbone.layers[-N:]` counts them,
                BatchNormalization and activation layers included) become trainable
    phase1_epochs     epochs with the backbone frozen; at that epoch the trainable calls `start_phase2`.
                      Absent: the backbone stays as built (frozen, unless the model says otherwise)
    finetune_lr_ratio phase 2's learning rate as a fraction of `learning_rate` (default 0.1), so it
                      is lower whatever the optimizer; `finetune_learning_rate` (absolute) wins
    init        mobilenet_cifar10 only: random, imagenet, finetune (see that builder)

BatchNormalization layers of the backbone stay frozen (not trainable, and in inference mode since
the backbone is called with training=False) in every phase, as in keras-io's transfer guide.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass


@dataclass(frozen=True)
class Backbone:
    app: str            # the class in keras.applications
    module: str         # the keras.applications module holding its preprocess_input
    min_size: int       # smallest input Keras accepts without the top
    default_size: int   # its ImageNet size: smaller inputs are resized to it


BACKBONES = {
    "resnet50": Backbone("ResNet50", "resnet50", 32, 224),
    "inception_resnet_v2": Backbone("InceptionResNetV2", "inception_resnet_v2", 75, 299),
    "nasnet_mobile": Backbone("NASNetMobile", "nasnet", 32, 224),
    "mobilenet": Backbone("MobileNet", "mobilenet", 32, 224),
}


def _weights(config: dict):
    """keras.applications' `weights` argument from config["weights"] (absent: random init)."""
    weights = config.get("weights", "none")
    return None if weights in (None, "none") else weights


def backbone_size(backbone: str, input_shape) -> int:
    """The side the backbone runs at: the input's, or its ImageNet size when the input is
    smaller than it accepts (or not square)."""
    spec = BACKBONES[backbone]
    height, width = input_shape[0], input_shape[1]
    return height if height == width and height >= spec.min_size else spec.default_size


@functools.cache  # once per process: Keras registers the class by name, and is imported lazily
def _preprocess_layer():
    """The Preprocess layer class."""
    import keras

    @keras.saving.register_keras_serializable(package="cnn_search")
    class Preprocess(keras.layers.Layer):
        """x in [0, 1] -> the backbone's preprocess_input(255 x): the pipeline feeds [0, 1]."""

        def __init__(self, backbone: str, **kwargs):
            super().__init__(**kwargs)
            self.backbone = backbone
            module = getattr(keras.applications, BACKBONES[backbone].module)
            self._fn = module.preprocess_input

        def call(self, x):
            return self._fn(x * 255.0)

        def get_config(self):
            return {**super().get_config(), "backbone": self.backbone}

    return Preprocess


def make_backbone(backbone: str, weights, size: int):
    """keras.applications' `backbone` without its top at size x size, with `weights` (None,
    imagenet or a file)."""
    import keras
    cls = getattr(keras.applications, BACKBONES[backbone].app)
    return cls(include_top=False, weights=weights, input_shape=(size, size, 3), name="backbone")


def _trunk(config, input_shape, backbone: str, *, live: bool = False):
    """Input -> backbone output. Frozen and called with training=False unless `live` (random
    init trained from scratch: every layer trains, BatchNormalization included)."""
    import keras
    from keras import layers

    inputs = keras.Input(shape=tuple(input_shape), name="image")
    size = backbone_size(backbone, input_shape)
    x = inputs
    if tuple(input_shape[:2]) != (size, size):
        x = layers.Resizing(size, size, name="resize")(x)
    x = _preprocess_layer()(backbone, name="preprocess")(x)
    base = make_backbone(backbone, None if live else _weights(config), size)
    if live:
        return inputs, base(x)
    base.trainable = False
    return inputs, base(x, training=False)


def _gap(x):
    from keras import layers
    return layers.GlobalAveragePooling2D(name="gap")(x) if len(x.shape) == 4 else x


def _fc_head(units, second=None):
    """[GAP] -> FC(units) relu -> D(dropout) [-> FC(second) relu -> D(.5)]."""
    def head(x, config):
        from keras import layers
        x = layers.Dense(units, activation="relu", name="fc1")(_gap(x))
        x = layers.Dropout(float(config.get("dropout", 0.0)), name="dropout1")(x)
        if second:
            x = layers.Dense(second, activation="relu", name="fc2")(x)
            x = layers.Dropout(0.5, name="dropout2")(x)
        return x
    return head


def _gap_head(x, config):
    """GAP -> D(dropout) (the reports had no dropout: dropout 0 is their head)."""
    from keras import layers
    return layers.Dropout(float(config.get("dropout", 0.0)), name="dropout1")(_gap(x))


def _conv_head(x, config):
    """Report 000's conv head, **reconstructed** from its words ("a few conv + BN layers in the
    style of BaseNet2.1", on ResNet50 without pooling, 7x7x2048 at 224): C(512,3) BN relu,
    C(256,3) BN relu (same padding: BaseNet2.1's two 3x3 convs with BN), GAP, D(dropout)."""
    from keras import layers
    if len(x.shape) != 4:
        raise ValueError("the conv head needs the backbone's feature map, not pooled features")
    for i, filters in enumerate((512, 256), 1):
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"head_conv{i}")(x)
        x = layers.BatchNormalization(name=f"head_bn{i}")(x)
        x = layers.Activation("relu", name=f"head_relu{i}")(x)
    return layers.Dropout(float(config.get("dropout", 0.0)), name="dropout1")(_gap(x))


HEADS = {
    "gap": _gap_head,                    # GAP, FC(classes): 000's head, NASNet's, MobileNet's
    "fc1024": _fc_head(1024),            # 000's FC head, 001's InceptionResNetV2 head
    "fc500": _fc_head(500),              # 001's extractor and fine-tuning head
    "fc512": _fc_head(512),              # 002's extractor v1 (dropout 0) / v2 (.75), fine-tune V1
    "fc512_256": _fc_head(512, 256),     # 002's extractor v3 (.5, .5), fine-tune V2 (.75, .5)
    "conv": _conv_head,                  # 000's conv head (reconstructed)
}


def unfreeze_top(base, unfreeze) -> None:
    """Make the top `unfreeze` layers of `base` trainable ("all": every layer); BatchNormalization
    layers stay frozen."""
    from keras import layers
    if unfreeze != "all" and (isinstance(unfreeze, bool) or not isinstance(unfreeze, int)
                              or unfreeze < 0):
        raise ValueError(f"unfreeze must be 'all' or a number of layers, not {unfreeze!r}")
    base.trainable = True
    if unfreeze != "all":
        for layer in base.layers[:len(base.layers) - unfreeze]:
            layer.trainable = False
    for layer in base.layers:
        if isinstance(layer, layers.BatchNormalization):
            layer.trainable = False


def _model(config, input_shape, num_classes, backbone, head, name, *, live=False, unfreeze=None):
    import keras

    from trainables.models._layers import _classifier

    if len(input_shape) == 1:  # cached backbone features: the head alone
        inputs = keras.Input(shape=tuple(input_shape), name="features")
        x = inputs
    else:
        inputs, x = _trunk(config, input_shape, backbone, live=live)
    if head not in HEADS:
        raise ValueError(f"unknown head {head!r}; choose one of: {', '.join(HEADS)}")
    x = HEADS[head](x, config)
    outputs = _classifier(x, num_classes)
    model = keras.Model(inputs, outputs, name=name)
    if unfreeze is not None and len(input_shape) != 1:
        unfreeze_top(model.get_layer("backbone"), unfreeze)
    return model


def resnet50_head(config, input_shape, num_classes):
    """Frozen ResNet50, GAP, FC(classes) (000)."""
    return _model(config, input_shape, num_classes, "resnet50", "gap", "resnet50_head")


def resnet50_fc_head(config, input_shape, num_classes):
    """Frozen ResNet50, GAP, FC(1024) relu, D(dropout), FC(classes) (000; its rate is not given)."""
    return _model(config, input_shape, num_classes, "resnet50", "fc1024", "resnet50_fc_head")


def resnet50_conv_head(config, input_shape, num_classes):
    """Frozen ResNet50 without pooling, the conv head (000, **reconstructed**: see HEADS["conv"])."""
    return _model(config, input_shape, num_classes, "resnet50", "conv", "resnet50_conv_head")


def resnet50_extractor_v1(config, input_shape, num_classes):
    """002 V1: features (2048), FC(512) relu, FC(classes); `dropout` adds D after FC(512) (0 = V1).
    On features (1-D input) the head alone; on images the frozen backbone + GAP + the head."""
    return _model(config, input_shape, num_classes, "resnet50", "fc512", "resnet50_extractor_v1")


def resnet50_extractor_v2(config, input_shape, num_classes):
    """002 V2: features, FC(512) relu, D(dropout; the report's .75), FC(classes)."""
    return _model(config, input_shape, num_classes, "resnet50", "fc512", "resnet50_extractor_v2")


def resnet50_extractor_v3(config, input_shape, num_classes):
    """002 V3: features, FC(512) relu, D(dropout; .5), FC(256) relu, D(.5), FC(classes)."""
    return _model(config, input_shape, num_classes, "resnet50", "fc512_256",
                  "resnet50_extractor_v3")


def resnet50_extractor_fc500(config, input_shape, num_classes):
    """001: features, FC(500) relu, FC(classes); `dropout` adds D after FC(500) (0 = 001's)."""
    return _model(config, input_shape, num_classes, "resnet50", "fc500",
                  "resnet50_extractor_fc500")


def resnet50_finetune(config, input_shape, num_classes):
    """ResNet50 with config["head"] (gap 000, conv 000, fc500 001, fc512 002-V1, fc512_256 002-V2),
    built frozen; two phases through `phase1_epochs`, `unfreeze`, `finetune_lr_ratio`."""
    return _model(config, input_shape, num_classes, "resnet50", config.get("head", "gap"),
                  "resnet50_finetune")


def inception_resnet_v2_head(config, input_shape, num_classes):
    """InceptionResNetV2, GAP, FC(1024) relu, D(dropout), FC(classes) (001). Built frozen; 001
    trained the whole network (phase1_epochs 0, unfreeze all, ratio 1 reproduces that)."""
    return _model(config, input_shape, num_classes, "inception_resnet_v2", "fc1024",
                  "inception_resnet_v2_head")


def nasnet_mobile_head(config, input_shape, num_classes):
    """Frozen NASNetMobile, GAP, D(dropout), FC(classes) (000, PathMNIST at 224)."""
    return _model(config, input_shape, num_classes, "nasnet_mobile", "gap", "nasnet_mobile_head")


def nasnet_mobile_top50(config, input_shape, num_classes):
    """NASNetMobile with its top config["unfreeze"] layers (default 50, as 000) trainable from the
    start (BatchNormalization frozen), GAP, D(dropout), FC(classes); one phase at learning_rate
    (000: Adam 8e-5)."""
    return _model(config, input_shape, num_classes, "nasnet_mobile", "gap", "nasnet_mobile_top50",
                  unfreeze=config.get("unfreeze", 50))


MOBILENET_INITS = ("random", "imagenet", "finetune")


def mobilenet_cifar10(config, input_shape, num_classes):
    """MobileNet, GAP, D(dropout), FC(classes) (003), by config["init"]:

    random    random weights, every layer trains from the start, BatchNormalization included
              (it has no statistics to keep): 003's (a)
    imagenet  ImageNet weights (config["weights"]), every layer but BatchNormalization trains
              from the start: 003's (b)
    finetune  ImageNet weights, frozen; phase 2 (phase1_epochs, unfreeze, finetune_lr_ratio)
              unfreezes: 003's (c), 20 epochs then the whole net at 1e-5
    """
    init = config.get("init", "finetune")
    if init not in MOBILENET_INITS:
        raise ValueError(f"init must be one of {', '.join(MOBILENET_INITS)}, not {init!r}")
    return _model(config, input_shape, num_classes, "mobilenet", "gap", "mobilenet_cifar10",
                  live=init == "random", unfreeze="all" if init == "imagenet" else None)


BUILDERS = {f.__name__: f for f in (
    resnet50_head, resnet50_fc_head, resnet50_conv_head, resnet50_extractor_v1,
    resnet50_extractor_v2, resnet50_extractor_v3, resnet50_extractor_fc500, resnet50_finetune,
    inception_resnet_v2_head, nasnet_mobile_head, nasnet_mobile_top50, mobilenet_cifar10)}


def feature_model(backbone: str, input_shape, weights):
    """Image -> pooled backbone features (2048-d for ResNet50), the frozen trunk of the builders."""
    import keras
    inputs, x = _trunk({"weights": weights or "none"}, input_shape, backbone)
    return keras.Model(inputs, _gap(x), name=f"{backbone}_features")
