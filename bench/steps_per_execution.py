"""Epoch time with steps_per_execution 1 and with the automatic value (trainables.train.
steps_per_execution), BaseNet and MiRed v5 at batch 32 and 128 on digits.

    python bench/steps_per_execution.py [--rounds 6]

Each (model, batch) pair gets two models (spe 1 and auto, same seed), trained one epoch each in
turn, alternating, `rounds` times after a first epoch (tracing) that is not counted. Epoch: Keras
fit of the training split with validation, as the trainable runs it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--rounds", type=int, default=6)
    args = p.parse_args()
    import keras

    from bench._common import machine
    from trainables import pipeline
    from trainables.datasets import load
    from trainables.train import compiled_model, configure_tensorflow, tensorflow_settings
    configure_tensorflow(tensorflow_settings(1, 0))
    data = load("digits")
    print(f"machine: {machine()}; load {open('/proc/loadavg').read().split()[:3]}; 1 thread")
    for model_name in ("basenet", "mired_v5"):
        for batch in (32, 128):
            config = {"model": model_name, "optimizer": "adam", "learning_rate": 1e-3,
                      "batch_size": batch, "dropout": 0.3, "seed": 0}
            train = pipeline.train_batches(data, config)
            val = pipeline.eval_batches(data, "val", config)
            keras.utils.set_random_seed(0)
            models = {1: compiled_model(config, data, 1)}
            keras.utils.set_random_seed(0)
            auto = compiled_model(config, data).steps_per_execution  # the trainable's rule
            label = f"auto = {auto}"
            if auto == 1:  # what the rule gives up: 8 steps per execution, for comparison
                auto, label = 8, "the rule gives 1; forced 8"
            keras.utils.set_random_seed(0)
            models[auto] = compiled_model(config, data, auto)
            times = {1: [], auto: []}
            for spe in models:
                models[spe].fit(train, validation_data=val, epochs=1, verbose=0)
            for r in range(args.rounds):
                for spe in (1, auto) if r % 2 == 0 else (auto, 1):
                    start = time.perf_counter()
                    models[spe].fit(train, validation_data=val, epochs=1, verbose=0)
                    times[spe].append(time.perf_counter() - start)
            one, many = statistics.median(times[1]), statistics.median(times[auto])
            print(f"{model_name} batch {batch}: spe 1 {one:.3f} s/epoch "
                  f"({min(times[1]):.3f}-{max(times[1]):.3f}), spe {label}: {many:.3f} s/epoch "
                  f"({min(times[auto]):.3f}-{max(times[auto]):.3f}), ratio {one / many:.2f}x",
                  flush=True)
    print(f"load after: {open('/proc/loadavg').read().split()[:3]}")


if __name__ == "__main__":
    main()
