"""TensorBoard event files of a run, written as its evaluations arrive: one TensorBoard run per arm and
round (`tensorboard/ARM_roundRR/`), scalars for losses, accuracies and densities (overall and per layer)
at each evaluated iteration. `tensorboard --logdir cache/` shows every run of the store."""

from __future__ import annotations

import contextlib
import re
from pathlib import Path
from typing import Any

from lth import paths
from lth.fsutil import make_dirs
from lth.walk import remove_tree

ROUND = re.compile(r"_round(\d+)")
SCALARS = {
    "train_loss": "loss/train",
    "val_loss": "loss/validation",
    "test_loss": "loss/test",
    "train_accuracy": "accuracy/train",
    "val_accuracy": "accuracy/validation",
    "test_accuracy": "accuracy/test",
    "density": "density/overall",
}


def run_name(event: dict) -> str:
    name = paths.training_name(event["arm"], event["round"])
    if event.get("rewind") is not None:  # an instability run's copies: one TensorBoard run each
        name += f"_k{event['rewind']}_copy{event['copy']}"
    return name


class EventLog:
    """Writers are opened on the first event (TensorFlow is imported then, in training processes only)."""

    def __init__(self, folder: Path | None):
        self.folder = folder
        self.writers: dict[str, Any] = {}  # tf.summary file writers
        self.broken: str | None = None if folder is not None else "the run has no usable tensorboard folder"

    def clear_from(self, round_: int) -> None:
        """Remove the event files of rounds a resumed run trains again (their curves start afresh)."""
        if self.folder is None:
            return
        for path in self.folder.iterdir():
            match = ROUND.search(path.name)
            if path.is_dir() and not path.is_symlink() and match and int(match.group(1)) >= round_:
                remove_tree(path)

    def write(self, event: dict, layer_density: dict[str, float] | None = None) -> None:
        if self.broken or self.folder is None:  # (`broken` is set where there is no folder)
            return
        try:
            from lth.tf_setup import tf

            name = run_name(event)
            writer = self.writers.get(name)
            if writer is None:  # made first, level by level, refusing links: events land in the run only
                writer = self.writers[name] = tf.summary.create_file_writer(str(make_dirs(self.folder / name)))
            with writer.as_default(step=event["iteration"]):
                for key, tag in SCALARS.items():
                    if event.get(key) is not None:
                        tf.summary.scalar(tag, event[key])
                for layer, density in (layer_density or {}).items():
                    tf.summary.scalar(f"density/{layer}", density)
        except Exception as e:  # a full disk or a broken install must not fail the training it reports
            self.broken = f"TensorBoard event files are not written: {e}"
            print(f"lth: {self.broken}", flush=True)

    def close(self) -> None:
        for writer in self.writers.values():
            with contextlib.suppress(Exception):
                writer.close()
        self.writers.clear()
