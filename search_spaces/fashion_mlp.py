"""Declarations layer, a space: report 004's one-hidden-layer MLP on Fashion-MNIST, hidden width `n`
searched.

    python run_search.py --space fashion_mlp                   # fashion_mnist, 24 trials x 30 epochs
    python run_search.py --space fashion_mlp --dataset digits  # offline

F, FC(n) relu, D(dropout), FC(10). The report compared n=512 and n=2048: 512 did better, 2048
overfit after about 10 epochs; ASHA's early stopping and `dropout` are the search's answers.
"""

from search_spaces._common import Budget, Space, suggest_common

WIDTHS = (128, 256, 512, 1024, 2048)


def define(trial):
    suggest_common(trial, batch_sizes=(32, 64, 128, 256, 1000))
    trial.suggest_categorical("n", list(WIDTHS))
    return {"model": "fashion_mlp"}


SPACE = Space(
    description="Fashion-MNIST one-hidden-layer MLP (report 004): width n, rates, batch, dropout",
    model="fashion_mlp",
    dataset="fashion_mnist",
    define=define,
    points_to_evaluate=[
        {"optimizer": "adam", "learning_rate": 1e-3, "batch_size": 64, "dropout": 0.0, "n": 512},
        {"optimizer": "adam", "learning_rate": 1e-3, "batch_size": 64, "dropout": 0.0, "n": 2048},
    ],
    budget=Budget(num_samples=24, max_epochs=30, grace_period=3, reduction_factor=3),
    reference={"fashion_mnist": (0.88, "report 004, n=512, read off the curves")},
)
