"""Overhead of the suite: the same configurations, one at a time, trained by a plain Keras loop
and through run_search.py (Ray Tune, Optuna, checkpoints every epoch, the report).

    python bench/overhead.py [--trials 6] [--epochs 12]

Both sides are whole processes timed from the outside (Python and TensorFlow start-up included).
The suite's configurations are read back from its results, so the plain loop trains exactly them.
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT, machine, search


def plain(configs_file: str, epochs: int) -> None:
    """The baseline: a bare Keras fit per configuration, on the same data and pipeline."""
    import keras
    import tensorflow as tf

    from trainables import pipeline
    from trainables.loaders import load_digits
    from trainables.train import compiled_model

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    data = load_digits()
    for config in json.loads(Path(configs_file).read_text()):
        keras.backend.clear_session()
        keras.utils.set_random_seed(config["seed"])
        model = compiled_model(config, data)
        model.fit(pipeline.train_batches(data, config), epochs=epochs, verbose=0,
                  validation_data=pipeline.eval_batches(data, "val", config))
        model.evaluate(pipeline.eval_batches(data, "test", config), verbose=0)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--trials", type=int, default=6)
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--checkpoint-every", type=int, default=1)
    p.add_argument("--plain", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.plain:
        return plain(args.plain, args.epochs)

    with tempfile.TemporaryDirectory() as tmp:
        suite_wall, folder = search(Path(tmp), "overhead", "--space", "basenet", "--dataset",
                                    "digits", "--num-samples", args.trials, "--max-epochs",
                                    args.epochs, "--grace-period", args.epochs,
                                    "--max-concurrent", 1, "--cpus-per-trial", 1,
                                    "--checkpoint-every", args.checkpoint_every)
        configs = [json.loads(p.read_text()) for p in sorted(folder.glob("trial_*/params.json"))]
        configs_file = Path(tmp) / "configs.json"
        configs_file.write_text(json.dumps(configs))
        start = time.perf_counter()
        subprocess.run([sys.executable, __file__, "--plain", str(configs_file), "--epochs",
                        str(args.epochs)], cwd=ROOT, check=True, capture_output=True)
        plain_wall = time.perf_counter() - start
    print(f"machine: {machine()}")
    print(f"{args.trials} configurations x {args.epochs} epochs, one at a time, digits, "
          f"a checkpoint every {args.checkpoint_every} epoch(s)")
    print(f"plain Keras loop: {plain_wall:.1f} s")
    print(f"run_search.py:    {suite_wall:.1f} s")
    print(f"ratio suite/plain: {suite_wall / plain_wall:.2f} (target <= 1.10); "
          f"overhead per trial {(suite_wall - plain_wall) / args.trials:.2f} s")


if __name__ == "__main__":
    main()
