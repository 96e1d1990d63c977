"""Background runner: submit runs to the store, start each in its own OS process, queue, cancel, resume.

A run trains in a worker process started in a new session (`python -m lth worker RUN_ID`), so it
outlives Streamlit reruns, closed browsers and restarted apps. Queued runs are started by `schedule()`,
which every submit, cancel, resume, finished worker and store listing calls: the queue moves on even
when no page is open. Lock order: the scheduler lock may be held while taking a run's lock, never the
other way round.
"""
from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import signal
import subprocess
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock

from lth import hparams
from lth.device import gpu_hardware
from lth.fsutil import write_json_atomic
from lth.hparams import RunConfig
from lth.store import ACTIVE, RunStore, StoreError, process_alive

ROOT = Path(__file__).resolve().parent.parent
MAX_CONCURRENT_ENV = "LTH_MAX_CONCURRENT"
CANCEL_GRACE_SECONDS = 5.0


# ---- settings -------------------------------------------------------------------------------------
EXECUTORS = ("local", "ray")
EXECUTOR_ENV, RAY_ADDRESS_ENV = "LTH_EXECUTOR", "LTH_RAY_ADDRESS"
RAY_MAX_IN_FLIGHT = 16  # Ray runs supervised at once from this machine (one light process each)


def read_settings(store: RunStore) -> dict:
    try:
        settings = json.loads((store.root / "settings.json").read_text())
        return settings if isinstance(settings, dict) else {}
    except (OSError, ValueError):
        return {}


def write_settings(store: RunStore, **changes) -> None:
    write_json_atomic(store.root / "settings.json", {**read_settings(store), **changes})


def max_concurrent(store: RunStore) -> int:
    """Local runs trained at once: the store's setting, else $LTH_MAX_CONCURRENT, else one per GPU
    (one on a CPU)."""
    value = read_settings(store).get("max_concurrent") or os.environ.get(MAX_CONCURRENT_ENV) or max(1, len(gpu_hardware()))
    try:
        return max(1, int(value))
    except (TypeError, ValueError):
        return 1


def set_max_concurrent(store: RunStore, value: int) -> None:
    if int(value) < 1:
        raise StoreError("the concurrency limit must be at least 1")
    write_settings(store, max_concurrent=int(value))


def executor_choice(store: RunStore, executor: str | None = None, ray_address: str | None = None) -> tuple[str, str | None]:
    """The executor for new runs: the argument, else $LTH_EXECUTOR, else the dashboard's setting, else local."""
    settings = read_settings(store)
    executor = executor or os.environ.get(EXECUTOR_ENV) or settings.get("executor") or "local"
    if executor not in EXECUTORS:
        raise StoreError(f"unknown executor {executor!r}; choose one of {', '.join(EXECUTORS)}")
    address = ray_address or os.environ.get(RAY_ADDRESS_ENV) or settings.get("ray_address") or "auto"
    return executor, (address if executor == "ray" else None)


# ---- submitting -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Submission:
    run_id: str
    outcome: str  # "cached" (done already), "attached" (queued or running already), "queued", "resumed"

    @property
    def message(self) -> str:
        return {
            "cached": f"run {self.run_id} is cached: its results are ready, nothing was trained",
            "attached": f"run {self.run_id} is already queued or running; attached to it",
            "queued": f"run {self.run_id} queued",
            "resumed": f"run {self.run_id} had stopped; it resumes from its last completed round",
        }[self.outcome]


def submit(config: RunConfig, *, data_dir: str | None = None, store: RunStore | None = None,
           start: bool = True, executor: str | None = None, ray_address: str | None = None) -> Submission:
    """Queue a run (or find it done or in progress). Raises ConfigError/DataError/StoreError on bad input."""
    store = store or RunStore()
    placement = dict(zip(("executor", "ray_address"), executor_choice(store, executor, ray_address)))
    data = hparams.check_run(config, data_dir)
    run_id = hparams.run_id(config, data.fingerprint)
    if store.exists(run_id):
        store.status_or_none(run_id)  # marks a dead worker failed before we decide
    with store.lock(run_id):
        outcome = _claim(store, run_id, config, data_dir, data.fingerprint, len(data.y_train), placement)
    if start:
        schedule(store)
    return Submission(run_id, outcome)


def _claim(store, run_id, config, data_dir, fingerprint, train_size, placement) -> str:
    """Decide what a submission means for the run, under its lock."""
    if store.exists(run_id):
        try:
            status = store.raw_status(run_id)
            state = status["state"]
        except (OSError, ValueError):
            state = None  # an unreadable status: start the run over, its config is known
        if state == "done":
            try:
                if store.results(run_id) is not None:
                    return "cached"
            except (OSError, ValueError):
                pass  # unreadable results: train again
        elif state in ACTIVE:
            return "attached"
        elif state in ("failed", "cancelled"):
            _requeue(store, run_id, **placement)
            return "resumed"
    store.create(run_id, config, data_dir=data_dir, fingerprint=fingerprint,
                 planned_evaluations=hparams.planned_evaluations(config, train_size), **placement)
    return "queued"


