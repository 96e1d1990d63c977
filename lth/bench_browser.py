"""What the dashboard makes a researcher wait for: `python -m lth.bench_browser [--store DIR] [--situation ...]`.

A real Streamlit server and a real headless Chromium (Debian's chromium, Playwright) over a copy of a run
store. Every interaction that does not train is timed from the click (or the address typed) until the page
has finished its run (Streamlit's running indicator is gone) or the download has arrived: every page opened
by its address (a full load of the app) and from the sidebar (the median of three openings each), a run
chosen on Runs, a filter chip removed and views opened on Compare, a claim's evidence opened, figure exports
(PNG, SVG, PDF), a model file prepared. Two situations, as a user meets them (both by default):

- idle: the small store trained here first (two seeds of a baseline and of a 2-round lottery run with both
  controls), nothing else running;
- busy: that store plus a store's worth of finished runs written from records (`synthetic_store`: 48 runs,
  lottery series of 8 and 24 rounds, baselines, one-shot criteria, 8 seeds each) and one real run training
  in its worker while the pages are timed.

Prints a markdown table, one column per situation.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from lth import paths
from lth.bench_watch import ROOT, _cpu_seconds, streamlit_server


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


SYNTHETIC_SEEDS = 8


def _accuracy(rng, density: float, arm: str) -> float:
    """A plausible test accuracy: flat down to ~10% density, then falling; controls below the ticket."""
    drop = max(0.0, -np.log10(max(density, 1e-4)) - 1.0) * 0.08
    penalty = {"ticket": 0.0, "dense": 0.0}.get(arm, 0.01 + 0.02 * (1 - density))
    return float(np.clip(0.9 - drop - penalty + rng.normal(0, 0.004), 0.05, 0.99))


def _records(config, rng, collapse: bool = False) -> list[dict]:
    """A finished run's result records as a worker writes them, each (arm, round) its plan makes at the density
    its settings give, every layer at that density (a one-shot run's sparsest masks: one layer emptied when
    `collapse`)."""
    plan = config.plan
    sizes = {n: int(np.prod(s)) for n, s in config.prunable_shapes().items()}
    total = sum(sizes.values())
    records = []
    for (arm, round_), density in sorted((plan.densities() or {}).items(), key=lambda kv: (kv[0][1], kv[0][0])):
        layers = {n: density for n in sizes}
        if collapse and density < 0.05 and arm != "dense" and len(sizes) > 2:
            emptied = sorted(sizes, key=lambda n: sizes[n])[1]  # the second smallest layer: the rest keep the density
            rest = total - sizes[emptied]
            if density * total / rest <= 1:
                layers = {n: 0.0 if n == emptied else density * total / rest for n in sizes}
        stop = int(rng.integers(1, config.iterations // config.eval_every + 1)) * config.eval_every
        accuracy = _accuracy(rng, density, arm.split("-")[0] if "-" not in arm else "control")
        record = {
            "arm": arm,
            "round": round_,
            "density": density,
            "early_stop_iteration": stop,
            "final_iteration": config.iterations,
            "early_stop_test_accuracy": accuracy,
            "final_test_accuracy": accuracy if stop == config.iterations else accuracy - 0.002,
            "layer_density": layers if arm != "dense" else {n: 1.0 for n in sizes},
        }
        labels = plan.record_labels(arm)
        if labels is not None:
            record["criterion"], record["control"] = labels
        records.append(record)
    return records


def synthetic_configs(seeds: int = SYNTHETIC_SEEDS) -> list:
    """The settings of the synthetic store's runs: six series of `seeds` seeds (48 runs by default)."""
    from lth.hparams import RunConfig

    common: dict[str, Any] = {"model": "lenet300_100", "dataset": "mnist-sample", "iterations": 3000, "eval_every": 100}
    series: list[dict[str, Any]] = [
        {"experiment": "baseline"},
        {"experiment": "lottery", "rounds": 8, "controls": ("reinit", "random_prune")},
        {"experiment": "lottery", "rounds": 24, "controls": ("reinit",)},
        {"experiment": "oneshot", "criteria": ("synflow", "snip", "magnitude_init"), "densities": (0.211, 0.036)},
        {"experiment": "baseline", "lr": 2e-3},
        {"experiment": "lottery", "rounds": 8, "lr": 2e-3},
    ]
    return [RunConfig(**common, **extra, seed=seed) for extra in series for seed in range(seeds)]


