"""The libraries the pages use, imported once in the background when the server starts, the image engine for
figure exports started, and the Compare page's tables for the whole store computed: a page's first visit then
costs its own work, not seconds of importing scipy, plotly and the analyses, of starting a Chromium for kaleido,
or of the first pass through them."""

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
    with contextlib.suppress(Exception):  # a damaged store is the page's to report
        _tables_of_the_store()


def _tables_of_the_store() -> None:
    """What Compare shows first (every finished run, the first metric) and the Claims page's verdicts: they land
    in the pages' caches (st.cache_data is the server's, keyed by content), and the figure's code paths run once."""
    from dashboard.common import claim_evaluations, compare_tables
    from lth import claims, figures
    from lth.runs import RunStore

    results, instability = claims.from_store(RunStore(create=False))
    claim_evaluations(results, instability)
    if results.empty:
        return
    metric = list(figures.METRICS)[0]
    stats, _, verdicts, _, _ = compare_tables(results, metric)
    figures.accuracy_vs_density(results, metric, "std", stats, verdicts)


threading.Thread(target=_import_all, daemon=True, name="lth-warm-imports").start()  # once: module import
