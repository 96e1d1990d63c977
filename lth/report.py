"""Generated reports: one self-contained HTML file (interactive Plotly figures with plotly.js inside the file: it
opens offline and no request leaves it) and a PDF (the figures rendered by kaleido, laid out by fpdf2), for a
preset, a selection of runs, or exported results.

What a report holds: what ran (settings, data fingerprints, the code's version, package versions, machine,
device, wall time), the figures, the tables with their verdicts (lth.statistics), the claims with their evidence
(lth.claims) and the checks the committed results rely on: every pruned network at its target density per layer,
every training stopped by patience or flagged budget-limited, mask integrity (pruned weights exactly zero).
"""

from __future__ import annotations

import datetime
import html
import importlib.metadata
import io
import os
import platform
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from lth import claims as claim_registry

METRIC = claim_registry.METRIC
PACKAGES = (
    *("tensorflow", "tf-keras", "tensorflow-model-optimization", "numpy", "pandas", "scipy", "statsmodels"),
    *("plotly", "kaleido", "streamlit", "fpdf2"),
)
ROOT = Path(__file__).resolve().parent.parent
PASS, FAIL, FLAGGED, NOT_RECORDED = "pass", "fail", "flagged", "not recorded"


@dataclass
class Report:
    title: str
    results: pd.DataFrame
    instability: pd.DataFrame = field(default_factory=pd.DataFrame)
    runs: pd.DataFrame = field(default_factory=pd.DataFrame)  # what ran, one row per run
    configs: dict = field(default_factory=dict)  # run id -> RunConfig, where the store has it
    environment: dict = field(default_factory=dict)
    figures: dict = field(default_factory=dict)
    tables: dict = field(default_factory=dict)
    claims: list = field(default_factory=list)
    checks: pd.DataFrame = field(default_factory=pd.DataFrame)


# ---- what ran --------------------------------------------------------------------------------------------------
def code_version(root: Path = ROOT) -> str:
    """The checkout's branch and commit, read from its .git folder (no process is started), or "unknown"."""
    git = root / ".git"
    try:
        head = (git / "HEAD").read_text().strip()
        if not head.startswith("ref: "):
            return head[:12]
        ref = head[5:]
        if (git / ref).is_file():
            return f"{ref.rsplit('/', 1)[-1]} @ {(git / ref).read_text().strip()[:12]}"
        for line in (git / "packed-refs").read_text().splitlines():
            if line.endswith(" " + ref):
                return f"{ref.rsplit('/', 1)[-1]} @ {line.split()[0][:12]}"
    except OSError:
        pass
    return "unknown"


def environment() -> dict:
    """The code's version, the package versions, the machine."""
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    return {
        "code version": code_version(),
        "python": platform.python_version(),
        "packages": versions,
        "machine": f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}",
        "generated": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def runs_table(results: pd.DataFrame, store=None) -> tuple[pd.DataFrame, dict]:
    """One row per run: its settings, data fingerprint, device and wall time (from the store where it has the
    run, else what the exported results say); and the runs' configs by id."""
    if results.empty:
        return pd.DataFrame(), {}
    rows, configs = [], {}
    for run_id, group in results.groupby("run_id", sort=False):
        first = group.iloc[0]
        row = {
            "run_id": run_id,
            "experiment": first.get("experiment"),
            "model": first.get("model"),
            "dataset": first.get("dataset"),
            "seed": first.get("seed"),
            "device": first.get("device"),
            "trainings": len(group),
            "training_s": float(group["train_seconds"].sum()) if "train_seconds" in group else None,
            "settings": "",
            "data_fingerprint": "not in the export",
            "wall_s": None,
        }
        if store is not None:
            try:
                record, config = store.config_and_record(run_id)
                status = store.status(run_id)
            except Exception:  # a run the store cannot read is reported as the results say
                record, config, status = None, None, {}
            if record is not None:
                configs[run_id] = config
                canonical = record["canonical"]
                row["settings"] = ", ".join(f"{k}={v}" for k, v in sorted(canonical.items()) if v not in (None, ()))
                row["data_fingerprint"] = record.get("dataset_fingerprint")
                if status.get("started") and status.get("ended"):
                    row["wall_s"] = status["ended"] - status["started"] + (status.get("elapsed_before") or 0.0)
        if not row["settings"]:
            keep = [c for c in ("iterations", "label", "exported_from") if c in group and pd.notna(first.get(c))]
            row["settings"] = ", ".join(f"{c}={first[c]}" for c in keep)
        rows.append(row)
    return pd.DataFrame(rows), configs


