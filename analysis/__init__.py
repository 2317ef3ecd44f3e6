"""Analysis layer: Results folder -> pandas DataFrames -> report tables and plots.

    from analysis import load, compare, read_csv
    res = load("results/basenet")        # res.trials, res.epochs, res.skipped (analysis/results.py)
    compare(["results/a", "results/b"])  # one row per search, its best (analysis/comparison.py)
    read_csv("results/basenet/report/trials.csv")  # any CSV it writes, to the documented dtypes
                                                   # (analysis/tables.py)

    python -m analysis results/basenet [...]                        # rebuild each report/
    python -m analysis compare results/a results/b --out results/comparison

docs/analysis.md shows each with real output.
"""

from analysis.comparison import compare
from analysis.results import ExperimentError, Results, load
from analysis.tables import read_csv

__all__ = ["load", "compare", "read_csv", "Results", "ExperimentError"]
