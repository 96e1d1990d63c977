import streamlit as st

from dashboard.common import (
    by_density,
    figure_downloads,
    network_file_part,
    readable,
    store,
    table_downloads,
)
from dashboard.text import plain
from lth import analysis
from lth.hparams import setting_facets
from lth.networks import NetworkError
from lth.runs import Corrupt, StoreError
from lth.runs import kept as kept_networks
from lth.runs import tables as run_tables

st.title("Masks and weights")
st.caption(
    "What a run's pruning kept: the first layer's mask in a form that fits its input (images per pixel and "
    "channel, conv filters per tap, 1-D signals per position, features per bar), per-layer density per round, the "
    "initial and trained weights of the kept against the pruned, and how masks overlap between rounds and "
    "seeds. From the trained networks each run keeps (runs made before networks were kept have none)."
)
PRUNING = setting_facets("prunable")["experiments"]  # the experiments whose kept networks have masks
s = store()
runs = run_tables.runs_frame(s)
candidates = []
for run in runs.itertuples():
    try:
        if run.experiment in PRUNING and kept_networks.networks_of(s, run.run_id):
            candidates.append(run)
    except (StoreError, Corrupt, OSError):
        continue  # a corrupt run is reported on the Runs page; the others stay usable here
if not candidates:
    st.info(
        f"No run of a pruning experiment ({', '.join(PRUNING)}) with kept networks yet. Start one on its page "
        "(or a preset on the Home page); its masks and weights appear here as its rounds finish."
    )
    st.stop()
labels = {r.run_id: f"{r.run_id} · {r.experiment} {r.model} {r.dataset} seed {r.seed} · {r.state}" for r in candidates}
run_id = st.selectbox("Run", list(labels), format_func=labels.__getitem__, key="analysis-run")
kept = kept_networks.networks_of(s, run_id)
arms = sorted({a for a, _ in kept if a != "dense"}, key=lambda a: (a != "ticket", a))
left, right = st.columns([1, 3])
arm = left.selectbox("Arm", arms, key=f"analysis-arm-{run_id}")
rounds = sorted(r for a, r in kept if a == arm)
config = s.config_and_record(run_id)[1]
oneshot = by_density(config.experiment)  # a one-shot run's networks are its densities, not rounds
# One round slider per run: changing the arm keeps the round (or the nearest this arm has)
round_key = f"analysis-round-{run_id}"
if st.session_state.get(round_key) not in rounds:
    previous = st.session_state.get(round_key, rounds[-1])
    st.session_state[round_key] = min(rounds, key=lambda r: (abs(r - previous), -r))
if oneshot:
    densities = sorted(config.densities, reverse=True)  # round r of a one-shot run prunes to the r-th densest
    words = {r: f"{100 * densities[r - 1]:.3g}%" if 0 < r <= len(densities) else "dense" for r in rounds}
else:
    words = {r: str(r) for r in rounds}
round_ = (
    right.select_slider("Density" if oneshot else "Round", rounds, format_func=words.__getitem__, key=round_key)
    if len(rounds) > 1
    else rounds[0]
)
if len(rounds) == 1:
    right.caption(f"{'Density' if oneshot else 'Round'}: {words[round_]} (the only one this arm keeps)")
file_part = f"{run_id}_{network_file_part(config, arm, round_)}"
same_series = [
    r.run_id
    for r in candidates
    if r.run_id != run_id
    and analysis.same_but_seed(s, r.run_id, config)
    and (arm, round_) in kept_networks.networks_of(s, r.run_id)
]
other = st.selectbox(
    "Compare the mask with another seed's",
    [None] + same_series,
    format_func=lambda r: "—" if r is None else labels[r],
    key=f"analysis-other-{run_id}",
)
notes: list[str] = []
try:
    figs, tables = analysis.run_analysis(s, run_id, arm, round_, other, notes)
except (NetworkError, StoreError, Corrupt, OSError, ValueError) as e:
    st.error(f"This network cannot be analysed: {plain(e)}")
    st.stop()


def shown_overlap(table):
    """An overlap table as a reader reads it: a one-shot run's rounds as its densities, and a layer the mask
    emptied marked as such (its overlap is undefined, not 0)."""
    if oneshot:
        named = {r: words.get(r, str(r)) for r in set(table.get("round", [])) | set(table.get("against_round", []))}
        for column, title in (("round", "density"), ("against_round", "against density")):
            if column in table:
                table = table.assign(**{column: table[column].map(named)}).rename(columns={column: title})
    layers = [c for c in table.columns if c not in ("round", "against_round", "density", "against density")]
    layers = [c for c in layers if not str(c).startswith("chance_") and c not in ("run", "other_run")]
    for column in layers:
        if table[column].isna().any():
            table = table.assign(
                **{column: table[column].map(lambda v: "undefined (layer emptied)" if v != v else f"{v:.4f}")}
            )
    return table


VIEWS = {  # the page's views: the figures and tables each shows
    "Mask": [k for k in figs if k not in ("layer_density", "theta0_histograms", "trained_histograms")],
    "Per-layer density": ["layer_density"],
    "Weights": ["theta0_histograms", "trained_histograms"],
}
shown = [v for v, names in VIEWS.items() if any(n in figs for n in names) or (v == "Mask" and notes)]
shown += [
    v
    for v, present in (("Overlap", "round_overlap" in tables or "seed_overlap" in tables), ("Data", tables))
    if present
]
if not shown:
    st.info("This network has nothing to picture: no mask and no per-layer densities.")
    st.stop()
# only the open view is drawn (a rerun per change of view): four figures at once took the browser longest
views = dict(zip(shown, st.tabs(shown, key="analysis-view", on_change="rerun")))


def draw_figures(names: list[str]) -> None:
    for name in names:
        if name in figs:
            st.plotly_chart(figs[name], key=f"analysis-{name}")
            figure_downloads(figs[name], f"{file_part}_{name}", f"dl-analysis-{name}")


for view, names in VIEWS.items():
    if view in views and views[view].open:
        with views[view]:
            if view == "Mask":
                for note in notes:  # why the first layer's mask has no picture (where the picture would be)
                    st.info(note)
            draw_figures(names)
if "Overlap" in views and views["Overlap"].open:
    with views["Overlap"]:
        if "round_overlap" in tables:
            st.markdown(
                "**Overlap between densities**: the fraction of each density's kept weights that the next denser "
                "mask of this criterion kept (1.0 when masks are nested); a layer the mask emptied has no overlap "
                "(“—”)"
                if oneshot
                else "**Overlap between rounds**: the fraction of round r's kept weights that round r−1 kept "
                "(1.0 when masks are nested, as iterative magnitude pruning makes them); a layer the mask emptied "
                "has no overlap (“—”)"
            )
            st.dataframe(readable(shown_overlap(tables["round_overlap"])), hide_index=True)
        if "seed_overlap" in tables:
            st.markdown(
                f"**Overlap with the other seed's mask** at {'this density' if oneshot else 'this round'}, against "
                "what independent random masks of the same densities would share by chance"
            )
            st.dataframe(readable(shown_overlap(tables["seed_overlap"])), hide_index=True)
        elif other is None:
            st.caption("Choose another seed's run above to see how much of this mask it shares.")
if "Data" in views and views["Data"].open:
    with views["Data"]:
        for name, table in tables.items():
            st.markdown(f"**{name.replace('_', ' ')}**")
            table_downloads(table, f"{file_part}_{name}", f"dl-analysis-table-{name}")
