"""Declarations layer, a space: Study: the model comparison tables (report 002 tables 2-9, 001,
000), one row per model.

    python run_search.py --space model_comparison                   # cifar100_25: 15 trials x 20 epochs
    python run_search.py --space model_comparison --dataset digits  # offline
    python run_search.py --space model_comparison --set model=basenet,mired_v5 --set normalize=none,featurewise

Every from-scratch CIFAR model with its own report's setting: report 002's SGD(0.01, Nesterov,
decay 1e-6), batch 32, featurewise normalization, for basenet and the MiRed family; report 001's SGD
with the "complex" generator (flip, zoom 0.2) for the BatchNorm BaseNets; report 000's RMSprop,
batch 64, flip + zoom 0.2 for BaseNet 2.1-2.3. `--set normalize=none,featurewise` adds the
normalization on/off rows. The table: train/val loss and accuracy, test accuracy, epochs, parameters,
and the report's test accuracy beside ours.
"""

from search_spaces._common import Budget, study
from search_spaces._references import MODEL_TABLE as TABLE_REFERENCE


_REPORT_001 = {"flip": True, "zoom": 0.2}
_REPORT_000 = {"optimizer": "rmsprop", "learning_rate": 1e-3, "batch_size": 64, "flip": True,
               "zoom": 0.2}
# Settings that differ from the constants below, by model: the dropout that gives the report's
# own rates (see each builder's docstring), and the setting of the report the model comes from.
PER_MODEL = {
    "basenet_bn_before": _REPORT_001, "basenet_bn_after": _REPORT_001,
    "basenet_batch_optimized": _REPORT_001,
    "basenet21": {**_REPORT_000, "dropout": 0.4}, "basenet22": {**_REPORT_000, "dropout": 0.4},
    "basenet23": {**_REPORT_000, "dropout": 0.4},
    "mired_v4": {"dropout": 0.5}, "mired_v5": {"dropout": 0.5}, "mired_bn_v1": {"dropout": 0.5},
    "mired_bn_v2": {"dropout": 0.5}, "mired_bn_v3": {"dropout": 0.5},
}

SPACE = study(
    description="Report tables 2-9: every from-scratch CIFAR model with its report's setting",
    model="(all from scratch)",
    dataset="cifar100_25",
    grid={"model": list(TABLE_REFERENCE)},
    constants={"optimizer": "sgd", "learning_rate": 0.01, "batch_size": 32, "dropout": 0.0,
               "normalize": "featurewise", "flip": False, "zoom": 0.0},
    per_model=PER_MODEL,
    budget=Budget(num_samples=1, max_epochs=20, grace_period=20),
    reference={"cifar100_25": (TABLE_REFERENCE["basenet22"][0],
                               "report 000, BaseNet 2.2 (best of the table)")},
    table_reference=TABLE_REFERENCE,
)