# ---- checks ----------------------------------------------------------------------------------------------------
def _layer_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c.startswith("density_") and c != "density_pct"]


def density_checks(results: pd.DataFrame, configs: dict) -> list[dict]:
    """Every pruned training at its target density, per layer where the settings say it (a lottery round's
    ladder step, a tfmot target); from exported results without settings: the arms that share a mask (a
    lottery round's ticket and reinit; a tfmot run's three arms) have the same per-layer densities, and tfmot
    prunes every layer to the ticket's density."""
    rows = []
    layers = _layer_columns(results)
    for label, group in results.groupby("label", sort=True):
        checked, off = 0, []
        for run_id, run in group.groupby("run_id", sort=False):
            config = configs.get(run_id)
            pruned = run[run["density"] < 1]
            if pruned.empty:
                continue
            if config is not None:
                plan = config.plan
                expected = plan.densities() or {}
                ladder = (
                    {s["round"]: s["layer_density"] for s in plan.density_ladder()}
                    if hasattr(plan, "density_ladder")
                    else {}
                )
                for _, r in pruned.iterrows():
                    key = (r["arm"], int(r["round"]))
                    checked += 1
                    if key in expected and abs(r["density"] - expected[key]) > plan.density_slack:
                        off.append(
                            f"{run_id} {r['arm']} round {r['round']}: {r['density']:.4f}, not {expected[key]:.4f}"
                        )
                    want = ladder.get(int(r["round"]), {})
                    if config.experiment == "tfmot" and config.target_density is not None:
                        want = {c.removeprefix("density_"): config.target_density for c in layers if pd.notna(r[c])}
                    slack = max(plan.density_slack, 1e-3)
                    for layer, value in want.items():
                        got = r.get(f"density_{layer}")
                        if got is not None and pd.notna(got) and abs(got - value) > slack:
                            off.append(f"{run_id} {r['arm']} round {r['round']} {layer}: {got:.4f}, not {value:.4f}")
                continue
            experiment = run["experiment"].iloc[0]
            if experiment in ("lottery", "tfmot") and layers:
                shared = pruned[pruned["arm"].isin(("ticket", "reinit", "pruned"))]
                for round_, same in shared.groupby("round"):
                    checked += len(same)
                    spread = same[layers].max() - same[layers].min()
                    if (spread > 1e-3).any():
                        off.append(f"{run_id} round {round_}: its arms' masks differ in per-layer density")
                if experiment == "tfmot":
                    ticket = pruned[pruned["arm"] == "ticket"]
                    if not ticket.empty:
                        target = float(ticket["density"].iloc[0])
                        values = pruned[layers].stack()
                        if ((values - target).abs() > 1e-3).any():
                            off.append(f"{run_id}: a layer is not at the target {100 * target:g}%")
        if not checked:
            continue
        rows.append(
            {
                "check": "pruned networks at their target density, per layer",
                "series": label,
                "status": FAIL if off else PASS,
                "details": (
                    f"{len(off)} off: " + "; ".join(off[:5])
                    if off
                    else f"{checked} pruned trainings checked"
                    + ("" if any(r in configs for r in group["run_id"]) else " (exported results: shared masks)")
                ),
            }
        )
    return rows


def stopping_checks(results: pd.DataFrame) -> list[dict]:
    """Every training stopped by patience, or flagged budget-limited (its best evaluation was its last)."""
    from lth import statistics

    rows = []
    frame = results.assign(budget_limited=statistics.budget_limited(results))
    for label, group in frame.groupby("label", sort=True):
        patience = int(group["stopped_early"].eq(True).sum()) if "stopped_early" in group else 0
        limited = int(group["budget_limited"].sum())
        rest = len(group) - patience - limited
        rows.append(
            {
                "check": "trainings stopped by patience, or flagged budget-limited",
                "series": label,
                "status": FLAGGED if limited else PASS,
                "details": f"{len(group)} trainings: {patience} stopped by patience, {rest} ran to the budget with "
                f"their best evaluation earlier, {limited} budget-limited (best evaluation = last)",
            }
        )
    return rows


