"""The KubeRay image (cluster/Dockerfile) holds the suite: exactly the paths its COPY lines name,
laid out in an empty folder as in the image, with the image's PYTHONPATH and working directory,
list the spaces and run a smoke search; cluster/rayjob.yaml's entrypoint runs a script the image
holds. (No image is built here: no container registry is reachable for the python:3.11-slim base.)
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

DOCKERFILE = ROOT / "cluster" / "Dockerfile"


def image_layout(into: Path) -> tuple[Path, dict]:
    """The Dockerfile's COPY lines laid out under `into` (its WORKDIR becomes into/WORKDIR); the
    working directory and the ENV it sets, paths moved to `into` too."""
    text = DOCKERFILE.read_text()
    workdir = re.search(r"^WORKDIR\s+(\S+)", text, re.M).group(1)
    app = into / workdir.lstrip("/")
    app.mkdir(parents=True)
    for source, target in re.findall(r"^COPY\s+(\S+)\s+(\S+)\s*$", text, re.M):
        destination = app / target
        if (ROOT / source).is_dir():
            shutil.copytree(ROOT / source, destination,
                            ignore=shutil.ignore_patterns("__pycache__"))
        else:  # into WORKDIR itself (".", "./") or under a file name of its own
            shutil.copy(ROOT / source, destination)
    env = dict(re.findall(r"(\w+)=(\S+)", " ".join(re.findall(r"^ENV\s+(.*)$", text, re.M))))
    env = {k: v.replace(workdir, str(app)) for k, v in env.items()}
    return app, env


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    return image_layout(tmp_path_factory.mktemp("image"))


def _run(image, *args, timeout=300) -> subprocess.CompletedProcess:
    app, env = image
    outside = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run([sys.executable, *map(str, args)], cwd=app, capture_output=True,
                          text=True, timeout=timeout, env={**outside, **env})


def test_the_image_holds_every_package_the_suite_imports(image):
    app, env = image
    assert env["PYTHONPATH"] == str(app)
    spaces = _run(image, app / "run_search.py", "--list-spaces")
    assert spaces.returncode == 0, spaces.stderr[-2000:]
    assert "finetune_resnet" in spaces.stdout
    # every top-level package of the repository that the suite's modules import is in the image
    imported = set()
    for module in app.rglob("*.py"):
        imported |= set(re.findall(r"^\s*(?:from|import)\s+(\w+)", module.read_text(), re.M))
    local = {p.name for p in ROOT.iterdir() if (p / "__init__.py").exists()}
    assert imported & local <= {p.name for p in app.iterdir()}, imported & local


def test_the_rayjob_entrypoint_runs_a_script_the_image_holds(image):
    app, _ = image
    entrypoint = re.search(r"entrypoint: >-\n((?:\s{4}.*\n)+)",
                           (ROOT / "cluster" / "rayjob.yaml").read_text()).group(1).split()
    workdir = re.search(r"^WORKDIR\s+(\S+)", DOCKERFILE.read_text(), re.M).group(1)
    assert entrypoint[0] == "python" and entrypoint[1].startswith(workdir + "/")
    assert (app / Path(entrypoint[1]).relative_to(workdir)).is_file()


@pytest.mark.slow
def test_a_smoke_search_runs_from_the_image_layout(image, tmp_path):
    app, _ = image
    proc = _run(image, app / "run_search.py", "--space", "basenet", "--dataset", "digits",
                "--smoke-test", "--ensemble", "1", "--storage-path", tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert (tmp_path / "basenet" / "report" / "README.md").exists()
