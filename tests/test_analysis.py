"""Analysis: the Python API (load, compare), optuna.db, the report's new tables and pictures, a
report rebuilt where the suite's other packages cannot be imported, docs/analysis.md run as written,
and damaged files. The folders are real searches: the session's smoke search, one search stopped
with SIGINT, one study, and one Tuner run with a failing and a diverging trial."""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest

from conftest import ROOT, compile_latex, run

from analysis import compare, load, read_csv
from analysis.comparison import COLUMNS as COMPARE_COLUMNS
from analysis.plots import pareto_front
from analysis.results import EPOCH_COLUMNS, TRIAL_COLUMNS, ExperimentError, error_line

REPORT_FILES = ["README.md", "trials.csv", "trials.md", "best.csv", "best.md", "failures.csv",
                "failures.md", "importance.csv", "importance.md", "parallel.png", "slice.png",
                "pareto.png", "curves.png", "search.png"]
STUDY_FILES = ["table.csv", "table.md", "table.tex", "table.png"]
OPTUNA_STATE = {"completed": "COMPLETE", "stopped": "PRUNED"}  # every other status: FAIL


# --- real folders ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def interrupted(tmp_path_factory) -> Path:
    """A real search stopped with SIGINT once one trial has finished and the next has reported
    an epoch: search.json's finished stays null, trials are completed and unfinished."""
    storage = tmp_path_factory.mktemp("interrupted")
    folder = storage / "interrupted"
    cmd = [sys.executable, "run_search.py", "--space", "basenet", "--dataset", "digits",
           "--smoke-test", "--num-samples", "3", "--max-epochs", "6", "--grace-period", "6",
           "--max-concurrent", "1", "--storage-path", str(storage), "--name", "interrupted"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env={**os.environ, "TUNE_GLOBAL_CHECKPOINT_S": "0.5"})
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        rows = [(d / "result.json").read_text().splitlines() if (d / "result.json").exists()
                else [] for d in folder.glob("trial_*")]
        if any(r and "test_accuracy" in r[-1] for r in rows) and any(
                r and "test_accuracy" not in r[-1] for r in rows):
            proc.send_signal(signal.SIGINT)
            break
        time.sleep(0.2)
    out = proc.communicate(timeout=180)[0]
    assert proc.returncode == 130, out[-3000:]
    return folder


FAULTS = """
import json, sys, time
from pathlib import Path
import ray
from ray import tune
from trainables.loaders import load_digits
from tests.drills import train_with_faults

base = {"model": "basenet", "optimizer": "rmsprop", "learning_rate": 1e-3, "batch_size": 64,
        "dropout": 0.0, "seed": 0}
cases = [{"fail_once_at_epoch": 2}, {"optimizer": "adam", "learning_rate": 1e9}]
keys = set(base) | {k for c in cases for k in c}
space = {k: tune.sample_from(lambda spec, k=k: spec.config["case"].get(k, base.get(k)))
         for k in keys}
storage, started = Path(sys.argv[1]), time.time()
ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
tune.Tuner(tune.with_parameters(train_with_faults, data=load_digits(), max_epochs=2,
                                checkpoint_every=1),
           param_space={"case": tune.grid_search(cases), **space},
           tune_config=tune.TuneConfig(metric="val_accuracy", mode="max"),
           run_config=tune.RunConfig(name="faults", storage_path=str(storage), verbose=0,
                                     failure_config=tune.FailureConfig(max_failures=1))).fit()
ray.shutdown()
# A Tuner of our own writes no search.json: the driver's keys that analysis reads.
(storage / "faults" / "search.json").write_text(json.dumps({
    "space": "basenet", "dataset": "digits", "name": "faults", "model": "basenet",
    "metric": "val_accuracy", "mode": "max", "grid": None, "started": started,
    "finished": time.time(), "budget": {"num_samples": 2, "max_epochs": 2, "grace_period": 2,
                                        "reduction_factor": 2}}))
"""


@pytest.fixture(scope="module")
def faults(tmp_path_factory) -> Path:
    """A real Tuner run through the suite's trainable: one trial fails once at epoch 2 and is
    retried from its checkpoint, one diverges (NaN loss) at epoch 1."""
    storage = tmp_path_factory.mktemp("faults")
    proc = run("-c", FAULTS, storage)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return storage / "faults"


