"""AppTest over every page, against a real run store filled by real training."""

import re
import time

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from conftest import APP_PAGES, ROOT
from lth import export, figures
from lth.runs import RunStore
from lth.runs import kept as kept_networks
from lth.runs import tables as run_tables

PAGES = APP_PAGES
FORM_PAGES = [p for p in PAGES if "experiment_page import render" in (ROOT / p).read_text()]  # an experiment's form


def chart_figure(chart) -> dict:
    """The figure a plotly_chart element carries, with plotly's typed arrays decoded to lists."""
    import base64
    import json

    import numpy as np

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

    return decode(json.loads(chart.proto.spec))


def open_page(page, monkeypatch, root):
    monkeypatch.setenv("LTH_CACHE_DIR", str(root))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    at.switch_page(page)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_on_an_empty_store(page, monkeypatch, tmp_path):
    at = open_page(page, monkeypatch, tmp_path / "empty")
    text = " ".join(e.value for e in at.info) + " ".join(e.value for e in at.markdown)
    if page in ("pages/runs.py", "pages/compare.py", "pages/home.py", "pages/analysis.py", "pages/instability.py"):
        assert "Start" in text or "start" in text  # says how to begin


@pytest.mark.trains
def test_home_shows_device_data_counts_and_presets(monkeypatch, filled_store):
    at = open_page("pages/home.py", monkeypatch, filled_store.root)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["done"] == "4" and metrics["failed"] == "0"
    assert any("CPU" in e.value or "GPU" in e.value for e in list(at.info) + list(at.success) + list(at.warning))
    assert at.number_input(key="max-concurrent").value == 1
    from lth import presets

    starts = [b.label for b in at.button if b.key and b.key.startswith("start-")]
    assert starts == ["Start preset"] * len(presets.PRESETS)
    assert "mnist-sample" in " ".join(m.value for m in at.markdown)


def test_lottery_page_shows_ladder_and_refuses_impossible_settings(monkeypatch, tmp_path):
    at = open_page("pages/lottery.py", monkeypatch, tmp_path)
    for key in (
        "lottery-model",
        "lottery-dataset",
        "lottery-batch",
        "lottery-lr",
        "lottery-rounds",
        "lottery-rate",
        "lottery-out-rate",
        "lottery-scope",
        "lottery-reset",
        "lottery-controls",
        "lottery-nseeds",
        "lottery-patience",
        "lottery-eval",
        "lottery-opt",
        "lottery-seed",
        "lottery-iterations",
        "lottery-lenet300_100-prunable",
    ):
        at.get_by_key(key)  # raises KeyError when the widget is missing
    ladder = at.dataframe[0].value
    assert [float(v) for v in ladder.loc["overall %"].tolist()][:8] == [100.0, 80.0, 64.1, 51.3, 41.1, 32.9, 26.3, 21.1]
    assert at.button(key="lottery-start").disabled is False
    at.radio(key="lottery-reset").set_value("weights at iteration k").run()
    at.number_input(key="lottery-k").set_value(60_000).run()
    from dashboard.text import plain  # a message quoting values is shown as text

    assert any(
        plain("“k (late rewinding)” 60000 must be below the 50000 training iterations") in e.value for e in at.error
    ), [e.value for e in at.error]
    assert at.button(key="lottery-start").disabled is True
    assert not at.exception


@pytest.mark.trains  # describing the network builds it in a child process
def test_a_users_network_and_arrays_from_the_form(monkeypatch, tmp_path):
    """Your own network (a builder file) and data (an .npz) chosen in the form: its layers in the ladder, its
    conv layer at the conv rate, the plan timed by the network's calibration, and Start queues the run with
    the described network; a builder that does not build says why instead of a traceback."""
    import numpy as np

    nets = tmp_path / "nets.py"
    nets.write_text(
        "from lth.tf_setup import keras\n\n\n"
        "def conv(input_shape, classes, init):\n"
        "    inputs = keras.Input(input_shape)\n"
        "    x = keras.layers.Conv1D(4, 3, activation='relu', kernel_initializer=init('c1'), name='c1')(inputs)\n"
        "    x = keras.layers.Flatten()(x)\n"
        "    return keras.Model(inputs, keras.layers.Dense(classes, kernel_initializer=init('out'), name='out')(x))\n"
        "\n\ndef broken(input_shape, classes, init):\n"
        "    raise RuntimeError('no such layer size')\n"
    )
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 300)
    np.savez(tmp_path / "w.npz", x_train=rng.normal(size=(300, 12, 2)), y_train=y, x_test=np.zeros((30, 12, 2)),
             y_test=y[:30])  # fmt: skip
    at = open_page("pages/lottery.py", monkeypatch, tmp_path / "store")
    at.selectbox(key="lottery-model").set_value("your own network").run()
    at.text_input(key="lottery-builder").set_value(f"{nets}:broken").run()
    at.selectbox(key="lottery-dataset").set_value("your own arrays (.npz)").run()
    at.text_input(key="lottery-own-name").set_value("waves").run()
    at.text_input(key="lottery-own-file").set_value(str(tmp_path / "w.npz")).run()
    from dashboard.text import plain  # messages quoting paths are shown as text

    errors = [e.value for e in at.error]
    assert any(plain("raised RuntimeError: no such layer size") in e for e in errors), errors
    assert at.button(key="lottery-start").disabled is True and not at.exception
    at.text_input(key="lottery-builder").set_value(f"{nets}:conv").run()
    assert not at.error and not at.exception
    ladder = at.dataframe[0].value
    assert {"c1 %", "out %"} <= set(ladder.index)  # the network's own layers
    # a conv layer at the conv rate, 10% a round: 22 of its 3x2x4 = 24 weights kept (the output at 10% too, the
    # rate of an output layer)
    assert float(ladder.loc["c1 %"].tolist()[1]) == round(100 * 22 / 24, 1)
    at.number_input(key="lottery-iterations").set_value(40).run()
    at.button(key="lottery-start").click().run()
    store = RunStore(tmp_path / "store")
    (run_id,) = store.run_ids()
    config = store.config(run_id)
    assert config.dataset == "waves" and config.model == f"{nets}:conv" and config.architecture is not None
    assert config.data_shape == (12, 2) and config.classes == 3
    from lth import runs

    runs.cancel(run_id, store)


