"""The run store and the background runner, with real worker processes and real training."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import ROOT, TINY, cli, wait_for
from lth import runs
from lth.hparams import RunConfig
from lth.runs import RunStore
from lth.runs import logs as run_logs
from lth.runs import tables as run_tables
from lth.runs.processes import process_alive


@pytest.mark.trains
def test_cache_hit_does_not_train(store):
    first = cli(store, "run", *TINY)
    assert first.returncode == 0, first.stderr
    summary = json.loads(first.stdout.splitlines()[-1])
    run_id = summary["run_id"]
    assert summary["cached"] is False
    status_before = store.status(run_id)
    metrics_before = (store.path(run_id) / "metrics.jsonl").read_bytes()
    again = cli(store, "run", *TINY)
    assert again.returncode == 0 and "is cached" in again.stderr and "training in this process" not in again.stderr
    cached = json.loads(again.stdout.splitlines()[-1])
    assert cached["cached"] is True and cached["results"] == summary["results"]
    submission = runs.submit(RunConfig(iterations=60, eval_every=30), store=store)  # TINY, from Python
    assert (submission.run_id, submission.outcome) == (run_id, "cached")
    assert store.status(run_id) == status_before
    assert (store.path(run_id) / "metrics.jsonl").read_bytes() == metrics_before


@pytest.mark.slow
def test_two_concurrent_submits_make_one_run(store):
    args = [sys.executable, "-m", "lth", "submit", *TINY, "--seed", "5", "--cache-dir", str(store.root)]
    procs = [
        subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    ids = {out.strip() for out, _ in outs}
    assert len(ids) == 1 and store.run_ids() == sorted(ids)
    messages = sorted(err.strip().splitlines()[-1].split(" ", 2)[2] for _, err in outs)
    assert messages == ["is already queued or running; attached to it", "queued"]
    run_id = ids.pop()
    wait_for(lambda: store.status(run_id)["state"] == "done")
    assert len(run_logs.metrics_records(store, run_id)) == 2  # trained once: two evaluations


@pytest.mark.slow
def test_killed_worker_is_marked_failed_and_resume_matches_uninterrupted(store, tmp_path):
    args = [
        "--experiment",
        "lottery",
        "--rounds",
        "3",
        "--iterations",
        "600",
        "--eval-every",
        "200",
        "--controls",
        "reinit",
    ]
    run_id = cli(store, "submit", *args).stdout.strip()
    wait_for(lambda: (store.path(run_id) / "checkpoint" / "round_01.json").is_file())
    pid = store.status(run_id)["pid"]
    assert store.status(run_id)["state"] == "running"
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not process_alive(pid))  # the worker is gone: the next read of the store says so
    status = store.status(run_id)
    assert status["state"] == "failed" and f"worker process {pid} died" in status["error"]
    row = run_tables.runs_frame(store).set_index("run_id").loc[run_id]
    assert row["state"] == "failed"

    resumed = cli(store, "resume", run_id)
    assert resumed.returncode == 0 and "resumes" in resumed.stdout
    wait_for(lambda: store.status(run_id)["state"] == "done", timeout=180)
    # rounds 0-1 were not trained again: their metrics come from the first worker
    assert "round_00" not in (store.path(run_id) / "log.txt").read_text()
    reference = cli(RunStore(tmp_path / "other"), "run", *args)
    assert reference.returncode == 0, reference.stderr

    def strip(records):
        return [{k: v for k, v in r.items() if k != "train_seconds"} for r in records]

    expected = json.loads(reference.stdout.splitlines()[-1])
    assert strip(store.results(run_id)["results"]) == strip(expected["results"])
    arms_rounds = [(m["arm"], m["round"], m["iteration"]) for m in run_logs.metrics_records(store, run_id)]
    assert len(arms_rounds) == len(set(arms_rounds)) == 3 * (4 + 3)  # each evaluation once, none repeated


def _niceness(pid: int, thread: int | None = None) -> int:
    stat = f"/proc/{pid}/task/{thread}/stat" if thread else f"/proc/{pid}/stat"
    with open(stat) as f:
        return int(f.read().rsplit(")", 1)[1].split()[16])  # field 19 of proc_pid_stat(5)


@pytest.mark.slow
def test_cancel_stops_a_running_run_that_trained_at_low_priority(store):
    run_id = cli(store, "submit", "--iterations", "200000", "--eval-every", "100", "--seed", "9").stdout.strip()
    wait_for(lambda: run_logs.metrics_records(store, run_id))
    pid = store.status(run_id)["pid"]
    from lth.runs.queue import WORKER_NICENESS

    # every thread of the training (TensorFlow's pools included) yields the cores to the dashboard
    threads = [int(t) for t in os.listdir(f"/proc/{pid}/task")]
    assert len(threads) > 2
    assert {_niceness(pid, t) for t in threads} == {min(19, _niceness(os.getpid()) + WORKER_NICENESS)}
    if os.path.exists(f"/proc/{pid}/autogroup"):  # Linux's per-session scheduling: the session's group too
        with open(f"/proc/{pid}/autogroup") as f:
            assert f.read().split()[-1] == str(WORKER_NICENESS)
    result = cli(store, "cancel", run_id)
    assert result.returncode == 0 and "cancelled" in result.stdout
    wait_for(lambda: not process_alive(pid))  # the worker is ended, not only marked
    status = store.status(run_id)
    assert status["state"] == "cancelled" and status["error"] == "cancelled by the user"
    assert cli(store, "cancel", run_id).returncode == 2  # nothing left to cancel: one-line error


@pytest.mark.slow
def test_queue_respects_its_limit(store):
    runs.set_max_concurrent(store, 1)
    ids = [runs.submit(RunConfig(iterations=150, eval_every=50, seed=s), store=store).run_id for s in (11, 12, 13)]
    most = 0
    while True:
        states = [store.status(r)["state"] for r in ids]
        most = max(most, states.count("running"))
        if all(s == "done" for s in states):
            break
        assert "failed" not in states
        time.sleep(0.05)
    assert most == 1
    starts = sorted(store.status(r)["started"] for r in ids)
    ends = sorted(store.status(r)["ended"] for r in ids)
    assert starts[1] >= ends[0] and starts[2] >= ends[1]  # one after another


@pytest.mark.trains
def test_corrupt_files_are_reported_not_raised(store, done_run):
    """Each file of a real finished run broken in turn: the run is listed corrupt with the reason, is in no
    reader's results, and `list --json` still answers (that one bad run hides no other: test_store_hardening)."""
    folder = store.path(done_run)
    with open(folder / "metrics.jsonl", "a") as f:
        f.write('{"iteration": 150, "val_lo')  # a writer killed mid-line
    assert len(run_tables.metrics_frame(store, done_run)) == 2  # the torn line is ignored
    for broken in ("config.json", "status.json", "results.json"):
        intact = (folder / broken).read_bytes()
        (folder / broken).write_text("{not json")
        row = run_tables.runs_frame(store).set_index("run_id").loc[done_run]
        assert row["state"] == "corrupt" and f"{broken} is not valid JSON" in row["error"], row["error"]
        # one notion of a usable run: what `list` shows corrupt is in no reader's results
        assert run_tables.results_frame(store).empty
        listing = cli(store, "list", "--json") if broken == "results.json" else None
        if listing is not None:
            assert listing.returncode == 0 and [r["state"] for r in json.loads(listing.stdout)] == ["corrupt"]
        (folder / broken).write_bytes(intact)
    assert set(run_tables.results_frame(store)["run_id"]) == {done_run}
    assert cli(store, "status", "nope").returncode == 2
