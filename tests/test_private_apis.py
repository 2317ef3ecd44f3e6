"""Private names of Keras, TensorFlow, Ray and Optuna: at most five, all in
trainables/private_apis.py, each still needed and still meaning what it did with the pinned version
it was checked against; none anywhere else in the product code (an AST walk); and the public ways
that replaced the others give what the private names gave."""

from __future__ import annotations

import ast
import gc
import inspect
import logging
import os
import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from trainables import private_apis

ROOT = Path(__file__).resolve().parents[1]
PRODUCT = ["run_search.py", "driver", "trainables", "analysis", "search_spaces", "cluster"]
OURS = {"run_search", "driver", "trainables", "analysis", "search_spaces", "cluster"}
HOME = "trainables/private_apis.py"
# The versions each private name was checked against; a new pin fails
# test_the_private_names_were_checked_against_the_pinned_versions until they are checked again.
CHECKED_AGAINST = {"keras": "3.15.1", "tensorflow": "2.21.0", "ray": "2.60.0", "optuna": "5.0.0"}
# What the walk finds in HOME (the StorageContext fields of point_trial_at carry no mark it sees).
EXPECTED_AT_HOME = {"_all_reduce_sum_gradients", "_local_tuner",
                    "ray._private.authentication.authentication_token_setup",
                    "RAY_JOB_CONFIG_JSON_ENV_VAR"}
# Underscored names of the standard library that it documents as public.
DOCUMENTED = {"_exit"}  # os._exit
# Internal flags of Ray (not its documented RAY_* variables) are RAY_ and a lowercase config name.
RAY_INTERNAL_FLAG = re.compile(r"^RAY_[a-z]")
PRIVATE_TEXT = re.compile(r"(^|\.)_(private|internal)(\.|$)|^keras\.src(\.|$)|"
                          r"^tensorflow\.python(\.|$)")
INTERNAL_VARIABLES = {"RAY_JOB_CONFIG_JSON_ENV_VAR"}


def product_files() -> list[Path]:
    files = []
    for entry in PRODUCT:
        path = ROOT / entry
        files += [path] if path.is_file() else sorted(path.rglob("*.py"))
    return files


def _private_module(name: str) -> bool:
    parts = name.split(".")
    return parts[0] not in OURS and (
        any(p.startswith("_") and not p.startswith("__") for p in parts)
        or bool(PRIVATE_TEXT.search(name)))


