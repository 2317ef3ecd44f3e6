#!/usr/bin/env python
"""Run a hyperparameter search for one practice model: Optuna (TPE) proposes, ASHA stops weak
trials early, Ray places trials on the CPUs/GPUs it has, and the report is written at the end.

    python run_search.py --list-spaces
    python run_search.py --space basenet --dataset digits
    python run_search.py --space basenet --smoke-test
    python run_search.py --space basenet --name basenet --resume

Every input error exits with code 2 and one line, before Ray starts.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

import search_spaces
from search_spaces._common import SMOKE_BUDGET, Budget, override
from trainables import datasets


# TensorFlow's start-up chatter (oneDNN, CUDA probing) hides Ray's progress table.
WORKER_ENV = {"TF_CPP_MIN_LOG_LEVEL": "2"}


class UsageError(Exception):
    """A bad flag, name, file or setting: exit code 2 with this one line."""


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Hyperparameter search (Ray Tune + ASHA + Optuna) for the practice models.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--space", help="search space to run (see --list-spaces)")
    p.add_argument("--list-spaces", action="store_true",
                   help="list every space with its dataset, model and description, then exit")
    p.add_argument("--dataset", help="dataset instead of the space's own: "
                   + ", ".join(datasets.names()))
    p.add_argument("--data-dir", help="folder holding a downloaded dataset (cub200, pathmnist; "
                                      f"default ${datasets.DATA_DIR_ENV})")
    p.add_argument("--weights", help="backbone weights of transfer spaces: imagenet (Keras's "
                                     "download and cache), none (random init) or a .h5 file")
    p.add_argument("--num-samples", type=int, help="trials to run (default: the space's)")
    p.add_argument("--max-epochs", type=int, help="epochs a trial may run: ASHA's max_t")
    p.add_argument("--grace-period", type=int, help="epochs before ASHA may stop a trial")
    p.add_argument("--reduction-factor", type=int, help="ASHA keeps 1/reduction_factor per rung")
    p.add_argument("--cpus-per-trial", type=int, default=1, help="CPU cores per trial")
    p.add_argument("--gpus-per-trial", type=float,
                   help="GPUs per trial, fractions allowed (default: the space's share when "
                        "GPUs exist, else 0)")
    p.add_argument("--no-mixed-precision", action="store_true",
                   help="train in float32 on GPUs too (default: mixed_float16 on GPUs)")
    p.add_argument("--max-concurrent", type=int,
                   help="trials at a time (default: as many as the resources allow)")
    p.add_argument("--checkpoint-every", type=int, default=1,
                   help="epochs between checkpoints (the last epoch is always saved); what a "
                        "resumed or retried trial repeats at most")
    p.add_argument("--max-failures", type=int, default=2,
                   help="retries of a failed trial from its last checkpoint")
    p.add_argument("--storage-path", default="./results",
                   help="results root (a path all nodes see on a cluster)")
    p.add_argument("--name", help="experiment name: the folder under --storage-path "
                                   "(default: the space name)")
    p.add_argument("--seed", type=int, default=0, help="seed of the sampler and of every trial")
    p.add_argument("--set", action="append", default=[], metavar="KEY=V1,V2",
                   help="studies only: restrict a grid axis or change a constant, e.g. "
                        "--set model=basenet,mired_v1 (repeatable; unknown keys are errors)")
    p.add_argument("--smoke-test", action="store_true",
                   help=f"tiny budget for tests ({SMOKE_BUDGET}); explicit flags still win")
    p.add_argument("--resume", action="store_true",
                   help="continue the interrupted experiment --storage-path/--name")
    p.add_argument("--address", help="connect to a running Ray cluster (auto or HOST:PORT) "
                                     "instead of starting one on this machine")
    return p.parse_args(argv)


def list_spaces() -> str:
    rows = [(name, s.dataset, s.model, s.description)
            for name, s in ((n, search_spaces.load(n)) for n in search_spaces.names())]
    widths = [max(len(r[i]) for r in rows + [("space", "dataset", "model", "")]) for i in range(3)]
    lines = [f"{'space':<{widths[0]}}  {'dataset':<{widths[1]}}  {'model':<{widths[2]}}  description"]
    lines += [f"{a:<{widths[0]}}  {b:<{widths[1]}}  {c:<{widths[2]}}  {d}" for a, b, c, d in rows]
    return "\n".join(lines)


def local_gpus() -> int:
    """GPUs on this machine, counted as Ray counts them (CUDA_VISIBLE_DEVICES, then NVML)."""
    from ray._private.accelerators import get_accelerator_manager_for_resource
    return get_accelerator_manager_for_resource("GPU").get_current_node_num_accelerators()


def gpu_share(space_share: float, requested: float | None, gpus: int) -> float:
    """GPUs per trial: the flag if given, else the space's share where GPUs exist, else 0."""
    share = requested if requested is not None else (space_share if gpus else 0.0)
    if share < 0 or share > gpus:
        raise UsageError(f"--gpus-per-trial {share:g} but this machine has {gpus} GPU(s); use a "
                         f"value between 0 and {gpus}")
    return share


