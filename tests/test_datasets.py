"""Loaders on tiny files in the real on-disk formats, placed where Keras's cache keeps them.

Each test writes a miniature CIFAR-100 / CIFAR-10 archive (pickled dicts inside a tar.gz) or
Fashion-MNIST idx .gz files into a temporary $KERAS_HOME/datasets, then loads it with the
suite's loader. Corrupt, truncated or missing files must raise DataError with one line.
"""

from __future__ import annotations

import numpy as np
import pytest

from standins import cifar100, cifar10, cifar_batch, cifar_rows, fashion_mnist, idx, tgz
from trainables import datasets
from trainables.data import DataError


# --- the real formats, written by tests/standins.py ------------------------------------

def _hwc(rows):
    return rows.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)


def _as_set(images):
    return {image.tobytes() for image in images}


@pytest.fixture
def cache(offline_keras_home):
    """The datasets folder of an empty Keras cache with no way to download anything
    (conftest's offline_keras_home)."""
    return offline_keras_home / "datasets"


def _one_line(error):
    message = str(error.value)
    assert message and "\n" not in message
    return message


# --- CIFAR-100 (25 classes) -----------------------------------------------------------------

@pytest.mark.parametrize("archive_name", ["cifar-100-python-target_archive",  # Keras's download
                                          "cifar-100-python.tar.gz"])          # placed by hand
def test_cifar100_25_loads_the_archive_keeping_classes_0_to_24(cache, archive_name):
    archive, x_train, y_train, x_test, y_test = cifar100(10, 2, 30)
    (cache / archive_name).write_bytes(archive)
    data = datasets.load("cifar100_25")

    assert data.num_classes == 25 and data.input_shape == (32, 32, 3)
    assert data.x_train.dtype == np.uint8 and data.y_train.dtype == np.int32
    keep = y_train < 25
    assert len(data.x_train) + len(data.x_val) == keep.sum() == 250
    assert len(data.x_val) == 25  # 10% held out, stratified: one per class
    assert sorted(data.y_val) == list(range(25))
    # The same images, channel-last, with their own labels.
    assert _as_set(data.x_train) | _as_set(data.x_val) == _as_set(_hwc(x_train[keep]))
    by_image = {image.tobytes(): label for image, label in zip(_hwc(x_train), y_train)}
    assert all(by_image[image.tobytes()] == label for image, label in zip(data.x_train, data.y_train))
    assert _as_set(data.x_test) == _as_set(_hwc(x_test[y_test < 25]))
    assert set(data.y_test) == set(range(25))


def test_cifar100_extracted_folder_is_reused_without_the_archive(cache):
    archive, *_ = cifar100(10, 2, 30)
    (cache / "cifar-100-python-target_archive").write_bytes(archive)
    first = datasets.load("cifar100_25")
    (cache / "cifar-100-python-target_archive").unlink()
    second = datasets.load("cifar100_25")
    assert np.array_equal(first.x_train, second.x_train)  # the split is fixed


