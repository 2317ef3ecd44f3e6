"""Trial layer: the two-phase fine-tuning schedule the trainable follows.

Phase 1 trains the head with the backbone frozen for `phase1_epochs` epochs; at that epoch the
trainable calls `start_phase2`, which unfreezes the top `unfreeze` layers (BatchNormalization
stays frozen) and recompiles at `finetune_learning_rate(config)`. One epoch of either phase is one
reported iteration, so ASHA compares trials fairly across the switch.
"""

from __future__ import annotations

from trainables import optimizers
from trainables.models.transfer import unfreeze_top


def finetune_learning_rate(config: dict) -> float:
    """Phase 2's rate: config["finetune_learning_rate"], else learning_rate x finetune_lr_ratio."""
    if config.get("finetune_learning_rate") is not None:
        return float(config["finetune_learning_rate"])
    return float(config["learning_rate"]) * float(config.get("finetune_lr_ratio", 0.1))


def start_phase2(model, config: dict) -> None:
    """Unfreeze the top config["unfreeze"] layers of the backbone (default all; BatchNormalization
    stays frozen) and recompile with the same optimizer kind at `finetune_learning_rate(config)`.

    Recompiling is what makes Keras train the newly trainable weights (and gives a fresh
    optimizer: its moments were for the head alone; a weight average starts again, at the same
    momentum)."""
    try:
        base = model.get_layer("backbone")
    except ValueError:
        raise ValueError(f"{model.name} has no backbone to unfreeze (an extractor head on cached "
                         f"features?); drop phase1_epochs") from None
    unfreeze_top(base, config.get("unfreeze", "all"))
    optimizers.compile(model, config["optimizer"], finetune_learning_rate(config),
                       model.steps_per_execution, optimizers.ema_momentum_of(model.optimizer))


def in_phase2(config: dict, epochs_done: int) -> bool:
    """Whether a trial that has trained `epochs_done` epochs is past its switch to phase 2."""
    phase1 = config.get("phase1_epochs")
    return phase1 is not None and epochs_done > phase1
