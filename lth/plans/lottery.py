"""Iterative pruning with reset to theta0 (or rewind to iteration k): round 0 the dense network, round r the
ticket after r rounds of pruning, and each control of every pruned round."""

from __future__ import annotations

from lth import pruning
from lth.plans.base import Need, Plan, check_rewind

DEFAULT_ROUNDS = 15  # the paper's ladder down to 3.6% for LeNet-300-100
MAX_ROUNDS = 100  # a hard limit (as lth.hparams' others): a longer ladder cannot finish on the machines targeted


class LotteryPlan(Plan):
    name = "lottery"
    title = "iterative pruning, reset to theta0"
    page = "lottery"
    page_title = "Lottery ticket"
    heading = "Lottery ticket: iterative magnitude pruning"
    intro = (
        "Train, prune the smallest weights, reset the survivors to their initial values (or rewind to "
        "iteration k), retrain; with random-reinit and random-pruning controls at every pruned round."
    )
    icon = ":material/content_cut:"
    trained_by = "lth.experiments:Lottery"
    resumes = True
    dense_record = ("ticket", 0)  # round 0: the network before any pruning

    def last_round(self) -> int:
        c = self.config
        if c.rounds is not None:
            return c.rounds
        if c.target_density is not None:
            return pruning.rounds_to_reach(c.prunable_shapes(), c.layer_rates(), c.target_density, MAX_ROUNDS)
        return DEFAULT_ROUNDS

    def density_ladder(self) -> list[dict]:
        """The planned densities per round: {round, density, layer_density}."""
        c = self.config
        return pruning.plan_ladder(c.prunable_shapes(), c.layer_rates(), self.last_round())

    def check(self, need: Need) -> None:
        c = self.config
        need(c.rounds is None or c.target_density is None, "give --rounds or --target-density, not both")
        if c.target_density is not None:
            try:
                self.last_round()
            except ValueError as e:
                need(False, f"--target-density: {e}")
        ladder = self.density_ladder()
        need(
            ladder[-1]["density"] * c.total_prunable() >= 1,
            f"{self.last_round()} rounds would prune every weight; use fewer rounds or a lower rate",
        )
        # a round that prunes no weight trains the last round's network again, and so does every round after it
        kept = [round(step["density"] * c.total_prunable()) for step in ladder]
        idle = next((r for r in range(1, len(kept)) if kept[r] >= kept[r - 1]), None)
        if idle is not None:
            need(
                False,
                f"{self.last_round()} rounds: round {idle} and every later one would prune no weight "
                f"(pruning at these rates stops at {kept[idle - 1]} weights, density "
                f"{ladder[idle - 1]['density']:.2g}); at most {idle - 1} rounds are useful",
            )
        need(
            "invert" not in c.controls,
            "--controls invert applies to --experiment oneshot only (an iterative run's scores change every round)",
        )

    def check_against(self, total_iterations: int, need: Need) -> None:
        check_rewind(self.config.rewind, total_iterations, need)

    def canonical(self, canonical: dict) -> dict:
        canonical["rounds"] = self.last_round()
        canonical.pop("target_density")
        if self.config.criterion == "magnitude":  # runs from before the criterion setting keep their ids
            canonical.pop("criterion")
        return canonical

    def records(self) -> list[tuple[str, int]]:
        rounds = self.last_round()
        return [("ticket", r) for r in range(rounds + 1)] + [
            (c, r) for c in self.config.controls for r in range(1, rounds + 1)
        ]

    def densities(self) -> dict[tuple[str, int], float]:
        ladder = {step["round"]: step["density"] for step in self.density_ladder()}
        return {(arm, r): ladder[r] for arm, r in self.records()}

    def checkpoint_shapes(self) -> dict[str, tuple[int, ...]]:
        return self.config.prunable_shapes()
