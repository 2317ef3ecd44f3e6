"""The tf.data pipeline: statistics from train only, augmentation on train only, ZCA decorrelates,
conversion to the model's native input, and a model trained on what it yields."""

from __future__ import annotations

import os

import numpy as np
import pytest
import tensorflow as tf

from trainables import models, pipeline, train
from trainables.data import Data


def _data(x_train, y_train=None, x_eval=None, num_classes=10, name="tiny"):
    """Data whose val and test are `x_eval` (the training images when not given)."""
    y_train = np.arange(len(x_train), dtype=np.int32) if y_train is None else y_train
    x_eval = x_train if x_eval is None else x_eval
    y_eval = np.arange(len(x_eval), dtype=np.int32) % num_classes
    return Data(name, x_train, y_train, x_eval, y_eval, x_eval, y_eval, num_classes)


def _random_images(n, shape=(32, 32, 3), seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, *shape), dtype=np.uint8)


def _collect(ds):
    """All batches of a dataset: (images, labels) as numpy."""
    xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in ds])
    return np.concatenate(xs), np.concatenate(ys)


def _epoch_by_label(ds):
    """One epoch, reordered by label (the labels are unique ids in these tests)."""
    x, y = _collect(ds)
    return x[np.argsort(y)], np.sort(y)


# --- normalisation --------------------------------------------------------------------------

def test_featurewise_statistics_come_from_the_training_split_only():
    rng = np.random.default_rng(1)
    x_train = rng.integers(0, 120, (300, 32, 32, 3), dtype=np.uint8)  # dark training images
    x_eval = np.full((40, 32, 32, 3), 230, np.uint8)                   # bright constant val/test
    data = _data(x_train, x_eval=x_eval)
    config = {"model": "basenet", "batch_size": 32, "normalize": "featurewise"}

    scaled = x_train.astype(np.float64) / 255
    mean, std = scaled.mean(axis=(0, 1, 2)), scaled.std(axis=(0, 1, 2))
    for split in ("val", "test"):
        x, _ = _collect(pipeline.eval_batches(data, split, config))
        expected = (230 / 255 - mean) / (std + pipeline.STD_EPSILON)
        assert np.allclose(x, expected.astype(np.float32), atol=1e-4)  # train's mean and std

    x, _ = _collect(pipeline.train_batches(data, config))
    x = x.astype(np.float64)  # float32 sums over 300k values are off by 1e-4
    assert np.allclose(x.mean(axis=(0, 1, 2)), 0, atol=1e-4)
    assert np.allclose(x.std(axis=(0, 1, 2)), 1, atol=1e-4)


def test_statistics_are_fitted_once_per_content_and_refitted_for_another_training_split():
    x = _random_images(64, seed=2)
    first = pipeline._featurewise_stats(x, (32, 32, 3))
    assert pipeline._featurewise_stats(x.copy(), (32, 32, 3)) is first  # same content: memoised
    other = pipeline._featurewise_stats(x[:32].copy(), (32, 32, 3))    # a fold: its own
    assert other is not first and not np.allclose(other[0], first[0])


def _correlated_images(n, shape=(6, 6, 3), seed=3):
    """Images with strongly correlated pixels: 6 shared latent factors plus pixel noise (its
    variance, 0.014 on the [0, 1] scale, well above ZCA_EPSILON: whitened variance 0.93)."""
    rng = np.random.default_rng(seed)
    d = int(np.prod(shape))
    latent = rng.normal(size=(n, 6)) @ rng.normal(size=(6, d))
    x = 128 + 16 * latent + rng.normal(scale=30, size=(n, d))
    return np.clip(np.rint(x), 0, 255).astype(np.uint8).reshape(n, *shape)


def test_zca_decorrelates_the_training_images():
    x_train = _correlated_images(4000)
    data = _data(x_train)
    before = np.corrcoef(x_train.reshape(len(x_train), -1), rowvar=False)
    off = ~np.eye(len(before), dtype=bool)
    assert np.abs(before[off]).max() > 0.5  # strongly correlated to start with

    x, _ = _collect(pipeline.train_batches(data, {"batch_size": 256, "normalize": "zca"}))
    cov = np.cov(x.reshape(len(x), -1), rowvar=False)
    assert np.abs(cov[off]).max() < 0.05
    assert np.allclose(np.diag(cov), 1, atol=0.1)  # unit variance where the data has variance


