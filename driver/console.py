"""Driver layer: what a search prints while it runs, in place of Ray Tune's boxes and tables.

    Searching basenet on digits: 6 trials of up to 4 epochs (ASHA may stop a trial at epoch 1, 2)
    Results: results/smoke (TensorBoard: tensorboard --logdir results/smoke)
    Starting Ray on this machine ...
    Ray is ready (17 s): 2 CPUs, no GPU; 2 trials at a time
    [0 of 6 trials done, 0:00 elapsed]
    trial 6bc4aa28  optimizer=sgd learning_rate=0.253 batch_size=32 dropout=0.384  1 epoch
        val_accuracy 0.3417  stopped by ASHA at epoch 1
    trial 6d96574c  optimizer=rmsprop learning_rate=0.00473 batch_size=32 dropout=0.341
        4 epochs  val_accuracy 0.9667  completed
    [6 of 6 trials done, 1:05 elapsed, best val_accuracy 0.9667 (6d96574c)]

A trial's line says how it ended by the rule the report uses (analysis.results.trial_status), and
its score, like the running best, is its best epoch's, as the report ranks trials; no test score
shows before the search ends, so none invites a choice by the test set. On a terminal the progress
line is redrawn in place; in a log (a pipe, a batch job's file) it is written when the search
starts, at most every 30 s after a trial ends, and at the end. `--verbose` gives Ray's own output
back, beside these lines.
"""

from __future__ import annotations

import json
import math
import sys
import time
from pathlib import Path

from ray import tune

from analysis.results import error_line, trial_status

LOG_EVERY_S = 30.0   # a log's progress lines: at most this often, so 24 trials stay ~30 lines
REDRAW_EVERY_S = 1.0  # a terminal's: the elapsed time ticks by the second