@pytest.fixture(scope="module")
def results(smoke_search, interrupted, study, tmp_path_factory) -> Path:
    """A folder holding results/basenet, results/interrupted, results/model_comparison (copies),
    as docs/analysis.md expects."""
    root = tmp_path_factory.mktemp("docs")
    for name, folder in [("basenet", smoke_search[0]), ("interrupted", interrupted),
                         ("model_comparison", study)]:
        shutil.copytree(folder, root / "results" / name)
    return root


def png_ok(path: Path) -> None:
    from PIL import Image
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size[0] > 100 and image.size[1] > 100, path


# --- unit tests (no search) --------------------------------------------------------------------

def test_pareto_front_keeps_points_no_other_beats_on_cost_and_score():
    import numpy as np
    cost = np.array([1.0, 2.0, 3.0, 2.5, 4.0, 1.0])
    score = np.array([0.5, 0.7, 0.6, 0.9, 0.95, 0.4])
    assert sorted(pareto_front(cost, score)) == [0, 1, 3, 4]


def test_error_line_is_the_exception_line_of_a_traceback():
    text = textwrap.dedent("""\
        Failure # 1 (occurred at 2026-11-23_17-26-33)
        Traceback (most recent call last):
          File "train.py", line 157, in train
            raise RuntimeError(f"injected fault")
        RuntimeError: injected fault at epoch 2 (fail_once_at_epoch)
        An unexpected internal error occurred while the worker was executing a task.
        """)
    assert error_line(text) == "RuntimeError: injected fault at epoch 2 (fail_once_at_epoch)"
    assert error_line("something odd\n\n") == "something odd"


# --- the API -----------------------------------------------------------------------------------

@pytest.mark.slow
def test_load_gives_the_documented_columns_and_dtypes(smoke_search):
    res = load(smoke_search[0])
    trials, epochs = res.trials, res.epochs
    config = ["batch_size", "dropout", "ema_epochs", "learning_rate", "model", "optimizer", "seed"]
    assert list(trials.columns) == ["trial_id", "status", "epochs", "best_epoch", *config,
                                    *[c for c in TRIAL_COLUMNS if c not in
                                      ("trial_id", "status", "epochs", "best_epoch")]]
    for column, dtype in TRIAL_COLUMNS.items():
        assert str(trials[column].dtype) == dtype, column
    assert {str(trials[c].dtype) for c in config} <= {"int64", "float64", "str", "bool"}
    assert list(epochs.columns) == list(EPOCH_COLUMNS)
    for column, dtype in EPOCH_COLUMNS.items():
        assert str(epochs[column].dtype) == dtype, column
    assert len(trials) == 6 and trials["trial_id"].is_unique
    assert trials["epochs"].sum() == len(epochs)
    assert trials["val_accuracy"].is_monotonic_decreasing
    assert (trials["training_time_s"] > 0).all() and (trials["params"] > 0).all()
    assert res.skipped == [] and res.finished and res.model == "basenet"
    # the time column is result.json's last time_total_s; started is a date, in UTC, the first
    # report's timestamp (whole seconds) less its epoch's time
    first = trials.iloc[0]
    rows = [json.loads(l) for l in (smoke_search[0] / f"trial_{first['trial_id']}" /
                                    "result.json").read_text().splitlines()]
    assert first["training_time_s"] == rows[-1]["time_total_s"]
    started = pd.Timestamp(rows[0]["timestamp"] - rows[0]["time_this_iter_s"], unit="s",
                           tz="UTC")
    assert abs(first["started"] - started) < pd.Timedelta(microseconds=1)  # kept to the us
    assert (trials["started"] >= pd.Timestamp(res.search["started"] - 1, unit="s", tz="UTC")).all()
    assert (trials["started"] <= pd.Timestamp(res.search["finished"], unit="s", tz="UTC")).all()
    # docs/analysis.md documents every column
    page = (ROOT / "docs" / "analysis.md").read_text()
    for column in TRIAL_COLUMNS:
        assert f"`{column}`" in page, column


