"""Fault drills for the tests: Keras callbacks that break a trial once as a real fault would, and
`train_with_faults`, the suite's trainable with the drills its config names.

Ray's workers import this module as `tests.drills` (a namespace package: Ray puts the driver's
working directory, the repository root, on their path), so a test hands Tune
`tune.with_parameters(train_with_faults, ...)` after `from tests.drills import train_with_faults`.
A drill fires only in a trial that did not start from a checkpoint: its retry (or the resumed
search) goes on from the last checkpoint.
"""

from __future__ import annotations

import tempfile
import time

import keras
from ray import tune

from trainables.train import train


class FailOnce(keras.callbacks.Callback):
    """Raise at the end of epoch `epoch`, before it is reported: the trial fails there."""

    def __init__(self, epoch: int):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == self.epoch:
            raise RuntimeError(f"injected fault at epoch {self.epoch} (fail_once_at_epoch)")


class StorageVanishes(keras.callbacks.Callback):
    """At the end of epoch `epoch`, before its checkpoint is written, point the temporary
    directory (where the trial writes a checkpoint first: trainables/staging.py) at a folder that
    does not exist, as a storage folder that vanished: writing that checkpoint fails with a real
    OSError. `train_with_faults` restores the temporary directory as the trial ends."""

    def __init__(self, epoch: int, gone: str):
        super().__init__()
        self.epoch, self.gone = epoch, gone

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == self.epoch:
            tempfile.tempdir = self.gone


def train_with_faults(config: dict, **kwargs) -> None:
    """`train`, with the drills `config` names: `fail_once_at_epoch` (FailOnce),
    `fail_write_once_at_epoch` (StorageVanishes); none in a trial that starts from a checkpoint.
    That is asked before it trains: Tune's checkpoint of a trial is the newest it reported.
    `slow_stop_s`: the trial's thread takes that long to end once Tune stops the trial, as on a
    loaded machine."""
    drills = []
    if tune.get_checkpoint() is None:  # not a retry, nor a resumed search
        if config.get("fail_once_at_epoch"):
            drills.append(FailOnce(config["fail_once_at_epoch"]))
        if config.get("fail_write_once_at_epoch"):
            drills.append(StorageVanishes(config["fail_write_once_at_epoch"],
                                          f"{tempfile.gettempdir()}/vanished-storage"))
    kept = tempfile.tempdir
    try:
        train(config, callbacks=drills, **kwargs)
    except SystemExit:  # how Tune ends the thread of a trial it stopped (ASHA, a stopper)
        time.sleep(config.get("slow_stop_s", 0))
        raise
    finally:
        tempfile.tempdir = kept
