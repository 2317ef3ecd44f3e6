"""cluster/slurm.sbatch on a real SLURM: slurmctld, slurmd and munge for this machine alone,
started here in a temporary folder (ports, munge socket and state of their own; .ci/run installs
Debian's slurm-wlm and munge), and jobs submitted as a user submits them: a search that ends, one
stopped by the signal that comes before its time limit (it stops cleanly, requeues itself with
the same allocation and resumes until every trial has ended, none twice), and one whose time
limit comes before any trial can end (it is not requeued). Every daemon and job is stopped however the tests end."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from cluster.loopback import free_port
from conftest import ROOT, report_csv

pytestmark = pytest.mark.slow  # real SLURM jobs running real searches


def _conf(folder: Path) -> str:
    host = socket.gethostname()
    return f"""ClusterName=hpsuite
SlurmctldHost={host}
SlurmctldPort={free_port()}
SlurmdPort={free_port()}
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={folder / 'munge.sock'},cred_expire=10
SlurmUser=root
SlurmdUser=root
StateSaveLocation={folder / 'state'}
SlurmdSpoolDir={folder / 'spool'}
SlurmctldPidFile={folder / 'slurmctld.pid'}
SlurmdPidFile={folder / 'slurmd.pid'}
SlurmctldLogFile={folder / 'slurmctld.log'}
SlurmdLogFile={folder / 'slurmd.log'}
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerParameters=sched_interval=2
JobRequeue=1
ReturnToService=2
MpiDefault=none
KillWait=5
MinJobAge=3600
NodeName={host} CPUs={os.cpu_count()} RealMemory=8000 State=UNKNOWN
PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP
"""


@pytest.fixture(scope="module")
def slurm():
    """A running single-node SLURM; the environment its commands need (SLURM_CONF)."""
    if not (shutil.which("slurmctld") and shutil.which("munged")):
        pytest.skip("SLURM and munge are not installed (.ci/run installs slurm-wlm and munge)")
    if os.geteuid() != 0:
        pytest.skip("the single-node SLURM runs its daemons as root")
    folder = Path(tempfile.mkdtemp(prefix="slurm-", dir="/tmp"))
    folder.chmod(0o755)  # munged wants its socket's folder open to all
    for sub in ("state", "spool"):
        (folder / sub).mkdir()
    key = folder / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o400)
    conf = folder / "slurm.conf"
    conf.write_text(_conf(folder))
    env = {**os.environ, "SLURM_CONF": str(conf)}
    try:
        subprocess.run(["munged", f"--socket={folder / 'munge.sock'}", f"--key-file={key}",
                        f"--pid-file={folder / 'munged.pid'}", f"--seed-file={folder / 'seed'}",
                        f"--log-file={folder / 'munged.log'}"], check=True)
        for daemon in ("slurmctld", "slurmd"):
            subprocess.run([daemon, "-f", str(conf)], env=env, check=True)
        deadline = time.monotonic() + 60
        while _out(["sinfo", "-h", "-o", "%T"], env) != "idle":
            assert time.monotonic() < deadline, (folder / "slurmctld.log").read_text()[-2000:]
            time.sleep(1)
        yield env
    finally:
        subprocess.run(["scancel", "--full", "--user=root"], env=env, capture_output=True)
        time.sleep(2)
        for name in ("slurmd", "slurmctld", "munged"):
            try:
                os.kill(int((folder / f"{name}.pid").read_text()), signal.SIGTERM)
            except (OSError, ValueError):
                pass
        time.sleep(1)
        shutil.rmtree(folder, ignore_errors=True)


def _out(cmd, env) -> str:
    return subprocess.run(cmd, env=env, capture_output=True, text=True).stdout.strip()


def _submit(slurm, storage: Path, options: list[str], search_args: str, **settings) -> str:
    """`sbatch OPTIONS cluster/slurm.sbatch` as a user runs it, with the script's settings in
    the environment; the job id."""
    temp = Path(tempfile.mkdtemp(prefix="r", dir="/tmp"))  # Ray's sockets: short paths
    ports = ["--dashboard-agent-listen-port", "--dashboard-agent-grpc-port",
             "--runtime-env-agent-port", "--metrics-export-port", "--object-manager-port",
             "--node-manager-port", "--ray-client-server-port"]
    env = {**slurm, "REPO": str(ROOT), "VENV": str(Path(sys.executable).parents[1]),
           "STORAGE": str(storage), "SPACE": "basenet", "SEARCH_ARGS": search_args,
           "RAY_PORT": str(free_port()), "DASHBOARD_PORT": str(free_port()),
           "AUTOSCALER_METRIC_PORT": str(free_port()), "DASHBOARD_METRIC_PORT": str(free_port()),
           "RAY_START_ARGS": " ".join([f"--temp-dir={temp}",
                                       *(f"{p}={free_port()}" for p in ports)]),
           **settings}
    env.pop("RAY_ADDRESS", None)
    out = _out(["sbatch", "--parsable", f"--output={storage}/slurm-%j.out", *options,
                str(ROOT / "cluster" / "slurm.sbatch")], env)
    assert out.isdigit(), out
    return out


def _job(slurm, job: str) -> dict:
    text = _out(["scontrol", "show", "job", job], slurm)
    return dict(re.findall(r"(\w[\w/:]*)=(\S*)", text))


def _wait(slurm, job: str, timeout: float = 600) -> dict:
    """The job's record once it has ended for good (not requeued)."""
    deadline = time.monotonic() + timeout
    while (state := _job(slurm, job)).get("JobState") not in ("COMPLETED", "FAILED",
                                                              "CANCELLED", "TIMEOUT"):
        assert time.monotonic() < deadline, state
        time.sleep(2)
    return state


