"""What a shared store and a day of use broke (issue 21): a file in the store never makes a reader act outside
it, is never served as something it is not, and every bad input is one line. Each class is tested with
cases beyond the ones reported; most need no training (runs are written as a worker writes them)."""

import io
import json
import os
import subprocess
import sys
import time
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lth import cli, networks
from lth.fsutil import ArrayFileError, LinkRefused, read_npz, write_npz_atomic
from lth.hparams import ConfigError, RunConfig
from lth.records import Corrupt
from lth.runs import RunState, RunStore, StoreError, queue
from lth.runs import kept as kept_networks
from lth.runs import logs as run_logs
from lth.runs import settings as store_settings
from lth.runs import tables as run_tables
from lth.runs.processes import process_alive, process_start_time

SAMPLE_FINGERPRINT = None


def fingerprint() -> str:
    global SAMPLE_FINGERPRINT
    if SAMPLE_FINGERPRINT is None:
        SAMPLE_FINGERPRINT = queue.check(RunConfig()).fingerprint
    return SAMPLE_FINGERPRINT


def finished_run(store: RunStore, config: RunConfig, *, accuracy=0.9, state=RunState.DONE, kept=()) -> str:
    """A run as a worker leaves it: config, status, results (and kept networks), without training."""
    from lth.hparams import run_id

    rid = run_id(config, fingerprint())
    store.create(rid, config, data_dir=None, fingerprint=fingerprint(), planned_evaluations=1)
    store.update_status(
        rid, state=state, **({"started": 1.0, "ended": 2.0} if state not in (RunState.QUEUED, RunState.RUNNING) else {})
    )

    trainings = config.plan.records()
    densities = config.plan.densities()
    # early stop and the end at evaluations of the settings (a run without a budget in iterations: 30 and 60)
    final = config.iterations or 60
    early = (config.eval_every if config.eval_every < final else final) if config.iterations else 30
    records = [
        {
            "arm": arm,
            "round": r,
            "density": densities[(arm, r)],
            "layer_density": {},
            "early_stop_iteration": early,
            "early_stop_test_accuracy": accuracy,
            "final_test_accuracy": accuracy,
            "final_iteration": final,
        }
        for arm, r in trainings
    ]
    rng = np.random.default_rng(config.seed)
    summary = {
        "config": config.canonical(),
        "device": {"name": "CPU"},
        "seconds": 1.0,
        "results": records,
        "run_id": rid,
    }
    if kept:  # kept files, each named by its sha256 in the results as a worker records them
        from lth.checkpoint import RoundCheckpoint

        checkpoint = RoundCheckpoint(store.checkpoint_dir(rid))
        theta0 = [rng.normal(size=s).astype(np.float32) for s in config.spec.weight_shapes()]
        summary["weights_sha256"] = checkpoint.save_weights(theta0, theta0)
        for arm, round_ in kept:
            weights = [rng.normal(size=s).astype(np.float32) for s in config.spec.weight_shapes()]
            masks = {n: np.ones(s, np.float32) for n, s in config.prunable_shapes().items()} if round_ else {}
            sha256 = checkpoint.save_network(arm, round_, weights, masks)
            next(r for r in records if (r["arm"], r["round"]) == (arm, round_))["network_sha256"] = sha256
    if state == RunState.DONE:
        store.write_results(rid, summary)
    return rid


def plant_status(store: RunStore, rid: str, **changes) -> None:
    """Changes written into status.json by hand, as whoever can write into a shared store may: the store's own
    writer refuses a record its readers would refuse."""
    path = store.path(rid) / "status.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


def npz_declaring(path, name: str, shape: tuple, data: bytes = b"\0" * 16) -> None:
    """An .npz whose array `name` declares `shape` (float32) but holds only `data`: a few KB on disk."""
    header = {"descr": "<f4", "fortran_order": False, "shape": shape}
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, header)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"{name}.npy", buffer.getvalue() + data)


# ---- 1. a store file never makes a reader act outside the store ----------------------------------------
@pytest.mark.parametrize("own_session", [True, False])
@pytest.mark.trains
def test_a_planted_status_never_makes_a_reader_signal_a_process(store, own_session, signals):
    victim = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], start_new_session=True)
    try:
        rid = finished_run(store, RunConfig(seed=1), state=RunState.QUEUED)
        # what a hostile writer can put there: the victim's real pid and start time, long past any heartbeat
        store.update_status(
            rid,
            state=RunState.RUNNING,
            pid=victim.pid,
            pid_start=process_start_time(victim.pid),
            own_session=own_session,
            started=time.time() - 3600,
        )
        row = run_tables.runs_frame(store).set_index("run_id").loc[rid]
        assert row["state"] == "failed"  # no heartbeat: the run is not trusted to be running
        with pytest.raises(StoreError, match="only queued or running"):
            queue.cancel(rid, store)  # failed now: nothing to cancel, nothing sent
        assert victim.pid not in signals and process_alive(victim.pid)
    finally:
        victim.kill()
        victim.wait()


