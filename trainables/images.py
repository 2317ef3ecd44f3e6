"""Trial layer: the datasets read from a folder: CUB-200 (JPEG files) and PathMNIST (one .npz).

CUB-200 is never loaded into memory as pixels: its Data holds numpy str arrays of file paths and
the pipeline decodes them with tf.data (`decode_files`), resizes each image to the model's input
and caches the result after the first epoch. The folder is checked up front (layout, list files,
every listed image present and a JPEG/PNG that is not truncated), so a broken download stops the
run before Ray starts, with one line (DataError -> exit 2).

    cub200     2010 edition: images/<class>/<file>.jpg, lists/train.txt, lists/test.txt
               (images.tgz and lists.tgz extracted side by side), or
               2011 edition: images.txt, train_test_split.txt, image_class_labels.txt, images/
               (CUB_200_2011.tgz extracted; the CUB_200_2011/ folder or the one holding it).
               10% of train held out (stratified) for validation. Image side: 224, or
               --image-size (a small side makes smoke tests fast).
    pathmnist  pathmnist.npz, MedMNIST layout: train_images (N, 28, 28, 3) uint8, train_labels
               (N, 1), val_*, test_*; the pipeline resizes batches to the model's input
               (NASNetMobile: 224), so the whole training split fits in memory at 28x28.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trainables.data import Data, DataError, holdout
from trainables.download import SOURCES, extract, fetch

DEFAULT_IMAGE_SIZE = 224
CUB_URLS = ("https://data.caltech.edu/records/65de6-vp158 (CUB_200_2011.tgz) or "
            "https://www.vision.caltech.edu/visipedia/CUB-200.html (images.tgz + lists.tgz)")


@dataclass(frozen=True)
class ImageFiles(Data):
    """Data whose x_* are numpy str arrays of image file paths, decoded at `image_size`."""
    image_size: int = DEFAULT_IMAGE_SIZE

    @property
    def input_shape(self) -> tuple[int, ...]:
        return (self.image_size, self.image_size, 3)


def is_files(x) -> bool:
    """Whether a split holds file paths (numpy str array) rather than pixels or features."""
    return isinstance(x, np.ndarray) and x.dtype.kind in "US" and x.ndim == 1


def decode_files(paths, labels):
    """tf.data elements (uint8 image (H, W, 3) at the file's own size, int32 label) of image files;
    the pipeline resizes them to the model's input and caches them. JPEG, PNG, grey or RGB."""
    import tensorflow as tf

    def decode(path, label):
        image = tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False)
        return image, label

    return tf.data.Dataset.from_tensor_slices(
        (np.asarray(paths, str), np.asarray(labels, np.int32))).map(
        decode, num_parallel_calls=tf.data.AUTOTUNE)


# --- CUB-200 ----------------------------------------------------------------------------------

def _read_lines(path: Path, what: str) -> list[str]:
    if not path.is_file():
        raise DataError(f"cub200: {path} is missing ({what}); extract the whole archive from "
                        f"{CUB_URLS} into that folder")
    try:
        return [line.strip() for line in path.read_text().splitlines() if line.strip()]
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"cub200: cannot read {path} ({e}); download the archive again") from None


def _check_image(path: Path) -> str | None:
    """Why the file is not a usable image (missing, empty, not JPEG/PNG, truncated), or None.
    Reads 3 bytes at the start and 2 KiB at the end: cheap enough for every file of the set."""
    try:
        with open(path, "rb") as f:
            head = f.read(8)
            if head.startswith(b"\x89PNG"):
                return None
            if not head.startswith(b"\xff\xd8\xff"):
                return "not a JPEG or PNG file" if head else "empty file"
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 2048))
            # 0xFFD9 (end of image) cannot occur inside JPEG data: its absence means truncation
            return None if b"\xff\xd9" in f.read() else "truncated JPEG (no end-of-image marker)"
    except FileNotFoundError:
        return "missing"
    except OSError as e:
        return f"unreadable ({e.strerror})"


