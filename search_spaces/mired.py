"""Declarations layer, a space: The MiRed family of report 002 (v1-v5, BatchNorm v1-v3) on the
25-class CIFAR-100 subset.

    python run_search.py --space mired                   # cifar100_25, 32 trials x 40 epochs
    python run_search.py --space mired --dataset digits  # offline

`variant` (the model) is searched with the common block, normalization and augmentation. Report
002: mired_v5 0.5444, mired_bn_v3 0.6124, and 0.672 with early stopping, flip and zoom 0.2, with
SGD(0.01, Nesterov, decay 1e-6), batch 32, featurewise normalization.
"""

from search_spaces._common import Budget, Space, suggest_common, suggest_input

VARIANTS = ["mired_v1", "mired_v2", "mired_v3", "mired_v4", "mired_v5", "mired_bn_v1",
            "mired_bn_v2", "mired_bn_v3"]


def define(trial):
    trial.suggest_categorical("model", VARIANTS)
    suggest_common(trial)
    suggest_input(trial)


_SGD_002 = {"optimizer": "sgd", "learning_rate": 0.01, "batch_size": 32, "dropout": 0.5,
            "normalize": "featurewise", "rotation": 0.0}

SPACE = Space(
    description="MiRed v1-v5 and MiRed+BatchNorm v1-v3 (report 002): model, rates, input",
    model="mired_v1..v5|mired_bn_v1..v3",
    dataset="cifar100_25",
    define=define,
    points_to_evaluate=[
        {"model": "mired_bn_v3", **_SGD_002, "flip": True, "zoom": 0.2},   # 002's best, 0.672
        {"model": "mired_v5", **_SGD_002, "flip": False, "zoom": 0.0},     # 002 table, 0.5444
    ],
    budget=Budget(num_samples=32, max_epochs=40, grace_period=4, reduction_factor=3),
    reference={"cifar100_25": (0.672, "report 002, mired_bn_v3, early stop, flip + zoom 0.2")},
)
