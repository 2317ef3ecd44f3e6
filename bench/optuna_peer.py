"""What a user who knows Optuna writes instead of the suite: TPE + successive halving on one study,
in one process, or in one worker process per core sharing the study through journal storage.

    python bench/optuna_peer.py --log FILE [--workers 2] [--dataset digits] [--seed 0]
                                [--num-samples N --max-epochs E --grace-period G --reduction-factor F]

Same space (search_spaces/basenet.py, the report's points enqueued first), model builder, data,
split and pipeline as `python run_search.py --space basenet`; the budget is the space's for the
dataset unless given. With several workers each runs TensorFlow on one thread, as the suite's
trials do with one CPU each. Every epoch appends {"t": unix time, "trial", "epoch", "val"} to FILE.
"""
import argparse, json, os, subprocess, sys, time  # noqa: E401
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

p = argparse.ArgumentParser()
p.add_argument("--log", required=True)
p.add_argument("--workers", type=int, default=1)
p.add_argument("--dataset", default="digits")
p.add_argument("--seed", type=int, default=0)
for flag in ("--num-samples", "--max-epochs", "--grace-period", "--reduction-factor"):
    p.add_argument(flag, type=int)
p.add_argument("--storage", help=argparse.SUPPRESS)  # set for the worker processes
p.add_argument("--worker", type=int, default=0, help=argparse.SUPPRESS)
args = p.parse_args()

import optuna  # noqa: E402
from optuna.storages import JournalStorage  # noqa: E402
from optuna.storages.journal import JournalFileBackend  # noqa: E402

import search_spaces  # noqa: E402

space = search_spaces.load("basenet")
budget = space.budget_for(args.dataset)
trials, max_epochs, grace, factor = (getattr(args, k) or getattr(budget, b) for k, b in (
    ("num_samples", "num_samples"), ("max_epochs", "max_epochs"),
    ("grace_period", "grace_period"), ("reduction_factor", "reduction_factor")))
optuna.logging.set_verbosity(optuna.logging.WARNING)


def new_study(storage=None):
    # Each worker process its own seed: samplers of one seed in two processes draw the same
    # random trials (TPE's first 10 are random), and the study would run each of them twice.
    return optuna.create_study(
        study_name="peer", storage=storage, load_if_exists=True, direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=args.seed + 1000 * args.worker),
        pruner=optuna.pruners.SuccessiveHalvingPruner(min_resource=grace,
                                                      reduction_factor=factor))


def optimize(study, threads: int | None) -> None:
    import keras
    import tensorflow as tf
    if threads:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    from trainables import datasets, models, optimizers, pipeline
    data = datasets.load(args.dataset)
    log = open(args.log, "a", buffering=1)

    class Report(keras.callbacks.Callback):
        def __init__(self, trial):
            super().__init__()
            self.trial = trial

        def on_epoch_end(self, epoch, logs):
            val = float(logs["val_accuracy"])
            log.write(json.dumps({"t": time.time(), "trial": self.trial.number,
                                  "epoch": epoch + 1, "val": val}) + "\n")
            self.trial.report(val, epoch + 1)
            self.model.stop_training = self.trial.should_prune()

    def objective(trial):
        config = {**(space.define(trial) or {}), **trial.params, "seed": args.seed}
        keras.backend.clear_session()
        keras.utils.set_random_seed(args.seed)
        model = models.build(config, models.input_shape(config["model"], data.input_shape),
                             data.num_classes)
        model.compile(optimizer=optimizers.make(config["optimizer"], config["learning_rate"]),
                      loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        history = model.fit(pipeline.train_batches(data, config), epochs=max_epochs, verbose=0,
                            validation_data=pipeline.eval_batches(data, "val", config),
                            callbacks=[Report(trial)]).history
        if model.stop_training:
            raise optuna.TrialPruned()
        return max(history["val_accuracy"])

    study.optimize(objective, callbacks=[optuna.study.MaxTrialsCallback(trials, states=None)])


if args.storage:  # a worker process
    optimize(new_study(JournalStorage(JournalFileBackend(args.storage))), threads=1)
elif args.workers == 1:
    study = new_study()
    for point in space.points_to_evaluate:
        study.enqueue_trial(point)
    optimize(study, threads=None)
else:
    storage = f"{args.log}.journal"
    study = new_study(JournalStorage(JournalFileBackend(storage)))
    for point in space.points_to_evaluate:
        study.enqueue_trial(point)
    workers = [subprocess.Popen([sys.executable, __file__, *sys.argv[1:], "--storage", storage,
                                 "--worker", str(i)]) for i in range(args.workers)]
    if any(w.wait() for w in workers):
        sys.exit("a worker failed")
