"""Driver layer: one search from start to report.

    data (loaded once; weights checked, features cached) -> Ray -> Tuner.fit -> best trial's test
    -> report -> the last line: where the report is, or how to resume
"""

from __future__ import annotations

import functools
import logging
import math
import os
import signal
import sys
import threading
import warnings

import numpy as np

from search_spaces._common import Space
from trainables import datasets
from trainables.data import Data, DataError
from trainables.private_apis import quiet_token_auth_warning

from driver import child, cluster, disk, record
from driver.settings import Settings, UsageError

WORKER_ENV = {
    # TensorFlow's start-up chatter (oneDNN, CUDA probing) hides Ray's progress table.
    "TF_CPP_MIN_LOG_LEVEL": "2",
    # How long a reused trial process waits for the training thread of the trial Tune stopped
    # there (ASHA) to end before it takes the next trial; past it, Tune fails that next trial
    # before its first epoch and never retries it. Ray's 2 s is enough on an idle machine (the
    # thread ends in milliseconds), not always on a loaded one (tests/test_faults.py rehearses
    # it). The wait costs nothing when the thread ends sooner. A user's own setting wins.
    "TUNE_FUNCTION_THREAD_TIMEOUT_S": os.environ.get("TUNE_FUNCTION_THREAD_TIMEOUT_S", "60"),
}
# What TF_CPP_MIN_LOG_LEVEL cannot hide, as every trial process prints it before absl's logging
# starts: absl's preamble, TensorFlow's C++ INFO lines (oneDNN is on, no CUDA drivers), and on a
# machine without an NVIDIA driver the failed CUDA probe. Ray forwards each from every actor.
TENSORFLOW_STARTUP_LINES = "|".join([
    r"^WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR",
    r"^I\d{4} [\d:.]+ +\d+ \w+\.cc:\d+\] ",
    *([] if os.path.exists("/proc/driver/nvidia") else [r"\] failed call to cuInit: "]),
])
DRIVER_ENV = {
    # Ray's log deduplicator drops those lines; it reads this once, as Ray is imported (so here,
    # before any import of Ray).
    "RAY_DEDUP_LOGS_SKIP_REGEX": TENSORFLOW_STARTUP_LINES,
    # Tune snapshots the experiment after every `num_to_keep` (2) checkpoints of a trial, and
    # warns in three lines each time two such snapshots come within 5 s that they "may become a
    # bottleneck": dozens of times in a default digits search, whose snapshots cost the driver
    # little CPU (docs/benchmarks.md, "Mechanisms in the code"). 0 turns the warning off.
    "TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S": "0",
}
for _name, _value in DRIVER_ENV.items():
    os.environ.setdefault(_name, _value)  # a user's own setting wins


def silence_library_warnings() -> None:
    """Warnings a user cannot act on: a trial resumed or retried from a checkpoint reports again
    the epochs it repeats; Optuna keeps the first value and warns for each, a line per epoch."""
    warnings.filterwarnings("ignore",
                            message="The reported value is ignored because this `step=")


def load_data(settings: Settings, space: Space) -> Data:
    """The search's dataset, with what the space needs done once before any trial (raises
    DataError): the backbone's ImageNet weights in Keras's cache, the features cached."""
    from driver import features, weights

    data = datasets.load(settings.dataset, settings.data_dir, settings.image_size)
    folds = max([settings.constants.get("folds") or 0, *(settings.grid or {}).get("folds", [])])
    smallest = folds and int(np.bincount(np.concatenate([data.y_train, data.y_val])).min())
    if folds > smallest:  # stratified folds need a member of every class in each
        raise DataError(f"--set folds={folds}: the smallest class of {settings.dataset} has "
                        f"{smallest} training images; give at most {smallest} folds")
    if space.transfer:
        weights.check_weights(space.backbone_model, settings.weights, data.input_shape)
    if space.features:
        data = features.features_of(data, space.backbone_model, settings.weights,
                                    features.feature_cache_dir(settings.storage))
    return data


