"""The sanity checks of a pruned network's mask ("controls"), declared once: what each trains from, its label
and line style. The lottery experiment runs them beside each round's ticket, the one-shot experiment beside
each criterion's mask; both call `Control.start` and nothing else.

- reinit: the same mask, fresh initial weights (Frankle & Carbin's random reinitialisation);
- random_prune: the layerwise shuffle: a random mask with the same per-layer counts, from the reset point;
- invert: the criterion's lowest scores kept instead of its highest (only where a criterion scores: one-shot).

Pure NumPy: the experiment passes what a control needs (how to draw initial weights, the inverted mask).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from lth import pruning
from lth.seeds import derive_seed


@dataclass(frozen=True)
class ControlInputs:
    """What a control starts from: the pruned network's mask and reset point, the run's seed and the parts
    that name this training in derived seeds (round, and the criterion in a one-shot run)."""

    masks: pruning.Masks
    reset_point: list[np.ndarray]
    seed: int
    seed_parts: tuple  # e.g. (round,) or (criterion, round): the derived seeds of this training's draws
    initial_weights: Callable[..., list[np.ndarray]]  # initial_weights(*purpose): a fresh initialisation
    inverted_masks: Callable[[], pruning.Masks] | None = None  # the criterion's lowest scores (one-shot)


@dataclass(frozen=True)
class Control:
    name: str
    label: str  # in legends and forms
    dash: str  # plotly line dash of its series
    definition: str  # one line (help, forms)
    start: Callable[[ControlInputs], tuple[list[np.ndarray], pruning.Masks]]  # (start weights, mask)
    needs_scores: bool = False  # only where a criterion scores the weights (not a lottery round's ticket)


def _reinit(c: ControlInputs):
    return c.initial_weights("reinit", *c.seed_parts), c.masks


def _random_prune(c: ControlInputs):
    rng = np.random.default_rng(derive_seed(c.seed, "random_prune", *c.seed_parts))
    return c.reset_point, pruning.random_masks_like(c.masks, rng)


def _invert(c: ControlInputs):
    if c.inverted_masks is None:
        raise ValueError("invert needs a criterion's scores: a one-shot run's control")
    return c.reset_point, c.inverted_masks()


CONTROLS: dict[str, Control] = {
    c.name: c
    for c in (
        Control("reinit", "random reinit", "dash", "the same mask, fresh initial weights", _reinit),
        Control(
            "random_prune",
            "layerwise shuffle (random pruning)",
            "dot",
            "the layerwise shuffle: same per-layer densities, random positions",
            _random_prune,
        ),
        Control(
            "invert", "inverted scores", "dashdot", "the criterion's lowest scores kept", _invert, needs_scores=True
        ),
    )
}
NAMES = tuple(CONTROLS)
LABELS = {name: c.label for name, c in CONTROLS.items()}
