"""The real server in a real headless Chromium: every page, a run started from the UI, its live curve,
the compare figure, an export download. Screenshots go to docs/screenshots with LTH_UPDATE_SCREENSHOTS=1."""

import os
import re
import shutil
import time
from pathlib import Path

import pytest

from conftest import ROOT
from dashboard.navigation import PAGES as NAVIGATION

CHROMIUM = shutil.which("chromium")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        CHROMIUM is None and not os.environ.get("CI"),
        reason="Debian's chromium is not installed (make test installs it)",
    ),
]
PAGES = {p.path: p.heading for p in NAVIGATION}  # every page of the navigation, by its heading


@pytest.fixture
def server(filled_store, tmp_path):
    from lth.bench_watch import streamlit_server

    store_root = tmp_path / "store"
    shutil.copytree(filled_store.root, store_root)
    with streamlit_server(store_root) as (url, _):
        yield url, store_root


@pytest.fixture
def page():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM or "/usr/bin/chromium",
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        context = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
        yield context.new_page()
        browser.close()


def shots_dir(tmp_path) -> Path:
    return ROOT / "docs" / "screenshots" if os.environ.get("LTH_UPDATE_SCREENSHOTS") else tmp_path


def open_page(page, url, path):
    page.goto(f"{url}/{path}")
    page.get_by_role("heading", name=PAGES[path]).first.wait_for(timeout=30_000)
    page.wait_for_timeout(1500)  # let the script finish its run
    assert page.locator('[data-testid="stException"]').count() == 0, f"exception on /{path}"


