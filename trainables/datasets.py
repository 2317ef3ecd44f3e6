"""Datasets as uint8 arrays with a fixed train/val/test split, loaded once on the driver.

Images stay uint8 (a quarter of float32's size in the Ray object store); the pipeline casts and
scales them per batch. Labels are int32 class indices. Every loader raises `DataError` with one
line saying what is missing and where to put it; the command line turns that into exit code 2.
"""

from __future__ import annotations

import os
import pickle
import shutil
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SEED = 1234  # the split is part of the dataset, not of the search: it never changes


class DataError(Exception):
    """The data is missing, corrupt or unusable; the message says how to fix it."""


@dataclass(frozen=True)
class Data:
    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    def summary(self) -> str:
        return (f"{self.name}: {len(self.x_train)} train / {len(self.x_val)} val / "
                f"{len(self.x_test)} test, shape {self.input_shape}, {self.num_classes} classes")


def _split(x, y, fraction: float, seed: int = SEED):
    """Stratified split: (x_a, y_a, x_b, y_b) with `fraction` of the samples in b."""
    from sklearn.model_selection import train_test_split
    x_a, x_b, y_a, y_b = train_test_split(x, y, test_size=fraction, stratify=y, random_state=seed)
    return x_a, y_a, x_b, y_b


def _with_val(name, x_train, y_train, x_test, y_test, num_classes, val_fraction=0.1) -> Data:
    x_tr, y_tr, x_val, y_val = _split(x_train, y_train.astype(np.int32), val_fraction)
    return Data(name, x_tr, y_tr, x_val, y_val, x_test, y_test.astype(np.int32), num_classes)


def load_digits() -> Data:
    """scikit-learn's bundled 8x8 digits, upscaled (bilinear) to 32x32x3: 60/20/20 stratified split."""
    from scipy.ndimage import zoom
    from sklearn.datasets import load_digits as sk_digits

    bunch = sk_digits()
    x = bunch.images.astype(np.float32) * (255.0 / 16.0)                  # 0..16 -> 0..255
    x = zoom(x, (1, 4, 4), order=1, grid_mode=True, mode="nearest")        # 8x8 -> 32x32
    x = np.repeat(np.clip(np.rint(x), 0, 255).astype(np.uint8)[..., None], 3, axis=-1)
    y = bunch.target.astype(np.int32)
    x_rest, y_rest, x_test, y_test = _split(x, y, 0.2)
    x_tr, y_tr, x_val, y_val = _split(x_rest, y_rest, 0.25)
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


def _reason(error: Exception) -> str:
    """An exception as one line (tarfile's messages span several), for a one-line DataError."""
    return f"{type(error).__name__}: {' '.join(str(error).split())}"


def keras_cache() -> Path:
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")).expanduser() / "datasets"


