"""The one-shot experiment: prune once with each criterion at each density, then train the masked network
from theta0 (or the rewind point) with the loop, early stop and reports every experiment uses.

Round 0 is the dense network trained from theta0 where a criterion scores trained weights (its weights at
early stop) or a late-rewinding point is needed; else round 0 is empty. Round r holds, for the r-th density
(densest first), every criterion's training and each of its controls: `reinit` (the mask, fresh initial
weights), `random_prune` (the layerwise shuffle: the mask's per-layer counts at random positions) and
`invert` (the criterion's lowest scores kept). A finished round is checkpointed, so a stopped run resumes at
its next round.
"""

from __future__ import annotations

import functools
from typing import cast

import numpy as np

from lth import controls, criteria, models, networks, paths, pruning
from lth.arms import oneshot_arm
from lth.checkpoint import CheckpointError, RoundCheckpoint
from lth.experiments import Experiment, derive_seed
from lth.plans.oneshot import OneShotPlan


class OneShot(Experiment):
    def run(self, checkpoint: RoundCheckpoint | None = None) -> list[dict]:
        c, plan = self.config, cast(OneShotPlan, self.config.plan)
        layers = c.prunable_layers
        theta0, trainer, rewind_at = self.pruning_start()
        records: list[dict] = []
        done = self.resumed(checkpoint)
        if done is None:
            dense, reset_point, trained = [], theta0, None
            if plan.trains_dense():
                trainer.reset(theta0, pruning.dense_masks(c.spec.kernel_shapes, layers))
                record, result = self.train(trainer, "dense", 0, None, snapshot_at=rewind_at)
                dense = [record]
                reset_point = result.snapshot if rewind_at is not None else theta0
                trained = c.spec.kernels(result.best_weights)
            if checkpoint:
                checkpoint.save_weights(theta0, reset_point)
                checkpoint.save_round(0, dense)
            done = ([dense], reset_point, trained)
        rounds, reset_point, trained = done
        for round_records in rounds:
            records += round_records
        self.theta0_kernels = {n: c.spec.kernels(theta0)[n] for n in layers}
        self.trained_kernels = {n: trained[n] for n in layers} if trained is not None else None
        self.scores: dict[str, dict] = {}  # each criterion scored once (random and synflow: per density)
        for round_, density in enumerate(plan.ordered_densities(), start=1):
            if round_ < len(rounds):
                continue
            round_records = []
            for name in c.criteria:
                masks = self.masks(name, density, round_)
                trainer.reset(reset_point, masks)
                round_records.append(self.trained(trainer, name, None, round_, masks))
                inputs = controls.ControlInputs(
                    masks=masks,
                    reset_point=reset_point,
                    seed=c.seed,
                    seed_parts=(name, round_),
                    initial_weights=self.initial_weights,
                    inverted_masks=functools.partial(self.masks, name, density, round_, invert=True),
                )
                for control in sorted(c.controls):
                    start, control_masks = controls.CONTROLS[control].start(inputs)
                    trainer.reset(start, control_masks)
                    round_records.append(self.trained(trainer, name, control, round_, control_masks))
            if checkpoint:
                checkpoint.save_round(round_, round_records)
            records += round_records
        return records

    def trained(self, trainer, name: str, control: str | None, round_: int, masks: pruning.Masks) -> dict:
        record, _ = self.train(trainer, oneshot_arm(name, control), round_, masks)
        record.update(criterion=name, control=control)
        return record

    def resumed(self, checkpoint: RoundCheckpoint | None):
        """(records of each finished round, reset point, dense trained kernels) from the checkpoint, or None
        when round 0 (the dense training) must be trained again; a bad round is named and trained again."""
        c, plan = self.config, cast(OneShotPlan, self.config.plan)
        if checkpoint is None:
            return None
        done = checkpoint.completed_rounds(plan, report=lambda m: print(m, flush=True))
        if not done:
            return None
        try:
            reset_point = checkpoint.load_reset_point(c.model_key)
            trained = (
                networks.load(checkpoint.folder, c.model_key, "dense", 0).kernels() if plan.trains_dense() else None
            )
            if reset_point is None or len(done[0][0]) != plan.trains_dense():
                raise CheckpointError(
                    f"{paths.in_checkpoint(paths.round_records(0))} is not the dense training this run makes"
                )
        except (CheckpointError, networks.NetworkError) as e:
            print(f"lth: {e}; training again from round 0", flush=True)
            return None
        return [records for records, _ in done], reset_point, trained

    def masks(self, name: str, density: float, round_: int, invert: bool = False) -> pruning.Masks:
        """The mask criterion `name` makes at `density` (the scope's rule); `invert` keeps the lowest scores.
        What the criterion scores and how (once, per density, or in steps) is its registry entry's."""
        c = self.config
        criterion = criteria.CRITERIA[name]
        sign = -1.0 if invert else 1.0

        def keep(scores, alive, d):
            counts = cast(OneShotPlan, c.plan).keep_counts(d)
            return pruning.keep_highest({n: sign * s for n, s in scores.items()}, counts, alive)

        inputs = criteria.ScoringInputs(
            theta0=self.theta0_kernels,
            trained=self.trained_kernels,
            model=self.scoring_model,
            batch=lambda: criteria.scoring_batch(self.data.x_train, self.data.y_train, derive_seed(c.seed, "scoring")),
            rng=np.random.default_rng(derive_seed(c.seed, name, round_)) if criterion.fresh_draw else None,
        )
        scores = None
        if not criterion.iterative and not criterion.fresh_draw:  # scored once per run
            scores = self.scores.get(name)
            if scores is None:
                scores = self.scores[name] = criterion.score(inputs)
        return criteria.criterion_masks(criterion, inputs, keep, density, scores=scores)

    def scoring_model(self):
        """The network at theta0 that gradient-based criteria score (built once)."""
        if getattr(self, "_scoring", None) is None:
            self._scoring = models.build(self.config.model_key, self.config.seed)
        return self._scoring