@pytest.mark.trains
def test_cancel_never_signals_a_process_that_is_not_the_runs_worker(store, signals):
    victim = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], start_new_session=True)
    try:
        rid = finished_run(store, RunConfig(seed=2), state=RunState.QUEUED)
        store.update_status(
            rid,
            state=RunState.RUNNING,
            pid=victim.pid,
            pid_start=process_start_time(victim.pid),
            own_session=True,
            started=time.time(),
        )
        store.write_heartbeat(rid, {})
        assert queue.cancel(rid, store)["state"] == RunState.CANCELLED
        assert victim.pid not in signals and process_alive(victim.pid)  # cancelled in the store, nothing sent
    finally:
        victim.kill()
        victim.wait()


def test_links_inside_a_run_folder_are_never_written_through(store, tmp_path):
    from lth.runs.tensorboard import EventLog

    rid = finished_run(store, RunConfig(seed=3))
    outside = tmp_path / "outside"
    outside.mkdir()
    folder = store.path(rid)
    (folder / "tensorboard").mkdir()
    (folder / "tensorboard" / "ticket_round01").symlink_to(outside, target_is_directory=True)
    log = EventLog(store.tensorboard_dir(rid))
    log.write({"arm": "ticket", "round": 1, "iteration": 10, "train_loss": 1.0})
    log.close()
    assert log.broken and "symbolic link" in log.broken
    (store.checkpoint_dir(rid) / "deeper").symlink_to(outside, target_is_directory=True)
    with pytest.raises(LinkRefused):
        write_npz_atomic(store.checkpoint_dir(rid) / "deeper" / "x.npz", {"a": np.zeros(2)})
    with pytest.raises(LinkRefused):  # a link further down a path that does not exist yet
        write_npz_atomic(store.checkpoint_dir(rid) / "deeper" / "new" / "x.npz", {"a": np.zeros(2)})
    assert list(outside.iterdir()) == []


def test_arrays_are_checked_from_their_headers_before_any_is_read(store, tmp_path):
    rid = finished_run(store, RunConfig(experiment="lottery", rounds=1, seed=4), kept=[("ticket", 1)])
    net_file = store.path(rid) / "checkpoint" / networks.net_file("ticket", 1)
    cases = {
        "huge": ("weights/0", (2**30,)),  # 4 GB declared, a few bytes stored
        "wrong_shape": ("weights/0", (3, 3)),  # small, but not the model's
        "foreign_name": ("anything", (784, 300)),  # the right size under a name the product never writes
    }
    for name, (key, shape) in cases.items():
        npz_declaring(net_file, key, shape)
        tracemalloc.start()
        with pytest.raises(networks.NetworkError, match="not the file the record"):  # every reader: its sha256
            kept_networks.network(store, rid, "ticket", 1)
        with pytest.raises(networks.NetworkError, match=key):  # and, below that, its headers
            networks.load(net_file.parent, "lenet300_100", "ticket", 1)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert peak < 20 * 2**20, f"{name}: {peak / 2**20:.0f} MB used before refusing"
    npz_declaring(tmp_path / "huge.npz", "a", (2**30,))
    with pytest.raises(ArrayFileError, match="declare over"):  # no shapes to compare: the size bound holds
        read_npz(tmp_path / "huge.npz")
    (tmp_path / "garbage.npz").write_bytes(b"not a zip file")
    with pytest.raises(ArrayFileError, match="garbage.npz"):
        read_npz(tmp_path / "garbage.npz")


# ---- 2. a store file is never served as something it is not ---------------------------------------------
def test_results_copied_from_another_run_are_not_served(store):
    a = finished_run(store, RunConfig(seed=5), accuracy=0.5)
    b = finished_run(store, RunConfig(seed=6), accuracy=0.99)
    (store.path(a) / "results.json").write_bytes((store.path(b) / "results.json").read_bytes())
    with pytest.raises(Corrupt, match="run_id|not this run"):
        store.results(a)
    rows = run_tables.runs_frame(store).set_index("run_id")
    assert rows.loc[a, "state"] == "corrupt" and rows.loc[b, "state"] == "done"
    frame = run_tables.results_frame(store)
    assert set(frame["run_id"]) == {b}
    # the same results with the run id rewritten: the settings still give them away
    summary = json.loads((store.path(b) / "results.json").read_text())
    (store.path(a) / "results.json").write_text(json.dumps({**summary, "run_id": a}))
    with pytest.raises(Corrupt, match="not this run"):
        store.results(a)


