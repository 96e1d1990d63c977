"""The lab from Python (a notebook, a script): run or submit an experiment with a network and data given as
Python objects, read results as pandas DataFrames, draw the pages' Plotly figures.

    from lth import api

    run = api.run("lottery", model=my_net, data=(x_train, y_train, x_test, y_test), data_name="my-data",
                  rounds=5, iterations=2000, eval_every=100)
    results = api.results(run_ids=[run.run_id])
    api.accuracy_figure(results).show()

Runs go through the same run store as the dashboard and the CLI (`cache_dir`, default $LTH_CACHE_DIR or
./cache): the same run from a notebook and from the CLI is one run, trained once.

- `model`: a built-in name ("conv2"), a builder "file.py:function", or the function itself. A function defined
  in a module file is referred to by that file (a background worker can build it); one defined in a notebook
  cell lives only in this process, so `run` trains it here and `submit` refuses it.
- `data`: a built-in dataset name, an .npz file, or the arrays (a tuple x_train, y_train, x_test, y_test, or a
  dict of those names), written once to an .npz under $LTH_ARRAYS_DIR (default ~/.cache/lth/arrays) named by
  its content, so a worker can read them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import os
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lth import builders, hparams
from lth.hparams import RunConfig

ARRAYS_DIR_ENV = "LTH_ARRAYS_DIR"
ARRAY_NAMES = ("x_train", "y_train", "x_test", "y_test")


@dataclass(frozen=True)
class Run:
    """A run of the store: its id, its settings, its state and (when done) its results."""

    run_id: str
    config: RunConfig
    state: str
    summary: dict | None  # results.json when done
    cache_dir: str | None

    def results(self) -> pd.DataFrame:
        """One row per training (arm, round, seed): accuracies, densities, early-stop iterations."""
        return results(self.cache_dir, [self.run_id])

    def curves(self) -> pd.DataFrame:
        """Every evaluation of every training (the live curves' data)."""
        from lth.runs import tables

        return tables.metrics_frame(_store(self.cache_dir), self.run_id)


def _store(cache_dir: str | os.PathLike | None, create: bool = False):
    from lth.runs import RunStore

    return RunStore(None if cache_dir is None else os.fspath(cache_dir), create=create)


def _arrays_file(data: Any) -> str:
    """The arrays written once to an .npz named by their content (checked as any user's file is on reading)."""
    if isinstance(data, Mapping):
        missing = [name for name in ARRAY_NAMES if name not in data]
        if missing:
            raise hparams.ConfigError(f"data is missing {', '.join(missing)} (give x_train, y_train, x_test, y_test)")
        arrays = [np.asarray(data[name]) for name in ARRAY_NAMES]
    elif isinstance(data, (tuple, list)) and len(data) == 4:
        arrays = [np.asarray(a) for a in data]
    else:
        raise hparams.ConfigError(
            "data must be a dataset name, an .npz file, or the arrays (x_train, y_train, x_test, y_test)"
        )
    if any(a.dtype.hasobject for a in arrays):
        raise hparams.ConfigError("data holds Python objects; give numeric arrays")
    digest = hashlib.sha256()
    for name, array in zip(ARRAY_NAMES, arrays, strict=True):
        digest.update(f"{name}{array.dtype.str}{array.shape}".encode())
        digest.update(np.ascontiguousarray(array).tobytes())
    folder = Path(os.environ.get(ARRAYS_DIR_ENV) or Path.home() / ".cache" / "lth" / "arrays")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{digest.hexdigest()[:32]}.npz"
    if not path.is_file():
        with tempfile.NamedTemporaryFile(dir=folder, suffix=".npz", delete=False) as handle:
            np.savez(handle, x_train=arrays[0], y_train=arrays[1], x_test=arrays[2], y_test=arrays[3])
        os.replace(handle.name, path)
    return str(path)


def _model_reference(model: str | Callable) -> str:
    """A builder function as a reference: its file and name; one without a file (a notebook cell's) is kept
    in this process only."""
    if isinstance(model, str):
        return model
    if not callable(model):
        raise hparams.ConfigError(f"model must be a name, a builder file.py:function, or a function, not {model!r}")
    source = inspect.getsourcefile(model) if inspect.isfunction(model) else None
    name = getattr(model, "__name__", "")
    module = inspect.getmodule(model)
    # a function of the running script or notebook (`__main__`) stays in this process even where the script
    # has a file: a worker importing it would run the whole script again
    importable = module is not None and module.__name__ != "__main__" and getattr(module, name, None) is model
    if source and Path(source).is_file() and importable:
        return f"{Path(source).resolve()}:{name}"
    return builders.keep_in_process(model)


def config(
    experiment: str = "baseline",
    *,
    model: str | Callable = "lenet300_100",
    data: Any = "mnist-sample",
    data_name: str | None = None,
    **settings,
) -> tuple[RunConfig, str | None]:
    """The run's settings (any option of `python -m lth run`, by its field name) and where its data is read:
    checked, with a user's network described and data read as the CLI does."""
    data_file: str | None = None
    if isinstance(data, (str, os.PathLike)) and not str(data).endswith(".npz"):
        dataset = str(data)
        data_file = settings.pop("data_dir", None)
    else:
        data_file = str(data) if isinstance(data, (str, os.PathLike)) else _arrays_file(data)
        dataset = data_name or (Path(str(data)).stem if isinstance(data, (str, os.PathLike)) else "arrays")
    unknown = set(settings) - {f.name for f in dataclasses.fields(RunConfig)} - set(hparams.DERIVED)
    if unknown:
        raise hparams.ConfigError(f"unknown settings: {', '.join(sorted(unknown))}")
    given: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in settings.items()}
    made = RunConfig(experiment=experiment, model=_model_reference(model), dataset=dataset, **given)
    return hparams.complete(made, data_file), data_file


