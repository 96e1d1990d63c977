"""The experiments: dense baseline, iterative lottery tickets with controls, tfmot gradual pruning, instability
(and lth.oneshot: pruning once by a criterion).

Every experiment returns a list of result records, one per (arm, round): its density, per-layer
density, early-stop iteration, test accuracy there and final test accuracy.
Seeds: each arm's initial weights, random masks and data order are derived from the run seed and the
arm/round alone, never from state carried between rounds, so any round can be recomputed alone.
"""

from __future__ import annotations

from typing import cast

import numpy as np

from lth import models, networks, paths, pruning
from lth.checkpoint import CheckpointError, RoundCheckpoint
from lth.data import DataError, Dataset
from lth.device import DeviceInfo
from lth.errors import Explained
from lth.fsutil import ArrayFileError, read_npz
from lth.hparams import RunConfig
from lth.plans.instability import InstabilityPlan
from lth.plans.tfmot import TfmotPlan
from lth.seeds import derive_seed
from lth.tf_setup import keras
from lth.training import OnEval, Trainer


class MaskIntegrityError(Explained, ArithmeticError):
    """Pruned weights that are not exactly zero after training: the run fails instead of reporting them."""


class Experiment:
    """What every experiment shares: data, device, seeds, the progress callback."""

    def __init__(
        self,
        config: RunConfig,
        data: Dataset,
        device: DeviceInfo,
        on_eval: OnEval | None,
        checkpoint: RoundCheckpoint | None = None,
    ):
        self.config, self.data, self.device, self.on_eval = config, data, device, on_eval
        self.checkpoint = checkpoint
        self.iterations = config.total_iterations(len(data.y_train))
        self.data_seed = derive_seed(config.seed, "data")
        self._plain_model = None

    def run(self, checkpoint: RoundCheckpoint | None = None) -> list[dict]:
        """Train the run's networks; their records (each experiment's own)."""
        raise NotImplementedError

    def initial_weights(self, *purpose) -> list[np.ndarray]:
        seed = self.config.seed if not purpose else derive_seed(self.config.seed, *purpose)
        return models.build(self.config.model_key, seed).get_weights()

    def trainer(self, model, masked_layers=()) -> Trainer:
        c = self.config
        return Trainer(
            model,
            self.data,
            optimizer=c.optimizer,
            lr=c.lr,
            batch_size=c.batch_size,
            masked_layers=masked_layers,
            device=self.device.tf_device,
            jit=c.spec.xla,
        )

    def pruning_start(self) -> tuple[list[np.ndarray], Trainer, int | None]:
        """What a run that prunes and retrains starts from: theta0 of its seed, a trainer masking its prunable
        layers, and the late-rewinding iteration k (None: the reset point is theta0)."""
        c = self.config
        model = models.build(c.model_key, c.seed)
        rewind_at = c.rewind if isinstance(c.rewind, int) else None
        return model.get_weights(), self.trainer(model, c.prunable_layers), rewind_at

    def train(
        self,
        trainer: Trainer,
        arm: str,
        round_: int,
        masks: pruning.Masks | None,
        target_density: float | None = None,
        keep: bool = True,
        **kwargs,
    ):
        """Train one arm; progress events carry the mask's density (tfmot's pruned arm: its target).
        `keep`: check the mask held and keep the early-stop network (tfmot's pruned arm does it itself)."""
        density = pruning.overall_density(masks) if masks else (target_density or 1.0)
        layer_density = pruning.layer_density(masks) if masks else {}
        result = trainer.fit(
            iterations=self.iterations,
            eval_every=self.config.eval_every,
            data_seed=self.data_seed,
            patience=self.config.patience,
            on_eval=self.on_eval,
            context={"arm": arm, "round": round_, "density": density, "layer_density": layer_density},
            **kwargs,
        )
        record = {"arm": arm, "round": round_, "density": density, "layer_density": layer_density, **result.summary()}
        if keep:
            assert result.best_weights is not None  # fit returns the early-stop weights
            self.keep(record, masks or {}, early_stop=result.best_weights, final=trainer.model.get_weights())
        return record, result

    def keep(
        self, record: dict, masks: pruning.Masks, *, early_stop: list[np.ndarray], final: list[np.ndarray]
    ) -> None:
        """Mask integrity (pruned weights exactly zero at the end and at early stop: else the run fails),
        the compression report's numbers, and the early-stop network written to the checkpoint."""
        arm, round_ = record["arm"], record["round"]
        net = networks.Network(self.config.model_key, arm, round_, early_stop, masks)
        count, largest = self.leaked(final, masks)
        early_count, early_largest = self.leaked(early_stop, masks)
        if count or early_count:
            raise MaskIntegrityError(
                f"{arm} round {round_}: {max(count, early_count)} pruned weights are not zero after training "
                f"(largest |w| = {max(largest, early_largest):.3g}); the mask did not hold"
            )
        record.update(pruned_nonzero=count, pruned_max_abs=largest, **net.counts(), **self.file_sizes(net))
        if self.checkpoint is not None:
            record["network_sha256"] = self.checkpoint.save_network(arm, round_, early_stop, masks)

    def leaked(self, weights: list[np.ndarray], masks: pruning.Masks) -> tuple[int, float]:
        """Pruned weights of `weights` (as `model.get_weights()`) that are not zero: count, largest |w|."""
        return pruning.pruned_nonzero(self.config.spec.kernels(weights), masks)

    def file_sizes(self, net: networks.Network) -> dict:
        from lth import model_export

        if self._plain_model is None:
            self._plain_model = models.build(self.config.model_key, self.config.seed)
        return model_export.file_sizes(model_export.build(net, self._plain_model))


