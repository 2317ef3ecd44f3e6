"""Model builders and optimizers: exact architectures, output shapes, one real training step."""

import numpy as np
import pytest

from trainables import models, optimizers


def _step_changes_weights(model, optimizer_name, learning_rate=None):
    rng = np.random.default_rng(0)
    shape = model.input_shape[1:]
    x = rng.random((16, *shape), dtype=np.float32)
    y = rng.integers(0, model.output_shape[-1], 16)
    lr = learning_rate or optimizers.DEFAULT_LEARNING_RATES[optimizer_name]
    model.compile(optimizer=optimizers.make(optimizer_name, lr),
                  loss="sparse_categorical_crossentropy")
    before = [w.copy() for w in model.get_weights()]
    model.train_on_batch(x, y)
    return any(not np.allclose(a, b) for a, b in zip(before, model.get_weights()))


@pytest.mark.parametrize("name", optimizers.NAMES)
def test_every_optimizer_builds_and_one_step_changes_the_weights(name):
    model = models.build({"model": "basenet", "dropout": 0.0}, (32, 32, 3), 10)
    assert _step_changes_weights(model, name)


def test_sgd_is_the_reports_nesterov_momentum_with_decay():
    sgd = optimizers.make("sgd", 0.01)
    assert sgd.momentum == 0.9 and sgd.nesterov
    assert float(sgd.learning_rate) == pytest.approx(0.01)  # at step 0


def test_unknown_optimizer_is_an_error():
    with pytest.raises(ValueError, match="unknown optimizer 'lion'"):
        optimizers.make("lion", 0.1)


def test_basenet_is_exact():
    """C(6,5) relu, P, C(16,5) relu, P, F (400), FC(50) relu, FC(classes)."""
    model = models.build({"model": "basenet", "dropout": 0.0}, (32, 32, 3), 25)
    convs = [l for l in model.layers if l.__class__.__name__ == "Conv2D"]
    assert [(c.filters, c.kernel_size) for c in convs] == [(6, (5, 5)), (16, (5, 5))]
    flatten = next(l for l in model.layers if l.__class__.__name__ == "Flatten")
    assert flatten.output.shape[-1] == 400
    dense = [l.units for l in model.layers if l.__class__.__name__ == "Dense"]
    assert dense == [50, 25]
    # (5*5*3+1)*6 + (5*5*6+1)*16 + (400+1)*50 + (50+1)*25
    assert model.count_params() == 456 + 2416 + 20050 + 1275


@pytest.mark.parametrize("name", ["basenet_bn_before", "basenet_bn_after"])
def test_basenet_batchnorm_variants_place_bn_as_named(name):
    model = models.build({"model": name, "dropout": 0.0}, (32, 32, 3), 10)
    kinds = [l.__class__.__name__ for l in model.layers
             if l.__class__.__name__ in ("Conv2D", "BatchNormalization", "Activation")]
    pair = ["BatchNormalization", "Activation"] if name.endswith("before") else \
        ["Activation", "BatchNormalization"]
    assert kinds == ["Conv2D", *pair] * 2


def test_unknown_model_is_an_error():
    with pytest.raises(ValueError, match="unknown model"):
        models.build({"model": "alexnet"}, (32, 32, 3), 10)
