"""The fourth hostile pass (issue 27), the classes about what leaves the store and what is read back: exports
write only new files and never through a link; a kept network or theta0 is checked against the sha256 its
record carries by every reader, and a damaged done run is repaired by `resume`; results that contradict
themselves are corrupt; URL values outside a widget's range are dropped with a note; text from store files
is shown as text. Each class with cases beyond the reported ones."""

import json
import math
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from conftest import APP_PAGES, ROOT, cli_in_process
from lth import networks, paths
from lth.fsutil import OutputError, write_new_file, write_new_files
from lth.hparams import RunConfig
from lth.runs import RunState, RunStore
from lth.runs import kept as kept_networks
from lth.runs import tables as run_tables
from test_trust import finished_run


# ---- 1. exports: only new regular files, never through a link -------------------------------------------
def planted(folder: Path, victim: Path) -> dict[str, Path]:
    """An export folder holding, under names an export writes: a link to a file elsewhere, a dangling link
    into another folder, a link to a folder and a plain file of someone else's."""
    folder.mkdir(parents=True)
    victim.write_text("precious")
    elsewhere = victim.parent / "elsewhere"
    elsewhere.mkdir()
    (folder / "a.csv").symlink_to(victim)
    (folder / "b.csv").symlink_to(elsewhere / "created-through-link.csv")
    (folder / "c.csv").symlink_to(elsewhere)
    (folder / "d.csv").write_text("mine")
    return {
        "link": folder / "a.csv",
        "dangling": folder / "b.csv",
        "dir_link": folder / "c.csv",
        "file": folder / "d.csv",
    }


@pytest.mark.parametrize("name", ["a.csv", "b.csv", "c.csv", "d.csv"])
def test_an_export_never_writes_over_or_through_what_is_there(tmp_path, name):
    victim = tmp_path / "victim.txt"
    planted(tmp_path / "out", victim)
    with pytest.raises(OutputError, match=f"already holds {name}"):
        write_new_files(tmp_path / "out", {"fresh.csv": b"new", name: b"evil"})
    assert victim.read_text() == "precious" and (tmp_path / "out" / "d.csv").read_text() == "mine"
    assert not (tmp_path / "elsewhere" / "created-through-link.csv").exists()
    assert list((tmp_path / "elsewhere").iterdir()) == []
    assert not (tmp_path / "out" / "fresh.csv").exists()  # checked before anything was written


def test_an_export_folder_that_is_a_link_or_a_file_is_refused(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    with pytest.raises(OutputError, match="symbolic link"):
        write_new_files(tmp_path / "link", {"x.csv": b"1"})
    assert list((tmp_path / "real").iterdir()) == []
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="not a folder"):
        write_new_files(tmp_path / "file", {"x.csv": b"1"})
    written = write_new_files(tmp_path / "new" / "deeper", {"x.csv": b"1", "y.md": b"2"})  # made here
    assert [p.read_bytes() for p in written] == [b"1", b"2"]
    assert oct(os.stat(written[0]).st_mode & 0o777) == "0o644"
    with pytest.raises(OutputError, match="exists"):  # one file: the same rule
        write_new_file(tmp_path / "new" / "deeper" / "x.csv", b"again")
    with pytest.raises(ValueError):
        write_new_files(tmp_path / "new", {"../escape.csv": b"1"})


@pytest.mark.trains
def test_compare_analyze_and_preset_exports_refuse_planted_links(store, tmp_path, capsys):
    from lth import presets

    rid = finished_run(store, RunConfig(experiment="lottery", rounds=1, iterations=60, seed=3), kept=[("ticket", 1)])
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    for command, argv, output in (
        ("compare", ["compare"], "comparisons.csv"),
        ("analyze", ["analyze", rid, "--arm", "ticket", "--round", "1"], f"{rid}_ticket_r01_mask_heatmap.csv"),
    ):
        out = tmp_path / f"out-{command}"
        out.mkdir()
        (out / output).symlink_to(victim)
        code, _, err = cli_in_process(capsys, *argv, "--export", out, "--cache-dir", store.root)
        assert code == 2 and "already holds" in err.strip().splitlines()[-1] and "Traceback" not in err, (command, err)
        assert victim.read_text() == "precious"
        assert [p.name for p in out.iterdir()] == [output]  # nothing else was written either
    out = tmp_path / "out-preset"
    out.mkdir()
    (out / "original-study_table.md").symlink_to(victim)
    results = run_tables.results_frame(store)
    with pytest.raises(OutputError, match="original-study_table.md"):
        presets.export("original-study", results, out)
    assert victim.read_text() == "precious"