def _check_files(paths: list[Path], folder: Path) -> None:
    problems = [(p, why) for p in paths if (why := _check_image(p))]
    if problems:
        path, why = problems[0]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise DataError(f"cub200: {path} is {why}{more}; download and extract the images into "
                        f"{folder} again")


def _cub2010(folder: Path):
    """lists/train.txt and lists/test.txt: one path per line, relative to images/, whose first
    component is the class folder (001.Black_footed_Albatross)."""
    lists = {split: _read_lines(folder / "lists" / f"{split}.txt", f"the 2010 {split} list")
             for split in ("train", "test")}
    classes = sorted({rel.split("/")[0] for rels in lists.values() for rel in rels})
    index = {c: i for i, c in enumerate(classes)}
    out = {}
    for split, rels in lists.items():
        if any("/" not in rel for rel in rels):
            raise DataError(f"cub200: {folder / 'lists' / f'{split}.txt'} lines must be "
                            f"<class folder>/<file>.jpg; is this the 2010 lists.tgz?")
        out[split] = ([folder / "images" / rel for rel in rels],
                      [index[rel.split("/")[0]] for rel in rels])
    return out, len(classes)


def _parse_pairs(path: Path, what: str) -> dict[str, str]:
    pairs = {}
    for line in _read_lines(path, what):
        parts = line.split(maxsplit=1)
        if len(parts) != 2:
            raise DataError(f"cub200: {path} has a malformed line {line!r}; expected "
                            f"'<image id> <value>'")
        pairs[parts[0]] = parts[1]
    return pairs


def _cub2011(folder: Path):
    """images.txt (id path), train_test_split.txt (id 1|0), image_class_labels.txt (id class)."""
    images = _parse_pairs(folder / "images.txt", "the 2011 image list")
    split = _parse_pairs(folder / "train_test_split.txt", "the 2011 train/test split")
    labels = _parse_pairs(folder / "image_class_labels.txt", "the 2011 class labels")
    missing = [i for i in images if i not in split or i not in labels]
    if missing:
        raise DataError(f"cub200: image id {missing[0]} of {folder / 'images.txt'} has no line in "
                        f"train_test_split.txt or image_class_labels.txt; the files do not match")
    try:
        class_ids = sorted({int(c) for c in labels.values()})
        index = {c: i for i, c in enumerate(class_ids)}
        out = {"train": ([], []), "test": ([], [])}
        for image_id, rel in images.items():
            part = "train" if int(split[image_id]) == 1 else "test"
            out[part][0].append(folder / "images" / rel)
            out[part][1].append(index[int(labels[image_id])])
    except ValueError as e:
        raise DataError(f"cub200: a non-integer class or split value in {folder} ({e})") from None
    return out, len(class_ids)


def _cub_layout(folder: Path) -> Path | None:
    """The folder holding CUB-200's lists in `folder` or one level down, or None."""
    for candidate in (folder, folder / "CUB_200_2011", folder / "CUB_200"):
        if (candidate / "images.txt").is_file() or (candidate / "lists").is_dir():
            return candidate
    return None


def cub200_folder(root: Path) -> Path:
    """CUB-200 in the data cache `root`: a copy already there, else CUB_200_2011.tgz downloaded
    from its official source (1.1 GB), verified against its published md5 and extracted into
    root/cub200/ (atomically; a lock makes a second process wait for the first)."""
    for candidate in (root, root / "cub200"):
        if _cub_layout(candidate):
            return candidate
    url, md5 = SOURCES["cub200"]
    archive = fetch(url, root / "CUB_200_2011.tgz", md5=md5, what="CUB-200-2011")
    folder = extract(archive, root / "cub200", inner="CUB_200_2011")
    print(f"CUB-200-2011 extracted into {folder}; you may delete {archive}", flush=True)
    return folder


def _cub_root(folder: Path) -> Path:
    if not folder.is_dir():
        raise DataError(f"cub200: {folder} is not a folder; download CUB-200 ({CUB_URLS}), "
                        f"extract it and give that folder with --data-dir, or leave --data-dir "
                        f"out to download it")
    root = _cub_layout(folder)
    if root is not None:
        return root
    raise DataError(f"cub200: {folder} holds neither the 2010 layout (images/, lists/train.txt, "
                    f"lists/test.txt) nor the 2011 one (images.txt, train_test_split.txt, "
                    f"image_class_labels.txt, images/); extract {CUB_URLS} there")


