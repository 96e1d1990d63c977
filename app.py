"""Lottery Ticket Lab dashboard: `streamlit run app.py`. Declares the navigation only."""
import streamlit as st

import dashboard.warm  # noqa: F401  (imports the pages' libraries in the background, once per server)

st.set_page_config(page_title="Lottery Ticket Lab", page_icon=":material/science:", layout="wide")
st.navigation([
    st.Page("pages/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("pages/baseline.py", title="Baseline", icon=":material/show_chart:"),
    st.Page("pages/lottery.py", title="Lottery ticket", icon=":material/content_cut:"),
    st.Page("pages/tfmot.py", title="tfmot pruning", icon=":material/compress:"),
    st.Page("pages/methods.py", title="Pruning methods", icon=":material/category:"),
    st.Page("pages/instability.py", title="Instability", icon=":material/timeline:"),
    st.Page("pages/runs.py", title="Runs", icon=":material/list:"),
    st.Page("pages/compare.py", title="Compare", icon=":material/stacked_line_chart:"),
    st.Page("pages/analysis.py", title="Masks and weights", icon=":material/grid_on:"),
]).run()
