"""A trial is one `fit` whose callback reports each epoch: what it reports, keeps, tests and
checkpoints is what a plain loop of one `fit` per epoch gives on the same seed (weight average,
best weights, patience, NaN, phase 2 of fine-tuning, a resumed trial), bit for bit.

`train` runs in this process with Ray's per-trial API replaced by stand-ins (conftest's
`trial_session`): no Ray process starts."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from trainables import optimizers, phases, pipeline
from trainables.data import Data
from trainables.evaluate import PROBABILITIES, final_test, scores, scores_on_test
from trainables.train import _resume, compiled_model, load_weights, new_session, train

BASE = {"model": "basenet", "optimizer": "rmsprop", "learning_rate": 1e-2, "batch_size": 64,
        "dropout": 0.1, "seed": 0}


def reference(config: dict, data: Data, max_epochs: int,
              checkpoint: Path | None = None) -> tuple[list[dict], list, dict]:
    """The trial as a plain loop of one `fit` per epoch, from the start or from `checkpoint`:
    validate the weights kept (the average, with ema_epochs), keep the best (a tie: the later
    epoch), stop at a non-finite loss or when `monitor` has not improved for `patience` epochs,
    test the best weights at the end. (per-epoch metrics, best weights, test scores or {} after
    a NaN)."""
    new_session("float32", config["seed"])
    if checkpoint is None:
        model, best, state = compiled_model(config, data), None, {
            "epoch": 0, "best_val_accuracy": -1.0, "best_monitor": math.inf, "waited": 0}
    else:
        model, state, best = _resume(checkpoint, config, data)
    best_accuracy, best_monitor, waited = (state["best_val_accuracy"], state["best_monitor"],
                                           state["waited"])
    train_ds = pipeline.train_batches(data, config)
    val_ds = pipeline.eval_batches(data, "val", config)
    monitor, patience = config.get("monitor", "val_loss"), config.get("patience", 0)
    sign = 1.0 if monitor.endswith("loss") else -1.0
    rows = []
    for epoch in range(state["epoch"], max_epochs):
        if epoch == config.get("phase1_epochs"):
            phases.start_phase2(model, config)
        history = model.fit(train_ds, initial_epoch=epoch, epochs=epoch + 1, verbose=0,
                            shuffle=False).history
        row = {"epoch": epoch + 1} | {name: float(values[-1]) for name, values in history.items()}
        with optimizers.averaged(model):
            row |= scores(model, val_ds, "val")
            if row["val_accuracy"] >= best_accuracy:
                best_accuracy, best = row["val_accuracy"], model.get_weights()
        rows.append(row)
        if sign * row[monitor] < best_monitor:
            best_monitor, waited = sign * row[monitor], 0
        else:
            waited += 1
        if not math.isfinite(row["loss"]):
            return rows, best, {}
        if patience and waited >= patience:
            break
    model.set_weights(best)
    return rows, best, final_test(model, data, config)[0]


def _same(ours: list, theirs: list) -> None:
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        np.testing.assert_array_equal(a, b)


def _check_against_reference(session, config: dict, data: Data, max_epochs: int,
                             rungs: tuple = (), every: int | None = None,
                             start: Path | None = None) -> list[dict]:
    """The trial's reports, best weights and test scores are those of the reference loop (from
    the checkpoint `start`); it wrote a checkpoint at `rungs`, every `every` epochs and at its
    last. Its reported metrics."""
    rows, best, test_scores = reference(config, data, max_epochs, start)
    reported = [metrics for metrics, _ in session.reports]
    np.testing.assert_equal([{k: m[k] for k in row} for m, row in zip(reported, rows)], rows)
    assert len(reported) == len(rows)
    for metrics, row in zip(reported, rows):
        assert metrics["diverged"] == (not math.isfinite(row["loss"]))
        assert {"node_id", "devices", "precision", "threads", "params"} <= set(metrics)
    assert all("test_accuracy" not in m for m in reported[:-1])
    assert {k: v for k, v in reported[-1].items() if k.startswith("test_")} == test_scores
    saved = [(m["epoch"], folder) for m, folder in session.reports if folder is not None]
    epochs = [row["epoch"] for row in rows]
    assert [epoch for epoch, _ in saved] == [
        e for e in epochs if e in rungs or (every and e % every == 0) or e == epochs[-1]]
    assert json.loads((saved[-1][1] / "state.json").read_text())["epoch"] == rows[-1]["epoch"]
    assert not any((folder / PROBABILITIES).exists() for _, folder in saved[:-1])
    if test_scores:
        _same(load_weights(saved[-1][1] / "best.npz"), best)
        kept = np.load(saved[-1][1] / PROBABILITIES)  # the test set's, for the driver's ensemble
        assert scores_on_test(kept, data.y_test) == test_scores
    return reported


@pytest.fixture(scope="module")
def tiny() -> Data:
    """Random 32x32 colour images of 5 classes, for a MobileNet fine-tuned in two phases."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (24, 32, 32, 3), dtype=np.uint8)
    return Data("tiny", *(images, np.arange(24) % 5) * 3, 5)


