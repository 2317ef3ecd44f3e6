"""Declarations layer, a space: Report 004's Fashion-MNIST CNN.

    python run_search.py --space fashion_cnn                   # fashion_mnist, 24 trials x 30 epochs
    python run_search.py --space fashion_cnn --dataset digits  # offline (images become 28x28x1)

C(32,3) C(64,3) pooling D(dropout) FC(600) FC(120) FC(10). The report, reading accuracy off its
curves: 0.83 (Adam 1e-3, batch 64, 5 epochs), 0.87 (1e-5, batch 1000, 30 epochs), above 0.90
(1e-5, batch 1000, 100 epochs). All start the search here.
"""

from search_spaces._common import Budget, Space, suggest_common

BATCH_SIZES = (32, 64, 128, 256, 1000)


def define(trial):
    suggest_common(trial, batch_sizes=BATCH_SIZES)
    return {"model": "fashion_cnn"}


SPACE = Space(
    description="Fashion-MNIST CNN (report 004): optimizer, learning rate, batch, dropout",
    model="fashion_cnn",
    dataset="fashion_mnist",
    define=define,
    points_to_evaluate=[
        {"optimizer": "adam", "learning_rate": 1e-3, "batch_size": 64, "dropout": 0.25},
        {"optimizer": "adam", "learning_rate": 1e-5, "batch_size": 1000, "dropout": 0.25},
    ],
    budget=Budget(num_samples=24, max_epochs=30, grace_period=3, reduction_factor=3),
    reference={"fashion_mnist": (0.90, "report 004, read off the curves (1e-5, 1000, 100 ep)")},
)
