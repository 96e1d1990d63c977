"""The one-shot experiment end to end: real training on the bundled sample, masks recomputed from the kept
networks, controls, a killed worker resumed, and bad settings refused in one line."""

import json
import os
import signal

import numpy as np
import pytest

from conftest import copy_of, run_cli, wait_for
from lth import criteria, hparams, pruning
from lth.arms import oneshot_arm
from lth.hparams import RunConfig
from lth.runs import RunStore
from lth.runs import kept as kept_networks
from lth.runs import tables as run_tables

ARGS = [
    "--experiment",
    "oneshot",
    "--iterations",
    "60",
    "--eval-every",
    "30",
    "--scope",
    "global",
    "--criteria",
    "snip,magnitude",
    "--densities",
    "0.3,0.05",
    "--controls",
    "random_prune,reinit,invert",
]


@pytest.fixture(scope="module")
def oneshot_run(built_once, tmp_path_factory):
    """A finished one-shot run of `ARGS` (trained once per session: its store is copied for each worker)."""

    def make(folder):
        done = run_cli("run", *ARGS, "--cache-dir", str(folder / "cache"))
        assert done.returncode == 0, done.stderr
        (folder / "summary.json").write_text(done.stdout.splitlines()[-1])

    built = built_once("oneshot-run", make)
    store = RunStore(copy_of(built / "cache", tmp_path_factory.mktemp("oneshot") / "cache"))
    (run_id,) = store.run_ids()
    return store, run_id, json.loads((built / "summary.json").read_text())


@pytest.mark.trains
def test_records_are_the_planned_trainings_at_the_planned_densities(oneshot_run):
    store, run_id, summary = oneshot_run
    config = RunConfig.from_json(store.config_and_record(run_id)[0]["config"])
    records = summary["results"]
    assert sorted((r["arm"], r["round"]) for r in records) == sorted(config.plan.records())
    assert len(records) == 1 + 2 * 2 * 4  # the dense training (magnitude needs it), 2 densities x 2 criteria x 4
    total = config.total_prunable()
    for r in records:
        if r["arm"] == "dense":
            assert r["density"] == 1.0
            continue
        density = config.plan.ordered_densities()[r["round"] - 1]
        assert r["density"] * total == round(density * total)  # exactly the count asked
        assert oneshot_arm(r["criterion"], r["control"]) == r["arm"]
        assert r["pruned_nonzero"] == 0
    assert store.status(run_id)["state"] == "done"


@pytest.mark.trains
def test_kept_masks_are_the_criteria_masks(oneshot_run, sample):
    """Each mask recomputed here from its definition: magnitude from the kept dense network, SNIP from the
    gradient at theta0 on the scoring batch; controls: the shuffle keeps per-layer counts, invert the lowest."""
    from lth import models
    from lth.experiments import derive_seed

    store, run_id, _ = oneshot_run
    config = RunConfig.from_json(store.config_and_record(run_id)[0]["config"])
    layers = list(config.prunable_layers)
    dense = kept_networks.network(store, run_id, "dense", 0).kernels()
    model = models.build(config.model, config.seed)
    x, y = criteria.scoring_batch(sample.x_train, sample.y_train, derive_seed(config.seed, "scoring"))
    expected_scores = {
        "magnitude": {n: np.abs(dense[n]) for n in layers},
        "snip": criteria.snip_scores(model, layers, x, y),
    }
    for round_, density in enumerate(config.plan.ordered_densities(), start=1):
        count = config.plan.keep_counts(density)
        for name, scores in expected_scores.items():
            kept = kept_networks.network(store, run_id, name, round_)
            expected = pruning.keep_highest(scores, count)
            assert all(np.array_equal(kept.masks[n], expected[n]) for n in layers), (name, round_)
            for n in layers:  # the trained weights outside the mask are exactly zero
                assert not np.any(kept.kernels()[n][kept.masks[n] == 0])
            shuffled = kept_networks.network(store, run_id, f"{name}-random_prune", round_).masks
            assert pruning.layer_density(shuffled) == pruning.layer_density(kept.masks)
            assert any(not np.array_equal(shuffled[n], kept.masks[n]) for n in layers)
            inverted = kept_networks.network(store, run_id, f"{name}-invert", round_).masks
            assert sum(int(m.sum()) for m in inverted.values()) == count
            assert all(not np.any((inverted[n] > 0) & (kept.masks[n] > 0)) for n in layers)  # d <= 0.5: disjoint
            reinit = kept_networks.network(store, run_id, f"{name}-reinit", round_)
            assert all(np.array_equal(reinit.masks[n], kept.masks[n]) for n in layers)
        # reinit trains the same mask from other initial weights: another network
        assert not np.array_equal(
            kept_networks.network(store, run_id, "snip-reinit", round_).weights[0],
            kept_networks.network(store, run_id, "snip", round_).weights[0],
        )


