import streamlit as st

from dashboard.common import figure_downloads, store, table_downloads
from dashboard.experiment_page import render
from lth import figures
from lth.runs import tables as run_tables

render("instability")

st.divider()
st.subheader("Results of finished instability runs")
frame = run_tables.instability_frame(store())
if frame.empty:
    st.info("No finished instability run yet: start one above; its figures appear here when it finishes.")
    st.stop()
labels = sorted(frame["label"].unique())
chosen = st.multiselect("Runs (model, data, seed)", labels, default=labels, key="instability-shown")
frame = frame[frame["label"].isin(chosen)]
if frame.empty:
    st.warning("Choose at least one run.")
    st.stop()
ks = sorted(frame["rewind_iteration"].unique())
k = (
    st.select_slider("k for the barrier against density (besides k = 0)", ks, value=ks[-1], key="instability-k")
    if len(ks) > 1
    else ks[0]
)
for name, fig in (
    ("error_along_line", figures.instability_error_curves(frame)),
    ("barrier_vs_k", figures.instability_barrier_vs_k(frame)),
    ("barrier_vs_density", figures.instability_barrier_vs_density(frame, sorted({0, k} & set(ks)) or [k])),
):
    st.plotly_chart(fig, key=f"instability-{name}")
    figure_downloads(fig, f"instability_{name}", f"dl-instability-{name}")
st.dataframe(figures.instability_table(frame), hide_index=True, width="stretch")
table_downloads(frame.drop(columns=["alphas"]), "instability", "dl-instability-data")