def test_zca_applies_the_matrix_fitted_on_train_to_val_and_test():
    x_train = _correlated_images(2000)
    x_eval = np.full((10, 6, 6, 3), 200, np.uint8)
    data = _data(x_train, x_eval=x_eval)
    scaled = x_train.reshape(len(x_train), -1, 3).astype(np.float64) / 255
    mean = scaled.mean(axis=(0, 1))
    centred = (scaled - mean).reshape(len(x_train), -1)
    eigenvalues, u = np.linalg.eigh(centred.T @ centred / len(centred))
    w = (u / np.sqrt(eigenvalues + pipeline.ZCA_EPSILON)) @ u.T
    expected = ((np.full((6, 6, 3), 200 / 255) - mean).reshape(1, -1) @ w).reshape(6, 6, 3)

    x, _ = _collect(pipeline.eval_batches(data, "test", {"batch_size": 4, "normalize": "zca"}))
    assert np.allclose(x, expected[None], atol=1e-3)


def test_zca_on_large_images_is_refused():
    data = _data(_random_images(4, (64, 64, 3)))
    with pytest.raises(ValueError, match="featurewise"):
        pipeline.train_batches(data, {"batch_size": 2, "normalize": "zca"})


def test_unknown_normalization_is_an_error():
    with pytest.raises(ValueError, match="normalize must be one of"):
        pipeline.train_batches(_data(_random_images(4)), {"batch_size": 2, "normalize": "pca"})


# --- augmentation ---------------------------------------------------------------------------

AUGMENT = {"model": "basenet", "batch_size": 16, "flip": True, "zoom": 0.2, "rotation": 15,
           "seed": 7}


def test_augmentation_changes_training_batches_every_epoch_and_reproducibly():
    x = _random_images(64, seed=4)
    data = _data(x)
    plain, labels = _epoch_by_label(pipeline.train_batches(data, {"batch_size": 16}))
    assert np.array_equal(labels, np.arange(64)) and np.allclose(plain, x / 255, atol=1e-6)

    ds = pipeline.train_batches(data, AUGMENT)
    first, _ = _epoch_by_label(ds)
    second, _ = _epoch_by_label(ds)
    changed = [not np.allclose(a, b, atol=1e-3) for a, b in zip(first, plain)]
    assert all(changed)                          # every image transformed
    assert not np.allclose(first, second)        # new draws each epoch
    again, _ = _epoch_by_label(pipeline.train_batches(data, AUGMENT))
    assert np.array_equal(first, again)          # the same seed, the same epoch


