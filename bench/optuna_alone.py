"""The default digits search with Optuna alone: one process, TPE + successive halving, no Ray.

    python bench/optuna_alone.py [--seed 0]   # prints one JSON line: epochs, best val, test

Same space (search_spaces/basenet.py, report points enqueued first), model builder, digits split,
pipeline, optimizers, budget (the space's on digits: 24 trials, 20 epochs, pruning from epoch 2,
factor 3) as `python run_search.py --space basenet --dataset digits`.
"""
import argparse, json, os, sys  # noqa: E401
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import keras, optuna  # noqa: E401,E402
from optuna.pruners import SuccessiveHalvingPruner  # noqa: E402
from optuna.samplers import TPESampler  # noqa: E402

import search_spaces  # noqa: E402
from trainables import datasets, models, optimizers, pipeline  # noqa: E402

args = argparse.ArgumentParser(); args.add_argument("--seed", type=int, default=0)  # noqa: E702
seed = args.parse_args().seed
space, data = search_spaces.load("basenet"), datasets.load("digits")
budget = space.budget_for("digits")
best = {"val": -1.0, "weights": None, "config": None, "epochs": 0}


class Report(keras.callbacks.Callback):
    def __init__(self, trial):
        super().__init__(); self.trial, self.best = trial, -1.0  # noqa: E702

    def on_epoch_end(self, epoch, logs):
        best["epochs"] += 1
        if logs["val_accuracy"] > self.best:
            self.best = logs["val_accuracy"]
            if self.best > best["val"]:
                best.update(val=self.best, weights=self.model.get_weights(), config=self.config)
        self.trial.report(logs["val_accuracy"], epoch + 1)
        self.model.stop_training = self.trial.should_prune()


def objective(trial):
    config = {**(space.define(trial) or {}), **trial.params, "seed": seed}
    keras.backend.clear_session(); keras.utils.set_random_seed(seed)  # noqa: E702
    model = models.build(config, models.input_shape(config["model"], data.input_shape),
                         data.num_classes)
    model.compile(optimizer=optimizers.make(config["optimizer"], config["learning_rate"]),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])  # as users do
    report = Report(trial); report.config = config  # noqa: E702
    history = model.fit(pipeline.train_batches(data, config), epochs=budget.max_epochs, verbose=0,
                        validation_data=pipeline.eval_batches(data, "val", config),
                        callbacks=[report]).history
    if model.stop_training:
        raise optuna.TrialPruned()
    return history["val_accuracy"][-1]


optuna.logging.set_verbosity(optuna.logging.WARNING)
study = optuna.create_study(direction="maximize", sampler=TPESampler(seed=seed),
                            pruner=SuccessiveHalvingPruner(
                                min_resource=budget.grace_period,
                                reduction_factor=budget.reduction_factor))
for point in space.points_to_evaluate:
    study.enqueue_trial(point)
study.optimize(objective, n_trials=budget.num_samples)
model = models.build(best["config"], models.input_shape(best["config"]["model"], data.input_shape),
                     data.num_classes)
model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
model.set_weights(best["weights"])
test = model.evaluate(pipeline.eval_batches(data, "test", best["config"]), verbose=0,
                      return_dict=True)["accuracy"]
print(json.dumps({"epochs": best["epochs"], "best_val": best["val"], "test": test}))