class _Stop:
    """Ctrl-C (SIGINT) and a batch scheduler's SIGTERM end a search the same way: the first asks
    Ray Tune to stop (it saves the experiment's state; the report of what finished is written,
    then the --resume command); a second one during that shutdown ends the process at once
    (Ray's last snapshot stays as it was, so the experiment resumes from there). Once every trial
    has ended (`finishing`), the first one only says so: the test and the report go on."""

    def __init__(self, settings: Settings):
        self.settings, self.signal, self.finishing = settings, None, False

    def __call__(self, number, frame):
        if self.signal is not None:
            print(f"\nStopped at once. Continue with: {self.settings.resume_command()}",
                  file=sys.stderr, flush=True)
            child.kill_descendants()
            os._exit(128 + number)
        self.signal = number
        if self.finishing:  # every trial has ended: what is left is the test and the report
            print(f"\n{signal.Signals(number).name}: the search has ended; its best trials are "
                  f"being tested and its report written (again to stop at once)",
                  file=sys.stderr, flush=True)
            return
        if signal.getsignal(signal.SIGUSR1) in (signal.SIG_DFL, None):
            raise KeyboardInterrupt  # Ray Tune is not running yet: nothing to save
        self.request(signal.Signals(number).name, "again")

    def request(self, why: str, again: str = "Ctrl-C") -> None:
        """Ask Ray Tune to stop, saying `why` (a signal's name, or the disk guard's reason)."""
        print(f"\n{why}: stopping the search; the report of the finished trials follows "
              f"({again} to stop at once)", file=sys.stderr, flush=True)
        os.kill(os.getpid(), signal.SIGUSR1)  # Ray Tune's own graceful stop

    def install(self) -> None:
        os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = "1"  # this handler does Tune's job
        for number in (signal.SIGINT, signal.SIGTERM):
            signal.signal(number, self)
        logging.getLogger("ray.tune.tune").addFilter(self.tunes_own_lines)

    @staticmethod
    def tunes_own_lines(record: logging.LogRecord) -> bool:
        """False for Ray Tune's warnings on a stop, which this handler and the last line say for
        the command line: how to stop at once, and how to resume (`Tuner.restore(...)`); and
        for its list of the trials that failed, which the console named with their errors as
        they ended, and the last lines count with how to retry them."""
        return not record.getMessage().startswith(("Stop signal received",
                                                   "Experiment has been interrupted",
                                                   "Trials did not complete"))


def start_ray(settings: Settings, verbose: bool = False) -> None:
    """ray.init: a Ray of this process alone, whatever `ray start` left recorded on the machine
    (running or dead), or the cluster at --address; a cluster that does not answer as Ray, or
    none of whose nodes can ever hold one trial, is a UsageError (exit 2) before any trial
    starts."""
    import ray

    if settings.address is None:  # a cluster of this process alone
        quiet_token_auth_warning()
        address = "local"
    else:
        address = cluster.check_ray(settings.address)
    try:
        ray.init(address=address, include_dashboard=False if settings.address is None else None,
                 logging_level="INFO" if verbose else "WARNING",  # INFO: Ray's start lines
                 runtime_env={"env_vars": WORKER_ENV})
    except (ConnectionError, RuntimeError) as e:
        raise UsageError(f"--address {settings.address}: cannot connect to a Ray cluster "
                         f"({' '.join(str(e).split())[:200]}); check that `ray start --head` "
                         f"runs there, or leave --address out") from None


