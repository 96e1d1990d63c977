"""The one-shot experiment end to end: real training on the bundled sample, masks recomputed from the kept
networks, controls, a killed worker resumed, and bad settings refused in one line."""
import json
import os
import signal

import numpy as np
import pytest

from conftest import run_cli, wait_for
from lth import criteria, hparams, pruning
from lth.arms import oneshot_arm
from lth.hparams import RunConfig
from lth.runs import RunStore
from lth.runs import kept as kept_networks

ARGS = ["--experiment", "oneshot", "--iterations", "100", "--eval-every", "50", "--scope", "global",
        "--criteria", "snip,magnitude,random", "--densities", "0.3,0.05", "--controls", "random_prune,reinit,invert"]


@pytest.fixture(scope="module")
def oneshot_run(tmp_path_factory):
    store = RunStore(tmp_path_factory.mktemp("oneshot") / "cache")
    done = run_cli("run", *ARGS, "--cache-dir", str(store.root))
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.splitlines()[-1])
    (run_id,) = store.run_ids()
    return store, run_id, summary


def test_records_are_the_planned_trainings_at_the_planned_densities(oneshot_run):
    store, run_id, summary = oneshot_run
    config = RunConfig.from_json(store.config_and_record(run_id)[0]["config"])
    records = summary["results"]
    assert sorted((r["arm"], r["round"]) for r in records) == sorted(hparams.planned_records(config))
    assert len(records) == 1 + 2 * 3 * 4  # the dense training (magnitude needs it), 2 densities x 3 criteria x 4
    total = config.total_prunable()
    for r in records:
        if r["arm"] == "dense":
            assert r["density"] == 1.0
            continue
        density = config.oneshot_densities()[r["round"] - 1]
        assert r["density"] * total == round(density * total)  # exactly the count asked
        assert oneshot_arm(r["criterion"], r["control"]) == r["arm"]
        assert r["pruned_nonzero"] == 0
    assert store.status(run_id)["state"] == "done"


def test_kept_masks_are_the_criteria_masks(oneshot_run, sample):
    """Each mask recomputed here from its definition: magnitude from the kept dense network, SNIP from the
    gradient at theta0 on the scoring batch; controls: the shuffle keeps per-layer counts, invert the lowest."""
    from lth.experiments import derive_seed
    from lth import models

    store, run_id, _ = oneshot_run
    config = RunConfig.from_json(store.config_and_record(run_id)[0]["config"])
    layers = list(config.prunable_layers)
    dense = kept_networks.network(store, run_id, "dense", 0).kernels()
    model = models.build(config.model, config.seed)
    x, y = criteria.scoring_batch(sample.x_train, sample.y_train, derive_seed(config.seed, "scoring"))
    expected_scores = {"magnitude": {n: np.abs(dense[n]) for n in layers},
                       "snip": criteria.snip_scores(model, layers, x, y)}
    for round_, density in enumerate(config.oneshot_densities(), start=1):
        count = config.keep_counts(density)
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
            assert all(np.array_equal(kept_networks.network(store, run_id, f"{name}-reinit", round_).masks[n], kept.masks[n])
                       for n in layers)
        # reinit trains the same mask from other initial weights: another network
        assert not np.array_equal(kept_networks.network(store, run_id, "snip-reinit", round_).weights[0],
                                  kept_networks.network(store, run_id, "snip", round_).weights[0])


@pytest.mark.slow
def test_killed_oneshot_worker_resumes_at_its_next_density(tmp_path):
    store = RunStore(tmp_path / "cache")
    args = ["--experiment", "oneshot", "--iterations", "300", "--eval-every", "100", "--criteria",
            "magnitude_init,random", "--densities", "0.5,0.2,0.1"]
    run_id = run_cli("submit", *args, "--cache-dir", str(store.root)).stdout.strip()
    wait_for(lambda: (store.path(run_id) / "checkpoint" / "round_01.json").is_file())
    os.kill(store.status(run_id)["pid"], signal.SIGKILL)
    wait_for(lambda: store.status(run_id)["state"] == "failed", timeout=10)
    assert run_cli("resume", run_id, "--cache-dir", str(store.root)).returncode == 0
    wait_for(lambda: store.status(run_id)["state"] == "done", timeout=180)
    assert "round_01" not in (store.path(run_id) / "log.txt").read_text()  # density 1 was not trained again
    reference = run_cli("run", *args, "--cache-dir", str(tmp_path / "other"))
    assert reference.returncode == 0, reference.stderr

    def strip(records):
        return sorted(({k: v for k, v in r.items() if k != "train_seconds"} for r in records),
                      key=lambda r: (r["round"], r["arm"]))
    assert strip(store.results(run_id)["results"]) == strip(json.loads(reference.stdout.splitlines()[-1])["results"])
    # no dense network: at-init criteria need none
    assert all(r["arm"] != "dense" for r in store.results(run_id)["results"])


@pytest.mark.parametrize("args, message", [
    (["--criteria", "snip,bogus"], "unknown bogus"),
    (["--densities", "0"], "--densities must be at least"),
    (["--densities", "0.5,1.0"], "--densities must be below 1"),
    (["--densities", "0.2,0.2"], "lists a value twice"),
    (["--model", "lenet5", "--prunable", "fc2", "--densities", "0.00005"], "keeps no weight"),
    (["--controls", "bogus"], "unknown bogus"),
])
def test_bad_oneshot_settings_are_one_line(tmp_path, capsys, args, message):
    from lth import cli

    with pytest.raises(SystemExit) if "twice" in message else _returns(2):
        code = cli.main(["submit", "--experiment", "oneshot", *args, "--cache-dir", str(tmp_path / "c")])
        assert code == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "c").exists() or not list((tmp_path / "c").glob("*/config.json"))


@pytest.mark.parametrize("experiment, option, value", [
    ("baseline", "--criteria", "snip"), ("lottery", "--densities", "0.2"), ("tfmot", "--controls", "reinit"),
    ("lottery", "--controls", "invert"), ("oneshot", "--target-density", "0.2"), ("oneshot", "--rounds", "3"),
])
def test_settings_of_another_experiment_are_refused(tmp_path, capsys, experiment, option, value):
    from lth import cli

    extra = ["--target-density", "0.1"] if experiment == "tfmot" else []
    assert cli.main(["submit", "--experiment", experiment, option, value, *extra,
                     "--cache-dir", str(tmp_path / "c")]) == 2
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
