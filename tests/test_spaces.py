"""Every space imports, samples valid configurations, starts from the report's, and builds."""

import optuna
import pytest

import search_spaces
from search_spaces import _common, _transfer
from trainables import datasets, models
from trainables.optimizers import NAMES

optuna.logging.set_verbosity(optuna.logging.WARNING)


def sample(space, seed):
    """A configuration as a trial would get it: Optuna's suggestion, or a study's grid point."""
    if space.grid:
        point = {k: v[seed % len(v)] for k, v in space.grid.items()}
        config = {**space.constants, **point}
        return {**config, **space.per_model.get(config["model"], {})}
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    trial = study.ask()
    constants = space.define(trial) or {}
    return {**trial.params, **constants}


@pytest.mark.parametrize("name", search_spaces.names())
def test_space_samples_the_contract_hyperparameters(name):
    space = search_spaces.load(name)
    for seed in range(5):
        config = sample(space, seed)
        assert config["optimizer"] in NAMES
        assert config["model"] in models.builders()
        if space.grid:  # the reports' settings: Keras's default rates, their batches
            assert config["learning_rate"] in (1e-3, 0.01) and config["batch_size"] in (32, 64)
            assert config["dropout"] in (0.0, 0.4, 0.5)
            continue
        low, high = _common.LEARNING_RATES[config["optimizer"]]
        assert low <= config["learning_rate"] <= high
        # The reports' batches and their neighbours; report 004's Fashion-MNIST also used 1000.
        batches = (_transfer.BATCH_SIZES if space.transfer else
                   (*_common.BATCH_SIZES, 1000) if name.startswith("fashion") else
                   _common.BATCH_SIZES)
        assert config["batch_size"] in batches
        assert 0 <= config["dropout"] <= (0.8 if space.transfer else 0.6)


@pytest.mark.parametrize("name", search_spaces.names())
def test_space_declares_a_valid_budget_dataset_and_report_start(name):
    space = search_spaces.load(name)
    assert space.dataset in datasets.names()
    assert space.description and len(space.description.splitlines()) == 1
    assert 1 <= space.budget.grace_period <= space.budget.max_epochs
    if space.grid:  # a study is the report's configuration(s)
        models_run = space.grid["model"] if "model" in space.grid else [space.constants["model"]]
        assert set(space.per_model) <= set(models_run)
        return
    assert space.points_to_evaluate, "a space starts from the report's configuration"
    sampled = set(sample(space, 0))
    for point in space.points_to_evaluate:
        assert {"optimizer", "learning_rate", "batch_size", "dropout"} <= point.keys()
        assert set(point) <= sampled, f"{set(point) - sampled} is not in the space"


@pytest.mark.slow
@pytest.mark.parametrize("name", search_spaces.names())
def test_space_model_builds_with_the_right_output_shape(name):
    space = search_spaces.load(name)
    config = sample(space, 0)
    for dataset in {space.dataset, "digits"}:
        classes = datasets.DATASETS[dataset].classes
        model = models.build(config, models.input_shape(config["model"], datasets.shape(dataset)),
                             classes)
        assert model.output_shape == (None, classes)


@pytest.mark.parametrize("name", search_spaces.names())
def test_every_configuration_a_space_or_study_can_produce_passes_the_trial_schema(name):
    from driver.plan import configs, study_settings
    from driver.settings import Settings
    from trainables.config import problems
    space = search_spaces.load(name)
    grid, constants = study_settings(space, [])
    settings = Settings(space=name, dataset=space.dataset, budget=space.budget, storage="/r",
                        name="x", grid=grid, constants=constants, weights="imagenet")
    checked = 0
    for where, config in configs(space, settings):
        assert not problems(config), (where, problems(config))
        checked += 1
    assert checked >= (len(space.points_to_evaluate) + 50 if not grid else 1)


def test_the_schema_refuses_unknown_keys_and_values_no_trial_accepts():
    from trainables.config import problems
    assert problems({"model": "basenet", "dropout": 0.2, "zoom": 0.1}) == []
    assert problems({"dropuot": 0.2})[0].startswith("unknown key 'dropuot'")
    assert problems({"zoom": 2.0}) == ["zoom=2.0 is not a number >= 0, <= 1"]
    assert problems({"flip": "yes"}) == ["flip='yes' is not true or false"]
    assert problems({"unfreeze": -1}) and problems({"batch_size": 32.5})
    assert problems({"fold": 5, "folds": 5}) == ["fold=5 is not below folds=5"]


def test_the_model_names_known_without_keras_are_the_builders():
    assert set(models.NAMES) == set(models.builders())


@pytest.mark.slow
def test_a_weights_none_search_never_runs_an_imagenet_init(tmp_path):
    """A real smoke search of MobileNet with --weights none: every trial, the report's points
    included, trains init=random, and search.json (what the report and the Optuna study read)
    says init was searched over random alone; the trials labelled imagenet or finetune used to
    train random weights."""
    import json

    from conftest import report_csv, run

    proc = run("run_search.py", "--space", "mobilenet_cifar10", "--dataset", "digits",
               "--smoke-test", "--weights", "none", "--num-samples", "3", "--max-epochs", "2",
               "--storage-path", tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    experiment = tmp_path / "mobilenet_cifar10"
    trials = report_csv(experiment / "report" / "trials.csv")
    assert len(trials) == 3 and set(trials["init"]) == {"random"}
    searched = json.loads((experiment / "search.json").read_text())["distributions"]
    assert json.loads(searched["init"])["attributes"]["choices"] == ["random"]
