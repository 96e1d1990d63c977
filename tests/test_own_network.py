"""A researcher's own network (`--model file.py:function`) and data (`--dataset NAME --data-file FILE.npz`): bad
input refused in one line, the run id covering the architecture, a store never choosing which code runs, the
per-kind pruning rates of the lottery ladder, and one real run of each kind on a tiny Conv1D network."""

from __future__ import annotations

import dataclasses
import io
import json
import math
import textwrap
import zipfile
from pathlib import Path

import numpy as np
import pytest

from conftest import cli_in_process, run_cli, wait_for
from lth import builders, hparams, models
from lth.data import datasets
from lth.plans.lottery import LotteryPlan

NETS = """
from lth.tf_setup import keras


def good(input_shape, classes, init):
    inputs = keras.Input(input_shape)
    x = keras.layers.Conv1D(4, 3, activation="relu", kernel_initializer=init("conv1"), name="conv1")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.Flatten(name="flat")(x)
    x = keras.layers.Dense(8, activation="relu", kernel_initializer=init("fc1"), name="fc1")(x)
    return keras.Model(inputs, keras.layers.Dense(classes, kernel_initializer=init("out"), name="out")(x))


def dense_only(input_shape, classes, init):
    inputs = keras.Input(input_shape)
    x = keras.layers.Flatten(name="flat")(inputs)
    x = keras.layers.Dense(8, activation="relu", kernel_initializer=init("fc1"), name="fc1")(x)
    return keras.Model(inputs, keras.layers.Dense(classes, kernel_initializer=init("out"), name="out")(x))


def raises(input_shape, classes, init):
    raise RuntimeError("no network today,\\nsorry")


def returns_dict(input_shape, classes, init):
    return {"layers": []}


class Functional:  # what a Keras 3 model's class looks like from outside
    pass


Functional.__module__ = "keras.src.models.functional"


def returns_keras3(input_shape, classes, init):
    return Functional()


def no_prunable(input_shape, classes, init):
    inputs = keras.Input(input_shape)
    x = keras.layers.Flatten()(inputs)
    return keras.Model(inputs, keras.layers.Lambda(lambda t: t[:, :classes])(x))


def wrong_units(input_shape, classes, init):
    inputs = keras.Input(input_shape)
    x = keras.layers.Flatten()(inputs)
    return keras.Model(inputs, keras.layers.Dense(classes + 1, kernel_initializer=init("out"), name="out")(x))


def conv_last(input_shape, classes, init):
    inputs = keras.Input(input_shape)
    x = keras.layers.Flatten()(inputs)
    x = keras.layers.Dense(classes, kernel_initializer=init("fc"), name="fc")(x)
    x = keras.layers.Reshape((classes, 1))(x)
    x = keras.layers.Conv1D(1, 1, kernel_initializer=init("conv"), name="conv")(x)
    return keras.Model(inputs, keras.layers.Flatten()(x))


def lstm(input_shape, classes, init):
    inputs = keras.Input(input_shape)
    x = keras.layers.LSTM(4, name="lstm")(inputs)
    return keras.Model(inputs, keras.layers.Dense(classes, kernel_initializer=init("out"), name="out")(x))


def embedding(input_shape, classes, init):
    inputs = keras.Input(input_shape)
    x = keras.layers.Flatten()(inputs)
    x = keras.layers.Lambda(lambda t: keras.backend.cast(t, "int32"))(x)
    x = keras.layers.Embedding(10, 2, name="embed")(x)
    x = keras.layers.Flatten()(x)
    return keras.Model(inputs, keras.layers.Dense(classes, kernel_initializer=init("out"), name="out")(x))


def transposed(input_shape, classes, init):
    inputs = keras.Input(input_shape)
    x = keras.layers.Conv1DTranspose(2, 3, kernel_initializer=init("up"), name="up")(inputs)
    x = keras.layers.Flatten()(x)
    return keras.Model(inputs, keras.layers.Dense(classes, kernel_initializer=init("out"), name="out")(x))


def unseeded(input_shape, classes, init):
    inputs = keras.Input(input_shape)
    x = keras.layers.Flatten()(inputs)
    x = keras.layers.Dense(8, kernel_initializer="glorot_normal", name="fc1")(x)
    return keras.Model(inputs, keras.layers.Dense(classes, kernel_initializer=init("out"), name="out")(x))


def nested(input_shape, classes, init):
    inner = keras.Sequential([keras.layers.Dense(8, kernel_initializer=init("fc1"), name="fc1")], name="inner")
    inputs = keras.Input(input_shape)
    x = inner(keras.layers.Flatten()(inputs))
    return keras.Model(inputs, keras.layers.Dense(classes, kernel_initializer=init("out"), name="out")(x))
"""

