import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


# The dashboard's pages as app.py's navigation lists them (the page tests walk these).
from dashboard.navigation import PAGES as _NAVIGATION  # noqa: E402

APP_PAGES = [p.script for p in _NAVIGATION]


@pytest.fixture(scope="session", autouse=True)
def private_run_store(tmp_path_factory):
    """Every test (and every process it starts) uses its own run store, never the user's cache/, and its own list
    of trusted network builders and written arrays, never the user's."""
    os.environ["LTH_CACHE_DIR"] = str(tmp_path_factory.mktemp("cache"))
    os.environ["LTH_CONFIG_DIR"] = str(tmp_path_factory.mktemp("config"))
    os.environ["LTH_ARRAYS_DIR"] = str(tmp_path_factory.mktemp("arrays"))


_RESTORE: list = []


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    """`make test-fast` leaves out the tests marked `trains` (or `slow`); so that it really trains nothing, a test
    without the marker that trains a network or starts a process fails, saying to mark it. Installed before
    the test's fixtures are set up, so a shared fixture that trains counts against the test that needs it."""
    if item.get_closest_marker("trains") or item.get_closest_marker("slow"):
        return
    import subprocess

    from lth import training

    def refused(what, original, allowed=lambda *args, **kwargs: False):
        def refuse(*args, **kwargs):
            if allowed(*args, **kwargs):
                return original(*args, **kwargs)
            raise AssertionError(f"this test {what}: mark it @pytest.mark.trains (make test-fast leaves it out)")

        return refuse

    def browser(popen, args, *rest, **kwargs):
        # the Chromium kaleido starts for image export (in a background thread the app warms it in) is no
        # training; refusing it there would leave kaleido's server half started for every later test
        return any("chromium" in str(a) for a in (args if isinstance(args, (list, tuple)) else [args]))

    for owner, name, what, allowed in (
        (training.Trainer, "fit", "trains a network", None),
        (subprocess.Popen, "__init__", "starts a process", browser),
    ):
        original = owner.__dict__[name]
        _RESTORE.append((owner, name, original))
        setattr(owner, name, refused(what, original, allowed) if allowed else refused(what, original))


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item, nextitem):
    while _RESTORE:
        owner, name, original = _RESTORE.pop()
        setattr(owner, name, original)


@pytest.fixture
def store(tmp_path):
    """The test's own run store; no worker is left training after the test."""
    from lth import runs
    from lth.runs import RunStore

    store = RunStore(tmp_path / "cache")
    yield store
    try:
        for run_id in store.run_ids():
            status = store.status_or_none(run_id)
            if status and status["state"] in runs.ACTIVE:
                runs.cancel(run_id, store)
    except (runs.StoreError, OSError):  # a store the test made unusable: nothing of it can train
        pass


TINY = ["--iterations", "60", "--eval-every", "30"]  # the tiny budget of the tests that train through the CLI


def cli(store, *args):
    """`python -m lth ARGS --cache-dir STORE` in a real process (`run_cli`)."""
    return run_cli(*args, "--cache-dir", str(store.root))


@pytest.fixture(scope="session")
def sample():
    from lth.data import load_dataset

    return load_dataset("mnist-sample")


def cli_in_process(capsys, *args) -> tuple[int, str, str]:
    """`python -m lth ARGS` in this process (exit status, stdout, stderr): for refusals, which never train;
    what needs a real process (a worker, a pipe, a traceback) uses `run_cli`."""
    from lth import cli

    try:
        code = cli.main([str(a) for a in args])
    except SystemExit as e:  # argparse's refusals exit
        code = e.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def run_cli(*args, env=None, timeout=600):
    """Run `python -m lth ARGS` in a real process; returns CompletedProcess."""
    import subprocess

    return subprocess.run(
        [sys.executable, "-m", "lth", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture(scope="session")
def built_once(tmp_path_factory, worker_id):
    """`built_once(name, make)`: a folder `make(folder)` fills, built by the first xdist worker that asks
    (the others wait on a lock in the session's shared temp folder), then copied for the asking worker.
    What several tests share is trained once per session, not once per worker or per test."""
    import shutil

    from filelock import FileLock

    shared = tmp_path_factory.getbasetemp() if worker_id == "master" else tmp_path_factory.getbasetemp().parent

    def build(name: str, make) -> Path:
        folder = shared / f"built-{name}"
        with FileLock(str(folder) + ".lock"):
            if not (folder / ".built").exists():
                shutil.rmtree(folder, ignore_errors=True)
                folder.mkdir()
                make(folder)
                (folder / ".built").touch()
        return folder

    return build


def copy_of(folder: Path, to: Path) -> Path:
    """A private copy of a built folder (its lock files and the marker left out)."""
    import shutil

    shutil.copytree(folder, to, ignore=shutil.ignore_patterns(".built", "*.lock"))
    return to


@pytest.fixture(scope="session")
def filled_store(built_once, tmp_path_factory):
    """A real run store: two seeds each of a tiny baseline and a tiny lottery run with both controls."""
    from lth.bench_browser import small_store  # the same store the browser-latency benchmark serves
    from lth.runs import RunStore

    return RunStore(copy_of(built_once("filled-store", small_store), tmp_path_factory.mktemp("filled") / "store"))


@pytest.fixture
def signals(monkeypatch):
    """The pids (or process groups) this process sends a signal to, other than 0 (a liveness probe): what a
    reader or `cancel` signalled, recorded as it happens (the signals are still sent)."""
    sent: list[int] = []
    real_kill, real_killpg = os.kill, os.killpg

    def kill(pid, sig):
        if sig:
            sent.append(pid)
        return real_kill(pid, sig)

    def killpg(group, sig):
        if sig:
            sent.append(group)
        return real_killpg(group, sig)

    monkeypatch.setattr(os, "kill", kill)
    monkeypatch.setattr(os, "killpg", killpg)
    return sent


def wait_for(predicate, timeout=120, poll=0.1):
    """Poll `predicate` until it returns something true (which is returned), or fail after `timeout` s."""
    import time

    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError("condition not met in time")


TINY_RUN = [*TINY, "--seed", "31"]


@pytest.fixture
def done_run(store, built_once):
    """A finished tiny baseline run (`TINY_RUN`) in the test's `store`: trained once per session, copied for
    each test that edits it."""

    def make(folder):
        result = run_cli("run", *TINY_RUN, "--cache-dir", str(folder))
        assert result.returncode == 0, result.stderr

    template = built_once("done-run", make)
    (run_id,) = [p.name for p in template.iterdir() if p.is_dir()]
    copy_of(template / run_id, store.path(run_id))
    return run_id


def exported_accuracies(data, paths) -> dict:
    """{path: test accuracy} of exported model files, scored by tests/load_exported.py in a Python where the
    product is not importable (as a user without it loads them); `data` an IDX folder or an .npz file."""
    import json
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-I", str(ROOT / "tests" / "load_exported.py"), str(data), *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd="/",
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.splitlines()[-1])
