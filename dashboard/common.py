"""Shared page pieces: the store, submitting runs, result tables, export buttons."""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import streamlit as st

from dashboard.text import plain
from lth import export, paths
from lth.data import DataError
from lth.hparams import ConfigError, RunConfig
from lth.runs import Corrupt, RunStore, StoreError, Submission, submit_all
from lth.runs.queue import Outcome


def store() -> RunStore:
    try:
        return RunStore()
    except StoreError as e:  # the store folder is a file, or cannot be created
        st.error(plain(e))
        st.stop()


def submit_runs(configs: list[RunConfig], data_dir: str | None) -> list[Submission]:
    """Submit every config (all or none); show what happened to each; return the submissions."""
    s = store()
    try:
        submissions = submit_all(configs, data_dir=data_dir, store=s)
    except (ConfigError, DataError, StoreError, Corrupt, OSError) as e:
        st.error(f"Nothing was started: {plain(e)}")
        return []
    for sub in submissions:
        (st.success if sub.outcome == Outcome.CACHED else st.info)(sub.message)
        if sub.outcome == Outcome.CACHED:
            try:
                show_results(s.results(sub.run_id))
            except (Corrupt, StoreError, OSError) as e:
                st.error(plain(e))
    if submissions and any(sub.outcome != "cached" for sub in submissions):
        st.page_link("pages/runs.py", label="Follow them on the Runs page", icon=":material/list:")
    return submissions


def results_table(summary: dict) -> pd.DataFrame:
    rows = []
    oneshot = by_density((summary.get("config") or {}).get("experiment"))
    for r in summary["results"]:
        rows.append(
            {
                "arm": r["arm"],
                **({} if oneshot else {"round": r["round"]}),  # a one-shot run's networks are its densities
                "density %": round(100 * r["density"], 2),
                "early-stop iteration": r["early_stop_iteration"],
                "test acc. at early stop": r["early_stop_test_accuracy"],
                "final test acc.": r["final_test_accuracy"],
                **{f"{k} %": round(100 * v, 2) for k, v in r.get("layer_density", {}).items()},
                # mask integrity: pruned weights that are not exactly zero at the end (a run fails if any)
                **({"pruned weights ≠ 0": r["pruned_nonzero"]} if "pruned_nonzero" in r else {}),
            }
        )
    return pd.DataFrame(rows)


# Column names of the library's tables as a reader says them (the downloads keep the names as they are).
COLUMN_WORDS = {
    "density_pct": "density %",
    "n": "seeds",
    "ci_low": "95% CI low",
    "ci_high": "95% CI high",
    "p": "p-value",
    "p_value": "p-value",
    "diff": "difference",
    "pct": "%",
}


def readable(frame: pd.DataFrame) -> pd.DataFrame:
    """A table to show: snake_case headers in words, numbers rounded to what can be read, no "None"."""
    if frame is None or frame.empty:
        return frame

    def words(column: str) -> str:
        if column in COLUMN_WORDS:
            return COLUMN_WORDS[column]
        parts = str(column).split("_")
        out = []
        i = 0
        while i < len(parts):
            pair = "_".join(parts[i : i + 2])
            if pair in COLUMN_WORDS and i + 1 < len(parts):
                out.append(COLUMN_WORDS[pair])
                i += 2
            else:
                out.append(COLUMN_WORDS.get(parts[i], parts[i]))
                i += 1
        return " ".join(out).replace("early stop", "early-stop")

    shown = frame.copy()
    for column in shown.columns:
        values = shown[column]
        if pd.api.types.is_float_dtype(values):
            whole = values.dropna()
            if counts(str(column)) and len(whole) and (whole % 1 == 0).all():
                shown[column] = values.astype("Int64")  # an iteration, a seed count: 24849, not 24849.0
                continue
            big = values.abs().max(skipna=True)
            shown[column] = values.round(1 if pd.notna(big) and big >= 100 else 4)
        elif values.dtype == object:
            shown[column] = consistent(values)
    return shown.rename(columns=words)


# columns that count or name by number (shown as whole numbers where every value is one)
_COUNTS = ("iteration", "seed", "pid", "round", "trainings", "bytes", "params", "macs", "seeds_needed")


def counts(column: str) -> bool:
    return column == "n" or column.endswith("_n") or any(word in column for word in _COUNTS)


def consistent(values: pd.Series) -> pd.Series:
    """An object column of one type, as Arrow needs it (a column mixing booleans and "—" is converted with a
    traceback in the server's log): booleans with gaps a nullable boolean column, numbers with gaps a number
    column; anything else text, missing values "—"."""

    def missing(v) -> bool:
        return v is None or (isinstance(v, float) and pd.isna(v)) or v is pd.NA

    present = [v for v in values if not missing(v)]
    if present and all(isinstance(v, (bool, np.bool_)) for v in present):
        return values.map(lambda v: pd.NA if missing(v) else bool(v)).astype("boolean")
    if present and all(isinstance(v, (int, float, np.number)) and not isinstance(v, (bool, np.bool_)) for v in present):
        return pd.to_numeric(values, errors="coerce")
    return values.map(lambda v: "—" if missing(v) else v if isinstance(v, str) else str(v))


