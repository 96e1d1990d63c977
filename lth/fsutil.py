"""Atomic file writes: a reader sees the old file or the new one, never half of one.

Below a guarded root (the run store registers its root) every write refuses symbolic links at every
level: a link planted anywhere inside a run folder (`checkpoint/`, `tensorboard/ticket_round01`) is never
written through, so nothing is written outside the store.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import stat
import tempfile
from pathlib import Path

import numpy as np

from lth.errors import Explained

_GUARDED_ROOTS: set[str] = set()


class LinkRefused(OSError):
    """A write below a guarded root met a symbolic link (or a non-folder where a folder belongs)."""


def guard_root(root: str | Path) -> None:
    """Writes below `root` from now on refuse links at every level below it."""
    _GUARDED_ROOTS.add(os.path.abspath(root))


def make_dirs(folder: str | Path) -> Path:
    """`mkdir -p folder`; below a guarded root each level is made or checked one by one, and a level that
    is a symbolic link or not a folder is refused (LinkRefused names it)."""
    folder = Path(os.path.abspath(folder))
    root = next((r for r in _GUARDED_ROOTS if folder.is_relative_to(r)), None)
    if root is None:
        folder.mkdir(parents=True, exist_ok=True)
        return folder
    current = Path(root)
    current.mkdir(parents=True, exist_ok=True)
    for part in folder.relative_to(root).parts:
        current = current / part
        try:
            mode = os.lstat(current).st_mode
        except FileNotFoundError:
            with contextlib.suppress(FileExistsError):
                os.mkdir(current)
            mode = os.lstat(current).st_mode
        if stat.S_ISLNK(mode) or not stat.S_ISDIR(mode):
            raise LinkRefused(
                f"{current} is {'a symbolic link' if stat.S_ISLNK(mode) else 'not a folder'}; "
                f"nothing is written through it"
            )
    return folder


class OutputError(Explained, ValueError):
    """An output path that cannot be used (empty, an existing file, below a file); one line."""


# Everything the product writes outside its store (analyze, compare and preset exports, export-model, bench
# figures) goes through the functions below: only new regular files, in a folder made or checked here, never
# through a symbolic link, never over an existing file.
def output_folder(path: str | Path, what: str = "--export", create: bool = True) -> Path:
    """A folder to write exports into, created if needed (`create=False`: only checked, so that a command
    refused later leaves nothing behind); OutputError when it cannot be one, a symbolic link included."""
    if not str(path).strip():
        raise OutputError(f"{what} is empty; give a folder")
    folder = Path(path)
    if folder.is_symlink():
        raise OutputError(
            f"{what} {folder} is a symbolic link; give the folder itself (nothing is written through a link)"
        )
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"{what} {folder} is an existing file, not a folder")
    if not create:
        for parent in folder.parents:  # the nearest existing ancestor must be a folder
            if parent.exists():
                if not parent.is_dir():
                    raise OutputError(f"{what} {folder}: {parent} is a file, not a folder")
                break
        return folder
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:  # a file where a parent folder belongs, no permission, a read-only disk
        raise OutputError(f"{what} {folder}: cannot create the folder ({e.strerror or e})") from None
    return folder


def output_file(path: str | Path, suffix: str = "", what: str = "--out") -> Path:
    """A new file (or folder) to write one export to: `path`, with `suffix` added when it lacks it. Nothing
    that exists is overwritten or written next to (`--out /dev/null` is refused, not turned into
    /dev/null.h5); its folder is created if needed. OutputError says why a path cannot be used."""
    if not str(path).strip():
        raise OutputError(f"{what} is empty; give a path")
    given = Path(path)
    out = given if not suffix or given.suffix == suffix else given.with_name(given.name + suffix)
    for candidate in dict.fromkeys((given, out)):
        if candidate.exists() or candidate.is_symlink():
            raise OutputError(f"{what} {candidate} exists; choose a new path (nothing is overwritten)")
    output_folder(out.parent, what)
    return out


def _open_folder(folder: Path, what: str) -> int:
    try:
        return os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError as e:  # ELOOP: the folder became a link; ENOTDIR: a file
        raise OutputError(f"{what} {folder} is not a folder the export can use ({e.strerror or e})") from None


def write_new_files(folder: str | Path, files: dict[str, bytes], what: str = "--export") -> list[Path]:
    """Write each `name: bytes` as a new regular file in `folder` (made or checked by `output_folder`). Every
    name is checked before anything is written: one that exists in any form (a file, a folder, a link, a
    dangling link) refuses the whole export with OutputError, and nothing is written. Files are created with
    O_CREAT|O_EXCL|O_NOFOLLOW relative to the opened folder, so a link planted meanwhile is never followed
    and nothing is overwritten; a file left half-written by a failure is removed."""
    folder = output_folder(folder, what)
    for name in files:
        if not name or "/" in name or name in (".", ".."):
            raise ValueError(f"not a file name: {name!r}")
    dir_fd = _open_folder(folder, what)
    try:
        taken = []
        for name in files:
            try:
                os.lstat(name, dir_fd=dir_fd)
                taken.append(name)
            except FileNotFoundError:
                pass
        if taken:
            raise OutputError(
                f"{what} {folder} already holds {', '.join(taken[:3])}"
                f"{f' and {len(taken) - 3} more' if len(taken) > 3 else ''}; choose a new folder "
                f"(nothing is overwritten)"
            )
        for name, data in files.items():
            try:
                fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644, dir_fd=dir_fd)
            except FileExistsError:
                raise OutputError(f"{what} {folder / name} appeared while exporting; nothing is overwritten") from None
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
            except BaseException:
                os.unlink(name, dir_fd=dir_fd)
                raise
    finally:
        os.close(dir_fd)
    return [folder / name for name in files]


def write_new_file(path: str | Path, data: bytes, what: str = "--out") -> Path:
    """`data` as the new regular file `path` (checked by `output_file`), under the rules of write_new_files."""
    path = Path(path)
    if path.exists() or path.is_symlink():
        raise OutputError(f"{what} {path} exists; choose a new path (nothing is overwritten)")
    return write_new_files(path.parent, {path.name: data}, what)[0]


def file_sha256(path: str | Path, max_bytes: int = 256 * 2**20) -> str:
    """The sha256 of a regular file (not through a link), read in blocks; OSError for a link, a folder or a file
    larger than `max_bytes`."""
    import hashlib

    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise IsADirectoryError(f"{path} is not a regular file")
        digest, read = hashlib.sha256(), 0
        while block := f.read(2**20):
            read += len(block)
            if read > max_bytes:
                raise OSError(f"{path} is larger than {max_bytes // 2**20} MB")
            digest.update(block)
    return digest.hexdigest()


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    path = Path(path)
    make_dirs(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        e.filename = e.filename or str(path)  # a full disk names the file it could not write
        raise
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json_atomic(path: str | Path, obj) -> None:
    write_bytes_atomic(path, (json.dumps(obj, indent=2, sort_keys=True, allow_nan=True) + "\n").encode())


def write_npz_atomic(path: str | Path, arrays: dict[str, np.ndarray]) -> None:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)  # type: ignore[arg-type]  # numpy's stub matches **arrays to allow_pickle
    write_bytes_atomic(path, buffer.getvalue())


# The largest .npz the product writes (a LeNet-300-100 run's theta0 and rewind weights) declares about
# 2 MB of arrays; a file declaring more than this is refused before any array is read.
MAX_NPZ_BYTES = 64 * 2**20


class ArrayFileError(Explained, ValueError):
    """An .npz file that is not what the product writes (unreadable, or arrays too large or of objects)."""


def npz_headers(path: str | Path) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """Each array's declared shape and dtype, read from the .npy headers alone (no array is read)."""
    import zipfile

    headers = {}
    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                if not info.filename.endswith(".npy"):
                    raise ArrayFileError(f"{Path(path).name}: {info.filename!r} is not an array")
                with archive.open(info) as member:
                    version = np.lib.format.read_magic(member)
                    read_header = (
                        np.lib.format.read_array_header_1_0
                        if version == (1, 0)
                        else np.lib.format.read_array_header_2_0
                    )
                    shape, _, dtype = read_header(member)
                headers[info.filename[:-4]] = (tuple(shape), dtype)
    except ArrayFileError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as e:
        raise ArrayFileError(f"{Path(path).name} is not a readable array file ({e})") from None
    return headers