def test_a_search_job_runs_on_its_ray_cluster_and_writes_the_report(slurm, tmp_path):
    job = _submit(slurm, tmp_path, ["--nodes=1", "--cpus-per-task=2", "--time=6"],
                  "--dataset digits --smoke-test --ensemble 1")
    state = _wait(slurm, job)
    log = (tmp_path / f"slurm-{job}.out").read_text()
    assert state["JobState"] == "COMPLETED" and state["ExitCode"] == "0:0", log[-3000:]
    assert "Ray cluster up: 1 node(s)" in log
    assert (tmp_path / f"basenet-{job}" / "report" / "README.md").exists()


def _ended(experiment: Path) -> int:
    """Trials of `experiment` that completed their budget (their last result has a test score)."""
    return sum("test_accuracy" in (d / "result.json").read_text().splitlines()[-1]
               for d in experiment.glob("trial_*") if (d / "result.json").exists()
               and (d / "result.json").read_text().strip())


def test_a_job_stopped_before_its_time_limit_requeues_itself_and_finishes_the_search(
        slurm, tmp_path):
    """The signal SLURM sends before the time limit (`--signal=B:TERM@N`, to the batch shell),
    sent mid-search (SLURM sends it within about 30 s of its time; here once three trials have
    ended, so the test does not depend on that): the search stops cleanly, the job requeues
    itself, the same job with the allocation it was submitted with, command-line options
    included, and resumes until every trial has ended, each once."""
    options = ["--nodes=1", "--cpus-per-task=2", "--time=6", "--signal=B:TERM@60"]
    job = _submit(slurm, tmp_path, options, "--dataset digits --num-samples 24 --max-epochs 10 "
                  "--grace-period 10 --ensemble 1", RESUBMIT="1")
    experiment = tmp_path / f"basenet-{job}"
    deadline = time.monotonic() + 300
    while _ended(experiment) < 3:
        assert time.monotonic() < deadline and _job(slurm, job)["JobState"] in (
            "PENDING", "RUNNING"), (tmp_path / f"slurm-{job}.out").read_text()[-3000:]
        time.sleep(1)
    first = _job(slurm, job)  # the first run's allocation
    subprocess.run(["scancel", "--batch", "--signal=TERM", job], env=slurm, check=True)
    state = _wait(slurm, job, timeout=600)
    log = (tmp_path / f"slurm-{job}.out").read_text()
    assert state["JobState"] == "COMPLETED" and state["Restarts"] == "1", log[-4000:]
    assert "requeued: job" in log and log.count("Ray cluster up") == 2
    assert (first["NumCPUs"], first["TimeLimit"]) == ("2", "00:06:00")  # the command line's
    for key in ("NumNodes", "NumCPUs", "CPUs/Task", "TimeLimit", "Partition", "StdOut"):
        assert state[key] == first[key], key
    assert json.loads((experiment / "search.json").read_text())["finished"]
    trials = report_csv(experiment / "report" / "trials.csv")
    assert len(trials) == 24 and trials["trial_id"].is_unique
    assert (trials["status"] == "completed").all() and (trials["epochs"] == 10).all()
    assert len([d for d in experiment.glob("trial_*") if (d / "params.json").exists()]) == 24


def test_a_job_whose_time_limit_comes_before_any_trial_ends_is_not_requeued(slurm, tmp_path):
    """SLURM's own signal before the time limit (--time=3, 100 s before it, which SLURM sends up
    to 30 s early: 50-80 s in, once Ray is up and the one trial runs): the search stops cleanly,
    and as no trial ended in the run, the job is not requeued (it would only repeat)."""
    options = ["--nodes=1", "--cpus-per-task=2", "--time=3", "--signal=B:TERM@100"]
    job = _submit(slurm, tmp_path, options, "--dataset digits --num-samples 1 --max-epochs 5000 "
                  "--grace-period 5000 --ensemble 1", RESUBMIT="1")
    state = _wait(slurm, job)
    log = (tmp_path / f"slurm-{job}.out").read_text()
    assert state["Restarts"] == "0" and state["ExitCode"].startswith("143"), log[-3000:]
    assert "no trial ended in this run: not requeued" in log
