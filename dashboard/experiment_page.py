"""The body of every experiment's page: its form (dashboard.forms.FORMS), the start button, the outcome."""

import streamlit as st

from dashboard.common import submit_runs
from dashboard.forms import experiment_form
from lth.hparams import EXPERIMENTS


def render(experiment: str) -> None:
    plan = EXPERIMENTS[experiment]  # its page's words are its plan's (lth.plans)
    st.title(plan.heading)
    st.caption(plan.intro)
    form = experiment_form(experiment)
    label = "Start" if not form or len(form[0]) == 1 else f"Start {len(form[0])} runs"
    clicked = st.button(label, type="primary", disabled=form is None, key=f"{experiment}-start")
    next_seed = st.session_state.pop(f"{experiment}-start-next", False)  # "Run the next seed(s)" was clicked
    if (clicked or next_seed) and form is not None:
        configs, data_dir = form
        submit_runs(configs, data_dir)