def mask_checks(results: pd.DataFrame) -> list[dict]:
    """Pruned weights exactly zero at the end of every training (the store refuses a run where they are not)."""
    rows = []
    for label, group in results.groupby("label", sort=True):
        if "pruned_nonzero" not in group or group["pruned_nonzero"].isna().all():
            rows.append(
                {
                    "check": "mask integrity (pruned weights exactly zero)",
                    "series": label,
                    "status": NOT_RECORDED,
                    "details": "made before trainings recorded it",
                }
            )
            continue
        bad = group[(group["pruned_nonzero"].fillna(0) > 0) | (group.get("pruned_max_abs", 0) > 0)]
        rows.append(
            {
                "check": "mask integrity (pruned weights exactly zero)",
                "series": label,
                "status": FAIL if len(bad) else PASS,
                "details": f"{len(bad)} of {len(group)} trainings with a pruned weight not zero",
            }
        )
    return rows


def checks(results: pd.DataFrame, configs: dict) -> pd.DataFrame:
    if results.empty:
        return pd.DataFrame(columns=["check", "series", "status", "details"])
    return pd.DataFrame(density_checks(results, configs) + stopping_checks(results) + mask_checks(results))


# ---- building ----------------------------------------------------------------------------------------------------
def build(
    title: str, results: pd.DataFrame, instability: pd.DataFrame | None = None, store=None, margin: float | None = None
) -> Report:
    """A report of `results` (and instability pairs): figures, tables with verdicts, claims, checks."""
    from lth import figures, statistics

    instability = pd.DataFrame() if instability is None else instability
    margin = statistics.MARGIN if margin is None else margin
    runs, configs = runs_table(results, store)
    report = Report(title, results, instability, runs, configs, environment())
    if not results.empty:
        stats = figures.aggregate(results, METRIC)
        comparison = statistics.comparisons(results, METRIC, margin=margin)
        verdicts = statistics.verdicts(comparison)
        report.figures["accuracy_vs_density"] = figures.accuracy_vs_density(results, METRIC, "std", stats, verdicts)
        report.figures["early_stop_vs_density"] = figures.early_stop_vs_density(results, "std", stats)
        oneshot = results[results["experiment"] == "oneshot"]
        if not oneshot.empty:
            report.figures["layer_density_vs_density"] = figures.layer_density_vs_density(oneshot)
        methods = statistics.method_comparisons(results, METRIC, margin=margin)
        report.tables["winning tickets"] = verdicts
        report.tables["ticket against dense and controls"] = comparison
        if not methods.empty:
            report.tables["pruning methods against their controls, dense and IMP"] = methods
        report.tables["statistics over seeds"] = statistics.summary(results, METRIC)
    if not instability.empty:
        report.figures["instability_barrier_vs_k"] = figures.instability_barrier_vs_k(instability)
    report.claims = claim_registry.evaluate(results, instability)
    report.checks = checks(results, configs)
    if instability.empty and results.empty:
        report.checks = pd.DataFrame(columns=["check", "series", "status", "details"])
    return report


