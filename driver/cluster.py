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
