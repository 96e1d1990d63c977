"""Pruning criteria: each scores every prunable weight; a mask keeps the highest scores (per layer or over
all layers, `pruning.keep_highest`). One registry: the CLI, the forms, the pages and the experiments read
the names and definitions here.

At initialization (no training before pruning): random, magnitude_init, snip, grasp, synflow. After the
dense training: magnitude (what iterative magnitude pruning uses), movement, magnitude_increase,
large_init_large_final. The registry is pure Python; the gradient-based scores import TensorFlow only
when they are computed.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from lth import pruning

SNIP_IMAGES_PER_CLASS = 10  # the batch SNIP and GraSP score on: 10 images of each class (as their papers)
GRASP_TEMPERATURE = 200.0  # GraSP's authors' code divides the logits by T = 200 before the loss
SYNFLOW_STEPS = 100  # SynFlow prunes iteratively, density d^(k/100) after step k (its paper's schedule)


@dataclass(frozen=True)
class Criterion:
    name: str
    definition: str  # one line, shown in the UI and the CLI's help
    trained: bool  # scores the dense network's trained weights (else the initial ones)
    needs_data: bool = False
    iterative: bool = False  # prunes in steps, re-scoring the masked network each step (SynFlow)


CRITERIA: dict[str, Criterion] = {c.name: c for c in (
    Criterion("random", "random scores: a random mask (at the scope's per-layer densities)", trained=False),
    Criterion("magnitude_init", "|theta0|: the largest initial weights", trained=False),
    Criterion("snip", "|g * theta0|, g the loss gradient on 10 training images per class (Lee et al., ICLR 2019)",
              trained=False, needs_data=True),
    Criterion("grasp", "theta0 * Hg, the Hessian-gradient product on 10 images per class, logits / 200; the "
              "highest -theta0 * Hg go (Wang et al., ICLR 2020)", trained=False, needs_data=True),
    Criterion("synflow", "|theta * dR/dtheta|, R the summed output of the network with |weights| on an all-ones "
              "input; 100 steps to d^(k/100), re-scored each step; data-free (Tanaka et al., NeurIPS 2020)",
              trained=False, iterative=True),
    Criterion("magnitude", "|w_final|: the largest trained weights (what iterative magnitude pruning uses)",
              trained=True),
    Criterion("movement", "|w_final - theta0|: the weights that moved most in training", trained=True),
    Criterion("magnitude_increase", "|w_final| - |theta0|: the weights whose magnitude grew most (Zhou et al., "
              "NeurIPS 2019)", trained=True),
    Criterion("large_init_large_final", "min(a|theta0|, |w_final|), a = std(w_final) / std(theta0) per layer: "
              "large at both ends (Zhou et al., NeurIPS 2019)", trained=True),
)}
NAMES = tuple(CRITERIA)
AT_INIT = tuple(n for n, c in CRITERIA.items() if not c.trained)
AFTER_TRAINING = tuple(n for n, c in CRITERIA.items() if c.trained)
ITERATIVE_CRITERIA = AFTER_TRAINING  # the lottery experiment re-scores its trained network every round


def weight_scores(name: str, theta0: dict[str, np.ndarray], trained: dict[str, np.ndarray] | None = None,
                  rng: np.random.Generator | None = None) -> dict[str, np.ndarray]:
    """Scores of the criteria that need no gradient: of kernels theta0 (initial) and `trained` (final)."""
    if name == "random":
        return {n: rng.random(w.shape) for n, w in theta0.items()}
    if name == "magnitude_init":
        return {n: np.abs(w) for n, w in theta0.items()}
    final = trained
    if name == "magnitude":
        return {n: np.abs(final[n]) for n in theta0}
    if name == "movement":
        return {n: np.abs(final[n] - theta0[n]) for n in theta0}
    if name == "magnitude_increase":
        return {n: np.abs(final[n]) - np.abs(theta0[n]) for n in theta0}
    if name == "large_init_large_final":
        out = {}
        for n, w0 in theta0.items():
            scale = float(np.std(final[n])) / max(float(np.std(w0)), 1e-12)
            out[n] = np.minimum(scale * np.abs(w0), np.abs(final[n]))
        return out
    raise ValueError(f"{name} needs gradients: use gradient_scores")


# ---- gradient-based criteria (TensorFlow) --------------------------------------------------------------
def _kernels(model, layers) -> list:
    return [model.get_layer(n).kernel for n in layers]


def snip_scores(model, layers, x, y) -> dict[str, np.ndarray]:
    """|g * theta| with g the mean cross-entropy's gradient on (x, y), at the model's weights."""
    from lth.tf_setup import keras, tf

    kernels = _kernels(model, layers)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    with tf.GradientTape() as tape:
        loss = loss_fn(y, model(x, training=False))
    grads = tape.gradient(loss, kernels)
    return {n: np.abs(g.numpy() * k.numpy()) for n, g, k in zip(layers, grads, kernels)}


def grasp_scores(model, layers, x, y, temperature: float = GRASP_TEMPERATURE) -> dict[str, np.ndarray]:
    """theta * Hg: g the gradient of the loss of logits / T, H its Hessian (over the scored kernels); a
    high score keeps the weight (GraSP removes the highest -theta * Hg)."""
    from lth.tf_setup import keras, tf

    kernels = _kernels(model, layers)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    with tf.GradientTape() as outer:
        with tf.GradientTape() as inner:
            loss = loss_fn(y, model(x, training=False) / temperature)
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


def synflow_masks(model, layers, keep: Callable[[dict, pruning.Masks, float], pruning.Masks], density: float,
                  steps: int = SYNFLOW_STEPS, invert: bool = False) -> pruning.Masks:
    """SynFlow's iterative pruning: after step k of `steps` the mask keeps density ** (k / steps), each step
    keeping the highest (lowest, `invert`) scores of the network masked so far. `keep(scores, alive,
    density)` makes one step's mask (the scope's rule)."""
    masks = {n: np.ones(model.get_layer(n).kernel.shape, np.float32) for n in layers}
    for k in range(1, steps + 1):
        scores = synflow_scores(model, layers, masks)
        if invert:
            scores = {n: -s for n, s in scores.items()}
        masks = keep(scores, masks, density ** (k / steps))
    return masks


def scoring_batch(x_train: np.ndarray, y_train: np.ndarray, seed: int,
                  per_class: int = SNIP_IMAGES_PER_CLASS) -> tuple[np.ndarray, np.ndarray]:
    """`per_class` training images of each class, chosen by `seed` (SNIP's and GraSP's batch)."""
    rng = np.random.default_rng(seed)
    picked = []
    for label in np.unique(y_train):
        where = np.flatnonzero(y_train == label)
        picked.append(rng.choice(where, size=min(per_class, len(where)), replace=False))
    index = np.sort(np.concatenate(picked))
    return x_train[index], y_train[index]
