"""The pandas tables of a run store that the pages and the CLI show: runs, results, instability pairs.
Plain functions over a store's checked reads; a run whose files are bad is reported or skipped, never
raised."""

from __future__ import annotations

import hashlib
import json
import os
import threading
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


# Reads of a run that cannot change while its files do not: a finished (or failed, cancelled, corrupt) run's
# row and its result rows, kept per process and keyed by what the files are now (inode, size, times), so a page
# that redraws every few seconds reads only the runs that moved. A run that trains is always read again.
_KEYED_FILES = (paths.CONFIG, paths.STATUS, paths.RESULTS, paths.HEARTBEAT)
_CACHE: dict[tuple, tuple[tuple, Any]] = {}
_CACHE_LOCK = threading.Lock()
_CACHE_LIMIT = 20_000


def files_key(store, run_id: str) -> tuple:
    """What a run's config, status, results and heartbeat are now (inode, size, modification and change times;
    None for a missing file) and whether its folder is a folder: equal keys, equal reads."""
    folder = store.path(run_id)
    parts: list = []
    for path in (folder, *(folder / name for name in _KEYED_FILES)):
        try:
            st = os.lstat(path)
            parts.append((st.st_mode, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns))
        except OSError:
            parts.append(None)
    return tuple(parts)


def _cached(kind: str, store, run_id: str, read, keep) -> Any:
    """`read()` for `run_id`, from the process's cache while the run's files are unchanged; a value is kept
    only where `keep(value)` (a row of a run that is not training)."""
    slot = (kind, str(store.root), run_id)
    key = files_key(store, run_id)
    with _CACHE_LOCK:
        held = _CACHE.get(slot)
    if held is not None and held[0] == key:
        return held[1]
    value = read()
    if keep(value) and files_key(store, run_id) == key:  # unchanged while it was read
        with _CACHE_LOCK:
            if len(_CACHE) > _CACHE_LIMIT:
                _CACHE.clear()
            _CACHE[slot] = (key, value)
    return value


def _settled(row: dict) -> bool:
    return row.get("state") not in (RunState.RUNNING.value, RunState.QUEUED.value)


def finished_run_ids(store) -> set[str]:
    """The runs that are done now: what a page showing finished runs compares with what it drew (the rows of the
    runs that did not move come from the cache, a few file times each)."""
    return {
        r
        for r in store.run_ids()
        if _cached("run", store, r, lambda r=r: run_row(store, r), _settled)["state"] == "done"
    }


# counts and ids as whole numbers: a pid is "24849", not "24849.0", where some runs have none
INT_COLUMNS = ("seed", "iterations", "pid")


def runs_frame(store) -> pd.DataFrame:
    rows = [_cached("run", store, r, lambda r=r: run_row(store, r), _settled) for r in store.run_ids()]
    frame = pd.DataFrame(rows, columns=COLUMNS)
    for column in INT_COLUMNS:
        frame[column] = _whole(frame[column])
    return frame


def _whole(values: pd.Series) -> pd.Series:
    """`values` as nullable integers where every present value is a whole number, else unchanged."""
    numbers = pd.to_numeric(values, errors="coerce")
    present = values.notna()
    if numbers[present].isna().any() or not (numbers[present] % 1 == 0).all():
        return values
    return numbers.astype("Int64")


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


def _result_rows(store, run_id: str, unfinished: bool = False) -> tuple[bool, list[dict]]:
    """(whether the run is finished and sound, its result rows): see `results_frame`."""
    rows: list[dict] = []
    try:
        summary = store.finished_results(run_id)
        finished = summary is not None
        if summary is None and unfinished:
            summary = completed_rounds_summary(store, run_id)
    except (OSError, StoreError, Corrupt):
        return False, rows
    if summary is None:
        return False, rows
    config = summary["config"]
    plan = EXPERIMENTS[config["experiment"]]
    if not plan.density_points:
        return finished, rows  # e.g. instability: its records are pairs along a line
    # a series: runs that differ in their seed or in what the plan varies across runs (tfmot's target density)
    # the data is part of both: two data sets under one name (a user's file rewritten) are two series; the run's
    # fingerprint is its config record's (a run still training has no results file yet)
    try:
        data = store.config_record(run_id)["dataset_fingerprint"]
    except (OSError, StoreError, Corrupt):
        return False, rows
    same = {k: v for k, v in config.items() if k not in ("seed", *plan.series_varies)} | {"data": data}
    settings = json.dumps(same, sort_keys=True)
    series = hashlib.sha256(settings.encode()).hexdigest()[:6]
    training = hashlib.sha256(
        json.dumps({k: config.get(k) for k in TRAINING_KEYS} | {"data": data}, sort_keys=True).encode()
    ).hexdigest()[:6]
    budget = f"it{config['iterations']}" if config.get("iterations") is not None else f"{config.get('epochs'):g} epochs"
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
            SERIES_SETTINGS: settings,  # what names a series apart from its look-alikes; not a column of the frame
            "training": training,
            "label": label,
            "finished": finished,
        }
        row.update({k: v for k, v in record.items() if k not in ("layer_density", "network_sha256")})
        row.update({f"density_{k}": v for k, v in record.get("layer_density", {}).items()})
        rows.append(row)
    return finished, rows


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
        finished_rows = _cached("results", store, run_id, lambda r=run_id: _result_rows(store, r), lambda v: v[0])
        if finished_rows[0]:
            rows += finished_rows[1]
        elif unfinished:
            rows += _result_rows(store, run_id, unfinished=True)[1]
    frame = pd.DataFrame(rows)
    if "gzip_bytes" in frame:  # the compression report's ratio: the .h5 file against it gzip'ed
        frame["compression_ratio"] = frame["h5_bytes"] / frame["gzip_bytes"]
    if not frame.empty:  # where two series would otherwise look alike: the settings that tell them apart
        texts = dict(zip(frame["series"], frame[SERIES_SETTINGS]))  # one per series
        settings = {series: json.loads(text) for series, text in texts.items()}
        alike = frame.groupby("label")["series"].transform("nunique") > 1
        for label, group in frame[alike].groupby("label"):
            others = set(group["series"])
            names = {series: _difference(series, others, settings) for series in others}
            rows_of = frame["label"] == label
            frame.loc[rows_of, "label"] = label + " [" + frame.loc[rows_of, "series"].map(names) + "]"
    return frame.drop(columns=SERIES_SETTINGS, errors="ignore")


SERIES_SETTINGS = "_series_settings"  # a row's series settings (JSON), read by results_frame and dropped there
MAX_NAMED_SETTINGS = 3


def _difference(series: str, others: set[str], settings: dict[str, dict]) -> str:
    """What sets `series` apart from the other series of its label (`settings`: each series' settings), in words
    ("rewind 100", "data 80656b"); its hash where more settings than MAX_NAMED_SETTINGS differ."""
    mine = settings.get(series, {})
    differing = sorted(
        key
        for key in set(mine).union(*(settings.get(o, {}) for o in others))
        if len({json.dumps(settings.get(o, {}).get(key), sort_keys=True) for o in others}) > 1
    )
    if not differing or len(differing) > MAX_NAMED_SETTINGS:
        return series
    words = []
    for key in differing:
        value = mine.get(key)
        shown = str(value)[:6] if key == "data" and value else value
        if isinstance(value, list):
            shown = ",".join(map(str, value)) or "none"
        words.append(f"{key.replace('_', ' ')} {shown}")
    return ", ".join(words)
