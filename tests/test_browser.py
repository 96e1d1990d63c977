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
