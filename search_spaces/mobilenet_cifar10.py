"""Declarations layer, a space: MobileNet + FC(10) on CIFAR-10 (report 003): random init, ImageNet
init, or fine-tuning.

    python run_search.py --space mobilenet_cifar10          # CIFAR-10 from the Keras cache

Budget: 16 trials x up to 60 epochs (ASHA grace 5, reduction factor 3), one whole GPU per trial.
MobileNet runs at CIFAR's 32x32 (the ImageNet weights are the 224 ones). The init mode is a
variant: random (every layer trains from scratch), imagenet (every layer but BatchNormalization
trains from the ImageNet weights), finetune (head only for phase1_epochs, then the top `unfreeze`
layers at learning_rate x finetune_lr_ratio). Searched: optimizer, learning rate, batch size,
dropout, init, and for finetune the schedule. `--weights none` leaves init random only (imagenet
and finetune would train random weights under their names); a budget under 31 epochs narrows
phase1_epochs to 1 .. max_epochs - 1 (no finetune at 1 epoch).

Starts from 003 (Adam 1e-4, 60 epochs; the batch is not given, 32 here): random init 0.354
validation accuracy, ImageNet init about 0.78, fine-tuning (20 epochs head, 40 whole net at 1e-5)
about 0.78 (read off the curves; 003 gives no test accuracy).
"""

from search_spaces._common import Budget, Space
from search_spaces._references import transfer_reference, transfer_table
from search_spaces._transfer import no_finetune, suggest_finetune, suggest_transfer_common
from trainables.models.transfer import MOBILENET_INITS


PRETRAINED = ("imagenet", "finetune")  # the inits that start from the backbone's weights
PHASE1 = (1, 30)


def define(trial, weights="imagenet", max_epochs=None):
    suggest_transfer_common(trial)
    inits = [i for i in MOBILENET_INITS if weights != "none" or i not in PRETRAINED]
    if max_epochs is not None and max_epochs <= PHASE1[0]:  # no head epoch and phase 2 fit
        inits = [i for i in inits if i != "finetune"]
    init = trial.suggest_categorical("init", inits)
    if init == "finetune":
        suggest_finetune(trial, phase1=PHASE1, unfreeze=(10, 30, 50, "all"), max_epochs=max_epochs)
        return {"model": "mobilenet_cifar10"}
    return {"model": "mobilenet_cifar10", **no_finetune()}


ADAM_003 = {"optimizer": "adam", "learning_rate": 1e-4, "batch_size": 32, "dropout": 0.0}

SPACE = Space(
    description="MobileNet on CIFAR-10: random / ImageNet init or two-phase fine-tuning",
    model="mobilenet_cifar10",
    dataset="cifar10",
    define=define,
    points_to_evaluate=[
        {**ADAM_003, "init": "random"},
        {**ADAM_003, "init": "imagenet"},
        {**ADAM_003, "init": "finetune", "phase1_epochs": 20, "unfreeze": "all",
         "finetune_lr_ratio": 0.1},
    ],
    budget=Budget(num_samples=16, max_epochs=60, grace_period=5, reduction_factor=3),
    reference=transfer_reference("mobilenet_cifar10:imagenet", "cifar10"),
    table_reference=transfer_table(6),
    gpu=1.0,
    backbone_model="mobilenet_cifar10",
    limited_by=("weights", "max_epochs"),
)
