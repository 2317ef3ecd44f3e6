"""Declarations layer, a space: Study: report 002's table 4, BaseNet normalized, horizontal flip x
zoom range.

    python run_search.py --space augmentation_grid                   # cifar100_25: 6 trials x 20 epochs
    python run_search.py --space augmentation_grid --dataset digits  # offline

SGD(0.01, momentum 0.9, Nesterov, decay 1e-6), batch 32, featurewise normalization fitted on train,
as report 002. Test references (flip/zoom): F/0 0.3904, T/0 0.4396, F/.2 0.4072, T/.2 0.4488,
F/.5 0.44, T/.5 0.4128.
"""

from search_spaces._common import Budget, study

TABLE_REFERENCE = [  # report 002 table 4: test accuracy by horizontal flip and zoom range
    {"flip": False, "zoom": 0.0, "test_accuracy": 0.3904},
    {"flip": True, "zoom": 0.0, "test_accuracy": 0.4396},
    {"flip": False, "zoom": 0.2, "test_accuracy": 0.4072},
    {"flip": True, "zoom": 0.2, "test_accuracy": 0.4488},
    {"flip": False, "zoom": 0.5, "test_accuracy": 0.44},
    {"flip": True, "zoom": 0.5, "test_accuracy": 0.4128},
]

SPACE = study(
    description="Report 002's table 4: BaseNet normalized, horizontal flip x zoom range",
    model="basenet",
    dataset="cifar100_25",
    grid={"flip": [False, True], "zoom": [0.0, 0.2, 0.5]},
    constants={"model": "basenet", "optimizer": "sgd", "learning_rate": 0.01, "batch_size": 32,
               "dropout": 0.0, "normalize": "featurewise"},
    budget=Budget(num_samples=1, max_epochs=20, grace_period=20),
    reference={"cifar100_25": (TABLE_REFERENCE[3]["test_accuracy"],
                               "report 002 table 4, flip + zoom 0.2")},
    table_reference=TABLE_REFERENCE,
)