@pytest.mark.slow
def test_compare_gives_one_row_per_search_and_writes_its_files(results, tmp_path):
    folders = [results / "results" / n for n in ("basenet", "interrupted", "model_comparison")]
    table = compare(folders)
    assert list(table.columns) == list(COMPARE_COLUMNS)
    for column, dtype in COMPARE_COLUMNS.items():
        assert str(table[column].dtype) == dtype, column
    assert list(table["experiment"]) == ["basenet", "interrupted", "model_comparison"]
    assert list(table["finished"]) == [True, False, True]
    for row, folder in zip(table.itertuples(), folders):
        res = load(folder)
        assert row.best_trial == res.trials.iloc[0]["trial_id"]
        assert row.val_accuracy == res.trials["val_accuracy"].max()
        assert row.trials == len(res.trials)
        # the search's time is wall-clock, from search.json; the trials' training time is
        # labelled as what it is, a sum that exceeds it when trials run side by side
        assert row.trials_training_time_s == res.trials["training_time_s"].sum()
        if res.finished:
            assert row.search_wall_time_s == res.search["finished"] - res.search["started"]
        else:
            assert math.isnan(row.search_wall_time_s)
    assert table.loc[0, "test_accuracy"] == json.loads(
        (folders[0] / "best_test.json").read_text())["test_accuracy"]
    assert table["reference_source"].str.contains("digits").all()

    proc = run("-m", "analysis", "compare", *folders, "--out", tmp_path / "cmp")
    assert proc.returncode == 0, proc.stderr
    last = proc.stdout.strip().splitlines()[-1]
    assert last == f"Comparison: {tmp_path / 'cmp' / 'comparison.md'}"
    written = pd.read_csv(tmp_path / "cmp" / "comparison.csv")
    assert list(written["experiment"]) == list(table["experiment"])
    for suffix in ("md", "tex"):
        assert (tmp_path / "cmp" / f"comparison.{suffix}").stat().st_size > 0
    png_ok(tmp_path / "cmp" / "comparison.png")

    (tmp_path / "nothing").mkdir()
    proc = run("-m", "analysis", "compare", folders[0], tmp_path / "nothing")
    assert proc.returncode == 2 and "no search.json" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_interrupted_search_is_analysed_as_it_stands(interrupted):
    res = load(interrupted)
    assert not res.finished and res.search["finished"] is None
    statuses = set(res.trials["status"])
    assert "completed" in statuses and statuses & {"unfinished", "stopped"}
    assert set(res.trials["status"]) <= {"completed", "stopped", "unfinished"}


# --- optuna.db ---------------------------------------------------------------------------------

def _expected_state(status: str) -> str:
    return OPTUNA_STATE.get(status, "FAIL")


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
@pytest.mark.parametrize("name", ["basenet", "interrupted", "model_comparison", "faults"])
def test_optuna_db_holds_the_same_trials_states_and_values(name, results, faults):
    import optuna
    from optuna.distributions import json_to_distribution

    folder = faults if name == "faults" else results / "results" / name
    proc = run("-m", "analysis", folder)  # rebuilt from scratch, twice: never duplicated
    assert proc.returncode == 0, proc.stderr
    res = load(folder)
    study = optuna.load_study(study_name=folder.name, storage=f"sqlite:///{folder / 'optuna.db'}")
    assert study.direction.name == "MAXIMIZE"
    assert study.metric_names == ["val_accuracy"]  # what optuna-dashboard labels the value
    assert not list(folder.glob(".optuna.db*"))  # the temporary file was moved into place
    by_id = {t.user_attrs["trial_id"]: t for t in study.trials}
    assert len(study.trials) == len(res.trials) == len(by_id)
    recorded = {k: json_to_distribution(v)
                for k, v in (res.search.get("distributions") or {}).items()}
    for _, row in res.trials.iterrows():
        t = by_id[row["trial_id"]]
        assert t.state.name == _expected_state(row["status"]), row["trial_id"]
        assert t.user_attrs["status"] == row["status"]
        assert t.user_attrs["epochs"] == row["epochs"]
        if t.state.name == "FAIL":
            assert t.value is None
        else:
            assert t.value == row["val_accuracy"]
        epochs = res.epochs[res.epochs["trial_id"] == row["trial_id"]]
        assert t.intermediate_values == dict(zip(epochs["epoch"], epochs["val_accuracy"]))
        test = row["test_accuracy"]
        assert (t.user_attrs["test_accuracy"] is None) if math.isnan(test) else \
            t.user_attrs["test_accuracy"] == test
        for param, value in t.params.items():
            assert row["config"][param] == value
            if recorded:
                assert t.distributions[param] == recorded[param]
        if recorded:
            assert set(t.params) == {k for k in recorded if k in row["config"]}

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as oplt
    plots = [oplt.plot_optimization_history, oplt.plot_intermediate_values, oplt.plot_timeline]
    if sum(t.state.name == "COMPLETE" for t in study.trials) >= 2 and recorded:
        plots += [oplt.plot_parallel_coordinate, oplt.plot_slice]
    for plot in plots:
        ax = plot(study)
        figure = (ax.flat[0] if hasattr(ax, "flat") else ax).figure
        figure.savefig(folder / f"optuna_{plot.__name__}.png")
        png_ok(folder / f"optuna_{plot.__name__}.png")
        plt.close("all")


