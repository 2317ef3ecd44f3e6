"""Shared fixtures: the repository on sys.path, a command runner, one real smoke search and one
real study."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def run(*args, env=None, timeout=600) -> subprocess.CompletedProcess:
    """Run a repository command (`python run_search.py ...`) as a user would; capture its output."""
    return subprocess.run([sys.executable, *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **(env or {})})


def report_csv(path):
    """A report's trials.csv or best.csv as a DataFrame. Trial ids stay strings: Ray's are 8 hex
    digits, and an all-digit one (2% of them) or one like "1234e567" would otherwise be read as a
    number and compare unequal to the id in the folder's name."""
    import pandas as pd
    return pd.read_csv(path, dtype={"trial_id": str})


@pytest.fixture(scope="session")
def smoke_search(tmp_path_factory):
    """A real smoke search of the basenet space on digits; the experiment folder."""
    storage = tmp_path_factory.mktemp("results")
    proc = run("run_search.py", "--space", "basenet", "--dataset", "digits", "--smoke-test",
               "--storage-path", storage, "--name", "smoke")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return storage / "smoke", proc


@pytest.fixture(scope="session")
def study(tmp_path_factory):
    """A real study: model_comparison on digits, one epoch, three models (docs/analysis.md's two
    and basenet21, whose report setting differs from the study's constants); its folder."""
    storage = tmp_path_factory.mktemp("study")
    proc = run("run_search.py", "--space", "model_comparison", "--dataset", "digits",
               "--max-epochs", "1", "--set", "model=basenet,mired_v1,basenet21",
               "--storage-path", storage)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return storage / "model_comparison"
