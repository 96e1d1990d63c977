"""The run store: one folder per run, named by the hash of its canonical config and its data (the files of
a run folder: lth.paths).

Every file is read as untrusted: its type and ranges are checked (`schema`), a bad one makes its run
`corrupt` with the reason and never hides the other runs. Nothing is read, written or deleted outside
the root: run ids are checked before any path is made, and symlinks (run folders or their files) are
refused. A run whose worker died or hangs is marked failed when it is next read, and a hung worker is
ended. A read-only store can be listed and read. Pure Python: the dashboard uses it. The store's settings
are lth.runs.settings, its tables lth.runs.tables, which process is a worker lth.runs.processes.
"""

from __future__ import annotations

import errno
import os
import stat
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from lth import paths
from lth.errors import Explained, naming
from lth.fsutil import guard_root, make_dirs, write_json_atomic
from lth.hparams import RunConfig
from lth.runs import executors, schema
from lth.runs.logs import log_tail
from lth.runs.processes import death_reason, end_process, printable, process_alive, worker_dead
from lth.runs.schema import Corrupt
from lth.runs.state import RunState
from lth.walk import remove_tree

DEFAULT_ROOT = Path(__file__).resolve().parent.parent.parent / "cache"
CACHE_ENV = "LTH_CACHE_DIR"
MAX_JSON_BYTES = 16 * 2**20  # results of a 100-round lottery run are about 1 MB
_CHECKED: dict = {}  # (path, inode, size, mtime) -> (ok, checked value or Corrupt): see RunStore._checked


class StoreError(Explained, ValueError):
    """A request the store cannot satisfy (unknown run, bad id, run in the wrong state, read-only)."""


def default_root(cache_dir: str | Path | None = None) -> Path:
    if cache_dir is not None and not str(cache_dir).strip():
        raise StoreError("--cache-dir is empty; give a folder (or leave it out for the default store)")
    return Path(cache_dir or os.environ.get(CACHE_ENV) or DEFAULT_ROOT)


def _write_json(path: Path, value) -> None:
    """write_json_atomic, its OSError naming the file (a full disk's names none): `lth run` says where."""
    with naming(path):
        write_json_atomic(path, value)


def _network_description(config: RunConfig) -> dict:
    """A user's network's description, kept with its run so pages know its layers without its code."""
    if not config.builds_own:
        return {}
    from lth import builders

    return {"model_description": builders.described(config.architecture)}


def root_problem(root: Path) -> str | None:
    """Why `root` cannot be a run store (it is, or lies below, something that is not a folder: a file, a
    symlink loop, a link to nothing), or None: a folder, or a path that does not exist yet below a folder."""
    shown = printable(str(root))
    try:
        info = os.stat(root)
    except FileNotFoundError:
        for path in (root, *root.parents):  # the nearest entry that exists must not be a link to nothing
            if os.path.islink(path):
                if not os.path.exists(path):
                    return (
                        f"the run store {shown} cannot be made: {printable(str(path))} is a symlink to "
                        f"{printable(os.readlink(path))}, which does not exist"
                    )
                break
            if os.path.lexists(path):
                break
        return None
    except OSError as e:
        if e.errno == errno.ELOOP:
            return f"the run store {shown} cannot be reached: its path runs into a symlink loop"
        if e.errno == errno.ENOTDIR:
            return f"the run store {shown} cannot be a folder: its path runs through a file"
        return f"the run store {shown} cannot be reached: {e.strerror or e}"
    if not stat.S_ISDIR(info.st_mode):
        return f"the run store {shown} is not a folder"
    return None