# --- outputs every tool opens: LaTeX, pandas, TensorBoard ---------------------------------------

def test_a_table_with_latex_specials_compiles_and_its_csv_reads_back(tmp_path):
    """save_table on what the real tables hold: _ in names and values (LaTeX's subscript), & % #
    ~ ^ \\ { } in free text, an all-digit or exponent-like trial id, gaps in counts and scores."""
    from analysis import tables
    from analysis.report import save_table
    table = pd.DataFrame({
        "experiment": ["fashion_mlp", "basenet"], "finished": [True, False],
        "best_trial": ["1234e567", ""], "configuration": ["batch_size=32, model=fashion_mlp", ""],
        "val_accuracy": [0.9861, math.nan],
        "reference_source": ["report 002 & 003: 50% #4 ~x^2 \\dir {a}_b", "none"],
        "params": pd.array([23432, None], dtype="Int64"), "training_time_s": [7.5, 0.0]})
    save_table(table, tmp_path, "comparison", latex=True)
    compile_latex(tmp_path / "comparison.tex", tmp_path / "latex")
    back = read_csv(tmp_path / "comparison.csv")
    pd.testing.assert_frame_equal(back, tables.typed(table, "comparison.csv"))
    assert back.loc[0, "best_trial"] == "1234e567" and back.loc[1, "configuration"] == ""
    assert str(back["params"].dtype) == "Int64" and pd.isna(back.loc[1, "params"])


def _rebuilt(results, tmp_path) -> list[Path]:
    """Copies of the three real folders, their reports rebuilt by the command, as a user would."""
    folders = []
    for name in ("basenet", "interrupted", "model_comparison"):
        shutil.copytree(results / "results" / name, tmp_path / name)
        folders.append(tmp_path / name)
    proc = run("-m", "analysis", *folders)
    assert proc.returncode == 0, proc.stderr[-3000:]
    proc = run("-m", "analysis", "compare", *folders, "--out", tmp_path / "comparison")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return folders


@pytest.mark.slow
def test_every_tex_the_suite_writes_compiles_with_pdflatex(results, tmp_path):
    folders = _rebuilt(results, tmp_path)
    written = sorted(tmp_path.rglob("*.tex"))
    # the comparison and the study's table (the transfer tables: tests/test_transfer_tables.py)
    assert {p.name for p in written} == {"comparison.tex", "table.tex"}, written
    assert "val\\_accuracy" in (tmp_path / "comparison" / "comparison.tex").read_text()
    for number, tex in enumerate(written):
        compile_latex(tex, tmp_path / "latex" / str(number))
    assert (folders[2] / "report" / "table.tex") in written


