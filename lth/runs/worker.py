"""Entry point of a background worker process: `python -m lth worker RUN_ID`."""

from __future__ import annotations

import os
import time

from lth.runs import executors
from lth.runs.queue import schedule
from lth.runs.schema import Corrupt
from lth.runs.state import RunState
from lth.runs.store import RunStore, StoreError
from lth.runs.supervise import one_line, progress_line


def run_worker(run_id: str, store: RunStore) -> int:
    try:
        if not store.exists(run_id):
            print(f"lth worker: no run {run_id} in {store.root}; nothing was touched", flush=True)
            return 2
        with store.lock(run_id):  # the scheduler marks the run running with this pid under the same lock
            status = store.raw_status(run_id)
        if status["state"] != RunState.RUNNING or status.get("pid") != os.getpid():
            print(
                f"lth worker: run {run_id} is {status['state']} under pid {status.get('pid')}, not this "
                f"process's to train; nothing was touched",
                flush=True,
            )
            return 2
    except (StoreError, Corrupt, OSError) as e:
        print(f"lth worker: {one_line(e)}", flush=True)
        return 2
    try:
        name = status.get("executor") or "local"
        final: dict | None = executors.execute(name, run_id, store, on_eval=_log_progress)
    except (executors.ExecutorError, StoreError, Corrupt, OSError) as e:  # before training began
        print(f"lth worker: {one_line(e)}", flush=True)
        final = _fail(store, run_id, one_line(e))
    finally:
        schedule(store)  # this slot is free: start the next queued run
    if final and final["state"] == RunState.FAILED and final.get("error"):
        print(f"lth worker: run {run_id} failed: {final['error']}", flush=True)  # the log's last line says why
    return 0 if final and final["state"] in (RunState.DONE, RunState.CANCELLED) else 1


def _log_progress(event: dict) -> None:
    print(progress_line(event), flush=True)  # stdout is the run's log.txt: the Runs page's Log shows it


def _fail(store: RunStore, run_id: str, error: str) -> dict | None:
    try:
        with store.lock(run_id):
            status = store.raw_status(run_id)
            if status["state"] == RunState.RUNNING and status.get("pid") == os.getpid():
                status = store.update_status(run_id, state=RunState.FAILED, ended=time.time(), error=error)
            return status
    except (StoreError, Corrupt, OSError):
        return None
