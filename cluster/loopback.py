"""A real multi-node Ray cluster on this machine's loopback, for tests/test_cluster.py and
bench/cluster.py.

Every node is its own `ray start` (the commands of cluster/slurm.sbatch), with token
authentication on, the dashboard and job API on 127.0.0.1, its own temp dir and free ports,
started from this interpreter's virtual environment so that `python` in a job is this one. It
neither joins nor stops another Ray on the machine: `ray stop` would stop every Ray process of the
user, so `stop()` kills only the processes this cluster started.

Node i gets the loopback address 127.0.0.(i+2), so all traffic stays on loopback and each node
has an address of its own, as on a real cluster. Not 127.0.0.1: Ray on Linux rewrites 127.0.0.1,
localhost and ::1 (as a node address and as an address to join) into the machine's routable
address (`ray._private.services.resolve_ip_for_localhost`).

Each node has a temp dir of its own, as on separate machines: nodes sharing one share its session
folder, and a worker node that garbage-collects the job's unpacked --working-dir then deletes the
driver's current directory on the head (the driver fails at the end with FileNotFoundError).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"  # the dashboard and job API


def node_ip(i: int) -> str:
    return f"127.0.0.{i + 2}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


class LoopbackCluster:
    """`with LoopbackCluster([1, 1]) as c:` starts a head and one worker node of 1 CPU each."""

    def __init__(self, cpus_per_node: list[int], *, gpus_per_node: list[int] | None = None,
                 log_to: Path | None = None):
        self.cpus_per_node = cpus_per_node
        # GPUs each node declares to Ray (`ray start --num-gpus`): a rehearsal of GPU placement
        # on a machine without any; Ray assigns them to trials as it would real ones.
        self.gpus_per_node = gpus_per_node or [0] * len(cpus_per_node)
        self.token = secrets.token_hex(32)
        # Short, own temp dir: Ray's Unix sockets live under it (paths are limited to 107 bytes).
        self.temp_dir = Path(tempfile.mkdtemp(prefix="rayc-", dir="/tmp"))
        self.log = open(log_to or self.temp_dir / "start.log", "a")
        self.gcs_port = free_port()
        self.dashboard_port = free_port()
        self.groups: list[int] = []  # process group of each `ray start`: every process it spawned

    @property
    def address(self) -> str:  # the GCS, for ray.init and `run_search.py --address`
        return f"{node_ip(0)}:{self.gcs_port}"

    @property
    def job_api(self) -> str:  # the dashboard's HTTP server: job API and dashboard
        return f"http://{HOST}:{self.dashboard_port}"

    def env(self, **extra) -> dict:
        """Environment of every Ray command: token auth, this venv's bin first on PATH."""
        bin_dir = str(Path(sys.executable).parent)
        env = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""),
               "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": self.token,
               "RAY_USAGE_STATS_ENABLED": "0", "TF_CPP_MIN_LOG_LEVEL": "2"}
        for name in ("RAY_ADDRESS", "RAY_API_SERVER_ADDRESS", "RAY_AUTH_TOKEN_PATH"):
            env.pop(name, None)
        return {**env, **extra}

    def _ray_start(self, node: int, args: list[str], env: dict) -> None:
        ports = ["--dashboard-agent-listen-port", "--dashboard-agent-grpc-port",
                 "--runtime-env-agent-port", "--metrics-export-port", "--object-manager-port",
                 "--node-manager-port"]
        cmd = [shutil.which("ray", path=env["PATH"]), "start", *args,
               "--temp-dir", str(self.temp_dir / f"n{node}"),
               "--num-gpus", str(self.gpus_per_node[node]),
               "--disable-usage-stats",
               "--min-worker-port", "0", "--max-worker-port", "0",  # workers: any free port
               *[a for flag in ports for a in (flag, str(free_port()))]]
        proc = subprocess.Popen(cmd, env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        self.groups.append(proc.pid)
        if proc.wait(timeout=90) != 0:
            raise RuntimeError(f"ray start failed; see {self.log.name}")

    def start(self) -> "LoopbackCluster":
        # The head's metrics ports are fixed (44217, 44227) unless set: another Ray may hold them.
        head_env = self.env(AUTOSCALER_METRIC_PORT=str(free_port()),
                            DASHBOARD_METRIC_PORT=str(free_port()))
        self._ray_start(0, ["--head", "--node-ip-address", node_ip(0), "--port", str(self.gcs_port),
                         "--num-cpus", str(self.cpus_per_node[0]),
                         "--include-dashboard", "true", "--dashboard-host", HOST,
                         "--dashboard-port", str(self.dashboard_port),
                         "--ray-client-server-port", str(free_port())], head_env)
        for i, cpus in enumerate(self.cpus_per_node[1:], 1):
            self._ray_start(i, ["--address", self.address, "--node-ip-address", node_ip(i),
                             "--num-cpus", str(cpus)], self.env())
        self.wait_for_nodes(len(self.cpus_per_node))
        return self

    def request(self, path: str, token: str | None = None, method: str = "GET") -> tuple[int, bytes]:
        """(HTTP status, body) of a job API request, with `Authorization: Bearer token` if given."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        req = urllib.request.Request(self.job_api + path, headers=headers, method=method)
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def alive_nodes(self) -> list[dict]:
        status, body = self.request("/api/v0/nodes?limit=100", token=self.token)
        if status != 200:
            return []
        nodes = json.loads(body)["data"]["result"]["result"]
        return [n for n in nodes if n["state"] == "ALIVE"]

    def wait_for_nodes(self, count: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if len(self.alive_nodes()) >= count:
                    return
            except OSError:  # the dashboard is still starting
                pass
            time.sleep(1)
        raise RuntimeError(f"{count} nodes did not come up in {timeout:.0f} s; see {self.log.name}")

    def submit(self, *entrypoint: str, timeout: float = 600, **kwargs) -> subprocess.CompletedProcess:
        """`ray job submit --working-dir <repo> -- ENTRYPOINT`, as a user runs it; waits for the end."""
        cmd = [shutil.which("ray", path=self.env()["PATH"]), "job", "submit",
               "--address", self.job_api, "--working-dir", str(ROOT), "--", *entrypoint]
        return subprocess.run(cmd, env=self.env(), cwd=ROOT, capture_output=True, text=True,
                              timeout=timeout, **kwargs)

    def processes(self) -> list[int]:
        """Every live process of this cluster: its `ray start` process groups, anything naming its
        temp dir or GCS address, and all their descendants."""
        table = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    cmd = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ")
                    stat = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                table[int(entry)] = (int(stat[1]), int(stat[2]), cmd.decode(errors="replace"))
        marks = (str(self.temp_dir), self.address)
        mine = {pid for pid, (ppid, pgid, cmd) in table.items()
                if pgid in self.groups or any(m in cmd for m in marks)}
        grew = True
        while grew:
            grew = False
            for pid, (ppid, _, _) in table.items():
                if ppid in mine and pid not in mine:
                    mine.add(pid)
                    grew = True
        mine.discard(os.getpid())
        return sorted(mine)

    def stop(self) -> None:
        for _ in range(5):
            pids = self.processes()
            if not pids:
                break
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.5)
        self.log.close()
        shutil.rmtree(self.temp_dir, ignore_errors=True)

    def __enter__(self) -> "LoopbackCluster":
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc) -> None:
        self.stop()