def by_density(experiment: str | None) -> bool:
    """Whether a run's networks are named by their density, not by a round: a one-shot run prunes once to each
    density (its records' `round` is only the density's place in its list)."""
    return experiment == "oneshot"


def percent(density: float) -> str:
    """A density as a reader says it: 0.036 -> "3.6%", 0.003 -> "0.3%", 0.211 -> "21.1%"."""
    return f"{100 * density:.3g}%"


def network_words(config, arm: str, round_: int) -> str:
    """A kept network by name: "ticket round 3" for a run by rounds, "synflow at 3.6% density" for a one-shot run."""
    if by_density(getattr(config, "experiment", None)):
        densities = config.plan.ordered_densities()
        if round_ == 0 or round_ > len(densities):
            return f"{arm} (dense)" if round_ == 0 else f"{arm} #{round_}"
        return f"{arm} at {percent(densities[round_ - 1])} density"
    return f"{arm} round {round_}"


def network_file_part(config, arm: str, round_: int) -> str:
    """A kept network in a file name: "ticket_round03", or "synflow_density3.6pct" for a one-shot run."""
    if by_density(getattr(config, "experiment", None)):
        densities = config.plan.ordered_densities()
        if 0 < round_ <= len(densities):
            return f"{arm}_density{100 * densities[round_ - 1]:.3g}pct"
        if round_ == 0:
            return f"{arm}_dense"
    return paths.training_name(arm, round_)


def show_results(summary: dict | None) -> None:
    if not summary:
        return
    st.caption(
        f"run {plain(summary.get('run_id', ''))} · {plain(summary['device']['name'])} · {summary['seconds']:.1f} s"
    )
    st.dataframe(results_table(summary), hide_index=True, width="stretch")


def figure_downloads(fig, name: str, key: str) -> None:
    """PNG/SVG/PDF (generated on click through kaleido) and standalone HTML downloads of a figure."""
    problem = export.image_export_problem()
    export.warm_image_export()  # the engine starts while the page is read, not at the first click
    columns = st.columns(4)
    for column, fmt in zip(columns, export.IMAGE_FORMATS + ("html",)):
        with column:
            if fmt in export.IMAGE_FORMATS and problem:
                st.button(fmt.upper(), disabled=True, key=f"{key}-{fmt}", help=problem)
                continue
            st.download_button(
                fmt.upper(),
                data=functools.partial(export.figure_bytes, fig, fmt),
                file_name=f"{name}.{fmt}",
                mime=export.MIME[fmt],
                key=f"{key}-{fmt}",
                on_click="ignore",
                help="standalone: plotly.js (about 4.7 MB) is inside the file, so it opens offline"
                if fmt == "html"
                else None,
            )
    if problem:
        st.caption(problem)


def report_downloads(title: str, results: pd.DataFrame, instability: pd.DataFrame, key: str) -> None:
    """The report of these results as downloads (lth.report): one HTML file (interactive figures, plotly.js
    inside: it opens offline) and a PDF, built when a button is pressed."""
    from lth import report

    st.caption(
        "One HTML file (interactive figures, plotly.js inside: it opens offline) and a PDF: what ran, checks, "
        "claims with their evidence, figures and verdict tables."
    )

    def built():
        return report.build(title, results, instability, store())

    left, right = st.columns(2)
    left.download_button(
        "Report (HTML)",
        data=lambda: report.to_html(built()).encode(),
        file_name="report.html",
        mime=export.MIME["html"],
        key=f"{key}-html",
        on_click="ignore",
    )
    right.download_button(
        "Report (PDF)",
        data=lambda: report.to_pdf(built()),
        file_name="report.pdf",
        mime=export.MIME["pdf"],
        key=f"{key}-pdf",
        on_click="ignore",
        help=export.image_export_problem(),
    )


def table_downloads(frame: pd.DataFrame, name: str, key: str) -> None:
    """CSV and JSON downloads of a table, written when a button is pressed (not at every rerun of the page)."""
    columns = st.columns(4)
    for column, fmt in zip(columns, ("csv", "json")):
        with column:
            st.download_button(
                fmt.upper(),
                data=functools.partial(export.table_bytes, frame, fmt),
                file_name=f"{name}.{fmt}",
                mime=export.MIME[fmt],
                key=f"{key}-{fmt}",
                on_click="ignore",
            )


def format_seconds(value) -> str:
    if value is None or pd.isna(value):
        return ""
    value = int(value)
    return f"{value // 3600}h{value % 3600 // 60:02d}m" if value >= 3600 else f"{value // 60}m{value % 60:02d}s"


