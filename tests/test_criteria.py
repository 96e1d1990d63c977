"""Pruning criteria against hand-computed and finite-difference values on tiny networks, and the masks they
make: the density kept is the density asked, layerwise and global."""

import numpy as np
import pytest

from lth import criteria, pruning
from lth.hparams import RunConfig


def tiny_model(seed=0):
    """4 inputs -> 3 ReLU -> 2 logits, in float64 so finite differences are exact to ~1e-8."""
    from lth.tf_setup import keras

    init = keras.initializers.RandomNormal(stddev=0.8, seed=seed)
    model = keras.Sequential(
        [
            keras.layers.Dense(
                3, activation="relu", kernel_initializer=init, bias_initializer=init, name="fc1", dtype="float64"
            ),
            keras.layers.Dense(2, kernel_initializer=init, bias_initializer=init, name="out", dtype="float64"),
        ]
    )
    model.build((None, 4))
    return model


def batch():
    rng = np.random.default_rng(1)
    return rng.normal(size=(6, 4)), np.array([0, 1, 0, 1, 1, 0])


def loss_at(model, kernels, x, y, temperature=1.0):
    """Mean cross-entropy of logits / T with the given kernels (NumPy: an independent computation)."""
    (b1, b2) = (model.get_layer("fc1").bias.numpy(), model.get_layer("out").bias.numpy())
    hidden = np.maximum(x @ kernels["fc1"] + b1, 0)
    logits = (hidden @ kernels["out"] + b2) / temperature
    logits -= logits.max(axis=1, keepdims=True)
    log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    return -log_p[np.arange(len(y)), y].mean()


def numeric_gradient(f, kernels, eps=1e-6):
    grads = {}
    for name, k in kernels.items():
        g = np.zeros_like(k)
        for index in np.ndindex(k.shape):
            up = {n: v.copy() for n, v in kernels.items()}
            down = {n: v.copy() for n, v in kernels.items()}
            up[name][index] += eps
            down[name][index] -= eps
            g[index] = (f(up) - f(down)) / (2 * eps)
        grads[name] = g
    return grads


def kernels_of(model):
    return {n: model.get_layer(n).kernel.numpy().copy() for n in ("fc1", "out")}


def test_snip_is_the_gradient_times_the_weight():
    model, (x, y) = tiny_model(), batch()
    theta = kernels_of(model)
    g = numeric_gradient(lambda k: loss_at(model, k, x, y), theta)
    scores = criteria.snip_scores(model, ["fc1", "out"], x, y)
    for n in theta:
        np.testing.assert_allclose(scores[n], np.abs(g[n] * theta[n]), rtol=1e-5, atol=1e-9)


def test_grasp_is_the_weight_times_the_hessian_gradient_product():
    model, (x, y) = tiny_model(2), batch()
    theta = kernels_of(model)
    T = criteria.GRASP_TEMPERATURE

    def grad(k):
        return numeric_gradient(lambda kk: loss_at(model, kk, x, y, T), k, eps=1e-5)

    g = grad(theta)
    eps = 1e-3 / max(np.abs(v).max() for v in g.values())
    plus = grad({n: theta[n] + eps * g[n] for n in theta})
    minus = grad({n: theta[n] - eps * g[n] for n in theta})
    hg = {n: (plus[n] - minus[n]) / (2 * eps) for n in theta}
    scores = criteria.grasp_scores(model, ["fc1", "out"], x, y)
    scale = max(np.abs(theta[n] * hg[n]).max() for n in theta)
    for n in theta:
        np.testing.assert_allclose(scores[n], theta[n] * hg[n], atol=1e-3 * scale)
    assert any(np.abs(s).max() > 0 for s in scores.values())