def run(settings: Settings, space: Space, data: Data, verbose: bool = False) -> int:
    """Run (or resume) the search; exit code 0, 2 when the cluster cannot run it, 130 or 143
    when Ctrl-C or SIGTERM stopped it. `verbose`: Ray's own output too, beside the console's."""
    import time

    import ray

    from driver import console
    from driver.tuner import make_tuner

    os.environ.update(WORKER_ENV)
    silence_library_warnings()
    stop = _Stop(settings)
    print(console.header(settings, space))
    # Ray takes 15-30 s to start, with nothing to show for it: the line says what happens
    print(console.starting_ray(settings), flush=True)
    starting = time.monotonic()
    try:
        try:
            start_ray(settings, verbose)
            stop.install()  # after ray.init, which puts its own SIGTERM handler in
            settings = cluster.fit(settings, space.gpu)
            cluster.check_fits(settings)
            print(console.ray_ready(settings, time.monotonic() - starting), flush=True)
        except UsageError as e:
            ray.shutdown()
            print(f"error: {e}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            ray.shutdown()
            return 128 + (stop.signal or signal.SIGINT)
        record.started(settings, space)
        # As Tuner.fit returns, Ray reads every trial's result.json and warns, with a
        # FileNotFoundError each, of trials stopped (Ctrl-C) before their first epoch. The driver
        # only counts the trials; the report reads the trial folders itself.
        logging.getLogger("ray.tune.analysis.experiment_analysis").setLevel(logging.ERROR)
        tuner = make_tuner(settings, space, data, verbose)
        with disk.Guard(settings.experiment, settings.max_concurrent,
                        lambda: stop.request(f"{settings.experiment} is almost full")) as guard:
            results = tuner.fit()
        stop.finishing = True
        if guard.short:
            return out_of_space(settings, guard.short)
        return finish(settings, space, data, results, stop.signal)
    except OSError as e:  # the storage is full, read-only or gone: say so, lose nothing more
        ray.shutdown()
        print(f"error: cannot write to {settings.experiment} ({e.strerror or e}); free space or "
              f"make it writable, then continue with: {settings.resume_command()}",
              file=sys.stderr)
        return 2


def out_of_space(settings: Settings, short: tuple[int, int]) -> int:
    """After the disk guard stopped the search: the report of what finished, if there is room
    for it (else the OSError reaches `run`), and the one line that says what to do."""
    import ray

    from analysis import report
    ray.shutdown()
    path = report.write(settings.experiment)
    print(f"Report of the finished trials: {path}")
    room, need = short
    print(f"error: {settings.experiment} is full: {disk.megabytes(room)} free on its file "
          f"system, below the {disk.megabytes(need)} a search keeps free to stop cleanly; free "
          f"space, then continue with: {settings.resume_command()}", file=sys.stderr)
    return 2


def finish(settings: Settings, space: Space, data: Data, results, signalled: int | None) -> int:
    """After Tuner.fit: the best trial's test score and the report, then the last line."""
    import ray

    from analysis import report
    from driver.best import score_best_trial

    grid = settings.grid
    expected = math.prod(len(v) for v in grid.values()) if grid else settings.budget.num_samples
    # A trial stopped by the signal is TERMINATED too, but its last result is not `done` (one
    # that ended its budget, or that ASHA stopped, is): a search stopped in its last trial is
    # interrupted, not finished.
    incomplete = len(results) < expected or \
        results.num_terminated + results.num_errors < len(results) or \
        any(not r.metrics.get("done") for r in results if r.error is None)
    # Without a signal, only the time budget ends a search early (Ray Tune keeps its clock in
    # the experiment: a resumed search whose budget is spent ends at once, as a finished one).
    out_of_time = incomplete and settings.time_budget is not None and signalled is None
    ray_down = threading.Thread(target=ray.shutdown, name="ray-shutdown")
    if incomplete and not out_of_time:
        # Ctrl-C: Ray saved the experiment's state; report what finished, then say how to go on.
        ray_down.start()  # Ray's processes take about a second to exit: the report meanwhile
        path = report.write(settings.experiment)
        ray_down.join()  # the workers' logs are flushed: the last lines are ours
        print(f"Report of the finished trials: {path}")
        print(f"Interrupted. Continue with: {settings.resume_command()}")
        return 128 + (signalled or signal.SIGINT)
    record.finished(settings, space, stopped_by="time budget" if out_of_time else None)
    tested = functools.cache(
        score_best_trial(settings.experiment, data, settings.ensemble))
    ray_down.start()
    path = report.write(settings.experiment, tested)
    ray_down.join()
    if scores := tested():
        ensemble = scores.get("ensemble")
        print(f"Test accuracy: {scores['test_accuracy']:.4f}, the best trial ({scores['trial_id']})"
              + (f"; {ensemble['test_accuracy']:.4f}, the ensemble of the "
                 f"{len(ensemble['trial_ids'])} best" if ensemble else ""))
    if out_of_time:
        print(f"--time-budget reached: {len(results)} of {expected} trials ran; the running "
              f"ones were stopped.")
    if results.num_errors:
        print(f"{results.num_errors} trial(s) failed (report/failures.md says why); once the "
              f"cause is fixed, retry them with: {settings.resume_command()}")
    print(f"Report: {path}")
    return 0
