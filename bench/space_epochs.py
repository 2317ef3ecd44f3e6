"""Seconds per epoch of each space's first configuration on its own dataset, on this machine:
the figures --list-spaces multiplies into a default budget's expected time
(search_spaces/_needs.py holds the results, docs/benchmarks.md the run).

    python bench/space_epochs.py [--steps 3] [SPACE ...]

No dataset is read (none can be downloaded here): random inputs of the dataset's shape, at the
model's input shape, through the suite's own builder and compile (trainables.train.compiled_model),
with random backbone weights (the same arithmetic as ImageNet's). One fit epoch and one evaluation
over a few batches are timed (median of --steps, after one that traces), per batch, then scaled to
one epoch of the split's sizes below: train steps + validation steps. The input pipeline
(augmentation, resizing) is not counted. A feature space (resnet_extractor) trains on cached
2048-d features: its one-time extraction (the backbone's forward pass over every image) is timed
apart.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# (train, val, test) images of each dataset's split (PRACTICE_MODELS.md; 10% of train held out;
# CUB-200-2011 is what the suite downloads)
SPLITS = {"cifar100_25": (11250, 1250, 2500), "cifar10": (45000, 5000, 10000),
          "fashion_mnist": (54000, 6000, 10000), "cub200": (5395, 599, 5794),
          "pathmnist": (89996, 10004, 7180)}


def first_config(space) -> dict:
    """The space's first report point (a study: its first grid point), as a trial gets it."""
    if space.grid:
        point = {k: v[0] for k, v in space.grid.items()}
        model = point.get("model", space.constants.get("model"))
        return {**space.constants, **space.per_model.get(model, {}), **point}
    import optuna
    study = optuna.create_study()
    study.enqueue_trial(space.points_to_evaluate[0])
    trial = study.ask()
    returned = space.define(trial) or {}
    return {**trial.params, **returned}


def timed(fn, steps: int) -> float:
    fn()  # traces
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(name: str, steps: int) -> dict:
    """The space's seconds per epoch; a study whose grid is the model (model_comparison): the
    mean over its models, each in its own row's setting."""
    import search_spaces
    space = search_spaces.load(name)
    if not (space.grid and "model" in space.grid):
        return measure_one(name, first_config(space), steps)
    rows = [measure_one(name, {**space.constants, **space.per_model.get(m, {}), "model": m},
                        steps) for m in space.grid["model"]]
    for r in rows:
        print(f"  {r['model']:<26} batch {r['batch']:<4} {r['epoch_s']:.0f} s/epoch", flush=True)
    return {**rows[0], "model": f"mean of {len(rows)} models",
            **{k: sum(r[k] for r in rows) / len(rows)
               for k in ("train_step_s", "eval_step_s", "epoch_s", "extraction_s")}}


def measure_one(name: str, config: dict, steps: int) -> dict:
    import numpy as np

    import search_spaces
    from trainables import datasets, models
    from trainables.data import Data
    from trainables.train import compiled_model

    space = search_spaces.load(name)
    config = {**config, "weights": "none", "seed": 0}
    train, val, _ = SPLITS[space.dataset]
    spec = datasets.DATASETS[space.dataset]
    batch = int(config["batch_size"])
    result = {"space": name, "model": config["model"], "batch": batch, "extraction_s": 0.0}
    shape = models.input_shape(config["model"], spec.shape)
    if space.features:
        from trainables.models.transfer import feature_model
        backbone = feature_model(models.backbone_of(config["model"]), shape, "none")
        x = np.random.rand(batch, *shape).astype("float32")
        step = timed(lambda: backbone.predict_on_batch(x), steps)
        result["extraction_s"] = step * math.ceil(sum(SPLITS[space.dataset]) / batch)
        shape = tuple(backbone.output.shape[1:])
    dummy = np.zeros((2, *shape), "float32")
    data = Data(name, dummy, np.zeros(2, "int32"), dummy, np.zeros(2, "int32"), dummy,
                np.zeros(2, "int32"), spec.classes)
    model = compiled_model(config, data, spe=1)
    # Keras's fit, as a trial trains (a call per step would add Python's per-call cost): on as
    # many batches as take a few seconds, then scaled to the split.
    probe = np.random.rand(batch, *shape).astype("float32")
    label = np.random.randint(0, spec.classes, batch).astype("int32")
    single = timed(lambda: model.train_on_batch(probe, label), 1)
    batches = max(2, min(60, int(5 / max(single, 1e-3))))
    x = np.random.rand(batch * batches, *shape).astype("float32")
    y = np.random.randint(0, spec.classes, batch * batches).astype("int32")
    train_step = timed(lambda: model.fit(x, y, batch_size=batch, epochs=1, verbose=0,
                                         shuffle=False), steps) / batches
    eval_step = timed(lambda: model.evaluate(x, y, batch_size=batch, verbose=0), steps) / batches
    result.update(train_step_s=train_step, eval_step_s=eval_step, batches=batches,
                  epoch_s=train_step * math.ceil(train / batch)
                  + eval_step * math.ceil(val / batch))
    return result


def main() -> None:
    import search_spaces
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=3, help="timed steps after the traced one")
    p.add_argument("spaces", nargs="*", help="spaces to time (default: all)")
    args = p.parse_args()
    print(f"# {platform.node()} {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}, "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}", flush=True)
    for name in args.spaces or search_spaces.names():
        r = measure(name, args.steps)
        print(f"{r['space']:<18} {r['model']:<26} batch {r['batch']:<4} train step "
              f"{r['train_step_s']:.3f} s, eval step {r['eval_step_s']:.3f} s -> "
              f"{r['epoch_s']:.0f} s/epoch"
              + (f", extraction once {r['extraction_s']:.0f} s" if r["extraction_s"] else ""),
              flush=True)
    print(f"# load {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
