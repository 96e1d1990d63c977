"""Hostile input and a flaky machine: nothing breaks the store, nothing leaves it, nothing hangs on."""

import dataclasses
import gzip
import json
import os
import shutil
import signal
import subprocess
import sys
import tracemalloc

import numpy as np
import pytest

from conftest import ROOT, TINY, cli, cli_in_process, run_cli, wait_for
from lth import hparams, runs
from lth.hparams import ConfigError, RunConfig
from lth.runs import RunState, RunStore, StoreError, trust
from lth.runs import logs as run_logs
from lth.runs import settings as store_settings
from lth.runs import tables as run_tables
from lth.runs.processes import process_alive


def tree(path):
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


# ---- 1. symlinks --------------------------------------------------------------------------------------
@pytest.mark.trains
def test_symlinked_run_folder_is_refused_and_delete_removes_only_the_link(store, done_run, tmp_path):
    outside = tmp_path / "outside"
    shutil.move(str(store.path(done_run)), outside)
    store.path(done_run).symlink_to(outside, target_is_directory=True)
    before = {p: p.read_bytes() for p in outside.rglob("*") if p.is_file()}
    row = run_tables.runs_frame(store).set_index("run_id").loc[done_run]
    assert row["state"] == "corrupt" and "symlink" in row["error"]
    again = cli(store, "run", *TINY, "--seed", "31")
    assert again.returncode == 2 and "symlink" in again.stderr
    (outside / "metrics.jsonl").chmod(0o644)
    assert {p: p.read_bytes() for p in outside.rglob("*") if p.is_file()} == before  # nothing written there
    deleted = cli(store, "delete", done_run)
    assert deleted.returncode == 0 and "removed the symlink" in deleted.stdout
    assert not store.path(done_run).is_symlink() and {p for p in outside.rglob("*") if p.is_file()} == set(before)


@pytest.mark.trains
def test_symlinked_files_inside_a_run_are_not_followed(store, done_run, tmp_path):
    secret = tmp_path / "secret.json"
    secret.write_text(json.dumps({"state": "done"}))
    status = store.path(done_run) / "status.json"
    status.unlink()
    status.symlink_to(secret)
    row = run_tables.runs_frame(store).set_index("run_id").loc[done_run]
    assert row["state"] == "corrupt" and "status.json is a symlink" in row["error"]
    metrics = store.path(done_run) / "metrics.jsonl"
    target = tmp_path / "target.txt"
    target.write_text("")
    metrics.unlink()
    metrics.symlink_to(target)
    with pytest.raises(OSError):
        run_logs.append_metric(store, done_run, {"arm": "dense"})
    assert target.read_text() == ""


# ---- 2. the data a run trains on must be the data its id was made from ---------------------------------
def test_run_refuses_data_other_than_its_fingerprint(sample):
    from lth.data import DataError
    from lth.runner import run_experiment

    with pytest.raises(DataError, match="not the data this run was made from"):
        run_experiment(RunConfig(iterations=10, eval_every=10), expected_fingerprint="0123456789abcdef")


@pytest.mark.trains
def test_config_edited_by_hand_is_corrupt_not_resumed(store, done_run):
    path = store.path(done_run) / "config.json"
    record = json.loads(path.read_text())
    record["data_dir"] = "/somewhere/else"  # where the data is may change; what it is may not
    record["config"]["lr"] = 0.5
    record["canonical"]["lr"] = 0.5
    path.write_text(json.dumps(record))
    store.update_status(done_run, state=RunState.FAILED)
    row = run_tables.runs_frame(store).set_index("run_id").loc[done_run]
    assert row["state"] == "corrupt" and "do not hash to this run id" in row["error"]
    resumed = cli(store, "resume", done_run)
    assert resumed.returncode == 2 and "do not hash to this run id" in resumed.stderr


# ---- 3. run ids ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "bad", ["x/../../y", "/../newdir/evil", "nosuch", "a" * 300, "..", ".scheduler", "0123456789ABCDEF"]
)
def test_bad_run_ids_touch_nothing(store, tmp_path, capsys, bad):
    before = tree(tmp_path)
    for command in ("delete", "status", "cancel", "resume"):
        code, _, err = cli_in_process(capsys, command, bad, "--cache-dir", store.root)
        assert code == 2 and "not a run id" in err and len(err.strip().splitlines()) == 1
    assert tree(tmp_path) == before


