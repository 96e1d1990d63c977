"""The experiment settings form: every setting the CLI has, checked before anything starts."""

from __future__ import annotations

import dataclasses
import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

import pandas as pd
import streamlit as st

from dashboard.remember import SAVED, remembered
from dashboard.text import plain
from lth import criteria, hparams, models
from lth.arms import CONTROL_LABELS
from lth.controls import CONTROLS
from lth.data import DataError
from lth.data.datasets import SPECS, dataset_source, sizes
from lth.hparams import ConfigError, RunConfig
from lth.plans import lottery as lottery_plan
from lth.plans import tfmot as tfmot_plan
from lth.plans.instability import InstabilityPlan
from lth.plans.oneshot import OneShotPlan
from lth.runs import kept as kept_networks
from lth.runs import tables as run_tables

BATCH_SIZES = [10, 20, 30, 60, 100, 128, 256, 600, 1000]
LEARNING_RATES = [1e-4, 2e-4, 5e-4, 1e-3, 1.2e-3, 2e-3, 5e-3, 1e-2, 2e-2, 5e-2, 0.1]
DENSITIES = [0.5, 0.33, 0.2, 0.1, 0.05, 0.036, 0.02, 0.01]


def percent(density: float) -> str:
    """A density as the sliders and lists show it: 0.036 -> "3.6%"."""
    return f"{100 * density:g}%"


def label(name: str) -> str:
    """The field of RunConfig setting `name`, as its declaration names it."""
    return hparams.setting_facets(name)["label"]


# how each kind of setting travels in the URL (lth.hparams.setting's kinds)
URL_KINDS = {
    "int": "int",
    "float": "float",
    "str": "str",
    "model": "str",
    "dataset": "str",
    "names": "list",
    "floats": "floatlist",
    "ints": "intlist",
}
OWN_NETWORK = "your own network"  # the model choice that asks for a builder file.py:function
OWN_DATA = "your own arrays (.npz)"  # the dataset choice that asks for an .npz file and a name


def default_of(name: str):
    """The setting's default as RunConfig declares it (what the CLI uses when the option is not given)."""
    f = RunConfig.__dataclass_fields__[name]
    return f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default


def setting_widget(widget, name: str, *, key: str, suffix: str = "", default=dataclasses.MISSING, **presentation):
    """The widget of RunConfig setting `name`: its label, help, default, range and choices are the setting's
    declaration (so a form cannot disagree with the CLI); `presentation` adds only how it is shown (the
    options a slider offers, a format, a step). `default` is given only where the setting's own default is
    None and the form needs a value to show (the form then sends that value)."""
    facets = hparams.setting_facets(name)
    kwargs: dict = {"help": facets["help"]}
    if facets["choices"] is not None and "options" not in presentation:
        presentation["options"] = list(facets["choices"])
    if widget is st.slider:
        step = presentation.setdefault("step", 1 if facets["kind"] == "int" else 0.05)
        kwargs["min_value"] = facets["low"] + (step if facets["open_low"] else 0)
        kwargs["max_value"] = facets["high"] - (step if facets["open_high"] else 0)
        if facets["kind"] == "float":
            kwargs["min_value"], kwargs["max_value"] = (
                round(float(kwargs["min_value"]), 10),
                round(float(kwargs["max_value"]), 10),
            )
    value = default_of(name) if default is dataclasses.MISSING else default
    if isinstance(value, tuple):
        value = list(value)
    return remembered(
        widget,
        facets["label"] + suffix,
        key=key,
        default=value,
        kind=URL_KINDS[facets["kind"]],
        **{**kwargs, **presentation},
    )


def _next_seed(key: str) -> None:
    # a callback: it runs before the widgets of the rerun exist, so it may set their values
    seed = int(st.session_state[f"{key}-seed"]) + int(st.session_state[f"{key}-nseeds"])
    st.session_state[f"{key}-seed"] = seed
    st.session_state[SAVED][f"{key}-seed"] = seed
    st.session_state[f"{key}-start-next"] = True  # the page starts it once the form has been checked


