"""Declarations layer, a space: Frozen ResNet50 with a new head on CUB-200 (report 000): GAP, FC or
conv head as a variant.

    python run_search.py --space resnet_head --data-dir ~/data/CUB_200_2011

Budget: 16 trials x up to 30 epochs (ASHA grace 3, reduction factor 3), one whole GPU per trial.
The ImageNet backbone never trains (called with training=False); only the head does. Searched:
optimizer, learning rate, batch size, dropout, the variant (head: GAP, FC(200); fc_head: GAP,
FC(1024) relu, D; conv_head: conv + BN layers on the 7x7x2048 map, reconstructed), flip / zoom /
rotation.

Starts from 000's settings (Adam 1e-3, batch 32, 30 epochs): GAP head 0.4421 test, FC head 0.4309,
conv head 0.4467 (0.4355 with zoom 0.3, rotation 100, flip).
"""

from search_spaces._common import Budget, Space
from search_spaces._references import transfer_reference, transfer_table
from search_spaces._transfer import (ADAM_000, AUGMENTATION_000, NO_AUGMENTATION,
                                     suggest_augmentation, suggest_transfer_common)

VARIANTS = {"head": "resnet50_head", "fc_head": "resnet50_fc_head",
            "conv_head": "resnet50_conv_head"}


def define(trial):
    suggest_transfer_common(trial)
    variant = trial.suggest_categorical("variant", list(VARIANTS))
    suggest_augmentation(trial)
    return {"model": VARIANTS[variant]}


SPACE = Space(
    description="Frozen ResNet50 + GAP / FC / conv head on CUB-200: rates, dropout, augmentation",
    model="resnet50_head|fc_head|conv_head",
    dataset="cub200",
    define=define,
    points_to_evaluate=[
        {**ADAM_000, "variant": "head", **NO_AUGMENTATION},
        {**ADAM_000, "dropout": 0.5, "variant": "fc_head", **NO_AUGMENTATION},
        {**ADAM_000, "variant": "conv_head", **NO_AUGMENTATION},
        {**ADAM_000, "variant": "conv_head", **AUGMENTATION_000},
    ],
    budget=Budget(num_samples=16, max_epochs=30, grace_period=3, reduction_factor=3),
    reference=transfer_reference("resnet50_conv_head", "cub200"),
    table_reference=transfer_table(4),
    gpu=1.0,
    backbone_model="resnet50_head",
)
