"""GPU benchmark: what one lent GPU does with the suite's defaults, in one command of at most 8
minutes.

    python bench/gpu.py               # a machine with an NVIDIA GPU: 6-8 minutes
    python bench/gpu.py --rehearse    # every part at a toy size on the CPU: checks this script
                                      # before GPU time is spent on it; its numbers mean nothing

Without a GPU that TensorFlow can use it stops at once with one line (exit 2). It writes the
stand-ins it needs (tests/standins.py: CIFAR-100 at full size, a CUB-200 tree of JPEGs) into a
scratch folder, then:

1. Trials per hour at 1, 2 and 4 trials per GPU (`--gpus-per-trial` 1, 0.5, 0.25): real searches,
   `run_search.py --space basenet --dataset cifar100_25`, every trial to the same budget (no ASHA
   stop), CPUs per trial left to the suite (driver/cluster.py's cpu_share, recorded), with the
   GPU's utilisation sampled by nvidia-smi while the trials ran. Run before this process imports
   TensorFlow, so the searches have the GPU to themselves.
2. Step time, float32 against mixed_float16, of BaseNet (32x32, batch 128) and of ResNet50 trained
   whole (224x224, batch 32, random init: no download), fed one batch over and over: the GPU's
   own pace, no input pipeline.
3. Whether the input pipeline keeps the GPU busy: trainables.pipeline.train_batches on the CUB
   stand-in (report 000's augmentation: flip, zoom 0.3, rotation 100) alone, images per second
   with tf.data's thread pool at the CPUs a trial gets at 1 and at 4 trials per GPU and at 1 CPU
   (the old default), its autotuner off (the suite) and on; then ResNet50 trained from that
   pipeline against the same model fed one batch (part 2): the GPU's share of the time.

Prints one Markdown section for docs/benchmarks.md. Each part checks the clock and is skipped,
saying so, when the 8 minutes would not hold it.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # standins.py, the one writer of stand-in datasets

import numpy as np  # noqa: E402

from driver import cluster  # noqa: E402

LIMIT_S = 8 * 60
START = time.monotonic()
TRIALS_PER_GPU = (1, 2, 4)


def left() -> float:
    return LIMIT_S - (time.monotonic() - START)


def fail(line: str) -> None:
    print(f"error: {line}", file=sys.stderr)
    raise SystemExit(2)


def nvidia_gpus() -> list[str]:
    """The GPUs nvidia-smi lists (name, memory), or [] without one or without the driver."""
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name,memory.total",
                              "--format=csv,noheader"], capture_output=True, text=True,
                             timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [line.strip() for line in out.stdout.splitlines() if line.strip()] \
        if out.returncode == 0 else []


def tensorflow_gpus() -> int:
    """GPUs TensorFlow can use, asked in a child process so that this one imports TensorFlow
    only after the searches of part 1 (which need the GPU's memory)."""
    code = ("import os; os.environ['TF_CPP_MIN_LOG_LEVEL'] = '3'; import tensorflow as tf; "
            "print(len(tf.config.list_physical_devices('GPU')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    try:
        return int(out.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return 0


class Utilisation:
    """nvidia-smi's utilization.gpu (the share of the last sample period in which a kernel ran)
    sampled every 250 ms in the background, with monotonic times; `mean(a, b)` over a window."""

    def __init__(self):
        self.samples: list[tuple[float, float]] = []
        self.proc = None
        if shutil.which("nvidia-smi"):
            self.proc = subprocess.Popen(
                ["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits",
                 "-lms", "250"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            try:
                self.samples.append((time.monotonic(), float(line.split(",")[0])))
            except ValueError:
                pass

    def mean(self, start: float, end: float) -> float | None:
        window = [u for t, u in self.samples if start <= t <= end]
        return statistics.fmean(window) if window else None

    def stop(self):
        if self.proc:
            self.proc.terminate()
            self.proc.wait()


def pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f} %"


# --- stand-ins ---------------------------------------------------------------------------------

def standins(root: Path, rehearse: bool) -> tuple[Path, Path]:
    """(Keras cache holding CIFAR-100, CUB-200 folder), written by tests/standins.py."""
    try:
        import standins as writers
    except ImportError:
        fail("tests/standins.py is missing: it writes the stand-in datasets this benchmark "
             "trains on; run from a full checkout")
    cache, cub = root / "keras" / "datasets", root / "data" / "cub200"
    cache.mkdir(parents=True, exist_ok=True)
    if rehearse:  # a few images: only the code paths matter
        archive = writers.cifar100(per_class_train=8, per_class_test=2, level=1)[0]
        (cache / "cifar-100-python.tar.gz").write_bytes(archive)
        writers.cub(cub, "2011", classes=4, train=6, test=2, size=(120, 160))
    else:
        writers.write(root, only=("cifar100", "cub200"), cub_per_class=8)
    return root / "keras", cub


# --- 1: trials per hour ------------------------------------------------------------------------

def search(keras_home: Path, storage: Path, per_gpu: int, rehearse: bool,
           use: Utilisation) -> dict:
    samples, epochs = (4, 1) if rehearse else (8, 2)
    name = f"per_gpu_{per_gpu}"
    share = ["--max-concurrent", str(min(per_gpu, os.cpu_count() or 1))] if rehearse else \
        ["--gpus-per-trial", f"{1 / per_gpu:g}"]
    command = [sys.executable, "run_search.py", "--space", "basenet", "--dataset", "cifar100_25",
               "--num-samples", str(samples), "--max-epochs", str(epochs), "--grace-period",
               str(epochs), "--ensemble", "1", "--storage-path", str(storage), "--name", name,
               *share]
    start = time.monotonic()
    try:
        proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True,
                              env={**os.environ, "KERAS_HOME": str(keras_home)},
                              timeout=max(30.0, left() - 60))
    except subprocess.TimeoutExpired:
        fail(f"the search at {per_gpu} trial(s) per GPU did not end within the 8 minutes")
    wall = time.monotonic() - start
    if proc.returncode:
        fail(f"the search at {per_gpu} trial(s) per GPU failed (exit {proc.returncode}): "
             + " | ".join((proc.stderr or proc.stdout).strip().splitlines()[-3:]))
    folder = storage / name
    settings = json.loads((folder / "search.json").read_text())
    spans, threads = [], set()
    for result in folder.glob("trial_*/result.json"):
        rows = [json.loads(line) for line in result.read_text().splitlines()]
        spans.append((rows[0]["timestamp"] - rows[0]["time_this_iter_s"], rows[-1]["timestamp"]))
        threads.add(rows[0].get("threads"))
    # Ray's timestamps are wall-clock seconds; the sampler's, monotonic: map by the offset now
    offset = time.monotonic() - time.time()
    first, last = min(s for s, _ in spans), max(e for _, e in spans)
    return {"per_gpu": per_gpu, "trials": len(spans), "wall": wall,
            "trials_per_hour": len(spans) / max(last - first, 1e-9) * 3600,
            "cpus": settings["cpus_per_trial"], "gpus": settings["gpus_per_trial"],
            "threads": sorted(t for t in threads if t is not None),
            "utilisation": use.mean(first + offset, last + offset)}


# --- 2 and 3: in this process ------------------------------------------------------------------

RESNET = {"model": "resnet50_finetune", "optimizer": "sgd", "learning_rate": 1e-2,
          "batch_size": 32, "dropout": 0.75, "head": "fc512_256", "phase1_epochs": 0,
          "unfreeze": "all", "finetune_lr_ratio": 1.0, "weights": "none", "seed": 0}
BASENET = {"model": "basenet", "optimizer": "rmsprop", "learning_rate": 1e-3, "batch_size": 128,
           "dropout": 0.25, "seed": 0}
AUGMENT = {"flip": True, "zoom": 0.3, "rotation": 100.0}  # report 000's, the heaviest


class EpochTimes:
    """A Keras callback's list of epoch wall times."""

    def __new__(cls):
        import keras

        class Times(keras.callbacks.Callback):
            def on_train_begin(self, logs=None):
                self.times = []

            def on_epoch_begin(self, epoch, logs=None):
                self.start = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                self.times.append(time.perf_counter() - self.start)
        return Times()


def model_for(config: dict, data, policy: str):
    """The model a trial of `config` trains, under `policy`, compiled with the trial's steps per
    execution (and unfrozen, as at a fine-tuning trial's first epoch)."""
    from trainables import phases
    from trainables.train import compiled_model, new_session
    new_session(policy, 0)
    model = compiled_model(config, data)
    if config.get("phase1_epochs") == 0:
        phases.start_phase2(model, config)
    return model


def fake_data(shape, classes: int, n: int):
    from trainables.data import Data
    x = np.random.default_rng(0).integers(0, 256, (n, *shape), dtype=np.uint8)
    y = np.arange(n, dtype=np.int32) % classes
    return Data("synthetic", x, y, x[:1], y[:1], x[:1], y[:1], classes)


def step_time(config: dict, shape, classes: int, policy: str, steps: int) -> float:
    """Seconds per training step fed one float32 batch over and over (the second epoch of
    `steps`, after the one that traces and compiles)."""
    import tensorflow as tf
    batch = int(config["batch_size"])
    data = fake_data(shape, classes, batch * 4)
    model = model_for(config, data, policy)
    spe = int(model.steps_per_execution or 1)
    steps = spe * math.ceil(steps / spe)
    x = data.x_train[:batch].astype(np.float32) / 255
    feed = tf.data.Dataset.from_tensors((x, data.y_train[:batch])).repeat().prefetch(2)
    times = EpochTimes()
    model.fit(feed, steps_per_epoch=steps, epochs=2, verbose=0, callbacks=[times])
    return times.times[-1] / steps


def with_pool(ds, threads: int, autotune: bool):
    import tensorflow as tf
    options = tf.data.Options()  # later options win over the pipeline's own
    options.threading.private_threadpool_size = threads
    options.autotune.enabled = autotune
    return ds.with_options(options)


def pipeline_rate(data, config: dict, threads: int, autotune: bool) -> tuple[float, float]:
    """Images per second of the training pipeline alone: its first epoch (decoding the JPEGs)
    and its second (from tf.data's cache)."""
    from trainables import pipeline
    ds = with_pool(pipeline.train_batches(data, config), threads, autotune)
    rates = []
    for _ in range(2):
        start, images = time.perf_counter(), 0
        for x, _ in ds:
            images += int(x.shape[0])
        rates.append(images / (time.perf_counter() - start))
    return rates[0], rates[1]


def fed_by_pipeline(data, config: dict, threads: int, use: Utilisation) -> tuple[float, float]:
    """Seconds per step of ResNet50 trained from the pipeline (the epoch after the one that
    compiles and fills the cache), and the GPU's utilisation during it."""
    from trainables import pipeline
    model = model_for(config, data, "mixed_float16" if use.proc else "float32")
    ds = with_pool(pipeline.train_batches(data, config), threads, autotune=False)
    times = EpochTimes()

    class Window:  # the timed epoch's monotonic bounds, for the sampler
        pass

    import keras

    class Mark(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            Window.start = time.monotonic()

        def on_epoch_end(self, epoch, logs=None):
            Window.end = time.monotonic()
    model.fit(ds, epochs=2, verbose=0, callbacks=[times, Mark()])
    steps = math.ceil(len(data.y_train) / int(config["batch_size"]))
    return times.times[-1] / steps, use.mean(Window.start, Window.end)


# --- the command -------------------------------------------------------------------------------

def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rehearse", action="store_true",
                   help="run every part at a toy size on the CPU, to check this script")
    args = p.parse_args()
    gpus = nvidia_gpus()
    if not args.rehearse:
        if not gpus:
            fail("no GPU visible (nvidia-smi lists none, or is missing); run bench/gpu.py on a "
                 "machine with an NVIDIA GPU and its driver (--rehearse checks the script on "
                 "the CPU)")
        if not tensorflow_gpus():
            fail(f"nvidia-smi lists {gpus[0]} but TensorFlow finds no GPU (no CUDA libraries "
                 f"for it?); install tensorflow[and-cuda]==2.21.0 into the virtual environment")
    cores = os.cpu_count() or 1
    machine = f"{cores} cores, {gpus[0] if gpus else 'no GPU (rehearsal)'}"
    print(f"## GPU defaults (bench/gpu.py)\n\n{machine}, {time.strftime('%Y-%m-%d')}\n",
          flush=True)
    use = Utilisation()
    scratch = Path(tempfile.mkdtemp(prefix="bench-gpu-"))
    try:
        keras_home, cub_folder = standins(scratch / "standins", args.rehearse)
        print(f"stand-ins written ({time.monotonic() - START:.0f} s)\n", flush=True)

        print("### Trials per hour (basenet on the CIFAR-100/25 stand-in, every trial to the "
              "same budget)\n")
        print("| trials per GPU | GPUs per trial | CPUs per trial (derived) | TensorFlow threads "
              "| trials | search wall s | trials per hour | GPU utilisation |")
        print("| ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: |", flush=True)
        for per_gpu in TRIALS_PER_GPU:
            if left() < 150:
                print(f"| {per_gpu} | skipped: {left():.0f} s left of the 8 minutes |")
                continue
            r = search(keras_home, scratch / "results", per_gpu, args.rehearse, use)
            print(f"| {per_gpu} | {r['gpus']:g} | {r['cpus']} | {r['threads']} | {r['trials']} "
                  f"| {r['wall']:.1f} | {r['trials_per_hour']:.0f} | {pct(r['utilisation'])} |",
                  flush=True)

        import logging

        import tensorflow as tf
        logging.getLogger("absl").setLevel(logging.ERROR)  # each option override, a warning
        for gpu in tf.config.list_physical_devices("GPU"):  # what trials sharing a GPU do
            tf.config.experimental.set_memory_growth(gpu, True)
        steps = 3 if args.rehearse else 40
        rehearse_size = 32 if args.rehearse else 224

        print("\n### Step time: fed one batch over and over, no input pipeline\n")
        print("| model | batch | float32 ms/step | mixed_float16 ms/step | speed-up | "
              "images/s (mixed) |")
        print("| --- | ---: | ---: | ---: | ---: | ---: |", flush=True)
        fed = {}
        for label, config, shape, classes in (
                ("BaseNet 32x32", BASENET, (32, 32, 3), 25),
                (f"ResNet50 whole, {rehearse_size}x{rehearse_size}", RESNET,
                 (rehearse_size, rehearse_size, 3), 200)):
            if left() < 60:
                print(f"| {label} | skipped: {left():.0f} s left |")
                continue
            times = {policy: step_time(config, shape, classes, policy, steps)
                     for policy in ("float32", "mixed_float16")}
            fed[label] = times
            batch = config["batch_size"]
            print(f"| {label} | {batch} | {times['float32'] * 1e3:.1f} | "
                  f"{times['mixed_float16'] * 1e3:.1f} | "
                  f"{times['float32'] / times['mixed_float16']:.2f}x | "
                  f"{batch / times['mixed_float16']:.0f} |", flush=True)

        print("\n### Input pipeline: CUB stand-in, flip + zoom 0.3 + rotation 100, "
              f"{rehearse_size}x{rehearse_size}\n")
        from trainables.images import load_cub200
        data = load_cub200(cub_folder, image_size=rehearse_size)
        config = {**RESNET, **AUGMENT}
        derived = {f"{k} trial(s) per GPU": cluster.cpu_share(None, 1 / k, [
            {"CPU": cores, "GPU": 1}]) for k in (1, 4)}
        pools = {**derived, "1 CPU (the old default)": 1}
        print("| tf.data threads | autotune | decode epoch images/s | cached epoch images/s |")
        print("| --- | --- | ---: | ---: |", flush=True)
        for label, threads in pools.items():
            for autotune in (False, True):
                if left() < 45:
                    print(f"| {threads} ({label}) | skipped: {left():.0f} s left |")
                    continue
                first, later = pipeline_rate(data, config, threads, autotune)
                print(f"| {threads} ({label}) | {'on' if autotune else 'off (suite)'} | "
                      f"{first:.0f} | {later:.0f} |", flush=True)

        resnet = next((t for label, t in fed.items() if label.startswith("ResNet")), None)
        print("\n### ResNet50 (mixed precision) trained from the pipeline against fed one batch\n")
        print("| tf.data threads | ms/step from the pipeline | ms/step fed one batch | "
              "GPU busy share | GPU utilisation |")
        print("| --- | ---: | ---: | ---: | ---: |", flush=True)
        for label, threads in ((next(iter(derived)), derived[next(iter(derived))]),
                               ("1 CPU (the old default)", 1)):
            if left() < 40 or resnet is None:
                print(f"| {threads} ({label}) | skipped: {left():.0f} s left |")
                continue
            policy = "mixed_float16" if use.proc else "float32"
            step, busy = fed_by_pipeline(data, config, threads, use)
            print(f"| {threads} ({label}) | {step * 1e3:.1f} | {resnet[policy] * 1e3:.1f} | "
                  f"{min(1.0, resnet[policy] / step):.0%} | {pct(busy)} |", flush=True)
        print(f"\n{time.monotonic() - START:.0f} s in all")
    finally:
        use.stop()
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