def _common(experiment: str) -> dict | None:
    key = experiment
    c1, c2, c3 = st.columns(3)
    with c1:
        model = setting_widget(
            st.selectbox,
            "model",
            key=f"{key}-model",
            options=[*models.MODELS, OWN_NETWORK],
            format_func=lambda m: m if m == OWN_NETWORK else f"{m}: {models.MODELS[m].description}",
        )
        if model == OWN_NETWORK:
            model = remembered(
                st.text_input,
                "Network builder (file.py:function)",
                key=f"{key}-builder",
                default="",
                help="A function (input_shape, classes, init) -> tf_keras model; see the docs' 'Your own network'. "
                "Naming it here lets this machine's workers run that file.",
            ).strip()
        dataset = setting_widget(st.selectbox, "dataset", key=f"{key}-dataset", options=[*SPECS, OWN_DATA])
        data_dir = None
        if dataset == OWN_DATA:
            dataset = remembered(st.text_input, "Name of your data", key=f"{key}-own-name", default="my-data").strip()
            data_dir = (
                remembered(
                    st.text_input,
                    "Your .npz file (x_train, y_train, x_test, y_test)",
                    key=f"{key}-own-file",
                    default="",
                ).strip()
                or None
            )
        elif dir_env := SPECS[dataset].dir_env:
            data_dir = (
                remembered(
                    st.text_input,
                    f"Folder with the four {dataset} IDX files",
                    key=f"{key}-{dataset}-data-dir",
                    default=os.environ.get(dir_env, ""),
                    help="Leave empty for the default source shown below.",
                )
                or None
            )
        st.caption(f"Reads from: {plain(dataset_source(dataset, data_dir))}")
        described = _described(model, dataset, data_dir)
        if described is None:
            return None
    with c2:
        length_unit = remembered(
            st.radio,
            "Training length in",
            key=f"{key}-unit",
            default="iterations",
            options=["iterations", "epochs"],
            horizontal=True,
        )
        # Number fields take any number: the run config refuses what is out of range, visibly, with the
        # reason, and Start stays disabled (a bounded field would silently keep its old value instead).
        if length_unit == "iterations":  # the setting's default: the paper's length
            iterations = int(
                setting_widget(
                    st.number_input, "iterations", key=f"{key}-iterations", default=hparams.DEFAULT_ITERATIONS, step=100
                )
            )
            epochs = None
        else:
            epochs = float(setting_widget(st.number_input, "epochs", key=f"{key}-epochs", default=20.0, step=1.0))
            iterations = None
        batch_size = setting_widget(st.select_slider, "batch_size", key=f"{key}-batch", options=BATCH_SIZES)
        eval_every = int(setting_widget(st.number_input, "eval_every", key=f"{key}-eval"))
    with c3:
        optimizer = setting_widget(st.selectbox, "optimizer", key=f"{key}-opt")
        lr = setting_widget(st.select_slider, "lr", key=f"{key}-lr", options=LEARNING_RATES)
        first_seed = int(setting_widget(st.number_input, "seed", key=f"{key}-seed"))
        n_seeds = remembered(
            st.slider, "Seeds (one run each)", key=f"{key}-nseeds", default=1, kind="int", min_value=1, max_value=10
        )
        first_next = first_seed + n_seeds
        st.button(
            # how many runs it starts, said before it does
            f"Run the next seed ({first_next})"
            if n_seeds == 1
            else f"Run the next {n_seeds} seeds ({first_next}-{first_next + n_seeds - 1}): {n_seeds} runs",
            key=f"{key}-next-seed",
            on_click=_next_seed,
            args=(key,),
            help="Starts the same settings with the seeds after the ones chosen now (as many as 'Seeds')",
        )
        patience = int(
            setting_widget(
                st.number_input,
                "patience",
                suffix=" (evaluations; 0 = train the full length)",
                key=f"{key}-patience",
                default=0,
            )
        )  # 0: the setting's None
    return dict(
        model=described.model,
        dataset=dataset,
        data_dir=data_dir,
        architecture=described.architecture,
        data_shape=described.data_shape,
        classes=described.classes,
        model_key=described.model_key,
        iterations=iterations,
        epochs=epochs,
        batch_size=batch_size,
        eval_every=eval_every,
        optimizer=optimizer,
        lr=lr,
        seeds=list(range(first_seed, first_seed + n_seeds)),
        patience=patience or None,
    )


