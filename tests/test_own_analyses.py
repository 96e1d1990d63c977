"""Analyses and exports of a researcher's own network and data (issue 32, point 4): the Masks and weights page
draws the first layer's mask in a form that fits the input (a Conv1D network on 1-D signals, Conv-2 and
LeNet-300-100 on small RGB images), export-model writes every format and the file scores the reported accuracy
in plain TensorFlow, the compression report counts a Conv1D layer's multiply-accumulates at its output
positions, and TensorBoard has the run's events. The stores are trained once for the module (tiny runs)."""

import json
import math
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from conftest import ROOT, exported_accuracies

NETS = """
from lth.tf_setup import keras


def conv1d_net(input_shape, classes, init):
    inputs = keras.Input(input_shape)
    x = keras.layers.Conv1D(8, 5, activation="relu", kernel_initializer=init("conv1"), name="conv1")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.MaxPooling1D(2)(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dropout(0.1)(x)
    x = keras.layers.Dense(32, activation="relu", kernel_initializer=init("fc1"), name="fc1")(x)
    return keras.Model(inputs, keras.layers.Dense(classes, kernel_initializer=init("out"), name="out")(x))
"""
LENGTH, CHANNELS, FILTERS, TAPS, UNITS, CLASSES = 64, 2, 8, 5, 32, 3  # the signals and conv1d_net above


def signal_arrays(rng, n):
    """1-D signals (n, 64, 2): class k is a sine of k + 1 cycles on channel k % 2, in noise."""
    y = np.arange(n) % CLASSES
    t = np.linspace(0, 2 * np.pi, LENGTH)
    x = rng.normal(0, 0.8, (n, LENGTH, CHANNELS)).astype(np.float32)
    for k in range(CLASSES):
        x[y == k, :, k % CHANNELS] += np.sin((k + 1) * t + rng.uniform(0, 2 * np.pi, ((y == k).sum(), 1)))
    return x, y


def image_arrays(rng, n):
    """16x16 RGB images (uint8), 4 classes: class k has a faint vertical band in columns 4k..4k+3 of channel k % 3."""
    y = np.arange(n) % 4
    x = rng.integers(0, 200, (n, 16, 16, 3))
    for k in range(4):
        x[y == k, :, 4 * k : 4 * k + 4, k % 3] += 55
    return x.astype(np.uint8), y


def cli(*args):
    """`python -m lth ARGS` in this process (TensorFlow is loaded once for the module); exit status 0 asserted."""
    from lth import cli as lth_cli

    code = lth_cli.main([str(a) for a in args])
    assert code == 0, args


