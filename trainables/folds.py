"""Trial layer: k-fold cross-validation on the training split (report 000's optimizer comparison)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from trainables.data import SEED, Data


def cv_fold(data: Data, folds: int, fold: int) -> Data:
    """`data` with train+val re-split: fold `fold` of `folds` stratified folds is the validation
    set, the rest the training set. The test set is unchanged (and never used by the table)."""
    from sklearn.model_selection import StratifiedKFold

    if not 0 <= fold < folds:
        raise ValueError(f"fold {fold} is not in 0..{folds - 1}")
    x = np.concatenate([data.x_train, data.x_val])
    y = np.concatenate([data.y_train, data.y_val])
    splits = StratifiedKFold(n_splits=folds, shuffle=True, random_state=SEED).split(x, y)
    train_idx, val_idx = list(splits)[fold]
    return replace(data, x_train=x[train_idx], y_train=y[train_idx], x_val=x[val_idx],
                   y_val=y[val_idx])
