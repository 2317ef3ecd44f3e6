"""The command line: help, the space list, and every bad input -> exit 2 and one clear line.
The inputs are checked in this process (run_search.main, conftest's run_search_main); the first
test runs the real command line for a refused input."""

import pytest

import search_spaces
from conftest import run


@pytest.mark.parametrize("args, message", [
    (["--space", "nope"], "unknown space 'nope'; choose one of: "),  # driver.plan's check
    (["--space", "basenet", "--num-samples", "1.5"], "argument --num-samples: invalid int"),
])
def test_the_command_line_refuses_bad_input_with_exit_2_and_one_line(args, message, tmp_path):
    proc = run("run_search.py", "--dataset", "digits", "--storage-path", tmp_path, *args)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("error: "), proc.stderr
    assert message in proc.stderr and proc.stdout == "", proc.stderr
    assert not list(tmp_path.glob("*/trial_*"))  # nothing started


def test_help_documents_every_flag(capsys):
    import run_search
    with pytest.raises(SystemExit) as stopped:
        run_search.main(["--help"])
    assert stopped.value.code == 0
    out = capsys.readouterr().out
    for flag in ["--space", "--dataset", "--num-samples", "--max-epochs", "--grace-period",
                 "--reduction-factor", "--cpus-per-trial", "--gpus-per-trial", "--max-concurrent",
                 "--storage-path", "--name", "--seed", "--smoke-test", "--address", "--resume",
                 "--list-spaces", "--max-failures", "--checkpoint-every", "--set", "--data-dir",
                 "--weights", "--no-mixed-precision", "--ema-epochs", "--ensemble"]:
        assert flag in out, flag


def test_list_spaces_names_every_space_with_dataset_and_model(capsys):
    import run_search
    assert run_search.main(["--list-spaces"]) == 0
    lines = capsys.readouterr().out.splitlines()
    for name in search_spaces.names():
        space = search_spaces.load(name)
        line = next(l for l in lines if l.split()[:1] == [name])
        assert space.dataset in line and space.model in line and space.description in line


@pytest.mark.parametrize("args, message", [
    (["--space", "nope"], "unknown space 'nope'; choose one of: augmentation_grid, basenet,"),
    ([], "--space is required"),
    (["--space", "basenet", "--dataset", "mnist"], "unknown dataset 'mnist'"),
    (["--space", "basenet", "--num-samples", "0"], "--num-samples must be a positive integer"),
    (["--space", "basenet", "--max-epochs", "-1"], "--max-epochs must be a positive integer"),
    (["--space", "basenet", "--grace-period", "0"], "--grace-period must be a positive integer"),
    (["--space", "basenet", "--reduction-factor", "1"], "--reduction-factor must be an integer from 2 to"),
    (["--space", "basenet", "--max-epochs", "2", "--grace-period", "3"], "exceeds --max-epochs"),
    (["--space", "basenet", "--cpus-per-trial", "0"], "--cpus-per-trial must be a positive"),
    (["--space", "basenet", "--cpus-per-trial", "512"], "but this machine has"),
    (["--space", "basenet", "--max-concurrent", "0"], "--max-concurrent must be a positive"),
    (["--space", "basenet", "--ema-epochs", "-1"], "--ema-epochs must be 0 (off) or more"),
    (["--space", "basenet", "--ema-epochs", "inf"], "--ema-epochs must be 0 (off) or more"),
    (["--space", "basenet", "--ensemble", "0"], "--ensemble must be a positive integer from 1"),
    (["--space", "basenet", "--gpus-per-trial", "1"], "--gpus-per-trial 1 but this machine has 0"),
    (["--space", "basenet", "--storage-path", "/dev/null/results"], "cannot write to --storage-path"),
    (["--space", "basenet", "--storage-path", "s3://bucket/results"], "URIs are not supported yet"),
    (["--space", "basenet", "--weights", "none"], "--weights applies to transfer spaces only"),
])
def test_bad_input_exits_2_with_one_line(args, message, tmp_path, run_search_main):
    code, error = run_search_main("--dataset", "digits", "--storage-path", tmp_path, *args)
    assert code == 2, error
    assert error.count("\n") == 1 and message in error, error
    assert not list(tmp_path.glob("*/trial_*"))  # nothing started


