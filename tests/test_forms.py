"""The forms are generated from the settings' declarations: an untouched form sends exactly the run the CLI
makes without options (its defaults), and every slider's range is the setting's range."""

import pytest

from lth import hparams
from lth.hparams import RunConfig

# what a form must choose where the setting has no default (the CLI refuses the run without it)
REQUIRED = {"tfmot": {"target_density": 0.1}}


def _form_script(experiment: str):
    def script():
        import streamlit as st

        from dashboard.forms import experiment_form

        result = experiment_form(st.session_state.get("experiment-under-test", "baseline"))
        st.session_state["configs"] = None if result is None else [c.to_json() for c in result[0]]

    return script


@pytest.mark.parametrize("experiment", list(hparams.EXPERIMENTS))
def test_an_untouched_form_sends_the_settings_defaults(experiment, tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("LTH_CACHE_DIR", str(tmp_path / "cache"))
    at = AppTest.from_function(_form_script(experiment), default_timeout=60)
    at.session_state["experiment-under-test"] = experiment
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    configs = at.session_state["configs"]
    assert configs is not None, [e.value for e in at.error]
    sent = RunConfig.from_json(configs[0])
    expected = RunConfig(experiment=experiment, **REQUIRED.get(experiment, {}))
    assert sent.canonical() == expected.canonical(), experiment


def test_every_slider_spans_its_settings_range(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from dashboard.forms import FORMS

    monkeypatch.setenv("LTH_CACHE_DIR", str(tmp_path / "cache"))
    seen = {}
    for experiment in FORMS:
        at = AppTest.from_function(_form_script(experiment), default_timeout=60)
        at.session_state["experiment-under-test"] = experiment
        at.run()
        for slider in at.slider:
            seen[slider.label.split(" (")[0]] = (slider.min, slider.max)
    by_label = {f.metadata["label"]: f.metadata for f in RunConfig.__dataclass_fields__.values()}
    assert seen, "no slider drawn"
    assert set(seen) - set(by_label) == {"Seeds"}  # every other slider is a setting's
    for shown, (low, high) in seen.items():
        if shown == "Seeds":  # how many runs to start: the form's own
            continue
        facets = by_label[shown]
        assert facets["low"] <= low and high <= facets["high"], shown
        assert high >= facets["high"] - 0.05 - 1e-9 and low <= facets["low"] + 0.05 + 1e-9, shown  # all of it
