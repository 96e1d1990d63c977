"""Pruning once: each criterion's mask at each density (round r: the r-th density, densest first), trained from
theta0 or the rewind point, with each control; round 0 the dense training where a criterion scores trained
weights or a late-rewinding point is needed, else empty."""

from __future__ import annotations

from lth import criteria, pruning
from lth.arms import criterion_of, oneshot_arm
from lth.plans.base import Need, Plan, check_rewind

# The default densities: points of the paper's LeNet-300-100 ladder (rounds 3, 7, 12, 15, 19 and 24 of 20%/10%
# per round), so one-shot results sit beside iterative pruning's.
DEFAULT_DENSITIES = (0.513, 0.211, 0.070, 0.036, 0.015, 0.005)


class OneShotPlan(Plan):
    name = "oneshot"
    title = "pruning once, by a criterion"
    page = "methods"
    page_title = "Pruning methods"
    heading = "Pruning methods: prune once, by any criterion"
    intro = (
        "Score every weight with a criterion (at initialization: random, magnitude, SNIP, GraSP, SynFlow; after a "
        "dense training: magnitude, movement, ...), keep the highest scores, train the masked network from its "
        "initial weights. Sanity checks of each mask: the layerwise shuffle, a fresh initialization, the inverted "
        "scores. Results on the same density axis as iterative pruning: the Compare page."
    )
    icon = ":material/category:"
    trained_by = "lth.oneshot:OneShot"
    resumes = True
    # its arms are its criteria and its rounds its densities: runs that differ in which criteria, densities or
    # controls they train make one series
    series_varies = ("criteria", "densities", "controls")

    def ordered_densities(self) -> tuple[float, ...]:
        """The densities, densest first: round r of the records prunes to the r-th."""
        return tuple(sorted(self.config.densities, reverse=True))

    def trains_dense(self) -> bool:
        """Whether the run trains the dense network: for the criteria that score trained weights, and to find a
        late-rewinding reset point."""
        c = self.config
        return any(criteria.CRITERIA[n].trained for n in c.criteria) or isinstance(c.rewind, int)

    def keep_counts(self, density: float) -> dict[str, int] | int:
        """Weights a mask keeps at `density`, round(density x all prunable weights) in all: per layer (layerwise:
        the split iterative pruning at the run's rates makes) or over all layers (global). ValueError where the
        layerwise split cannot reach the density (`check` refuses it)."""
        c = self.config
        if c.scope == "global":
            return max(1, round(density * c.total_prunable()))
        return pruning.layer_keep_counts(c.prunable_shapes(), density, c.layer_rates())

    def mask_density(self, density: float) -> float:
        """The overall density a mask at `density` has (counts are whole numbers)."""
        counts = self.keep_counts(density)
        return (counts if isinstance(counts, int) else sum(counts.values())) / self.config.total_prunable()

    def check(self, need: Need) -> None:
        c = self.config
        need(len(c.criteria) > 0, "--criteria names no criterion")
        need(len(set(c.criteria)) == len(c.criteria), "--criteria lists a criterion twice")
        need(len(c.densities) > 0, "--densities gives no density")
        need(len(set(c.densities)) == len(c.densities), "--densities lists a density twice")
        need(
            min(c.densities) * c.total_prunable() >= 1,
            f"--densities {min(c.densities):g} keeps no weight of the {c.total_prunable():,} prunable",
        )
        counts: dict[int, float] = {}  # kept weights -> the density asking for them
        for d in c.densities:
            try:
                count = self.keep_counts(d)
            except ValueError as e:
                need(False, f"--densities: {e}; use --scope global or other rates")
            count = count if isinstance(count, int) else sum(count.values())
            need(
                count not in counts,
                f"--densities {counts.get(count, d)!r} and {d!r} keep the same {count:,} weights: the same mask twice",
            )
            counts[count] = d

    def check_against(self, total_iterations: int, need: Need) -> None:
        check_rewind(self.config.rewind, total_iterations, need)

    def canonical(self, canonical: dict) -> dict:
        canonical["criteria"] = sorted(self.config.criteria)
        canonical["densities"] = sorted(self.config.densities, reverse=True)
        if self.config.scope == "global":
            canonical.pop("prune_rate")  # layerwise only: the per-layer split of a density
        return canonical

    def last_round(self) -> int:
        return len(self.config.densities)

    def records(self) -> list[tuple[str, int]]:
        c = self.config
        return [("dense", 0)] * self.trains_dense() + [
            (oneshot_arm(name, control), r)
            for r in range(1, len(c.densities) + 1)
            for name in c.criteria
            for control in (None, *sorted(c.controls))
        ]

    def densities(self) -> dict[tuple[str, int], float]:
        points = (1.0, *(self.mask_density(d) for d in self.ordered_densities()))
        return {(arm, r): points[r] for arm, r in self.records()}

    @staticmethod
    def record_labels(arm: str) -> tuple[str, str | None] | None:
        """The criterion and control a record of `arm` names (the dense training names none)."""
        return criterion_of(arm)
