"""Reader for a user's classification dataset in one `.npz` file holding exactly `x_train`, `y_train`, `x_test`
and `y_test`, checking everything that can be wrong with one: each problem is one line naming the file.

The file is opened once; `inspect` reads only the members' .npy headers (a few hundred bytes each), so a file
whose headers declare more than `max_bytes` of arrays, or arrays that do not fit together, is refused before
any data is read. `read` then decodes the members with pickles refused, holding nothing but the arrays
themselves and temporaries of at most `CHUNK` elements; the arrays keep their stored dtype and memory order
(the caller converts them)."""

from __future__ import annotations

import contextlib
import lzma
import math
import os
import struct
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lth.errors import Explained

MAX_BYTES = 4 * 2**30  # default bound on the decoded arrays' total size
CHUNK = 2**22  # elements per step of the value checks: their temporaries stay a few MB whatever the arrays' size
X_NAMES = ("x_train", "x_test")
Y_NAMES = ("y_train", "y_test")
NAMES = ("x_train", "y_train", "x_test", "y_test")
MAX_LABEL = 2**31  # labels must be below this (they become int32)
NPY_MAGIC = b"\x93NUMPY"
X_KINDS = "biuf"  # bool, signed and unsigned integers, floats (float16 included)
Y_KINDS = "iu"
KIND_NAMES = {"V": "structured or void", "U": "string", "S": "bytes", "c": "complex", "O": "object"}
KIND_NAMES |= {"M": "datetime", "m": "timedelta", "b": "boolean", "f": "floating-point"}

# What reading a hostile or damaged zip member can raise besides OSError: a corrupt deflate/lzma/bz2 stream, a
# short read, an encrypted or unsupported member (RuntimeError, NotImplementedError), numpy's header parser.
_READ_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    EOFError,
    ValueError,
    SyntaxError,
    TypeError,
    OverflowError,
    RuntimeError,
    NotImplementedError,
    struct.error,
    zlib.error,
    lzma.LZMAError,
    zipfile.BadZipFile,
)


class ArrayFileError(Explained, ValueError):
    """An .npz file that is not a well-formed classification dataset; the one-line message names the file."""


@dataclass(frozen=True)
class ArrayFileHeader:
    path: str
    example_shape: tuple[int, ...]  # shape of one example (x_train.shape[1:])
    train_size: int
    test_size: int
    x_dtype: str  # numpy's name ("uint8"); "A, B" (train, test) where x_train and x_test differ
    y_dtype: str
    nbytes: int  # total decoded size declared by the headers


@dataclass(frozen=True)
class ClassificationArrays:
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: int  # K = max label + 1


@dataclass(frozen=True)
class _Member:
    info: zipfile.ZipInfo
    shape: tuple[int, ...]
    fortran_order: bool
    dtype: np.dtype
    nbytes: int  # declared by the header
    stored: int  # data bytes after the header, by the zip directory's uncompressed size


def _show(path: str | os.PathLike[str]) -> str:
    text = os.fspath(path)
    text = text if text.isprintable() else repr(text)[1:-1]  # a newline in a name must not split the line
    return text if len(text) <= 200 else text[:200] + "..."


def _detail(error: BaseException) -> str:
    """An exception's message on one line (numpy's and zipfile's can span several)."""
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return " ".join(str(error).split())[:300] or type(error).__name__


def _size(nbytes: int) -> str:
    for unit, scale in (("GB", 2**30), ("MB", 2**20), ("KB", 2**10)):
        if nbytes >= scale:
            return f"{nbytes / scale:.1f} {unit}"
    return f"{nbytes} bytes"


def _shape(shape: tuple[int, ...]) -> str:
    return "x".join(map(str, shape)) if shape else "a single value"


def _listed(items: list[str], at_most: int = 10) -> str:
    more = f" and {len(items) - at_most} more" if len(items) > at_most else ""
    return ", ".join(items[:at_most]) + more


