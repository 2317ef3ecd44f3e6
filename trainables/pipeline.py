"""tf.data input pipelines: uint8 arrays in, float batches out.

Scaling to [0, 1] runs per batch (vectorised), after batching, so the arrays stay uint8 in memory.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf


def _scale(x, y):
    return tf.cast(x, tf.float32) / 255.0, y


def batches(x: np.ndarray, y: np.ndarray, batch_size: int, *, shuffle: bool = False,
            seed: int = 0) -> tf.data.Dataset:
    """Batches of (float32 images in [0, 1], int labels); reshuffled each epoch when `shuffle`."""
    ds = tf.data.Dataset.from_tensor_slices((x, y))
    if shuffle:
        ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size).map(_scale, num_parallel_calls=tf.data.AUTOTUNE).prefetch(
        tf.data.AUTOTUNE)


def train_batches(data, config: dict) -> tf.data.Dataset:
    """The training split, shuffled each epoch (augmented per the config, once that lands)."""
    return batches(data.x_train, data.y_train, config["batch_size"], shuffle=True,
                   seed=config["seed"])


def eval_batches(data, split: str, config: dict) -> tf.data.Dataset:
    """The `val` or `test` split, never augmented."""
    return batches(getattr(data, f"x_{split}"), getattr(data, f"y_{split}"), config["batch_size"])