# the tiny network of the real runs: Conv1D, BatchNorm, pooling, dropout, Dense, output
TINY = """
from lth.tf_setup import keras


def tiny(input_shape, classes, init):
    inputs = keras.Input(input_shape)
    x = keras.layers.Conv1D(6, 3, activation="relu", kernel_initializer=init("conv1"), name="conv1")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.MaxPooling1D(2, name="pool")(x)
    x = keras.layers.Flatten(name="flat")(x)
    x = keras.layers.Dropout(0.2, name="drop")(x)
    x = keras.layers.Dense(16, activation="relu", kernel_initializer=init("fc1"), name="fc1")(x)
    return keras.Model(inputs, keras.layers.Dense(classes, kernel_initializer=init("out"), name="out")(x))
"""


# ---- helpers -------------------------------------------------------------------------------------------------
@pytest.fixture(autouse=True)
def own_config_dir(tmp_path, monkeypatch):
    """A fresh list of the user's builder files per test (never the real user's)."""
    folder = tmp_path / "config"
    monkeypatch.setenv(builders.CONFIG_DIR_ENV, str(folder))
    return folder


@pytest.fixture
def tf_here():
    """TensorFlow in this process: a builder is then described here, not in a child process."""
    import lth.tf_setup  # noqa: F401


def write(path: Path, source: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(source))
    return path


def arrays(n=120, m=30, shape=(16, 2), classes=3, seed=0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    y_train, y_test = np.arange(n) % classes, np.arange(m) % classes
    x_train = rng.normal(size=(n, *shape)).astype(np.float32)
    x_test = rng.normal(size=(m, *shape)).astype(np.float32)
    x_train.reshape(n, -1)[:, 0] += y_train  # learnable: the first feature's level is the class
    x_test.reshape(m, -1)[:, 0] += y_test
    return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}


def save(path: Path, data: dict[str, np.ndarray]) -> str:
    np.savez(path, x_train=data["x_train"], y_train=data["y_train"], x_test=data["x_test"], y_test=data["y_test"])
    return str(path)


def npz(path: Path, **changes) -> str:
    return save(path, {**arrays(), **changes})


def huge_header_npz(path: Path) -> str:
    """An .npz whose x_train header declares 10**9 examples (about 119 GB) over a few bytes of data."""
    data = arrays()
    with zipfile.ZipFile(path, "w") as archive:
        for name, value in data.items():
            buffer = io.BytesIO()
            if name == "x_train":
                header = {"descr": "<f4", "fortran_order": False, "shape": (10**9, 16, 2)}
                np.lib.format.write_array_header_1_0(buffer, header)
                buffer.write(value.tobytes())
            else:
                np.lib.format.write_array(buffer, value)
            archive.writestr(f"{name}.npy", buffer.getvalue())
    return str(path)


def snapshot(folder: Path) -> dict[str, bytes] | None:
    if not folder.exists():
        return None
    return {str(p.relative_to(folder)): p.read_bytes() if p.is_file() else b"/" for p in sorted(folder.rglob("*"))}


def refused_in_one_line(code, out, err, *fragments) -> str:
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, err
    assert "Traceback" not in err and not out.strip(), (out, err)
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def own_config(model: str, data_file: str, **settings) -> hparams.RunConfig:
    """The config of `lth run --model MODEL --dataset sig --data-file FILE ...` (described, as the CLI does)."""
    settings = {"experiment": "lottery", "iterations": 40, "eval_every": 20, "dataset": "sig", **settings}
    return hparams.complete(hparams.RunConfig(model=model, **settings), data_file)


def ladder_of(config: hparams.RunConfig) -> list[dict]:
    """The lottery ladder of `config`: its planned densities per round, overall and per layer."""
    plan = config.plan
    assert isinstance(plan, LotteryPlan)
    return plan.density_ladder()


def rates_of(config: hparams.RunConfig) -> dict[str, float]:
    rates = config.layer_rates()
    assert isinstance(rates, dict)  # layerwise
    return rates


def alive_per_round(size: int, rate: float, rounds: int) -> list[int]:
    """Weights a layer keeps after rounds 0..rounds at `rate` (each round removes rate x alive, half up)."""
    alive = [size]
    for _ in range(rounds):
        alive.append(alive[-1] - int(rate * alive[-1] + 0.5))
    return alive


