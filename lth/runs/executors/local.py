"""The local executor: the run trains in this process (a background worker, or `lth run`)."""

from __future__ import annotations

from lth.runs.store import RunStore
from lth.runs.supervise import completed_rounds, restart_metrics, supervise, versions


def execute(run_id: str, store: RunStore, *, on_eval=None) -> dict:
    def train(config, record, progress):
        from lth.checkpoint import RoundCheckpoint
        from lth.device import training_device
        from lth.runner import run_experiment

        checkpoint_dir = store.checkpoint_dir(run_id)
        completed = completed_rounds(config, checkpoint_dir)
        progress.restart(restart_metrics(store, run_id, completed), completed)
        device = training_device()
        with store.lock(run_id):
            store.update_status(run_id, device=device.as_dict(), versions=versions())
        checkpoint = RoundCheckpoint(checkpoint_dir)
        return run_experiment(
            config,
            data_dir=record.get("data_dir"),
            on_eval=progress.record,
            device=device,
            checkpoint=checkpoint,
            expected_fingerprint=record["dataset_fingerprint"],
        )

    return supervise(run_id, store, train, on_eval=on_eval)
