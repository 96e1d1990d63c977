"""What every executor does around training a run: heartbeats, the metric log, cancel on SIGTERM,
restarting a stopped run's metrics, the results and the final status. Shared by the local executor,
the Ray executor and `python -m lth run`."""

from __future__ import annotations

import contextlib
import errno
import importlib.metadata
import os
import platform
import signal
import threading
import time
import traceback
from pathlib import Path

from lth.errors import Explained
from lth.hparams import RunConfig
from lth.runs import logs as run_logs
from lth.runs.processes import HEARTBEAT_SECONDS, printable
from lth.runs.state import RunState
from lth.runs.store import RunStore, StoreError
from lth.runs.tensorboard import EventLog


class Cancelled(Exception):
    pass


class Superseded(Exception):
    """This process no longer owns the run (declared dead, cancelled, or started elsewhere)."""


def versions() -> dict:
    def version(package):
        try:
            return importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            return None

    return {
        "python": platform.python_version(),
        "tensorflow": version("tensorflow"),
        "tf_keras": version("tf-keras"),
        "tfmot": version("tensorflow-model-optimization"),
    }


def completed_rounds(config: RunConfig, checkpoint_dir: Path) -> int:
    """Rounds a stopped run finished (0 where its plan does not resume: it restarts)."""
    from lth.checkpoint import RoundCheckpoint

    # a bad round is trained again: the experiment says why in the log
    return len(RoundCheckpoint(checkpoint_dir).completed_rounds(config.plan))


def restart_metrics(store: RunStore, run_id: str, completed: int) -> int:
    """Drop the metric lines of work a (re)started run redoes; returns how many lines stay."""
    run_logs.keep_metrics(store, run_id, lambda r: r.get("round", 0) < completed)  # 0 where the plan does not resume
    return len(run_logs.metrics_records(store, run_id))


class Progress:
    """What the heartbeat reports, and the metric log the supervisor writes as evaluations arrive.

    Before each line it checks that this process still owns the run, so a worker that was declared
    dead (stopped, then continued) never writes into a run that moved on."""

    def __init__(self, store: RunStore, run_id: str, on_eval=None):
        self.store, self.run_id, self.on_eval = store, run_id, on_eval
        self.state = {"evaluations": 0, "iteration": 0}
        try:
            folder = store.tensorboard_dir(run_id)
        except (StoreError, OSError) as e:  # e.g. tensorboard/ planted as a link: no events, the run trains
            folder = None
            print(f"lth: TensorBoard event files are not written: {e}", flush=True)
        self.events = EventLog(folder)

    def restart(self, evaluations: int, completed_rounds: int = 0) -> None:
        self.state.update(evaluations=evaluations, iteration=0)
        self.events.clear_from(completed_rounds)

    def check_owner(self) -> None:
        status = self.store.raw_status(self.run_id)
        if status["state"] != RunState.RUNNING or status.get("pid") != os.getpid():
            raise Superseded(f"run {self.run_id} is {status['state']} under pid {status.get('pid')}")

    def record(self, event: dict) -> None:
        self.check_owner()
        layer_density = event.pop("layer_density", None)  # for TensorBoard; the metric log keeps lines short
        run_logs.append_metric(self.store, self.run_id, event)
        self.events.write(event, layer_density)
        self.state.update(
            evaluations=self.state["evaluations"] + 1,
            iteration=event["iteration"],
            arm=event["arm"],
            round=event["round"],
        )
        if self.on_eval:
            self.on_eval(event)


def supervise(run_id: str, store: RunStore, train, *, on_eval=None) -> dict:
    """Run `train(config, record, progress)` (which returns the run's summary) for a run whose status is
    `running` with this process's pid. Returns the final status."""
    record, config = store.config_and_record(run_id)
    progress = Progress(store, run_id, on_eval)
    stop = threading.Event()

    def beat():
        while not stop.is_set():
            with contextlib.suppress(OSError):  # a full disk: the next beat tries again; the reader's timeout decides
                store.write_heartbeat(run_id, progress.state)
            stop.wait(HEARTBEAT_SECONDS)

    heart = threading.Thread(target=beat, daemon=True)
    heart.start()

    def on_sigterm(signum, frame):
        raise Cancelled()

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        summary = train(config, record, progress)
        summary["run_id"] = run_id
        progress.check_owner()
        store.write_results(run_id, summary)
        final: dict | None = {"state": RunState.DONE, "error": None}
    except Cancelled:
        final = {"state": RunState.CANCELLED, "error": "cancelled by the user"}
    except Superseded as e:
        print(f"lth: {e}; this process stops without writing", flush=True)
        final = None
    except BaseException as e:  # includes KeyboardInterrupt in the foreground
        problem = storage_problem(e, run_id, store.path(run_id))
        if not isinstance(e, Explained) and problem is None:  # a defect: its traceback goes to the log. An
            traceback.print_exc()  # explained failure's message (a full disk's too) is the status's error, which
        final = {"state": RunState.FAILED, "error": problem or one_line(e)}  # the caller reports once
    finally:
        signal.signal(signal.SIGTERM, previous)
        progress.events.close()
        stop.set()
        heart.join()
    with store.lock(run_id):
        status = store.raw_status(run_id)
        if final and status["state"] == RunState.RUNNING and status.get("pid") == os.getpid():
            store.write_heartbeat(run_id, progress.state)
            status = store.update_status(run_id, ended=time.time(), **final)
    return status


def progress_line(event: dict) -> str:
    """One evaluation as a line of text (the CLI's progress and the worker's log)."""
    pair = f" k={event['rewind']} copy {event['copy']}" if event.get("rewind") is not None else ""
    return (
        f"[{event['arm']} round {event['round']} density {100 * event['density']:.1f}%{pair}] "
        f"it {event['iteration']}/{event['total_iterations']}  "
        f"train {event['train_loss']:.4f}/{100 * event['train_accuracy']:.2f}%  "
        f"val {event['val_loss']:.4f}/{100 * event['val_accuracy']:.2f}%"
        + (
            f"  test {event['test_loss']:.4f}/{100 * event['test_accuracy']:.2f}%"
            if event.get("test_accuracy") is not None
            else ""
        )
    )


# The file system's refusals of a write that stop a run without any defect: what happened, and what to do
STORAGE_ERRORS = {
    errno.ENOSPC: ("no space left on device", "free space"),
    errno.EDQUOT: ("disk quota exceeded", "free space"),
    errno.EROFS: ("read-only file system", "make it writable"),
}


def storage_problem(error: BaseException, run_id: str, folder) -> str | None:
    """One line for a write the file system refused (full disk, quota, read-only), naming the file (or, where
    the error names none, the run's `folder`) and how to go on; None for any other error."""
    if not isinstance(error, OSError) or error.errno not in STORAGE_ERRORS:
        return None
    what, remedy = STORAGE_ERRORS[error.errno]
    where = f"{error.filename}" if error.filename else f"into {folder}"
    return printable(f"{what} writing {where}; {remedy} and `lth resume {run_id}`")


def one_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"[:500]