@pytest.mark.trains
def test_methods_page_plans_and_starts_a_oneshot_run(monkeypatch, tmp_path):
    from lth import criteria

    at = open_page("pages/methods.py", monkeypatch, tmp_path)
    at.multiselect(key="oneshot-criteria").set_value(["synflow", "magnitude"]).run()
    at.multiselect(key="oneshot-densities").set_value([0.211, 0.036]).run()
    at.multiselect(key="oneshot-controls").set_value(["random_prune"]).run()
    text = " ".join(m.value for m in at.markdown)
    assert criteria.CRITERIA["synflow"].definition in text and criteria.CRITERIA["snip"].definition not in text
    assert any("Plan: 1 run, 9 trainings" in c.value for c in at.caption)  # dense + 2 x 2 x (mask, shuffle)
    planned = at.dataframe[0].value
    assert planned["asked %"].tolist() == [21.1, 3.6]
    at.radio(key="oneshot-scope").set_value("layerwise").run()
    planned = at.dataframe[0].value
    assert planned.loc[0, "fc1 %"] == pytest.approx(21.0, abs=0.1) and planned.loc[0, "out %"] == pytest.approx(
        47.8, abs=0.15
    )
    at.multiselect(key="oneshot-densities").set_value([]).run()
    assert at.button(key="oneshot-start").disabled
    at.multiselect(key="oneshot-densities").set_value([0.05]).run()
    at.number_input(key="oneshot-iterations").set_value(40).run()
    at.number_input(key="oneshot-eval").set_value(20).run()
    at.button(key="oneshot-start").click().run()
    assert not at.exception
    store = RunStore(tmp_path)
    (run_id,) = store.run_ids()
    config = store.config(run_id)
    assert config.experiment == "oneshot" and config.criteria == ("synflow", "magnitude")
    assert config.densities == (0.05,) and config.controls == ("random_prune",) and config.scope == "layerwise"
    from lth import runs

    runs.cancel(run_id, store)


@pytest.mark.trains
def test_starting_a_tiny_run_from_the_ui(monkeypatch, tmp_path):
    at = open_page("pages/baseline.py", monkeypatch, tmp_path)
    at.number_input(key="baseline-iterations").set_value(40).run()
    at.number_input(key="baseline-eval").set_value(20).run()
    at.number_input(key="baseline-seed").set_value(7).run()
    at.button(key="baseline-start").click().run()
    assert not at.exception
    store = RunStore(tmp_path)
    (run_id,) = store.run_ids()
    assert any(run_id in e.value for e in at.info)
    assert store.config(run_id).seed == 7 and store.config(run_id).iterations == 40
    deadline = time.time() + 120
    while store.status(run_id)["state"] != "done":
        assert time.time() < deadline and store.status(run_id)["state"] in ("queued", "running")
        time.sleep(0.5)
    runs = open_page("pages/runs.py", monkeypatch, tmp_path)
    assert runs.selectbox(key="selected-run").value == run_id
    assert len(runs.get("plotly_chart")) == 1
    # the same settings again: cached, nothing trained
    at.button(key="baseline-start").click().run()
    assert any("is cached" in e.value for e in at.success)


def open_view(at: AppTest, name: str) -> AppTest:
    """Compare's view `name` opened, as a click on its tab does (only the open view is drawn)."""
    at.session_state["compare-view"] = name
    at.run()
    assert not at.exception, at.exception
    return at


@pytest.mark.trains
def test_compare_page_builds_the_overlay(monkeypatch, filled_store):
    at = open_page("pages/compare.py", monkeypatch, filled_store.root)
    tabs = [t.label for t in at.tabs]
    assert tabs[0] == "Verdicts" and "Compression" in tabs
    assert "No one-shot run in these filters" in open_view(at, "Pruning methods").info[0].value  # says why
    open_view(at, "Verdicts")
    assert len(at.get("plotly_chart")) == 1  # the accuracy figure; each view draws its own when opened
    early = chart_figure(open_view(at, "Early stop").get("plotly_chart")[1])
    assert early["layout"]["title"]["text"].startswith("early-stop iteration")
    charts = open_view(at, "Compression").get("plotly_chart")
    assert len(charts) == 2  # accuracy, compression against density
    compression = chart_figure(charts[1])
    ticket = next(
        t
        for t in compression["data"]
        if t.get("name", "").startswith("lottery ticket") and t.get("mode") == "lines+markers"
    )
    assert ticket["y"][0] < ticket["y"][-1]  # the sparser, the better it compresses
    figure = chart_figure(charts[0])
    names = {t.get("name") for t in figure["data"] if t.get("showlegend", True) is not False}
    assert any(n.startswith("lottery ticket · lottery lenet300_100") for n in names)
    assert any(n.startswith("random reinit") for n in names) and any(n.startswith("random pruning") for n in names)
    assert any(n.startswith("dense baseline") for n in names)
    ticket = next(
        t for t in figure["data"] if t.get("name", "").startswith("lottery ticket") and t.get("mode") == "lines+markers"
    )
    assert [round(x, 1) for x in ticket["x"]] == [100.0, 80.0, 64.1]  # densities, decreasing
    assert figure["layout"]["xaxis"]["type"] == "log" and figure["layout"]["xaxis"]["autorange"] == "reversed"
    assert figure["layout"]["title"]["text"].startswith("test accuracy at early stop vs density")
    assert figure["layout"]["yaxis"]["title"]["text"] == "test accuracy at early stop"
    # filtering to one seed leaves one seed per point
    at.multiselect(key="f-seed").set_value([0]).run()
    figure = chart_figure(at.get("plotly_chart")[0])
    ticket = next(
        t for t in figure["data"] if t.get("name", "").startswith("lottery ticket") and t.get("mode") == "lines+markers"
    )
    assert {c[0] for c in ticket["customdata"]} == {1}


@pytest.mark.trains
def test_exports_produce_real_files(filled_store):
    from lth import figures

    results = run_tables.results_frame(filled_store)
    fig = figures.accuracy_vs_density(results)
    png = export.figure_bytes(fig, "png")
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    assert b"<svg" in export.figure_bytes(fig, "svg")[:500]
    assert export.figure_bytes(fig, "pdf")[:4] == b"%PDF"
    html = export.figure_bytes(fig, "html")
    assert b"<html>" in html[:200] and b"plotly" in html and len(html) > 1_000_000  # plotly.js inlined
    csv = export.table_bytes(figures.aggregate(results, "early_stop_test_accuracy"), "csv").decode()
    assert csv.splitlines()[0].startswith("series,label,experiment,model,arm,density_pct,mean")
    assert len(csv.splitlines()) == 1 + 1 + 3 + 2 + 2  # dense, ticket x3 densities, reinit x2, random x2