def expected_ladder(sizes: dict[str, int], rates: dict[str, float], rounds: int) -> list[dict]:
    kept = {n: alive_per_round(sizes[n], rates[n], rounds) for n in sizes}
    total = sum(sizes.values())
    return [
        {
            "round": r,
            "density": sum(kept[n][r] for n in sizes) / total,
            "layer_density": {n: kept[n][r] / sizes[n] for n in sizes},
        }
        for r in range(rounds + 1)
    ]


# ---- 1. bad input ----------------------------------------------------------------------------------------------
class TestBadNetwork:
    """A builder that cannot be used: one line naming it and why, from `describe_here` and from the CLI."""

    @pytest.mark.parametrize(
        "function, fragment",
        [
            ("raises", "raised RuntimeError: no network today, sorry"),
            ("returns_dict", "returned dict, not a tf_keras model"),
            ("returns_keras3", "not a tf_keras model (a Keras 3 model?"),
            ("no_prunable", "has no Dense, Conv1D or Conv2D layer to prune"),
            ("wrong_units", "its output has shape (4,), not (3,) for 3 classes"),
            ("conv_last", "its last prunable layer (conv) must be the Dense output layer of 3 units"),
            ("lstm", "layer lstm (LSTM) has weights the lab cannot prune or carry"),
            ("embedding", "layer embed (Embedding) has weights the lab cannot prune or carry"),
            ("transposed", "layer up (Conv1DTranspose) cannot be pruned here"),
            ("unseeded", "two builds at the same seed differ"),
            ("nested", "layer inner is a nested model"),
            ("missing", "nets.py has no function missing"),
        ],
    )
    def test_each_unusable_network_is_named_in_one_line(self, tmp_path, tf_here, function, fragment):
        reference = f"{write(tmp_path / 'nets.py', NETS)}:{function}"
        builders.trust(reference)
        with pytest.raises(builders.BuilderError) as caught:
            builders.describe_here(reference, (16, 2), 3, calibrate=False)
        message = str(caught.value)
        assert fragment in message and reference in message and "\n" not in message, message

    @pytest.mark.parametrize(
        "source, fragment",
        [
            ("def good(:\n    pass\n", "its module does not import: SyntaxError"),
            ("import lth_no_such_module_xyz\n", "its module does not import: ModuleNotFoundError"),
            ("raise ImportError('half installed')\n", "its module does not import: ImportError: half installed"),
        ],
    )
    def test_a_module_that_does_not_import_is_named(self, tmp_path, tf_here, source, fragment):
        reference = f"{write(tmp_path / 'broken.py', source)}:good"
        builders.trust(reference)
        with pytest.raises(builders.BuilderError) as caught:
            builders.describe_here(reference, (16, 2), 3, calibrate=False)
        assert fragment in str(caught.value) and "\n" not in str(caught.value)

    def test_a_working_network_is_described(self, tmp_path, tf_here):
        reference = f"{write(tmp_path / 'nets.py', NETS)}:good"
        builders.trust(reference)
        description = builders.describe_here(reference, (16, 2), 3, calibrate=False)
        layers = [(e["name"], e["kind"], tuple(e["kernel_shape"])) for e in description["identity"]["layers"]]
        assert layers == [("conv1", "conv", (3, 2, 4)), ("fc1", "dense", (56, 8)), ("out", "dense", (8, 3))]
        assert description["identity"]["layers"][0]["positions"] == 14  # 'valid' 3-tap conv of 16 steps

    @pytest.mark.parametrize(
        "function, fragment",
        [
            ("raises", "raised RuntimeError: no network today, sorry"),
            ("lstm", "has weights the lab cannot prune or carry"),
            ("unseeded", "two builds at the same seed differ"),
            ("nested", "is a nested model"),
            ("missing", "has no function missing"),
        ],
    )
    def test_the_cli_refuses_it_in_one_line_and_writes_nothing(self, tmp_path, capsys, tf_here, function, fragment):
        nets = write(tmp_path / "nets.py", NETS)
        data = npz(tmp_path / "sig.npz")
        store = tmp_path / "store"
        code, out, err = cli_in_process(
            capsys, "submit", "--model", f"{nets}:{function}", "--dataset", "sig", "--data-file", data,
            "--iterations", "40", "--cache-dir", store,
        )  # fmt: skip
        refused_in_one_line(code, out, err, "lth submit: error:", fragment)
        assert not store.exists()

    def test_a_missing_module_file_is_refused_before_anything(self, tmp_path, capsys, own_config_dir):
        store = tmp_path / "store"
        code, out, err = cli_in_process(
            capsys, "submit", "--model", f"{tmp_path / 'gone.py'}:net", "--dataset", "sig", "--data-file",
            npz(tmp_path / "sig.npz"), "--cache-dir", store,
        )  # fmt: skip
        refused_in_one_line(code, out, err, f"{tmp_path / 'gone.py'}: no such file")
        assert not store.exists() and not own_config_dir.exists()  # nothing recorded either

    def test_an_existing_store_is_left_unchanged(self, tmp_path, capsys, tf_here):
        from lth.runs import RunStore

        store = RunStore(tmp_path / "store").root
        (store / "notes.txt").write_text("mine")
        before = snapshot(store)
        code, out, err = cli_in_process(
            capsys, "run", "--model", f"{write(tmp_path / 'nets.py', NETS)}:wrong_units", "--dataset", "sig",
            "--data-file", npz(tmp_path / "sig.npz"), "--cache-dir", store,
        )  # fmt: skip
        refused_in_one_line(code, out, err, "lth run: error:", "its output has shape (4,)")
        assert snapshot(store) == before

    @pytest.mark.trains
    @pytest.mark.parametrize(
        "source, function, fragment",
        [
            ("def good(:\n    pass\n", "good", "its module does not import: SyntaxError"),
            (NETS, "lstm", "layer lstm (LSTM) has weights the lab cannot prune or carry"),
        ],
        ids=["syntax-error", "lstm"],
    )
    def test_a_real_command_describes_in_a_child_and_says_one_line(self, tmp_path, source, function, fragment):
        """The CLI's process has no TensorFlow: a child process describes the network; its failure is still
        one line, exit 2, and no store."""
        nets = write(tmp_path / "nets.py", source)
        store = tmp_path / "store"
        result = run_cli(
            "submit", "--model", f"{nets}:{function}", "--dataset", "sig", "--data-file", npz(tmp_path / "sig.npz"),
            "--iterations", "40", "--cache-dir", str(store),
        )  # fmt: skip
        refused_in_one_line(result.returncode, result.stdout, result.stderr, "lth submit: error:", fragment)
        assert not store.exists()