def check_writable(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path):
            pass
    except OSError as e:
        raise UsageError(f"cannot write to --storage-path {path} ({e.strerror}); "
                         f"give a writable folder") from None


def plan(args: argparse.Namespace) -> dict:
    """Check every input and settle the search's settings; nothing heavy, Ray not started."""
    if not args.space:
        raise UsageError("--space is required; choose one of: " + ", ".join(search_spaces.names()))
    try:
        space = search_spaces.load(args.space)
    except KeyError as e:
        raise UsageError(e.args[0]) from None
    dataset = args.dataset or space.dataset
    if dataset not in datasets.names():
        raise UsageError(f"unknown dataset {dataset!r}; choose one of: "
                         + ", ".join(datasets.names()))
    weights = None
    if space.transfer:
        weights = args.weights or "imagenet"
        if weights not in ("imagenet", "none"):
            if not Path(weights).expanduser().is_file():
                raise UsageError(f"--weights {weights}: no such file; give imagenet, none or "
                                 f"the path of a weights file")
            weights = str(Path(weights).expanduser().resolve())
    elif args.weights:
        raise UsageError(f"--weights applies to transfer spaces only; {args.space} trains "
                         f"from scratch")
    base = SMOKE_BUDGET if args.smoke_test else space.budget_for(dataset)
    budget = override(base, num_samples=args.num_samples, max_epochs=args.max_epochs,
                      grace_period=args.grace_period, reduction_factor=args.reduction_factor)
    checks = {"--num-samples": budget.num_samples, "--max-epochs": budget.max_epochs,
              "--checkpoint-every": args.checkpoint_every,
              "--grace-period": budget.grace_period, "--cpus-per-trial": args.cpus_per_trial}
    for flag, value in checks.items():
        if value < 1:
            raise UsageError(f"{flag} must be a positive integer, got {value}")
    if budget.reduction_factor < 2:
        raise UsageError(f"--reduction-factor must be at least 2, got {budget.reduction_factor}")
    if not space.grid and budget.grace_period > budget.max_epochs:
        raise UsageError(f"--grace-period ({budget.grace_period}) exceeds --max-epochs "
                         f"({budget.max_epochs}); lower it or raise --max-epochs")
    if args.max_concurrent is not None and args.max_concurrent < 1:
        raise UsageError(f"--max-concurrent must be a positive integer, got {args.max_concurrent}")
    if args.max_failures < 0:
        raise UsageError(f"--max-failures must be 0 or more, got {args.max_failures}")

    gpus_per_trial = args.gpus_per_trial
    if args.address is None:  # on a cluster, Ray checks the request against the nodes
        gpus_per_trial = gpu_share(space.gpu, args.gpus_per_trial, local_gpus())
        if args.cpus_per_trial > (os.cpu_count() or 1):
            raise UsageError(f"--cpus-per-trial {args.cpus_per_trial} but this machine has "
                             f"{os.cpu_count()} CPU(s)")

    storage = args.storage_path
    name = args.name or args.space
    if "://" in storage:
        raise UsageError(f"--storage-path {storage}: URIs are not supported yet; give a folder "
                         f"every node mounts (a shared file system)")
    if not Path(storage).expanduser().is_absolute() and os.environ.get(
            "RAY_JOB_CONFIG_JSON_ENV_VAR"):
        raise UsageError(f"--storage-path {storage} is relative inside a Ray job (it would land "
                         f"in the job's temporary copy of the repository); give an absolute "
                         f"folder every node mounts")
    storage = str(Path(storage).expanduser().resolve())
    check_writable(Path(storage))
    experiment = Path(storage) / name
    from ray import tune
    exists = experiment.exists() and any(experiment.iterdir())
    if args.resume and not tune.Tuner.can_restore(str(experiment)):
        raise UsageError(f"--resume: {experiment} holds no experiment to resume; "
                         f"drop --resume to start one")
    if exists and not args.resume:
        raise UsageError(f"{experiment} already holds an experiment; add --resume to "
                         f"continue it, or --name NEW to start another")
    grid, fixed = study_settings(space, args.set)
    settings = {"space": args.space, "dataset": dataset, "budget": budget, "storage": storage,
                "name": name, "gpus_per_trial": gpus_per_trial or 0.0, "seed": args.seed,
                "weights": weights, "data_dir": args.data_dir, "grid": grid, "constants": fixed,
                "mixed_precision": not args.no_mixed_precision,
                "checkpoint_every": args.checkpoint_every}
    if args.resume:
        settings |= saved_settings(experiment, args.space)
    return settings


