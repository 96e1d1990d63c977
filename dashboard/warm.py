"""The libraries the pages use, imported once in the background when the server starts, and the image
engine for figure exports started: a page's first visit then costs its own work, not seconds of importing
scipy, plotly and the analyses or of starting a Chromium for kaleido."""

import contextlib
import importlib
import threading

MODULES = (
    "plotly.graph_objects",
    "scipy.stats",
    "pandas",
    "pyarrow",  # every st.dataframe converts through it
    "lth.figures",
    "lth.statistics",
    "lth.analysis",
    "lth.presets",
    "lth.runs",
    "dashboard.forms",
    "dashboard.trained",
)


def _import_all() -> None:
    for name in MODULES:
        with contextlib.suppress(Exception):  # the page that needs it reports the problem
            importlib.import_module(name)
    from lth import export

    export.warm_image_export()


threading.Thread(target=_import_all, daemon=True, name="lth-warm-imports").start()  # once: module import
