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


def test_full_mnist_from_folder_plain_or_gzipped(tmp_path, monkeypatch):
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


def test_missing_file_in_folder_is_named(tmp_path):
    shutil.copytree(SAMPLE, tmp_path / "d")
    (tmp_path / "d" / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match="missing t10k-labels-idx1-ubyte"):
        load_dataset("mnist", str(tmp_path / "d"))
