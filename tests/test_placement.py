"""Placement on CPUs and GPUs: the share each trial asks for and what it applies to TensorFlow.

CI has no GPU, so the GPU path is checked through the same functions a GPU trial calls; measured
GPU runs are recorded in docs/benchmarks.md when a machine with one is lent."""

import keras
import numpy as np
import pytest

import run_search
import search_spaces
from driver import cluster
from driver.plan import plan
from driver.settings import Settings, UsageError
from search_spaces._common import SMOKE_BUDGET
from trainables.train import _restore, _save, compiled_model, tensorflow_settings


def test_cpu_trial_gets_its_threads_and_no_gpu_settings():
    assert tensorflow_settings(1, 0) == {"threads": 1, "memory_growth": False, "policy": "float32"}
    assert tensorflow_settings(4, 0)["threads"] == 4


def test_gpu_trial_grows_memory_and_uses_mixed_precision_unless_told_not_to():
    shared = tensorflow_settings(2, 0.25)
    assert shared == {"threads": 2, "memory_growth": True, "policy": "mixed_float16"}
    assert tensorflow_settings(2, 1.0, mixed_precision=False)["policy"] == "float32"


@pytest.mark.parametrize("space, gpus, requested, expected", [
    ("basenet", 0, None, 0.0),      # no GPU: CPU trials
    ("basenet", 1, None, 0.25),     # small CNNs: four trials share a GPU
    ("basenet", 2, 0.5, 0.5),       # the flag wins, fractions allowed
    ("basenet", 1, 0, 0.0),         # and can force CPU
])
def test_gpu_share_per_trial(space, gpus, requested, expected):
    share = search_spaces.load(space).gpu
    assert cluster.gpu_share(share, requested, gpus) == expected


@pytest.mark.parametrize("space, share", [("basenet", 0.25), ("resnet_head", 1.0)])
def test_plan_on_a_machine_with_gpus_gives_small_cnns_a_quarter_and_transfer_a_whole_gpu(
        space, share, monkeypatch, tmp_path):
    monkeypatch.setattr(cluster, "local_gpus", lambda: 2)
    settings, _ = plan(run_search.parse_args(["--space", space, "--storage-path", str(tmp_path)]))
    assert settings.gpus_per_trial == share
    monkeypatch.setattr(cluster, "local_gpus", lambda: 0)
    settings, _ = plan(run_search.parse_args(["--space", space, "--storage-path", str(tmp_path)]))
    assert settings.gpus_per_trial == 0.0


@pytest.mark.parametrize("requested, share, nodes, most, expected", [
    (None, 0.0, [{"CPU": 16, "GPU": 0}], None, 1),   # CPU trials: one core each
    (None, 0.25, [{"CPU": 16, "GPU": 1}], None, 4),  # 4 trials share the GPU and the 16 cores
    (None, 1.0, [{"CPU": 16, "GPU": 1}], None, 16),  # one transfer trial: every core
    (None, 0.25, [{"CPU": 8, "GPU": 2}], None, 1),   # 8 trials at once on 8 cores
    (None, 0.25, [{"CPU": 16, "GPU": 1}], 2, 8),     # --max-concurrent 2: two trials share them
    (None, 0.3, [{"CPU": 12, "GPU": 1}], None, 4),   # 3 trials fit at 0.3 (not 3.33)
    (None, 2.0, [{"CPU": 32, "GPU": 4}], None, 16),  # two GPUs per trial: 2 trials at once
    # a cluster: the GPU node that gives the fewest sets it, CPU-only nodes do not count
    (None, 0.5, [{"CPU": 0}, {"CPU": 64}, {"CPU": 16, "GPU": 1}, {"CPU": 64, "GPU": 4}], None, 8),
    (None, 0.5, [{"CPU": 64, "GPU": 0}], None, 1),   # no node can hold one: check_fits says so
    (None, 0.25, [{"CPU": 2, "GPU": 1}], None, 1),   # fewer cores than trials: at least 1
    (3, 0.25, [{"CPU": 16, "GPU": 1}], None, 3),     # the flag wins
    (2, 0.0, [{"CPU": 16, "GPU": 0}], None, 2),
])
def test_cpus_per_trial_share_a_gpu_nodes_cores_among_its_trials(requested, share, nodes, most,
                                                                  expected):
    assert cluster.cpu_share(requested, share, nodes, most) == expected


def test_plan_leaves_the_cpus_of_a_trial_to_the_cluster_unless_given(monkeypatch, tmp_path):
    monkeypatch.setattr(cluster, "local_gpus", lambda: 1)
    args = ["--space", "basenet", "--storage-path", str(tmp_path)]
    settings, _ = plan(run_search.parse_args(args))
    assert settings.cpus_per_trial is None  # cluster.fit derives it from what Ray counts
    settings, _ = plan(run_search.parse_args([*args, "--cpus-per-trial", "1"]))
    assert settings.cpus_per_trial == 1


def test_asking_for_more_gpus_than_present_is_a_usage_error():
    with pytest.raises(UsageError, match="this machine has 1 GPU"):
        cluster.gpu_share(0.25, 2, 1)


def test_trial_config_carries_mixed_precision_only_with_a_gpu_share():
    base = Settings(space="basenet", dataset="digits", budget=SMOKE_BUDGET, storage="/r", name="x")
    assert "mixed_precision" not in base.trial_constants()
    on_gpu = Settings(**{**vars(base), "gpus_per_trial": 0.5})
    assert on_gpu.trial_constants()["mixed_precision"] is True


def test_a_trial_session_keeps_its_precision_policy(digits):
    """Keras's clear_session resets the dtype policy to float32: a trial's session sets the
    policy after it, so a GPU trial's layers compute in float16 (they did not, before)."""
    from trainables.train import built_model, new_session
    config = {"model": "basenet", "optimizer": "adam", "learning_rate": 1e-3, "batch_size": 32,
              "dropout": 0.0, "seed": 0}
    try:
        new_session("mixed_float16", 0)
        assert built_model(config, digits).layers[1].compute_dtype == "float16"
        new_session("float32", 0)
        assert built_model(config, digits).layers[1].compute_dtype == "float32"
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_mixed_precision_model_trains_keeps_float32_outputs_and_checkpoints(tmp_path, digits):
    data = digits
    config = {"model": "basenet", "optimizer": "adam", "learning_rate": 1e-3, "batch_size": 32,
              "dropout": 0.0, "seed": 0}
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = compiled_model(config, data)
        assert model.layers[1].compute_dtype == "float16"
        assert model.output.dtype == "float32"  # the softmax stays float32
        history = model.fit(data.x_train[:64] / 255.0, data.y_train[:64], epochs=1, verbose=0)
        assert np.isfinite(history.history["loss"][0])
        _save(tmp_path, model, model.get_weights(), {"epoch": 1})
        restored = compiled_model(config, data)
        state, best = _restore(tmp_path, restored, config)
        for a, b in zip(restored.get_weights(), model.get_weights()):
            np.testing.assert_array_equal(a, b)
    finally:
        keras.mixed_precision.set_global_policy("float32")


