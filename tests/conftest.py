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
    """Every test (and every process it starts) uses its own run store, never the user's cache/."""
    os.environ["LTH_CACHE_DIR"] = str(tmp_path_factory.mktemp("cache"))


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

    return subprocess.run([sys.executable, "-m", "lth", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})


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


TINY_RUN = ["--iterations", "60", "--eval-every", "30", "--seed", "31"]


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