class TestBadData:
    """A user's .npz that cannot be a classification dataset, or data options that do not go together."""

    @pytest.mark.parametrize(
        "make, fragment",
        [
            (
                lambda p: npz(p, y_train=np.array([{"label": 1}] * 120, dtype=object)),
                "member 'y_train.npy' holds Python objects (a pickle): refused",
            ),
            (
                lambda p: npz(p, x_train=np.where(np.arange(120)[:, None, None] == 7, np.nan, arrays()["x_train"])),
                "x_train has 32 non-finite values (32 NaN)",
            ),
            (lambda p: npz(p, y_train=np.arange(119) % 3), "x_train holds 120 examples but y_train holds 119 labels"),
            (lambda p: npz(p, y_test=np.full(30, 5)), "y_test has 30 labels of a class the training split does not"),
            (lambda p: npz(p, y_train=np.arange(120) % 3 - 1), "y_train has label -1"),
            (lambda p: npz(p, y_train=np.arange(120) % 3 * 2), "classes 1, 3 have no training example"),
            (lambda p: npz(p, y_train=np.zeros(120, int), y_test=np.zeros(30, int)), "at least 2 classes"),
            (huge_header_npz, "declares 119.2 GB of arrays, more than the 4.0 GB limit"),
            (lambda p: str(p.parent / "absent.npz"), "absent.npz: no such file"),
        ],
        ids=["pickle", "nan", "lengths", "test-label", "negative", "absent-class", "one-class", "huge", "missing"],
    )
    def test_each_bad_file_is_named_in_one_line(self, tmp_path, capsys, make, fragment):
        path = make(tmp_path / "mine.npz")
        store = tmp_path / "store"
        code, out, err = cli_in_process(
            capsys, "submit", "--dataset", "mine", "--data-file", path, "--iterations", "40", "--cache-dir", store
        )
        line = refused_in_one_line(code, out, err, "lth submit: error:", fragment)
        assert str(tmp_path / ("absent.npz" if "absent" in fragment else "mine.npz")) in line
        assert not store.exists()

    @pytest.mark.parametrize(
        "options, fragment",
        [
            (["--dataset", "mnist-sample", "--data-file", "{ok}"], "--data-file is your own data: name it with"),
            (["--dataset", "mine"], "your own data needs its file: --data-file FILE.npz"),
            (["--dataset", "../mine", "--data-file", "{ok}"], "--dataset must be one of mnist, mnist-sample"),
            (["--dataset", "mine", "--data-file", "{ok}", "--data-dir", "{dir}"], "--data-dir is for the built-in"),
            (["--dataset", "mine", "--data-file", "{ok}", "--model", "conv2"], "conv2 is a 2-D conv net"),
        ],
    )
    def test_options_that_do_not_go_together(self, tmp_path, capsys, options, fragment):
        ok = npz(tmp_path / "ok.npz")
        store = tmp_path / "store"
        given = [o.format(ok=ok, dir=tmp_path) for o in options]
        code, out, err = cli_in_process(capsys, "submit", *given, "--iterations", "40", "--cache-dir", store)
        refused_in_one_line(code, out, err, fragment)
        assert not store.exists()