@pytest.mark.parametrize(
    "breakage",
    [
        lambda folder: (folder / "status.json").write_text(json.dumps({"state": "done", "started": "yesterday"})),
        lambda folder: (folder / "status.json").write_text(json.dumps({"state": "failed"})),
        lambda folder: (folder / "config.json").write_text("{}"),
        lambda folder: (folder / "status.json").unlink(),
    ],
)
def test_every_reader_uses_only_the_runs_list_shows_done(store, capsys, breakage):
    good = finished_run(store, RunConfig(seed=20))
    bad = finished_run(store, RunConfig(seed=21))
    breakage(store.path(bad))
    rows = run_tables.runs_frame(store).set_index("run_id")
    assert rows.loc[good, "state"] == "done" and rows.loc[bad, "state"] != "done"
    assert set(run_tables.results_frame(store)["run_id"]) == {good}
    assert set(run_tables.results_frame(store, unfinished=True)["run_id"]) == {good}
    one_line_failure(capsys, "compression", bad, "--cache-dir", str(store.root))


def test_an_unfinished_lottery_run_is_no_ticket_source(store):
    for state in (RunState.FAILED, RunState.RUNNING, RunState.CANCELLED):
        store_for = RunStore(store.root.parent / state.value)
        source = finished_run(
            store_for, RunConfig(experiment="lottery", rounds=1, iterations=60), state=state, kept=[("ticket", 1)]
        )
        if state == RunState.RUNNING:
            store_for.update_status(
                source, pid=os.getpid(), pid_start=process_start_time(os.getpid()), started=time.time()
            )
            store_for.write_heartbeat(source, {})
        item = queue.check(RunConfig(experiment="instability", iterations=60, ticket_run=source, ticket_rounds=(1,)))
        with pytest.raises(ConfigError, match=f"is {state.value}"):
            queue.ticket_source(store_for, item)
    done = finished_run(store, RunConfig(experiment="lottery", rounds=1, iterations=60), kept=[("ticket", 1)])
    item = queue.check(RunConfig(experiment="instability", iterations=60, ticket_run=done, ticket_rounds=(1,)))
    assert "mask/01/fc1" in queue.ticket_source(store, item)


@pytest.mark.trains
def test_bad_checkpoint_files_are_named_and_their_rounds_trained_again(tmp_path, capsys):
    from lth.checkpoint import RoundCheckpoint
    from lth.runner import run_experiment

    config = RunConfig(experiment="lottery", rounds=2, iterations=60, eval_every=30, controls=("reinit",))
    folder = tmp_path / "run"

    def records():
        summary = run_experiment(config, checkpoint=RoundCheckpoint(folder))
        return [{k: v for k, v in r.items() if k != "train_seconds"} for r in summary["results"]]

    first = records()
    breakages = {
        "round_01.json": lambda p: p.write_text(json.dumps([5, {"foo": 1}])),
        "round_00.json": lambda p: p.write_text('[{"arm": "ticket", "round": 0'),  # torn
        "round_01.npz": lambda p: npz_declaring(p, "next/fc1", (2**30,)),
        "weights.npz": lambda p: p.write_bytes(b"garbage"),
        "round_02.json": lambda p: p.write_text(json.dumps(json.loads(p.read_text())[:1] * 0)),  # empty list
    }
    for name, breakage in breakages.items():
        breakage(folder / name)
        capsys.readouterr()
        assert records() == first, name  # trained again, the same results
        assert f"checkpoint/{name}" in capsys.readouterr().out, name


# ---- 3. every bad input is one line, exit 2 -------------------------------------------------------------
def one_line_failure(capsys, *argv) -> str:
    code = cli.main(list(argv))
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.count("\n") == 0 and "Traceback" not in err, (argv, code, err)
    return err


def test_output_paths_that_cannot_be_used_are_one_line(store, tmp_path, capsys):
    rid = finished_run(store, RunConfig(experiment="lottery", rounds=1, seed=7), kept=[("ticket", 1)])
    a_file = tmp_path / "a_file"
    a_file.write_text("keep me")
    root = ["--cache-dir", str(store.root)]
    for out in ("", "  ", str(a_file), str(a_file / "below.h5"), "/dev/null", str(tmp_path)):
        one_line_failure(
            capsys, "export-model", rid, "--arm", "ticket", "--round", "1", "--format", "h5", "--out", out, *root
        )
    assert not os.path.exists("/dev/null.h5") and a_file.read_text() == "keep me"
    for export in (str(a_file), str(a_file / "below"), ""):
        one_line_failure(capsys, "analyze", rid, "--arm", "ticket", "--round", "1", "--export", export, *root)
        one_line_failure(capsys, "compare", "--export", export, *root)
    assert a_file.read_text() == "keep me"
    base = finished_run(store, RunConfig(seed=8), kept=[("dense", 0)])
    assert "dense network" in one_line_failure(
        capsys, "analyze", base, "--arm", "dense", "--round", "0", "--export", str(tmp_path / "x"), *root
    )