@contextlib.contextmanager
def _open(path: str | os.PathLike[str]) -> Iterator[tuple[str, zipfile.ZipFile]]:
    shown = _show(path)
    p = Path(path)
    try:
        if not p.exists():
            raise ArrayFileError(f"{shown}: no such file")
        if not p.is_file():
            raise ArrayFileError(f"{shown}: not a file{' (a folder)' if p.is_dir() else ''}")
        handle = p.open("rb")
    except ArrayFileError:
        raise
    except (OSError, ValueError) as e:  # no permission, a name too long, a loop, a NUL in the name
        raise ArrayFileError(f"{shown}: cannot be read ({_detail(e)})") from None
    with handle:
        try:
            start = handle.read(len(NPY_MAGIC))
            handle.seek(0)
            archive = zipfile.ZipFile(handle)
        except _READ_ERRORS as e:
            if start == NPY_MAGIC:
                raise ArrayFileError(
                    f"{shown}: a single .npy array, not an .npz file holding {', '.join(NAMES)}"
                ) from None
            raise ArrayFileError(f"{shown}: not an npz (zip) file, or a truncated one ({_detail(e)})") from None
        with archive:
            yield shown, archive


def _check_names(shown: str, archive: zipfile.ZipFile) -> dict[str, zipfile.ZipInfo]:
    infos: dict[str, zipfile.ZipInfo] = {}
    extra: list[str] = []
    for info in archive.infolist():
        name = info.filename
        key = name[: -len(".npy")] if name.endswith(".npy") else None
        if key not in NAMES:
            extra.append(repr(name))
        elif key in infos:
            raise ArrayFileError(f"{shown}: member {name!r} appears more than once")
        else:
            infos[key] = info
    missing = [f"{n}.npy" for n in NAMES if n not in infos]
    problems = ([f"missing {', '.join(missing)}"] if missing else []) + (
        [f"unexpected members {_listed(extra)}"] if extra else []
    )
    if problems:
        raise ArrayFileError(
            f"{shown}: {'; '.join(problems)} (an npz dataset holds exactly {', '.join(f'{n}.npy' for n in NAMES)})"
        )
    return infos


def _read_header(shown: str, archive: zipfile.ZipFile, name: str, info: zipfile.ZipInfo) -> _Member:
    where = f"{shown}: member {info.filename!r}"
    try:
        with archive.open(info) as fp:
            version = np.lib.format.read_magic(fp)
            if version == (1, 0):
                shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(fp)
            elif version == (2, 0):
                shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(fp)
            else:
                raise ArrayFileError(f"{where}: unsupported .npy format version {version[0]}.{version[1]}")
            header_bytes = fp.tell()
    except ArrayFileError:
        raise
    except _READ_ERRORS as e:
        raise ArrayFileError(f"{where} is not a valid .npy array ({_detail(e)})") from None
    shape = tuple(int(d) for d in shape)
    if any(d < 0 for d in shape):
        raise ArrayFileError(f"{where} is not a valid .npy array (negative dimension in shape {shape})")
    if dtype.hasobject:
        raise ArrayFileError(f"{where} holds Python objects (a pickle): refused, save plain numeric arrays")
    kinds, role = (X_KINDS, "examples") if name in X_NAMES else (Y_KINDS, "labels")
    if dtype.kind not in kinds or dtype.subdtype is not None or dtype.names is not None:
        kind = KIND_NAMES.get(dtype.kind, dtype.kind)
        if role == "labels":
            raise ArrayFileError(f"{shown}: labels must be integers, {name} is {kind} ({dtype})")
        raise ArrayFileError(f"{shown}: examples must be numbers (bool, integer or float), {name} is {kind} ({dtype})")
    nbytes = math.prod(shape) * dtype.itemsize  # Python integers: a declared shape cannot overflow
    return _Member(info, shape, bool(fortran_order), dtype, nbytes, info.file_size - header_bytes)


