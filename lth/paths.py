"""The run store's map: the one place that names every file of the store and of a run folder. Pure strings;
the store, the workers, the checkpoint, the Ray executor and the pages build paths from these.

    <store>/settings.json                 the store's settings (lth.runs.settings)
            .RUN_ID.lock, .scheduler.lock  lock files
            RUN_ID/config.json            the settings, the data's fingerprint, the planned evaluations
                   status.json            state, pid, times, device, versions
                   heartbeat.json         the worker's progress every few seconds
                   metrics.jsonl          one evaluation per line, appended
                   results.json           the run's summary
                   log.txt                the worker's output
                   tensorboard/ARM_roundRR/   event files
                   checkpoint/weights.npz     theta0 and the reset point
                              weights.json    weights.npz's sha256 (what a reader checks it against)
                              round_RR.json   a finished round's records (written last: marks it done)
                              round_RR.npz    a lottery round's masks
                              net_ARM_RR.npz  each training's network at early stop, with its mask
                              ticket.npz      an instability run's ticket masks, copied from its source
"""

from __future__ import annotations

import re

SETTINGS = "settings.json"
SCHEDULER_LOCK = ".scheduler.lock"
CONFIG = "config.json"
STATUS = "status.json"
HEARTBEAT = "heartbeat.json"
METRICS = "metrics.jsonl"
RESULTS = "results.json"
LOG = "log.txt"
TENSORBOARD = "tensorboard"
CHECKPOINT = "checkpoint"
WEIGHTS = "weights.npz"
WEIGHTS_SHA256 = "weights.json"  # the sha256 of weights.npz, written after it
TICKET = "ticket.npz"
APPENDED = (LOG, METRICS)  # the files a worker appends to
STARTED_OVER = (RESULTS, HEARTBEAT, METRICS)  # what a run started again no longer holds
LOCK_PATTERN = "*.lock"


def run_lock(run_id: str) -> str:
    return f".{run_id}.lock"


def round_records(round_: int) -> str:
    return f"round_{round_:02d}.json"


def round_masks(round_: int) -> str:
    return f"round_{round_:02d}.npz"


def network(arm: str, round_: int) -> str:
    return f"net_{arm}_{round_:02d}.npz"


def network_pattern(arms) -> re.Pattern:
    """A kept network's file name: groups arm and round (longest arm names first, so none shadows another)."""
    return re.compile(rf"net_({'|'.join(sorted(map(re.escape, arms), key=len, reverse=True))})_(\d{{2,3}})\.npz")


def training_name(arm: str, round_: int) -> str:
    """One training of a run by name (its TensorBoard run, a model file's download name)."""
    return f"{arm}_round{round_:02d}"


# what a Ray task reads of a run's checkpoint to resume it
CHECKPOINT_INPUTS = re.compile(
    rf"{re.escape(WEIGHTS)}|{re.escape(WEIGHTS_SHA256)}|{re.escape(TICKET)}"
    rf"|round_\d{{2,3}}\.(npz|json)"
)


def in_checkpoint(name: str) -> str:
    """A checkpoint file as messages name it."""
    return f"{CHECKPOINT}/{name}"