def test_unreachable_ray_address_and_broken_pipe(store, capsys):
    pytest.importorskip("ray")
    for command in ("run", "submit"):
        err = one_line_failure(
            capsys,
            command,
            "--iterations",
            "10",
            "--executor",
            "ray",
            "--ray-address",
            "127.0.0.1:1",
            "--cache-dir",
            str(store.root),
        )
        assert "cannot reach a Ray cluster" in err
    assert store.run_ids() == []


def test_a_closed_pipe_ends_list_quietly(store, monkeypatch):
    for seed in range(40):
        finished_run(store, RunConfig(seed=100 + seed))
    read, write = os.pipe()
    os.close(read)  # `lth list | head` after head has read its lines
    monkeypatch.setattr(sys, "stdout", os.fdopen(write, "w", buffering=1))
    assert cli.main(["list", "--cache-dir", str(store.root)]) == 0


def test_idx_dimensions_that_overflow_are_refused(tmp_path):
    from lth.data.idx import IdxError, read_idx

    path = tmp_path / "images"
    path.write_bytes(bytes([0, 0, 8, 3]) + b"\xff" * 12)  # 16 bytes claiming 2^96 pixels
    with pytest.raises(IdxError, match="truncated"):
        read_idx(path, 0x803)
    from lth.data.idx import read_images

    path.write_bytes(bytes([0, 0, 8, 3]) + (2**31).to_bytes(4, "big") * 2 + (0).to_bytes(4, "big"))
    with pytest.raises(IdxError, match="28x28"):  # no pixels at all, in absurd dimensions
        read_images(path)


@pytest.mark.trains
def test_a_diverging_run_is_one_line_without_traceback(tmp_path):
    from conftest import run_cli

    result = run_cli(
        "run",
        "--lr",
        "9",
        "--optimizer",
        "sgd",
        "--iterations",
        "200",
        "--eval-every",
        "100",
        "--cache-dir",
        str(tmp_path),
    )
    assert result.returncode == 1 and "diverged" in result.stderr and "Traceback" not in result.stderr


# ---- found by a hostile pass made from the README alone ---------------------------------------------------
DEEP = "[" * 100_000 + "]" * 100_000  # valid JSON whose decoding exhausts the stack


@pytest.mark.parametrize("name", ["config.json", "status.json", "results.json", "heartbeat.json"])
def test_json_nested_too_deeply_is_corrupt_not_a_crash(store, capsys, name):
    good = finished_run(store, RunConfig(seed=30))
    bad = finished_run(store, RunConfig(seed=31))
    (store.path(bad) / name).write_text(DEEP)
    rows = run_tables.runs_frame(store).set_index("run_id")
    assert rows.loc[good, "state"] == "done"
    if name != "heartbeat.json":  # a done run needs no heartbeat
        assert rows.loc[bad, "state"] == "corrupt" and "nested too deeply" in rows.loc[bad, "error"]
    assert cli.main(["list", "--cache-dir", str(store.root)]) == 0 and good in capsys.readouterr().out
    capsys.readouterr()
    if name != "heartbeat.json":  # says corrupt, as list does, in one line
        assert "is corrupt" in one_line_failure(capsys, "status", bad, "--cache-dir", str(store.root))


def test_deep_settings_and_metric_lines_are_skipped(store):
    rid = finished_run(store, RunConfig(seed=32))
    (store.root / "settings.json").write_text(DEEP)
    assert any("settings.json" in p for p in store_settings.read(store).problems)
    with open(store.path(rid) / "metrics.jsonl", "w") as f:
        f.write(
            DEEP
            + "\n"
            + json.dumps(
                {
                    "arm": "dense",
                    "round": 0,
                    "iteration": 30,
                    "total_iterations": 60,
                    "density": 1.0,
                    "train_loss": 1.0,
                    "train_accuracy": 0.5,
                    "val_loss": 1.0,
                    "val_accuracy": 0.5,
                    "elapsed": 1.0,
                }
            )
            + "\n"
        )
    assert [r["iteration"] for r in run_logs.metrics_records(store, rid)] == [30]


