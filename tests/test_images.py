"""CUB-200 (2010 and 2011 layouts) and PathMNIST loaders on tiny files in the real formats, the
file-decoding pipeline, and every broken input -> DataError / exit 2 with one clear line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from standins import cub, pathmnist
from trainables import datasets, images, models, pipeline
from trainables.data import DataError


@pytest.mark.parametrize("layout", ["2010", "2011"])
def test_cub_loads_both_layouts_as_paths_with_a_validation_split(tmp_path, layout):
    folder = cub(tmp_path / "cub", layout)
    data = datasets.load("cub200", str(folder))
    assert isinstance(data, images.ImageFiles) and data.num_classes == 3
    assert data.x_train.dtype.kind == "U"  # paths, not pixels
    assert len(data.x_train) + len(data.x_val) == 18 and len(data.x_test) == 6
    assert len(data.x_val) == 2  # 10% of train, rounded up
    assert data.input_shape == (224, 224, 3)
    assert sorted(set(data.y_test.tolist())) == [0, 1, 2]
    for path, label in zip(data.x_test, data.y_test):  # labels follow the class folders
        assert Path(path).parent.name.startswith(f"{label + 1:03d}.")


def test_cub_2011_archive_folder_is_found_one_level_down(tmp_path):
    cub(tmp_path / "CUB_200_2011", "2011")
    assert datasets.load("cub200", str(tmp_path)).num_classes == 3


def test_cub_images_are_decoded_resized_and_scaled_by_the_pipeline(tmp_path):
    data = datasets.load("cub200", str(cub(tmp_path / "cub", "2010")), image_size=40)
    assert data.input_shape == (40, 40, 3)
    config = {"batch_size": 4, "seed": 0, "flip": True, "zoom": 0.2, "rotation": 10.0}
    x, y = next(iter(pipeline.train_batches(data, config)))
    assert x.shape == (4, 40, 40, 3) and x.dtype.name == "float32"
    assert 0.0 <= float(np.min(x)) and float(np.max(x)) <= 1.0 and float(np.max(x)) > 0.5
    batches = list(pipeline.eval_batches(data, "test", {"batch_size": 4, "seed": 0}))
    assert sum(len(b[1]) for b in batches) == 6
    # A model with a native input gets the files decoded at that size.
    assert models.input_shape("nasnet_mobile_head", data.input_shape) == (224, 224, 3)
    x, _ = next(iter(pipeline.eval_batches(data, "test", {"batch_size": 2,
                                                          "model": "nasnet_mobile_head"})))
    assert x.shape == (2, 224, 224, 3)


@pytest.mark.parametrize("damage, message", [
    (lambda f: (f / "lists" / "test.txt").unlink(), "lists/test.txt is missing"),
    (lambda f: (f / "lists").rename(f / "gone"), "neither the 2010 layout"),
    (lambda f: next((f / "images").rglob("*.jpg")).write_bytes(b"not a jpeg"),
     "is not a JPEG or PNG file"),
    (lambda f: (lambda p: p.write_bytes(p.read_bytes()[:200]))(
        sorted((f / "images").rglob("*.jpg"))[3]), "truncated JPEG"),
    (lambda f: sorted((f / "images").rglob("*.jpg"))[5].unlink(), "is missing"),
])
def test_broken_cub_folder_is_a_data_error(tmp_path, damage, message):
    folder = cub(tmp_path / "cub", "2010")
    damage(folder)
    with pytest.raises(DataError, match=message) as e:
        datasets.load("cub200", str(folder))
    assert "\n" not in str(e.value)


def test_broken_cub_2011_lists_are_data_errors(tmp_path):
    folder = cub(tmp_path / "cub", "2011")
    (folder / "train_test_split.txt").unlink()
    with pytest.raises(DataError, match="train_test_split.txt is missing"):
        datasets.load("cub200", str(folder))
    with pytest.raises(DataError, match="is not a folder"):
        datasets.load("cub200", str(tmp_path / "nowhere"))


@pytest.mark.parametrize("args, message", [
    (["--image-size", "16"], "--image-size must be an integer from 32 to 1024 pixels, got 16"),
    (["--image-size", "64", "--dataset", "digits"], "--image-size applies to datasets of image "
                                                    "files"),
])
def test_bad_image_size_is_a_usage_error(tmp_path, args, message, run_search_main):
    code, error = run_search_main("--space", "resnet_head", "--storage-path", tmp_path, *args)
    assert code == 2 and message in error and error.count("\n") == 1, error


def test_pathmnist_loads_medmnist_npz(tmp_path):
    data = datasets.load("pathmnist", str(pathmnist(tmp_path / "med", (20, 6, 6))))
    assert data.num_classes == 9 and data.input_shape == (28, 28, 3)
    assert (len(data.x_train), len(data.x_val), len(data.x_test)) == (20, 6, 6)
    assert data.y_train.dtype == np.int32 and data.y_train.ndim == 1
    # The pipeline streams it at NASNetMobile's native 224x224.
    x, _ = next(iter(pipeline.eval_batches(data, "val", {"batch_size": 3,
                                                          "model": "nasnet_mobile_head"})))
    assert x.shape == (3, 224, 224, 3)


def test_broken_pathmnist_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="pathmnist.npz is missing"):
        datasets.load("pathmnist", str(tmp_path))
    pathmnist(tmp_path / "keys", (20, 6, 6), keys={"train_images", "train_labels"})
    with pytest.raises(DataError, match="lacks val_images, val_labels, test_images, test_labels"):
        datasets.load("pathmnist", str(tmp_path / "keys"))
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "pathmnist.npz").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(DataError, match="not a readable .npz"):
        datasets.load("pathmnist", str(tmp_path / "bad"))


@pytest.mark.parametrize("dataset, setup, message", [
    ("cub200", lambda d: cub(d, "2010") and (d / "lists" / "train.txt").unlink(),
     "lists/train.txt is missing"),
    ("pathmnist", lambda d: pathmnist(d, (20, 6, 6), keys={"train_images"}), "lacks train_labels"),
    ("cub200", lambda d: None, "is not a folder"),
])
def test_cli_exits_2_with_one_line_on_broken_data(tmp_path, dataset, setup, message,
                                                  run_search_main):
    setup(tmp_path / "data")
    space = "finetune_resnet" if dataset == "cub200" else "nasnet_pathmnist"
    code, error = run_search_main("--space", space, "--weights", "none", "--data-dir",
                                  tmp_path / "data", "--storage-path", tmp_path / "results")
    assert code == 2, error[-2000:]
    assert error.count("\n") == 1 and message in error, error
