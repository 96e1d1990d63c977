"""The original study's method: tfmot's gradual magnitude pruning to a target density ("pruned"), then its mask
reset to theta0 ("ticket") and with fresh weights ("reinit")."""

from __future__ import annotations

import math

from lth.plans.base import Need, Plan

# The original study's schedule, as fractions of the training steps.
BEGIN, END, FREQUENCY = 0.2, 0.6, 0.02


def schedule_words(length: str) -> str:
    """The schedule in words, as fractions of `length` (the help's and the form's)."""
    return f"from {BEGIN:.0%} to {END:.0%} of {length}, every {FREQUENCY:.0%}"


class TfmotPlan(Plan):
    name = "tfmot"
    title = "tfmot gradual magnitude pruning"
    page = "tfmot"
    page_title = "tfmot pruning"
    heading = "tfmot gradual pruning (the original study)"
    intro = (
        "tensorflow-model-optimization prunes during training to the target density (the pruned network); "
        "its mask is then retrained from the initial weights (lottery ticket) and from a fresh "
        "initialisation (random reinit)."
    )
    icon = ":material/compress:"
    trained_by = "lth.experiments:TfmotPruning"
    # one run per target density: a series spans densities, as a lottery run's rounds do
    series_varies = ("target_density",)
    density_slack = 1e-3  # the pruned arm's schedule rounds its own way
    dense_record = None  # it prunes while it trains

    def check(self, need: Need) -> None:
        c, td = self.config, self.config.target_density
        need(td is not None, "--experiment tfmot needs --target-density (the fraction of weights kept)")
        smallest = min(math.prod(shape) for shape in c.prunable_shapes().values())
        need(td * smallest >= 1, f"--target-density {td:g} keeps no weight of a {smallest}-weight layer")

    def check_against(self, total_iterations: int, need: Need) -> None:
        length = self.config.schedule_length
        need(total_iterations >= 10, "--experiment tfmot needs at least 10 iterations for its pruning schedule")
        if length is not None:
            need(
                length <= total_iterations,
                f"--schedule-length {length:,} exceeds the {total_iterations:,} training iterations",
            )

    def canonical(self, canonical: dict) -> dict:
        if self.config.schedule_length is None:  # runs from before the setting keep their ids
            canonical.pop("schedule_length")
        return canonical

    def schedule(self, total_iterations: int) -> tuple[int, int, int]:
        """begin, end and frequency (in iterations) of the PolynomialDecay pruning schedule, in the original
        study's proportions of `schedule_length` (default: the whole budget).

        tfmot updates masks only on steps begin + k * frequency, so the end is put on such a step (else the
        final density would never be reached) and no later than the last iteration.
        """
        length = self.config.schedule_length or total_iterations
        begin = int(BEGIN * length)
        frequency = max(1, int(FREQUENCY * length))
        steps = max(1, round((END * length - begin) / frequency))
        steps = min(steps, (total_iterations - begin) // frequency)
        return begin, begin + frequency * steps, frequency

    def records(self) -> list[tuple[str, int]]:
        return [("pruned", 0), ("ticket", 0), ("reinit", 0)]

    def densities(self) -> dict[tuple[str, int], float]:
        return {key: self.config.target_density for key in self.records()}