@st.cache_data(max_entries=16, show_spinner=False)
def compare_tables(
    chosen: pd.DataFrame, metric: str
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The Compare page's numbers for one filter: (aggregate per point, ticket comparisons, verdicts, method
    comparisons, summary over seeds). Kept per filter, so a rerun that changes nothing of it (a figure export, a
    head-to-head choice, the store watch) or a filter chosen again costs nothing."""
    from lth import figures, statistics

    comparison = statistics.comparisons(chosen, metric)
    return (
        figures.aggregate(chosen, metric),
        comparison,
        statistics.verdicts(comparison),
        statistics.method_comparisons(chosen, metric),
        statistics.summary(chosen, metric),
    )


@st.cache_data(max_entries=8, show_spinner=False)
def claim_evaluations(results: pd.DataFrame, instability: pd.DataFrame) -> list:
    """Every claim judged on these results (lth.claims.evaluate), kept per content of the store's tables: the
    Claims page's reruns (an expander opened, a download) and its next visits cost nothing until a run ends."""
    from lth import claims

    return claims.evaluate(results, instability)


@st.cache_data(max_entries=32, show_spinner=False)
def head_to_head_table(chosen: pd.DataFrame, first: str, second: str, metric: str) -> pd.DataFrame:
    """Compare's head-to-head table for one filter and pair (statistics.head_to_head), kept like
    `compare_tables`: a rerun that changes neither costs nothing."""
    from lth import statistics

    return statistics.head_to_head(chosen, first, second, metric)


def _budget(frame: pd.DataFrame) -> str:
    iterations = frame["iterations"].dropna() if "iterations" in frame else pd.Series(dtype=float)
    return f"{int(iterations.iloc[0]):,} iterations" if len(iterations) else "the same budget"


def imp_runs_for(group: pd.DataFrame) -> tuple[list[RunConfig], str | None]:
    """The lottery runs that would give one-shot series `group` its IMP ticket: each seed's run trained the same
    way (its settings, `for_experiment("lottery")`), with rounds down to the series' lowest density; and where
    their data is read. Empty where a run's settings cannot be read."""
    import dataclasses

    from lth import pruning

    s, configs, data_dir = store(), [], None
    for run_id in group.drop_duplicates("seed").sort_values("seed")["run_id"]:
        try:
            record, config = s.config_and_record(run_id)
        except (Corrupt, StoreError, OSError):
            return [], None
        lottery = config.for_experiment("lottery")
        try:
            rounds = pruning.rounds_to_reach(lottery.prunable_shapes(), lottery.layer_rates(), group["density"].min())
        except ValueError:
            return [], None
        configs.append(dataclasses.replace(lottery, rounds=rounds))
        data_dir = record.get("data_dir")
    return configs, data_dir


def missing_words(chosen: pd.DataFrame, what: str, table: pd.DataFrame) -> list[str]:
    """Why a statistics table of the Compare page is empty or lacks a comparison, in words: which run, trained
    how, would make it (instead of an empty table under raw column names)."""
    lottery = chosen[chosen["experiment"] == "lottery"]
    where = ", ".join(sorted({f"{m} on {d}" for m, d in zip(chosen["model"], chosen["dataset"])}))
    if what in ("verdicts", "comparisons"):
        if (lottery.empty or not lottery["arm"].eq("ticket").any()) and what == "comparisons":
            return [
                "No ticket to compare with the dense network and its controls: the lottery run named above would "
                "make this table too."
            ]
        if lottery.empty or not lottery["arm"].eq("ticket").any():
            return [
                "No lottery run is in these filters, so there is no ticket to judge: the verdicts compare a lottery "
                f"run's ticket with the dense network trained the same way, seed by seed. A lottery run ({where}, "
                "from the Lottery ticket page or `python -m lth submit --experiment lottery`) would make this table."
            ]
        if table.empty:
            return [
                "The lottery runs in these filters have no dense training to pair with (their round 0, or a baseline "
                "run with the same model, data, budget and optimiser, with the same seeds): the run "
                f"`python -m lth submit --experiment baseline` with those settings ({where}) would make this table."
            ]
        return []
    if what == "methods":
        oneshot = chosen[chosen["experiment"] == "oneshot"]
        if oneshot.empty:
            return []
        paired = set(table["label"][table["against"] == "IMP ticket"]) if not table.empty else set()
        out = []
        for label, group in oneshot.groupby("label", sort=True):
            if label in paired:
                continue
            trained_alike = lottery[lottery["training"].isin(group["training"])]
            first = group.iloc[0]
            budget = _budget(group)
            seeds = ", ".join(map(str, sorted(group["seed"].unique())))
            if trained_alike.empty:
                out.append(
                    f"No IMP ticket to compare {label} with: these filters hold no lottery run that trains the same "
                    f"way ({first['model']} on {first['dataset']}, {budget}, the same batch size, learning rate and "
                    f"optimiser). Such a lottery run, with rounds down to these densities and seeds {seeds}, would "
                    "add the “as good as IMP ticket” rows."
                )
            else:
                out.append(
                    f"The lottery runs that train like {label} reach none of its densities with a shared seed: more "
                    f"rounds (down to {group['density'].min():.1%}) or the seeds {seeds} would pair them."
                )
        if table.empty and not out:
            out.append("No one-shot method has a comparison with a shared seed in these filters.")
        return out
    return []
