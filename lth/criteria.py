"""Pruning criteria: each scores every prunable weight; a mask keeps the highest scores (per layer or over
all layers, `pruning.keep_highest`). One registry: the CLI, the forms, the pages and the experiments read
the names and definitions here.

At initialization (no training before pruning): random, magnitude_init, snip, grasp, synflow. After the
dense training: magnitude (what iterative magnitude pruning uses), movement, magnitude_increase,
large_init_large_final. The registry is pure Python; the gradient-based scores import TensorFlow only
when they are computed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from lth import pruning

_T = TypeVar("_T")

SNIP_IMAGES_PER_CLASS = 10  # the batch SNIP and GraSP score on: 10 images of each class (as their papers)
GRASP_TEMPERATURE = 200.0  # GraSP's authors' code divides the logits by T = 200 before the loss
SYNFLOW_STEPS = 100  # SynFlow prunes iteratively, density d^(k/100) after step k (its paper's schedule)


def _needed(value: _T | None) -> _T:
    """A ScoringInputs field the criterion needs: its caller supplies it (a trained-weights criterion gets
    `trained`, a gradient-based one `model` and `batch`, a random one `rng`, an iterative one `masks`)."""
    assert value is not None
    return value


@dataclass(frozen=True)
class ScoringInputs:
    """What a criterion may score, the same for every criterion: the prunable kernels at theta0 (and after the
    dense training, for those that score trained weights), a random generator (a fresh draw per density), the
    network at theta0 and a batch of training data (both made on first use: only the gradient-based criteria
    build a model or pick images), and the weights still alive (an iterative criterion re-scores the masked
    network)."""

    theta0: dict[str, np.ndarray]
    trained: dict[str, np.ndarray] | None = None
    rng: np.random.Generator | None = None
    model: Callable[[], object] | None = None
    batch: Callable[[], tuple[np.ndarray, np.ndarray]] | None = None
    masks: pruning.Masks | None = None

    @property
    def layers(self) -> list[str]:
        return list(self.theta0)


@dataclass(frozen=True)
class Criterion:
    """One pruning criterion: its scores (higher: kept), its words, and its colour family in the figures."""

    name: str
    definition: str  # one line, shown in the UI and the CLI's help
    trained: bool  # scores the dense network's trained weights (else the initial ones): a run trains it first
    score: Callable[[ScoringInputs], dict[str, np.ndarray]]
    colour: str | None = None  # where one series is shown (a test checks every entry has one)
    scale: str | None = None  # plotly sequential scale: its series are shades of it
    iterative: bool = False  # prunes in steps, re-scoring the masked network each step (SynFlow)
    fresh_draw: bool = False  # new scores at every density (random); others are scored once per run


def _random(inputs: ScoringInputs) -> dict[str, np.ndarray]:
    return {n: _needed(inputs.rng).random(w.shape) for n, w in inputs.theta0.items()}


def _large_init_large_final(inputs: ScoringInputs) -> dict[str, np.ndarray]:
    out = {}
    for n, w0 in inputs.theta0.items():
        final = _needed(inputs.trained)[n]
        scale = float(np.std(final)) / max(float(np.std(w0)), 1e-12)
        out[n] = np.minimum(scale * np.abs(w0), np.abs(final))
    return out


CRITERIA: dict[str, Criterion] = {
    c.name: c
    for c in (
        Criterion(
            "random",
            "random scores: a random mask (at the scope's per-layer densities)",
            trained=False,
            score=_random,
            colour="#b8860b",
            scale="YlOrBr",
            fresh_draw=True,
        ),
        Criterion(
            "magnitude_init",
            "|theta0|: the largest initial weights",
            trained=False,
            score=lambda i: {n: np.abs(w) for n, w in i.theta0.items()},
            colour="#8c564b",  # brown: a light blue read as one of the IMP ticket's blues
            scale="Brwnyl",
        ),
        Criterion(
            "snip",
            "|g * theta0|, g the loss gradient on 10 training images per class (Lee et al., ICLR 2019)",
            trained=False,
            score=lambda i: snip_scores(_needed(i.model)(), i.layers, *_needed(i.batch)()),
            colour="#6a51a3",
            scale="Purples",
        ),
        Criterion(
            "grasp",
            "theta0 * Hg, the Hessian-gradient product on 10 images per class, logits / 200; the "
            "highest -theta0 * Hg go (Wang et al., ICLR 2020)",
            trained=False,
            score=lambda i: grasp_scores(_needed(i.model)(), i.layers, *_needed(i.batch)()),
            colour="#c51b8a",
            scale="RdPu",
        ),
        Criterion(
            "synflow",
            "|theta * dR/dtheta|, R the summed output of the network with |weights| on an all-ones "
            "input; 100 steps to d^(k/100), re-scored each step; data-free (Tanaka et al., NeurIPS 2020)",
            trained=False,
            score=lambda i: synflow_scores(_needed(i.model)(), i.layers, _needed(i.masks)),
            colour="#1b9e77",
            scale="BuGn",
            iterative=True,
        ),
        Criterion(
            "magnitude",
            "|w_final|: the largest trained weights (what iterative magnitude pruning uses)",
            trained=True,
            score=lambda i: {n: np.abs(_needed(i.trained)[n]) for n in i.theta0},
            colour="#08306b",
            scale="Blues",
        ),
        Criterion(
            "movement",
            "|w_final - theta0|: the weights that moved most in training",
            trained=True,
            score=lambda i: {n: np.abs(_needed(i.trained)[n] - w) for n, w in i.theta0.items()},
            colour="#78c679",
            scale="YlGn",
        ),
        Criterion(
            "magnitude_increase",
            "|w_final| - |theta0|: the weights whose magnitude grew most (Zhou et al., NeurIPS 2019)",
            trained=True,
            score=lambda i: {n: np.abs(_needed(i.trained)[n]) - np.abs(w) for n, w in i.theta0.items()},
            colour="#d7301f",
            scale="OrRd",
        ),
        Criterion(
            "large_init_large_final",
            "min(a|theta0|, |w_final|), a = std(w_final) / std(theta0) per layer: "
            "large at both ends (Zhou et al., NeurIPS 2019)",
            trained=True,
            score=_large_init_large_final,
            colour="#016c59",
            scale="PuBuGn",
        ),
    )
}
NAMES = tuple(CRITERIA)
AT_INIT = tuple(n for n, c in CRITERIA.items() if not c.trained)
AFTER_TRAINING = tuple(n for n, c in CRITERIA.items() if c.trained)
ITERATIVE_CRITERIA = AFTER_TRAINING  # the lottery experiment re-scores its trained network every round


def weight_scores(
    name: str,
    theta0: dict[str, np.ndarray],
    trained: dict[str, np.ndarray] | None = None,
    rng: np.random.Generator | None = None,
) -> dict[str, np.ndarray]:
    """Scores of criterion `name` on kernels theta0 (initial) and `trained` (final), for the criteria that need
    no network or data."""
    return CRITERIA[name].score(ScoringInputs(theta0=theta0, trained=trained, rng=rng))


def criterion_masks(
    criterion: Criterion,
    inputs: ScoringInputs,
    keep: Callable[[dict, pruning.Masks | None, float], pruning.Masks],
    density: float,
    steps: int = SYNFLOW_STEPS,
    scores=None,
) -> pruning.Masks:
    """The mask `criterion` makes at `density`: `keep(scores, alive, density)` (the scope's rule) on its scores
    (`scores` when already computed), or for an iterative criterion `steps` rounds of scoring the network masked
    so far, density ** (k / steps) after step k."""
    if not criterion.iterative:
        return keep(scores if scores is not None else criterion.score(inputs), None, density)
    masks = {n: np.ones(w.shape, np.float32) for n, w in inputs.theta0.items()}
    for k in range(1, steps + 1):
        masks = keep(criterion.score(dataclasses.replace(inputs, masks=masks)), masks, density ** (k / steps))
    return masks


# ---- gradient-based criteria (TensorFlow) --------------------------------------------------------------
def _kernels(model, layers) -> list:
    return [model.get_layer(n).kernel for n in layers]


def _loss(model, x, y, temperature: float = 1.0):
    """The mean cross-entropy of the model's logits / `temperature` on (x, y), inside the caller's tape: the
    one loss every gradient-based criterion differentiates."""
    from lth.tf_setup import keras

    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)(y, model(x, training=False) / temperature)


def snip_scores(model, layers, x, y) -> dict[str, np.ndarray]:
    """|g * theta| with g the mean cross-entropy's gradient on (x, y), at the model's weights."""
    from lth.tf_setup import tf

    kernels = _kernels(model, layers)
    with tf.GradientTape() as tape:
        loss = _loss(model, x, y)
    grads = tape.gradient(loss, kernels)
    return {n: np.abs(g.numpy() * k.numpy()) for n, g, k in zip(layers, grads, kernels)}


def grasp_scores(model, layers, x, y, temperature: float = GRASP_TEMPERATURE) -> dict[str, np.ndarray]:
    """theta * Hg: g the gradient of the loss of logits / T, H its Hessian (over the scored kernels); a
    high score keeps the weight (GraSP removes the highest -theta * Hg)."""
    from lth.tf_setup import tf

    kernels = _kernels(model, layers)
    with tf.GradientTape() as outer:
        with tf.GradientTape() as inner:
            loss = _loss(model, x, y, temperature)
        grads = inner.gradient(loss, kernels)
        # g . grad L with g held constant: its gradient is Hg
        product = tf.add_n([tf.reduce_sum(tf.stop_gradient(g) * g) for g in grads])
    hg = outer.gradient(product, kernels)
    return {n: k.numpy() * h.numpy() for n, k, h in zip(layers, kernels, hg)}


def synflow_scores(model, layers, masks: pruning.Masks) -> dict[str, np.ndarray]:
    """|theta * dR/dtheta| with R the summed output, every weight replaced by its magnitude (masked ones by
    zero) and an all-ones input, at the model's weights; the model's weights are restored after."""
    from lth.tf_setup import tf

    original = model.get_weights()
    try:
        model.set_weights([np.abs(w) for w in original])
        for n in layers:
            kernel = model.get_layer(n).kernel
            kernel.assign(kernel.numpy() * masks[n])
        kernels = _kernels(model, layers)
        ones = tf.ones((1, *model.input_shape[1:]), tf.float32)
        with tf.GradientTape() as tape:
            total = tf.reduce_sum(tf.cast(model(ones, training=False), tf.float64))
        grads = tape.gradient(total, kernels)
        return {n: np.abs(g.numpy().astype(np.float64) * k.numpy()) for n, g, k in zip(layers, grads, kernels)}
    finally:
        model.set_weights(original)


def synflow_masks(
    model,
    layers,
    keep: Callable[[dict, pruning.Masks | None, float], pruning.Masks],
    density: float,
    steps: int = SYNFLOW_STEPS,
    invert: bool = False,
) -> pruning.Masks:
    """SynFlow's iterative pruning (`criterion_masks` of the registry's entry) on `model`'s kernels `layers`;
    `invert` keeps the lowest scores."""
    theta0 = {n: model.get_layer(n).kernel.numpy() for n in layers}
    sign = -1.0 if invert else 1.0
    return criterion_masks(
        CRITERIA["synflow"],
        ScoringInputs(theta0=theta0, model=lambda: model),
        lambda scores, alive, d: keep({n: sign * s for n, s in scores.items()}, alive, d),
        density,
        steps,
    )


def scoring_batch(
    x_train: np.ndarray, y_train: np.ndarray, seed: int, per_class: int = SNIP_IMAGES_PER_CLASS
) -> tuple[np.ndarray, np.ndarray]:
    """`per_class` training images of each class, chosen by `seed` (SNIP's and GraSP's batch)."""
    rng = np.random.default_rng(seed)
    picked = []
    for label in np.unique(y_train):
        where = np.flatnonzero(y_train == label)
        picked.append(rng.choice(where, size=min(per_class, len(where)), replace=False))
    index = np.sort(np.concatenate(picked))
    return x_train[index], y_train[index]
