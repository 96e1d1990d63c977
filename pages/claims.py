import streamlit as st

from dashboard.common import claim_evaluations, readable, report_downloads, store, table_downloads
from dashboard.text import plain
from lth import claims

st.title("Claims")
st.caption(
    "The published statements this lab can test, each judged on the finished runs of the store: held, not held "
    "or undetermined (one-sided paired tests by seed, Holm over each claim's questions; an undetermined one says "
    "how many seeds would decide it), or not checked with what is missing to check it."
)
s = store()
results, instability = claims.from_store(s)
evaluations = claim_evaluations(results, instability)
shown = claims.table(evaluations)
counts = shown["verdict"].value_counts()
columns = st.columns(len(claims.VERDICTS))
for column, verdict in zip(columns, claims.VERDICTS):
    column.metric(verdict, int(counts.get(verdict, 0)))
if results.empty and instability.empty:
    st.info(
        "No finished runs yet: every claim is not checked. Start a preset on the Home page (Frankle & Carbin, "
        "the original study, pruning methods) and its claims are judged here when its runs finish."
    )

st.dataframe(
    readable(shown[["claim", "series", "verdict", "words", "margin", "seeds_needed"]]), hide_index=True, width="stretch"
)
table_downloads(shown, "claims", "dl-claims")

registry = claims.claims_registry()
for evaluation in evaluations:
    claim = registry[evaluation.claim]
    # drawn when opened (a rerun): a page of every claim's evidence at once is what a browser is slowest at
    details = st.expander(
        f"{evaluation.claim} · {evaluation.series}: {evaluation.verdict}",
        key=f"claim-{evaluation.claim}-{evaluation.series}",
        on_change="rerun",
    )
    if not details.open:
        continue
    with details:
        st.markdown(f"**{plain(claim.words)}**")
        st.caption(f"Source: {plain(claim.source)}")
        st.markdown(f"Needs: {plain(claim.needs.words())}")
        st.markdown(f"Test: {plain(claim.test)}")
        st.markdown(f"Verdict: {plain(evaluation.words)}")
        if evaluation.run_ids:
            st.caption(f"Runs: {plain(' '.join(evaluation.run_ids))}")
        if not evaluation.evidence.empty:
            st.dataframe(readable(evaluation.evidence), hide_index=True, width="stretch")

evidence = claims.evidence(evaluations)
if not evidence.empty:
    table_downloads(evidence, "claims_evidence", "dl-claims-evidence")

if not results.empty or not instability.empty:
    st.subheader("Report")
    report_downloads("Report: every finished run of the store", results, instability, "dl-report")
