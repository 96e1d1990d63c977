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

from lth import criteria, models, pruning
from lth.data.datasets import DATASETS, Dataset, load_dataset
from lth.errors import Explained

EXPERIMENTS = ("baseline", "lottery", "tfmot", "instability", "oneshot")
ALL = EXPERIMENTS
OPTIMIZERS = ("adam", "sgd")
SCOPES = ("layerwise", "global")
# The sanity checks of a mask, as controls of the lottery and one-shot experiments (one name per idea):
# random_prune is the layerwise shuffle (the mask's per-layer densities, random positions, theta0),
# reinit the mask with fresh initial weights, invert the mask keeping the lowest scores instead.
CONTROLS = ("reinit", "random_prune", "invert")
DEFAULT_ROUNDS = 15  # the paper's ladder down to 3.6% for LeNet-300-100
# The one-shot experiment's default densities: points of the paper's LeNet-300-100 ladder (rounds 3, 7,
# 12, 15, 19 and 24 of 20%/10% per round), so its results sit beside iterative pruning's.
DEFAULT_DENSITIES = (0.513, 0.211, 0.070, 0.036, 0.015, 0.005)
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
RUN_ID = re.compile(r"[0-9a-f]{16}")  # a run's id, and a dataset's fingerprint: 16 hexadecimal digits