def test_missing_cifar_says_where_to_put_it(tmp_path, offline_keras_home, run_search_main):
    """No CIFAR-100 in the Keras cache and no network: exit 2 naming the file and the fallback."""
    code, error = run_search_main("--space", "basenet", "--storage-path", tmp_path / "r")
    assert code == 2
    assert "cifar-100-python.tar.gz" in error and "--dataset digits" in error
    assert error.count("\n") == 1


def test_existing_experiment_is_not_overwritten_and_resume_needs_one(tmp_path, run_search_main):
    (tmp_path / "basenet").mkdir()
    (tmp_path / "basenet" / "search.json").write_text("{}")
    code, error = run_search_main("--space", "basenet", "--dataset", "digits",
                                  "--storage-path", tmp_path)
    assert code == 2 and "add --resume" in error
    code, error = run_search_main("--space", "basenet", "--dataset", "digits",
                                  "--storage-path", tmp_path, "--name", "other", "--resume")
    assert code == 2 and "no experiment to resume" in error


def test_help_states_each_default_once(capsys):
    """Every flag's help says its default at most once, and never "(default: None)"."""
    import re

    import run_search
    with pytest.raises(SystemExit):
        run_search.parse_args(["--help"])
    text = capsys.readouterr().out
    assert "(default: None)" not in text and "(default: False)" not in text
    flags = re.split(r"\n  (?=-)", text.split("options:")[1])
    assert len(flags) > 25
    for flag in flags:
        assert len(re.findall(r"\bdefault\b", " ".join(flag.split()))) <= 1 or \
            flag.startswith("--list-spaces"), flag
    assert "--seed SEED" in text and "(default: 0)" in text  # a fixed default argparse adds


def test_list_spaces_says_what_each_space_needs():
    """Below each space: its download (name and size, or none), whether a GPU is advised, its
    default budget and that budget's expected time on a CPU (measured) and on a GPU."""
    import run_search
    from search_spaces import _needs

    lines = run_search.list_spaces().splitlines()
    for name in search_spaces.names():
        space = search_spaces.load(name)
        needs = lines[next(i for i, l in enumerate(lines) if l.split()[:1] == [name]) + 1]
        assert needs.startswith("    download: ") and "; GPU advised: " in needs, needs
        for what, size in _needs.downloads(space):
            assert f"{what} ({size / 1e6:,.0f} MB)" in needs
        assert "CPU about " in needs, needs  # every space has a measured CPU figure
        cpu, _ = _needs.expected_seconds(name, space)
        assert ("GPU advised: yes" in needs) == (cpu > run_search.GPU_ADVISED_S)
    digits = run_search.space_needs("basenet", search_spaces.load("basenet"))
    assert "cifar-100-python.tar.gz (169 MB)" in digits and "ImageNet" not in digits
    finetune = run_search.space_needs("finetune_resnet", search_spaces.load("finetune_resnet"))
    assert "CUB_200_2011.tgz (1,151 MB) + resnet50 ImageNet weights (95 MB)" in finetune
    assert "GPU about " in finetune  # from report 001's own time


@pytest.mark.parametrize("name", search_spaces.names())
def test_a_default_budgets_expected_epochs_lie_between_its_shortest_and_longest(name):
    import itertools

    from search_spaces import _needs

    space = search_spaces.load(name)
    budget, epochs = space.budget, _needs.expected_epochs(space)
    if space.grid:  # every run of a study goes the whole way (or stops early on its own)
        runs = len(list(itertools.product(*space.grid.values())))
        assert epochs == runs * budget.max_epochs
    else:  # ASHA: every trial to the grace period, a few to the end
        assert budget.num_samples * budget.grace_period < epochs < \
            budget.num_samples * budget.max_epochs / 2