# ---- 2. identity -------------------------------------------------------------------------------------------------
class TestIdentity:
    def test_the_run_id_covers_the_architecture(self, tmp_path, tf_here):
        from lth.runs.queue import check

        data = npz(tmp_path / "sig.npz")
        here = write(tmp_path / "a" / "nets.py", NETS)
        elsewhere = write(tmp_path / "b" / "nets.py", NETS)

        def run_id(path):
            config = own_config(f"{path}:good", data, rounds=2)
            return config.architecture, check(config, data).run_id

        first = run_id(here)
        assert run_id(elsewhere) == first  # the same network from another folder is the same run
        here.write_text(NETS.replace("Dense(8,", "Dense(9,", 1))  # one more hidden unit
        edited = run_id(here)
        assert edited[0] != first[0] and edited[1] != first[1]
        assert run_id(elsewhere) == first

    def test_a_network_changed_after_submission_fails_the_run_with_the_reason(self, tmp_path, tf_here):
        from lth.runs import RunStore, submit

        data = npz(tmp_path / "sig.npz")
        nets = write(tmp_path / "nets.py", NETS)
        store = RunStore(tmp_path / "store")
        config = own_config(f"{nets}:good", data, rounds=2)
        run_id = submit(config, data_dir=data, store=store, start=False).run_id
        nets.write_text(NETS.replace("Dense(8,", "Dense(9,", 1))
        stored = store.config(run_id)  # the run's own description: read without building anything
        assert stored.architecture == config.architecture
        with pytest.raises(hparams.ConfigError) as caught:
            hparams.check_run(stored, data)
        assert f"{nets}:good now builds a different network" in str(caught.value)
        assert f"this run was made for architecture {config.architecture}" in str(caught.value)
        nets.write_text(NETS)  # restored: the run can train again
        assert hparams.check_run(stored, data).fingerprint

    def test_a_data_file_rewritten_in_place_is_read_again(self, tmp_path, tf_here):
        """A long-lived process (the dashboard) must not serve the old arrays, fingerprint or run id."""
        from lth.runs.queue import check

        data = npz(tmp_path / "sig.npz")
        nets = write(tmp_path / "nets.py", NETS)
        before = check(own_config(f"{nets}:good", data), data)
        save(tmp_path / "sig.npz", arrays(seed=1))
        after = check(own_config(f"{nets}:good", data), data)
        assert after.fingerprint != before.fingerprint and after.run_id != before.run_id
        save(tmp_path / "sig.npz", arrays(shape=(8,), classes=4))
        config = own_config("lenet300_100", data)
        assert (config.data_shape, config.classes) == ((8,), 4)
        assert datasets.load_dataset("sig", data).input_shape == (8,)

    def test_a_relative_data_file_is_kept_as_the_file_meant(self, tmp_path, capsys, monkeypatch):
        """The worker starts in another folder: the run keeps the file's absolute path."""
        from lth.runs import RunStore
        from lth.runs import queue as run_queue

        monkeypatch.setattr(run_queue, "schedule", lambda store: None)  # queued, not started
        npz(tmp_path / "sig.npz")
        monkeypatch.chdir(tmp_path)
        code, out, err = cli_in_process(
            capsys, "submit", "--dataset", "sig", "--data-file", "sig.npz", "--iterations", "40",
            "--cache-dir", tmp_path / "store",
        )  # fmt: skip
        assert code == 0, err
        record = RunStore(tmp_path / "store").config_record(out.strip())
        assert record["data_dir"] == str(tmp_path / "sig.npz")


# ---- 3. trust ------------------------------------------------------------------------------------------------------
def marked_module(tmp_path: Path, marker: Path) -> Path:
    """The network module, writing `marker` whenever it is imported."""
    header = f"import os\nwith open({str(marker)!r}, 'a') as f:\n    f.write(str(os.getpid()) + '\\n')\n"
    return write(tmp_path / "shared" / "nets.py", header + textwrap.dedent(NETS))


