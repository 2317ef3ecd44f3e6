"""Stand-ins for the datasets that cannot be downloaded here, written in their real on-disk
formats so the suite reads them through its real loaders (and, served over HTTP, its real
download code). The tests write miniatures; the benchmarks write them at full size:

    python tests/standins.py DIR [--only cifar100 ...] [--cub-per-class 15]

writes DIR/keras/datasets/ (point $KERAS_HOME at DIR/keras) with CIFAR-100, CIFAR-10 and
Fashion-MNIST as Keras's cache keeps them, and DIR/data/ (point $CNN_SEARCH_DATA at it) with
`pathmnist.npz` and a CUB-200-2011 tree.

The images carry class structure that a small network learns slowly, as on the real data: each
class has a few smooth colour prototypes; an image is one of them, shifted, flipped, blended with
another class's prototype and drowned in noise. BaseNet on the CIFAR-100/25 stand-in climbs from
chance to about 0.3-0.5 validation accuracy over 10-30 epochs (docs/benchmarks.md, "Stand-ins").
"""

from __future__ import annotations

import argparse
import gzip
import io
import pickle
import struct
import tarfile
from pathlib import Path

import numpy as np

# --- images with class structure -------------------------------------------------------------

PROTOTYPES = 4      # looks per class
BLEND = 0.45        # weight of another class's prototype mixed in
NOISE = 70.0        # standard deviation of the pixel noise (of 0-255)
SHIFT = 5           # pixels an image may move either way


def _prototypes(classes: int, size: int, channels: int, rng) -> np.ndarray:
    """(classes, PROTOTYPES, size, size, channels) float32 in 0-255: random 4x4 colour grids,
    upsampled smoothly, so that classes differ in colour layout, not in single pixels."""
    grid = rng.uniform(0, 255, (classes * PROTOTYPES, 4, 4, channels)).astype(np.float32)
    steps = np.linspace(0, 3, size)
    low = np.floor(steps).astype(int).clip(0, 2)
    frac = (steps - low)[None, :, None, None]
    rows = grid[:, low] * (1 - frac) + grid[:, low + 1] * frac        # (n, size, 4, c)
    frac = frac.reshape(1, 1, size, 1)
    full = rows[:, :, low] * (1 - frac) + rows[:, :, low + 1] * frac  # (n, size, size, c)
    return full.reshape(classes, PROTOTYPES, size, size, channels)


def learnable(labels: np.ndarray, classes: int, size: int, channels: int = 3,
              seed: int = 0, chunk: int = 4096) -> np.ndarray:
    """uint8 images (n, size, size, channels), one per label, that carry their class (above).
    The prototypes depend on `classes`, `size` and `channels` only, so that the train and test
    parts of a dataset, written with different seeds, share them."""
    protos = _prototypes(classes, size, channels, np.random.default_rng(12345))
    rng = np.random.default_rng(seed)
    out = np.empty((len(labels), size, size, channels), np.uint8)
    for start in range(0, len(labels), chunk):
        y = np.asarray(labels[start:start + chunk])
        n = len(y)
        own = protos[y, rng.integers(0, PROTOTYPES, n)]
        other = protos[rng.integers(0, classes, n), rng.integers(0, PROTOTYPES, n)]
        x = (1 - BLEND) * own + BLEND * other
        dy, dx = rng.integers(-SHIFT, SHIFT + 1, (2, n))
        for i in range(n):  # a shift per image, with the edge repeated as augmentation would
            x[i] = np.roll(x[i], (dy[i], dx[i]), axis=(0, 1))
        flip = rng.random(n) < 0.5
        x[flip] = x[flip, :, ::-1]
        x += rng.normal(0, NOISE, x.shape).astype(np.float32)
        out[start:start + n] = x.clip(0, 255).astype(np.uint8)
    return out


def cifar_rows(labels: np.ndarray, classes: int, seed: int) -> np.ndarray:
    """Images of `labels` as CIFAR stores them: channel-first rows (n, 3072) of uint8."""
    images = learnable(labels, classes, 32, seed=seed)
    return images.transpose(0, 3, 1, 2).reshape(len(images), -1)


