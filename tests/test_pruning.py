import numpy as np
import pytest

from lth import pruning
from lth.hparams import RunConfig

PAPER_LADDER = [100, 80.0, 64.1, 51.3, 41.1, 32.9, 26.3, 21.1, 16.9, 13.5, 10.8, 8.7, 7.0, 5.6, 4.5, 3.6]


def test_lenet300_density_ladder_is_the_papers():
    ladder = RunConfig(experiment="lottery", rounds=15).validate().plan.density_ladder()
    assert [round(100 * step["density"], 1) for step in ladder] == PAPER_LADDER


def test_layerwise_pruning_follows_the_ladder_exactly():
    """Real masks over 15 rounds: every layer loses round(rate * remaining), the smallest first."""
    config = RunConfig(experiment="lottery", rounds=15).validate()
    rng = np.random.default_rng(0)
    shapes = config.prunable_shapes()
    masks = pruning.dense_masks(shapes, shapes)
    ladder = config.plan.density_ladder()
    for step in ladder:
        assert pruning.overall_density(masks) == pytest.approx(step["density"], abs=1e-12)
        assert pruning.layer_density(masks) == pytest.approx(step["layer_density"], abs=1e-12)
        if step is ladder[-1]:
            break
        weights = {n: rng.normal(size=s).astype(np.float32) for n, s in shapes.items()}
        new = pruning.prune_layerwise({n: np.abs(w) for n, w in weights.items()}, masks, config.layer_rates())
        for n in shapes:
            alive_before = masks[n] > 0
            removed = alive_before & (new[n] == 0)
            kept = new[n] > 0
            assert not np.any(kept & ~alive_before)  # pruned weights never come back
            if removed.any() and kept.any():
                assert np.abs(weights[n][removed]).max() <= np.abs(weights[n][kept]).min()
        masks = new
    assert pruning.layer_density(masks)["fc1"] == pytest.approx(0.8**15, abs=1e-4)
    assert pruning.layer_density(masks)["out"] == pytest.approx(0.9**15, abs=1e-2)


def test_global_pruning_ranks_across_layers():
    weights = {"a": np.array([[0.1, 5.0], [0.2, 6.0]], np.float32), "b": np.array([[3.0, 0.05, 4.0, 0.3]], np.float32)}
    masks = {n: np.ones_like(w) for n, w in weights.items()}
    new = pruning.prune_global({n: np.abs(w) for n, w in weights.items()}, masks, 0.5)  # 4 of 8 go: 0.05, 0.1, 0.2, 0.3
    assert new["a"].tolist() == [[0, 1], [0, 1]]
    assert new["b"].tolist() == [[1, 0, 1, 0]]
    # of 3.0, 4.0, 5.0, 6.0: 3.0 and 4.0 go
    again = pruning.prune_global({n: np.abs(w) for n, w in weights.items()}, new, 0.5)
    assert again["b"].sum() == 0 and again["a"].tolist() == [[0, 1], [0, 1]]


def test_global_ladder_total_is_exact():
    config = RunConfig(experiment="lottery", rounds=5, scope="global").validate()
    shapes = config.prunable_shapes()
    rng = np.random.default_rng(1)
    masks = pruning.dense_masks(shapes, shapes)
    for step in config.plan.density_ladder():
        assert pruning.overall_density(masks) == pytest.approx(step["density"], abs=1e-12)
        weights = {n: rng.normal(size=s) for n, s in shapes.items()}
        masks = pruning.prune_global({n: np.abs(w) for n, w in weights.items()}, masks, config.prune_rate)


def test_random_masks_keep_each_layers_density():
    rng = np.random.default_rng(3)
    masks = {"a": (rng.random((50, 40)) < 0.3).astype(np.float32), "b": (rng.random(100) < 0.7).astype(np.float32)}
    rand = pruning.random_masks_like(masks, np.random.default_rng(4))
    assert pruning.layer_density(rand) == pruning.layer_density(masks)
    assert not np.array_equal(rand["a"], masks["a"])


def test_target_density_sets_rounds():
    assert RunConfig(experiment="lottery", target_density=0.036).validate().plan.last_round() == 15
    assert RunConfig(experiment="lottery", target_density=0.05).validate().plan.last_round() == 14
