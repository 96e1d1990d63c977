import pandas as pd
import streamlit as st

from dashboard.common import (
    compare_tables,
    figure_downloads,
    head_to_head_table,
    imp_runs_for,
    missing_words,
    readable,
    report_downloads,
    store,
    submit_runs,
    table_downloads,
)
from dashboard.remember import remembered
from lth import figures, statistics
from lth.runs import ACTIVE
from lth.runs import tables as run_tables

# how often an open page looks for runs that finished since it was drawn (a few file times per run)
WATCH_S = 5.0
IDLE_WATCH_S = 15.0

st.title("Compare runs")
s = store()
results = run_tables.results_frame(s)
drawn = run_tables.finished_run_ids(s)
new_runs = st.session_state.pop("compare-new-runs", None)
if new_runs:
    st.info(f"{new_runs} new finished run{'s' if new_runs != 1 else ''} since this page was drawn: shown below.")


def watch_store() -> None:
    """Redraws the page when runs finished since it was drawn: new runs appear without a reload, and say so."""
    now = run_tables.finished_run_ids(s)
    if now - drawn:
        st.session_state["compare-new-runs"] = len(now - drawn)
        st.rerun(scope="app")


active = any(
    (s.status_or_none(r) or {}).get("state") in ACTIVE for r in s.run_ids() if r not in drawn
)  # something may finish soon: look often; else now and then (a run started elsewhere)
st.fragment(watch_store, run_every=WATCH_S if active else IDLE_WATCH_S)()
if results.empty:
    st.info(
        "No finished runs to compare yet. Start runs on the experiment pages or a preset on the Home page; "
        "they appear here when they finish."
    )
    st.stop()

# Every filter is in the URL (dashboard.remember): a link or a reload shows the same comparison.
c1, c2, c3, c4 = st.columns(4)


def choose(column, label: str, key: str, options: list, kind: str = "list") -> list:
    if key in st.session_state:  # choices that another filter removed are dropped, not an error
        st.session_state[key] = [v for v in st.session_state[key] if v in options]
    # "all" is remembered as such (session and URL): a seed or series that appears later is chosen too
    return remembered(column.multiselect, label, key=key, default=options, kind=kind, options=options, everything=True)


experiments = choose(c1, "Experiment", "f-experiment", sorted(results["experiment"].unique()))
model_names = choose(c2, "Model", "f-model", sorted(results["model"].unique()))
dataset_names = choose(c3, "Dataset", "f-dataset", sorted(results["dataset"].unique()))
all_seeds = sorted(int(v) for v in results["seed"].unique())
seeds = choose(c4, "Seeds", "f-seed", all_seeds, kind="intlist")
left_out = [v for v in all_seeds if v not in seeds]
if left_out:
    st.caption(
        f"Seed{'s' if len(left_out) > 1 else ''} {', '.join(map(str, left_out))} "
        f"{'are' if len(left_out) > 1 else 'is'} in the store but not chosen (Seeds filter)."
    )
chosen = results[
    results["experiment"].isin(experiments)
    & results["model"].isin(model_names)
    & results["dataset"].isin(dataset_names)
    & results["seed"].isin(seeds)
]
c5, c6, c7 = st.columns(3)
series = choose(c5, "Series (runs equal but for the seed)", "f-series", sorted(chosen["label"].unique()))
metric = remembered(
    c6.selectbox,
    "Accuracy",
    key="f-metric",
    default=list(figures.METRICS)[0],
    options=list(figures.METRICS),
    format_func=figures.METRICS.get,
)
band = remembered(
    c7.radio,
    "Band over seeds",
    key="f-band",
    default="std",
    options=["std", "minmax"],
    horizontal=True,
    format_func={"std": "mean ± 1 std", "minmax": "min-max"}.get,
)
chosen = chosen[chosen["label"].isin(series)]
if chosen.empty:
    st.warning("No runs match these filters.")
    st.stop()
per_series = chosen.groupby("label")["seed"].nunique()
st.caption(
    f"{chosen['run_id'].nunique()} runs, {len(chosen)} results; seeds per series: "
    + "; ".join(f"{label} n={n}" for label, n in per_series.items())
    + "."
)


