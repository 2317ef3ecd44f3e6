"""A real multi-node Ray cluster on this machine's loopback (cluster/loopback.py): a search submitted
with `ray job submit`, as cluster/README.md tells a user to, runs its trials on more than one node
and writes its report to the shared storage path; the job API refuses requests without the token.

The head node has no CPUs (it runs the driver, as on a real cluster) and two worker nodes have one
CPU each. Why not head + one worker: under `reuse_actors=True` Ray Tune gives a pending trial to an
actor that has just finished a trial and discards the actor still starting for it
(`TuneController._maybe_reuse_cached_actor`); the head, which already holds the job's working dir,
starts its actor 10-20 s sooner here, so every short smoke trial ran on the head and none on the
worker. Two equal worker nodes start their actors together and both get trials.

`ray stop` is never called: it stops every Ray process of the user on the machine, other tests'
too. The fixture kills only the processes its own `ray start` commands created.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import run
from cluster.loopback import HOST, LoopbackCluster

pytestmark = pytest.mark.slow  # real searches, clusters or fault drills


@pytest.fixture(scope="module")
def cluster():
    with LoopbackCluster([0, 1, 1]) as c:
        yield c


@pytest.fixture(scope="module")
def workers(cluster) -> set[str]:
    """Node IDs of the nodes with CPUs: where trials can run."""
    return {n["node_id"] for n in cluster.alive_nodes()
            if n["resources_total"].get("CPU", 0) > 0}


def trial_nodes(folder: Path) -> list[str]:
    """The node that trained each trial, from the trials' own per-epoch results."""
    nodes = []
    for result in sorted(folder.glob("trial_*/result.json")):
        rows = [json.loads(line) for line in result.read_text().splitlines()]
        assert rows, result
        assert len({r["node_id"] for r in rows}) == 1, result  # a trial stays on one node
        nodes.append(rows[0]["node_id"])
    return nodes


def listening_hosts(port: int) -> set[str]:
    """Local addresses with a TCP socket listening on `port` (from /proc/net/tcp and tcp6)."""
    hosts = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                hosts.add(address)
    return hosts


def test_job_api_answers_only_with_the_token(cluster):
    status, body = cluster.request("/api/jobs/")
    assert status == 401, body
    assert cluster.request("/api/jobs/", token="not-the-token")[0] == 403  # a wrong token
    assert cluster.request("/api/jobs/", token=cluster.token)[0] == 200
    # ... and listens on 127.0.0.1 alone (0100007F in /proc/net/tcp), not on 0.0.0.0
    assert listening_hosts(cluster.dashboard_port) == {"0100007F"}
    assert cluster.job_api.startswith(f"http://{HOST}:")


def test_submitted_search_runs_on_both_worker_nodes_and_writes_the_report(
        cluster, workers, tmp_path_factory):
    storage = tmp_path_factory.mktemp("shared")  # both nodes see it: they are this machine
    proc = cluster.submit("python", "run_search.py", "--space", "basenet", "--dataset", "digits",
                          "--smoke-test", "--max-concurrent", "2", "--storage-path", str(storage),
                          "--name", "smoke", "--address", "auto")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-5000:]
    assert "succeeded" in out, out[-5000:]
    folder = storage / "smoke"
    assert f"Report: {folder / 'report' / 'README.md'}" in out
    assert (folder / "report" / "README.md").stat().st_size > 0
    nodes = trial_nodes(folder)
    assert len(nodes) == 6
    assert set(nodes) == workers, (nodes, workers)  # every worker node trained, the head none


def test_run_search_connects_to_the_cluster_with_address(cluster, workers, tmp_path):
    proc = run("run_search.py", "--space", "basenet", "--dataset", "digits", "--smoke-test",
               "--num-samples", "2", "--max-epochs", "2", "--max-concurrent", "2",
               "--ensemble", "1", "--storage-path", tmp_path, "--name", "direct", "--address", cluster.address,
               env={k: v for k, v in cluster.env().items() if k.startswith(("RAY_", "PATH"))})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert (tmp_path / "direct" / "report" / "README.md").exists()
    assert set(trial_nodes(tmp_path / "direct")) <= workers


