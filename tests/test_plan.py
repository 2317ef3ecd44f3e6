"""driver.plan: --set overrides of studies, strictly parsed and checked against the trial schema,
and flags that a resumed search cannot change, before Ray starts (exit 2, one line)."""

from __future__ import annotations

import json
import shutil
from types import SimpleNamespace

import pytest

import run_search
from conftest import run
from driver.plan import plan
from driver.settings import UsageError
from search_spaces._common import Budget


def _plan(tmp_path, *args):
    return plan(run_search.parse_args(["--dataset", "digits", "--storage-path", str(tmp_path),
                                       *args]))


@pytest.mark.parametrize("flag, message", [
    (["--set", "optimizer"], "write KEY=VALUE"),
    (["--set", "colour=red"], "not a grid axis or constant"),
    (["--set", "fold=one"], "invalid literal"),
    (["--set", "optimizer=lion"], "optimizer='lion' is not one of sgd, rmsprop"),
    (["--set", "fold=0,7"], "fold=7 is not below folds=5"),
    (["--set", "patience=-1"], "patience=-1 is not an integer >= 0"),
])
def test_bad_study_overrides_are_usage_errors(flag, message, tmp_path):
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)")):
        _plan(tmp_path, "--space", "optimizers_cv", *flag)


@pytest.mark.parametrize("space, flag, message", [
    ("model_comparison", "model=basenet,alexnet", "model='alexnet' is not one of"),
    ("augmentation_grid", "zoom=0.2,2", "zoom=2.0 is not a number >= 0, <= 1"),
    ("augmentation_grid", "normalize=l2", "normalize='l2' is not one of none, featurewise, zca"),
])
def test_set_values_are_checked_against_what_a_trial_accepts(space, flag, message, tmp_path,
                                                             run_search_main):
    code, error = run_search_main("--space", space, "--dataset", "digits", "--storage-path",
                                  tmp_path, "--set", flag)
    assert code == 2 and error.count("\n") == 1, error
    assert message in error and not list(tmp_path.iterdir())[1:]  # the lock file alone


def test_set_narrows_and_widens_a_grid(tmp_path):
    settings, _ = _plan(tmp_path, "--space", "augmentation_grid", "--set", "zoom=0.0,0.2",
                        "--set", "normalize=none,featurewise")
    assert settings.grid == {"flip": [False, True], "zoom": [0.0, 0.2],
                             "normalize": ["none", "featurewise"]}
    assert "normalize" not in settings.constants


def test_set_is_refused_for_searches(tmp_path):
    with pytest.raises(UsageError, match="--set applies to studies"):
        _plan(tmp_path, "--space", "basenet", "--set", "dropout=0.1")


def test_searches_average_the_weights_and_studies_train_as_the_reports_did(tmp_path):
    """--ema-epochs: 1 by default in a search, 0 in a study (which reproduces a report's
    training); a trial's config carries it only when it is on."""
    search, _ = _plan(tmp_path, "--space", "basenet")
    assert search.ema_epochs == 1.0 and search.trial_constants()["ema_epochs"] == 1.0
    study, _ = _plan(tmp_path, "--space", "optimizers_cv")
    assert study.ema_epochs == 0.0 and "ema_epochs" not in study.trial_constants()
    asked, _ = _plan(tmp_path, "--space", "optimizers_cv", "--ema-epochs", "2.5")
    assert asked.trial_constants()["ema_epochs"] == 2.5
    off, _ = _plan(tmp_path, "--space", "basenet", "--ema-epochs", "0")
    assert "ema_epochs" not in off.trial_constants()


def test_searches_test_an_ensemble_and_studies_the_best_trial_alone(tmp_path):
    """--ensemble: 5 by default in a search, 1 (the best trial alone) in a study, whose table
    compares single configurations; a driver-only setting, not in any trial's config."""
    search, _ = _plan(tmp_path, "--space", "basenet")
    assert search.ensemble == 5 and "ensemble" not in search.trial_constants()
    study, _ = _plan(tmp_path, "--space", "optimizers_cv")
    assert study.ensemble == 1
    asked, _ = _plan(tmp_path, "--space", "basenet", "--ensemble", "3")
    assert asked.ensemble == 3


