"""Streamlit helpers shared by the pages (the `lth` library itself never imports Streamlit)."""
