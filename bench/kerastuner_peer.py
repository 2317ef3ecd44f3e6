"""KerasTuner's Hyperband on the basenet space: the peer a Keras user reaches for first.

    python bench/kerastuner_peer.py --log FILE [--dataset digits] [--seed 0]
                                    [--max-epochs E --reduction-factor F]

Same values searched (search_spaces/_common.py: optimizer, its learning-rate range, batch size,
dropout), model builder, data, split and pipeline as `python run_search.py --space basenet`;
Hyperband's own budget (one iteration, the space's max epochs and reduction factor for the
dataset unless given) decides how many trials run. The report's configuration is every
hyperparameter's default, which KerasTuner does not promise to try first. One process, all cores.
Every epoch appends {"t": unix time, "trial", "epoch", "val"} to FILE.
"""
import argparse, json, os, sys, tempfile, time  # noqa: E401
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

p = argparse.ArgumentParser()
p.add_argument("--log", required=True)
p.add_argument("--dataset", default="digits")
p.add_argument("--seed", type=int, default=0)
p.add_argument("--max-epochs", type=int)
p.add_argument("--reduction-factor", type=int)
for ignored in ("--num-samples", "--grace-period", "--workers"):  # Hyperband decides these
    p.add_argument(ignored, type=int)
args = p.parse_args()

import keras, keras_tuner  # noqa: E401,E402

import search_spaces  # noqa: E402
from search_spaces._common import BATCH_SIZES, LEARNING_RATES  # noqa: E402
from trainables import datasets, models, optimizers, pipeline  # noqa: E402

space = search_spaces.load("basenet")
budget = space.budget_for(args.dataset)
report = space.points_to_evaluate[0]
data = datasets.load(args.dataset)
log = open(args.log, "a", buffering=1)


class BaseNet(keras_tuner.HyperModel):
    def build(self, hp):
        name = hp.Choice("optimizer", list(LEARNING_RATES), default=report["optimizer"])
        with hp.conditional_scope("optimizer", [name]):
            rate = hp.Float(f"learning_rate_{name}", *LEARNING_RATES[name], sampling="log",
                            default=report["learning_rate"] if name == report["optimizer"] else None)
        hp.Choice("batch_size", list(BATCH_SIZES), default=report["batch_size"])
        config = {"model": "basenet", "optimizer": name, "learning_rate": rate,
                  "dropout": hp.Float("dropout", 0.0, 0.6, default=report["dropout"])}
        model = models.build(config, models.input_shape("basenet", data.input_shape),
                             data.num_classes)
        model.compile(optimizer=optimizers.make(name, rate), metrics=["accuracy"],
                      loss="sparse_categorical_crossentropy")
        return model

    def fit(self, hp, model, trial_number=None, **kwargs):
        config = {"model": "basenet", "batch_size": hp.get("batch_size"), "seed": args.seed}
        number = trial_number

        def record(epoch, logs):
            log.write(json.dumps({"t": time.time(), "trial": number, "epoch": epoch + 1,
                                  "val": float(logs["val_accuracy"])}) + "\n")

        callbacks = [*kwargs.pop("callbacks", []), keras.callbacks.LambdaCallback(
            on_epoch_end=record)]
        kwargs["verbose"] = 0
        return model.fit(pipeline.train_batches(data, config), callbacks=callbacks,
                         validation_data=pipeline.eval_batches(data, "val", config), **kwargs)


class Numbered(keras_tuner.Hyperband):
    def run_trial(self, trial, *fit_args, **fit_kwargs):
        return super().run_trial(trial, *fit_args, trial_number=trial.trial_id, **fit_kwargs)


tuner = Numbered(BaseNet(), objective="val_accuracy", seed=args.seed, hyperband_iterations=1,
                 max_epochs=args.max_epochs or budget.max_epochs,
                 factor=args.reduction_factor or budget.reduction_factor,
                 directory=tempfile.mkdtemp(prefix="kerastuner-"), project_name="basenet",
                 overwrite=True)
tuner.search(verbose=0)