def _read_cifar_batch(path: Path, label_key: bytes):
    try:
        with open(path, "rb") as f:
            d = pickle.load(f, encoding="bytes")
        x = np.asarray(d[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
        y = np.asarray(d[label_key], dtype=np.int32)
    except Exception as e:  # truncated pickle, wrong keys, wrong sizes
        raise DataError(f"{path} is corrupt or not a CIFAR batch ({_reason(e)}); "
                        f"delete it and its archive so it is fetched again") from None
    if len(x) != len(y):
        raise DataError(f"{path} is corrupt: {len(x)} images but {len(y)} labels; delete it")
    return x, y


def _download(origin: str, target: Path, what: str, where: str) -> None:
    """Fetch `origin` into the Keras cache as Keras would (no Keras import: errors come first)."""
    import urllib.request
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    try:
        print(f"Downloading {origin}", flush=True)
        urllib.request.urlretrieve(origin, partial)
        partial.replace(target)
    except (OSError, ValueError) as e:
        partial.unlink(missing_ok=True)
        raise DataError(f"{what} is not in the Keras cache and could not be downloaded "
                        f"({_reason(e)}); put {where}, or use --dataset digits") from None


def _cifar_folder(kind: str) -> Path:
    """The extracted CIFAR folder in the Keras cache, extracting (or downloading) the archive."""
    cache_dir, inner, origin, *_ = _CIFAR[kind]
    folder = keras_cache() / cache_dir / inner
    if folder.is_dir():
        return folder
    archives = [keras_cache() / f"{cache_dir}_archive", keras_cache() / Path(origin).name]
    archive = next((a for a in archives if a.is_file()), None)
    if archive is None:
        archive = archives[0]
        _download(origin, archive, kind, f"{Path(origin).name} from {origin} in "
                                         f"{keras_cache()}/ (or set KERAS_HOME)")
    # Extract beside the cache and move into place only when complete: a truncated archive must
    # not leave a half-extracted folder that the next run would take for the real one.
    partial = keras_cache() / f".{cache_dir}.partial-{os.getpid()}"
    try:
        with tarfile.open(archive) as tar:
            tar.extractall(partial, filter="data")
        if not (partial / inner).is_dir():
            raise DataError(f"{archive} does not hold a {inner}/ folder; is it the right archive?")
        folder.parent.mkdir(parents=True, exist_ok=True)
        (partial / inner).replace(folder)
    except (tarfile.TarError, EOFError, OSError, zlib.error) as e:
        raise DataError(f"{archive} is corrupt or truncated ({_reason(e)}); delete it "
                        f"and download {origin} again") from None
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return folder


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
    return _with_val("cifar100_25", x_train[keep_tr], y_train[keep_tr],
                     x_test[keep_te], y_test[keep_te], 25)


def load_cifar10() -> Data:
    """CIFAR-10 (50,000 train / 10,000 test), 10% of train as val."""
    return _with_val("cifar10", *_load_cifar("cifar10"), 10)


_FASHION = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"


def _read_idx(path: Path, offset: int) -> np.ndarray:
    import gzip
    try:
        with gzip.open(path, "rb") as f:
            return np.frombuffer(f.read(), np.uint8, offset=offset)
    except (OSError, EOFError, ValueError) as e:
        raise DataError(f"{path} is corrupt or truncated ({_reason(e)}); delete it so it is "
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
                _download(_FASHION + path.name, path, "fashion_mnist",
                          f"the four Fashion-MNIST .gz files from {_FASHION} in {folder}/")
        y = _read_idx(paths["labels"], 8)
        x = _read_idx(paths["images"], 16)
        if x.size != len(y) * 28 * 28:
            raise DataError(f"{paths['images']} holds {x.size} bytes of pixels for {len(y)} "
                            f"labels; the files do not match: delete and fetch them again")
        arrays[part] = (x.reshape(len(y), 28, 28, 1), y)
    return _with_val("fashion_mnist", *arrays["train"], *arrays["t10k"], 10)


# (input shape, classes) of each dataset as the models see it, known without loading anything.
SHAPES = {
    "digits": ((32, 32, 3), 10),
    "cifar100_25": ((32, 32, 3), 25),
    "cifar10": ((32, 32, 3), 10),
    "fashion_mnist": ((28, 28, 1), 10),
    "cub200": ((224, 224, 3), 200),   # decoded at $CNN_SEARCH_IMAGE_SIZE when set (images.py)
    "pathmnist": ((28, 28, 3), 9),
}

LOADERS = {
    "digits": load_digits,
    "cifar100_25": load_cifar100_25,
    "cifar10": load_cifar10,
    "fashion_mnist": load_fashion_mnist,
}


def _load_cub200(folder: Path) -> Data:
    from trainables.images import load_cub200  # images.py imports this module
    return load_cub200(folder)


def _load_pathmnist(folder: Path) -> Data:
    from trainables.images import load_pathmnist
    return load_pathmnist(folder)


# Datasets in a folder the user gives (--data-dir or $CNN_SEARCH_DATA): name -> loader(folder).
FOLDER_LOADERS: dict = {"cub200": _load_cub200, "pathmnist": _load_pathmnist}
DATA_DIR_ENV = "CNN_SEARCH_DATA"


def names() -> list[str]:
    return sorted({*LOADERS, *FOLDER_LOADERS})


def load(name: str, data_dir: str | None = None) -> Data:
    if name in FOLDER_LOADERS:
        folder = data_dir or os.environ.get(DATA_DIR_ENV)
        if not folder:
            raise DataError(f"{name} is read from a folder you downloaded: give it with "
                            f"--data-dir DIR or ${DATA_DIR_ENV}")
        return FOLDER_LOADERS[name](Path(folder).expanduser())
    if name not in LOADERS:
        raise DataError(f"unknown dataset {name!r}; choose one of: {', '.join(names())}")
    return LOADERS[name]()