@pytest.mark.trains
def test_corrupt_run_is_listed_not_raised(monkeypatch, tmp_path, filled_store):
    import shutil

    shutil.copytree(filled_store.root, tmp_path / "store")
    store = RunStore(tmp_path / "store")
    victim = store.run_ids()[0]
    (store.path(victim) / "status.json").write_text("garbage")
    at = open_page("pages/runs.py", monkeypatch, store.root)
    at.selectbox(key="selected-run").set_value(victim).run()
    assert not at.exception
    assert any("cannot be read" in e.value for e in at.error)
    home = open_page("pages/home.py", monkeypatch, store.root)
    assert {m.label: m.value for m in home.metric}["corrupt"] == "1"


@pytest.mark.trains
def test_home_executor_setting_and_unreachable_cluster(monkeypatch, tmp_path):
    pytest.importorskip("ray")
    at = open_page("pages/home.py", monkeypatch, tmp_path)
    at.radio(key="executor").set_value("ray").run()
    at.text_input(key="ray-address").set_value("127.0.0.1:1").run()
    at.button(key="show-cluster").click().run()
    assert not at.exception
    assert any("cannot reach a Ray cluster at 127.0.0.1:1" in e.value for e in at.error)
    from lth import runs

    assert runs.executor_choice(RunStore(tmp_path)) == ("ray", "127.0.0.1:1")
    assert any("about" in c.value and "on a 2-core CPU" in c.value for c in at.caption)


@pytest.mark.trains
def test_start_preset_from_home_queues_all_its_runs(monkeypatch, tmp_path):
    from lth import presets, runs

    store = RunStore(tmp_path)
    runs.set_max_concurrent(store, 1)
    at = open_page("pages/home.py", monkeypatch, tmp_path)
    at.button(key="start-frankle-carbin-lenet300").click().run()
    assert not at.exception
    try:
        ids = store.run_ids()
        assert len(ids) == len(presets.PRESETS["frankle-carbin-lenet300"].configs("quick")) == 3
        assert sorted(store.config(r).seed for r in ids) == [0, 1, 2]
        assert all(store.config(r).rounds == 15 and store.config(r).controls == ("reinit",) for r in ids)
        assert sum(store.status(r)["state"] == "running" for r in ids) <= 1
    finally:  # queued ones first, so cancelling the running one starts nothing new
        for state in ("queued", "running"):
            for run_id in store.run_ids():
                if store.status(run_id)["state"] == state:
                    runs.cancel(run_id, store)


@pytest.mark.trains
def test_runs_of_the_wrong_type_never_break_a_page(monkeypatch, tmp_path, filled_store):
    """One run with valid JSON of the wrong type (issue: it crashed list, Home, Runs and Compare)."""
    import json
    import shutil

    shutil.copytree(filled_store.root, tmp_path / "store")
    store = RunStore(tmp_path / "store")
    ids = store.run_ids()
    edits = {
        ids[0]: ("status.json", lambda r: {**r, "started": "x", "device": "gpu"}),
        ids[1]: ("results.json", lambda r: {"results": 5, "config": []}),
        ids[2]: ("config.json", lambda r: {**r, "planned_evaluations": "many"}),
    }
    for run_id, (name, change) in edits.items():
        path = store.path(run_id) / name
        path.write_text(json.dumps(change(json.loads(path.read_text()))))
    with open(store.path(ids[3]) / "metrics.jsonl", "a") as f:
        f.write('5\n{"foo": 1}\n')
    for page in PAGES:
        at = open_page(page, monkeypatch, store.root)
        assert not at.exception
    runs = open_page("pages/runs.py", monkeypatch, store.root)
    for run_id in ids[:3]:
        runs.selectbox(key="selected-run").set_value(run_id).run()
        assert not runs.exception and any("cannot be read" in e.value for e in runs.error)
    runs.selectbox(key="selected-run").set_value(ids[3]).run()
    assert not runs.exception and len(runs.get("plotly_chart")) == 1


@pytest.mark.trains
def test_delete_asks_first_and_says_what_it_removed(monkeypatch, tmp_path, filled_store):
    import shutil

    shutil.copytree(filled_store.root, tmp_path / "store")
    store = RunStore(tmp_path / "store")
    victim = store.run_ids()[0]
    at = open_page("pages/runs.py", monkeypatch, store.root)
    at.selectbox(key="selected-run").set_value(victim).run()
    at.button(key="delete").click().run()
    assert victim in store.run_ids()  # nothing removed yet: a question first
    assert any("cannot be undone" in w.value for w in at.warning)
    at.button(key="confirm-delete-no").click().run()
    assert victim in store.run_ids() and not any("cannot be undone" in w.value for w in at.warning)
    at.button(key="delete").click().run()
    at.button(key="confirm-delete-yes").click().run()
    assert not at.exception and victim not in store.run_ids()
    assert any(f"run {victim} deleted" in s.value for s in at.success)


def test_full_budget_preset_names_its_dataset_and_time(monkeypatch, tmp_path):
    at = open_page("pages/home.py", monkeypatch, tmp_path)
    at.radio(key="budget-frankle-carbin-lenet300").set_value("full").run()
    assert at.radio(key="dataset-frankle-carbin-lenet300").value == "fashion-mnist"
    from lth import presets

    caption = next(c.value for c in at.caption if "fashion-mnist" in c.value and "50,000 iterations" in c.value)
    preset = presets.PRESETS["frankle-carbin-lenet300"]
    expected = presets.duration_words(preset.estimate_seconds("full", preset.configs("full")))
    assert f"{expected} on a 2-core CPU" in caption and "evaluated every 100 iterations" in caption
    # the pruning-methods preset: its 9 runs and the time fixed before its runs
    at.radio(key="budget-pruning-methods").set_value("full").run()
    methods = presets.PRESETS["pruning-methods"]
    caption = next(c.value for c in at.caption if c.value.startswith("9 runs · fashion-mnist"))
    assert presets.duration_words(methods.estimate_seconds("full", methods.configs("full"))) in caption
    at.radio(key="dataset-frankle-carbin-lenet300").set_value("mnist").run()
    assert not at.exception
    # the original study's converged budget: patience under a cap, its measured length in the estimate
    at.radio(key="budget-original-study").set_value("converged").run()
    caption = next(c.value for c in at.caption if "until the validation loss stops improving" in c.value)
    assert "24 runs" in caption and "seeds 0, 1, 2" in caption and "learning rate 0.01" in caption
    assert "on a 2-core CPU" in caption and not at.exception


