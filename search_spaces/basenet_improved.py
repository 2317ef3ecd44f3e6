"""Declarations layer, a space: The improved BaseNets (reports 000 and 001) on the 25-class
CIFAR-100 subset, model searched.

    python run_search.py --space basenet_improved                   # cifar100_25, 32 trials x 30 epochs
    python run_search.py --space basenet_improved --dataset digits  # offline

`variant` is a hyperparameter: basenet_bn_before / bn_after (001: 0.4228 / 0.4504),
basenet_batch_optimized (001: 0.6172 with flip + zoom 0.2 + normalization), basenet21/22/23
(000: 0.6252 / 0.6908 / 0.6784 with RMSprop, batch 64, flip + zoom, normalization). Searched beside
the common block: normalization and augmentation. Starts from both reports' settings.
"""

from search_spaces._references import MODEL_TABLE
from search_spaces._common import Budget, Space, suggest_common, suggest_input

VARIANTS = ["basenet_bn_before", "basenet_bn_after", "basenet_batch_optimized", "basenet21",
            "basenet22", "basenet23"]


def define(trial):
    trial.suggest_categorical("model", VARIANTS)
    suggest_common(trial)
    suggest_input(trial)


_AUGMENTED = {"normalize": "featurewise", "flip": True, "zoom": 0.2, "rotation": 0.0}

SPACE = Space(
    description="BaseNet 2.1/2.2/2.3, BatchNorm and batch-optimized variants: model, rates, input",
    model="basenet21|22|23|bn_before|bn_after|batch_optimized",
    dataset="cifar100_25",
    define=define,
    points_to_evaluate=[
        {"model": "basenet22", "optimizer": "rmsprop", "learning_rate": 1e-3, "batch_size": 64,
         "dropout": 0.4, **_AUGMENTED},                                                     # 000
        {"model": "basenet_batch_optimized", "optimizer": "sgd", "learning_rate": 1e-2,
         "batch_size": 32, "dropout": 0.0, **_AUGMENTED},                                   # 001
    ],
    budget=Budget(num_samples=32, max_epochs=30, grace_period=3, reduction_factor=3),
    reference={"cifar100_25": (MODEL_TABLE["basenet22"][0],
                               "report 000, BaseNet 2.2 (the best of the family)")},
)