def load_cub200(folder: Path, image_size: int = DEFAULT_IMAGE_SIZE) -> ImageFiles:
    """CUB-200 (2010 or 2011 layout, detected) as file paths, decoded at `image_size`; 10% of
    train (stratified) as val."""
    root = _cub_root(Path(folder))
    parts, num_classes = _cub2011(root) if (root / "images.txt").is_file() else _cub2010(root)
    for split in ("train", "test"):
        if not parts[split][0]:
            raise DataError(f"cub200: the {split} split in {root} is empty")
    _check_files([p for split in ("train", "test") for p in parts[split][0]], root)

    x_train = np.array([str(p) for p in parts["train"][0]])
    y_train = np.array(parts["train"][1], np.int32)
    x_tr, y_tr, x_val, y_val = holdout(x_train, y_train, 0.1)
    x_test = np.array([str(p) for p in parts["test"][0]])
    y_test = np.array(parts["test"][1], np.int32)
    return ImageFiles("cub200", x_tr, y_tr.astype(np.int32), x_val, y_val.astype(np.int32),
                      x_test, y_test, num_classes, image_size=image_size)


# --- PathMNIST --------------------------------------------------------------------------------

PATHMNIST_CLASSES = 9  # colorectal tissue types
PATHMNIST_KEYS = [f"{split}_{kind}" for split in ("train", "val", "test")
                  for kind in ("images", "labels")]


def pathmnist_folder(root: Path) -> Path:
    """The data cache `root`, holding MedMNIST's pathmnist.npz (206 MB): downloaded from its
    official source once and verified against its published md5."""
    url, md5 = SOURCES["pathmnist"]
    fetch(url, root / "pathmnist.npz", md5=md5, what="PathMNIST")
    return root


def load_pathmnist(folder: Path) -> Data:
    """PathMNIST from <folder>/pathmnist.npz (MedMNIST's own train / val / test split)."""
    path = Path(folder) / "pathmnist.npz"
    if not path.is_file():
        raise DataError(f"pathmnist: {path} is missing; download pathmnist.npz from MedMNIST "
                        f"(https://zenodo.org/records/10519652) into {Path(folder)}")
    try:
        with np.load(path) as npz:
            missing = [k for k in PATHMNIST_KEYS if k not in npz.files]
            if missing:
                raise DataError(f"pathmnist: {path} lacks {', '.join(missing)} (it has "
                                f"{', '.join(npz.files) or 'nothing'}); is it MedMNIST's "
                                f"pathmnist.npz?")
            arrays = {k: npz[k] for k in PATHMNIST_KEYS}
    except DataError:
        raise
    except Exception as e:  # a truncated zip, a pickle, not an npz at all
        raise DataError(f"pathmnist: {path} is not a readable .npz ({type(e).__name__}: {e}); "
                        f"download it again") from None
    splits = {}
    for split in ("train", "val", "test"):
        x, y = arrays[f"{split}_images"], arrays[f"{split}_labels"].reshape(-1)
        if x.ndim == 3:  # grey MedMNIST sets: add the channel axis
            x = x[..., None]
        if x.ndim != 4 or x.dtype != np.uint8 or len(x) != len(y):
            raise DataError(f"pathmnist: {path} {split}_images is {x.dtype} {x.shape} for "
                            f"{len(y)} labels; expected uint8 (N, H, W, 3) and N labels")
        splits[split] = (x, y.astype(np.int32))
        if len(y) and not 0 <= y.min() <= y.max() < PATHMNIST_CLASSES:
            raise DataError(f"pathmnist: {path} {split}_labels run {y.min()}..{y.max()}; "
                            f"PathMNIST's are 0..{PATHMNIST_CLASSES - 1}")
    return Data("pathmnist", *splits["train"], *splits["val"], *splits["test"], PATHMNIST_CLASSES)
