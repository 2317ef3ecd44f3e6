#!/usr/bin/env python
"""CUB-style loading: the streaming tf.data pipeline versus every image in a NumPy array first.

    python bench/cub_loading.py                      # 3000 generated JPEGs, 2011 layout
    python bench/cub_loading.py --images 6000 --folder /tmp/cub_bench --keep

The reports read every JPEG (PIL), resized it to 224x224 and stacked the whole set in memory
before training (000: about 45 minutes per session for CUB on Colab). The suite keeps paths and
lets tf.data decode, resize and cache on the fly (trainables/images.py, pipeline._source). Both
feed the same batches of 32 float images in [0, 1] at 224x224. Measured: time to the first batch,
images/s over the first epoch (the array method's includes its loading, since training cannot
start before it ends) and over a second epoch (the stream is then served from its cache).
Generated images: 500x375 (CUB's typical size), smooth colour fields plus noise, JPEG quality 90.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def generate(folder: Path, count: int, classes: int = 200, seed: int = 0) -> None:
    """A CUB-200-2011-layout folder of `count` JPEGs, 70% train."""
    from PIL import Image
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:375, 0:500].astype(np.float32)
    lines_images, lines_split, lines_labels = [], [], []
    for i in range(count):
        c = i % classes
        rel = f"{c + 1:03d}.Class_{c}/img_{i:05d}.jpg"
        (folder / "images" / rel).parent.mkdir(parents=True, exist_ok=True)
        f = rng.uniform(0.005, 0.03, 3)
        base = 127 + 100 * np.sin(xx[..., None] * f + yy[..., None] * f[::-1] + rng.uniform(0, 6, 3))
        pixels = np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(folder / "images" / rel, quality=90)
        lines_images.append(f"{i + 1} {rel}\n")
        lines_split.append(f"{i + 1} {int(rng.random() < 0.7)}\n")
        lines_labels.append(f"{i + 1} {c + 1}\n")
    (folder / "images.txt").write_text("".join(lines_images))
    (folder / "train_test_split.txt").write_text("".join(lines_split))
    (folder / "image_class_labels.txt").write_text("".join(lines_labels))


def arrays_way(data, size: int, batch: int) -> dict:
    """The reports' way: PIL-load and resize every training image into one uint8 array, then
    batch it (the suite's pipeline on arrays, so the batching itself is the same)."""
    from PIL import Image
    from trainables import pipeline
    from trainables.data import Data
    start = time.perf_counter()
    x = np.stack([np.asarray(Image.open(p).convert("RGB").resize((size, size), Image.BILINEAR))
                  for p in data.x_train])
    loaded = time.perf_counter() - start
    arrays = Data("cub_arrays", x, data.y_train, x[:1], data.y_train[:1], x[:1], data.y_train[:1],
                  data.num_classes)
    return {"loaded_s": loaded, **_epochs(lambda: pipeline.train_batches(
        arrays, {"batch_size": batch, "seed": 0}), len(x), start)}


def streaming_way(folder: Path, batch: int) -> dict:
    from trainables import datasets, pipeline
    start = time.perf_counter()
    data = datasets.load("cub200", str(folder))  # the layout and every file checked
    checked = time.perf_counter() - start
    return {"loaded_s": checked, **_epochs(lambda: pipeline.train_batches(
        data, {"batch_size": batch, "seed": 0}), len(data.x_train), start)}, data


def _epochs(make, n: int, start: float) -> dict:
    ds = make()
    first = None
    for i, _ in enumerate(ds):
        if first is None:
            first = time.perf_counter() - start
    epoch1 = time.perf_counter() - start
    t = time.perf_counter()
    for _ in ds:
        pass
    epoch2 = time.perf_counter() - t
    return {"first_batch_s": first, "epoch1_img_s": n / epoch1, "epoch2_img_s": n / epoch2,
            "epoch1_s": epoch1}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", type=int, default=3000)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--folder", type=Path, help="reuse / keep the generated folder here")
    p.add_argument("--keep", action="store_true")
    args = p.parse_args()
    folder = args.folder or Path(tempfile.mkdtemp(prefix="cub_bench_"))
    if not (folder / "images.txt").is_file():
        t = time.perf_counter()
        generate(folder, args.images)
        print(f"generated {args.images} JPEGs in {time.perf_counter() - t:.0f} s: {folder}")
    import tensorflow as tf  # imported before timing: both methods need it
    tf.constant(0)
    stream, data = streaming_way(folder, args.batch_size)
    arrays = arrays_way(data, 224, args.batch_size)
    print(f"\n{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"{len(data.x_train)} training images (of {args.images}) at 224x224, batch "
          f"{args.batch_size}, {time.strftime('%Y-%m-%d')}\n")
    print("| method | load / check (s) | first batch (s) | epoch 1 (img/s) | epoch 2 (img/s) |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, r in (("arrays (reports)", arrays), ("streaming (suite)", stream)):
        print(f"| {name} | {r['loaded_s']:.2f} | {r['first_batch_s']:.2f} | "
              f"{r['epoch1_img_s']:.0f} | {r['epoch2_img_s']:.0f} |")
    print(f"\nratios streaming / arrays: first batch {stream['first_batch_s'] / arrays['first_batch_s']:.3f}x, "
          f"epoch 1 throughput {stream['epoch1_img_s'] / arrays['epoch1_img_s']:.2f}x, "
          f"epoch 2 {stream['epoch2_img_s'] / arrays['epoch2_img_s']:.2f}x")
    if not (args.keep or args.folder):
        shutil.rmtree(folder)
    return 0


if __name__ == "__main__":
    sys.exit(main())