def submitted_by_someone_else(tmp_path, monkeypatch, marker):
    """A queued run of a builder that another user named (their config folder), in a store this user reads."""
    from lth.runs import RunStore, submit

    monkeypatch.setenv(builders.CONFIG_DIR_ENV, str(tmp_path / "alice"))
    nets = marked_module(tmp_path, marker)
    data = npz(tmp_path / "sig.npz")
    store = RunStore(tmp_path / "store")
    config = own_config(f"{nets}:good", data, rounds=1)
    run_id = submit(config, data_dir=data, store=store, start=False).run_id
    assert marker.exists()  # Alice's own command did import it
    marker.unlink()
    monkeypatch.setenv(builders.CONFIG_DIR_ENV, str(tmp_path / "bob"))  # Bob never named it
    return store, run_id, data


class TestTrust:
    def test_a_store_config_alone_never_imports_its_builder(self, tmp_path, monkeypatch, tf_here):
        marker = tmp_path / "imported"
        store, run_id, data = submitted_by_someone_else(tmp_path, monkeypatch, marker)
        stored = store.config(run_id)  # pages read its layers from the run's description, without its code
        assert stored.spec.layer_names == ("conv1", "fc1", "out")
        with pytest.raises(builders.BuilderError, match="was not named by you on this machine"):
            builders.load(stored.model)
        with pytest.raises(hparams.ConfigError, match="was not named by you on this machine"):
            hparams.check_run(stored, data)  # what a worker checks first (described before, in this process)
        with pytest.raises(builders.BuilderError, match="was not named by you on this machine"):
            models.build(stored.model_key, stored.seed)
        assert not marker.exists()

    def test_a_dotted_module_is_found_without_running_its_package(self, tmp_path, monkeypatch):
        marker = tmp_path / "imported"
        package = tmp_path / "path" / "lth_test_pkg"
        write(package / "__init__.py", f"open({str(marker)!r}, 'a').write('x')\n")
        write(package / "nets.py", NETS)
        monkeypatch.syspath_prepend(str(tmp_path / "path"))
        with pytest.raises(builders.BuilderError, match="was not named by you"):
            builders.load("lth_test_pkg.nets:good")
        assert builders.module_file("lth_test_pkg.nets:good") == (package / "nets.py").resolve()
        assert not marker.exists()

    @pytest.mark.trains
    def test_a_worker_fails_the_run_rather_than_import_it(self, tmp_path, monkeypatch, tf_here):
        from lth.runs import schedule

        marker = tmp_path / "imported"
        store, run_id, _ = submitted_by_someone_else(tmp_path, monkeypatch, marker)
        schedule(store)  # a worker process of Bob's (his config folder in its environment)
        status = wait_for(lambda: (s := store.status(run_id))["state"] not in ("queued", "running") and s, 180)
        assert status["state"] == "failed", status
        assert "was not named by you on this machine" in status["error"]
        assert not marker.exists()