def synthetic_store(root: Path, seeds: int = SYNTHETIC_SEEDS) -> list[str]:
    """Finished runs written from records as workers leave them (config, status, results; no networks kept): a
    store of a few dozen runs in seconds, for timing the pages a researcher with such a store waits for. Returns
    the run ids."""
    from lth.runs import RunStore

    store = RunStore(root)
    return [write_finished_run(store, config, i) for i, config in enumerate(synthetic_configs(seeds))]


FINGERPRINT = "5e7e7e7e7e7e7e7e"  # the synthetic runs' data fingerprint (part of their run ids)


def write_finished_run(store, config, index: int = 0) -> str:
    """One finished run of `config` written as a worker leaves it (records from `_records`); returns its id."""
    from lth.hparams import run_id as make_id

    rng = np.random.default_rng(index)
    rid = make_id(config, FINGERPRINT)
    records = _records(config, rng, collapse=config.experiment == "oneshot")
    store.create(rid, config, data_dir=None, fingerprint=FINGERPRINT, planned_evaluations=1)
    started = time.time() - 600 + index
    store.update_status(rid, state="done", started=started, ended=started + 60)
    summary = {
        "config": config.canonical(),
        "device": {"name": "CPU (synthetic)"},
        "seconds": 60.0,
        "results": records,
        "run_id": rid,
    }
    store.write_results(rid, summary)
    return rid


def start_training(root: Path) -> str:
    """One real run training in its worker (a long baseline on the bundled sample): the load a researcher's
    pages share the cores with. Returns its run id; `stop_training` cancels it."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "lth",
            "submit",
            "--experiment",
            "baseline",
            "--iterations",
            "1000000",
            "--eval-every",
            "100",
            "--seed",
            "777",
            "--cache-dir",
            str(root),
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    from lth.runs import RunStore

    store = RunStore(root)
    found = [r for r in store.run_ids() if store.config(r).seed == 777 and store.config(r).iterations == 1_000_000]
    if not found:
        raise RuntimeError(f"the training run was not queued: {done.stdout} {done.stderr}")
    deadline = time.time() + 180
    while (store.status_or_none(found[0]) or {}).get("state") != "running":
        if time.time() > deadline:
            raise RuntimeError("the training run did not start")
        time.sleep(0.5)
    return found[0]


def stop_training(root: Path, run_id: str) -> None:
    from lth.runs import RunStore, cancel

    with contextlib.suppress(Exception):
        cancel(run_id, RunStore(root))


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


def kept_networks_run(store: Path) -> str | None:
    """A finished run of the store that keeps trained networks (the Runs page's model export needs one)."""
    from lth.runs import RunStore
    from lth.runs import kept as kept_networks

    runs = RunStore(store, create=False)
    for run_id in sorted(runs.run_ids()):
        try:
            if runs.finished_results(run_id) and kept_networks.networks_of(runs, run_id):
                return run_id
        except Exception:  # a synthetic or damaged run: not this one
            continue
    return None


def server_at_rest(pid: int, timeout: float = 120.0) -> None:
    """Wait until the server has finished its start-up work (dashboard.warm: imports, the image engine, the
    store's tables), seen as its CPU time growing by under 5% of a core over a second: a server a researcher
    opens has been up that long, and its start-up is not a page's cost."""
    deadline = time.time() + timeout
    before = _cpu_seconds(pid)
    while time.time() < deadline:
        time.sleep(1.0)
        now = _cpu_seconds(pid)
        if now - before < 0.05:
            return
        before = now


OPENINGS = 3  # each page is opened this many times each way; the table shows the median


def measure(url: str, server_pid: int, chromium: str, trained_run: str | None = None) -> list[tuple[str, float, str]]:
    from playwright.sync_api import sync_playwright

    rows = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True).new_page()
        page.goto(url)
        headings = page_headings()
        page.get_by_role("heading", name=headings[""]).first.wait_for(timeout=60_000)
        settled(page)  # the server's first script run (imports) is not a page's cost
        server_at_rest(server_pid)
        opened: dict[str, list[float]] = {}
        for _ in range(OPENINGS):  # the median of a few: one opening can meet the live view's refresh
            for path, heading in headings.items():

                def visit(path=path, heading=heading):
                    page.goto(f"{url}/{path}")
                    page.get_by_role("heading", name=heading).first.wait_for(timeout=60_000)

                opened.setdefault(f"{heading}: open by its address (a full page load)", []).append(timed(visit, page))
        for _ in range(OPENINGS):
            for path, heading in headings.items():  # as one moves around the app: the page only, no reload

                def follow(path=path, heading=heading):
                    page.locator(f'[data-testid="stSidebarNav"] a[href="{url}/{path}"]').first.click()
                    page.get_by_role("heading", name=heading).first.wait_for(timeout=60_000)

                opened.setdefault(f"{heading}: open from the sidebar", []).append(timed(follow, page))
        rows += [(name, float(np.median(times)), "") for name, times in opened.items()]
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
        for view in ("Head to head", "Data", "Verdicts"):
            tab = page.get_by_role("tab", name=view)
            rows.append((f"Compare: open the {view} view", timed(lambda t=tab: t.click(), page), ""))
        for fmt in ("PNG", "SVG", "PDF"):
            button = page.get_by_role("button", name=fmt).first
            rows.append(
                (
                    f"Compare: export the accuracy figure as {fmt}",
                    timed(lambda b=button: b.click(), page, download=True),
                    "",
                )
            )
        page.goto(f"{url}/claims")
        settled(page)
        claim = page.locator('[data-testid="stExpander"] summary').first
        if claim.count():
            rows.append(("Claims: open a claim's evidence", timed(lambda: claim.click(), page), ""))
        page.goto(f"{url}/runs" + (f"?run={trained_run}" if trained_run else ""))
        settled(page)
        page.get_by_text("Trained networks: compression, model export, TensorBoard").click()
        settled(page)
        prepare = page.get_by_role("button", name="Prepare file")
        if prepare.count():
            rows.append(
                (
                    "Runs: prepare a model file (.keras) at once",
                    timed(lambda: prepare.click(), page),
                    "the server's export process, started when the section opened, is still importing TensorFlow "
                    "(the UI process never imports it)",
                )
            )

            def another_format():
                box = page.locator('[data-testid="stSelectbox"]').filter(has_text="Format").last
                box.locator("input").click()
                box.locator("input").fill("h5")
                page.keyboard.press("Enter")

            rows.append(("Runs: choose another format", timed(another_format, page), ""))
            rows.append(("Runs: prepare another model file (.h5)", timed(lambda: prepare.click(), page), ""))
        browser.close()
    return rows