def _described(model: str, dataset: str, data_dir: str | None) -> RunConfig | None:
    """The network and data chosen, with what describes a user's own filled in (their .npz read, their network
    built once in a child process; both cached); None, with the reason shown, if they cannot be used."""
    if not model:
        st.info("Name your network's builder: path/to/file.py:function.")
        return None
    try:
        return hparams.complete(RunConfig(model=model, dataset=dataset), data_dir)
    except (ConfigError, DataError, OSError) as e:
        st.error(f"This network or data cannot be used: {plain(field_words(str(e)))}")
        return None


def _prunable(experiment: str, model: str) -> tuple[str, ...]:
    spec = models.get_spec(model)
    chosen = setting_widget(
        st.multiselect,
        "prunable",
        key=f"{experiment}-{model}-prunable",
        default=list(spec.default_prunable),
        options=list(spec.layer_names),
    )  # None: the model's
    return tuple(chosen)


def _conv_rate(experiment: str, model: str, prunable: tuple[str, ...], scope: str, prune_rate: float) -> float | None:
    """The conv layers' own rate, where the run prunes conv layers layerwise (None elsewhere: the setting does
    not apply); it starts at the network's rate (Frankle & Carbin's), else at the hidden layers' rate."""
    spec = models.get_spec(model)
    if scope != "layerwise" or not any(spec.is_conv(n) for n in prunable):
        return None
    start = spec.conv_prune_rate if spec.conv_prune_rate is not None else round(prune_rate, 2)
    return setting_widget(st.slider, "conv_prune_rate", key=f"{experiment}-{model}-conv-rate", default=start)


def _rewind(experiment: str, question: str) -> str | int:
    """Where the pruned networks start: theta0 ('init') or the weights at iteration k (late rewinding)."""
    reset = remembered(
        st.radio,
        question,
        key=f"{experiment}-reset",
        default="initial weights (theta0)",
        options=["initial weights (theta0)", "weights at iteration k"],
    )
    if reset == "initial weights (theta0)":
        return "init"
    return int(
        remembered(
            st.number_input,
            label("rewind"),
            key=f"{experiment}-k",
            default=100,
            kind="int",
            help=hparams.setting_facets("rewind")["help"],
        )
    )


def _lottery_settings(model: str) -> dict:
    c1, c2, c3 = st.columns(3)
    with c1:
        stop = remembered(
            st.radio,
            "Prune for",
            key="lottery-stop",
            default="a number of rounds",
            options=["a number of rounds", "a target density"],
        )
        if stop == "a number of rounds":
            rounds = setting_widget(st.slider, "rounds", key="lottery-rounds", default=lottery_plan.DEFAULT_ROUNDS)
            target = None
        else:
            rounds = None
            target = setting_widget(
                st.select_slider,
                "target_density",
                key="lottery-target",
                default=0.036,
                options=DENSITIES,
                format_func=percent,
            )
    with c2:
        scope = setting_widget(st.radio, "scope", key="lottery-scope", horizontal=True)
        prune_rate = setting_widget(
            st.slider, "prune_rate", suffix=" (hidden layers, or all for global)", key="lottery-rate"
        )
        output_rate = setting_widget(st.slider, "output_prune_rate", key="lottery-out-rate", disabled=scope == "global")
        prunable = _prunable("lottery", model)
        conv_rate = _conv_rate("lottery", model, prunable, scope, prune_rate)
    with c3:
        rewind = _rewind("lottery", "Reset surviving weights to")
        controls = setting_widget(
            st.multiselect,
            "controls",
            key="lottery-controls",
            options=[n for n, c in CONTROLS.items() if not c.needs_scores],
            format_func=CONTROL_LABELS.get,
        )
        criterion = setting_widget(
            st.selectbox,
            "criterion",
            key="lottery-criterion",
            format_func=lambda n: f"{n}: {criteria.CRITERIA[n].definition}",
        )
    return dict(
        rounds=rounds,
        target_density=target,
        scope=scope,
        prune_rate=prune_rate,
        conv_prune_rate=conv_rate,
        output_prune_rate=output_rate,
        prunable=prunable,
        rewind=rewind,
        controls=tuple(controls),
        criterion=criterion,
    )