@pytest.mark.trains
def test_delete_of_an_unknown_run_says_so(store):
    result = cli(store, "delete", "0123456789abcdef")
    assert result.returncode == 2 and "no run 0123456789abcdef" in result.stderr


# ---- 4. files of the wrong type --------------------------------------------------------------------------
def _runs_with(store, done_run, tmp_path, edits):
    """Copies of `done_run` under fresh ids, each with one file edited; returns {name: id}."""
    ids = {}
    for i, (name, file, change) in enumerate(edits):
        run_id = f"{i:016x}"
        shutil.copytree(store.path(done_run), store.path(run_id))
        path = store.path(run_id) / file
        record = json.loads(path.read_text())
        if file == "config.json":
            record["run_id"] = run_id
        path.write_text(change(record) if callable(change) else change)
        ids[name] = run_id
    return ids


WRONG_TYPES = [
    ("started x", "status.json", lambda r: json.dumps({**r, "started": "x"})),
    ("device gpu", "status.json", lambda r: json.dumps({**r, "device": "gpu"})),
    ("no canonical", "config.json", lambda r: json.dumps({k: v for k, v in r.items() if k != "canonical"})),
    ("planned many", "config.json", lambda r: json.dumps({**r, "planned_evaluations": "many"})),
    ("results 5", "results.json", json.dumps({"results": 5, "config": []})),
    ("empty status", "status.json", ""),
    ("binary status", "status.json", "\udcff\x00\x01"),
    ("status list", "status.json", "[]"),
]


@pytest.mark.trains
def test_one_bad_run_never_hides_the_others(store, done_run, tmp_path):
    ids = _runs_with(store, done_run, tmp_path, [e for e in WRONG_TYPES if "binary" not in e[0]])
    (store.path(ids["empty status"]) / "status.json").write_bytes(b"\xff\xfe\x00garbage")
    listing = run_tables.runs_frame(store).set_index("run_id")
    assert listing.loc[done_run, "state"] == "done"
    assert (listing.drop(index=done_run)["state"] == "corrupt").all()
    assert listing["error"].drop(index=done_run).str.len().min() > 0
    result = cli(store, "list")
    assert result.returncode == 0 and done_run in result.stdout
    assert set(run_tables.results_frame(store)["run_id"]) >= {done_run}
    assert ids["results 5"] not in set(run_tables.results_frame(store)["run_id"])
    for command in ("status", "cancel", "resume"):
        result = cli(store, command, ids["empty status"])
        assert result.returncode == 2 and result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
        # `status` says what `list` says (the first thing wrong with the run); cancel and resume name the file
        assert ("is corrupt" in result.stderr) if command == "status" else ("status.json" in result.stderr)


@pytest.mark.trains
def test_corrupt_results_are_not_cached(store, done_run):
    (store.path(done_run) / "results.json").write_text(json.dumps({"results": 5, "config": []}))
    submission = runs.submit(RunConfig(iterations=60, eval_every=30, seed=31), store=store, start=False)
    assert submission.outcome == "queued"


@pytest.mark.trains
def test_metric_lines_of_the_wrong_shape_are_skipped(store, done_run):
    good = run_logs.metrics_records(store, done_run)
    with open(store.path(done_run) / "metrics.jsonl", "a") as f:
        for line in (
            "5",
            '{"foo": 1}',
            json.dumps({**good[0], "iteration": "x"}),
            '"text"',
            "[1, 2]",
            json.dumps({**good[0], "val_loss": None}),
        ):
            f.write(line + "\n")
    assert run_logs.metrics_records(store, done_run) == good


@pytest.mark.trains
def test_bad_settings_are_reported_and_defaults_used(store, done_run):
    for settings in ({"ray_max_in_flight": "x"}, {"max_concurrent": 1e400}, [], "{", {"executor": "mars"}):
        (store.root / "settings.json").write_text(settings if isinstance(settings, str) else json.dumps(settings))
        assert runs.max_concurrent(store) >= 1 and store_settings.read(store).problems
        result = cli(store, "list")
        assert result.returncode == 0 and "warning" in result.stderr and done_run in result.stdout
    submitted = cli(store, "submit", *TINY, "--seed", "32")
    assert submitted.returncode == 0, submitted.stderr