@pytest.mark.slow
def test_killed_oneshot_worker_resumes_at_its_next_density_and_checks_what_it_keeps(tmp_path):
    """Killed after its first density; then its kept dense network is replaced by another well-formed one and
    the first density's records edited: resume names both, trains them again, and ends where an uninterrupted
    run ends."""
    store = RunStore(tmp_path / "cache")
    args = [
        "--experiment",
        "oneshot",
        "--iterations",
        "200",
        "--eval-every",
        "100",
        "--criteria",
        "magnitude,random",
        "--densities",
        "0.5,0.2,0.1",
    ]
    run_id = run_cli("submit", *args, "--cache-dir", str(store.root)).stdout.strip()
    checkpoint = store.path(run_id) / "checkpoint"
    wait_for(lambda: (checkpoint / "round_01.json").is_file())
    os.kill(store.status(run_id)["pid"], signal.SIGKILL)
    wait_for(lambda: store.status(run_id)["state"] == "failed", timeout=10)
    with np.load(checkpoint / "net_dense_00.npz") as f:
        arrays = dict(f)
    arrays["weights/0"] = arrays["weights/0"][::-1].copy()  # same shape and type: only its hash tells
    np.savez_compressed(checkpoint / "net_dense_00.npz", **arrays)
    records = json.loads((checkpoint / "round_01.json").read_text())
    records[0]["density"] = 0.7
    (checkpoint / "round_01.json").write_text(json.dumps(records))
    assert run_cli("resume", run_id, "--cache-dir", str(store.root)).returncode == 0
    wait_for(lambda: store.status(run_id)["state"] == "done", timeout=240)
    log = (store.path(run_id) / "log.txt").read_text()
    assert "net_dense_00.npz is not the network its round recorded" in log and "training again from round 0" in log
    reference = run_cli("run", *args, "--cache-dir", str(tmp_path / "other"))
    assert reference.returncode == 0, reference.stderr

    def strip(records):
        return sorted(
            ({k: v for k, v in r.items() if k not in ("train_seconds", "network_sha256")} for r in records),
            key=lambda r: (r["round"], r["arm"]),
        )

    assert strip(store.results(run_id)["results"]) == strip(json.loads(reference.stdout.splitlines()[-1])["results"])


@pytest.mark.trains
def test_a_round_that_is_not_what_the_run_makes_is_trained_again(oneshot_run, tmp_path):
    """The checkpoint's check of a round, without a worker: each well-formed edit of a finished round's records
    or of a network it recorded makes the round unusable (it would be trained again)."""
    import shutil

    from lth.checkpoint import CheckpointError, RoundCheckpoint

    store, run_id, _ = oneshot_run
    config = store.config(run_id)
    edits = {
        "density": lambda rs: [{**rs[0], "density": 0.7}, *rs[1:]],
        "an arm missing": lambda rs: rs[1:],
        "an arm twice": lambda rs: [rs[0], *rs],
        "another network": None,
    }
    for name, edit in edits.items():
        folder = tmp_path / name.replace(" ", "-")
        shutil.copytree(store.path(run_id) / "checkpoint", folder)
        checkpoint = RoundCheckpoint(folder)
        assert checkpoint.load_round(1, config.plan) is not None
        if edit is None:
            shutil.copy(folder / "net_snip_02.npz", folder / "net_snip_01.npz")
        else:
            records = json.loads((folder / "round_01.json").read_text())
            (folder / "round_01.json").write_text(json.dumps(edit(records)))
        with pytest.raises(CheckpointError):
            checkpoint.load_round(1, config.plan)


