import pytest

from lth.hparams import ConfigError, RunConfig, run_id


@pytest.mark.parametrize("kwargs, message", [
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
    (dict(experiment="baseline", controls=("reinit",)), "lottery only"),
    (dict(experiment="tfmot"), "needs --target-density"),
    (dict(experiment="lottery", rewind=-3), "--rewind"),
])
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
    assert run_id(RunConfig(experiment="lottery", target_density=0.036), "d") == \
        run_id(RunConfig(experiment="lottery", rounds=15), "d")
    assert run_id(RunConfig(experiment="lottery", controls=("reinit", "random_prune")), "d") == \
        run_id(RunConfig(experiment="lottery", controls=("random_prune", "reinit")), "d")


def test_json_round_trip():
    c = RunConfig(experiment="lottery", prunable=("fc1",), controls=("reinit",), rewind=7)
    assert RunConfig.from_json(c.to_json()) == c
    with pytest.raises(ConfigError, match="unknown settings: bogus"):
        RunConfig.from_json({**c.to_json(), "bogus": 1})
