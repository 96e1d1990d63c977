"""The run machinery, one module per concern:

- `state`: the run states (one enum); `schema`: checks of what the store's files hold;
- `store`: the run folders, settings and process liveness (pure Python; the dashboard reads it);
- `queue`: submit, resume, cancel, schedule, wait;
- `supervise`: what happens around a training (heartbeat, metrics, results, final status);
- `executors`: where a run trains (local process, Ray cluster), by name; `worker`: the worker process;
- `trust`: the signature that keeps a store's files from choosing where runs are sent.
"""

from lth.runs.queue import (
    Submission,
    cancel,
    claim_foreground,
    executor_choice,
    max_concurrent,
    resume,
    schedule,
    scheduler_problem,
    set_max_concurrent,
    submit,
    submit_all,
    wait,
)
from lth.runs.schema import Corrupt
from lth.runs.state import ACTIVE, FINISHED, RunState
from lth.runs.store import RunStore, StoreError

__all__ = [
    "ACTIVE",
    "FINISHED",
    "Corrupt",
    "RunState",
    "RunStore",
    "StoreError",
    "Submission",
    "cancel",
    "claim_foreground",
    "executor_choice",
    "max_concurrent",
    "resume",
    "schedule",
    "scheduler_problem",
    "set_max_concurrent",
    "submit",
    "submit_all",
    "wait",
]