def private_names(source: str) -> list[tuple[int, str]]:
    """(line, name) of every private name of another library in `source`: an underscored
    attribute of anything but self or cls, an underscored name given to getattr / setattr /
    hasattr, an import of a private module, a string naming a private module (a logger) or
    one of Ray's internal flags."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") \
                and not node.attr.startswith("__") and node.attr not in DOCUMENTED \
                and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")):
            found.append((node.lineno, node.attr))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                and node.func.id in ("getattr", "setattr", "hasattr") and len(node.args) > 1 \
                and isinstance(node.args[1], ast.Constant) \
                and str(node.args[1].value).startswith("_"):
            found.append((node.lineno, node.args[1].value))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if _private_module(a.name)]
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            found += [(node.lineno, n) for n in names[:1] if _private_module(n)]
            if node.module.split(".")[0] not in OURS:
                found += [(node.lineno, a.name) for a in node.names
                          if a.name.startswith("_") and not a.name.startswith("__")]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and (
                PRIVATE_TEXT.search(node.value) and " " not in node.value
                or RAY_INTERNAL_FLAG.match(node.value) or node.value in INTERNAL_VARIABLES):
            found.append((node.lineno, node.value))
    return found


def test_no_private_name_of_another_library_outside_its_one_module():
    wrong = []
    for path in product_files():
        where = path.relative_to(ROOT).as_posix()
        if where == HOME:
            continue
        wrong += [f"{where}:{line} {name}" for line, name in private_names(path.read_text())]
    assert not wrong, (f"private names of other libraries belong in {HOME} (with why, a public "
                       f"fallback and a test here), or should go: " + ", ".join(wrong))


def test_the_one_module_holds_at_most_five():
    found = {name for _, name in private_names((ROOT / HOME).read_text())}
    assert found == EXPECTED_AT_HOME
    assert len(EXPECTED_AT_HOME | {"StorageContext's experiment folder"}) <= 5


def test_the_walk_sees_each_kind_of_private_name():
    source = "\n".join([
        "import ray._private.services", "from keras.src.random import draw_seed",
        "from optuna.distributions import _convert", "x = model._symbolic_build()",
        "y = getattr(tuner, '_local_tuner', None)", "os._exit(1)", "self._pool = 1",
        "log = logging.getLogger('ray.train._internal.storage')",
        "env = {'RAY_prestart_worker_first_driver': '0', 'RAY_ADDRESS': 'auto'}",
        "from analysis.results import _number",
        "print('the ray._private module, said in a sentence')"])
    assert sorted(private_names(source)) == [
        (1, "ray._private.services"), (2, "keras.src.random"), (3, "_convert"),
        (4, "_symbolic_build"), (5, "_local_tuner"), (8, "ray.train._internal.storage"),
        (9, "RAY_prestart_worker_first_driver")]


def test_the_private_names_were_checked_against_the_pinned_versions():
    pins = dict(re.findall(r"^([\w-]+)(?:\[[^\]]*\])?==([^\s#]+)",
                           (ROOT / "requirements.txt").read_text(), re.M))
    assert {name: pins[name] for name in CHECKED_AGAINST} == CHECKED_AGAINST, (
        "a pin changed: check every name in trainables/private_apis.py against the new version "
        "(this file's tests, then the slow ones each names), then update CHECKED_AGAINST")


# --- 1. Keras's all-reduce over one replica -------------------------------------------------------

def _train_steps_alive() -> int:
    from tensorflow.python.framework.func_graph import FuncGraph
    gc.collect()
    return sum(isinstance(o, FuncGraph) and o.name == "one_step_on_data"
               for o in gc.get_objects())


def test_keras_still_leaks_a_finished_trials_train_step_without_the_workaround(digits):
    """Keras 3.15.1 with its own all-reduce keeps a dropped model's train step alive after
    clear_session (the workaround frees it: tests/test_speed.py). When this fails, Keras frees it
    itself and sum_gradients_only_under_a_strategy can go."""
    import keras

    from trainables import models, optimizers, pipeline
    config = {"model": "fashion_mlp", "optimizer": "adam", "learning_rate": 1e-3,
              "batch_size": 256, "dropout": 0.2, "seed": 0}
    keras.backend.clear_session()
    before = _train_steps_alive()
    model = models.build(config, models.input_shape("fashion_mlp", digits.input_shape),
                         digits.num_classes)
    model.compile(optimizer=optimizers.make("adam", 1e-3),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(pipeline.train_batches(digits, config), epochs=1, verbose=0)
    del model
    keras.backend.clear_session()
    assert _train_steps_alive() > before


def test_without_the_all_reduce_name_the_optimizer_is_left_as_keras_made_it():
    plain = SimpleNamespace(apply=lambda grads: grads)
    assert private_apis.sum_gradients_only_under_a_strategy(plain) is plain
    assert vars(plain).keys() == {"apply"}


# --- 2. The restored Tuner's RunConfig ---------------------------------------------------------------

def test_tuner_restore_still_takes_no_run_config_and_the_tuner_holds_one(tmp_path):
    """When Tuner.restore takes a RunConfig, restored_run_config can go."""
    from ray import tune
    assert "run_config" not in inspect.signature(tune.Tuner.restore).parameters
    run_config = tune.RunConfig(name="x", storage_path=str(tmp_path), verbose=0)
    tuner = tune.Tuner(lambda config: None, run_config=run_config)
    held = private_apis.restored_run_config(tuner)
    assert isinstance(held, tune.RunConfig) and (held.name, held.verbose) == ("x", 0)
    assert private_apis.restored_run_config(object()) is None  # the name gone: Ray's own


# --- 3. A trial's experiment folder ------------------------------------------------------------------

def test_a_trials_storage_is_pointed_at_the_experiment_where_it_is_now(tmp_path):
    """The two fields still make the folder a trial writes to (Ray 2.60.0's StorageContext). The
    copied-experiment drill of tests/test_faults.py (slow) checks the whole resume; whether Ray
    still needs the fix is checked again at a new pin (CHECKED_AGAINST)."""
    from ray.train._internal.storage import StorageContext
    storage = StorageContext(storage_path=str(tmp_path / "before"), experiment_dir_name="search",
                             trial_dir_name="trial_1")
    private_apis.point_trial_at(SimpleNamespace(storage=storage), tmp_path / "after" / "moved")
    assert Path(storage.trial_fs_path) == tmp_path / "after" / "moved" / "trial_1"
    private_apis.point_trial_at(SimpleNamespace(), tmp_path)  # no storage: left as it is


# --- 4. Ray's token-authentication logger -----------------------------------------------------------

def test_rays_token_warning_comes_from_the_logger_named_and_is_quieted():
    from ray._private.authentication import authentication_token_setup as setup
    logger = logging.getLogger(private_apis.TOKEN_AUTH_LOGGER)
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger.addHandler(handler)
    level = logger.level
    try:
        setup._warn_token_auth_enabled()
        assert [r.name for r in records] == [private_apis.TOKEN_AUTH_LOGGER]
        assert "Token authentication is enabled" in records[0].getMessage()
        private_apis.quiet_token_auth_warning()
        setup._warn_token_auth_enabled()
        assert len(records) == 1
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


# --- 5. Ray's job-entrypoint variable -------------------------------------------------------------

def test_rays_job_supervisor_still_sets_the_entrypoint_variable():
    from ray._private.runtime_env import constants
    from ray.dashboard.modules.job.job_supervisor import JobSupervisor
    assert constants.RAY_JOB_CONFIG_JSON_ENV_VAR == private_apis.JOB_ENTRYPOINT_VARIABLE
    assert "RAY_JOB_CONFIG_JSON_ENV_VAR" in inspect.getsource(JobSupervisor._get_driver_env_vars)
    assert private_apis.in_a_ray_job({private_apis.JOB_ENTRYPOINT_VARIABLE: "{}"})
    assert not private_apis.in_a_ray_job({})


def test_a_relative_storage_path_inside_a_ray_job_is_refused(run_search_main, monkeypatch,
                                                            tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(private_apis.JOB_ENTRYPOINT_VARIABLE, "{}")
    code, error = run_search_main("--space", "basenet", "--dataset", "digits",
                                  "--storage-path", "results")
    assert code == 2 and "is relative inside a Ray job" in error, error


# --- The public ways that replaced private names ------------------------------------------------

def test_optunas_public_check_of_a_value_agrees_with_its_private_one():
    from optuna.distributions import (CategoricalDistribution, FloatDistribution,
                                      IntDistribution)

    from analysis.optuna_study import contains
    cases = [(FloatDistribution(1e-5, 1.0, log=True), [1e-5, 0.5, 1.0, 0.0, 2.0, "x"]),
             (FloatDistribution(0.0, 0.5, step=0.1), [0.0, 0.3, 0.35, 0.6]),
             (IntDistribution(16, 256, log=True), [16, 64, 300, 8]),
             (IntDistribution(1, 9, step=2), [1, 3, 4, 9, 11]),
             (CategoricalDistribution(["adam", "sgd", None]), ["adam", None, "lion", 3])]
    for dist, values in cases:
        for value in values:
            try:
                private = dist._contains(dist.to_internal_repr(value))
            except (ValueError, TypeError):
                private = False
            assert contains(dist, value) == private, (dist, value)


@pytest.mark.parametrize("visible", [None, "", "NoDevFiles", "0", "0,1,2,3,4,5,6,7,8"])
def test_local_gpus_counts_as_ray_counts(visible, monkeypatch):
    """As Ray 2.60's resource detection counts a node's GPUs (NVML, capped by
    CUDA_VISIBLE_DEVICES) on this machine."""
    from ray._private.accelerators import NvidiaGPUAcceleratorManager as nvidia

    from driver import cluster
    if visible is None:
        monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    else:
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    ray_count = nvidia.get_current_node_num_accelerators()
    ids = nvidia.get_current_process_visible_accelerator_ids()
    if ids is not None:
        ray_count = min(ray_count, len(ids))
    assert cluster.local_gpus(os.environ) == ray_count