@pytest.mark.slow
def test_every_csv_reads_back_to_the_documented_columns_and_dtypes(results, tmp_path):
    """read_csv gives each CSV's documented columns their documented dtypes and the same values
    as the API's DataFrames; plain pandas.read_csv gives the same column names."""
    from analysis import optuna_study, report, studies, tables
    folders = _rebuilt(results, tmp_path)
    expected = {tmp_path / "comparison" / "comparison.csv": compare(folders)}
    for folder in folders:
        res = load(folder)
        out = folder / "report"
        expected |= {out / "trials.csv": report.trials_table(res),
                     out / "best.csv": report.best_table(res),
                     out / "failures.csv": report.failures_table(res),
                     out / "importance.csv": optuna_study.importances(res)[0]}
        if res.space in studies.TABLES:
            expected[out / "table.csv"] = studies.TABLES[res.space](res)[0]
    written = set(tmp_path.glob("*/report/*.csv")) | set(tmp_path.glob("comparison/*.csv"))
    assert set(expected) == written  # every CSV the analysis wrote (Ray writes progress.csv)
    for path, table in expected.items():
        documented = tables.dtypes(path.name)
        back = read_csv(path)
        assert list(pd.read_csv(path, nrows=0).columns) == list(back.columns) \
            == list(table.columns), path
        for column in back.columns:
            if column in documented:
                assert str(back[column].dtype) == documented[column], (path, column)
        # the columns not documented by name: the configuration's keys (a study's table: the
        # keys its grid varies)
        res = load(path.parents[1]) if path.parent.name == "report" else None
        config = (set(res.search.get("grid") or {}) if path.name == "table.csv" else
                  set().union(*res.trials["config"]) if path.name in ("trials.csv", "best.csv")
                  else set())
        assert set(back.columns) - set(documented) <= config, path
        pd.testing.assert_frame_equal(back, tables.typed(table, path.name), obj=str(path))
    # the API documents every column it names (analysis/tables.py, comparison.py)
    for name in ("trials.csv", "best.csv", "failures.csv", "importance.csv", "table.csv"):
        for column in tables.dtypes(name):
            assert column in tables.__doc__, (name, column)


def _scalars(event_file: Path) -> set[str]:
    """The scalar tags in a TensorBoard event file (TFRecord framing: length, its CRC, an Event
    proto, its CRC), read with the protobuf classes tensorboardX ships: no TensorFlow needed."""
    import struct

    from tensorboardX.proto.event_pb2 import Event
    data, tags, at = event_file.read_bytes(), set(), 0
    while at + 12 <= len(data):
        (length,) = struct.unpack("<Q", data[at:at + 8])
        event = Event.FromString(data[at + 12:at + 12 + length])
        tags |= {v.tag for v in event.summary.value}
        at += 12 + length + 4
    return tags


@pytest.mark.slow
def test_the_tensorboard_command_names_the_folder_that_holds_the_event_files(smoke_search):
    """Ray's own hint names its temporary session folder; the README's and the report's name the
    experiment folder, where every trial's event files are, its val accuracy among them."""
    folder = smoke_search[0]
    trials = sorted(folder.glob("trial_*"))
    assert trials
    for trial in trials:
        events = list(trial.glob("events.out.tfevents.*"))
        assert events and "ray/tune/val_accuracy" in _scalars(events[0]), trial
    readme = (folder / "report" / "README.md").read_text()
    assert f"`tensorboard --logdir {folder}`" in readme
    # the README's command names the default experiment folder of its own example search
    assert "tensorboard --logdir results/basenet" in (ROOT / "README.md").read_text()
    # the console's header (driver/console.py) says it too; any other such line the suite
    # prints names the same folder (Ray's own hint, under --verbose, names /tmp/ray's copy)
    printed = [line for line in smoke_search[1].stdout.splitlines()
               if "tensorboard --logdir" in line and "driver_artifacts" not in line]
    assert printed and all(f"tensorboard --logdir {folder}" in line for line in printed), printed


@pytest.mark.slow
def test_optuna_dashboard_names_the_value_val_accuracy(smoke_search):
    """What optuna-dashboard's own server answers its page about the study (its WSGI app, called
    in process): the objective is val_accuracy, not "Objective 0"."""
    import wsgiref.util
    dashboard = pytest.importorskip("optuna_dashboard", reason="optuna-dashboard is not installed "
                                    "(requirements-dev.txt pins it)")
    app = dashboard.wsgi(f"sqlite:///{smoke_search[0] / 'optuna.db'}")

    def get(path: str) -> dict:
        environ: dict = {"PATH_INFO": path}
        wsgiref.util.setup_testing_defaults(environ)
        status = []
        body = b"".join(app(environ, lambda s, headers, exc_info=None: status.append(s)))
        assert status == ["200 OK"], (path, status, body[:500])
        return json.loads(body)

    (study,) = get("/api/studies")["study_summaries"]
    assert study["study_name"] == "smoke"
    assert get(f"/api/studies/{study['study_id']}")["objective_names"] == ["val_accuracy"]