# --- archives ----------------------------------------------------------------------------------

def tgz(members: dict[str, bytes], level: int = 6) -> bytes:
    """A .tar.gz holding `members` (name -> bytes)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=level) as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def cifar_batch(rows, labels, label_key: bytes) -> bytes:
    """One pickled CIFAR batch (label_key b"fine_labels" for CIFAR-100, b"labels" for CIFAR-10)."""
    return pickle.dumps({b"batch_label": b"stand-in", label_key: [int(v) for v in labels],
                         b"data": rows, b"filenames": [b"x.png"] * len(rows)}, protocol=2)


def cifar100(per_class_train: int = 500, per_class_test: int = 100, classes: int = 100,
             level: int = 6):
    """cifar-100-python.tar.gz (full size by default: 50,000 / 10,000):
    (archive bytes, train rows, train labels, test rows, test labels), rows as CIFAR's."""
    y_train = np.repeat(np.arange(classes), per_class_train)
    y_test = np.repeat(np.arange(classes), per_class_test)
    shuffle = np.random.default_rng(7)
    y_train, y_test = shuffle.permutation(y_train), shuffle.permutation(y_test)
    x_train = cifar_rows(y_train, classes, 1)
    x_test = cifar_rows(y_test, classes, 2)
    archive = tgz({
        "cifar-100-python/train": cifar_batch(x_train, y_train, b"fine_labels"),
        "cifar-100-python/test": cifar_batch(x_test, y_test, b"fine_labels"),
        "cifar-100-python/meta": pickle.dumps({b"fine_label_names": []}, protocol=2),
    }, level)
    return archive, x_train, y_train, x_test, y_test


def cifar10(per_batch: int = 10000, test: int = 10000, level: int = 6):
    """cifar-10-python.tar.gz (full size by default: 5 batches of 10,000, 10,000 test)."""
    members, parts = {}, []
    for i in range(1, 6):
        y = np.random.default_rng(10 + i).permutation(np.arange(per_batch) % 10)
        x = cifar_rows(y, 10, 10 + i)
        members[f"cifar-10-batches-py/data_batch_{i}"] = cifar_batch(x, y, b"labels")
        parts.append((x, y))
    y_test = np.arange(test) % 10
    x_test = cifar_rows(y_test, 10, 20)
    members["cifar-10-batches-py/test_batch"] = cifar_batch(x_test, y_test, b"labels")
    x_train = np.concatenate([p[0] for p in parts])
    y_train = np.concatenate([p[1] for p in parts])
    return tgz(members, level), x_train, y_train, x_test, y_test


def idx(kind: str, array: np.ndarray) -> bytes:
    """One gzipped idx file of Fashion-MNIST: "labels" (n,) or "images" (n, 28, 28)."""
    header = struct.pack(">II", 2049, len(array)) if kind == "labels" else \
        struct.pack(">IIII", 2051, len(array), 28, 28)
    return gzip.compress(header + array.astype(np.uint8).tobytes(), compresslevel=6)