# ---- 5. a hung worker is ended, a huge budget costs no memory -------------------------------------------
@pytest.mark.trains
def test_stopped_worker_is_declared_dead_and_ended(store, monkeypatch):
    run_id = cli(store, "submit", "--iterations", "200000", "--eval-every", "100", "--seed", "33").stdout.strip()
    wait_for(lambda: run_logs.metrics_records(store, run_id))
    pid = store.status(run_id)["pid"]
    os.kill(pid, signal.SIGSTOP)
    monkeypatch.setattr("lth.runs.processes.HEARTBEAT_TIMEOUT", 1.0)
    status = wait_for(lambda: (s := store.status(run_id))["state"] == RunState.FAILED and s, timeout=20)
    assert "stopped sending heartbeats" in status["error"] and "ended" in status["error"]
    # ended, not only marked: the stopped process is gone (a stopped one could write again once continued)
    wait_for(lambda: not process_alive(pid), timeout=10)


def test_huge_budgets_are_refused_and_boundaries_are_lazy():
    from lth.training import chunk_boundaries

    with pytest.raises(ConfigError, match="--iterations must be at most"):
        RunConfig(iterations=10**20).validate()
    boundaries = chunk_boundaries(10**12, 100, snapshot_at=150)
    assert [next(boundaries) for _ in range(4)] == [100, 150, 200, 300]


# ---- 6. settings that cannot work are refused before anything is queued ----------------------------------
@pytest.mark.parametrize(
    "args, message",
    [
        (["--epochs", "inf"], "finite number"),
        (["--experiment", "lottery", "--rounds", "1000000"], "--rounds must be at most 100"),
        (
            ["--experiment", "lottery", "--rounds", "90", "--prune-rate", "0.9", "--output-prune-rate", "0.9"],
            "would prune every weight",
        ),
        (["--seed", "100000000000000000000"], "--seed must be at most"),
        (["--experiment", "tfmot", "--target-density", "1e-300"], "--target-density must be at least"),
        (["--experiment", "lottery", "--controls", "reinit,reinit"], "lists a control twice"),
        (["--experiment", "lottery", "--prunable", ","], "--prunable names no layer"),
        (["--lr", "1e308"], "--lr must be at most"),
        (["--batch-size", "0"], "--batch-size must be at least 1"),
    ],
)
def test_impossible_settings_exit_2_with_one_line(store, capsys, args, message):
    code, _, err = cli_in_process(capsys, "submit", *args, "--cache-dir", store.root)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert store.run_ids() == []


@pytest.mark.trains
def test_sweep_checks_every_run_before_queueing_any(store):
    result = cli(store, "sweep", "--experiment", "tfmot", "--target-densities", "0.5,2", *TINY)
    assert result.returncode == 2 and "--target-density" in result.stderr
    assert store.run_ids() == []


@pytest.mark.trains
def test_cache_dir_that_is_a_file(tmp_path):
    file = tmp_path / "file"
    file.write_text("")
    result = run_cli("list", "--cache-dir", str(file))
    assert result.returncode == 2 and "is not a folder" in result.stderr


def test_ray_executor_refused_where_ray_is_missing(store, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "ray" else real(name, *a))
    with pytest.raises(StoreError, match="needs Ray, which is not installed"):
        runs.submit(RunConfig(iterations=60), store=store, executor="ray")
    assert store.run_ids() == []


@pytest.mark.trains
def test_diverging_training_fails_instead_of_reporting_chance(sample):
    from lth import models
    from lth.training import Trainer, TrainingDiverged

    model = models.build("lenet300_100", 0)
    trainer = Trainer(model, sample, optimizer="adam", lr=1e-3, batch_size=60)
    trainer.reset([np.full_like(w, np.nan) for w in model.get_weights()])
    with pytest.raises(TrainingDiverged, match="lower the learning rate"):
        trainer.fit(iterations=20, eval_every=10, data_seed=0)