def _parse(value: str, like):
    """`value` as the type of `like` (bool, int, float or str)."""
    if isinstance(like, bool):
        if value.lower() not in ("true", "false"):
            raise ValueError(f"{value!r} is not true or false")
        return value.lower() == "true"
    return type(like)(value)


def study_settings(space, overrides: list[str]) -> tuple[dict | None, dict]:
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
        if key in grid or len(parsed) > 1:  # several values make a constant a grid axis
            fixed.pop(key, None)
            grid[key] = parsed
        else:
            fixed[key] = parsed[0]
    return grid, fixed


def per_model(spec, *, key: str, table: dict, default):
    """A study setting that follows the trial's model (Ray resolves it after the grid)."""
    return table.get(spec.config["model"], {}).get(key, default)


def saved_settings(experiment: Path, space: str) -> dict:
    """What an interrupted search ran with (search.json): a resumed search must not change it."""
    try:
        record = json.loads((experiment / "search.json").read_text())
    except (OSError, ValueError) as e:
        raise UsageError(f"--resume: cannot read {experiment / 'search.json'} ({e}); is "
                         f"{experiment} an experiment of this suite?") from None
    if record.get("space") != space:
        raise UsageError(f"--resume: {experiment} is a search of space {record.get('space')!r}, "
                         f"not {space!r}")
    keep = ("dataset", "seed", "weights", "data_dir", "gpus_per_trial", "grid", "constants",
            "mixed_precision", "checkpoint_every")
    return {**{k: record[k] for k in keep if k in record}, "budget": Budget(**record["budget"])}


def define(trial, *, space_name: str, constants: dict):
    """The space's define-by-run function plus the constants from the command line."""
    return {**(search_spaces.load(space_name).define(trial) or {}), **constants}


def constants(settings: dict) -> dict:
    """What every trial's config gets from the command line: the seed, backbone weights."""
    extra = {"seed": settings["seed"]}
    if settings["gpus_per_trial"]:
        extra["mixed_precision"] = settings["mixed_precision"]
    if settings["weights"] is not None:
        extra["weights"] = settings["weights"]
    return extra


def trial_dirname(trial) -> str:
    return f"trial_{trial.trial_id}"