def test_synflow_matches_the_hand_computed_path_sums():
    """R = 1' (|W2|' (|W1|' 1 + |b1|) + |b2|): every unit is active, so dR/dW1[i,j] = sum_k |W2[j,k]| and
    dR/dW2[j,k] = sum_i |W1[i,j]| + |b1[j]|."""
    model = tiny_model(3)
    w1, w2 = np.abs(model.get_layer("fc1").kernel.numpy()), np.abs(model.get_layer("out").kernel.numpy())
    b1 = np.abs(model.get_layer("fc1").bias.numpy())
    masks = {"fc1": np.ones_like(w1, np.float32), "out": np.ones_like(w2, np.float32)}
    masks["fc1"][0, 1] = 0  # a pruned weight carries no flow and scores zero
    w1m = w1 * masks["fc1"]
    before = [w.copy() for w in model.get_weights()]
    scores = criteria.synflow_scores(model, ["fc1", "out"], masks)
    np.testing.assert_allclose(scores["fc1"], w1m * w2.sum(axis=1)[None, :], rtol=1e-6)
    np.testing.assert_allclose(scores["out"], w2 * (w1m.sum(axis=0) + b1)[:, None], rtol=1e-6)
    assert scores["fc1"][0, 1] == 0
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))  # weights restored


def test_synflow_iterates_to_the_exact_density():
    model = tiny_model(4)

    def keep(scores, alive, d):
        return pruning.keep_highest(scores, max(1, round(d * 18)), alive)

    masks = criteria.synflow_masks(model, ["fc1", "out"], keep, 0.3, steps=10)
    assert sum(int(m.sum()) for m in masks.values()) == round(0.3 * 18)


def test_weight_criteria_by_hand():
    theta0 = {"a": np.array([[1.0, -2.0, 0.5]]), "b": np.array([[0.1, -0.3]])}
    final = {"a": np.array([[-3.0, -2.5, 0.0]]), "b": np.array([[0.1, 0.4]])}
    s = criteria.weight_scores
    np.testing.assert_array_equal(s("magnitude", theta0, final)["a"], [[3.0, 2.5, 0.0]])
    np.testing.assert_array_equal(s("magnitude_init", theta0)["a"], [[1.0, 2.0, 0.5]])
    np.testing.assert_allclose(s("movement", theta0, final)["a"], [[4.0, 0.5, 0.5]])
    np.testing.assert_allclose(s("magnitude_increase", theta0, final)["b"], [[0.0, 0.1]])
    alpha = np.std(final["a"]) / np.std(theta0["a"])
    np.testing.assert_allclose(
        s("large_init_large_final", theta0, final)["a"], [[min(alpha * 1.0, 3.0), min(alpha * 2.0, 2.5), 0.0]]
    )
    r1 = s("random", theta0, rng=np.random.default_rng(0))["a"]
    assert r1.shape == (1, 3) and not np.array_equal(r1, s("random", theta0, rng=np.random.default_rng(1))["a"])


@pytest.mark.parametrize("name", criteria.NAMES)
def test_a_registry_entry_is_complete_and_its_colours_its_own(name):
    """Each entry carries what every reader needs; a missing or clashing one fails here, naming the entry (the
    arms fall back to grey, so no command dies at import)."""
    from plotly.colors import get_colorscale

    from lth.arms import ARMS

    c = criteria.CRITERIA[name]
    assert c.name == name and c.definition, name
    assert c.colour and c.colour.startswith("#") and len(c.colour) == 7, f"{name}: no colour"
    assert c.scale and get_colorscale(c.scale), f"{name}: no colour scale"
    others = [o for o in criteria.CRITERIA.values() if o.name != name]
    lottery = [ARMS[a] for a in ("dense", "ticket", "pruned", "reinit", "random_prune")]
    assert c.colour not in {o.colour for o in others} | {a.colour for a in lottery}, f"{name}: colour taken"
    assert c.scale not in {o.scale for o in others}, f"{name}: scale taken"  # (magnitude shares IMP's blues)