# --- the report --------------------------------------------------------------------------------

@pytest.mark.slow
def test_report_has_every_new_table_and_picture(results):
    for name in ("basenet", "interrupted", "model_comparison"):
        folder = results / "results" / name
        out = folder / "report"
        expected = REPORT_FILES + (STUDY_FILES if name == "model_comparison" else [])
        for file in expected:
            assert (out / file).stat().st_size > 0, (name, file)
        for png in out.glob("*.png"):
            png_ok(png)
        readme = (out / "README.md").read_text()
        for file in out.iterdir():  # README.md links every table and picture
            if file.name != "README.md" and file.suffix != ".csv":
                assert f"]({file.name})" in readme, (name, file.name)
        importance = pd.read_csv(out / "importance.csv")
        res = load(folder)
        # importance ranks the complete trials alone (tests/test_report_honest.py checks its
        # basis and numbers); ASHA seldom leaves 4 of the smoke search's 6 complete
        complete = (res.trials["status"] == "completed").sum()
        if name == "basenet" and complete >= 4:
            assert len(importance) == 4
            png_ok(out / "importance.png")
        else:  # a study searches one parameter; the others have too few complete trials
            assert importance.empty and not (out / "importance.png").exists()
            assert re.search(r"Importance needs two searched parameters|No importance: only "
                             r"\d+ trials? ran the whole budget", readme)
        failures = pd.read_csv(out / "failures.csv")
        assert list(failures.columns) == ["trial_id", "status", "retried", "epoch", "reason"]
        assert failures.empty and "No trial diverged, failed or was retried." in readme
    table = pd.read_csv(results / "results" / "model_comparison" / "report" / "table.csv")
    assert list(table["model"]) == ["basenet", "basenet21", "mired_v1"]
    assert list(table["reference_test_accuracy"]) == [0.3724, 0.6252, 0.412]  # from search.json


@pytest.mark.slow
def test_failures_table_lists_diverged_and_retried_trials(faults):
    proc = run("-m", "analysis", faults)
    assert proc.returncode == 0, proc.stderr
    failures = pd.read_csv(faults / "report" / "failures.csv").set_index("status")
    assert sorted(failures.index) == ["completed", "diverged"]
    retried = failures.loc["completed"]
    assert retried["retried"] and retried["epoch"] == 2
    assert "RuntimeError: injected fault at epoch 2 (fail_once_at_epoch)" in retried["reason"]
    diverged = failures.loc["diverged"]
    assert not diverged["retried"] and diverged["epoch"] == 1 and "NaN" in diverged["reason"]
    res = load(faults)
    assert res.trials.set_index("status").loc["completed", "error"].startswith("RuntimeError")
    assert "## Failures" in (faults / "report" / "README.md").read_text()


@pytest.mark.slow
def test_a_trial_ray_failed_before_it_started_is_counted_as_an_error(smoke_search, tmp_path):
    """Ray writes error.txt alone for a trial it failed before its first epoch (a reused process
    that was not free in time, as Ray 2.60 words it): the report counts it, with its error."""
    from analysis.__main__ import main
    copy = tmp_path / "smoke"
    shutil.copytree(smoke_search[0], copy, ignore=shutil.ignore_patterns("report", "optuna.db"))
    (copy / "trial_0badf00d").mkdir()
    (copy / "trial_0badf00d" / "error.txt").write_text(
        "Failure # 1 (occurred at 2026-12-07_22-00-46)\nTrainable runner reuse requires "
        "reset_config() to be implemented and return True.\n")
    trials = load(copy).trials.set_index("trial_id")
    assert len(trials) == 7
    lost = trials.loc["0badf00d"]
    assert (lost["status"], lost["epochs"], lost["config"]) == ("error", 0, {})
    assert lost["error"].startswith("Trainable runner reuse requires reset_config()")
    assert main([str(copy)]) == 0
    failures = pd.read_csv(copy / "report" / "failures.csv", dtype={"trial_id": str})
    assert "0badf00d" in set(failures["trial_id"]), failures


