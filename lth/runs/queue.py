"""The queue: submit runs to the store, start each in its own OS process, cancel, resume, wait.

A run trains in a worker process started in a new session (`python -m lth worker RUN_ID`), so it
outlives Streamlit reruns, closed browsers and restarted apps. Queued runs are started by `schedule()`,
which every submit, cancel, resume, finished worker and store listing calls: the queue moves on even
when no page is open. Lock order: the scheduler lock may be held while taking a run's lock, never the
other way round.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import cast

from filelock import FileLock, Timeout

from lth import hparams, paths
from lth.data import datasets
from lth.device import gpu_hardware
from lth.fsutil import write_npz_atomic
from lth.hparams import ConfigError, RunConfig
from lth.instability import ticket_arrays
from lth.networks import NetworkError
from lth.plans.instability import InstabilityPlan
from lth.runs import executors, trust
from lth.runs import kept as kept_networks
from lth.runs import logs as run_logs
from lth.runs import settings as store_settings
from lth.runs.processes import end_process, process_alive, process_start_time
from lth.runs.schema import Corrupt
from lth.runs.settings import RAY_MAX_IN_FLIGHT
from lth.runs.state import ACTIVE, RunState
from lth.runs.store import RunStore, StoreError

ROOT = Path(__file__).resolve().parent.parent.parent
MAX_CONCURRENT_ENV = "LTH_MAX_CONCURRENT"
EXECUTOR_ENV, RAY_ADDRESS_ENV = "LTH_EXECUTOR", "LTH_RAY_ADDRESS"
MAX_RUNS_PER_SUBMISSION = 1000
CANCEL_GRACE_SECONDS = 5.0
RAY_ADDRESS = re.compile(r"auto|(ray://)?[A-Za-z0-9_.\-\[\]:]+:\d{1,5}")


# ---- settings -------------------------------------------------------------------------------------
def max_concurrent(store: RunStore) -> int:
    """Local runs trained at once: the store's setting, else $LTH_MAX_CONCURRENT, else one per GPU
    (one on a CPU)."""
    value = store_settings.read(store).get("max_concurrent")
    if value is None:
        try:
            value = int(os.environ.get(MAX_CONCURRENT_ENV, "0"))
        except ValueError:
            value = 0
    return min(64, max(1, value or len(gpu_hardware())))


def set_max_concurrent(store: RunStore, value: int) -> None:
    store_settings.write(store, max_concurrent=int(value))


def executor_choice(
    store: RunStore, executor: str | None = None, ray_address: str | None = None
) -> tuple[str, str | None]:
    """The executor for new (and resumed) runs: the argument, else $LTH_EXECUTOR, else the store's
    setting, else local. Refused here, before anything is queued, when it cannot run."""
    settings = store_settings.read(store)
    executor = executor or os.environ.get(EXECUTOR_ENV) or settings.get("executor") or "local"
    problem = executors.unavailable(executor)
    if problem:
        raise StoreError(problem)
    if executor != "ray":
        return executor, None
    address = ray_address or os.environ.get(RAY_ADDRESS_ENV) or settings.get("ray_address") or "auto"
    if not RAY_ADDRESS.fullmatch(address):
        raise StoreError(f"not a Ray address: {address!r} (expected HOST:PORT, ray://HOST:PORT or auto)")
    return executor, address


# ---- submitting -------------------------------------------------------------------------------------
class Outcome(StrEnum):
    """What submitting a run did."""

    CACHED = "cached"  # done already: nothing trains
    ATTACHED = "attached"  # queued or running already
    QUEUED = "queued"
    RESUMED = "resumed"  # it had stopped


@dataclass(frozen=True)
class Submission:
    run_id: str
    outcome: Outcome

    @property
    def message(self) -> str:
        return {
            Outcome.CACHED: f"run {self.run_id} is cached: its results are ready, nothing was trained",
            Outcome.ATTACHED: f"run {self.run_id} is already queued or running; attached to it",
            Outcome.QUEUED: f"run {self.run_id} queued",
            Outcome.RESUMED: f"run {self.run_id} had stopped; it resumes (a lottery or one-shot run from its last "
            f"completed round; other experiments train again from the start)",
        }[Outcome(self.outcome)]


@dataclass(frozen=True)
class Checked:
    """A config that passed every check, with what submitting it needs."""

    config: RunConfig
    run_id: str
    fingerprint: str
    train_size: int


def check(config: RunConfig, data_dir: str | None = None, download: bool = False) -> Checked:
    """Everything that can be wrong with one run before it is queued; raises ConfigError/DataError.
    `download`: let Keras fetch full MNIST if it is missing (never in the dashboard's process)."""
    own = datasets.is_own(config.dataset)  # then data_dir is the user's .npz file
    if data_dir is not None and str(data_dir).strip() and not own and config.dataset not in datasets.WITH_FOLDER:
        raise ConfigError(
            f"--data-dir applies to {' and '.join(datasets.WITH_FOLDER)} only: {config.dataset} is "
            f"bundled with the product; leave --data-dir out"
        )
    data = hparams.check_run(config, data_dir, download)
    return Checked(config, hparams.run_id(config, data.fingerprint), data.fingerprint, len(data.y_train))


def submit(
    config: RunConfig,
    *,
    data_dir: str | None = None,
    store: RunStore | None = None,
    start: bool = True,
    executor: str | None = None,
    ray_address: str | None = None,
    download: bool = False,
) -> Submission:
    """Queue a run (or find it done or in progress). Raises ConfigError/DataError/StoreError on bad input."""
    return submit_all(
        [config],
        data_dir=data_dir,
        store=store,
        start=start,
        executor=executor,
        ray_address=ray_address,
        download=download,
    )[0]


def submit_all(
    configs: list[RunConfig],
    *,
    data_dir: str | None = None,
    store: RunStore | None = None,
    start: bool = True,
    executor: str | None = None,
    ray_address: str | None = None,
    download: bool = False,
) -> list[Submission]:
    """Check every run first, then queue them all: one bad run queues none (sweeps, presets, forms)."""
    if len(configs) > MAX_RUNS_PER_SUBMISSION:  # a typo in a sweep's grid must not queue days of work
        raise ConfigError(
            f"{len(configs):,} runs in one submission; at most {MAX_RUNS_PER_SUBMISSION:,} (split the sweep)"
        )
    store = store or RunStore()
    if not store.missing:  # an existing store that cannot take runs is refused before any data is read
        _check_writable(store)
    placement = dict(zip(("executor", "ray_address"), executor_choice(store, executor, ray_address)))
    problem = placement["ray_address"] and executors.unreachable(placement["ray_address"])
    if problem:  # nothing is queued for a cluster that does not answer
        raise StoreError(problem)
    checked = [check(config, data_dir, download) for config in configs]
    tickets = {item.run_id: ticket_source(store, item) for item in checked if item.config.ticket_run}
    if store.missing:  # a store opened without creating it is made only now, every check passed
        store.make()
        _check_writable(store)
    submissions = []
    for item in checked:
        if store.exists(item.run_id):
            store.status_or_none(item.run_id)  # marks a dead worker failed before we decide
        with store.lock(item.run_id):
            outcome = _claim(store, item, data_dir, signed(item.run_id, placement))
            if item.run_id in tickets and outcome in (Outcome.QUEUED, Outcome.RESUMED):
                write_npz_atomic(store.checkpoint_dir(item.run_id) / paths.TICKET, tickets[item.run_id])
            submissions.append(Submission(item.run_id, outcome))
    if start:
        schedule(store)
    return submissions


def _check_writable(store: RunStore) -> None:
    store.require_writable()
    problem = scheduler_problem(store)
    if problem:  # a queue that could never start is refused before anything is queued
        raise StoreError(problem)


def ticket_source(store: RunStore, item: Checked) -> dict:
    """The ticket masks (and theta0) an instability run tests, from its --ticket-run in this store;
    ConfigError when that run cannot supply them."""
    config, source = item.config, item.config.ticket_run
    assert source is not None  # submit_all asks only runs that name one
    store.check_id(source)
    if not store.exists(source):
        raise ConfigError(f"--ticket-run {source}: no such run in {store.root}")
    try:
        record, source_config = store.config_and_record(source)
    except Corrupt as e:
        raise ConfigError(f"--ticket-run {source} cannot be read: {e}") from None
    wanted = cast(InstabilityPlan, config.plan).ticket_source
    if source_config.experiment != wanted:
        raise ConfigError(f"--ticket-run {source} is a {source_config.experiment} run, not a {wanted} run")
    try:
        state = store.status(source)["state"]
        finished = store.finished_results(source)  # list's notion of a usable run: done and sound
    except Corrupt as e:
        raise ConfigError(f"--ticket-run {source} is corrupt: {e}") from None
    if state != RunState.DONE or finished is None:  # an unfinished run's files are not yet its results
        raise ConfigError(f"--ticket-run {source} is {state.value}: its tickets can be tested once it is done")
    differs = [
        f"{key} {getattr(source_config, key)}"
        for key in ("model", "seed")
        if getattr(source_config, key) != getattr(config, key)
    ]
    if record["dataset_fingerprint"] != item.fingerprint:
        differs.append("other data")
    if differs:
        raise ConfigError(
            f"--ticket-run {source} has {', '.join(differs)}: its ticket is a network of "
            f"another model, seed or data set than this run's"
        )
    masks = {}
    for round_ in sorted(config.ticket_rounds):
        try:
            masks[round_] = kept_networks.network(store, source, "ticket", round_).masks
        except NetworkError as e:
            raise ConfigError(f"--ticket-rounds {round_}: {e}") from None
    try:
        theta0 = kept_networks.theta0(store, source)
    except NetworkError as e:
        raise ConfigError(f"--ticket-run {source}: {e}") from None
    return ticket_arrays(masks, theta0)


def _claim(store: RunStore, item: Checked, data_dir: str | None, placement: dict) -> Outcome:
    """Decide what a submission means for the run, under its lock."""
    run_id = item.run_id
    if store.exists(run_id):
        try:
            store.config_and_record(run_id)
            state = store.raw_status(run_id)["state"]
        except Corrupt:
            state = None  # unreadable files: start the run over, its config is known
        if state == RunState.DONE:
            try:
                if store.results(run_id) is not None:
                    return Outcome.CACHED
            except Corrupt:
                pass  # unreadable results: train again
        elif state in ACTIVE:
            return Outcome.ATTACHED
        elif state in (RunState.FAILED, RunState.CANCELLED):
            _requeue(store, run_id, **placement)
            return Outcome.RESUMED
    store.create(
        run_id,
        item.config,
        data_dir=data_dir,
        fingerprint=item.fingerprint,
        planned_evaluations=hparams.planned_evaluations(item.config, item.train_size),
        **placement,
    )
    return Outcome.QUEUED


def signed(run_id: str, placement: dict) -> dict:
    """The placement with this user's signature (see `trust`): workers refuse unsigned Ray addresses."""
    return {**placement, "placement_sig": trust.sign(run_id, placement["executor"], placement["ray_address"])}


def _requeue(store: RunStore, run_id: str, **changes) -> None:
    """Put a failed or cancelled run back in the queue (under its lock). The time it trained before is kept
    (`elapsed_before`), so its elapsed time counts every attempt, not only the resumed one."""
    status = store.raw_status(run_id)
    before = status.get("elapsed_before") or 0.0
    if status.get("started") and status.get("ended") and status["ended"] >= status["started"]:
        before += status["ended"] - status["started"]
    store.update_status(
        run_id,
        state=RunState.QUEUED,
        queued=time.time(),
        error=None,
        pid=None,
        pid_start=None,
        started=None,
        ended=None,
        elapsed_before=before,
        **changes,
    )


def resume(run_id: str, store: RunStore, *, executor: str | None = None, ray_address: str | None = None) -> Submission:
    """Queue a failed or cancelled run (or a finished one whose results are corrupt or whose kept files are
    not the ones its results record: a repair) again, on the executor chosen now (not the one it last used).
    A repaired run trains again what is damaged (the round of a damaged network and every later one; all of it
    where theta0 or the reset point is damaged), to the same results."""
    store.require_writable()
    placement = signed(run_id, dict(zip(("executor", "ray_address"), executor_choice(store, executor, ray_address))))
    store.status(run_id)
    damaged = [] if _results_corrupt(store, run_id) else kept_networks.damaged(store, run_id)
    with store.lock(run_id):
        store.config_and_record(run_id)  # a corrupt config is reported, not resumed
        store.check_appended_files(run_id)  # a log or metric file planted as a link: refused now, not later
        state = store.raw_status(run_id)["state"]
        if not state.resumable and not (state == RunState.DONE and (damaged or _results_corrupt(store, run_id))):
            raise StoreError(
                f"run {run_id} is {state}"
                + (
                    " and every file it keeps is the one its results record: nothing to repair"
                    if state == RunState.DONE
                    else ""
                )
                + "; only failed or cancelled runs (or finished runs whose results are corrupt or "
                "whose kept files are damaged) resume"
            )
        if paths.in_checkpoint(paths.WEIGHTS) in damaged:  # its record goes too: every round is trained again
            (store.checkpoint_dir(run_id, create=False) / paths.WEIGHTS_SHA256).unlink(missing_ok=True)
        _requeue(store, run_id, **placement)
    schedule(store)
    return Submission(run_id, Outcome.RESUMED)


def _results_corrupt(store: RunStore, run_id: str) -> bool:
    """A run whose status says done but whose results `list` shows corrupt: it resumes from its checkpoint."""
    try:
        return store.results(run_id) is None
    except Corrupt:
        return True


def cancel(run_id: str, store: RunStore) -> dict:
    """Stop a queued or running run and mark it cancelled; returns the new status."""
    store.require_writable()
    store.status(run_id)
    with store.lock(run_id):
        status = store.raw_status(run_id)
        if status["state"] not in ACTIVE:
            raise StoreError(f"run {run_id} is {status['state']}; only queued or running runs can be cancelled")
        pid, own_session, pid_start = status.get("pid"), status.get("own_session"), status.get("pid_start")
        status = store.update_status(run_id, state=RunState.CANCELLED, ended=time.time(), error="cancelled by the user")
    if pid and process_alive(pid, pid_start):
        end_process(pid, bool(own_session), pid_start, run_id=run_id, root=store.root, grace=CANCEL_GRACE_SECONDS)
    schedule(store)
    return status


# ---- the queue ----------------------------------------------------------------------------------------
def scheduler_problem(store: RunStore) -> str | None:
    """Why queued runs of this store cannot be started (its scheduler lock file is not a file), or None."""
    try:
        store.lock_path(paths.SCHEDULER_LOCK)
    except StoreError as e:
        return f"queued runs cannot start: {e}"
    return None


def schedule(store: RunStore) -> list[str]:
    """Start queued runs (oldest first) while fewer than the limit are running; returns those started.
    A read-only store schedules nothing."""
    if not store.writable:
        return []
    started: list[str] = []
    problem = scheduler_problem(store)
    if problem:  # said where it is seen (CLI, worker log, pages); submitting refuses it
        print(f"lth: warning: {problem}", file=sys.stderr, flush=True)
        return started
    lock = FileLock(str(store.root / paths.SCHEDULER_LOCK), timeout=60)
    try:
        lock.acquire()
    except (Timeout, OSError):
        return started  # another process schedules; the next submit or finish moves the queue
    try:
        running = {name: 0 for name in executors.NAMES}
        queued: dict[str, list[tuple[float, str]]] = {name: [] for name in executors.NAMES}  # (since, run)
        for run_id in store.run_ids():
            status = store.status_or_none(run_id)
            if status is None:
                continue
            executor = status.get("executor") or "local"
            if status["state"] == RunState.RUNNING:
                running[executor] += 1
            elif status["state"] == RunState.QUEUED:
                queued[executor].append((status.get("queued") or status.get("created") or 0, run_id))
        limits = {
            "local": max_concurrent(store),
            "ray": store_settings.read(store).get("ray_max_in_flight", RAY_MAX_IN_FLIGHT),
        }
        for executor in executors.NAMES:
            for _, run_id in sorted(queued[executor])[: max(0, limits[executor] - running[executor])]:
                try:
                    if _start_worker(store, run_id):
                        started.append(run_id)
                except (StoreError, Corrupt, OSError) as e:
                    _fail_to_start(store, run_id, e)
    finally:
        lock.release()
    return started


def _fail_to_start(store: RunStore, run_id: str, error: Exception) -> None:
    try:
        with store.lock(run_id):
            store.update_status(
                run_id, state=RunState.FAILED, ended=time.time(), error=f"could not start a worker: {error}"
            )
    except (StoreError, Corrupt, OSError):
        pass


def _take_queued(store: RunStore, run_id: str, launch, own_session: bool) -> bool:
    """If the run is still queued, `launch()` its trainer (returning its pid) and mark it running."""
    with store.lock(run_id):
        store.config_and_record(run_id)  # never start a run whose config is corrupt
        if store.raw_status(run_id)["state"] != RunState.QUEUED:
            return False
        pid = launch()
        store.update_status(
            run_id,
            state=RunState.RUNNING,
            pid=pid,
            pid_start=process_start_time(pid),
            own_session=own_session,
            started=time.time(),
            ended=None,
        )
    return True


# A background training yields the cores to whatever a person is doing (the dashboard, a shell): it still
# gets every cycle nobody else wants, so an untouched machine trains as fast, and a page settles as on an
# idle one. Set by `nice` before the interpreter starts, so every thread has it (numpy's and allocators'
# threads start at import), and on the worker's session group (worker.lower_the_session_priority). A Ray
# run's worker only supervises (the training runs on the cluster's nodes) and keeps its priority, so it
# follows its task as it happens. `lth run` in a terminal trains at the priority it was started with.
WORKER_NICENESS = 10


def _start_worker(store: RunStore, run_id: str) -> bool:
    def launch() -> int:
        log_path = store.folder(run_id) / paths.LOG
        fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        with os.fdopen(fd, "ab") as log:
            nice = shutil.which("nice")
            trains_here = (store.raw_status(run_id).get("executor") or "local") == "local"
            lower_priority = [nice, "-n", str(WORKER_NICENESS)] if nice and trains_here else []
            return subprocess.Popen(
                lower_priority + [sys.executable, "-m", "lth", "worker", run_id, "--cache-dir", str(store.root)],
                cwd=ROOT,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # survives the page, the app and the terminal that started it
            ).pid

    return _take_queued(store, run_id, launch, own_session=True)


def claim_foreground(run_id: str, store: RunStore) -> bool:
    """Mark a queued run as running in this process (for `lth run`); False if another process has it."""
    return _take_queued(store, run_id, os.getpid, own_session=False)


def wait(run_id: str, store: RunStore, *, on_eval=None, poll: float = 1.0) -> dict:
    """Follow a run another process trains until it ends, passing new evaluations to `on_eval`."""
    seen = 0
    while True:
        status = store.status(run_id)
        records = run_logs.metrics_records(store, run_id)
        if on_eval:
            for event in records[seen:]:
                on_eval(event)
        seen = len(records)
        if status["state"] not in ACTIVE:
            return status
        if status["state"] == RunState.QUEUED:
            schedule(store)
        time.sleep(poll)