class Baseline(Experiment):
    def run(self, checkpoint=None) -> list[dict]:
        model = models.build(self.config.model_key, self.config.seed)
        if self.checkpoint is not None:  # theta0 kept for the analyses, as a lottery run keeps it
            self.checkpoint.save_weights(model.get_weights(), model.get_weights())
        trainer = self.trainer(model)
        trainer.reset(model.get_weights())
        record, _ = self.train(trainer, "dense", 0, None)
        return [record]


class Lottery(Experiment):
    """Iterative magnitude pruning with reset to theta0 (or rewind to iteration k), plus controls."""

    def prune(
        self, trained: dict[str, np.ndarray], masks: pruning.Masks, theta0: dict[str, np.ndarray]
    ) -> pruning.Masks:
        """The next round's masks: the run's criterion scores the trained kernels (magnitude: |w|)."""
        from lth import criteria

        scores = criteria.CRITERIA[self.config.criterion].score(
            criteria.ScoringInputs(theta0={n: theta0[n] for n in masks}, trained=trained)
        )
        rates = self.config.layer_rates()
        if isinstance(rates, dict):
            return pruning.prune_layerwise(scores, masks, rates)
        return pruning.prune_global(scores, masks, rates)

    def run(self, checkpoint: RoundCheckpoint | None = None) -> list[dict]:
        c = self.config
        theta0, trainer, rewind_at = self.pruning_start()
        resuming = checkpoint is not None
        reset_point = None
        if checkpoint is not None:
            try:
                reset_point = checkpoint.load_reset_point(c.model_key)
            except CheckpointError as e:  # round 0 makes the reset point: every round is trained again
                print(f"lth: {e}; training again from round 0", flush=True)
                resuming = False
        reset_point = reset_point or theta0
        masks = pruning.dense_masks(c.spec.kernel_shapes, c.prunable_layers)
        records: list[dict] = []
        # resumed: the rounds that finished before the run stopped (those after one trained again follow from
        # it: none of their old files is used)
        done = (
            checkpoint.completed_rounds(c.plan, report=lambda m: print(m, flush=True))
            if resuming and checkpoint is not None
            else []
        )
        for round_records, next_masks in done:
            records += round_records
            assert next_masks is not None  # a lottery round keeps the next round's masks
            masks = next_masks
        for round_ in range(len(done), c.plan.last_round() + 1):
            # round 0 is the dense network from theta0 (with late rewinding it also finds the reset point)
            trainer.reset(theta0 if round_ == 0 else reset_point, masks)
            ticket, result = self.train(
                trainer, "ticket", round_, masks, snapshot_at=rewind_at if round_ == 0 else None
            )
            trained = trainer.kernels()
            if round_ == 0:
                if rewind_at is not None:
                    reset_point = result.snapshot
                if checkpoint:
                    checkpoint.save_weights(theta0, reset_point)
            round_records = [ticket] + [
                self.control(trainer, name, round_, masks, reset_point) for name in sorted(c.controls) if round_ > 0
            ]
            next_masks = self.prune(trained, masks, c.spec.kernels(theta0))
            if checkpoint:
                checkpoint.save_round(round_, round_records, masks, next_masks)
            records += round_records
            masks = next_masks
        return records

    def control(
        self, trainer: Trainer, name: str, round_: int, masks: pruning.Masks, reset_point: list[np.ndarray]
    ) -> dict:
        """One control of the round's ticket (lth.controls: what it trains from)."""
        from lth import controls

        start, masks = controls.CONTROLS[name].start(
            controls.ControlInputs(
                masks=masks,
                reset_point=reset_point,
                seed=self.config.seed,
                seed_parts=(round_,),
                initial_weights=self.initial_weights,
            )
        )
        trainer.reset(start, masks)
        record, _ = self.train(trainer, name, round_, masks)
        return record


