#!/usr/bin/env python
"""Run a hyperparameter search for one practice model: Optuna (TPE) proposes, ASHA stops weak
trials early, Ray places trials on the CPUs/GPUs it has, and the report is written at the end.

    python run_search.py --list-spaces
    python run_search.py --space basenet --dataset digits
    python run_search.py --space basenet --smoke-test
    python run_search.py --space basenet --name basenet --resume

The command line only: it parses flags, asks driver.settings.plan to check them (every input error
exits with code 2 and one line, before Ray starts), and hands the search to driver.search.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import sys

import search_spaces
from driver import search
from driver.plan import plan
from driver.settings import UsageError
from search_spaces import _needs
from search_spaces._common import SMOKE_BUDGET
from trainables import datasets
from trainables.data import DataError
from trainables.images import DEFAULT_IMAGE_SIZE


class _Help(argparse.HelpFormatter):
    """Each default said once: a flag whose default depends on the space or the machine says it
    in its own help; argparse adds "(default: X)" only to the others that have one."""

    def _get_help_string(self, action):
        text = action.help or ""
        # no default worth saying (0 is one: "is", not "in", tells it from False)
        unset = action.default is None or action.default is False or action.default == []
        if "default" in text or unset or action.default is argparse.SUPPRESS:
            return text
        return text + " (default: %(default)s)"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):
        """A flag argparse cannot parse (an unknown flag, "1.5" for an integer) is one line and
        exit code 2, as every other input error, not the whole usage text."""
        self.exit(2, f"error: {message}; see python run_search.py --help\n")


def parse_args(argv=None) -> argparse.Namespace:
    p = _Parser(
        description="Hyperparameter search (Ray Tune + ASHA + Optuna) for the practice models.",
        formatter_class=_Help)
    p.add_argument("--space", help="search space to run (see --list-spaces)")
    p.add_argument("--list-spaces", action="store_true",
                   help="list every space with its dataset, model, description, download, "
                        "whether a GPU is advised and its default budget's expected time, then "
                        "exit")
    p.add_argument("--dataset", help="dataset instead of the space's own (default): "
                   + ", ".join(datasets.names()))
    p.add_argument("--data-dir", help="folder holding a downloaded dataset (cub200, pathmnist; "
                                      f"default ${datasets.DATA_DIR_ENV})")
    p.add_argument("--image-size", type=int,
                   help="side in pixels that image-file datasets (cub200) are decoded at "
                        f"(default {DEFAULT_IMAGE_SIZE}; smaller is faster, e.g. 32 for a trial "
                        "run)")
    p.add_argument("--weights", help="backbone weights of transfer spaces: imagenet (the "
                                     "default; Keras's download and cache), none (random init: "
                                     "choices that need ImageNet weights leave the search) or a "
                                     ".h5 file")
    p.add_argument("--num-samples", type=int, help="trials to run (default: the space's)")
    p.add_argument("--max-epochs", type=int,
                   help="epochs a trial may run: ASHA's max_t; searched epoch counts (a "
                        "fine-tuning schedule's phase1_epochs) stay below it (default: the "
                        "space's)")
    p.add_argument("--grace-period", type=int,
                   help="epochs before ASHA may stop a trial (default: the space's)")
    p.add_argument("--reduction-factor", type=int,
                   help="ASHA keeps 1/reduction_factor per rung (default: the space's)")
    p.add_argument("--time-budget", metavar="DURATION",
                   help="wall-clock budget, e.g. 90m, 2h, 1h30m, 45s: no trial starts after it, "
                        "running ones are stopped, and the search ends as after its last trial "
                        "(default: none)")
    p.add_argument("--warm-start", metavar="FOLDER",
                   help="start the sampler from an earlier experiment of the same space (its "
                        "finished trials), so a bigger budget builds on a smaller one")
    p.add_argument("--cpus-per-trial", type=int,
                   help="CPU cores per trial (default: 1 for CPU trials; for GPU trials, a GPU "
                        "node's cores shared among the trials it runs at once)")
    p.add_argument("--gpus-per-trial", type=float,
                   help="GPUs per trial, fractions allowed (default: the space's share when "
                        "GPUs exist, else 0)")
    p.add_argument("--no-mixed-precision", action="store_true",
                   help="train in float32 on GPUs too (default: mixed_float16 on GPUs)")
    p.add_argument("--ema-epochs", type=float, metavar="N",
                   help="validate, keep and test an exponential moving average of the weights "
                        "over about N epochs (default: 1 in searches; 0, the weights as trained, "
                        "in studies, which train as the reports did)")
    p.add_argument("--ensemble", type=int, metavar="K",
                   help="also test the ensemble of the K trials with the best val accuracy, "
                        "their predicted class probabilities averaged (default: 5 in searches; "
                        "1, the best trial alone, in studies)")
    p.add_argument("--max-concurrent", type=int,
                   help="trials at a time (default: as many as the resources allow)")
    p.add_argument("--checkpoint-every", type=int, metavar="N",
                   help="a checkpoint every N epochs: what a resumed or retried trial repeats at "
                        "most (default: every 30 s of a trial, or every epoch with "
                        "--time-budget); a trial always saves its last epoch and the epochs where "
                        "ASHA may stop it")
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
    p.add_argument("--verbose", action="store_true",
                   help="also show Ray's own output: its status tables, a box per trial, its "
                        "log lines")
    p.add_argument("--address", help="connect to a running Ray cluster (auto or HOST:PORT) "
                                     "instead of starting one on this machine (the default)")
    args = p.parse_args(argv)
    p.set_defaults(**dict.fromkeys(vars(args)))  # again, every default None: what was given
    args.given = {flag for flag, value in vars(p.parse_args(argv)).items() if value is not None}
    return args


def list_spaces() -> str:
    """A line per space (name, dataset, model, description), then what it needs: its download,
    whether a GPU is advised, its default budget and that budget's expected time."""
    spaces = [(n, search_spaces.load(n)) for n in search_spaces.names()]
    rows = [(name, s.dataset, s.model, s.description) for name, s in spaces]
    widths = [max(len(r[i]) for r in rows + [("space", "dataset", "model", "")]) for i in range(3)]
    lines = [f"{'space':<{widths[0]}}  {'dataset':<{widths[1]}}  {'model':<{widths[2]}}  description"]
    for (a, b, c, d), (name, space) in zip(rows, spaces):
        lines += [f"{a:<{widths[0]}}  {b:<{widths[1]}}  {c:<{widths[2]}}  {d}",
                  "    " + space_needs(name, space)]
    lines += ["", f"CPU: measured on a {_needs.CPU_MACHINE}; a faster CPU takes less. GPU "
                  f"advised: the CPU would take over {GPU_ADVISED_S // 3600} h. GPU: a report's "
                  f"own time where it gives one, else not measured yet."]
    return "\n".join(lines)


