"""Checks of what the store's files hold: a file can contain any JSON (or none); each check returns the
value it accepts or raises Corrupt naming the field, so one bad file is reported, never trusted."""

from __future__ import annotations

import math
import time
from typing import cast

from lth import paths
from lth.arms import NAMES as ARMS
from lth.hparams import RUN_ID  # the store checks folder names with it
from lth.records import MAX_SECONDS, Corrupt, _is_int, _is_number, need, obj, optional, parse_json, result_records
from lth.runs.state import WRITTEN, RunState

__all__ = [
    "Corrupt",
    "RUN_ID",
    "status",
    "config_record",
    "results",
    "result_records",
    "parse_json",
    "metric",
    "heartbeat",
]


def status(value, executors) -> dict:
    record = obj(value, paths.STATUS)
    need(record.get("state") in {s.value for s in WRITTEN}, f"{paths.STATUS}: state is {record.get('state')!r}")
    latest = time.time() + 86_400  # a time more than a day ahead is no time this machine wrote
    for key in ("created", "queued", "started", "ended"):
        optional(record, key, lambda v: _is_number(v) and 0 <= v <= latest, paths.STATUS)
    optional(record, "elapsed_before", lambda v: _is_number(v) and 0 <= v <= 10 * 365 * 86_400, paths.STATUS)
    if record.get("started") is not None and record.get("ended") is not None:
        need(record["ended"] >= record["started"], f"{paths.STATUS}: the run ended before it started")
    optional(record, "pid", lambda v: _is_int(v) and 0 < v < 2**31, paths.STATUS)
    optional(record, "pid_start", _is_int, paths.STATUS)
    optional(record, "own_session", lambda v: isinstance(v, bool), paths.STATUS)
    optional(record, "error", lambda v: isinstance(v, str), paths.STATUS)
    optional(record, "executor", lambda v: v in executors, paths.STATUS)
    optional(record, "ray_address", lambda v: isinstance(v, str), paths.STATUS)
    optional(record, "placement_sig", lambda v: isinstance(v, str), paths.STATUS)
    optional(record, "device", lambda v: isinstance(v, dict) and isinstance(v.get("name"), str), paths.STATUS)
    optional(record, "versions", lambda v: isinstance(v, dict), paths.STATUS)
    return {**record, "state": RunState(record["state"])}


def config_record(value, run_id: str):
    """The config record and its RunConfig; the run id must be the hash of both."""
    from lth import hparams

    record = obj(value, paths.CONFIG)
    need(record.get("run_id") == run_id, f"{paths.CONFIG}: run_id is {record.get('run_id')!r}, the folder is {run_id}")
    fingerprint = record.get("dataset_fingerprint")
    need(
        isinstance(fingerprint, str) and RUN_ID.fullmatch(fingerprint) is not None,
        f"{paths.CONFIG}: dataset_fingerprint is {fingerprint!r}",
    )
    optional(record, "data_dir", lambda v: isinstance(v, str), paths.CONFIG)
    need(
        _is_int(record.get("planned_evaluations")) and 0 <= record["planned_evaluations"] <= 10**12,
        f"{paths.CONFIG}: planned_evaluations is {record.get('planned_evaluations')!r}",
    )
    try:
        config = hparams.RunConfig.from_json(record.get("config"))
        if config.builds_own:  # its layers come with the run: a description that hashes to its architecture
            _register_network(record.get("model_description"), config)
            config.validate()
    except hparams.ConfigError as e:
        raise Corrupt(f"{paths.CONFIG}: {e}") from None
    need(record.get("canonical") == config.canonical(), f"{paths.CONFIG}: canonical settings do not match the settings")
    need(
        hparams.run_id(config, cast(str, fingerprint)) == run_id,  # a str: checked above
        f"{paths.CONFIG}: the settings and data fingerprint do not hash to this run id (edited by hand?)",
    )
    return record, config


def _register_network(description, config) -> None:
    """Make a user's network known to this process from the description its run keeps (data, not code: it is
    checked against the architecture the run id covers, and nothing is imported)."""
    from lth import builders, hparams

    if description is None:
        raise hparams.ConfigError(f"the run names network {config.model} but keeps no description of it")
    try:
        spec = builders.spec_of(description)
    except builders.BuilderError as e:
        raise hparams.ConfigError(str(e)) from None
    if spec.architecture != config.architecture or spec.builder != config.model:
        raise hparams.ConfigError("its network description is of another network than its settings name")
    builders.register(description)


