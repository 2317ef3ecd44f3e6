"""Trial layer: the datasets that arrive as arrays, loaded once on the driver and handed to trials.

    digits         scikit-learn's bundled 8x8 digits, upscaled to 32x32x3 (always offline)
    cifar100_25    CIFAR-100, fine classes 0-24, from Keras's cache layout (downloaded once)
    cifar10        CIFAR-10, the same way
    fashion_mnist  Fashion-MNIST 28x28x1, Keras's idx files (downloaded once)

CIFAR is read straight from Keras's cache folders, so an archive placed there by hand works
offline; a missing or corrupt file is a DataError with one line.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from trainables.data import Data, DataError, holdout, keras_home, reason, with_val
from trainables.download import extract, fetch


def load_digits() -> Data:
    """scikit-learn's bundled 8x8 digits, upscaled (bilinear) to 32x32x3, split 60/20/20
    (stratified)."""
    from scipy.ndimage import zoom
    from sklearn.datasets import load_digits as bundled

    digits = bundled()
    x = digits.images.astype(np.float32) * (255.0 / 16.0)                # 0..16 -> 0..255
    x = zoom(x, (1, 4, 4), order=1, grid_mode=True, mode="nearest")      # 8x8 -> 32x32
    x = np.repeat(np.clip(np.rint(x), 0, 255).astype(np.uint8)[..., None], 3, axis=-1)
    y = digits.target.astype(np.int32)
    x_rest, y_rest, x_test, y_test = holdout(x, y, 0.2)
    x_tr, y_tr, x_val, y_val = holdout(x_rest, y_rest, 0.25)
    return Data("digits", x_tr, y_tr, x_val, y_val, x_test, y_test, 10)


# --- CIFAR: Keras's own cache layout, read directly so a file placed by hand works offline -------

_CIFAR = {
    # name: (Keras cache folder, folder inside the archive, origin, train file(s), test file, label key)
    "cifar100": ("cifar-100-python-target", "cifar-100-python",
                 "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
                 ["train"], "test", b"fine_labels"),
    "cifar10": ("cifar-10-batches-py-target", "cifar-10-batches-py",
                "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
                [f"data_batch_{i}" for i in range(1, 6)], "test_batch", b"labels"),
}


def keras_cache() -> Path:
    return keras_home() / "datasets"


def _read_cifar_batch(path: Path, label_key: bytes):
    try:
        with open(path, "rb") as f:
            d = pickle.load(f, encoding="bytes")
        x = np.asarray(d[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
        y = np.asarray(d[label_key], dtype=np.int32)
    except Exception as e:  # truncated pickle, wrong keys, wrong sizes
        raise DataError(f"{path} is corrupt or not a CIFAR batch ({reason(e)}); "
                        f"delete it and its archive so it is fetched again") from None
    if len(x) != len(y):
        raise DataError(f"{path} is corrupt: {len(x)} images but {len(y)} labels; delete it")
    return x, y


def _cifar_folder(kind: str) -> Path:
    """The extracted CIFAR folder in the Keras cache, extracting (or downloading) the archive."""
    cache_dir, inner, origin, *_ = _CIFAR[kind]
    folder = keras_cache() / cache_dir / inner
    if folder.is_dir():
        return folder
    # the URL's own file name (what a user downloading it by hand gets), or Keras's
    archives = [keras_cache() / Path(origin).name, keras_cache() / f"{cache_dir}_archive"]
    archive = next((a for a in archives if a.is_file()), None) or \
        fetch(origin, archives[0], what=f"{kind} (or use --dataset digits)")
    return extract(archive, keras_cache() / cache_dir, inner=inner)


def _load_cifar(kind: str):
    _, _, _, train_files, test_file, label_key = _CIFAR[kind]
    folder = _cifar_folder(kind)
    for f in [*train_files, test_file]:
        if not (folder / f).is_file():
            raise DataError(f"{folder / f} is missing: the CIFAR folder is incomplete; delete "
                            f"{folder.parent} so it is extracted again")
    parts = [_read_cifar_batch(folder / f, label_key) for f in train_files]
    x_train, y_train = np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    x_test, y_test = _read_cifar_batch(folder / test_file, label_key)
    return x_train, y_train, x_test, y_test


def load_cifar100_25() -> Data:
    """CIFAR-100 fine labels, classes 0-24 only (12,500 train / 2,500 test), 10% of train as val."""
    x_train, y_train, x_test, y_test = _load_cifar("cifar100")
    keep_tr, keep_te = y_train < 25, y_test < 25
    return with_val("cifar100_25", x_train[keep_tr], y_train[keep_tr],
                     x_test[keep_te], y_test[keep_te], 25)


def load_cifar10() -> Data:
    """CIFAR-10 (50,000 train / 10,000 test), 10% of train as val."""
    return with_val("cifar10", *_load_cifar("cifar10"), 10)


_FASHION = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"


def _read_idx(path: Path, offset: int) -> np.ndarray:
    import gzip
    try:
        with gzip.open(path, "rb") as f:
            return np.frombuffer(f.read(), np.uint8, offset=offset)
    except (OSError, EOFError, ValueError) as e:
        raise DataError(f"{path} is corrupt or truncated ({reason(e)}); delete it so it is "
                        f"fetched again") from None


def load_fashion_mnist() -> Data:
    """Fashion-MNIST 28x28x1 from the Keras cache (datasets/fashion-mnist/), 10% of train as val."""
    folder = keras_cache() / "fashion-mnist"
    arrays = {}
    for part in ("train", "t10k"):
        paths = {kind: folder / f"{part}-{kind}-idx{n}-ubyte.gz"
                 for kind, n in (("labels", 1), ("images", 3))}
        for path in paths.values():
            if not path.is_file():
                fetch(_FASHION + path.name, path, what="fashion_mnist (or use --dataset digits)")
        y = _read_idx(paths["labels"], 8)
        x = _read_idx(paths["images"], 16)
        if x.size != len(y) * 28 * 28:
            raise DataError(f"{paths['images']} holds {x.size} bytes of pixels for {len(y)} "
                            f"labels; the files do not match: delete and fetch them again")
        arrays[part] = (x.reshape(len(y), 28, 28, 1), y)
    return with_val("fashion_mnist", *arrays["train"], *arrays["t10k"], 10)