@pytest.mark.parametrize(
    "edit",
    [
        "density off by one weight",
        "criterion of another arm",
        "control on a plain arm",
        "a layer it does not prune",
        "layers not adding up",
    ],
)
@pytest.mark.trains
def test_results_a_oneshot_run_cannot_have_made_are_corrupt(oneshot_run, tmp_path, monkeypatch, edit):
    import shutil

    store, run_id, _ = oneshot_run
    copy = RunStore(tmp_path / "cache")
    shutil.copytree(store.path(run_id), copy.path(run_id))
    summary = json.loads((copy.path(run_id) / "results.json").read_text())
    record = next(r for r in summary["results"] if r["arm"] == "snip")
    total = RunConfig.from_json(copy.config_and_record(run_id)[0]["config"]).total_prunable()
    if edit == "density off by one weight":
        record["density"] += 1 / total
    elif edit == "criterion of another arm":
        record["criterion"] = "grasp"
    elif edit == "control on a plain arm":
        record["control"] = "invert"
    elif edit == "a layer it does not prune":
        record["layer_density"]["conv9"] = 0.5
    else:
        record["layer_density"]["fc1"] = 0.9
    (copy.path(run_id) / "results.json").write_text(json.dumps(summary))
    row = run_tables.run_row(copy, run_id)
    assert row["state"] == "corrupt", edit
    assert run_tables.results_frame(copy).empty
    # its status says done, its results are corrupt: it resumes (from its checkpoint) instead of being stuck
    from lth.runs import queue

    monkeypatch.setattr(queue, "schedule", lambda store: None)  # queued again; no worker needed to see it
    assert queue.resume(run_id, copy).outcome == queue.Outcome.RESUMED
    assert copy.status(run_id)["state"] == "queued"


@pytest.mark.trains
def test_a_kept_network_without_its_mask_is_refused(oneshot_run, tmp_path):
    import shutil

    from lth.networks import NetworkError

    store, run_id, _ = oneshot_run
    copy = RunStore(tmp_path / "cache")
    shutil.copytree(store.path(run_id), copy.path(run_id))
    path = copy.path(run_id) / "checkpoint" / "net_snip_01.npz"
    with np.load(path) as f:
        arrays = {k: v for k, v in f.items() if not k.startswith("mask/")}
    np.savez_compressed(path, **arrays)
    with pytest.raises(NetworkError, match="net_snip_01.npz is not the file"):  # not the file its record names
        kept_networks.network(copy, run_id, "snip", 1)
    import json

    from lth.fsutil import file_sha256

    results = json.loads((copy.path(run_id) / "results.json").read_text())  # the record made to name it
    next(r for r in results["results"] if (r["arm"], r["round"]) == ("snip", 1))["network_sha256"] = file_sha256(path)
    copy.write_results(run_id, results)
    with pytest.raises(NetworkError, match="does not hold the masks"):  # then its content is checked
        kept_networks.network(copy, run_id, "snip", 1)


@pytest.mark.trains
def test_late_rewinding_point_is_reached_whatever_the_patience(sample):
    """Patience does not stop a training before the weights at k are taken (the reset point of the run)."""
    from lth import models
    from lth.training import Trainer

    trainer = Trainer(models.build("lenet300_100", 0), sample, optimizer="adam", lr=0.05, batch_size=60)
    result = trainer.fit(iterations=300, eval_every=5, data_seed=0, patience=1, snapshot_at=250)
    assert result.snapshot is not None and result.final_iteration >= 250