# ---- HTML --------------------------------------------------------------------------------------------------------
STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;max-width:1200px;color:#222}
table{border-collapse:collapse;font-size:12px;margin:0.5em 0 1.5em}
th,td{border:1px solid #ccc;padding:2px 6px;text-align:left;vertical-align:top}
th{background:#f3f3f3} .held{color:#176d2c;font-weight:bold} .not-held{color:#b00020;font-weight:bold}
.undetermined{color:#8a6d00;font-weight:bold} .not-checked{color:#666;font-weight:bold}
.figure{margin:1em 0 2em} code{background:#f3f3f3;padding:0 3px} details{margin:0.3em 0 1em}
"""


def _table_html(frame: pd.DataFrame, max_rows: int = 400) -> str:
    if frame is None or frame.empty:
        return "<p><em>none</em></p>"
    shown = frame.head(max_rows).round(4)
    more = f"<p>({len(frame) - max_rows} more rows in the CSV exports)</p>" if len(frame) > max_rows else ""
    return shown.to_html(index=False, escape=True, na_rep="—", border=0) + more


def _verdict_html(verdict: str) -> str:
    return f'<span class="{verdict.replace(" ", "-")}">{html.escape(verdict)}</span>'


def to_html(report: Report) -> str:
    """The report as one HTML file: plotly.js inside it (the first figure carries it), nothing fetched."""
    e = html.escape
    env = report.environment
    parts = [
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{e(report.title)}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>{e(report.title)}</h1>",
        "<h2>What ran</h2><ul>",
        f"<li>code version: <code>{e(env.get('code version', ''))}</code>; Python {e(env.get('python', ''))}</li>",
        f"<li>machine: {e(env.get('machine', ''))}</li>",
        f"<li>device(s): {e(', '.join(map(str, report.results['device'].dropna().unique())) if 'device' in report.results else '—')}</li>",  # noqa: E501
        f"<li>generated: {e(env.get('generated', ''))}</li>",
        "<li>packages: " + ", ".join(f"{e(k)} {e(v)}" for k, v in env.get("packages", {}).items()) + "</li>",
    ]
    if not report.runs.empty:
        training = report.runs["training_s"].sum(min_count=1)
        wall = report.runs["wall_s"].sum(min_count=1)
        parts.append(
            f"<li>{len(report.runs)} runs, {int(report.runs['trainings'].sum())} trainings; training time "
            f"{'—' if pd.isna(training) else f'{training / 60:.1f} min'}; wall time of the runs "
            f"{'— (not in the export)' if pd.isna(wall) else f'{wall / 60:.1f} min'}</li>"
        )
    parts.append("</ul>")
    parts.append("<details><summary>runs: settings, data fingerprints, devices</summary>")
    parts.append(_table_html(report.runs) + "</details>")
    parts.append("<h2>Checks</h2>" + _table_html(report.checks))
    parts.append("<h2>Claims</h2>")
    parts.append(
        "<p>Each published statement judged on these results: held, not held or undetermined (one-sided paired "
        "tests, Holm over each claim's questions), or not checked with what is missing.</p>"
    )
    shown = claim_registry.table(report.claims)
    rows = "".join(
        f"<tr><td>{e(r['claim'])}</td><td>{e(str(r['series']))}</td><td>{_verdict_html(r['verdict'])}</td>"
        f"<td>{e(r['statement'])}<br><small>{e(r['source'])}</small></td><td>{e(r['words'])}</td></tr>"
        for _, r in shown.iterrows()
    )
    parts.append(
        "<table><tr><th>claim</th><th>series</th><th>verdict</th><th>statement</th><th>evidence</th></tr>"
        + rows
        + "</table>"
    )
    for evaluation in report.claims:
        if not evaluation.evidence.empty:
            parts.append(
                f"<details><summary>{e(evaluation.claim)} · {e(evaluation.series)}: the questions (runs "
                f"{e(' '.join(evaluation.run_ids))})</summary>{_table_html(evaluation.evidence)}</details>"
            )
    parts.append("<h2>Figures</h2>")
    for i, (name, fig) in enumerate(report.figures.items()):
        div = fig.to_html(
            full_html=False,
            include_plotlyjs=i == 0,  # plotly.js once, inside the file
            div_id=f"figure-{name}",
            config={"displaylogo": False},
        )
        parts.append(f"<div class='figure' data-figure='{e(name)}'>{div}</div>")
    for name, frame in report.tables.items():
        parts.append(f"<h2>{e(name[:1].upper() + name[1:])}</h2>{_table_html(frame)}")
    parts.append("</body></html>")
    return "\n".join(parts)


# ---- PDF ---------------------------------------------------------------------------------------------------------
_LATIN = str.maketrans(
    {"−": "-", "–": "-", "—": "-", "·": "-", "≠": "!=", "≤": "<=", "≥": ">=", "“": '"', "”": '"', "’": "'", "…": "..."}
)


def _latin(value) -> str:
    """fpdf2's core fonts are Latin-1: other characters are spelled in it."""
    return str(value).translate(_LATIN).encode("latin-1", "replace").decode("latin-1")


def to_pdf(report: Report) -> bytes:
    """The report as a PDF: what ran, checks, claims, the figures (PNG through kaleido, where Chromium is present)
    and the winning-ticket table."""
    from fpdf import FPDF

    from lth import export

    pdf = FPDF(orientation="landscape", format="A4")
    pdf.set_auto_page_break(True, margin=12)
    pdf.add_page()
    width = pdf.w - pdf.l_margin - pdf.r_margin

    def heading(text: str, size: int = 13) -> None:
        pdf.set_font("Helvetica", "B", size)
        pdf.multi_cell(width, 7, _latin(text), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", "", 8)

    def line(text: str) -> None:
        pdf.multi_cell(width, 4, _latin(text), new_x="LMARGIN", new_y="NEXT")

    env = report.environment
    heading(report.title, 16)
    line(f"code version {env.get('code version')}; Python {env.get('python')}; generated {env.get('generated')}")
    line(f"machine: {env.get('machine')}")
    line("packages: " + ", ".join(f"{k} {v}" for k, v in env.get("packages", {}).items()))
    if not report.runs.empty:
        for _, r in report.runs.iterrows():
            line(
                f"run {r['run_id']}: {r['experiment']} {r['model']} {r['dataset']} seed {r['seed']}, "
                f"{r['trainings']} trainings, data {r['data_fingerprint']}, {r['device']}"
            )
    heading("Checks")
    for _, r in report.checks.iterrows():
        line(f"[{r['status']}] {r['check']} - {r['series']}: {r['details']}")
    heading("Claims")
    for _, r in claim_registry.table(report.claims).iterrows():
        pdf.set_font("Helvetica", "B", 8)
        line(f"{r['claim']} [{r['series']}]: {r['verdict'].upper()}")
        pdf.set_font("Helvetica", "", 8)
        line(f"{r['statement']} ({r['source']})")
        line(str(r["words"]))
        pdf.ln(1)
    problem = export.image_export_problem()
    for name, fig in report.figures.items():
        pdf.add_page()
        heading(name.replace("_", " "))
        if problem:
            line(f"(figure not rendered: {problem})")
            continue
        png = export.figure_bytes(fig, "png")
        pdf.image(io.BytesIO(png), w=width, h=pdf.h - pdf.get_y() - 15, keep_aspect_ratio=True)
    verdicts = report.tables.get("winning tickets")
    if verdicts is not None and not verdicts.empty:
        pdf.add_page()
        heading("Winning tickets")
        for _, r in verdicts.iterrows():
            line(f"{r['label']} at {r['density_pct']:g}%: {r['verdict']}")
    return bytes(pdf.output())


# ---- selection and `lth report` ----------------------------------------------------------------------------------
def select(args) -> tuple[str, pd.DataFrame, pd.DataFrame, object]:
    """(title, results, instability pairs, store or None) of what `lth report` is asked for. ValueError says why
    a selection cannot be made."""
    if args.results:
        results, instability = claim_registry.read_exported(args.results)
        return f"Report: results from {', '.join(map(str, args.results))}", results, instability, None
    from lth.runs import RunStore
    from lth.runs import tables as run_tables

    store = RunStore(args.cache_dir, create=False)
    if args.runs:
        for run_id in args.runs:
            store.check_id(run_id)
        return (
            f"Report: runs {' '.join(args.runs)}",
            run_tables.results_frame(store, args.runs),
            run_tables.instability_frame(store, args.runs),
            store,
        )
    if args.preset:
        from lth import presets
        from lth.runs.queue import check

        if args.preset not in presets.PRESETS:
            raise ValueError(f"no preset {args.preset!r}; choose one of {', '.join(presets.PRESETS)}")
        preset = presets.PRESETS[args.preset]
        if args.budget not in preset.budgets:
            raise ValueError(f"preset {args.preset} has no budget {args.budget!r} ({', '.join(preset.budgets)})")
        configs = preset.configs(args.budget, args.dataset)
        ids = [check(c, None, download=False).run_id for c in configs]
        results = run_tables.results_frame(store, ids)
        companion = presets.companion_results(args.preset, args.budget, args.dataset, store)
        if not companion.empty:
            results = pd.concat([results, companion.drop(columns=["source"], errors="ignore")], ignore_index=True)
            results = results.drop_duplicates(["run_id", "arm", "round"], ignore_index=True)
        title = f"Report: preset {args.preset}, {args.budget} budget ({len(set(ids))} runs asked)"
        return title, results, run_tables.instability_frame(store, ids), store
    return "Report: every finished run of the store", *claim_registry.from_store(store), store


def run(args) -> int:
    """`lth report`: report.html (and report.pdf) of the selection, as new files in --export."""
    from lth.errors import Explained
    from lth.fsutil import output_folder, write_new_files

    try:
        output_folder(args.export, create=False)
        title, results, instability, store = select(args)
    except (Explained, OSError, ValueError) as e:
        print(f"lth report: error: {e}", file=sys.stderr)
        return 2
    if results.empty and instability.empty:
        print("lth report: error: no finished runs match", file=sys.stderr)
        return 2
    report = build(title, results, instability, store)
    files = {"report.html": to_html(report).encode()}
    if not args.no_pdf:
        files["report.pdf"] = to_pdf(report)
    try:
        written = write_new_files(args.export, files)
    except (Explained, OSError) as e:
        print(f"lth report: error: {e}", file=sys.stderr)
        return 2
    verdicts = pd.Series([e.verdict for e in report.claims]).value_counts()
    print(
        f"{len(report.runs)} runs, {len(report.figures)} figures, claims: "
        + ", ".join(f"{verdicts.get(v, 0)} {v}" for v in claim_registry.VERDICTS)
    )
    print("\n".join(str(p) for p in written))
    return 0
