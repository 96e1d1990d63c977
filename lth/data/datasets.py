"""Datasets by name, with a validation split held out of the training set (never the test set)."""
from __future__ import annotations

import functools
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lth.data.idx import IdxError, read_pair

SAMPLE_DIR = Path(__file__).parent / "mnist-sample"
DATASETS = ("mnist", "mnist-sample")
MNIST_DIR_ENV = "LTH_MNIST_DIR"
KERAS_MNIST_CACHE = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "datasets" / "mnist.npz"
SPLIT_SEED = 20180309  # fixed: the validation split never changes with the run's seed
FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
NO_FULL_MNIST = (
    "Full MNIST is not available: put the four original IDX files in a folder and pass "
    f"--data-dir DIR (or set {MNIST_DIR_ENV}), or give this machine internet access so Keras can "
    "download it; the bundled 5,000-image `mnist-sample` works offline."
)


class DataError(ValueError):
    """Data that cannot be loaded; the message says which file or source and why."""


@dataclass(frozen=True)
class Dataset:
    name: str
    source: str  # where it was read from
    fingerprint: str  # sha256 of the decoded arrays: the dataset's identity in run ids
    x_train: np.ndarray  # float32 [N, 28, 28, 1] in [0, 1]
    y_train: np.ndarray  # int32 [N]
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.y_train), "validation": len(self.y_val), "test": len(self.y_test)}


def _find(folder: Path, stem: str) -> Path:
    for candidate in (folder / stem, folder / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    raise DataError(f"{folder}: missing {stem} (or {stem}.gz), one of the four MNIST IDX files")


def _read_idx_folder(folder: Path) -> tuple[np.ndarray, ...]:
    if not folder.is_dir():
        raise DataError(f"{folder}: not a folder (expected the four MNIST IDX files in it)")
    paths = {key: _find(folder, stem) for key, stem in FILES.items()}
    try:
        x_train, y_train = read_pair(paths["train_images"], paths["train_labels"])
        x_test, y_test = read_pair(paths["test_images"], paths["test_labels"])
    except IdxError as e:
        raise DataError(str(e)) from e
    return x_train, y_train, x_test, y_test


def _read_keras_mnist() -> tuple[tuple[np.ndarray, ...], str]:
    if not KERAS_MNIST_CACHE.is_file():
        try:  # Keras downloads into KERAS_MNIST_CACHE; the only place this module needs TensorFlow
            from lth.tf_setup import keras

            keras.datasets.mnist.load_data()
        except Exception as e:  # no network, blocked host, partial download
            raise DataError(NO_FULL_MNIST) from e
    try:
        with np.load(KERAS_MNIST_CACHE, allow_pickle=False) as f:
            arrays = f["x_train"], f["y_train"], f["x_test"], f["y_test"]
    except (OSError, KeyError, ValueError) as e:
        raise DataError(f"{KERAS_MNIST_CACHE}: corrupt Keras MNIST cache ({e}); delete it to re-download") from e
    return arrays, str(KERAS_MNIST_CACHE)


def dataset_source(name: str, data_dir: str | None = None) -> str:
    """Where `load_dataset` would read `name` from, without reading it (for the dashboard)."""
    if name == "mnist-sample":
        return f"bundled sample ({SAMPLE_DIR})"
    folder = data_dir or os.environ.get(MNIST_DIR_ENV)
    if folder:
        return f"IDX folder {folder}"
    if KERAS_MNIST_CACHE.is_file():
        return f"Keras cache {KERAS_MNIST_CACHE}"
    return "Keras download (needs internet)"


def _split(x: np.ndarray, y: np.ndarray, n_val: int):
    order = np.random.default_rng(SPLIT_SEED).permutation(len(y))
    return x[order[n_val:]], y[order[n_val:]], x[order[:n_val]], y[order[:n_val]]


def _prepare(images: np.ndarray) -> np.ndarray:
    return (images.astype(np.float32) / 255.0)[..., None]


@functools.lru_cache(maxsize=4)
def load_dataset(name: str, data_dir: str | None = None) -> Dataset:
    """Load `mnist` or `mnist-sample`: pixels in [0, 1], a fixed validation split out of training.

    `mnist` holds out 5,000 of 60,000 images for validation as the paper does; the sample holds out 10%.
    """
    if name == "mnist-sample":
        x_train, y_train, x_test, y_test = _read_idx_folder(SAMPLE_DIR)
        source = dataset_source(name)
        n_val = len(y_train) // 10
    elif name == "mnist":
        folder = data_dir or os.environ.get(MNIST_DIR_ENV)
        if folder:
            (x_train, y_train, x_test, y_test), source = _read_idx_folder(Path(folder)), f"IDX folder {folder}"
        else:
            (x_train, y_train, x_test, y_test), source = _read_keras_mnist()
        n_val = 5000 if len(y_train) > 10000 else len(y_train) // 10
    else:
        raise DataError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    digest = hashlib.sha256()
    for array in (x_train, y_train, x_test, y_test):
        digest.update(np.ascontiguousarray(array).tobytes())
    x_tr, y_tr, x_val, y_val = _split(x_train, y_train, n_val)
    return Dataset(
        name=name, source=source, fingerprint=digest.hexdigest()[:16],
        x_train=_prepare(x_tr), y_train=y_tr.astype(np.int32),
        x_val=_prepare(x_val), y_val=y_val.astype(np.int32),
        x_test=_prepare(x_test), y_test=y_test.astype(np.int32),
    )