# The one-shot densities offered: the iterative ladder's points (rounds 1-24 of 20%/10%) and round numbers.
ONESHOT_DENSITIES = sorted(
    {*hparams.DEFAULT_DENSITIES, 0.8, 0.64, 0.328, 0.135, 0.5, 0.2, 0.1, 0.05, 0.02, 0.01, 0.002}, reverse=True
)


def _oneshot_settings(model: str) -> dict | None:
    c1, c2, c3 = st.columns(3)
    with c1:
        names = setting_widget(st.multiselect, "criteria", key="oneshot-criteria")
        densities = setting_widget(
            st.multiselect,
            "densities",
            suffix=" (each criterion prunes to each)",
            key="oneshot-densities",
            options=ONESHOT_DENSITIES,
            format_func=percent,
        )
    with c2:
        scope = setting_widget(
            st.radio,
            "scope",
            key="oneshot-scope",
            horizontal=True,
            help="global: one threshold over all prunable weights (a layer can collapse); "
            "layerwise: each layer at the density iterative pruning at the rates below "
            "gives it",
        )
        if scope == "layerwise":  # the split of each density over the layers
            prune_rate = setting_widget(
                st.slider, "prune_rate", suffix=" (layerwise split: hidden layers)", key="oneshot-rate"
            )
            output_rate = setting_widget(
                st.slider, "output_prune_rate", suffix=" (layerwise split)", key="oneshot-out-rate"
            )
        prunable = _prunable("oneshot", model)
        conv_rate = _conv_rate("oneshot", model, prunable, scope, prune_rate) if scope == "layerwise" else None
    with c3:
        rewind = _rewind("oneshot", "Train the masked network from")
        controls = setting_widget(st.multiselect, "controls", key="oneshot-controls", format_func=CONTROL_LABELS.get)
    if names:
        st.markdown("\n".join(f"- **{n}**: {criteria.CRITERIA[n].definition}" for n in names))
    if not names or not densities:
        st.error("Choose at least one criterion and one density.")
        return None
    extra = dict(
        criteria=tuple(names),
        densities=tuple(densities),
        scope=scope,
        prunable=prunable,
        rewind=rewind,
        controls=tuple(controls),
    )
    if scope == "layerwise":
        extra.update(prune_rate=prune_rate, output_prune_rate=output_rate, conv_prune_rate=conv_rate)
    return extra


def _tfmot_settings(model: str) -> dict:
    c1, c2 = st.columns(2)
    with c1:
        # the setting has no default (tfmot needs one): the original study's 10% is shown first
        target = setting_widget(
            st.select_slider,
            "target_density",
            key="tfmot-target",
            default=0.1,
            options=DENSITIES,
            format_func=percent,
        )
    with c2:
        prunable = _prunable("tfmot", model)
    schedule = int(
        setting_widget(
            st.number_input,
            "schedule_length",
            suffix=" (iterations; 0 = the whole budget)",
            key="tfmot-schedule-length",
            default=0,
        )
    )  # 0: the setting's None
    return dict(target_density=target, prunable=prunable, schedule_length=schedule or None)


