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
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lth import controls, criteria, models
from lth.data.datasets import DATASETS, DataError, Dataset, load_dataset
from lth.data.datasets import SPECS as DATASET_SPECS
from lth.errors import Explained
from lth.plans import tfmot as tfmot_plan
from lth.plans.base import Plan
from lth.plans.baseline import BaselinePlan
from lth.plans.instability import InstabilityPlan
from lth.plans.lottery import DEFAULT_ROUNDS, MAX_ROUNDS, LotteryPlan
from lth.plans.oneshot import DEFAULT_DENSITIES, OneShotPlan
from lth.plans.tfmot import TfmotPlan

# The registry: every experiment's plan by its name (the plan names the class that trains it).
EXPERIMENTS: dict[str, type[Plan]] = {
    plan.name: plan for plan in (BaselinePlan, LotteryPlan, TfmotPlan, InstabilityPlan, OneShotPlan)
}
ALL = tuple(EXPERIMENTS)
OPTIMIZERS = ("adam", "sgd")
SCOPES = ("layerwise", "global")
# The sanity checks of a mask, as controls of the lottery and one-shot experiments (one name per idea):
# random_prune is the layerwise shuffle (the mask's per-layer densities, random positions, theta0),
# reinit the mask with fresh initial weights, invert the mask keeping the lowest scores instead.
CONTROLS = controls.NAMES
DEFAULT_ITERATIONS = 50_000  # the paper's training length


DERIVED = ("architecture", "data_shape", "classes")  # settings made from the user's data and network, not typed


class ConfigError(Explained, ValueError):
    """Settings that cannot work together; the message says which and why."""


# Hard limits: beyond them a run cannot work on any machine this product targets (memory, time,
# TensorFlow's seed range), so they are refused before anything is queued.
MAX_ITERATIONS = 10_000_000
MAX_SEED = 2**31 - 1
MAX_BATCH = 60_000
MAX_LR = 10.0
MIN_DENSITY = 1e-5
RUN_ID = re.compile(r"[0-9a-f]{16}")  # a run's id, and a dataset's fingerprint: 16 hexadecimal digits
OWN_DATA_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,39}")  # a name a user gives their arrays


LIST_KINDS = ("names", "ints", "floats")  # the kinds of setting that hold a tuple


