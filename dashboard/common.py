"""Shared page pieces: the store, submitting runs, result tables, export buttons."""

from __future__ import annotations

import functools

import pandas as pd
import streamlit as st

from dashboard.text import plain
from lth import export
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
    for r in summary["results"]:
        rows.append(
            {
                "arm": r["arm"],
                "round": r["round"],
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
            big = values.abs().max(skipna=True)
            shown[column] = values.round(1 if pd.notna(big) and big >= 100 else 4)
        elif values.dtype == object:
            shown[column] = values.map(lambda v: "—" if v is None or (isinstance(v, float) and pd.isna(v)) else v)
    return shown.rename(columns=words)


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


def table_downloads(frame: pd.DataFrame, name: str, key: str) -> None:
    columns = st.columns(4)
    for column, fmt in zip(columns, ("csv", "json")):
        with column:
            st.download_button(
                fmt.upper(),
                data=export.table_bytes(frame, fmt),
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