@pytest.mark.parametrize("name", criteria.NAMES)
def test_a_registry_entry_scores_every_kernel_through_one_signature(name):
    """The score function of every entry, called as the experiments call it, on a tiny network: one finite
    score per weight of each scored kernel; an iterative entry re-scores through `criterion_masks`."""
    model, (x, y) = tiny_model(), batch()
    theta0 = kernels_of(model)
    trained = {n: k + 0.1 for n, k in theta0.items()}
    inputs = criteria.ScoringInputs(
        theta0=theta0,
        trained=trained,
        rng=np.random.default_rng(0),
        model=lambda: model,
        batch=lambda: (x, y),
        masks={n: np.ones_like(k) for n, k in theta0.items()},
    )
    scores = criteria.CRITERIA[name].score(inputs)
    assert {n: s.shape for n, s in scores.items()} == {n: k.shape for n, k in theta0.items()}, name
    assert all(np.isfinite(s).all() for s in scores.values()), name
    counts = {n: int(k.size * 0.5) for n, k in theta0.items()}
    masks = criteria.criterion_masks(
        criteria.CRITERIA[name], inputs, lambda s, alive, d: pruning.keep_highest(s, counts, alive), 0.5, steps=3
    )
    assert {n: int(m.sum()) for n, m in masks.items()} == counts, name
    assert set(criteria.AT_INIT) | set(criteria.AFTER_TRAINING) == set(criteria.NAMES)


@pytest.mark.parametrize("scope", ["layerwise", "global"])
@pytest.mark.parametrize("density", [0.513, 0.211, 0.036, 0.005, 0.0123])
def test_masks_keep_the_density_asked(scope, density):
    config = RunConfig(experiment="oneshot", scope=scope, densities=(density,)).validate()
    shapes = config.prunable_shapes()
    rng = np.random.default_rng(5)
    scores = {n: rng.normal(size=s) for n, s in shapes.items()}
    counts = config.plan.keep_counts(density)
    masks = pruning.keep_highest(scores, counts)
    kept = {n: int(m.sum()) for n, m in masks.items()}
    total = config.total_prunable()
    if scope == "global":
        assert sum(kept.values()) == round(density * total)
        threshold = min(scores[n][masks[n] > 0].min() for n in masks)  # one threshold over all layers
        assert all(scores[n][masks[n] == 0].max(initial=-np.inf) <= threshold for n in masks)
    else:
        assert kept == counts
        assert abs(sum(kept.values()) / total - density) < 2e-4
        for n in masks:  # within each layer the highest scores are kept
            assert scores[n][masks[n] == 0].max(initial=-np.inf) <= scores[n][masks[n] > 0].min()
    assert pruning.overall_density(masks) == pytest.approx(config.plan.mask_density(density), abs=1e-12)


def test_layerwise_split_is_the_ladders_at_its_points():
    """At a point of the iterative ladder, the one-shot layerwise mask has the ladder's per-layer densities."""
    lottery = RunConfig(experiment="lottery", rounds=15).validate()
    for step in lottery.plan.density_ladder()[1:]:
        config = RunConfig(experiment="oneshot", densities=(step["density"],)).validate()
        counts = config.plan.keep_counts(step["density"])
        for n, c in counts.items():
            size = np.prod(config.prunable_shapes()[n])
            assert abs(c / size - step["layer_density"][n]) <= 1.5 / size


def test_inverted_scores_keep_the_lowest():
    scores = {"a": np.array([[5.0, 1.0, 3.0, 2.0]])}
    assert pruning.keep_highest(scores, 2)["a"].tolist() == [[1, 0, 1, 0]]
    assert pruning.keep_highest({"a": -scores["a"]}, 2)["a"].tolist() == [[0, 1, 0, 1]]
    with pytest.raises(ValueError, match="not finite"):
        pruning.keep_highest({"a": np.array([np.nan, 1.0])}, 1)


def tiny_conv_model(kind: str, seed=0):
    """A float64 conv net (Conv1D on 7x2 signals or Conv2D on 5x4x2 images, then Dense 2 logits): the criteria
    on conv kernels against finite differences of the model's own loss."""
    from lth.tf_setup import keras

    init = keras.initializers.RandomNormal(stddev=0.6, seed=seed)
    conv, shape = (keras.layers.Conv1D, (7, 2)) if kind == "conv1d" else (keras.layers.Conv2D, (5, 4, 2))
    model = keras.Sequential(
        [
            conv(2, 2, activation="relu", kernel_initializer=init, bias_initializer=init, name="c1", dtype="float64"),
            keras.layers.Flatten(dtype="float64"),
            keras.layers.Dense(2, kernel_initializer=init, bias_initializer=init, name="out", dtype="float64"),
        ]
    )
    model.build((None, *shape))
    rng = np.random.default_rng(5)
    return model, rng.normal(size=(5, *shape)), np.array([0, 1, 1, 0, 1])


