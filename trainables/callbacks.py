"""Trial layer: the Keras callback through which a trial's `fit` reports to Ray Tune, in the manner
of Ray Tune's own Keras example.

After every epoch `Report` validates the weights the trial keeps (with `ema_epochs`, the weight
average its optimizer keeps: optimizers.averaged), keeps the best of them (by `val_accuracy`, the
later epoch of a tie), counts the epochs without progress of `monitor` (within-trial patience; ASHA
still decides across trials), and reports the epoch with `tune.report`, with a checkpoint where the
policy asks for one: at ASHA's `rungs`, at the trial's last epoch, and otherwise every
`checkpoint_every` epochs or, by default, once CHECKPOINT_PERIOD_S have passed since the last one.
It stops `fit` when the trial is done: its last epoch, its patience run out, or a non-finite loss
(`diverged: True`). The last result of a trial that finishes also holds `test_loss` and
`test_accuracy`, measured with its best weights, and its last checkpoint their test-set class
probabilities (evaluate.PROBABILITIES).
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Callable

import keras
import numpy as np
from ray import tune

from trainables import optimizers, staging
from trainables.evaluate import PROBABILITIES, scores

# By default, the most of a trial's training that a crash, a retry or a resume repeats. A BaseNet
# checkpoint costs its trial a few percent of a digits epoch, and the driver an experiment
# snapshot every second one (docs/benchmarks.md, "Mechanisms in the code").
CHECKPOINT_PERIOD_S = 30.0


class Report(keras.callbacks.Callback):
    """Reports each epoch of one trial to Tune (see the module's docstring).

    `state` (epochs done, best val_accuracy and its epoch, best `monitor` value, epochs waited)
    and `best_weights` are the trial's, new or restored from its checkpoint; `save(folder, model,
    best_weights, state)` writes a checkpoint's files (train._save). `facts` are reported
    unchanged every epoch (node, devices, precision, threads). `val`: the val split's batches;
    `test(model)`: the model's test scores and test-set class probabilities."""

    def __init__(self, config: dict, state: dict, best_weights: list, facts: dict, *, val,
                 test: Callable, save: Callable, max_epochs: int, rungs: tuple[int, ...] = (),
                 checkpoint_every: int | None = None):
        super().__init__()
        self.state, self.best_weights, self.facts = state, best_weights, facts
        self.val, self.test, self.save = val, test, save
        self.max_epochs, self.rungs, self.checkpoint_every = max_epochs, rungs, checkpoint_every
        self.patience = config.get("patience", 0)  # 0: off
        self.monitor = config.get("monitor", "val_loss")
        self.sign = 1.0 if self.monitor.endswith("loss") else -1.0  # lower is better after it
        self.saved = time.monotonic()
        self.probabilities = None  # the test set's, once tested

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        epoch += 1  # Keras counts from 0; the reports count epochs done
        metrics = {name: float(value) for name, value in logs.items()}  # loss, accuracy
        metrics |= {"epoch": epoch, "diverged": not math.isfinite(metrics["loss"]), **self.facts,
                    "params": self.model.count_params()}
        self.state["epoch"] = epoch
        with optimizers.averaged(self.model):  # the weights validated, kept and tested
            metrics |= scores(self.model, self.val, "val")
            finished = self._keep_best(metrics, epoch)
            if finished and not metrics["diverged"]:
                metrics |= self._tested()
        if finished or metrics["diverged"] or self._checkpoint_due(epoch):
            self._report_with_checkpoint(metrics, epoch)
        else:
            tune.report(metrics)
        if finished or metrics["diverged"]:
            self.model.stop_training = True

    def _keep_best(self, metrics: dict, epoch: int) -> bool:
        """Keep the weights if they are the best yet, count the epochs without progress; whether
        the trial is finished (its last epoch, or its patience run out)."""
        state = self.state
        if metrics["val_accuracy"] >= state["best_val_accuracy"]:  # a tie: the later epoch
            state["best_val_accuracy"], state["best_epoch"] = metrics["val_accuracy"], epoch
            self.best_weights = self.model.get_weights()
        if self.sign * metrics[self.monitor] < state["best_monitor"]:
            state["best_monitor"], state["waited"] = self.sign * metrics[self.monitor], 0
        else:
            state["waited"] += 1
        return epoch == self.max_epochs or bool(self.patience and state["waited"] >= self.patience)

    def _tested(self) -> dict:
        """The test scores of the best weights (their probabilities kept for the checkpoint); the
        model's weights stay as they were."""
        evaluated = self.model.get_weights()
        self.model.set_weights(self.best_weights)
        try:
            scores, self.probabilities = self.test(self.model)
            return scores
        finally:
            self.model.set_weights(evaluated)

    def _checkpoint_due(self, epoch: int) -> bool:
        if epoch in self.rungs:  # where ASHA may stop the trial
            return True
        if self.checkpoint_every:
            return epoch % self.checkpoint_every == 0
        return time.monotonic() - self.saved >= CHECKPOINT_PERIOD_S

    def _report_with_checkpoint(self, metrics: dict, epoch: int) -> None:
        self.saved = time.monotonic()
        try:
            with staging.folder() as folder:
                self.save(Path(folder), self.model, self.best_weights, self.state)
                if self.probabilities is not None:
                    np.save(Path(folder) / PROBABILITIES, self.probabilities)
                tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(folder))
        except OSError as e:  # a full disk, a read-only or vanished storage folder
            raise RuntimeError(
                f"cannot write the checkpoint of epoch {epoch} ({e.strerror or e}: "
                f"{e.filename or 'the storage folder'}); free space or make the folder "
                f"writable, then continue the search with --resume") from None