class TfmotPruning(Experiment):
    """The original study's method: tfmot gradual magnitude pruning to the target density (the
    "pruned" network, trained weights kept), then its mask reset to theta0 ("ticket") and its mask
    with fresh weights ("reinit")."""

    def run(self, checkpoint=None) -> list[dict]:
        import tensorflow_model_optimization as tfmot

        c = self.config
        layers = set(c.prunable_layers)
        begin, end, frequency = cast(TfmotPlan, c.plan).schedule(self.iterations)
        assert c.target_density is not None  # the plan's check requires it
        schedule = tfmot.sparsity.keras.PolynomialDecay(
            initial_sparsity=0.0,
            final_sparsity=1.0 - c.target_density,
            begin_step=begin,
            end_step=end,
            frequency=frequency,
        )

        base = models.build(c.model_key, c.seed)
        theta0 = base.get_weights()
        if self.checkpoint is not None:  # theta0 kept for the analyses, as a lottery run keeps it
            self.checkpoint.save_weights(theta0, theta0)

        def wrap(layer):
            if layer.name in layers:
                return tfmot.sparsity.keras.prune_low_magnitude(layer, pruning_schedule=schedule)
            return layer.__class__.from_config(layer.get_config())

        pruned_model = keras.models.clone_model(base, clone_function=wrap)
        for source, target in zip(base.layers, pruned_model.layers):
            getattr(target, "layer", target).set_weights(source.get_weights())  # start from theta0
            if hasattr(target, "pruning_step"):
                target.pruning_step.assign(0)  # what tfmot's UpdatePruningStep does at train begin
        trainer = self.trainer(pruned_model)
        trainer.reset(pruned_model.get_weights())
        pruned_record, result = self.train(
            trainer, "pruned", 0, None, target_density=c.target_density, select_from=end, keep=False
        )
        final = self.stripped(pruned_model, pruned_model.get_weights())
        early_stop = self.stripped(pruned_model, result.best_weights)  # leaves the early-stop weights set
        masks = {
            layer.layer.name: layer.pruning_vars[0][1].numpy()
            for layer in pruned_model.layers
            if hasattr(layer, "pruning_vars")
        }
        pruned_record["density"] = pruning.overall_density(masks)
        pruned_record["layer_density"] = pruning.layer_density(masks)
        self.keep(pruned_record, masks, early_stop=early_stop, final=final)

        plain = models.build(c.model_key, c.seed)
        masked = self.trainer(plain, sorted(masks))
        masked.reset(theta0, masks)
        ticket, _ = self.train(masked, "ticket", 0, masks)
        masked.reset(self.initial_weights("reinit", 0), masks)
        reinit, _ = self.train(masked, "reinit", 0, masks)
        return [pruned_record, ticket, reinit]

    @staticmethod
    def stripped(pruned_model, weights: list[np.ndarray]) -> list[np.ndarray]:
        """The plain network's weights (kernel, bias per layer) of the wrapped model at `weights`:
        tfmot's `strip_pruning`, which keeps each kernel as it is (masked by the last forward pass)."""
        import tensorflow_model_optimization as tfmot

        pruned_model.set_weights(weights)
        return tfmot.sparsity.keras.strip_pruning(pruned_model).get_weights()


