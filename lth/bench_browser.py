"""What the dashboard makes a researcher wait for: `python -m lth.bench_browser [--store DIR]`.

A real Streamlit server and a real headless Chromium (Debian's chromium, Playwright) over a copy of a run
store (default: a small one trained here first: two seeds of a baseline and of a 2-round lottery run with
both controls). Every interaction that does not train is timed from the click (or the address typed) until
the page has finished its run (Streamlit's running indicator is gone) or the download has arrived:
first visits of every page, a run chosen on Runs, a filter chip removed on Compare, figure exports (PNG,
SVG, PDF), a model file prepared. Prints a markdown table; run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lth import paths
from lth.bench_watch import ROOT, streamlit_server


def page_headings() -> dict[str, str]:
    """URL path -> heading of every page, in navigation order (the dashboard's own list)."""
    from dashboard.navigation import PAGES

    return {p.path: p.heading for p in PAGES}


STATE = "document.querySelector('[data-testid=\"stApp\"]')?.getAttribute('data-test-script-state')"


def small_store(root: Path) -> None:
    for seed in ("0", "1"):
        for args in (
            ["--experiment", "baseline"],
            ["--experiment", "lottery", "--rounds", "2", "--controls", "reinit,random_prune"],
        ):
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "lth",
                    "run",
                    *args,
                    "--iterations",
                    "60",
                    "--eval-every",
                    "30",
                    "--seed",
                    seed,
                    "--cache-dir",
                    str(root),
                ],
                cwd=ROOT,
                check=True,
                capture_output=True,
            )


def settled(page, timeout_ms: int = 120_000) -> float:
    """Wait until the script run the last action started has finished: the app's script state (Streamlit
    exposes it on its root element) is notRunning and stays so for 300 ms (a rerun starts within tens of
    milliseconds of an action). Returns the moment it was first seen finished."""
    page.wait_for_timeout(50)
    while True:
        page.wait_for_function(f"() => {STATE} === 'notRunning'", timeout=timeout_ms)
        finished = time.perf_counter()
        page.wait_for_timeout(300)
        if page.evaluate(f"() => {STATE}") == "notRunning":
            return finished


def timed(action, page=None, download: bool = False) -> float:
    start = time.perf_counter()
    if download:
        with page.expect_download(timeout=120_000) as info:
            action()
        info.value.path()
        return time.perf_counter() - start
    action()
    return settled(page) - start


def measure(url: str, chromium: str) -> list[tuple[str, float, str]]:
    from playwright.sync_api import sync_playwright

    rows = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True).new_page()
        page.goto(url)
        headings = page_headings()
        page.get_by_role("heading", name=headings[""]).first.wait_for(timeout=60_000)
        settled(page)  # the server's first script run (imports) is not a page's cost
        for path, heading in headings.items():

            def visit(path=path, heading=heading):
                page.goto(f"{url}/{path}")
                page.get_by_role("heading", name=heading).first.wait_for(timeout=60_000)

            rows.append((f"first visit: {heading}", timed(visit, page), ""))
        page.goto(f"{url}/runs")
        settled(page)
        box = page.locator('[data-testid="stSelectbox"]').first

        def choose_run():
            box.click()
            page.locator('[role="option"]').nth(1).click()

        rows.append(("Runs: choose another run", timed(choose_run, page), ""))
        page.goto(f"{url}/compare")
        settled(page)
        chip = page.locator('[data-testid="stMultiSelect"]').nth(3).locator('button[aria-label^="Remove"]')
        if chip.count():
            rows.append(("Compare: remove a seed chip", timed(lambda: chip.first.click(), page), ""))
        for fmt in ("PNG", "SVG", "PDF"):
            button = page.get_by_role("button", name=fmt).first
            rows.append(
                (
                    f"Compare: export the accuracy figure as {fmt}",
                    timed(lambda b=button: b.click(), page, download=True),
                    "",
                )
            )
        page.goto(f"{url}/runs")
        settled(page)
        page.get_by_text("Trained networks: compression, model export, TensorBoard").click()
        settled(page)
        prepare = page.get_by_role("button", name="Prepare file")
        if prepare.count():
            rows.append(
                (
                    "Runs: prepare a model file (.keras)",
                    timed(lambda: prepare.click(), page),
                    "a separate process imports TensorFlow and builds the model (the UI never imports it)",
                )
            )
        browser.close()
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lth.bench_browser", description=__doc__.splitlines()[0])
    parser.add_argument("--store", help="a run store to copy and serve (default: a small one trained now)")
    args = parser.parse_args(argv)
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    with tempfile.TemporaryDirectory(prefix="lth-bench-browser-") as tmp:
        store = Path(tmp) / "store"
        if args.store:
            shutil.copytree(args.store, store, ignore=shutil.ignore_patterns(paths.LOCK_PATTERN, paths.TENSORBOARD))
        else:
            small_store(store)
        with streamlit_server(store) as (url, _):
            rows = measure(url, chromium)
    print("| interaction | seconds | why above 1 s |\n| --- | --- | --- |")
    for name, seconds, why in rows:
        print(f"| {name} | {seconds:.2f} | {why if seconds > 1 else ''} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