@pytest.mark.parametrize(
    "edit",
    [
        lambda records: records[:-1],  # a training missing
        lambda records: records + records[-1:],  # one twice
        lambda records: [{**records[0], "arm": "reinit"}] + records[1:],  # an arm the run has not
        lambda records: [{**records[0], "round": 9}] + records[1:],  # a round it has not
        lambda records: [{**records[0], "final_iteration": 10**9, "early_stop_iteration": 10**9}] + records[1:],
        lambda records: [{**records[0], "early_stop_iteration": 61}] + records[1:],  # after the end
        lambda records: [{**records[0], "pruned_nonzero": 12}] + records[1:],  # a mask that did not hold
    ],
)
def test_results_the_run_cannot_have_made_are_corrupt(store, edit):
    rid = finished_run(store, RunConfig(experiment="lottery", rounds=2, iterations=60, controls=("reinit",)))
    path = store.path(rid) / "results.json"
    summary = json.loads(path.read_text())
    path.write_text(json.dumps({**summary, "results": edit(summary["results"])}))
    assert run_tables.runs_frame(store).set_index("run_id").loc[rid, "state"] == "corrupt"
    assert run_tables.results_frame(store).empty
    with pytest.raises(Corrupt):
        store.results(rid)


@pytest.mark.trains
def test_times_from_the_future_keep_no_run_running(store, signals):
    victim = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], start_new_session=True)
    try:
        for seed, (beat, started) in enumerate([(1e12, time.time() - 3600), (None, 1e12)]):
            rid = finished_run(store, RunConfig(seed=40 + seed), state=RunState.QUEUED)
            plant_status(
                store,
                rid,
                state="running",
                pid=victim.pid,
                own_session=True,
                started=started,
                pid_start=process_start_time(victim.pid),
            )  # a future start: the store never writes one
            if beat:
                (store.path(rid) / "heartbeat.json").write_text(json.dumps({"time": beat, "pid": victim.pid}))
            row = run_tables.runs_frame(store).set_index("run_id").loc[rid]
            # a heartbeat from the future: failed; a start time from the future: corrupt
            assert row["state"] == ("failed" if beat else "corrupt")
            if beat:
                assert "nothing was signalled" in row["error"]
        assert victim.pid not in signals and victim.poll() is None  # and nothing was signalled
    finally:
        victim.kill()
        victim.wait()


def test_bad_lock_files_are_one_line_and_nothing_is_queued(store, tmp_path, capsys):
    rid = finished_run(store, RunConfig(seed=50))
    target = tmp_path / "victim"
    (store.root / f".{rid}.lock").symlink_to(target)
    root = ["--cache-dir", str(store.root)]
    assert "symlink" in one_line_failure(capsys, "delete", rid, *root)
    (store.root / f".{rid}.lock").unlink()
    (store.root / f".{rid}.lock").mkdir()
    assert "not a regular file" in one_line_failure(capsys, "delete", rid, *root)
    (store.root / ".scheduler.lock").symlink_to(target)
    assert "queued runs cannot start" in one_line_failure(capsys, "submit", "--iterations", "60", "--seed", "51", *root)
    assert len(store.run_ids()) == 1 and not target.exists()
    assert cli.main(["list", *root]) == 0 and "queued runs cannot start" in capsys.readouterr().err


def test_the_file_systems_refusals_are_one_line(store, capsys):
    rid = finished_run(store, RunConfig(experiment="lottery", rounds=1, seed=60), kept=[("ticket", 1)])
    long = "/tmp/" + "x" * 5000
    one_line_failure(capsys, "list", "--cache-dir", long)
    one_line_failure(capsys, "submit", "--iterations", "60", "--cache-dir", long)
    one_line_failure(
        capsys,
        "export-model",
        rid,
        "--arm",
        "ticket",
        "--round",
        "1",
        "--format",
        "h5",
        "--out",
        long + ".h5",
        "--cache-dir",
        str(store.root),
    )
    one_line_failure(capsys, "compare", "--export", long, "--cache-dir", str(store.root))
    err = one_line_failure(
        capsys,
        "run",
        "--dataset",
        "fashion-mnist",
        "--data-dir",
        long,
        "--iterations",
        "60",
        "--cache-dir",
        str(store.root),
    )
    assert len(err) < 400  # the 5,000-character name is not repeated whole


