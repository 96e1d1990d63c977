"""Datasets by name, with a validation split held out of the training set (never the test set)."""

from __future__ import annotations

import functools
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lth.data.idx import IdxError, read_pair
from lth.errors import Explained

SAMPLE_DIR = Path(__file__).parent / "mnist-sample"
MNIST_DIR_ENV = "LTH_MNIST_DIR"
FASHION_DIR_ENV = "LTH_FASHION_MNIST_DIR"
FASHION_DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")  # Debian package dataset-fashion-mnist


@dataclass(frozen=True)
class DatasetSpec:
    """One dataset, declared once: what it is, where it is found, what its files must be, its sizes and shape."""

    name: str
    title: str  # one line for the Home page
    class_names: tuple[str, ...]
    input_shape: tuple[int, ...]  # of one example, HxWxC
    sizes: tuple[int, int, int]  # train, validation, test after the split (estimates, known without reading)
    official_sha256: dict[str, str] | None = None  # of the four uncompressed files; None: not checked (bundled)
    dir_env: str | None = None  # the environment variable naming its folder (then --data-dir applies to it)
    folder: Path | None = None  # where it is found without --data-dir or the variable
    keras_download: bool = False  # else from Keras' cache, downloaded there once where there is internet
    missing: str = ""  # what to do when it is not there


DIGITS = tuple(str(d) for d in range(10))
SPECS: dict[str, DatasetSpec] = {
    s.name: s
    for s in (
        DatasetSpec(
            "mnist",
            "MNIST: 60,000 training (55,000 + 5,000 validation), 10,000 test images of digits",
            DIGITS,
            (28, 28, 1),
            (55000, 5000, 10000),
            dir_env=MNIST_DIR_ENV,
            keras_download=True,
            # sha256 of the official files, uncompressed (gzip output differs between packagers, content does not)
            official_sha256={
                "train_images": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
                "train_labels": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
                "test_images": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
                "test_labels": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
            },
            missing="Full MNIST is not available: put the four original IDX files in a folder and pass --data-dir DIR "
            f"(or set {MNIST_DIR_ENV}), or give this machine internet access so Keras can download it; the "
            "bundled 5,000-image `mnist-sample` works offline.",
        ),
        DatasetSpec(
            "mnist-sample",
            "MNIST sample (bundled): 5,000 training images, the full 10,000-image test set",
            DIGITS,
            (28, 28, 1),
            (4500, 500, 10000),
            folder=SAMPLE_DIR,
        ),
        DatasetSpec(
            "fashion-mnist",
            "Fashion-MNIST: 60,000 training (55,000 + 5,000 validation), 10,000 test images of 10 clothing classes",
            ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
            (28, 28, 1),
            (55000, 5000, 10000),
            dir_env=FASHION_DIR_ENV,
            folder=FASHION_DEBIAN_DIR,
            official_sha256={
                "train_images": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
                "train_labels": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
                "test_images": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
                "test_labels": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
            },
            missing=f"Fashion-MNIST is not available: install Debian's package dataset-fashion-mnist (sudo apt-get "
            f"install dataset-fashion-mnist, files in {FASHION_DEBIAN_DIR}), or put the four IDX files in a "
            f"folder and pass --data-dir DIR (or set {FASHION_DIR_ENV}).",
        ),
    )
}
DATASETS = tuple(SPECS)
WITH_FOLDER = tuple(name for name, spec in SPECS.items() if spec.dir_env)  # where --data-dir applies


def spec(name: str) -> DatasetSpec:
    try:
        return SPECS[name]
    except KeyError:
        raise DataError(
            f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}, or give your own arrays with --data-file"
        ) from None


def is_own(name: str) -> bool:
    """Whether `name` is a user's name for their own arrays (an .npz file), not a built-in dataset."""
    return name not in SPECS


KERAS_MNIST_CACHE = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "datasets" / "mnist.npz"
SPLIT_SEED = 20180309  # fixed: the validation split never changes with the run's seed
FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


class DataError(Explained, ValueError):
    """Data that cannot be loaded; the message says which file or source and why."""


