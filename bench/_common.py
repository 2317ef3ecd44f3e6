"""Shared by the search benchmarks: run the real command line, time it, read what it wrote."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def machine() -> str:
    model = next((l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines()
                  if l.startswith("model name")), platform.processor())
    return f"{os.cpu_count()} cores, {model}, {time.strftime('%Y-%m-%d')}"


def search(storage: Path, name: str, *args, checkout: Path = ROOT, env: dict | None = None
           ) -> tuple[float, Path]:
    """Run `python run_search.py ...` as a user would, from `checkout` (this one, or a worktree
    of another commit), with `env` added to the environment; (wall seconds, experiment folder)."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "run_search.py", "--storage-path", str(storage),
                           "--name", name, *map(str, args)], cwd=checkout, capture_output=True,
                          text=True, env={**os.environ, **(env or {})})
    wall = time.perf_counter() - start
    if proc.returncode:
        raise SystemExit(proc.stdout[-2000:] + proc.stderr[-2000:])
    return wall, storage / name


def trials(folder: Path) -> pd.DataFrame:
    from analysis.results import load
    return load(folder).trials


def test_accuracy(folder: Path) -> float:
    return json.loads((folder / "best_test.json").read_text())["test_accuracy"]