@pytest.mark.trains
def test_a_link_planted_for_tensorboard_costs_the_events_not_the_run(tmp_path, capsys):
    store = RunStore(tmp_path / "cache")
    config = RunConfig(iterations=60, eval_every=30, seed=70)
    rid = queue.submit(config, store=store, start=False).run_id
    outside = tmp_path / "outside"
    outside.mkdir()
    (store.path(rid) / "tensorboard").symlink_to(outside, target_is_directory=True)
    assert (
        cli.main(["run", "--iterations", "60", "--eval-every", "30", "--seed", "70", "--cache-dir", str(store.root)])
        == 0
    )
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["run_id"] == rid
    assert store.status(rid)["state"] == RunState.DONE and list(outside.iterdir()) == []


def test_every_help_works_and_a_sweep_is_bounded(store, capsys):
    for command in ("run", "submit", "sweep", "preset", "export-model", "analyze", "compare", "list"):
        with pytest.raises(SystemExit) as done:
            cli.main([command, "--help"])
        assert done.value.code == 0, command
    capsys.readouterr()
    err = one_line_failure(
        capsys,
        "sweep",
        "--seeds",
        ",".join(map(str, range(1001))),
        "--iterations",
        "60",
        "--cache-dir",
        str(store.root),
    )
    assert "at most 1,000" in err and store.run_ids() == []


def test_other_findings_of_the_hostile_pass(store, capsys, tmp_path):
    root = ["--cache-dir", str(store.root)]
    # masks compared with a run of another model: refused, not a broadcasting error
    lottery = finished_run(store, RunConfig(experiment="lottery", rounds=1, seed=80), kept=[("ticket", 1)])
    other = finished_run(
        store, RunConfig(experiment="lottery", rounds=1, seed=81, model="lenet5"), kept=[("ticket", 1)]
    )
    assert "not this run with another seed" in one_line_failure(
        capsys,
        "analyze",
        lottery,
        "--arm",
        "ticket",
        "--round",
        "1",
        "--other-seed",
        other,
        "--export",
        str(tmp_path / "x"),
        *root,
    )
    # a heartbeat with a negative count is no heartbeat (no negative progress, no negative time left)
    rid = finished_run(store, RunConfig(seed=82), state=RunState.QUEUED)
    store.update_status(rid, state=RunState.RUNNING, pid=os.getpid(), started=time.time())
    (store.path(rid) / "heartbeat.json").write_text(
        json.dumps({"time": time.time(), "pid": os.getpid(), "evaluations": -3})
    )
    row = run_tables.runs_frame(store).set_index("run_id").loc[rid]
    assert all(row[k] is None or pd.isna(row[k]) or row[k] >= 0 for k in ("progress", "remaining_s"))
    # terminal escape sequences in a dead worker's log never reach the terminal raw
    dead = finished_run(store, RunConfig(seed=83), state=RunState.QUEUED)
    store.update_status(dead, state=RunState.RUNNING, pid=2**31 - 2, started=time.time() - 3600)
    (store.path(dead) / "log.txt").write_text("\x1b]0;owned\x07\x1b[2Jlast words\n")
    capsys.readouterr()
    assert cli.main(["list", *root]) == 0
    out = capsys.readouterr().out
    assert "last words" in out and "\x1b" not in out and "\x07" not in out
    one_line_failure(capsys, "list", "--cache-dir", "")
    one_line_failure(capsys, "preset", "original-study", "--partial", *root)


# ---- a day of use: what the pages said wrong ---------------------------------------------------------------
def test_elapsed_time_counts_every_attempt_of_a_resumed_run(store):
    rid = finished_run(store, RunConfig(seed=90), state=RunState.QUEUED)
    store.update_status(rid, state=RunState.FAILED, started=1000.0, ended=1600.0)  # 10 minutes, then it died
    queue._requeue(store, rid)
    status = store.raw_status(rid)
    assert status["elapsed_before"] == 600.0 and status.get("started") is None
    store.update_status(rid, state=RunState.DONE, started=5000.0, ended=5300.0)  # 5 more after the resume
    assert run_tables.runs_frame(store).set_index("run_id").loc[rid, "elapsed_s"] == 900.0


def test_instability_table_is_in_points_with_k_and_whole_rounds():
    from lth import figures

    frame = pd.DataFrame(
        [
            {
                "run_id": "r",
                "seed": 0,
                "round": 4.0,
                "density": 0.41,
                "rewind_iteration": 500,
                "barrier": 0.0123,
                "stable": True,
                "test_errors": [0.02, 0.035, 0.021],
            }
        ]
    )
    table = figures.instability_table(frame)
    row = table.iloc[0]
    assert row["network"] == "ticket round 4 (41.0%)" and row["k (rewind iteration)"] == 500
    assert row["barrier (points)"] == 1.23 and row["test error along the line, alpha 0 to 1 (%)"] == "2.00, 3.50, 2.10"


