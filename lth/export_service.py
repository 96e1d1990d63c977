"""Model files for the dashboard from a process that has TensorFlow loaded already: `python -m lth.export_service`.

The dashboard's process never imports TensorFlow, so a model file is written by another process; starting
one per file made each "Prepare file" wait seconds for TensorFlow to import. `ExportHelper` starts one such
process when a page shows a run's trained networks (TensorFlow imports while the user picks a network) and
sends it each export as the command line `lth export-model` would get it: the same checks, messages and file,
in a second instead of several. The process reads one request a line on stdin and answers one line on its own
copy of stdout (anything else that writes there, TensorFlow's C++ logs included, goes to stderr), and exits
when its stdin closes (the server stopped) or after IDLE_EXIT_S without a request (its memory comes back; the
next request starts another).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import select
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
IDLE_EXIT_S = 900.0
COMMAND = "export-model"  # the one command it runs


def serve() -> int:
    """The helper's loop: each line a JSON list of the `lth` command's arguments, each answer a JSON object
    {"code", "stdout", "stderr"} as the command line would have given them."""
    protocol = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # whatever else writes to stdout (C++ logs, a user's builder) cannot break the protocol
    from lth import cli, model_export  # noqa: F401  (TensorFlow now, not at the first request)

    stdin = sys.stdin.buffer
    while True:
        readable, _, _ = select.select([stdin], [], [], IDLE_EXIT_S)
        if not readable:
            return 0  # idle: the memory goes back; the dashboard starts another when asked
        line = stdin.readline()
        if not line:
            return 0  # the dashboard is gone
        try:
            args = json.loads(line)
            if not (isinstance(args, list) and args and args[0] == COMMAND and all(isinstance(a, str) for a in args)):
                raise ValueError(f"a request is the arguments of `lth {COMMAND}`")
        except ValueError as e:
            protocol.write(json.dumps({"code": 2, "stdout": "", "stderr": f"lth {COMMAND}: {e}\n"}) + "\n")
            continue
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = cli.main(args)
            except SystemExit as e:  # argparse refusing an argument
                code = e.code if isinstance(e.code, int) else 2
            except Exception as e:  # a fault of this request only: the next one gets a clean answer too
                print(f"lth {COMMAND}: {type(e).__name__}: {e}", file=sys.stderr)
                code = 1
        protocol.write(json.dumps({"code": code, "stdout": out.getvalue(), "stderr": err.getvalue()}) + "\n")


class ExportHelper:
    """The dashboard's side: one helper process per server, started on demand, restarted when it has gone
    (idle exit, a crash), one request at a time (a lock: several sessions may ask at once)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._process: subprocess.Popen | None = None
        self._pending = b""

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None and self._process.poll() is None else None

    def start(self) -> None:
        """Start the helper if none runs (returns at once; TensorFlow imports in the background)."""
        with self._lock:
            self._alive()

    def _alive(self) -> subprocess.Popen:
        if self._process is None or self._process.poll() is not None:
            self._pending = b""
            self._process = subprocess.Popen(
                [sys.executable, "-m", "lth.export_service"],
                cwd=ROOT,
                # a file is written on the CPU: a process that stays would otherwise hold GPU memory trainings need
                env={**os.environ, "CUDA_VISIBLE_DEVICES": "-1"},
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                bufsize=0,
            )
        return self._process

    def stop(self) -> None:
        with self._lock:
            self._end()

    def _end(self) -> None:
        if self._process is not None:
            with contextlib.suppress(OSError):
                self._process.kill()
            self._process.wait()
            self._process = None

    def run(self, args: list[str], timeout: float) -> subprocess.CompletedProcess:
        """`lth export-model ARGS...` in the helper: its exit code, stdout and stderr as a CompletedProcess.
        A helper that died before answering (idle exit at that moment, a crash) is started again once;
        subprocess.TimeoutExpired past `timeout` (the helper is ended: a stuck one serves nobody)."""
        request = (json.dumps([COMMAND, *args]) + "\n").encode()
        deadline = time.monotonic() + timeout
        with self._lock:
            for attempt in (1, 2):
                process = self._alive()
                try:
                    assert process.stdin is not None
                    process.stdin.write(request)
                    answer = json.loads(self._line(process, deadline))
                    return subprocess.CompletedProcess(args, answer["code"], answer["stdout"], answer["stderr"])
                except (BrokenPipeError, EOFError):
                    self._end()
                    if attempt == 2:
                        raise RuntimeError("the model export process ended without an answer") from None
                except subprocess.TimeoutExpired:
                    self._end()
                    raise
        raise AssertionError("unreachable")

    def _line(self, process: subprocess.Popen, deadline: float) -> bytes:
        """The helper's next answer line, read as it arrives (no buffered reader: a select on its pipe)."""
        assert process.stdout is not None
        fd = process.stdout.fileno()
        while b"\n" not in self._pending:
            left = deadline - time.monotonic()
            if left <= 0:
                raise subprocess.TimeoutExpired(COMMAND, 0)
            readable, _, _ = select.select([fd], [], [], left)
            if readable:
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    raise EOFError
                self._pending += chunk
        line, self._pending = self._pending.split(b"\n", 1)
        return line


if __name__ == "__main__":
    raise SystemExit(serve())
