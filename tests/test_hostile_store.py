"""A hostile-input pass over the store, the data reader and the CLI (issue 27), one class of failure per
section: deep folders and links inside a run (every folder walk), a gzip file of very many members, times
from a clock ahead of this one, misleading messages, and refusals that left something behind. Each class is
tested beyond the example reported; none of these tests trains a network."""

import errno
import gzip
import json
import os
import random
import subprocess
import sys
import time
import tracemalloc
import types
import zlib
from pathlib import Path

import pytest

from conftest import ROOT, cli_in_process
from lth import hparams, pruning
from lth.data import datasets, idx
from lth.hparams import ConfigError, RunConfig
from lth.runs import RunState, RunStore, StoreError, queue, schema
from lth.runs import tables as run_tables
from lth.runs.processes import process_start_time
from lth.runs.supervise import supervise
from lth.runs.tensorboard import EventLog
from lth.walk import remove_tree, tree_size
from test_trust import fingerprint, finished_run, one_line_failure

DEAD_PID = 2**31 - 2  # no process has it
FOLDER = os.O_RDONLY | os.O_DIRECTORY


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


# ---- 5. deep folders: every walk is iterative, bounded and never follows a link ---------------------------
def make_nested(top: Path, depth: int, outside: Path, every: int = 500) -> int:
    """`depth` folders nested in `top`, made level by level through descriptors (the deepest path is longer
    than PATH_MAX), with a 100-byte file and links to `outside` (a folder and a file) every `every` levels and
    at the bottom. Returns the bytes of the regular files planted."""
    planted = 0
    fd = os.open(top, FOLDER)
    try:
        for level in range(1, depth + 1):
            os.mkdir("d", dir_fd=fd)
            child = os.open("d", FOLDER, dir_fd=fd)
            os.close(fd)
            fd = child
            if level % every == 0 or level == depth:
                with open(os.open("f", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd), "wb") as f:
                    f.write(bytes(100))
                planted += 100
                os.symlink(outside, "folder-link", dir_fd=fd)
                os.symlink(outside / "keep.txt", "file-link", dir_fd=fd)
    finally:
        os.close(fd)
    return planted


@pytest.fixture
def nest():
    """`make_nested`, whose trees are removed after the test whatever its outcome (pytest's own clean-up of old
    temporary folders recurses, and would fail on a tree a failed test left)."""
    made = []

    def nest(top: Path, *args, **kwargs) -> int:
        made.append(top)
        return make_nested(top, *args, **kwargs)

    yield nest
    for top in made:
        if os.path.lexists(top):
            remove_tree(top)


@pytest.fixture
def outside(tmp_path):
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "keep.txt").write_text("the link's target, not the store's")
    (folder / "sub").mkdir()
    (folder / "sub" / "also.txt").write_text("kept")
    return folder


def untouched(outside: Path) -> bool:
    return (outside / "keep.txt").read_text() == "the link's target, not the store's" and (
        outside / "sub" / "also.txt"
    ).read_text() == "kept"


DEPTH = 3000


def test_the_deep_trees_here_are_beyond_recursion_and_path_max():
    # a recursive walk needs a frame per level at least (a library the suite imports raises the limit to 2,000)
    assert sys.getrecursionlimit() < DEPTH and os.pathconf("/", "PC_PATH_MAX") < 2 * DEPTH


def test_delete_removes_a_run_nested_3000_levels_deep_and_leaves_link_targets_alone(store, outside, nest, capsys):
    rid = finished_run(store, RunConfig(seed=501))
    (store.path(rid) / "checkpoint").mkdir(exist_ok=True)
    nest(store.path(rid) / "checkpoint", DEPTH, outside)
    os.symlink(outside, store.path(rid) / "tensorboard-link")  # a link at the top of the run folder too
    fds = open_fds()
    code, out, err = cli_in_process(capsys, "delete", rid, "--cache-dir", store.root)
    assert code == 0 and out.startswith(f"run {rid} deleted (") and not err, (code, out, err)
    assert not os.path.lexists(store.path(rid)) and rid not in store.run_ids()
    assert untouched(outside) and open_fds() == fds
    code, out, _ = cli_in_process(capsys, "list", "--cache-dir", store.root)
    assert code == 0 and rid not in out


