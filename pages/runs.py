import time

import pandas as pd
import streamlit as st

from dashboard.common import by_density, format_seconds, percent, show_results, store
from dashboard.text import plain
from dashboard.trained import show_trained_networks
from lth import figures
from lth.hparams import EXPERIMENTS
from lth.runs import ACTIVE, Corrupt, RunState, StoreError, cancel, executor_choice, resume, schedule, scheduler_problem
from lth.runs import logs as run_logs
from lth.runs import tables as run_tables

LOG_CHARS = 8000
# seconds between refreshes of the run table and the live curves while something trains: each refresh
# costs the server and the browser CPU that a training on the same cores would use (make bench-watch)
REFRESH_S = 3.0


def redraw_seconds(points: int) -> float:
    """Seconds between redraws of a live figure holding `points` evaluations: every refresh for a small
    figure, up to every 15 s for one of 1,500 evaluations and more (make bench-watch measures the cost)."""
    return min(15.0, max(REFRESH_S, points / 100))


st.title("Runs")
s = store()
if "deleted-message" in st.session_state:
    st.success(st.session_state.pop("deleted-message"))
schedule(s)  # moves the queue on if a worker died while no page was open
if scheduler_problem(s):
    st.warning(scheduler_problem(s))
runs = run_tables.runs_frame(s)
if runs.empty:
    st.info(
        "The run store is empty. Start a run on an experiment's page (Baseline, Lottery ticket, ...), "
        "or with a preset on the Home page."
    )
    st.stop()
runs = runs.sort_values("created", ascending=False, na_position="last")


def run_table() -> None:
    current = run_tables.runs_frame(s).sort_values("created", ascending=False, na_position="last")
    budget = [
        f"{e:g} epochs" if pd.notna(e) else (f"{int(i):,} it" if pd.notna(i) else "")
        for i, e in zip(current["iterations"], current["epochs"])
    ]
    table = current.assign(
        elapsed=current["elapsed_s"].map(format_seconds), left=current["remaining_s"].map(format_seconds), budget=budget
    )
    # what fits 1,400 px; the device, pid and full error are under "Details" below
    st.dataframe(
        table[["run_id", "state", "progress", "experiment", "model", "dataset", "seed", "budget", "elapsed", "left"]],
        hide_index=True,
        width="stretch",
        column_config={
            "progress": st.column_config.ProgressColumn("progress", min_value=0.0, max_value=1.0, format="percent"),
            "left": st.column_config.TextColumn("time left (est.)"),
        },
    )


any_active = runs["state"].isin([state.value for state in ACTIVE]).any()
st.fragment(run_table, run_every=REFRESH_S if any_active else None)()

# The label names what does not change (the state is shown beside it and follows the run); the choice
# lives in the URL, so a link or a reload opens the same run. By default: a run training now, else the
# newest that has started, else the newest.
labels = {
    r.run_id: f"{r.run_id} · {r.experiment or ''} {r.model or ''} {r.dataset or ''} seed {r.seed}"
    for r in runs.itertuples()
}
if "selected-run" not in st.session_state:
    wanted = st.query_params.get("run")
    running = runs[runs["state"] == RunState.RUNNING.value]["run_id"].tolist()
    started = runs[runs["state"] != RunState.QUEUED.value]["run_id"].tolist()
    st.session_state["selected-run"] = wanted if wanted in labels else (running or started or list(labels))[0]
    if wanted is not None and wanted not in labels:
        st.warning(f"The link's run {plain(repr(wanted[:40]))} is not in this store; showing another.")
elif st.session_state["selected-run"] not in labels:  # deleted meanwhile
    st.session_state["selected-run"] = list(labels)[0]
run_id = st.selectbox("Run", list(labels), format_func=labels.__getitem__, key="selected-run")
st.query_params["run"] = run_id
row = runs.set_index("run_id").loc[run_id]
live = RunState(row["state"]) in ACTIVE
oneshot = by_density(row.get("experiment"))


def state_words(now: dict) -> str:
    progress = now.get("progress")
    return f"**State:** {now['state']}" + (
        f" · {progress:.0%} done" if progress is not None and pd.notna(progress) else ""
    )


