"""Driver layer: backbone features computed once and cached, for the extractor spaces.

Before Ray starts, the frozen backbone computes the pooled features of every split once (in a
spawned child process: TensorFlow on the driver would keep GPU memory for the whole search), into
`<storage>/.feature_cache/` keyed by dataset, backbone, weights, input size and data content;
every trial then trains only its head on those arrays.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from trainables.data import Data, DataError
from trainables.models import backbone_of, input_shape
from trainables.models.transfer import backbone_size

from driver import child


def feature_cache_dir(storage: str) -> Path:
    """`<storage>/.feature_cache`, shared by the experiments under one results root;
    $CNN_SEARCH_FEATURE_CACHE overrides it."""
    if os.environ.get("CNN_SEARCH_FEATURE_CACHE"):
        return Path(os.environ["CNN_SEARCH_FEATURE_CACHE"]).expanduser()
    return Path(storage).expanduser() / ".feature_cache"


def _digest(data: Data) -> str:
    """What the features depend on in the data: its splits' contents (paths or pixels)."""
    h = hashlib.sha1()
    for split in ("train", "val", "test"):
        x, y = getattr(data, f"x_{split}"), getattr(data, f"y_{split}")
        h.update(repr((x.shape, x.dtype.str)).encode())
        h.update(np.ascontiguousarray(x).tobytes() if x.dtype.kind != "U" else
                 "\n".join(x.tolist()).encode())
        h.update(np.ascontiguousarray(y).tobytes())
    return h.hexdigest()[:12]


def _weights_tag(weights) -> str:
    if weights in (None, "none", "imagenet"):
        return str(weights or "none")
    stat = Path(weights).stat()
    return "file" + hashlib.sha1(f"{Path(weights).resolve()}:{stat.st_size}:{stat.st_mtime_ns}"
                                 .encode()).hexdigest()[:10]


def _compute_features(data: Data, backbone: str, weights, model_name: str, batch_size: int,
                      path: Path) -> None:
    """Run the frozen backbone over every split and write the arrays to `path` (atomically)."""
    import keras
    import tensorflow as tf

    from trainables import pipeline
    from trainables.models.transfer import feature_model
    for gpu in tf.config.list_physical_devices("GPU"):
        tf.config.experimental.set_memory_growth(gpu, True)
    keras.utils.set_random_seed(0)  # random-init features (--weights none) are reproducible
    net = feature_model(backbone, input_shape(model_name, data.input_shape), weights)
    config = {"batch_size": batch_size, "model": model_name, "seed": 0}
    arrays = {f"x_{split}": np.asarray(net.predict(pipeline.eval_batches(data, split, config),
                                                   verbose=0), np.float32)
              for split in ("train", "val", "test")}
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.stem + f".{os.getpid()}.part.npz")
    np.savez(partial, **arrays)
    partial.replace(path)


def extract_features(data: Data, backbone: str, weights, model_name: str,
                     cache_dir: Path, batch_size: int = 64) -> tuple[Data, Path, bool]:
    """The backbone's features of every split, computed once per (dataset, backbone, weights,
    input size, data content) and cached in `cache_dir` as one .npz; later calls load it.
    Returns (Data of float32 feature arrays, cache file, whether it was computed now)."""
    shape = input_shape(model_name, data.input_shape)
    size = backbone_size(backbone, shape)
    key = f"{data.name}-{backbone}-{_weights_tag(weights)}-{size}px-{_digest(data)}"
    path = Path(cache_dir) / f"{key}.npz"
    computed = False
    if not path.is_file():
        # In a child process: TensorFlow on the driver would keep GPU memory for the whole search
        # (the trials share that GPU); the child's is freed when it exits.
        with child.pool() as pool:
            pool.submit(_compute_features, data, backbone, weights, model_name, batch_size,
                        path).result()
        computed = True
    try:
        with np.load(path) as saved:
            arrays = {k: saved[k] for k in ("x_train", "x_val", "x_test")}
    except (OSError, ValueError, KeyError) as e:
        raise DataError(f"feature cache {path} is unreadable ({e}); delete it so the features "
                        f"are computed again") from None
    for split in ("train", "val", "test"):
        if len(arrays[f"x_{split}"]) != len(getattr(data, f"y_{split}")):
            raise DataError(f"feature cache {path} does not match the {split} split; delete it")
    features = Data(data.name, arrays["x_train"], data.y_train, arrays["x_val"], data.y_val,
                    arrays["x_test"], data.y_test, data.num_classes)
    return features, path, computed


def features_of(data: Data, model: str, weights, cache_dir: Path) -> Data:
    """The extractor space's data: the images replaced by `model`'s backbone features, computed
    here only the first time."""
    features, path, computed = extract_features(data, backbone_of(model), weights, model,
                                                 cache_dir)
    print(f"{'Computed' if computed else 'Reusing'} {backbone_of(model)} features: {path}",
          flush=True)
    return features
