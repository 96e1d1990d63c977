import pytest

from lth.hparams import ConfigError, RunConfig, run_id


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(experiment="x"), "--experiment"),
        (dict(iterations=10, epochs=2), "not both"),
        (dict(iterations=0), "--iterations"),
        (dict(lr=-1.0), "--lr"),
        (dict(lr=float("nan")), "--lr"),
        (dict(batch_size=0), "--batch-size"),
        (dict(experiment="lottery", prune_rate=1.0), "--prune-rate"),
        (dict(experiment="lottery", rounds=3, target_density=0.1), "not both"),
        (dict(experiment="lottery", target_density=1.5), "--target-density"),
        (dict(experiment="lottery", prunable=("fc9",)), "fc9 not in lenet300_100"),
        (dict(experiment="lottery", controls=("shuffle",)), "unknown shuffle"),
        (dict(experiment="baseline", controls=("reinit",)), "applies to --experiment lottery or oneshot only"),
        (dict(experiment="baseline", scope="global"), "--scope applies to"),
        (dict(experiment="tfmot", target_density=0.1, rewind=5), "--rewind applies to"),
        (dict(experiment="tfmot"), "needs --target-density"),
        (dict(experiment="lottery", rewind=-3), "--rewind"),
    ],
)
def test_invalid_combinations_are_refused(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        RunConfig(**kwargs).validate()


def test_dataset_dependent_checks():
    with pytest.raises(ConfigError, match="exceeds the 4500"):
        RunConfig(batch_size=5000).validate_against(4500)
    with pytest.raises(ConfigError, match="--rewind 500 must be below"):
        RunConfig(experiment="lottery", iterations=500, rewind=500).validate_against(4500)


def test_run_id_depends_on_what_changes_results_only():
    a = RunConfig(experiment="baseline", iterations=100)
    assert run_id(a, "d") == run_id(RunConfig(experiment="baseline", iterations=100, prune_rate=0.5), "d")
    assert run_id(a, "d") != run_id(RunConfig(experiment="baseline", iterations=100, seed=1), "d")
    assert run_id(a, "d") != run_id(a, "other-data")
    # target density and the rounds it implies are the same run
    assert run_id(RunConfig(experiment="lottery", target_density=0.036), "d") == run_id(
        RunConfig(experiment="lottery", rounds=15), "d"
    )
    assert run_id(RunConfig(experiment="lottery", controls=("reinit", "random_prune")), "d") == run_id(
        RunConfig(experiment="lottery", controls=("random_prune", "reinit")), "d"
    )


def test_json_round_trip():
    c = RunConfig(experiment="lottery", prunable=("fc1",), controls=("reinit",), rewind=7)
    assert RunConfig.from_json(c.to_json()) == c
    with pytest.raises(ConfigError, match="unknown settings: bogus"):
        RunConfig.from_json({**c.to_json(), "bogus": 1})


def test_schedule_length_sets_the_tfmot_schedule_and_changes_no_other_run_id():
    tfmot = RunConfig(
        experiment="tfmot",
        model="lenet5",
        target_density=0.1,
        epochs=200,
        batch_size=600,
        patience=10,
        schedule_length=1547,
    )
    # the study's proportions of the stated length, not of the 200-pass cap: 20% to 60%, every 2%
    assert tfmot.plan.schedule(tfmot.total_iterations(55_000)) == (309, 939, 30)
    assert tfmot.canonical()["schedule_length"] == 1547
    plain = RunConfig(experiment="tfmot", model="lenet5", target_density=0.1, iterations=300)
    assert "schedule_length" not in plain.canonical()  # ids of runs made before it existed are unchanged
    assert plain.plan.schedule(300) == (60, 180, 6)
    with pytest.raises(ConfigError, match="--schedule-length applies to --experiment tfmot only"):
        RunConfig(experiment="lottery", schedule_length=100).validate()
    with pytest.raises(ConfigError, match="--schedule-length must be at least 10"):
        RunConfig(experiment="tfmot", target_density=0.5, schedule_length=9).validate()
    with pytest.raises(ConfigError, match="exceeds the 300 training iterations"):
        RunConfig(experiment="tfmot", target_density=0.5, iterations=300, schedule_length=301).validate_against(4500)


def test_converged_preset_is_fixed_before_its_runs():
    from lth import presets

    preset = presets.PRESETS["original-study"]
    configs = preset.configs("converged")
    assert len(configs) == 24 and {c.dataset for c in configs} == {"fashion-mnist"}
    assert all(c.patience == 10 and c.epochs == 200 and c.lr == 0.01 and c.batch_size == 600 for c in configs)
    assert {c.schedule_length for c in configs if c.experiment == "tfmot"} == {1547}
    assert [c.seed for c in configs] == [0] * 8 + [1] * 8 + [2] * 8  # seed by seed
    # the estimate uses the measured mean length, not the 200-pass cap
    capped = presets.estimate_seconds(configs, 55_000, 5_000, 10_000)
    assert preset.estimate_seconds("converged", configs) < capped / 4
    with pytest.raises(ValueError, match="unknown budget"):
        presets.PRESETS["frankle-carbin-lenet300"].configs("converged")