@pytest.mark.parametrize("batch_size", [32, 64, 256, 300])
def test_augmenting_in_chunks_keeps_every_batch_and_compiles_once(batch_size):
    """The augmentation runs on chunks of 256 images (32x32x3) whatever the batch size: the
    batches a trial trains on hold the same images in the same order as without augmentation
    (only the transforms differ), Keras sees how many there are, and every batch size up to the
    chunk shares one compiled function. Settings that are off are the identity, exactly."""
    x = _random_images(1000, seed=8)
    data = _data(x, y_train=np.arange(1000, dtype=np.int32))
    assert pipeline.augment_chunk((32, 32, 3), batch_size) == max(256, batch_size)
    pipeline._AUGMENT_FNS.clear()
    plain = pipeline.train_batches(data, {"batch_size": batch_size, "seed": 3})
    augmented = pipeline.train_batches(data, {"batch_size": batch_size, "seed": 3, "zoom": 0.1})
    off = pipeline.train_batches(data, {"batch_size": batch_size, "seed": 3, "zoom": 1e-9})
    assert augmented.cardinality().numpy() == plain.cardinality().numpy() == -(-1000 // batch_size)
    for (xp, yp), (xa, ya), (xo, _) in zip(plain, augmented, off):
        assert np.array_equal(yp.numpy(), ya.numpy())      # the same images, in the same order
        assert not np.allclose(xp.numpy(), xa.numpy(), atol=1e-3)
        assert np.allclose(xp.numpy(), xo.numpy(), atol=1e-5)  # a zoom of 1e-9: no change
    assert len(pipeline._AUGMENT_FNS) == 1
    identity = pipeline._augment(tf.constant(x[:10]), tf.constant([1, 2], tf.int64),
                                 tf.constant([1 / 255] * 3), tf.constant([0.0] * 3),
                                 False, 0.0, 0.0, 256)
    np.testing.assert_array_equal(identity.numpy(), (x[:10] * np.float32(1 / 255)))


def test_val_and_test_are_never_augmented():
    x = _random_images(40, seed=5)
    data = _data(x)
    for split in ("val", "test"):
        augmented, _ = _collect(pipeline.eval_batches(data, split, AUGMENT))
        plain, _ = _collect(pipeline.eval_batches(data, split, {"batch_size": 16}))
        assert np.array_equal(augmented, plain)
        assert np.allclose(plain, x / 255, atol=1e-6)  # in order, untouched


def test_flip_alone_mirrors_about_half_of_the_images_exactly():
    x = _random_images(200, seed=6)
    data = _data(x)
    out, _ = _epoch_by_label(pipeline.train_batches(data, {"batch_size": 50, "flip": True}))
    same = [np.allclose(o, i / 255, atol=1e-6) for o, i in zip(out, x)]
    mirrored = [np.allclose(o, i[:, ::-1] / 255, atol=1e-6) for o, i in zip(out, x)]
    assert all(s or m for s, m in zip(same, mirrored))
    assert 60 < sum(mirrored) < 140


def test_zoom_and_rotation_fill_edges_with_the_nearest_pixel():
    x = np.full((32, 32, 32, 3), 90, np.uint8)  # a constant image stays constant: no black edges
    out, _ = _collect(pipeline.train_batches(_data(x), {"batch_size": 8, "zoom": 0.5,
                                                        "rotation": 45}))
    assert np.allclose(out, 90 / 255, atol=1e-5)


def test_zoom_magnifies_and_shrinks():
    """A centred square keeps its centre; its size changes with the zoom drawn."""
    x = np.zeros((64, 32, 32, 1), np.uint8)
    x[:, 12:20, 12:20] = 255
    out, _ = _collect(pipeline.train_batches(_data(x), {"batch_size": 64, "zoom": 0.4}))
    assert np.all(out[:, 15:17, 15:17] > 0.9)
    areas = (out > 0.5).sum(axis=(1, 2, 3))
    assert areas.min() < 64 * 0.8 and areas.max() > 64 * 1.2


# --- conversion to the model's native input -------------------------------------------------

def test_grey_images_become_rgb_at_32x32_for_a_cifar_model():
    x = np.full((20, 28, 28, 1), 100, np.uint8)
    x[:, :14] = 200
    data = _data(x)
    out, _ = _collect(pipeline.train_batches(data, {"model": "mired_v5", "batch_size": 8}))
    assert out.shape == (20, 32, 32, 3)
    assert np.array_equal(out[..., 0], out[..., 1]) and np.array_equal(out[..., 0], out[..., 2])
    assert np.isclose(out[0, 0, 0, 0], 200 / 255) and np.isclose(out[0, -1, -1, 0], 100 / 255)
    model = train.compiled_model({"model": "mired_v5", "optimizer": "adam",
                                  "learning_rate": 1e-3, "batch_size": 8}, data)
    assert model.input_shape == (None, 32, 32, 3)


def test_rgb_images_become_grey_at_28x28_by_luminance_for_a_fashion_model():
    x = np.zeros((10, 32, 32, 3), np.uint8)
    x[..., 0] = 255  # pure red
    data = _data(x)
    for batches in (pipeline.train_batches(data, {"model": "fashion_cnn", "batch_size": 4}),
                    pipeline.eval_batches(data, "val", {"model": "fashion_mlp", "batch_size": 4})):
        out, _ = _collect(batches)
        assert out.shape == (10, 28, 28, 1)
        assert np.allclose(out, round(0.299 * 255) / 255, atol=1e-6)
    assert models.input_shape("fashion_cnn", data.input_shape) == (28, 28, 1)


def test_native_shape_data_passes_unchanged_and_digits_trains_fashion_mlp(digits):
    data = digits
    config = {"model": "fashion_mlp", "optimizer": "adam", "learning_rate": 1e-3,
              "batch_size": 64, "dropout": 0.0, "normalize": "featurewise", "flip": True,
              "zoom": 0.2, "rotation": 15, "seed": 0}
    model = train.compiled_model(config, data)
    assert model.input_shape == (None, 28, 28, 1)
    history = model.fit(pipeline.train_batches(data, config), epochs=3, verbose=0,
                        validation_data=pipeline.eval_batches(data, "val", config)).history
    assert history["val_accuracy"][-1] > 0.5  # it learns from converted, augmented digits
    assert pipeline._converted(data.x_val, (32, 32, 3)) is data.x_val


def test_tf_data_uses_a_private_pool_sized_to_the_trials_cpus_and_no_autotuner():
    data = _data(_random_images(8))
    expected = tf.config.threading.get_intra_op_parallelism_threads() or os.cpu_count()
    for ds in (pipeline.train_batches(data, {"batch_size": 4}),
               pipeline.eval_batches(data, "val", {"batch_size": 4})):
        assert ds.options().threading.private_threadpool_size == expected
        # tf.data's autotuner costs a one-core trial about 0.1 s an epoch (docs/benchmarks.md)
        assert ds.options().autotune.enabled is False


def test_a_split_too_big_to_keep_converted_is_converted_per_batch_the_same_way(monkeypatch):
    x = _random_images(50, (28, 28, 1), seed=8)
    data = _data(x)
    config = {"model": "basenet", "batch_size": 16, "normalize": "featurewise"}
    kept, _ = _collect(pipeline.eval_batches(data, "val", config))
    stats = pipeline._featurewise_stats(x, (32, 32, 3))
    monkeypatch.setattr(pipeline, "CONVERT_ONCE_MAX_BYTES", 0)
    pipeline._MEMO.clear()
    streamed, _ = _collect(pipeline.eval_batches(data, "val", config))
    assert streamed.shape == (50, 32, 32, 3) and np.allclose(streamed, kept, atol=1e-5)
    assert np.allclose(pipeline._featurewise_stats(x, (32, 32, 3))[1], stats[1])
    assert not any(key[0] == "converted" for key in pipeline._MEMO)  # nothing big kept


def test_featurewise_statistics_of_image_files_come_from_the_training_files(tmp_path):
    from trainables.images import ImageFiles
    rng = np.random.default_rng(9)
    paths = {}
    for split, n, low, high in (("train", 12, 0, 100), ("val", 3, 200, 201)):
        paths[split] = []
        for i in range(n):
            image = rng.integers(low, high, (40, 48, 3), dtype=np.uint8)
            path = tmp_path / f"{split}{i}.png"
            path.write_bytes(tf.io.encode_png(image).numpy())
            paths[split].append(str(path))
    x_train, x_val = np.array(paths["train"]), np.array(paths["val"])
    y_train, y_val = np.arange(12, dtype=np.int32) % 3, np.arange(3, dtype=np.int32)
    data = ImageFiles("files", x_train, y_train, x_val, y_val, x_val, y_val, 3, image_size=32)
    config = {"model": "basenet", "batch_size": 4, "normalize": "featurewise"}
    train_x, _ = _collect(pipeline.train_batches(data, config))
    assert train_x.shape == (12, 32, 32, 3)
    train_x = train_x.astype(np.float64)
    assert np.allclose(train_x.mean(axis=(0, 1, 2)), 0, atol=1e-4)
    assert np.allclose(train_x.std(axis=(0, 1, 2)), 1, atol=1e-3)
    val_x, _ = _collect(pipeline.eval_batches(data, "val", config))
    mean, std = pipeline._featurewise_stats(x_train, (32, 32, 3))
    assert np.allclose(val_x, (200 / 255 - mean) / (std + pipeline.STD_EPSILON), atol=1e-4)
    assert mean.max() < 100 / 255  # the dark training files, not the bright validation ones


def test_affine_sampling_matches_tensorflows_projective_transform():
    """The XLA-friendly sampler reads the same pixels as ImageProjectiveTransformV3 (bilinear,
    nearest fill) for the transforms the augmentation draws."""
    x = tf.constant(_random_images(16, seed=10).astype(np.float32))
    transforms = pipeline._random_transforms(16, tf.constant([3, 4], tf.int64), 32, 32,
                                             True, 0.3, 30.0)
    ours = pipeline._affine_bilinear(x, transforms)
    theirs = tf.raw_ops.ImageProjectiveTransformV3(
        images=x, transforms=tf.concat([transforms, tf.zeros([16, 2])], axis=1),
        output_shape=[32, 32], fill_value=0.0, interpolation="BILINEAR", fill_mode="NEAREST")
    assert np.allclose(ours.numpy(), theirs.numpy(), atol=0.05)  # of 255
