"""Activation maximisation: PNG grids for a tiny trained checkpoint, by experiment or checkpoint."""

from __future__ import annotations

import json

import numpy as np
import pytest

from analysis import visualize
from conftest import run
from trainables import models
from trainables.train import save_weights



def _experiment(tmp_path, config):
    """An experiment folder as a search leaves it: search.json, one trial, one checkpoint."""
    experiment = tmp_path / "mobilenet_cifar10"
    trial = experiment / "trial_abc"
    checkpoint = trial / "checkpoint_000002"
    checkpoint.mkdir(parents=True)
    (experiment / "search.json").write_text(json.dumps({
        "space": "mobilenet_cifar10", "dataset": "cifar10", "finished": 1.0,
        "budget": {"num_samples": 1, "max_epochs": 2, "grace_period": 1, "reduction_factor": 2}}))
    (trial / "params.json").write_text(json.dumps(config))
    (trial / "result.json").write_text("".join(json.dumps(
        {"trial_id": "abc", "training_iteration": i, "val_accuracy": 0.1 * i, "loss": 1.0,
         "accuracy": 0.1, "val_loss": 1.0}) + "\n" for i in (1, 2)))
    model = models.build(config, (32, 32, 3), 10)
    save_weights(checkpoint / "best.npz", model.get_weights())
    (checkpoint / "state.json").write_text(json.dumps({"epoch": 2, "best_val_accuracy": 0.2}))
    return experiment, checkpoint


@pytest.mark.slow
def test_visualize_writes_png_grids_for_the_last_two_conv_layers(tmp_path):
    config = {"model": "mobilenet_cifar10", "init": "random", "weights": "imagenet",
              "optimizer": "adam", "learning_rate": 1e-4, "batch_size": 32, "dropout": 0.0,
              "seed": 0}
    experiment, checkpoint = _experiment(tmp_path, config)
    assert visualize.resolve(checkpoint)[1] == config
    assert visualize.resolve(experiment)[0] == checkpoint

    proc = run("-m", "analysis.visualize", experiment, "--steps", "2", "--filters", "1")
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = experiment / "report" / "activations"
    pngs = sorted(p.name for p in out.glob("*.png"))
    assert pngs == ["backbone__conv_dw_13.png", "backbone__conv_pw_13.png"], pngs
    for png in out.glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000


@pytest.mark.slow
def test_visualize_chosen_layer_of_a_scratch_model_and_the_ascent_moves_the_image(tmp_path):
    model = models.build({"model": "basenet"}, (32, 32, 3), 10)
    first = visualize.conv_layers(model)[0][0]
    files = visualize.draw(model, [first], tmp_path, filters=1, steps=2)
    assert len(files) == 1 and files[0].is_file()
    path, layer, chain = visualize.conv_layers(model)[-1]
    start = visualize.starting_images((32, 32, 3), None)["sinusoid"]
    moved = visualize.ascend(visualize.activation_fn(model, chain, layer), start, None, steps=3)
    assert moved.shape == start.shape and not np.allclose(moved, start)


@pytest.mark.slow
def test_visualize_bad_target_exits_2(tmp_path):
    proc = run("-m", "analysis.visualize", tmp_path)
    assert proc.returncode == 2 and "neither an experiment folder" in proc.stderr


def test_a_nested_models_layer_is_reached_through_what_the_outer_model_feeds_it():
    """activation_fn through a nested model: the outer model's layers up to the nested model (the
    tensor it is fed, found in the model's config), then the nested model's own."""
    import keras
    inner_input = keras.Input((8, 8, 3))
    conv = keras.layers.Conv2D(4, 3, name="conv")
    inner = keras.Model(inner_input, keras.layers.ReLU()(conv(inner_input)), name="backbone")
    x = keras.Input((8, 8, 3))
    scaled = keras.layers.Rescaling(2.0, -1.0, name="scale")(x)
    shifted = keras.layers.Rescaling(1.0, 0.5, name="shift")(x)  # a layer that does not feed it
    outer = keras.Model(x, [keras.layers.Flatten()(inner(scaled)), shifted])
    path, layer, chain = visualize.conv_layers(outer)[0]
    assert (path, layer, chain) == ("backbone/conv", conv, [outer, inner])
    assert visualize.fed_to(outer, inner) is outer.get_layer("scale").output
    image = np.random.default_rng(0).uniform(size=(1, 8, 8, 3)).astype(np.float32)
    np.testing.assert_allclose(visualize.activation_fn(outer, chain, layer)(image),
                               conv(2.0 * image - 1.0), rtol=1e-6, atol=1e-6)