@pytest.mark.parametrize("damage", ["truncated", "not an archive"])
def test_broken_cifar100_archive_is_a_one_line_data_error_every_time(cache, damage):
    archive, *_ = cifar100(10, 2, 30)
    broken = archive[: len(archive) // 2] if damage == "truncated" else b"<html>404</html>"
    (cache / "cifar-100-python-target_archive").write_bytes(broken)
    for _ in range(2):  # a failed extraction leaves nothing behind that the next run trusts
        with pytest.raises(DataError) as error:
            datasets.load("cifar100_25")
        assert "cifar-100-python-target_archive" in _one_line(error)
        assert "truncated" in str(error.value) or "corrupt" in str(error.value)


def test_corrupt_batch_inside_a_valid_cifar100_archive_is_a_data_error(cache):
    archive, x_train, y_train, *_ = cifar100(10, 2, 30)
    bad = tgz({"cifar-100-python/train": cifar_batch(x_train, y_train, b"fine_labels")[:200],
                   "cifar-100-python/test": b"not a pickle"})
    (cache / "cifar-100-python-target_archive").write_bytes(bad)
    with pytest.raises(DataError) as error:
        datasets.load("cifar100_25")
    assert "train" in _one_line(error)


def test_archive_without_the_cifar_folder_is_a_data_error(cache):
    (cache / "cifar-100-python-target_archive").write_bytes(tgz({"other/file": b"x"}))
    with pytest.raises(DataError) as error:
        datasets.load("cifar100_25")
    assert "cifar-100-python" in _one_line(error)


def test_missing_cifar100_and_no_network_is_a_data_error_saying_where_to_put_it(cache):
    with pytest.raises(DataError) as error:
        datasets.load("cifar100_25")
    message = _one_line(error)
    # the file the URL gives, by the name it has there (Keras's own archive name also loads)
    assert f"download cifar-100-python.tar.gz yourself and put it in {cache}" in message
    assert not [p for p in cache.iterdir() if p.suffix != ".lock"]  # no partial download left


# --- CIFAR-10 -------------------------------------------------------------------------------

def test_cifar10_loads_all_five_training_batches_and_the_test_batch(cache):
    archive, x_train, y_train, x_test, y_test = cifar10(50, 20)
    (cache / "cifar-10-batches-py-target_archive").write_bytes(archive)
    data = datasets.load("cifar10")
    assert data.num_classes == 10 and data.input_shape == (32, 32, 3)
    assert len(data.x_train) == 225 and len(data.x_val) == 25 and len(data.x_test) == 20
    assert _as_set(data.x_train) | _as_set(data.x_val) == _as_set(_hwc(x_train))
    assert np.array_equal(data.x_test, _hwc(x_test)) and np.array_equal(data.y_test, y_test)


def test_cifar10_batch_with_wrong_sizes_is_a_data_error(cache):
    members = {f"cifar-10-batches-py/data_batch_{i}": cifar_batch(cifar_rows(np.arange(10) % 10, 10, i), np.arange(10) % 10,
                                                               b"labels") for i in range(1, 6)}
    members["cifar-10-batches-py/test_batch"] = cifar_batch(cifar_rows(np.arange(10), 10, 9)[:, :1000], np.arange(10),
                                                         b"labels")
    (cache / "cifar-10-batches-py-target_archive").write_bytes(tgz(members))
    with pytest.raises(DataError) as error:
        datasets.load("cifar10")
    assert "test_batch" in _one_line(error)


def test_cifar10_missing_batch_is_a_data_error(cache):
    archive, *_ = cifar10(50, 20)
    (cache / "cifar-10-batches-py-target_archive").write_bytes(archive)
    datasets.load("cifar10")
    (cache / "cifar-10-batches-py-target" / "cifar-10-batches-py" / "data_batch_3").unlink()
    with pytest.raises(DataError) as error:
        datasets.load("cifar10")
    assert "data_batch_3" in _one_line(error)


# --- Fashion-MNIST --------------------------------------------------------------------------

def test_fashion_mnist_reads_the_four_idx_files(cache):
    arrays = fashion_mnist(cache / "fashion-mnist", 100, 20)
    data = datasets.load("fashion_mnist")
    assert data.input_shape == (28, 28, 1) and data.num_classes == 10
    assert len(data.x_train) == 90 and len(data.x_val) == 10
    assert _as_set(data.x_train[..., 0]) | _as_set(data.x_val[..., 0]) == _as_set(arrays["train"][0])
    assert np.array_equal(data.x_test[..., 0], arrays["t10k"][0])
    assert np.array_equal(data.y_test, arrays["t10k"][1])


@pytest.mark.parametrize("name", ["train-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"])
def test_truncated_fashion_mnist_file_is_a_one_line_data_error(cache, name):
    fashion_mnist(cache / "fashion-mnist", 100, 20, truncate=name)
    with pytest.raises(DataError) as error:
        datasets.load("fashion_mnist")
    assert name in _one_line(error)


def test_fashion_mnist_images_and_labels_that_disagree_are_a_data_error(cache):
    folder = cache / "fashion-mnist"
    fashion_mnist(folder, 100, 20)
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(idx("labels", np.arange(7)))
    with pytest.raises(DataError) as error:
        datasets.load("fashion_mnist")
    assert "t10k-images-idx3-ubyte.gz" in _one_line(error)


def test_fashion_mnist_file_that_is_not_gzip_is_a_data_error(cache):
    folder = cache / "fashion-mnist"
    fashion_mnist(folder, 100, 20)
    (folder / "train-labels-idx1-ubyte.gz").write_bytes(b"<html>not found</html>")
    with pytest.raises(DataError) as error:
        datasets.load("fashion_mnist")
    assert "train-labels-idx1-ubyte.gz" in _one_line(error)


def test_missing_fashion_mnist_and_no_network_is_a_data_error(cache):
    with pytest.raises(DataError) as error:
        datasets.load("fashion_mnist")
    assert "fashion-mnist" in _one_line(error)


# --- the command line -----------------------------------------------------------------------

def test_search_on_a_truncated_archive_exits_2_with_one_line(cache, tmp_path, run_search_main):
    archive, *_ = cifar100(10, 2, 30)
    (cache / "cifar-100-python-target_archive").write_bytes(archive[: len(archive) // 3])
    code, error = run_search_main("--space", "basenet", "--storage-path", tmp_path / "results")
    assert code == 2, error[-2000:]
    lines = error.strip().splitlines()
    assert len(lines) == 1, error
    assert "cifar-100-python-target_archive" in lines[0]
    assert not (tmp_path / "results" / "basenet").exists()  # stopped before any trial


def test_digits_are_scikit_learns_own_upscaled_and_split_60_20_20_by_class():
    """The images and labels are sklearn.datasets.load_digits', upscaled to 32x32x3 and split
    60/20/20 with every class in every split, in the proportions of the whole."""
    from scipy.ndimage import zoom
    from sklearn.datasets import load_digits as sk_digits

    from trainables.loaders import load_digits
    data, bunch = load_digits(), sk_digits()
    assert data.summary().startswith("digits: 1077 train / 360 val / 360 test, shape (32, 32, 3)")
    x = np.concatenate([data.x_train, data.x_val, data.x_test])
    y = np.concatenate([data.y_train, data.y_val, data.y_test])
    assert x.shape == (1797, 32, 32, 3) and x.dtype == np.uint8
    assert np.array_equal(np.sort(y), np.sort(bunch.target))
    upscaled = zoom(bunch.images[0].astype(np.float32) * (255.0 / 16.0), 4, order=1,
                    grid_mode=True, mode="nearest")
    expected = np.clip(np.rint(upscaled), 0, 255).astype(np.uint8)
    matches = [i for i in range(len(x)) if np.array_equal(x[i, :, :, 0], expected)]
    assert matches and all(y[i] == bunch.target[0] for i in matches)
    whole = np.bincount(bunch.target) / len(bunch.target)
    for split in (data.y_train, data.y_val, data.y_test):
        assert np.abs(np.bincount(split, minlength=10) / len(split) - whole).max() < 0.01


def test_holdout_is_stratified_and_falls_back_to_a_plain_split_for_tiny_subsets():
    """`fraction` of the samples (rounded up) on side b, each class in its share; the same seed,
    the same split; a subset too small to stratify still splits."""
    from trainables.data import holdout

    y = np.repeat(np.arange(25), 500).astype(np.int32)
    x = np.arange(len(y))
    x_a, y_a, x_b, y_b = holdout(x, y, 0.1)
    assert len(x_b) == 1250 and set(np.bincount(y_b)) == {50}
    assert np.array_equal(y[x_a], y_a) and not set(x_a) & set(x_b)
    assert np.array_equal(holdout(x, y, 0.1)[2], x_b)
    assert not np.array_equal(holdout(x, y, 0.1, seed=1)[2], x_b)
    x_a, y_a, x_b, y_b = holdout(np.arange(3), np.array([0, 1, 1]), 0.25)  # class 0: one sample
    assert len(x_b) == 1 and sorted([*x_a, *x_b]) == [0, 1, 2]