def test_the_runs_page_delete_is_the_same_store_method(store, outside, nest):
    rid = finished_run(store, RunConfig(seed=502), state=RunState.FAILED)
    nest(store.path(rid), DEPTH, outside)
    assert store.delete(rid).startswith(f"run {rid} deleted")
    assert not os.path.lexists(store.path(rid)) and untouched(outside)


def test_walks_count_and_remove_deep_trees_without_following_links(tmp_path, outside, nest):
    top = tmp_path / "tree"
    top.mkdir()
    planted = nest(top, DEPTH, outside, every=250)
    (top / "wide").mkdir()
    for i in range(300):  # wide as well as deep: every sibling is visited once
        (top / "wide" / f"s{i}").mkdir()
        (top / "wide" / f"s{i}" / "f").write_bytes(bytes(10))
    fds = open_fds()
    assert tree_size(top) == planted + 3000  # the links' targets (and their bytes) are not counted
    assert remove_tree(top) == planted + 3000
    assert not os.path.lexists(top) and untouched(outside) and open_fds() == fds
    link = tmp_path / "link"
    link.symlink_to(outside, target_is_directory=True)
    assert remove_tree(link) == 0 and not os.path.lexists(link) and untouched(outside)  # the link, not its target


def test_a_resumed_run_clears_deep_tensorboard_rounds(tmp_path, outside, nest):
    folder = tmp_path / "tensorboard"
    for name in ("ticket_round00", "ticket_round01", "reinit_round02"):
        (folder / name).mkdir(parents=True)
    nest(folder / "reinit_round02", DEPTH, outside)
    (folder / "ticket_round03").symlink_to(outside, target_is_directory=True)  # a link is never walked
    EventLog(folder).clear_from(1)
    assert sorted(p.name for p in folder.iterdir()) == ["ticket_round00", "ticket_round03"] and untouched(outside)


def test_no_recursive_walk_is_left_in_the_product():
    """The class, not the example: every folder walk goes through lth.walk (iterative, no links followed)."""
    recursive = ("shutil.rmtree(", "os.walk(", ".rglob(", 'glob("**', "glob('**")
    found = [
        f"{path.relative_to(ROOT)}: {pattern}"
        for folder in ("lth", "dashboard", "pages")
        for path in sorted((ROOT / folder).rglob("*.py"))
        for pattern in recursive
        if pattern in path.read_text()
    ]
    found += [f"app.py: {p}" for p in recursive if p in (ROOT / "app.py").read_text()]
    assert not found


# ---- 6. a gzip file of very many members is read in linear time --------------------------------------------
def labels_file() -> bytes:
    return gzip.decompress((datasets.SAMPLE_DIR / f"{datasets.FILES['train_labels']}.gz").read_bytes())


def test_300k_empty_gzip_members_are_read_and_the_result_is_exact(tmp_path):
    plain = labels_file()
    path = tmp_path / "labels.gz"
    path.write_bytes(gzip.compress(plain, mtime=0) + gzip.compress(b"", mtime=0) * 300_000)
    assert path.stat().st_size > 6_000_000
    labels = idx.read_labels(path)
    assert labels.tobytes() == plain[8:] and len(labels) == 5000