def test_weight_average_best_weights_patience_and_rung_checkpoints_are_the_loops(
        trial_session, digits):
    config = {**BASE, "ema_epochs": 0.5, "patience": 1, "monitor": "val_accuracy"}
    train(config, data=digits, max_epochs=10, rungs=(1, 3))
    reported = _check_against_reference(trial_session, config, digits, 10, rungs=(1, 3))
    assert len(reported) < 10  # val_accuracy stalled (at 5-6 epochs here): patience ended it


def test_a_non_finite_loss_ends_the_trial_as_the_loop_does(trial_session, digits):
    """In phase 1 too: phase 2 of a BaseNet (no backbone to unfreeze) would raise."""
    config = {**BASE, "optimizer": "adam", "learning_rate": 1e9, "phase1_epochs": 2}
    train(config, data=digits, max_epochs=3, rungs=(2,))
    reported = _check_against_reference(trial_session, config, digits, 3, rungs=(2,))
    assert reported[-1]["diverged"] and "test_accuracy" not in reported[-1]


@pytest.mark.slow
def test_a_resumed_trial_fits_from_its_checkpoints_epoch_as_the_loop_does(trial_session, digits):
    """Every second epoch checkpointed; the trial restarted from epoch 2's checkpoint reports
    epochs 3 and 4 as the loop restarted from it does."""
    from ray import tune

    config = {**BASE, "optimizer": "sgd", "learning_rate": 0.05}
    train(config, data=digits, max_epochs=4, checkpoint_every=2)
    _check_against_reference(trial_session, config, digits, 4, every=2)
    second = trial_session.reports[1][1]
    trial_session.reports.clear()
    trial_session.checkpoint = tune.Checkpoint.from_directory(second)
    train(config, data=digits, max_epochs=4, checkpoint_every=2)
    _check_against_reference(trial_session, config, digits, 4, every=2, start=second)


@pytest.mark.slow
def test_two_phase_fine_tuning_with_a_weight_average_is_the_loops(trial_session, tiny):
    """Phase 1 is one `fit`, phase 2 another after the recompile: phase 2 starts from the
    weights phase 1 trained (not from their average, which Keras would write into the model as
    a `fit` ends), as in the loop of one `fit` per epoch."""
    config = {"model": "mobilenet_cifar10", "init": "finetune", "weights": "none",
              "phase1_epochs": 1, "unfreeze": 10, "optimizer": "sgd", "learning_rate": 0.01,
              "batch_size": 8, "dropout": 0.1, "seed": 0, "ema_epochs": 1}
    train(config, data=tiny, max_epochs=3, checkpoint_every=2)
    _check_against_reference(trial_session, config, tiny, 3, every=2)


def test_the_driver_reads_only_test_probabilities_of_the_test_set(tmp_path):
    """The ensemble takes a checkpoint's kept probabilities only when they load and are one row
    per test image and one column per class; else the tester predicts them again."""
    from driver.best import kept_probabilities

    assert kept_probabilities(tmp_path, (4, 3)) is None  # none kept (a trial ASHA stopped)
    kept = np.random.default_rng(0).random((4, 3), dtype=np.float32)
    np.save(tmp_path / PROBABILITIES, kept)
    np.testing.assert_array_equal(kept_probabilities(tmp_path, (4, 3)), kept)
    assert kept_probabilities(tmp_path, (5, 3)) is None  # another test set's
    (tmp_path / PROBABILITIES).write_bytes((tmp_path / PROBABILITIES).read_bytes()[:-8])
    assert kept_probabilities(tmp_path, (4, 3)) is None  # truncated by a full disk