GPU_ADVISED_S = 3600  # a default budget longer than this on a CPU: a GPU is advised


def space_needs(name: str, space) -> str:
    """One line: download (what, size), GPU advised, default budget, its time on CPU / GPU."""
    got = _needs.downloads(space)
    download = " + ".join(f"{what} ({size / 1e6:,.0f} MB)" for what, size in got) or "none"
    cpu, gpu = _needs.expected_seconds(name, space)
    budget = space.budget
    trials = (f"{len(list(itertools.product(*space.grid.values())))} runs x {budget.max_epochs} "
              f"epochs" if space.grid else f"{budget.num_samples} trials x <= {budget.max_epochs} "
              f"epochs")
    advised = "unknown" if cpu is None else "yes" if cpu > GPU_ADVISED_S else "no"
    epochs = f"{'up to' if space.grid else 'about'} {_needs.expected_epochs(space):,.0f} epochs"
    return (f"download: {download}; GPU advised: {advised}; default budget {trials} ({epochs}): "
            f"CPU {_duration(cpu)}, GPU {_duration(gpu)}")


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "not measured"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= 2 * size:
            return f"about {seconds / size:.0f} {unit}"
    return f"about {seconds:.0f} s"


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.list_spaces:
        print(list_spaces())
        return 0
    try:
        settings, space = plan(args)
        data = search.load_data(settings, space)
    except (UsageError, DataError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(data.summary(), flush=True)
    return search.run(settings, space, data, verbose=bool(args.verbose))


if __name__ == "__main__":
    code = main()
    # Everything is written and Ray is down. The interpreter's last collections would walk the
    # millions of objects Ray, pandas and matplotlib left (docs/benchmarks.md, "Mechanisms in the
    # code"); frozen, they are left to the operating system.
    gc.freeze()
    sys.exit(code)
