"""Declarations layer, a space: ResNet50 fine-tuned on CUB-200 in two phases (reports 000, 001,
002).

    python run_search.py --space finetune_resnet      # CUB-200-2011 downloaded once (1.1 GB)
    python run_search.py --space finetune_resnet --data-dir ~/data/CUB_200_2011   # a copy you have
    python run_search.py --space finetune_resnet --smoke-test --image-size 32 \\
        --weights none --data-dir TINY_CUB       # offline trial run on a few images

Budget: 16 trials x up to 30 epochs (ASHA grace 3, reduction factor 3), one whole GPU per trial.
Phase 1 trains the head with the ImageNet backbone frozen for `phase1_epochs` epochs; phase 2
unfreezes the top `unfreeze` layers (BatchNormalization stays frozen) and recompiles at
learning_rate x finetune_lr_ratio. Searched: optimizer, learning rate, batch size, dropout, the head
(gap 000, conv 000, fc500 001, fc512 002-V1, fc512_256 002-V2), phase1_epochs (0-20), unfreeze,
finetune_lr_ratio, flip / zoom / rotation. A budget under 21 epochs narrows phase1_epochs to
0 .. max_epochs - 1 (and the report points' 20 with it), so every trial fine-tunes.

Starts from the reports' settings: 000 (Adam 1e-3, batch 32, GAP head, head first then the whole
net at 1e-5 for 10 epochs, zoom 0.3, rotation 100, flip): 0.4643 test, 0.4824 with the conv head;
002's fine-tune V2 (SGD 0.01 Nesterov, whole net from the start, FC(512) D(.75) FC(256) D(.5),
flip): 0.5414 (0.5417 normalized); 001 (SGD, whole net, FC(500)): 0.440. 000 does not say how long
its head trained: 20 epochs here, so its 10 fine-tuning epochs fit the 30-epoch budget.
"""

from search_spaces._common import Budget, Space
from search_spaces._references import transfer_reference, transfer_table
from search_spaces._transfer import (ADAM_000, AUGMENTATION_000, NO_AUGMENTATION, SGD_002,
                                     suggest_augmentation, suggest_finetune,
                                     suggest_transfer_common)

HEADS = ("gap", "conv", "fc500", "fc512", "fc512_256")


def define(trial, max_epochs=None):
    suggest_transfer_common(trial)
    trial.suggest_categorical("head", list(HEADS))
    suggest_finetune(trial, phase1=(0, 20), max_epochs=max_epochs)
    suggest_augmentation(trial)
    return {"model": "resnet50_finetune"}


FINETUNE_000 = {"phase1_epochs": 20, "unfreeze": "all", "finetune_lr_ratio": 0.01}  # 1e-3 -> 1e-5
WHOLE_NET = {"phase1_epochs": 0, "unfreeze": "all", "finetune_lr_ratio": 1.0}       # 001, 002

SPACE = Space(
    description="ResNet50 two-phase fine-tuning on CUB-200: head, schedule, rates, augmentation",
    model="resnet50_finetune",
    dataset="cub200",
    define=define,
    points_to_evaluate=[
        {**SGD_002, "dropout": 0.75, "head": "fc512_256", **WHOLE_NET,                   # 002 V2
         **NO_AUGMENTATION, "flip": True},
        {**ADAM_000, "head": "gap", **FINETUNE_000, **AUGMENTATION_000},                # 000
        {**ADAM_000, "head": "conv", **FINETUNE_000, **AUGMENTATION_000},               # 000
        {**SGD_002, "head": "fc500", **WHOLE_NET, **NO_AUGMENTATION},                    # 001
    ],
    budget=Budget(num_samples=16, max_epochs=30, grace_period=3, reduction_factor=3),
    reference=transfer_reference("resnet50_finetune:fc512_256", "cub200"),
    table_reference=transfer_table(4),
    gpu=1.0,
    backbone_model="resnet50_finetune",
    limited_by=("max_epochs",),
)
