"""Entry point of a background worker process: `python -m lth worker RUN_ID`."""

from __future__ import annotations

import contextlib
import os
import time

from lth.runs import executors
from lth.runs.queue import WORKER_NICENESS, schedule
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
    name = status.get("executor") or "local"
    if name == "local":  # a Ray run's worker only supervises: it keeps its priority
        lower_the_session_priority()
    try:
        final: dict | None = executors.execute(name, run_id, store, on_eval=_log_progress)
    except (executors.ExecutorError, StoreError, Corrupt, OSError) as e:  # before training began
        print(f"lth worker: {one_line(e)}", flush=True)
        final = _fail(store, run_id, one_line(e))
    finally:
        schedule(store)  # this slot is free: start the next queued run
    if final and final["state"] == RunState.FAILED and final.get("error"):
        print(f"lth worker: run {run_id} failed: {final['error']}", flush=True)  # the log's last line says why
    return 0 if final and final["state"] in (RunState.DONE, RunState.CANCELLED) else 1


def lower_the_session_priority() -> None:
    """Where Linux groups processes by session for scheduling (autogroup, on by default on desktops and many
    servers), a process's nice value only ranks it within its session: the worker leads its own session (it
    outlives the page that started it), so that group shares the cores with the dashboard's as an equal
    unless the group itself is niced. Only when this process leads its session, so that a worker run by hand
    in a terminal never lowers that terminal."""
    if os.getsid(0) != os.getpid():
        return
    # no autogroup here (another OS, or a kernel without it): nice alone ranks
    with contextlib.suppress(OSError), open("/proc/self/autogroup", "w") as f:
        f.write(str(WORKER_NICENESS))


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
