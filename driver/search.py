"""Driver layer: one search from start to report.

    data (loaded once; weights checked, features cached) -> Ray -> Tuner.fit -> best trial's test
    -> report -> the last line: where the report is, or how to resume
"""

from __future__ import annotations

import math
import os

from search_spaces._common import Space
from trainables import datasets
from trainables.data import Data

from driver import cluster, record
from driver.settings import Settings

# TensorFlow's start-up chatter (oneDNN, CUDA probing) hides Ray's progress table.
WORKER_ENV = {"TF_CPP_MIN_LOG_LEVEL": "2"}


def load_data(settings: Settings, space: Space) -> Data:
    """The search's dataset, with what the space needs done once before any trial (raises
    DataError): the backbone's ImageNet weights in Keras's cache, the features cached."""
    from driver import features, weights

    data = datasets.load(settings.dataset, settings.data_dir, settings.image_size)
    if space.transfer:
        weights.check_weights(space.backbone_model, settings.weights, data.input_shape)
    if space.features:
        data = features.features_of(data, space.backbone_model, settings.weights,
                                    features.feature_cache_dir(settings.storage))
    return data


def run(settings: Settings, space: Space, data: Data) -> int:
    """Run (or resume) the search; exit code 0, or 130 when interrupted."""
    import ray

    from analysis import report
    from driver.best import evaluate_best_trial
    from driver.tuner import make_tuner

    os.environ.update(WORKER_ENV)
    ray.init(address=settings.address,
             include_dashboard=False if settings.address is None else None,
             logging_level="WARNING", runtime_env={"env_vars": WORKER_ENV})
    settings = cluster.fit(settings, space.gpu)
    record.started(settings, space)
    results = make_tuner(settings, space, data).fit()

    grid = settings.grid
    expected = math.prod(len(v) for v in grid.values()) if grid else settings.budget.num_samples
    if len(results) < expected or results.num_terminated + results.num_errors < len(results):
        # Ctrl-C: Ray saved the experiment's state; report what finished, then say how to go on.
        path = report.write(settings.experiment)
        ray.shutdown()  # flush the workers' logs first: the last lines are ours
        print(f"Report of the finished trials: {path}")
        print(f"Interrupted. Continue with: {settings.resume_command()}")
        return 130
    record.finished(settings, space)
    evaluate_best_trial(settings.experiment, data)
    path = report.write(settings.experiment)
    ray.shutdown()  # flush the workers' logs first: the last line is ours
    print(f"Report: {path}")
    return 0