def _duration(seconds: float) -> str:
    seconds = int(max(0.0, seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def _value(v) -> str:
    return f"{v:.3g}" if isinstance(v, float) else str(v)


def header(settings, space) -> str:
    """What is searched, how long, and where the results go: the lines before Ray starts."""
    budget = settings.budget
    epochs = f"{budget.max_epochs} epoch{'s' if budget.max_epochs != 1 else ''}"
    if settings.grid:
        trials = math.prod(len(v) for v in settings.grid.values())
        axes = [k for k, v in settings.grid.items() if len(v) > 1]
        what = f"{trials} trials (every {' x '.join(axes) or 'setting'}), {epochs} each"
    else:
        rungs = [r for r in budget.rungs() if r < budget.max_epochs]
        what = (f"{budget.num_samples} trials of up to {epochs}"
                + (f" (ASHA may stop a trial at epoch {', '.join(map(str, rungs))})"
                   if rungs else ""))
    limit = f", within {_duration(settings.time_budget)}" if settings.time_budget else ""
    doing = "Resuming" if settings.resume else "Studying" if settings.grid else "Searching"
    return (f"{doing} {settings.space} on {settings.dataset}: {what}{limit}\n"
            f"Results: {settings.experiment} (TensorBoard: tensorboard --logdir "
            f"{settings.experiment})")


def starting_ray(settings) -> str:
    return ("Starting Ray on this machine ..." if settings.address is None
            else f"Connecting to the Ray cluster at {settings.address} ...")


def ray_ready(settings, seconds: float) -> str:
    import ray
    resources = ray.cluster_resources()
    gpus = resources.get("GPU", 0)
    return (f"Ray is ready ({seconds:.0f} s): {resources.get('CPU', 0):g} CPUs, "
            + (f"{gpus:g} GPUs" if gpus else "no GPU")
            + f"; {settings.max_concurrent} trial{'s' if settings.max_concurrent != 1 else ''} "
              f"at a time")


def searched_names(experiment: Path) -> list[str]:
    """The searched parameters, as search.json records them (driver/record.py), in the space's
    order; [] when it cannot be read (the lines then show no values)."""
    try:
        return list(json.loads((experiment / "search.json").read_text())["distributions"])
    except (OSError, ValueError, KeyError, TypeError):
        return []


class Console(tune.Callback):
    """A line per finished trial and the progress line, from Tune's callbacks (the controller's
    own thread: no locking). Holds no open file, so Tune can pickle it into the experiment; a
    resumed search puts in its own (driver/tuner.py)."""

    def __init__(self, searched: list[str], metric: str = "val_accuracy", mode: str = "max",
                 live: bool | None = None):
        self.searched, self.metric, self.mode = searched, metric, mode
        self.live = live  # None: redraw in place when stdout is a terminal
        self.setup()

    def setup(self, total_num_samples: int | None = None, **info):
        self.total = total_num_samples
        self.started = time.monotonic()
        self.done_before: int | None = None  # trials a resumed search had already finished
        self.shown = -math.inf  # when the progress line was last written
        self.drawn = False      # a terminal's progress line is on screen, without its newline
        self.last_line = ""

    # Tune's callbacks
    def on_step_end(self, iteration, trials, **info):
        if self.done_before is None:  # the first step: the trials are created and starting
            self.done_before = len(self._finished(trials))
            self._progress(trials)
        elif self._live():
            self._progress(trials, every=REDRAW_EVERY_S)

    def on_trial_complete(self, iteration, trials, trial, **info):
        self._ended(trials, trial, errored=False)

    def on_trial_error(self, iteration, trials, trial, **info):
        self._ended(trials, trial, errored=True)

    def on_trial_recover(self, iteration, trials, trial, **info):
        epochs = trial.last_result.get("training_iteration") or 0
        self._print(f"trial {trial.trial_id} failed in epoch {epochs + 1} "
                    f"({self._error(trial)}); retried from its last checkpoint")
        self._progress(trials, every=0 if self._live() else LOG_EVERY_S)

    def on_experiment_end(self, trials, **info):
        self._progress(trials, final=True)

    # the lines
    def _live(self) -> bool:
        return sys.stdout.isatty() if self.live is None else self.live

    def _finished(self, trials, trial=None) -> list:
        # Tune marks `trial` finished only after its callbacks have run
        return [t for t in trials if t.is_finished() or t is trial]

    def _best(self, trial) -> float:
        """The trial's best epoch's metric, as the report's table has it (NaN: none)."""
        best = trial.metric_analysis.get(self.metric, {}).get(self.mode, math.nan)
        try:
            return float(best)
        except (TypeError, ValueError):
            return math.nan

    def _score(self, trial) -> float:
        """`_best`, as the report ranks trials: NaN for one that diverged, which it leaves out."""
        return math.nan if (trial.last_result or {}).get("diverged") else self._best(trial)

    def _error(self, trial) -> str:
        try:  # the driver's own copy: the one in the storage may not be synced yet
            text = Path(trial.error_file).read_text(errors="replace") if trial.error_file \
                else trial.get_error()
            return error_line(text or "") or "no error text"
        except Exception:  # its error file could not be read: the report says more
            return "see the trial's error.txt"

    def _ended(self, trials, trial, errored: bool) -> None:
        last = trial.last_result or {}
        epochs = int(last.get("training_iteration") or 0)
        row = {"diverged": bool(last.get("diverged")), "epochs": epochs,
               "test_accuracy": float(last.get("test_accuracy", math.nan))}
        # Not `finished`: Ray marks the result on which ASHA stopped a trial `done`, while one
        # that the search's end (its time budget) stopped ends on an ordinary epoch.
        status = trial_status(row, False, errored, bool(last.get("done")))
        if status == "unfinished" and not epochs:  # ended before its first epoch: nothing to say
            return
        how = {"completed": "completed", "diverged": f"diverged (loss not finite) at epoch "
                                                     f"{epochs}",
               "stopped": f"stopped by ASHA at epoch {epochs}",
               "error": f"error: {self._error(trial)}",
               "unfinished": f"stopped at epoch {epochs} as the search ended"}.get(status, status)
        values = " ".join(f"{k}={_value(trial.config[k])}" for k in self.searched
                          if k in trial.config)
        score = self._best(trial)
        shown = f"{self.metric} {score:.4f}" if score == score else f"no {self.metric}"
        self._print(f"trial {trial.trial_id}  {values}  {epochs} epoch{'s' if epochs != 1 else ''}"
                    f"  {shown}  {how}")
        self._progress(trials, trial, every=0 if self._live() else LOG_EVERY_S)

    def _progress(self, trials, trial=None, every: float = 0, final: bool = False) -> None:
        """The progress line, unless one was written less than `every` seconds ago; `final`: the
        last one, once the search has ended."""
        now = time.monotonic()
        if now - self.shown < every:
            return
        total = max(self.total or 0, len(trials))
        done = len(self._finished(trials, trial))
        elapsed = now - self.started
        parts = [f"{done} of {total} trials done", f"{_duration(elapsed)} elapsed"]
        done_here = done - (self.done_before or 0)
        if not final and done_here and done < total:
            parts.append(f"about {_duration(elapsed / done_here * (total - done))} left")
        # the best of the trials whose line was written, so that its id is found above; a tie
        # goes to the first trial folder by name, as in the report (analysis.results.load)
        sign = -1 if self.mode == "max" else 1
        scored = [(sign * s, t.trial_id) for t in self._finished(trials, trial)
                  if (s := self._score(t)) == s]
        if scored:
            score, best = min(scored)
            parts.append(f"best {self.metric} {sign * score:.4f} ({best})")
        line = f"[{', '.join(parts)}]"
        if final and line == self.last_line:  # the last trial's progress line said it all
            if self.drawn:
                print(flush=True)
                self.drawn = False
            return
        self.shown, self.last_line = now, line
        if self._live() and not final:
            sys.stdout.write(f"\r\033[K{line}")
            sys.stdout.flush()
            self.drawn = True
        else:
            self._print(line)

    def _print(self, line: str) -> None:
        if self.drawn:  # the line goes where the progress line was; that one follows it
            sys.stdout.write("\r\033[K")
            self.drawn = False
        print(line, flush=True)
