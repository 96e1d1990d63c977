"""Reader for the IDX files of the MNIST database, checking everything that can be wrong with one."""

from __future__ import annotations

import math
import zlib
from pathlib import Path

import numpy as np

MAX_IDX_BYTES = 64 * 2**20  # the largest official file (60,000 images) is 47 MB uncompressed
IMAGES_MAGIC = 0x00000803  # unsigned bytes, 3 dimensions
LABELS_MAGIC = 0x00000801  # unsigned bytes, 1 dimension


class IdxError(ValueError):
    """A file that is not a well-formed MNIST IDX file; the message names the file."""


def _read_bytes(path: Path) -> bytes:
    try:
        size = path.stat().st_size
        if size > MAX_IDX_BYTES:
            raise IdxError(f"{path}: {size} bytes, larger than any MNIST IDX file")
        raw = path.read_bytes()
    except OSError as e:
        raise IdxError(f"{path}: cannot be read ({e.strerror or e})") from e
    if raw[:2] == b"\x1f\x8b":
        return _gunzip_bounded(path, raw)
    return raw


def _gunzip_bounded(path: Path, raw: bytes) -> bytes:
    """Decompress gzip members without ever holding more than MAX_IDX_BYTES (a gzip bomb is refused early),
    in time linear in the file: each member is fed from a view of the file in chunks that double from a few
    hundred bytes, so what the inflater copies back past a member's end is at most about the member's own
    size (a file of 300,000 empty members is read in a moment, not re-copied 300,000 times)."""
    out, view, pos = bytearray(), memoryview(raw), 0
    try:
        while pos < len(raw):
            if raw[pos] == 0 and raw.count(0, pos) == len(raw) - pos:
                break  # zero padding after the last member, as some tools write
            inflater, step = zlib.decompressobj(wbits=31), 256
            while not inflater.eof:
                if pos >= len(raw):
                    raise IdxError(f"{path}: corrupt or truncated gzip data (stream ends early)")
                chunk = view[pos : pos + step]
                pos += len(chunk)
                out += inflater.decompress(chunk, MAX_IDX_BYTES + 1 - len(out))
                if len(out) > MAX_IDX_BYTES:  # the bound cuts the output only here: each chunk is used up
                    raise IdxError(
                        f"{path}: decompresses to more than {MAX_IDX_BYTES} bytes, larger than any MNIST IDX file"
                    )
                step = min(2 * step, 2**20)
            pos -= len(inflater.unused_data)  # the next member starts where this one ended
    except zlib.error as e:
        raise IdxError(f"{path}: corrupt or truncated gzip data ({e})") from e
    return bytes(out)


def read_idx(path: str | Path, expected_magic: int) -> np.ndarray:
    """The array stored in an IDX file (gzipped or not), checked against the expected magic number."""
    path = Path(path)
    data = _read_bytes(path)
    if len(data) < 4:
        raise IdxError(f"{path}: too short to be an IDX file ({len(data)} bytes)")
    magic = int.from_bytes(data[:4], "big")
    if magic != expected_magic:
        raise IdxError(
            f"{path}: wrong magic number 0x{magic:08x}, expected 0x{expected_magic:08x} "
            f"({'images' if expected_magic == IMAGES_MAGIC else 'labels'} file)"
        )
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise IdxError(f"{path}: truncated header ({len(data)} bytes, {header} needed)")
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    expected = header + math.prod(dims)  # Python integers: dimensions cannot overflow into a wrong size
    if len(data) < expected:
        raise IdxError(
            f"{path}: truncated: {len(data) - header} data bytes for dimensions {dims}, {expected - header} expected"
        )
    if len(data) > expected:
        raise IdxError(f"{path}: {len(data) - expected} unexpected bytes after the data")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def read_images(path: str | Path, shape: tuple[int, ...] = (28, 28)) -> np.ndarray:
    """Images of `shape` (the dataset's HxW: lth.data.datasets)."""
    images = read_idx(path, IMAGES_MAGIC)
    if images.shape[1:] != tuple(shape):
        raise IdxError(
            f"{path}: images are {'x'.join(map(str, images.shape[1:]))}, this dataset's are {'x'.join(map(str, shape))}"
        )
    return images


def read_labels(path: str | Path) -> np.ndarray:
    labels = read_idx(path, LABELS_MAGIC)
    if labels.size and labels.max() > 9:
        raise IdxError(f"{path}: label {int(labels.max())} out of range 0-9")
    return labels


def read_pair(images_path: Path, labels_path: Path, shape: tuple[int, ...] = (28, 28)) -> tuple[np.ndarray, np.ndarray]:
    images, labels = read_images(images_path, shape), read_labels(labels_path)
    if len(images) != len(labels):
        raise IdxError(f"{images_path} holds {len(images)} images but {labels_path} holds {len(labels)} labels")
    return images, labels