def run_situation(situation: str, source: str | None, chromium: str) -> list[tuple[str, float, str]]:
    with tempfile.TemporaryDirectory(prefix="lth-bench-browser-") as tmp:
        store = Path(tmp) / "store"
        if source:
            shutil.copytree(source, store, ignore=shutil.ignore_patterns(paths.LOCK_PATTERN, paths.TENSORBOARD))
        else:
            small_store(store)
        training = None
        try:
            if situation == "busy":
                synthetic_store(store)
                training = start_training(store)
            with streamlit_server(store) as (url, server):
                return measure(url, server.pid, chromium, kept_networks_run(store))
        finally:
            if training is not None:
                stop_training(store, training)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lth.bench_browser", description=__doc__.splitlines()[0])
    parser.add_argument("--store", help="a run store to copy and serve (default: a small one trained now)")
    parser.add_argument(
        "--situation",
        choices=("idle", "busy", "both"),
        default="both",
        help="idle: the store alone; busy: with 48 more finished runs and one run training; both (default)",
    )
    args = parser.parse_args(argv)
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    situations = ("idle", "busy") if args.situation == "both" else (args.situation,)
    measured = {s: run_situation(s, args.store, chromium) for s in situations}
    names = list(dict.fromkeys(name for rows in measured.values() for name, _, _ in rows))
    heads = {"idle": "idle, small store (s)", "busy": "store of ~50 runs, one training (s)"}
    print("| interaction | " + " | ".join(heads[s] for s in situations) + " | why above 1 s |")
    print("| --- | " + " | ".join("---" for _ in situations) + " | --- |")
    for name in names:
        cells, why = [], ""
        for s in situations:
            found = next(((sec, w) for n, sec, w in measured[s] if n == name), None)
            cells.append(f"{found[0]:.2f}" if found else "-")
            if found and found[0] > 1:
                why = why or found[1]
        print(f"| {name} | " + " | ".join(cells) + f" | {why} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
