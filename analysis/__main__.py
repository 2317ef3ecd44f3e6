"""python -m analysis FOLDER [FOLDER ...]: rebuild each experiment's report/ from its files."""

import argparse
import sys

from analysis import report


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m analysis", description=__doc__)
    p.add_argument("folders", nargs="+", help="experiment folders, e.g. results/basenet")
    args = p.parse_args(argv)
    for folder in args.folders:
        try:
            print(f"Report: {report.write(folder)}")
        except FileNotFoundError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
