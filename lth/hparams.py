"""Run configuration: one dataclass, checked without TensorFlow, with a canonical form and a run id.

The canonical form holds every setting that changes a result, with defaults filled in and settings
that do not apply to the experiment left out, so equal experiments hash to the same run id.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass, field

from lth import models, pruning
from lth.data.datasets import DATASETS, Dataset, load_dataset

EXPERIMENTS = ("baseline", "lottery", "tfmot")
OPTIMIZERS = ("adam", "sgd")
SCOPES = ("layerwise", "global")
CONTROLS = ("reinit", "random_prune")
DEFAULT_ROUNDS = 15  # the paper's ladder down to 3.6% for LeNet-300-100
DEFAULT_ITERATIONS = 50_000  # the paper's training length
# The original study's tfmot schedule, as fractions of the training steps.
TFMOT_BEGIN, TFMOT_END, TFMOT_FREQUENCY = 0.2, 0.6, 0.02


class ConfigError(ValueError):
    """Settings that cannot work together; the message says which and why."""


@dataclass(frozen=True)
class RunConfig:
    experiment: str = "baseline"
    model: str = "lenet300_100"
    dataset: str = "mnist-sample"
    iterations: int | None = None
    epochs: float | None = None
    batch_size: int = 60
    lr: float = 1.2e-3
    optimizer: str = "adam"
    seed: int = 0
    eval_every: int = 1000  # one evaluation (val + test) costs about 10% of 1000 steps at batch 60
    patience: int | None = None  # evaluations without a better validation loss before stopping
    rounds: int | None = None
    target_density: float | None = None
    prune_rate: float = 0.2
    output_prune_rate: float = 0.1
    scope: str = "layerwise"
    prunable: tuple[str, ...] | None = None  # None: the model's default prunable layers
    rewind: str | int = "init"  # "init" (theta0) or the iteration whose weights are the reset point
    controls: tuple[str, ...] = field(default_factory=tuple)

    # ---- derived settings -------------------------------------------------------------------
    @property
    def spec(self) -> models.ModelSpec:
        return models.get_spec(self.model)

    @property
    def prunable_layers(self) -> tuple[str, ...]:
        return tuple(self.prunable) if self.prunable else self.spec.default_prunable

    def prunable_shapes(self) -> dict[str, tuple[int, ...]]:
        return {n: self.spec.kernel_shapes[n] for n in self.prunable_layers}

    def layer_rates(self) -> dict[str, float] | float:
        """Per-layer rates (layerwise) or the one global rate."""
        if self.scope == "global":
            return self.prune_rate
        return {
            n: self.output_prune_rate if n == models.OUTPUT_LAYER else self.prune_rate
            for n in self.prunable_layers
        }

    def total_iterations(self, train_size: int) -> int:
        if self.iterations is not None:
            return self.iterations
        if self.epochs is not None:
            return max(1, math.ceil(self.epochs * (train_size // self.batch_size)))
        return DEFAULT_ITERATIONS

    def lottery_rounds(self) -> int:
        if self.rounds is not None:
            return self.rounds
        if self.target_density is not None:
            return pruning.rounds_to_reach(self.prunable_shapes(), self.layer_rates(), self.target_density)
        return DEFAULT_ROUNDS

    def density_ladder(self) -> list[dict]:
        """The planned densities per round of a lottery run."""
        return pruning.plan_ladder(self.prunable_shapes(), self.layer_rates(), self.lottery_rounds())

    def tfmot_schedule(self, total_iterations: int) -> tuple[int, int, int]:
        """begin, end and frequency (in iterations) of the PolynomialDecay pruning schedule.

        tfmot updates masks only on steps begin + k * frequency, so the end is put on such a step
        (else the final density would never be reached) and no later than the last iteration.
        """
        begin = int(TFMOT_BEGIN * total_iterations)
        frequency = max(1, int(TFMOT_FREQUENCY * total_iterations))
        steps = max(1, round((TFMOT_END * total_iterations - begin) / frequency))
        steps = min(steps, (total_iterations - begin) // frequency)
        return begin, begin + frequency * steps, frequency

    # ---- checks -------------------------------------------------------------------------------
    def validate(self) -> "RunConfig":
        def need(ok: bool, message: str) -> None:
            if not ok:
                raise ConfigError(message)

        need(self.experiment in EXPERIMENTS, f"--experiment must be one of {', '.join(EXPERIMENTS)}")
        need(self.model in models.MODELS, f"--model must be one of {', '.join(models.MODELS)}")
        need(self.dataset in DATASETS, f"--dataset must be one of {', '.join(DATASETS)}")
        need(self.iterations is None or self.epochs is None, "give --iterations or --epochs, not both")
        need(self.iterations is None or self.iterations >= 1, "--iterations must be at least 1")
        need(self.epochs is None or self.epochs > 0, "--epochs must be positive")
        need(self.batch_size >= 1, "--batch-size must be at least 1")
        need(math.isfinite(self.lr) and self.lr > 0, "--lr must be a positive number")
        need(self.optimizer in OPTIMIZERS, f"--optimizer must be one of {', '.join(OPTIMIZERS)}")
        need(self.seed >= 0, "--seed must be 0 or more")
        need(self.eval_every >= 1, "--eval-every must be at least 1")
        need(self.patience is None or self.patience >= 1, "--patience must be at least 1 evaluation")
        need(self.scope in SCOPES, f"--scope must be one of {', '.join(SCOPES)}")
        need(0 < self.prune_rate < 1, "--prune-rate must be between 0 and 1 (the fraction removed per round)")
        need(0 <= self.output_prune_rate < 1, "--output-prune-rate must be in [0, 1)")
        unknown = [n for n in self.prunable_layers if n not in self.spec.kernel_shapes]
        need(not unknown, f"--prunable: {', '.join(unknown)} not in {self.model} "
                          f"(layers: {', '.join(self.spec.layer_names)})")
        need(len(set(self.prunable_layers)) == len(self.prunable_layers), "--prunable lists a layer twice")
        bad_controls = [c for c in self.controls if c not in CONTROLS]
        need(not bad_controls, f"--controls: unknown {', '.join(bad_controls)}; choose from {', '.join(CONTROLS)}")
        td = self.target_density
        need(td is None or 0 < td < 1, "--target-density must be between 0 and 1 (the fraction of weights kept)")
        need(self.rounds is None or self.rounds >= 0, "--rounds must be 0 or more")
        if self.experiment == "lottery":
            need(self.rounds is None or td is None, "give --rounds or --target-density, not both")
            if td is not None:
                try:
                    self.lottery_rounds()
                except ValueError as e:
                    raise ConfigError(f"--target-density: {e}") from None
            if self.rewind != "init":
                need(isinstance(self.rewind, int) and self.rewind >= 0,
                     "--rewind must be 'init' or an iteration (0 or more)")
        else:
            need(not self.controls, "--controls apply to --experiment lottery only")
            need(self.rewind == "init", "--rewind applies to --experiment lottery only")
            need(self.rounds is None, "--rounds applies to --experiment lottery only")
        if self.experiment == "tfmot":
            need(td is not None, "--experiment tfmot needs --target-density (the fraction of weights kept)")
        if self.experiment == "baseline":
            need(td is None, "--target-density applies to lottery and tfmot experiments")
        return self

    def validate_against(self, train_size: int) -> None:
        """Checks that need the dataset's size."""
        if self.batch_size > train_size:
            raise ConfigError(f"--batch-size {self.batch_size} exceeds the {train_size} training images")
        total = self.total_iterations(train_size)
        if self.experiment == "lottery" and isinstance(self.rewind, int) and self.rewind >= total:
            raise ConfigError(f"--rewind {self.rewind} must be below the {total} training iterations")
        if self.experiment == "tfmot" and total < 10:
            raise ConfigError("--experiment tfmot needs at least 10 iterations for its pruning schedule")

    # ---- identity -----------------------------------------------------------------------------
    def canonical(self) -> dict:
        """Every setting that changes the result, defaults filled, inapplicable ones dropped."""
        c = dataclasses.asdict(self)
        c["prunable"] = list(self.prunable_layers)
        c["controls"] = sorted(self.controls)
        if self.iterations is None and self.epochs is None:
            c["iterations"] = DEFAULT_ITERATIONS
        if self.experiment == "baseline":
            for key in ("rounds", "target_density", "prune_rate", "output_prune_rate", "scope",
                        "prunable", "rewind", "controls"):
                c.pop(key)
        elif self.experiment == "tfmot":
            for key in ("rounds", "prune_rate", "output_prune_rate", "scope", "rewind", "controls"):
                c.pop(key)
        else:
            c["rounds"] = self.lottery_rounds()
            c.pop("target_density")
            if self.scope == "global":
                c.pop("output_prune_rate")
        return c

    def to_json(self) -> dict:
        return {**dataclasses.asdict(self), "prunable": list(self.prunable) if self.prunable else None,
                "controls": list(self.controls)}

    @classmethod
    def from_json(cls, data: dict) -> "RunConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ConfigError(f"unknown settings: {', '.join(sorted(unknown))}")
        data = dict(data)
        for key in ("prunable", "controls"):
            if data.get(key) is not None:
                data[key] = tuple(data[key])
        if data.get("controls") is None:
            data["controls"] = ()
        return cls(**data)


def run_id(config: RunConfig, dataset_fingerprint: str) -> str:
    """The run's identity: a hash of its canonical settings and of the data it trains on."""
    payload = json.dumps({"config": config.canonical(), "data": dataset_fingerprint},
                         sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def check_run(config: RunConfig, data_dir: str | None = None) -> Dataset:
    """Everything that can be wrong before training (settings, data), without TensorFlow.

    Raises ConfigError or DataError; returns the loaded dataset.
    """
    config.validate()
    data = load_dataset(config.dataset, data_dir)
    config.validate_against(len(data.y_train))
    return data


def planned_trainings(config: RunConfig) -> int:
    """How many trainings a run makes (each to the full budget unless patience stops it)."""
    if config.experiment == "baseline":
        return 1
    if config.experiment == "tfmot":
        return 3
    rounds = config.lottery_rounds()
    return rounds + 1 + rounds * len(config.controls)


def planned_evaluations(config: RunConfig, train_size: int) -> int:
    return planned_trainings(config) * math.ceil(config.total_iterations(train_size) / config.eval_every)
