"""Driver layer: the CPUs and GPUs Ray counts, and the defaults that depend on them."""

from __future__ import annotations

from dataclasses import replace

from driver.settings import Settings, UsageError


def local_gpus() -> int:
    """GPUs on this machine, counted as Ray counts them (CUDA_VISIBLE_DEVICES, then NVML)."""
    from ray._private.accelerators import get_accelerator_manager_for_resource
    return get_accelerator_manager_for_resource("GPU").get_current_node_num_accelerators()


def gpu_share(space_share: float, requested: float | None, gpus: int) -> float:
    """GPUs per trial: the flag if given, else the space's share where GPUs exist, else 0."""
    share = requested if requested is not None else (space_share if gpus else 0.0)
    if share < 0 or share > gpus:
        raise UsageError(f"--gpus-per-trial {share:g} but this machine has {gpus} GPU(s); use a "
                         f"value between 0 and {gpus}")
    return share


def fit(settings: Settings, space_share: float) -> Settings:
    """Settings completed from what Ray found (call after ray.init): a cluster's GPU share when
    none was asked for, and as many trials at a time as its resources hold (Tune otherwise keeps
    one Optuna trial pending and fills a big cluster one actor start at a time)."""
    import ray
    resources = ray.cluster_resources()
    if settings.gpus_per_trial is None:
        settings = replace(settings, gpus_per_trial=space_share if resources.get("GPU") else 0.0)
    if settings.max_concurrent is None:
        slots = int(resources.get("CPU", 0) // settings.cpus_per_trial)
        if settings.gpus_per_trial:
            slots = min(slots, int(resources.get("GPU", 0) / settings.gpus_per_trial))
        settings = replace(settings, max_concurrent=max(1, slots))
    return settings


def check_reachable(address: str, timeout: float = 5.0) -> None:
    """A HOST:PORT that does not accept a connection within `timeout` seconds is a UsageError
    (Ray itself would retry for minutes)."""
    import socket
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise UsageError(f"--address {address}: write HOST:PORT (the head node's GCS port, "
                         f"6379 by default) or auto")
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as e:
        raise UsageError(f"--address {address} does not answer ({e.strerror or e}); check that "
                         f"`ray start --head` runs there and the port is reachable from here, "
                         f"or leave --address out to start Ray on this machine") from None


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