def setting(
    default,
    help: str,
    *,
    label: str,
    kind: str,
    low=None,
    high=None,
    choices=None,
    open_low=False,
    open_high=False,
    experiments: tuple[str, ...] = ALL,
):
    """A RunConfig field with what the CLI, the forms and `validate` need to know about it.

    label: the field's name in the dashboard's forms (their error messages name it instead of the CLI option).
    kind: int | float | str | names (a tuple of strings) | rewind ('init' or an iteration) | ints (a tuple of
    whole numbers) | floats (a tuple of numbers) | runid (a run's 16-hex id).
    experiments: those the setting applies to; elsewhere it must keep its default (`validate`) and is left
    out of the canonical form (the run id).
    """
    meta = {
        "help": help,
        "label": label,
        "kind": kind,
        "low": low,
        "high": high,
        "choices": choices,
        "open_low": open_low,
        "open_high": open_high,
        "experiments": experiments,
    }
    if isinstance(default, tuple):
        return field(default_factory=lambda: default, metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class RunConfig:
    experiment: str = setting(
        "baseline",
        "what to run: " + "; ".join(f"{name} ({plan.title})" for name, plan in EXPERIMENTS.items()),
        label="Experiment",
        kind="str",
        choices=ALL,
    )
    model: str = setting(
        "lenet300_100",
        f"network: {', '.join(models.MODELS)}, or your own builder file.py:function (or module:function)",
        label="Model",
        kind="model",
        choices=tuple(models.MODELS),
    )
    dataset: str = setting(
        "mnist-sample",
        f"data set: {', '.join(DATASETS)}, or a name of your own for the arrays of --data-file",
        label="Dataset",
        kind="dataset",
        choices=DATASETS,
    )
    iterations: int | None = setting(
        None,
        f"training steps (default {DEFAULT_ITERATIONS:,})",
        label="Iterations",
        kind="int",
        low=1,
        high=MAX_ITERATIONS,
    )
    epochs: float | None = setting(
        None,
        "training length in passes over the training set (instead of --iterations)",
        label="Epochs",
        kind="float",
        low=0,
        high=MAX_ITERATIONS,
        open_low=True,
    )
    batch_size: int = setting(60, "training batch size", label="Batch size", kind="int", low=1, high=MAX_BATCH)
    lr: float = setting(1.2e-3, "learning rate", label="Learning rate", kind="float", low=0, high=MAX_LR, open_low=True)
    optimizer: str = setting("adam", "optimizer", label="Optimizer", kind="str", choices=OPTIMIZERS)
    seed: int = setting(
        0, "seed of initial weights, masks and data order", label="First seed", kind="int", low=0, high=MAX_SEED
    )
    # one evaluation (val + test) costs about 10% of 1000 steps at batch 60
    eval_every: int = setting(
        1000,
        "iterations between evaluations",
        label="Evaluate every N iterations",
        kind="int",
        low=1,
        high=MAX_ITERATIONS,
    )
    # instability's copies train to the end (validate refuses it there; kept in its canonical form: ids stay)
    patience: int | None = setting(
        None,
        "stop after this many evaluations without a lower validation loss",
        label="Patience",
        kind="int",
        low=1,
        high=MAX_ITERATIONS,
    )
    rounds: int | None = setting(
        None,
        f"lottery pruning rounds (default {DEFAULT_ROUNDS})",
        label="Rounds",
        kind="int",
        low=0,
        high=MAX_ROUNDS,
        experiments=("lottery",),
    )
    target_density: float | None = setting(
        None,
        "fraction of prunable weights kept at the end",
        label="Target density",
        kind="float",
        low=MIN_DENSITY,
        high=1,
        open_high=True,
        experiments=("lottery", "tfmot"),
    )
    prune_rate: float = setting(
        0.2,
        "fraction removed per round (hidden layers, or all for global); oneshot "
        "layerwise: the layers' densities are those iterative pruning at these rates "
        "gives",
        label="Prune rate per round",
        kind="float",
        low=0,
        high=1,
        open_low=True,
        open_high=True,
        experiments=("lottery", "oneshot"),
    )
    output_prune_rate: float = setting(
        0.1,
        "fraction of the output layer removed per round",
        label="Prune rate per round, output layer",
        kind="float",
        low=0,
        high=1,
        open_high=True,
        experiments=("lottery", "oneshot"),
    )
    conv_prune_rate: float | None = setting(
        None,
        "fraction of each convolutional layer removed per round "
        "(layerwise); default the network's own (Frankle & Carbin: Conv-2 "
        "and Conv-4 10%, Conv-6 15%), else --prune-rate",
        label="Prune rate per round, conv layers",
        kind="float",
        low=0,
        high=1,
        open_low=True,
        open_high=True,
        experiments=("lottery", "oneshot"),
    )
    scope: str = setting(
        "layerwise",
        "prune each layer by its rate, or all weights together",
        label="Scope",
        kind="str",
        choices=SCOPES,
        experiments=("lottery", "oneshot"),
    )
    prunable: tuple[str, ...] | None = setting(
        None,
        "comma-separated layers to prune (default: the model's)",
        label="Prunable layers",
        kind="names",
        experiments=("lottery", "tfmot", "oneshot"),
    )
    rewind: str | int = setting(
        "init",
        "'init' (theta0) or an iteration k whose weights are the reset point",
        label="k (late rewinding)",
        kind="rewind",
        low=0,
        high=MAX_ITERATIONS,
        experiments=("lottery", "oneshot"),
    )
    schedule_length: int | None = setting(
        None,
        "tfmot: the training length (iterations) its pruning schedule "
        f"is proportioned to: masks change {tfmot_plan.schedule_words('it')}; "
        "default the whole budget (give it when --patience makes the budget "
        "only a cap)",
        label="Pruning schedule length",
        kind="int",
        low=10,
        high=MAX_ITERATIONS,
        experiments=("tfmot",),
    )
    controls: tuple[str, ...] = setting(
        (),
        "comma-separated sanity checks of every mask: reinit (fresh initial "
        "weights), random_prune (the layerwise shuffle: same per-layer densities, "
        "random positions), invert (oneshot: keep the lowest scores)",
        label="Controls at every pruned round",
        kind="names",
        choices=CONTROLS,
        experiments=("lottery", "oneshot"),
    )
    criterion: str = setting(
        "magnitude",
        "lottery: what each round prunes by, on the trained weights",
        label="Prune each round by",
        kind="str",
        choices=criteria.ITERATIVE_CRITERIA,
        experiments=("lottery",),
    )
    criteria: tuple[str, ...] = setting(
        ("synflow", "snip", "grasp", "random", "magnitude_init", "magnitude"),
        "oneshot: comma-separated pruning criteria: " + ", ".join(criteria.NAMES),
        label="Pruning criteria",
        kind="names",
        choices=criteria.NAMES,
        experiments=("oneshot",),
    )
    densities: tuple[float, ...] = setting(
        DEFAULT_DENSITIES,
        "oneshot: comma-separated densities (fractions of the prunable weights kept) each criterion prunes to",
        label="Densities",
        kind="floats",
        low=MIN_DENSITY,
        high=1,
        open_high=True,
        experiments=("oneshot",),
    )
    # instability analysis (linear mode connectivity)
    rewind_points: tuple[int, ...] = setting(
        (),
        "instability: comma-separated iterations k whose weights two copies train on from (default 0)",
        label="Rewind iterations k",
        kind="ints",
        low=0,
        high=MAX_ITERATIONS,
        experiments=("instability",),
    )
    ticket_run: str | None = setting(
        None,
        "instability: a lottery run of the same model, data and seed whose ticket masks are tested too",
        label="Sparse tickets from a lottery run",
        kind="runid",
        experiments=("instability",),
    )
    ticket_rounds: tuple[int, ...] = setting(
        (),
        "instability: comma-separated rounds of --ticket-run whose masks are tested",
        label="Its rounds to test",
        kind="ints",
        low=1,
        high=MAX_ROUNDS,
        experiments=("instability",),
    )
    # what a user's network and data are (set by the command that describes them, not typed): a builder's
    # architecture hash, the shape of one example and the number of classes of a user's arrays
    architecture: str | None = setting(
        None, "your network's architecture hash (set from --model)", label="Architecture", kind="hex16"
    )
    data_shape: tuple[int, ...] = setting(
        (),
        "the shape of one example of --data-file (set from the file)",
        label="Example shape",
        kind="ints",
        low=1,
        high=10**7,
    )
    classes: int | None = setting(
        None, "the classes of --data-file (set from the file)", label="Classes", kind="int", low=2, high=100_000
    )

    # ---- derived settings -------------------------------------------------------------------
    @property
    def builds_own(self) -> bool:
        """Whether the network is a user's builder (lth.builders)."""
        return models.is_builder(self.model)

    @property
    def own_data(self) -> bool:
        """Whether the data is a user's arrays (an .npz file), not a built-in dataset."""
        return self.dataset not in DATASET_SPECS

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.data_shape) if self.own_data else DATASET_SPECS[self.dataset].input_shape

    @property
    def class_count(self) -> int:
        return int(self.classes or 0) if self.own_data else len(DATASET_SPECS[self.dataset].class_names)

    @property
    def model_key(self) -> str:
        """The key the network's spec is found by in this process (lth.models.spec_key)."""
        return models.spec_key(self.model, self.input_shape, self.class_count, self.architecture)

    @property
    def spec(self) -> models.ModelSpec:
        try:
            if self.builds_own:
                return models.get_spec(self.model_key)
            return models.sized(self.model, self.input_shape, self.class_count)
        except ValueError as e:
            raise ConfigError(str(e)) from None

    def spec_known(self) -> bool:
        """Whether this process knows the network's layers (a user's network once described)."""
        try:
            return self.spec is not None
        except ConfigError:
            return False

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
            n: self.output_prune_rate
            if n == self.spec.output_layer
            else self.conv_rate()
            if self.spec.is_conv(n)
            else self.prune_rate
            for n in self.prunable_layers
        }

    def conv_rate(self) -> float:
        """The rate the conv layers are pruned at per round (layerwise): the run's, the network's, else
        --prune-rate."""
        if self.conv_prune_rate is not None:
            return self.conv_prune_rate
        return self.spec.conv_prune_rate if self.spec.conv_prune_rate is not None else self.prune_rate

    def prunes_conv(self) -> bool:
        return self.scope == "layerwise" and any(self.spec.is_conv(n) for n in self.prunable_layers)

    def total_iterations(self, train_size: int) -> int:
        if self.iterations is not None:
            return self.iterations
        if self.epochs is not None:
            return max(1, math.ceil(min(self.epochs, MAX_ITERATIONS) * max(1, train_size // self.batch_size)))
        return DEFAULT_ITERATIONS

    @property
    def plan(self) -> Plan:
        """What this run's experiment trains (lth.plans): its checks, records, densities and rounds."""
        return EXPERIMENTS[self.experiment](self)

    def for_experiment(self, experiment: str) -> RunConfig:
        """These settings for another experiment: those that do not apply to it back at their defaults."""
        defaults = RunConfig()
        return RunConfig(
            **{
                f.name: getattr(self if experiment in f.metadata["experiments"] else defaults, f.name)
                for f in dataclasses.fields(self)
            }
            | {"experiment": experiment}
        )

    # ---- checks -------------------------------------------------------------------------------
    def validate(self) -> RunConfig:
        """Types and ranges of every field (from its `setting`), then how the fields combine."""
        need = _need
        for f in dataclasses.fields(self):
            check_value(f, getattr(self, f.name))
        need(self.iterations is None or self.epochs is None, "give --iterations or --epochs, not both")
        need(
            self.builds_own == (self.architecture is not None),
            "--architecture goes with a network builder (file.py:function) only, and a builder needs it "
            "(set by describing the network: lth.hparams.complete, as --model does)",
        )
        need(
            self.own_data == bool(self.data_shape) and self.own_data == (self.classes is not None),
            "--data-shape and --classes go with your own data (--data-file) only, and are set from it",
        )
        if self.builds_own and not self.spec_known():
            # a user's network not described in this process (a page reading a store): the settings that
            # need its layers are checked where it is described and built
            return self._validate_settings(with_plan=False)
        unknown = [n for n in self.prunable_layers if n not in self.spec.kernel_shapes]
        need(
            not unknown,
            f"--prunable: {', '.join(unknown)} not in {self.model} (layers: {', '.join(self.spec.layer_names)})",
        )
        need(self.prunable is None or len(self.prunable) > 0, "--prunable names no layer")
        need(len(set(self.prunable_layers)) == len(self.prunable_layers), "--prunable lists a layer twice")
        need(len(set(self.controls)) == len(self.controls), "--controls lists a control twice")
        need(
            self.conv_prune_rate is None or self.prunes_conv(),
            f"--conv-prune-rate applies where conv layers are pruned layerwise: {self.model} prunes "
            f"{', '.join(self.prunable_layers)} ({self.scope})",
        )
        spec = self.spec
        need(
            spec.input_shape == self.input_shape,
            f"{self.model} is built for {'x'.join(map(str, spec.input_shape))} inputs; {self.dataset}'s are "
            f"{'x'.join(map(str, self.input_shape))}",
        )
        need(
            spec.kernel_shapes[spec.output_layer][-1] == self.class_count,
            f"{self.model} has {spec.kernel_shapes[spec.output_layer][-1]} outputs; {self.dataset} has "
            f"{self.class_count} classes",
        )
        return self._validate_settings()

    def _validate_settings(self, with_plan: bool = True) -> RunConfig:
        need = _need
        # a setting that does not apply to the experiment keeps its default (its `experiments` facet)
        defaults = RunConfig()
        for f in dataclasses.fields(self):
            applies = f.metadata["experiments"]
            if self.experiment not in applies and getattr(self, f.name) != getattr(defaults, f.name):
                raise ConfigError(f"{flag(f.name)} applies to --experiment {' or '.join(applies)} only")
        if with_plan:
            self.plan.check(need)
        return self

    def total_prunable(self) -> int:
        return sum(math.prod(shape) for shape in self.prunable_shapes().values())

    def validate_against(self, train_size: int) -> None:
        """Checks that need the dataset's size."""
        if self.batch_size > train_size:
            raise ConfigError(f"--batch-size {self.batch_size} exceeds the {train_size} training images")
        total = self.total_iterations(train_size)
        if total > MAX_ITERATIONS:
            raise ConfigError(f"{self.epochs:g} epochs are {total:,} iterations, more than {MAX_ITERATIONS:,}")
        self.plan.check_against(total, _need)

    # ---- identity -----------------------------------------------------------------------------
    def canonical(self) -> dict:
        """Every setting that changes the result, defaults filled, inapplicable ones dropped. Settings added
        after runs were made are dropped at their old behaviour, so those runs keep their ids."""
        c = dataclasses.asdict(self)
        c["prunable"] = list(self.prunable_layers)
        c["controls"] = sorted(self.controls)
        for added in ("architecture", "data_shape", "classes"):  # a user's network or data only: ids stay
            if c[added] in (None, ()):
                c.pop(added)
            elif added == "data_shape":
                c[added] = list(c[added])
        if self.builds_own:  # the network is its architecture, wherever its file is: the function's name shows
            c["model"] = self.model.rpartition(":")[2]
        if self.iterations is None and self.epochs is None:
            c["iterations"] = DEFAULT_ITERATIONS
        for f in dataclasses.fields(self):
            if self.experiment not in f.metadata["experiments"]:
                c.pop(f.name)
        if self.scope == "global":
            c.pop("output_prune_rate", None)
        # the conv rate is part of a run only where it prunes conv layers at a rate of their own: a network
        # whose conv layers follow --prune-rate (lenet5's, as before the setting existed) keeps its id
        if "conv_prune_rate" in c:
            own = self.prunes_conv() and (self.spec.conv_prune_rate is not None or self.conv_rate() != self.prune_rate)
            if own:
                c["conv_prune_rate"] = self.conv_rate()
            else:
                c.pop("conv_prune_rate")
        return self.plan.canonical(c)

    def to_json(self) -> dict:
        return {
            f.name: list(value) if isinstance(value := getattr(self, f.name), tuple) else value
            for f in dataclasses.fields(self)
        }

    @classmethod
    def from_json(cls, data) -> RunConfig:
        """A config from its JSON form (a file can hold anything): types checked, then `validate`d."""
        if not isinstance(data, dict):
            raise ConfigError(f"a run config must be a JSON object, not {type(data).__name__}")
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = set(data) - set(fields)
        if unknown:
            raise ConfigError(f"unknown settings: {', '.join(sorted(map(str, unknown)))}")
        data = dict(data)
        for f in dataclasses.fields(cls):  # the list settings (kind names, ints, floats) are tuples here
            if f.metadata["kind"] in LIST_KINDS and isinstance(data.get(f.name), list):
                data[f.name] = tuple(data[f.name])
            elif (
                f.name in data
                and data[f.name] is None
                and f.default_factory is not dataclasses.MISSING
                and f.default_factory() == ()
            ):  # null for an empty list (configs of older versions)
                data[f.name] = ()
        for name, value in data.items():
            check_value(fields[name], value)
        return cls(**data).validate()


def setting_facets(name: str) -> Mapping[str, Any]:
    """What `setting` declares of RunConfig field `name`: help, label, kind, range, choices, experiments."""
    return RunConfig.__dataclass_fields__[name].metadata


def _need(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


def flag(name: str) -> str:
    """The CLI option of RunConfig field `name`."""
    return "--" + name.replace("_", "-")


def check_value(f: dataclasses.Field, value) -> None:
    """Type and range of one field's value, as its `setting` declares; raises ConfigError."""
    meta, option = f.metadata, flag(f.name)
    kind = meta["kind"]
    if value is None and f.default is None:
        return
    if kind == "rewind":
        if value == "init":
            return
        kind = "int"
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{option} must be a whole number, not {value!r}")
    elif kind == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ConfigError(f"{option} must be a finite number, not {value!r}")
    elif kind == "str":
        if value not in meta["choices"]:
            raise ConfigError(f"{option} must be one of {', '.join(meta['choices'])}, not {value!r}")
        return
    elif kind == "model":
        if not isinstance(value, str) or (value not in meta["choices"] and not models.is_builder(value)):
            raise ConfigError(
                f"{option} must be one of {', '.join(meta['choices'])} or a builder file.py:function, not "
                f"{_shown(value)}"
            )
        return
    elif kind == "dataset":
        if not isinstance(value, str) or (value not in meta["choices"] and OWN_DATA_NAME.fullmatch(value) is None):
            raise ConfigError(
                f"{option} must be one of {', '.join(meta['choices'])} or a name for your data (letters, digits, "
                f"'.', '_', '-'; up to 40), not {_shown(value)}"
            )
        return
    elif kind in ("hex16", "runid"):
        if not isinstance(value, str) or RUN_ID.fullmatch(value) is None:
            what = "a run id (16 hexadecimal digits)" if kind == "runid" else "16 hexadecimal digits"
            raise ConfigError(f"{option} must be {what}, not {_shown(value)}")
        return
    elif kind in ("ints", "floats"):
        whole = kind == "ints"
        if not isinstance(value, tuple) or not all(
            isinstance(v, int if whole else (int, float)) and not isinstance(v, bool) and (whole or math.isfinite(v))
            for v in value
        ):
            raise ConfigError(f"{option} must be a list of {'whole' if whole else 'finite'} numbers, not {value!r}")
        if len(value) > 100:
            raise ConfigError(f"{option} lists {len(value)} values; at most 100")
        for v in value:
            _check_range(option, meta, v)
        return
    elif kind == "names":
        if not isinstance(value, tuple) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{option} must be a list of names, not {value!r}")
        bad = [v if len(v) <= 40 else v[:40] + "…" for v in value if meta["choices"] and v not in meta["choices"]]
        if bad:
            shown = ", ".join(bad[:5]) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
            raise ConfigError(f"{option}: unknown {shown}; choose from {', '.join(meta['choices'])}")
        return
    _check_range(option, meta, value)


def _shown(value) -> str:
    return repr(value) if len(repr(value)) <= 42 else repr(value)[:40] + "…"


def _check_range(option: str, meta, value) -> None:
    low, high = meta["low"], meta["high"]

    def shown(x):
        return f"{x:,}" if isinstance(x, int) else f"{x:g}"

    if low is not None and (value <= low if meta["open_low"] else value < low):
        raise ConfigError(f"{option} must be {'above' if meta['open_low'] else 'at least'} {shown(low)}, not {value!r}")
    if high is not None and (value >= high if meta["open_high"] else value > high):
        raise ConfigError(
            f"{option} must be {'below' if meta['open_high'] else 'at most'} {shown(high)}, not {value!r}"
        )


def run_id(config: RunConfig, dataset_fingerprint: str) -> str:
    """The run's identity: a hash of its canonical settings and of the data it trains on."""
    payload = json.dumps(
        {"config": config.canonical(), "data": dataset_fingerprint}, sort_keys=True, separators=(",", ":")
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def check_run(config: RunConfig, data_dir: str | None = None, download: bool = False) -> Dataset:
    """Everything that can be wrong before training (settings, data), without TensorFlow.

    Raises ConfigError or DataError; returns the loaded dataset.
    """
    if config.builds_own:  # its layers are needed by the checks: describe it (it must be the user's own)
        describe_network(config)
    config.validate()
    if data_dir is not None and not str(data_dir).strip():
        raise ConfigError("--data-dir is empty; give a folder or leave it out")
    data = load_dataset(config.dataset, data_dir, download)
    if config.own_data and (data.input_shape, data.classes) != (config.input_shape, config.class_count):
        raise DataError(
            f"{data.source} now holds examples of shape {'x'.join(map(str, data.input_shape))} in {data.classes} "
            f"classes; this run was made for {'x'.join(map(str, config.input_shape))} in {config.class_count}"
        )
    config.validate_against(len(data.y_train))
    return data


def describe_network(config: RunConfig) -> dict:
    """Describe a user's network for the config's data (lth.builders) and check it is the one the config
    names: a file that now builds another network fails with the reason."""
    from lth import builders

    try:
        description = builders.describe(config.model, config.input_shape, config.class_count)
    except builders.BuilderError as e:
        raise ConfigError(str(e)) from None
    if config.architecture is not None and description["architecture"] != config.architecture:
        raise ConfigError(
            f"{config.model} now builds a different network (architecture {description['architecture']}); this "
            f"run was made for architecture {config.architecture}. Restore the file, or submit a new run"
        )
    return description


def complete(config: RunConfig, data_file: str | None = None) -> RunConfig:
    """A config as the user gave it (their own command, form or notebook), with what describes their data and
    network filled in: one example's shape and the classes from the .npz, the network's architecture from
    building it. Naming a builder here records it as the user's choice (lth.builders.trust)."""
    from lth import builders
    from lth.data import datasets

    check_value(RunConfig.__dataclass_fields__["dataset"], config.dataset)
    check_value(RunConfig.__dataclass_fields__["model"], config.model)
    if config.own_data:
        shape, classes = datasets.own_shape_and_classes(data_file)
        config = dataclasses.replace(config, data_shape=shape, classes=classes)
    if config.builds_own:
        try:
            builders.trust(config.model)
            reference = builders.absolute(config.model)
        except builders.BuilderError as e:
            raise ConfigError(str(e)) from None
        config = dataclasses.replace(config, model=reference, architecture=None)
        description = describe_network(config)
        config = dataclasses.replace(config, architecture=description["architecture"])
    return config


TEST_CURVE_ITERATIONS = 1000  # the live test curve's spacing when validation is evaluated more often


def test_curve_every(eval_every: int) -> int:
    """Iterations between test evaluations made only for the live curve (a multiple of eval_every)."""
    return eval_every * max(1, TEST_CURVE_ITERATIONS // eval_every)


def planned_evaluations(config: RunConfig, train_size: int) -> int:
    return config.plan.evaluations(config.total_iterations(train_size))
