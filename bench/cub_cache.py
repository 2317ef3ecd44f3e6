#!/usr/bin/env python
"""CUB-200 from the download cache against the same images from --data-dir.

    python bench/cub_cache.py                    # 1500 generated JPEGs, 3 alternated rounds

A generated CUB_200_2011.tgz (500x375 JPEGs, bench/cub_loading.py's generator) is served by a
local HTTP server; the first load downloads, verifies and extracts it into a data cache
($CNN_SEARCH_DATA), as `--space finetune_resnet` does with nothing prepared. Then, in alternated
rounds, each in a fresh process: the cache (no --data-dir: found, no request) and a copy of the
extracted folder given as --data-dir. Each reports time to the first batch and images/s over
epochs 1 and 2 of the training split at 224x224, batch 32. They run the same loader on the same
files, so they should be equal; the first fetch's time is printed beside them.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

MEASURE = """
import json, sys, time
sys.path.insert(0, {root!r}); sys.path.insert(0, {root!r} + "/bench")
import tensorflow as tf; tf.constant(0)
from cub_loading import _epochs
from trainables import datasets, pipeline
start = time.perf_counter()
data = datasets.load("cub200", {data_dir!r}, image_size=224)
print(json.dumps(_epochs(lambda: pipeline.train_batches(data, {{"batch_size": 32, "seed": 0}}),
                         len(data.x_train), start)))
"""


def measure(data_dir, cache: Path) -> dict:
    env = {**os.environ, "CNN_SEARCH_DATA": str(cache), "TF_CPP_MIN_LOG_LEVEL": "2"}
    out = subprocess.run([sys.executable, "-c", MEASURE.format(root=str(ROOT), data_dir=data_dir)],
                         capture_output=True, text=True, env=env, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", type=int, default=1500)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    from cub_loading import generate
    from http_server import Server
    from trainables import datasets, download

    work = Path(tempfile.mkdtemp(prefix="cub_cache_bench_"))
    generate(work / "src" / "CUB_200_2011", args.images)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(work / "src" / "CUB_200_2011", arcname="CUB_200_2011")
    server = Server()
    server.files["/CUB_200_2011.tgz"] = buffer.getvalue()
    download.SOURCES["cub200"] = (server.url("/CUB_200_2011.tgz"),
                                  hashlib.md5(buffer.getvalue()).hexdigest())
    cache = work / "cache"
    os.environ["CNN_SEARCH_DATA"] = str(cache)
    t = time.perf_counter()
    datasets.load("cub200", image_size=224)  # download, verify, extract
    fetched = time.perf_counter() - t
    server.close()
    copy = work / "copy"
    shutil.copytree(cache / "cub200" / "CUB_200_2011", copy)

    rows = {"cache": [], "--data-dir": []}
    for _ in range(args.rounds):
        rows["cache"].append(measure(None, cache))
        rows["--data-dir"].append(measure(str(copy), cache))
    med = {k: {m: sorted(r[m] for r in v)[len(v) // 2] for m in v[0]} for k, v in rows.items()}
    print(f"\n{platform.machine()}, {os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d')}: "
          f"{args.images} JPEGs ({len(buffer.getvalue()) / 1e6:.0f} MB tgz), first fetch + "
          f"verify + extract {fetched:.1f} s; medians of {args.rounds} alternated rounds\n")
    print("| source | first batch (s) | epoch 1 (img/s) | epoch 2 (img/s) |")
    print("| --- | ---: | ---: | ---: |")
    for name, r in med.items():
        print(f"| {name} | {r['first_batch_s']:.2f} | {r['epoch1_img_s']:.0f} | "
              f"{r['epoch2_img_s']:.0f} |")
    c, d = med["cache"], med["--data-dir"]
    print(f"\ncache / --data-dir: first batch {c['first_batch_s'] / d['first_batch_s']:.2f}x, "
          f"epoch 1 {c['epoch1_img_s'] / d['epoch1_img_s']:.2f}x, "
          f"epoch 2 {c['epoch2_img_s'] / d['epoch2_img_s']:.2f}x")
    shutil.rmtree(work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
