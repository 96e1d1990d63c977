"""lth.data.arrays: a user's classification dataset in one .npz file, and everything that can be wrong with one."""

import io
import time
import tracemalloc
import warnings
import zipfile

import numpy as np
import pytest

from lth.data import arrays
from lth.data.arrays import ArrayFileError, inspect, read
from lth.errors import Explained

N_TRAIN, N_TEST, K = 40, 12, 4


def _good(example=(8, 8, 3), dtype=np.uint8, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "x_train": (rng.random((N_TRAIN, *example)) * 200).astype(dtype),
        "y_train": np.arange(N_TRAIN) % K,
        "x_test": (rng.random((N_TEST, *example)) * 200).astype(dtype),
        "y_test": np.arange(N_TEST) % K,
    }


def _save(path, members, compressed=False):
    (np.savez_compressed if compressed else np.savez)(path, **members)
    return path


def _npz(tmp_path, compressed=False, **changes):
    """The good dataset with some members replaced (an array) or left out (None), saved with numpy."""
    members = {k: v for k, v in (_good() | changes).items() if v is not None}
    return _save(tmp_path / "data.npz", members, compressed)


def _npy(shape, dtype, data=b"", fortran=False):
    """A hand-made .npy member: a real header, then whatever data (none, a part, too much)."""
    out = io.BytesIO()
    header = {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)), "fortran_order": fortran, "shape": shape}
    np.lib.format.write_array_header_1_0(out, header)
    return out.getvalue() + data


def _npy_of(array):
    out = io.BytesIO()
    np.lib.format.write_array(out, np.asarray(array), allow_pickle=False)
    return out.getvalue()


def _zip(path, members, compression=zipfile.ZIP_STORED):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about a duplicate name, which one test writes on purpose
        with zipfile.ZipFile(path, "w", compression) as z:
            for name, data in members:
                z.writestr(name, data)
    return path


def _good_members(**changes):
    members = _good() | changes
    return [(f"{k}.npy", v if isinstance(v, bytes) else _npy_of(v)) for k, v in members.items() if v is not None]


def _refused(path, *words, call=read, **kwargs):
    with pytest.raises(ArrayFileError) as caught:
        call(path, **kwargs)
    message = str(caught.value)
    assert "\n" not in message and str(path) in message, message
    for word in words:
        assert word in message, message
    return message


# --- files that load ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "example, dtype",
    [((8, 8, 3), np.uint8), ((28, 28), np.uint8), ((32, 2), np.float32), ((5,), np.float64), ((7,), np.float16)],
    ids=["image-hwc", "image-hw", "signal", "tabular", "float16"],
)
@pytest.mark.parametrize("compressed", [False, True], ids=["savez", "savez_compressed"])
def test_good_files_load_as_stored(tmp_path, example, dtype, compressed):
    good = _good(example, dtype)
    path = _save(tmp_path / "d.npz", good, compressed)
    header = inspect(path)
    assert header == arrays.ArrayFileHeader(
        path=str(path),
        example_shape=example,
        train_size=N_TRAIN,
        test_size=N_TEST,
        x_dtype=np.dtype(dtype).name,
        y_dtype=good["y_train"].dtype.name,
        nbytes=sum(a.nbytes for a in good.values()),
    )
    data = read(path)
    assert data.classes == K
    for name, array in good.items():
        loaded = getattr(data, name)
        assert loaded.dtype == array.dtype and np.array_equal(loaded, array)  # stored dtype kept: no conversion


def test_fortran_order_big_endian_bool_and_mixed_dtypes_are_fine(tmp_path):
    good = _good((6, 5), np.float32)
    x_train = np.asfortranarray(good["x_train"])
    path = _npz(
        tmp_path,
        x_train=x_train,
        x_test=good["x_test"] > 100,  # bool examples
        y_train=good["y_train"].astype(">i2"),
        y_test=good["y_test"].astype(np.uint8),
    )
    header = inspect(path)
    assert header.x_dtype == "float32, bool" and header.y_dtype == "int16, uint8"
    data = read(path)
    assert data.x_train.flags.f_contiguous and np.array_equal(data.x_train, x_train)
    assert data.classes == K