def results(value, run_id: str | None = None, config=None) -> dict:
    """A results file; with `run_id` and `config` (its folder's RunConfig) it must be that run's: results
    copied in from another run, or records the run cannot have made (a missing or extra arm or round, an
    iteration past its budget, a mask that did not hold), are refused, never served as this one's."""
    summary = obj(value, paths.RESULTS)
    need(isinstance(summary.get("config"), dict), f"{paths.RESULTS}: config is not an object")
    if run_id is not None:
        optional(summary, "run_id", lambda v: v == run_id, f"{paths.RESULTS} (in run {run_id}'s folder)")
    if config is not None:
        need(
            summary["config"] == config.canonical(),
            f"{paths.RESULTS}: its settings are not this run's (copied from another run?)",
        )
    for key in ("experiment", "model", "dataset"):
        need(isinstance(summary["config"].get(key), str), f"{paths.RESULTS}: config.{key} is missing")
    need(_is_int(summary["config"].get("seed")), f"{paths.RESULTS}: config.seed is missing")
    need(
        isinstance(summary.get("device"), dict) and isinstance(summary["device"].get("name"), str),
        f"{paths.RESULTS}: device is not an object with a name",
    )
    need(
        _is_number(summary.get("seconds")) and 0 <= summary["seconds"] <= MAX_SECONDS,
        f"{paths.RESULTS}: seconds is {summary.get('seconds')!r}, not a time",
    )
    optional(summary, "iterations", lambda v: _is_int(v) and v > 0, paths.RESULTS)
    optional(
        summary,
        "weights_sha256",
        lambda v: isinstance(v, str) and len(v) == 64 and all(c in "0123456789abcdef" for c in v),
        paths.RESULTS,
    )
    need(isinstance(summary.get("results"), list) and summary["results"], f"{paths.RESULTS}: results is not a list")
    result_records(summary["results"], paths.RESULTS)
    if config is not None:
        if config.iterations is not None and summary.get("iterations") is not None:
            need(summary["iterations"] == config.iterations, f"{paths.RESULTS}: iterations is not the run's budget")
        records_of(config, summary["results"], summary.get("iterations") or config.iterations)
        data = summary.get("dataset")
        if data is not None:  # the data it trained on is the run's, of the sizes that dataset has
            from lth.data.datasets import SPECS

            need(
                isinstance(data, dict) and data.get("name") == config.dataset,
                f"{paths.RESULTS}: dataset is not the run's {config.dataset}",
            )
            found = [data.get(k) for k in ("train", "validation", "test")]
            if config.own_data:  # a user's arrays: sizes of its file, whatever they are
                need(all(_is_int(n) and n >= 1 for n in found), f"{paths.RESULTS}: dataset sizes are {found}")
            else:
                sizes = SPECS[config.dataset].sizes
                need(found == list(sizes), f"{paths.RESULTS}: dataset sizes are not {config.dataset}'s {sizes}")
    return summary


