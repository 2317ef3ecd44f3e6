"""Driver layer: one frozen `Settings` holds everything a search runs with (driver/plan.py builds
it once from the command line; search.json records it), and `UsageError`, the one-line error
that exits with code 2; the flags --resume refuses to change, and the settings it keeps."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from search_spaces._common import Budget


class UsageError(Exception):
    """A bad flag, name, file or setting: exit code 2 with this one line."""


@dataclass(frozen=True)
class Settings:
    """Everything one search runs with; written to search.json, read back by --resume."""
    space: str
    dataset: str
    budget: Budget
    storage: str                     # absolute results root
    name: str                        # the experiment folder under it
    seed: int = 0
    weights: str | None = None       # transfer spaces: imagenet, none or a weights file
    data_dir: str | None = None
    image_size: int | None = None    # image-file datasets (CUB-200): the decoded side
    grid: dict | None = None         # a study's grid, --set applied
    constants: dict = field(default_factory=dict)  # a study's constants, --set applied
    cpus_per_trial: int | None = 1  # None: from the hardware Ray sees (cluster.cpu_share)
    gpus_per_trial: float | None = 0.0  # None: the space's share if the cluster has GPUs
    mixed_precision: bool = True
    ema_epochs: float = 0.0          # trials validate and keep a weight average over this many
                                     # epochs (0: the weights as trained)
    ensemble: int = 1                # the best trials whose predictions are averaged into the
                                     # search's ensemble (1: the best trial alone)
    max_concurrent: int | None = None  # None: as many as the resources hold (cluster.fit)
    max_failures: int = 2
    checkpoint_every: int | None = None  # epochs between checkpoints (None: train.py's period)
    time_budget: float | None = None  # seconds of wall clock, then the search ends
    warm_start: str | None = None    # an earlier experiment whose trials seed the sampler
    address: str | None = None       # a running Ray cluster, or None for a local one
    resume: bool = False

    @property
    def experiment(self) -> Path:
        return Path(self.storage) / self.name

    def trial_constants(self) -> dict:
        """What every trial's config gets from the command line: seed, precision, weights, weight
        average."""
        extra = {"seed": self.seed}
        if self.ema_epochs:
            extra["ema_epochs"] = self.ema_epochs
        if self.gpus_per_trial:
            extra["mixed_precision"] = self.mixed_precision
        if self.weights is not None:
            extra["weights"] = self.weights
        return extra

    def resume_command(self) -> str:
        return (f"python run_search.py --space {self.space} --name {self.name} "
                f"--storage-path {self.storage} --resume")


# The flags that set what a search runs with, and the settings they set ("a.b": field b of a). A
# resumed search runs with what it started with, so plan.settings_to_resume refuses one of these
# given another value. --data-dir may change (where the same data is now); --smoke-test is a preset
# that explicit flags override anyway.
FIXED_ON_RESUME = {
    "dataset": ("dataset",), "seed": ("seed",), "weights": ("weights",),
    "image_size": ("image_size",), "cpus_per_trial": ("cpus_per_trial",),
    "gpus_per_trial": ("gpus_per_trial",), "set": ("grid", "constants"),
    "no_mixed_precision": ("mixed_precision",), "ema_epochs": ("ema_epochs",),
    "checkpoint_every": ("checkpoint_every",), "num_samples": ("budget.num_samples",),
    "max_epochs": ("budget.max_epochs",), "grace_period": ("budget.grace_period",),
    "reduction_factor": ("budget.reduction_factor",), "time_budget": ("time_budget",),
    "warm_start": ("warm_start",), "max_concurrent": ("max_concurrent",),
    "max_failures": ("max_failures",),
}
# What a resumed search keeps from search.json (record.with_saved_settings): those settings (Ray
# keeps its own failure, concurrency and time settings too), and where its data was.
KEPT_ON_RESUME = tuple(dict.fromkeys(
    ["data_dir"] + [f.split(".")[0] for fields in FIXED_ON_RESUME.values() for f in fields]))
