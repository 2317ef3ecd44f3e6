"""Declarations layer, a space: ResNet50 as a feature extractor on CUB-200 (reports 001, 002):
features once, heads searched.

    python run_search.py --space resnet_extractor --data-dir ~/data/CUB_200_2011

Before Ray starts, the frozen ImageNet ResNet50 computes the 2048-d pooled features of every image
once, cached in <storage>/.feature_cache/ by dataset, backbone, weights, input size and data
content (a later search reuses them); every trial then trains only its head on those arrays, so a
trial costs seconds. Budget: 32 trials x up to 40 epochs (ASHA grace 4, reduction factor 3).
Searched: optimizer, learning rate, batch size, dropout, the head (v1 FC(512); v2 FC(512) D;
v3 FC(512) D FC(256) D(.5); fc500 FC(500), 001's).

Starts from the reports: 002 with SGD 0.01 Nesterov, batch 32, 20 epochs: v1 0.4247 test,
v2 (D .75) 0.3168, v3 (D .5) 0.3653 (0.4135 / 0.3769 with early stopping); 001's FC(500): 0.3415.
"""

from search_spaces._common import Budget, Space
from search_spaces._references import transfer_reference, transfer_table
from search_spaces._transfer import SGD_002, suggest_transfer_common

VARIANTS = {"v1": "resnet50_extractor_v1", "v2": "resnet50_extractor_v2",
            "v3": "resnet50_extractor_v3", "fc500": "resnet50_extractor_fc500"}


def define(trial):
    suggest_transfer_common(trial)
    variant = trial.suggest_categorical("variant", list(VARIANTS))
    return {"model": VARIANTS[variant]}


SPACE = Space(
    description="ResNet50 features cached once on CUB-200, heads v1-v3 / FC(500) searched on them",
    model="resnet50_extractor_v1..v3|fc500",
    dataset="cub200",
    define=define,
    points_to_evaluate=[
        {**SGD_002, "variant": "v1"},
        {**SGD_002, "dropout": 0.75, "variant": "v2"},
        {**SGD_002, "dropout": 0.5, "variant": "v3"},
        {**SGD_002, "variant": "fc500"},
    ],
    budget=Budget(num_samples=32, max_epochs=40, grace_period=4, reduction_factor=3),
    reference=transfer_reference("resnet50_extractor_v1", "cub200"),
    table_reference=transfer_table(4),
    gpu=1.0,
    backbone_model="resnet50_extractor_v1",
    features=True,
)
