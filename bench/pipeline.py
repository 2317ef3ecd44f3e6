"""Input pipeline benchmark: one epoch of BaseNet training fed four ways, side by side.

    python bench/pipeline.py                  # 5,000 images, 6 rounds: about 2 minutes on 2 cores
    python bench/pipeline.py --rounds 8 --images 10000

(a) materialised: the images as one float32 array in [0, 1], `model.fit(x, y, shuffle=True)`, no
    augmentation: the floor any augmented pipeline is measured against;
(a') the same float32 tensors through the leanest tf.data stream (slices, shuffle, batch,
    prefetch), no augmentation: a stricter floor, since Keras's own array adapter costs time;
(b) ImageDataGenerator(horizontal_flip, zoom_range=0.2, rotation_range=15, rescale=1/255).flow,
    the reports' way (keras.src.legacy: acceptable here only, never in the suite);
(c) naive tf.data: uint8 slices, shuffled, batched, then Keras's RandomFlip / RandomZoom /
    RandomRotation layers mapped over the batches as written in most tutorials (a plain `map`, no
    parallel calls, no prefetch);
(d) the suite's `trainables.pipeline.train_batches` with flip, zoom 0.2, rotation 15 degrees.

Each round runs one epoch of every variant in turn (so a change in machine load hits all four
alike); the first round is a warm-up (tracing, conversion, statistics) and is not counted. Each
variant trains its own BaseNet (RMSprop, batch 64). Prints a Markdown table for docs/benchmarks.md:
wall seconds per epoch (median), ratios, and the process's CPU seconds per epoch (all threads),
which shared cores disturb less than wall time.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402


def machine() -> str:
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in
                   subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines()
                   if line.startswith("Model name"))
    except (OSError, StopIteration):
        cpu = platform.processor() or "unknown CPU"
    return f"{os.cpu_count()} cores, {cpu}"


def load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=5000)
    p.add_argument("--rounds", type=int, default=6, help="epochs per variant, the first a warm-up")
    p.add_argument("--batch-size", type=int, default=64)
    args = p.parse_args()

    import keras
    import tensorflow as tf
    from keras.src.legacy.preprocessing.image import ImageDataGenerator

    from trainables import models, pipeline
    from trainables.data import Data

    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (args.images, 32, 32, 3), dtype=np.uint8)
    y = rng.integers(0, 25, args.images).astype(np.int32)
    data = Data("random", x, y, x[:64], y[:64], x[:64], y[:64], 25)
    bs = args.batch_size
    keras.utils.set_random_seed(0)

    def model():
        m = models.build({"model": "basenet", "dropout": 0.0}, (32, 32, 3), 25)
        m.compile(optimizer=keras.optimizers.RMSprop(1e-3),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        return m

    x_float = x.astype(np.float32) / 255
    generator = ImageDataGenerator(horizontal_flip=True, zoom_range=0.2, rotation_range=15,
                                   rescale=1 / 255)
    flow = generator.flow(x.astype(np.float32), y, batch_size=bs, shuffle=True, seed=0)
    augment = keras.Sequential([keras.layers.RandomFlip("horizontal"),
                                keras.layers.RandomZoom(0.2),
                                keras.layers.RandomRotation(15 / 360)])
    lean = (tf.data.Dataset.from_tensor_slices((x_float, y)).shuffle(len(x)).batch(bs)
            .prefetch(tf.data.AUTOTUNE))
    naive = (tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(x)).batch(bs)
             .map(lambda images, labels: (augment(tf.cast(images, tf.float32) / 255,
                                                  training=True), labels)))
    suite = pipeline.train_batches(data, {"model": "basenet", "batch_size": bs, "flip": True,
                                          "zoom": 0.2, "rotation": 15, "seed": 0})

    variants = {
        "(a) materialised float32, no augmentation":
            (model(), lambda m: m.fit(x_float, y, batch_size=bs, shuffle=True, verbose=0)),
        "(a') materialised float32 in tf.data, no augmentation":
            (model(), lambda m: m.fit(lean, verbose=0)),
        "(b) ImageDataGenerator, flip + zoom 0.2 + rotation 15":
            (model(), lambda m: m.fit(flow, verbose=0)),
        "(c) naive tf.data + Keras preprocessing layers, same augmentation":
            (model(), lambda m: m.fit(naive, verbose=0)),
        "(d) suite pipeline, same augmentation":
            (model(), lambda m: m.fit(suite, verbose=0)),
    }
    started, load_before = datetime.datetime.now(), load()
    times = {name: [] for name in variants}
    cpu = {name: [] for name in variants}
    for _ in range(args.rounds):
        for name, (m, fit) in variants.items():
            t, c = time.perf_counter(), time.process_time()
            fit(m)
            times[name].append(time.perf_counter() - t)
            cpu[name].append(time.process_time() - c)
    load_after = load()

    median = {name: statistics.median(ts[1:]) for name, ts in times.items()}
    cpu_median = {name: statistics.median(ts[1:]) for name, ts in cpu.items()}
    base, idg = median["(a) materialised float32, no augmentation"], \
        median["(b) ImageDataGenerator, flip + zoom 0.2 + rotation 15"]
    print(f"{started:%Y-%m-%d %H:%M}, {machine()}, TensorFlow {tf.__version__}, "
          f"Keras {keras.__version__}; load average (1, 5, 15 min) before {load_before}, "
          f"after {load_after}")
    print(f"BaseNet, {args.images} random 32x32x3 uint8 images, batch {bs}, one epoch; median of "
          f"{args.rounds - 1} epochs after a warm-up, variants interleaved\n")
    lean_s = median["(a') materialised float32 in tf.data, no augmentation"]
    print("| variant | s / epoch | vs (a) | vs (a') | speed-up over (b) | CPU s / epoch |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, seconds in median.items():
        print(f"| {name} | {seconds:.3f} | {seconds / base:.2f}x | {seconds / lean_s:.2f}x "
              f"| {idg / seconds:.2f}x | {cpu_median[name]:.2f} |")
    print("\nall epochs (s): " + "; ".join(
        f"{name.split()[0]} " + " ".join(f"{t:.2f}" for t in ts) for name, ts in times.items()))


if __name__ == "__main__":
    main()