@pytest.mark.trains
def test_what_an_export_writes_is_listed_as_produced(store, tmp_path, capsys):
    """The same commands into a clean folder write every file (the rule refuses only what is there)."""
    rid = finished_run(store, RunConfig(experiment="lottery", rounds=1, iterations=60, seed=3), kept=[("ticket", 1)])
    code, _, err = cli_in_process(
        capsys, "analyze", rid, "--arm", "ticket", "--round", "1", "--export", tmp_path / "a", "--cache-dir", store.root
    )
    assert code == 0, err
    assert (tmp_path / "a" / f"{rid}_ticket_r01_mask_heatmap.csv").is_file()
    code, _, err = cli_in_process(
        capsys, "analyze", rid, "--arm", "ticket", "--round", "1", "--export", tmp_path / "a", "--cache-dir", store.root
    )  # again into the same folder
    assert code == 2 and "nothing is overwritten" in err


# ---- 2. kept networks and theta0: checked against their records by every reader ---------------------------
def test_a_kept_network_copied_over_another_is_refused_by_every_reader(store, tmp_path, capsys):
    config = RunConfig(experiment="lottery", rounds=2, iterations=60, seed=7)
    rid = finished_run(store, config, kept=[("ticket", 1), ("ticket", 2)])
    folder = store.checkpoint_dir(rid, create=False)
    assert kept_networks.network(store, rid, "ticket", 2).round == 2  # sound: read
    assert kept_networks.damaged(store, rid) == []
    shutil.copyfile(folder / networks.net_file("ticket", 1), folder / networks.net_file("ticket", 2))
    with pytest.raises(networks.NetworkError, match="net_ticket_02.npz is not the file"):
        kept_networks.network(store, rid, "ticket", 2)
    assert kept_networks.network(store, rid, "ticket", 1).round == 1  # the others still read
    assert kept_networks.damaged(store, rid) == ["checkpoint/net_ticket_02.npz"]
    for argv in (
        ["export-model", rid, "--arm", "ticket", "--round", "2", "--out", tmp_path / "m.keras"],
        ["analyze", rid, "--arm", "ticket", "--round", "2", "--export", tmp_path / "a"],
    ):
        code, _, err = cli_in_process(capsys, *argv, "--cache-dir", store.root)
        assert code == 2 and "net_ticket_02.npz is not the file" in err and err.count("\n") == 1, err
        assert not (tmp_path / "m.keras").exists() and not (tmp_path / "a").exists()
    # a record without a sha256, or a file no record names, is not read either
    summary = json.loads((store.path(rid) / paths.RESULTS).read_text())
    for r in summary["results"]:
        r.pop("network_sha256", None)
    store.write_results(rid, summary)
    with pytest.raises(networks.NetworkError, match="no result record"):
        kept_networks.network(store, rid, "ticket", 1)


def test_theta0_from_another_run_is_refused_and_its_run_repairs(store, capsys):
    a = finished_run(store, RunConfig(experiment="lottery", rounds=1, iterations=60, seed=1), kept=[("ticket", 1)])
    b = finished_run(store, RunConfig(experiment="lottery", rounds=1, iterations=60, seed=2), kept=[("ticket", 1)])
    assert len(kept_networks.theta0(store, a)) == 6
    source = store.checkpoint_dir(b, create=False)
    for name in (paths.WEIGHTS, paths.WEIGHTS_SHA256):  # the file and its record, both copied: still refused
        shutil.copyfile(source / name, store.checkpoint_dir(a, create=False) / name)
    with pytest.raises(networks.NetworkError, match="weights.npz is not the file the run records"):
        kept_networks.theta0(store, a)
    assert kept_networks.damaged(store, a) == ["checkpoint/weights.npz"]
    code, _, err = cli_in_process(capsys, "resume", b, "--cache-dir", store.root)
    assert code == 2 and "nothing to repair" in err


