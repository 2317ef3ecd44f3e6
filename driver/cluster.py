"""Driver layer: the CPUs and GPUs Ray counts, and the defaults that depend on them."""

from __future__ import annotations

import math
import os
import socket
from dataclasses import replace
from pathlib import Path

from driver.settings import Settings, UsageError


def local_gpus(environ=os.environ) -> int:
    """GPUs a Ray started on this machine counts, as Ray 2.60 counts them: the NVIDIA GPUs (those
    the pinned TensorFlow trains on) that NVML, the NVIDIA driver's library, finds, at most as
    many as CUDA_VISIBLE_DEVICES lists when it is set (empty, or NoDevFiles: none)."""
    visible = environ.get("CUDA_VISIBLE_DEVICES")
    count = nvml_gpus()
    if visible is not None:
        count = min(count, 0 if visible in ("", "NoDevFiles") else len(visible.split(",")))
    return count


def nvml_gpus() -> int:
    """NVIDIA GPUs on this machine by NVML's C API (nvmlInit, nvmlDeviceGetCount); 0 without an
    NVIDIA driver."""
    import ctypes
    try:
        nvml = ctypes.CDLL("libnvidia-ml.so.1")
    except OSError:
        return 0
    if nvml.nvmlInit_v2() != 0:  # NVML_SUCCESS is 0
        return 0
    count = ctypes.c_uint(0)
    try:
        found = nvml.nvmlDeviceGetCount_v2(ctypes.byref(count)) == 0
    finally:
        nvml.nvmlShutdown()
    return count.value if found else 0


def check_gpu_share(share: float) -> None:
    """GPUs per trial as Ray accepts them: a fraction of one GPU in steps of 0.0001, or whole
    GPUs."""
    if not (math.isfinite(share) and share >= 0 and (share <= 1 or share.is_integer())
            and round(share * 10000) == share * 10000):
        raise UsageError(f"--gpus-per-trial {share:g}: give 0, a fraction of one GPU (0.25; "
                         f"steps of 0.0001) or a whole number of GPUs")


def gpu_share(space_share: float, requested: float | None, gpus: int) -> float:
    """GPUs per trial: the flag if given, else the space's share where GPUs exist, else 0."""
    share = requested if requested is not None else (space_share if gpus else 0.0)
    if share < 0 or share > gpus:
        raise UsageError(f"--gpus-per-trial {share:g} but this machine has {gpus} GPU(s); use a "
                         f"value between 0 and {gpus}")
    return share


