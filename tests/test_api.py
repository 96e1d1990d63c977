"""The Python API (lth.api) as a notebook uses it: the repository's example script, the cache shared with the
CLI, and a network defined in the notebook's own process."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.trains
EXAMPLE = ROOT / "examples" / "notebook_api.py"


def run_python(*args, cwd=ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=cwd, timeout=600)


def test_the_example_script_trains_once_and_the_cli_finds_the_same_run(tmp_path):
    store = tmp_path / "store"
    first = run_python(str(EXAMPLE), "--cache-dir", str(store), "--out", str(tmp_path))
    assert first.returncode == 0, first.stderr[-2000:]
    run_id = first.stdout.split()[1].rstrip(":")
    assert first.stdout.startswith(f"run {run_id}: done")
    rows = [line.split() for line in first.stdout.splitlines()[2:7]]
    assert [(arm, rnd) for arm, rnd, *_ in rows] == [
        ("ticket", "0"),
        ("ticket", "1"),
        ("reinit", "1"),
        ("ticket", "2"),
        ("reinit", "2"),
    ]
    assert all(0.0 <= float(row[3]) <= 1.0 for row in rows)
    figure = (tmp_path / "waves_accuracy_vs_density.html").read_text()
    assert "plotly" in figure and "ticket" in figure

    again = run_python(str(EXAMPLE), "--cache-dir", str(store), "--out", str(tmp_path))
    assert again.returncode == 0 and again.stdout.splitlines()[0] == f"run {run_id}: done"
    assert len([p for p in store.iterdir() if p.is_dir() and len(p.name) == 16]) == 1  # trained once

    # the same network by its file and the same arrays by their file (in conftest's LTH_ARRAYS_DIR): the CLI's
    # run is the notebook's
    arrays = sorted(os.scandir(os.environ["LTH_ARRAYS_DIR"]), key=lambda e: e.stat().st_mtime)[-1].path
    cli = run_python(
        "-m", "lth", "run", "--experiment", "lottery", "--model", "examples/signal_nets.py:conv1d_net",
        "--dataset", "waves", "--data-file", arrays, "--rounds", "2", "--iterations", "150", "--eval-every", "50",
        "--controls", "reinit", "--cache-dir", str(store),
    )  # fmt: skip
    assert cli.returncode == 0, cli.stderr[-2000:]
    assert f"run {run_id} is cached" in cli.stderr
    assert json.loads(cli.stdout)["cached"] is True


NOTEBOOK = textwrap.dedent(
    """
    import sys, numpy as np
    sys.path.insert(0, {root!r})
    from lth import api
    from lth.hparams import ConfigError
    from lth.tf_setup import keras

    def tiny(input_shape, classes, init):  # defined here, as in a notebook cell: no file a worker could import
        inputs = keras.Input(input_shape)
        x = keras.layers.Flatten()(inputs)
        x = keras.layers.Dense(16, activation="relu", kernel_initializer=init("fc1"), name="fc1")(x)
        return keras.Model(inputs, keras.layers.Dense(classes, kernel_initializer=init("out"), name="out")(x))

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    x = (rng.normal(size=(300, 6)) + y[:, None]).astype(np.float32)
    try:
        api.submit("baseline", model=tiny, data=(x, y, x[:50], y[:50]), data_name="blobs", cache_dir={store!r})
    except ConfigError as e:
        print("submit refused:", e)
    run = api.run("baseline", model=tiny, data=(x, y, x[:50], y[:50]), data_name="blobs", iterations=40,
                  eval_every=20, cache_dir={store!r})
    print("state", run.state, run.config.model)
    print("accuracy", float(run.results()["early_stop_test_accuracy"].iloc[0]))
    """
)


@pytest.mark.parametrize("how", ["cell", "script"])
def test_a_network_defined_in_the_notebook_runs_in_its_process_and_is_not_submitted(tmp_path, how):
    """A function of the running notebook (no file) or script (`__main__`, with a file: a worker importing it would
    run the whole script again) trains in its process and is refused for submission."""
    store = str(tmp_path / "store")
    code = NOTEBOOK.format(root=str(ROOT), store=store)
    if how == "cell":
        done = run_python("-c", code)
    else:
        script = tmp_path / "analysis.py"
        script.write_text(code)
        done = run_python(str(script))
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert lines[0].startswith("submit refused: a network defined in this notebook exists only in this process")
    assert lines[1] == "state done __notebook__:tiny"
    assert 0.5 <= float(lines[2].split()[1]) <= 1.0
