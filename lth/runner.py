"""Running one experiment: the registry of experiment classes and `run_experiment`, which validates, loads the
data, trains and returns the run's summary. The executors (local process, Ray task) call it."""
from __future__ import annotations

import time

from lth.checkpoint import RoundCheckpoint
from lth.data import DataError
from lth.device import DeviceInfo, training_device
from lth.experiments import Baseline, Experiment, Instability, Lottery, TfmotPruning
from lth.hparams import RunConfig, check_run
from lth.oneshot import OneShot
from lth.tf_setup import tf
from lth.training import OnEval

# The registry: every experiment's class by its name in hparams.EXPERIMENTS.
EXPERIMENTS: dict[str, type[Experiment]] = {"baseline": Baseline, "lottery": Lottery, "tfmot": TfmotPruning,
                                            "instability": Instability, "oneshot": OneShot}


def run_experiment(config: RunConfig, *, data_dir: str | None = None, on_eval: OnEval | None = None,
                   checkpoint: RoundCheckpoint | None = None, device: DeviceInfo | None = None,
                   expected_fingerprint: str | None = None) -> dict:
    """Validate, load the data, train, and return the run's summary (config, device, data, records).

    `checkpoint` keeps a lottery run's completed rounds, so a stopped run resumes where it was;
    `expected_fingerprint` is the data the run id was made from: other data is refused."""
    data = check_run(config, data_dir, download=True)
    if expected_fingerprint is not None and data.fingerprint != expected_fingerprint:
        raise DataError(f"the data at {data.source} (fingerprint {data.fingerprint}) is not the data this run "
                        f"was made from (fingerprint {expected_fingerprint}); its data_dir changed or the files "
                        f"did. Restore them, or start a new run on the new data")
    device = device or training_device()
    tf.config.experimental.enable_op_determinism()
    started = time.time()
    experiment = EXPERIMENTS[config.experiment](config, data, device, on_eval, checkpoint)
    records = experiment.run(checkpoint)
    return {
        "experiment": config.experiment,
        "config": config.canonical(),
        "dataset": {"name": data.name, "source": data.source, "fingerprint": data.fingerprint, **data.sizes()},
        "device": device.as_dict(),
        "iterations": experiment.iterations,
        "seconds": round(time.time() - started, 3),
        "results": records,
    }
