"""Transfer models: every one builds; the right weights train in each phase; phase 2 recompiles at
the lower rate and survives a restore; the weights check; the feature cache; a CUB smoke search."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
from keras import layers

from conftest import report_csv, run
from standins import cub
from driver import features, weights
from trainables import datasets, models, optimizers, phases, pipeline, train
from trainables.models import transfer
from trainables.data import Data, DataError

SMALL = (32, 32, 3)  # every backbone here accepts 32x32 without the top


def _config(**extra):
    return {"weights": "none", "optimizer": "adam", "learning_rate": 1e-3, "batch_size": 4,
            "dropout": 0.1, "seed": 0, **extra}


def _compiled(config, shape=SMALL, classes=5):
    model = models.build(config, shape, classes)
    model.compile(optimizer=keras.optimizers.Adam(config["learning_rate"]),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def _ids(variables):
    return {id(v) for v in variables}


def _trainable_in(layer_list):
    return [w for layer in layer_list for w in layer.trainable_weights]


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(transfer.BUILDERS))
def test_every_transfer_model_builds_on_images(name):
    config = _config(model=name, head="conv", init="finetune")
    model = models.build(config, SMALL, 7)
    assert model.output_shape == (None, 7)
    assert name in models.builders()
    backbone = model.get_layer("backbone")
    if name.startswith("inception"):  # smaller than it accepts (75): resized inside the model
        assert model.get_layer("resize").output.shape[1:3] == (299, 299)
    if name != "mobilenet_cifar10":  # a frozen backbone: no BatchNormalization ever trains
        bns = [l for l in backbone.layers if isinstance(l, layers.BatchNormalization)]
        assert bns and not any(l.trainable for l in bns)


@pytest.mark.parametrize("name", ["resnet50_extractor_v1", "resnet50_extractor_v2",
                                  "resnet50_extractor_v3", "resnet50_extractor_fc500"])
def test_extractor_heads_build_on_features(name):
    model = models.build(_config(model=name), (2048,), 200)
    assert model.output_shape == (None, 200)
    dense = [l.units for l in model.layers if isinstance(l, layers.Dense)]
    assert dense == {"resnet50_extractor_v3": [512, 256, 200],
                     "resnet50_extractor_fc500": [500, 200]}.get(name, [512, 200])


@pytest.mark.parametrize("head, units", [("gap", [9]), ("fc1024", [1024, 9]), ("fc500", [500, 9]),
                                         ("fc512", [512, 9]), ("fc512_256", [512, 256, 9]),
                                         ("conv", [9])])
def test_finetune_heads_are_the_reports(head, units):
    model = models.build(_config(model="resnet50_finetune", head=head), SMALL, 9)
    assert [l.units for l in model.layers if isinstance(l, layers.Dense)] == units
    convs = [l for l in model.layers if isinstance(l, layers.Conv2D)]
    assert len(convs) == (2 if head == "conv" else 0)


def test_preprocessing_is_the_backbones_own_inside_the_model():
    model = models.build(_config(model="resnet50_head"), SMALL, 3)
    pre = model.get_layer("preprocess")
    x = np.full((1, *SMALL), 0.5, np.float32)
    expected = keras.applications.resnet50.preprocess_input(x * 255.0)
    assert np.allclose(keras.ops.convert_to_numpy(pre(x)), expected)


@pytest.mark.parametrize("unfreeze", ["all", 10])
def test_phase2_unfreezes_the_top_layers_but_not_batchnorm_and_recompiles_lower(unfreeze):
    config = _config(model="resnet50_finetune", head="fc512", phase1_epochs=1, unfreeze=unfreeze,
                     finetune_lr_ratio=0.01)
    model = _compiled(config)
    backbone = model.get_layer("backbone")
    head_weights = [w for l in model.layers if l.name in ("fc1", "predictions")
                    for w in l.trainable_weights]
    assert _ids(model.trainable_weights) == _ids(head_weights)  # phase 1: the head alone (4)
    assert len(model.trainable_weights) == 4
    phase1_optimizer = model.optimizer

    phases.start_phase2(model, config)
    top = backbone.layers if unfreeze == "all" else backbone.layers[-unfreeze:]
    expected = [w for l in top if not isinstance(l, layers.BatchNormalization)
                for w in l.weights]
    assert _ids(model.trainable_weights) == _ids(head_weights + expected)
    assert len(model.trainable_weights) > 4
    bn_weights = [w for l in backbone.layers if isinstance(l, layers.BatchNormalization)
                  for w in l.weights]
    assert not _ids(model.trainable_weights) & _ids(bn_weights)
    assert model.optimizer is not phase1_optimizer  # recompiled
    assert float(model.optimizer.learning_rate) == pytest.approx(1e-5)


def test_phase2_averages_the_weights_it_trains_at_phase_1s_momentum():
    config = _config(model="resnet50_finetune", head="fc512", phase1_epochs=1, unfreeze=10)
    model = models.build(config, SMALL, 5)
    optimizers.compile(model, "adam", 1e-3, 1, ema_momentum=0.95)
    phases.start_phase2(model, config)
    assert optimizers.ema_momentum_of(model.optimizer) == pytest.approx(0.95)
    averages = optimizers.inner(model.optimizer)._model_variables_moving_average
    assert len(averages) == len(model.trainable_variables) > 4  # the unfrozen layers' too


@pytest.mark.slow
def test_phase2_trains_the_backbone_and_keeps_batchnorm_statistics():
    # ResNet50: a random-init MobileNet in inference mode has all-zero activations, no gradients
    config = _config(model="resnet50_finetune", phase1_epochs=0, unfreeze=20)
    model = _compiled(config)
    phases.start_phase2(model, config)
    backbone = model.get_layer("backbone")
    convs = [l for l in backbone.layers if isinstance(l, layers.Conv2D)]
    top_conv, bottom_conv = convs[-1], convs[0]
    bn = [l for l in backbone.layers if isinstance(l, layers.BatchNormalization)][-1]
    before = [top_conv.kernel.numpy().copy(), bottom_conv.kernel.numpy().copy(),
              bn.moving_mean.numpy().copy(), bn.gamma.numpy().copy()]
    rng = np.random.default_rng(0)
    model.fit(rng.random((8, *SMALL), np.float32), rng.integers(0, 5, 8), epochs=1, verbose=0)
    assert not np.allclose(before[0], top_conv.kernel.numpy())     # unfrozen: trained
    assert np.allclose(before[1], bottom_conv.kernel.numpy())      # below the top 20: frozen
    assert np.allclose(before[2], bn.moving_mean.numpy())          # inference-mode statistics
    assert np.allclose(before[3], bn.gamma.numpy())                # frozen BatchNormalization


def test_finetune_learning_rate_absolute_wins_over_the_ratio():
    assert phases.finetune_learning_rate({"learning_rate": 1e-3}) == pytest.approx(1e-4)
    assert phases.finetune_learning_rate({"learning_rate": 1e-3, "finetune_lr_ratio": 0.5,
                                            "finetune_learning_rate": 2e-6}) == 2e-6
    assert not phases.in_phase2({"phase1_epochs": None}, 5)
    assert phases.in_phase2({"phase1_epochs": 2}, 3) and not phases.in_phase2(
        {"phase1_epochs": 2}, 2)


@pytest.mark.slow
def test_a_trial_resumed_in_phase2_is_restored_in_phase2_state(tmp_path):
    """train._restore puts the model in phase 2 before loading weights and optimizer state."""
    config = _config(model="mobilenet_cifar10", init="finetune", phase1_epochs=1, unfreeze=10,
                     finetune_lr_ratio=0.1, optimizer="sgd", learning_rate=0.01)
    data = Data("tiny", *(np.zeros((4, *SMALL), np.uint8), np.arange(4) % 5) * 3, 5)
    keras.utils.set_random_seed(0)
    model = train.compiled_model(config, data)
    phases.start_phase2(model, config)
    rng = np.random.default_rng(1)
    model.fit(rng.random((8, *SMALL), np.float32), rng.integers(0, 5, 8), epochs=1, verbose=0)
    state = {"epoch": 2, "best_val_accuracy": 0.1, "best_monitor": 1.0, "waited": 0}
    train._save(tmp_path, model, model.get_weights(), state)

    fresh = train.compiled_model(config, data)  # phase 1, as a restarted trial builds it
    assert len(fresh.trainable_weights) == 2
    restored_state, best = train._restore(tmp_path, fresh, config)
    assert restored_state == state
    assert _ids(fresh.trainable_weights) != _ids(fresh.get_layer("predictions").trainable_weights)
    assert len(fresh.trainable_weights) == len(model.trainable_weights)
    assert float(fresh.optimizer.learning_rate) == pytest.approx(1e-3)
    assert int(fresh.optimizer.iterations) == int(model.optimizer.iterations) > 0
    for a, b in zip(fresh.get_weights(), model.get_weights()):
        assert np.array_equal(a, b)
    assert len(best) == len(model.get_weights())


@pytest.mark.slow
def test_mobilenet_init_modes_set_what_trains():
    def trainable(init):
        model = models.build(_config(model="mobilenet_cifar10", init=init), SMALL, 10)
        bn = any(isinstance(l, layers.BatchNormalization) and l.trainable_weights
                 for l in model.get_layer("backbone").layers)
        return len(model.trainable_weights), bn
    random, imagenet, finetune = (trainable(i) for i in transfer.MOBILENET_INITS)
    assert finetune == (2, False)                         # the head alone
    assert imagenet[0] > 2 and not imagenet[1]            # everything but BatchNormalization
    assert random[0] > imagenet[0] and random[1]          # everything, BatchNormalization too
    with pytest.raises(ValueError, match="init must be one of"):
        models.build(_config(model="mobilenet_cifar10", init="warm"), SMALL, 10)


@pytest.mark.slow
def test_nasnet_top50_trains_exactly_its_top_layers():
    model = models.build(_config(model="nasnet_mobile_top50", unfreeze=50), SMALL, 9)
    backbone = model.get_layer("backbone")
    top = [w for l in backbone.layers[-50:] if not isinstance(l, layers.BatchNormalization)
           for w in l.weights]
    head = model.get_layer("predictions").trainable_weights
    assert top and _ids(model.trainable_weights) == _ids(top + head)


def test_missing_imagenet_weights_offline_is_one_line_naming_the_keras_cache(
        tmp_path, offline_keras_home, run_search_main):
    folder = cub(tmp_path / "cub", "2011")
    code, error = run_search_main("--space", "resnet_head", "--data-dir", folder, "--image-size",
                                  "32", "--storage-path", tmp_path / "results")
    assert code == 2, error[-2000:]
    name = "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"
    assert error.count("\n") == 1, error
    assert f"download {name} yourself and put it in {offline_keras_home / 'models'}" in \
        error, error
    assert not (tmp_path / "results" / "resnet_head").exists()  # before Ray: nothing started


@pytest.mark.parametrize("model, data_shape, name", [
    ("mobilenet_cifar10", (32, 32, 3), "mobilenet_1_0_224_tf_no_top.h5"),  # 224's for 32
    ("mobilenet_cifar10", (160, 160, 3), "mobilenet_1_0_160_tf_no_top.h5"),
    ("nasnet_mobile_head", (28, 28, 3), "nasnet_mobile_no_top.h5"),  # PathMNIST, at 224
    ("resnet50_finetune", (64, 64, 3), "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"),
])
def test_weights_check_looks_for_keras_own_file_name_and_accepts_it_offline(
        offline_keras_home, monkeypatch, model, data_shape, name):
    import hashlib

    import h5py
    cache = offline_keras_home / "models"
    with pytest.raises(DataError, match=f"download {name} yourself and put it in {cache}"):
        weights.check_weights(model, "imagenet", data_shape)  # absent: offline, one line
    with h5py.File(cache / name, "w") as f:  # a (tiny) weights file in HDF5
        f.create_dataset("conv1/kernel", data=np.ones((3, 3)))
    backbone = models.backbone_of(model)
    file_name, url, md5 = weights.WEIGHTS[backbone]
    if md5:  # Keras's checksum, for this stand-in file
        digest = hashlib.md5((cache / name).read_bytes()).hexdigest()
        monkeypatch.setitem(weights.WEIGHTS, backbone, (file_name, url, digest))
    weights.check_weights(model, "imagenet", data_shape)  # present and whole: no download
    weights.check_weights("resnet50_head", "none", (224, 224, 3))  # random init needs no file


@pytest.mark.slow
def test_feature_cache_is_computed_once_and_reused(tmp_path):
    data = datasets.load("cub200", str(cub(tmp_path / "cub", "2010", classes=2, train=5)),
                         image_size=32)
    cache_dir = features.feature_cache_dir(str(tmp_path / "results"))
    first = features.features_of(data, "resnet50_extractor_v1", "none", cache_dir)
    cache = list((tmp_path / "results" / ".feature_cache").glob("*.npz"))
    assert len(cache) == 1 and "cub200-resnet50-none-32px" in cache[0].name
    mtime = cache[0].stat().st_mtime_ns

    _, path, computed = features.extract_features(
        data, "resnet50", "none", "resnet50_extractor_v1", cache_dir)
    assert not computed and path == cache[0] and path.stat().st_mtime_ns == mtime
    second = features.features_of(data, "resnet50_extractor_v1", "none", cache_dir)
    assert path.stat().st_mtime_ns == mtime
    assert first.x_train.shape == (len(data.x_train), 2048) and first.x_train.dtype == np.float32
    assert np.array_equal(first.x_test, second.x_test) and first.input_shape == (2048,)
    assert np.array_equal(first.y_val, data.y_val)

    # The pipeline feeds the features as they are (no / 255), and a head trains on them.
    config = {"model": "resnet50_extractor_v1", "batch_size": 64, "seed": 0,
              "optimizer": "adam", "learning_rate": 1e-3, "dropout": 0.0}
    x, _ = next(iter(pipeline.eval_batches(first, "test", config)))
    assert np.allclose(x.numpy(), first.x_test)
    model = train.compiled_model(config, first)
    assert model.input_shape == (None, 2048)
    before = [w.copy() for w in model.get_weights()]
    history = model.fit(pipeline.train_batches(first, config), epochs=2, verbose=0).history
    assert all(np.isfinite(history["loss"]))
    assert all(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


@pytest.mark.slow
def test_finetune_smoke_search_on_tiny_cub_reports_both_phases(tmp_path):
    folder = cub(tmp_path / "cub", "2011")
    proc = run("run_search.py", "--space", "finetune_resnet", "--smoke-test", "--weights", "none",
               "--data-dir", folder, "--storage-path", tmp_path / "results",
               "--num-samples", "2", "--max-epochs", "2", "--image-size", "32")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    experiment = tmp_path / "results" / "finetune_resnet"
    trials = report_csv(experiment / "report" / "trials.csv")
    for column in ["head", "phase1_epochs", "unfreeze", "finetune_lr_ratio", "flip", "zoom",
                   "rotation", "val_accuracy", "test_accuracy"]:
        assert column in trials.columns, column
    assert len(trials) == 2 and trials["test_accuracy"].notna().all()
    # The reports' settings ran first: 002's whole-net fine-tuning (phase 2 from epoch 0) and
    # 000's frozen head, its 20 head epochs cut to 1 so that phase 2 runs in a 2-epoch trial.
    assert sorted(trials["phase1_epochs"]) == [0, 1]
    searched = json.loads((experiment / "search.json").read_text())["distributions"]
    assert json.loads(searched["phase1_epochs"])["attributes"]["high"] == 1
    best = json.loads((experiment / "best_test.json").read_text())
    row = trials[trials["trial_id"] == best["trial_id"]].iloc[0]
    assert 0.0 <= best["test_accuracy"] <= 1.0
    assert best["test_accuracy"] == pytest.approx(row["test_accuracy"])
    # The ensemble (both trials, the best first) rebuilds transfer models from their checkpoints.
    assert best["ensemble"]["trial_ids"][0] == best["trial_id"]
    assert sorted(best["ensemble"]["trial_ids"]) == sorted(trials["trial_id"])
    assert 0.0 <= best["ensemble"]["test_accuracy"] <= 1.0
    assert json.loads((experiment / "search.json").read_text())["image_size"] == 32
    assert "0.5417" in (experiment / "report" / "best.md").read_text()


@pytest.mark.slow
def test_backbone_weights_from_a_file(tmp_path):
    """--weights FILE: the backbone loads a saved no-top backbone (here MobileNet's own, saved)."""
    keras.utils.set_random_seed(1)
    source = keras.applications.MobileNet(include_top=False, weights=None, input_shape=SMALL)
    path = tmp_path / "mobilenet_no_top.weights.h5"
    source.save_weights(path)
    model = models.build(_config(model="mobilenet_cifar10", weights=str(path)), SMALL, 10)
    for a, b in zip(model.get_layer("backbone").get_weights(), source.get_weights()):
        assert np.array_equal(a, b)


@pytest.mark.slow
def test_a_weights_file_is_checked_by_loading_it_into_the_backbone(tmp_path, capsys):
    """--weights FILE before Ray: not HDF5, or another backbone's weights, is one line and exit
    2 (every trial used to fail, and the search exit 0); a file that fits passes."""
    import run_search

    keras.utils.set_random_seed(1)
    mobilenet = tmp_path / "mobilenet_no_top.weights.h5"
    keras.applications.MobileNet(include_top=False, weights=None,
                                 input_shape=SMALL).save_weights(mobilenet)
    notes = tmp_path / "notes.h5"
    notes.write_text("not weights")
    weights.check_weights("mobilenet_cifar10", str(mobilenet), SMALL)  # it fits
    for space, path, says in [("mobilenet_cifar10", notes, "is not a Keras weights file"),
                              ("resnet_head", mobilenet, "does not fit the resnet50 backbone")]:
        code = run_search.main(["--space", space, "--dataset", "digits", "--weights", str(path),
                                "--storage-path", str(tmp_path / "results")])
        error = capsys.readouterr().err
        assert code == 2 and error.count("\n") == 1 and says in error, error
        assert f"--weights {path}" in error
    assert not list(tmp_path.glob("results/*/trial_*"))


@pytest.mark.parametrize("model, name", [
    ("nasnet_mobile_head", "nasnet_mobile_no_top.h5"),          # Keras publishes its md5
    ("mobilenet_cifar10", "mobilenet_1_0_224_tf_no_top.h5"),  # it does not: HDF5 check
])
@pytest.mark.parametrize("damage", [b"", b"<html>502 Bad Gateway</html>", b"\x89HDF\r\n\x1a\n"])
def test_a_damaged_weights_file_in_the_keras_cache_is_one_line_not_a_traceback(
        offline_keras_home, model, name, damage):
    (offline_keras_home / "models" / name).write_bytes(damage)
    with pytest.raises(DataError) as error:
        weights.check_weights(model, "imagenet", (32, 32, 3))
    message = str(error.value)
    assert "\n" not in message and name in message and "--weights none" in message