def test_too_few_images_for_a_validation_set(tmp_path, monkeypatch):
    from lth.data import DataError, datasets

    folder = tmp_path / "tiny"
    folder.mkdir()
    images = np.zeros((9, 28, 28), np.uint8)
    labels = np.arange(9, dtype=np.uint8)
    arrays = (images, labels, images, labels)
    for (_key, stem), array in zip(datasets.FILES.items(), arrays):
        magic = (0x803 if array.ndim == 3 else 0x801).to_bytes(4, "big")
        (folder / stem).write_bytes(magic + b"".join(int(d).to_bytes(4, "big") for d in array.shape) + array.tobytes())
    official = {key: datasets.idx_sha256(a) for key, a in zip(datasets.FILES, arrays)}
    monkeypatch.setitem(datasets.SPECS, "mnist", dataclasses.replace(datasets.SPECS["mnist"], official_sha256=official))
    datasets.load_dataset.cache_clear()
    with pytest.raises(DataError, match="too few training images"):
        datasets.load_dataset("mnist", str(folder))


def test_gzip_bomb_is_refused_in_bounded_memory(tmp_path):
    bomb = tmp_path / "train-images-idx3-ubyte.gz"
    with gzip.open(bomb, "wb", compresslevel=9) as f:
        chunk = bytes(2**20)
        for _ in range(1024):  # 1 GB of zeros, about 1 MB on disk
            f.write(chunk)
    from lth.data.idx import IdxError, read_images

    tracemalloc.start()
    try:
        with pytest.raises(IdxError, match="decompresses to more than"):
            read_images(bomb)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 200 * 2**20  # the 64 MB cap (and its copies), not the 1 GB the file holds


# ---- 7. a read-only store ----------------------------------------------------------------------------------
@pytest.mark.trains
def test_read_only_store_lists_and_refuses_changes_in_one_line(store, done_run):
    # root writes anywhere: without CAP_DAC_OVERRIDE it obeys the permission bits like any user
    prefix = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search"] if os.geteuid() == 0 else []
    if prefix and shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is needed to drop root's override of permissions")
    folders = [store.root, *(p for p in store.root.rglob("*") if p.is_dir())]
    for folder in folders:
        folder.chmod(0o555)
    try:

        def as_reader(*args):
            return subprocess.run(
                [*prefix, sys.executable, "-m", "lth", *args, "--cache-dir", str(store.root)],
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=120,
            )

        listing = as_reader("list")
        assert listing.returncode == 0 and done_run in listing.stdout, listing.stderr
        assert as_reader("status", done_run).returncode == 0
        for args in (
            ["submit", *TINY, "--seed", "40"],
            ["delete", done_run],
            ["resume", done_run],
            ["cancel", done_run],
        ):
            result = as_reader(*args)
            assert result.returncode == 2 and "read-only" in result.stderr and "Traceback" not in result.stderr
    finally:
        for folder in folders:
            folder.chmod(0o755)


# ---- 8. where runs are sent --------------------------------------------------------------------------------
@pytest.mark.trains
def test_placement_is_signed_and_tampering_is_refused(store, done_run, monkeypatch, tmp_path):
    monkeypatch.setenv(trust.KEY_ENV, str(tmp_path / "key"))
    store_settings.write(store, executor="ray", ray_address="10.0.0.1:6379")
    assert store_settings.read(store).get("ray_address") == "10.0.0.1:6379"
    settings = json.loads((store.root / "settings.json").read_text())
    settings["ray_address"] = "evil.example:6379"
    (store.root / "settings.json").write_text(json.dumps(settings))
    assert (
        store_settings.read(store).get("ray_address") is None and "not signed" in store_settings.read(store).problems[0]
    )
    placement = runs.queue.signed(done_run, {"executor": "ray", "ray_address": "10.0.0.1:6379"})
    assert trust.verify(placement["placement_sig"], done_run, "ray", "10.0.0.1:6379")
    assert not trust.verify(placement["placement_sig"], done_run, "ray", "evil.example:6379")


