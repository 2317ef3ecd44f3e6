"""Trial layer: every dataset the spaces use, in one table. Loaded once on the driver; the trials
get the arrays through Ray's object store.

Adding a dataset is one `DATASETS` entry and its loader (loaders.py for arrays, images.py for
folders of files).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from trainables import images, loaders
from trainables.data import Data, DataError, keras_home

DATA_DIR_ENV = "CNN_SEARCH_DATA"


@dataclass(frozen=True)
class Dataset:
    load: Callable            # () -> Data, or (folder, image_size) -> Data when `folder`
    shape: tuple              # (height, width, channels) as the models see it (image_size: CUB)
    classes: int
    fetch: Callable | None = None  # (data cache) -> folder holding it, downloaded once;
                                   # such a dataset reads from a folder (--data-dir, or that)
    sized: bool = False       # decoded at --image-size (image files)

    @property
    def folder(self) -> bool:
        return self.fetch is not None


DATASETS = {
    "digits": Dataset(loaders.load_digits, (32, 32, 3), 10),
    "cifar100_25": Dataset(loaders.load_cifar100_25, (32, 32, 3), 25),
    "cifar10": Dataset(loaders.load_cifar10, (32, 32, 3), 10),
    "fashion_mnist": Dataset(loaders.load_fashion_mnist, (28, 28, 1), 10),
    "cub200": Dataset(images.load_cub200, (224, 224, 3), 200, images.cub200_folder, sized=True),
    "pathmnist": Dataset(images.load_pathmnist, (28, 28, 3), 9, images.pathmnist_folder),
}


def names() -> list[str]:
    return sorted(DATASETS)


def shape(name: str, image_size: int | None = None) -> tuple:
    """The dataset's image shape without loading it (at `image_size` for image files)."""
    spec = DATASETS[name]
    return (image_size, image_size, 3) if spec.sized and image_size else spec.shape


def load(name: str, data_dir: str | None = None, image_size: int | None = None) -> Data:
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; choose one of: {', '.join(names())}")
    spec = DATASETS[name]
    if not spec.folder:
        return spec.load()
    # A copy the user has (--data-dir), else the data cache, downloading into it the first time.
    folder = Path(data_dir).expanduser() if data_dir else spec.fetch(data_cache())
    return spec.load(folder, image_size or images.DEFAULT_IMAGE_SIZE) if spec.sized else \
        spec.load(folder)


def data_cache() -> Path:
    """Where downloaded folder datasets live: $CNN_SEARCH_DATA, else beside Keras's datasets
    cache (~/.keras/datasets, or $KERAS_HOME/datasets)."""
    return Path(os.environ.get(DATA_DIR_ENV) or keras_home() / "datasets").expanduser()
