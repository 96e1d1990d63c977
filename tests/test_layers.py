"""The house's structure, checked from the source: imports run from higher layers to lower ones only (no
cycle, lazy imports included), the pure layers import neither TensorFlow at module level nor the run store,
and only lth/paths.py spells a file name of a run folder."""

import ast
import re
from pathlib import Path

from conftest import ROOT

LTH = ROOT / "lth"
PURE = (
    "lth.errors",
    "lth.walk",
    "lth.seeds",
    "lth.controls",
    "lth.paths",
    "lth.pruning",
    "lth.criteria",
    "lth.arms",
    "lth.records",
    "lth.fsutil",
    "lth.networks",
    "lth.checkpoint",
    "lth.hparams",
    *(f"lth.plans.{p.stem}" for p in (LTH / "plans").glob("*.py") if p.stem != "__init__"),
)


def module_name(path: Path) -> str:
    name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
    return name.removesuffix(".__init__")


def imports(path: Path, top_level_only: bool = False) -> set[str]:
    """The lth modules `path` imports (a package's submodule by its own name, not the package's)."""
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else ast.walk(tree)
    found = set()
    for node in nodes:
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "lth":
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.add(
                    sub
                    if (ROOT / (sub.replace(".", "/") + ".py")).exists() or (ROOT / sub.replace(".", "/")).is_dir()
                    else node.module
                )
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "lth"}
    return found - {module_name(path)}


def graph() -> dict[str, set[str]]:
    return {module_name(p): imports(p) for p in LTH.rglob("*.py")}


def test_imports_form_no_cycle():
    edges = graph()
    packages = {m for m in edges if (ROOT / m.replace(".", "/")).is_dir()}
    edges = {m: {d for d in deps if d not in packages} for m, deps in edges.items() if m not in packages}
    state: dict[str, int] = {}

    def visit(node, trail):
        state[node] = 1
        for dep in sorted(edges.get(node, ())):
            assert state.get(dep) != 1, "import cycle: " + " -> ".join(trail + [node, dep])
            if dep not in state:
                visit(dep, trail + [node])
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node, [])
    assert "lth.oneshot" in edges and "lth.runner" in edges  # the walk saw the whole package


def test_pure_layers_stay_pure():
    for name in PURE:
        path = ROOT / (name.replace(".", "/") + ".py")
        everywhere = imports(path)
        assert not any(m.startswith(("lth.runs", "lth.cli", "lth.experiments", "lth.training")) for m in everywhere), (
            name,
            everywhere,
        )
        assert "lth.tf_setup" not in imports(path, top_level_only=True), name
        assert not re.search(r"^import (tensorflow|streamlit)|^from (tensorflow|streamlit)", path.read_text(), re.M)


RUN_FILES = re.compile(
    r"""["'](config|status|heartbeat|results|settings)\.json|metrics\.jsonl|["']log\.txt|"""
    r"""weights\.npz|ticket\.npz|round_\{|net_\{|_round\{|\.lock["']|"""
    r"""["']checkpoint["'/]"""
)


def test_only_paths_spells_run_folder_files():
    """Code only: docstrings and comments may name the files they describe."""
    spelled = []
    sources = list(LTH.rglob("*.py")) + list((ROOT / "dashboard").rglob("*.py")) + list((ROOT / "pages").glob("*.py"))
    for path in sources:
        if path.name == "paths.py":
            continue
        text = path.read_text()
        docs = {
            n
            for node in ast.walk(ast.parse(text))
            if isinstance(node, ast.Expr)
            and isinstance(getattr(node, "value", None), ast.Constant)
            and isinstance(node.value.value, str)
            for n in range(node.lineno, node.end_lineno + 1)
        }
        for number, line in enumerate(text.splitlines(), 1):
            code = line.split("#")[0]
            if RUN_FILES.search(code) and number not in docs:
                spelled.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not spelled, "\n".join(spelled)


def test_every_experiment_is_its_plan_its_runner_its_form_and_its_page():
    """Adding an experiment: a plan (lth/plans), the class that trains it, a registry entry, a form and a page."""
    from dashboard.forms import FORMS
    from lth.experiments import Experiment
    from lth.hparams import EXPERIMENTS
    from lth.runner import experiment_class

    pages = "\n".join(p.read_text() for p in (ROOT / "pages").glob("*.py"))
    assert len(EXPERIMENTS) >= 5
    for name, plan in EXPERIMENTS.items():
        assert plan.name == name and plan.title
        assert issubclass(experiment_class(name), Experiment), name
        assert name in FORMS, name
        assert f'render("{name}"' in pages, name
    assert set(FORMS) == set(EXPERIMENTS)


def test_the_app_lists_every_page_and_the_page_walks_cover_them():
    from dashboard.navigation import PAGES
    from lth.bench_browser import page_headings  # the browser test's and benchmark's walk: each page's heading
    from lth.hparams import EXPERIMENTS

    assert sorted(p.script for p in PAGES) == sorted(f"pages/{p.name}" for p in (ROOT / "pages").glob("*.py"))
    assert "PAGES" in (ROOT / "app.py").read_text()  # the navigation is built from the list
    assert {p.experiment for p in PAGES if p.experiment} == set(EXPERIMENTS)  # one page per experiment
    for name, plan in EXPERIMENTS.items():  # a page declared by its plan, with its words
        assert plan.page and plan.page_title and plan.heading and plan.intro, name
        assert (ROOT / "pages" / f"{plan.page}.py").read_text().count(f'render("{name}")') == 1, name
    assert len({p.path for p in PAGES}) == len(PAGES) and len({p.heading for p in PAGES}) == len(PAGES)
    assert list(page_headings()) == [p.path for p in PAGES]
