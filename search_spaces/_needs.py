"""Declarations layer: what each space needs, for --list-spaces: what it downloads, and how long
its default budget takes.

Sizes are the published files' (bytes as their servers send them). Seconds per epoch on a CPU were
measured once by bench/space_epochs.py (each space's first configuration, random inputs of its
dataset's full split; docs/benchmarks.md has the run, its machine, date and load); on a GPU only a
report's own time is known (no GPU has been lent to this project yet), and only for one space.
"""

from __future__ import annotations

from search_spaces._common import Space

# dataset -> (what a first run downloads, bytes); None: nothing (bundled with scikit-learn)
DATASET_DOWNLOADS = {
    "digits": None,
    "cifar100_25": ("cifar-100-python.tar.gz", 169_001_437),
    "cifar10": ("cifar-10-python.tar.gz", 170_498_071),
    "fashion_mnist": ("Fashion-MNIST's 4 .gz files", 30_878_645),
    "cub200": ("CUB_200_2011.tgz", 1_150_585_339),
    "pathmnist": ("pathmnist.npz", 209_000_000),  # about: a user's MD5-checked copy, "209MB"
}
# backbone -> (its no-top ImageNet weights, bytes): unless --weights none or a file
WEIGHTS_DOWNLOADS = {
    "resnet50": ("resnet50 ImageNet weights", 94_765_736),
    "inception_resnet_v2": ("inception_resnet_v2 ImageNet weights", 219_055_592),
    "nasnet_mobile": ("nasnet_mobile ImageNet weights", 19_993_432),
    "mobilenet": ("mobilenet ImageNet weights", 17_225_924),
}

# Where the CPU figures below come from, as --list-spaces says it.
CPU_MACHINE = ("2-core x86_64 box shared with other jobs (load 8-25: on the high side), "
               "2026-12-04, bench/space_epochs.py")
# space -> seconds per epoch of its first configuration on its own dataset, on CPU_MACHINE
# (model_comparison: the mean over its 15 models); resnet_extractor's trials train heads on cached
# features, so its epochs cost next to nothing after a one-time extraction (CPU_ONCE)
CPU_EPOCH_S = {
    "augmentation_grid": 5, "basenet": 3, "basenet_improved": 943, "fashion_cnn": 104,
    "fashion_mlp": 5, "finetune_resnet": 5004, "inception_resnet": 2448, "mired": 67,
    "mobilenet_cifar10": 385, "nasnet_pathmnist": 13201, "optimizers_cv": 4,
    "resnet_extractor": 3, "resnet_head": 1692, "model_comparison": 134,
}
CPU_ONCE_S = {"resnet_extractor": 3994}
# space -> (seconds per epoch on a GPU, where the figure comes from)
GPU_EPOCH_S = {
    # report 001: "6 to 8 epochs (about ten minutes of training)" fine-tuning ResNet50 on the 2010
    # edition (2,700 training images) on Colab's GPU; scaled to 2011's 5,395
    "finetune_resnet": (86 * 5395 / 2700,
                        "report 001's time on Colab's GPU, scaled to 2011's images"),
}


def expected_epochs(space: Space) -> float:
    """Epochs the default budget trains in all: a study runs every grid point to the end (early
    stopping may end one sooner); a search's ASHA lets about 1/reduction_factor of the trials on
    past each rung (asynchronous ASHA promotes a little more while rungs fill)."""
    budget = space.budget
    if space.grid:
        points = 1
        for values in space.grid.values():
            points *= len(values)
        return points * budget.num_samples * budget.max_epochs
    stops = [*budget.rungs(), budget.max_epochs]
    per_trial, before = 0.0, 0
    for k, epoch in enumerate(stops):
        per_trial += (min(epoch, budget.max_epochs) - before) / budget.reduction_factor ** k
        before = min(epoch, budget.max_epochs)
    return budget.num_samples * per_trial


def expected_seconds(name: str, space: Space) -> tuple[float | None, float | None]:
    """(CPU seconds, GPU seconds) of the default budget; None where there is no figure."""
    epochs = expected_epochs(space)
    cpu = CPU_EPOCH_S.get(name)
    gpu = GPU_EPOCH_S.get(name)
    return (None if cpu is None else epochs * cpu + CPU_ONCE_S.get(name, 0),
            None if gpu is None else epochs * gpu[0])


def downloads(space: Space) -> list[tuple[str, int]]:
    """What a first run of the space on its own dataset downloads: (what, bytes)."""
    from trainables.models import backbone_of  # imports no Keras
    found = [DATASET_DOWNLOADS[space.dataset]]
    if space.backbone_model:
        found.append(WEIGHTS_DOWNLOADS[backbone_of(space.backbone_model)])
    return [d for d in found if d]
