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
    """SGD(lr=0.01, momentum=0.9, nesterov=True, decay=1e-6): lr / (1 + 1e-6 * iterations)."""
    sgd = optimizers.make("sgd", 0.01)
    assert sgd.momentum == 0.9 and sgd.nesterov
    schedule = sgd.learning_rate if callable(sgd.learning_rate) else sgd._learning_rate
    assert float(schedule(0)) == pytest.approx(0.01)
    assert float(schedule(100_000)) == pytest.approx(0.01 / 1.1, rel=1e-6)
    assert float(schedule(1_000_000)) == pytest.approx(0.005, rel=1e-6)
    model = models.build({"model": "basenet", "dropout": 0.0}, (32, 32, 3), 10)
    model.compile(optimizer=sgd, loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    model.train_on_batch(rng.random((4, 32, 32, 3), np.float32), rng.integers(0, 10, 4))
    assert int(sgd.iterations) == 1 and float(schedule(sgd.iterations)) < 0.01


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


# --- every from-scratch model -----------------------------------------------------------------

SCRATCH = sorted(n for n in models.builders() if models.backbone_of(n) is None)
CATALOGUE = {  # PRACTICE_MODELS.md, "Models trained from scratch"
    "basenet", "basenet_bn_before", "basenet_bn_after", "basenet_batch_optimized", "basenet21",
    "basenet22", "basenet23", "mired_v1", "mired_v2", "mired_v3", "mired_v4", "mired_v5",
    "mired_bn_v1", "mired_bn_v2", "mired_bn_v3", "fashion_cnn", "fashion_mlp"}
SHAPES = [(32, 32, 3), (28, 28, 1)]  # the datasets' shapes (digits, CIFAR; Fashion-MNIST)
# Inputs a model cannot take (the pipeline feeds it its native shape instead): 28x28 leaves 3x3
# before basenet23's 4x4 pooling.
CANNOT = {("basenet23", (28, 28, 1))}
REPORT_DROPOUT = {"basenet21": 0.4, "basenet22": 0.4, "basenet23": 0.4, "mired_v4": 0.5,
                  "mired_v5": 0.5, "mired_bn_v1": 0.5, "mired_bn_v2": 0.5, "mired_bn_v3": 0.5,
                  "fashion_cnn": 0.25}


def test_every_catalogue_model_has_a_builder():
    assert set(SCRATCH) == CATALOGUE


@pytest.mark.parametrize("data_shape", [(32, 32, 3), (28, 28, 1), (96, 96, 3)])
def test_one_input_shape_per_model_whatever_the_data(data_shape):
    for name in SCRATCH:  # scratch models: their report's shape, whatever the data
        expected = (28, 28, 1) if name.startswith("fashion") else (32, 32, 3)
        assert models.input_shape(name, data_shape) == expected, name
    # Transfer models take the data's own shape, except NASNetMobile's PathMNIST at 224.
    assert models.input_shape("resnet50_finetune", data_shape) == data_shape
    assert models.input_shape("nasnet_mobile_head", data_shape) == (224, 224, 3)
    # Cached backbone features are fed as they are.
    assert models.input_shape("resnet50_extractor_v1", (2048,)) == (2048,)


@pytest.mark.slow
@pytest.mark.parametrize("name", SCRATCH)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_model_builds_on_every_shape_it_can_take_and_one_step_trains_it(name, shape):
    config = {"model": name, "dropout": REPORT_DROPOUT.get(name, 0.2)}
    if (name, shape) in CANNOT:
        assert shape != models.input_shape(name, shape)
        with pytest.raises(ValueError):
            models.build(config, shape, 7)
        return
    model = models.build(config, shape, 7)
    assert model.input_shape == (None, *shape) and model.output_shape == (None, 7)
    assert _step_changes_weights(model, "adam")


def _sequence(model) -> str:
    """The model in the catalogue's notation: C(n,k), P, BN, relu, D(p), F, FC(n), softmax."""
    out = []
    for layer in model.layers:
        kind = layer.__class__.__name__
        if kind == "Conv2D":
            extra = ("" if layer.padding == "valid" else f",{layer.padding}") + \
                ("" if layer.strides == (1, 1) else f",s{layer.strides[0]}")
            out.append(f"C({layer.filters},{layer.kernel_size[0]}{extra})")
        elif kind == "Dense":
            out.append(f"FC({layer.units})")
        elif kind == "MaxPooling2D":
            out.append("P" if layer.pool_size == (2, 2) else f"P{layer.pool_size[0]}")
        elif kind != "Activation":
            out.append({"BatchNormalization": "BN", "Flatten": "F", "InputLayer": None,
                        "Dropout": f"D({getattr(layer, 'rate', 0):g})",
                        "UpSampling2D": "Up", "Add": "Add"}.get(kind, kind))
        activation = getattr(layer, "activation", None)
        name = getattr(activation, "__name__", None)
        if name in ("relu", "softmax"):
            out.append(name)
    return " ".join(t for t in out if t)


def test_basenet_batch_optimized_is_exact():
    """001's code: C(16,3) relu BN, C(32,3) relu BN, P, C(64,3) relu BN, C(128,3) relu BN,
    C(256,3) relu BN, P, F (4x4x256), FC(50) relu, FC(classes)."""
    model = models.build({"model": "basenet_batch_optimized"}, (32, 32, 3), 25)
    assert _sequence(model) == ("C(16,3) relu BN C(32,3) relu BN P C(64,3) relu BN "
                                "C(128,3) relu BN C(256,3) relu BN P F FC(50) relu D(0) "
                                "FC(25) softmax")
    convs = (3 * 9 + 1) * 16 + (16 * 9 + 1) * 32 + (32 * 9 + 1) * 64 + (64 * 9 + 1) * 128 \
        + (128 * 9 + 1) * 256
    bn = 4 * (16 + 32 + 64 + 128 + 256)  # gamma, beta, moving mean, moving variance
    assert model.count_params() == convs + bn + (4 * 4 * 256 + 1) * 50 + (50 + 1) * 25


MIRED_PLAIN = {  # 002's code: filters, kernel, FC units, flatten size on 32x32x3
    "mired_v1": ((16, 26, 36, 46), 5, 50, 2 * 2 * 46),
    "mired_v2": ((32, 64, 128, 256), 5, 512, 2 * 2 * 256),
    "mired_v3": ((32, 64, 128, 256), 3, 512, 5 * 5 * 256),
}


@pytest.mark.parametrize("name", sorted(MIRED_PLAIN))
def test_mired_v1_to_v3_are_exact(name):
    (f0, f1, f2, f3), k, units, flat = MIRED_PLAIN[name]
    model = models.build({"model": name}, (32, 32, 3), 25)
    assert _sequence(model) == (f"C({f0},{k}) relu C({f1},{k}) relu P C({f2},{k}) relu "
                                f"C({f3},{k}) relu P F FC({units}) relu D(0) FC(25) softmax")
    convs = sum((cin * k * k + 1) * cout for cin, cout in ((3, f0), (f0, f1), (f1, f2), (f2, f3)))
    assert model.count_params() == convs + (flat + 1) * units + (units + 1) * 25


def test_mired_v4_is_exact_at_dropout_05():
    model = models.build({"model": "mired_v4", "dropout": 0.5}, (32, 32, 3), 25)
    assert _sequence(model) == ("C(32,3) relu D(0.5) C(64,3) relu P C(64,3) relu D(0.5) "
                                "C(128,3) relu P F FC(512) relu FC(25) softmax")
    convs = (27 + 1) * 32 + (32 * 9 + 1) * 64 + (64 * 9 + 1) * 64 + (64 * 9 + 1) * 128
    assert model.count_params() == convs + (5 * 5 * 128 + 1) * 512 + (512 + 1) * 25


MIRED_V5_CONVS = (27 + 1) * 32 + (32 * 9 + 1) * 64 + (64 * 9 + 1) * 64 + (64 * 9 + 1) * 128
MIRED_V5_DENSE = (3200 + 1) * 512 + (512 + 1) * 256 + (256 + 1) * 25
MIRED_V5 = [  # table 6 of 002; "#" marks where the BN variants put their BN
    "C(32,3) #relu D(0.25) C(64,3) #relu P C(64,3) #relu D(0.25) C(128,3) #relu P F",
    "FC(512) $relu D(0.5) FC(256) $relu D(0.5) FC(25) softmax"]


@pytest.mark.parametrize("name, conv_bn, dense_bn", [
    ("mired_v5", None, None), ("mired_bn_v1", "after", None), ("mired_bn_v2", "after", "after"),
    ("mired_bn_v3", "before", "before")])
def test_mired_v5_and_its_batchnorm_variants_are_exact_at_dropout_05(name, conv_bn, dense_bn):
    model = models.build({"model": name, "dropout": 0.5}, (32, 32, 3), 25)
    place = {None: "relu", "after": "relu BN", "before": "BN relu"}
    expected = MIRED_V5[0].replace("#relu", place[conv_bn]) + " " + \
        MIRED_V5[1].replace("$relu", place[dense_bn])
    assert _sequence(model) == expected
    params = MIRED_V5_CONVS + MIRED_V5_DENSE
    if conv_bn:
        params += 4 * (32 + 64 + 64 + 128)
    if dense_bn:
        params += 4 * (512 + 256)
    assert model.count_params() == params


@pytest.mark.parametrize("n", [512, 2048])
def test_fashion_mlp_is_exact(n):
    model = models.build({"model": "fashion_mlp", "n": n}, (28, 28, 1), 10)
    assert _sequence(model) == f"F FC({n}) relu D(0) FC(10) softmax"
    assert model.count_params() == (784 + 1) * n + (n + 1) * 10


def test_fashion_cnn_follows_the_report_at_dropout_025():
    model = models.build({"model": "fashion_cnn", "dropout": 0.25}, (28, 28, 1), 10)
    assert _sequence(model) == ("C(32,3) relu C(64,3) relu P D(0.25) F FC(600) relu "
                                "FC(120) relu FC(10) softmax")
    convs = (9 + 1) * 32 + (32 * 9 + 1) * 64
    assert model.count_params() == convs + (12 * 12 * 64 + 1) * 600 + (600 + 1) * 120 + \
        (120 + 1) * 10


def test_basenet21_follows_the_reports_words():
    """More filters, BN, one Dropout of 0.4, two 3x3 convs for each 5x5, no penultimate FC."""
    model = models.build({"model": "basenet21", "dropout": 0.4}, (32, 32, 3), 25)
    assert _sequence(model) == ("C(32,3) BN relu C(32,3) BN relu P C(64,3) BN relu "
                                "C(64,3) BN relu P F D(0.4) FC(25) softmax")


def test_basenet22_follows_the_reports_words():
    """One conv more than 2.1, 128-512 filters, UpSampling2D then a stride-2 conv, same padding."""
    model = models.build({"model": "basenet22", "dropout": 0.4}, (32, 32, 3), 25)
    assert _sequence(model) == ("C(128,3,same) BN relu C(128,3,same) BN relu P "
                                "C(256,3,same) BN relu C(256,3,same) BN relu P "
                                "Up C(512,3,same,s2) BN relu P F D(0.4) FC(25) softmax")


def test_basenet23_adds_residual_blocks_and_ends_each_channel_as_one_value():
    model = models.build({"model": "basenet23", "dropout": 0.4}, (32, 32, 3), 25)
    sequence = _sequence(model)
    trunk = models.build({"model": "basenet22", "dropout": 0.4}, (32, 32, 3), 25)
    assert sequence.startswith(_sequence(trunk).split(" F ")[0])  # 2.2 up to its last pooling
    assert sequence.count("Add") == 2 and "C(128,1)" in sequence and "C(128,3,same)" in sequence
    assert sequence.endswith("P4 F D(0.4) FC(25) softmax")
    flatten = next(l for l in model.layers if l.__class__.__name__ == "Flatten")
    assert flatten.output.shape[-1] == 512  # 1x1 per channel


@pytest.mark.parametrize("name, rates", [
    ("mired_v5", [0.1, 0.1, 0.2, 0.2]), ("mired_v4", [0.2, 0.2]), ("basenet", [0.2]),
    ("fashion_cnn", [0.2]), ("basenet21", [0.2])])
def test_dropout_maps_to_the_report_rates_as_documented(name, rates):
    model = models.build({"model": name, "dropout": 0.2}, models.input_shape(name, (32, 32, 3)),
                         10)
    found = [l.rate for l in model.layers if l.__class__.__name__ == "Dropout"]
    assert found == pytest.approx(rates)


# --- exact models: the reports' parameter counts, worked out by hand --------------------------

def _conv(cin, cout, k):
    return (cin * k * k + 1) * cout  # kernel + bias (the reports' Keras default)


def _dense(n_in, n_out):
    return (n_in + 1) * n_out


_BASENET = _conv(3, 6, 5) + _conv(6, 16, 5) + _dense(400, 50) + _dense(50, 25)
_BATCH_OPT = (_conv(3, 16, 3) + _conv(16, 32, 3) + _conv(32, 64, 3) + _conv(64, 128, 3)
              + _conv(128, 256, 3) + _dense(4 * 4 * 256, 50) + _dense(50, 25))
_V5 = (_conv(3, 32, 3) + _conv(32, 64, 3) + _conv(64, 64, 3) + _conv(64, 128, 3)
       + _dense(5 * 5 * 128, 512) + _dense(512, 256) + _dense(256, 25))
_CONV_BN, _DENSE_BN = 32 + 64 + 64 + 128, 512 + 256  # channels normalised in mired_v5's layers
# name: (input, classes, total parameters, trainable parameters). A BatchNormalization layer
# holds 4 numbers per channel, 2 of them (moving mean and variance) not trained.
EXACT = {
    "basenet": ((32, 32, 3), 25, _BASENET, _BASENET),
    "basenet_bn_before": ((32, 32, 3), 25, _BASENET + 4 * 22, _BASENET + 2 * 22),
    "basenet_bn_after": ((32, 32, 3), 25, _BASENET + 4 * 22, _BASENET + 2 * 22),
    "basenet_batch_optimized": ((32, 32, 3), 25, _BATCH_OPT + 4 * 496, _BATCH_OPT + 2 * 496),
    "mired_v1": ((32, 32, 3), 25, _conv(3, 16, 5) + _conv(16, 26, 5) + _conv(26, 36, 5)
                 + _conv(36, 46, 5) + _dense(2 * 2 * 46, 50) + _dense(50, 25), None),
    "mired_v5": ((32, 32, 3), 25, _V5, _V5),
    "mired_bn_v1": ((32, 32, 3), 25, _V5 + 4 * _CONV_BN, _V5 + 2 * _CONV_BN),
    "mired_bn_v2": ((32, 32, 3), 25, _V5 + 4 * (_CONV_BN + _DENSE_BN),
                    _V5 + 2 * (_CONV_BN + _DENSE_BN)),
    "mired_bn_v3": ((32, 32, 3), 25, _V5 + 4 * (_CONV_BN + _DENSE_BN),
                    _V5 + 2 * (_CONV_BN + _DENSE_BN)),
    "fashion_mlp": ((28, 28, 1), 10, _dense(784, 512) + _dense(512, 10), None),
}


@pytest.mark.parametrize("name", sorted(EXACT))
def test_exact_models_have_the_reports_parameter_counts(name):
    shape, classes, total, trainable = EXACT[name]
    model = models.build({"model": name, "dropout": 0.5, "n": 512}, shape, classes)
    assert model.count_params() == total
    counted = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert counted == (trainable if trainable is not None else total)