@pytest.mark.parametrize(
    "args, message",
    [
        (["--criteria", "snip,bogus"], "unknown bogus"),
        (["--densities", "0"], "--densities must be at least"),
        (["--densities", "0.5,1.0"], "--densities must be below 1"),
        (["--densities", "0.2,0.2"], "lists a value twice"),
        (["--model", "lenet5", "--prunable", "fc2", "--densities", "0.00005"], "keeps no weight"),
        (["--controls", "bogus"], "unknown bogus"),
        (["--densities", "0.2,,0.1"], "has an empty item"),
        (["--criteria", "snip,"], "has an empty item"),
        (["--densities", "0.2,0.2000000001"], "keep the same 53,240 weights"),
        (["--densities", "0.001", "--prune-rate", "1e-9"], "out of reach of the layerwise split"),
        (["--densities", "0.001", "--output-prune-rate", "0"], "out of reach of the layerwise split"),
        (["--rewind", "100", "--iterations", "100"], "--rewind 100 must be below the 100 training iterations"),
        (["--criteria", "x" * 1000], "unknown " + "x" * 40 + "…; choose"),
    ],
)
def test_bad_oneshot_settings_are_one_line(tmp_path, capsys, args, message):
    from lth import cli

    with pytest.raises(SystemExit) if "twice" in message or "empty item" in message else _returns(2):
        code = cli.main(["submit", "--experiment", "oneshot", *args, "--cache-dir", str(tmp_path / "c")])
        assert code == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "c").exists() or not list((tmp_path / "c").glob("*/config.json"))


@pytest.mark.parametrize(
    "experiment, option, value",
    [
        ("baseline", "--criteria", "snip"),
        ("lottery", "--densities", "0.2"),
        ("tfmot", "--controls", "reinit"),
        ("lottery", "--controls", "invert"),
        ("oneshot", "--target-density", "0.2"),
        ("oneshot", "--rounds", "3"),
    ],
)
def test_settings_of_another_experiment_are_refused(tmp_path, capsys, experiment, option, value):
    from lth import cli

    extra = ["--target-density", "0.1"] if experiment == "tfmot" else []
    assert (
        cli.main(["submit", "--experiment", experiment, option, value, *extra, "--cache-dir", str(tmp_path / "c")]) == 2
    )
    err = capsys.readouterr().err
    assert "applies to --experiment" in err and len(err.strip().splitlines()) == 1


def test_lottery_criterion_changes_the_masks_and_the_id():
    magnitude = RunConfig(experiment="lottery")
    movement = RunConfig(experiment="lottery", criterion="movement").validate()
    assert "criterion" not in magnitude.canonical()  # ids of runs made before the setting stay
    assert hparams.run_id(magnitude, "x") != hparams.run_id(movement, "x")
    with pytest.raises(hparams.ConfigError):
        RunConfig(experiment="lottery", criterion="snip").validate()


class _returns:
    """A context that expects no exception (the one-line error is a return value)."""

    def __init__(self, code):
        self.code = code

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_lottery_rounds_prune_by_the_chosen_criterion(sample):
    """IMP's next masks come from its criterion's scores: movement keeps the weights that moved most."""
    from lth.device import training_device
    from lth.experiments import Lottery

    config = RunConfig(experiment="lottery", criterion="movement", rounds=1).validate()
    lottery = Lottery(config, sample, training_device(), None)
    rng = np.random.default_rng(0)
    shapes = config.prunable_shapes()
    theta0 = {n: rng.normal(size=s).astype(np.float32) for n, s in shapes.items()}
    trained = {n: theta0[n] + rng.normal(size=s).astype(np.float32) for n, s in shapes.items()}
    masks = pruning.dense_masks(shapes, shapes)
    got = lottery.prune(trained, masks, theta0)
    expected = pruning.prune_layerwise({n: np.abs(trained[n] - theta0[n]) for n in shapes}, masks, config.layer_rates())
    magnitude = pruning.prune_layerwise({n: np.abs(trained[n]) for n in shapes}, masks, config.layer_rates())
    assert all(np.array_equal(got[n], expected[n]) for n in shapes)
    assert any(not np.array_equal(got[n], magnitude[n]) for n in shapes)
