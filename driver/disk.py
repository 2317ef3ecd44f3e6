"""Driver layer: room on the file system that holds the experiment.

Once a disk is full, every writer of a search fails in its own way: Ray's experiment snapshots,
the searcher's state, the trials' result lines and checkpoints, the report. So the driver stops
the search, as Ctrl-C does, while the room that stop needs is still free (`needed`): Ray's last
snapshot, the report, and the next checkpoint of every running trial. What finished stays on
disk, and `--resume` goes on once space is freed.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable
from pathlib import Path

BASE = 16 * 2**20  # the report (plots, tables), search.json, the searcher's state and Optuna's


def free(folder: Path) -> int:
    """Bytes free to this user on the file system that holds `folder` (or its nearest parent)."""
    while not folder.exists():
        folder = folder.parent
    return shutil.disk_usage(folder).free


def needed(experiment: Path, trials_at_once: int) -> int:
    """Bytes a clean stop of the search in `experiment` may still write: BASE, Ray's experiment
    snapshot four times over (it writes the new one beside the old), and two checkpoints of each
    trial that runs, each as large as the largest so far."""
    return BASE + 4 * _largest(experiment.glob("experiment_state-*.json")) + \
        2 * trials_at_once * _largest(experiment.glob("trial_*/checkpoint_*"))


def _largest(paths) -> int:
    """The size of the largest file, or folder of files, in `paths` (0 for none)."""
    sizes = [0]
    for path in paths:
        try:
            sizes.append(sum(f.stat().st_size for f in path.iterdir()) if path.is_dir()
                         else path.stat().st_size)
        except OSError:  # Ray removed it meanwhile (it keeps two checkpoints a trial)
            pass
    return max(sizes)


class Guard:
    """A thread that calls `stop` once, as soon as the free space of the experiment's file
    system falls below what a clean stop needs (checked every second; `needed` every 10 s)."""

    def __init__(self, experiment: Path, trials_at_once: int, stop: Callable[[], None]):
        self.experiment, self.trials_at_once, self.stop = experiment, trials_at_once, stop
        self.short: tuple[int, int] | None = None  # (free, needed) when it stopped the search
        self._done = threading.Event()

    def __enter__(self) -> "Guard":
        threading.Thread(target=self._watch, name="disk-guard", daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._done.set()

    def _watch(self) -> None:
        tick = 0
        while not self._done.wait(0 if tick == 0 else 1):
            if tick % 10 == 0:
                need = needed(self.experiment, self.trials_at_once)
            tick += 1
            room = free(self.experiment)
            if room < need:
                self.short = (room, need)
                self.stop()
                return


def megabytes(count: int) -> str:
    return f"{count / 2**20:.1f} MB"