@pytest.mark.slow
def test_resume_repairs_a_done_run_to_the_same_results(tmp_path, capsys, monkeypatch):
    """A finished lottery run whose round-1 network and theta0 were damaged: `resume` trains again what is
    damaged (here everything: theta0 is where every round starts) and ends with the same results."""
    from lth.runs.queue import wait

    cache = tmp_path / "cache"
    argv = [
        "--experiment",
        "lottery",
        "--rounds",
        "2",
        "--iterations",
        "60",
        "--eval-every",
        "30",
        "--controls",
        "reinit",
        "--cache-dir",
        cache,
    ]
    code, out, err = cli_in_process(capsys, "run", *argv)
    assert code == 0, err
    first = json.loads(out.strip().splitlines()[-1])
    rid, store = first["run_id"], RunStore(cache)
    folder = store.checkpoint_dir(rid, create=False)
    for round_ in (1, 2):
        assert kept_networks.network(store, rid, "ticket", round_).round == round_
    shutil.copyfile(folder / networks.net_file("ticket", 1), folder / networks.net_file("reinit", 2))
    code, _, err = cli_in_process(capsys, "resume", rid, "--cache-dir", cache)
    assert code == 0, err
    assert wait(rid, store, poll=0.5)["state"] == RunState.DONE
    again = store.results(rid)
    strip = lambda rs: [{k: v for k, v in r.items() if k not in ("train_seconds", "network_sha256")} for r in rs]  # noqa: E731
    assert strip(again["results"]) == strip(first["results"])
    assert kept_networks.damaged(store, rid) == []
    assert kept_networks.network(store, rid, "reinit", 2).arm == "reinit"
    log = (store.path(rid) / paths.LOG).read_text()
    assert "net_reinit_02.npz is not the network its round recorded" in log
    assert "training round 2 again" in log and "training round 1 again" not in log  # only what was damaged


# ---- 3. results that contradict themselves are corrupt --------------------------------------------------
def _edit_results(store, rid, edit) -> None:
    summary = json.loads((store.path(rid) / paths.RESULTS).read_text())
    edit(summary)
    (store.path(rid) / paths.RESULTS).write_text(json.dumps(summary))


CONTRADICTIONS = {
    "early stop between evaluations": lambda s: s["results"][0].update(early_stop_iteration=45),
    "final before the budget, no patience": lambda s: s["results"][0].update(final_iteration=30),
    "stopped_early at the end": lambda s: s["results"][0].update(stopped_early=True),
    "negative seconds": lambda s: s.update(seconds=-1e300),
    "negative train seconds": lambda s: s["results"][0].update(train_seconds=-1.0),
    "infinite loss": lambda s: s["results"][0].update(early_stop_val_loss=float("inf")),
    "validation accuracy above 1": lambda s: s["results"][0].update(early_stop_val_accuracy=1.5),
    "layer density below 0 adding up": lambda s: s["results"][1].update(
        layer_density={"fc1": -0.1, "fc2": 1.1, "out": 1.0}
    ),
    "more non-zero parameters than parameters": lambda s: s["results"][0].update(params=10, nonzero_params=11),
    "more non-zero MACs than MACs": lambda s: s["results"][0].update(dense_macs=10, nonzero_macs=11),
    "another network's parameter count": lambda s: s["results"][0].update(params=266_611),
    "another network's MACs": lambda s: s["results"][0].update(dense_macs=1),
    "no non-zero parameter at 80% density": lambda s: s["results"][1].update(params=266_610, nonzero_params=0),
    "pruned weights counted as non-zero": lambda s: s["results"][1].update(params=266_610, nonzero_params=266_610),
    "iterations of another budget": lambda s: s.update(iterations=120),
    "a bool where seconds belong": lambda s: s.update(seconds=True),
    "seconds past any training": lambda s: s.update(seconds=1e300),
    "train seconds past any training": lambda s: s["results"][0].update(train_seconds=1e308),
    "a pruned weight's size without a pruned weight": lambda s: s["results"][1].update(
        pruned_nonzero=0, pruned_max_abs=0.5
    ),
    "two accuracies for one evaluation": lambda s: s["results"][0].update(
        early_stop_iteration=60, early_stop_test_accuracy=0.9, final_test_accuracy=0.5
    ),
    "two validation accuracies for one evaluation": lambda s: s["results"][0].update(
        early_stop_iteration=60, early_stop_val_accuracy=0.9, final_val_accuracy=0.5
    ),
    "another dataset's sizes": lambda s: s.update(
        dataset={"name": "mnist-sample", "train": 4499, "validation": 500, "test": 10000}
    ),
    "another dataset": lambda s: s.update(dataset={"name": "mnist", "train": 4500, "validation": 500, "test": 10000}),
}