def setting(default, help: str, *, kind: str, low=None, high=None, choices=None, open_low=False,
            open_high=False, experiments: tuple[str, ...] = ALL):
    """A RunConfig field with what the CLI, the forms and `validate` need to know about it.

    kind: int | float | str | names (a tuple of strings) | rewind ('init' or an iteration) | ints (a tuple of
    whole numbers) | floats (a tuple of numbers) | runid (a run's 16-hex id).
    experiments: those the setting applies to; elsewhere it must keep its default (`validate`) and is left
    out of the canonical form (the run id).
    """
    meta = {"help": help, "kind": kind, "low": low, "high": high, "choices": choices, "open_low": open_low,
            "open_high": open_high, "experiments": experiments}
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
    # instability's copies train to the end (validate refuses it there; kept in its canonical form: ids stay)
    patience: int | None = setting(None, "stop after this many evaluations without a lower validation loss",
                                   kind="int", low=1, high=MAX_ITERATIONS)
    rounds: int | None = setting(None, f"lottery pruning rounds (default {DEFAULT_ROUNDS})", kind="int",
                                 low=0, high=MAX_ROUNDS, experiments=("lottery",))
    target_density: float | None = setting(None, "fraction of prunable weights kept at the end", kind="float",
                                           low=MIN_DENSITY, high=1, open_high=True,
                                           experiments=("lottery", "tfmot"))
    prune_rate: float = setting(0.2, "fraction removed per round (hidden layers, or all for global); oneshot "
                                "layerwise: the layers' densities are those iterative pruning at these rates "
                                "gives", kind="float", low=0, high=1, open_low=True, open_high=True,
                                experiments=("lottery", "oneshot"))
    output_prune_rate: float = setting(0.1, "fraction of the output layer removed per round", kind="float",
                                       low=0, high=1, open_high=True, experiments=("lottery", "oneshot"))
    scope: str = setting("layerwise", "prune each layer by its rate, or all weights together", kind="str",
                         choices=SCOPES, experiments=("lottery", "oneshot"))
    prunable: tuple[str, ...] | None = setting(None, "comma-separated layers to prune (default: the model's)",
                                               kind="names", experiments=("lottery", "tfmot", "oneshot"))
    rewind: str | int = setting("init", "'init' (theta0) or an iteration k whose weights are the reset point",
                                kind="rewind", low=0, high=MAX_ITERATIONS, experiments=("lottery", "oneshot"))
    schedule_length: int | None = setting(None, "tfmot: the training length (iterations) its pruning schedule "
                                          "is proportioned to: masks change from 20% to 60% of it, every 2%; "
                                          "default the whole budget (give it when --patience makes the budget "
                                          "only a cap)", kind="int", low=10, high=MAX_ITERATIONS,
                                          experiments=("tfmot",))
    controls: tuple[str, ...] = setting((), "comma-separated sanity checks of every mask: reinit (fresh initial "
                                        "weights), random_prune (the layerwise shuffle: same per-layer densities, "
                                        "random positions), invert (oneshot: keep the lowest scores)",
                                        kind="names", choices=CONTROLS, experiments=("lottery", "oneshot"))
    criterion: str = setting("magnitude", "lottery: what each round prunes by, on the trained weights",
                             kind="str", choices=criteria.ITERATIVE_CRITERIA, experiments=("lottery",))
    criteria: tuple[str, ...] = setting(("synflow", "snip", "grasp", "random", "magnitude_init", "magnitude"),
                                        "oneshot: comma-separated pruning criteria: " + ", ".join(criteria.NAMES),
                                        kind="names", choices=criteria.NAMES, experiments=("oneshot",))
    densities: tuple[float, ...] = setting(DEFAULT_DENSITIES, "oneshot: comma-separated densities (fractions of "
                                           "the prunable weights kept) each criterion prunes to",
                                           kind="floats", low=MIN_DENSITY, high=1, open_high=True,
                                           experiments=("oneshot",))
    # instability analysis (linear mode connectivity)
    rewind_points: tuple[int, ...] = setting((), "instability: comma-separated iterations k whose weights two "
                                             "copies train on from (default 0)", kind="ints", low=0,
                                             high=MAX_ITERATIONS, experiments=("instability",))
    ticket_run: str | None = setting(None, "instability: a lottery run of the same model, data and seed whose "
                                     "ticket masks are tested too", kind="runid", experiments=("instability",))
    ticket_rounds: tuple[int, ...] = setting((), "instability: comma-separated rounds of --ticket-run whose masks "
                                             "are tested", kind="ints", low=1, high=MAX_ROUNDS,
                                             experiments=("instability",))

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

    def oneshot_densities(self) -> tuple[float, ...]:
        """The one-shot run's densities, densest first: round r of its records prunes to the r-th."""
        return tuple(sorted(self.densities, reverse=True))

    def trains_dense(self) -> bool:
        """Whether a one-shot run trains the dense network: for the criteria that score trained weights,
        and to find a late-rewinding reset point."""
        return any(criteria.CRITERIA[n].trained for n in self.criteria) or isinstance(self.rewind, int)

    def keep_counts(self, density: float) -> dict[str, int] | int:
        """Weights a one-shot mask keeps at `density`, round(density x all prunable weights) in all: per layer
        (layerwise: the split iterative pruning at the run's rates makes) or over all layers (global).
        ValueError where the layerwise split cannot reach the density (`validate` refuses it)."""
        if self.scope == "global":
            return max(1, round(density * self.total_prunable()))
        return pruning.layer_keep_counts(self.prunable_shapes(), density, self.layer_rates())

    def mask_density(self, density: float) -> float:
        """The overall density a one-shot mask at `density` has (counts are whole numbers)."""
        counts = self.keep_counts(density)
        return (counts if isinstance(counts, int) else sum(counts.values())) / self.total_prunable()

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

    def for_experiment(self, experiment: str) -> "RunConfig":
        """These settings for another experiment: those that do not apply to it back at their defaults."""
        defaults = RunConfig()
        return RunConfig(**{f.name: getattr(self if experiment in f.metadata["experiments"] else defaults, f.name)
                            for f in dataclasses.fields(self)} | {"experiment": experiment})

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
        # a setting that does not apply to the experiment keeps its default (its `experiments` facet)
        defaults = RunConfig()
        for f in dataclasses.fields(self):
            applies = f.metadata["experiments"]
            if self.experiment not in applies and getattr(self, f.name) != getattr(defaults, f.name):
                raise ConfigError(f"{_flag(f.name)} applies to --experiment {' or '.join(applies)} only")
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
            need("invert" not in self.controls, "--controls invert applies to --experiment oneshot only (an "
                                                "iterative run's scores change every round)")
        if self.experiment == "tfmot":
            need(td is not None, "--experiment tfmot needs --target-density (the fraction of weights kept)")
            smallest = min(math.prod(shape) for shape in self.prunable_shapes().values())
            need(td * smallest >= 1, f"--target-density {td:g} keeps no weight of a {smallest}-weight layer")
        if self.experiment == "oneshot":
            need(len(self.criteria) > 0, "--criteria names no criterion")
            need(len(set(self.criteria)) == len(self.criteria), "--criteria lists a criterion twice")
            need(len(self.densities) > 0, "--densities gives no density")
            need(len(set(self.densities)) == len(self.densities), "--densities lists a density twice")
            need(min(self.densities) * self.total_prunable() >= 1,
                 f"--densities {min(self.densities):g} keeps no weight of the {self.total_prunable():,} prunable")
            counts = {}
            for d in self.densities:
                try:
                    count = self.keep_counts(d)
                except ValueError as e:
                    raise ConfigError(f"--densities: {e}; use --scope global or other rates") from None
                count = count if isinstance(count, int) else sum(count.values())
                need(count not in counts, f"--densities {counts.get(count, d)!r} and {d!r} keep the same {count:,} "
                                          f"weights: the same mask twice")
                counts[count] = d
        if self.experiment == "instability":
            need(len(set(self.rewind_points)) == len(self.rewind_points), "--rewind-points lists an iteration twice")
            need(len(set(self.ticket_rounds)) == len(self.ticket_rounds), "--ticket-rounds lists a round twice")
            need(self.ticket_run is None or self.ticket_rounds,
                 "--ticket-run needs --ticket-rounds (the rounds whose masks are tested)")
            need(self.ticket_run is not None or not self.ticket_rounds, "--ticket-rounds needs --ticket-run")
            need(self.patience is None, "--patience does not apply to instability: both copies train to the end")
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
        if self.experiment in ("lottery", "oneshot") and isinstance(self.rewind, int) and self.rewind >= total:
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
        """Every setting that changes the result, defaults filled, inapplicable ones dropped. Settings added
        after runs were made are dropped at their old behaviour, so those runs keep their ids."""
        c = dataclasses.asdict(self)
        c["prunable"] = list(self.prunable_layers)
        c["controls"] = sorted(self.controls)
        if self.iterations is None and self.epochs is None:
            c["iterations"] = DEFAULT_ITERATIONS
        for f in dataclasses.fields(self):
            if self.experiment not in f.metadata["experiments"]:
                c.pop(f.name)
        if self.schedule_length is None:
            c.pop("schedule_length", None)
        if self.experiment == "lottery":
            c["rounds"] = self.lottery_rounds()
            c.pop("target_density")
            if self.criterion == "magnitude":
                c.pop("criterion")
        if self.experiment == "oneshot":
            c["criteria"] = sorted(self.criteria)
            c["densities"] = sorted(self.densities, reverse=True)
        if self.scope == "global":
            c.pop("output_prune_rate", None)
        if self.experiment == "oneshot" and self.scope == "global":
            c.pop("prune_rate")  # layerwise only: the per-layer split of a density
        if self.experiment == "instability":
            c["rewind_points"] = list(self.instability_points())
            c["ticket_rounds"] = sorted(self.ticket_rounds)
        return c

    def to_json(self) -> dict:
        return {**dataclasses.asdict(self), "prunable": list(self.prunable) if self.prunable else None,
                "controls": list(self.controls), "rewind_points": list(self.rewind_points),
                "ticket_rounds": list(self.ticket_rounds), "criteria": list(self.criteria),
                "densities": list(self.densities)}

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
        for key in ("prunable", "controls", "rewind_points", "ticket_rounds", "criteria", "densities"):
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
        if not isinstance(value, str) or RUN_ID.fullmatch(value) is None:
            shown = repr(value) if len(repr(value)) <= 42 else repr(value)[:40] + "…"
            raise ConfigError(f"{flag} must be a run id (16 hexadecimal digits), not {shown}")
        return
    elif kind in ("ints", "floats"):
        whole = kind == "ints"
        if not isinstance(value, tuple) or not all(
                isinstance(v, int if whole else (int, float)) and not isinstance(v, bool)
                and (whole or math.isfinite(v)) for v in value):
            raise ConfigError(f"{flag} must be a list of {'whole' if whole else 'finite'} numbers, not {value!r}")
        if len(value) > 100:
            raise ConfigError(f"{flag} lists {len(value)} values; at most 100")
        for v in value:
            _check_range(flag, meta, v)
        return
    elif kind == "names":
        if not isinstance(value, tuple) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{flag} must be a list of names, not {value!r}")
        bad = [v if len(v) <= 40 else v[:40] + "…" for v in value if meta["choices"] and v not in meta["choices"]]
        if bad:
            shown = ", ".join(bad[:5]) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
            raise ConfigError(f"{flag}: unknown {shown}; choose from {', '.join(meta['choices'])}")
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
    """(arm, round) of every training a baseline, lottery, tfmot or oneshot run records, once each (an instability
    run records pairs of copies instead: see `planned_trainings`)."""
    if config.experiment == "baseline":
        return [("dense", 0)]
    if config.experiment == "tfmot":
        return [("pruned", 0), ("ticket", 0), ("reinit", 0)]
    if config.experiment == "oneshot":  # round r: the r-th density of oneshot_densities
        from lth.arms import oneshot_arm

        return [("dense", 0)] * config.trains_dense() + [(oneshot_arm(name, control), r)
                                 for r in range(1, len(config.densities) + 1) for name in config.criteria
                                 for control in (None, *sorted(config.controls))]
    rounds = config.lottery_rounds()
    return [("ticket", r) for r in range(rounds + 1)] + [(c, r) for c in config.controls for r in range(1, rounds + 1)]


def expected_densities(config: RunConfig) -> dict[tuple[str, int], float]:
    """The overall density of every planned training (`planned_records`): a lottery round's ladder step, tfmot's
    target, a one-shot round's mask (round 0, the dense network: 1). Counts are exact but for tfmot's pruned
    arm, whose schedule rounds its own way: DENSITY_SLACK says how close a record must be."""
    planned = planned_records(config)
    if config.experiment == "lottery":
        ladder = {step["round"]: step["density"] for step in config.density_ladder()}
        return {(arm, r): ladder[r] for arm, r in planned}
    if config.experiment == "tfmot":
        return {key: config.target_density for key in planned}
    if config.experiment == "oneshot":
        points = (1.0, *(config.mask_density(d) for d in config.oneshot_densities()))
        return {(arm, r): points[r] for arm, r in planned}
    return {key: 1.0 for key in planned}


def density_slack(config: RunConfig) -> float:
    return 1e-3 if config.experiment == "tfmot" else 1e-9


def round_densities(config: RunConfig, round_: int) -> dict[str, float]:
    """{arm: density} of the trainings one round of a lottery or one-shot run records (its checkpoint's check)."""
    return {arm: d for (arm, r), d in expected_densities(config).items() if r == round_}


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
