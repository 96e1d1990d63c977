"""What watching costs: `python -m lth.bench_watch`.

A real Streamlit server and a real headless Chromium (Debian's chromium, Playwright). One long training (a
baseline on the bundled sample, evaluated every 100 iterations: about ten evaluations a second here) runs
until its live figure holds 1,000 evaluations; then its throughput (iterations per second, from its metric
lines) is measured in windows of 20 s, alternately with the browser tab on the Runs page showing its live
curves and on a blank page, in alternating order (W U, U W, ...). Prints each window's throughput and the
server's and the browser's CPU, and the ratio watched / unwatched (1.0 = watching costs nothing). Needs the
dev requirements (playwright) and chromium; run it on an otherwise idle machine.
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
from contextlib import contextmanager, suppress
from pathlib import Path

from lth import paths
from lth.walk import remove_tree

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
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            "app.py",
            "--server.headless",
            "true",
            "--server.port",
            str(port),
            "--browser.gatherUsageStats",
            "false",
        ],
        cwd=ROOT,
        env={**os.environ, "LTH_CACHE_DIR": str(cache_dir)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
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


def _tree_cpu_seconds(root_pid: int, names=("chrom", "headless")) -> float:
    """CPU seconds of every live descendant of `root_pid` whose name contains one of `names` (the browser's
    processes: Playwright starts Chromium as a child of its driver)."""
    children: dict[int, list[int]] = {}
    comm: dict[int, str] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                head, rest = f.read().rsplit(")", 1)
            children.setdefault(int(rest.split()[1]), []).append(int(entry))
            comm[int(entry)] = head.split("(", 1)[1]
        except (OSError, IndexError, ValueError):
            continue
    total, stack = 0.0, [root_pid]
    while stack:
        pid = stack.pop()
        for child in children.get(pid, []):
            stack.append(child)
            if any(n in comm.get(child, "") for n in names):
                with suppress(OSError):
                    total += _cpu_seconds(child)
    return total


def _last_iteration(store: Path, run_id: str) -> tuple[int, int]:
    """(evaluations so far, iteration of the last one) from the run's metric lines."""
    lines = (store / run_id / paths.METRICS).read_bytes().splitlines()
    for line in reversed(lines):
        try:
            return len(lines), json.loads(line)["iteration"]
        except (ValueError, KeyError):
            continue
    return 0, 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lth.bench_watch", description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=4, help="watched/unwatched pairs (default 4)")
    parser.add_argument("--window", type=float, default=20.0, help="seconds per measured window (default 20)")
    parser.add_argument(
        "--on-screen",
        type=int,
        default=1000,
        help="evaluations the live figure holds before measuring starts (default 1,000)",
    )
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    store = Path(tempfile.mkdtemp(prefix="lth-watch-"))
    rows = []
    try:
        with streamlit_server(store) as (url, server), sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=chromium,
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
            page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
            page.goto(f"{url}/runs")  # the browser loads the app (JavaScript, plotly.js) once: not counted
            run_id = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "lth",
                    "submit",
                    "--iterations",
                    "2000000",
                    "--eval-every",
                    "100",
                    "--seed",
                    "100",
                    "--cache-dir",
                    str(store),
                ],
                cwd=ROOT,
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
            metrics = store / run_id / paths.METRICS
            while not metrics.exists() or _last_iteration(store, run_id)[0] < args.on_screen:
                time.sleep(1)
            schedule = [
                watched for i in range(args.pairs) for watched in ((True, False) if i % 2 == 0 else (False, True))
            ]
            for i, watching in enumerate(schedule):
                if watching:
                    page.goto(f"{url}/runs")
                    page.get_by_role("heading", name="Runs").wait_for(timeout=60_000)
                else:
                    page.goto("about:blank")
                time.sleep(3)  # the page's first render is opening it, not watching
                evaluations, start_it = _last_iteration(store, run_id)
                start, server0, browser0 = time.time(), _cpu_seconds(server.pid), _tree_cpu_seconds(os.getpid())
                time.sleep(args.window)
                _, end_it = _last_iteration(store, run_id)
                seconds = time.time() - start
                row = {
                    "pair": i // 2,
                    "watched": watching,
                    "iterations_per_s": (end_it - start_it) / seconds,
                    "on_screen": evaluations,
                    "server_cpu": (_cpu_seconds(server.pid) - server0) / seconds,
                    "browser_cpu": (_tree_cpu_seconds(os.getpid()) - browser0) / seconds,
                }
                rows.append(row)
                print(
                    f"pair {row['pair']} {'watched  ' if watching else 'unwatched'}: {row['iterations_per_s']:7.1f} "
                    f"iterations/s with {evaluations:,} evaluations on screen; server CPU "
                    f"{100 * row['server_cpu']:4.1f}%, browser CPU {100 * row['browser_cpu']:4.1f}% of a core",
                    flush=True,
                )
            subprocess.run(
                [sys.executable, "-m", "lth", "cancel", run_id, "--cache-dir", str(store)],
                cwd=ROOT,
                capture_output=True,
            )
            browser.close()
    finally:
        with suppress(OSError):
            remove_tree(store)  # iterative, links unlinked and never followed (lth.walk)
    watched = [r for r in rows if r["watched"]]
    unwatched = [r for r in rows if not r["watched"]]
    per_pair = [
        next(r for r in watched if r["pair"] == i)["iterations_per_s"]
        / next(r for r in unwatched if r["pair"] == i)["iterations_per_s"]
        for i in range(args.pairs)
    ]

    def mean(values):
        return sum(values) / len(values)

    throughput = mean([r["iterations_per_s"] for r in watched]) / mean([r["iterations_per_s"] for r in unwatched])
    print(
        f"throughput watched / unwatched: {throughput:.3f} "
        f"over {args.pairs} alternating pairs of {args.window:.0f}-s windows (evaluation every 100 iterations, "
        f"{min(r['on_screen'] for r in rows):,}+ evaluations on screen); per pair: "
        f"{', '.join(f'{p:.3f}' for p in per_pair)}; while watched: server CPU "
        f"{100 * mean([r['server_cpu'] for r in watched]):.1f}%, browser CPU "
        f"{100 * mean([r['browser_cpu'] for r in watched]):.1f}% of a core "
        f"(unwatched: {100 * mean([r['server_cpu'] for r in unwatched]):.1f}% and "
        f"{100 * mean([r['browser_cpu'] for r in unwatched]):.1f}%)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