def table_or_why(table: pd.DataFrame, kind: str, file_name: str, key: str) -> None:
    """A statistics table with its downloads, or what is missing to make it (missing_words)."""
    if table.empty:
        for words in missing_words(chosen, kind, table):
            st.info(words)
    else:
        st.dataframe(readable(table), hide_index=True, width="stretch")
        table_downloads(table, file_name, key)


# computed once per filter (cached), shared by the figures and the tables
stats, comparison, verdicts, methods, summary = compare_tables(chosen, metric)
accuracy = figures.accuracy_vs_density(chosen, metric, band, stats, verdicts)
st.plotly_chart(accuracy, key="fig-accuracy")
figure_downloads(accuracy, "accuracy_vs_density", "dl-accuracy")

COMPRESSION = {
    "compression_ratio": "compression ratio (.h5 file / gzip'ed)",
    "gzip_bytes": "gzip'ed .h5 bytes",
    "nonzero_params": "non-zero parameters",
    "nonzero_macs": "non-zero multiply-accumulates per image",
}
measured = chosen[chosen["compression_ratio"].notna()] if "compression_ratio" in chosen else chosen.iloc[:0]
# the same views whatever the filters (a view a filter empties says why): the open one stays open
VIEWS = [
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
# Only the open view is computed and drawn (a rerun per change of view): a page of every table and figure
# at once took the browser longer to draw than the server to compute.
tabs = dict(zip(VIEWS, st.tabs(VIEWS, key="compare-view", on_change="rerun")))

with tabs["Verdicts"]:
    if tabs["Verdicts"].open:
        st.caption(
            f"Stars on the figure mark {statistics.WINNING_RULE}. Intervals are 95% t-intervals over seeds "
            "(unadjusted); p-values from one-sided paired t-tests (scipy.stats.ttest_rel), pairs matched by seed; "
            "verdicts use the Holm-adjusted ones (p holm) over each table's questions. The margin: "
            f"{100 * statistics.MARGIN:g} points of accuracy, what two seeds of the same dense network differ by "
            "(its std over seeds is 0.16-0.38 points in the full-scale runs). A training whose best evaluation "
            "was its last is budget-limited: a verdict resting on one says so."
        )
        st.markdown("**Winning ticket per density** (ticket against the dense network, paired by seed)")
        table_or_why(verdicts, "verdicts", "winning_tickets", "dl-verdicts")

with tabs["Ticket against controls"]:
    if tabs["Ticket against controls"].open:
        st.markdown("**Ticket against dense and each control**, one question a row (difference = ticket − other)")
        table_or_why(comparison, "comparisons", "ticket_comparisons", "dl-comparisons")

with tabs["Pruning methods"]:
    if tabs["Pruning methods"].open and not chosen["experiment"].eq("oneshot").any():
        st.info(
            "No one-shot run in these filters: the Pruning methods page prunes once by SNIP, GraSP, SynFlow, "
            "magnitude and random criteria, with their sanity checks; its runs are compared here."
        )
    elif tabs["Pruning methods"].open:
        st.caption(
            "Each one-shot criterion's mask against its own sanity checks (random_prune: the layerwise "
            "shuffle; reinit; invert), the dense network, and the IMP ticket of a lottery run that trains the "
            "same way at the same density, paired by seed (difference = method − other, in accuracy). A "
            "cross on the accuracy figure: a training whose mask emptied a whole layer (layer collapse)."
        )
        layers = figures.layer_density_vs_density(chosen[chosen["experiment"] == "oneshot"])
        st.plotly_chart(layers, key="fig-layers")
        figure_downloads(layers, "layer_density_vs_density", "dl-layers")
        if not methods.empty:  # one question per comparison, each held, not held or undetermined
            st.dataframe(readable(methods), hide_index=True, width="stretch")
            table_downloads(methods, "method_comparisons", "dl-methods")
        for words in missing_words(chosen, "methods", methods):
            st.info(words)
        for label, group in chosen[chosen["experiment"] == "oneshot"].groupby("label", sort=True):
            if not methods.empty and label in set(methods["label"][methods["against"] == "IMP ticket"]):
                continue
            imp, data_dir = imp_runs_for(group)
            count = len(imp)
            if imp and st.button(  # says how many runs it starts before it does
                f"Queue the {count} lottery run{'s' if count > 1 else ''} (seeds "
                f"{', '.join(str(c.seed) for c in imp)}, {imp[0].rounds} rounds) that would pair {label} with "
                f"an IMP ticket",
                key=f"queue-imp-{label}",
            ):
                submit_runs(imp, data_dir)

with tabs["Head to head"]:
    if tabs["Head to head"].open:
        st.markdown(
            "**Head to head**: any two series at each density, paired by seed (difference = A − B), with the "
            "same rule: is A more accurate than B, is it as good as B within the margin?"
        )
        names = statistics.series_names(chosen)
        if len(names) < 2:
            st.caption("Head to head needs two series: these filters leave one.")
        else:
            h1, h2 = st.columns(2)
            first = remembered(h1.selectbox, "A", key="f-h2h-a", default=names[0], options=names)
            second = remembered(h2.selectbox, "B", key="f-h2h-b", default=names[1], options=names)
            duel = head_to_head_table(chosen, first, second, metric)
            if duel.empty:
                st.caption(f"{first} and {second} share no seed at any density: nothing to pair.")
            else:
                st.dataframe(readable(duel.drop(columns=["a", "b"])), hide_index=True, width="stretch")
                table_downloads(duel, "head_to_head", "dl-head-to-head")

with tabs["Early stop"]:
    if tabs["Early stop"].open:
        early = figures.early_stop_vs_density(chosen, band, stats)
        st.plotly_chart(early, key="fig-early")
        figure_downloads(early, "early_stop_vs_density", "dl-early")

with tabs["Compression"]:
    if tabs["Compression"].open and measured.empty:
        st.info(
            "No result in these filters has a compression report: it comes with the networks a run keeps "
            "(lottery, tfmot and one-shot runs made since it existed)."
        )
    elif tabs["Compression"].open:
        quantity = st.selectbox("Quantity", list(COMPRESSION), format_func=COMPRESSION.__getitem__, key="f-compression")
        compression = figures.accuracy_vs_density(measured, quantity, band)
        compression.update_layout(
            title={"text": f"{COMPRESSION[quantity]} vs density (mean over seeds)"},
            yaxis={"title": {"text": COMPRESSION[quantity]}},
        )
        st.plotly_chart(compression, key="fig-compression")
        figure_downloads(compression, f"{quantity}_vs_density", "dl-compression")
        if len(measured) < len(chosen):
            st.caption(
                f"{len(chosen) - len(measured)} results come from runs made before the compression report "
                f"existed and are not in this figure."
            )

with tabs["Per series"]:
    if tabs["Per series"].open:
        st.markdown(
            "**Per series, arm and density**: mean, std and 95% interval over seeds (n seeds), and how many "
            "trainings peaked at their last evaluation (budget limited n)"
        )
        st.dataframe(readable(summary), hide_index=True, width="stretch")
        table_downloads(summary, "summary_over_seeds", "dl-seed-summary")

with tabs["Per-layer density"]:
    if tabs["Per-layer density"].open:
        st.markdown(
            "**Per-layer density** of each series' pruned networks, in % (mean over seeds), per arm and density"
        )
        layer_table = figures.layer_density_table(chosen)
        if layer_table.empty:
            st.info("These filters show no pruned network (only dense trainings): no layer has a mask to measure.")
        else:
            st.dataframe(readable(layer_table), hide_index=True, width="stretch")
            table_downloads(layer_table, "layer_density", "dl-layer-density")

with tabs["Data"]:
    if tabs["Data"].open:
        st.markdown("**The points of the figure** (mean and spread over seeds)")
        st.dataframe(readable(stats), hide_index=True, width="stretch")
        table_downloads(stats, "accuracy_vs_density_summary", "dl-summary")
        st.markdown("**Every result**")
        marked = chosen.assign(budget_limited=statistics.budget_limited(chosen))  # best evaluation = its last
        st.dataframe(readable(marked), hide_index=True, width="stretch")
        table_downloads(marked, "results", "dl-results")

with tabs["Report"]:
    if tabs["Report"].open:
        report_downloads("Report: the runs chosen on Compare", chosen, pd.DataFrame(), "dl-compare-report")