# ---- 4. per-kind rates in the lottery ladder -------------------------------------------------------------------
class TestPerKindRates:
    SIZES = {"conv1": 3 * 2 * 4, "fc1": 56 * 8, "out": 8 * 3}  # `good` on 16x2 examples, 3 classes

    def test_a_users_conv_net_prunes_conv_layers_at_their_own_rate(self, tmp_path, tf_here):
        data = npz(tmp_path / "sig.npz")
        config = own_config(f"{write(tmp_path / 'nets.py', NETS)}:good", data, rounds=3)
        assert config.layer_rates() == {"conv1": 0.1, "fc1": 0.2, "out": 0.1}  # Frankle & Carbin's defaults
        ladder = ladder_of(config)
        assert ladder == expected_ladder(self.SIZES, rates_of(config), 3)
        assert [round(s["layer_density"]["conv1"] * 24) for s in ladder] == [24, 22, 20, 18]
        assert [round(s["layer_density"]["fc1"] * 448) for s in ladder] == [448, 358, 286, 229]
        assert [round(s["layer_density"]["out"] * 24) for s in ladder] == [24, 22, 20, 18]
        assert config.canonical()["conv_prune_rate"] == 0.1

    def test_given_rates_apply_per_kind(self, tmp_path, tf_here):
        data = npz(tmp_path / "sig.npz")
        rates = {"conv_prune_rate": 0.3, "prune_rate": 0.25, "output_prune_rate": 0.05}
        config = own_config(f"{write(tmp_path / 'nets.py', NETS)}:good", data, rounds=3, **rates)
        assert config.layer_rates() == {"conv1": 0.3, "fc1": 0.25, "out": 0.05}
        ladder = ladder_of(config)
        assert ladder == expected_ladder(self.SIZES, rates_of(config), 3)
        assert [round(s["layer_density"]["conv1"] * 24) for s in ladder] == [24, 17, 12, 8]
        assert [round(s["layer_density"]["fc1"] * 448) for s in ladder] == [448, 336, 252, 189]
        assert [round(s["layer_density"]["out"] * 24) for s in ladder] == [24, 23, 22, 21]
        oneshot = own_config(config.model, data, experiment="oneshot", densities=(0.5,), **rates)
        assert oneshot.layer_rates() == config.layer_rates()  # the one-shot layerwise split uses them too

    def test_a_conv_rate_for_a_network_without_conv_layers_is_refused(self, tmp_path, tf_here):
        data = npz(tmp_path / "sig.npz")
        with pytest.raises(hparams.ConfigError, match="--conv-prune-rate applies where conv layers are pruned"):
            own_config(f"{write(tmp_path / 'nets.py', NETS)}:dense_only", data, conv_prune_rate=0.1).validate()

    @pytest.mark.parametrize("conv_rate", [None, 0.15])
    def test_conv2(self, conv_rate):
        config = hparams.RunConfig(
            experiment="lottery", model="conv2", dataset="mnist-sample", rounds=3, conv_prune_rate=conv_rate
        ).validate()
        rate = conv_rate or 0.1
        assert config.layer_rates() == {"conv1": rate, "conv2": rate, "fc1": 0.2, "fc2": 0.2, "out": 0.1}
        sizes = {"conv1": 576, "conv2": 36864, "fc1": 14 * 14 * 64 * 256, "fc2": 65536, "out": 2560}
        ladder = ladder_of(config)
        assert ladder == expected_ladder(sizes, rates_of(config), 3)
        conv1 = [round(s["layer_density"]["conv1"] * 576) for s in ladder]
        assert conv1 == ([576, 518, 466, 419] if conv_rate is None else [576, 490, 416, 354])
        assert [round(s["layer_density"]["out"] * 2560) for s in ladder] == [2560, 2304, 2074, 1867]


# ---- 5. real runs ----------------------------------------------------------------------------------------------
SIZES_TINY = {"conv1": 3 * 2 * 6, "fc1": 15 * 6 * 16, "out": 16 * 3}  # `tiny` on 32x2 examples, 3 classes


