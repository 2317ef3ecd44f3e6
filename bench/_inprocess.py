"""Run trainables.train.train in this process, one trial after another, as a reused Ray actor
would: Ray's per-trial API (tune.report, tune.get_checkpoint, tune.get_context, the node id) is
replaced by a recorder. No Ray processes start, so timings and memory are the trial code's own.

    with Recorder() as rec:
        rec.run(config, data, max_epochs)   # -> list of (seconds since trial start, metrics)
"""

from __future__ import annotations

import os
import time
import types
from pathlib import Path


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class _Stop(Exception):
    pass


class Recorder:
    """Patches ray.tune's per-trial functions while active. `stop_after` (epochs) makes report
    raise, as ASHA stopping a trial would end it."""

    def __init__(self, cpus: int = 1, checkpoints: bool = True):
        self.cpus, self.checkpoints = cpus, checkpoints
        self._saved = {}

    def __enter__(self):
        import ray
        from ray import tune
        ctx = types.SimpleNamespace(get_trial_resources=lambda: types.SimpleNamespace(
            required_resources={"CPU": self.cpus, "GPU": 0}))
        patches = {(tune, "report"): self._report, (tune, "get_checkpoint"): lambda: None,
                   (tune, "get_context"): lambda: ctx,
                   (ray, "get_runtime_context"): lambda: types.SimpleNamespace(
                       get_node_id=lambda: "local", get_actor_id=lambda: None)}
        for (mod, name), fn in patches.items():
            self._saved[(mod, name)] = getattr(mod, name)
            setattr(mod, name, fn)
        return self

    def __exit__(self, *exc):
        for (mod, name), fn in self._saved.items():
            setattr(mod, name, fn)

    def _report(self, metrics, checkpoint=None):
        if checkpoint is not None and self.checkpoints:  # Ray copies it into the trial folder
            for f in Path(checkpoint.path).iterdir():
                f.read_bytes()
        self.reports.append((time.perf_counter() - self.start, dict(metrics)))
        if self.stop_after and len(self.reports) >= self.stop_after:
            raise _Stop

    def run(self, config: dict, data, max_epochs: int, stop_after: int | None = None,
            **kwargs) -> list:
        from trainables.train import train
        self.reports, self.stop_after = [], stop_after
        self.start = time.perf_counter()
        try:
            train(config, data=data, max_epochs=max_epochs, **kwargs)
        except _Stop:
            pass
        return self.reports


def space_configs(space_name: str, n: int, seed: int = 0) -> list:
    """A space's report points, then draws of its define-by-run function as TPE's random
    start-up draws them (Optuna RandomSampler)."""
    import optuna

    import search_spaces
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = search_spaces.load(space_name)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    configs = [dict(p) for p in space.points_to_evaluate]
    while len(configs) < n:
        trial = study.ask()
        constants = space.define(trial) or {}
        configs.append({**trial.params, **constants})
        study.tell(trial, 0.0)
    return configs[:n]


def epoch_times(reports: list) -> list:
    """Seconds per epoch from the report times (the first from the trial's start, as Ray's
    time_this_iter_s counts it on a reused actor)."""
    times = [t for t, _ in reports]
    return [b - a for a, b in zip([0.0] + times, times)]


os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
