"""Driver layer: every input checked and settled into one frozen `Settings`, before Ray starts.

`plan(args)` raises `UsageError` (exit code 2, one line) for anything wrong: an unknown space or
dataset, impossible budgets, a missing weights file, an occupied experiment folder, a bad --set,
a flag that --resume cannot change (`settings_to_resume`). It loads nothing heavy: no TensorFlow,
no dataset, no Ray cluster.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import replace
from operator import attrgetter
from pathlib import Path

import search_spaces
from search_spaces._common import SMOKE_BUDGET, Budget, Space, override
from trainables import config, datasets
from trainables.private_apis import in_a_ray_job

from driver import cluster, disk, record, warm
from driver.settings import FIXED_ON_RESUME, Settings, UsageError


def load_space(name: str | None) -> Space:
    if not name:
        raise UsageError("--space is required; choose one of: " + ", ".join(search_spaces.names()))
    try:
        return search_spaces.load(name)
    except KeyError as e:
        raise UsageError(e.args[0]) from None


# The largest integer a count, epoch or size flag takes: numpy, TensorFlow and Ray keep such
# numbers in fixed-width integers (a --max-epochs of 1e21 failed in numpy's log, placing ASHA's
# rungs), and no search comes near it.
MAX_INTEGER = 2**31 - 1
MAX_SEED = 2**32 - 1  # numpy's seeds, which Optuna's TPE sampler and Keras's seeding take
MAX_IMAGE_SIZE = 1024  # decoded side of image files; ImageNet backbones are built for 224-331


def check_integer(flag: str, value: int, low: int, high: int = MAX_INTEGER,
                  unit: str = "") -> None:
    if not low <= value <= high:
        raise UsageError(f"{flag} must be {'a positive integer' if low == 1 else 'an integer'} "
                         f"from {low} to {high}{' ' + unit if unit else ''}, got {value}")


def check_writable(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path):
            pass
    except OSError as e:
        raise UsageError(f"cannot write to --storage-path {path} ({e.strerror}); "
                         f"give a writable folder") from None


def _weights(space: Space, given: str | None) -> str | None:
    if not space.transfer:
        if given:
            raise UsageError("--weights applies to transfer spaces only; this space trains "
                             "from scratch")
        return None
    weights = given or "imagenet"
    if weights in ("imagenet", "none"):
        return weights
    if not Path(weights).expanduser().is_file():
        raise UsageError(f"--weights {weights}: no such file; give imagenet, none or the path "
                         f"of a weights file")
    return str(Path(weights).expanduser().resolve())


def _budget(space: Space, dataset: str, args) -> Budget:
    base = SMOKE_BUDGET if args.smoke_test else space.budget_for(dataset)
    budget = override(base, num_samples=args.num_samples, max_epochs=args.max_epochs,
                      grace_period=args.grace_period, reduction_factor=args.reduction_factor)
    for flag, value in {"--num-samples": budget.num_samples, "--max-epochs": budget.max_epochs,
                        "--grace-period": budget.grace_period}.items():
        check_integer(flag, value, 1)
    check_integer("--reduction-factor", budget.reduction_factor, 2)
    if not space.grid and budget.grace_period > budget.max_epochs:
        raise UsageError(f"--grace-period ({budget.grace_period}) exceeds --max-epochs "
                         f"({budget.max_epochs}); lower it or raise --max-epochs")
    return budget


def _storage(given: str) -> str:
    if "://" in given:
        raise UsageError(f"--storage-path {given}: URIs are not supported yet; give a folder "
                         f"every node mounts (a shared file system)")
    if not Path(given).expanduser().is_absolute() and in_a_ray_job(os.environ):
        raise UsageError(f"--storage-path {given} is relative inside a Ray job (it would land "
                         f"in the job's temporary copy of the repository); give an absolute "
                         f"folder every node mounts")
    storage = Path(given).expanduser().resolve()
    check_writable(storage)
    return str(storage)


def plan(args) -> tuple[Settings, Space]:
    """Check every input and settle the search's settings; the space, loaded once."""
    space = load_space(args.space)
    dataset = args.dataset or space.dataset
    if dataset not in datasets.names():
        raise UsageError(f"unknown dataset {dataset!r}; choose one of: "
                         + ", ".join(datasets.names()))
    if args.image_size is not None:
        check_integer("--image-size", args.image_size, 32, MAX_IMAGE_SIZE, "pixels")
        if not datasets.DATASETS[dataset].sized:
            raise UsageError(f"--image-size applies to datasets of image files (cub200), "
                             f"not {dataset}")
    for flag, low in {"checkpoint_every": 1, "cpus_per_trial": 1, "max_concurrent": 1,
                      "max_failures": 0, "ensemble": 1}.items():
        if getattr(args, flag) is not None:
            check_integer("--" + flag.replace("_", "-"), getattr(args, flag), low)
    check_integer("--seed", args.seed, 0, MAX_SEED)
    if args.ema_epochs is not None and not 0 <= args.ema_epochs < float("inf"):
        raise UsageError(f"--ema-epochs must be 0 (off) or more epochs, got {args.ema_epochs}")
    if args.gpus_per_trial is not None:
        cluster.check_gpu_share(args.gpus_per_trial)

    gpus_per_trial = args.gpus_per_trial
    if args.address is None:  # on a cluster, cluster.fit checks the request against the nodes
        gpus_per_trial = cluster.gpu_share(space.gpu, args.gpus_per_trial, cluster.local_gpus())
        if (args.cpus_per_trial or 0) > (os.cpu_count() or 1):
            raise UsageError(f"--cpus-per-trial {args.cpus_per_trial} but this machine has "
                             f"{os.cpu_count()} CPU(s)")
        machine = {"CPU": os.cpu_count() or 1, "GPU": cluster.local_gpus()}
        # without the flag, cluster.fit derives the CPUs from what Ray counts; this is its guess
        cpus = cluster.cpu_share(args.cpus_per_trial, gpus_per_trial, [machine],
                                 args.max_concurrent)
        most = cluster.slots(machine, cpus, gpus_per_trial)
        if (args.max_concurrent or 0) > most:  # Tune would create that many trials at once
            raise UsageError(f"--max-concurrent {args.max_concurrent} but this machine runs at "
                             f"most {most} trial(s) at a time with {cpus} CPU(s) "
                             f"each; give at most {most}, or leave it out")

    storage = _storage(args.storage_path)
    name = _name(args.name or args.space)
    experiment = Path(storage) / name
    lock(experiment)
    room, need = disk.free(experiment), disk.needed(experiment, 1)
    if room < need:
        raise UsageError(f"{experiment} has {disk.megabytes(room)} free on its file system and "
                         f"a search there needs at least {disk.megabytes(need)}; free space, or "
                         f"give another --storage-path")
    grid, constants = study_settings(space, args.set)
    settings = Settings(
        space=args.space, dataset=dataset, budget=_budget(space, dataset, args), storage=storage,
        name=name, seed=args.seed, weights=_weights(space, args.weights), data_dir=args.data_dir,
        image_size=args.image_size, grid=grid, constants=constants,
        cpus_per_trial=args.cpus_per_trial, gpus_per_trial=gpus_per_trial,
        mixed_precision=not args.no_mixed_precision,
        max_concurrent=args.max_concurrent,
        ema_epochs=(0.0 if space.grid else 1.0) if args.ema_epochs is None else args.ema_epochs,
        ensemble=(1 if space.grid else 5) if args.ensemble is None else args.ensemble,
        max_failures=args.max_failures,
        # the clock of --time-budget may stop a trial at any epoch: its checkpoint is that epoch's
        checkpoint_every=args.checkpoint_every or (1 if args.time_budget else None),
        time_budget=duration(args.time_budget) if args.time_budget else None,
        warm_start=str(Path(args.warm_start).expanduser().resolve()) if args.warm_start else None,
        address=args.address, resume=args.resume)
    if args.resume:
        settings = settings_to_resume(settings, args.given)
        return settings, narrowed(space, settings)
    space = narrowed(space, settings)
    check_configs(space, settings)
    if settings.warm_start:
        warm.warm_trials(settings.warm_start, space, settings)  # raises what is wrong, now
    if experiment.exists() and any(experiment.iterdir()):
        raise UsageError(f"{experiment} already holds an experiment; add --resume to "
                         f"continue it, or --name NEW to start another")
    return settings, space


