"""End to end: a real (tiny) Ray Tune search on digits, its results folder and its report."""

import json
import shutil
from pathlib import Path

import pytest

from conftest import report_csv, run
from search_spaces import load
from search_spaces._common import SMOKE_BUDGET

pytestmark = pytest.mark.slow  # real searches, clusters or fault drills


def test_search_writes_every_report_file(smoke_search):
    folder, proc = smoke_search
    assert proc.stdout.strip().splitlines()[-1] == f"Report: {folder / 'report' / 'README.md'}"
    for noise in ["Checkpoint successfully created", "`shuffle=True` was passed",  # per actor
                  "absl::InitializeLog", "port.cc", "failed call to cuInit",
                  "Experiment state snapshotting has been triggered",
                  "Token authentication is enabled"]:  # a local cluster's, at every start
        assert noise not in proc.stdout + proc.stderr, noise
    for name in ["README.md", "trials.csv", "trials.md", "best.csv", "best.md", "curves.png",
                 "search.png"]:
        assert (folder / "report" / name).stat().st_size > 0, name
    assert (folder / "report" / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_trials_table_holds_every_trial_and_asha_stopped_some(smoke_search):
    folder, _ = smoke_search
    trials = report_csv(folder / "report" / "trials.csv")
    assert len(trials) == SMOKE_BUDGET.num_samples
    for column in ["trial_id", "status", "epochs", "optimizer", "learning_rate", "batch_size",
                   "dropout", "val_accuracy", "val_loss", "test_accuracy"]:
        assert column in trials.columns, column
    assert trials["trial_id"].is_unique
    assert trials["epochs"].between(1, SMOKE_BUDGET.max_epochs).all()
    assert set(trials["status"]) <= {"completed", "stopped", "diverged"}
    # ASHA stopped some trials before the budget; the others ran it all and were tested.
    stopped = trials[trials["status"] == "stopped"]
    completed = trials[trials["status"] == "completed"]
    assert len(stopped) >= 1 and len(completed) >= 1
    assert (stopped["epochs"] < SMOKE_BUDGET.max_epochs).all() and stopped["test_accuracy"].isna().all()
    assert (completed["epochs"] == SMOKE_BUDGET.max_epochs).all()
    assert completed["test_accuracy"].between(0, 1).all()
    assert trials["val_accuracy"].is_monotonic_decreasing  # best first


def test_console_reads_at_a_glance_and_agrees_with_the_report(smoke_search):
    """driver/console.py on a real search: the header, the line while Ray starts, one line per
    trial that says what the report's table says of it (searched values, epochs, best val
    accuracy, how it ended), the progress lines with the report's best trial; none of Ray's
    boxes and tables, no test score before the end, nothing on stderr."""
    from analysis.results import best_trial, load

    folder, proc = smoke_search
    lines = proc.stdout.strip().splitlines()
    assert proc.stderr.strip() == "", proc.stderr[-3000:]
    assert f"Searching basenet on digits: {SMOKE_BUDGET.num_samples} trials of up to " \
           f"{SMOKE_BUDGET.max_epochs} epochs" in lines[1]
    assert lines[2].startswith(f"Results: {folder} (TensorBoard: tensorboard --logdir {folder})")
    assert lines[3] == "Starting Ray on this machine ..." and lines[4].startswith("Ray is ready")
    assert lines[5] == f"[0 of {SMOKE_BUDGET.num_samples} trials done, 0:00 elapsed]"

    trials = load(folder).trials
    for trial in trials.itertuples():
        line = next(l for l in lines if l.startswith(f"trial {trial.trial_id}  "))
        how = {"completed": "completed",
               "stopped": f"stopped by ASHA at epoch {trial.epochs}"}[trial.status]
        epochs = f"{trial.epochs} epoch{'s' if trial.epochs != 1 else ''}"
        assert line.endswith(f"  {epochs}  val_accuracy {trial.val_accuracy:.4f}  {how}"), line
        for key in ["optimizer", "learning_rate", "batch_size", "dropout"]:
            assert f"{key}=" in line, (key, line)
        assert f"optimizer={trial.config['optimizer']} " in line
        assert "model=" not in line and "seed=" not in line  # constants, not searched
    assert {"completed", "stopped"} <= set(trials["status"])  # both kinds were shown

    progress = [l for l in lines if l.startswith("[")]
    best = best_trial(trials)
    assert progress[-1].startswith(f"[{len(trials)} of {len(trials)} trials done, ")
    assert progress[-1].endswith(f", best val_accuracy {best['val_accuracy']:.4f} "
                                 f"({best['trial_id']})]"), progress[-1]
    last_trial_line = max(i for i, l in enumerate(lines) if l.startswith("trial "))
    assert not any("test" in l.lower() for l in lines[:last_trial_line + 1]
                   if l.startswith(("trial ", "[")))  # (the header's path may hold "pytest")
    assert next(i for i, l in enumerate(lines) if l.startswith("Test accuracy")) > last_trial_line
    out = proc.stdout
    for ray_own in ["╭", "│", "Trial status", "completed after", "Current best trial",
                    "View detailed results", "/tmp/ray/session_", "test_accuracy"]:
        assert ray_own not in out, ray_own
    assert len(lines) <= len(trials) + 12, out  # a line per trial, a dozen around them


def test_search_starts_from_the_reports_configuration(smoke_search):
    folder, _ = smoke_search
    first = load("basenet").points_to_evaluate[0]
    configs = [json.loads(p.read_text()) for p in folder.glob("trial_*/params.json")]
    assert any(all(c[k] == v for k, v in first.items()) for c in configs)
    assert all(c["seed"] == 0 and c["model"] == "basenet" for c in configs)


def test_per_epoch_results_have_the_contract_metrics(smoke_search):
    folder, _ = smoke_search
    for result_file in folder.glob("trial_*/result.json"):
        rows = [json.loads(line) for line in result_file.read_text().splitlines()]
        assert [r["epoch"] for r in rows] == list(range(1, len(rows) + 1))
        assert [r["training_iteration"] for r in rows] == [r["epoch"] for r in rows]
        for r in rows:
            assert {"loss", "accuracy", "val_loss", "val_accuracy", "epoch"} <= r.keys()


def test_best_configuration_is_tested_and_beside_the_reference(smoke_search):
    folder, _ = smoke_search
    best = report_csv(folder / "report" / "best.csv")
    trials = report_csv(folder / "report" / "trials.csv")
    assert len(best) == 1
    assert best["val_accuracy"].iloc[0] == trials["val_accuracy"].max()
    test = json.loads((folder / "best_test.json").read_text())
    assert best["test_accuracy"].iloc[0] == test["test_accuracy"]
    assert 0.2 < test["test_accuracy"] <= 1.0  # learnt something in 4 epochs of digits
    assert (folder / test["checkpoint"] / "best.npz").exists()
    assert "reference_test_accuracy" in best.columns and "reference_source" in best.columns
    assert "digits" in best["reference_source"].iloc[0]  # the reports had no digits number


def test_search_tests_the_ensemble_of_its_best_trials(smoke_search):
    """The 5 trials with the best val accuracy (the best trial first), their test-set class
    probabilities averaged: each member's probabilities score as the trial's own Keras test did,
    the recorded score is that of their average, and the report and the console show it beside
    the best trial's. A member that completed its budget kept those probabilities in its last
    checkpoint."""
    import numpy as np

    from analysis.results import load as load_results
    from driver.best import _test_probabilities
    from trainables.evaluate import PROBABILITIES, scores_on_test
    from trainables.loaders import load_digits

    folder, proc = smoke_search
    record = json.loads((folder / "best_test.json").read_text())
    trials = load_results(folder).trials
    ranked = trials.sort_values("val_accuracy", ascending=False, kind="stable")["trial_id"]
    ids = record["ensemble"]["trial_ids"]
    assert ids == ranked.head(5).tolist() and ids[0] == record["trial_id"]

    data = load_digits()
    members = trials.set_index("trial_id").loc[ids]
    probabilities = _test_probabilities(
        [(m["config"], Path(m["checkpoint"])) for _, m in members.iterrows()], data)
    assert [p.shape for p in probabilities] == [(len(data.y_test), 10)] * 5
    tested = members["test_accuracy"].notna().to_numpy()
    assert tested.any()  # members that completed their budget tested themselves in the trial
    for p, (_, member) in zip(np.array(probabilities)[tested], members[tested].iterrows()):
        own = scores_on_test(p, data.y_test)
        assert own["test_accuracy"] == pytest.approx(member["test_accuracy"], abs=1e-6)
        assert own["test_loss"] == pytest.approx(member["test_loss"], rel=1e-6)
        np.testing.assert_allclose(np.load(Path(member["checkpoint"]) / PROBABILITIES), p,
                                   atol=1e-6)
    assert not any((Path(m["checkpoint"]) / PROBABILITIES).exists()
                   for _, m in members[~tested].iterrows())  # ASHA stopped them
    averaged = scores_on_test(np.mean(probabilities, axis=0), data.y_test)
    assert record["ensemble"]["test_accuracy"] == pytest.approx(averaged["test_accuracy"])
    assert record["ensemble"]["test_loss"] == pytest.approx(averaged["test_loss"], rel=1e-5)

    readme = (folder / "report" / "README.md").read_text()
    assert ("Ensemble of the 5 trials with the best val accuracy" in readme
            and f"test accuracy {averaged['test_accuracy']:.4f}" in readme)
    assert (f"Test accuracy: {record['test_accuracy']:.4f}, the best trial ({ids[0]}); "
            f"{averaged['test_accuracy']:.4f}, the ensemble of the 5 best") in proc.stdout


def test_an_ensemble_of_members_that_kept_their_probabilities_needs_no_weights(smoke_search,
                                                                              tmp_path):
    """With every member's test-set probabilities in its last checkpoint, the record (ensemble
    included) comes from them, without the tester: it is the search's own record even with every
    best.npz gone, which the tester would need."""
    import numpy as np

    from analysis.results import load as load_results
    from driver.best import _test_probabilities, score_best_trial
    from trainables.evaluate import PROBABILITIES
    from trainables.loaders import load_digits

    copy = tmp_path / "copy"
    shutil.copytree(smoke_search[0], copy)
    record = json.loads((copy / "best_test.json").read_text())
    (copy / "best_test.json").unlink()
    data = load_digits()
    members = load_results(copy).trials.set_index("trial_id").loc[record["ensemble"]["trial_ids"]]
    for _, member in members.iterrows():  # those ASHA stopped get theirs as a completed one would
        if not (checkpoint := Path(member["checkpoint"])).joinpath(PROBABILITIES).exists():
            [kept] = _test_probabilities([(member["config"], checkpoint)], data)
            np.save(checkpoint / PROBABILITIES, kept)
    for weights in copy.glob("trial_*/checkpoint_*/best.npz"):
        weights.unlink()
    scores = score_best_trial(copy, data, 5)()
    assert scores["trial_id"] == record["trial_id"]
    assert scores["test_accuracy"] == pytest.approx(record["test_accuracy"], abs=1e-6)
    ensemble = scores["ensemble"]
    assert ensemble["trial_ids"] == record["ensemble"]["trial_ids"]
    assert ensemble["test_accuracy"] == pytest.approx(record["ensemble"]["test_accuracy"])
    assert ensemble["test_loss"] == pytest.approx(record["ensemble"]["test_loss"], rel=1e-6)
    assert json.loads((copy / "best_test.json").read_text()) == scores


def test_an_ensemble_that_cannot_be_tested_leaves_the_best_trials_score(smoke_search, tmp_path,
                                                                       capsys):
    """A member's weights gone between choosing it and testing it (a disk error, a folder
    removed), with no test-set probabilities kept: one warning line, and best_test.json with the
    best trial's own score, no ensemble."""
    from analysis.results import load as load_results
    from driver.best import score_best_trial
    from trainables.evaluate import PROBABILITIES
    from trainables.loaders import load_digits

    copy = tmp_path / "copy"
    shutil.copytree(smoke_search[0], copy)
    record = json.loads((copy / "best_test.json").read_text())
    (copy / "best_test.json").unlink()
    member = copy / f"trial_{record['ensemble']['trial_ids'][1]}"
    for kept in member.glob(f"*/{PROBABILITIES}"):
        kept.unlink()
    wait = score_best_trial(copy, load_digits(), 5)
    # The child imports Keras (seconds) before it reads any weights.
    for weights in member.glob("*/best.npz"):
        weights.unlink()
    own = load_results(copy).trials.set_index("trial_id").loc[record["trial_id"], "test_accuracy"]
    if own != own:  # ASHA stopped the best trial: its score came from the same child, which failed
        with pytest.raises(FileNotFoundError):
            wait()
        return
    scores = wait()
    assert "ensemble" not in scores and scores["test_accuracy"] == record["test_accuracy"]
    assert json.loads((copy / "best_test.json").read_text()) == scores
    assert "warning: the ensemble of the best trials was not tested" in capsys.readouterr().err


def test_the_tester_goes_on_through_a_ctrl_c_to_the_whole_process_group():
    """Ctrl-C in a terminal (or a batch scheduler's SIGTERM) reaches the tester's process too;
    the driver decides how the search ends, so the tester goes on with its work, with
    TensorFlow configured as `_prepare` says (threads, GPU memory growth: the growth itself
    shows only where TensorFlow sees a GPU)."""
    import os
    import signal
    import time

    import tensorflow as tf

    from driver.best import tester

    pool = tester()
    try:
        pid = pool.submit(os.getpid).result(timeout=120)  # once Keras is imported
        for number in (signal.SIGINT, signal.SIGTERM):
            os.kill(pid, number)
        time.sleep(0.5)
        assert pool.submit(os.getpid).result(timeout=60) == pid
        threads = pool.submit(tf.config.threading.get_intra_op_parallelism_threads)
        assert threads.result(timeout=60) == os.cpu_count()
    finally:
        pool.shutdown()


def test_analysis_rebuilds_the_same_report(smoke_search, tmp_path):
    folder, _ = smoke_search
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    shutil.rmtree(copy / "report")
    proc = run("-m", "analysis", copy)
    assert proc.returncode == 0, proc.stderr
    for name in ["trials.csv", "best.csv", "trials.md"]:
        original = (folder / "report" / name).read_text()
        rebuilt = (copy / "report" / name).read_text()
        assert rebuilt == original.replace(str(folder), str(copy)), name


def test_analysis_of_a_folder_that_is_no_experiment_exits_2(tmp_path):
    proc = run("-m", "analysis", tmp_path)
    assert proc.returncode == 2 and "no search.json" in proc.stderr


def _untested_copy(folder, copy) -> tuple[Path, dict]:
    """A copy of the experiment whose best trial reported no test score (as one ASHA stopped)."""
    shutil.copytree(folder, copy)
    best = json.loads((copy / "best_test.json").read_text())
    result_file = copy / f"trial_{best['trial_id']}" / "result.json"
    rows = [json.loads(line) for line in result_file.read_text().splitlines()]
    for row in rows:
        row.pop("test_accuracy", None), row.pop("test_loss", None)
    result_file.write_text("".join(json.dumps(r) + "\n" for r in rows))
    (copy / "best_test.json").unlink()
    return result_file.parent, best


def test_report_says_why_the_best_trial_has_no_test_score(smoke_search, tmp_path):
    """Where the best trial has no test score, the report says why in one line under the best
    table: not tested yet (the search stopped first), or no weights kept to test."""
    from analysis import report
    from driver.best import score_best_trial
    from trainables.loaders import load_digits

    _untested_copy(smoke_search[0], tmp_path / "untested")
    readme = report.write(tmp_path / "untested").read_text()
    assert "No test score yet: the search stopped before its best trial was tested" in readme

    trial, best = _untested_copy(smoke_search[0], tmp_path / "no_checkpoint")
    for checkpoint in trial.glob("checkpoint_*"):
        shutil.rmtree(checkpoint)
    epochs = len((trial / "result.json").read_text().splitlines())
    search = json.loads((tmp_path / "no_checkpoint" / "search.json").read_text())
    search["checkpoint_every"] = epochs + 1  # it stopped before its first checkpoint
    (tmp_path / "no_checkpoint" / "search.json").write_text(json.dumps(search))
    assert score_best_trial(tmp_path / "no_checkpoint", load_digits())() is None
    readme = report.write(tmp_path / "no_checkpoint").read_text()
    assert (f"ASHA stopped this trial at epoch {epochs}, before its first checkpoint "
            f"(`--checkpoint-every {epochs + 1}`)") in readme
    assert report_csv(tmp_path / "no_checkpoint" / "report" / "best.csv").iloc[0][
        "trial_id"] == best["trial_id"]


def test_best_trial_stopped_before_its_budget_is_tested_from_its_checkpoint(smoke_search, tmp_path):
    """When the best trial has no test score of its own (ASHA stopped it), the driver loads its
    best weights from the checkpoint and tests them in a child process while the report is
    written; the report's best table shows that score."""
    from analysis import report
    from driver.best import score_best_trial
    from trainables.loaders import load_digits

    copy = tmp_path / "copy"
    _, best = _untested_copy(smoke_search[0], copy)

    report.write(copy, score_best_trial(copy, load_digits()))
    record = json.loads((copy / "best_test.json").read_text())
    assert record["trial_id"] == best["trial_id"] and "ensemble" not in record
    assert record["test_accuracy"] == pytest.approx(best["test_accuracy"], abs=1e-6)
    assert record["test_loss"] == pytest.approx(best["test_loss"], rel=1e-4)
    shown = report_csv(copy / "report" / "best.csv").iloc[0]
    assert shown["trial_id"] == best["trial_id"]
    assert shown["test_accuracy"] == pytest.approx(best["test_accuracy"], abs=1e-6)