def test_a_symlink_to_a_good_file_is_fine(tmp_path):
    target = _npz(tmp_path)
    link = tmp_path / "link.npz"
    link.symlink_to(target)
    assert inspect(link).path == str(link) and read(link).classes == K


def test_value_checks_run_in_chunks(tmp_path, monkeypatch):
    monkeypatch.setattr(arrays, "CHUNK", 7)  # many chunks, the last one partial
    good = _good((3, 3), np.float32)
    assert read(_npz(tmp_path, **good)).classes == K
    good["x_train"][0, 0, 0] = good["x_train"][-1, -1, -1] = np.nan
    _refused(_npz(tmp_path, **good), "x_train has 2 non-finite values", "2 NaN")
    y_test = good["y_test"].copy()
    y_test[-1] = K  # found in the last, partial chunk
    _refused(_npz(tmp_path, y_test=y_test), "y_test has 1 label of a class the training split does not have")


# --- files that are not npz datasets at all -------------------------------------------------------------------


def test_missing_file_and_folder(tmp_path):
    assert _refused(tmp_path / "absent.npz", "no such file") == f"{tmp_path / 'absent.npz'}: no such file"
    assert _refused(tmp_path, "not a file", call=inspect) == f"{tmp_path}: not a file (a folder)"
    with pytest.raises(ArrayFileError, match=r"bad\\x00name\.npz: "):  # shown escaped, on one line
        inspect(f"{tmp_path}/bad\0name.npz")


def test_not_a_zip_file(tmp_path):
    path = tmp_path / "d.npz"
    path.write_text("x,y\n1,2\n")
    _refused(path, "not an npz (zip) file")


def test_a_single_npy_file(tmp_path):
    path = tmp_path / "d.npy"
    np.save(path, np.zeros(3))
    _refused(path, "a single .npy array", call=inspect)


@pytest.mark.parametrize("compressed", [False, True])
def test_truncated_file(tmp_path, compressed):
    path = _npz(tmp_path, compressed)
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    _refused(path, "not an npz (zip) file", "truncated")


def test_unreadable_file(tmp_path):
    path = _npz(tmp_path)
    path.chmod(0)
    try:
        if path.open("rb"):  # root reads anything: nothing to test then
            pytest.skip("running as root")
    except PermissionError:
        _refused(path, "cannot be read")
    finally:
        path.chmod(0o644)


# --- members: names, validity, dtypes -------------------------------------------------------------------------


def test_missing_and_extra_members_are_named(tmp_path):
    message = _refused(_npz(tmp_path, y_test=None, meta=np.zeros(2)), "missing y_test.npy", "'meta.npy'")
    assert "exactly x_train.npy, y_train.npy, x_test.npy, y_test.npy" in message


def test_a_non_npy_member(tmp_path):
    path = _zip(tmp_path / "d.npz", [*_good_members(), ("README.txt", b"my dataset")])
    _refused(path, "unexpected members 'README.txt'", call=inspect)
    path = _zip(tmp_path / "d.npz", _good_members(x_test=b"these are not the arrays you want"))
    _refused(path, "'x_test.npy' is not a valid .npy array", call=inspect)


def test_an_unsupported_npy_version(tmp_path):
    out = io.BytesIO()
    np.lib.format.write_array(out, _good()["y_test"], version=(3, 0))  # numpy writes 3.0 only for utf-8 field names
    path = _zip(tmp_path / "d.npz", _good_members(y_test=out.getvalue()))
    _refused(path, "'y_test.npy': unsupported .npy format version 3.0", call=inspect)


def test_a_member_twice(tmp_path):
    path = _zip(tmp_path / "d.npz", [*_good_members(), ("y_train.npy", _npy_of(np.zeros(N_TRAIN, int)))])
    _refused(path, "'y_train.npy' appears more than once")


