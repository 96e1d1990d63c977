"""The states of a run: one enum, used by the store, the queue, the CLI and every page."""

from __future__ import annotations

from enum import StrEnum


class RunState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"
    CORRUPT = "corrupt"  # never written: what the store reports for a folder it cannot read

    @property
    def resumable(self) -> bool:
        return self in (RunState.FAILED, RunState.CANCELLED)

    @property
    def actions(self) -> tuple[str, ...]:
        """What a user can do with a run in this state (the Runs page's buttons)."""
        if self in ACTIVE:
            return ("Cancel",)
        return ("Resume", "Delete") if self.resumable else ("Delete",)


ACTIVE = frozenset({RunState.QUEUED, RunState.RUNNING})
FINISHED = frozenset({RunState.DONE, RunState.FAILED, RunState.CANCELLED})
WRITTEN = ACTIVE | FINISHED  # the states a status.json may hold