def _check_stored(shown: str, member: _Member) -> None:
    """The data the zip directory says a member holds is what its header declares: a member cut short (or with
    bytes after its array) is refused before its data is read."""
    where, shape, dtype = f"{shown}: member {member.info.filename!r}", member.shape, member.dtype
    if member.stored < member.nbytes:
        raise ArrayFileError(
            f"{where} is truncated: {_shape(shape)} {dtype.name} needs {member.nbytes} bytes of data, "
            f"it holds {member.stored}"
        )
    if member.stored > member.nbytes:
        raise ArrayFileError(
            f"{where}: {member.stored - member.nbytes} unexpected bytes after the {_shape(shape)} array's data"
        )


def _dtypes(a: _Member, b: _Member) -> str:
    return a.dtype.name if a.dtype == b.dtype else f"{a.dtype.name}, {b.dtype.name}"


def _inspect(
    path: str | os.PathLike[str], shown: str, archive: zipfile.ZipFile, max_bytes: int
) -> tuple[ArrayFileHeader, dict[str, _Member]]:
    infos = _check_names(shown, archive)
    members = {name: _read_header(shown, archive, name, infos[name]) for name in NAMES}
    total = sum(m.nbytes for m in members.values())
    if total > max_bytes:
        raise ArrayFileError(f"{shown}: declares {_size(total)} of arrays, more than the {_size(max_bytes)} limit")
    for member in members.values():
        _check_stored(shown, member)
    for name in X_NAMES:
        shape = members[name].shape
        if len(shape) < 2 or len(shape) > 4:
            raise ArrayFileError(
                f"{shown}: {name} is {_shape(shape)} ({len(shape)} dimensions): examples must have 1 to 3 dimensions "
                "(features, a signal LxC, an image HxW or HxWxC) after the first, the example axis"
            )
    example = members["x_train"].shape[1:]
    if members["x_test"].shape[1:] != example:
        raise ArrayFileError(
            f"{shown}: x_train's examples are {_shape(example)}, x_test's are {_shape(members['x_test'].shape[1:])}"
        )
    if math.prod(example) == 0:
        raise ArrayFileError(f"{shown}: examples are empty ({_shape(example)})")
    for x, y in zip(X_NAMES, Y_NAMES):
        x_shape, y_shape = members[x].shape, members[y].shape
        if len(y_shape) != 1:
            raise ArrayFileError(f"{shown}: {y} must be 1-D (one label per example), it is {_shape(y_shape)}")
        if x_shape[0] == 0:
            raise ArrayFileError(f"{shown}: the {x[2:]} split is empty ({x} holds no examples)")
        if x_shape[0] != y_shape[0]:
            raise ArrayFileError(f"{shown}: {x} holds {x_shape[0]} examples but {y} holds {y_shape[0]} labels")
    header = ArrayFileHeader(
        path=os.fspath(path),
        example_shape=example,
        train_size=members["x_train"].shape[0],
        test_size=members["x_test"].shape[0],
        x_dtype=_dtypes(members["x_train"], members["x_test"]),
        y_dtype=_dtypes(members["y_train"], members["y_test"]),
        nbytes=total,
    )
    return header, members


def inspect(path: str | os.PathLike[str], max_bytes: int = MAX_BYTES) -> ArrayFileHeader:
    """From the members' .npy headers only, without reading array data: cheap enough for a page to call."""
    with _open(path) as (shown, archive):
        header, _ = _inspect(path, shown, archive, max_bytes)
    return header


def _load(shown: str, archive: zipfile.ZipFile, member: _Member) -> np.ndarray:
    where = f"{shown}: member {member.info.filename!r}"
    try:
        with archive.open(member.info) as fp:
            array = np.lib.format.read_array(fp, allow_pickle=False)  # reads in 256 KB steps into the array
            if fp.read(1):  # reaching the end also makes zipfile check the member's CRC
                raise ArrayFileError(f"{where}: unexpected bytes after the array's data")
    except ArrayFileError:
        raise
    except _READ_ERRORS as e:  # a member cut short, a corrupt stream, a CRC mismatch
        raise ArrayFileError(f"{where} cannot be decoded, truncated or corrupt ({_detail(e)})") from None
    if array.shape != member.shape or array.dtype != member.dtype:  # the file changed since its header was read
        raise ArrayFileError(f"{where} changed while it was read")
    return array


