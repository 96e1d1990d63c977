"""Streamlit helpers shared by the pages (the `lth` library itself never imports Streamlit).

Every page imports this package first, so it is where a run that did not start through app.py is turned
back: Streamlit serves a folder named `pages/` as a multipage app of its own (titles from file names, no
page settings, app.py never run) until app.py's `st.navigation` has run once in the server. A fresh server
whose first visitor opened a page's address showed that app; the run starts again through app.py, on the
same page (a page's URL names it the same way in both).
"""

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

if PagesManager.uses_pages_directory:  # only in that first run: st.navigation sets it to False
    PagesManager.uses_pages_directory = False
    st.rerun()