def test_a_pickled_object_array(tmp_path):
    objects = np.array([{"a": 1}, None, "text"] * (N_TRAIN // 3) + [1] * (N_TRAIN % 3), dtype=object)
    path = _npz(tmp_path, y_train=objects)
    assert b"\x80" in path.read_bytes()  # numpy pickled it
    _refused(path, "'y_train.npy' holds Python objects (a pickle)", call=inspect)
    _refused(path, "pickle")


@pytest.mark.parametrize(
    "dtype, kind",
    [
        ([("a", "f4"), ("b", "i4")], "structured"),
        ("V4", "void"),
        ("U3", "string"),
        ("S3", "bytes"),
        (np.complex64, "complex"),
        ("datetime64[s]", "datetime"),
    ],
    ids=["structured", "void", "str", "bytes", "complex", "datetime"],
)
def test_examples_must_be_numbers(tmp_path, dtype, kind):
    x_test = np.zeros((N_TEST, 8, 8, 3), dtype=dtype)
    _refused(_npz(tmp_path, x_test=x_test), "examples must be numbers", "x_test is", kind, call=inspect)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, bool, "U2", np.complex128])
def test_labels_must_be_integers(tmp_path, dtype):
    y_train = (np.arange(N_TRAIN) % K).astype(dtype)  # integral float values are refused too
    _refused(_npz(tmp_path, y_train=y_train), "labels must be integers", "y_train is", call=inspect)


# --- sizes: declared, stored, truncated -----------------------------------------------------------------------


def test_a_header_declaring_gigabytes_costs_nothing(tmp_path):
    huge = _npy((10**6, 1000, 1000), np.float64)  # 7.3 TB declared, no data
    path = _zip(tmp_path / "d.npz", _good_members(x_train=huge))
    assert path.stat().st_size < 10_000
    for call in (inspect, read):
        tracemalloc.start()
        started = time.perf_counter()
        message = _refused(path, "of arrays, more than the 4.0 GB limit", call=call)
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert elapsed < 1 and peak < 5 * 2**20, (elapsed, peak)
        assert "declares 7450.6 GB" in message
    # under a bound high enough to pass, the member is still refused from its sizes, before reading its data
    _refused(path, "'x_train.npy' is truncated", "needs 8000000000000 bytes of data", call=inspect, max_bytes=2**50)


def test_max_bytes_is_the_callers(tmp_path):
    path = _npz(tmp_path)
    nbytes = inspect(path).nbytes
    assert read(path, max_bytes=nbytes).classes == K
    _refused(path, f"declares {nbytes / 1024:.1f} KB of arrays, more than the 1000 bytes limit", max_bytes=1000)
    big = np.zeros((4, 3 * 2**20), np.uint8)  # 12 MB in a file of a few KB
    path = _zip(tmp_path / "big.npz", _good_members(x_train=big), zipfile.ZIP_DEFLATED)
    _refused(path, "declares 12.0 MB of arrays, more than the 1.0 MB limit", call=inspect, max_bytes=2**20)


def test_a_truncated_member(tmp_path):
    x_train = _good()["x_train"]
    cut = _npy(x_train.shape, x_train.dtype, x_train.tobytes()[:1000])
    _refused(_zip(tmp_path / "d.npz", _good_members(x_train=cut)), "'x_train.npy' is truncated", "holds 1000")


def test_bytes_after_a_members_data(tmp_path):
    path = _zip(tmp_path / "d.npz", _good_members(y_test=_npy_of(_good()["y_test"]) + b"\0" * 8))
    _refused(path, "'y_test.npy'", "8 unexpected bytes after")


@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED], ids=["stored", "deflated"])
def test_corrupt_member_data(tmp_path, compression):
    x_train = np.full((N_TRAIN, 8, 8, 3), 7, np.uint8)
    x_train[:, :, :, 1] = np.arange(N_TRAIN * 64).reshape(N_TRAIN, 8, 8) % 251
    path = _zip(tmp_path / "d.npz", _good_members(x_train=x_train), compression)
    raw = bytearray(path.read_bytes())
    middle = raw.find(b"x_train.npy") + 400  # inside the first member's (compressed) data
    raw[middle : middle + 40] = bytes(b ^ 0x5A for b in raw[middle : middle + 40])
    path.write_bytes(bytes(raw))
    inspect(path)  # its header is intact: only reading the data finds the damage
    _refused(path, "'x_train.npy' cannot be decoded")


