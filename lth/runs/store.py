"""The run store: one folder per run, named by the hash of its canonical config and its data.

    <root>/settings.json            the store's settings (concurrency, executor), written by the dashboard
    <root>/<run_id>/config.json     the settings (and where the data came from)
                    status.json     queued | running | done | failed | cancelled, pid, times, device, versions
                    heartbeat.json  written by the worker every few seconds: time, progress
                    metrics.jsonl   one evaluation per line, appended (a torn or malformed line is skipped)
                    results.json    the run's summary, as `python -m lth run` prints it
                    checkpoint/     masks and initial/rewind weights per round (.npz)
                    log.txt         the worker's output

Every file is read as untrusted: its type and ranges are checked (`schema`), a bad one makes its run
`corrupt` with the reason and never hides the other runs. Nothing is read, written or deleted outside
the root: run ids are checked before any path is made, and symlinks (run folders or their files) are
refused. A run whose worker died or hangs is marked failed when it is next read, and a hung worker is
ended. A read-only store can be listed and read. Pure Python: the dashboard uses it.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import stat
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from filelock import FileLock, Timeout

from lth import networks
from lth.errors import Explained
from lth.fsutil import guard_root, make_dirs, write_bytes_atomic, write_json_atomic
from lth.hparams import RunConfig
from lth.runs import executors, schema, trust
from lth.runs.schema import Corrupt
from lth.runs.state import RunState

DEFAULT_ROOT = Path(__file__).resolve().parent.parent.parent / "cache"
CACHE_ENV = "LTH_CACHE_DIR"
HEARTBEAT_SECONDS = 2.0
HEARTBEAT_TIMEOUT = 30.0  # a running worker silent this long is dead even if its pid lives on
STARTUP_GRACE = 60.0  # a worker just started may take this long (TensorFlow import) to beat first
CLOCK_SLACK = 60.0  # times further in the future than this are not believed
MAX_JSON_BYTES = 16 * 2**20  # results of a 100-round lottery run are about 1 MB
MAX_METRICS_BYTES = 512 * 2**20


_CHECKED: dict = {}  # (path, inode, size, mtime) -> (ok, checked value or Corrupt): see RunStore._checked


class StoreError(Explained, ValueError):
    """A request the store cannot satisfy (unknown run, bad id, run in the wrong state, read-only)."""


def printable(text: str) -> str:
    """`text` without control characters (a log line can hold terminal escape sequences)."""
    return "".join(c if c.isprintable() else "?" for c in text)


def default_root(cache_dir: str | Path | None = None) -> Path:
    if cache_dir is not None and not str(cache_dir).strip():
        raise StoreError("--cache-dir is empty; give a folder (or leave it out for the default store)")
    return Path(cache_dir or os.environ.get(CACHE_ENV) or DEFAULT_ROOT)


# ---- processes ----------------------------------------------------------------------------------------
def process_start_time(pid: int | None) -> int | None:
    """The kernel's start time of process `pid` (clock ticks since boot): with the pid, it names one
    process, so a reused pid is never mistaken for the worker. None where /proc cannot tell."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
            return int(f.read().rsplit(")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def process_alive(pid: int | None, start_time: int | None = None) -> bool:
    """True if `pid` is a live process (a zombie counts as dead), and the same one when `start_time` is given."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return True  # no /proc: trust kill(0)
    if fields[0] == "Z":
        return False
    return start_time is None or int(fields[19]) == start_time


def process_command(pid: int) -> list[str] | None:
    """The command line of process `pid` (None where /proc cannot tell)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().decode("utf-8", "replace").split("\0")[:-1]
    except OSError:
        return None


def is_run_worker(pid: int, start_time: int | None, run_id: str, root: Path, own_session: bool) -> bool:
    """Whether `pid` provably is this run's worker, from what the process itself shows (a store file can
    say anything): its start time matches the one recorded and its command line is the worker's for this
    run id and store (`-m lth worker RUN_ID --cache-dir ROOT`), or, for a run trained in the foreground,
    `-m lth run`. Where /proc cannot tell, nothing is proven."""
    if start_time is None or process_start_time(pid) != start_time:
        return False
    argv = process_command(pid)
    if not argv:
        return False
    args = argv[1:]
    if own_session:
        if args[:4] != ["-m", "lth", "worker", run_id] or len(args) != 6 or args[4] != "--cache-dir":
            return False
        try:
            return Path(args[5]).resolve() == Path(root).resolve()
        except OSError:
            return False
    return args[:3] == ["-m", "lth", "run"]


def end_process(pid: int, own_session: bool, start_time: int | None, *, run_id: str, root: Path,
                grace: float = 0.0) -> bool:
    """SIGTERM (then SIGKILL after `grace` seconds) to a run's worker: its whole process group when it runs
    in its own session. A stopped (SIGSTOP) process is ended by SIGKILL too. Nothing is sent unless the
    process provably is this run's worker (`is_run_worker`); returns whether it was."""
    if not is_run_worker(pid, start_time, run_id, root, own_session):
        return False

    def send(sig) -> None:
        if not process_alive(pid, start_time):
            return
        try:
            os.killpg(pid, sig) if own_session else os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    if grace > 0:
        send(signal.SIGTERM)
        deadline = time.time() + grace
        while time.time() < deadline and process_alive(pid, start_time):
            time.sleep(0.1)
    send(signal.SIGKILL)
    return True


# ---- settings ------------------------------------------------------------------------------------------
RAY_MAX_IN_FLIGHT = 16  # Ray runs supervised at once from this machine (one light process each)
SETTING_CHECKS = {
    "max_concurrent": (lambda v: isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 64,
                       "a whole number from 1 to 64"),
    "ray_max_in_flight": (lambda v: isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 1024,
                          "a whole number from 1 to 1024"),
    "executor": (lambda v: v in executors.NAMES, " or ".join(executors.NAMES)),
    "ray_address": (lambda v: isinstance(v, str) and 0 < len(v) < 256, "a Ray address"),
    "placement_sig": (lambda v: isinstance(v, str), "a signature"),
}
PLACEMENT_KEYS = ("executor", "ray_address")


# runs that train the dense network the same way (a lottery's round 0, a baseline) share it as dense reference
TRAINING_KEYS = ("model", "dataset", "iterations", "epochs", "batch_size", "lr", "optimizer", "eval_every", "patience")


@dataclass
class Settings:
    values: dict = field(default_factory=dict)  # only the valid ones
    problems: list[str] = field(default_factory=list)  # what was ignored and why

    def get(self, key: str, default=None):
        return self.values.get(key, default)


# ---- the store -------------------------------------------------------------------------------------------
class RunStore:
    def __init__(self, root: str | Path | None = None, create: bool = True):
        """`create=False`: a reader that finds no store creates none (it lists nothing, writes nothing)."""
        self.root = default_root(root)
        if self.root.exists() and not self.root.is_dir():
            raise StoreError(f"the run store {printable(str(self.root))} is not a folder")
        self.missing = not create and not self.root.exists()
        if self.missing:
            self.writable = False
            return
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StoreError(f"cannot create the run store {printable(str(self.root))}: {e.strerror or e}") from None
        self.writable = os.access(self.root, os.W_OK | os.X_OK)
        guard_root(self.root)  # every write below the root refuses links at every level (lth.fsutil)

    # ---- ids, paths and locks -------------------------------------------------------------------------
    @staticmethod
    def check_id(run_id) -> str:
        if not isinstance(run_id, str) or not schema.RUN_ID.fullmatch(run_id):
            shown = run_id if len(str(run_id)) <= 40 else f"{str(run_id)[:40]}…"
            raise StoreError(f"not a run id: {shown!r} (run ids are 16 hexadecimal digits; see `lth list`)")
        return run_id

    def path(self, run_id: str) -> Path:
        return self.root / self.check_id(run_id)

    def folder(self, run_id: str) -> Path:
        """The run's folder, refused if it is a symlink or not a folder (nothing follows a link out)."""
        folder = self.path(run_id)
        if folder.is_symlink():
            raise StoreError(f"run {run_id}: its folder is a symlink ({os.readlink(folder)}); the store does not "
                             f"follow links out of {self.root}")
        if not folder.is_dir():
            raise StoreError(f"no run {run_id} in {self.root}")
        return folder

    def require_writable(self) -> None:
        if getattr(self, "missing", False):
            raise StoreError(f"there is no run store at {printable(str(self.root))}")
        if not self.writable:
            raise StoreError(f"the run store {self.root} is read-only: runs can be listed and read, not "
                             f"started, changed or deleted (use --cache-dir or LTH_CACHE_DIR for a writable one)")

    def lock_path(self, name: str) -> Path:
        """A lock file of the store root (`.RUN_ID.lock`, `.scheduler.lock`); StoreError when the entry there
        is a link, a folder or anything but a regular file (it is never followed or replaced)."""
        path = self.root / name
        try:
            mode = path.lstat().st_mode
        except FileNotFoundError:
            return path
        except OSError as e:
            raise StoreError(f"the lock file {path} cannot be read: {e.strerror or e}") from None
        if not stat.S_ISREG(mode):
            raise StoreError(f"the lock file {path} is {'a symlink' if stat.S_ISLNK(mode) else 'not a regular file'};"
                             f" remove it (nothing is written through it)")
        return path

    @contextmanager
    def lock(self, run_id: str):
        """Serialises state changes of one run across processes (two tabs, worker and canceller)."""
        self.check_id(run_id)
        self.require_writable()
        lock = FileLock(str(self.lock_path(f".{run_id}.lock")), timeout=60)
        try:
            lock.acquire()
        except Timeout:
            raise StoreError(f"run {run_id} is locked by another process for over 60 s") from None
        except OSError as e:
            raise StoreError(f"run {run_id} cannot be locked: {e.strerror or e}") from None
        try:
            yield
        finally:
            lock.release()

    def run_ids(self) -> list[str]:
        if not self.root.exists():  # opened by a reader where there is no store
            return []
        try:
            entries = list(self.root.iterdir())
        except OSError as e:
            raise StoreError(f"cannot list the run store {self.root}: {e.strerror or e}") from None
        return sorted(p.name for p in entries if schema.RUN_ID.fullmatch(p.name)
                      and (p.is_dir() or p.is_symlink()))

    def exists(self, run_id: str) -> bool:
        path = self.path(run_id)
        return path.is_symlink() or (path / "config.json").exists()

    # ---- reading files ---------------------------------------------------------------------------------
    def _file(self, run_id: str, name: str, limit: int = MAX_JSON_BYTES) -> Path | None:
        """A regular file of the run (None if absent); a symlink, a folder or a huge file is Corrupt."""
        path = self.folder(run_id) / name
        try:
            info = path.lstat()
        except FileNotFoundError:
            return None
        except OSError as e:
            raise Corrupt(f"{name}: {e.strerror or e}") from None
        if stat.S_ISLNK(info.st_mode):
            raise Corrupt(f"{name} is a symlink; the store does not follow links")
        if not stat.S_ISREG(info.st_mode):
            raise Corrupt(f"{name} is not a regular file")
        if info.st_size > limit:
            raise Corrupt(f"{name} is {info.st_size} bytes, more than the {limit} it can be")
        return path

    def check_appended_files(self, run_id: str) -> None:
        """The files a worker appends to (log.txt, metrics.jsonl) are regular files or absent; Corrupt else."""
        for name in ("log.txt", "metrics.jsonl"):
            self._file(run_id, name, limit=2**62)

    def _json(self, run_id: str, name: str):
        path = self._file(run_id, name)
        if path is None:
            return None
        try:
            data = path.read_bytes()
        except OSError as e:
            raise Corrupt(f"{name}: {e.strerror or e}") from None
        return schema.parse_json(data, name)

    def _checked(self, run_id: str, name: str, check):
        """`check(json)` of a file, remembered while the file is unchanged (same inode, size and mtime): a
        page refreshing the run table every few seconds re-reads only what changed. None if absent. The value
        is shared between calls: callers read it and do not change it."""
        path = self._file(run_id, name)
        if path is None:
            return None
        info = path.stat()
        key = (str(path), info.st_ino, info.st_size, info.st_mtime_ns)
        if key not in _CHECKED:
            if len(_CHECKED) > 4096:
                _CHECKED.clear()
            try:
                _CHECKED[key] = (True, check(self._json(run_id, name)))
            except Corrupt as e:
                _CHECKED[key] = (False, e)
        ok, value = _CHECKED[key]
        if not ok:
            raise value
        return value

    def config_record(self, run_id: str) -> dict:
        return self.config_and_record(run_id)[0]

    def config(self, run_id: str) -> RunConfig:
        return self.config_and_record(run_id)[1]

    def config_and_record(self, run_id: str) -> tuple[dict, RunConfig]:
        checked = self._checked(run_id, "config.json", lambda value: schema.config_record(value, run_id))
        if checked is None:
            raise Corrupt("config.json is missing")
        return checked

    def raw_status(self, run_id: str) -> dict:
        """The status record as written (state as a RunState); raises StoreError or Corrupt."""
        value = self._json(run_id, "status.json")
        if value is None:
            raise Corrupt("status.json is missing")
        return schema.status(value, executors.NAMES)

    def status(self, run_id: str) -> dict:
        """The status record, with a dead or hung worker detected (marked failed, and ended) on the way."""
        status = self.raw_status(run_id)
        if status["state"] == RunState.RUNNING and self._worker_dead(run_id, status):
            if not self.writable:  # report what is true without writing
                return {**status, "state": RunState.FAILED, "error": self._death_reason(run_id, status)}
            with self.lock(run_id):
                status = self.raw_status(run_id)
                if status["state"] == RunState.RUNNING and self._worker_dead(run_id, status):
                    reason = self._death_reason(run_id, status)
                    # A hung background worker must not go on writing into the run: ended when provably it is
                    # (a foreground `lth run` is left to notice the run is no longer its own).
                    ended = bool(status.get("pid") and status.get("own_session")) and end_process(
                        status["pid"], True, status.get("pid_start"), run_id=run_id, root=self.root)
                    if process_alive(status.get("pid"), status.get("pid_start")) and not ended:
                        reason = (f"process {status['pid']} is not provably this run's worker (or a foreground run "
                                  f"that stopped sending heartbeats); the run is marked failed and nothing was "
                                  f"signalled")
                    status.update(state=RunState.FAILED, ended=time.time(), error=reason)
                    self.write_status(run_id, status)
        return status

    def status_or_none(self, run_id: str) -> dict | None:
        try:
            return self.status(run_id)
        except (StoreError, Corrupt, OSError):
            return None

    def heartbeat(self, run_id: str) -> dict | None:
        try:
            return schema.heartbeat(self._json(run_id, "heartbeat.json"))
        except (StoreError, Corrupt, OSError):
            return None

    def _worker_dead(self, run_id: str, status: dict) -> bool:
        if not process_alive(status.get("pid"), status.get("pid_start")):
            return True
        now = time.time()
        beat = self.heartbeat(run_id)
        last = beat["time"] if beat and beat.get("pid") == status.get("pid") else None
        if last is not None and last > now + CLOCK_SLACK:
            last = None  # a heartbeat from the future proves nothing (a file can say anything)
        if last is None:
            started = status.get("started")
            if started is None or started > now + CLOCK_SLACK:
                started = 0.0  # no believable start: the startup grace is over
            return now - started > STARTUP_GRACE
        return now - last > HEARTBEAT_TIMEOUT

    def _death_reason(self, run_id: str, status: dict) -> str:
        pid = status.get("pid")
        if not process_alive(pid, status.get("pid_start")):
            tail = self.log_tail(run_id, 1)
            hint = f"; last log line: {printable(tail[-1])}" if tail else ""
            return f"worker process {pid} died without finishing (killed, out of memory or machine restart){hint}"
        return (f"worker process {pid} stopped sending heartbeats for over {HEARTBEAT_TIMEOUT:.0f} s "
                f"(hung or stopped); it was ended")

    def results(self, run_id: str) -> dict | None:
        """The validated results, None if there are none yet; raises Corrupt for a bad file."""
        config = self.config(run_id)
        return self._checked(run_id, "results.json", lambda value: schema.results(value, run_id, config))

    def finished_results(self, run_id: str) -> dict | None:
        """The results of a run that `list` shows as done (config, status and results all sound), else None;
        raises Corrupt or StoreError where `list` shows the run corrupt. The one notion of a usable run for
        every reader: Compare, compression, the preset exports, the analyses."""
        self.config_and_record(run_id)
        if self.status(run_id)["state"] != RunState.DONE:
            return None
        return self.results(run_id)

    def metrics_records(self, run_id: str) -> list[dict]:
        """The run's evaluations; torn and malformed lines are skipped."""
        return self.metrics_since(run_id, 0)[0]

    def metrics_since(self, run_id: str, offset: int) -> tuple[list[dict], int]:
        """The evaluations appended after byte `offset`, and the offset to ask from next time: a live view
        reads only what is new. A file that shrank (a resumed run rewrote it) is read from the start, and
        the returned offset is then below the one given: the caller replaces what it held. A last line
        still being written is left for the next call."""
        try:
            path = self._file(run_id, "metrics.jsonl", MAX_METRICS_BYTES)
            if path is None:
                return [], 0
            with open(path, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                if size < offset:
                    offset = 0
                f.seek(offset)
                data = f.read(size - offset)
        except (StoreError, Corrupt, OSError):
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

    def log_tail(self, run_id: str, lines: int = 20) -> list[str]:
        try:
            path = self._file(run_id, "log.txt", MAX_METRICS_BYTES)
            if path is None:
                return []
            with open(path, "rb") as f:  # the end only: a log can be long
                f.seek(max(0, path.stat().st_size - 256 * 1024))
                return f.read().decode("utf-8", errors="replace").splitlines()[-lines:]
        except (StoreError, Corrupt, OSError):
            return []

    # ---- writing ----------------------------------------------------------------------------------------
    def create(self, run_id: str, config: RunConfig, *, data_dir: str | None, fingerprint: str,
               planned_evaluations: int, **status) -> None:
        """A new queued run; `status` adds fields to its status record (the executor, say)."""
        self.require_writable()
        folder = self.path(run_id)
        if folder.is_symlink():
            raise StoreError(f"run {run_id}: its folder is a symlink; delete it first (`lth delete {run_id}`)")
        if folder.exists() and not folder.is_dir():
            raise StoreError(f"run {run_id}: {folder} is a file, not a run folder; remove it")
        folder.mkdir(exist_ok=True)
        write_json_atomic(folder / "config.json", {
            "run_id": run_id, "config": config.to_json(), "canonical": config.canonical(),
            "data_dir": data_dir, "dataset_fingerprint": fingerprint,
            "planned_evaluations": planned_evaluations,
        })
        for stale in ("results.json", "heartbeat.json", "metrics.jsonl"):  # a corrupt run started over
            (folder / stale).unlink(missing_ok=True)
        self.write_status(run_id, {"state": RunState.QUEUED.value, "created": time.time(), **status})

    def write_status(self, run_id: str, status: dict) -> None:
        record = {**status, "state": RunState(status["state"]).value}
        write_json_atomic(self.folder(run_id) / "status.json", record)

    def update_status(self, run_id: str, **changes) -> dict:
        status = {**self.raw_status(run_id), **changes}
        self.write_status(run_id, status)
        return status

    def write_heartbeat(self, run_id: str, progress: dict) -> None:
        write_json_atomic(self.folder(run_id) / "heartbeat.json", {"time": time.time(), "pid": os.getpid(), **progress})

    def append_metric(self, run_id: str, record: dict) -> None:
        # O_NOFOLLOW: a metrics.jsonl planted as a symlink is never written through
        fd = os.open(self.folder(run_id) / "metrics.jsonl", os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW,
                     0o644)
        with os.fdopen(fd, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")

    def keep_metrics(self, run_id: str, keep) -> None:
        """Drop metric lines of work that a resumed run redoes (`keep(record)` says which stay)."""
        kept = [r for r in self.metrics_records(run_id) if keep(r)]
        write_bytes_atomic(self.folder(run_id) / "metrics.jsonl", "".join(json.dumps(r) + "\n" for r in kept).encode())

    def write_results(self, run_id: str, summary: dict) -> None:
        write_json_atomic(self.folder(run_id) / "results.json", summary)

    def checkpoint_dir(self, run_id: str) -> Path:
        """The run's checkpoint folder, created if needed; a symlink there is refused."""
        return self._subfolder(run_id, "checkpoint")

    def tensorboard_dir(self, run_id: str) -> Path:
        """The run's TensorBoard event files (one folder per arm and round), created if needed."""
        return self._subfolder(run_id, "tensorboard")

    def _subfolder(self, run_id: str, name: str, create: bool = True) -> Path:
        path = self.folder(run_id) / name
        if path.is_symlink() or (path.exists() and not path.is_dir()):
            raise StoreError(f"run {run_id}: {name} is not a folder of the run (a symlink or a file)")
        if create:
            make_dirs(path)
        return path

    def delete(self, run_id: str) -> str:
        """Remove a run that is not training; returns what was removed."""
        path = self.path(run_id)
        if not path.is_symlink() and not path.exists():
            raise StoreError(f"no run {run_id} in {self.root}")
        with self.lock(run_id):
            if path.is_symlink():  # the link is the store's entry; its target is not the store's to delete
                target = os.readlink(path)
                path.unlink()
                removed = f"run {run_id}: removed the symlink to {target} (its target was left alone)"
            else:
                try:
                    status = self.raw_status(run_id)
                except (Corrupt, OSError):
                    status = None
                if status and status["state"] == RunState.RUNNING and process_alive(status.get("pid"),
                                                                                     status.get("pid_start")):
                    raise StoreError(f"run {run_id} is running; cancel it first")
                size = sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())
                try:
                    shutil.rmtree(path)
                except OSError as e:
                    raise StoreError(f"run {run_id}: could not delete everything: {e.strerror or e}") from None
                removed = f"run {run_id} deleted ({size / 1e6:.1f} MB)"
        (self.root / f".{run_id}.lock").unlink(missing_ok=True)
        return removed

    # ---- settings ----------------------------------------------------------------------------------------
    def settings(self) -> Settings:
        path = self.root / "settings.json"
        settings = Settings()
        try:
            if path.is_symlink() or (path.exists() and not path.is_file()):
                settings.problems.append("settings.json is not a regular file; ignored")
                return settings
            if not path.exists():
                return settings
            value = schema.parse_json(path.read_bytes()[:MAX_JSON_BYTES], "settings.json")
        except (OSError, Corrupt) as e:
            settings.problems.append(f"settings.json is unreadable ({str(e)[:60]}); defaults used")
            return settings
        if not isinstance(value, dict):
            settings.problems.append("settings.json is not a JSON object; defaults used")
            return settings
        for key, item in value.items():
            check = SETTING_CHECKS.get(key)
            if check is None:
                settings.problems.append(f"settings.json: unknown setting {key!r} ignored")
            elif not check[0](item):
                settings.problems.append(f"settings.json: {key} must be {check[1]}, not {item!r}; default used")
            else:
                settings.values[key] = item
        placement = [settings.values.get(k) for k in PLACEMENT_KEYS]
        if any(placement) and not trust.verify(settings.values.get("placement_sig"), "settings", *placement):
            settings.problems.append("settings.json: the executor setting is not signed by this machine's user "
                                     "(edited outside the product?); local is used until it is set again")
            for key in PLACEMENT_KEYS:
                settings.values.pop(key, None)
        settings.values.pop("placement_sig", None)
        return settings

    def write_settings(self, **changes) -> None:
        self.require_writable()
        for key, value in changes.items():
            check = SETTING_CHECKS.get(key)
            if check is None or not check[0](value):
                raise StoreError(f"setting {key} must be {check[1] if check else 'known'}, not {value!r}")
        values = {**self.settings().values, **changes}
        placement = [values.get(k) for k in PLACEMENT_KEYS]
        if any(placement):
            values["placement_sig"] = trust.sign("settings", *placement)
        write_json_atomic(self.root / "settings.json", values)

    # ---- DataFrames for the dashboard and `lth list` ------------------------------------------------
    def run_row(self, run_id: str) -> dict:
        row = {"run_id": run_id, "path": str(self.path(run_id))}
        try:
            record, config = self.config_and_record(run_id)
            status = self.status(run_id)
        except (OSError, StoreError, Corrupt) as e:
            return {**row, "state": RunState.CORRUPT.value, "error": str(e)}
        beat = self.heartbeat(run_id) or {}
        planned = record["planned_evaluations"]
        done_evals = beat.get("evaluations", 0)
        state = status["state"]
        if state == RunState.DONE:
            done_evals = planned
        started, ended = status.get("started"), status.get("ended")
        before = status.get("elapsed_before") or 0.0  # earlier attempts of a resumed run
        elapsed = ((ended or time.time()) - started + before) if started else (before or None)
        progress = min(1.0, done_evals / planned) if planned else None
        remaining = None
        if state == RunState.RUNNING and progress and elapsed:
            remaining = elapsed * (1 - progress) / progress
        row.update(
            state=state.value, experiment=config.experiment, model=config.model,
            dataset=config.dataset, seed=config.seed, iterations=record["canonical"].get("iterations"),
            epochs=config.epochs, created=status.get("created"), started=started, ended=ended,
            elapsed_s=elapsed, remaining_s=remaining, progress=progress,
            device=(status.get("device") or {}).get("name"), pid=status.get("pid"), error=status.get("error"),
        )
        if state == RunState.DONE:
            try:
                if self.results(run_id) is None:
                    row.update(state=RunState.CORRUPT.value, error="status is done but results.json is missing")
            except (OSError, StoreError, Corrupt) as e:
                row.update(state=RunState.CORRUPT.value, error=str(e))
        return row

    COLUMNS = ["run_id", "state", "experiment", "model", "dataset", "seed", "iterations", "epochs", "created",
               "started", "ended", "elapsed_s", "remaining_s", "progress", "device", "pid", "error", "path"]

    def runs(self) -> pd.DataFrame:
        return pd.DataFrame([self.run_row(r) for r in self.run_ids()], columns=self.COLUMNS)

    def metrics(self, run_id: str) -> pd.DataFrame:
        return pd.DataFrame(self.metrics_records(run_id))

    def completed_rounds_summary(self, run_id: str) -> dict | None:
        """For a lottery or one-shot run that has not finished: its completed rounds' records (from the checkpoint)
        in the shape of results.json, or None."""
        record, config = self.config_and_record(run_id)
        folder = self.folder(run_id) / "checkpoint"
        if config.experiment not in ("lottery", "oneshot") or folder.is_symlink() or not folder.is_dir():
            return None
        records = []
        rounds = config.lottery_rounds() if config.experiment == "lottery" else len(config.densities)
        for round_ in range(rounds + 1):
            value = self._json(run_id, f"checkpoint/round_{round_:02d}.json")
            if value is None:
                break
            records += schema.result_records(value, f"checkpoint/round_{round_:02d}.json")
        if not records:
            return None
        status = self.raw_status(run_id)
        summary = {"config": record["canonical"], "device": status.get("device") or {"name": "unknown"},
                   "seconds": 0.0, "results": records}
        return schema.results(summary)

    def kept_networks(self, run_id: str) -> list[tuple[str, int]]:
        """(arm, round) of the trained networks the run keeps."""
        return networks.kept(self._kept_folder(run_id))

    def network(self, run_id: str, arm: str, round_: int) -> networks.Network:
        """One kept network (weights at early stop and mask), checked; NetworkError if missing or wrong."""
        _, config = self.config_and_record(run_id)
        folder = self._kept_folder(run_id)
        kept = networks.kept(folder)
        if (arm, round_) not in kept:
            kept = ", ".join(f"{a} round {r}" for a, r in kept) or "none (made before networks were kept, or not trained yet)"
            raise networks.NetworkError(f"run {run_id} keeps no network for {arm} round {round_}; it keeps: {kept}")
        return networks.load(folder, config.model, arm, round_)

    def theta0(self, run_id: str) -> list:
        """The run's initial weights (NetworkError if it keeps none or they are wrong)."""
        _, config = self.config_and_record(run_id)
        return networks.load_theta0(self._kept_folder(run_id), config.model)

    def _kept_folder(self, run_id: str) -> Path:
        return self._subfolder(run_id, "checkpoint", create=False)  # reading creates nothing

    def instability_frame(self, run_ids=None) -> pd.DataFrame:
        """One row per (run, rewind iteration k, network) of finished instability runs: density, the test
        errors along the line between the two copies, the barrier and whether it is stable."""
        rows = []
        for run_id in run_ids if run_ids is not None else self.run_ids():
            try:
                summary = self.finished_results(run_id)
            except (OSError, StoreError, Corrupt):
                continue
            if summary is None or summary["config"]["experiment"] != "instability":
                continue
            config = summary["config"]
            label = f"{config['model']} {config['dataset']} seed {config['seed']}"
            for record in summary["results"]:
                rows.append({"run_id": run_id, "label": label, "model": config["model"],
                             "dataset": config["dataset"], "seed": config["seed"], "arm": record["arm"],
                             "round": record["round"], "density": record["density"],
                             "rewind_iteration": record["rewind_iteration"], "barrier": record["barrier"],
                             "stable": record["stable"], "alphas": record["alphas"],
                             "test_errors": record["test_errors"]})
        return pd.DataFrame(rows)

    def results_frame(self, run_ids=None, *, unfinished: bool = False) -> pd.DataFrame:
        """One row per (run, arm, round): the config's main settings, density, per-layer density
        as `density_<layer>` columns, early-stop iteration and accuracies. Unreadable runs are skipped.
        With `unfinished`, lottery runs still training (or stopped) add their completed rounds
        (column `finished` False).

        `series` groups runs that differ only in their seed or tfmot target density (one line over
        densities, aggregated over seeds); `label` names it.
        """
        rows = []
        for run_id in run_ids if run_ids is not None else self.run_ids():
            try:
                summary = self.finished_results(run_id)
                finished = summary is not None
                if summary is None and unfinished:
                    summary = self.completed_rounds_summary(run_id)
            except (OSError, StoreError, Corrupt):
                continue
            if summary is None:
                continue
            config = summary["config"]
            if config["experiment"] == "instability":
                continue  # its records are pairs along a line, not points of accuracy vs density
            # tfmot runs are one per target density: a series spans densities, as lottery rounds do
            # a one-shot run's arms are its criteria and its rounds its densities: runs that differ in which
            # criteria, densities or controls they train make one series
            same = {k: v for k, v in config.items()
                    if k not in ("seed", "target_density", "criteria", "densities", "controls")
                    or (k == "controls" and config["experiment"] != "oneshot")}
            series = hashlib.sha256(json.dumps(same, sort_keys=True).encode()).hexdigest()[:6]
            training = hashlib.sha256(json.dumps({k: config.get(k) for k in TRAINING_KEYS},
                                                 sort_keys=True).encode()).hexdigest()[:6]
            budget = (f"it{config['iterations']}" if config.get("iterations") is not None
                      else f"{config.get('epochs'):g} epochs")
            label = f"{config['experiment']} {config['model']} {config['dataset']} {budget}"
            for record in summary["results"]:
                row = {"run_id": run_id, "experiment": config["experiment"], "model": config["model"],
                       "dataset": config["dataset"], "seed": config["seed"],
                       "iterations": config.get("iterations"), "device": summary["device"]["name"],
                       "series": series, "training": training, "label": label, "finished": finished}
                row.update({k: v for k, v in record.items() if k != "layer_density"})
                row.update({f"density_{k}": v for k, v in record.get("layer_density", {}).items()})
                rows.append(row)
        frame = pd.DataFrame(rows)
        if "gzip_bytes" in frame:  # the compression report's ratio: the .h5 file against it gzip'ed
            frame["compression_ratio"] = frame["h5_bytes"] / frame["gzip_bytes"]
        if not frame.empty:  # the hash only where two series would otherwise look alike
            alike = frame.groupby("label")["series"].transform("nunique") > 1
            frame.loc[alike, "label"] = frame.loc[alike, "label"] + " [" + frame.loc[alike, "series"] + "]"
        return frame
