"""A trial's epoch against a bare `model.fit` epoch: same configuration, data, pipeline and
thread count (one), on the full-size cifar100_25 stand-in (tests/standins.py).

    python bench/epoch_speed.py [--epochs 6] [--repeats 3] [--standins DIR] [--only NAME ...]

Configurations: BaseNet and MiRed (mired_bn_v3), each plain and with featurewise normalization,
flip and zoom 0.2 (the augmentation_grid study's constants otherwise: SGD 0.01, batch 32). The
suite runs each as a one-trial study (`run_search.py --space augmentation_grid --set ...`,
checkpoints and reports as in every search); its epoch time is Ray's time_this_iter_s. The bare
loop is one process per configuration timing each epoch end to end. Epochs after the first
(tracing) count, as a median; the two alternate. Target: the suite within 5 % of the bare loop.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT, machine, search

sys.path.insert(0, str(ROOT / "tests"))

CONFIGS = {
    "basenet": {"model": "basenet", "normalize": "none", "flip": False, "zoom": 0.0},
    "basenet+norm+aug": {"model": "basenet", "normalize": "featurewise", "flip": True,
                         "zoom": 0.2},
    "mired_bn_v3": {"model": "mired_bn_v3", "normalize": "none", "flip": False, "zoom": 0.0},
    "mired_bn_v3+norm+aug": {"model": "mired_bn_v3", "normalize": "featurewise", "flip": True,
                             "zoom": 0.2},
}
STUDY = {"optimizer": "sgd", "learning_rate": 0.01, "batch_size": 32, "dropout": 0.0}


def bare(config: dict, epochs: int) -> list[float]:
    """Seconds of each epoch of a bare fit, TensorFlow on one thread (run in a child process)."""
    import keras
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    from trainables import datasets, models, optimizers, pipeline
    data = datasets.load("cifar100_25")
    keras.utils.set_random_seed(0)
    model = models.build(config, models.input_shape(config["model"], data.input_shape),
                         data.num_classes)
    model.compile(optimizer=optimizers.make(config["optimizer"], config["learning_rate"]),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    ends = [time.perf_counter()]
    stamp = keras.callbacks.LambdaCallback(on_epoch_end=lambda *_: ends.append(time.perf_counter()))
    model.fit(pipeline.train_batches(data, config), epochs=epochs, verbose=0, callbacks=[stamp],
              validation_data=pipeline.eval_batches(data, "val", config))
    return [b - a for a, b in zip(ends, ends[1:])]


def suite(name: str, config: dict, epochs: int, tmp: Path, env: dict) -> list[float]:
    sets = [f"--set={k}={v}" for k, v in config.items()]
    _, folder = search(tmp, name, "--space", "augmentation_grid", "--dataset", "cifar100_25",
                       "--max-epochs", epochs, *sets, env=env)
    rows = [json.loads(line) for f in folder.glob("*/result.json")
            for line in f.read_text().splitlines() if line.strip()]
    return [r["time_this_iter_s"] for r in sorted(rows, key=lambda r: r["training_iteration"])]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--standins", type=Path)
    p.add_argument("--only", nargs="+", choices=CONFIGS, default=list(CONFIGS),
                   help="these configurations alone")
    p.add_argument("--bare", help=argparse.SUPPRESS)  # a configuration's JSON: the child process
    args = p.parse_args()
    if args.bare:
        print(json.dumps(bare(json.loads(args.bare), args.epochs)))
        return
    print(f"machine: {machine()}; load {Path('/proc/loadavg').read_text().split()[:3]}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        import standins
        root = standins.write(args.standins or tmp / "standins", only=["cifar100"])
        env = {**os.environ, "KERAS_HOME": str(root / "keras")}
        ratios = {name: [] for name in args.only}
        for r in range(args.repeats):
            for name in args.only:
                config = {**STUDY, **CONFIGS[name]}
                times = {}
                for who in (("suite", "bare") if r % 2 == 0 else ("bare", "suite")):
                    if who == "suite":
                        times[who] = suite(f"{name}-{r}", config, args.epochs, tmp, env)
                    else:
                        out = subprocess.run([sys.executable, __file__, "--epochs",
                                              str(args.epochs), "--bare", json.dumps(config)],
                                             cwd=ROOT / "bench", env=env, capture_output=True,
                                             text=True, check=True).stdout
                        times[who] = json.loads(out.strip().splitlines()[-1])
                s, b = (statistics.median(times[w][1:]) for w in ("suite", "bare"))
                ratios[name].append(s / b)
                print(f"repeat {r + 1} {name}: suite {s:.3f} s/epoch, bare {b:.3f} s/epoch, "
                      f"ratio {s / b:.3f}", flush=True)
    for name, values in ratios.items():
        print(f"{name}: suite / bare median {statistics.median(values):.3f} "
              f"({min(values):.3f}-{max(values):.3f}) (target <= 1.05)")


if __name__ == "__main__":
    main()