def test_the_flags_given_are_known_defaults_included():
    args = run_search.parse_args(["--space", "basenet", "--seed", "0", "--set", "a=1",
                                  "--smoke-test", "--max-failures=2"])
    assert args.given == {"space", "seed", "set", "smoke_test", "max_failures"}
    assert args.seed == 0 and args.max_failures == 2 and args.checkpoint_every is None


def test_checkpoints_every_epoch_only_when_asked_or_when_a_time_budget_may_stop_a_trial(tmp_path):
    plain, _ = _plan(tmp_path, "--space", "basenet")
    assert plain.checkpoint_every is None  # trials checkpoint at rungs, ends and by the clock
    timed, _ = _plan(tmp_path, "--space", "basenet", "--time-budget", "1h")
    assert timed.checkpoint_every == 1
    asked, _ = _plan(tmp_path, "--space", "basenet", "--time-budget", "1h",
                     "--checkpoint-every", "3")
    assert asked.checkpoint_every == 3


@pytest.mark.slow
def test_resume_keeps_what_the_search_started_with_and_refuses_flags_that_change_it(smoke_search,
                                                                                    tmp_path):
    shutil.copytree(smoke_search[0], tmp_path / "smoke")
    saved = json.loads((tmp_path / "smoke" / "search.json").read_text())
    resume = ["--space", "basenet", "--name", "smoke", "--resume"]
    # The command first: the plans below, in this process, hold the experiment's lock.
    proc = run("run_search.py", "--dataset", "digits", "--storage-path", tmp_path, *resume,
               "--num-samples", "100")
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert "--num-samples: " in proc.stderr and "drop the flag, or start a new search" in \
        proc.stderr
    # What may change applies (--ensemble, --data-dir); what it started with stays, the smoke
    # preset and the same values given again included.
    settings, _ = _plan(tmp_path, *resume, "--smoke-test", "--max-epochs",
                        str(saved["budget"]["max_epochs"]), "--ensemble", "3", "--data-dir", "d")
    assert settings.budget == Budget(**saved["budget"]) and settings.data_dir == "d"
    assert settings.ensemble == 3 and settings.seed == saved["seed"] == 0
    assert (settings.max_failures, settings.max_concurrent) == (saved["max_failures"],
                                                                saved["max_concurrent"])
    for flag, started in [(["--max-epochs", "50"], "budget.max_epochs 4"),
                          (["--max-failures", "0"], "max_failures 2"),
                          (["--seed", "1"], "seed 0"),
                          (["--time-budget", "1h"], "the default time_budget"),
                          (["--checkpoint-every", "2"], "the default checkpoint_every"),
                          (["--max-concurrent", "1"], "max_concurrent 2"),
                          (["--cpus-per-trial", "2"], "cpus_per_trial 1")]:
        with pytest.raises(UsageError, match=f"^{flag[0]}: .*smoke started with {started} "):
            _plan(tmp_path, *resume, *flag)


@pytest.mark.parametrize("budget", [Budget(24, 20, 2, 3), Budget(6, 4, 1, 2), Budget(4, 9, 1, 3),
                                    Budget(4, 6, 1, 3), Budget(4, 100, 5, 4), Budget(2, 4, 4, 3)])
