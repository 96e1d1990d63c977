"""The three experiments: dense baseline, iterative lottery tickets with controls, tfmot one-shot pruning.

Every experiment returns a list of result records, one per (arm, round): its density, per-layer
density, early-stop iteration, test accuracy there and final test accuracy.
Seeds: each arm's initial weights, random masks and data order are derived from the run seed and the
arm/round alone, never from state carried between rounds, so any round can be recomputed alone.
"""
from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import numpy as np

from lth import models, pruning
from lth.data import DataError, Dataset
from lth.device import DeviceInfo, training_device
from lth.fsutil import read_npz, write_json_atomic, write_npz_atomic
from lth.hparams import RunConfig, check_run
from lth.tf_setup import keras, tf
from lth.training import OnEval, Trainer


def derive_seed(seed: int, *parts) -> int:
    """A seed for one purpose (arm, round), independent of every other purpose's."""
    digest = hashlib.sha256(json.dumps([seed, *parts]).encode()).digest()
    return int.from_bytes(digest[:4], "big") >> 1


def kernel_index(model_name: str) -> dict[str, int]:
    """Position of each layer's kernel in `model.get_weights()` (kernel, bias per layer, in order)."""
    return {name: 2 * i for i, name in enumerate(models.get_spec(model_name).layer_names)}


class RoundCheckpoint:
    """Per-round state of a lottery run in a folder, so a stopped run resumes at its next round.

    weights.npz: theta0 (`theta0/I`) and the reset point (`reset/I`: theta0 or the rewind weights).
    round_RR.npz: the masks round RR trained with (`mask/LAYER`) and those the next round uses
    (`next/LAYER`); round_RR.json: the round's result records, written last to mark it complete.
    """

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)

    def save_weights(self, theta0: list[np.ndarray], reset_point: list[np.ndarray]) -> None:
        arrays = {f"theta0/{i}": w for i, w in enumerate(theta0)}
        arrays.update({f"reset/{i}": w for i, w in enumerate(reset_point)})
        write_npz_atomic(self.folder / "weights.npz", arrays)

    def load_reset_point(self) -> list[np.ndarray] | None:
        path = self.folder / "weights.npz"
        if not path.is_file():
            return None
        arrays = read_npz(path)
        return [arrays[f"reset/{i}"] for i in range(sum(k.startswith("reset/") for k in arrays))]

    def save_round(self, round_: int, records: list[dict], masks: pruning.Masks, next_masks: pruning.Masks) -> None:
        arrays = {f"mask/{n}": m for n, m in masks.items()}
        arrays.update({f"next/{n}": m for n, m in next_masks.items()})
        write_npz_atomic(self.folder / f"round_{round_:02d}.npz", arrays)
        write_json_atomic(self.folder / f"round_{round_:02d}.json", records)

    def load_round(self, round_: int) -> tuple[list[dict], pruning.Masks] | None:
        """(records, masks for the next round) of a completed round, or None."""
        json_path = self.folder / f"round_{round_:02d}.json"
        if not json_path.is_file():
            return None
        arrays = read_npz(self.folder / f"round_{round_:02d}.npz")
        next_masks = {k.split("/", 1)[1]: v for k, v in arrays.items() if k.startswith("next/")}
        return json.loads(json_path.read_text()), next_masks


class Experiment:
    """What every experiment shares: data, device, seeds, the progress callback."""

    def __init__(self, config: RunConfig, data: Dataset, device: DeviceInfo, on_eval: OnEval | None):
        self.config, self.data, self.device, self.on_eval = config, data, device, on_eval
        self.iterations = config.total_iterations(len(data.y_train))
        self.data_seed = derive_seed(config.seed, "data")

    def initial_weights(self, *purpose) -> list[np.ndarray]:
        seed = self.config.seed if not purpose else derive_seed(self.config.seed, *purpose)
        return models.build(self.config.model, seed).get_weights()

    def trainer(self, model, masked_layers=()) -> Trainer:
        c = self.config
        return Trainer(model, self.data, optimizer=c.optimizer, lr=c.lr, batch_size=c.batch_size,
                       masked_layers=masked_layers, device=self.device.tf_device, jit=c.spec.xla)

    def train(self, trainer: Trainer, arm: str, round_: int, masks: pruning.Masks | None,
              target_density: float | None = None, **kwargs):
        """Train one arm; progress events carry the mask's density (tfmot's pruned arm: its target)."""
        density = pruning.overall_density(masks) if masks else (target_density or 1.0)
        layer_density = pruning.layer_density(masks) if masks else {}
        result = trainer.fit(
            iterations=self.iterations, eval_every=self.config.eval_every, data_seed=self.data_seed,
            patience=self.config.patience, on_eval=self.on_eval,
            context={"arm": arm, "round": round_, "density": density}, **kwargs)
        record = {"arm": arm, "round": round_, "density": density, "layer_density": layer_density,
                  **result.summary()}
        return record, result


class Baseline(Experiment):
    def run(self, checkpoint=None) -> list[dict]:
        model = models.build(self.config.model, self.config.seed)
        trainer = self.trainer(model)
        trainer.reset(model.get_weights())
        record, _ = self.train(trainer, "dense", 0, None)
        return [record]


