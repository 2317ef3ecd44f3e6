"""Trial layer: every key a trial's configuration may hold, and what each accepts; the keys the
model builders, the pipeline and the trainable read, and nothing else.

The driver checks every configuration a space, a study or `--set` can produce against this
schema before Ray starts (driver/plan.py), so a misspelled key or an impossible value is one line
and exit code 2, never a failed trial.
"""

from __future__ import annotations

import math
from typing import Callable

NORMALIZE = ("none", "featurewise", "zca")  # the pipeline's normalisations


def _one_of(*choices):
    return lambda v: v in choices, "one of " + ", ".join(map(str, choices))


def _number(low=-math.inf, high=None, *, integer=False, low_open=False, none=False):
    # integers fit the fixed-width ones of numpy, TensorFlow and Ray (a count of 1e21 fails there)
    high = (2**31 - 1 if integer else math.inf) if high is None else high

    def check(v):
        if v is None:
            return none
        if isinstance(v, bool) or not isinstance(v, int if integer else (int, float)):
            return False
        return (low < v if low_open else low <= v) and v <= high
    kind = "an integer" if integer else "a number"
    bound = f"{'>' if low_open else '>='} {low:g}" if low > -math.inf else ""
    bound += (", " if bound and high < math.inf else "") + (f"<= {high}" if high < math.inf else "")
    return check, f"{kind}{' ' + bound if bound else ''}{' or null' if none else ''}"


def _boolean():
    return lambda v: isinstance(v, bool), "true or false"


def _text():
    return lambda v: isinstance(v, str) and bool(v), "a non-empty string"


def _unfreeze():
    return (lambda v: v is None or v == "all" or (isinstance(v, int) and not isinstance(v, bool)
                                                  and v >= 0), "all, a number of layers or null")


def _schema() -> dict[str, tuple[Callable, str]]:
    from trainables.models import NAMES as MODELS
    from trainables.models.transfer import HEADS, MOBILENET_INITS
    from trainables.optimizers import NAMES as OPTIMIZERS
    return {
        # every model
        "model": _one_of(*MODELS),
        "optimizer": _one_of(*OPTIMIZERS),
        "learning_rate": _number(0, 10, low_open=True),
        "batch_size": _number(1, 1 << 16, integer=True),
        "dropout": _number(0, 1),
        "seed": _number(0, 2**32 - 1, integer=True),  # numpy's seeds (Optuna, Keras)
        "mixed_precision": _boolean(),
        "ema_epochs": _number(0),
        # the input pipeline
        "normalize": _one_of(*NORMALIZE),
        "flip": _boolean(),
        "zoom": _number(0, 1),
        "rotation": _number(0, 360),
        # the trainable: within-trial early stopping, cross-validation
        "patience": _number(0, integer=True),
        "monitor": _one_of("val_loss", "val_accuracy", "loss", "accuracy"),
        "folds": _number(2, integer=True),
        "fold": _number(0, integer=True),
        # transfer models
        "weights": _text(),
        "head": _one_of(*HEADS),
        "init": _one_of(*MOBILENET_INITS),
        "phase1_epochs": _number(0, integer=True, none=True),
        "unfreeze": _unfreeze(),
        "finetune_lr_ratio": _number(0, 1, low_open=True, none=True),
        "finetune_learning_rate": _number(0, 10, low_open=True, none=True),
        # fashion_mlp's hidden width
        "n": _number(1, 1 << 16, integer=True),
        # a space's name for a searched model choice (resnet_extractor): not read by the trial
        "variant": _text(),
    }


def problems(config: dict) -> list[str]:
    """What is wrong with `config`: unknown keys and values a key does not accept."""
    schema = _schema()
    found = []
    for key, value in config.items():
        if key not in schema:
            found.append(f"unknown key {key!r} (known: {', '.join(sorted(schema))})")
            continue
        check, accepts = schema[key]
        if not check(value):
            found.append(f"{key}={value!r} is not {accepts}")
    if "fold" in config and "folds" in config and not config["fold"] < config["folds"]:
        found.append(f"fold={config['fold']} is not below folds={config['folds']}")
    return found
