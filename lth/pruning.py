"""Masks: pruning by scores (per layer or global), random pruning at the same densities, density reports.

Pure NumPy. A mask is a {layer name: 0/1 float32 array of the kernel's shape}; biases are never pruned.
"""

from __future__ import annotations

import numpy as np

Masks = dict[str, np.ndarray]


def prune_count(remaining: float, rate: float) -> int:
    """How many of `remaining` weights a round at `rate` removes (rounded half up)."""
    return int(rate * remaining + 0.5)


def dense_masks(kernel_shapes: dict[str, tuple[int, ...]], layers) -> Masks:
    return {name: np.ones(kernel_shapes[name], dtype=np.float32) for name in layers}


def _drop_smallest(scores: np.ndarray, mask: np.ndarray, count: int) -> np.ndarray:
    """Zero `count` more entries of `mask`: those alive with the smallest scores (ties: lowest index)."""
    flat = np.where(mask.reshape(-1) > 0, scores.reshape(-1), np.inf)
    order = np.argsort(flat, kind="stable")[:count]
    new = mask.reshape(-1).copy()
    new[order] = 0.0
    return new.reshape(mask.shape)


def prune_layerwise(scores: dict[str, np.ndarray], masks: Masks, rates: dict[str, float]) -> Masks:
    """Remove `rates[name]` of each layer's remaining weights, lowest score first."""
    return {
        name: _drop_smallest(scores[name], mask, prune_count(int(mask.sum()), rates[name]))
        for name, mask in masks.items()
    }


def prune_global(scores: dict[str, np.ndarray], masks: Masks, rate: float) -> Masks:
    """Remove `rate` of all remaining weights of the masked layers together, lowest score first."""
    names = list(masks)
    flat = np.concatenate([np.asarray(scores[n], np.float64).reshape(-1) for n in names])
    alive = np.concatenate([masks[n].reshape(-1) for n in names])
    return _split(_drop_smallest(flat, alive, prune_count(int(alive.sum()), rate)), masks)


def _split(flat: np.ndarray, like: Masks) -> Masks:
    out, start = {}, 0
    for n, mask in like.items():
        out[n] = flat[start : start + mask.size].reshape(mask.shape).astype(np.float32)
        start += mask.size
    return out


def keep_highest(scores: dict[str, np.ndarray], counts: dict[str, int] | int, alive: Masks | None = None) -> Masks:
    """Masks keeping the `counts[name]` highest-scored weights of each layer (layerwise) or the `counts`
    highest of all layers together (global), among those `alive` (default all); ties: lowest index."""
    names = list(scores)
    alive = alive or {n: np.ones(np.shape(scores[n]), np.float32) for n in names}
    if isinstance(counts, dict):
        counts = _within_alive(counts, {n: int(alive[n].sum()) for n in names})
        return {n: _keep_top(np.asarray(scores[n], np.float64), alive[n], counts[n]) for n in names}
    flat = np.concatenate([np.asarray(scores[n], np.float64).reshape(-1) for n in names])
    flat_alive = np.concatenate([alive[n].reshape(-1) for n in names])
    return _split(_keep_top(flat, flat_alive, counts), {n: alive[n] for n in names})


def _within_alive(counts: dict[str, int], alive: dict[str, int]) -> dict[str, int]:
    """Layerwise counts no layer's alive weights fall short of: a layer asked for more than it has left (an
    iterative criterion's earlier step split the layers a weight differently) keeps all it has, and the other
    layers keep the shortfall (most room first), so the total stays the one asked for."""
    short = sum(max(0, counts[n] - alive[n]) for n in counts)
    if not short:
        return counts
    fitted = {n: min(counts[n], alive[n]) for n in counts}
    for n in sorted(fitted, key=lambda n: alive[n] - fitted[n], reverse=True):
        extra = min(short, alive[n] - fitted[n])
        fitted[n] += extra
        short -= extra
    return fitted


def _keep_top(scores: np.ndarray, alive: np.ndarray, count: int) -> np.ndarray:
    if not np.isfinite(scores).all():
        raise ValueError("a pruning criterion gave scores that are not finite numbers")
    flat = np.where(alive.reshape(-1) > 0, -scores.reshape(-1), np.inf)  # stable sort: ties keep the lower index
    keep = np.argsort(flat, kind="stable")[: min(count, int(alive.sum()))]
    out = np.zeros(scores.size, np.float32)
    out[keep] = 1.0
    return out.reshape(np.shape(alive))


