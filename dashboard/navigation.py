"""The dashboard's pages, in navigation order: Home, one page per registered experiment (its plan declares the
page, title, heading, intro and icon: lth.plans), then the pages every experiment shares. app.py builds the
navigation from this list, each experiment's page script renders its plan's words, and the browser test and
benchmark walk it. Pure data: no Streamlit import."""

from __future__ import annotations

from dataclasses import dataclass

from lth.hparams import EXPERIMENTS


@dataclass(frozen=True)
class Page:
    file: str  # in pages/
    title: str  # in the navigation
    heading: str  # the page's title (what a browser walk waits for)
    icon: str
    experiment: str | None = None

    @property
    def path(self) -> str:
        """The page's URL path ("" for Home, the default page)."""
        return "" if self.file == "home" else self.file

    @property
    def script(self) -> str:
        return f"pages/{self.file}.py"


HOME = Page("home", "Home", "Lottery Ticket Lab", ":material/home:")
SHARED = (
    Page("runs", "Runs", "Runs", ":material/list:"),
    Page("compare", "Compare", "Compare runs", ":material/stacked_line_chart:"),
    Page("claims", "Claims", "Claims", ":material/fact_check:"),
    Page("analysis", "Masks and weights", "Masks and weights", ":material/grid_on:"),
)
PAGES: tuple[Page, ...] = (
    HOME,
    *(Page(plan.page, plan.page_title, plan.heading, plan.icon, name) for name, plan in EXPERIMENTS.items()),
    *SHARED,
)
