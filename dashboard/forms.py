"""The experiment settings form: every setting the CLI has, checked before anything starts."""
from __future__ import annotations

import dataclasses
import os

import pandas as pd
import streamlit as st

from lth import hparams, models
from lth.data import DataError
from lth.data.datasets import DATASETS, DIR_ENV, dataset_source
from lth.hparams import ConfigError, RunConfig

BATCH_SIZES = [10, 20, 30, 60, 100, 128, 256, 600, 1000]
LEARNING_RATES = [1e-4, 2e-4, 5e-4, 1e-3, 1.2e-3, 2e-3, 5e-3, 1e-2, 2e-2, 5e-2, 0.1]
DENSITIES = [0.5, 0.33, 0.2, 0.1, 0.05, 0.036, 0.02, 0.01]


def limits(name: str) -> tuple:
    """(min, max) of a RunConfig field, as `RunConfig.validate` checks them (one place for ranges)."""
    meta = next(f.metadata for f in dataclasses.fields(RunConfig) if f.name == name)
    return meta["low"], meta["high"]


def _common(experiment: str) -> dict:
    key = experiment
    c1, c2, c3 = st.columns(3)
    with c1:
        model = st.selectbox("Model", list(models.MODELS), key=f"{key}-model",
                             format_func=lambda m: f"{m}: {models.MODELS[m].description}")
        dataset = st.selectbox("Dataset", DATASETS, index=1, key=f"{key}-dataset")
        data_dir = None
        if dataset in DIR_ENV:
            data_dir = st.text_input(f"Folder with the four {dataset} IDX files",
                                     os.environ.get(DIR_ENV[dataset], ""), key=f"{key}-{dataset}-data-dir",
                                     help="Leave empty for the default source shown below.") or None
        st.caption(f"Reads from: {dataset_source(dataset, data_dir)}")
    with c2:
        length_unit = st.radio("Training length in", ["iterations", "epochs"], horizontal=True, key=f"{key}-unit")
        if length_unit == "iterations":
            iterations = st.number_input("Iterations", *limits("iterations"), 1500, step=100, key=f"{key}-iterations")
            epochs = None
        else:
            epochs = st.number_input("Epochs", 0.1, 10_000.0, 20.0, step=1.0, key=f"{key}-epochs")
            iterations = None
        batch_size = st.select_slider("Batch size", BATCH_SIZES, value=60, key=f"{key}-batch")
        eval_every = st.number_input("Evaluate every N iterations", *limits("eval_every"), 100, key=f"{key}-eval")
    with c3:
        optimizer = st.selectbox("Optimizer", hparams.OPTIMIZERS, key=f"{key}-opt")
        lr = st.select_slider("Learning rate", LEARNING_RATES, value=1.2e-3, key=f"{key}-lr")
        low, high = limits("seed")
        first_seed = st.number_input("First seed", low, high - 10, 0, key=f"{key}-seed")
        n_seeds = st.slider("Seeds (one run each)", 1, 10, 1, key=f"{key}-nseeds")
        patience = st.number_input("Patience (evaluations; 0 = train the full length)", 0, 10_000, 0,
                                   key=f"{key}-patience")
    return dict(model=model, dataset=dataset, data_dir=data_dir, iterations=iterations, epochs=epochs,
                batch_size=batch_size, eval_every=int(eval_every), optimizer=optimizer, lr=lr,
                seeds=list(range(int(first_seed), int(first_seed) + n_seeds)), patience=int(patience) or None)


def _prunable(experiment: str, model: str) -> tuple[str, ...]:
    spec = models.get_spec(model)
    chosen = st.multiselect("Prunable layers", spec.layer_names, default=list(spec.default_prunable),
                            key=f"{experiment}-{model}-prunable")
    return tuple(chosen)


def _lottery_settings(model: str) -> dict:
    c1, c2, c3 = st.columns(3)
    with c1:
        stop = st.radio("Prune for", ["a number of rounds", "a target density"], key="lottery-stop")
        if stop == "a number of rounds":
            rounds, target = st.slider("Rounds", 0, 30, 15, key="lottery-rounds"), None
        else:
            rounds, target = None, st.select_slider("Target density", DENSITIES, value=0.036, key="lottery-target",
                                                    format_func=lambda d: f"{100 * d:g}%")
    with c2:
        scope = st.radio("Scope", hparams.SCOPES, horizontal=True, key="lottery-scope")
        prune_rate = st.slider("Prune rate per round (hidden layers, or all for global)", 0.05, 0.9, 0.2, 0.05,
                               key="lottery-rate")
        output_rate = st.slider("Prune rate per round, output layer", 0.0, 0.9, 0.1, 0.05, key="lottery-out-rate",
                                disabled=scope == "global")
        prunable = _prunable("lottery", model)
    with c3:
        reset = st.radio("Reset surviving weights to", ["initial weights (theta0)", "weights at iteration k"],
                         key="lottery-reset")
        rewind = "init"
        if reset != "initial weights (theta0)":
            rewind = int(st.number_input("k (late rewinding)", *limits("rewind"), 100, key="lottery-k"))
        controls = st.multiselect("Controls at every pruned round", hparams.CONTROLS,
                                  default=["reinit"], key="lottery-controls",
                                  format_func={"reinit": "random reinit", "random_prune": "random pruning"}.get)
    return dict(rounds=rounds, target_density=target, scope=scope, prune_rate=prune_rate,
                output_prune_rate=output_rate, prunable=prunable, rewind=rewind, controls=tuple(controls))


