"""Instability analysis: the interpolation and barrier by hand, and a real run on the bundled sample with
the ticket masks of a real lottery run."""

import json
import shutil

import numpy as np
import pytest

from conftest import run_cli
from lth import instability
from lth.runs import RunStore
from lth.runs import logs as run_logs
from lth.runs import tables as run_tables


def test_interpolation_of_two_known_weight_sets_and_the_barrier_by_hand():
    a = [np.array([1.0, 0.0, 2.0], np.float32), np.array([[4.0]], np.float32)]
    b = [np.array([3.0, 0.0, -2.0], np.float32), np.array([[0.0]], np.float32)]
    mid = instability.interpolate(a, b, 0.25)
    np.testing.assert_array_equal(mid[0], [1.5, 0.0, 1.0])  # 0.75 * a + 0.25 * b; the pruned 0 stays 0
    np.testing.assert_array_equal(mid[1], [[3.0]])
    assert mid[0].dtype == np.float32
    assert [w.tolist() for w in instability.interpolate(a, b, 0.0)] == [w.tolist() for w in a]
    assert instability.barrier([0.10, 0.30, 0.12]) == pytest.approx(0.30 - 0.11)
    assert instability.barrier([0.10, 0.09, 0.10]) == pytest.approx(0.0)  # the ends are the highest: no barrier
    assert instability.is_stable(0.0199) and not instability.is_stable(0.02)
    assert len(instability.ALPHAS) == 21 and instability.ALPHAS[1] == 0.05


@pytest.fixture(scope="module")
def store_with_instability(filled_store, tmp_path_factory):
    root = tmp_path_factory.mktemp("instability") / "store"
    shutil.copytree(filled_store.root, root, symlinks=True)
    store = RunStore(root)
    lottery = next(
        r
        for r in store.run_ids()
        if store.config_and_record(r)[1].experiment == "lottery" and store.config_and_record(r)[1].seed == 0
    )
    result = run_cli(
        "run",
        "--experiment",
        "instability",
        "--iterations",
        "60",
        "--eval-every",
        "30",
        "--rewind-points",
        "0,30",
        "--ticket-run",
        lottery,
        "--ticket-rounds",
        "2",
        "--cache-dir",
        str(root),
    )
    assert result.returncode == 0, result.stderr
    return store, lottery, json.loads(result.stdout.splitlines()[-1])


@pytest.mark.trains
def test_an_instability_run_measures_both_networks_at_each_k(store_with_instability):
    store, lottery, summary = store_with_instability
    records = summary["results"]
    ticket_density = next(
        r["density"] for r in store.results(lottery)["results"] if r["arm"] == "ticket" and r["round"] == 2
    )
    assert [(r["rewind_iteration"], r["arm"], r["round"]) for r in records] == [
        (0, "dense", 0),
        (0, "ticket", 2),
        (30, "dense", 0),
        (30, "ticket", 2),
    ]
    metrics = run_logs.metrics_records(store, summary["run_id"])
    for r in records:
        assert r["density"] == (1.0 if r["arm"] == "dense" else ticket_density)
        assert r["alphas"] == list(instability.ALPHAS) and len(r["test_errors"]) == 21
        assert r["barrier"] == pytest.approx(max(r["test_errors"]) - (r["test_errors"][0] + r["test_errors"][-1]) / 2)
        assert r["stable"] == (r["barrier"] < 0.02)
        # the line's ends are the two copies: their own last evaluation measured the same test accuracy
        for copy, accuracy in zip((1, 2), r["copy_test_accuracy"]):
            last = [
                m
                for m in metrics
                if m.get("rewind") == r["rewind_iteration"] and m.get("copy") == copy and m["round"] == r["round"]
            ][-1]
            assert last["iteration"] == 60 - r["rewind_iteration"] and last["test_accuracy"] == accuracy
        assert r["copy_test_accuracy"][0] == pytest.approx(1 - r["test_errors"][0])
    # the two copies of one pair saw different data orders: they end apart
    assert (
        records[0]["copy_test_accuracy"][0] != records[0]["copy_test_accuracy"][1]
        or records[0]["test_errors"][10] != records[0]["test_errors"][0]
    )


@pytest.mark.trains
def test_instability_runs_are_listed_and_kept_out_of_accuracy_comparisons(store_with_instability):
    store, _, summary = store_with_instability
    runs = run_tables.runs_frame(store).set_index("run_id")
    assert runs.loc[summary["run_id"], "experiment"] == "instability" and runs.loc[summary["run_id"], "state"] == "done"
    assert summary["run_id"] not in set(run_tables.results_frame(store)["run_id"])
    frame = run_tables.instability_frame(store)
    assert len(frame) == 4 and set(frame["rewind_iteration"]) == {0, 30}
    from lth import figures

    assert len(figures.instability_error_curves(frame).data) == 4
    assert len(figures.instability_barrier_vs_k(frame).data) == 2  # dense and the ticket
    assert len(figures.instability_barrier_vs_density(frame, [0, 30]).data) == 2


@pytest.mark.parametrize(
    "args, message",
    [
        (["--seed", "1"], "another model, seed or data set"),
        (["--ticket-rounds", "7"], "keeps no network for ticket round 7"),
        (["--ticket-run", "0123456789abcdef"], "no such run"),
        (["--rewind-points", "0,60"], "must be below the 60 training iterations"),
    ],
)
@pytest.mark.trains
def test_an_impossible_ticket_source_is_one_line_and_queues_nothing(store_with_instability, args, message):
    store, lottery, _ = store_with_instability
    before = store.run_ids()
    base = {"--ticket-run": lottery, "--ticket-rounds": "2", "--seed": "0", "--rewind-points": "0"}
    for flag, value in zip(args[::2], args[1::2]):
        base[flag] = value
    result = run_cli(
        "submit",
        "--experiment",
        "instability",
        "--iterations",
        "60",
        "--eval-every",
        "30",
        *[x for kv in base.items() for x in kv],
        "--cache-dir",
        str(store.root),
    )
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert store.run_ids() == before


@pytest.mark.trains
def test_instability_page_draws_the_three_figures(monkeypatch, store_with_instability):
    from streamlit.testing.v1 import AppTest

    from conftest import ROOT

    store, _, _ = store_with_instability
    monkeypatch.setenv("LTH_CACHE_DIR", str(store.root))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    at.switch_page("pages/instability.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    titles = [c.proto.spec for c in at.get("plotly_chart")]
    assert len(titles) == 3 and "error barrier against density" in titles[2]
    # the form offers the lottery run's ticket rounds
    assert at.selectbox(key="instability-source").options[1:]