def records_of(config, records: list, total: int | None = None) -> None:
    """Corrupt unless `records` are exactly what a finished run of `config` (of `total` iterations, where
    known) writes: each planned (arm, round) once, early stop no later than the end, both evaluation points of
    its settings, the end the budget unless patience stopped it, no pruned weight left non-zero."""
    plan = config.plan
    planned = plan.planned_keys()
    found = sorted(plan.record_key(r) for r in records)
    need(
        found == sorted(planned),
        f"{paths.RESULTS}: its records are not the {len(planned)} this {config.experiment} run makes (arm and round)",
    )
    sizes = {n: math.prod(s) for n, s in config.prunable_shapes().items()}
    spec = config.spec
    params = sum(math.prod(s) for s in spec.weight_shapes())
    macs = spec.dense_macs()
    for i, record in enumerate(records):  # the compression report's counts are the network's
        what = f"{paths.RESULTS}: results[{i}]"
        if record.get("params") is not None:
            need(record["params"] == params, f"{what}: params is {record['params']}, {config.model} has {params}")
        if record.get("dense_macs") is not None:
            need(
                record["dense_macs"] == macs,
                f"{what}: dense_macs is {record['dense_macs']}, {config.model} makes {macs}",
            )
        if record.get("nonzero_params") is not None:
            prunable, slack = sum(sizes.values()), config.plan.density_slack  # tfmot's arm: its own rounding
            kept = round(record["density"] * prunable)
            low = math.floor((record["density"] - slack) * prunable)
            high = math.ceil((record["density"] + slack) * prunable)
            # pruned weights are exactly zero; kept ones are not (a trained or freshly drawn weight is never
            # exactly 0.0; biases and unpruned layers may be)
            need(
                low <= record["nonzero_params"] <= params - (prunable - high),
                f"{what}: nonzero_params {record['nonzero_params']} is not what {kept} kept of {prunable} prunable "
                f"weights make",
            )
    for i, record in enumerate(records):  # every record's layers are those the run prunes, adding up to its density
        layers = record.get("layer_density") or {}
        if layers:
            what = f"{paths.RESULTS}: results[{i}]"
            need(set(layers) == set(sizes), f"{what}: its layers are not the {len(sizes)} the run prunes")
            kept = sum(layers[n] * sizes[n] for n in sizes) / sum(sizes.values())
            need(abs(kept - record["density"]) <= 1e-6, f"{what}: its layers' densities do not add up to its own")
    expected, slack = plan.densities(), plan.density_slack
    if expected is not None:
        # each training's density is the one its settings make (a lottery round's ladder step, tfmot's target,
        # a one-shot round's mask)
        for i, record in enumerate(records):
            what = f"{paths.RESULTS}: results[{i}]"
            need(
                abs(record["density"] - expected[(record["arm"], record["round"])]) <= slack,
                f"{what} has density {record['density']!r}, not what its settings make",
            )
            labels = plan.record_labels(record["arm"])
            if labels is not None:  # a one-shot record names its criterion and control as its arm does
                need(
                    (record.get("criterion"), record.get("control")) == labels,
                    f"{what}: criterion and control are not its arm's",
                )
    for i, record in enumerate(records):
        need(
            record["early_stop_iteration"] <= record["final_iteration"],
            f"{paths.RESULTS}: results[{i}] stops early after its last iteration",
        )
        if config.iterations is not None:
            need(
                record["final_iteration"] <= config.iterations,
                f"{paths.RESULTS}: results[{i}] trained past the run's {config.iterations} iterations",
            )
        need(not record.get("pruned_nonzero"), f"{paths.RESULTS}: results[{i}] has pruned weights that are not zero")
        if total is not None:
            for key in ("early_stop_iteration", "final_iteration"):  # evaluated every eval_every and at the end
                it = record[key]
                need(
                    0 < it <= total and (it % config.eval_every == 0 or it == total),
                    f"{paths.RESULTS}: results[{i}]: {key} {it} is not an evaluation of its settings (every "
                    f"{config.eval_every} of {total} iterations)",
                )
            stopped = record.get("stopped_early")
            need(
                record["final_iteration"] == total or (config.patience is not None and stopped is not False),
                f"{paths.RESULTS}: results[{i}] ends at iteration {record['final_iteration']} of {total} without "
                f"patience stopping it",
            )
            need(
                stopped is None or stopped == (record["final_iteration"] < total),
                f"{paths.RESULTS}: results[{i}]: stopped_early is {stopped} at iteration {record['final_iteration']} "
                f"of {total}",
            )


METRIC_NUMBERS = ("density", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "elapsed")


def metric(value) -> bool:
    """Whether one metrics.jsonl line holds an evaluation as the worker writes it."""
    if not isinstance(value, dict) or value.get("arm") not in ARMS:
        return False
    if not all(_is_int(value.get(k)) and value[k] >= 0 for k in ("round", "iteration", "total_iterations")):
        return False
    if not all(_is_number(value.get(k)) for k in METRIC_NUMBERS):
        return False
    return all(value.get(k) is None or _is_number(value[k]) for k in ("test_loss", "test_accuracy"))


def heartbeat(value) -> dict | None:
    if not isinstance(value, dict) or not _is_number(value.get("time")) or not _is_int(value.get("pid")):
        return None
    from lth.hparams import MAX_ITERATIONS, MAX_ROUNDS

    for key, high in (("evaluations", 10**12), ("iteration", MAX_ITERATIONS), ("round", MAX_ROUNDS)):
        if not _is_int(value.get(key, 0)) or not 0 <= value.get(key, 0) <= high:
            return None
    if value.get("arm") is not None and value["arm"] not in ARMS:
        return None
    return value
