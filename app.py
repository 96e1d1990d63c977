"""Lottery Ticket Lab dashboard: `streamlit run app.py`. Declares the navigation only (dashboard.navigation)."""

import streamlit as st

import dashboard.warm  # noqa: F401  (imports the pages' libraries in the background, once per server)
from dashboard.navigation import HOME, PAGES

st.set_page_config(page_title="Lottery Ticket Lab", page_icon=":material/science:", layout="wide")
st.navigation([st.Page(p.script, title=p.title, icon=p.icon, default=p is HOME) for p in PAGES]).run()