def test_lottery_page_plans_time_and_warns_before_start(monkeypatch, tmp_path):
    at = open_page("pages/lottery.py", monkeypatch, tmp_path)
    plan = next(c.value for c in at.caption if c.value.startswith("Plan:"))
    assert "16 trainings of 50,000 iterations" in plan and "on a 2-core CPU" in plan  # the settings' defaults
    at.slider(key="lottery-rounds").set_value(30).run()
    at.slider(key="lottery-rate").set_value(0.9).run()
    assert any("fc1, fc2 would have no weights left" in w.value for w in at.warning)
    assert at.button(key="lottery-start").disabled is False  # a warning, not a refusal
    at.number_input(key="lottery-iterations").set_value(1_000_000).run()
    assert any("hours on a 2-core CPU" in w.value for w in at.warning)
    assert not at.exception


def test_live_curves_colour_each_arm_family_and_show_one_point():
    import pandas as pd

    from lth import figures

    rows = [
        {
            "arm": arm,
            "round": r,
            "density": 0.8**r,
            "iteration": 100,
            "train_loss": 1.0,
            "train_accuracy": 0.5,
            "val_loss": 1.0,
            "val_accuracy": 0.5,
            "test_loss": None,
            "test_accuracy": None,
        }
        for arm, r in (("ticket", 0), ("ticket", 1), ("reinit", 1))
    ]
    fig = figures.training_curves(pd.DataFrame(rows))
    train = [t for t in fig.data if t.showlegend is not False and t.legendgroup and t.name == t.legendgroup]
    assert [t.mode for t in train] == ["markers"] * 3  # a single evaluation is still drawn
    assert {t.name for t in fig.data if t.legendgroup.startswith("split-")} == {
        "train (solid)",
        "validation (dash)",
        "test (dot)",
    }  # one key to the line styles, not a legend entry per split and network
    ticket0, ticket1, reinit1 = (t.line.color for t in train)
    assert len({ticket0, ticket1, reinit1}) == 3  # rounds are shades, arms are families
    red = [int(c) for c in reinit1[4:-1].split(",")]
    blue = [int(c) for c in ticket1[4:-1].split(",")]
    assert red[0] > red[2] and blue[2] > blue[0]


@pytest.mark.trains
def test_live_view_follows_a_run_that_gains_an_arm_and_finishes(monkeypatch, tmp_path, filled_store):
    """A lottery run seen while it trains: its reinit arm starts, then it finishes (files as a worker
    writes them; a full rerun stands in for the fragment's timer)."""
    import json
    import os
    import shutil

    shutil.copytree(filled_store.root, tmp_path / "store")
    store = RunStore(tmp_path / "store")
    run_id = next(r for r in store.run_ids() if store.config(r).experiment == "lottery")
    metrics = store.path(run_id) / "metrics.jsonl"
    lines = metrics.read_text().splitlines()
    ticket = [line for line in lines if json.loads(line)["arm"] == "ticket"]
    reinit = [line for line in lines if json.loads(line)["arm"] == "reinit"]
    metrics.write_text("\n".join(ticket) + "\n")
    done = store.raw_status(run_id)
    store.update_status(run_id, state="running", pid=os.getpid(), pid_start=None, ended=None, started=time.time())
    store.write_heartbeat(run_id, {"evaluations": len(ticket)})
    (store.path(run_id) / "results.json").rename(tmp_path / "results.json")
    at = open_page("pages/runs.py", monkeypatch, store.root)
    at.selectbox(key="selected-run").set_value(run_id).run()
    arms = next(m for m in at.multiselect if m.label == "Arms")
    assert arms.options == ["ticket"] and [b.label for b in at.button][:1] == ["Cancel"]
    with open(metrics, "a") as f:
        f.write("\n".join(reinit) + "\n")
    at.run()
    arms = next(m for m in at.multiselect if m.label == "Arms")
    assert arms.options == ["reinit", "ticket"] and arms.value == ["reinit", "ticket"]
    (tmp_path / "results.json").rename(store.path(run_id) / "results.json")
    store.write_status(run_id, {**done, "state": "done"})
    at.run()
    assert not at.exception
    assert "Cancel" not in [b.label for b in at.button]
    assert any(m.value.startswith("**State:** done") for m in at.markdown)  # the page follows the run's state
    assert at.query_params["run"] == [run_id] or at.query_params["run"] == run_id  # a reload opens the same run


def test_compare_labels_are_words_with_a_hash_only_where_needed(tmp_path):
    from lth.hparams import RunConfig, run_id

    store = RunStore(tmp_path)
    record = {
        "arm": "dense",
        "round": 0,
        "density": 1.0,
        "early_stop_iteration": 500,
        "final_iteration": 500,
        "early_stop_test_accuracy": 0.9,
        "final_test_accuracy": 0.9,
        "layer_density": {},
    }
    configs = [RunConfig(model="lenet5", iterations=500, lr=lr) for lr in (1e-3, 2e-3)]
    configs.append(RunConfig(dataset="fashion-mnist", epochs=2.5))
    for config in configs:  # finished runs as a worker leaves them
        rid = run_id(config, "0123456789abcdef")
        store.create(rid, config, data_dir=None, fingerprint="0123456789abcdef", planned_evaluations=1)
        store.update_status(rid, state="done", started=1.0, ended=2.0)
        store.write_results(
            rid,
            {
                "config": config.canonical(),
                "device": {"name": "CPU"},
                "seconds": 1.0,
                "results": [record],
                "run_id": rid,
            },
        )
    labels = sorted(run_tables.results_frame(store)["label"])
    assert labels[0] == "baseline lenet300_100 fashion-mnist 2.5 epochs"  # words, no hash, no "itNone"
    assert all(label.startswith("baseline lenet5 mnist-sample it500 [") for label in labels[1:])
    assert labels[1] != labels[2]