def _flat(array: np.ndarray) -> np.ndarray:
    """A 1-D view of a C- or Fortran-ordered array's elements (in memory order; no copy)."""
    if array.flags.f_contiguous and not array.flags.c_contiguous:
        return array.reshape(-1, order="F")
    return array.reshape(-1)


def _chunks(array: np.ndarray) -> Iterator[np.ndarray]:
    flat = _flat(array)
    for start in range(0, flat.size, CHUNK):
        yield flat[start : start + CHUNK]


def _check_finite(shown: str, name: str, x: np.ndarray) -> None:
    if x.dtype.kind != "f":
        return
    nan = inf = 0
    for chunk in _chunks(x):
        nan += int(np.count_nonzero(np.isnan(chunk)))
        inf += int(np.count_nonzero(np.isinf(chunk)))
    if nan or inf:
        parts = ([f"{nan} NaN"] if nan else []) + ([f"{inf} infinite"] if inf else [])
        raise ArrayFileError(
            f"{shown}: {name} has {nan + inf} non-finite values ({', '.join(parts)}); examples must be finite numbers"
        )


def _check_labels(shown: str, y_train: np.ndarray, y_test: np.ndarray) -> int:
    for name, y in zip(Y_NAMES, (y_train, y_test)):
        low, high = int(y.min()), int(y.max())
        if low < 0:
            raise ArrayFileError(f"{shown}: {name} has label {low}: labels must be 0..K-1, never negative")
        if high >= MAX_LABEL:
            raise ArrayFileError(f"{shown}: {name} has label {high}: labels must be below 2**31")
    classes = int(y_train.max()) + 1
    if classes < 2:
        raise ArrayFileError(f"{shown}: the training labels are all 0: a classifier needs at least 2 classes")
    if classes > len(y_train):  # more classes than examples: some are surely absent, and `seen` would be large
        raise ArrayFileError(
            f"{shown}: y_train's labels go up to {classes - 1} but it has only {len(y_train)} examples: "
            f"at least {classes - len(y_train)} of the {classes} classes have no training example"
        )
    seen = np.zeros(classes, dtype=bool)  # at most one byte per training label: no larger than y_train
    for chunk in _chunks(y_train):
        seen[chunk] = True
    if not seen.all():
        absent: list[str] = []
        for start in range(0, classes, CHUNK):
            absent += [str(start + int(i)) for i in np.flatnonzero(~seen[start : start + CHUNK])[:11]]
            if len(absent) > 10:
                break
        count = classes - int(np.count_nonzero(seen))
        listed = ", ".join(absent[:10]) + (f" and {count - 10} more" if count > 10 else "")
        raise ArrayFileError(
            f"{shown}: class{'es' if count > 1 else ''} {listed} ha{'ve' if count > 1 else 's'} no training example "
            f"(labels must be 0..K-1, each present in y_train)"
        )
    if int(y_test.max()) >= classes:
        unknown = sum(int(np.count_nonzero(chunk >= classes)) for chunk in _chunks(y_test))
        raise ArrayFileError(
            f"{shown}: y_test has {unknown} label{'s' if unknown > 1 else ''} of a class the training split does not "
            f"have (up to {int(y_test.max())}; the training labels are 0..{classes - 1})"
        )
    return classes


def read(path: str | os.PathLike[str], max_bytes: int = MAX_BYTES) -> ClassificationArrays:
    """inspect() first, then load with allow_pickle=False and check every array."""
    with _open(path) as (shown, archive):
        _, members = _inspect(path, shown, archive, max_bytes)
        arrays = {name: _load(shown, archive, members[name]) for name in NAMES}
    for name in X_NAMES:
        _check_finite(shown, name, arrays[name])
    classes = _check_labels(shown, arrays["y_train"], arrays["y_test"])
    return ClassificationArrays(
        arrays["x_train"], arrays["y_train"], arrays["x_test"], arrays["y_test"], classes=classes
    )


__all__ = ["MAX_BYTES", "ArrayFileError", "ArrayFileHeader", "ClassificationArrays", "inspect", "read"]