def narrowed(space: Space, settings: Settings) -> Space:
    """The space as `settings` leave it (Space.narrowed): --weights none takes the ImageNet
    choices out of what it searches, a trial's budget the epoch counts it cannot reach."""
    return space.narrowed(weights=settings.weights, max_epochs=settings.budget.max_epochs)


def settings_to_resume(settings: Settings, given: set[str]) -> Settings:
    """The settings of the experiment `settings` resumes (search.json), with the flags `given`
    that may change applied; raises UsageError for a flag that would change what it runs."""
    kept = record.with_saved_settings(settings)
    if "data_dir" in given:
        kept = replace(kept, data_dir=settings.data_dir)
    for flag in sorted(given & FIXED_ON_RESUME.keys()):
        fields = FIXED_ON_RESUME[flag]
        value = attrgetter(*fields)
        if value(settings) != value(kept):
            names = ", ".join(fields)
            started = f"the default {names}" if value(kept) is None else f"{names} {value(kept)}"
            raise UsageError(
                f"--{flag.replace('_', '-')}: {settings.experiment} started with {started} "
                f"(its search.json) and --resume keeps that; "
                f"drop the flag, or start a new search with another --name (--warm-start "
                f"{settings.experiment} builds on this one)")
    return kept


def duration(text: str) -> float:
    """Seconds in a duration such as 90m, 2h, 1h30m, 45s or 600 (seconds)."""
    import re
    units = {"h": 3600, "m": 60, "s": 1}
    parts = re.fullmatch(r"\s*(?:(\d+(?:\.\d+)?)h)?\s*(?:(\d+(?:\.\d+)?)m)?\s*"
                         r"(?:(\d+(?:\.\d+)?)s?)?\s*", text or "")
    if not parts or not any(parts.groups()):
        raise UsageError(f"--time-budget {text!r}: write a duration such as 90m, 2h, 1h30m or "
                         f"45s")
    seconds = sum(float(v) * u for v, u in zip(parts.groups(), units.values()) if v)
    if seconds <= 0:
        raise UsageError(f"--time-budget {text!r} must be longer than zero")
    return seconds