# ---- the store -------------------------------------------------------------------------------------------
class RunStore:
    def __init__(self, root: str | Path | None = None, create: bool = True):
        """`create=False`: where there is no store none is created (a reader lists nothing and writes nothing; a
        submission `make`s it once every check has passed). A root that cannot be a folder (a file, a symlink
        loop or a link to nothing, a path below a file) is refused with StoreError, never read as empty."""
        self.root = default_root(root)
        problem = root_problem(self.root)
        if problem:
            raise StoreError(problem)
        self.missing, self.writable = True, False
        if create or self.root.exists():
            self.make()

    def make(self) -> None:
        """Create the store's folder where there is none yet (a store opened with `create=False`)."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StoreError(f"cannot create the run store {printable(str(self.root))}: {e.strerror or e}") from None
        self.missing = False
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
            raise StoreError(
                f"run {run_id}: its folder is a symlink ({os.readlink(folder)}); the store does not "
                f"follow links out of {self.root}"
            )
        if not folder.is_dir():
            raise StoreError(f"no run {run_id} in {self.root}")
        return folder

    def require_writable(self) -> None:
        if getattr(self, "missing", False):
            raise StoreError(f"there is no run store at {printable(str(self.root))}")
        if not self.writable:
            raise StoreError(
                f"the run store {self.root} is read-only: runs can be listed and read, not "
                f"started, changed or deleted (use --cache-dir or LTH_CACHE_DIR for a writable one)"
            )

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
            raise StoreError(
                f"the lock file {path} is {'a symlink' if stat.S_ISLNK(mode) else 'not a regular file'};"
                f" remove it (nothing is written through it)"
            )
        return path

    @contextmanager
    def lock(self, run_id: str):
        """Serialises state changes of one run across processes (two tabs, worker and canceller)."""
        self.check_id(run_id)
        self.require_writable()
        lock = FileLock(str(self.lock_path(paths.run_lock(run_id))), timeout=60)
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
        return sorted(p.name for p in entries if schema.RUN_ID.fullmatch(p.name) and (p.is_dir() or p.is_symlink()))

    def exists(self, run_id: str) -> bool:
        path = self.path(run_id)
        return path.is_symlink() or (path / paths.CONFIG).exists()

    # ---- reading files ---------------------------------------------------------------------------------
    def file(self, run_id: str, name: str, limit: int = MAX_JSON_BYTES) -> Path | None:
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
        for name in paths.APPENDED:
            self.file(run_id, name, limit=2**62)

    def read_json(self, run_id: str, name: str):
        """A run file's JSON (None if absent); Corrupt for a link, a huge file or bad JSON."""
        path = self.file(run_id, name)
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
        path = self.file(run_id, name)
        if path is None:
            return None
        info = path.stat()
        key = (str(path), info.st_ino, info.st_size, info.st_mtime_ns)
        if key not in _CHECKED:
            if len(_CHECKED) > 4096:
                _CHECKED.clear()
            try:
                _CHECKED[key] = (True, check(self.read_json(run_id, name)))
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
        checked = self._checked(run_id, paths.CONFIG, lambda value: schema.config_record(value, run_id))
        if checked is None:
            raise Corrupt(f"{paths.CONFIG} is missing")
        return checked

    def raw_status(self, run_id: str) -> dict:
        """The status record as written (state as a RunState); raises StoreError or Corrupt."""
        value = self.read_json(run_id, paths.STATUS)
        if value is None:
            raise Corrupt(f"{paths.STATUS} is missing")
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
                        status["pid"], True, status.get("pid_start"), run_id=run_id, root=self.root
                    )
                    if process_alive(status.get("pid"), status.get("pid_start")) and not ended:
                        reason = (
                            f"process {status['pid']} is not provably this run's worker (or a foreground run "
                            f"that stopped sending heartbeats); the run is marked failed and nothing was "
                            f"signalled"
                        )
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
            return schema.heartbeat(self.read_json(run_id, paths.HEARTBEAT))
        except (StoreError, Corrupt, OSError):
            return None

    def _worker_dead(self, run_id: str, status: dict) -> bool:
        return worker_dead(status, self.heartbeat(run_id))

    def _death_reason(self, run_id: str, status: dict) -> str:
        return death_reason(status, log_tail(self, run_id, 1))

    def results(self, run_id: str) -> dict | None:
        """The validated results, None if there are none yet; raises Corrupt for a bad file."""
        config = self.config(run_id)
        return self._checked(run_id, paths.RESULTS, lambda value: schema.results(value, run_id, config))

    def finished_results(self, run_id: str) -> dict | None:
        """The results of a run that `list` shows as done (config, status and results all sound), else None;
        raises Corrupt or StoreError where `list` shows the run corrupt. The one notion of a usable run for
        every reader: Compare, compression, the preset exports, the analyses."""
        self.config_and_record(run_id)
        if self.status(run_id)["state"] != RunState.DONE:
            return None
        return self.results(run_id)

    # ---- writing ----------------------------------------------------------------------------------------
    def create(
        self,
        run_id: str,
        config: RunConfig,
        *,
        data_dir: str | None,
        fingerprint: str,
        planned_evaluations: int,
        **status,
    ) -> None:
        """A new queued run; `status` adds fields to its status record (the executor, say)."""
        self.require_writable()
        folder = self.path(run_id)
        if folder.is_symlink():
            raise StoreError(f"run {run_id}: its folder is a symlink; delete it first (`lth delete {run_id}`)")
        if folder.exists() and not folder.is_dir():
            raise StoreError(f"run {run_id}: {folder} is a file, not a run folder; remove it")
        folder.mkdir(exist_ok=True)
        _write_json(
            folder / paths.CONFIG,
            {
                "run_id": run_id,
                "config": config.to_json(),
                "canonical": config.canonical(),
                "data_dir": data_dir,
                "dataset_fingerprint": fingerprint,
                "planned_evaluations": planned_evaluations,
                **_network_description(config),
            },
        )
        for stale in paths.STARTED_OVER:  # a corrupt run started over
            (folder / stale).unlink(missing_ok=True)
        self.write_status(run_id, {"state": RunState.QUEUED.value, "created": time.time(), **status})

    def write_status(self, run_id: str, status: dict) -> None:
        """Write a status record that passes the very check its readers apply (`schema.status`). The end of a
        run is the product's own time (now), so it is never put before the recorded start: a start from a
        clock running ahead of this one (or a forged one) would make the run read as corrupt, not as what
        it is. A record the check would still refuse is a defect here and is not written."""
        record = {**status, "state": RunState(status["state"]).value}
        started: Any = record.get("started")
        ended: Any = record.get("ended")
        if all(isinstance(t, (int, float)) and not isinstance(t, bool) for t in (started, ended)) and ended < started:
            record["ended"] = started
        try:
            schema.status(record, executors.NAMES)
        except Corrupt as e:
            raise RuntimeError(
                f"run {run_id}: the store would write a status its readers refuse ({e}); not written"
            ) from None
        _write_json(self.folder(run_id) / paths.STATUS, record)

    def update_status(self, run_id: str, **changes) -> dict:
        status = {**self.raw_status(run_id), **changes}
        self.write_status(run_id, status)
        return status

    def write_heartbeat(self, run_id: str, progress: dict) -> None:
        _write_json(self.folder(run_id) / paths.HEARTBEAT, {"time": time.time(), "pid": os.getpid(), **progress})

    def write_results(self, run_id: str, summary: dict) -> None:
        _write_json(self.folder(run_id) / paths.RESULTS, summary)

    def checkpoint_dir(self, run_id: str, create: bool = True) -> Path:
        """The run's checkpoint folder, created if needed (a reader creates nothing); a symlink is refused."""
        return self._subfolder(run_id, paths.CHECKPOINT, create)

    def tensorboard_dir(self, run_id: str) -> Path:
        """The run's TensorBoard event files (one folder per arm and round), created if needed."""
        return self._subfolder(run_id, paths.TENSORBOARD)

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
                if (
                    status
                    and status["state"] == RunState.RUNNING
                    and process_alive(status.get("pid"), status.get("pid_start"))
                ):
                    raise StoreError(f"run {run_id} is running; cancel it first")
                try:  # iterative, however deep; a link inside is unlinked, its target left alone (lth.walk)
                    size = remove_tree(path)
                except OSError as e:
                    raise StoreError(f"run {run_id}: could not delete everything: {e.strerror or e}") from None
                removed = f"run {run_id} deleted ({size / 1e6:.1f} MB)"
        (self.root / paths.run_lock(run_id)).unlink(missing_ok=True)
        return removed
