"""The arms of every experiment, declared once: name, label and colour family. Result records, kept
network files, figures, tables and forms read them here.

An arm is one kind of training in a run: the dense network, the lottery ticket and its controls, tfmot's
pruned network, and the one-shot experiment's criteria (`snip`) and their controls (`snip-reinit`).
"""

from __future__ import annotations

from dataclasses import dataclass

from lth import controls, criteria


@dataclass(frozen=True)
class Arm:
    name: str
    label: str
    scale: str  # plotly sequential colour scale: its family (rounds and series are shades of it)
    colour: str  # the arm's colour where one series is shown
    dash: str = "solid"


CONTROL_LABELS = controls.LABELS
# where a registry entry lacks its colour (a test names it), its series are drawn grey rather than the
# import of every command failing
FALLBACK_SCALE, FALLBACK_COLOUR = "Greys", "#555555"


def oneshot_arm(criterion: str, control: str | None = None) -> str:
    """A one-shot run's arm: the criterion's mask (`snip`) or one of its controls (`snip-reinit`)."""
    return criterion if control is None else f"{criterion}-{control}"


def _registry() -> dict[str, Arm]:
    arms = [
        Arm("dense", "dense baseline", "Greys", "#7f7f7f"),
        Arm("ticket", "lottery ticket", "Blues", "#1f77b4"),
        Arm("pruned", "tfmot pruned network", "Greens", "#2ca02c"),
        Arm("reinit", "random reinit", "Reds", "#d62728"),
        Arm("random_prune", "random pruning (layerwise shuffle)", "Oranges", "#ff7f0e"),
    ]
    for name, c in criteria.CRITERIA.items():
        arms.append(Arm(oneshot_arm(name), name, c.scale or FALLBACK_SCALE, c.colour or FALLBACK_COLOUR))
    for name, c in criteria.CRITERIA.items():
        for control in controls.CONTROLS.values():
            arms.append(
                Arm(
                    oneshot_arm(name, control.name),
                    f"{name}, {control.label}",
                    c.scale or FALLBACK_SCALE,
                    c.colour or FALLBACK_COLOUR,
                    control.dash,
                )
            )
    return {a.name: a for a in arms}


ARMS: dict[str, Arm] = _registry()
NAMES = tuple(ARMS)  # also the legend order of the density figures
LOTTERY_ARMS = ("ticket", "reinit", "random_prune")


def criterion_of(arm: str) -> tuple[str, str | None] | None:
    """(criterion, control) of a one-shot arm, None for the other experiments' arms."""
    name, _, control = arm.partition("-")
    if name in criteria.CRITERIA and (not control or control in CONTROL_LABELS):
        return name, control or None
    return None
