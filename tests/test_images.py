"""CUB-200 (2010 and 2011 layouts) and PathMNIST loaders on tiny files in the real formats, the
file-decoding pipeline, and every broken input -> DataError / exit 2 with one clear line."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from conftest import run
from trainables import datasets, images, models, pipeline
from trainables.data import DataError


def _jpeg(rng, height=24, width=30, grey=False) -> bytes:
    from PIL import Image
    pixels = rng.integers(0, 256, (height, width) if grey else (height, width, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def write_cub(folder: Path, layout: str = "2011", classes: int = 3, train: int = 6, test: int = 2,
              seed: int = 0) -> Path:
    """A miniature CUB-200 in the 2010 (images/ + lists/) or 2011 (images.txt, ...) layout:
    `train` + `test` real JPEGs per class, of varying sizes, one of them greyscale."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    rows = []  # (relative path, class index from 0, is_train)
    for c in range(classes):
        name = f"{c + 1:03d}.Bird_{c}"
        (folder / "images" / name).mkdir(parents=True, exist_ok=True)
        for i in range(train + test):
            rel = f"{name}/Bird_{c}_{i:04d}.jpg"
            data = _jpeg(rng, 20 + 4 * i, 26 + 2 * c, grey=(c, i) == (0, 1))
            (folder / "images" / rel).write_bytes(data)
            rows.append((rel, c, i < train))
    if layout == "2010":
        (folder / "lists").mkdir(exist_ok=True)
        (folder / "lists" / "train.txt").write_text("".join(f"{r}\n" for r, _, t in rows if t))
        (folder / "lists" / "test.txt").write_text("".join(f"{r}\n" for r, _, t in rows if not t))
        (folder / "lists" / "files.txt").write_text("".join(f"{r}\n" for r, _, _ in rows))
    else:
        (folder / "images.txt").write_text("".join(f"{i + 1} {r}\n" for i, (r, _, _) in
                                                   enumerate(rows)))
        (folder / "train_test_split.txt").write_text("".join(
            f"{i + 1} {int(t)}\n" for i, (_, _, t) in enumerate(rows)))
        (folder / "image_class_labels.txt").write_text("".join(
            f"{i + 1} {c + 1}\n" for i, (_, c, _) in enumerate(rows)))
        (folder / "classes.txt").write_text("".join(
            f"{c + 1} {c + 1:03d}.Bird_{c}\n" for c in range(classes)))
    return folder


def write_pathmnist(folder: Path, n=(20, 6, 6), keys=None) -> Path:
    rng = np.random.default_rng(0)
    arrays = {}
    for split, count in zip(("train", "val", "test"), n):
        arrays[f"{split}_images"] = rng.integers(0, 256, (count, 28, 28, 3), dtype=np.uint8)
        arrays[f"{split}_labels"] = rng.integers(0, 9, (count, 1)).astype(np.uint8)
    if keys is not None:
        arrays = {k: v for k, v in arrays.items() if k in keys}
    folder.mkdir(parents=True, exist_ok=True)
    np.savez(folder / "pathmnist.npz", **arrays)
    return folder


@pytest.mark.parametrize("layout", ["2010", "2011"])
def test_cub_loads_both_layouts_as_paths_with_a_validation_split(tmp_path, layout):
    folder = write_cub(tmp_path / "cub", layout)
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
    write_cub(tmp_path / "CUB_200_2011", "2011")
    assert datasets.load("cub200", str(tmp_path)).num_classes == 3


def test_cub_images_are_decoded_resized_and_scaled_by_the_pipeline(tmp_path):
    data = datasets.load("cub200", str(write_cub(tmp_path / "cub", "2010")), image_size=40)
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
    folder = write_cub(tmp_path / "cub", "2010")
    damage(folder)
    with pytest.raises(DataError, match=message) as e:
        datasets.load("cub200", str(folder))
    assert "\n" not in str(e.value)


def test_broken_cub_2011_lists_are_data_errors(tmp_path):
    folder = write_cub(tmp_path / "cub", "2011")
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
def test_bad_image_size_is_a_usage_error(tmp_path, args, message):
    proc = run("run_search.py", "--space", "resnet_head", "--storage-path", tmp_path, *args)
    assert proc.returncode == 2 and message in proc.stderr and proc.stderr.count("\n") == 1


def test_pathmnist_loads_medmnist_npz(tmp_path):
    data = datasets.load("pathmnist", str(write_pathmnist(tmp_path / "med")))
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
    write_pathmnist(tmp_path / "keys", keys={"train_images", "train_labels"})
    with pytest.raises(DataError, match="lacks val_images, val_labels, test_images, test_labels"):
        datasets.load("pathmnist", str(tmp_path / "keys"))
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "pathmnist.npz").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(DataError, match="not a readable .npz"):
        datasets.load("pathmnist", str(tmp_path / "bad"))


@pytest.mark.parametrize("dataset, setup, message", [
    ("cub200", lambda d: write_cub(d, "2010") and (d / "lists" / "train.txt").unlink(),
     "lists/train.txt is missing"),
    ("pathmnist", lambda d: write_pathmnist(d, keys={"train_images"}), "lacks train_labels"),
    ("cub200", lambda d: None, "is not a folder"),
])
def test_cli_exits_2_with_one_line_on_broken_data(tmp_path, dataset, setup, message):
    setup(tmp_path / "data")
    space = "finetune_resnet" if dataset == "cub200" else "nasnet_pathmnist"
    proc = run("run_search.py", "--space", space, "--weights", "none", "--data-dir",
               tmp_path / "data", "--storage-path", tmp_path / "results")
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert proc.stderr.count("\n") == 1 and message in proc.stderr, proc.stderr