def _tfmot_settings(model: str) -> dict:
    c1, c2 = st.columns(2)
    with c1:
        target = st.select_slider("Target density", DENSITIES, value=0.1, key="tfmot-target",
                                  format_func=lambda d: f"{100 * d:g}%")
    with c2:
        prunable = _prunable("tfmot", model)
    return dict(target_density=target, prunable=prunable)


def experiment_form(experiment: str) -> tuple[list[RunConfig], str | None] | None:
    """Widgets for one experiment; returns (one config per seed, data folder), or None (with the reason
    shown) when the settings cannot work."""
    common = _common(experiment)
    extra = {}
    if experiment == "lottery":
        st.subheader("Pruning")
        extra = _lottery_settings(common["model"])
    elif experiment == "tfmot":
        st.subheader("Pruning (tfmot PolynomialDecay, 20% to 60% of training, every 2%)")
        extra = _tfmot_settings(common["model"])
    seeds, data_dir = common.pop("seeds"), common.pop("data_dir")
    if "prunable" in extra and not extra["prunable"]:
        st.error("Choose at least one prunable layer.")
        return None
    try:
        configs = [RunConfig(experiment=experiment, seed=s, **common, **extra) for s in seeds]
        for config in configs:
            hparams.check_run(config, data_dir)
    except (ConfigError, DataError) as e:
        st.error(f"These settings cannot work: {e}")
        return None
    show_plan(configs)
    if experiment == "lottery":
        show_ladder(configs[0])
    elif experiment == "tfmot" and common["iterations"]:
        begin, end, freq = configs[0].tfmot_schedule(common["iterations"])
        st.caption(f"Pruning schedule: from iteration {begin} to {end}, masks updated every {freq} iterations; "
                   f"the pruned network is evaluated for early stopping only from iteration {end} on.")
    return configs, data_dir


LONG_MINUTES = 60  # above this, the page warns before Start


def show_plan(configs: list[RunConfig]) -> None:
    """How many trainings the runs make and how long they take on this machine's kind of CPU; warnings
    for plans that are long or that prune a layer away."""
    from lth import presets
    from lth.data.datasets import SIZES

    train, val, test = SIZES[configs[0].dataset]
    trainings = sum(hparams.planned_trainings(c) for c in configs)
    minutes = presets.estimate_seconds(configs, train, val + test) / 60
    st.caption(f"Plan: {len(configs)} run{'s' if len(configs) > 1 else ''}, {trainings} trainings of "
               f"{configs[0].total_iterations(train):,} iterations; about {minutes:.0f} min on a 2-core CPU "
               f"(less on a GPU).")
    if minutes > LONG_MINUTES:
        st.warning(f"This plan takes about {minutes / 60:.1f} hours on a 2-core CPU ({trainings} trainings). "
                   f"Fewer rounds, iterations or seeds shorten it.")
    if configs[0].experiment == "lottery":
        final = configs[0].density_ladder()[-1]["layer_density"]
        empty = [name for name, density in final.items() if density < 1e-9]
        if empty:
            st.warning(f"By the last round {', '.join(empty)} would have no weights left: the network cannot "
                       f"pass a signal through it and trains at chance. Use fewer rounds or a lower rate.")


def show_ladder(config: RunConfig) -> None:
    ladder = config.density_ladder()
    table = pd.DataFrame([{"round": step["round"], "overall %": round(100 * step["density"], 1),
                           **{f"{k} %": round(100 * v, 1) for k, v in step["layer_density"].items()}}
                          for step in ladder])
    st.markdown(f"**Planned density ladder** ({len(ladder) - 1} rounds"
                + (", per-layer split of global pruning depends on the weights" if config.scope == "global" else "")
                + ")")
    st.dataframe(table.set_index("round").T, width="stretch")