@pytest.fixture(scope="module")
def own(tmp_path_factory):
    """A store with a lottery run of a user's Conv1D network on their signals (2 rounds), and Conv-2 and
    LeNet-300-100 lottery runs on a user's 16x16 RGB images (1 round), all tiny; returns
    (store, {name: run_id}, {name: data file})."""
    from lth.runs import RunStore

    folder = tmp_path_factory.mktemp("own")
    (folder / "nets.py").write_text(NETS)
    rng = np.random.default_rng(0)
    files = {"signals": folder / "signals.npz", "tiny-rgb": folder / "tiny_rgb.npz"}
    for name, make, sizes in (("signals", signal_arrays, (600, 200)), ("tiny-rgb", image_arrays, (400, 100))):
        (x_train, y_train), (x_test, y_test) = make(rng, sizes[0]), make(rng, sizes[1])
        flipped = rng.random(len(y_test)) < 0.15  # some test labels wrong: no network scores 100%
        y_test = np.where(flipped, (y_test + 1) % (y_test.max() + 1), y_test)
        np.savez(files[name], x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    root = folder / "store"
    budget = ["--experiment", "lottery", "--iterations", "60", "--eval-every", "20", "--cache-dir", root]
    runs = {
        "conv1d": [f"{folder / 'nets.py'}:conv1d_net", "signals", "--rounds", "2"],
        "conv2": ["conv2", "tiny-rgb", "--rounds", "1"],
        "lenet300_100": ["lenet300_100", "tiny-rgb", "--rounds", "1"],
    }
    for model, dataset, *rest in runs.values():
        cli("run", "--model", model, "--dataset", dataset, "--data-file", files[dataset], *budget, *rest)
    store = RunStore(root)
    ids = {}
    for run_id in store.run_ids():
        config = store.config(run_id)
        ids["conv1d" if config.builds_own else config.model] = run_id
    assert set(ids) == set(runs)
    return store, ids, files


def records(store, run_id):
    return {(r["arm"], r["round"]): r for r in store.results(run_id)["results"]}


# ---- the first layer's mask, on networks made by hand (no training) ---------------------------------------------
def network_of(name, input_shape, kernel_shapes, masks, classes=3):
    """A kept network of a spec registered here (kernel and bias per layer), with `masks` for some layers."""
    from lth import models
    from lth.networks import Network

    spec = models.ModelSpec(
        name=name,
        description="a test network",
        kernel_shapes=kernel_shapes,
        default_prunable=tuple(kernel_shapes),
        initializer="GlorotNormal",
        build_layers=None,
        cpu=models.CpuCost(1.0, 1.0, 0.01),
        input_shape=input_shape,
        classes=classes,
    )
    key = f"{name}@test"
    models.register(spec, key)
    weights = [np.zeros(s, np.float32) for shape in kernel_shapes.values() for s in (shape, (shape[-1],))]
    return Network(key, "ticket", 1, weights, masks)


def random_mask(rng, shape, density=0.5):
    return (rng.random(shape) < density).astype(np.float32)


def test_a_dense_layer_on_signals_is_drawn_per_position_and_channel():
    from lth import analysis

    mask = random_mask(np.random.default_rng(1), (LENGTH * CHANNELS, 7))
    net = network_of("dense-signals", (LENGTH, CHANNELS), {"fc1": (LENGTH * CHANNELS, 7), "out": (7, 3)}, {"fc1": mask})
    view = analysis.mask_view(net)
    assert view.key == "mask_signal" and view.note is None
    heatmap = view.figure.data[0]
    assert heatmap.type == "heatmap"
    expected = mask.sum(axis=1).reshape(LENGTH, CHANNELS)  # Flatten is row-major: position, then channel
    assert np.array(heatmap.z).tolist() == expected.T.tolist()  # a row per channel, the signal along x
    assert view.table["kept"].sum() == mask.sum() and "of 7" in view.figure.layout.title.text


def test_a_dense_layer_on_features_is_a_bar_per_feature():
    from lth import analysis

    mask = random_mask(np.random.default_rng(2), (12, 5))
    net = network_of("tabular", (12,), {"fc1": (12, 5), "out": (5, 3)}, {"fc1": mask, "out": np.ones((5, 3))})
    view = analysis.mask_view(net)
    assert view.key == "mask_features"
    assert view.figure.data[0].type == "bar" and list(view.figure.data[0].y) == mask.sum(axis=1).tolist()
    assert view.figure.layout.xaxis.title.text == "feature"


def test_a_dense_layer_on_rgb_images_is_drawn_per_pixel_averaged_and_per_channel():
    from lth import analysis

    mask = random_mask(np.random.default_rng(3), (8 * 6 * 3, 10))
    net = network_of("dense-rgb", (8, 6, 3), {"fc1": (144, 10), "out": (10, 3)}, {"fc1": mask})
    view = analysis.mask_view(net)
    assert view.key == "mask_heatmap"
    per_channel = mask.sum(axis=1).reshape(8, 6, 3)
    z = [np.array(trace.z)[::-1] for trace in view.figure.data]  # drawn bottom row first
    assert len(z) == 4 and np.allclose(z[0], per_channel.mean(axis=2))
    assert all(np.array_equal(z[1 + c], per_channel[..., c]) for c in range(3))
    assert np.allclose(analysis.input_map(mask, (8, 6, 3)), per_channel.mean(axis=2))
    assert len(view.table) == 8 * 6 * 3 and view.table["kept"].sum() == mask.sum()


def test_conv_filters_are_drawn_per_tap():
    from lth import analysis

    rng = np.random.default_rng(4)
    mask2 = random_mask(rng, (3, 3, 3, 5))
    net = network_of("conv2d", (10, 10, 3), {"conv1": (3, 3, 3, 5), "out": (300, 3)}, {"conv1": mask2})
    view = analysis.mask_view(net)
    assert view.key == "mask_filters" and len(view.figure.data) == 4  # averaged, then the three channels
    canvas = np.array(view.figure.data[0].z, dtype=float)[::-1]  # 5 filters on a 3x2 grid, a gap between them
    assert canvas.shape == (2 * 4 - 1, 3 * 4 - 1)
    for f in range(5):
        top, left = (f // 3) * 4, (f % 3) * 4
        assert np.allclose(canvas[top : top + 3, left : left + 3], mask2[..., f].mean(axis=2))
    assert np.isnan(canvas[3]).all()  # the blank line between the grid's rows
    fraction = view.table.set_index(["filter", "row", "column"])["kept_fraction"]
    assert fraction[(4, 2, 1)] == pytest.approx(mask2[2, 1, :, 4].mean())

    mask1 = random_mask(rng, (TAPS, CHANNELS, FILTERS))
    net = network_of("conv1d", (LENGTH, CHANNELS), {"conv1": mask1.shape, "out": (480, 3)}, {"conv1": mask1})
    view = analysis.mask_view(net)
    assert view.key == "mask_filters" and len(view.figure.data) == 1 + CHANNELS
    assert np.allclose(np.array(view.figure.data[0].z), mask1.mean(axis=1).T)  # a strip of taps per filter
    assert np.array_equal(np.array(view.figure.data[2].z), mask1[:, 1, :].T)


def test_a_network_it_cannot_picture_is_said_in_words():
    from lth import analysis

    rng = np.random.default_rng(5)
    cases = {
        # a first Dense layer that reads something other than the inputs (a Reshape or an embedding before it)
        "reshaped": ((8, 8, 3), {"fc1": (7, 4), "out": (4, 3)}),
        # a first layer that is not pruned in the run
        "unpruned": ((8, 8, 1), {"conv1": (3, 3, 1, 4), "out": (256, 3)}),
        # a 3-D convolution of volumes
        "volumes": ((4, 4, 4, 1), {"conv1": (2, 2, 2, 1, 3), "out": (192, 3)}),
    }
    for name, (shape, kernels) in cases.items():
        masks = {"out": random_mask(rng, kernels["out"])} if name == "unpruned" else {}
        masks.update({n: random_mask(rng, s) for n, s in kernels.items() if name != "unpruned"})
        view = analysis.mask_view(network_of(name, shape, kernels, masks))
        assert view.figure is None and view.key is None and view.note, name
        assert ("not pruned" if name == "unpruned" else "cannot picture") in view.note, (name, view.note)


# ---- the page, the exports, the counts, on trained runs ----------------------------------------------------------
def open_analysis(monkeypatch, store, run_id):
    monkeypatch.setenv("LTH_CACHE_DIR", str(store.root))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    at.switch_page("pages/analysis.py")
    at.run()
    at.selectbox(key="analysis-run").set_value(run_id).run()
    assert not at.exception and not at.error, [e.value for e in list(at.exception) + list(at.error)]
    return at


def charts_of(at):
    """The figures the page's plotly_chart elements carry, plotly's typed arrays decoded to lists."""
    import base64

    def decode(value):
        if isinstance(value, dict) and "bdata" in value:
            array = np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
            if "shape" in value:
                array = array.reshape([int(n) for n in str(value["shape"]).split(",")])
            return array.tolist()
        if isinstance(value, dict):
            return {k: decode(v) for k, v in value.items()}
        if isinstance(value, list):
            return [decode(v) for v in value]
        return value

    return [decode(json.loads(chart.proto.spec)) for chart in at.get("plotly_chart")]


@pytest.mark.trains
def test_the_page_draws_the_conv1d_filters_of_a_users_network(monkeypatch, own):
    from lth.runs import kept as kept_networks

    store, ids, _ = own
    run_id = ids["conv1d"]
    at = open_analysis(monkeypatch, store, run_id)
    assert at.select_slider(key=f"analysis-round-{run_id}").value == 2  # the sparsest round
    charts = charts_of(at)
    mask = kept_networks.network(store, run_id, "ticket", 2).masks["conv1"]
    filters = charts[0]  # the first layer's mask comes first
    assert filters["data"][0]["type"] == "heatmap" and "taps" in filters["layout"]["title"]["text"]
    assert np.allclose(np.array(filters["data"][0]["z"], dtype=float), mask.mean(axis=1).T)
    assert mask.mean() < 1  # a pruned round: the picture shows what was removed
    assert not at.info  # nothing said in words: it is pictured
    at.session_state["analysis-view"] = "Weights"  # the histograms' view, as a click on its tab opens it
    at.run()
    theta0 = next(c for c in charts_of(at) if c["layout"]["title"]["text"].startswith("initial weights (theta0)"))
    panels = [a["text"] for a in theta0["layout"]["annotations"]]
    assert panels == ["conv1", "fc1", "out"]  # a panel per pruned layer, the user's names
    assert {t["name"] for t in theta0["data"]} == {"kept", "pruned"}


@pytest.mark.trains
def test_the_page_draws_rgb_masks_of_conv2_and_lenet(monkeypatch, own):
    from lth import analysis
    from lth.runs import kept as kept_networks

    store, ids, _ = own
    at = open_analysis(monkeypatch, store, ids["conv2"])
    filters = charts_of(at)[0]
    mask = kept_networks.network(store, ids["conv2"], "ticket", 1).masks["conv1"]
    assert [t["type"] for t in filters["data"]] == ["heatmap"] * 4  # channels averaged, then R, G and B
    assert "64 filters' 3x3 taps (over 3 input channels)" in filters["layout"]["title"]["text"]
    canvas = np.array(filters["data"][1]["z"], dtype=float)[::-1]  # channel 0's mosaic: 8x8 filters
    assert canvas.shape == (8 * 4 - 1, 8 * 4 - 1)
    assert np.array_equal(canvas[0:3, 4:7], mask[:, :, 0, 1])  # filter 1, red

    at.selectbox(key="analysis-run").set_value(ids["lenet300_100"]).run()
    assert not at.exception and not at.error
    image = charts_of(at)[0]
    fc1 = kept_networks.network(store, ids["lenet300_100"], "ticket", 1).masks["fc1"]
    assert np.array(image["data"][0]["z"])[::-1].tolist() == analysis.input_map(fc1, (16, 16, 3)).tolist()
    assert "per input pixel of 3 channels" in image["layout"]["title"]["text"]


@pytest.mark.trains
def test_the_analysis_of_a_users_network_needs_no_tensorflow(own):
    """The dashboard's process knows a user's network from the description its run keeps: the analysis imports
    neither TensorFlow nor the user's module."""
    store, ids, _ = own
    code = textwrap.dedent(f"""
        import sys
        from lth import analysis
        from lth.runs import RunStore
        notes = []
        store = RunStore({str(store.root)!r})
        figures, tables = analysis.run_analysis(store, {ids["conv1d"]!r}, "ticket", 1, None, notes)
        assert "mask_filters" in figures and "theta0_histograms" in figures and not notes, (list(figures), notes)
        bad = [m for m in sys.modules if m in ("tensorflow", "tf_keras") or m.startswith("lth_builder_")]
        assert not bad, bad
    """)
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]


@pytest.mark.trains
def test_export_model_writes_every_format_and_it_scores_the_reported_accuracy(own, tmp_path, capsys):
    from lth.networks import EXPORT_FORMATS

    store, ids, files = own
    assert EXPORT_FORMATS == ("keras", "h5", "savedmodel", "tflite")
    for name, dataset, round_ in (("conv1d", "signals", 2), ("conv2", "tiny-rgb", 1)):
        run_id = ids[name]
        paths = []
        for fmt in EXPORT_FORMATS:
            capsys.readouterr()
            out = tmp_path / f"{name}_{fmt}"
            cli(
                "export-model",
                run_id,
                "--arm",
                "ticket",
                "--round",
                round_,
                "--format",
                fmt,
                "--out",
                out,
                "--cache-dir",
                store.root,
            )
            paths.append(capsys.readouterr().out.strip().splitlines()[-1])
        scores = exported_accuracies(files[dataset], paths)
        reported = records(store, run_id)[("ticket", round_)]["early_stop_test_accuracy"]
        assert 0.4 < reported < 1  # a network that learned, but not everything: the score tells files apart
        for path in paths:
            assert scores[path] == reported, (path, scores[path], reported)


@pytest.mark.trains
def test_compression_counts_the_conv1d_layer_at_its_output_positions(own, capsys):
    from lth.runs import kept as kept_networks

    store, ids, _ = own
    capsys.readouterr()
    cli("compression", ids["conv1d"], "--json", "--cache-dir", store.root)
    rows = {(r["arm"], r["round"]): r for r in json.loads(capsys.readouterr().out)}
    positions = LENGTH - TAPS + 1  # a 'valid' Conv1D of 5 taps on 64 samples: 60 outputs per filter
    flat = positions // 2 * FILTERS  # pooled by 2, flattened: fc1's fan-in
    dense_macs = TAPS * CHANNELS * FILTERS * positions + flat * UNITS + UNITS * CLASSES
    params = (TAPS * CHANNELS * FILTERS + FILTERS) + 4 * FILTERS + (flat * UNITS + UNITS) + (UNITS * CLASSES + CLASSES)
    assert (dense_macs, params) == (12576, 7931)
    assert set(rows) == {("ticket", 0), ("ticket", 1), ("ticket", 2)}
    for (arm, round_), row in rows.items():
        net = kept_networks.network(store, ids["conv1d"], arm, round_)
        kernels = net.kernels()
        nonzero = {n: int(np.count_nonzero(k)) for n, k in kernels.items()}
        assert (row["dense_macs"], row["params"]) == (dense_macs, params)
        assert row["nonzero_macs"] == nonzero["conv1"] * positions + nonzero["fc1"] + nonzero["out"]
        assert row["nonzero_params"] == sum(int(np.count_nonzero(w)) for w in net.weights)
        if round_:
            assert row["nonzero_macs"] < dense_macs and row["nonzero_params"] < params
    assert store.config(ids["conv1d"]).spec.positions == {"conv1": positions, "fc1": 1, "out": 1}


@pytest.mark.trains
def test_built_in_networks_count_at_the_positions_the_built_model_has():
    """The sized built-in networks' output positions (what multiply-accumulates count) are the built model's."""
    from lth import models

    for name, shape in (
        ("conv2", (16, 16, 3)),
        ("conv4", (12, 10, 2)),
        ("lenet5", (16, 16, 3)),
        ("lenet5", (28, 28, 1)),
    ):
        spec = models.sized(name, shape, 4)
        model = models.build(models.spec_key(name, shape, 4), 0)
        for layer in model.layers:
            if layer.name in spec.kernel_shapes and spec.is_conv(layer.name):
                assert spec.positions[layer.name] == math.prod(layer.output_shape[1:-1]), (name, shape, layer.name)
        assert spec.dense_macs() == sum(
            math.prod(layer.kernel.shape) * (math.prod(layer.output_shape[1:-1]) if spec.is_conv(layer.name) else 1)
            for layer in model.layers
            if layer.name in spec.kernel_shapes
        )


@pytest.mark.trains
def test_tensorboard_has_the_events_of_a_users_network(own):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.util import tensor_util

    store, ids, _ = own
    run_id = ids["conv1d"]
    folder = store.tensorboard_dir(run_id)
    assert sorted(p.name for p in folder.iterdir()) == ["ticket_round00", "ticket_round01", "ticket_round02"]
    metrics = [json.loads(line) for line in (store.path(run_id) / "metrics.jsonl").read_text().splitlines()]
    for round_ in (0, 1, 2):
        events = EventAccumulator(str(folder / f"ticket_round{round_:02d}"))
        events.Reload()
        tags = set(events.Tags()["tensors"])
        assert {"density/conv1", "density/fc1", "density/out", "accuracy/test", "loss/train"} <= tags
        values = [float(tensor_util.make_ndarray(e.tensor_proto)) for e in events.Tensors("accuracy/validation")]
        expected = [m["val_accuracy"] for m in metrics if m.get("arm") == "ticket" and m.get("round") == round_]
        assert values == pytest.approx(expected) and len(values) == 3


@pytest.mark.trains
def test_export_refuses_a_builder_file_that_now_builds_another_network(tmp_path):
    """Weights of the same shapes in an edited network (another activation) would export a model that does not
    score what the run reports: export-model refuses, saying why."""
    from lth import builders, model_export, models
    from lth.errors import ExportError
    from lth.networks import Network

    path = tmp_path / "edited.py"
    path.write_text(NETS)
    reference = f"{path}:conv1d_net"
    builders.trust(reference)
    spec = builders.register(builders.describe(reference, (LENGTH, CHANNELS), CLASSES))
    key = models.spec_key(spec.name, spec.input_shape, spec.classes, spec.architecture)
    net = Network(key, "ticket", 1, [np.full(s, 0.01, np.float32) for s in spec.weight_shapes()], {})
    assert np.allclose(model_export.build(net).get_weights()[0], 0.01)  # the file as described: exported
    fc1 = 'activation="relu", kernel_initializer=init("fc1")'
    path.write_text(NETS.replace(fc1, fc1.replace("relu", "tanh")))
    with pytest.raises(ExportError, match="now builds a different network"):
        model_export.build(net)


def test_weight_histograms_wrap_a_deep_network_and_survive_a_constant_layer():
    from lth import analysis

    rng = np.random.default_rng(6)
    values = {f"conv{i}": rng.normal(size=(3, 3, 4, 4)) for i in range(70)} | {"bias_like": np.zeros((8, 2))}
    masks = {name: random_mask(rng, v.shape) for name, v in values.items()}
    fig = analysis.weight_histograms(values, masks, "theta0", "theta0")
    assert [a.text for a in fig.layout.annotations] == list(values)  # a panel per layer, on 18 rows of 4
    assert fig.layout.height == 60 + 300 * 18
    assert sum(t.name == "kept" and t.showlegend for t in fig.data) == 1  # each legend entry once