def submit(experiment: str = "baseline", *, cache_dir=None, executor: str | None = None, **options) -> str:
    """Queue a run for a background worker (a Ray cluster with executor="ray"); returns its id at once."""
    from lth.runs import submit as submit_run

    made, data_file = config(experiment, **options)
    if builders.in_process_only(made.model):
        raise hparams.ConfigError(
            "a network defined in this notebook exists only in this process: use api.run(...), or put the "
            "function in a .py file so a worker can build it"
        )
    return submit_run(made, data_dir=data_file, store=_store(cache_dir, create=True), executor=executor).run_id


def run(experiment: str = "baseline", *, cache_dir=None, on_eval: Callable | None = None, **options) -> Run:
    """Train in this process through the store (a finished identical run is returned at once, a run training
    elsewhere is followed to its end); raises if the run fails."""
    from lth.runs import RunState, claim_foreground, executors, schedule, wait
    from lth.runs import submit as submit_run
    from lth.runs.queue import Outcome

    made, data_file = config(experiment, **options)
    store = _store(cache_dir, create=True)
    submission = submit_run(made, data_dir=data_file, store=store, start=False)
    if submission.outcome != Outcome.CACHED:
        if claim_foreground(submission.run_id, store):
            name = store.raw_status(submission.run_id).get("executor") or "local"
            status = executors.execute(name, submission.run_id, store, on_eval=on_eval)
            schedule(store)
        else:
            status = wait(submission.run_id, store, on_eval=on_eval)
        if status["state"] != RunState.DONE:
            raise RuntimeError(f"run {submission.run_id} {status['state']}: {status.get('error')}")
    return get(submission.run_id, cache_dir)


def get(run_id: str, cache_dir=None) -> Run:
    """A run of the store by id."""
    store = _store(cache_dir)
    state = store.status(run_id)["state"]
    return Run(run_id, store.config(run_id), str(state), store.finished_results(run_id), cache_dir)


def runs(cache_dir=None) -> pd.DataFrame:
    """Every run of the store: id, state, experiment, model, data, seed, progress, device, error."""
    from lth.runs import tables

    return tables.runs_frame(_store(cache_dir))


def results(cache_dir=None, run_ids=None) -> pd.DataFrame:
    """One row per training of the finished runs (all, or `run_ids`): what the Compare page plots."""
    from lth.runs import tables

    return tables.results_frame(_store(cache_dir), run_ids)


def accuracy_figure(results_frame: pd.DataFrame, metric: str = "early_stop_test_accuracy"):
    """Accuracy against density with a band over seeds and winning-ticket stars (the Compare page's)."""
    from lth import figures, statistics

    judged = statistics.verdicts(statistics.comparisons(results_frame, metric))
    return figures.accuracy_vs_density(results_frame, metric, verdicts=judged)


def early_stop_figure(results_frame: pd.DataFrame):
    """Early-stop iteration against density (the Compare page's)."""
    from lth import figures

    return figures.early_stop_vs_density(results_frame)


def curves_figure(run: Run):
    """A run's training curves (the Runs page's)."""
    from lth import figures

    return figures.training_curves(run.curves(), title=run.run_id)


def verdicts(
    results_frame: pd.DataFrame, metric: str = "early_stop_test_accuracy", margin: float | None = None
) -> pd.DataFrame:
    """The paired comparisons with three-word verdicts (held / not held / undetermined), Holm-corrected."""
    from lth import statistics

    kwargs = {} if margin is None else {"margin": margin}
    return statistics.verdicts(statistics.comparisons(results_frame, metric, **kwargs))
