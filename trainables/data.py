"""Trial layer: what every dataset is made of, and the one-line error of missing or broken data.

Images stay uint8 (a quarter of float32's size in the Ray object store); the pipeline casts and
scales them per batch. Labels are int32 class indices. Loaders raise `DataError` with one line
saying what is missing and where to put it; the command line turns that into exit code 2.
"""

from __future__ import annotations

import math
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
    """Stratified split: (x_a, y_a, x_b, y_b) with `fraction` of the samples in b; a plain one
    when some class has too few samples to stratify (tiny subsets).

    The split of scikit-learn's (1.9) `train_test_split(x, y, test_size=fraction, stratify=y,
    random_state=seed)` (StratifiedShuffleSplit, and ShuffleSplit for the plain one), written
    here: importing scikit-learn delayed every search before Ray could start
    (docs/benchmarks.md, "Mechanisms in the code"), and the split,
    part of the dataset, no longer depends on its version. tests/test_datasets.py checks that
    the two agree."""
    y = np.asarray(y)
    n_b = math.ceil(fraction * len(y))
    n_a = len(y) - n_b
    if not 0 < fraction < 1 or n_a <= 0:
        raise ValueError(f"fraction {fraction} leaves no samples on one side of {len(y)}")
    a, b = _stratified(y, n_a, n_b, np.random.RandomState(seed))
    if a is None:
        order = np.random.RandomState(seed).permutation(len(y))
        a, b = order[n_b:], order[:n_b]
    return x[a], y[a], x[b], y[b]


def _stratified(y: np.ndarray, n_a: int, n_b: int, rng: np.random.RandomState):
    """StratifiedShuffleSplit's indices (a, b); (None, None) when it cannot stratify."""
    classes, index, counts = np.unique(y, return_inverse=True, return_counts=True)
    if counts.min() < 2 or min(n_a, n_b) < len(classes):
        return None, None
    by_class = np.split(np.argsort(index, kind="stable"), np.cumsum(counts)[:-1])
    in_a = _approximate_mode(counts, n_a, rng)
    in_b = _approximate_mode(counts - in_a, n_b, rng)
    a, b = [], []
    for members, k, m in zip(by_class, in_a, in_b):
        shuffled = members.take(rng.permutation(len(members)), mode="clip")
        a.extend(shuffled[:k])
        b.extend(shuffled[k:k + m])
    return rng.permutation(a), rng.permutation(b)


def _approximate_mode(counts: np.ndarray, draws: int, rng: np.random.RandomState) -> np.ndarray:
    """How many of `draws` come from each class: the proportional share, rounded down, plus one
    for the classes with the largest remainders (ties broken at random)."""
    share = counts / counts.sum() * draws
    taken = np.floor(share)
    missing = int(draws - taken.sum())
    remainder = share - taken
    for value in np.sort(np.unique(remainder))[::-1]:
        if missing <= 0:
            break
        (tied,) = np.where(remainder == value)
        now = min(len(tied), missing)
        taken[rng.choice(tied, size=now, replace=False)] += 1
        missing -= now
    return taken.astype(int)


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