def test_the_rungs_are_where_ashas_scheduler_decides(budget):
    """The trials checkpoint at budget.rungs(): the scheduler judges them there (below max_t),
    and stops a trial at max_t; experiments started with Ray's ASHAScheduler resume with it,
    whose rungs are the same (checked against Ray 2.60's private _brackets)."""
    from ray.tune.schedulers import ASHAScheduler

    from driver.halving import Halving
    ashas = ASHAScheduler(time_attr="training_iteration", max_t=budget.max_epochs,
                          grace_period=budget.grace_period,
                          reduction_factor=budget.reduction_factor)
    assert budget.rungs() == tuple(sorted(milestone for milestone, _ in ashas._brackets[0]._rungs))
    scheduler = Halving(rungs=budget.rungs(), max_t=budget.max_epochs,
                        reduction_factor=budget.reduction_factor)
    assert scheduler.set_search_properties("val_accuracy", "max")
    decisions = [scheduler.on_trial_result(None, SimpleNamespace(trial_id="a"), {
        "training_iteration": epoch, "val_accuracy": 0.5}) for epoch in
        range(1, budget.max_epochs + 1)]
    assert decisions == ["CONTINUE"] * (budget.max_epochs - 1) + ["STOP"]
    judged = tuple(r for r, recorded in scheduler.rungs.items() if "a" in recorded)
    assert judged == tuple(r for r in budget.rungs() if r < budget.max_epochs)


MAX = 2**31 - 1
# Every numeric flag at its limits: zero, negative, huge, non-integral or not a number. Each is
# one line and exit 2 before Ray, or (ACCEPTED) a search the libraries run: the slow test below.
EXTREMES = {
    "--num-samples": ["0", "-1", "1.5", "10" * 11, str(MAX)],
    "--max-epochs": ["0", "-1", "1.5", "10" * 11, str(MAX)],
    "--grace-period": ["0", "-1", "1.5", str(MAX)],
    "--reduction-factor": ["0", "1", "-1", "1.5", "10" * 11, str(MAX)],
    "--cpus-per-trial": ["0", "-1", "1.5", str(MAX)],
    "--max-concurrent": ["0", "-1", "1.5", "3", str(MAX)],
    "--checkpoint-every": ["0", "-1", "1.5", "10" * 11, str(MAX)],
    "--max-failures": ["-1", "1.5", "10" * 11, str(MAX)],
    "--ensemble": ["0", "-1", "1.5", "10" * 11, str(MAX)],
    "--seed": ["-1", "1.5", str(2**32), str(2**32 - 1)],
    "--gpus-per-trial": ["-1", "nan", "inf", "1e300", "0.00001", "1.5", "0"],
    "--ema-epochs": ["-1", "nan", "inf", "0", "1e-300", "1e300"],
    "--time-budget": ["0", "-1", "1e300h", "nan", "99999999999999999999h", "0.0000001s"],
    "--image-size": ["0", "-1", "1.5", "31", "10" * 11, "1025", "1024"],
    "--set": ["patience=-1", f"patience={MAX + 1}", "patience=1.5", "folds=1", "batch_size=0",
              "batch_size=65537", "learning_rate=0", "learning_rate=nan", "learning_rate=inf",
              "dropout=nan", f"patience={MAX}", "batch_size=65536", "learning_rate=10"],
}
ACCEPTED = {("--num-samples", str(MAX)), ("--max-epochs", str(MAX)),
            ("--reduction-factor", str(MAX)), ("--checkpoint-every", str(MAX)),
            ("--max-failures", str(MAX)), ("--ensemble", str(MAX)), ("--seed", str(2**32 - 1)),
            ("--gpus-per-trial", "0"), ("--ema-epochs", "0"), ("--ema-epochs", "1e-300"),
            ("--ema-epochs", "1e300"), ("--time-budget", "99999999999999999999h"),
            ("--time-budget", "0.0000001s"), ("--image-size", "1024"),
            ("--set", f"patience={MAX}"), ("--set", "batch_size=65536"),
            ("--set", "learning_rate=10")}


@pytest.mark.parametrize("flag, value", [(f, v) for f, values in EXTREMES.items()
                                         for v in values])