def _instability_settings(common: dict) -> dict | None:
    from dashboard.common import store
    from lth.runs import Corrupt, StoreError

    c1, c2 = st.columns(2)
    with c1:
        text = remembered(
            st.text_input,
            f"{label('rewind_points')} (comma-separated)",
            key="instability-points",
            default=", ".join(map(str, default_of("rewind_points") or (0,))),
            help="Two copies train from the weights at each k to the end, with different data "
            "orders; k = 0 is the initialisation.",
        )
        try:
            points = tuple(sorted({int(v) for v in text.replace(" ", "").split(",") if v}))
        except ValueError:
            st.error(f"Rewind iterations must be whole numbers separated by commas, not {plain(repr(text))}")
            points = None
    if points is None:
        return None
    s = store()
    sources = {}
    for run in run_tables.runs_frame(s).itertuples():
        if (
            run.experiment != InstabilityPlan.ticket_source
            or run.model != common["model"]
            or run.dataset != common["dataset"]
        ):
            continue
        try:
            kept_rounds = sorted(r for a, r in kept_networks.networks_of(s, run.run_id) if a == "ticket" and r > 0)
        except (StoreError, Corrupt, OSError):
            continue
        if kept_rounds:
            sources[run.run_id] = (run.seed, kept_rounds)
    with c2:
        source = remembered(
            st.selectbox,
            f"{label('ticket_run')} (optional)",
            key="instability-source",
            default="",
            options=[""] + list(sources),
            format_func=lambda r: (
                "none: the dense network only"
                if not r
                else f"{r} · seed {sources[r][0]} · rounds {sources[r][1][0]}-{sources[r][1][-1]}"
            ),
        )
        source = source or None
        rounds: list[int] = []
        if source is not None:
            rounds = remembered(
                st.multiselect,
                label("ticket_rounds"),
                key=f"instability-rounds-{source}",
                default=sources[source][1][-1:],
                kind="intlist",
                options=sources[source][1],
            )
            st.caption(f"The ticket is a network of seed {sources[source][0]}: the run uses that seed.")
    if source is not None:
        common["seeds"] = [sources[source][0]]  # the ticket is a network of that seed
    common["patience"] = None  # both copies train to the end
    return dict(rewind_points=points, ticket_run=source, ticket_rounds=tuple(rounds))


def _check_ticket_source(configs: list[RunConfig], data_dir: str | None) -> None:
    """The lottery run an instability run takes its masks from can supply them (raises ConfigError, DataError)."""
    if configs[0].ticket_run:
        from dashboard.common import store
        from lth.runs.queue import check, ticket_source

        ticket_source(store(), check(configs[0], data_dir))


LONG_MINUTES = 60  # above this, the page warns before Start
# The run config's checks name CLI options; the forms say which field the user sees instead.
FIELD_NAMES = {hparams.flag(f.name): f.metadata["label"] for f in dataclasses.fields(RunConfig)} | {
    "--data-dir": "Folder with the IDX files"
}


def field_words(message: str) -> str:
    """A config error in the form's words: each CLI option named by its field's label."""
    for flag in sorted(FIELD_NAMES, key=len, reverse=True):  # --rewind-points before --rewind
        message = re.sub(re.escape(flag) + r"(?![\w-])", f"“{FIELD_NAMES[flag]}”", message)
    return message


def show_plan(configs: list[RunConfig], data_dir: str | None = None) -> None:
    """How many trainings the runs make and how long they take on this machine's kind of CPU; a warning for
    plans that are long."""
    from lth import presets

    train, val, test = sizes(configs[0].dataset, data_dir)
    trainings = sum(c.plan.trainings() for c in configs)
    minutes = presets.estimate_seconds(configs, train, val, test) / 60
    at_most = " at most" if configs[0].patience is not None else ""  # patience may end each training sooner
    st.caption(
        f"Plan: {len(configs)} run{'s' if len(configs) > 1 else ''}, {trainings} training"
        f"{'s' if trainings != 1 else ''} of{at_most} {configs[0].total_iterations(train):,} iterations; "
        f"{presets.duration_words(minutes * 60)} on a 2-core CPU (less on a GPU)."
    )
    if minutes > LONG_MINUTES:
        st.warning(
            f"This plan takes about {minutes / 60:.1f} hours on a 2-core CPU ({trainings} trainings). "
            f"Fewer rounds, iterations or seeds shorten it."
        )


def show_ladder(config: RunConfig, data_dir: str | None = None) -> None:
    """A lottery run's planned densities per round; a warning where a layer would be pruned away."""
    ladder = cast(lottery_plan.LotteryPlan, config.plan).density_ladder()
    empty = [name for name, density in ladder[-1]["layer_density"].items() if density < 1e-9]
    if empty:
        st.warning(
            f"By the last round {', '.join(empty)} would have no weights left: the network cannot "
            f"pass a signal through it and trains at chance. Use fewer rounds or a lower rate."
        )
    table = pd.DataFrame(
        [
            {
                "round": step["round"],
                "overall %": round(100 * step["density"], 1),
                **{f"{k} %": round(100 * v, 1) for k, v in step["layer_density"].items()},
            }
            for step in ladder
        ]
    )
    st.markdown(
        f"**Planned density ladder** ({len(ladder) - 1} rounds"
        + (", per-layer split of global pruning depends on the weights" if config.scope == "global" else "")
        + ")"
    )
    st.dataframe(table.set_index("round").T, width="stretch")