def head() -> None:
    """The run's state and progress, read as the table reads them (status and heartbeat) at every refresh; a
    change of state redraws the page (its buttons follow)."""
    now = run_tables.run_row(s, run_id)
    if now["state"] != row["state"]:
        st.rerun(scope="app")
    st.markdown(state_words(now))


st.fragment(head, run_every=REFRESH_S if live else None)()

try:
    resume_on: str | None = executor_choice(s)[0]
except StoreError as e:  # the chosen executor cannot run here (Ray not installed): resume says why
    resume_on = None
    resume_problem = str(e)


def do_resume():
    if resume_on is None:
        raise StoreError(resume_problem)
    resume(run_id, s)


def ask_delete():
    st.session_state["confirm-delete"] = run_id


possible = {"Cancel": lambda: cancel(run_id, s), "Resume": do_resume, "Delete": ask_delete}
labels_of = {
    "Cancel": "Cancel",
    "Delete": "Delete…",
    "Resume": f"Resume on {'this machine' if resume_on == 'local' else 'the Ray cluster'}" if resume_on else "Resume",
}
allowed = RunState(row["state"]).actions
if not s.writable:
    st.warning(f"The run store {plain(s.root)} is read-only: runs can be viewed, not started, cancelled or deleted.")
for column, name in zip(st.columns(3), allowed):  # wide enough for "Resume on the Ray cluster" whole
    if column.button(
        labels_of[name],
        key=name.lower(),
        disabled=not s.writable,
        help="Resume uses the executor chosen on the Home page now" if name == "Resume" else None,
    ):
        try:
            possible[name]()
            if name != "Delete":
                st.rerun()
        except (StoreError, Corrupt, OSError) as e:
            st.error(plain(e))
if st.session_state.get("confirm-delete") == run_id:
    st.warning(f"Delete run {run_id} with its metrics, checkpoints and results? This cannot be undone.")
    yes, no = st.columns([1, 5])
    if yes.button("Yes, delete", key="confirm-delete-yes", type="primary"):
        try:
            st.session_state["deleted-message"] = s.delete(run_id)
            st.session_state.pop("confirm-delete", None)
            st.rerun()
        except (StoreError, Corrupt, OSError) as e:
            st.error(plain(e))
    if no.button("Keep it", key="confirm-delete-no"):
        st.session_state.pop("confirm-delete", None)
        st.rerun()

if row["state"] == RunState.CORRUPT:
    st.error(f"This run folder cannot be read: {plain(row['error'])}. Delete it, or repair {plain(row['path'])}.")
    st.stop()
if row["state"] == RunState.FAILED:
    st.error(f"Failed: {plain(row['error'])}")


def live_metrics() -> pd.DataFrame:
    """The run's evaluations, reading only the lines appended since the last refresh."""
    held = st.session_state.setdefault(f"metrics-{run_id}", {"offset": 0, "records": []})
    records, offset = run_logs.metrics_since(s, run_id, held["offset"])
    held["records"] = records if offset < held["offset"] else held["records"] + records
    held["offset"] = offset
    return pd.DataFrame(held["records"])


def round_range(metrics: pd.DataFrame) -> tuple[int, int] | None:
    """The rounds (a one-shot run: densities) the user narrowed the curves to; the slider follows new rounds while
    it is left at the last one."""
    rounds = sorted(int(r) for r in metrics["round"].unique())
    if len(rounds) < 2:
        return None
    key, last_key = f"rounds-{run_id}", f"rounds-last-{run_id}"
    held = st.session_state.get(key)
    if not isinstance(held, (list, tuple)) or len(held) != 2 or held[0] not in rounds or held[1] not in rounds:
        st.session_state[key] = (rounds[0], rounds[-1])
    elif held[1] == st.session_state.get(last_key) and held[1] != rounds[-1]:
        st.session_state[key] = (held[0], rounds[-1])  # left at the newest round: the newest stays in view
    st.session_state[last_key] = rounds[-1]
    if oneshot:
        density = metrics.groupby("round")["density"].first()
        words = {r: "dense" if r == 0 else percent(float(density[r])) for r in rounds}
        label = "Densities"
    else:
        words = {r: f"round {r}" for r in rounds}
        label = "Rounds"
    chosen: tuple[int, int] = st.select_slider(label, options=rounds, format_func=words.__getitem__, key=key)  # type: ignore[assignment]
    return int(chosen[0]), int(chosen[1])