def test_form_survives_navigation_and_a_link_reopens_it(monkeypatch, tmp_path):
    at = open_page("pages/lottery.py", monkeypatch, tmp_path)
    at.number_input(key="lottery-iterations").set_value(700).run()
    at.slider(key="lottery-rounds").set_value(4).run()
    at.multiselect(key="lottery-controls").set_value(["reinit", "random_prune"]).run()
    assert at.query_params["lottery-iterations"] == "700" and at.query_params["lottery-rounds"] == "4"
    at.switch_page("pages/runs.py").run()
    at.switch_page("pages/lottery.py").run()
    assert at.number_input(key="lottery-iterations").value == 700 and at.slider(key="lottery-rounds").value == 4
    assert at.multiselect(key="lottery-controls").value == ["reinit", "random_prune"]
    # a shared link (a new session): the URL's settings, and a value that does not fit is refused visibly
    monkeypatch.setenv("LTH_CACHE_DIR", str(tmp_path))
    link = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    link.query_params.update({"lottery-iterations": "900", "lottery-rounds": "6", "lottery-lr": "abc"})
    link.run()
    link.switch_page("pages/lottery.py").run()
    assert link.number_input(key="lottery-iterations").value == 900 and link.slider(key="lottery-rounds").value == 6
    assert any("does not fit" in w.value for w in link.warning)
    # "run the next seed": it says which seed(s) and how many runs before it starts them; one click starts the
    # next seed, everything else kept
    assert link.button(key="lottery-next-seed").label == "Run the next seed (1)"
    link.slider(key="lottery-nseeds").set_value(3).run()
    assert link.button(key="lottery-next-seed").label == "Run the next 3 seeds (3-5): 3 runs"
    link.slider(key="lottery-nseeds").set_value(1).run()
    link.button(key="lottery-next-seed").click().run()
    assert link.number_input(key="lottery-seed").value == 1 and link.number_input(key="lottery-iterations").value == 900
    store = RunStore(tmp_path)
    try:
        (run_id,) = store.run_ids()
        assert store.config(run_id).seed == 1 and store.config(run_id).iterations == 900
    finally:
        from lth import runs

        for run_id in store.run_ids():
            if store.status(run_id)["state"] in runs.ACTIVE:
                runs.cancel(run_id, store)


def test_typed_out_of_range_value_is_refused_visibly(monkeypatch, tmp_path):
    at = open_page("pages/baseline.py", monkeypatch, tmp_path)
    for value, message in (
        (0, "“Iterations” must be at least 1"),
        (-5, "“Iterations” must be at least 1"),
        (20_000_000, "“Iterations” must be at most 10,000,000"),
    ):
        at.number_input(key="baseline-iterations").set_value(value).run()
        from dashboard.text import plain  # a message quoting values is shown as text

        assert any(plain(message) in e.value for e in at.error) and at.button(key="baseline-start").disabled, (
            value,
            [e.value for e in at.error],
        )
    assert not at.exception


@pytest.mark.trains
def test_compare_page_shows_statistics_over_seeds_and_the_verdict(monkeypatch, filled_store):
    from lth import statistics

    at = open_page("pages/compare.py", monkeypatch, filled_store.root)
    assert any("winning ticket" in c.value for c in at.caption)
    tables = [t.value for t in at.dataframe]
    verdicts = next(t for t in tables if "winning ticket" in t.columns)  # headers in words, not snake_case
    assert sorted(verdicts["density %"]) == [64.06, 80.04] and set(verdicts["seeds"]) == {2}
    assert set(verdicts["winning ticket"]) <= {"held", "not held", "undetermined"} and "accuracy 95% CI low" in verdicts
    assert (
        all(v.split(":")[0] in ("held", "not held", "undetermined") for v in verdicts["verdict"])
        and "margin" in verdicts
    )
    comparison = next(
        t.value for t in open_view(at, "Ticket against controls").dataframe if "against" in t.value.columns
    )
    assert set(comparison["against"]) == {"dense", "reinit", "random_prune"}
    expected = statistics.comparisons(run_tables.results_frame(filled_store), "early_stop_test_accuracy")
    assert comparison["p-value"].tolist() == pytest.approx(expected["p_value"].round(4).tolist(), nan_ok=True)
    figure = chart_figure(at.get("plotly_chart")[0])
    stars = [t for t in figure["data"] if t.get("name", "").startswith("winning ticket")]
    assert len(stars) == len(set(verdicts["star"]) - {"none"})


@pytest.mark.trains
def test_runs_page_reports_compression_and_exports_a_model_file(monkeypatch, filled_store):
    at = open_page("pages/runs.py", monkeypatch, filled_store.root)
    run_id = next(r for r in filled_store.run_ids() if filled_store.config_and_record(r)[1].experiment == "lottery")
    at.selectbox(key="selected-run").set_value(run_id).run()
    assert not any("compression ratio" in t.value.columns for t in at.dataframe)  # drawn when opened
    at.session_state[f"trained-{run_id}"] = True  # the section opened, as a click on it does
    at.run()
    report = next(t.value for t in at.dataframe if "compression ratio" in t.value.columns)
    assert len(report) == 7 and (report["nonzero params"] <= report["params"]).all()
    results = next(t.value for t in at.dataframe if "pruned weights ≠ 0" in t.value.columns)
    assert (results["pruned weights ≠ 0"] == 0).all()
    assert any("tensorboard --logdir" in c.value for c in at.code)
    at.selectbox(key=f"export-net-{run_id}").set_value(("ticket", 2))
    at.selectbox(key=f"export-format-{run_id}").set_value("tflite")
    at.button(key=f"export-go-{run_id}").click().run(timeout=300)
    assert not at.exception and not at.error, [e.value for e in at.error]
    download = at.get("download_button")
    assert any(f"{run_id}_ticket_round02.tflite" in d.proto.label for d in download)
    at.selectbox(key=f"export-format-{run_id}").set_value("h5").run()  # another format: that file is not offered
    assert not any(".tflite" in d.proto.label for d in at.get("download_button"))


@pytest.mark.trains
def test_analysis_page_draws_the_kept_mask(monkeypatch, filled_store):
    from lth import analysis

    at = open_page("pages/analysis.py", monkeypatch, filled_store.root)
    run_id = at.selectbox(key="analysis-run").value
    assert at.selectbox(key=f"analysis-arm-{run_id}").value == "ticket"
    charts = [chart_figure(c) for c in at.get("plotly_chart")]
    heatmap = next(c for c in charts if c["data"][0]["type"] == "heatmap")
    expected = analysis.input_map(kept_networks.network(filled_store, run_id, "ticket", 2).masks["fc1"])[::-1]
    assert np.array(heatmap["data"][0]["z"]).tolist() == expected.tolist()
    # scaled to what the mask holds (0 to its most-kept pixel), the fan-out said in the title
    assert (heatmap["data"][0]["zmin"], heatmap["data"][0]["zmax"]) == (0, max(1, int(expected.max())))
    assert "of 300)" in heatmap["layout"]["title"]["text"]
    assert [t.label for t in at.tabs] == ["Mask", "Per-layer density", "Weights", "Overlap", "Data"]
    assert len(charts) == 1  # only the open view is drawn
    at.session_state["analysis-view"] = "Weights"
    at.run()
    titles = [chart_figure(c)["layout"]["title"]["text"] for c in at.get("plotly_chart")]
    assert any(t.startswith("initial weights (theta0)") for t in titles)
    assert any(t.startswith("|trained weights|") for t in titles)
    at.session_state["analysis-view"] = "Overlap"
    at.run()
    overlap = next(t.value for t in at.dataframe if "against round" in t.value.columns)
    assert overlap["overall"].tolist() == [1.0]  # iterative magnitude pruning nests its masks
    # the round chosen stays when the arm changes (the controls have it too)
    at.select_slider(key=f"analysis-round-{run_id}").set_value(1).run()
    at.selectbox(key=f"analysis-arm-{run_id}").set_value("reinit").run()
    assert at.select_slider(key=f"analysis-round-{run_id}").value == 1 and not at.exception


