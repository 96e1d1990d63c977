"""Run configuration: one dataclass, checked without TensorFlow, with a canonical form and a run id.

The canonical form holds every setting that changes a result, with defaults filled in and settings
that do not apply to the experiment left out, so equal experiments hash to the same run id.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
from dataclasses import dataclass, field

from lth import models, pruning
from lth.data.datasets import DATASETS, Dataset, load_dataset
from lth.errors import Explained

EXPERIMENTS = ("baseline", "lottery", "tfmot", "instability")
OPTIMIZERS = ("adam", "sgd")
SCOPES = ("layerwise", "global")
CONTROLS = ("reinit", "random_prune")
DEFAULT_ROUNDS = 15  # the paper's ladder down to 3.6% for LeNet-300-100
DEFAULT_ITERATIONS = 50_000  # the paper's training length
# The original study's tfmot schedule, as fractions of the training steps.
TFMOT_BEGIN, TFMOT_END, TFMOT_FREQUENCY = 0.2, 0.6, 0.02


class ConfigError(Explained, ValueError):
    """Settings that cannot work together; the message says which and why."""


# Hard limits: beyond them a run cannot work on any machine this product targets (memory, time,
# TensorFlow's seed range), so they are refused before anything is queued.
MAX_ITERATIONS = 10_000_000
MAX_ROUNDS = 100
MAX_SEED = 2**31 - 1
MAX_BATCH = 60_000
MAX_LR = 10.0
MIN_DENSITY = 1e-5


def setting(default, help: str, *, kind: str, low=None, high=None, choices=None, open_low=False,
            open_high=False):
    """A RunConfig field with what the CLI, the forms and `validate` need to know about it.

    kind: int | float | str | names (a tuple of strings) | rewind ('init' or an iteration) | ints (a tuple of
    whole numbers) | runid (a run's 16-hex id).
    """
    meta = {"help": help, "kind": kind, "low": low, "high": high, "choices": choices, "open_low": open_low,
            "open_high": open_high}
    if isinstance(default, tuple):
        return field(default_factory=lambda: default, metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class RunConfig:
    experiment: str = setting("baseline", "what to run", kind="str", choices=EXPERIMENTS)
    model: str = setting("lenet300_100", "network", kind="str", choices=tuple(models.MODELS))
    dataset: str = setting("mnist-sample", "data set", kind="str", choices=DATASETS)
    iterations: int | None = setting(None, f"training steps (default {DEFAULT_ITERATIONS:,})", kind="int",
                                     low=1, high=MAX_ITERATIONS)
    epochs: float | None = setting(None, "training length in passes over the training set (instead of "
                                   "--iterations)", kind="float", low=0, high=MAX_ITERATIONS, open_low=True)
    batch_size: int = setting(60, "training batch size", kind="int", low=1, high=MAX_BATCH)
    lr: float = setting(1.2e-3, "learning rate", kind="float", low=0, high=MAX_LR, open_low=True)
    optimizer: str = setting("adam", "optimizer", kind="str", choices=OPTIMIZERS)
    seed: int = setting(0, "seed of initial weights, masks and data order", kind="int", low=0, high=MAX_SEED)
    # one evaluation (val + test) costs about 10% of 1000 steps at batch 60
    eval_every: int = setting(1000, "iterations between evaluations", kind="int", low=1, high=MAX_ITERATIONS)
    patience: int | None = setting(None, "stop after this many evaluations without a lower validation loss",
                                   kind="int", low=1, high=MAX_ITERATIONS)
    rounds: int | None = setting(None, f"lottery pruning rounds (default {DEFAULT_ROUNDS})", kind="int",
                                 low=0, high=MAX_ROUNDS)
    target_density: float | None = setting(None, "fraction of prunable weights kept at the end", kind="float",
                                           low=MIN_DENSITY, high=1, open_high=True)
    prune_rate: float = setting(0.2, "fraction removed per round (hidden layers, or all for global)",
                                kind="float", low=0, high=1, open_low=True, open_high=True)
    output_prune_rate: float = setting(0.1, "fraction of the output layer removed per round", kind="float",
                                       low=0, high=1, open_high=True)
    scope: str = setting("layerwise", "prune each layer by its rate, or all weights together", kind="str",
                         choices=SCOPES)
    prunable: tuple[str, ...] | None = setting(None, "comma-separated layers to prune (default: the model's)",
                                               kind="names")
    rewind: str | int = setting("init", "'init' (theta0) or an iteration k whose weights are the reset point",
                                kind="rewind", low=0, high=MAX_ITERATIONS)
    schedule_length: int | None = setting(None, "tfmot: the training length (iterations) its pruning schedule "
                                          "is proportioned to: masks change from 20% to 60% of it, every 2%; "
                                          "default the whole budget (give it when --patience makes the budget "
                                          "only a cap)", kind="int", low=10, high=MAX_ITERATIONS)
    controls: tuple[str, ...] = setting((), "comma-separated controls at every pruned round: "
                                        + ",".join(CONTROLS), kind="names", choices=CONTROLS)
    # instability analysis (linear mode connectivity)
    rewind_points: tuple[int, ...] = setting((), "instability: comma-separated iterations k whose weights two "
                                             "copies train on from (default 0)", kind="ints", low=0,
                                             high=MAX_ITERATIONS)
    ticket_run: str | None = setting(None, "instability: a lottery run of the same model, data and seed whose "
                                     "ticket masks are tested too", kind="runid")
    ticket_rounds: tuple[int, ...] = setting((), "instability: comma-separated rounds of --ticket-run whose masks "
                                             "are tested", kind="ints", low=1, high=MAX_ROUNDS)

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
            return max(1, math.ceil(min(self.epochs, MAX_ITERATIONS) * max(1, train_size // self.batch_size)))
        return DEFAULT_ITERATIONS

    def lottery_rounds(self) -> int:
        if self.rounds is not None:
            return self.rounds
        if self.target_density is not None:
            return pruning.rounds_to_reach(self.prunable_shapes(), self.layer_rates(), self.target_density,
                                           MAX_ROUNDS)
        return DEFAULT_ROUNDS

    def density_ladder(self) -> list[dict]:
        """The planned densities per round of a lottery run."""
        return pruning.plan_ladder(self.prunable_shapes(), self.layer_rates(), self.lottery_rounds())

    def tfmot_schedule(self, total_iterations: int) -> tuple[int, int, int]:
        """begin, end and frequency (in iterations) of the PolynomialDecay pruning schedule, in the
        original study's proportions of `schedule_length` (default: the whole budget).

        tfmot updates masks only on steps begin + k * frequency, so the end is put on such a step
        (else the final density would never be reached) and no later than the last iteration.
        """
        length = self.schedule_length or total_iterations
        begin = int(TFMOT_BEGIN * length)
        frequency = max(1, int(TFMOT_FREQUENCY * length))
        steps = max(1, round((TFMOT_END * length - begin) / frequency))
        steps = min(steps, (total_iterations - begin) // frequency)
        return begin, begin + frequency * steps, frequency

    # ---- checks -------------------------------------------------------------------------------
    def validate(self) -> "RunConfig":
        """Types and ranges of every field (from its `setting`), then how the fields combine."""
        def need(ok: bool, message: str) -> None:
            if not ok:
                raise ConfigError(message)

        for f in dataclasses.fields(self):
            check_value(f, getattr(self, f.name))
        need(self.iterations is None or self.epochs is None, "give --iterations or --epochs, not both")
        unknown = [n for n in self.prunable_layers if n not in self.spec.kernel_shapes]
        need(not unknown, f"--prunable: {', '.join(unknown)} not in {self.model} "
                          f"(layers: {', '.join(self.spec.layer_names)})")
        need(self.prunable is None or len(self.prunable) > 0, "--prunable names no layer")
        need(len(set(self.prunable_layers)) == len(self.prunable_layers), "--prunable lists a layer twice")
        need(len(set(self.controls)) == len(self.controls), "--controls lists a control twice")
        td = self.target_density
        if self.experiment == "lottery":
            need(self.rounds is None or td is None, "give --rounds or --target-density, not both")
            if td is not None:
                try:
                    self.lottery_rounds()
                except ValueError as e:
                    raise ConfigError(f"--target-density: {e}") from None
            final = self.density_ladder()[-1]
            need(final["density"] * self.total_prunable() >= 1,
                 f"{self.lottery_rounds()} rounds would prune every weight; use fewer rounds or a lower rate")
        else:
            need(not self.controls, "--controls apply to --experiment lottery only")
            need(self.rewind == "init", "--rewind applies to --experiment lottery only")
            need(self.rounds is None, "--rounds applies to --experiment lottery only")
        if self.experiment == "tfmot":
            need(td is not None, "--experiment tfmot needs --target-density (the fraction of weights kept)")
            smallest = min(math.prod(shape) for shape in self.prunable_shapes().values())
            need(td * smallest >= 1, f"--target-density {td:g} keeps no weight of a {smallest}-weight layer")
        else:
            need(self.schedule_length is None, "--schedule-length applies to --experiment tfmot only")
        if self.experiment in ("baseline", "instability"):
            need(td is None, "--target-density applies to lottery and tfmot experiments")
        if self.experiment == "instability":
            need(len(set(self.rewind_points)) == len(self.rewind_points), "--rewind-points lists an iteration twice")
            need(len(set(self.ticket_rounds)) == len(self.ticket_rounds), "--ticket-rounds lists a round twice")
            need(self.ticket_run is None or self.ticket_rounds,
                 "--ticket-run needs --ticket-rounds (the rounds whose masks are tested)")
            need(self.ticket_run is not None or not self.ticket_rounds, "--ticket-rounds needs --ticket-run")
            need(self.patience is None, "--patience does not apply to instability: both copies train to the end")
        else:
            need(not self.rewind_points and self.ticket_run is None and not self.ticket_rounds,
                 "--rewind-points, --ticket-run and --ticket-rounds apply to --experiment instability only")
        return self

    def instability_points(self) -> tuple[int, ...]:
        return tuple(sorted(set(self.rewind_points))) or (0,)

    def instability_networks(self) -> tuple[int, ...]:
        """The networks an instability run tests, by lottery round: 0 is the dense network."""
        return (0, *sorted(set(self.ticket_rounds)))

    def instability_pairs(self) -> list[tuple[int, int]]:
        """(k, round) of every pair of copies an instability run trains."""
        return [(k, r) for k in self.instability_points() for r in self.instability_networks()]

    def total_prunable(self) -> int:
        return sum(math.prod(shape) for shape in self.prunable_shapes().values())

    def validate_against(self, train_size: int) -> None:
        """Checks that need the dataset's size."""
        if self.batch_size > train_size:
            raise ConfigError(f"--batch-size {self.batch_size} exceeds the {train_size} training images")
        total = self.total_iterations(train_size)
        if total > MAX_ITERATIONS:
            raise ConfigError(f"{self.epochs:g} epochs are {total:,} iterations, more than {MAX_ITERATIONS:,}")
        if self.experiment == "lottery" and isinstance(self.rewind, int) and self.rewind >= total:
            raise ConfigError(f"--rewind {self.rewind} must be below the {total} training iterations")
        if self.experiment == "tfmot" and total < 10:
            raise ConfigError("--experiment tfmot needs at least 10 iterations for its pruning schedule")
        if self.schedule_length is not None and self.schedule_length > total:
            raise ConfigError(f"--schedule-length {self.schedule_length:,} exceeds the {total:,} training iterations")
        if self.experiment == "instability" and self.instability_points()[-1] >= total:
            raise ConfigError(f"--rewind-points: {self.instability_points()[-1]} must be below the {total} "
                              f"training iterations (the copies train from k to the end)")

    # ---- identity -----------------------------------------------------------------------------
    def canonical(self) -> dict:
        """Every setting that changes the result, defaults filled, inapplicable ones dropped."""
        c = dataclasses.asdict(self)
        c["prunable"] = list(self.prunable_layers)
        c["controls"] = sorted(self.controls)
        if self.iterations is None and self.epochs is None:
            c["iterations"] = DEFAULT_ITERATIONS
        if self.experiment != "tfmot" or self.schedule_length is None:  # ids made before it existed stay
            c.pop("schedule_length")
        if self.experiment == "instability":
            for key in ("rounds", "target_density", "prune_rate", "output_prune_rate", "scope", "rewind",
                        "controls", "prunable"):
                c.pop(key)
            c["rewind_points"] = list(self.instability_points())
            c["ticket_rounds"] = sorted(self.ticket_rounds)
            return c
        for key in ("rewind_points", "ticket_run", "ticket_rounds"):  # run ids made before they existed stay
            c.pop(key)
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
                "controls": list(self.controls), "rewind_points": list(self.rewind_points),
                "ticket_rounds": list(self.ticket_rounds)}

    @classmethod
    def from_json(cls, data) -> "RunConfig":
        """A config from its JSON form (a file can hold anything): types checked, then `validate`d."""
        if not isinstance(data, dict):
            raise ConfigError(f"a run config must be a JSON object, not {type(data).__name__}")
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = set(data) - set(fields)
        if unknown:
            raise ConfigError(f"unknown settings: {', '.join(sorted(map(str, unknown)))}")
        data = dict(data)
        for key in ("prunable", "controls", "rewind_points", "ticket_rounds"):
            if isinstance(data.get(key), list):
                data[key] = tuple(data[key])
        for key in ("controls", "rewind_points", "ticket_rounds"):
            if data.get(key) is None:
                data[key] = ()
        for name, value in data.items():
            check_value(fields[name], value)
        return cls(**data).validate()


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def check_value(f: dataclasses.Field, value) -> None:
    """Type and range of one field's value, as its `setting` declares; raises ConfigError."""
    meta, flag = f.metadata, _flag(f.name)
    kind = meta["kind"]
    if value is None and f.default is None:
        return
    if kind == "rewind":
        if value == "init":
            return
        kind = "int"
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{flag} must be a whole number, not {value!r}")
    elif kind == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ConfigError(f"{flag} must be a finite number, not {value!r}")
    elif kind == "str":
        if value not in meta["choices"]:
            raise ConfigError(f"{flag} must be one of {', '.join(meta['choices'])}, not {value!r}")
        return
    elif kind == "runid":
        if not isinstance(value, str) or re.fullmatch(r"[0-9a-f]{16}", value) is None:
            shown = repr(value) if len(repr(value)) <= 42 else repr(value)[:40] + "…"
            raise ConfigError(f"{flag} must be a run id (16 hexadecimal digits), not {shown}")
        return
    elif kind == "ints":
        if not isinstance(value, tuple) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            raise ConfigError(f"{flag} must be a list of whole numbers, not {value!r}")
        if len(value) > 100:
            raise ConfigError(f"{flag} lists {len(value)} values; at most 100")
        for v in value:
            _check_range(flag, meta, v)
        return
    elif kind == "names":
        if not isinstance(value, tuple) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{flag} must be a list of names, not {value!r}")
        bad = [v for v in value if meta["choices"] and v not in meta["choices"]]
        if bad:
            raise ConfigError(f"{flag}: unknown {', '.join(bad)}; choose from {', '.join(meta['choices'])}")
        return
    _check_range(flag, meta, value)