def curves() -> None:
    metrics = live_metrics()
    status = s.status_or_none(run_id) or {}
    if metrics.empty:
        st.info(
            "Waiting for the first evaluation…"
            if status.get("state") in ACTIVE
            else "This run recorded no evaluations."
        )
        return
    if status.get("state") is not None and status["state"] != row["state"]:
        st.rerun(scope="app")  # the run moved on (finished, cancelled, started): state and buttons follow
    arms = sorted(metrics["arm"].unique())
    left, right = st.columns([1, 2])
    # keyed by the arms present, so an arm that starts while the page is open appears by itself
    chosen = left.multiselect("Arms", arms, default=arms, key=f"arms-{run_id}-{'-'.join(arms)}")
    with right:
        span = round_range(metrics)
    shown = metrics[metrics["arm"].isin(chosen)]
    if span is not None:
        shown = shown[shown["round"].between(*span)]
    last = metrics.iloc[-1]
    where = percent(float(last["density"])) + " density" if oneshot else f"round {last['round']}"
    st.caption(
        f"{status.get('state')} · {len(metrics)} evaluations · last: {last['arm']} {where}, "
        f"iteration {last['iteration']}/{last['total_iterations']}, "
        f"validation accuracy {last['val_accuracy']:.4f}"
    )
    # Redrawn only when evaluations arrived or what is shown changed, and while the run trains at most once
    # per `redraw_seconds(points on screen)`: the browser re-renders the whole figure for a few new points,
    # a cost that grows with the figure; the caption above keeps following every evaluation.
    cached = st.session_state.get(f"curves-figure-{run_id}")
    view = (tuple(chosen), span)
    stale = (
        cached is None
        or cached[0] != view
        or (
            cached[1] != len(metrics)
            and (status.get("state") not in ACTIVE or time.monotonic() - cached[2] >= redraw_seconds(len(shown)))
        )
    )
    if cached is None or stale:
        figure = figures.training_curves(shown, f"run {run_id}", by_density=oneshot)
        cached = (view, len(metrics), time.monotonic(), figure)
        st.session_state[f"curves-figure-{run_id}"] = cached
    st.plotly_chart(cached[3], key=f"curves-{run_id}")
    if status.get("state") == RunState.DONE:
        try:
            show_results(s.results(run_id))
        except (Corrupt, StoreError, OSError) as e:
            st.error(f"The results cannot be read: {plain(e)}")


def log_panel() -> None:
    """The worker's log, its newest whole lines, read again at every refresh while the run is live."""
    lines = run_logs.log_tail(s, run_id, 200, progress_only=True)
    while lines and sum(len(line) + 1 for line in lines) > LOG_CHARS:  # whole lines only, the newest kept
        lines.pop(0)
    if lines:
        st.code("\n".join(lines))
    else:
        status = s.status_or_none(run_id) or {}
        st.caption(
            "The worker has written no progress line yet."
            if status.get("state") in ACTIVE
            else "This run's log holds no progress line."
        )


st.fragment(curves, run_every=REFRESH_S if live else None)()
# keyed: it stays as the user left it (open) when the run ends and the page redraws around it
with st.expander("Log", key=f"log-{run_id}"):
    st.fragment(log_panel, run_every=REFRESH_S if live else None)()
if row["state"] == RunState.DONE and EXPERIMENTS[row["experiment"]].keeps_networks:
    trained = st.expander(  # drawn when opened: the model export process starts only for one who looks
        "Trained networks: compression, model export, TensorBoard", key=f"trained-{run_id}", on_change="rerun"
    )
    if trained.open:
        with trained:
            try:
                summary = s.results(run_id)
            except (Corrupt, StoreError, OSError) as e:
                summary = None
                st.error(f"The results cannot be read: {plain(e)}")
            if summary:
                show_trained_networks(s, run_id, summary)
with st.expander("Details"):
    st.markdown(
        f"**device** {plain(row.get('device') or '-')} · "
        f"**pid** {int(row['pid']) if pd.notna(row.get('pid')) else '-'}"
        f" · **folder** {plain(row['path'])}  \n**error** {plain(row.get('error') or '-')}"
    )
with st.expander("Configuration"):
    try:
        st.json(s.config_record(run_id))
    except (OSError, Corrupt, StoreError) as e:
        st.error(plain(e))