@pytest.fixture
def tiny_files(tmp_path):
    rng = np.random.default_rng(1)

    def split(n):
        y = np.arange(n) % 3
        x = rng.normal(size=(n, 32, 2)).astype(np.float32)
        x[:, :, 0] += 0.5 * y[:, None]
        return x, y

    (x_train, y_train), (x_test, y_test) = split(300), split(90)
    data = tmp_path / "outside" / "tiny.npz"
    nets = write(tmp_path / "outside" / "tiny.py", TINY)
    np.savez(data, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return f"{nets}:tiny", str(data)


def run_json(result) -> dict:
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.trains
def test_a_lottery_run_of_a_users_network_end_to_end(tmp_path, tiny_files, tf_here):
    from lth.runs import RunStore, kept

    model, data = tiny_files
    command = [
        "run", "--experiment", "lottery", "--model", model, "--dataset", "tiny", "--data-file", data,
        "--rounds", "2", "--iterations", "40", "--eval-every", "20", "--cache-dir", str(tmp_path / "store"),
    ]  # fmt: skip
    summary = run_json(run_cli(*command))
    alive = {n: alive_per_round(size, 0.2 if n == "fc1" else 0.1, 2) for n, size in SIZES_TINY.items()}
    assert alive == {"conv1": [36, 32, 29], "fc1": [1440, 1152, 922], "out": [48, 43, 39]}
    total = sum(SIZES_TINY.values())
    rows = [(r["arm"], r["round"]) for r in summary["results"]]
    assert rows == [("ticket", 0), ("ticket", 1), ("ticket", 2)]
    for record in summary["results"]:
        r = record["round"]
        assert record["density"] == pytest.approx(sum(a[r] for a in alive.values()) / total, abs=1e-12)
        assert record["layer_density"] == pytest.approx({n: alive[n][r] / SIZES_TINY[n] for n in alive}, abs=1e-12)
        assert record["pruned_nonzero"] == 0 and math.isfinite(record["final_test_accuracy"])
    assert summary["dataset"]["name"] == "tiny" and summary["config"]["model"] == "tiny"

    store = RunStore(tmp_path / "store")
    (run_id,) = store.run_ids()
    config = store.config(run_id)
    assert config.model == model and config.data_shape == (32, 2) and config.classes == 3
    for arm, round_ in kept.networks_of(store, run_id):
        network = kept.network(store, run_id, arm, round_)
        kernels = network.kernels()
        for name, mask in network.masks.items():
            assert int(mask.sum()) == alive[name][round_]
            assert not np.any(kernels[name][mask == 0]), f"{arm} round {round_}: pruned weights of {name} not zero"
    theta0 = kept.theta0(store, run_id)
    rebuilt = models.build(config.model_key, config.seed).get_weights()
    assert len(theta0) == len(rebuilt)
    for stored, again in zip(theta0, rebuilt):
        assert stored.dtype == again.dtype and np.array_equal(stored, again)

    again = run_cli(*command)
    assert run_json(again)["cached"] is True and "is cached" in again.stderr


@pytest.mark.trains
def test_every_criterion_prunes_a_users_conv_net_once(tmp_path, tiny_files, tf_here):
    from lth.runs import RunStore

    model, data = tiny_files
    command = [
        "run", "--experiment", "oneshot", "--criteria", "synflow,snip,grasp,magnitude", "--densities", "0.5,0.2",
        "--model", model, "--dataset", "tiny", "--data-file", data, "--iterations", "40", "--eval-every", "20",
        "--cache-dir", str(tmp_path / "store"),
    ]  # fmt: skip
    summary = run_json(run_cli(*command))
    store = RunStore(tmp_path / "store")
    (run_id,) = store.run_ids()
    planned = store.config(run_id).plan.densities()
    assert planned is not None
    found = {(r["arm"], r["round"]): r for r in summary["results"]}
    assert set(found) == set(planned)
    assert {r["criterion"] for r in summary["results"] if r["round"]} == {"synflow", "snip", "grasp", "magnitude"}
    for key, record in found.items():
        assert record["density"] == pytest.approx(planned[key], abs=1e-12)
        assert math.isfinite(record["final_test_accuracy"]) and math.isfinite(record["early_stop_test_accuracy"])
        assert record["pruned_nonzero"] == 0


def test_series_apart_by_their_data_or_settings_are_named_by_what_differs(tmp_path):
    """Runs alike but for their data (one name, two files: two fingerprints) or a setting (late rewinding) are
    separate series, each label saying what sets it apart; never one series averaging different data."""
    from lth.bench_browser import write_finished_run
    from lth.hparams import RunConfig, run_id
    from lth.runs import RunStore
    from lth.runs import tables as run_tables

    store = RunStore(tmp_path / "store")
    base = RunConfig(experiment="lottery", rounds=2, iterations=300, eval_every=100)
    for rewind in ("init", 100):
        write_finished_run(store, dataclasses.replace(base, rewind=rewind))
    labels = sorted(run_tables.results_frame(store)["label"].unique())
    assert labels == [
        "lottery lenet300_100 mnist-sample it300 [rewind 100]",
        "lottery lenet300_100 mnist-sample it300 [rewind init]",
    ]
    # the same settings on two data sets under one name: two series, named by their data
    other = dataclasses.replace(base, seed=1)
    for fingerprint in ("aaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbb"):
        rid = write_finished_run(store, other)
        summary = store.results(rid)
        moved = run_id(other, fingerprint)
        (tmp_path / "store" / rid).rename(tmp_path / "store" / moved)
        record = json.loads((tmp_path / "store" / moved / "config.json").read_text())
        record.update(run_id=moved, dataset_fingerprint=fingerprint)
        (tmp_path / "store" / moved / "config.json").write_text(json.dumps(record))
        summary.update(run_id=moved, dataset={"name": "mnist-sample", "source": "test", "fingerprint": fingerprint,
                                              "train": 4500, "validation": 500, "test": 10000})  # fmt: skip
        store.write_results(moved, summary)
    frame = run_tables.results_frame(RunStore(tmp_path / "store"))
    seed1 = frame[frame["seed"] == 1]
    assert sorted(seed1["label"].unique()) == [  # every setting that differs within the label is named
        "lottery lenet300_100 mnist-sample it300 [data aaaaaa, rewind init]",
        "lottery lenet300_100 mnist-sample it300 [data bbbbbb, rewind init]",
    ]
