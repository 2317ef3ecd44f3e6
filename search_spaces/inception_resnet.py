"""Declarations layer, a space: InceptionResNetV2 with an FC(1024) head on CUB-200 (report 001's
bonus).

    python run_search.py --space inception_resnet --data-dir ~/data/CUB_200_2011

Budget: 12 trials x up to 30 epochs (ASHA grace 3, reduction factor 3), one whole GPU per trial.
Head: GAP, FC(1024) relu, D(dropout), FC(200). 001 trained the whole network from the ImageNet
weights with SGD (phase1_epochs 0, unfreeze all, ratio 1 here); the search may also train the head
first and unfreeze less. Searched: optimizer, learning rate, batch size, dropout, phase1_epochs,
unfreeze, finetune_lr_ratio, flip / zoom / rotation. A budget under 21 epochs narrows
phase1_epochs to 0 .. max_epochs - 1, so every trial fine-tunes.

Starts from 001's setting (SGD 0.01 Nesterov, batch 32, 224x224): 0.5535 test accuracy.
"""

from search_spaces._common import Budget, Space
from search_spaces._references import transfer_reference, transfer_table
from search_spaces._transfer import (NO_AUGMENTATION, SGD_002, suggest_augmentation,
                                     suggest_finetune, suggest_transfer_common)


def define(trial, max_epochs=None):
    suggest_transfer_common(trial)
    suggest_finetune(trial, phase1=(0, 20), unfreeze=(30, 100, 200, "all"), max_epochs=max_epochs)
    suggest_augmentation(trial)
    return {"model": "inception_resnet_v2_head"}


SPACE = Space(
    description="InceptionResNetV2 + FC(1024) head on CUB-200: schedule, rates, augmentation",
    model="inception_resnet_v2_head",
    dataset="cub200",
    define=define,
    points_to_evaluate=[
        {**SGD_002, "phase1_epochs": 0, "unfreeze": "all", "finetune_lr_ratio": 1.0,
         **NO_AUGMENTATION},                                                            # 001
    ],
    budget=Budget(num_samples=12, max_epochs=30, grace_period=3, reduction_factor=3),
    reference=transfer_reference("inception_resnet_v2_head", "cub200"),
    table_reference=transfer_table(4),
    gpu=1.0,
    backbone_model="inception_resnet_v2_head",
    limited_by=("max_epochs",),
)
