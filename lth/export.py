"""Figure and data export: PNG, SVG and PDF through kaleido (which drives a Chromium), standalone HTML,
CSV and JSON. Image formats need Chromium; HTML, CSV and JSON always work."""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
import warnings

import pandas as pd
import plotly.graph_objects as go

from lth.errors import ExportError

IMAGE_FORMATS = ("png", "svg", "pdf")
MIME = {
    "png": "image/png",
    "svg": "image/svg+xml",
    "pdf": "application/pdf",
    "html": "text/html",
    "csv": "text/csv",
    "json": "application/json",
}
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")


# kaleido drives a Chromium. Started once per process and kept (kaleido's sync server): an export then
# takes a fraction of a second instead of the 3-5 s of starting a browser for each click. Its server
# serves one caller at a time, so calls from several dashboard sessions are serialised.
_IMAGE_LOCK = threading.Lock()
_image_server = False
_warming = False


def _render(fig: go.Figure, fmt: str) -> bytes:
    global _image_server
    import kaleido

    with _IMAGE_LOCK:
        if not _image_server:
            kaleido.start_sync_server(silence_warnings=True)
            _image_server = True
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "kopts is ignored if using a server": plotly passes none we need
            return fig.to_image(
                format=fmt,
                width=fig.layout.width or 1100,
                height=fig.layout.height or 500,
                scale=2 if fmt == "png" else 1,
            )


def warm_image_export() -> None:
    """Start the image engine in the background (once), so that the first export click is fast too."""
    global _warming
    if _warming or _image_server or image_export_problem():
        return
    _warming = True

    def warm():
        with contextlib.suppress(Exception):  # the click that needs it reports the problem
            _render(go.Figure(), "svg")

    threading.Thread(target=warm, daemon=True, name="lth-kaleido-warm").start()


def image_export_problem() -> str | None:
    """Why PNG/SVG/PDF export cannot work here, or None when a Chromium for kaleido is present."""
    if os.environ.get("BROWSER_PATH") and os.path.exists(os.environ["BROWSER_PATH"]):
        return None
    if any(shutil.which(name) for name in BROWSERS):
        return None
    return (
        "PNG, SVG and PDF export need Chromium, which is not installed: run `sudo apt-get install "
        "chromium` (or set BROWSER_PATH to a Chrome/Chromium binary). HTML and CSV export work without it."
    )


def figure_bytes(fig: go.Figure, fmt: str) -> bytes:
    if fmt == "html":
        return fig.to_html(include_plotlyjs=True, full_html=True).encode()
    if fmt not in IMAGE_FORMATS:
        raise ExportError(f"unknown figure format {fmt!r}")
    problem = image_export_problem()
    if problem:
        raise ExportError(problem)
    try:
        return _render(fig, fmt)
    except Exception as e:  # kaleido/Chromium failures surface as assorted exception types
        raise ExportError(f"{fmt.upper()} export failed: {e}") from e


def bundle_files(figures: dict, tables: dict, formats=None) -> tuple[dict[str, bytes], list[str]]:
    """The files of an export (`NAME.FORMAT` per figure: by default standalone HTML, plus PNG and SVG where
    Chromium is present; `NAME.csv` per table) as bytes, and the figure formats."""
    formats = list(formats or ["html"] + ([] if image_export_problem() else ["png", "svg"]))
    files = {f"{name}.{fmt}": figure_bytes(fig, fmt) for name, fig in figures.items() for fmt in formats}
    files.update({f"{name}.csv": table_bytes(table, "csv") for name, table in tables.items()})
    return files, formats


def write_bundle(folder, figures: dict, tables: dict, formats=None, extra: dict[str, bytes] | None = None) -> list[str]:
    """Figures and tables (as `bundle_files`) and `extra` files into a folder, as new files only
    (lth.fsutil.write_new_files: nothing is overwritten or written through a link); returns the figure formats."""
    from lth.fsutil import write_new_files

    files, formats = bundle_files(figures, tables, formats)
    write_new_files(folder, {**files, **(extra or {})})
    return formats


def table_bytes(frame: pd.DataFrame, fmt: str) -> bytes:
    frame = frame.round(6)  # 0.91905, not 0.9190499999999999: float noise is not data
    if fmt == "csv":
        return frame.to_csv(index=False).encode()
    if fmt == "json":
        return frame.to_json(orient="records", indent=1).encode()
    raise ExportError(f"unknown data format {fmt!r}")