class Counting:
    """zlib.decompressobj counting the input bytes it is given (the work a quadratic reader multiplies)."""

    fed = 0

    def __init__(self, **kwargs):
        self.inner = zlib.decompressobj(**kwargs)

    def decompress(self, data, max_length=0):
        Counting.fed += len(data)
        return self.inner.decompress(data, max_length)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def test_the_work_is_linear_in_the_file(tmp_path, monkeypatch):
    monkeypatch.setattr(idx, "zlib", types.SimpleNamespace(decompressobj=Counting, error=zlib.error))
    plain = labels_file()
    for members in (1_000, 20_000):
        path = tmp_path / f"labels{members}.gz"
        raw = gzip.compress(plain, mtime=0) + gzip.compress(b"", mtime=0) * members
        path.write_bytes(raw)
        Counting.fed = 0
        assert idx.read_labels(path).tobytes() == plain[8:]
        # each member is fed once, in chunks from 256 bytes up: not the rest of the file again per member
        assert Counting.fed <= 3 * len(raw) + 256 * members, (members, Counting.fed, len(raw))


def test_members_concatenated_are_the_plain_file(tmp_path):
    plain = labels_file()
    rng = random.Random(27)
    cuts = sorted(rng.sample(range(1, len(plain)), 40))
    pieces = [plain[a:b] for a, b in zip([0, *cuts], [*cuts, len(plain)])]
    joined = b"".join(gzip.compress(p, compresslevel=rng.choice((1, 9)), mtime=0) for p in pieces)
    for name, data in (
        ("split", joined),
        ("padded", joined + bytes(1000)),
        ("empties", b"".join(gzip.compress(p, mtime=0) + gzip.compress(b"", mtime=0) for p in pieces)),
    ):
        path = tmp_path / f"{name}.gz"
        path.write_bytes(data)
        assert idx.read_labels(path).tobytes() == plain[8:], name
    for name, data, message in (
        ("garbage", joined + b"\0\0junk", "corrupt or truncated gzip"),
        ("truncated", joined[:-7], "corrupt or truncated gzip"),
        ("cut-between", joined + gzip.compress(b"more", mtime=0)[:12], "corrupt or truncated"),
    ):
        path = tmp_path / f"{name}.gz"
        path.write_bytes(data)
        with pytest.raises(idx.IdxError, match=message):
            idx.read_labels(path)