def test_every_numeric_flag_at_its_limits_is_one_line_or_accepted(flag, value, tmp_path,
                                                                   capsys):
    space = "optimizers_cv" if flag == "--set" else "basenet"
    dataset = "cub200" if flag == "--image-size" else "digits"
    try:
        _plan(tmp_path, "--space", space, "--dataset", dataset, flag, value)
    except UsageError as e:
        error = f"error: {e}\n"
    except SystemExit as e:  # argparse: not a number of the flag's type
        assert e.code == 2
        error = capsys.readouterr().err
    else:
        assert (flag, value) in ACCEPTED, f"{flag} {value} was accepted"
        return
    assert (flag, value) not in ACCEPTED, error
    named = value.split("=")[0] if flag == "--set" else flag
    assert error.count("\n") == 1 and error.startswith("error: ") and named in error, error


def _searched(space, settings) -> dict:
    """The space's searched values as search.json and the Optuna study record them."""
    from optuna.distributions import json_to_distribution

    from driver import record
    return {k: json_to_distribution(v) for k, v in record.distributions(space, settings).items()}


def test_weights_none_takes_the_imagenet_inits_out_of_the_search(tmp_path):
    """--weights none: init=imagenet and init=finetune would train random weights under those
    names, so the search offers random only: in its distributions, its report points and every
    configuration it can draw (the checks made before Ray starts)."""
    from driver.plan import configs

    settings, space = _plan(tmp_path, "--space", "mobilenet_cifar10", "--weights", "none")
    assert _searched(space, settings)["init"].choices == ("random",)
    assert [p["init"] for p in space.points_to_evaluate] == ["random"]  # 003's random-init run
    assert {config["init"] for _, config in configs(space, settings)} == {"random"}
    # With ImageNet weights (the default) all three stay, the reports' three runs first.
    settings, space = _plan(tmp_path, "--space", "mobilenet_cifar10", "--name", "imagenet")
    assert set(_searched(space, settings)["init"].choices) == {"random", "imagenet", "finetune"}
    assert [p["init"] for p in space.points_to_evaluate] == ["random", "imagenet", "finetune"]


@pytest.mark.parametrize("space, flags, high, points", [
    # --smoke-test's 4 epochs: 000's 20 head epochs become 3, so phase 2 still runs
    ("finetune_resnet", ["--smoke-test"], 3, [0, 3, 3, 0]),
    ("finetune_resnet", ["--max-epochs", "2", "--grace-period", "1"], 1, [0, 1, 1, 0]),
    ("finetune_resnet", ["--max-epochs", "21"], 20, [0, 20, 20, 0]),  # the whole range fits
    ("inception_resnet", ["--max-epochs", "6", "--grace-period", "1"], 5, [0]),
    ("mobilenet_cifar10", ["--max-epochs", "10", "--grace-period", "1"], 9, [None, None, 9]),
])
def test_a_budget_shorter_than_a_searched_epoch_count_narrows_it(space, flags, high, points,
                                                                  tmp_path):
    """phase1_epochs is the epoch phase 2 starts at: one at or past the trial's last epoch would
    never fine-tune, yet be reported as a fine-tuning schedule."""
    from driver.plan import configs

    settings, narrowed = _plan(tmp_path, "--space", space, *flags)
    assert _searched(narrowed, settings)["phase1_epochs"].high == high
    assert [p.get("phase1_epochs") for p in narrowed.points_to_evaluate] == points
    drawn = [c["phase1_epochs"] for _, c in configs(narrowed, settings)
             if c.get("phase1_epochs") is not None]
    assert drawn and max(drawn) <= high < settings.budget.max_epochs


def test_a_one_epoch_budget_leaves_no_finetune_init(tmp_path):
    """MobileNet's fine-tuning needs a head epoch and a phase-2 epoch: not in a 1-epoch trial."""
    settings, space = _plan(tmp_path, "--space", "mobilenet_cifar10", "--max-epochs", "1",
                            "--grace-period", "1")
    searched = _searched(space, settings)
    assert searched["init"].choices == ("random", "imagenet") and "phase1_epochs" not in searched
    assert [p["init"] for p in space.points_to_evaluate] == ["random", "imagenet"]
