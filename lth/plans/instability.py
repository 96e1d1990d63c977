"""Linear mode connectivity: for each rewind point k and each network (dense, and the ticket masks of a lottery
run), two copies trained from the weights at k; one record per (k, network) pair."""

from __future__ import annotations

import math

from lth.instability import STABLE_BARRIER
from lth.plans.base import Need, Plan


class InstabilityPlan(Plan):
    name = "instability"
    title = "instability: linear mode connectivity"
    page = "instability"
    page_title = "Instability"
    heading = "Instability: linear mode connectivity"
    intro = (
        "Frankle, Dziugaite, Roy & Carbin (ICML 2020): two copies of a network trained from its weights at "
        "iteration k with different data orders; the test error along the straight line between them. Stable "
        f"when the error barrier (highest error on the line minus the mean of the ends) is under "
        f"{100 * STABLE_BARRIER:g} percentage points. Sparse tickets come with their mask from a lottery run; "
        "pruned weights stay zero along the whole line."
    )
    icon = ":material/timeline:"
    trained_by = "lth.experiments:Instability"
    density_points = False  # its records are pairs along a line, not points of accuracy against density
    keeps_networks = False  # its copies are measured along the line, not kept
    dense_record = None  # its dense copies start from the weights at k
    ticket_source = "lottery"  # the experiment whose kept ticket masks it tests (--ticket-run)

    def rewind_iterations(self) -> tuple[int, ...]:
        """The rewind iterations k, ascending (default: k = 0 alone)."""
        return tuple(sorted(set(self.config.rewind_points))) or (0,)

    def networks(self) -> tuple[int, ...]:
        """The networks tested, by lottery round: 0 is the dense network."""
        return (0, *sorted(set(self.config.ticket_rounds)))

    def pairs(self) -> list[tuple[int, int]]:
        """(k, round) of every pair of copies the run trains."""
        return [(k, r) for k in self.rewind_iterations() for r in self.networks()]

    def check(self, need: Need) -> None:
        c = self.config
        need(len(set(c.rewind_points)) == len(c.rewind_points), "--rewind-points lists an iteration twice")
        need(len(set(c.ticket_rounds)) == len(c.ticket_rounds), "--ticket-rounds lists a round twice")
        need(
            c.ticket_run is None or c.ticket_rounds,
            "--ticket-run needs --ticket-rounds (the rounds whose masks are tested)",
        )
        need(c.ticket_run is not None or not c.ticket_rounds, "--ticket-rounds needs --ticket-run")
        need(c.patience is None, "--patience does not apply to instability: both copies train to the end")

    def check_against(self, total_iterations: int, need: Need) -> None:
        last = self.rewind_iterations()[-1]
        need(
            last < total_iterations,
            f"--rewind-points: {last} must be below the {total_iterations} training "
            f"iterations (the copies train from k to the end)",
        )

    def canonical(self, canonical: dict) -> dict:
        canonical["rewind_points"] = list(self.rewind_iterations())
        canonical["ticket_rounds"] = sorted(self.config.ticket_rounds)
        return canonical

    def records(self) -> list[tuple[str, int]]:
        """One record per pair: the dense network's (round 0) or a ticket's (its lottery round)."""
        return [("dense" if r == 0 else "ticket", r) for _, r in self.pairs()]

    def record_key(self, record: dict) -> tuple:
        return record["arm"], record["round"], record.get("rewind_iteration", -1)  # -1: none (not a pair)

    def planned_keys(self) -> list[tuple]:
        """(arm, round, k) of every pair: a record at a rewind point the settings lack is not the run's."""
        return [("dense" if r == 0 else "ticket", r, k) for k, r in self.pairs()]

    def densities(self) -> None:
        return None  # a ticket's density is its lottery run's, known when its masks are copied

    def trainings(self) -> int:
        """Two copies per pair, and the dense training to each k > 0."""
        return 2 * len(self.pairs()) + sum(k > 0 for k in self.rewind_iterations())

    def evaluations(self, total_iterations: int) -> int:
        every = self.config.eval_every
        return sum(2 * math.ceil((total_iterations - k) / every) for k, _ in self.pairs()) + sum(
            math.ceil(k / every) for k in self.rewind_iterations()
        )