@dataclass(frozen=True)
class Dataset:
    name: str
    source: str  # where it was read from
    fingerprint: str  # sha256 of the decoded arrays: the dataset's identity in run ids
    x_train: np.ndarray  # float32 [N, *example shape]; images in [0, 1]
    y_train: np.ndarray  # int32 [N]
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...] = ()

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    @property
    def classes(self) -> int:
        return len(self.class_names) if self.class_names else len(spec(self.name).class_names)

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.y_train), "validation": len(self.y_val), "test": len(self.y_test)}


def _find(folder: Path, stem: str) -> Path:
    for candidate in (folder / stem, folder / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    raise DataError(f"{folder}: missing {stem} (or {stem}.gz), one of the four MNIST IDX files")


def idx_sha256(array: np.ndarray) -> str:
    """sha256 of the uncompressed IDX file that holds `array` (uint8 images or labels)."""
    magic = 0x800 + array.ndim
    header = magic.to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return hashlib.sha256(header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()).hexdigest()


def identify(arrays: tuple[np.ndarray, ...]) -> str | None:
    """Which official dataset the four arrays (train x, y, test x, y) are, by checksum; None if neither."""
    digests = dict(zip(FILES, (idx_sha256(a) for a in arrays)))
    return next((name for name, s in SPECS.items() if s.official_sha256 and digests == s.official_sha256), None)


def _check_identity(name: str, arrays: tuple[np.ndarray, ...], source: str) -> None:
    found = identify(arrays)
    if found == name:
        return
    if found is not None:
        raise DataError(f"{source} holds {found}, not {name}: choose --dataset {found}")
    raise DataError(
        f"{source} is not the official {name} (checksums of its four files differ from the "
        f"published ones); give a folder with the original files"
    )


def _read_idx_folder(folder: Path, image_shape: tuple[int, ...]) -> tuple[np.ndarray, ...]:
    try:
        return _read_idx_files(folder, image_shape)
    except OSError as e:  # a name too long, no permission, a loop: the folder cannot be read
        raise DataError(f"{str(folder)[:200]}: cannot be read ({e.strerror or e})") from None


def _read_idx_files(folder: Path, image_shape: tuple[int, ...]) -> tuple[np.ndarray, ...]:
    if not folder.is_dir():
        raise DataError(f"{folder}: not a folder (expected the four IDX files in it)")
    paths = {key: _find(folder, stem) for key, stem in FILES.items()}
    try:
        x_train, y_train = read_pair(paths["train_images"], paths["train_labels"], image_shape)
        x_test, y_test = read_pair(paths["test_images"], paths["test_labels"], image_shape)
    except IdxError as e:
        raise DataError(str(e)) from e
    return x_train, y_train, x_test, y_test


def _read_keras_mnist(download: bool) -> tuple[tuple[np.ndarray, ...], str]:
    if not KERAS_MNIST_CACHE.is_file():
        if not download:  # the dashboard's process: no TensorFlow, no network
            raise DataError(
                SPECS["mnist"].missing + " The dashboard never downloads it: "
                "`python -m lth submit --dataset mnist ...` on this machine does, once."
            )
        try:  # Keras downloads into KERAS_MNIST_CACHE; the only place this module needs TensorFlow
            from lth.tf_setup import keras

            keras.datasets.mnist.load_data()
        except Exception as e:  # no network, blocked host, partial download
            raise DataError(SPECS["mnist"].missing) from e
    try:
        with np.load(KERAS_MNIST_CACHE, allow_pickle=False) as f:
            arrays = f["x_train"], f["y_train"], f["x_test"], f["y_test"]
    except (OSError, KeyError, ValueError) as e:
        raise DataError(f"{KERAS_MNIST_CACHE}: corrupt Keras MNIST cache ({e}); delete it to re-download") from e
    return arrays, str(KERAS_MNIST_CACHE)


def _folder(name: str, data_dir: str | None) -> str | None:
    """The folder `name` is read from: --data-dir, its variable, else where it is found by default (None: from
    Keras' cache)."""
    s = spec(name)
    folder = (data_dir or os.environ.get(s.dir_env)) if s.dir_env else None
    return folder or (str(s.folder) if s.folder else None)


def dataset_source(name: str, data_dir: str | None = None) -> str:
    """Where `load_dataset` would read `name` from, without reading it (for the dashboard)."""
    if is_own(name):
        return f"your arrays {data_dir}" if data_dir else "your arrays (give the .npz file)"
    if not spec(name).dir_env:
        return f"bundled sample ({spec(name).folder})"
    folder = _folder(name, data_dir)
    if folder:
        return f"IDX folder {folder}"
    if KERAS_MNIST_CACHE.is_file():
        return f"Keras cache {KERAS_MNIST_CACHE}"
    return "Keras download (needs internet)"


def availability_problem(name: str, data_dir: str | None = None) -> str | None:
    """Why `name` cannot be loaded, from the files' presence only (cheap; for pages), or None."""
    if is_own(name):
        try:
            own_header(data_dir)
        except DataError as e:
            return str(e)
        return None
    s = spec(name)
    if not s.dir_env:
        return None
    folder = _folder(name, data_dir)
    if folder is None:
        return None if KERAS_MNIST_CACHE.is_file() else s.missing
    try:
        Path(folder).is_dir()
    except OSError as e:
        return f"{folder[:200]}: cannot be read ({e.strerror or e})"
    if not Path(folder).is_dir():
        return s.missing if folder == str(s.folder) and not data_dir else f"{folder}: not a folder"
    try:
        for stem in FILES.values():
            _find(Path(folder), stem)
    except DataError as e:
        return str(e)
    return None


def own_header(data_file: str | None):
    """The header of a user's .npz (shapes and dtypes, no data read): lth.data.arrays.inspect."""
    from lth.data import arrays

    if data_file is None or not str(data_file).strip():
        raise DataError("your own data needs its file: --data-file FILE.npz (x_train, y_train, x_test, y_test)")
    try:
        return arrays.inspect(str(data_file))
    except arrays.ArrayFileError as e:
        raise DataError(str(e)) from None


def own_shape_and_classes(data_file: str | None) -> tuple[tuple[int, ...], int]:
    """One example's shape and the number of classes of a user's .npz (reads the headers and the labels)."""
    own_header(data_file)
    loaded = load_own(str(data_file))
    return tuple(loaded.x_train.shape[1:]), loaded.classes


def _file_version(data_file: str | None) -> tuple | None:
    """What tells one content of a user's file from another without reading it (the caches' key): a file
    rewritten in place is read again, never served from a process's memory of its old content."""
    try:
        info = os.stat(str(data_file))
    except (OSError, ValueError, TypeError):
        return None  # the reader says why
    return info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns


def load_own(data_file: str):
    """A user's arrays, checked (lth.data.arrays.read): held once per process while the file is unchanged."""
    return _load_own(data_file, _file_version(data_file))


@functools.lru_cache(maxsize=2)
def _load_own(data_file: str, version: tuple | None):
    from lth.data import arrays

    try:
        return arrays.read(data_file)
    except arrays.ArrayFileError as e:
        raise DataError(str(e)) from None


def _own_dataset(name: str, data_file: str | None) -> Dataset:
    own_header(data_file)
    assert data_file is not None
    loaded = load_own(str(data_file))
    digest = hashlib.sha256()
    for array in (loaded.x_train, loaded.y_train, loaded.x_test, loaded.y_test):
        # shapes and dtypes too: the same bytes reshaped are other data
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(np.ascontiguousarray(array).data.cast("B"))  # no copy of the bytes
    n_val = _validation_size(len(loaded.y_train))
    source = f"your arrays {data_file}"
    if n_val < 1 or len(loaded.y_train) - n_val < 1:
        raise DataError(f"{source}: too few training examples ({len(loaded.y_train)}) to hold out a validation set")
    arrays = (loaded.x_train, loaded.y_train, loaded.x_test, loaded.y_test)
    classes = tuple(str(k) for k in range(loaded.classes))
    return _assembled(name, source, digest.hexdigest()[:16], arrays, n_val, _as_inputs, classes)


def _assembled(name, source, fingerprint, arrays, n_val, inputs, class_names=()) -> Dataset:
    """The Dataset of (x_train, y_train, x_test, y_test): the fixed validation split held out of training (never
    the test set), the inputs made by `inputs`, the labels int32."""
    x_train, y_train, x_test, y_test = arrays
    x_tr, y_tr, x_val, y_val = _split(x_train, y_train, n_val)
    return Dataset(
        name=name,
        source=source,
        fingerprint=fingerprint,
        x_train=inputs(x_tr),
        y_train=y_tr.astype(np.int32),
        x_val=inputs(x_val),
        y_val=y_val.astype(np.int32),
        x_test=inputs(x_test),
        y_test=y_test.astype(np.int32),
        class_names=class_names,
    )


def _as_inputs(x: np.ndarray) -> np.ndarray:
    """float32 inputs: 8-bit images scaled to [0, 1] as the built-in data is; other numbers as they are."""
    if x.dtype == np.uint8:
        scaled = x.astype(np.float32)
        scaled /= 255.0  # in place: one float copy at a time
        return scaled
    return x.astype(np.float32, copy=False)


def _validation_size(train_size: int) -> int:
    return 5000 if train_size > 10000 else train_size // 10


def sizes(name: str, data_file: str | None = None) -> tuple[int, int, int]:
    """Training, validation and test sizes of a dataset without loading it (a user's from its file's headers)."""
    if not is_own(name):
        return spec(name).sizes
    header = own_header(data_file)
    n_val = _validation_size(header.train_size)
    return header.train_size - n_val, n_val, header.test_size


def _split(x: np.ndarray, y: np.ndarray, n_val: int):
    order = np.random.default_rng(SPLIT_SEED).permutation(len(y))
    return x[order[n_val:]], y[order[n_val:]], x[order[:n_val]], y[order[:n_val]]


def _prepare(images: np.ndarray) -> np.ndarray:
    pixels = images.astype(np.float32)
    pixels /= 255.0  # in place: one float copy of the images at a time, not two
    return pixels[..., None]


def load_dataset(name: str, data_dir: str | None = None, download: bool = False) -> Dataset:
    """Load a dataset: pixels in [0, 1], a fixed validation split out of training. `download`: full MNIST
    missing from Keras' cache is downloaded through Keras (command-line and training processes only).

    The full sets hold out 5,000 of 60,000 images for validation as the paper does; the sample 10%.
    A full set must be the official files (by checksum), so a run is never labelled with the wrong data.
    A user's arrays (`data_dir` is their .npz) are read again when the file changes.
    """
    return _load_dataset(name, data_dir, download, _file_version(data_dir) if is_own(name) else None)


@functools.lru_cache(maxsize=4)
def _load_dataset(name: str, data_dir: str | None, download: bool, version: tuple | None) -> Dataset:
    if is_own(name):
        return _own_dataset(name, data_dir)
    s = spec(name)
    if not s.dir_env:  # bundled: read as it is
        assert s.folder is not None  # a bundled set names its folder
        x_train, y_train, x_test, y_test = _read_idx_folder(s.folder, s.input_shape[:2])
        source = dataset_source(name)
    else:
        folder = _folder(name, data_dir)
        if folder:
            source = f"IDX folder {folder}"
            if folder == str(s.folder) and not data_dir and not Path(folder).is_dir():
                raise DataError(s.missing)
            arrays = _read_idx_folder(Path(folder), s.input_shape[:2])
        elif s.keras_download:
            arrays, source = _read_keras_mnist(download)
        else:
            raise DataError(s.missing)
        _check_identity(name, arrays, source)
        x_train, y_train, x_test, y_test = arrays
    n_val = _validation_size(len(y_train))
    if n_val < 1 or len(y_test) < 1:
        raise DataError(
            f"{source}: too few training images ({len(y_train)}) to hold out a validation set "
            f"(at least 10 needed) or no test images"
        )
    digest = hashlib.sha256()
    for array in (x_train, y_train, x_test, y_test):
        digest.update(np.ascontiguousarray(array).data.cast("B"))  # no copy of the bytes
    return _assembled(name, source, digest.hexdigest()[:16], (x_train, y_train, x_test, y_test), n_val, _prepare)


load_dataset.cache_clear = _load_dataset.cache_clear  # type: ignore[attr-defined]