def show_oneshot_densities(config: RunConfig, data_dir: str | None = None) -> None:
    """The masks' densities: overall and per layer (layerwise), or overall only (global: the split is the
    criterion's)."""
    rows = []
    plan = cast(OneShotPlan, config.plan)
    for density in plan.ordered_densities():
        counts = plan.keep_counts(density)
        row = {"asked %": round(100 * density, 3), "overall %": round(100 * plan.mask_density(density), 3)}
        if isinstance(counts, dict):
            row.update(
                {
                    f"{n} %": round(100 * c / math.prod(s), 2)
                    for (n, c), s in zip(counts.items(), config.prunable_shapes().values())
                }
            )
        rows.append(row)
    st.markdown(
        "**Planned densities**"
        + (
            " (global: each layer's share is the criterion's; a layer can be emptied, which the figures mark)"
            if config.scope == "global"
            else ""
        )
    )
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")


def _tfmot_schedule(config: RunConfig, data_dir: str | None = None) -> None:
    plan = cast(tfmot_plan.TfmotPlan, config.plan)
    begin, end, freq = plan.schedule(config.total_iterations(sizes(config.dataset, data_dir)[0]))
    st.caption(
        f"Pruning schedule: from iteration {begin} to {end}, masks updated every {freq} iterations; "
        f"the pruned network is evaluated for early stopping only from iteration {end} on."
    )


@dataclass(frozen=True)
class ExperimentForm:
    """One experiment's part of the form, below the settings every experiment has."""

    heading: str = ""
    # its widgets: (the common settings, which it may adjust) -> its settings, or None (with the reason shown)
    settings: Callable[[dict], dict | None] = lambda common: {}
    # what the first run's plan makes, below the plan (given its data's file or folder)
    shows: Callable[[RunConfig, str | None], None] = lambda config, data_dir: None
    # checks that need more than the settings (raise ConfigError or DataError)
    checks: Callable[[list[RunConfig], str | None], None] = lambda configs, data_dir: None


# The registry: each experiment's form (its page calls experiment_form with its name).
FORMS = {
    "baseline": ExperimentForm(),
    "lottery": ExperimentForm("Pruning", lambda common: _lottery_settings(common["model_key"]), show_ladder),
    "tfmot": ExperimentForm(
        f"Pruning (tfmot PolynomialDecay, {tfmot_plan.schedule_words('training')})",
        lambda common: _tfmot_settings(common["model_key"]),
        _tfmot_schedule,
    ),
    "oneshot": ExperimentForm(
        "Pruning once, by criterion", lambda common: _oneshot_settings(common["model_key"]), show_oneshot_densities
    ),
    "instability": ExperimentForm("Instability", _instability_settings, checks=_check_ticket_source),
}


def experiment_form(experiment: str) -> tuple[list[RunConfig], str | None] | None:
    """Widgets for one experiment; returns (one config per seed, data folder), or None (with the reason
    shown) when the settings cannot work."""
    form = FORMS[experiment]
    common = _common(experiment)
    if common is None:
        return None
    if form.heading:
        st.subheader(form.heading)
    extra = form.settings(common)
    if extra is None:
        return None
    seeds, data_dir = common.pop("seeds"), common.pop("data_dir")
    common.pop("model_key")
    if "prunable" in extra and not extra["prunable"]:
        st.error("Choose at least one prunable layer.")
        return None
    try:
        configs = [RunConfig(experiment=experiment, seed=s, **common, **extra) for s in seeds]
        for config in configs:
            hparams.check_run(config, data_dir)
        form.checks(configs, data_dir)
    except (ConfigError, DataError, OSError) as e:
        st.error(f"These settings cannot work: {plain(field_words(str(e)))}")
        return None
    show_plan(configs, data_dir)
    form.shows(configs[0], data_dir)
    return configs, data_dir
