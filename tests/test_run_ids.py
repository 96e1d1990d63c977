"""Golden run ids: a run's id is the hash of its canonical settings and its data's fingerprint, so a change
of the canonical form (a renamed setting, a new default, a setting that stops being dropped where it does
not apply) would silently re-key every cached run and every committed result set. These ids were computed
before the registries were reworked (issue 28) and must never change; a change that has to re-key runs
edits this file and says so in the changelog."""

import dataclasses

import pytest

from lth import presets
from lth.hparams import RunConfig, run_id

FINGERPRINT = "0123456789abcdef"

GOLDEN = {
    "3ee2ce2619414224": RunConfig(),
    "1a1ad9c341b4eb3b": RunConfig(model="lenet5", dataset="fashion-mnist", epochs=2.5),
    "1514b7eccd40292d": RunConfig(experiment="lottery", rounds=15, controls=("reinit", "random_prune")),
    "415100b53a7c5f3e": RunConfig(experiment="lottery", rounds=5, rewind=500, scope="global", criterion="movement"),
    "03fbf85c2a43445e": RunConfig(experiment="tfmot", model="lenet5", target_density=0.1, iterations=5000),
    "75f8b9d5e9202575": RunConfig(
        experiment="oneshot",
        criteria=("synflow", "snip", "grasp", "random", "magnitude_init", "magnitude"),
        densities=(0.211, 0.036),
        scope="global",
        controls=("random_prune", "reinit", "invert"),
    ),
    "33297093ed7587bb": RunConfig(experiment="instability", rewind_points=(0, 500)),
}

# (preset, budget): the first and last run's ids and the number of runs
GOLDEN_PRESETS = {
    ("original-study", "quick"): ("e6c2d2c42e2cd9e8", "20ec5a7ac4c72853", 24),
    ("original-study", "full"): ("79335cb43bd34bc4", "c54a89abb6311887", 16),
    ("original-study", "converged"): ("e26a6149521c68e5", "894078bb4a4b87f6", 24),
    ("frankle-carbin-lenet300", "quick"): ("fa9d0b321ec4df6d", "854508713d7399db", 3),
    ("frankle-carbin-lenet300", "full"): ("c34fb56a3e905db2", "223ffeb1c01790dd", 3),
    ("frankle-carbin-conv2", "quick"): ("651979c1c8e06368", "cd1a9a6ff20388be", 6),  # added with Conv-2
    ("frankle-carbin-conv2", "full"): ("81b9dcad3c2269a1", "108da8e1ee28f97d", 6),  # 6 rounds of 1,000 (was 7 of 1,250)
    ("pruning-methods", "quick"): ("dc58234667f2ff4c", "cb5c9a7df5fcf649", 9),
    ("pruning-methods", "full"): ("aa43a6020a1da95c", "1755d27f04ee8b5e", 9),
}


@pytest.mark.parametrize("expected", list(GOLDEN))
def test_run_ids_of_the_existing_experiments_never_change(expected):
    assert run_id(GOLDEN[expected], FINGERPRINT) == expected


@pytest.mark.parametrize("preset, budget", list(GOLDEN_PRESETS))
def test_run_ids_of_the_presets_never_change(preset, budget):
    try:
        configs = presets.PRESETS[preset].configs(budget)
    except ValueError:  # a full budget names its dataset
        configs = presets.PRESETS[preset].configs(budget, "fashion-mnist")
    first, last, count = GOLDEN_PRESETS[(preset, budget)]
    assert (run_id(configs[0], FINGERPRINT), run_id(configs[-1], FINGERPRINT), len(configs)) == (first, last, count)


def test_every_setting_changes_the_id_only_where_it_applies():
    """The golden ids would not notice a setting that enters the canonical form of an experiment it does not
    apply to: each setting's declared experiments are exactly where changing it changes the id."""
    from lth import hparams

    base = {config.experiment: config for config in GOLDEN.values()}
    assert set(base) == set(hparams.EXPERIMENTS)  # every experiment has a golden id
    changed = {
        "seed": 3,
        "lr": 0.01,
        "eval_every": 500,
        "patience": 5,
        "batch_size": 120,
        "rounds": 4,
        "rewind": 100,
        "criteria": ("snip",),
        "rewind_points": (0, 100),
    }
    for setting, value in changed.items():
        applies = hparams.setting_facets(setting)["experiments"] or tuple(base)
        for experiment, config in base.items():
            other = dataclasses.replace(config, **{setting: value})
            differs = run_id(other, FINGERPRINT) != run_id(config, FINGERPRINT)
            assert differs == (experiment in applies), (setting, experiment)
