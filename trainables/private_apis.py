"""The suite's only uses of private names of Keras, TensorFlow, Ray and Optuna: five, each here.

Each is used because the pinned versions (requirements.txt) offer no public way to do what it
does; each falls back to the libraries' public behaviour (slower or plainer, never wrong) when the
name is gone. tests/test_private_apis.py checks every one against the pinned version and fails when
that version's behaviour changes, so that a workaround no longer needed can go; it also fails when
a private name of another library appears anywhere else in the product code.

This module is in the bottom layer (trainables) so that every layer that needs it may import it;
it imports Keras, TensorFlow and Ray only inside its functions.
"""

from __future__ import annotations

import logging
from pathlib import Path

# 1. Keras 3.15's TensorFlow optimizer: `_all_reduce_sum_gradients`.
#
# It all-reduces the gradients in every trace, also over the one replica of no distribution
# strategy. That all-reduce is a graph-mode tf.custom_gradient, which registers a gradient function
# in TensorFlow's process-wide gradient registry and never removes it; its closure holds the traced
# gradients, so every trial's train-step graph stayed alive in a reused actor after
# clear_session, its memory growing with every trial (tensorflow#62854, keras#17458;
# docs/benchmarks.md, "Memory of a reused process"). Without the name, Keras's own all-reduce
# runs: the same weights, and the memory of a reused actor grows again.


def sum_gradients_only_under_a_strategy(optimizer):
    """`optimizer`, summing gradients over replicas only under a distribution strategy; with one
    replica the sum is the gradients themselves, which pass through unchanged (bit-identical
    weights)."""
    import tensorflow as tf

    all_reduce = getattr(optimizer, "_all_reduce_sum_gradients", None)
    if all_reduce is None:
        return optimizer

    def sum_gradients(grads_and_vars):
        if tf.distribute.has_strategy():
            return all_reduce(grads_and_vars)
        return list(grads_and_vars)

    optimizer._all_reduce_sum_gradients = sum_gradients
    return optimizer


# 2. Ray Tune 2.60's Tuner: `_local_tuner`, the TunerInternal whose RunConfig a restored Tuner runs.
#
# `Tuner.restore` takes no RunConfig, so a resumed search would run with the first run's
# verbosity and the callbacks pickled with it (its console among them); driver/tuner.py gives it
# this run's. Ray itself edits this RunConfig's name and storage path on restore. Without the
# name, a resumed search keeps the first run's output.


def restored_run_config(tuner):
    """The RunConfig a restored `tuner` will run with (edit it before `fit`), or None."""
    local = getattr(tuner, "_local_tuner", None)
    get = getattr(local, "get_run_config", None)
    return get() if callable(get) else None


# 3. Ray Tune 2.60's StorageContext (ray.train._internal.storage): a trial's `storage_fs_path` and
# `experiment_dir_name`, the experiment folder its results and checkpoints go to.
#
# Ray points the trials it restores at the folder `Tuner.restore` was given, but its restored
# search generator creates new trials from the pickled experiment, which names the folder the
# search started in: a moved or copied experiment wrote its new trials into the old one. These are
# the fields Ray's own `TuneController._restore_trials` sets. Without them, Ray's behaviour stands
# (the new trials of a moved experiment land in the folder it started in).


def point_trial_at(trial, experiment: Path) -> None:
    """Send `trial`'s results and checkpoints to `experiment` if its storage names another
    experiment folder."""
    storage = getattr(trial, "storage", None)
    try:
        where = Path(storage.storage_fs_path) / storage.experiment_dir_name
    except (AttributeError, TypeError):
        return
    if where != experiment:
        storage.storage_fs_path = str(experiment.parent)
        storage.experiment_dir_name = experiment.name


# 4. Ray 2.60's logger of token authentication, a private module's.
#
# A Ray started by `ray.init` with RAY_AUTH_MODE unset turns its token on and says so at WARNING
# on every start: the headline command's first line after the data. Ray reads RAY_AUTH_MODE as it
# is imported, so setting it before `ray.init` (the public way to be quiet) does not reach the
# driver's own configuration. Without the name, the line shows.
TOKEN_AUTH_LOGGER = "ray._private.authentication.authentication_token_setup"


def quiet_token_auth_warning() -> None:
    """Hide Ray's WARNING that the local Ray it starts uses token authentication (errors still
    show)."""
    logging.getLogger(TOKEN_AUTH_LOGGER).setLevel(logging.ERROR)


# 5. Ray 2.60's RAY_JOB_CONFIG_JSON_ENV_VAR, an environment variable of Ray's job supervisor
# (ray._private.runtime_env.constants) set for a job's entrypoint, and for nothing else.
#
# A relative --storage-path inside a Ray job resolves into the job's temporary copy of the
# repository, and the results are lost with it; nothing public says that a process is a job's
# entrypoint before `ray.init`. Without it, a relative path inside a job is taken as given.
JOB_ENTRYPOINT_VARIABLE = "RAY_JOB_CONFIG_JSON_ENV_VAR"


def in_a_ray_job(environ) -> bool:
    """Whether `environ` (os.environ) is that of a Ray job's entrypoint."""
    return bool(environ.get(JOB_ENTRYPOINT_VARIABLE))