@pytest.mark.trains
def test_no_page_imports_tensorflow_whatever_it_shows(filled_store):
    """Every module the UI may import, then every page rendered over a real store (the Runs page on a finished
    lottery run with its trained networks), in a fresh process: TensorFlow, tf_keras and Ray never get
    imported (pages render fast; training runs elsewhere)."""
    import subprocess
    import sys

    lottery = next(r for r in filled_store.run_ids() if filled_store.config_and_record(r)[1].experiment == "lottery")
    code = f"""
import os, sys
os.environ["LTH_CACHE_DIR"] = {str(filled_store.root)!r}
# every module the UI may reach, then every page
import dashboard.common, dashboard.forms, dashboard.experiment_page, dashboard.trained, lth.runs, lth.runs.store
import lth.runs.queue, lth.runs.tables, lth.runs.tensorboard, lth.figures, lth.export, lth.presets, lth.hparams
import lth.data, lth.device, lth.cli, lth.analysis, lth.statistics, lth.networks, lth.instability, lth.criteria
from streamlit.testing.v1 import AppTest
for page in {PAGES!r}:
    at = AppTest.from_file("app.py", default_timeout=120)
    at.run()
    at.switch_page(page)
    at.run()
    if page == "pages/runs.py":
        at.selectbox(key="selected-run").set_value({lottery!r}).run()
    if page == "pages/lottery.py":
        at.selectbox(key="lottery-dataset").set_value("mnist").run()
    assert not at.exception, (page, [e.value for e in at.exception])
bad = [m for m in ("tensorflow", "tf_keras", "ray") if m in sys.modules]
print(bad)
sys.exit(bool(bad))
"""
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]


@pytest.mark.trains
def test_a_run_cancelled_elsewhere_while_selected_offers_resume(monkeypatch, tmp_path, filled_store):
    """Cancelled from another tab or the CLI while this page shows it running: the next refresh shows it
    cancelled and offers Resume and Delete instead of Cancel."""
    import os
    import shutil

    shutil.copytree(filled_store.root, tmp_path / "store")
    store = RunStore(tmp_path / "store")
    run_id = next(r for r in store.run_ids() if store.config(r).experiment == "lottery")
    store.update_status(run_id, state="running", pid=os.getpid(), pid_start=None, ended=None, started=time.time())
    store.write_heartbeat(run_id, {"evaluations": 3})
    (store.path(run_id) / "results.json").unlink()
    at = open_page("pages/runs.py", monkeypatch, store.root)
    at.selectbox(key="selected-run").set_value(run_id).run()
    assert [b.label for b in at.button][:1] == ["Cancel"]
    store.update_status(run_id, state="cancelled", ended=time.time(), error="cancelled by the user", pid=None)
    at.run()  # what the fragment's timer does
    assert not at.exception
    labels = [b.label for b in at.button]
    assert "Cancel" not in labels and "Resume on this machine" in labels and "Delete…" in labels
    assert any(m.value.startswith("**State:** cancelled") for m in at.markdown)


@pytest.mark.parametrize("page", FORM_PAGES)
def test_every_url_a_form_writes_reads_back_unchanged(page, monkeypatch, tmp_path):
    """Every field set to a value other than its default, then the page's URL opened in a new session:
    every field comes back as it was (whole numbers stay whole: seed=7, never 7.0)."""
    at = open_page(page, monkeypatch, tmp_path)
    kinds = ("number_input", "slider", "select_slider", "selectbox", "multiselect", "radio")

    def widgets():
        return {w.key: (kind, w) for kind in kinds for w in getattr(at, kind) if w.key and w.key in at.query_params}

    for key in list(widgets()):
        current = widgets().get(key)
        if current is None:  # hidden by an earlier change (iterations when epochs are chosen)
            continue
        kind, w = current
        from dashboard import forms
        from lth import models

        def shows(v, w=w):
            try:
                return str(w.format_func(v))
            except (TypeError, ValueError, KeyError):
                return None

        # options are shown formatted; the underlying values are found among the forms' own choices
        from lth import criteria, hparams

        candidates = (
            list(getattr(w, "options", []))
            + forms.DENSITIES
            + forms.LEARNING_RATES
            + forms.BATCH_SIZES
            + forms.ONESHOT_DENSITIES
            + list(criteria.NAMES)
            + list(hparams.CONTROLS)
            + [n for m in models.MODELS.values() for n in m.layer_names]
        )
        if kind == "number_input":
            w.set_value(w.value + (1 if isinstance(w.value, int) else 0.5)).run()
        elif kind == "slider":
            w.set_value(w.value + w.step if w.value + w.step <= w.max else w.value - w.step).run()
        elif kind == "multiselect":
            extra = [v for v in candidates if shows(v) in w.options and v not in w.value][:1]
            w.set_value(list(w.value) + extra if extra else list(w.value)[:-1]).run()
        elif kind == "selectbox":
            if len(w.options) > 1:
                w.select_index((w.index + 1) % len(w.options)).run()
        else:  # radio, select_slider
            other = next((v for v in candidates if shows(v) in w.options and shows(v) != shows(w.value)), None)
            if other is not None:
                w.set_value(other).run()
    assert not at.exception
    written = {k: v for k, v in at.query_params.items()}
    values = {key: w.value for key, (_, w) in widgets().items()}
    assert not any(
        isinstance(v, float) and v.is_integer() and "." in str(written.get(k, ""))
        for k, v in values.items()
        if isinstance(v, int)
    ), written
    link = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    link.query_params.update({k: (v[0] if isinstance(v, list) else v) for k, v in written.items()})
    link.run()
    link.switch_page(page).run()
    assert not link.warning or not any("does not fit" in w.value for w in link.warning), [w.value for w in link.warning]
    back = {w.key: w.value for kind in kinds for w in getattr(link, kind) if w.key in values}
    assert back == values


# ---- a store written from records (nothing trains): names, whole numbers, seed counts, what is missing ----------
@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    """Finished runs written as workers leave them (lth.bench_browser.synthetic_store, 3 seeds a series)."""
    from lth.bench_browser import synthetic_store

    root = tmp_path_factory.mktemp("synthetic") / "store"
    synthetic_store(root, seeds=3)
    return root


