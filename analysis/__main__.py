"""Analysis layer: Rebuild reports, or compare searches.

    python -m analysis FOLDER [FOLDER ...]                  rebuild each experiment's report/ (and
                                                            optuna.db) from its files alone
    python -m analysis compare FOLDER [FOLDER ...] --out DIR   one row per search, its best trial:
                                                            DIR/comparison.{csv,md,tex,png}

Exit 2, with one line naming the file, when a folder is no readable experiment (search.json
missing or damaged); damaged trial files are skipped and listed in the report instead.
"""

import argparse
import sys

from analysis.results import ExperimentError


def _reports(argv) -> int:
    import analysis.report as report
    p = argparse.ArgumentParser(prog="python -m analysis", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("folders", nargs="+", help="experiment folders, e.g. results/basenet")
    args = p.parse_args(argv)
    status = 0
    for folder in args.folders:
        try:
            path = report.write(folder)
        except ExperimentError as e:
            print(f"error: {e}", file=sys.stderr)
            status = 2
            continue
        print(f"Report: {path}")
        skipped = path.read_text().count("\n## Skipped\n")
        if skipped:
            print(f"warning: {folder} has damaged files; they were skipped and are listed in the "
                  f"Skipped section of {path}", file=sys.stderr)
    return status


def _compare(argv) -> int:
    import analysis.comparison as comparison
    p = argparse.ArgumentParser(prog="python -m analysis compare",
                                description="One row per search: its best trial, the report's "
                                            "reference beside it.")
    p.add_argument("folders", nargs="+", help="experiment folders")
    p.add_argument("--out", default="results/comparison",
                   help="folder for comparison.{csv,md,tex,png} (default: %(default)s)")
    args = p.parse_args(argv)
    try:
        table = comparison.compare(args.folders)
    except ExperimentError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    path = comparison.write(table, args.out)
    print(path.read_text(), end="")
    print(f"Comparison: {path}")
    return 0


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["compare"]:
        return _compare(argv[1:])
    return _reports(argv)


if __name__ == "__main__":
    sys.exit(main())