def model_loss(model, kernels, x, y, temperature=1.0):
    """The mean cross-entropy of logits / T with `kernels` set (restored after): finite differences of it."""
    saved = {n: model.get_layer(n).kernel.numpy() for n in kernels}
    for n, k in kernels.items():
        model.get_layer(n).kernel.assign(k)
    logits = model(x, training=False).numpy() / temperature
    for n, k in saved.items():
        model.get_layer(n).kernel.assign(k)
    logits -= logits.max(axis=1, keepdims=True)
    log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    return -log_p[np.arange(len(y)), y].mean()


@pytest.mark.parametrize("kind", ["conv1d", "conv2d"])
def test_snip_and_grasp_on_conv_kernels_match_finite_differences(kind):
    model, x, y = tiny_conv_model(kind)
    layers = ["c1", "out"]
    theta = {n: model.get_layer(n).kernel.numpy().copy() for n in layers}
    g = numeric_gradient(lambda k: model_loss(model, k, x, y), theta)
    snip = criteria.snip_scores(model, layers, x, y)
    for n in layers:
        np.testing.assert_allclose(snip[n], np.abs(g[n] * theta[n]), rtol=1e-5, atol=1e-9)

    T = criteria.GRASP_TEMPERATURE

    def grad(k):
        return numeric_gradient(lambda kk: model_loss(model, kk, x, y, T), k, eps=1e-5)

    gt = grad(theta)
    # a small step along g: a larger one crosses ReLU kinks, whose jumps the Hessian (ReLU'' = 0) does not hold
    eps = 1e-4 / max(np.abs(v).max() for v in gt.values())
    plus = grad({n: theta[n] + eps * gt[n] for n in layers})
    minus = grad({n: theta[n] - eps * gt[n] for n in layers})
    grasp = criteria.grasp_scores(model, layers, x, y)
    scale = max(np.abs(theta[n] * (plus[n] - minus[n]) / (2 * eps)).max() for n in layers)
    for n in layers:
        np.testing.assert_allclose(grasp[n], theta[n] * (plus[n] - minus[n]) / (2 * eps), atol=1e-3 * scale)


@pytest.mark.parametrize("kind", ["conv1d", "conv2d"])
def test_synflow_on_conv_kernels_is_the_flow_through_each_weight(kind):
    """R = the summed output of the network with every weight replaced by its magnitude on an all-ones input
    of the network's input shape; the score of a kernel weight is |w| dR/d|w| (finite differences)."""
    model, _, _ = tiny_conv_model(kind, seed=1)
    layers = ["c1", "out"]
    original = [w.copy() for w in model.get_weights()]
    masks = {n: np.ones(model.get_layer(n).kernel.shape, np.float32) for n in layers}
    masks["c1"].flat[0] = 0  # a pruned weight carries no flow and scores zero
    scores = criteria.synflow_scores(model, layers, masks)
    model.set_weights([np.abs(w) for w in original])
    ones = np.ones((1, *model.input_shape[1:]))
    magnitude = {n: np.abs(model.get_layer(n).kernel.numpy()) * masks[n] for n in layers}

    def flow(kernels):
        saved = {n: model.get_layer(n).kernel.numpy() for n in layers}
        for n, k in kernels.items():
            model.get_layer(n).kernel.assign(k)
        total = float(model(ones, training=False).numpy().sum())
        for n, k in saved.items():
            model.get_layer(n).kernel.assign(k)
        return total

    dr = numeric_gradient(flow, magnitude)
    model.set_weights(original)
    for n in layers:
        np.testing.assert_allclose(scores[n], magnitude[n] * dr[n], rtol=1e-5, atol=1e-8)
    assert scores["c1"].flat[0] == 0
    assert all(np.array_equal(a, b) for a, b in zip(original, model.get_weights()))  # weights restored