def read_npz(path: str | Path, shapes=None, max_bytes: int = MAX_NPZ_BYTES) -> dict[str, np.ndarray]:
    """The arrays of an .npz file, after checking from its headers alone that every array is numeric, of
    a name and shape `shapes` allows (a dict name -> shape, or a function (name, shape) -> bool), and that
    together they declare at most `max_bytes` (a small compressed file can claim a huge array)."""
    headers = npz_headers(path)
    if isinstance(shapes, dict):
        expected = shapes
        shapes = lambda name, shape: expected.get(name) == shape  # noqa: E731
    declared = 0
    for name, (shape, dtype) in headers.items():
        if dtype.hasobject:
            raise ArrayFileError(f"{Path(path).name}: array {name!r} holds Python objects")
        if shapes is not None and not shapes(name, shape):
            raise ArrayFileError(f"{Path(path).name}: array {name!r} of shape {shape} is not one of this model's")
        declared += int(np.prod(shape, dtype=object)) * dtype.itemsize
        if declared > max_bytes:
            raise ArrayFileError(
                f"{Path(path).name}: its arrays declare over {max_bytes // 2**20} MB "
                f"({name!r} has shape {shape}); not read"
            )
    try:
        with np.load(path, allow_pickle=False) as f:
            return {key: f[key] for key in f.files}
    except (OSError, ValueError, EOFError) as e:
        raise ArrayFileError(f"{Path(path).name} is not a readable array file ({e})") from None