def test_a_bomb_split_over_members_is_still_refused_in_bounded_memory(tmp_path):
    member = gzip.compress(bytes(2**20), compresslevel=9, mtime=0)  # 1 MB of zeros in about 1 KB
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(member * 1024)  # 1 GB in 1,024 members
    tracemalloc.start()
    try:
        with pytest.raises(idx.IdxError, match="decompresses to more than"):
            idx.read_images(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 200 * 2**20


# ---- 7. every status the store writes passes its own readers' check ---------------------------------------
def running(store, seed: int, *, pid: int, started: float, beat: float | None = None, beat_pid=None) -> str:
    rid = finished_run(store, RunConfig(seed=seed), state=RunState.QUEUED)
    store.update_status(
        rid, state=RunState.RUNNING, pid=pid, pid_start=process_start_time(pid), started=started, own_session=True
    )
    if beat is not None:
        (store.path(rid) / "heartbeat.json").write_text(json.dumps({"time": beat, "pid": beat_pid or pid}))
    return rid


def check_written(store, rid: str) -> dict:
    """The status as written must pass the readers' check, its end not before its start."""
    record = schema.status(json.loads((store.path(rid) / "status.json").read_text()), ("local", "ray"))
    assert record["ended"] >= record["started"]
    return record


@pytest.fixture
def victim():
    """A live process that is no run's worker (nothing may signal it)."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], start_new_session=True)
    yield process
    process.kill()
    process.wait()


@pytest.mark.parametrize(
    "ahead_start, ahead_beat, alive, reason",
    [
        (3600, None, False, "died without finishing"),  # a dead worker whose start is an hour ahead
        (3600, 3600, False, "died without finishing"),  # and its heartbeat too
        (3600, 3600, True, "not provably this run's worker"),  # a live process, start and heartbeat ahead
        (80_000, 80_000, True, "not provably this run's worker"),  # nearly a day ahead: still believed a time
    ],
)
@pytest.mark.trains
def test_a_run_from_a_clock_ahead_is_failed_with_its_reason_not_corrupt(
    store, victim, ahead_start, ahead_beat, alive, reason
):
    now = time.time()
    pid = victim.pid if alive else DEAD_PID
    rid = running(
        store,
        600 + ahead_start // 3600,
        pid=pid,
        started=now + ahead_start,
        beat=now + ahead_beat if ahead_beat else None,
    )
    row = run_tables.run_row(store, rid)
    assert row["state"] == "failed" and reason in row["error"], row
    record = check_written(store, rid)
    assert record["state"] == RunState.FAILED and record["ended"] == record["started"]  # clamped, not before it
    again = run_tables.run_row(store, rid)  # and from then on it stays failed, readable
    assert again["state"] == "failed" and again["error"] == row["error"]
    assert RunState(again["state"]).resumable and victim.poll() is None


@pytest.mark.trains
def test_cancel_of_a_run_started_ahead_is_cancelled_not_corrupt(store, victim):
    now = time.time()
    rid = running(store, 610, pid=victim.pid, started=now + 3600, beat=now)  # alive and beating: running
    assert store.status(rid)["state"] == RunState.RUNNING
    assert queue.cancel(rid, store)["state"] == RunState.CANCELLED
    record = check_written(store, rid)
    row = run_tables.run_row(store, rid)
    assert row["state"] == "cancelled" and row["error"] == "cancelled by the user" and victim.poll() is None
    assert record["ended"] == record["started"]


@pytest.mark.parametrize("outcome", ["failed", "done"])
def test_a_run_that_ends_in_this_process_with_its_start_ahead_reads_as_it_ended(store, outcome):
    config = RunConfig(seed=620 if outcome == "failed" else 621)
    rid = finished_run(store, config)  # done, with results: what a successful training returns
    summary = json.loads((store.path(rid) / "results.json").read_text())
    store.update_status(
        rid,
        state=RunState.RUNNING,
        pid=os.getpid(),
        pid_start=process_start_time(os.getpid()),
        started=time.time() + 3600,
        ended=None,
    )

    def train(config, record, progress):
        if outcome == "failed":
            raise ConfigError("the settings went wrong mid-run")
        return {k: v for k, v in summary.items() if k != "run_id"}

    status = supervise(rid, store, train)
    assert status["state"] == outcome
    check_written(store, rid)
    row = run_tables.run_row(store, rid)
    assert row["state"] == outcome, row
    if outcome == "failed":
        assert row["error"] == "ConfigError: the settings went wrong mid-run"


def test_the_store_never_writes_a_status_its_readers_refuse(store):
    rid = finished_run(store, RunConfig(seed=630), state=RunState.FAILED)
    before = (store.path(rid) / "status.json").read_bytes()
    for bad in (
        {"started": "soon"},
        {"started": time.time() + 3 * 86_400},
        {"state": RunState.CORRUPT},
        {"error": 42},
        {"pid": -1},
    ):
        with pytest.raises(RuntimeError, match="would write a status its readers refuse"):
            store.update_status(rid, **bad)
    assert (store.path(rid) / "status.json").read_bytes() == before
    assert run_tables.run_row(store, rid)["state"] == "failed"


# ---- 9. messages that say what is true ---------------------------------------------------------------------
def instability_run(store, seed: int, state=RunState.DONE) -> str:
    """An instability run as its worker leaves it (one pair: the dense network at k = 0), without training."""
    from lth import instability

    config = RunConfig(experiment="instability", seed=seed, iterations=60)
    rid = hparams.run_id(config, fingerprint())
    store.create(rid, config, data_dir=None, fingerprint=fingerprint(), planned_evaluations=1)
    store.update_status(rid, state=state, **({"started": 1.0, "ended": 2.0} if state == RunState.DONE else {}))
    if state == RunState.DONE:
        errors = [0.1 + 0.05 * (1 - abs(2 * a - 1)) for a in instability.ALPHAS]
        barrier = instability.barrier(errors)
        record = {
            "arm": "dense",
            "round": 0,
            "density": 1.0,
            "layer_density": {},
            "early_stop_iteration": 60,
            "final_iteration": 60,
            "early_stop_test_accuracy": 1 - (errors[0] + errors[-1]) / 2,
            "final_test_accuracy": 0.9,
            "rewind_iteration": 0,
            "alphas": list(instability.ALPHAS),
            "test_errors": errors,
            "barrier": barrier,
            "stable": instability.is_stable(barrier),
        }
        store.write_results(
            rid,
            {
                "config": config.canonical(),
                "device": {"name": "CPU"},
                "seconds": 1.0,
                "results": [record],
                "run_id": rid,
            },
        )
    return rid


def test_compression_of_an_instability_run_says_the_experiment_keeps_no_networks(store, capsys):
    for rid in (instability_run(store, 640), instability_run(store, 641, state=RunState.QUEUED)):
        if store.status(rid)["state"] == RunState.DONE:
            assert run_tables.run_row(store, rid)["state"] == "done"  # a finished run, not a corrupt one
        err = one_line_failure(capsys, "compression", rid, "--cache-dir", str(store.root))
        assert "keeps no networks" in err and "no compression report" in err and "again" not in err, err


def test_compression_of_a_run_made_before_the_report_says_how_to_get_one(store, capsys):
    rid = finished_run(store, RunConfig(experiment="lottery", rounds=1, seed=642))  # records without the report
    err = one_line_failure(capsys, "compression", rid, "--cache-dir", str(store.root))
    assert f"`lth delete {rid}`" in err  # a finished run is cached: running it again alone would change nothing


def full_disk(monkeypatch, code: int, status_too: bool = False) -> None:
    """The disk fills as a training starts: its first write (the metric log's restart) fails as a full disk's
    write does (an OSError naming no file); with `status_too` every store write after it fails as well."""
    from lth.runs import logs
    from lth.runs import store as store_module

    full = {"now": False}
    real = store_module.write_json_atomic

    def metrics(path, data):
        full["now"] = True
        raise OSError(code, os.strerror(code))

    def store_write(path, value):
        if full["now"] and status_too:
            raise OSError(code, os.strerror(code))
        return real(path, value)

    monkeypatch.setattr(logs, "write_bytes_atomic", metrics)
    monkeypatch.setattr(store_module, "write_json_atomic", store_write)
    # the failure comes before any training: the runner (and TensorFlow) is never needed
    monkeypatch.setitem(sys.modules, "lth.runner", types.SimpleNamespace(run_experiment=None))


@pytest.mark.parametrize(
    "code, words, remedy",
    [
        (errno.ENOSPC, "no space left on device", "free space"),
        (errno.EDQUOT, "disk quota exceeded", "free space"),
        (errno.EROFS, "read-only file system", "make it writable"),
    ],
)
def test_a_full_disk_during_run_is_one_line_and_the_run_resumes(tmp_path, monkeypatch, capsys, code, words, remedy):
    full_disk(monkeypatch, code)
    root = tmp_path / "cache"
    exit_code, out, err = cli_in_process(capsys, "run", "--iterations", "60", "--seed", "650", "--cache-dir", root)
    store = RunStore(root)
    (rid,) = store.run_ids()
    expected = f"{words} writing {store.path(rid) / 'metrics.jsonl'}; {remedy} and `lth resume {rid}`"
    assert exit_code == 1 and not out and "Traceback" not in err, err
    assert err.splitlines()[-1] == f"lth run: run {rid} failed: {expected}"
    assert [line for line in err.splitlines() if words in line] == [err.splitlines()[-1]]
    status = store.status(rid)
    assert status["state"] == RunState.FAILED and status["error"] == expected and status["state"].resumable


def test_a_disk_too_full_even_for_the_final_status_is_one_line(tmp_path, monkeypatch, capsys):
    full_disk(monkeypatch, errno.ENOSPC, status_too=True)
    root = tmp_path / "cache"
    exit_code, out, err = cli_in_process(capsys, "run", "--iterations", "60", "--seed", "651", "--cache-dir", root)
    store = RunStore(root)
    (rid,) = store.run_ids()
    assert exit_code == 1 and not out and "Traceback" not in err, err
    assert err.splitlines()[-1] == (
        f"lth run: run {rid} failed: no space left on device writing "
        f"{store.path(rid) / 'heartbeat.json'}; free space and `lth resume {rid}`"
    )
    monkeypatch.undo()
    store.update_status(rid, pid=DEAD_PID)  # what the next reader finds once this process has exited
    row = run_tables.run_row(store, rid)
    assert row["state"] == "failed" and RunState(row["state"]).resumable


# ---- a. nothing is created before every check passes ------------------------------------------------------
def refused(capsys, *argv):
    code, out, err = cli_in_process(capsys, *argv)
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err and not out, (argv, code, out, err)
    return err


def test_refused_submissions_create_no_store(tmp_path, capsys):
    new = tmp_path / "not-yet" / "store"
    where = ["--cache-dir", new]
    seeds = ",".join(str(s) for s in range(101))
    densities = ",".join(str(d / 100) for d in range(1, 11))
    assert "1,010 runs in one submission" in refused(
        capsys, "sweep", "--experiments", "lottery", "--seeds", seeds, "--target-densities", densities, *where
    )
    refused(capsys, "sweep", "--seeds", "0,1", "--lr", "99", *where)
    refused(capsys, "run", "--experiment", "lottery", "--rounds", "100", *where)
    refused(capsys, "submit", "--batch-size", "50000", *where)
    refused(capsys, "run", "--data-dir", tmp_path, *where)
    refused(capsys, "preset", "frankle-carbin-lenet300", "--data-dir", tmp_path, *where)
    refused(capsys, "preset", "frankle-carbin-lenet300", "--budget", "nonsense", *where)
    assert not (tmp_path / "not-yet").exists()


def test_a_submission_that_passes_makes_the_store(tmp_path):
    root = tmp_path / "new" / "store"
    store = RunStore(root, create=False)
    assert store.missing and not root.exists()
    submission = queue.submit(RunConfig(iterations=60, seed=660), store=store, start=False)
    assert root.is_dir() and store.writable and store.raw_status(submission.run_id)["state"] == RunState.QUEUED


# ---- b. --data-dir with the bundled sample ------------------------------------------------------------------
def test_data_dir_with_the_bundled_sample_is_refused_not_ignored(tmp_path, capsys, store):
    where = ["--cache-dir", str(store.root)]
    for argv in (
        ["run", "--data-dir", str(tmp_path)],
        ["submit", "--dataset", "mnist-sample", "--data-dir", "x"],
        ["sweep", "--seeds", "0,1", "--data-dir", str(tmp_path)],
        ["preset", "frankle-carbin-lenet300", "--budget", "quick", "--data-dir", str(tmp_path)],
    ):
        err = one_line_failure(capsys, *argv, *where)
        assert "--data-dir applies to mnist and fashion-mnist only" in err and "mnist-sample is bundled" in err
    assert store.run_ids() == []
    with pytest.raises(ConfigError, match="bundled"):
        queue.check(RunConfig(), data_dir=str(tmp_path))


# ---- c. rounds that prune no weight any more --------------------------------------------------------------
def useful_rounds(config: RunConfig) -> int:
    """The last round that still prunes a weight, from the ladder's weight counts."""
    total = config.total_prunable()
    ladder = pruning.plan_ladder(config.prunable_shapes(), config.layer_rates(), hparams.MAX_ROUNDS)
    counts = [round(step["density"] * total) for step in ladder]
    return next(r for r in range(1, len(counts)) if counts[r] == counts[r - 1]) - 1


@pytest.mark.parametrize("model", ["lenet300_100", "lenet5"])
@pytest.mark.parametrize("scope", ["layerwise", "global"])
def test_rounds_past_the_end_of_pruning_are_refused_with_the_largest_useful_number(model, scope, capsys, tmp_path):
    base = RunConfig(experiment="lottery", model=model, scope=scope)
    useful = useful_rounds(base)
    assert 30 < useful < hparams.MAX_ROUNDS
    RunConfig(experiment="lottery", model=model, scope=scope, rounds=useful).validate()  # the last useful round
    for rounds in (useful + 1, hparams.MAX_ROUNDS):
        with pytest.raises(
            ConfigError,
            match=f"round {useful + 1} and every later one would prune no weight.*at most {useful} rounds are useful",
        ):
            RunConfig(experiment="lottery", model=model, scope=scope, rounds=rounds).validate()
    err = refused(
        capsys,
        "run",
        "--experiment",
        "lottery",
        "--model",
        model,
        "--scope",
        scope,
        "--rounds",
        "100",
        "--cache-dir",
        tmp_path / "store",
    )
    assert f"at most {useful} rounds are useful" in err and not (tmp_path / "store").exists()


def test_the_ladder_stops_where_the_refusal_says(capsys):
    config = RunConfig(experiment="lottery", rounds=hparams.MAX_ROUNDS)
    ladder = pruning.plan_ladder(config.prunable_shapes(), config.layer_rates(), hparams.MAX_ROUNDS)
    counts = [round(step["density"] * config.total_prunable()) for step in ladder]
    useful = useful_rounds(config)
    assert counts[useful] < counts[useful - 1] and len(set(counts[useful:])) == 1  # pruning ends, for good


# ---- d. a store path that cannot be a folder ----------------------------------------------------------------
def unusable_roots(tmp_path: Path) -> dict[str, Path]:
    (tmp_path / "loop-a").symlink_to(tmp_path / "loop-b")
    (tmp_path / "loop-b").symlink_to(tmp_path / "loop-a")
    (tmp_path / "self").symlink_to(tmp_path / "self")
    (tmp_path / "a-file").write_text("not a folder")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    (tmp_path / "to-a-file").symlink_to(tmp_path / "a-file")
    return {
        "loop": tmp_path / "loop-a",
        "self loop": tmp_path / "self",
        "below a loop": tmp_path / "self" / "store",
        "a file": tmp_path / "a-file",
        "below a file": tmp_path / "a-file" / "store",
        "a link to nothing": tmp_path / "dangling",
        "below a link to nothing": tmp_path / "dangling" / "store",
        "a link to a file": tmp_path / "to-a-file",
    }


def test_a_store_path_that_cannot_be_a_folder_is_one_line_exit_2(tmp_path, capsys, monkeypatch):
    for what, root in unusable_roots(tmp_path).items():
        for argv in (["list"], ["list", "--json"], ["status", "0123456789abcdef"], ["run", "--iterations", "60"]):
            err = refused(capsys, *argv, "--cache-dir", root)
            assert "run store" in err, (what, err)
        monkeypatch.setenv("LTH_CACHE_DIR", str(root))
        err = refused(capsys, "list")
        with pytest.raises(StoreError):
            RunStore(root, create=False)
    assert not (tmp_path / "nowhere").exists() and (tmp_path / "a-file").read_text() == "not a folder"


def test_a_store_path_that_does_not_exist_yet_is_still_an_empty_store(tmp_path, capsys):
    root = tmp_path / "fresh" / "store"
    code, out, err = cli_in_process(capsys, "list", "--cache-dir", root)
    assert code == 0 and out.startswith("no runs in") and not root.exists()
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real", target_is_directory=True)  # a link to a folder is a folder
    code, out, err = cli_in_process(capsys, "list", "--cache-dir", tmp_path / "link")
    assert code == 0 and out.startswith("no runs in")
