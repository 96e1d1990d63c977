"""The run store: one folder per run, named by the hash of its canonical config and its data.

    <root>/<run_id>/config.json     the settings (and where the data came from)
                    status.json     queued | running | done | failed | cancelled, pid, times, device, versions
                    heartbeat.json  written by the worker every few seconds: time, progress
                    metrics.jsonl   one evaluation per line, appended (a torn last line is ignored)
                    results.json    the run's summary, as `python -m lth run` prints it
                    checkpoint/     masks and initial/rewind weights per round (.npz)
                    log.txt         the worker's output

Reading never raises on one bad folder: it is reported with state `corrupt` and the reason.
A run whose worker died is marked failed when it is next read. Pure Python: the dashboard uses it.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
from filelock import FileLock

from lth.fsutil import write_bytes_atomic, write_json_atomic
from lth.hparams import ConfigError, RunConfig

DEFAULT_ROOT = Path(__file__).resolve().parent.parent / "cache"
CACHE_ENV = "LTH_CACHE_DIR"
HEARTBEAT_SECONDS = 2.0
HEARTBEAT_TIMEOUT = 30.0  # a running worker silent this long is dead even if its pid lives on
STARTUP_GRACE = 60.0  # a worker just started may take this long (TensorFlow import) to beat first
ACTIVE = ("queued", "running")
FINISHED = ("done", "failed", "cancelled")


class StoreError(ValueError):
    """A request the store cannot satisfy (unknown run, run in the wrong state)."""


def default_root(cache_dir: str | Path | None = None) -> Path:
    return Path(cache_dir or os.environ.get(CACHE_ENV) or DEFAULT_ROOT)


def _read_json(path: Path):
    return json.loads(path.read_text(encoding="utf-8"))


def process_alive(pid: int | None) -> bool:
    """True if `pid` is a live process (a zombie counts as dead)."""
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
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True  # no /proc: trust kill(0)


class RunStore:
    def __init__(self, root: str | Path | None = None):
        self.root = default_root(root)
        self.root.mkdir(parents=True, exist_ok=True)

    # ---- paths and locks ------------------------------------------------------------------------
    def path(self, run_id: str) -> Path:
        if not run_id or "/" in run_id or run_id.startswith("."):
            raise StoreError(f"not a run id: {run_id!r}")
        return self.root / run_id

    @contextmanager
    def lock(self, run_id: str):
        """Serialises state changes of one run across processes (two tabs, worker and canceller)."""
        with FileLock(str(self.root / f".{run_id}.lock"), timeout=60):
            yield

    def run_ids(self) -> list[str]:
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and not p.name.startswith("."))

    def exists(self, run_id: str) -> bool:
        return (self.path(run_id) / "config.json").is_file()

    # ---- writing --------------------------------------------------------------------------------
    def create(self, run_id: str, config: RunConfig, *, data_dir: str | None, fingerprint: str,
               planned_evaluations: int, **status) -> None:
        """A new queued run; `status` adds fields to its status record (the executor, say)."""
        folder = self.path(run_id)
        folder.mkdir(parents=True, exist_ok=True)
        write_json_atomic(folder / "config.json", {
            "run_id": run_id, "config": config.to_json(), "canonical": config.canonical(),
            "data_dir": data_dir, "dataset_fingerprint": fingerprint,
            "planned_evaluations": planned_evaluations,
        })
        self.write_status(run_id, {"state": "queued", "created": time.time(), **status})

    def write_status(self, run_id: str, status: dict) -> None:
        write_json_atomic(self.path(run_id) / "status.json", status)

    def update_status(self, run_id: str, **changes) -> dict:
        status = {**self.raw_status(run_id), **changes}
        self.write_status(run_id, status)
        return status

    def write_heartbeat(self, run_id: str, progress: dict) -> None:
        write_json_atomic(self.path(run_id) / "heartbeat.json", {"time": time.time(), "pid": os.getpid(), **progress})

    def append_metric(self, run_id: str, record: dict) -> None:
        with open(self.path(run_id) / "metrics.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(record, allow_nan=True) + "\n")

    def keep_metrics(self, run_id: str, keep) -> None:
        """Drop metric lines of work that a resumed run redoes (`keep(record)` says which stay)."""
        kept = [r for r in self.metrics_records(run_id) if keep(r)]
        write_bytes_atomic(self.path(run_id) / "metrics.jsonl",
                           "".join(json.dumps(r, allow_nan=True) + "\n" for r in kept).encode())

    def write_results(self, run_id: str, summary: dict) -> None:
        write_json_atomic(self.path(run_id) / "results.json", summary)

    def delete(self, run_id: str) -> None:
        with self.lock(run_id):
            status = self.status_or_none(run_id)
            if status and status.get("state") == "running" and process_alive(status.get("pid")):
                raise StoreError(f"run {run_id} is running; cancel it first")
            shutil.rmtree(self.path(run_id), ignore_errors=True)
        (self.root / f".{run_id}.lock").unlink(missing_ok=True)

    # ---- reading ----------------------------------------------------------------------------------
    def config_record(self, run_id: str) -> dict:
        return _read_json(self.path(run_id) / "config.json")

    def config(self, run_id: str) -> RunConfig:
        return RunConfig.from_json(self.config_record(run_id)["config"])

    def raw_status(self, run_id: str) -> dict:
        """The status record as written (for use under the run's lock)."""
        path = self.path(run_id) / "status.json"
        if not path.is_file():
            raise StoreError(f"no run {run_id} in {self.root}")
        status = _read_json(path)
        if not isinstance(status, dict) or status.get("state") not in ACTIVE + FINISHED:
            raise ValueError(f"status.json holds no valid state: {str(status)[:80]}")
        return status

    def status(self, run_id: str) -> dict:
        """The status record, with a dead worker detected (and marked failed) on the way."""
        status = self.raw_status(run_id)
        if status.get("state") == "running" and self._worker_dead(run_id, status):
            with self.lock(run_id):
                status = self.raw_status(run_id)
                if status.get("state") == "running" and self._worker_dead(run_id, status):
                    status.update(state="failed", ended=time.time(), error=self._death_reason(run_id, status))
                    self.write_status(run_id, status)
        return status

    def status_or_none(self, run_id: str) -> dict | None:
        try:
            return self.status(run_id)
        except (StoreError, OSError, ValueError):
            return None

    def heartbeat(self, run_id: str) -> dict | None:
        try:
            return _read_json(self.path(run_id) / "heartbeat.json")
        except (OSError, ValueError):
            return None

    def _worker_dead(self, run_id: str, status: dict) -> bool:
        if not process_alive(status.get("pid")):
            return True
        beat = self.heartbeat(run_id)
        last = beat["time"] if beat and beat.get("pid") == status.get("pid") else None
        if last is None:
            return time.time() - status.get("started", time.time()) > STARTUP_GRACE
        return time.time() - last > HEARTBEAT_TIMEOUT

    def _death_reason(self, run_id: str, status: dict) -> str:
        pid = status.get("pid")
        if not process_alive(pid):
            tail = self.log_tail(run_id, 1)
            hint = f"; last log line: {tail[-1]}" if tail else ""
            return f"worker process {pid} died without finishing (killed, out of memory or machine restart){hint}"
        return f"worker process {pid} stopped sending heartbeats for over {HEARTBEAT_TIMEOUT:.0f} s"

    def results(self, run_id: str) -> dict | None:
        path = self.path(run_id) / "results.json"
        return _read_json(path) if path.is_file() else None

    def metrics_records(self, run_id: str) -> list[dict]:
        path = self.path(run_id) / "metrics.jsonl"
        if not path.is_file():
            return []
        records = []
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                records.append(json.loads(line))
            except ValueError:
                continue  # a line torn by a killed writer
        return records

    def log_tail(self, run_id: str, lines: int = 20) -> list[str]:
        try:
            return (self.path(run_id) / "log.txt").read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
        except OSError:
            return []

    # ---- DataFrames for the dashboard and `lth list` ------------------------------------------------
    def run_row(self, run_id: str) -> dict:
        row = {"run_id": run_id, "path": str(self.path(run_id))}
        try:
            record = self.config_record(run_id)
            config = RunConfig.from_json(record["config"])
            status = self.status(run_id)
        except (OSError, ValueError, KeyError, TypeError, ConfigError, StoreError) as e:
            return {**row, "state": "corrupt", "error": f"{type(e).__name__}: {e}"}
        beat = self.heartbeat(run_id) or {}
        planned = record.get("planned_evaluations") or 0
        done_evals = beat.get("evaluations", 0)
        if status.get("state") == "done":
            done_evals = planned
        started, ended = status.get("started"), status.get("ended")
        elapsed = ((ended or time.time()) - started) if started else None
        progress = min(1.0, done_evals / planned) if planned else None
        remaining = None
        if status.get("state") == "running" and progress and elapsed:
            remaining = elapsed * (1 - progress) / progress
        row.update(
            state=status.get("state"), experiment=config.experiment, model=config.model,
            dataset=config.dataset, seed=config.seed, iterations=record["canonical"].get("iterations"),
            created=status.get("created"), started=started, ended=ended, elapsed_s=elapsed,
            remaining_s=remaining, progress=progress, device=(status.get("device") or {}).get("name"),
            pid=status.get("pid"), error=status.get("error"),
        )
        if status.get("state") == "done":
            try:
                if self.results(run_id) is None:
                    row.update(state="corrupt", error="status is done but results.json is missing")
            except (OSError, ValueError) as e:
                row.update(state="corrupt", error=f"results.json unreadable: {e}")
        return row

    def runs(self) -> pd.DataFrame:
        columns = ["run_id", "state", "experiment", "model", "dataset", "seed", "iterations", "created",
                   "started", "ended", "elapsed_s", "remaining_s", "progress", "device", "pid", "error", "path"]
        return pd.DataFrame([self.run_row(r) for r in self.run_ids()], columns=columns)

    def metrics(self, run_id: str) -> pd.DataFrame:
        return pd.DataFrame(self.metrics_records(run_id))

    def results_frame(self, run_ids=None) -> pd.DataFrame:
        """One row per (run, arm, round): the config's main settings, density, per-layer density
        as `density_<layer>` columns, early-stop iteration and accuracies. Unreadable runs are skipped.

        `series` groups runs that differ only in their seed or tfmot target density (one line over
        densities, aggregated over seeds); `label` names it.
        """
        rows = []
        for run_id in run_ids if run_ids is not None else self.run_ids():
            try:
                summary = self.results(run_id)
                if summary is None:
                    continue
                config = summary["config"]
                # tfmot runs are one per target density: a series spans densities, as lottery rounds do
                same = {k: v for k, v in config.items() if k not in ("seed", "target_density")}
                series = hashlib.sha256(json.dumps(same, sort_keys=True).encode()).hexdigest()[:6]
                label = f"{config['experiment']} {config['model']} {config['dataset']} it{config.get('iterations')} [{series}]"
                for record in summary["results"]:
                    row = {"run_id": run_id, "experiment": config["experiment"], "model": config["model"],
                           "dataset": config["dataset"], "seed": config["seed"],
                           "iterations": config.get("iterations"), "device": summary["device"]["name"],
                           "series": series, "label": label}
                    row.update({k: v for k, v in record.items() if k != "layer_density"})
                    row.update({f"density_{k}": v for k, v in record.get("layer_density", {}).items()})
                    rows.append(row)
            except (OSError, ValueError, KeyError, TypeError):
                continue
        return pd.DataFrame(rows)
