"""Declarations layer, a space: BaseNet on the 25-class CIFAR-100 subset.

    python run_search.py --space basenet                    # cifar100_25, 24 trials x 30 epochs
    python run_search.py --space basenet --dataset digits   # offline, about 2 minutes on 2 cores

Starts from report 000's setting (RMSprop, Keras default rate, batch 64, no dropout), which reached
0.4948 test accuracy with normalization and augmentation; reports 001 and 002 reached 0.3896 and
0.3724 with SGD.
"""

from search_spaces._common import Budget, Space, suggest_common


def define(trial):
    suggest_common(trial)
    return {"model": "basenet"}


SPACE = Space(
    description="BaseNet (2 conv, 2 FC) from scratch: optimizer, learning rate, batch, dropout",
    model="basenet",
    dataset="cifar100_25",
    define=define,
    points_to_evaluate=[
        {"optimizer": "rmsprop", "learning_rate": 1e-3, "batch_size": 64, "dropout": 0.0},  # 000
        {"optimizer": "sgd", "learning_rate": 1e-2, "batch_size": 32, "dropout": 0.0},      # 002
    ],
    budget=Budget(num_samples=24, max_epochs=30, grace_period=3, reduction_factor=3),
    reference={"cifar100_25": (0.4948, "report 000, normalized + augmented, 30 epochs")},
)