@pytest.mark.trains  # opening the trained networks starts the server's model-export process
def test_runs_page_log_tensorboard_and_plan_wording(store, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from conftest import ROOT

    rid = finished_run(store, RunConfig(seed=91), kept=[("dense", 0)])
    summary = json.loads((store.path(rid) / "results.json").read_text())  # with its compression report
    summary["results"][0].update(
        params=266610,
        nonzero_params=266610,
        dense_macs=266200,
        nonzero_macs=266200,
        h5_bytes=1_000_000,
        gzip_bytes=900_000,
        pruned_nonzero=0,
    )
    store.write_results(rid, summary)
    (store.path(rid) / "tensorboard").mkdir()
    noise = (
        "I0000 00:00:1796117221.558620    4378 cudart_stub.cc:31] Could not find cuda drivers\n"
        "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
    )
    progress = "".join(
        f"[dense round 0 density 100.0%] it {i}/60  train 1.0/50.00%  val 1.0/50.00%\n" for i in range(1, 400)
    )
    (store.path(rid) / "log.txt").write_text(noise + progress)
    monkeypatch.setenv("LTH_CACHE_DIR", str(store.root))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    at.switch_page("pages/runs.py").run()
    assert not at.exception
    log = next(c.value for c in at.code if "it 399/60" in c.value)
    assert "cudart_stub" not in log and "absl" not in log and log.startswith("[dense round 0")  # whole lines
    at.session_state[f"trained-{rid}"] = True  # the trained-networks section opened, as a click on it does
    at.run()
    command = next(c.value for c in at.code if "--logdir" in c.value)
    assert command.startswith(str(Path(sys.executable).parent / "tensorboard"))  # runs in a plain shell
    at.switch_page("pages/baseline.py").run()
    plan = next(c.value for c in at.caption if c.value.startswith("Plan:"))
    assert "1 training of 50,000 iterations" in plan and "1 trainings" not in plan and "about 0 min" not in plan


def test_runs_page_opens_a_training_run_by_default_and_a_link_opens_its_run(store, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from conftest import ROOT

    done = finished_run(store, RunConfig(seed=92))
    running = finished_run(store, RunConfig(seed=93), state=RunState.QUEUED)
    store.update_status(
        running, state=RunState.RUNNING, pid=os.getpid(), pid_start=process_start_time(os.getpid()), started=time.time()
    )
    store.write_heartbeat(running, {"evaluations": 1})
    finished_run(store, RunConfig(seed=94), state=RunState.QUEUED)  # the newest, still queued
    monkeypatch.setenv("LTH_CACHE_DIR", str(store.root))

    def runs_page(query=None):
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
        at.query_params.update(query or {})
        at.run()
        at.switch_page("pages/runs.py").run()
        assert not at.exception
        return at

    assert runs_page().selectbox(key="selected-run").value == running  # not the newest queued one
    assert runs_page({"run": done}).selectbox(key="selected-run").value == done  # a shared link
    at = runs_page({"run": "feedfacefeedface"})
    assert any("not in this store" in w.value for w in at.warning)


def test_compare_filters_travel_in_the_url(store, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from conftest import ROOT

    for seed in (95, 96):
        finished_run(store, RunConfig(seed=seed))
    monkeypatch.setenv("LTH_CACHE_DIR", str(store.root))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    at.switch_page("pages/compare.py").run()
    at.multiselect(key="f-seed").set_value([96]).run()
    at.radio(key="f-band").set_value("minmax").run()
    link = {k: v for k, v in at.query_params.items()}
    again = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    again.query_params.update({k: (v[0] if isinstance(v, list) else v) for k, v in link.items()})
    again.run()
    again.switch_page("pages/compare.py").run()
    assert again.multiselect(key="f-seed").value == [96] and again.radio(key="f-band").value == "minmax"
    assert not again.exception


def test_second_hostile_pass_findings(store, capsys, tmp_path, monkeypatch):
    root = ["--cache-dir", str(store.root)]
    # the internal worker command touches nothing of a run that is not its to train
    done = finished_run(store, RunConfig(seed=110))
    (store.path(done) / "metrics.jsonl").write_text("kept\n")
    before = {p.name: p.read_bytes() for p in store.path(done).rglob("*") if p.is_file()}
    assert cli.main(["worker", done, *root]) == 2
    assert {p.name: p.read_bytes() for p in store.path(done).rglob("*") if p.is_file()} == before
    # a corrupt lottery run is no ticket source
    lottery = finished_run(store, RunConfig(experiment="lottery", rounds=1, iterations=60), kept=[("ticket", 1)])
    summary = json.loads((store.path(lottery) / "results.json").read_text())
    summary["results"][0]["early_stop_test_accuracy"] = 7.5
    (store.path(lottery) / "results.json").write_text(json.dumps(summary))
    item = queue.check(RunConfig(experiment="instability", iterations=60, ticket_run=lottery, ticket_rounds=(1,)))
    with pytest.raises(ConfigError, match="corrupt"):
        queue.ticket_source(store, item)
    # every command's output can be cut short by its reader
    read, write = os.pipe()
    os.close(read)
    monkeypatch.setattr(sys, "stdout", os.fdopen(write, "w", buffering=1))
    for argv in (["list", "--json"], ["status", done], ["compare"]):
        assert cli.main([*argv, *root]) == 0, argv
    monkeypatch.undo()
    capsys.readouterr()
    # export-model and analyze use what list shows done; resume refuses a planted log link before queueing
    failed = finished_run(store, RunConfig(experiment="lottery", rounds=1, seed=111), kept=[("ticket", 1)])
    store.update_status(failed, state=RunState.FAILED)
    assert "only a finished" in one_line_failure(
        capsys,
        "export-model",
        failed,
        "--arm",
        "ticket",
        "--round",
        "1",
        "--format",
        "h5",
        "--out",
        str(tmp_path / "m"),
        *root,
    )
    assert "corrupt" in one_line_failure(
        capsys, "analyze", lottery, "--arm", "ticket", "--round", "1", "--export", str(tmp_path / "a"), *root
    )
    (store.path(failed) / "log.txt").symlink_to(tmp_path / "elsewhere")
    assert "symlink" in one_line_failure(capsys, "resume", failed, *root)
    assert store.raw_status(failed)["state"] == RunState.FAILED
    # readers create no store; empty and repeated lists are refused; far-future times are corrupt
    missing = tmp_path / "no-store-here"
    assert cli.main(["list", "--cache-dir", str(missing)]) == 0 and not missing.exists()
    one_line_failure(capsys, "status", "0123456789abcdef", "--cache-dir", str(missing))
    assert not missing.exists()
    for seeds in ("", "0,0"):
        with pytest.raises(SystemExit) as refused:  # argparse refuses it: one line, exit 2
            cli.main(["sweep", "--seeds", seeds, "--iterations", "60", *root])
        assert refused.value.code == 2 and capsys.readouterr().err.count("\n") == 1
    one_line_failure(capsys, "run", "--data-dir", "", "--iterations", "60", *root)
    late = finished_run(store, RunConfig(seed=112))
    plant_status(store, late, started=9e15, ended=9e15 + 1)  # what the store never writes
    assert run_tables.runs_frame(store).set_index("run_id").loc[late, "state"] == "corrupt"
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    assert "SUPPRESS" not in capsys.readouterr().out


def test_third_hostile_pass_findings(store, capsys, tmp_path):
    root = ["--cache-dir", str(store.root)]
    # densities and the budget a run's settings cannot have made
    lottery = finished_run(store, RunConfig(experiment="lottery", rounds=2, iterations=60, controls=("reinit",)))
    path = store.path(lottery) / "results.json"
    summary = json.loads(path.read_text())
    summary["results"][2]["density"] = 0.5
    path.write_text(json.dumps(summary))
    assert run_tables.runs_frame(store).set_index("run_id").loc[lottery, "state"] == "corrupt"
    # a refused analysis leaves no folder; a run is not its own other seed
    kept = finished_run(store, RunConfig(experiment="lottery", rounds=1, seed=120), kept=[("ticket", 1)])
    out = tmp_path / "never-made"
    one_line_failure(
        capsys, "analyze", kept, "--arm", "ticket", "--round", "1", "--other-seed", kept, "--export", str(out), *root
    )
    assert not out.exists()
    # heartbeat fields out of range are no heartbeat
    from lth.runs import schema

    assert schema.heartbeat({"time": 1.0, "pid": 5, "iteration": 10**12}) is None
    assert schema.heartbeat({"time": 1.0, "pid": 5, "arm": "nonsense"}) is None
    assert schema.heartbeat({"time": 1.0, "pid": 5, "round": 999}) is None
    # the internal worker command leaves no store and no lock behind
    missing = tmp_path / "no-store"
    assert cli.main(["worker", "0123456789abcdef", "--cache-dir", str(missing)]) == 2 and not missing.exists()
    assert cli.main(["worker", "0123456789abcdef", *root]) == 2
    assert not (store.root / ".0123456789abcdef.lock").exists()
    # repeated or empty experiment lists are refused
    for experiments in ("lottery,lottery", ""):
        with pytest.raises(SystemExit) as refused:
            cli.main(["sweep", "--experiments", experiments, "--iterations", "60", *root])
        assert refused.value.code == 2
