import dataclasses
import gzip
import shutil

import numpy as np
import pytest

from lth.data import DataError, datasets, load_dataset
from lth.data.idx import IdxError, read_images, read_labels, read_pair

SAMPLE = datasets.SAMPLE_DIR


def _raw(name):
    return gzip.decompress((SAMPLE / f"{name}.gz").read_bytes())


def test_sample_loads_with_validation_split_out_of_training(sample):
    assert sample.sizes() == {"train": 4500, "validation": 500, "test": 10000}
    for x in (sample.x_train, sample.x_val, sample.x_test):
        assert x.dtype == np.float32 and x.shape[1:] == (28, 28, 1)
        assert x.min() == 0.0 and x.max() == 1.0
    # the validation images are training images, none of them also used for training or the test set
    train = {x.tobytes() for x in sample.x_train}
    test = {x.tobytes() for x in sample.x_test}
    assert not any(v.tobytes() in train or v.tobytes() in test for v in sample.x_val)
    # fixed split: independent of anything but the data
    load_dataset.cache_clear()
    again = load_dataset("mnist-sample")
    assert np.array_equal(again.y_val, sample.y_val) and again.fingerprint == sample.fingerprint


def _official(monkeypatch, name, folder):
    """Make the IDX files in `folder` the official `name` for this test (the checksum logic runs on them)."""
    from lth.data.idx import read_idx

    magics = {"train_images": 0x803, "train_labels": 0x801, "test_images": 0x803, "test_labels": 0x801}
    digests = {}
    for key, stem in datasets.FILES.items():
        path = folder / stem if (folder / stem).exists() else folder / f"{stem}.gz"
        digests[key] = datasets.idx_sha256(read_idx(path, magics[key]))
    monkeypatch.setitem(datasets.SPECS, name, dataclasses.replace(datasets.SPECS[name], official_sha256=digests))
    load_dataset.cache_clear()


def test_official_checksums_are_of_the_uncompressed_files():
    # the bundled sample holds MNIST's official test files: their published sha256 must match
    from lth.data.idx import read_images, read_labels

    official = datasets.SPECS["mnist"].official_sha256
    assert datasets.idx_sha256(read_images(SAMPLE / "t10k-images-idx3-ubyte.gz")) == official["test_images"]
    assert datasets.idx_sha256(read_labels(SAMPLE / "t10k-labels-idx1-ubyte.gz")) == official["test_labels"]


def test_full_mnist_from_folder_plain_or_gzipped(tmp_path, monkeypatch):
    _official(monkeypatch, "mnist", SAMPLE)
    for stem in datasets.FILES.values():
        (tmp_path / stem).write_bytes(_raw(stem))  # uncompressed, as the originals unpack
    plain = load_dataset("mnist", str(tmp_path))
    gz_dir = tmp_path / "gz"
    shutil.copytree(SAMPLE, gz_dir)
    monkeypatch.setenv(datasets.MNIST_DIR_ENV, str(gz_dir))
    gzipped = load_dataset("mnist")
    assert plain.fingerprint == gzipped.fingerprint
    assert plain.source == f"IDX folder {tmp_path}" and gzipped.source == f"IDX folder {gz_dir}"
    assert gzipped.sizes() == {"train": 4500, "validation": 500, "test": 10000}


def _write_idx(folder, arrays):
    folder.mkdir(parents=True, exist_ok=True)
    for stem, array in zip(datasets.FILES.values(), arrays):
        magic = (0x803 if array.ndim == 3 else 0x801).to_bytes(4, "big")
        (folder / stem).write_bytes(magic + b"".join(int(d).to_bytes(4, "big") for d in array.shape) + array.tobytes())


