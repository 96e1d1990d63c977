"""Running one experiment: `run_experiment` validates, loads the data, trains with the class the experiment's
plan names (lth.hparams.EXPERIMENTS) and returns the run's summary. The executors (local process, Ray task)
call it."""

from __future__ import annotations

import importlib
import time

from lth.checkpoint import RoundCheckpoint
from lth.data import DataError
from lth.device import DeviceInfo, training_device
from lth.experiments import Experiment
from lth.hparams import EXPERIMENTS, RunConfig, check_run
from lth.seeds import derive_seed
from lth.tf_setup import tf
from lth.training import OnEval


def experiment_class(name: str) -> type[Experiment]:
    """The class that trains experiment `name`: its plan's `trained_by` ("module:Class"), imported here only."""
    module, _, cls = EXPERIMENTS[name].trained_by.partition(":")
    return getattr(importlib.import_module(module), cls)


def run_experiment(
    config: RunConfig,
    *,
    data_dir: str | None = None,
    on_eval: OnEval | None = None,
    checkpoint: RoundCheckpoint | None = None,
    device: DeviceInfo | None = None,
    expected_fingerprint: str | None = None,
) -> dict:
    """Validate, load the data, train, and return the run's summary (config, device, data, records).

    `checkpoint` keeps a lottery run's completed rounds, so a stopped run resumes where it was;
    `expected_fingerprint` is the data the run id was made from: other data is refused."""
    data = check_run(config, data_dir, download=True)
    if expected_fingerprint is not None and data.fingerprint != expected_fingerprint:
        raise DataError(
            f"the data at {data.source} (fingerprint {data.fingerprint}) is not the data this run "
            f"was made from (fingerprint {expected_fingerprint}); its data_dir changed or the files "
            f"did. Restore them, or start a new run on the new data"
        )
    device = device or training_device()
    tf.config.experimental.enable_op_determinism()
    # random ops of a user's network (dropout, noise) need a seed under determinism: one from the run's
    tf.random.set_seed(derive_seed(config.seed, "random-ops"))
    started = time.time()
    experiment = experiment_class(config.experiment)(config, data, device, on_eval, checkpoint)
    records = experiment.run(checkpoint)
    weights_sha256 = checkpoint.weights_sha256() if checkpoint is not None else None
    return {
        "experiment": config.experiment,
        "config": config.canonical(),
        "dataset": {"name": data.name, "source": data.source, "fingerprint": data.fingerprint, **data.sizes()},
        "device": device.as_dict(),
        "iterations": experiment.iterations,
        "seconds": round(time.time() - started, 3),
        "results": records,
        **({"weights_sha256": weights_sha256} if weights_sha256 else {}),  # what readers check theta0 against
    }
