"""Trial layer: what every dataset is made of, and the one-line error of missing or broken data.

Images stay uint8 (a quarter of float32's size in the Ray object store); the pipeline casts and
scales them per batch. Labels are int32 class indices. Loaders raise `DataError` with one line
saying what is missing and where to put it; the command line turns that into exit code 2.
"""

from __future__ import annotations

import os
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


def holdout(x, y, fraction: float, seed: int = SEED):
    """(x_a, y_a, x_b, y_b) with `fraction` of the samples in b: scikit-learn's
    `train_test_split(stratify=y)`, or its plain shuffled split where some class has too few
    samples to stratify (tiny subsets)."""
    from sklearn.model_selection import train_test_split
    try:
        x_a, x_b, y_a, y_b = train_test_split(x, y, test_size=fraction, stratify=y,
                                              random_state=seed)
    except ValueError:  # a class of one sample, or fewer samples in a side than classes
        x_a, x_b, y_a, y_b = train_test_split(x, y, test_size=fraction, random_state=seed)
    return x_a, y_a, x_b, y_b


def with_val(name, x_train, y_train, x_test, y_test, num_classes, val_fraction=0.1) -> Data:
    """Data with `val_fraction` of the training split held out (stratified) for validation."""
    x_tr, y_tr, x_val, y_val = holdout(x_train, np.asarray(y_train, np.int32), val_fraction)
    return Data(name, x_tr, y_tr, x_val, y_val, x_test, np.asarray(y_test, np.int32), num_classes)


def reason(error: Exception) -> str:
    """An exception as one line (tarfile's messages span several), for a one-line DataError."""
    return f"{type(error).__name__}: {' '.join(str(error).split())}"


def keras_home() -> Path:
    """Keras's cache root: $KERAS_HOME or ~/.keras (/tmp/.keras when that is not writable, as
    keras.utils.get_file does). Datasets go to datasets/, application weights to models/."""
    home = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")).expanduser()
    if home.exists() and not os.access(home, os.W_OK):
        home = Path("/tmp/.keras")
    return home

