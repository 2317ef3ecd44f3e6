"""The command line: help, the space list, and every bad input -> exit 2 and one clear line."""

import pytest

import search_spaces
from conftest import run


def test_help_documents_every_flag():
    out = run("run_search.py", "--help").stdout
    for flag in ["--space", "--dataset", "--num-samples", "--max-epochs", "--grace-period",
                 "--reduction-factor", "--cpus-per-trial", "--gpus-per-trial", "--max-concurrent",
                 "--storage-path", "--name", "--seed", "--smoke-test", "--address", "--resume",
                 "--list-spaces", "--max-failures", "--checkpoint-every", "--set", "--data-dir",
                 "--weights", "--no-mixed-precision", "--ema-epochs", "--ensemble"]:
        assert flag in out, flag


def test_list_spaces_names_every_space_with_dataset_and_model():
    proc = run("run_search.py", "--list-spaces")
    assert proc.returncode == 0
    lines = proc.stdout.splitlines()
    for name in search_spaces.names():
        space = search_spaces.load(name)
        line = next(l for l in lines if l.split()[0] == name)
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
def test_bad_input_exits_2_with_one_line(args, message, tmp_path):
    proc = run("run_search.py", "--dataset", "digits", "--storage-path", tmp_path, *args)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and message in proc.stderr, proc.stderr
    assert not list(tmp_path.glob("*/trial_*"))  # nothing started


def test_missing_cifar_says_where_to_put_it(tmp_path):
    """No CIFAR-100 in the Keras cache and no internet: exit 2 naming the file and the fallback."""
    proc = run("run_search.py", "--space", "basenet", "--storage-path", tmp_path / "r",
               env={"KERAS_HOME": str(tmp_path / "keras")})
    assert proc.returncode == 2
    assert "cifar-100-python.tar.gz" in proc.stderr and "--dataset digits" in proc.stderr
    assert proc.stderr.count("\n") == 1


def test_existing_experiment_is_not_overwritten_and_resume_needs_one(tmp_path):
    (tmp_path / "basenet").mkdir()
    (tmp_path / "basenet" / "search.json").write_text("{}")
    proc = run("run_search.py", "--space", "basenet", "--dataset", "digits",
               "--storage-path", tmp_path)
    assert proc.returncode == 2 and "add --resume" in proc.stderr
    proc = run("run_search.py", "--space", "basenet", "--dataset", "digits",
               "--storage-path", tmp_path, "--name", "other", "--resume")
    assert proc.returncode == 2 and "no experiment to resume" in proc.stderr
