"""The pandas tables of a run store that the pages and the CLI show: runs, results, instability pairs.
Plain functions over a store's checked reads; a run whose files are bad is reported or skipped, never
raised."""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

import pandas as pd

from lth import paths
from lth.hparams import EXPERIMENTS
from lth.runs import logs as run_logs
from lth.runs import schema
from lth.runs.schema import Corrupt
from lth.runs.state import RunState
from lth.runs.store import StoreError

# runs that train the dense network the same way (a lottery's round 0, a baseline) share it as dense reference
TRAINING_KEYS = ("model", "dataset", "iterations", "epochs", "batch_size", "lr", "optimizer", "eval_every", "patience")


def run_row(store, run_id: str) -> dict:
    row: dict[str, Any] = {"run_id": run_id, "path": str(store.path(run_id))}
    try:
        record, config = store.config_and_record(run_id)
        status = store.status(run_id)
    except (OSError, StoreError, Corrupt) as e:
        return {**row, "state": RunState.CORRUPT.value, "error": str(e)}
    beat = store.heartbeat(run_id) or {}
    planned = record["planned_evaluations"]
    done_evals = beat.get("evaluations", 0)
    state = status["state"]
    if state == RunState.DONE:
        done_evals = planned
    started, ended = status.get("started"), status.get("ended")
    before = status.get("elapsed_before") or 0.0  # earlier attempts of a resumed run
    elapsed = ((ended or time.time()) - started + before) if started else (before or None)
    progress = min(1.0, done_evals / planned) if planned else None
    remaining = None
    if state == RunState.RUNNING and progress and elapsed:
        remaining = elapsed * (1 - progress) / progress
    row.update(
        state=state.value,
        experiment=config.experiment,
        model=config.model,
        dataset=config.dataset,
        seed=config.seed,
        iterations=record["canonical"].get("iterations"),
        epochs=config.epochs,
        created=status.get("created"),
        started=started,
        ended=ended,
        elapsed_s=elapsed,
        remaining_s=remaining,
        progress=progress,
        device=(status.get("device") or {}).get("name"),
        pid=status.get("pid"),
        error=status.get("error"),
    )
    if state == RunState.DONE:
        try:
            if store.results(run_id) is None:
                row.update(state=RunState.CORRUPT.value, error=f"status is done but {paths.RESULTS} is missing")
        except (OSError, StoreError, Corrupt) as e:
            row.update(state=RunState.CORRUPT.value, error=str(e))
    return row


COLUMNS = [
    "run_id",
    "state",
    "experiment",
    "model",
    "dataset",
    "seed",
    "iterations",
    "epochs",
    "created",
    "started",
    "ended",
    "elapsed_s",
    "remaining_s",
    "progress",
    "device",
    "pid",
    "error",
    "path",
]


def runs_frame(store) -> pd.DataFrame:
    return pd.DataFrame([run_row(store, r) for r in store.run_ids()], columns=COLUMNS)


def metrics_frame(store, run_id: str) -> pd.DataFrame:
    return pd.DataFrame(run_logs.metrics_records(store, run_id))


def completed_rounds_summary(store, run_id: str) -> dict | None:
    """For a run that resumes (lottery, one-shot) and has not finished: its completed rounds' records (from the
    checkpoint) in the shape of results.json, or None."""
    from lth.checkpoint import RoundCheckpoint

    record, config = store.config_and_record(run_id)
    folder = store.folder(run_id) / paths.CHECKPOINT
    if not config.plan.resumes or folder.is_symlink() or not folder.is_dir():
        return None
    records = [r for round_records, _ in RoundCheckpoint(folder).completed_rounds(config.plan) for r in round_records]
    if not records:
        return None
    status = store.raw_status(run_id)
    summary = {
        "config": record["canonical"],
        "device": status.get("device") or {"name": "unknown"},
        "seconds": 0.0,
        "results": records,
    }
    return schema.results(summary)