def cpu_share(requested: int | None, gpus_per_trial: float, nodes: list[dict],
              max_concurrent: int | None = None) -> int:
    """CPUs per trial: `requested` (the flag) if given. Otherwise a CPU trial takes 1: more
    trials at a time pay better than more threads per trial on CPUs (docs/benchmarks.md). A GPU
    trial takes the cores of a GPU node shared among the trials that node runs at once (its GPUs
    over the share, and no more than `max_concurrent`): the GPU is what limits how many run, and
    the cores left beside it would otherwise idle while each trial decodes and augments its input
    on one thread. Across `nodes` ({"CPU": n, "GPU": m} each, as Ray counts them) the node that
    gives the fewest sets it, so every GPU node can still fill all its GPU slots; at least 1."""
    if requested is not None:
        return requested
    if not gpus_per_trial:
        return 1
    share = round(gpus_per_trial * 10000)  # Ray counts resources in steps of 0.0001
    shares = []
    for node in nodes:
        at_once = round(node.get("GPU", 0) * 10000) // share
        if max_concurrent:
            at_once = min(at_once, max_concurrent)
        if at_once:
            shares.append(int(node.get("CPU", 0)) // at_once)
    return max(1, min(shares, default=1))


def fit(settings: Settings, space_share: float) -> Settings:
    """Settings completed from what Ray found (call after ray.init): a cluster's GPU share when
    none was asked for, the CPUs of a trial (`cpu_share`), and as many trials at a time as its
    resources hold (Tune otherwise keeps one Optuna trial pending and fills a big cluster one
    actor start at a time)."""
    import ray
    resources = ray.cluster_resources()
    if settings.gpus_per_trial is None:
        settings = replace(settings, gpus_per_trial=space_share if resources.get("GPU") else 0.0)
    if settings.cpus_per_trial is None:
        nodes = [n["Resources"] for n in ray.nodes() if n.get("Alive")]
        settings = replace(settings, cpus_per_trial=cpu_share(
            None, settings.gpus_per_trial, nodes, settings.max_concurrent))
    if settings.max_concurrent is None:
        settings = replace(settings, max_concurrent=slots(resources, settings.cpus_per_trial,
                                                          settings.gpus_per_trial))
    return settings


def slots(resources: dict, cpus_per_trial: int, gpus_per_trial: float) -> int:
    """Trials at a time that `resources` ({"CPU": n, "GPU": m}) hold, at least 1."""
    count = int(resources.get("CPU", 0) // cpus_per_trial)
    if gpus_per_trial:
        count = min(count, int(resources.get("GPU", 0) / gpus_per_trial))
    return max(1, count)


def recorded_address() -> str | None:
    """The cluster `--address auto` means, found as Ray finds it: $RAY_ADDRESS (which `ray job
    submit` sets for a job's entrypoint), else the GCS address the last `ray start --head` on
    this machine recorded in <temp>/ray/ray_current_cluster (`ray stop` removes it; a cluster
    that died without one leaves it behind)."""
    if os.environ.get("RAY_ADDRESS"):
        return os.environ["RAY_ADDRESS"]
    temp = os.environ.get("RAY_TMPDIR") or os.environ.get("TMPDIR") or "/tmp"
    record = Path(temp) / "ray" / "ray_current_cluster"
    if not record.is_file():
        return None
    return record.read_text().strip() or None


SERVING = b"\x08\x01"  # gRPC's HealthCheckResponse{status: SERVING}, as protobuf encodes it


def check_ray(address: str, timeout: float = 5.0) -> str:
    """The GCS address `address` (HOST:PORT or auto) names, once it has answered gRPC's standard
    health check as Ray's GCS does; anything else is a UsageError within `timeout` seconds: a
    closed port, a service that is not gRPC (an HTTP server), one that never answers. Ray itself
    would retry such an address for minutes."""
    import grpc

    given = address
    if address == "auto":
        address = recorded_address()
        if not address:
            raise UsageError("--address auto: no Ray cluster is recorded on this machine "
                             "(RAY_ADDRESS is unset and no `ray start --head` ran here); give "
                             "HOST:PORT, or leave --address out to start Ray on this machine")
    host, _, port = address.rpartition(":")
    if "://" in address or not host or not port.isdigit():
        raise UsageError(f"--address {given}: write HOST:PORT (the head node's GCS port, 6379 "
                         f"by default) or auto")
    where = f"--address {given}" + (f" ({address})" if address != given else "")
    advice = ("; check that `ray start --head` runs there and that this is its GCS port (6379 "
              "by default), or leave --address out to start Ray on this machine")
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as e:
        raise UsageError(f"{where} does not answer ({e.strerror or e}){advice}") from None
    with grpc.insecure_channel(address) as channel:
        check = channel.unary_unary("/grpc.health.v1.Health/Check")
        try:
            answer = check(b"", timeout=timeout)  # an empty HealthCheckRequest
        except grpc.RpcError as e:
            if e.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
                why = f"accepts connections but does not answer within {timeout:g} s"
            else:  # not gRPC (an HTTP server), or a gRPC service without health checks
                why = "answers, but not as a Ray cluster does"
            raise UsageError(f"{where} {why}{advice}") from None
    if answer != SERVING:
        raise UsageError(f"{where}: the Ray cluster there is not serving (health status "
                         f"{answer!r}); wait for its head node to start, or check it")
    return address


def check_fits(settings: Settings) -> None:
    """A trial that no node can ever hold is a UsageError, not trials pending forever."""
    import ray
    nodes = [n["Resources"] for n in ray.nodes() if n.get("Alive")]
    cpus, gpus = settings.cpus_per_trial, settings.gpus_per_trial or 0.0
    if not any(r.get("CPU", 0) >= cpus and r.get("GPU", 0) >= gpus for r in nodes):
        largest = max(nodes, key=lambda r: (r.get("GPU", 0), r.get("CPU", 0)), default={})
        raise UsageError(f"no node of the cluster can hold one trial of {cpus} CPU(s) and "
                         f"{gpus:g} GPU(s) (the largest has {largest.get('CPU', 0):g} CPUs, "
                         f"{largest.get('GPU', 0):g} GPUs); lower --cpus-per-trial / "
                         f"--gpus-per-trial")
