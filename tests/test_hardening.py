"""Inputs that used to get past the checks: experiment names that leave --storage-path, two
searches writing one experiment, a cluster address that does not answer."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from conftest import ROOT, run

SMOKE = ["run_search.py", "--space", "basenet", "--dataset", "digits", "--smoke-test",
         "--ensemble", "1"]


@pytest.mark.parametrize("name", ["../escaped", "/tmp/absolute", "a/b", ".hidden", "..", "."])
def test_a_name_that_would_leave_the_storage_folder_is_refused(tmp_path, name):
    storage = tmp_path / "results"
    proc = run(*SMOKE, "--storage-path", storage, "--name", name)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert f"--name {name!r}: give one folder name" in proc.stderr
    assert not (tmp_path / "escaped").exists() and sorted(storage.iterdir()) == []


def test_an_address_that_does_not_answer_exits_2_within_15_seconds(tmp_path):
    start = time.time()
    proc = run(*SMOKE, "--storage-path", tmp_path, "--address", "127.0.0.1:9")
    assert proc.returncode == 2 and time.time() - start < 15, proc.stderr[-2000:]
    assert proc.stderr.strip().splitlines()[-1].startswith(
        "error: --address 127.0.0.1:9 does not answer"), proc.stderr[-2000:]
    assert not list(tmp_path.glob("*/trial_*"))


@pytest.mark.slow
def test_a_second_search_on_the_same_experiment_exits_2_while_the_first_runs(tmp_path):
    first = subprocess.Popen([sys.executable, *SMOKE, "--num-samples", "2", "--max-epochs", "2",
                              "--storage-path", str(tmp_path), "--name", "x"], cwd=ROOT,
                             stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
    lock = tmp_path / ".x.lock"
    deadline = time.time() + 60
    while time.time() < deadline and f"pid {first.pid}" not in (
            lock.read_text() if lock.exists() else ""):
        time.sleep(0.1)
    second = run(*SMOKE, "--storage-path", tmp_path, "--name", "x", "--resume")
    assert second.returncode == 2 and second.stderr.count("\n") == 1, second.stderr
    assert f"is in use by pid {first.pid}" in second.stderr
    first.wait(timeout=300)
    assert first.returncode == 0, first.stdout.read()[-3000:]
    # Released when the first ends: the experiment can be resumed (nothing left to run).
    third = run(*SMOKE, "--storage-path", tmp_path, "--name", "x", "--resume")
    assert third.returncode == 0, third.stderr[-2000:]


def test_the_lock_goes_with_the_process_that_held_it(tmp_path):
    """A killed search (SIGKILL: no clean-up at all) leaves no lock behind."""
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from driver.plan import lock; "
         "from pathlib import Path; lock(Path(sys.argv[1])); print('locked', flush=True); "
         "time.sleep(60)", str(tmp_path / "x")], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    from driver.plan import lock
    from driver.settings import UsageError
    with pytest.raises(UsageError, match=f"in use by pid {holder.pid}"):
        lock(tmp_path / "x")
    holder.kill()
    holder.wait()
    lock(tmp_path / "x")  # free again