def test_dashboard_end_to_end_in_chromium(server, page, tmp_path):
    url, store_root = server
    shots = shots_dir(tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    for path in PAGES:
        open_page(page, url, path)

    # start a tiny run from the Baseline page
    open_page(page, url, "baseline")
    for label, value in (("Iterations", "3000"), ("Evaluate every N iterations", "20"), ("First seed", "42")):
        field = page.get_by_label(label, exact=True)
        field.fill(value)
        field.press("Enter")
        page.wait_for_timeout(600)
    page.screenshot(path=shots / "baseline.png", full_page=True)
    page.get_by_role("button", name="Start").click()
    page.get_by_text(re.compile(r"run [0-9a-f]{16} queued")).wait_for(timeout=30_000)
    run_id = re.search(r"run ([0-9a-f]{16}) queued", page.content()).group(1)

    # its curve appears on the Runs page and grows while it trains
    page.goto(f"{url}/runs")
    page.get_by_role("heading", name="Runs").wait_for()
    page.get_by_text(re.compile(r"\d+ evaluations")).first.wait_for(timeout=90_000)
    seen = int(
        re.search(r"(\d+) evaluations", page.get_by_text(re.compile(r"\d+ evaluations")).first.inner_text()).group(1)
    )
    page.locator(".js-plotly-plot").first.wait_for(timeout=30_000)
    deadline = time.time() + 60
    later = seen
    while later <= seen and time.time() < deadline:  # the fragment refreshes every second
        page.wait_for_timeout(700)
        later = int(
            re.search(r"(\d+) evaluations", page.get_by_text(re.compile(r"\d+ evaluations")).first.inner_text()).group(
                1
            )
        )
    assert later > seen, "the live curve did not update"
    page.screenshot(path=shots / "runs.png", full_page=True)
    page.get_by_text(re.compile(r"done · 150 evaluations")).wait_for(timeout=120_000)
    assert page.locator('[data-testid="stException"]').count() == 0

    # the compare page overlays it with the store's runs; exports download
    open_page(page, url, "compare")
    page.locator(".js-plotly-plot").first.wait_for(timeout=30_000)
    legend = page.locator(".js-plotly-plot").first.inner_text()
    assert "dense baseline" in legend and "lottery ticket" in legend and "random reinit" in legend
    assert "it3000" in legend  # the run started above
    page.screenshot(path=shots / "compare.png", full_page=True)
    for label, magic in (("HTML", b"<html>"), ("PNG", b"\x89PNG")):
        with page.expect_download(timeout=60_000) as download:
            page.get_by_role("button", name=label).first.click()
        data = Path(download.value.path()).read_bytes()
        assert magic in data[:200] and len(data) > 5_000

    for path, name in (
        ("", "home"),
        ("lottery", "lottery"),
        ("tfmot", "tfmot"),
        ("instability", "instability"),
        ("analysis", "analysis"),
    ):
        open_page(page, url, path)
        page.screenshot(path=shots / f"{name}.png", full_page=True)
    assert run_id in {p.name for p in store_root.iterdir()}


# ---- following a run that trains, and a store that grows (the run's files written here, as a worker writes them)
@pytest.fixture
def logged_server(tmp_path):
    """The dashboard over a store of finished runs written from records (nothing trains), its output (stdout and
    stderr) kept in a file the test reads; yields (url, store, log path)."""
    import socket
    import subprocess
    import sys

    from lth.bench_browser import synthetic_store
    from lth.bench_watch import _free_port
    from lth.runs import RunStore

    root = tmp_path / "store"
    synthetic_store(root, seeds=2)
    log = tmp_path / "server.log"
    port = _free_port()
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true"]
            + ["--server.port", str(port), "--browser.gatherUsageStats", "false"],
            cwd=ROOT,
            env={**os.environ, "LTH_CACHE_DIR": str(root)},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.time() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert process.poll() is None and time.time() < deadline, "the server did not start"
                time.sleep(0.3)
        yield f"http://127.0.0.1:{port}", RunStore(root), log
    finally:
        process.terminate()
        process.wait(timeout=20)


class Worker:
    """Writes a lottery run's files as its worker would (status running under this process's pid, heartbeat,
    metrics and log lines), one evaluation per `step()`; `finish()` writes its results and status done."""

    PLANNED = 60

    def __init__(self, store):
        import json

        from lth.bench_browser import FINGERPRINT
        from lth.hparams import RunConfig
        from lth.hparams import run_id as make_id

        self.json, self.store = json, store
        self.config = RunConfig(
            experiment="lottery", model="lenet300_100", dataset="mnist-sample", iterations=3000, eval_every=100,
            rounds=2, controls=("reinit",), seed=41,
        )  # fmt: skip
        self.run_id = make_id(self.config, FINGERPRINT)
        store.create(self.run_id, self.config, data_dir=None, fingerprint=FINGERPRINT, planned_evaluations=self.PLANNED)
        store.update_status(self.run_id, state="running", pid=os.getpid(), pid_start=None, started=time.time())
        self.evaluations = 0
        self.beat()

    def beat(self):
        self.store.write_heartbeat(self.run_id, {"evaluations": self.evaluations})

    def step(self, n=1):
        folder = self.store.path(self.run_id)
        for _ in range(n):
            self.evaluations += 1
            record = {
                "arm": "ticket", "round": 0, "density": 1.0, "iteration": 100 * self.evaluations,
                "total_iterations": 3000, "train_loss": 1.0 / self.evaluations, "train_accuracy": 0.8,
                "val_loss": 1.0, "val_accuracy": 0.8, "test_loss": None, "test_accuracy": None, "elapsed": 1.0,
            }  # fmt: skip
            with open(folder / "metrics.jsonl", "a") as f:
                f.write(self.json.dumps(record) + "\n")
            with open(folder / "log.txt", "a") as f:
                f.write(f"lth: ticket round 0 evaluation {self.evaluations}\n")
        self.beat()

    def finish(self):
        import numpy as np

        from lth.bench_browser import _records

        records = _records(self.config, np.random.default_rng(0))
        self.store.write_results(
            self.run_id,
            {"config": self.config.canonical(), "device": {"name": "CPU"}, "seconds": 1.0, "results": records,
             "run_id": self.run_id},
        )  # fmt: skip
        self.store.update_status(self.run_id, state="done", ended=time.time())


def eventually(read, wanted, seconds):
    """`read()` until `wanted(value)`; the last value read (the assertion says what was seen)."""
    deadline = time.time() + seconds
    value = read()
    while not wanted(value) and time.time() < deadline:
        time.sleep(0.25)
        value = read()
    return value


@pytest.mark.trains
def test_runs_page_follows_a_training_run_and_compare_follows_the_store(logged_server, page):
    """State and progress equal to the run's files within one refresh (3 s, with a refresh of slack for the
    browser), the log panel's tail grows and stays open when the run ends, a new seed appears on an open Compare
    (with the series' n), and the server's log holds no traceback."""
    from lth.bench_browser import settled, synthetic_configs, write_finished_run

    url, store, log = logged_server
    worker = Worker(store)
    refresh = 3.0 + 3.0
    page.goto(f"{url}/runs?run={worker.run_id}")
    page.get_by_role("heading", name="Runs").first.wait_for(timeout=60_000)
    state = page.locator('[data-testid="stMarkdownContainer"]').filter(has_text="State:").first

    def shown_state():
        return state.inner_text(timeout=10_000).strip()

    for steps in (5, 10):
        worker.step(steps)
        expected = f"State: running · {worker.evaluations / Worker.PLANNED:.0%} done"
        seen = eventually(shown_state, lambda v, e=expected: v == e, 60 if steps == 5 else refresh)
        assert seen == expected, (seen, expected)  # the line follows the files, not the page load

    page.get_by_text("Log", exact=True).first.click()
    log_box = page.locator('[data-testid="stExpander"]').filter(has=page.get_by_text("Log", exact=True)).first
    code = log_box.locator("code").first

    def shown_log():
        return code.inner_text(timeout=10_000) if code.count() else ""

    assert "evaluation 15" in eventually(shown_log, lambda v: "evaluation 15" in v, refresh)
    worker.step(5)
    grown = eventually(shown_log, lambda v: "evaluation 20" in v, refresh)
    assert "evaluation 20" in grown and "(empty)" not in grown  # the tail grows while the run trains

    worker.finish()
    assert eventually(shown_state, lambda v: v.startswith("State: done"), refresh).startswith("State: done")
    page.wait_for_timeout(1500)
    assert "evaluation 20" in shown_log(), "the log panel folded shut when the run ended"
    assert code.is_visible()

    page.goto(f"{url}/compare")
    page.get_by_role("heading", name="Compare runs").first.wait_for(timeout=60_000)
    page.locator(".js-plotly-plot").first.wait_for(timeout=60_000)
    legend = page.locator(".js-plotly-plot").first.inner_text()
    assert "n=2" in legend and "n=3" not in legend
    newer = next(c for c in synthetic_configs(3) if c.seed == 2 and c.experiment == "baseline" and c.lr != 2e-3)
    write_finished_run(store, newer, 77)
    note = page.get_by_text(re.compile(r"new finished run"))
    note.first.wait_for(timeout=40_000)  # the open page looks every 15 s when nothing trains
    settled(page)
    caption = page.get_by_text(re.compile(r"seeds per series")).first.inner_text()
    assert "baseline lenet300_100 mnist-sample it3000" in caption and "n=3" in caption, caption
    legend = page.locator(".js-plotly-plot").first.inner_text()
    assert "n=3" in legend, legend  # the newer seed is in the baseline's series, and its legend says so
    assert page.locator('[data-testid="stException"]').count() == 0
    text = log.read_text(errors="replace")
    assert "Traceback" not in text and "ArrowInvalid" not in text and "ArrowTypeError" not in text, text[-3000:]


def test_a_fresh_servers_first_visit_by_a_pages_address_gets_the_apps_navigation(server, page):
    """Streamlit serves a `pages/` folder as an app of its own until app.py has run once: a bookmark opened
    first on a fresh server must still get the dashboard (its titles, its page), not file names."""
    url, _ = server
    page.goto(f"{url}/compare")
    page.get_by_role("heading", name=PAGES["compare"]).first.wait_for(timeout=60_000)
    page.wait_for_timeout(1000)
    titles = page.eval_on_selector_all('[data-testid="stSidebarNav"] a', "links => links.map(a => a.innerText)")
    assert [t.split("\n")[-1].strip() for t in titles] == [p.title for p in NAVIGATION], titles  # after its icon
    assert page.url.split("?")[0].rstrip("/").endswith("/compare")
    assert page.locator('[data-testid="stException"]').count() == 0