class Lottery(Experiment):
    """Iterative magnitude pruning with reset to theta0 (or rewind to iteration k), plus controls."""

    def prune(self, trained: dict[str, np.ndarray], masks: pruning.Masks) -> pruning.Masks:
        rates = self.config.layer_rates()
        if isinstance(rates, dict):
            return pruning.magnitude_prune_layerwise(trained, masks, rates)
        return pruning.magnitude_prune_global(trained, masks, rates)

    def run(self, checkpoint: RoundCheckpoint | None = None) -> list[dict]:
        c = self.config
        layers = c.prunable_layers
        model = models.build(c.model, c.seed)
        theta0 = model.get_weights()
        trainer = self.trainer(model, layers)
        rewind_at = c.rewind if isinstance(c.rewind, int) else None
        reset_point = (checkpoint.load_reset_point() if checkpoint else None) or theta0
        masks = pruning.dense_masks(c.spec.kernel_shapes, layers)
        records: list[dict] = []
        for round_ in range(c.lottery_rounds() + 1):
            saved = checkpoint.load_round(round_) if checkpoint else None
            if saved is not None:  # resumed: this round finished before the run stopped
                round_records, masks = saved
                records += round_records
                continue
            # round 0 is the dense network from theta0 (with late rewinding it also finds the reset point)
            trainer.reset(theta0 if round_ == 0 else reset_point, masks)
            ticket, result = self.train(trainer, "ticket", round_, masks,
                                        snapshot_at=rewind_at if round_ == 0 else None)
            trained = trainer.kernels()
            if round_ == 0:
                if rewind_at is not None:
                    reset_point = result.snapshot
                if checkpoint:
                    checkpoint.save_weights(theta0, reset_point)
            round_records = [ticket] + [self.control(trainer, name, round_, masks, reset_point)
                                        for name in sorted(c.controls) if round_ > 0]
            next_masks = self.prune(trained, masks)
            if checkpoint:
                checkpoint.save_round(round_, round_records, masks, next_masks)
            records += round_records
            masks = next_masks
        return records

    def control(self, trainer: Trainer, name: str, round_: int, masks: pruning.Masks,
                reset_point: list[np.ndarray]) -> dict:
        """Random reinit: the ticket's mask, fresh initial weights. Random pruning: a random mask
        with the ticket's per-layer densities, the ticket's reset point."""
        if name == "reinit":
            trainer.reset(self.initial_weights("reinit", round_), masks)
        else:
            rng = np.random.default_rng(derive_seed(self.config.seed, "random_prune", round_))
            masks = pruning.random_masks_like(masks, rng)
            trainer.reset(reset_point, masks)
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
        begin, end, frequency = c.tfmot_schedule(self.iterations)
        schedule = tfmot.sparsity.keras.PolynomialDecay(
            initial_sparsity=0.0, final_sparsity=1.0 - c.target_density,
            begin_step=begin, end_step=end, frequency=frequency)

        base = models.build(c.model, c.seed)
        theta0 = base.get_weights()

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
        pruned_record, _ = self.train(trainer, "pruned", 0, None, target_density=c.target_density,
                                      select_from=end)
        masks = {layer.layer.name: layer.pruning_vars[0][1].numpy()
                 for layer in pruned_model.layers if hasattr(layer, "pruning_vars")}
        pruned_record["density"] = pruning.overall_density(masks)
        pruned_record["layer_density"] = pruning.layer_density(masks)

        plain = models.build(c.model, c.seed)
        masked = self.trainer(plain, sorted(masks))
        masked.reset(theta0, masks)
        ticket, _ = self.train(masked, "ticket", 0, masks)
        masked.reset(self.initial_weights("reinit", 0), masks)
        reinit, _ = self.train(masked, "reinit", 0, masks)
        return [pruned_record, ticket, reinit]


EXPERIMENTS = {"baseline": Baseline, "lottery": Lottery, "tfmot": TfmotPruning}


def run_experiment(config: RunConfig, *, data_dir: str | None = None, on_eval: OnEval | None = None,
                   checkpoint: RoundCheckpoint | None = None, device: DeviceInfo | None = None,
                   expected_fingerprint: str | None = None) -> dict:
    """Validate, load the data, train, and return the run's summary (config, device, data, records).

    `checkpoint` keeps a lottery run's completed rounds, so a stopped run resumes where it was;
    `expected_fingerprint` is the data the run id was made from: other data is refused."""
    data = check_run(config, data_dir)
    if expected_fingerprint is not None and data.fingerprint != expected_fingerprint:
        raise DataError(f"the data at {data.source} (fingerprint {data.fingerprint}) is not the data this run "
                        f"was made from (fingerprint {expected_fingerprint}); its data_dir changed or the files "
                        f"did. Restore them, or start a new run on the new data")
    device = device or training_device()
    tf.config.experimental.enable_op_determinism()
    started = time.time()
    experiment = EXPERIMENTS[config.experiment](config, data, device, on_eval)
    records = experiment.run(checkpoint)
    return {
        "experiment": config.experiment,
        "config": config.canonical(),
        "dataset": {"name": data.name, "source": data.source, "fingerprint": data.fingerprint, **data.sizes()},
        "device": device.as_dict(),
        "iterations": experiment.iterations,
        "seconds": round(time.time() - started, 3),
        "results": records,
    }
