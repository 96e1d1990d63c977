"""A run's checkpoint folder: what a stopped run resumes from. Pure NumPy and JSON (no TensorFlow), so the
supervisor counts completed rounds without importing it. Every file is checked before it is used: a bad
one is named in one line and its round is trained again, never trusted.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lth import models, networks, paths, pruning
from lth import records as records_check
from lth.errors import Explained
from lth.fsutil import ArrayFileError, file_sha256, read_npz, write_json_atomic, write_npz_atomic


class RoundCheckpoint:
    """A run's kept state in a folder: a stopped lottery or one-shot run resumes at its next round from it,
    and every training's network is kept there.

    weights.npz: theta0 (`theta0/I`) and the reset point (`reset/I`: theta0 or the rewind weights).
    round_RR.npz (lottery): the masks round RR trained with (`mask/LAYER`) and those the next round uses
    (`next/LAYER`); round_RR.json: the round's result records, written last to mark it complete (a one-shot
    run's round RR: its RR-th density).
    net_ARM_RR.npz: the weights at the early-stop iteration and the mask of each training (lth.networks).
    """

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)

    def save_weights(self, theta0: list[np.ndarray], reset_point: list[np.ndarray]) -> str:
        """Keep theta0 and the reset point; returns weights.npz's sha256, which weights.json records (written
        after it) and the run's results carry."""
        arrays = {f"theta0/{i}": w for i, w in enumerate(theta0)}
        if any(not np.array_equal(a, b) for a, b in zip(theta0, reset_point)):  # late rewinding only
            arrays.update({f"reset/{i}": w for i, w in enumerate(reset_point)})
        write_npz_atomic(self.folder / paths.WEIGHTS, arrays)
        sha256 = file_sha256(self.folder / paths.WEIGHTS)
        write_json_atomic(self.folder / paths.WEIGHTS_SHA256, {"sha256": sha256})
        return sha256

    def weights_sha256(self) -> str | None:
        """weights.npz's sha256 as weights.json records it, once the file is that one; None if either is
        missing or they disagree (a resumed run then trains from round 0)."""
        try:
            recorded = records_check.parse_json((self.folder / paths.WEIGHTS_SHA256).read_bytes(), paths.WEIGHTS_SHA256)
            sha256 = recorded.get("sha256") if isinstance(recorded, dict) else None
            return sha256 if isinstance(sha256, str) and file_sha256(self.folder / paths.WEIGHTS) == sha256 else None
        except (OSError, ValueError):
            return None

    def save_network(self, arm: str, round_: int, weights: list[np.ndarray], masks: pruning.Masks) -> str:
        """Keep one training's network; returns the file's sha256, which its record carries (a resumed run uses
        a kept network only if it is still the file its round recorded)."""
        name = networks.save(self.folder, arm, round_, weights, masks)
        return file_sha256(self.folder / name)

    def load_reset_point(self, model: str) -> list[np.ndarray] | None:
        """The saved reset point, None if absent; raises CheckpointError naming the file if it is unusable."""
        path = self.folder / paths.WEIGHTS
        if not path.exists() and not path.is_symlink():
            return None
        if self.weights_sha256() is None:
            raise CheckpointError(
                f"{paths.in_checkpoint(paths.WEIGHTS)} is not the file "
                f"{paths.in_checkpoint(paths.WEIGHTS_SHA256)} records"
            )
        shapes = models.get_spec(model).weight_shapes()
        arrays = self._arrays(path, networks.weights_file_shapes(model))
        prefix = "reset/" if any(k.startswith("reset/") for k in arrays) else "theta0/"  # no reset/: it is theta0
        if any(f"{prefix}{i}" not in arrays for i in range(len(shapes))):
            raise CheckpointError(f"{paths.in_checkpoint(paths.WEIGHTS)} lacks some of the {model} weights")
        return [arrays[f"{prefix}{i}"] for i in range(len(shapes))]

    def save_round(
        self,
        round_: int,
        records: list[dict],
        masks: pruning.Masks | None = None,
        next_masks: pruning.Masks | None = None,
    ) -> None:
        """A finished round: its masks (lottery: those it trained with and the next round's) and records."""
        if masks is not None:
            assert next_masks is not None  # a round that keeps masks keeps the next round's too
            arrays = {f"mask/{n}": m.astype(np.uint8) for n, m in masks.items()}  # 0/1: bytes, not floats
            arrays.update({f"next/{n}": m.astype(np.uint8) for n, m in next_masks.items()})
            write_npz_atomic(self.folder / paths.round_masks(round_), arrays)
        write_json_atomic(self.folder / paths.round_records(round_), records)

    def round_records(self, round_: int) -> list[dict] | None:
        """The result records of round `round_`'s file (written last: the round is complete), checked as result
        records but not against a plan; None where there is none. CheckpointError for a file the run did not
        write (a link, a folder, oversized), Corrupt (lth.records) for content that is not records."""
        path = self.folder / paths.round_records(round_)
        if not path.exists() and not path.is_symlink():
            return None
        name = paths.in_checkpoint(path.name)
        if path.is_symlink() or not path.is_file() or path.stat().st_size > 16 * 2**20:
            raise CheckpointError(f"{name} is not a file the run wrote")
        return records_check.result_records(records_check.parse_json(path.read_bytes(), name), name)

    def load_round(self, round_: int, plan) -> tuple[list[dict], pruning.Masks | None] | None:
        """(records, masks for the next round) of a completed round of a run whose plan (lth.plans) is `plan`,
        or None. The round's records must be the trainings the plan makes in it at their densities, its masks
        file of the plan's checkpoint shapes (None: a one-shot round keeps none), each network file the one its
        record names by sha256. Raises CheckpointError naming the file when the round's files are not what a
        finished round writes (the round is then trained again)."""
        shapes, densities, slack = plan.checkpoint_shapes(), plan.round_densities(round_), plan.density_slack
        name = paths.in_checkpoint(paths.round_records(round_))
        try:
            records = self.round_records(round_)
            if records is None:
                return None
            # a one-shot run's round 0 is empty where it trains no dense network
            records_check.need(
                (bool(records) or shapes is None) and all(r["round"] == round_ for r in records),
                f"{name}: its records are not round {round_}'s",
            )
            records_check.need(
                sorted(r["arm"] for r in records) == sorted(densities)
                and all(abs(r["density"] - densities[r["arm"]]) <= slack for r in records),
                f"{name}: its records are not the trainings this round makes",
            )
            for r in records:
                kept = self.folder / networks.net_file(r["arm"], round_)
                records_check.need(
                    r.get("network_sha256") is None
                    or (kept.is_file() and not kept.is_symlink() and file_sha256(kept) == r["network_sha256"]),
                    f"{paths.in_checkpoint(kept.name)} is not the network its round recorded",
                )
        except CheckpointError:  # a file the run did not write: named as such
            raise
        except ValueError as e:  # Corrupt (bad JSON of any kind, bad records) is a ValueError
            raise CheckpointError(f"{name} is unusable: {str(e)[:160]}") from None
        if shapes is None:
            return records, None
        expected = {f"{kind}/{n}": shape for kind in ("mask", "next") for n, shape in shapes.items()}
        arrays = self._arrays(self.folder / paths.round_masks(round_), expected)
        if set(arrays) != set(expected) or not all(np.isin(a, (0, 1)).all() for a in arrays.values()):
            raise CheckpointError(
                f"{paths.in_checkpoint(paths.round_masks(round_))} does not hold the round's 0/1 masks"
            )
        next_masks = {k.split("/", 1)[1]: v.astype(np.float32) for k, v in arrays.items() if k.startswith("next/")}
        return records, next_masks

    def completed_rounds(self, plan, report=None) -> list[tuple[list[dict], pruning.Masks | None]]:
        """(records, masks for the next round) of each completed round, from round 0 up to the first that is
        missing or unusable: the one answer to "which rounds of this run are complete", for resuming (the
        experiments), the supervisor's restart and the tables of unfinished runs. An unusable round is passed
        to `report` (its message names the file); it and every later round are trained again."""
        if not plan.resumes:
            return []
        done: list[tuple[list[dict], pruning.Masks | None]] = []
        for round_ in range(plan.last_round() + 1):
            try:
                saved = self.load_round(round_, plan)
            except CheckpointError as e:
                if report is not None:
                    report(
                        f"lth: {e}; " + (f"training round {round_} again" if round_ else "training again from round 0")
                    )
                break
            if saved is None:
                break
            done.append(saved)
        return done

    @staticmethod
    def _arrays(path: Path, expected: dict[str, tuple[int, ...]]) -> dict[str, np.ndarray]:
        """The arrays of a checkpoint file, their names and shapes checked from the headers before reading."""
        if path.is_symlink() or not path.is_file():
            raise CheckpointError(f"{paths.in_checkpoint(path.name)} is missing or not a file the run wrote")
        try:
            return read_npz(path, expected)
        except ArrayFileError as e:
            raise CheckpointError(paths.in_checkpoint(str(e))) from None


class CheckpointError(Explained, ValueError):
    """A checkpoint file that is not what a finished round writes; the message names the file."""