def instability_frame(store, run_ids=None) -> pd.DataFrame:
    """One row per (run, rewind iteration k, network) of finished instability runs: density, the test
    errors along the line between the two copies, the barrier and whether it is stable."""
    rows = []
    for run_id in run_ids if run_ids is not None else store.run_ids():
        try:
            summary = store.finished_results(run_id)
        except (OSError, StoreError, Corrupt):
            continue
        if summary is None or summary["config"]["experiment"] != "instability":
            continue
        config = summary["config"]
        label = f"{config['model']} {config['dataset']} seed {config['seed']}"
        for record in summary["results"]:
            rows.append(
                {
                    "run_id": run_id,
                    "label": label,
                    "model": config["model"],
                    "dataset": config["dataset"],
                    "seed": config["seed"],
                    "arm": record["arm"],
                    "round": record["round"],
                    "density": record["density"],
                    "rewind_iteration": record["rewind_iteration"],
                    "barrier": record["barrier"],
                    "stable": record["stable"],
                    "alphas": record["alphas"],
                    "test_errors": record["test_errors"],
                }
            )
    return pd.DataFrame(rows)


def results_frame(store, run_ids=None, *, unfinished: bool = False) -> pd.DataFrame:
    """One row per (run, arm, round) of the runs whose records are density points (their plan's
    `density_points`): the config's main settings, density, per-layer density as `density_<layer>` columns,
    early-stop iteration and accuracies. Unreadable runs are skipped. With `unfinished`, runs that resume by
    rounds and are still training (or stopped) add their completed rounds (column `finished` False).

    `series` groups runs that differ only in their seed or in what their plan's `series_varies` names (tfmot's
    target density: one line over densities, aggregated over seeds); `label` names it.
    """
    rows = []
    for run_id in run_ids if run_ids is not None else store.run_ids():
        try:
            summary = store.finished_results(run_id)
            finished = summary is not None
            if summary is None and unfinished:
                summary = completed_rounds_summary(store, run_id)
        except (OSError, StoreError, Corrupt):
            continue
        if summary is None:
            continue
        config = summary["config"]
        plan = EXPERIMENTS[config["experiment"]]
        if not plan.density_points:
            continue  # e.g. instability: its records are pairs along a line
        # a series: runs that differ in their seed or in what the plan varies across runs (tfmot's target density)
        same = {k: v for k, v in config.items() if k not in ("seed", *plan.series_varies)}
        series = hashlib.sha256(json.dumps(same, sort_keys=True).encode()).hexdigest()[:6]
        training = hashlib.sha256(
            json.dumps({k: config.get(k) for k in TRAINING_KEYS}, sort_keys=True).encode()
        ).hexdigest()[:6]
        budget = (
            f"it{config['iterations']}" if config.get("iterations") is not None else f"{config.get('epochs'):g} epochs"
        )
        label = f"{config['experiment']} {config['model']} {config['dataset']} {budget}"
        for record in summary["results"]:
            row = {
                "run_id": run_id,
                "experiment": config["experiment"],
                "model": config["model"],
                "dataset": config["dataset"],
                "seed": config["seed"],
                "iterations": config.get("iterations"),
                "device": summary["device"]["name"],
                "series": series,
                "training": training,
                "label": label,
                "finished": finished,
            }
            row.update({k: v for k, v in record.items() if k not in ("layer_density", "network_sha256")})
            row.update({f"density_{k}": v for k, v in record.get("layer_density", {}).items()})
            rows.append(row)
    frame = pd.DataFrame(rows)
    if "gzip_bytes" in frame:  # the compression report's ratio: the .h5 file against it gzip'ed
        frame["compression_ratio"] = frame["h5_bytes"] / frame["gzip_bytes"]
    if not frame.empty:  # the hash only where two series would otherwise look alike
        alike = frame.groupby("label")["series"].transform("nunique") > 1
        frame.loc[alike, "label"] = frame.loc[alike, "label"] + " [" + frame.loc[alike, "series"] + "]"
    return frame