def copy_store(root, tmp_path):
    import shutil

    return RunStore(shutil.copytree(root, tmp_path / "store"))


def test_compare_legend_hover_and_ticks_carry_seed_counts(monkeypatch, synthetic):
    at = open_page("pages/compare.py", monkeypatch, synthetic)
    figure = chart_figure(at.get("plotly_chart")[0])
    lines = [t for t in figure["data"] if t.get("mode") in ("lines", "lines+markers") and "fill" not in t]
    assert lines and all(t["name"].endswith(" · n=3") for t in lines)  # every series says how many seeds
    assert all("n=" in t["hovertemplate"] or "seeds" in t["hovertemplate"] for t in lines)
    crosses = [t for t in figure["data"] if t.get("legendgroup") == "layer collapse"]
    assert crosses and all(t["marker"]["color"] not in ("#000", "#000000", "black") for t in crosses)
    assert all("of n=" in t["hovertemplate"] for t in crosses)
    stars = [t for t in figure["data"] if t.get("name", "").startswith("winning ticket")]
    assert all("n=%{customdata[4]}" in t["hovertemplate"] and "interval" in t["hovertemplate"] for t in stars)
    ticks = figure["layout"]["xaxis"]["ticktext"]
    plotted = {f"{x:.3g}%" for t in figure["data"] if t.get("mode") == "lines+markers" for x in t["x"]}
    assert "3.6%" in ticks and set(ticks) <= plotted  # ticks name plotted densities, no "3.5%" beside 3.6
    assert any("n=3" in c.value for c in at.caption)


def test_compare_says_which_run_would_make_a_missing_table(monkeypatch, synthetic):
    at = open_page("pages/compare.py", monkeypatch, synthetic)
    at.multiselect(key="f-experiment").set_value(["oneshot"]).run()
    assert not at.exception
    assert "No lottery run is in these filters" in " ".join(i.value for i in at.info)
    for table in at.dataframe:  # no empty table under raw column names
        assert not (table.value.empty and "density_pct" in table.value.columns)
    open_view(at, "Pruning methods")
    assert "No IMP ticket to compare" in " ".join(i.value for i in at.info)
    for table in at.dataframe:  # no empty table under raw column names
        assert not (table.value.empty and "density_pct" in table.value.columns)
    assert at.query_params["f-experiment"] in ("oneshot", ["oneshot"])


def test_claims_page_judges_the_store_and_draws_a_claims_evidence_when_opened(monkeypatch, synthetic):
    from lth import claims

    at = open_page("pages/claims.py", monkeypatch, synthetic)
    expected = claims.table(claims.evaluate(*claims.from_store(RunStore(synthetic))))
    shown = at.dataframe[0].value
    assert shown["verdict"].tolist() == expected["verdict"].tolist() and len(at.dataframe) == 1  # evidence: closed
    assert [m.value for m in at.metric] == [str(int((expected["verdict"] == v).sum())) for v in claims.VERDICTS]
    judged = next(i for i, row in expected.iterrows() if row["verdict"] != claims.NOT_CHECKED)
    at.session_state[f"claim-{expected.loc[judged, 'claim']}-{expected.loc[judged, 'series']}"] = True
    at.run()
    assert not at.exception and len(at.dataframe) == 2
    evidence = at.dataframe[1].value
    assert "question" in evidence.columns and len(evidence) >= 1


def test_every_compare_view_draws_its_own_content_and_one_a_filter_empties_says_why(monkeypatch, synthetic):
    at = open_page("pages/compare.py", monkeypatch, synthetic)
    views = [t.label for t in at.tabs]
    assert views == [
        "Verdicts",
        "Ticket against controls",
        "Pruning methods",
        "Head to head",
        "Early stop",
        "Compression",
        "Per series",
        "Per-layer density",
        "Data",
        "Report",
    ]
    drawn = {}
    for view in views:
        open_view(at, view)
        drawn[view] = (len(at.get("plotly_chart")), len(at.dataframe), len(at.get("download_button")))
    assert (
        drawn["Verdicts"][:2] == (1, 1)
        and drawn["Ticket against controls"][:2] == (1, 1)
        and drawn["Early stop"][:2] == (2, 0)
        and drawn["Data"][:2] == (1, 2)
    )
    assert drawn["Pruning methods"][0] == 2 and drawn["Head to head"][1] == 1 and drawn["Per series"][1] == 1
    assert drawn["Report"][2] == 4 + 2  # the accuracy figure's four, the report's two
    every = next(
        t.value for t in open_view(at, "Data").dataframe if "run_id" in t.value.columns or "run id" in t.value.columns
    )
    assert len(every) == len(run_tables.results_frame(RunStore(synthetic)))
    open_view(at, "Pruning methods")
    at.multiselect(key="f-experiment").set_value(["lottery"]).run()  # no one-shot run left: no such view
    assert not at.exception and at.session_state["compare-view"] == "Pruning methods"  # the view stays open
    assert "No one-shot run in these filters" in " ".join(i.value for i in at.info)  # and says why it is empty


@pytest.mark.trains  # the queued runs start a worker (cancelled at once)
def test_compare_offers_to_queue_the_run_that_would_make_a_missing_comparison(monkeypatch, synthetic, tmp_path):
    """Where a one-shot series has no IMP ticket to pair with, the page offers the lottery runs that would make
    it, saying how many (and which seeds and rounds) before it starts them; one click queues exactly those."""
    from lth import runs

    store = copy_store(synthetic, tmp_path)
    at = open_page("pages/compare.py", monkeypatch, store.root)
    at.multiselect(key="f-experiment").set_value(["oneshot"]).run()
    open_view(at, "Pruning methods")
    offers = [b for b in at.button if b.key and b.key.startswith("queue-imp-")]
    assert offers, [b.label for b in at.button]
    offer = offers[0]
    match = re.match(r"Queue the (\d+) lottery runs \(seeds ([\d, ]+), (\d+) rounds\)", offer.label)
    assert match, offer.label
    count, seeds, rounds = int(match[1]), [int(v) for v in match[2].split(", ")], int(match[3])
    before = set(store.run_ids())
    offer.click().run()
    queued = sorted(set(store.run_ids()) - before)
    try:
        assert len(queued) == count and not at.exception
        configs = [store.config(r) for r in queued]
        assert sorted(c.seed for c in configs) == seeds
        assert {(c.experiment, c.rounds) for c in configs} == {("lottery", rounds)}
    finally:
        for run_id in queued:
            if store.status(run_id)["state"] in runs.ACTIVE:
                runs.cancel(run_id, store)


