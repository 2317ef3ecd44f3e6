"""--time-budget ends a search on the clock as after its last trial; --warm-start starts a new
search's sampler from an earlier experiment's finished trials. Real smoke searches on digits."""

from __future__ import annotations

import json
import time

import pytest

from conftest import run

SMOKE = ["run_search.py", "--space", "basenet", "--dataset", "digits", "--smoke-test"]


@pytest.mark.slow
def test_time_budget_stops_the_search_reports_and_resume_still_works(tmp_path):
    start = time.time()
    proc = run(*SMOKE, "--num-samples", "60", "--max-epochs", "30", "--grace-period", "30",
               "--time-budget", "20s", "--ensemble", "1", "--storage-path", tmp_path, "--name", "t")
    took = time.time() - start
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "--time-budget reached" in proc.stdout and took < 120, took
    search = json.loads((tmp_path / "t" / "search.json").read_text())
    assert search["finished"] and search["stopped_by"] == "time budget"
    assert search["time_budget"] == 20.0
    trials = (tmp_path / "t" / "report" / "trials.csv").read_text().splitlines()
    assert 1 < len(trials) < 61  # some trials, far from all 60
    assert (tmp_path / "t" / "best_test.json").is_file()
    resumed = run(*SMOKE, "--ensemble", "1", "--storage-path", tmp_path, "--name", "t",
                  "--resume")
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert "View detailed results here" not in proc.stdout + resumed.stdout  # Ray's box: --verbose
    assert "Resuming basenet on digits" in resumed.stdout


def test_a_bad_duration_is_one_line(tmp_path, run_search_main):
    code, error = run_search_main(*SMOKE[1:], "--time-budget", "soon", "--storage-path", tmp_path)
    assert code == 2 and error.count("\n") == 1, error
    assert "--time-budget 'soon': write a duration such as 90m" in error


@pytest.mark.slow
def test_warm_trials_are_the_earlier_trials_with_their_states_and_values(smoke_search, tmp_path):
    """Built from the results alone: a folder without its report and optuna.db (a search
    interrupted before its report) seeds as well; a value the space cannot produce is one line."""
    import shutil

    import search_spaces
    from analysis.results import load
    from driver.settings import Settings, UsageError
    from driver.warm import warm_trials
    from search_spaces._common import SMOKE_BUDGET

    folder = tmp_path / "earlier"
    shutil.copytree(smoke_search[0], folder, ignore=shutil.ignore_patterns("report", "optuna.db"))
    space = search_spaces.load("basenet")
    settings = Settings(space="basenet", dataset="digits", budget=SMOKE_BUDGET,
                        storage=str(tmp_path), name="next")
    trials = warm_trials(str(folder), space, settings)
    earlier = load(folder).trials.set_index("trial_id")
    assert len(trials) == len(earlier)
    for t in trials:
        row = earlier.loc[t.user_attrs["trial_id"]]
        assert t.user_attrs["warm_start"] == str(folder)
        assert t.params == {k: row["config"][k] for k in t.params}
        assert set(t.params) == {"optimizer", "learning_rate", "batch_size", "dropout"}
        expected = {"completed": "COMPLETE", "stopped": "PRUNED"}[row["status"]]
        assert t.state.name == expected
        assert max(t.intermediate_values.values()) == pytest.approx(row["val_accuracy"])
        if expected == "COMPLETE":
            assert t.value == pytest.approx(row["val_accuracy"])

    params = next(folder.glob("trial_*/params.json"))
    params.write_text(json.dumps({**json.loads(params.read_text()), "dropout": 5.0}))
    with pytest.raises(UsageError, match=r"dropout=5\.0, which this space cannot produce"):
        warm_trials(str(folder), space, settings)


@pytest.mark.slow
def test_warm_start_search_builds_on_the_earlier_one(smoke_search, tmp_path):
    folder, _ = smoke_search
    proc = run(*SMOKE, "--num-samples", "2", "--ensemble", "1", "--warm-start", folder, "--storage-path", tmp_path,
               "--name", "w")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    from ray.tune.search.optuna import OptunaSearch
    searcher = OptunaSearch()
    searcher.restore(str(next((tmp_path / "w").glob("searcher-state-*.pkl"))))
    origins = [t.user_attrs.get("warm_start") for t in searcher._ot_study.trials]
    earlier = len(list(folder.glob("trial_*")))
    assert origins.count(str(folder)) == earlier and len(origins) == earlier + 2


@pytest.mark.slow
@pytest.mark.parametrize("args, message", [
    (["--space", "mired"], "is a search of space 'basenet', not 'mired'"),
    (["--space", "model_comparison"], "--warm-start applies to searches"),
])
def test_warm_start_from_another_space_or_into_a_study_is_one_line(smoke_search, tmp_path,
                                                                    args, message,
                                                                    run_search_main):
    folder, _ = smoke_search
    code, error = run_search_main("--dataset", "digits", "--smoke-test", "--warm-start", folder,
                                  "--storage-path", tmp_path, *args)
    assert code == 2 and error.count("\n") == 1, error
    assert message in error
