"""One trial at a time, the same command twice gives the same search: the same configurations in
the same order, the same epochs, the same stop decisions, the same metrics (within 1e-4)."""

import pytest

from conftest import run


def _search(storage, name):
    from analysis.results import load
    proc = run("run_search.py", "--space", "basenet", "--dataset", "digits", "--smoke-test",
               "--num-samples", "4", "--max-epochs", "3", "--max-concurrent", "1", "--ensemble", "1",
               "--storage-path", storage, "--name", name)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    results = load(storage / name)
    # trial ids differ between runs: match trials by their configuration
    trials = results.trials.sort_values(["learning_rate", "optimizer", "batch_size", "dropout"])
    rank = {t: i for i, t in enumerate(trials["trial_id"])}
    epochs = results.epochs.assign(n=results.epochs["trial_id"].map(rank))
    return trials, epochs.sort_values(["n", "epoch"])


@pytest.mark.slow
def test_one_at_a_time_the_same_command_gives_the_same_search(tmp_path):
    trials_a, epochs_a = _search(tmp_path, "a")
    trials_b, epochs_b = _search(tmp_path, "b")
    params = ["optimizer", "learning_rate", "batch_size", "dropout", "epochs", "status"]
    assert trials_a[params].values.tolist() == trials_b[params].values.tolist()
    metrics = ["loss", "accuracy", "val_loss", "val_accuracy"]
    assert len(epochs_a) == len(epochs_b)
    assert abs(epochs_a[metrics].values - epochs_b[metrics].values).max() <= 1e-4
    assert abs(trials_a["test_accuracy"].fillna(-1).values
               - trials_b["test_accuracy"].fillna(-1).values).max() <= 1e-4
    readme = (tmp_path / "a" / "report" / "README.md").read_text()
    assert "- one trial at a time: the same command gives the same trials" in readme


@pytest.mark.slow
def test_the_report_says_when_timing_decides_the_order(smoke_search):
    folder, _ = smoke_search
    readme = (folder / "report" / "README.md").read_text()
    assert "- up to 2 trials at a time: the order in which results arrive" in readme