def layer_keep_counts(
    kernel_shapes: dict[str, tuple[int, ...]], density: float, rates: dict[str, float]
) -> dict[str, int]:
    """Weights each layer keeps at overall `density` when the layers are pruned as iterative pruning at
    `rates` prunes them: after n rounds layer l keeps (1 - rate_l)^n, so every layer's density is
    h^(ln(1 - rate_l) / ln(1 - rate_max)) of one h, solved for the overall density (bisection). The counts
    add up to round(density x all weights) exactly (largest remainders), each layer keeping at least one; at
    a point of the iterative ladder the per-layer densities are the ladder's. ValueError where these rates
    cannot reach `density` (a layer pruned at rate 0, or rates so unequal that the other layers stay full)."""
    sizes = {n: int(np.prod(s)) for n, s in kernel_shapes.items()}
    total = sum(sizes.values())
    target = round(density * total)
    if target < len(sizes):
        raise ValueError(f"density {density:g} keeps {target} weights, fewer than one per layer ({len(sizes)} layers)")
    base = max(rates.values())
    exponents = {n: (np.log1p(-rates[n]) / np.log1p(-base)) if rates[n] > 0 else 0.0 for n in sizes}

    def kept(h: float) -> dict[str, float]:
        return {n: sizes[n] * h ** exponents[n] for n in sizes}

    low, high = 0.0, 1.0
    for _ in range(200):
        mid = (low + high) / 2
        if sum(kept(mid).values()) < target:
            low = mid
        else:
            high = mid
    real = kept(high)
    if abs(sum(real.values()) - target) > 0.5 * len(sizes):
        fullest = max(real, key=lambda n: real[n] / sizes[n])
        raise ValueError(
            f"density {density:g} is out of reach of the layerwise split at these rates ({fullest} "
            f"would still keep {100 * real[fullest] / sizes[fullest]:.1f}% of its weights)"
        )
    counts = {n: min(sizes[n], max(1, int(np.floor(v)))) for n, v in real.items()}
    # largest remainders first, then the layers with room, until the counts add up to the target
    order = sorted(sizes, key=lambda n: real[n] - np.floor(real[n]), reverse=True)
    while sum(counts.values()) != target:
        step = 1 if sum(counts.values()) < target else -1
        for n in order if step > 0 else order[::-1]:
            if (step > 0 and counts[n] < sizes[n]) or (step < 0 and counts[n] > 1):
                counts[n] += step
                break
    return counts


def random_masks_like(masks: Masks, rng: np.random.Generator) -> Masks:
    """Masks keeping the same number of weights in each layer, at uniformly random positions."""
    out = {}
    for name, mask in masks.items():
        kept = int(mask.sum())
        new = np.zeros(mask.size, dtype=np.float32)
        new[rng.choice(mask.size, size=kept, replace=False)] = 1.0
        out[name] = new.reshape(mask.shape)
    return out


def pruned_nonzero(kernels: dict[str, np.ndarray], masks: Masks) -> tuple[int, float]:
    """How many pruned weights (mask 0) are not exactly zero, and the largest magnitude among them."""
    count, largest = 0, 0.0
    for name, mask in masks.items():
        leaked = kernels[name][mask == 0]
        count += int(np.count_nonzero(leaked))
        largest = max(largest, float(np.abs(leaked).max(initial=0.0)))
    return count, largest


def layer_density(masks: Masks) -> dict[str, float]:
    return {name: float(mask.sum()) / mask.size for name, mask in masks.items()}


def overall_density(masks: Masks) -> float:
    """Fraction of all prunable weights (the masked kernels together) still alive."""
    return float(sum(m.sum() for m in masks.values())) / sum(m.size for m in masks.values())


def plan_ladder(kernel_shapes: dict[str, tuple[int, ...]], rates: dict[str, float] | float, rounds: int) -> list[dict]:
    """Densities after rounds 0..rounds without training: counts depend only on sizes and rates.

    `rates` is a per-layer dict (layerwise) or one float (global). Matches the masks the run makes.
    """
    sizes = {name: int(np.prod(shape)) for name, shape in kernel_shapes.items()}
    alive: dict[str, float] = dict(sizes)
    total = sum(sizes.values())
    ladder = []
    for r in range(rounds + 1):
        ladder.append(
            {
                "round": r,
                "density": sum(alive.values()) / total,
                "layer_density": {n: alive[n] / sizes[n] for n in sizes},
            }
        )
        if isinstance(rates, dict):
            alive = {n: alive[n] - prune_count(alive[n], rates[n]) for n in alive}
        else:  # global: the total count is exact; how it splits over layers depends on the weights
            remaining = sum(alive.values())
            keep = remaining - prune_count(remaining, rates)
            alive = {n: alive[n] * keep / remaining for n in alive}
    return ladder


def rounds_to_reach(kernel_shapes, rates, target_density: float, max_rounds: int = 200) -> int:
    """The fewest rounds after which the overall density is at or below `target_density`."""
    ladder = plan_ladder(kernel_shapes, rates, max_rounds)
    for step in ladder:
        if step["density"] <= target_density + 1e-12:
            return step["round"]
    raise ValueError(f"target density {target_density} is not reached within {max_rounds} rounds")
