"""analysis.transfer_tables: the reports' transfer tables 4-6, every row of theirs in their order,
our best trial beside it, from experiment folders alone."""

from __future__ import annotations

import json

import pytest

from conftest import compile_latex, run
from search_spaces._references import transfer_table


def _fake_experiment(folder, dataset, trials, table=None):
    """An experiment folder as a search leaves it (search.json, params.json, result.json)."""
    folder.mkdir(parents=True)
    (folder / "search.json").write_text(json.dumps({
        "space": "x", "dataset": dataset, "finished": 1.0,
        "table_reference": transfer_table(table) if table else None,
        "budget": {"num_samples": 3, "max_epochs": 2, "grace_period": 1, "reduction_factor": 2}}))
    for trial_id, config, val, test in trials:
        (folder / f"trial_{trial_id}").mkdir()
        (folder / f"trial_{trial_id}" / "params.json").write_text(json.dumps(config))
        rows = [{"trial_id": trial_id, "training_iteration": i, "loss": 1.0 / i, "accuracy": 0.5,
                 "val_loss": 2.0, "val_accuracy": val * i / 2} for i in (1, 2)]
        if test is not None:
            rows[-1]["test_accuracy"] = test
        (folder / f"trial_{trial_id}" / "result.json").write_text(
            "".join(json.dumps(r) + "\n" for r in rows))
    return folder


def test_transfer_tables_put_our_best_beside_every_report_row(tmp_path):
    finetune = _fake_experiment(tmp_path / "finetune_resnet", "cub200", [
        ("a", {"model": "resnet50_finetune", "head": "gap"}, 0.6, 0.5),
        ("b", {"model": "resnet50_finetune", "head": "gap"}, 0.7, None),   # stopped by ASHA
        ("c", {"model": "resnet50_finetune", "head": "conv"}, 0.4, 0.45)], table=4)
    mobilenet = _fake_experiment(tmp_path / "mobilenet_cifar10", "cifar10", [
        ("d", {"model": "mobilenet_cifar10", "init": "random"}, 0.3, 0.29)], table=6)
    digits = _fake_experiment(tmp_path / "digits", "digits", [  # not a table's dataset
        ("e", {"model": "resnet50_head"}, 0.9, 0.9)])
    proc = run("-m", "analysis.transfer_tables", finetune, mobilenet, digits,
               "--out", tmp_path / "tables")
    assert proc.returncode == 0, proc.stderr
    for stem in ("table4_cub200", "table6_cifar10"):
        for ext in ("csv", "md", "tex"):
            assert (tmp_path / "tables" / f"{stem}.{ext}").is_file()
    assert not (tmp_path / "tables" / "table5_pathmnist.csv").exists()  # no PathMNIST search
    import pandas as pd

    from analysis import read_csv
    from analysis.tables import TRANSFER
    from analysis.transfer_tables import tables
    made = tables([finetune, mobilenet, digits])
    for number, stem in ((4, "table4_cub200"), (6, "table6_cifar10")):
        compile_latex(tmp_path / "tables" / f"{stem}.tex", tmp_path / "latex" / stem)
        back = read_csv(tmp_path / "tables" / f"{stem}.csv")  # the documented columns and dtypes
        assert {c: str(t) for c, t in back.dtypes.items()} == TRANSFER
        pd.testing.assert_frame_equal(back, made[number])
    cub = pd.read_csv(tmp_path / "tables" / "table4_cub200.csv").set_index("key")
    assert list(cub.index) == [r["key"] for r in transfer_table(4)]  # every row, in order
    gap = cub.loc["resnet50_finetune:gap"]
    assert gap["test accuracy"] == 0.5 and gap["trial"] == "a" and gap["trials"] == 2
    assert gap["report"] == 0.4643 and gap["difference"] == pytest.approx(0.5 - 0.4643)
    assert cub.loc["resnet50_finetune:conv", "test accuracy"] == 0.45
    assert pd.isna(cub.loc["resnet50_head", "test accuracy"])  # digits does not count
    assert cub.loc["resnet50_head", "report"] == 0.4421
    cifar = pd.read_csv(tmp_path / "tables" / "table6_cifar10.csv").set_index("key")
    random = cifar.loc["mobilenet_cifar10:random"]  # 003 read validation accuracy
    assert random["report metric"] == "val accuracy"
    assert random["difference"] == pytest.approx(0.3 - 0.354)
