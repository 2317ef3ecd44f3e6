"""Shared fixtures: the repository on sys.path, a command runner, one real smoke search and one
real study, Ray's per-trial API stood in for (`trial_session`: a trial trained in this process)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import types
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


def compile_latex(tex: Path, workdir: Path) -> None:
    """Compile a table the suite wrote with a real LaTeX, as a user would: \\input into an article
    whose preamble has what the table's first line asks for (booktabs). Fails with LaTeX's own
    error; skips, saying why, where pdflatex is not installed."""
    import shutil
    if shutil.which("pdflatex") is None:
        pytest.skip("pdflatex is not installed: .ci/run installs Debian's texlive-latex-base and "
                    "texlive-latex-recommended (booktabs), as root")
    assert "\\usepackage{booktabs}" in tex.read_text().splitlines()[0], tex
    workdir.mkdir(parents=True, exist_ok=True)
    shutil.copy(tex, workdir / "table.tex")  # the table's own name may hold _ (table4_cub200)
    (workdir / "doc.tex").write_text("\\documentclass{article}\n\\usepackage{booktabs}\n"
                                     "\\begin{document}\n\\input{table.tex}\n\\end{document}\n")
    proc = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "doc.tex"],
                          cwd=workdir, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and (workdir / "doc.pdf").stat().st_size > 0, \
        f"{tex} does not compile:\n{proc.stdout[-3000:]}"


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


@pytest.fixture(scope="session")
def digits():
    """scikit-learn's digits as a search loads them (trainables.loaders.load_digits): one Data
    for the session's in-process tests, which treat its arrays as read-only."""
    from trainables.loaders import load_digits
    return load_digits()


@pytest.fixture
def offline_keras_home(tmp_path, monkeypatch):
    """An empty Keras cache ($KERAS_HOME, with datasets/ and models/) and no way to download
    anything: the proxies point where nothing listens, so a download fails at once."""
    home = tmp_path / "keras"
    for folder in ("datasets", "models"):
        (home / folder).mkdir(parents=True)
    monkeypatch.setenv("KERAS_HOME", str(home))
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.setenv(var, "http://127.0.0.1:9")
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    return home


@pytest.fixture
def run_search_main(capsys, monkeypatch):
    """`python run_search.py ARGS` in this process (run_search.main), for inputs the command must
    refuse before a search starts: call it with the arguments; it gives the exit code and what
    the command wrote to stderr. The search itself is replaced by a failure, so an input wrongly
    accepted fails the test rather than running a search inside pytest. (tests/test_cli.py runs
    the real command line for a refused input too.)"""
    import run_search

    def started(*args, **kwargs):
        raise AssertionError("run_search.py accepted the input: the search would have started")

    monkeypatch.setattr(run_search.search, "run", started)

    def main(*args) -> tuple[int, str]:
        capsys.readouterr()
        try:
            code = run_search.main([str(a) for a in args])
        except SystemExit as e:  # argparse's own errors (an unknown flag, "1.5" for an integer)
            code = e.code
        return code, capsys.readouterr().err
    return main


class Session:
    """What Ray gives a trial, stood in for: `reports` holds each (metrics, copy of its
    checkpoint's folder or None); `checkpoint` is the one the trial starts from (None: new)."""

    def __init__(self, folder: Path):
        self.folder, self.reports, self.checkpoint = folder, [], None

    def report(self, metrics, checkpoint=None):
        kept = None
        if checkpoint is not None:  # Ray copies it before the trial removes its folder
            kept = self.folder / f"checkpoint_{len(list(self.folder.iterdir())):06d}"
            shutil.copytree(checkpoint.path, kept)
        self.reports.append((metrics, kept))


@pytest.fixture
def trial_session(tmp_path, monkeypatch) -> Session:
    """Ray's per-trial API (report, checkpoint, resources, runtime context) replaced by a
    `Session`, so `trainables.train.train` runs in this process: no Ray process starts."""
    import ray
    from ray import tune

    stand_in = Session(tmp_path)
    resources = types.SimpleNamespace(required_resources={"CPU": 1, "GPU": 0})
    monkeypatch.setattr(tune, "report", stand_in.report)
    monkeypatch.setattr(tune, "get_checkpoint", lambda: stand_in.checkpoint)
    monkeypatch.setattr(tune, "get_context", lambda: types.SimpleNamespace(
        get_trial_resources=lambda: resources))
    monkeypatch.setattr(ray, "get_runtime_context", lambda: types.SimpleNamespace(
        get_node_id=lambda: "local", get_actor_id=lambda: None))
    return stand_in