def fashion_mnist(folder: Path, n_train: int = 60000, n_test: int = 10000,
                  truncate: str | None = None) -> dict:
    """The four idx .gz files of Fashion-MNIST in `folder` (full size by default);
    {"train": (x, y), "t10k": (x, y)}. `truncate` names a file written half-length."""
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for part, n, seed in (("train", n_train, 3), ("t10k", n_test, 4)):
        y = np.arange(n) % 10
        x = learnable(y, 10, 28, channels=1, seed=seed)[..., 0]
        arrays[part] = (x, y)
        for kind, value, dims in (("labels", y, 1), ("images", x, 3)):
            payload = idx(kind, value)
            name = f"{part}-{kind}-idx{dims}-ubyte.gz"
            if name == truncate:
                payload = payload[: len(payload) // 2]
            (folder / name).write_bytes(payload)
    return arrays


def pathmnist(folder: Path, n=(89996, 10004, 7180), keys=None) -> Path:
    """MedMNIST's pathmnist.npz in `folder` (full size by default), 9 classes, 28x28x3."""
    arrays = {}
    for seed, (split, count) in enumerate(zip(("train", "val", "test"), n)):
        y = np.arange(count) % 9
        arrays[f"{split}_images"] = learnable(y, 9, 28, seed=30 + seed)
        arrays[f"{split}_labels"] = y.astype(np.uint8).reshape(-1, 1)
    if keys is not None:
        arrays = {k: v for k, v in arrays.items() if k in keys}
    folder.mkdir(parents=True, exist_ok=True)
    np.savez(folder / "pathmnist.npz", **arrays)
    return folder


def cub(folder: Path, layout: str = "2011", classes: int = 3, train: int = 6, test: int = 2,
        seed: int = 0, size: tuple[int, int] | None = None) -> Path:
    """CUB-200 in the 2010 (images/ + lists/) or 2011 (images.txt, ...) layout: `train` + `test`
    real JPEGs per class, of varying sizes (around `size`, else tiny), one of them greyscale."""
    from PIL import Image
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    labels = np.repeat(np.arange(classes), train + test)
    small = learnable(labels, classes, 48, seed=seed)  # scaled up to each photograph's size
    rows = []  # (relative path, class index from 0, is_train)
    for k, (c, i) in enumerate((c, i) for c in range(classes) for i in range(train + test)):
        name = f"{c + 1:03d}.Bird_{c}"
        (folder / "images" / name).mkdir(parents=True, exist_ok=True)
        rel = f"{name}/Bird_{c}_{i:04d}.jpg"
        if size:  # a few hundred pixels a side, as the real photographs
            h, w = (int(v * rng.uniform(0.8, 1.2)) for v in size)
        else:
            h, w = 20 + 4 * i, 26 + 2 * c
        image = Image.fromarray(small[k]).resize((w, h), Image.BILINEAR)
        if (c, i) == (0, 1):
            image = image.convert("L")
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=90)
        (folder / "images" / rel).write_bytes(buffer.getvalue())
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


# --- everything, at full size ------------------------------------------------------------------

WRITERS = ("cifar100", "cifar10", "fashion_mnist", "pathmnist", "cub200")


def write(root: Path, only=WRITERS, cub_per_class: int = 15) -> Path:
    """Every stand-in at full size under `root` (CUB-200: 200 classes x `cub_per_class` images,
    a third of them test, about 500x375 pixels as the real photographs). Skips what is there."""
    cache, data = root / "keras" / "datasets", root / "data"
    cache.mkdir(parents=True, exist_ok=True)
    data.mkdir(parents=True, exist_ok=True)
    for name, archive, make in (("cifar100", "cifar-100-python.tar.gz", cifar100),
                                ("cifar10", "cifar-10-python.tar.gz", cifar10)):
        if name in only and not (cache / archive).is_file():
            (cache / archive).write_bytes(make(level=1)[0])
    if "fashion_mnist" in only and not (cache / "fashion-mnist" / "t10k-labels-idx1-ubyte.gz").is_file():
        fashion_mnist(cache / "fashion-mnist")
    if "pathmnist" in only and not (data / "pathmnist.npz").is_file():
        pathmnist(data)
    if "cub200" in only and not (data / "cub200" / "classes.txt").is_file():
        test = max(1, cub_per_class // 3)
        cub(data / "cub200", "2011", classes=200, train=cub_per_class - test, test=test,
            size=(375, 500))
    return root


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("root", type=Path)
    p.add_argument("--only", nargs="+", choices=WRITERS, default=WRITERS)
    p.add_argument("--cub-per-class", type=int, default=15)
    args = p.parse_args()
    root = write(args.root, args.only, args.cub_per_class)
    print(f"stand-ins in {root}: KERAS_HOME={root / 'keras'} CNN_SEARCH_DATA={root / 'data'}")


if __name__ == "__main__":
    main()
