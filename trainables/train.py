"""Trial layer: the one function a trial runs, and the only trial code that talks to Ray: train one
configuration, report once per epoch.

`train` is wrapped by `tune.with_parameters(train, data=..., max_epochs=...)`, so the dataset reaches
every trial through the Ray object store. A trial is one Keras `fit` (two in two-phase fine-tuning);
its callback, callbacks.Report, reports each epoch's `loss`, `accuracy`, `val_loss`,
`val_accuracy`, `epoch` (so ASHA's `training_iteration` is the epoch), writes the checkpoints and
ends the trial early (patience, a non-finite loss). A checkpoint holds the last weights, the best
weights (by `val_accuracy`, the later epoch of a tie) and the optimizer state (`_save`); a retried
or resumed trial restores it (`_resume`) and fits from the epoch it holds. With `ema_epochs`, the
val and test scores and the best weights are those of the weight average the optimizer keeps
(optimizers.averaged); training is the same: optimizers.make keeps Keras from overwriting the
weights with that average as a `fit` ends, which would change what phase 2 of fine-tuning trains.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import os
import sys
from pathlib import Path
from typing import Sequence

import numpy as np

from trainables.data import Data
from trainables.folds import cv_fold

# TensorFlow (behind models, optimizers, pipeline, phases, evaluate) is imported inside the
# functions: the driver imports this module only to hand `train` to Ray, and TensorFlow would
# cost it seconds there (docs/benchmarks.md, "Mechanisms in the code").

# Process-wide: whether this process has set TensorFlow's thread pools and GPU memory mode, which
# TensorFlow takes once, before it initialises (configure_tensorflow).
_TENSORFLOW_CONFIGURED = False


def tensorflow_settings(cpus: float, gpus: float, mixed_precision: bool = True) -> dict:
    """What a trial with this share of the machine applies to TensorFlow.

    Ray's resources are logical: without explicit thread counts a 1-CPU trial starts one thread
    per core and trials on the same machine fight over them. Memory growth keeps trials that
    share a GPU from each taking all of its memory at start (the default), so 4 trials at 0.25 GPU
    fit. mixed_float16 runs the convolutions on tensor cores; on a CPU it would only slow down."""
    return {"threads": max(1, int(cpus)), "memory_growth": gpus > 0,
            "policy": "mixed_float16" if gpus > 0 and mixed_precision else "float32"}


@functools.cache  # once per process: later calls return the first's None
def freeze_imports() -> None:
    """Once per process, at its first trial: collect, then move every object alive (modules,
    TensorFlow, Ray: over a million) to the collector's permanent generation. Each trial's
    clear_session then collects only what trials made, a fraction of the time
    (docs/benchmarks.md, "Mechanisms in the code")."""
    import gc
    gc.collect()
    gc.freeze()


@functools.cache  # once per process
def exit_quietly_on_signals() -> None:
    """On SIGTERM (the raylet sends it as Tune releases a trial's resources, before its SIGKILL),
    Ray's handler raises SystemExit in the trial process's main thread. Where that lands in a
    callback Python cannot unwind (a weakref's, a __del__: the collector runs them at any time),
    Python prints "Exception ignored ... SystemExit" with a traceback, which Ray forwards to the
    search's console, and the process runs on. There the process ends as the signal asked, with
    nothing printed; any other exception in such a callback is printed as before."""
    printed = sys.unraisablehook

    def hook(unraisable) -> None:
        if isinstance(unraisable.exc_value, SystemExit):
            code = unraisable.exc_value.code
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code if isinstance(code, int) else 1)
        printed(unraisable)

    sys.unraisablehook = hook


def visible_gpus() -> int:
    """GPUs TensorFlow sees in this process (those in CUDA_VISIBLE_DEVICES that exist)."""
    import tensorflow as tf
    return len(tf.config.list_physical_devices("GPU"))


def threads() -> int:
    """TensorFlow's intra-op threads in this process, which also size the trial's tf.data pool
    (pipeline._tf_options); 0 if never set (one per core)."""
    import tensorflow as tf
    return tf.config.threading.get_intra_op_parallelism_threads()


def configure_tensorflow(settings: dict) -> None:
    """Apply `tensorflow_settings`' threads and memory growth. They must be set before
    TensorFlow initialises (and makes its thread pools), so a reused actor keeps its first
    setting; the precision policy is per trial (`new_session`)."""
    global _TENSORFLOW_CONFIGURED
    import tensorflow as tf

    if not _TENSORFLOW_CONFIGURED:
        _TENSORFLOW_CONFIGURED = True
        try:
            tf.config.threading.set_intra_op_parallelism_threads(settings["threads"])
            tf.config.threading.set_inter_op_parallelism_threads(settings["threads"])
            if settings["memory_growth"]:
                for gpu in tf.config.list_physical_devices("GPU"):
                    tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError:  # TensorFlow was already initialised in this process
            pass


def new_session(policy: str, seed: int) -> None:
    """A trial's Keras session: the previous trial's graphs and layer names cleared, the precision
    policy set, every random generator seeded. The policy comes after `clear_session`, which
    resets it to float32 (set before it, GPU trials trained in float32 until 2026-11-24)."""
    import keras
    keras.backend.clear_session()
    keras.mixed_precision.set_global_policy(policy)
    keras.utils.set_random_seed(seed)


# Work one call of the train function should cover, in multiply-accumulates (forward and
# backward, 3x the forward's): about 3 ms. Below it, Keras's per-call cost (Python, a tf.function
# call, waking the thread pool, a host-device sync on a GPU: 0.5-1 ms and more) is a visible share
# of a step. CPU: 5e7, 3 ms on one core of the 2-core development box (15-20 GMAC/s), so BaseNet at
# batch 32 (6e7 a step) keeps 1: more steps per call gained nothing measurable there and cost
# more tracing (docs/benchmarks.md, "steps_per_execution"). GPU: 3e9, assuming about 1 TMAC/s
# for small CNNs, whose steps are mostly dispatch: not yet measured on a GPU.
TARGET_MACS_PER_EXECUTION = {"cpu": 5e7, "gpu": 3e9}


def macs_per_sample(model) -> int:
    """Forward multiply-accumulates of one sample through the model's kernels: a dense layer's
    kernel once, a convolution's once per output position (nested models included)."""
    total = 0
    for layer in model.layers:
        if hasattr(layer, "layers"):  # a backbone inside the model
            total += macs_per_sample(layer)
            continue
        kernel = getattr(layer, "kernel", None)
        if kernel is not None:
            positions = np.prod(layer.output.shape[1:3]) if len(kernel.shape) == 4 else 1
            total += int(np.prod(kernel.shape)) * int(positions)
    return total


def steps_per_execution(model, batch_size: int, train_size: int, device: str = "cpu") -> int:
    """Train steps per call of the train function: enough for the device's
    TARGET_MACS_PER_EXECUTION, at most an epoch's steps. A fixed rule of the model, batch size,
    split and device kind; the weights and per-epoch metrics do not depend on it (a test keeps
    them equal to one step per call)."""
    per_step = 3 * macs_per_sample(model) * batch_size
    steps = math.ceil(train_size / batch_size)
    wanted = math.ceil(TARGET_MACS_PER_EXECUTION[device] / max(per_step, 1))
    return max(1, min(steps, wanted))


def ema_momentum(config: dict, train_size: int) -> float | None:
    """The per-step momentum of a weight average over `config["ema_epochs"]` epochs,
    1 - 1 / (its steps); None when that is 0 or absent: the weights as trained are evaluated."""
    epochs = config.get("ema_epochs") or 0
    if not epochs:
        return None
    return 1.0 - 1.0 / max(1.0, epochs * math.ceil(train_size / int(config["batch_size"])))


def built_model(config: dict, data: Data):
    """The model, uncompiled, at its input shape (models.input_shape), which the pipeline converts
    any dataset to."""
    from trainables import models
    return models.build(config, models.input_shape(config["model"], data.input_shape),
                        data.num_classes)


def trial_steps_per_execution(model, config: dict, data: Data) -> int:
    """`steps_per_execution`'s rule for this trial on the device TensorFlow trains on."""
    return steps_per_execution(model, int(config["batch_size"]), len(data.y_train),
                               "gpu" if visible_gpus() else "cpu")


def compiled_model(config: dict, data: Data, spe: int | None = None):
    """`built_model` compiled with the config's optimizer (and weight average) and `spe` steps per
    execution (None: `trial_steps_per_execution`)."""
    from trainables import optimizers

    model = built_model(config, data)
    if spe is None:
        spe = trial_steps_per_execution(model, config, data)
    optimizers.compile(model, config["optimizer"], config["learning_rate"], spe,
                       ema_momentum(config, len(data.y_train)))
    return model


def _save(folder: Path, model, best_weights: list, state: dict) -> None:
    """A trial's checkpoint: last.npz (the model's weights, then its optimizer's variables: step,
    learning rate, moments), best.npz (the best weights by val_accuracy), state.json. Arrays in
    .npz files: several times faster than Keras's HDF5 save_weights (docs/benchmarks.md,
    "Mechanisms in the code")."""
    save_weights(folder / "last.npz",
                 model.get_weights() + [v.numpy() for v in model.optimizer.variables])
    save_weights(folder / "best.npz", best_weights)
    (folder / "state.json").write_text(json.dumps(state))


def _restore(folder: Path, model, config: dict) -> tuple[dict, list]:
    from trainables import phases

    state = json.loads((folder / "state.json").read_text())
    if phases.in_phase2(config, state["epoch"]):  # the saved optimizer is phase 2's
        phases.start_phase2(model, config)
    if (folder / "last.weights.h5").exists():  # written by a version before 2026-11-24
        model.load_weights(folder / "last.weights.h5")
    else:
        last, weights = load_weights(folder / "last.npz"), model.weights
        variables = model.optimizer.variables
        if len(last) != len(weights) + len(variables):
            raise ValueError(f"{len(last)} arrays where this model and optimizer have "
                             f"{len(weights) + len(variables)}")
        model.set_weights(last[:len(weights)])
        for variable, value in zip(variables, last[len(weights):]):
            variable.assign(value)
    return state, load_weights(folder / "best.npz")


def _resume(folder: Path, config: dict, data: Data):
    """(model, state, best weights) from the given checkpoint or, if it is corrupt or truncated,
    from the newest earlier one beside it in the trial folder; None when none loads."""
    earlier = sorted((p for p in folder.parent.glob("checkpoint_*") if p.name < folder.name),
                     reverse=True)
    for candidate in [folder, *earlier]:
        model = compiled_model(config, data)
        try:
            return model, *_restore(candidate, model, config)
        except Exception as e:  # h5py/zip/json errors of a half-written or damaged file
            print(f"checkpoint {candidate} does not load ({type(e).__name__}: {e}); "
                  f"trying an earlier one", flush=True)
    return None


def save_weights(path: Path, weights: list) -> None:
    np.savez(path, *weights)


def load_weights(path: Path) -> list:
    with np.load(path) as saved:
        return [saved[f"arr_{i}"] for i in range(len(saved.files))]


def start_trial(config: dict) -> dict:
    """Set this process and a fresh Keras session up for the trial (TensorFlow's threads, memory
    growth and cores for its share of the machine, the precision policy, the seed); the facts
    every result of the trial reports: its node, its GPUs, its precision, its threads."""
    import ray
    from ray import tune

    from trainables import staging

    # Ray Train logs each checkpoint at INFO ("Checkpoint successfully created at ..."), and Ray
    # forwards it from every actor to the search's console; the trial folders list them already.
    logging.getLogger("ray.train").setLevel(logging.WARNING)
    runtime = ray.get_runtime_context()
    resources = tune.get_context().get_trial_resources().required_resources
    # The GPU share Ray gave, if TensorFlow sees a GPU at all: a node that declares GPUs it does
    # not have (or a driver-less one) trains in float32 on its CPUs, as any CPU trial.
    gpus = resources.get("GPU", 0) if visible_gpus() else 0
    settings = tensorflow_settings(resources.get("CPU", 1), gpus,
                                   config.get("mixed_precision", True))
    configure_tensorflow(settings)
    if runtime.get_actor_id() is not None:  # a process of the trial's own, not a test's
        staging.remove_orphans()  # what killed trial processes left in the temporary directory
        exit_quietly_on_signals()
    freeze_imports()
    new_session(settings["policy"], config["seed"])
    return {"node_id": runtime.get_node_id(),  # which machine of a cluster trained it
            "devices": os.environ.get("CUDA_VISIBLE_DEVICES", ""),  # Ray's, for this trial
            "precision": settings["policy"],
            "threads": threads()}  # in effect: a reused actor keeps its first setting


def _model_and_state(config: dict, data: Data) -> tuple:
    """(model, state, best weights): restored from the checkpoint Tune gives a retried or resumed
    trial, else a new trial's."""
    from ray import tune

    if checkpoint := tune.get_checkpoint():
        with checkpoint.as_directory() as folder:
            restored = _resume(Path(folder), config, data)
        if restored is None:  # this trial fails (retried, then marked); the search goes on
            raise RuntimeError(f"no checkpoint of this trial loads (newest: {folder})")
        return restored
    model = compiled_model(config, data)
    state = {"epoch": 0, "best_val_accuracy": -1.0, "best_monitor": math.inf, "waited": 0}
    return model, state, model.get_weights()


def train(config: dict, *, data: Data, max_epochs: int, rungs: tuple[int, ...] = (),
          checkpoint_every: int | None = None, callbacks: Sequence = ()) -> None:
    """Train one configuration as a Ray Tune trial: one `fit` over the epochs it has left, which
    `callbacks.Report` reports to Tune and ends early (see the module's docstring). Two-phase
    fine-tuning (`phase1_epochs`) fits phase 1's epochs, recompiles (phases.start_phase2), then
    fits the rest. `callbacks`: more Keras callbacks, called at each epoch's end before the
    report (the tests' fault drills, tests/drills.py)."""
    from trainables import phases, pipeline
    from trainables.callbacks import Report
    from trainables.evaluate import final_test

    facts = start_trial(config)
    if "fold" in config:  # a cross-validation study: this trial validates on one fold
        data = cv_fold(data, config["folds"], config["fold"])
    model, state, best_weights = _model_and_state(config, data)
    train_ds = pipeline.train_batches(data, config)
    report = Report(config, state, best_weights, facts,
                    val=pipeline.eval_batches(data, "val", config),
                    test=lambda model: final_test(model, data, config), save=_save,
                    max_epochs=max_epochs, rungs=rungs, checkpoint_every=checkpoint_every)
    fit = functools.partial(model.fit, train_ds, callbacks=[*callbacks, report], verbose=0,
                            shuffle=False)  # train_ds shuffles itself
    phase1 = config.get("phase1_epochs")
    if phase1 is not None and state["epoch"] < phase1 < max_epochs:
        fit(initial_epoch=state["epoch"], epochs=phase1)
        if model.stop_training:  # the trial ended in phase 1: diverged, or out of patience
            return
    if state["epoch"] == phase1 < max_epochs:  # unfreeze the backbone's top, recompile
        phases.start_phase2(model, config)
    fit(initial_epoch=state["epoch"], epochs=max_epochs)