@pytest.mark.parametrize("case", list(CONTRADICTIONS))
def test_results_that_contradict_themselves_are_corrupt(store, case):
    config = RunConfig(experiment="lottery", rounds=1, iterations=60, eval_every=30, seed=11)
    rid = finished_run(store, config)
    layers = config.prunable_shapes()
    kept = round(0.8 * sum(math.prod(v) for v in layers.values()))  # round 1's ticket keeps 80%

    def sound(s):  # what a worker writes: the compression counts of LeNet-300-100 too
        s.update(iterations=60)
        s["results"][0].update(params=266_610, nonzero_params=266_610, dense_macs=266_200, nonzero_macs=266_200)
        s["results"][1].update(params=266_610, nonzero_params=kept + 410, dense_macs=266_200, nonzero_macs=kept)

    _edit_results(store, rid, sound)
    assert run_tables.runs_frame(store).set_index("run_id").loc[rid, "state"] == "done"  # sound as written
    _edit_results(store, rid, CONTRADICTIONS[case])
    row = run_tables.runs_frame(store).set_index("run_id").loc[rid]
    assert row["state"] == "corrupt", case
    assert run_tables.results_frame(store).empty  # never served


def _instability_record(**changes) -> dict:
    from lth import instability

    errors = [0.02 + 0.1 * np.sin(np.pi * a) for a in instability.ALPHAS]
    value = instability.barrier(errors)
    record = {
        "arm": "dense",
        "round": 0,
        "density": 1.0,
        "rewind_iteration": 0,
        "alphas": list(instability.ALPHAS),
        "test_errors": errors,
        "barrier": value,
        "stable": instability.is_stable(value),
        "layer_density": {},
        "early_stop_iteration": 60,
        "final_iteration": 60,
        "early_stop_test_accuracy": 0.98,
        "final_test_accuracy": 0.98,
        "copy_test_accuracy": [0.98, 0.98],
    }
    return {**record, **changes}


@pytest.mark.parametrize(
    "changes",
    [
        {"copy_test_accuracy": [0.5, 0.5]},  # not the line's ends
        {"stable": True},  # a barrier of ~0.1 called stable
        {"barrier": 0.001, "stable": True},  # a barrier that is not its errors'
        {"alphas": [0.0, 1.0] + [0.5] * 19},  # not the line's points
        {"early_stop_test_accuracy": 0.5},  # not the ends' mean
        {"copy_test_accuracy": [0.98, 1.2]},
    ],
)
def test_instability_verdicts_must_follow_their_barriers(changes):
    from lth import records
    from lth.records import Corrupt

    records.result_records([_instability_record()], "results.json")  # consistent: accepted
    with pytest.raises(Corrupt):
        records.result_records([_instability_record(**changes)], "results.json")


def test_instability_records_are_the_pairs_its_settings_make():
    from lth.records import Corrupt
    from lth.runs.schema import records_of

    config = RunConfig(experiment="instability", rewind_points=(0, 30), iterations=60, eval_every=30)
    records = [_instability_record(rewind_iteration=k) for k in (0, 30)]
    records_of(config, records, 60)  # its two pairs: accepted
    for changes in (
        {"rewind_iteration": 45},  # a rewind point the settings lack
        {"density": 0.5, "layer_density": {"fc1": 0.8, "fc2": 0.8, "out": 0.9}},
    ):  # not adding up
        with pytest.raises(Corrupt):
            records_of(config, [records[0], {**records[1], **changes}], 60)


@pytest.mark.trains
def test_a_preset_export_over_existing_files_is_one_line(store, tmp_path, capsys):
    from lth import presets

    finished_run(store, presets.PRESETS["original-study"].configs("quick")[0])  # one of its runs, finished
    out = tmp_path / "exported"
    out.mkdir()
    (out / "original-study_comparisons.csv").write_text("mine")
    code, _, err = cli_in_process(
        capsys, "preset", "original-study", "--export", out, "--partial", "--cache-dir", store.root
    )
    assert code == 2 and "Traceback" not in err and "already holds" in err.strip().splitlines()[-1], err
    assert (out / "original-study_comparisons.csv").read_text() == "mine"


# ---- 4. URL values outside a widget's range: dropped with a note, never a traceback ----------------------
def _widgets(at):
    """Every keyed input widget AppTest sees on a page: (key, kind, element)."""
    kinds = ("slider", "select_slider", "number_input", "selectbox", "multiselect", "radio", "text_input")
    for kind in kinds:
        for element in getattr(at, kind):
            if element.key and not element.key.startswith("$$"):
                yield element.key, kind, element


def _hostile_value(kind, element) -> str:
    if kind in ("slider", "number_input"):
        high = getattr(element, "max", None)
        return str(int(high) * 1000 + 7) if high is not None else "1e308"
    if kind == "text_input":
        return "x" * 5000
    return "no-such-choice,*bold*"


