"""Driver layer: the weights a transfer space's backbone loads, checked before any trial starts:
ImageNet's in Keras's cache (downloaded once here, under Keras's own file name, so Keras finds
them), or a file the user gives, loaded into the backbone once."""

from __future__ import annotations

from trainables.data import DataError, keras_home
from trainables.download import fetch
from trainables.models import backbone_of, input_shape
from trainables.models.transfer import backbone_size

from driver import child

_KA = "https://storage.googleapis.com/tensorflow/keras-applications/"
# backbone -> (Keras's file name of its no-top ImageNet weights, where Keras downloads it from,
# the md5 Keras checks it against: keras/src/applications/{resnet,inception_resnet_v2,nasnet}.py;
# Keras publishes none for MobileNet)
WEIGHTS = {
    "resnet50": ("resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5", _KA + "resnet/",
                 "4d473c1dd8becc155b73f8504c6f6626"),
    "inception_resnet_v2": ("inception_resnet_v2_weights_tf_dim_ordering_tf_kernels_notop.h5",
                            _KA + "inception_resnet_v2/", "d19885ff4a710c122648d3b5c3b684e4"),
    "nasnet_mobile": ("nasnet_mobile_no_top.h5", _KA + "nasnet/NASNet-mobile-no-top.h5",
                      "1ed92395b5b598bdda52abe5c0dbfd63"),
    "mobilenet": ("mobilenet_1_0_{rows}_tf_no_top.h5", _KA + "mobilenet/", None),
}


def weights_file(backbone: str, size: int) -> tuple[str, str, str | None]:
    """(file name in ~/.keras/models, URL, md5) of the backbone's no-top ImageNet weights."""
    name, url, md5 = WEIGHTS[backbone]
    if "{rows}" in name:  # MobileNet: one file per input size; other sizes load the 224 one
        name = name.format(rows=size if size in (128, 160, 192, 224) else 224)
    return name, url if not url.endswith("/") else url + name, md5


def check_weights(model: str, weights: str | None, data_shape: tuple) -> None:
    """Make sure the weights `model`'s backbone will load are there and fit, or a DataError with
    one line saying what to do: ImageNet's in Keras's cache, whole (downloaded once, resumable,
    verified against Keras's md5 where it publishes one, readable as HDF5); a file the user
    gives (--weights FILE) readable as HDF5 and loaded into the backbone once, in a child
    process (TensorFlow on the driver would hold GPU memory for the whole search)."""
    if weights in (None, "none"):
        return
    backbone = backbone_of(model)
    size = backbone_size(backbone, input_shape(model, data_shape))
    if weights != "imagenet":
        check_hdf5(weights, f"--weights {weights} is not a Keras weights file")
        with child.pool() as pool:
            problem = pool.submit(_does_not_load, backbone, weights, size).result()
        if problem:
            raise DataError(f"--weights {weights} does not fit the {backbone} backbone "
                            f"({problem[:200]}); give the weights of {backbone} without its top "
                            f"(include_top=False), imagenet or none")
        return
    name, url, md5 = weights_file(backbone, size)
    target = keras_home() / "models" / name
    fetch(url, target, md5=md5, what=f"ImageNet weights of {backbone} (or run with --weights none)")
    check_hdf5(target, f"{target} is damaged",
               "delete it so it is downloaded again, or run with --weights none")


def check_hdf5(path, what: str, advice: str = "give imagenet, none or a weights file") -> None:
    """A weights file that h5py cannot open or that holds nothing (truncated, an HTML error
    page, zeros, another kind of file) is a DataError, not a traceback inside a trial."""
    import h5py
    try:
        with h5py.File(path, "r") as f:
            if not list(f.keys()):
                raise OSError("no layers in it")
    except OSError as e:
        raise DataError(f"{what} ({' '.join(str(e).split())}); {advice}") from None


def _does_not_load(backbone: str, path: str, size: int) -> str | None:
    """In the child: why the backbone does not load the weights file, or None when it does."""
    from trainables.models.transfer import make_backbone
    try:
        make_backbone(backbone, path, size)
    except Exception as e:  # Keras says ValueError for a mismatch; h5py and others their own
        return " ".join(f"{type(e).__name__}: {e}".split())
    return None
