"""Declarations layer, a space: Study: report 000's optimizer comparison, BaseNet, 5-fold cross-
validation on the training split.

    python run_search.py --space optimizers_cv                   # cifar100_25: 30 trials x <= 30 epochs
    python run_search.py --space optimizers_cv --dataset digits  # offline

Six optimizers at Keras's default learning rate (0.001 for all six), batch 64, early stopping on
val_loss with patience 4, as the report. Each (optimizer, fold) pair is a trial; the table has rows
I1..I5, Mean and Std, columns the optimizers, with the report's own numbers beside ours
(reference means: RMSprop 0.2670, Adam 0.2223, Adadelta 0.0522, Adagrad 0.0796, Adamax 0.2162,
Nadam 0.2438).
"""

from search_spaces._common import Budget, study

OPTIMIZERS = ["rmsprop", "adam", "adadelta", "adagrad", "adamax", "nadam"]
FOLDS = 5

# Report 000, validation accuracy of each fold (I1..I5) and the mean, by optimizer.
TABLE_REFERENCE = {
    "rmsprop": [0.2968, 0.2708, 0.2508, 0.2496, 0.2672, 0.2670],
    "adam": [0.1676, 0.1876, 0.2676, 0.2248, 0.2640, 0.2223],
    "adadelta": [0.0552, 0.0508, 0.0500, 0.0560, 0.0488, 0.0522],
    "adagrad": [0.1336, 0.0688, 0.0628, 0.0708, 0.0620, 0.0796],
    "adamax": [0.2340, 0.2428, 0.1864, 0.2308, 0.1872, 0.2162],
    "nadam": [0.2896, 0.2796, 0.2272, 0.1796, 0.2428, 0.2438],
}

SPACE = study(
    description="Report 000's table: BaseNet, six optimizers at Keras default rates, 5-fold CV",
    model="basenet",
    dataset="cifar100_25",
    grid={"optimizer": OPTIMIZERS, "fold": list(range(FOLDS))},
    constants={"model": "basenet", "learning_rate": 1e-3, "batch_size": 64, "dropout": 0.0,
               "folds": FOLDS, "patience": 4, "monitor": "val_loss"},
    budget=Budget(num_samples=1, max_epochs=30, grace_period=30),
    reference={"cifar100_25": (TABLE_REFERENCE["rmsprop"][-1],
                               "report 000, RMSprop mean of 5 folds (val accuracy)")},
    table_reference=TABLE_REFERENCE,
)
