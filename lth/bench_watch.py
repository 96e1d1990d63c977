"""What watching costs: `python -m lth.bench_watch`.

A real Streamlit server and a real headless Chromium (Debian's chromium, Playwright). The same training
(a baseline on the bundled sample, evaluated every 100 iterations; only the seed differs, which changes
no cost) runs several times one after another, alternately with a browser tab on the Runs page showing
its live curves and with no tab open. Prints each run's training seconds, the server's CPU seconds, and
the ratio of throughput watched / unwatched (1.0 = watching costs nothing). Needs the dev requirements
(playwright) and chromium; run it on an otherwise idle machine.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def streamlit_server(cache_dir: Path):
    """The dashboard served on a free local port over the run store `cache_dir`; yields (url, process)."""
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true", "--server.port",
         str(port), "--browser.gatherUsageStats", "false"], cwd=ROOT,
        env={**os.environ, "LTH_CACHE_DIR": str(cache_dir)}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.time() > deadline:
                    raise RuntimeError("the Streamlit server did not start") from None
                time.sleep(0.3)
        yield f"http://127.0.0.1:{port}", process
    finally:
        process.terminate()
        process.wait(timeout=20)


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its threads."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _run(store: Path, seed: int, iterations: int) -> str:
    result = subprocess.run([sys.executable, "-m", "lth", "submit", "--iterations", str(iterations),
                             "--eval-every", "100", "--seed", str(seed), "--cache-dir", str(store)],
                            cwd=ROOT, capture_output=True, text=True, check=True)
    return result.stdout.strip()


def _wait_done(store: Path, run_id: str) -> dict:
    while True:
        status = json.loads((store / run_id / "status.json").read_text())
        if status["state"] not in ("queued", "running"):
            return json.loads((store / run_id / "results.json").read_text())
        time.sleep(0.5)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lth.bench_watch", description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=20_000, help="per run (default 20,000)")
    parser.add_argument("--pairs", type=int, default=3, help="watched/unwatched pairs (default 3)")
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    store = Path(tempfile.mkdtemp(prefix="lth-watch-"))
    rows = []
    try:
        with streamlit_server(store) as (url, server), sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=[
                "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync"])
            page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
            seed = 100
            # a first watched run, not counted: the browser loads the app (JavaScript, plotly.js) once, which
            # is the cost of opening the dashboard, not of watching a run
            schedule = [("warm-up", True)] + [(i, watched) for i in range(args.pairs)
                                              for watched in ((True, False) if i % 2 == 0 else (False, True))]
            for pair, watched in schedule:
                page.goto("about:blank")
                run_id = _run(store, seed, args.iterations)
                seed += 1
                if watched:  # the newest run is the one the Runs page shows
                    page.goto(f"{url}/runs")
                    page.get_by_role("heading", name="Runs").wait_for(timeout=60_000)
                cpu_before = _cpu_seconds(server.pid)
                summary = _wait_done(store, run_id)
                train = sum(r["train_seconds"] for r in summary["results"])
                row = {"pair": pair, "watched": watched, "run_id": run_id, "train_seconds": train,
                       "server_cpu_seconds": _cpu_seconds(server.pid) - cpu_before}
                if pair != "warm-up":
                    rows.append(row)
                print(f"{pair!s:>7} {'watched  ' if watched else 'unwatched'} run {run_id}: training "
                      f"{train:6.1f} s, server CPU {row['server_cpu_seconds']:5.1f} s", flush=True)
            browser.close()
    finally:
        shutil.rmtree(store, ignore_errors=True)
    watched = sum(r["train_seconds"] for r in rows if r["watched"])
    unwatched = sum(r["train_seconds"] for r in rows if not r["watched"])
    pairs = [next(r["train_seconds"] for r in rows if r["pair"] == i and not r["watched"])
             / next(r["train_seconds"] for r in rows if r["pair"] == i and r["watched"]) for i in range(args.pairs)]
    server = sum(r["server_cpu_seconds"] for r in rows if r["watched"]) / watched
    print(f"throughput watched / unwatched: {unwatched / watched:.3f} over {args.pairs} pairs of "
          f"{args.iterations:,}-iteration runs (eval every 100); per pair: "
          f"{', '.join(f'{p:.3f}' for p in pairs)}; server CPU while watched: {100 * server:.1f}% of a core")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
