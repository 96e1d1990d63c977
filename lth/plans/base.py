"""The plan of one experiment: how its settings combine, what it records, and which of its rounds a stopped run
keeps. Pure Python: the run store, the supervisor, the forms and the CLI read plans without TensorFlow.

A plan reads its run config (`lth.hparams.RunConfig`) but does not import it: the settings module imports the
plans, to name the experiments and to let each check its own settings.
"""

from __future__ import annotations

import math
from collections.abc import Callable

Need = Callable[[bool, str], None]  # raises the settings' ConfigError with the message when the check fails


class Plan:
    name: str = ""
    title: str = ""  # the experiment in a few words (the CLI's --experiment help)
    # its dashboard page (dashboard.navigation derives the navigation, the page and the browser walks from these)
    page: str = ""  # the page's file in pages/ and its URL path
    page_title: str = ""  # in the navigation
    heading: str = ""  # the page's title
    intro: str = ""  # one paragraph under it
    icon: str = ":material/science:"
    # "module:Class" of the lth.experiments.Experiment that trains it (only lth.runner imports it)
    trained_by: str = ""
    resumes: bool = False  # each finished round checkpointed, so a stopped run resumes at its next round
    density_points: bool = True  # each record is a point of accuracy against density (the Compare page's)
    keeps_networks: bool = True  # each record's trained network is kept (export, compression, analyses)
    # settings that runs of one series may differ in (besides the seed): their results make one line
    series_varies: tuple[str, ...] = ()
    density_slack: float = 1e-9  # how far a record's density may be from the planned one (mask counts are exact)
    # (arm, round) of the run's own dense training from theta0, where it makes one (analyses, statistics)
    dense_record: tuple[str, int] | None = ("dense", 0)

    def __init__(self, config):
        self.config = config

    def check(self, need: Need) -> None:
        """How this experiment's settings combine (each setting's type and range are checked before)."""

    def check_against(self, total_iterations: int, need: Need) -> None:
        """Checks that need the training length (the data set's size)."""

    def canonical(self, canonical: dict) -> dict:
        """The canonical form (`RunConfig.canonical`) with this experiment's derived values filled in."""
        return canonical

    def last_round(self) -> int:
        """The last round a resuming run checkpoints (its rounds are 0 to this); 0 where the run does not
        resume by rounds."""
        return 0

    def records(self) -> list[tuple[str, int]]:
        """(arm, round) of every record a finished run writes, once each."""
        return [("dense", 0)]

    def record_key(self, record: dict) -> tuple:
        """What identifies a record among the run's (`planned_keys`): its arm and round."""
        return record["arm"], record["round"]

    def planned_keys(self) -> list[tuple]:
        """The key (`record_key`) of every record a finished run writes."""
        return self.records()

    def densities(self) -> dict[tuple[str, int], float] | None:
        """The overall density of each record (`records`), or None where the run cannot know it beforehand."""
        return {key: 1.0 for key in self.records()}

    def round_densities(self, round_: int) -> dict[str, float]:
        """{arm: density} of one round's records (a checkpointed round's check)."""
        return {arm: d for (arm, r), d in (self.densities() or {}).items() if r == round_}

    @staticmethod
    def record_labels(arm: str) -> tuple[str, str | None] | None:
        """The (criterion, control) a record of `arm` names, or None where records name none."""
        return None

    def checkpoint_shapes(self) -> dict[str, tuple[int, ...]] | None:
        """The kernel shapes of the masks a checkpointed round keeps, or None where a round keeps none."""
        return None

    def trainings(self) -> int:
        """How many trainings the run makes (each to the full budget unless patience stops it)."""
        return len(self.records())

    def evaluations(self, total_iterations: int) -> int:
        return self.trainings() * math.ceil(total_iterations / self.config.eval_every)


def check_rewind(rewind: str | int, total_iterations: int, need: Need) -> None:
    """A late-rewinding point (`--rewind k`) lies inside the training."""
    need(
        not isinstance(rewind, int) or rewind < total_iterations,
        f"--rewind {rewind} must be below the {total_iterations} training iterations",
    )