BLOCKED = """
import runpy, sys
class Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("search_spaces", "trainables", "driver"):
            raise ImportError(f"{name} is not importable here")
sys.meta_path.insert(0, Blocker())
sys.argv = ["analysis", *sys.argv[1:]]
runpy.run_module("analysis", run_name="__main__", alter_sys=True)
"""


@pytest.mark.slow
def test_report_stands_alone_without_the_suites_other_packages(results, tmp_path):
    for name in ("basenet", "model_comparison"):
        copy = tmp_path / name
        shutil.copytree(results / "results" / name, copy)
        before = sorted(p.name for p in (copy / "report").iterdir())
        shutil.rmtree(copy / "report")
        (copy / "optuna.db").unlink()
        proc = run("-c", BLOCKED, copy)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert "Traceback" not in proc.stderr
        assert sorted(p.name for p in (copy / "report").iterdir()) == before
        assert (copy / "optuna.db").stat().st_size > 0
    table = pd.read_csv(tmp_path / "model_comparison" / "report" / "table.csv")
    assert table["reference_test_accuracy"].notna().all()
    proc = run("-c", BLOCKED.replace('runpy.run_module("analysis"',
                                     'import search_spaces; runpy.run_module("analysis"'), copy)
    assert proc.returncode != 0 and "search_spaces is not importable here" in proc.stderr


# --- docs/analysis.md runs as written ----------------------------------------------------------

def _blocks(page: str) -> list[tuple[str, str]]:
    return re.findall(r"```(\w*)\n(.*?)```", page, flags=re.S)


@pytest.mark.slow
def test_docs_page_code_runs_in_order(results, monkeypatch):
    blocks = _blocks((ROOT / "docs" / "analysis.md").read_text())
    python = [body for lang, body in blocks if lang == "python"]
    commands = [line[2:] for lang, body in blocks if lang == "console"
                for line in body.splitlines() if line.startswith("$ ")]
    assert len(python) >= 6 and len(commands) >= 3
    monkeypatch.chdir(results)
    namespace: dict = {}
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for lang, body in blocks:
        if lang == "python":
            exec(compile(body, "docs/analysis.md", "exec"), namespace)
        elif lang == "console":
            for line in body.splitlines():
                if line.startswith("$ python "):
                    proc = subprocess.run([sys.executable, *line[len("$ python "):].split()],
                                          capture_output=True, text=True, env=env, timeout=600)
                    assert proc.returncode == 0, (line, proc.stderr[-3000:])
    assert (results / "results" / "comparison" / "comparison.png").exists()
    assert (results / "results" / "basenet" / "intermediate.png").exists()


# --- damaged files -----------------------------------------------------------------------------