def _requeue(store: RunStore, run_id: str, **changes) -> None:
    """Put a failed or cancelled run back in the queue (under its lock)."""
    store.update_status(run_id, state="queued", queued=time.time(), error=None, pid=None, **changes)


def resume(run_id: str, store: RunStore) -> Submission:
    store.status(run_id)
    with store.lock(run_id):
        state = store.raw_status(run_id)["state"]
        if state not in ("failed", "cancelled"):
            raise StoreError(f"run {run_id} is {state}; only failed or cancelled runs resume")
        _requeue(store, run_id)
    schedule(store)
    return Submission(run_id, "resumed")


def cancel(run_id: str, store: RunStore) -> dict:
    """Stop a queued or running run and mark it cancelled; returns the new status."""
    store.status(run_id)
    with store.lock(run_id):
        status = store.raw_status(run_id)
        if status["state"] not in ACTIVE:
            raise StoreError(f"run {run_id} is {status['state']}; only queued or running runs can be cancelled")
        pid, own_session = status.get("pid"), status.get("own_session")
        status = store.update_status(run_id, state="cancelled", ended=time.time(), error="cancelled by the user")
    if pid and process_alive(pid):
        _terminate(pid, own_session)
    schedule(store)
    return status


def _terminate(pid: int, own_session: bool) -> None:
    def send(sig):
        try:
            os.killpg(pid, sig) if own_session else os.kill(pid, sig)
        except ProcessLookupError:
            pass

    send(signal.SIGTERM)
    deadline = time.time() + CANCEL_GRACE_SECONDS
    while time.time() < deadline:
        if not process_alive(pid):
            return
        time.sleep(0.1)
    send(signal.SIGKILL)


# ---- the queue ----------------------------------------------------------------------------------------
def schedule(store: RunStore) -> list[str]:
    """Start queued runs (oldest first) while fewer than the limit are running; returns those started."""
    started = []
    with FileLock(str(store.root / ".scheduler.lock"), timeout=60):
        running = {executor: 0 for executor in EXECUTORS}
        queued = {executor: [] for executor in EXECUTORS}
        for run_id in store.run_ids():
            status = store.status_or_none(run_id)
            if status is None:
                continue
            executor = status.get("executor") or "local"
            if status["state"] == "running":
                running[executor] += 1
            elif status["state"] == "queued":
                queued[executor].append((status.get("queued") or status.get("created") or 0, run_id))
        limits = {"local": max_concurrent(store),
                  "ray": int(read_settings(store).get("ray_max_in_flight") or RAY_MAX_IN_FLIGHT)}
        for executor in EXECUTORS:
            for _, run_id in sorted(queued[executor])[: max(0, limits[executor] - running[executor])]:
                if _start_worker(store, run_id):
                    started.append(run_id)
    return started


def _take_queued(store: RunStore, run_id: str, launch, own_session: bool) -> bool:
    """If the run is still queued, `launch()` its trainer (returning its pid) and mark it running."""
    with store.lock(run_id):
        if store.raw_status(run_id)["state"] != "queued":
            return False
        store.update_status(run_id, state="running", pid=launch(), own_session=own_session,
                            started=time.time(), ended=None)
    return True


def _start_worker(store: RunStore, run_id: str) -> bool:
    def launch() -> int:
        with open(store.path(run_id) / "log.txt", "ab") as log:
            return subprocess.Popen(
                [sys.executable, "-m", "lth", "worker", run_id, "--cache-dir", str(store.root)],
                cwd=ROOT, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,  # survives the page, the app and the terminal that started it
            ).pid

    return _take_queued(store, run_id, launch, own_session=True)


# ---- the worker ------------------------------------------------------------------------------------------
class Cancelled(Exception):
    pass


def versions() -> dict:
    def version(package):
        try:
            return importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            return None
    return {"python": platform.python_version(), "tensorflow": version("tensorflow"),
            "tf_keras": version("tf-keras"), "tfmot": version("tensorflow-model-optimization")}


def completed_rounds(config: RunConfig, checkpoint_dir: Path) -> int:
    """Lottery rounds a stopped run finished (0 for other experiments: they restart)."""
    from lth.experiments import RoundCheckpoint

    completed = 0
    if config.experiment == "lottery":
        while RoundCheckpoint(checkpoint_dir).load_round(completed) is not None:
            completed += 1
    return completed


