"""The two files a worker appends to: metrics.jsonl (one evaluation per line) and log.txt. Appends refuse
links; reads skip torn or malformed lines and a live view reads only what is new. Each function takes the
run store (lth.runs.store, which uses `log_tail` itself) and reads through its checked `file`."""

from __future__ import annotations

import json
import os
import re

from lth import paths
from lth.errors import naming
from lth.fsutil import write_bytes_atomic
from lth.runs import schema

MAX_METRICS_BYTES = 512 * 2**20
# TensorFlow's start-up lines, printed before its logging is configured: not the run's progress
TF_NOISE = re.compile(
    r"absl::InitializeLog|cudart_stub|cuda_platform|cuInit|oneDNN custom operations|"
    r"computation_placer|TF_ENABLE_ONEDNN_OPTS|This TensorFlow binary is optimized|"
    r"^[IWE]\d{4} \d\d:\d\d|^WARNING: All log messages|^WARNING:absl|"
    r"rebuild TensorFlow with the appropriate compiler flags|^WARNING:tensorflow:Compiled the loaded"
)


def metrics_records(store, run_id: str) -> list[dict]:
    """The run's evaluations; torn and malformed lines are skipped."""
    return metrics_since(store, run_id, 0)[0]


def metrics_since(store, run_id: str, offset: int) -> tuple[list[dict], int]:
    """The evaluations appended after byte `offset`, and the offset to ask from next time: a live view
    reads only what is new. A file that shrank (a resumed run rewrote it) is read from the start, and
    the returned offset is then below the one given: the caller replaces what it held. A last line
    still being written is left for the next call."""
    try:
        path = store.file(run_id, paths.METRICS, MAX_METRICS_BYTES)
        if path is None:
            return [], 0
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size < offset:
                offset = 0
            f.seek(offset)
            data = f.read(size - offset)
    except (ValueError, OSError):  # the store's StoreError and Corrupt are ValueErrors
        return [], offset
    end = data.rfind(b"\n") + 1
    text, offset = data[:end].decode("utf-8", errors="replace"), offset + end
    records = []
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except (ValueError, RecursionError):
            continue  # a line torn by a killed writer, or one no reader should decode
        if schema.metric(record):
            records.append(record)
    return records, offset


def log_tail(store, run_id: str, lines: int = 20, progress_only: bool = False) -> list[str]:
    """The log's last `lines` lines (`progress_only`: without TensorFlow's start-up noise)."""
    try:
        path = store.file(run_id, paths.LOG, MAX_METRICS_BYTES)
        if path is None:
            return []
        with open(path, "rb") as f:  # the end only: a log can be long
            f.seek(max(0, path.stat().st_size - 256 * 1024))
            text = f.read().decode("utf-8", errors="replace").splitlines()
    except (ValueError, OSError):  # the store's StoreError and Corrupt are ValueErrors
        return []
    return [line for line in text if not (progress_only and TF_NOISE.search(line))][-lines:]


def append_metric(store, run_id: str, record: dict) -> None:
    # O_NOFOLLOW: a metrics.jsonl planted as a symlink is never written through
    path = store.folder(run_id) / paths.METRICS
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    with naming(path), os.fdopen(fd, "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")


def keep_metrics(store, run_id: str, keep) -> None:
    """Drop metric lines of work that a resumed run redoes (`keep(record)` says which stay)."""
    kept = [r for r in metrics_records(store, run_id) if keep(r)]
    path = store.folder(run_id) / paths.METRICS
    with naming(path):
        write_bytes_atomic(path, "".join(json.dumps(r) + "\n" for r in kept).encode())