def test_compare_url_keeps_the_intent_all_seeds_or_chosen(monkeypatch, synthetic, tmp_path):
    from lth.bench_browser import synthetic_configs, write_finished_run

    store = copy_store(synthetic, tmp_path)
    monkeypatch.setenv("LTH_CACHE_DIR", str(store.root))

    def session(seeds: str) -> AppTest:
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
        at.query_params["f-seed"] = seeds
        at.run()
        at.switch_page("pages/compare.py").run()
        assert not at.exception
        return at

    everything, chosen = session("all"), session("0,1")
    assert everything.multiselect(key="f-seed").value == [0, 1, 2]
    assert chosen.multiselect(key="f-seed").value == [0, 1]
    assert any("Seed 2 is in the store but not chosen" in c.value for c in chosen.caption)
    newer = next(c for c in synthetic_configs(4) if c.seed == 3 and c.experiment == "baseline")
    write_finished_run(store, newer, 99)
    everything.run()
    chosen.run()
    assert everything.multiselect(key="f-seed").value == [0, 1, 2, 3]  # "all" takes the newer seed
    assert everything.query_params["f-seed"] in ("all", ["all"])
    assert chosen.multiselect(key="f-seed").value == [0, 1]
    assert any("Seeds 2, 3 are in the store but not chosen" in c.value for c in chosen.caption)  # never silent


def test_whole_numbers_and_one_type_per_column(synthetic, tmp_path):
    import pandas as pd
    import pyarrow as pa

    from dashboard.common import readable

    store = copy_store(synthetic, tmp_path)
    run_id = store.run_ids()[0]
    store.update_status(run_id, pid=24849)
    runs = run_tables.runs_frame(store)
    assert str(runs["pid"].dtype) == "Int64" and runs.set_index("run_id").loc[run_id, "pid"] == 24849
    assert "24849.0" not in runs.to_string()
    mixed = pd.DataFrame(
        {"stopped_early": [True, None, False], "note": [1, "x", None], "early_stop_iteration": [100.0, None, 300.0]}
    )
    shown = readable(mixed)
    pa.Table.from_pandas(shown)  # what st.dataframe does: no conversion error (a traceback in the server's log)
    assert str(shown["stopped early"].dtype) == "boolean" and shown["early-stop iteration"].tolist()[0] == 100
    assert shown["note"].tolist() == ["1", "x", "—"]


def test_oneshot_runs_are_named_by_density(monkeypatch, synthetic, tmp_path):
    import json

    from dashboard.common import network_file_part, network_words, results_table

    store = copy_store(synthetic, tmp_path)
    run_id = next(r for r in store.run_ids() if store.config(r).experiment == "oneshot")
    config = store.config(run_id)
    assert network_words(config, "synflow", 2) == "synflow at 3.6% density"
    assert network_file_part(config, "synflow", 2) == "synflow_density3.6pct"
    assert (
        network_words(
            store.config(next(r for r in store.run_ids() if store.config(r).experiment == "lottery")), "ticket", 3
        )
        == "ticket round 3"
    )
    assert "round" not in results_table(store.results(run_id)).columns
    lines = [
        {
            "arm": "synflow",
            "round": r,
            "density": d,
            "iteration": 100,
            "total_iterations": 3000,
            "train_loss": 1.0,
            "train_accuracy": 0.5,
            "val_loss": 1.0,
            "val_accuracy": 0.5,
            "test_loss": None,
            "test_accuracy": None,
            "elapsed": 1.0,
        }
        for r, d in ((1, 0.211), (2, 0.036))
    ]
    (store.path(run_id) / "metrics.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    at = open_page("pages/runs.py", monkeypatch, store.root)
    at.selectbox(key="selected-run").set_value(run_id).run()
    assert not at.exception
    caption = next(c.value for c in at.caption if "evaluations" in c.value)
    assert "3.6% density" in caption and "round" not in caption
    assert at.select_slider(key=f"rounds-{run_id}").label == "Densities"
    figure = chart_figure(at.get("plotly_chart")[0])
    assert not any(" r1 " in t.get("name", "") or " r2 " in t.get("name", "") for t in figure["data"])
    assert "round" not in " ".join(str(c) for t in at.dataframe for c in t.value.columns)


def test_an_emptied_layer_has_no_overlap_and_sparse_masks_are_scaled():
    from lth import analysis

    full, empty = np.ones((4, 3)), np.zeros((4, 3))
    result = analysis.overlap({"fc1": full, "fc2": empty}, {"fc1": full, "fc2": full})
    assert result["fc1"] == 1.0 and np.isnan(result["fc2"])  # undefined, not 0
    assert analysis.overlap({"fc1": empty}, {"fc1": full})["overall"] != 0


def test_compare_keeps_the_open_view_and_all_series_through_a_filter_that_empties_them(monkeypatch, synthetic):
    """Found by a first-user walk: clearing Experiment left Series empty for good once experiments were chosen
    again, and a filter that removed a view's content sent the page back to its first view."""
    at = open_page("pages/compare.py", monkeypatch, synthetic)
    every_series = at.multiselect(key="f-series").value
    open_view(at, "Early stop")
    at.multiselect(key="f-experiment").set_value([]).run()
    assert not at.exception and any("No runs match" in w.value for w in at.warning)
    at.multiselect(key="f-experiment").set_value(["oneshot"]).run()
    assert at.session_state["compare-view"] == "Early stop" and len(at.get("plotly_chart")) == 2
    at.multiselect(key="f-experiment").set_value(sorted(at.multiselect(key="f-experiment").options)).run()
    assert at.multiselect(key="f-series").value == every_series  # "all" was the intent: all again
    assert at.query_params["f-series"] in ("all", ["all"])
    # one chosen by the user stays chosen
    at.multiselect(key="f-series").set_value(every_series[:1]).run()
    at.multiselect(key="f-seed").set_value([0]).run()
    assert at.multiselect(key="f-series").value == every_series[:1]
    figure = chart_figure(open_view(at, "Verdicts").get("plotly_chart")[0])
    assert figure["layout"]["legend"].get("orientation") != "h"  # few names: beside the plot
    at.multiselect(key="f-series").set_value(every_series).run()
    figure = chart_figure(at.get("plotly_chart")[0])
    named = [t for t in figure["data"] if t.get("name") and t.get("showlegend", True) is not False]
    assert len(named) > figures.LEGEND_BESIDE and figure["layout"]["legend"]["orientation"] == "h"  # below