def test_a_trial_no_node_can_hold_is_one_line_not_pending_forever(cluster, tmp_path):
    proc = run("run_search.py", "--space", "basenet", "--dataset", "digits", "--smoke-test",
               "--cpus-per-trial", "2", "--storage-path", tmp_path, "--name", "big",
               "--address", cluster.address,
               env={k: v for k, v in cluster.env().items() if k.startswith(("RAY_", "PATH"))})
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert proc.stderr.strip().splitlines()[-1].startswith(
        "error: no node of the cluster can hold one trial of 2 CPU(s) and 0 GPU(s) (the largest "
        "has 1 CPUs"), proc.stderr[-2000:]
    assert not list(tmp_path.glob("big/trial_*"))


def _intervals(folder: Path) -> list[tuple[float, float, str, str]]:
    """(start, end, devices, precision) of every trial, from its own per-epoch results. Ray's
    `timestamp` is whole seconds (floored): a start may be up to 1 s later, an end too."""
    out = []
    for result in sorted(folder.glob("trial_*/result.json")):
        rows = [json.loads(line) for line in result.read_text().splitlines()]
        start = rows[0]["timestamp"] - rows[0]["time_this_iter_s"]
        out.append((start, rows[-1]["timestamp"], rows[0]["devices"], rows[0]["precision"]))
    return out


def _first(result: Path) -> dict:
    return json.loads(result.read_text().splitlines()[0])


def _surely_running(spans: list[tuple[float, float]], at: float) -> int:
    """How many trials were surely running at time `at`: a floored start `s` means it began
    before s + 1, a floored last report `e` means it still ran until at least e."""
    return sum(s + 1 <= at < e for s, e in spans)


@pytest.mark.slow
def test_gpu_placement_rehearsed_on_nodes_that_declare_gpus(tmp_path):
    """A worker declaring 2 GPUs and 16 CPUs: small CNNs take a quarter GPU each, so at most 4
    trials share a GPU and 8 run at once, each with 16 / 8 = 2 CPUs (cluster.cpu_share), which
    size its TensorFlow and tf.data threads; each trial sees only its own GPU in
    CUDA_VISIBLE_DEVICES; TensorFlow sees no real GPU here, so the trials train in float32 (no
    mixed precision on a CPU)."""
    with LoopbackCluster([0, 16], gpus_per_node=[0, 2]) as gpu_cluster:
        proc = run("run_search.py", "--space", "basenet", "--dataset", "digits", "--smoke-test",
                   "--num-samples", "10", "--max-epochs", "2", "--grace-period", "2",
                   "--ensemble", "1", "--storage-path", tmp_path, "--name", "gpus",
                   "--address", gpu_cluster.address,
                   env={k: v for k, v in gpu_cluster.env().items()
                        if k.startswith(("RAY_", "PATH"))})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    search = json.loads((tmp_path / "gpus" / "search.json").read_text())
    assert search["gpus_per_trial"] == 0.25 and search["max_concurrent"] == 8
    assert search["cpus_per_trial"] == 2
    trials = _intervals(tmp_path / "gpus")
    assert len(trials) == 10
    assert {_first(result)["threads"] for result in (tmp_path / "gpus").glob(
        "trial_*/result.json")} == {2}
    assert {devices for *_, devices, _ in trials} <= {"0", "1"}  # one GPU each, its own
    assert {precision for *_, precision in trials} == {"float32"}
    for gpu in ("0", "1"):
        spans = [(s, e) for s, e, d, _ in trials if d == gpu]
        most = max((_surely_running(spans, t + 1) for t, _ in spans), default=0)
        assert most <= 4, (gpu, spans)
    spans = [(s, e) for s, e, *_ in trials]
    assert max(_surely_running(spans, t + 1) for t, _ in spans) >= 2  # trials ran side by side