class Instability(Experiment):
    """Linear mode connectivity: for each rewind point k and each network (dense, and the ticket masks of
    a lottery run), two copies train from the weights at k to the end with different data orders; the
    test error is measured along the line between them (lth.instability).

    The weights at k: the dense network trained k iterations from theta0 (the run's data order), with the
    ticket's mask applied for a sparse network (the paper's rewinding); each copy starts with a fresh
    optimiser state."""

    def run(self, checkpoint: RoundCheckpoint | None = None) -> list[dict]:
        from lth import instability

        c = self.config
        model = models.build(c.model_key, c.seed)
        theta0 = model.get_weights()
        ticket_masks: dict[int, pruning.Masks] = {}
        if c.ticket_run is not None:
            path = checkpoint.folder / paths.TICKET if checkpoint else None
            if path is None or not path.is_file():
                raise DataError(f"the masks of run {c.ticket_run} were not copied into this run; submit it again")
            try:
                ticket_masks, ticket_theta0 = instability.read_ticket(read_npz(path, instability.ticket_shapes(c.spec)))
            except ArrayFileError as e:
                raise DataError(f"the ticket masks copied into this run are unusable ({e}); submit it again") from None
            if len(ticket_theta0) != len(theta0) or any(
                not np.array_equal(a, b) for a, b in zip(ticket_theta0, theta0)
            ):
                raise DataError(
                    f"run {c.ticket_run}'s initial weights are not this run's (model {c.model}, seed "
                    f"{c.seed}): its ticket would not be the same network"
                )
        if checkpoint is not None:
            checkpoint.save_weights(theta0, theta0)
        layers = sorted({layer for masks in ticket_masks.values() for layer in masks}) or list(c.spec.layer_names)
        trainer = self.trainer(model, layers)
        dense = pruning.dense_masks(c.spec.kernel_shapes, layers)
        total = self.iterations
        records = []
        plan = cast(InstabilityPlan, c.plan)
        for k in plan.rewind_iterations():
            trainer.reset(theta0, dense)
            if k > 0:
                trainer.fit(
                    iterations=k,
                    eval_every=c.eval_every,
                    data_seed=self.data_seed,
                    on_eval=self.on_eval,
                    context={"arm": "dense", "round": 0, "density": 1.0, "rewind": k, "copy": 0},
                )
            at_k = trainer.model.get_weights()
            for round_ in plan.networks():
                masks = dense if round_ == 0 else ticket_masks[round_]
                records.append(self.pair(trainer, at_k, masks, k, round_, total))
        return records

    def pair(
        self, trainer: Trainer, start: list[np.ndarray], masks: pruning.Masks, k: int, round_: int, total: int
    ) -> dict:
        from lth import instability

        arm = "dense" if round_ == 0 else "ticket"
        density = pruning.overall_density(masks)
        ends, finals = [], []
        for copy in (1, 2):
            trainer.reset(start, masks)
            result = trainer.fit(
                iterations=total - k,
                eval_every=self.config.eval_every,
                data_seed=derive_seed(self.config.seed, "instability", k, round_, copy),
                on_eval=self.on_eval,
                context={"arm": arm, "round": round_, "density": density, "rewind": k, "copy": copy},
            )
            weights = trainer.model.get_weights()
            count, largest = self.leaked(weights, masks)
            if count:
                raise MaskIntegrityError(
                    f"instability k={k} round {round_} copy {copy}: {count} pruned weights "
                    f"are not zero (largest |w| = {largest:.3g})"
                )
            ends.append(weights)
            finals.append(result)
        errors = []
        for alpha in instability.ALPHAS:
            trainer.model.set_weights(instability.interpolate(ends[0], ends[1], alpha))
            errors.append(1.0 - trainer.evaluate("test")[1])
        end_accuracy = [1.0 - errors[0], 1.0 - errors[-1]]
        value = instability.barrier(errors)
        return {
            "arm": arm,
            "round": round_,
            "density": density,
            "layer_density": pruning.layer_density(masks),
            "rewind_iteration": k,
            "alphas": list(instability.ALPHAS),
            "test_errors": errors,
            "barrier": value,
            "stable": instability.is_stable(value),
            "pruned_nonzero": 0,
            # the copies train to the end: "early stop" is the end (the shape every result record has)
            "early_stop_iteration": total,
            "final_iteration": total,
            "early_stop_test_accuracy": float(np.mean(end_accuracy)),
            "final_test_accuracy": float(np.mean(end_accuracy)),
            "copy_test_accuracy": end_accuracy,
            "train_seconds": round(sum(r.seconds for r in finals), 3),
        }