def _name(name: str) -> str:
    """--name is one folder name inside --storage-path: nothing that resolves elsewhere."""
    if (not name or name in (".", "..") or "/" in name or "\\" in name or "\0" in name
            or name.startswith(".")):
        raise UsageError(f"--name {name!r}: give one folder name (letters, digits, - _ .; not "
                         f"starting with a dot), which goes inside --storage-path")
    return name


# A process-wide cache: the experiment locks this process holds (experiment -> its open lock
# file). A lock lasts while its file is open, so each stays here until the process ends.
_HELD_LOCKS: dict = {}


def lock(experiment: Path) -> None:
    """One writer per experiment: an exclusive lock on <storage>/.<name>.lock, held for the life
    of this process (the system releases it when the process ends or dies)."""
    import fcntl
    if str(experiment) in _HELD_LOCKS:  # this process holds it already
        return
    path = experiment.with_name(f".{experiment.name}.lock")
    handle = open(path, "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise UsageError(f"{experiment} is in use by {holder}, another run_search.py; wait for "
                         f"it to end, or give another --name") from None
    handle.truncate(0)
    handle.write(f"pid {os.getpid()}\n")
    handle.flush()
    _HELD_LOCKS[str(experiment)] = handle


def _parse(value: str, like):
    """`value` as the type of `like` (bool, int, float or str)."""
    if isinstance(like, bool):
        if value.lower() not in ("true", "false"):
            raise ValueError(f"{value!r} is not true or false")
        return value.lower() == "true"
    return type(like)(value)


def study_settings(space: Space, overrides: list[str]) -> tuple[dict | None, dict]:
    """A study's grid and constants with the --set KEY=V1,V2 overrides applied, strictly."""
    if not space.grid:
        if overrides:
            raise UsageError("--set applies to studies (spaces with a fixed grid) only")
        return None, {}
    grid, fixed = dict(space.grid), dict(space.constants)
    for item in overrides:
        key, sep, values = item.partition("=")
        if not sep or not values:
            raise UsageError(f"--set {item}: write KEY=VALUE or KEY=V1,V2")
        if key not in grid and key not in fixed:
            raise UsageError(f"--set {key}: not a grid axis or constant of this study; known: "
                             + ", ".join([*grid, *fixed]))
        like = grid[key][0] if key in grid else fixed[key]
        try:
            parsed = [_parse(v, like) for v in values.split(",")]
        except ValueError as e:
            raise UsageError(f"--set {item}: {e}") from None
        for value in parsed:
            for problem in config.problems({key: value}):
                raise UsageError(f"--set {item}: {problem}")
        if key in grid or len(parsed) > 1:  # several values make a constant a grid axis
            fixed.pop(key, None)
            grid[key] = parsed
        else:
            fixed[key] = parsed[0]
    return grid, fixed


def configs(space: Space, settings: Settings, samples: int = 50):
    """(where, config) for every configuration the search can give a trial: each point of a
    study's grid; a search's report points and `samples` draws of its define-by-run function."""
    import itertools
    constants = settings.trial_constants()
    if settings.grid:
        keys = list(settings.grid)
        for values in itertools.product(*settings.grid.values()):
            point = dict(zip(keys, values))
            per_model = space.per_model.get(point.get("model", settings.constants.get("model")),
                                            {})
            derived = {k: v for k, v in per_model.items() if k not in point}
            yield f"grid point {point}", {**settings.constants, **derived, **point, **constants}
        return
    import optuna
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for point in space.points_to_evaluate:
        study.enqueue_trial(point)
    for i in range(len(space.points_to_evaluate) + samples):
        trial = study.ask()
        returned = space.define(trial) or {}
        where = (f"report point {i + 1}" if i < len(space.points_to_evaluate) else
                 f"sampled configuration {trial.params}")
        yield where, {**trial.params, **returned, **constants}
        study.tell(trial, 0.0)


def check_configs(space: Space, settings: Settings) -> None:
    """Every configuration the search can produce against the trial's schema (trainables/config):
    an unknown key or a value no trial accepts is a UsageError now, not a failed trial later."""
    for where, candidate in configs(space, settings):
        for problem in config.problems(candidate):
            raise UsageError(f"space {settings.space}, {where}: {problem}")
