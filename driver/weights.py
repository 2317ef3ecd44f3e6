"""Driver layer: the ImageNet weights a transfer space's backbone loads, in Keras's cache before
any trial starts (downloaded once here, under Keras's own file name, so Keras finds them)."""

from __future__ import annotations

from pathlib import Path

from trainables.data import DataError, download, keras_home
from trainables.models import backbone_of, input_shape
from trainables.models.transfer import backbone_size

_KA = "https://storage.googleapis.com/tensorflow/keras-applications/"
# backbone -> (Keras's file name of its no-top ImageNet weights, where Keras downloads it from)
WEIGHTS = {
    "resnet50": ("resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5", _KA + "resnet/"),
    "inception_resnet_v2": ("inception_resnet_v2_weights_tf_dim_ordering_tf_kernels_notop.h5",
                            _KA + "inception_resnet_v2/"),
    "nasnet_mobile": ("nasnet_mobile_no_top.h5", _KA + "nasnet/NASNet-mobile-no-top.h5"),
    "mobilenet": ("mobilenet_1_0_{rows}_tf_no_top.h5", _KA + "mobilenet/"),
}


def weights_file(backbone: str, size: int) -> tuple[str, str]:
    """(file name in ~/.keras/models, URL) of the backbone's no-top ImageNet weights at `size`."""
    name, url = WEIGHTS[backbone]
    if "{rows}" in name:  # MobileNet: one file per input size; other sizes load the 224 one
        name = name.format(rows=size if size in (128, 160, 192, 224) else 224)
    return name, url if not url.endswith("/") else url + name


def check_weights(model: str, weights: str | None, data_shape: tuple) -> None:
    """Make sure the ImageNet weights `model` will load are in Keras's cache: download them once,
    or raise DataError with one line saying where to put the file. Nothing to do for random init
    or a weights file."""
    if weights != "imagenet":
        return
    backbone = backbone_of(model)
    name, url = weights_file(backbone, backbone_size(backbone, input_shape(model, data_shape)))
    target = keras_home() / "models" / name
    if target.is_file() and target.stat().st_size > 0:
        return
    download(url, target, f"ImageNet weights of {backbone}",
             f"{name} (from {url}) at {target}, or run with --weights none")