def test_ray_task_file_names_are_checked():
    pytest.importorskip("ray")
    from lth.runs.executors.ray import CHECKPOINT_FILE

    for good in ("weights.npz", "round_03.npz", "round_15.json"):
        assert CHECKPOINT_FILE.fullmatch(good)
    for bad in ("../../etc/passwd", "round_03.npz/../../x", "/abs", "weights.npz\n", "round_1.json"):
        assert not CHECKPOINT_FILE.fullmatch(bad)


def test_one_enum_of_states():
    assert {s.value for s in RunState} == {"queued", "running", "done", "failed", "cancelled", "corrupt"}
    assert hparams.RunConfig.from_json(RunConfig().to_json()) == RunConfig()
    with pytest.raises(ConfigError, match="whole number"):
        RunConfig.from_json({**RunConfig().to_json(), "seed": "1"})


@pytest.mark.trains
def test_live_view_reads_only_appended_metric_lines(store, done_run):
    everything = run_logs.metrics_records(store, done_run)
    records, offset = run_logs.metrics_since(store, done_run, 0)
    assert records == everything and offset == (store.path(done_run) / "metrics.jsonl").stat().st_size
    line = json.dumps({**everything[0], "iteration": 90})
    with open(store.path(done_run) / "metrics.jsonl", "a") as f:
        f.write(line[:20])  # a line still being written
    assert run_logs.metrics_since(store, done_run, offset) == ([], offset)
    with open(store.path(done_run) / "metrics.jsonl", "a") as f:
        f.write(line[20:] + "\n")
    new, later = run_logs.metrics_since(store, done_run, offset)
    assert [r["iteration"] for r in new] == [90] and later > offset
    run_logs.keep_metrics(store, done_run, lambda r: r["iteration"] <= 30)  # a resumed run rewrites the file
    again, restart = run_logs.metrics_since(store, done_run, later)
    assert restart < later and [r["iteration"] for r in again] == [30]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--experiment", "oneshot", "--target-densities", "0.5,0.2"], "--target-densities sweeps lottery and tfmot"),
        (["--experiment", "oneshot", "--rounds-list", "3,5"], "--rounds-list sweeps lottery runs"),
        (["--experiment", "lottery", "--target-densities", "0.5", "--rounds-list", "3"], "not both"),
        (["--experiment", "lottery", "--target-densities", "0.5", "--target-density", "0.2"], "not both"),
    ],
)
def test_a_sweep_drops_nothing_it_was_given(store, capsys, args, message):
    code, _, err = cli_in_process(capsys, "sweep", *args, "--cache-dir", store.root)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1 and store.run_ids() == []


def test_a_partial_preset_export_submits_and_creates_nothing(tmp_path, capsys):
    code, out, err = cli_in_process(
        capsys, "preset", "pruning-methods", "--partial", "--export", tmp_path / "out", "--cache-dir", tmp_path / "none"
    )
    assert code == 2 and err.strip() == "lth preset: error: no results yet to export" and out == ""
    assert not (tmp_path / "none").exists() and not (tmp_path / "out").exists()
    (tmp_path / "file").write_text("x")
    code, _, err = cli_in_process(
        capsys, "preset", "pruning-methods", "--export", tmp_path / "file", "--cache-dir", tmp_path / "store"
    )
    assert code == 2 and len(err.strip().splitlines()) == 1 and not (tmp_path / "store").exists()


def test_the_methods_preset_reads_imp_from_the_store_or_the_committed_results_and_says_when_neither(tmp_path):
    from lth import presets

    store = RunStore(tmp_path / "store")
    assert presets.companion_results("pruning-methods", "quick", None, store).empty  # no quick IMP anywhere
    message = presets.missing_companion("pruning-methods", "quick")
    assert "frankle-carbin-lenet300" in message and "--budget quick" in message
    committed = presets.companion_results("pruning-methods", "full", "fashion-mnist", store)
    assert set(committed["source"]) == {"docs/results/fashion-mnist/frankle-carbin-lenet300_results.csv"}
    assert set(committed["seed"]) == {0, 1, 2} and committed["experiment"].eq("lottery").all()
    assert presets.companion_results("original-study", "quick", None, store).empty  # it has no companion
