"""Declarations layer: What the transfer-learning spaces share: their optimizers and batch sizes,
the fine-tuning and augmentation blocks, and the reports' CUB-200 settings they start from.

Config keys these blocks suggest (read by trainables/transfer.py and trainables/pipeline.py):

    phase1_epochs      epochs with the backbone frozen before phase 2 (0: fine-tune from the start)
    unfreeze           top layers of the backbone unfrozen in phase 2: a count, or "all"
    finetune_lr_ratio  phase 2's learning rate / learning_rate (log-uniform, at most 1)
    flip, zoom, rotation   augmentation of the training images (pipeline.py)
"""

from __future__ import annotations

from search_spaces._common import suggest_common

# Transfer learning: the reports used Adam (000, 003) and SGD with Nesterov momentum (001, 002).
OPTIMIZERS = ("adam", "sgd", "rmsprop", "nadam")
BATCH_SIZES = (16, 32, 64)  # 224x224 images: the reports' 32 and its neighbours
UNFREEZE = (10, 30, 50, 100, "all")
FINETUNE_KEYS = ("phase1_epochs", "unfreeze", "finetune_lr_ratio")


def suggest_transfer_common(trial, dropout=(0.0, 0.8)):
    """optimizer / learning_rate / batch_size / dropout, over the transfer optimizers and batches.
    Dropout reaches 0.8: report 002's heads used 0.75."""
    suggest_common(trial, optimizers=OPTIMIZERS, batch_sizes=BATCH_SIZES, dropout=dropout)


def suggest_finetune(trial, phase1=(0, 20), unfreeze=UNFREEZE, ratio=(1e-3, 1.0),
                     max_epochs=None):
    """The two-phase schedule: head-only epochs, how much of the backbone phase 2 unfreezes, and
    phase 2's learning rate as a fraction of the head's. With a trial budget of `max_epochs`,
    phase1_epochs stops one short of it: phase 2 starts at epoch phase1_epochs (train.py), so a
    larger value would never fine-tune yet be reported as a fine-tuning schedule."""
    low, high = phase1
    if max_epochs is not None:
        high = min(high, max_epochs - 1)
    if high < low:
        raise ValueError(f"phase1_epochs from {low}: no phase 2 fits {max_epochs} epoch(s)")
    trial.suggest_int("phase1_epochs", low, high)
    trial.suggest_categorical("unfreeze", list(unfreeze))
    trial.suggest_float("finetune_lr_ratio", *ratio, log=True)


def no_finetune() -> dict:
    """The constants of a variant that never switches phase (keys present, values None)."""
    return {k: None for k in FINETUNE_KEYS}


def suggest_augmentation(trial, zoom=(0.0, 0.5), rotation=(0.0, 100.0)):
    """Horizontal flip, zoom range and rotation range (degrees) of the training images."""
    trial.suggest_categorical("flip", [False, True])
    trial.suggest_float("zoom", *zoom)
    trial.suggest_float("rotation", *rotation)


NO_AUGMENTATION = {"flip": False, "zoom": 0.0, "rotation": 0.0}
# Report 000's augmentation for CUB-200: zoom in [0.7, 1.3], rotation up to 100 degrees, flip.
AUGMENTATION_000 = {"flip": True, "zoom": 0.3, "rotation": 100.0}
# 000: Adam at Keras's default rate, batch 32 (fine-tuning), no dropout in the GAP head.
ADAM_000 = {"optimizer": "adam", "learning_rate": 1e-3, "batch_size": 32, "dropout": 0.0}
# 001 / 002: SGD(lr=0.01, momentum=0.9, nesterov=True, decay=1e-6), batch 32.
SGD_002 = {"optimizer": "sgd", "learning_rate": 1e-2, "batch_size": 32, "dropout": 0.0}
