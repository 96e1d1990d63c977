"""Generated reports (lth.report): the HTML file is self-contained (nothing fetched; opens in headless Chromium
with the network cut off and draws every figure), the PDF has pages with the figures, the checks flag what they
should."""

import re
import shutil

import pandas as pd
import pytest

from conftest import ROOT, cli_in_process
from lth import claims, report

COMMITTED = [ROOT / "docs" / "results" / "fashion-mnist-methods", ROOT / "docs" / "results" / "analysis"]
CHROMIUM = shutil.which("chromium")


@pytest.fixture(scope="module")
def built():
    results, instability = claims.read_exported(COMMITTED)
    return report.build("test report", results, instability)


@pytest.fixture(scope="module")
def page(built):
    return report.to_html(built)


def fetched_urls(text: str) -> list[str]:
    """Every address the page would load: script, link, img, iframe, source, object, CSS url() and @import."""
    found = re.findall(
        r"<(?:script|link|img|iframe|source|object|embed)\b[^>]*?(?:src|href|data)\s*=\s*['\"]?([^'\" >]+)", text
    )
    found += re.findall(r"url\(\s*['\"]?(https?:[^'\")]+)", text) + re.findall(
        r"@import\s+['\"]?(https?:[^'\";]+)", text
    )
    return [u for u in found if re.match(r"(https?:)?//", u)]


def test_the_html_report_fetches_nothing_and_holds_every_part(built, page):
    assert fetched_urls(page) == []
    assert page.count("Plotly.newPlot") == len(built.figures) >= 3
    for claim_id in claims.CLAIMS:
        assert claim_id in page
    for part in ("What ran", "Checks", "Claims", "code version", "statsmodels", "Winning tickets"):
        assert part in page
    assert "pruned networks at their target density, per layer" in page and "mask integrity" in page


def test_the_checks_flag_budget_limited_trainings_and_unzeroed_masks():
    frame = pd.DataFrame(
        {
            "run_id": ["a", "a", "b"],
            "label": ["s", "s", "s"],
            "experiment": ["lottery"] * 3,
            "arm": ["ticket", "ticket", "ticket"],
            "round": [0, 1, 1],
            "density": [1.0, 0.8, 0.8],
            "density_fc1": [1.0, 0.8, 0.8],
            "early_stop_iteration": [500, 1000, 600],
            "final_iteration": [1000, 1000, 1000],
            "stopped_early": [False, False, False],
            "pruned_nonzero": [0, 0, 3],
            "pruned_max_abs": [0.0, 0.0, 0.1],
        }
    )
    table = report.checks(frame, {}).set_index("check")["status"]
    assert table["trainings stopped by patience, or flagged budget-limited"] == "flagged"
    assert table["mask integrity (pruned weights exactly zero)"] == "fail"
    assert table["pruned networks at their target density, per layer"] == "pass"


def test_the_code_version_is_read_without_git():
    assert report.code_version() != ""
    assert report.code_version(ROOT / "no-such-checkout") == "unknown"


def test_lth_report_writes_new_files_only(capsys, tmp_path):
    args = ["report", "--results", *COMMITTED, "--export", tmp_path / "out", "--no-pdf"]
    code, out, err = cli_in_process(capsys, *args)
    assert code == 0, err
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["report.html"]
    code, _, err = cli_in_process(capsys, *args)
    assert code == 2 and "already holds" in err


@pytest.mark.trains  # starts Chromium (Playwright's driver)
@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (make test installs it)")
def test_the_html_report_draws_every_figure_in_chromium_with_the_network_cut_off(built, page, tmp_path):
    from playwright.sync_api import sync_playwright

    path = tmp_path / "report.html"
    path.write_text(page)
    asked = []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"],
        )
        context = browser.new_context(viewport={"width": 1400, "height": 1000})

        def route(r):
            if r.request.url.startswith("file://"):
                r.continue_()
            else:
                asked.append(r.request.url)
                r.abort()

        context.route("**/*", route)
        tab = context.new_page()
        errors = []
        tab.on("pageerror", lambda e: errors.append(str(e)))
        tab.goto(path.as_uri())
        tab.wait_for_function(
            f"document.querySelectorAll('.js-plotly-plot .main-svg').length >= {len(built.figures)}", timeout=60_000
        )
        drawn = tab.eval_on_selector_all(
            ".js-plotly-plot", "els => els.map(e => e.querySelectorAll('.main-svg .trace, .main-svg path').length)"
        )
        browser.close()
    assert asked == [] and errors == []
    assert len(drawn) == len(built.figures) and all(n > 0 for n in drawn)


@pytest.mark.trains  # kaleido starts Chromium to render the figures
@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (make test installs it)")
def test_the_pdf_report_has_pages_with_the_figures(built):
    data = report.to_pdf(built)
    assert data.startswith(b"%PDF")
    pages = len(re.findall(rb"/Type\s*/Page\b", data))
    images = len(re.findall(rb"/Subtype\s*/Image", data))
    assert pages >= 1 + len(built.figures) and images == len(built.figures)