def restart_metrics(store: RunStore, run_id: str, completed: int) -> int:
    """Drop the metric lines of work a (re)started run redoes; returns how many lines stay."""
    store.keep_metrics(run_id, lambda r: r.get("round", 0) < completed)  # completed is 0 but for lottery
    return len(store.metrics_records(run_id))


class Progress:
    """What the heartbeat reports, and the metric log the supervisor writes as evaluations arrive."""

    def __init__(self, store: RunStore, run_id: str, on_eval=None):
        self.store, self.run_id, self.on_eval = store, run_id, on_eval
        self.state = {"evaluations": 0, "iteration": 0}

    def restart(self, evaluations: int) -> None:
        self.state.update(evaluations=evaluations, iteration=0)

    def record(self, event: dict) -> None:
        self.store.append_metric(self.run_id, event)
        self.state.update(evaluations=self.state["evaluations"] + 1, iteration=event["iteration"],
                          arm=event["arm"], round=event["round"])
        if self.on_eval:
            self.on_eval(event)


def supervise(run_id: str, store: RunStore, train, *, on_eval=None) -> dict:
    """Run `train(config, record, progress)` (which returns the run's summary) for a run whose status is
    `running` with this process's pid: heartbeats, cancel on SIGTERM, results and the final status.
    Shared by the local executor, the Ray executor and `python -m lth run`. Returns the final status."""
    record = store.config_record(run_id)
    config = RunConfig.from_json(record["config"])
    progress = Progress(store, run_id, on_eval)
    stop = threading.Event()

    def beat():
        while not stop.is_set():
            store.write_heartbeat(run_id, progress.state)
            stop.wait(2.0)

    heart = threading.Thread(target=beat, daemon=True)
    heart.start()

    def on_sigterm(signum, frame):
        raise Cancelled()

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        summary = train(config, record, progress)
        summary["run_id"] = run_id
        store.write_results(run_id, summary)
        final = {"state": "done", "error": None}
    except Cancelled:
        final = {"state": "cancelled", "error": "cancelled by the user"}
    except BaseException as e:  # includes KeyboardInterrupt in the foreground
        traceback.print_exc()
        final = {"state": "failed", "error": f"{type(e).__name__}: {e}"}
    finally:
        signal.signal(signal.SIGTERM, previous)
        stop.set()
        heart.join()
        store.write_heartbeat(run_id, progress.state)
    with store.lock(run_id):
        status = store.raw_status(run_id)
        if status["state"] == "running" and status.get("pid") == os.getpid():
            status = store.update_status(run_id, ended=time.time(), **final)
    return status


def execute(run_id: str, store: RunStore, *, on_eval=None) -> dict:
    """Train a run in this process (local executor, `lth run`)."""

    def train(config, record, progress):
        from lth.device import training_device
        from lth.experiments import RoundCheckpoint, run_experiment

        checkpoint_dir = store.path(run_id) / "checkpoint"
        progress.restart(restart_metrics(store, run_id, completed_rounds(config, checkpoint_dir)))
        device = training_device()
        with store.lock(run_id):
            store.update_status(run_id, device=device.as_dict(), versions=versions())
        checkpoint = RoundCheckpoint(checkpoint_dir) if config.experiment == "lottery" else None
        return run_experiment(config, data_dir=record.get("data_dir"), on_eval=progress.record,
                              device=device, checkpoint=checkpoint)

    return supervise(run_id, store, train, on_eval=on_eval)


def run_worker(run_id: str, store: RunStore) -> int:
    """Entry point of a background worker process."""
    try:
        if store.raw_status(run_id).get("executor") == "ray":
            from lth.ray_executor import execute_on_ray

            status = execute_on_ray(run_id, store)
        else:
            status = execute(run_id, store)
    finally:
        schedule(store)  # this slot is free: start the next queued run
    return 0 if status["state"] in ("done", "cancelled") else 1


def claim_foreground(run_id: str, store: RunStore) -> bool:
    """Mark a queued run as running in this process (for `lth run`); False if another process has it."""
    return _take_queued(store, run_id, os.getpid, own_session=False)


def wait(run_id: str, store: RunStore, *, on_eval=None, poll: float = 1.0) -> dict:
    """Follow a run another process trains until it ends, passing new evaluations to `on_eval`."""
    seen = 0
    while True:
        status = store.status(run_id)
        records = store.metrics_records(run_id)
        if on_eval:
            for event in records[seen:]:
                on_eval(event)
        seen = len(records)
        if status["state"] not in ACTIVE:
            return status
        if status["state"] == "queued":
            schedule(store)
        time.sleep(poll)