def test_out_of_range_url_values_never_break_a_page(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("LTH_CACHE_DIR", str(tmp_path / "cache"))
    checked = 0
    for page in APP_PAGES:
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
        at.run()
        at.switch_page(page).run()
        assert not at.exception, page
        # the widgets whose value travels in the URL (the forms' and Compare's)
        hostile = {key: _hostile_value(kind, element) for key, kind, element in _widgets(at) if key in at.query_params}
        if not hostile:
            continue
        again = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
        again.query_params.update(hostile)
        again.run()
        again.switch_page(page).run()
        assert not again.exception, (page, [e.value for e in again.exception])
        notes = " ".join(w.value for w in again.warning)
        for key, kind, element in _widgets(again):
            if key in hostile and kind in ("slider", "select_slider", "selectbox", "radio", "multiselect"):
                assert element.value != hostile[key], (page, key)
                checked += 1
        assert "the default is used" in notes, page
    assert checked >= 10  # sliders, selects and radios of the experiment pages were all tried


@pytest.mark.parametrize("dataset", ["mnist", "fashion-mnist"])
def test_a_data_folder_the_file_system_refuses_is_a_message(dataset, tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("LTH_CACHE_DIR", str(tmp_path / "cache"))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.query_params.update({"baseline-dataset": dataset, f"baseline-{dataset}-data-dir": "a" * 300 + "/" + "b" * 255})
    at.run()
    at.switch_page("pages/baseline.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("cannot be read" in e.value for e in at.error) and at.button(key="baseline-start").disabled


def test_out_of_range_values_are_named_per_widget_kind():
    from dashboard.remember import out_of_range

    assert out_of_range(11, "int", None, {"min_value": 1, "max_value": 10}) == "is above the largest allowed, 10"
    assert out_of_range(0, "int", None, {"min_value": 1, "max_value": 10}).startswith("is below")
    assert out_of_range(float("nan"), "float", None, {"min_value": 0.0}) == "is not a number"
    assert out_of_range(0.3, "float", [0.1, 0.2], {}) == "is not one of the choices"
    assert out_of_range(["a", "z"], "list", ["a", "b"], {}) == "is not one of the choices"
    assert out_of_range((2, 12), "int", None, {"min_value": 1, "max_value": 10}) is not None  # a range slider
    assert out_of_range("x" * 9, "str", None, {"max_chars": 8}) is not None
    assert out_of_range(5, "int", None, {"min_value": 1, "max_value": 10}) is None
    assert out_of_range(["a"], "list", ["a", "b"], {}) is None


# ---- 8. text from store files is shown as text -------------------------------------------------------
HOSTILE_TEXT = [
    "**bold** _it_ [link](http://example.com) https://example.com www.example.com",
    "$x^2$ and $$\\frac{1}{2}$$ `code` <b>html</b> ~~strike~~",
    "# heading\n- item\n> quote\n1. one",
    "a\\*b \\\\ :material/home: :red[red] |t|a|",
]


@pytest.mark.parametrize("text", HOSTILE_TEXT)
def test_plain_text_renders_as_itself(text):
    import html

    from markdown_it import MarkdownIt

    from dashboard.text import plain

    rendered = MarkdownIt("commonmark").enable(["table", "strikethrough"]).render(plain(text))
    for tag in ("<strong", "<em", "<a ", "<code", "<h1", "<li", "<blockquote", "<s>", "<del", "<table"):
        assert tag not in rendered, (text, rendered)
    body = rendered.strip().removeprefix("<p>").removesuffix("</p>")
    assert html.unescape(body).replace("\n", " ") == text.replace("\n", " ")
    escaped = plain(text)
    assert all(escaped[i - 1] == "\\" for i, c in enumerate(escaped) if c in "$:[*`")  # LaTeX, emoji, links


def test_runs_page_shows_a_store_error_as_text(store, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from dashboard.text import plain

    rid = finished_run(store, RunConfig(seed=41), state=RunState.FAILED)
    error = "**boom** [click](http://evil.example) $\\LaTeX$"
    store.update_status(rid, error=error, device={"name": "*GPU* [x](y)"}, started=1.0, ended=2.0)
    monkeypatch.setenv("LTH_CACHE_DIR", str(store.root))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    at.switch_page("pages/runs.py").run()
    assert not at.exception
    errors = [e.value for e in at.error]
    assert f"Failed: {plain(error)}" in errors
    assert not any(error in e for e in errors)  # never the raw markdown
    details = " ".join(m.value for m in at.markdown)
    assert plain(error) in details and "**boom**" not in details
