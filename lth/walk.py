"""Every folder walk of the product (a run's size and its deletion, a resumed run's TensorBoard rounds, a
benchmark's scratch store) without recursion and without following links.

A folder can be nested thousands of levels deep: deeper than Python's recursion limit (which ends
`shutil.rmtree`, `os.walk` and `Path.rglob` in Python 3.11 with a RecursionError) and deeper than a path
can name (PATH_MAX). So each level is opened relative to its parent's descriptor, never by a path; the walk
holds two descriptors at most (and a list of the subfolders left to visit of each level above it), climbs
back by `..` and checks that it is the very folder it came from. A symbolic link is never followed: it is
an entry of its own, and removing a tree unlinks the link and leaves its target alone.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from pathlib import Path

_FOLDER = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


def files_named(top: str | Path, pattern: str, limit: int = 10_000) -> list[Path]:
    """Regular files at or below folder `top` whose names match `pattern` (fnmatch), sorted; links are not
    followed, depth costs no recursion, and at most `limit` are returned (a folder of the user's can hold
    anything)."""
    import fnmatch

    found: list[Path] = []
    pending = [Path(top)]
    while pending and len(found) < limit:
        folder = pending.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                pending.append(Path(entry.path))
            elif entry.is_file(follow_symlinks=False) and fnmatch.fnmatch(entry.name, pattern):
                found.append(Path(entry.path))
    return sorted(found)[:limit]


def tree_size(path: str | Path) -> int:
    """Bytes of the regular files at or below `path`; a link counts as nothing and is not followed."""
    info = os.lstat(path)
    if stat.S_ISDIR(info.st_mode):
        return _walk(path, remove=False)
    return info.st_size if stat.S_ISREG(info.st_mode) else 0


def remove_tree(path: str | Path) -> int:
    """Remove `path` and everything below it, however deep; returns the bytes of the regular files removed.
    A link (`path` itself or anything below it) is unlinked; what it points to is left alone. Raises
    OSError where something cannot be removed (what could be is gone)."""
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode):
        os.unlink(path)
        return info.st_size if stat.S_ISREG(info.st_mode) else 0
    removed = _walk(path, remove=True)
    os.rmdir(path)
    return removed


def _identity(fd: int) -> tuple[int, int]:
    info = os.fstat(fd)
    return info.st_dev, info.st_ino


def _scan(fd: int, remove: bool) -> tuple[int, list[str]]:
    """The bytes of the regular files of one folder and the names of its subfolders; with `remove`, every
    entry that is not a folder (files, links, anything else) is unlinked."""
    size, folders = 0, []
    with os.scandir(fd) as entries:
        for entry in entries:
            try:
                info = entry.stat(follow_symlinks=False)
            except FileNotFoundError:  # removed meanwhile
                continue
            if stat.S_ISDIR(info.st_mode):
                folders.append(entry.name)
                continue
            if stat.S_ISREG(info.st_mode):
                size += info.st_size
            if remove:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.name, dir_fd=fd)
    return size, folders


def _walk(top: str | Path, remove: bool) -> int:
    """Bytes of the regular files below folder `top` (with `remove`: all of it removed, `top` left empty)."""
    total = 0
    fd = os.open(top, _FOLDER)
    try:
        size, found = _scan(fd, remove)
        total += size
        levels = [(_identity(fd), found)]  # from `top` down to the current folder: its identity, subfolders left
        names: list[str] = []  # the current folder's path below `top`, one name per level
        while True:
            identity, pending = levels[-1]
            if not pending and remove:  # what appeared while the folder was emptied goes too
                size, found = _scan(fd, True)
                total += size
                pending.extend(found)
            if pending:
                name = pending.pop()
                try:
                    child = os.open(name, _FOLDER, dir_fd=fd)
                except FileNotFoundError:
                    continue
                except OSError as e:
                    if e.errno not in (errno.ENOTDIR, errno.ELOOP):
                        raise
                    if remove:  # made a file or a link since the scan: unlinked, never followed
                        os.unlink(name, dir_fd=fd)
                    continue
                fd, parent = child, fd
                os.close(parent)
                size, found = _scan(fd, remove)
                total += size
                levels.append((_identity(fd), found))
                names.append(name)
                continue
            levels.pop()
            if not levels:
                return total
            parent = os.open("..", _FOLDER, dir_fd=fd)
            if _identity(parent) != levels[-1][0]:
                os.close(parent)
                raise OSError(errno.ESTALE, f"{top}: a folder was moved while it was walked; nothing more is done")
            fd, child = parent, fd
            os.close(child)
            name = names.pop()
            if remove:
                os.rmdir(name, dir_fd=fd)
    finally:
        os.close(fd)
