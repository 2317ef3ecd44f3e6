"""Inputs that used to get past the checks: experiment names that leave --storage-path, two
searches writing one experiment, a cluster address that does not answer or is not Ray, a Ray
cluster that `ray start` left recorded on the machine."""

from __future__ import annotations

import http.server
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from conftest import ROOT, run
from driver.cluster import check_ray
from driver.settings import UsageError

SMOKE = ["run_search.py", "--space", "basenet", "--dataset", "digits", "--smoke-test",
         "--ensemble", "1"]


@pytest.mark.parametrize("name", ["../escaped", "/tmp/absolute", "a/b", ".hidden", "..", "."])
def test_a_name_that_would_leave_the_storage_folder_is_refused(tmp_path, name, run_search_main):
    storage = tmp_path / "results"
    code, error = run_search_main(*SMOKE[1:], "--storage-path", storage, "--name", name)
    assert code == 2 and error.count("\n") == 1, error
    assert f"--name {name!r}: give one folder name" in error
    assert not (tmp_path / "escaped").exists() and sorted(storage.iterdir()) == []


@pytest.fixture
def silent_service():
    """A TCP service on 127.0.0.1 that accepts connections (the kernel completes them) and never
    says a word; its address."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        yield "127.0.0.1:%d" % server.getsockname()[1]


@pytest.fixture
def http_service():
    """A real HTTP server on 127.0.0.1; its address."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield "127.0.0.1:%d" % server.server_address[1]
    server.shutdown()


@pytest.mark.parametrize("service, says", [
    (None, "does not answer (Connection refused)"),
    ("http_service", "answers, but not as a Ray cluster does"),
    ("silent_service", "accepts connections but does not answer within 1 s"),
])
def test_an_address_that_is_not_a_ray_cluster_is_one_line(request, service, says):
    address = request.getfixturevalue(service) if service else "127.0.0.1:9"
    start = time.monotonic()
    with pytest.raises(UsageError) as e:
        check_ray(address, timeout=1)
    assert time.monotonic() - start < 5
    assert str(e.value).startswith(f"--address {address} {says}; check that `ray start --head`")
    assert "\n" not in str(e.value)


@pytest.mark.slow  # the whole command, up to its Ray start (check_ray alone: the test above)
def test_a_service_that_never_answers_exits_2_within_15_seconds(tmp_path, silent_service):
    start = time.time()
    proc = run(*SMOKE, "--storage-path", tmp_path, "--address", silent_service)
    assert proc.returncode == 2 and time.time() - start < 15, proc.stderr[-2000:]
    assert proc.stderr.strip().splitlines()[-1].startswith(
        f"error: --address {silent_service} accepts connections but does not answer"), \
        proc.stderr[-2000:]
    assert not list(tmp_path.glob("*/trial_*"))


@pytest.mark.slow  # the whole command, up to its Ray start (check_ray alone: the test above)
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


@pytest.mark.slow
def test_a_dead_cluster_recorded_by_ray_start_is_ignored_without_address(tmp_path):
    """`ray start --head` records its address on the machine (<temp>/ray/ray_current_cluster);
    killed rather than stopped, its record stays. A search without --address runs on a Ray of its
    own all the same; with --address auto the dead record is one line within 15 s."""
    temp = Path(tempfile.mkdtemp(prefix="rayt-", dir="/tmp"))  # Ray's sockets: short paths
    env = {"RAY_TMPDIR": str(temp), "RAY_USAGE_STATS_ENABLED": "0"}
    env = {**{k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}, **env}
    ray = shutil.which("ray", path=str(Path(sys.executable).parent))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    head = subprocess.Popen([ray, "start", "--head", "--port", str(port), "--num-cpus", "1",
                             "--include-dashboard", "false"], env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert head.wait(timeout=120) == 0
        record = temp / "ray" / "ray_current_cluster"
        assert record.read_text().strip().endswith(f":{port}")
        os.killpg(head.pid, signal.SIGKILL)  # every process `ray start` left: the cluster dies
        time.sleep(1)
        assert record.exists()

        start = time.monotonic()
        auto = run(*SMOKE, "--storage-path", tmp_path, "--name", "auto", "--address", "auto",
                   env=env)
        assert auto.returncode == 2 and time.monotonic() - start < 15, auto.stderr[-2000:]
        assert auto.stderr.count("\n") == 1 and auto.stderr.startswith(
            f"error: --address auto ({record.read_text().strip()}) does not answer"), auto.stderr

        own = run(*SMOKE, "--num-samples", "2", "--max-epochs", "1", "--storage-path", tmp_path,
                  "--name", "own", env=env, timeout=300)
        assert own.returncode == 0, own.stderr[-3000:]
        assert "Report: " in own.stdout
    finally:
        try:
            os.killpg(head.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        shutil.rmtree(temp, ignore_errors=True)


def test_optunas_already_reported_warning_is_silenced_in_the_driver():
    """A resumed or retried trial reports again the epochs after its checkpoint; Optuna would
    warn once for each (the driver's OptunaSearch reports every result to its study)."""
    import warnings

    import optuna

    from driver.search import silence_library_warnings

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    silence_library_warnings()
    trial = optuna.create_study().ask()
    trial.report(0.5, 1)
    with warnings.catch_warnings(record=True) as caught:
        trial.report(0.6, 1)
        warnings.warn("another warning stays")
    assert [str(w.message) for w in caught] == ["another warning stays"]


MAX = 2**31 - 1


@pytest.mark.slow
@pytest.mark.parametrize("extremes", [
    ["--num-samples", MAX, "--max-epochs", MAX, "--reduction-factor", MAX, "--checkpoint-every",
     MAX, "--max-failures", MAX, "--ensemble", MAX, "--seed", 2**32 - 1, "--ema-epochs", "1e300",
     "--time-budget", "20s"],
    ["--smoke-test", "--ema-epochs", "1e-300", "--gpus-per-trial", "0",
     "--time-budget", "99999999999999999999h"],
    ["--smoke-test", "--time-budget", "0.0000001s"],
    ["--space", "optimizers_cv", "--max-epochs", "1", "--set", "optimizer=sgd", "--set", "fold=0",
     "--set", f"patience={MAX}", "--set", "batch_size=65536", "--set", "learning_rate=10"],
], ids=["maxima", "smallest and largest floats", "instant time budget", "study maxima"])
def test_the_extremes_that_plan_accepts_run_a_working_search(tmp_path, extremes):
    """The values tests/test_plan.py's walk finds accepted, in real searches (the maxima end by
    their time budget): exit 0 and a report, no traceback."""
    proc = run("run_search.py", "--space", "basenet", "--dataset", "digits", "--storage-path",
               tmp_path, *extremes, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "Report: " in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr  # the driver's, or a trial process's