def _check_range(flag: str, meta, value) -> None:
    low, high = meta["low"], meta["high"]

    def shown(x):
        return f"{x:,}" if isinstance(x, int) else f"{x:g}"

    if low is not None and (value <= low if meta["open_low"] else value < low):
        raise ConfigError(f"{flag} must be {'above' if meta['open_low'] else 'at least'} {shown(low)}, not {value!r}")
    if high is not None and (value >= high if meta["open_high"] else value > high):
        raise ConfigError(f"{flag} must be {'below' if meta['open_high'] else 'at most'} {shown(high)}, not {value!r}")


def run_id(config: RunConfig, dataset_fingerprint: str) -> str:
    """The run's identity: a hash of its canonical settings and of the data it trains on."""
    payload = json.dumps({"config": config.canonical(), "data": dataset_fingerprint},
                         sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def check_run(config: RunConfig, data_dir: str | None = None, download: bool = False) -> Dataset:
    """Everything that can be wrong before training (settings, data), without TensorFlow.

    Raises ConfigError or DataError; returns the loaded dataset.
    """
    config.validate()
    if data_dir is not None and not str(data_dir).strip():
        raise ConfigError("--data-dir is empty; give a folder or leave it out")
    data = load_dataset(config.dataset, data_dir, download)
    config.validate_against(len(data.y_train))
    return data


TEST_CURVE_ITERATIONS = 1000  # the live test curve's spacing when validation is evaluated more often


def test_curve_every(eval_every: int) -> int:
    """Iterations between test evaluations made only for the live curve (a multiple of eval_every)."""
    return eval_every * max(1, TEST_CURVE_ITERATIONS // eval_every)


def planned_records(config: RunConfig) -> list[tuple[str, int]]:
    """(arm, round) of every training a baseline, lottery or tfmot run records, once each (an instability
    run records pairs of copies instead: see `planned_trainings`)."""
    if config.experiment == "baseline":
        return [("dense", 0)]
    if config.experiment == "tfmot":
        return [("pruned", 0), ("ticket", 0), ("reinit", 0)]
    rounds = config.lottery_rounds()
    return [("ticket", r) for r in range(rounds + 1)] + [(c, r) for c in config.controls for r in range(1, rounds + 1)]


def planned_trainings(config: RunConfig) -> int:
    """How many trainings a run makes (each to the full budget unless patience stops it)."""
    if config.experiment == "instability":  # two copies per pair, and the dense training to each k > 0
        return 2 * len(config.instability_pairs()) + sum(k > 0 for k in config.instability_points())
    return len(planned_records(config))


def planned_evaluations(config: RunConfig, train_size: int) -> int:
    total = config.total_iterations(train_size)
    if config.experiment == "instability":
        return (sum(2 * math.ceil((total - k) / config.eval_every) for k, _ in config.instability_pairs())
                + sum(math.ceil(k / config.eval_every) for k in config.instability_points()))
    return planned_trainings(config) * math.ceil(total / config.eval_every)
