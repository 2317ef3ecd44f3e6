"""The transfer-learning tables of the reports (catalogue tables 4-6), ours beside theirs.

    python -m analysis.transfer_tables results/resnet_head results/finetune_resnet \\
        results/resnet_extractor results/inception_resnet results/nasnet_pathmnist \\
        results/mobilenet_cifar10 --out results/transfer_tables

Every row of the reports is there, in their order, with the report's number and source; our
columns are filled from whichever experiments ran that model (or head / init mode) on that
table's dataset. Our row is the best trial by validation accuracy among those that completed their
budget (and so have a test accuracy), else the best overall; its loss and accuracy columns are at
its best epoch, as 002's tables give train / validation loss and accuracy beside test accuracy.
Written as CSV, Markdown and LaTeX: table4_cub200, table5_pathmnist, table6_cifar10.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from analysis.results import load

TABLES = {4: "cub200", 5: "pathmnist", 6: "cifar10"}
TITLES = {4: "Transfer learning on CUB-200", 5: "PathMNIST", 6: "CIFAR-10, MobileNet"}

# (table, row key, what, report's number, its metric, source)
ROWS = [
    (4, "resnet50_head", "ResNet50 frozen, GAP, FC(200)", 0.4421, "test", "000"),
    (4, "resnet50_fc_head", "ResNet50 frozen, FC(1024) head", 0.4309, "test", "000"),
    (4, "resnet50_conv_head", "ResNet50 frozen, conv head", 0.4467, "test",
     "000 (0.4355 with augmentation)"),
    (4, "resnet50_finetune:gap", "ResNet50 fine-tuned, GAP head", 0.4643, "test", "000"),
    (4, "resnet50_finetune:conv", "ResNet50 fine-tuned, conv head", 0.4824, "test", "000"),
    (4, "resnet50_extractor_fc500", "ResNet50 extractor, FC(500)", 0.3415, "test", "001"),
    (4, "resnet50_finetune:fc500", "ResNet50 fine-tuned, FC(500) head", 0.440, "test", "001"),
    (4, "inception_resnet_v2_head", "InceptionResNetV2, FC(1024) head", 0.5535, "test", "001"),
    (4, "resnet50_extractor_v1", "ResNet50 extractor V1", 0.4247, "test",
     "002 (0.4135 with early stopping)"),
    (4, "resnet50_extractor_v2", "ResNet50 extractor V2", 0.3168, "test", "002"),
    (4, "resnet50_extractor_v3", "ResNet50 extractor V3", 0.3653, "test",
     "002 (0.3769 with early stopping)"),
    (4, "resnet50_finetune:fc512", "ResNet50 fine-tuned, V1 head", 0.4942, "test",
     "002, flip (0.4566 plain, 0.4613 normalized, 0.4863 flip + zoom 0.2)"),
    (4, "resnet50_finetune:fc512_256", "ResNet50 fine-tuned, V2 head", 0.5417, "test",
     "002, normalized (0.5414 flip, 0.45862 flip + zoom 0.5)"),
    (4, "resnet50_finetune:fc1024", "ResNet50 fine-tuned, FC(1024) head", None, "test",
     "not in the reports"),
    (5, "nasnet_mobile_head", "NASNetMobile frozen, FC(9)", 0.8649, "test", "000"),
    (5, "nasnet_mobile_top50", "NASNetMobile, top layers trained", 0.8779, "test", "000 (top 50)"),
    (6, "mobilenet_cifar10:random", "MobileNet, random init", 0.354, "val", "003, read off curves"),
    (6, "mobilenet_cifar10:imagenet", "MobileNet, ImageNet init", 0.78, "val",
     "003, read off curves"),
    (6, "mobilenet_cifar10:finetune", "MobileNet, fine-tuned", 0.78, "val",
     "003, read off curves"),
]


def row_key(config: dict) -> str:
    """The row a trial belongs to: its model, with the head or init mode where those vary."""
    model = config.get("model", "")
    if model == "resnet50_finetune":
        return f"{model}:{config.get('head') or 'gap'}"
    if model == "mobilenet_cifar10":
        return f"{model}:{config.get('init') or 'finetune'}"
    return model


def _candidates(folders) -> pd.DataFrame:
    """Every trial of the given experiments with its row key, dataset and experiment."""
    frames = []
    for folder in folders:
        res = load(folder)
        if res.trials.empty:
            continue
        trials = res.trials.copy()
        trials["row"] = [row_key(c) for c in trials["config"]]
        trials["dataset"] = res.search.get("dataset")
        trials["experiment"] = str(res.folder)
        if res.best_test:  # the search's best trial, evaluated with its best weights
            best = trials["trial_id"] == res.best_test["trial_id"]
            trials.loc[best, "test_accuracy"] = res.best_test["test_accuracy"]
        frames.append(trials)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _ours(trials: pd.DataFrame) -> dict:
    usable = trials[trials["val_accuracy"].notna() & ~trials["diverged"].astype(bool)]
    if usable.empty:
        return {}
    completed = usable[usable["test_accuracy"].notna()]
    pool = completed if len(completed) else usable
    best = pool.loc[pool["val_accuracy"].idxmax()]
    return {"train loss": best["loss"], "train accuracy": best["accuracy"],
            "val loss": best["val_loss"], "val accuracy": best["val_accuracy"],
            "test accuracy": best["test_accuracy"], "trials": len(usable),
            "epochs": best["epochs"], "trial": best["trial_id"],
            "experiment": Path(best["experiment"]).name}


def tables(folders) -> dict[int, pd.DataFrame]:
    """Table number -> the table, in the reports' row order, for the given experiment folders."""
    trials = _candidates(folders)
    out = {}
    for number, dataset in TABLES.items():
        rows = []
        for table, key, what, reference, metric, source in ROWS:
            if table != number:
                continue
            mine = trials[(trials["row"] == key) & (trials["dataset"] == dataset)] \
                if len(trials) else trials
            ours = _ours(mine) if len(mine) else {}
            compared = ours.get(f"{metric} accuracy")
            rows.append({
                "model": what, "key": key, **{c: ours.get(c) for c in (
                    "train loss", "train accuracy", "val loss", "val accuracy", "test accuracy")},
                "report": reference, "report metric": f"{metric} accuracy",
                "difference": (compared - reference) if reference is not None and
                compared is not None and pd.notna(compared) else None,
                "report source": source,
                **{c: ours.get(c) for c in ("trials", "epochs", "trial", "experiment")},
            })
        out[number] = pd.DataFrame(rows)
    return out


def write(folders, out: Path) -> list[Path]:
    """Write table4_cub200, table5_pathmnist, table6_cifar10 (.csv, .md, .tex) into `out`."""
    from analysis.report import save_table
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for number, table in tables(folders).items():
        stem = f"table{number}_{TABLES[number]}"
        save_table(table, out, stem, latex=True)
        written.append(out / f"{stem}.md")
    return written


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m analysis.transfer_tables", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("folders", nargs="+", type=Path, help="experiment folders")
    p.add_argument("--out", type=Path, help="where to write (default: transfer_tables/ beside "
                                            "the first experiment)")
    args = p.parse_args(argv)
    try:
        files = write(args.folders, args.out or args.folders[0].parent / "transfer_tables")
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for file in files:
        print(file)
    return 0


if __name__ == "__main__":
    sys.exit(main())