def make_tuner(settings: dict, args: argparse.Namespace, data: datasets.Data):
    from optuna.samplers import TPESampler
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler
    from ray.tune.search.optuna import OptunaSearch

    from trainables.train import train

    space = search_spaces.load(settings["space"])
    budget: Budget = settings["budget"]
    trainable = tune.with_resources(
        tune.with_parameters(train, data=data, max_epochs=budget.max_epochs,
                             checkpoint_every=settings["checkpoint_every"]),
        {"cpu": args.cpus_per_trial, "gpu": settings["gpus_per_trial"]})
    path = str(Path(settings["storage"]) / settings["name"])
    if args.resume:
        return tune.Tuner.restore(path, trainable=trainable, resume_unfinished=True,
                                  resume_errored=True)
    run_config = tune.RunConfig(
        name=settings["name"], storage_path=settings["storage"],
        checkpoint_config=tune.CheckpointConfig(num_to_keep=2),
        failure_config=tune.FailureConfig(max_failures=args.max_failures), verbose=1)
    if settings["grid"]:  # a study: every combination of the grid, each to the full budget
        grid = {k: tune.grid_search(v) for k, v in settings["grid"].items()}
        keys = {k for values in space.per_model.values() for k in values} - set(grid)
        derived = {k: tune.sample_from(functools.partial(
            per_model, key=k, table=space.per_model, default=settings["constants"].get(k)))
            for k in keys}
        return tune.Tuner(
            trainable,
            param_space={**settings["constants"], **constants(settings), **grid, **derived},
            tune_config=tune.TuneConfig(
                metric=space.metric, mode=space.mode, max_concurrent_trials=args.max_concurrent,
                reuse_actors=True, trial_dirname_creator=trial_dirname),
            run_config=run_config)
    searcher = OptunaSearch(
        space=functools.partial(define, space_name=settings["space"],
                                constants=constants(settings)),
        metric=space.metric, mode=space.mode,
        points_to_evaluate=[{**p} for p in space.points_to_evaluate],
        sampler=TPESampler(seed=settings["seed"]))
    scheduler = ASHAScheduler(time_attr="training_iteration", max_t=budget.max_epochs,
                              grace_period=budget.grace_period,
                              reduction_factor=budget.reduction_factor)
    return tune.Tuner(
        trainable,
        tune_config=tune.TuneConfig(
            metric=space.metric, mode=space.mode, search_alg=searcher, scheduler=scheduler,
            num_samples=budget.num_samples, max_concurrent_trials=args.max_concurrent,
            reuse_actors=True, trial_dirname_creator=trial_dirname),
        run_config=run_config)


def fit_to_cluster(settings: dict, args: argparse.Namespace, space) -> None:
    """Defaults that depend on what Ray found: a cluster's GPUs, and as many trials at a time as
    its resources hold (Tune otherwise keeps one Optuna trial pending and fills a big cluster one
    actor start at a time)."""
    import ray
    resources = ray.cluster_resources()
    if args.address is not None and args.gpus_per_trial is None and not args.resume:
        try:
            settings["gpus_per_trial"] = gpu_share(space.gpu, None, int(resources.get("GPU", 0)))
        except UsageError:
            pass
    if args.max_concurrent is None:
        slots = int(resources.get("CPU", 0) // args.cpus_per_trial)
        if settings["gpus_per_trial"]:
            slots = min(slots, int(resources.get("GPU", 0) / settings["gpus_per_trial"]))
        args.max_concurrent = max(1, slots)


def write_search_json(settings: dict, **extra) -> Path:
    """The experiment's own record (space, dataset, budget, seed): analysis and --resume read it."""
    folder = Path(settings["storage"]) / settings["name"]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "search.json"
    record = json.loads(path.read_text()) if path.exists() else {}
    record |= {k: v for k, v in settings.items() if k != "budget"}
    record |= {"budget": vars(settings["budget"]), **extra}
    path.write_text(json.dumps(record, indent=2))
    return folder


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.list_spaces:
        print(list_spaces())
        return 0
    try:
        settings = plan(args)
        data = datasets.load(settings["dataset"], settings["data_dir"])
        space = search_spaces.load(settings["space"])
        if space.prepare is not None:
            data = space.prepare(data, settings)
    except (UsageError, datasets.DataError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(data.summary(), flush=True)

    import ray
    os.environ.update(WORKER_ENV)
    ray.init(address=args.address, include_dashboard=False if args.address is None else None,
             logging_level="WARNING", runtime_env={"env_vars": WORKER_ENV})
    fit_to_cluster(settings, args, space)
    experiment = write_search_json(settings, started=time.time(), finished=None)
    results = make_tuner(settings, args, data).fit()

    from analysis import report
    from trainables.evaluate import evaluate_best_trial
    grid = settings["grid"]
    expected = math.prod(len(v) for v in grid.values()) if grid else settings["budget"].num_samples
    if len(results) < expected or results.num_terminated + results.num_errors < len(results):
        # Ctrl-C: Ray saved the experiment's state; report what finished, then say how to go on.
        path = report.write(experiment)
        ray.shutdown()  # flush the workers' logs first: the last lines are ours
        print(f"Report of the finished trials: {path}")
        print(f"Interrupted. Continue with: python run_search.py --space {settings['space']} "
              f"--name {settings['name']} --storage-path {settings['storage']} --resume")
        return 130
    write_search_json(settings, finished=time.time())
    evaluate_best_trial(experiment, data)
    path = report.write(experiment)
    ray.shutdown()  # flush the workers' logs first: the last line is ours
    print(f"Report: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
