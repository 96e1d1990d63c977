"""Instability analysis (Frankle, Dziugaite, Roy & Carbin, "Linear Mode Connectivity and the Lottery
Ticket Hypothesis", ICML 2020): two copies of a network trained from its weights at iteration k with
different data orders; the test error along the straight line between them; the error barrier.

Pure NumPy: the interpolation, the barrier and the stability rule. The training lives in
lth.experiments.Instability; the ticket masks come from a lottery run (lth.paths.TICKET in the run's
checkpoint folder, copied from the source run when the run is submitted).
"""

from __future__ import annotations

import numpy as np

ALPHAS = tuple(round(i / 20, 2) for i in range(21))  # 0, 0.05, ..., 1: the paper's 30 points need not be
STABLE_BARRIER = 0.02  # the paper's rule: stable when the error barrier is under 2 percentage points


def interpolate(a: list[np.ndarray], b: list[np.ndarray], alpha: float) -> list[np.ndarray]:
    """(1 - alpha) * a + alpha * b, array by array (zeros of both stay zero: pruned weights stay pruned)."""
    return [((1.0 - alpha) * x + alpha * y).astype(x.dtype) for x, y in zip(a, b)]


def barrier(errors) -> float:
    """The error barrier: the highest error along the line minus the mean of the two ends' errors."""
    errors = list(errors)
    return float(max(errors) - (errors[0] + errors[-1]) / 2)


def is_stable(barrier_value: float) -> bool:
    return barrier_value < STABLE_BARRIER


def ticket_arrays(masks_by_round: dict[int, dict[str, np.ndarray]], theta0: list[np.ndarray]) -> dict:
    """What the ticket file (lth.paths.TICKET) holds: each round's masks (`mask/RR/LAYER`) and the source run's
    theta0."""
    arrays = {f"theta0/{i}": w for i, w in enumerate(theta0)}
    for round_, masks in masks_by_round.items():
        arrays.update({f"mask/{round_:02d}/{layer}": np.asarray(m, np.uint8) for layer, m in masks.items()})
    return arrays


def ticket_shapes(spec):
    """Which arrays the ticket file may hold for model `spec`: a check of (name, shape) for lth.fsutil.read_npz."""
    kernels, weights = spec.kernel_shapes, spec.weight_shapes()

    def allowed(name: str, shape: tuple) -> bool:  # mask/RR/LAYER or theta0/I of this model
        parts = name.split("/")
        if parts[0] == "mask" and len(parts) == 3 and parts[1].isdigit():
            return tuple(kernels.get(parts[2], ())) == shape
        return (
            parts[0] == "theta0"
            and len(parts) == 2
            and parts[1].isdigit()
            and int(parts[1]) < len(weights)
            and weights[int(parts[1])] == shape
        )

    return allowed


def read_ticket(arrays: dict) -> tuple[dict[int, dict[str, np.ndarray]], list[np.ndarray]]:
    masks: dict[int, dict[str, np.ndarray]] = {}
    for key, value in arrays.items():
        if key.startswith("mask/"):
            _, round_, layer = key.split("/", 2)
            masks.setdefault(int(round_), {})[layer] = value.astype(np.float32)
    theta0 = [arrays[f"theta0/{i}"] for i in range(sum(k.startswith("theta0/") for k in arrays))]
    return masks, theta0