# --- shapes ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "changes, words",
    [
        ({"x_test": np.zeros((N_TEST, 8, 8, 1), np.uint8)}, ["x_train's examples are 8x8x3, x_test's are 8x8x1"]),
        ({"x_train": np.zeros(N_TRAIN), "x_test": np.zeros(N_TEST)}, ["examples must have 1 to 3 dimensions"]),
        ({"x_train": np.zeros((N_TRAIN, 2, 2, 2, 2)), "x_test": np.zeros((N_TEST, 2, 2, 2, 2))}, ["5 dimensions"]),
        ({"x_train": np.float32(3)}, ["x_train is a single value"]),
        ({"x_train": np.zeros((N_TRAIN, 0, 3)), "x_test": np.zeros((N_TEST, 0, 3))}, ["examples are empty (0x3)"]),
        ({"y_train": (np.arange(N_TRAIN) % K)[:, None]}, ["y_train must be 1-D", "40x1"]),
        ({"y_test": np.zeros(N_TEST - 1, int)}, ["x_test holds 12 examples but y_test holds 11 labels"]),
        ({"x_train": np.zeros((0, 8, 8, 3)), "y_train": np.zeros(0, int)}, ["the train split is empty"]),
        ({"x_test": np.zeros((0, 8, 8, 3)), "y_test": np.zeros(0, int)}, ["the test split is empty"]),
    ],
    ids=[
        "example-shapes",
        "scalar-examples",
        "4d-examples",
        "0d",
        "empty-examples",
        "y-2d",
        "lengths",
        "no-train",
        "no-test",
    ],
)
def test_shapes(tmp_path, changes, words):
    _refused(_npz(tmp_path, **changes), *words, call=inspect)


# --- values ---------------------------------------------------------------------------------------------------


def test_non_finite_examples_are_counted(tmp_path):
    x_test = _good((5,), np.float64)["x_test"]
    x_test[1, 2] = x_test[3, 0] = np.nan
    x_test[4, 4] = -np.inf
    path = _npz(tmp_path, x_train=_good((5,), np.float64)["x_train"], x_test=x_test)
    inspect(path)  # values are read only by read()
    _refused(path, "x_test has 3 non-finite values (2 NaN, 1 infinite)")


@pytest.mark.parametrize(
    "changes, words",
    [
        ({"y_train": np.r_[-1, np.arange(N_TRAIN - 1) % K]}, ["y_train has label -1", "never negative"]),
        ({"y_test": np.r_[2**31, np.arange(N_TEST - 1) % K]}, ["y_test has label 2147483648", "below 2**31"]),
        ({"y_train": np.zeros(N_TRAIN, np.uint8)}, ["at least 2 classes"]),
        (
            {"y_train": np.r_[0, 1, 2, 4, 5, 6, 8, np.zeros(N_TRAIN - 7, int)]},
            ["classes 3, 7 have no training example"],
        ),
        ({"y_train": np.r_[0, 2, np.zeros(N_TRAIN - 2, int)]}, ["class 1 has no training example"]),
        ({"y_train": np.r_[1000, np.arange(N_TRAIN - 1) % K]}, ["at least 961 of the 1001 classes"]),
        ({"y_test": np.r_[4, 9, np.arange(N_TEST - 2) % K]}, ["y_test has 2 labels of a class the training split"]),
    ],
    ids=[
        "negative",
        "too-large",
        "one-class",
        "absent-classes",
        "absent-class",
        "more-classes-than-examples",
        "unknown-test-class",
    ],
)
def test_labels(tmp_path, changes, words):
    _refused(_npz(tmp_path, **changes), *words)


def test_many_absent_classes_are_listed_briefly(tmp_path):
    y_train = np.r_[np.arange(0, 40, 2), 39, np.zeros(N_TRAIN - 21, int)]  # the 19 odd classes below 39 absent
    message = _refused(_npz(tmp_path, y_train=y_train), "classes 1, 3, 5", "17, 19 and 9 more have no training example")
    assert len(message) < 400


def test_the_error_is_explained_and_a_value_error(tmp_path):
    with pytest.raises(ArrayFileError) as caught:
        read(tmp_path / "absent.npz")
    assert isinstance(caught.value, Explained) and isinstance(caught.value, ValueError)
