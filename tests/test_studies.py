"""Studies: fixed grids run end to end on digits and rebuild the report's table."""

import json

import pandas as pd
import pytest

from analysis import read_csv
from conftest import compile_latex, report_csv, run
from trainables.loaders import load_digits
from trainables.folds import cv_fold

pytestmark = pytest.mark.slow  # real searches, clusters or fault drills


def test_cv_folds_partition_train_and_val_and_keep_test():
    data = load_digits()
    n = len(data.x_train) + len(data.x_val)
    seen = []
    for fold in range(5):
        f = cv_fold(data, 5, fold)
        assert len(f.x_train) + len(f.x_val) == n
        assert f.x_test is data.x_test
        seen.append(f.y_val)
    assert sum(len(v) for v in seen) == n  # every sample validates exactly once
    with pytest.raises(ValueError):
        cv_fold(data, 5, 5)


def test_optimizers_cv_runs_and_rebuilds_report_000_table(tmp_path):
    proc = run("run_search.py", "--space", "optimizers_cv", "--dataset", "digits",
               "--max-epochs", "2", "--set", "optimizer=rmsprop,adadelta", "--set", "fold=0,1,2",
               "--storage-path", tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    folder = tmp_path / "optimizers_cv"
    trials = report_csv(folder / "report" / "trials.csv")
    assert len(trials) == 6 and (trials["status"] == "completed").all()
    configs = [json.loads(p.read_text()) for p in folder.glob("trial_*/params.json")]
    assert sorted((c["optimizer"], c["fold"]) for c in configs) == sorted(
        (o, f) for o in ("rmsprop", "adadelta") for f in range(3))
    assert all(c["learning_rate"] == 1e-3 and c["folds"] == 5 for c in configs)
    table = pd.read_csv(folder / "report" / "table.csv", index_col=0)
    assert list(table.index) == ["I1", "I2", "I3", "Mean", "Std"]
    assert list(table.columns) == ["rmsprop", "rmsprop (report)", "adadelta", "adadelta (report)"]
    assert table.loc["Mean", "rmsprop"] == pytest.approx(table.loc[["I1", "I2", "I3"], "rmsprop"].mean())
    assert table.loc["Mean", "rmsprop (report)"] == 0.2670
    for suffix in ("md", "tex", "png"):
        assert (folder / "report" / f"table.{suffix}").stat().st_size > 0
    compile_latex(folder / "report" / "table.tex", tmp_path / "latex")
    back = read_csv(folder / "report" / "table.csv")  # the rows' names in a named column
    assert list(back.columns)[0] == "fold" and str(back["fold"].dtype) == "str"
    pd.testing.assert_frame_equal(back.set_index("fold"), table, check_names=False)


def test_model_comparison_gives_one_row_per_model_with_its_report_setting(study):
    configs = {c["model"]: c for c in (json.loads(p.read_text())
                                       for p in study.glob("trial_*/params.json"))}
    assert configs["mired_v1"]["dropout"] == 0.0 and configs["mired_v1"]["optimizer"] == "sgd"
    assert configs["basenet21"]["optimizer"] == "rmsprop" and configs["basenet21"]["flip"]
    assert configs["basenet21"]["dropout"] == 0.4 and configs["basenet"]["dropout"] == 0.0
    table = pd.read_csv(study / "report" / "table.csv")
    assert list(table["model"]) == ["basenet", "basenet21", "mired_v1"]  # the report's order
    for column in ["loss", "accuracy", "val_loss", "val_accuracy", "test_accuracy", "epochs",
                   "params", "reference_test_accuracy"]:
        assert table[column].notna().all(), column
    assert table.set_index("model").loc["mired_v1", "reference_test_accuracy"] == 0.412
    assert table.set_index("model").loc["basenet", "params"] == 456 + 2416 + 20050 + 510


def test_augmentation_grid_rebuilds_report_002_table_4(tmp_path):
    proc = run("run_search.py", "--space", "augmentation_grid", "--dataset", "digits",
               "--max-epochs", "1", "--set", "zoom=0.0,0.2", "--storage-path", tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    table = pd.read_csv(tmp_path / "augmentation_grid" / "report" / "table.csv")
    assert list(zip(table["horizontal_flip"], table["zoom_range"])) == [
        (False, 0.0), (True, 0.0), (False, 0.2), (True, 0.2)]
    assert list(table["reference_test_accuracy"]) == [0.3904, 0.4396, 0.4072, 0.4488]
    assert table["test_accuracy"].between(0, 1).all()
    assert (tmp_path / "augmentation_grid" / "report" / "table.tex").exists()