DAMAGE = {
    "truncated": lambda data: data[: len(data) // 2],
    "garbage": lambda data: b"\x89\xff\x00\xfe garbage \x80" * 5,
    "empty": lambda data: b"",
    "list": lambda data: b"[1, 2, 3]\n",  # valid JSON of the wrong type
}


@pytest.mark.slow
def test_best_epoch_is_the_epoch_of_the_kept_weights_a_tie_the_later(smoke_search, tmp_path):
    """A trial's best_epoch is the epoch its checkpoint's best.npz comes from (state.json says),
    and of epochs with equal val accuracy, the later one, as the trainable keeps."""
    folder = tmp_path / "smoke"
    shutil.copytree(smoke_search[0], folder, ignore=shutil.ignore_patterns("report", "optuna.db"))
    trials = load(folder).trials.set_index("trial_id")
    for trial_id, trial in trials.iterrows():
        state = json.loads((Path(trial["checkpoint"]) / "state.json").read_text())
        assert state["best_epoch"] == trial["best_epoch"], trial_id
    longest = trials["epochs"].idxmax()
    assert trials.loc[longest, "epochs"] >= 2
    result = folder / f"trial_{longest}" / "result.json"
    rows = [json.loads(line) for line in result.read_text().splitlines()]
    result.write_text("".join(json.dumps({**r, "val_accuracy": 0.5}) + "\n" for r in rows))
    assert load(folder).trials.set_index("trial_id").loc[longest, "best_epoch"] == len(rows)


def _damaged_files(folder: Path) -> list[str]:
    best = json.loads((folder / "best_test.json").read_text())["trial_id"]
    checkpoint = sorted((folder / f"trial_{best}").glob("checkpoint_*"))[-1]
    checkpoint = checkpoint.relative_to(folder).as_posix()
    return [f"trial_{best}/params.json", f"trial_{best}/result.json", "best_test.json",
            f"{checkpoint}/state.json", f"{checkpoint}/best.npz"]


@pytest.mark.slow
def test_damaged_files_are_skipped_and_listed_never_a_traceback(smoke_search, tmp_path, capsys):
    from analysis.__main__ import main
    source = smoke_search[0]
    copies = {}
    for file in _damaged_files(source):
        for kind, damage in DAMAGE.items():
            copy = tmp_path / f"{len(copies):02d}"
            shutil.copytree(source, copy, ignore=shutil.ignore_patterns("report", "optuna.db"))
            (copy / file).write_bytes(damage((copy / file).read_bytes()))
            copies[copy] = (file, kind)
            res = load(copy)
            assert any(f == file for f, _ in res.skipped), (file, kind, res.skipped)
            assert len(res.trials) == 6, (file, kind)
            if file.endswith(("state.json", "best.npz")):
                best = res.trials.set_index("trial_id").loc[file.split("/")[0][6:], "checkpoint"]
                assert best and not best.endswith(file.split("/")[1])  # an earlier checkpoint
                assert Path(best).name < file.split("/")[1]

    # The command on one copy per damaged file, the kinds of damage taking turns (a report costs
    # about a second; `load` above already read every copy).
    kinds = list(DAMAGE)
    reported = [c for c, (file, kind) in copies.items()
                if kinds.index(kind) == _damaged_files(source).index(file) % len(kinds)]
    assert len(reported) == len(_damaged_files(source))
    assert main([str(c) for c in reported]) == 0
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    for copy in reported:
        file, kind = copies[copy]
        readme = (copy / "report" / "README.md").read_text()
        skipped = readme.split("## Skipped")[1].split("## All trials")[0]
        assert file in skipped, (file, kind)
        assert (copy / "optuna.db").exists() and (copy / "report" / "pareto.png").exists()


@pytest.mark.slow
def test_damaged_search_json_exits_2_with_one_line_naming_it(smoke_search, tmp_path):
    for kind, damage in DAMAGE.items():
        copy = tmp_path / kind
        shutil.copytree(smoke_search[0], copy, ignore=shutil.ignore_patterns("report"))
        (copy / "search.json").write_bytes(damage((copy / "search.json").read_bytes()))
        with pytest.raises(ExperimentError, match="search.json"):
            load(copy)
        proc = run("-m", "analysis", copy)
        assert proc.returncode == 2, (kind, proc.stdout, proc.stderr)
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and str(copy / "search.json") in lines[0], (kind, proc.stderr)
        assert not (copy / "report").exists()


@pytest.mark.slow
def test_a_damaged_ensemble_record_is_left_out_and_the_best_trials_score_stays(smoke_search,
                                                                               tmp_path):
    from analysis import report
    copy = tmp_path / "copy"
    shutil.copytree(smoke_search[0], copy, ignore=shutil.ignore_patterns("report", "optuna.db"))
    record = json.loads((copy / "best_test.json").read_text())
    assert load(copy).best_test["ensemble"] == record["ensemble"]
    (copy / "best_test.json").write_text(json.dumps({**record, "ensemble": {"trial_ids": "x"}}))
    res = load(copy)
    assert "ensemble" not in res.best_test
    assert res.best_test["test_accuracy"] == record["test_accuracy"]
    assert ("best_test.json", "its ensemble has no test_accuracy or trial_ids; left out") \
        in res.skipped
    readme = report.write(copy).read_text()
    assert "Ensemble of the" not in readme and "its ensemble has no test_accuracy" in readme