def test_full_size_split_checksums_and_names(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    arrays = (
        rng.integers(0, 256, (60000, 28, 28), dtype=np.uint8),
        rng.integers(0, 10, 60000, dtype=np.uint8),
        rng.integers(0, 256, (10000, 28, 28), dtype=np.uint8),
        rng.integers(0, 10, 10000, dtype=np.uint8),
    )
    fashion = tmp_path / "fashion"
    _write_idx(fashion, arrays)
    _official(monkeypatch, "fashion-mnist", fashion)
    data = load_dataset("fashion-mnist", str(fashion))
    assert data.sizes() == {"train": 55000, "validation": 5000, "test": 10000}  # 5,000 held out as in the paper
    load_dataset.cache_clear()
    again = load_dataset("fashion-mnist", str(fashion))
    assert np.array_equal(again.x_val, data.x_val) and again.fingerprint == data.fingerprint  # fixed split
    # the validation images are training images the training set no longer holds
    val_rows = {x.tobytes() for x in data.x_val[:50]}
    assert not val_rows & {x.tobytes() for x in data.x_train}
    assert datasets.SPECS["fashion-mnist"].class_names[9] == "Ankle boot"
    # the same folder given as MNIST is named for what it is
    with pytest.raises(DataError, match="holds fashion-mnist, not mnist: choose --dataset fashion-mnist"):
        load_dataset("mnist", str(fashion))
    # one changed pixel: neither official set, refused
    changed = tmp_path / "changed"
    arrays[0][0, 0, 0] ^= 1
    _write_idx(changed, arrays)
    with pytest.raises(DataError, match="is not the official fashion-mnist"):
        load_dataset("fashion-mnist", str(changed))


def test_missing_fashion_mnist_is_one_clear_line(tmp_path, monkeypatch):
    monkeypatch.setitem(
        datasets.SPECS,
        "fashion-mnist",
        dataclasses.replace(datasets.SPECS["fashion-mnist"], folder=tmp_path / "absent"),
    )
    monkeypatch.delenv(datasets.FASHION_DIR_ENV, raising=False)
    load_dataset.cache_clear()
    with pytest.raises(DataError, match="dataset-fashion-mnist"):
        load_dataset("fashion-mnist")
    assert "dataset-fashion-mnist" in datasets.availability_problem("fashion-mnist")


def test_no_full_mnist_names_both_ways(tmp_path, monkeypatch):
    monkeypatch.delenv(datasets.MNIST_DIR_ENV, raising=False)
    monkeypatch.setattr(datasets, "KERAS_MNIST_CACHE", tmp_path / "absent" / "mnist.npz")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    from lth.tf_setup import keras

    def offline(*a, **k):  # this machine has no network; make that certain and fast
        raise OSError("network unreachable")

    monkeypatch.setattr(keras.datasets.mnist, "load_data", offline)
    load_dataset.cache_clear()
    with pytest.raises(DataError) as e:
        load_dataset("mnist")
    assert "--data-dir" in str(e.value) and "LTH_MNIST_DIR" in str(e.value) and "download" in str(e.value)


def _write(path, data):
    path.write_bytes(data)
    return path


def test_rejects_wrong_magic(tmp_path):
    labels = _raw(datasets.FILES["train_labels"])
    p = _write(tmp_path / "x", labels)
    with pytest.raises(IdxError, match=r"x: wrong magic number 0x00000801, expected 0x00000803"):
        read_images(p)


def test_rejects_truncated_data(tmp_path):
    images = _raw(datasets.FILES["train_images"])
    p = _write(tmp_path / "imgs", images[:-100])
    with pytest.raises(IdxError, match=r"imgs: truncated: 3919900 data bytes .* 3920000 expected"):
        read_images(p)


def test_rejects_truncated_header_and_short_file(tmp_path):
    with pytest.raises(IdxError, match="truncated header"):
        read_images(_write(tmp_path / "h", _raw(datasets.FILES["train_images"])[:10]))
    with pytest.raises(IdxError, match="too short"):
        read_labels(_write(tmp_path / "s", b"\x00\x00"))


def test_rejects_trailing_bytes(tmp_path):
    p = _write(tmp_path / "lab", _raw(datasets.FILES["train_labels"]) + b"\x00")
    with pytest.raises(IdxError, match="lab: 1 unexpected bytes after the data"):
        read_labels(p)


def test_rejects_truncated_gzip(tmp_path):
    p = _write(tmp_path / "t.gz", (SAMPLE / f"{datasets.FILES['train_labels']}.gz").read_bytes()[:-50])
    with pytest.raises(IdxError, match="t.gz: corrupt or truncated gzip"):
        read_labels(p)


def test_rejects_wrong_dimensions(tmp_path):
    header = (0x803).to_bytes(4, "big") + (2).to_bytes(4, "big") + (27).to_bytes(4, "big") + (28).to_bytes(4, "big")
    p = _write(tmp_path / "d", header + bytes(2 * 27 * 28))
    with pytest.raises(IdxError, match="d: images are 27x28"):
        read_images(p)


def test_rejects_label_out_of_range(tmp_path):
    p = _write(tmp_path / "l", (0x801).to_bytes(4, "big") + (2).to_bytes(4, "big") + bytes([3, 12]))
    with pytest.raises(IdxError, match="label 12 out of range"):
        read_labels(p)


def test_rejects_count_mismatch(tmp_path):
    images = _write(tmp_path / "i", _raw(datasets.FILES["test_images"]))
    labels = _write(tmp_path / "l", (0x801).to_bytes(4, "big") + (3).to_bytes(4, "big") + bytes([1, 2, 3]))
    with pytest.raises(IdxError, match="holds 10000 images but .* holds 3 labels"):
        read_pair(images, labels)


def test_missing_file_in_folder_is_named(tmp_path, monkeypatch):
    _official(monkeypatch, "mnist", SAMPLE)
    shutil.copytree(SAMPLE, tmp_path / "d")
    (tmp_path / "d" / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match="missing t10k-labels-idx1-ubyte"):
        load_dataset("mnist", str(tmp_path / "d"))
