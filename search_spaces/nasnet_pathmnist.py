"""Declarations layer, a space: NASNetMobile on PathMNIST resized to 224 (report 000's bonus):
frozen head or top-N unfrozen.

    python run_search.py --space nasnet_pathmnist --data-dir ~/data/medmnist   # holds pathmnist.npz

Budget: 12 trials x up to 20 epochs (ASHA grace 2, reduction factor 3), one whole GPU per trial.
The whole training split (89,996 images) is used: the pipeline resizes 28x28 batches to 224 on the
fly (000 kept 11% of it for lack of RAM). Variants: head (NASNetMobile frozen, GAP, FC(9); early
stop on val_loss patience 4) and top (its top `unfreeze` layers trainable from the start,
BatchNormalization frozen; patience 5). Searched: optimizer, learning rate, batch size, dropout,
variant, unfreeze (top), flip / zoom / rotation.

Starts from 000: head (Adam, batch 32): 0.8649 test; top 50 (Adam 8e-5, zoom 0.3, flip,
rotation 50): 0.8779.
"""

from search_spaces._common import Budget, Space
from search_spaces._references import transfer_reference, transfer_table
from search_spaces._transfer import NO_AUGMENTATION, suggest_augmentation, suggest_transfer_common


def define(trial):
    suggest_transfer_common(trial)
    variant = trial.suggest_categorical("variant", ["head", "top"])
    suggest_augmentation(trial, zoom=(0.0, 0.5), rotation=(0.0, 90.0))
    if variant == "top":
        trial.suggest_categorical("unfreeze", [25, 50, 100, 200])
        return {"model": "nasnet_mobile_top50", "patience": 5, "monitor": "val_loss"}
    return {"model": "nasnet_mobile_head", "unfreeze": None, "patience": 4, "monitor": "val_loss"}


SPACE = Space(
    description="NASNetMobile on PathMNIST at 224: frozen head or top N layers, augmentation",
    model="nasnet_mobile_head|top50",
    dataset="pathmnist",
    define=define,
    points_to_evaluate=[
        {"optimizer": "adam", "learning_rate": 1e-3, "batch_size": 32, "dropout": 0.0,
         "variant": "head", **NO_AUGMENTATION},
        {"optimizer": "adam", "learning_rate": 8e-5, "batch_size": 32, "dropout": 0.0,
         "variant": "top", "unfreeze": 50, "flip": True, "zoom": 0.3, "rotation": 50.0},
    ],
    budget=Budget(num_samples=12, max_epochs=20, grace_period=2, reduction_factor=3),
    reference=transfer_reference("nasnet_mobile_top50", "pathmnist"),
    table_reference=transfer_table(5),
    gpu=1.0,
    backbone_model="nasnet_mobile_head",
)
