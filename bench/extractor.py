#!/usr/bin/env python
"""Extractor search: trials per minute with cached backbone features versus recomputing them.

    python bench/extractor.py                     # ResNet50 (random weights) at 64x64, 4 trials
    python bench/extractor.py --size 96 --trials 6 --epochs 5

The resnet_extractor space computes the frozen backbone's features once (its `prepare` hook,
driver/features.py, cached on disk) and every trial trains a head on those arrays. The
alternative, what a trial would do without the cache, is the same head on top of the frozen
backbone fed with images, so every epoch of every trial runs the backbone again. Both run here in
one process, one trial after another, with the suite's own code (datasets.load on a generated CUB
folder, pipeline, train.compiled_model); a trial is `--epochs` epochs of fit with validation.
The backbone is ResNet50 with random weights (no ImageNet download here) at a small image size so
that a CPU finishes: the ratio, not the absolute rate, is the point; it grows with the image size.
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def trial(data, config, epochs):
    from trainables import pipeline, train
    import keras
    keras.backend.clear_session()
    model = train.compiled_model(config, data)
    model.fit(pipeline.train_batches(data, config), validation_data=pipeline.eval_batches(
        data, "val", config), epochs=epochs, verbose=0)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", type=int, default=64, help="image side")
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--per-class", type=int, default=30, help="images per class (70%% train)")
    p.add_argument("--trials", type=int, default=4)
    p.add_argument("--epochs", type=int, default=3)
    args = p.parse_args()
    from driver import features as feature_cache
    from standins import cub
    from trainables import datasets

    work = Path(tempfile.mkdtemp(prefix="extractor_bench_"))
    train_n = int(args.per_class * 0.7)
    cub(work / "cub", "2011", classes=args.classes, train=train_n,
        test=args.per_class - train_n)
    data = datasets.load("cub200", str(work / "cub"), image_size=args.size)
    configs = [{"model": m, "optimizer": "sgd", "learning_rate": 0.01, "batch_size": 32,
                "dropout": d, "seed": 0} for m, d in
               [("resnet50_extractor_v1", 0.0), ("resnet50_extractor_v2", 0.75),
                ("resnet50_extractor_v3", 0.5), ("resnet50_extractor_fc500", 0.0)]]
    configs = (configs * args.trials)[:args.trials]

    start = time.perf_counter()
    features = feature_cache.features_of(data, "resnet50_extractor_v1", "none",
                                         feature_cache.feature_cache_dir(str(work / "results")))
    extract_s = time.perf_counter() - start
    t = time.perf_counter()
    for config in configs:
        trial(features, config, args.epochs)
    cached_s = time.perf_counter() - t

    t = time.perf_counter()
    for config in configs:
        trial(data, {**config, "weights": "none"}, args.epochs)
    recompute_s = time.perf_counter() - t

    n = len(configs)
    print(f"\n{platform.machine()}, {os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d')}: ResNet50 "
          f"(random weights) at {args.size}x{args.size}, {len(data.x_train)} train / "
          f"{len(data.x_val)} val images, {n} trials x {args.epochs} epochs\n")
    print("| method | one-time (s) | per trial (s) | trials / minute | incl. one-time |")
    print("| --- | ---: | ---: | ---: | ---: |")
    print(f"| cached features (suite) | {extract_s:.1f} | {cached_s / n:.2f} | "
          f"{60 * n / cached_s:.1f} | {60 * n / (cached_s + extract_s):.1f} |")
    print(f"| backbone every trial | 0 | {recompute_s / n:.2f} | {60 * n / recompute_s:.1f} | "
          f"{60 * n / recompute_s:.1f} |")
    print(f"\nratio cached / recomputing: {recompute_s / cached_s:.1f}x trials per minute "
          f"({recompute_s / (cached_s + extract_s):.1f}x counting the one-time extraction)")
    shutil.rmtree(work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
