"""Which process is a run's worker, and ending it: a pid is trusted only with its kernel start time and
its command line (/proc), never because a store file names it."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path

HEARTBEAT_SECONDS = 2.0
HEARTBEAT_TIMEOUT = 30.0  # a running worker silent this long is dead even if its pid lives on
STARTUP_GRACE = 60.0  # a worker just started may take this long (TensorFlow import) to beat first
CLOCK_SLACK = 60.0  # times further in the future than this are not believed


def printable(text: str) -> str:
    """`text` without control characters (a log line can hold terminal escape sequences)."""
    return "".join(c if c.isprintable() else "?" for c in text)


def _stat_fields(pid: int | None) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (its state first), or None where /proc cannot tell."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
            return f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def process_start_time(pid: int | None) -> int | None:
    """The kernel's start time of process `pid` (clock ticks since boot): with the pid, it names one
    process, so a reused pid is never mistaken for the worker. None where /proc cannot tell."""
    fields = _stat_fields(pid)
    try:
        return int(fields[19]) if fields is not None else None
    except (ValueError, IndexError):
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
    fields = _stat_fields(pid)
    if fields is None:
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


def end_process(
    pid: int, own_session: bool, start_time: int | None, *, run_id: str, root: Path, grace: float = 0.0
) -> bool:
    """SIGTERM (then SIGKILL after `grace` seconds) to a run's worker: its whole process group when it runs
    in its own session. A stopped (SIGSTOP) process is ended by SIGKILL too. Nothing is sent unless the
    process provably is this run's worker (`is_run_worker`); returns whether it was."""
    if not is_run_worker(pid, start_time, run_id, root, own_session):
        return False

    def send(sig) -> None:
        if not process_alive(pid, start_time):
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, sig) if own_session else os.kill(pid, sig)

    if grace > 0:
        send(signal.SIGTERM)
        deadline = time.time() + grace
        while time.time() < deadline and process_alive(pid, start_time):
            time.sleep(0.1)
    send(signal.SIGKILL)
    return True


def worker_dead(status: dict, beat: dict | None) -> bool:
    """Whether a running run's worker is gone: its process died, or it has not beaten for HEARTBEAT_TIMEOUT
    (STARTUP_GRACE before its first beat). Times from the future prove nothing (a file can say anything)."""
    if not process_alive(status.get("pid"), status.get("pid_start")):
        return True
    now = time.time()
    last = beat["time"] if beat and beat.get("pid") == status.get("pid") else None
    if last is not None and last > now + CLOCK_SLACK:
        last = None
    if last is None:
        started = status.get("started")
        if started is None or started > now + CLOCK_SLACK:
            started = 0.0  # no believable start: the startup grace is over
        return now - started > STARTUP_GRACE
    return now - last > HEARTBEAT_TIMEOUT


def death_reason(status: dict, last_lines: list[str]) -> str:
    pid = status.get("pid")
    if not process_alive(pid, status.get("pid_start")):
        hint = f"; last log line: {printable(last_lines[-1])}" if last_lines else ""
        return f"worker process {pid} died without finishing (killed, out of memory or machine restart){hint}"
    return (
        f"worker process {pid} stopped sending heartbeats for over {HEARTBEAT_TIMEOUT:.0f} s "
        f"(hung or stopped); it was ended"
    )
