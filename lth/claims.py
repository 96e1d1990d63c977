"""The published statements this lab can test, as one registry of checks, each evaluated over whatever results
there are (a run store, or the results CSVs the presets export): *held*, *not held* or *undetermined* with the
numbers and the runs used, or *not checked* with what is missing to check it.

Each claim names its source (paper, figure or section), its words, the runs it needs (experiment, model, data,
arms, densities, controls) and its test: a family of one-sided paired questions (lth.statistics: scipy's
one-sided paired t-test, the sign test where every seed differs by the same amount), Holm-adjusted together
(statsmodels), each held when shown at adjusted p < ALPHA, not held when its opposite is shown, undetermined
otherwise with the seeds that would decide it (statsmodels' power calculation). A claim is held when every
question of its family is held, not held when any is not held, undetermined otherwise. Where the results hold
several series a claim applies to (two budgets, two data sets), each is judged on its own.

Pure pandas: the Claims page, `lth claims` and `lth report` show what `evaluate` returns.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from lth import statistics, walk
from lth.instability import STABLE_BARRIER

METRIC = "early_stop_test_accuracy"
MIN_SEEDS = 2  # a paired test needs two seeds; below that a claim is not checked
HELD, NOT_HELD, UNDETERMINED = "held", "not held", "undetermined"  # lth.statistics' words (a test checks)
NOT_CHECKED = "not checked"
VERDICTS = (HELD, NOT_HELD, UNDETERMINED, NOT_CHECKED)


@dataclass(frozen=True)
class Needs:
    """The runs a claim needs: their experiment and model (and data set, where the statement is about one), the
    arms compared, the densities (in percent; empty: every density the series holds) and the controls."""

    experiment: str
    model: str
    arms: tuple[str, ...]
    densities: tuple[float, ...] = ()
    controls: tuple[str, ...] = ()
    dataset: str | None = None  # None: any data set (the statement is of shape, not of numbers)
    seeds: int = MIN_SEEDS

    def words(self) -> str:
        where = f"{self.experiment} runs of {self.model}" + (f" on {self.dataset}" if self.dataset else "")
        densities = ", ".join(f"{d:g}%" for d in self.densities) if self.densities else "every density pruned"
        controls = f"; controls: {', '.join(self.controls)}" if self.controls else ""
        return f"{where}; arms: {', '.join(self.arms)}; at {densities}{controls}; at least {self.seeds} seeds"


@dataclass(frozen=True)
class Question:
    """One paired question of a claim's family: is A − B (paired by seed) above `boundary` ("greater") or below it
    ("less")? `quantity`: "accuracy" (the metric), "early stop" (iterations) or "barrier" (instability)."""

    words: str
    a: str  # arm
    b: str  # arm ("dense": the series' dense network at any density; "zero": a constant 0)
    density: float | None  # percent; None: the dense network
    quantity: str = "accuracy"
    boundary: float = 0.0
    direction: str = "greater"
    where: str = ""  # where it is asked, in words (default: "at <density>%")


@dataclass
class Evaluation:
    """A claim judged on one series: its verdict, the verdict in words, the questions with their numbers
    (`evidence`), the runs used, and what is missing where it could not be checked."""

    claim: str
    series: str
    verdict: str
    words: str
    evidence: pd.DataFrame = field(default_factory=pd.DataFrame)
    run_ids: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    seeds_needed: int | None = None

    def row(self) -> dict:
        return {
            "claim": self.claim,
            "series": self.series,
            "verdict": self.verdict,
            "words": self.words,
            "seeds_needed": self.seeds_needed,
            "missing": "; ".join(self.missing),
            "runs": " ".join(self.run_ids),
        }


@dataclass(frozen=True)
class Claim:
    id: str
    source: str  # paper, figure or section
    words: str  # the statement
    needs: Needs
    test: str  # how it is decided, in words
    margin: float | None  # the boundary of its "as good as" / "stable" questions (None: none is asked)
    questions: Callable[[pd.DataFrame], list[Question]] | None = None  # the family, given the series' results
    judge: Callable[[Claim, str, pd.DataFrame], Evaluation] | None = None  # a claim decided otherwise
    data: str = "results"  # "results" (density points) or "instability" (pairs along a line)


# ---- loading ---------------------------------------------------------------------------------------------------
def _training_key(frame: pd.DataFrame) -> pd.Series:
    """The `training` key of results exported before it existed: model, data set and budget (what trains the
    dense reference of a tfmot series the same way)."""
    keys = frame[["model", "dataset"]].astype(str).agg(" ".join, axis=1)
    if "iterations" in frame:
        keys = keys + " " + frame["iterations"].astype(str)
    return keys.map(lambda text: hashlib.sha256(text.encode()).hexdigest()[:6])


def read_exported(paths) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The results (`*_results.csv`) and instability pairs (`*_instability.csv`) a preset, `lth compare` or
    `lth analyze` exported, from files or folders (searched recursively), in the shape of
    lth.runs.tables.results_frame and instability_frame. A training exported twice (a preset's companion results
    copied beside its own) is read once. ValueError names a path that holds none of them."""
    results, pairs = [], []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            found = walk.files_named(path, "*_results.csv") + walk.files_named(path, "*_instability.csv")
            if not found:
                raise ValueError(f"{path} holds no *_results.csv or *_instability.csv")
        elif path.is_file():
            found = [path]
        else:
            raise ValueError(f"{path}: no such file or folder")
        for file in found:
            frame = pd.read_csv(file)
            if {"barrier", "rewind_iteration"} <= set(frame.columns):
                pairs.append(frame)
            elif {"run_id", "arm", "density", METRIC}.issubset(frame.columns):
                results.append(frame.assign(exported_from=str(file)))
            else:
                raise ValueError(f"{file} is not an exported results or instability table")
    frame = pd.concat(results, ignore_index=True) if results else pd.DataFrame()
    if not frame.empty:
        frame = frame.drop_duplicates(["run_id", "arm", "round"], keep="first").reset_index(drop=True)
        if "training" not in frame:
            frame["training"] = pd.NA
        missing = frame["training"].isna()
        frame.loc[missing, "training"] = _training_key(frame[missing])
        if "finished" not in frame:
            frame["finished"] = True
        frame = frame.drop(columns=[c for c in ("source",) if c in frame])
    instability = pd.concat(pairs, ignore_index=True) if pairs else pd.DataFrame()
    if not instability.empty:
        instability = instability.drop_duplicates(["run_id", "arm", "round", "rewind_iteration"])
    return frame, instability


def from_store(store) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The finished runs of a store, as `lth compare` and the Compare page read them."""
    from lth.runs import tables as run_tables

    return run_tables.results_frame(store), run_tables.instability_frame(store)


# ---- the questions ---------------------------------------------------------------------------------------------
def _at(frame: pd.DataFrame, arm: str, density: float | None) -> pd.DataFrame:
    rows = frame[frame["arm"] == arm]
    if density is not None and arm != "dense" and not rows.empty:
        rows = rows[statistics._close_density(rows["density_pct"].to_numpy(float), density)]
    return rows.drop_duplicates("seed").set_index("seed")


def _series_densities(frame: pd.DataFrame, arm: str) -> list[float]:
    """The densities (percent) below 100% at which the series holds `arm`, densest first."""
    return sorted({float(d) for d in frame.loc[frame["arm"] == arm, "density_pct"] if d < 100}, reverse=True)


def _ask(claim: Claim, frame: pd.DataFrame, questions: list[Question]) -> tuple[pd.DataFrame, list[str], set]:
    """Every question of a claim's family asked of one series (paired by seed), decided together (Holm over the
    family); what is missing to ask the others; the runs used."""
    rows, missing, runs = [], [], set()
    metric = "barrier" if claim.data == "instability" else METRIC
    for q in questions:
        a = _at(frame, q.a, q.density)
        b = a.assign(**{metric: 0.0, "early_stop_iteration": 0}) if q.b == "zero" else _at(frame, q.b, q.density)
        where = q.where or (f" at {q.density:g}%" if q.density is not None else "")
        if a.empty:
            missing.append(f"needs {_arm_words(q.a)}{where}")
            continue
        if b.empty:
            missing.append(f"needs {_arm_words(q.b)}{where}")
            continue
        seeds = sorted(set(a.index) & set(b.index))
        if len(seeds) < claim.needs.seeds:
            more = claim.needs.seeds - len(seeds)
            missing.append(f"needs {more} more seed{'s' * (more > 1)}{where} ({len(seeds)} of {claim.needs.seeds})")
            continue
        runs |= set(a.loc[seeds, "run_id"]) | (set(b.loc[seeds, "run_id"]) if "run_id" in b else set())
        quantity = "accuracy" if q.quantity in ("accuracy", "barrier") else "early stop"
        boundary = q.boundary  # an early-stop boundary is a fraction of B's mean early-stop iteration
        head = {"density_pct": q.density if q.density is not None else 100.0, "a": q.a, "b": q.b}
        rows += statistics._paired_questions(
            a, b, metric, [(q.words, quantity, boundary, q.direction)], head, claim.margin or 0.0
        )
    lead = ["density_pct", "a", "b"]
    table = statistics.decide(rows, lead) if rows else pd.DataFrame(columns=lead + statistics.QUESTION_COLUMNS)
    if claim.data == "instability":
        table = table.rename(columns={c: c.replace("accuracy", "barrier") for c in table.columns})
    return table, missing, runs


def _arm_words(arm: str) -> str:
    from lth.arms import criterion_of

    if "@" in arm:  # an instability pair: the network and its rewind point
        return f"an instability pair of the {arm.split('@')[0]} network"
    if arm == "dense":
        return "the dense network"
    parts = criterion_of(arm)
    if parts is not None and parts[1] is not None:
        return f"a {parts[1]} control of {parts[0]}"
    return f"a {arm} control" if arm in ("reinit", "random", "pruned") else f"the {arm} arm"


def _overall(claim: Claim, series: str, table: pd.DataFrame, missing: list[str], runs: set) -> Evaluation:
    """The claim's verdict from its family: not checked where a question could not be asked, else held when
    every question is held, not held when any is not held, undetermined otherwise (with the most seeds any of its
    undetermined questions needs)."""
    run_ids = tuple(sorted(runs))
    if missing:
        return Evaluation(
            claim.id, series, NOT_CHECKED, NOT_CHECKED + ": " + "; ".join(missing), table, run_ids, tuple(missing)
        )
    verdicts = list(table["verdict"])
    if not verdicts:
        return Evaluation(claim.id, series, NOT_CHECKED, f"{NOT_CHECKED}: nothing to ask", table, run_ids, ())
    limited = int(table["budget_limited_trainings"].sum()) if "budget_limited_trainings" in table else 0
    trainings = int(table["trainings"].sum()) if "trainings" in table else 0
    failed = table[table["verdict"] == NOT_HELD]
    open_ = table[table["verdict"] == UNDETERMINED]
    needed = None
    if NOT_HELD in verdicts:
        verdict = NOT_HELD
        words = "not held: " + "; ".join(_question_words(r) for _, r in failed.iterrows())
    elif all(v == HELD for v in verdicts):
        verdict = HELD
        words = f"held: all {len(verdicts)} question{'s' * (len(verdicts) > 1)} held"
    else:
        verdict = UNDETERMINED
        sizes = [int(v) for v in open_["seeds_needed"] if not pd.isna(v)]
        needed = max(sizes) if len(sizes) == len(open_) else None
        n = int(table["n"].min())
        words = (
            f"{statistics.undetermined_words(n, needed)} ({len(verdicts) - len(open_)} of {len(verdicts)} "
            f"questions held; undetermined: " + "; ".join(_question_words(r) for _, r in open_.iterrows()) + ")"
        )
    words += statistics.budget_words(limited, trainings)
    return Evaluation(claim.id, series, verdict, words, table, run_ids, (), needed)


def _question_words(row) -> str:
    column = "barrier_diff" if "barrier_diff" in row else "accuracy_diff"
    if "early" in row["question"] or "stops" in row["question"]:
        diff = f"{row['early_stop_diff']:+,.0f} iterations"
    elif column == "barrier_diff":
        diff = f"barrier {100 * row[column]:.2f} points"
    else:
        diff = f"{100 * row[column]:+.2f} points"
    p = f"p holm {row['p_holm']:.3g}" if row["verdict"] != NOT_HELD else f"opposite p holm {row['p_against_holm']:.3g}"
    where = f" at {row['density_pct']:g}%" if row["density_pct"] < 100 else ""
    return f"{row['question']}{where} ({diff}, {p})"


# ---- the registry ----------------------------------------------------------------------------------------------
def _every(densities, make: Callable[[float], list[Question]], arm: str = "ticket"):
    """A family over the claim's densities, or every density the series holds `arm` at where it names none."""

    def questions(frame: pd.DataFrame) -> list[Question]:
        points = list(densities) or _series_densities(frame, arm)
        return [q for d in points for q in make(d)]

    return questions


def _as_good_as_dense(d: float) -> list[Question]:
    return [Question("ticket as good as dense", "ticket", "dense", d, "accuracy", -statistics.MARGIN, "greater")]


def _faster(d: float) -> list[Question]:
    return [Question("ticket stops earlier than dense", "ticket", "dense", d, "early stop", 0.0, "less")]


def _above_reinit(d: float) -> list[Question]:
    return [Question("ticket more accurate than reinit", "ticket", "reinit", d, "accuracy", 0.0, "greater")]


def _leads(d: float) -> list[Question]:
    return [
        Question("ticket more accurate than pruned", "ticket", "pruned", d, "accuracy", 0.0, "greater"),
        Question("ticket more accurate than reinit", "ticket", "reinit", d, "accuracy", 0.0, "greater"),
    ]


def _meet(d: float) -> list[Question]:  # TOST: both one-sided tests against the margin
    m = statistics.MARGIN
    return [
        Question("ticket − reinit above −margin", "ticket", "reinit", d, "accuracy", -m, "greater"),
        Question("ticket − reinit below +margin", "ticket", "reinit", d, "accuracy", m, "less"),
    ]


PAI = ("synflow", "snip", "grasp")  # pruning at initialisation with sanity checks in the pruning-methods preset


def _unaffected_by(control: str):
    def make(d: float) -> list[Question]:
        return [
            Question(
                f"{control} of {name} as good as {name}",
                f"{name}-{control}",
                name,
                d,
                "accuracy",
                -statistics.MARGIN,
                "greater",
            )
            for name in PAI
        ]

    return make


def _stable_dense(frame: pd.DataFrame) -> list[Question]:
    ks = sorted(int(k) for k in frame.loc[frame["arm"].str.startswith("dense@"), "rewind_iteration"].unique())
    return [
        Question(
            f"dense stable after rewinding to k = {k}",
            f"dense@{k}",
            "zero",
            None,
            "barrier",
            STABLE_BARRIER,
            "less",
            f" at k = {k}",
        )
        for k in ks or [0]
    ]


def _stable_tickets(frame: pd.DataFrame) -> list[Question]:
    at0 = frame[frame["arm"] == "ticket@0"]
    densities = sorted({float(d) for d in at0["density_pct"]}, reverse=True)
    return [
        Question(
            "ticket stable at k = 0", "ticket@0", "zero", d, "barrier", STABLE_BARRIER, "less", f" at {d:g}%, k = 0"
        )
        for d in densities or [51.3]
    ]


def _layer_collapse(claim: Claim, series: str, frame: pd.DataFrame) -> Evaluation:
    """SynFlow against magnitude at init where magnitude at init emptied a layer: SynFlow empties none (counted
    per training) and is more accurate (one-sided paired test)."""
    from lth.figures import collapsed

    frame = frame.assign(collapsed=collapsed(frame))
    magnitude = frame[frame["arm"] == "magnitude_init"]
    synflow = frame[frame["arm"] == "synflow"]
    if magnitude.empty or synflow.empty:
        need = [f"needs {'magnitude_init' if magnitude.empty else 'synflow'} at 0.5% (a density where layers collapse)"]
        return Evaluation(claim.id, series, NOT_CHECKED, f"{NOT_CHECKED}: {need[0]}", missing=tuple(need))
    points = sorted({float(d) for d in magnitude.loc[magnitude["collapsed"], "density_pct"]}, reverse=True)
    if not points:
        sparsest = float(magnitude["density_pct"].min())
        why = f"needs a density where magnitude at init collapses (none down to {sparsest:g}%; 0.5% does)"
        return Evaluation(
            claim.id, series, NOT_CHECKED, f"{NOT_CHECKED}: {why}", run_ids=tuple(sorted(set(magnitude["run_id"])))
        )
    questions = [Question("synflow more accurate than magnitude_init", "synflow", "magnitude_init", d) for d in points]
    table, missing, runs = _ask(claim, frame, questions)
    counts = []
    for d in points:
        at = synflow[statistics._close_density(synflow["density_pct"].to_numpy(float), d)]
        mag = magnitude[statistics._close_density(magnitude["density_pct"].to_numpy(float), d)]
        counts.append((d, int(at["collapsed"].sum()), len(at), int(mag["collapsed"].sum()), len(mag)))
    if not table.empty:
        table["synflow_collapsed"] = [
            next(f"{c} of {n}" for p, c, n, _, _ in counts if p == d) for d in table["density_pct"]
        ]
        table["magnitude_init_collapsed"] = [
            next(f"{c} of {n}" for p, _, _, c, n in counts if p == d) for d in table["density_pct"]
        ]
    evaluation = _overall(claim, series, table, missing, runs)
    collapses = [f"{c} of {n} at {d:g}%" for d, c, n, _, _ in counts if c]
    if collapses and evaluation.verdict != NOT_CHECKED:
        evaluation.verdict = NOT_HELD
        evaluation.words = f"not held: synflow emptied a layer too ({', '.join(collapses)})"
    else:
        where = ", ".join(f"{d:g}% ({m} of {mn} magnitude-at-init trainings collapsed)" for d, _, _, m, mn in counts)
        evaluation.words += f"; synflow emptied no layer where magnitude at init did: {where}"
    return evaluation


FC = "Frankle & Carbin, The Lottery Ticket Hypothesis (ICLR 2019, arXiv 1803.03635)"
STUDY = "the original study (course project), its figure of test accuracy against density"
LMC = "Frankle, Dziugaite, Roy & Carbin, Linear Mode Connectivity and the LTH (ICML 2020, arXiv 1912.05671)"
MARK = (
    "Frankle et al., Pruning Neural Networks at Initialization: Why Are We Missing the Mark? (ICLR 2021); "
    "Su et al., Sanity-Checking Pruning Methods: Random Tickets can Win the Jackpot (NeurIPS 2020)"
)
SYNFLOW = "Tanaka et al., Pruning neural networks without any data by iteratively conserving synaptic flow (2020)"


def _as_good_words() -> str:
    return (
        f"at each density: ticket − dense > −margin ({100 * statistics.MARGIN:g} points), one-sided paired t-test; "
        "Holm over the densities; held when every density is"
    )


FASTER = "at each density: ticket's early-stop iteration − dense's < 0, one-sided paired test; Holm over the densities"
REINIT = "at each density: ticket − reinit > 0 in accuracy, one-sided paired t-test; Holm over the densities"


def _fc_claims(model: str, name: str, figure: str, as_good: tuple, faster: tuple, reinit: tuple) -> list[Claim]:
    stem = f"fc-{model.replace('_', '')}"
    down_to = f"down to {as_good[-1]:g}% of the weights" if as_good else "at every density pruned"
    return [
        Claim(
            f"{stem}-as-accurate",
            f"{FC}, {figure}",
            f"{name}: winning tickets are at least as accurate as the dense network {down_to}",
            Needs("lottery", model, ("ticket", "dense"), as_good),
            _as_good_words(),
            statistics.MARGIN,
            _every(as_good, _as_good_as_dense),
        ),
        Claim(
            f"{stem}-learn-faster",
            f"{FC}, {figure}",
            f"{name}: winning tickets learn faster: they reach their minimum validation loss earlier than the "
            f"dense network"
            + (f" ({', '.join(f'{d:g}' for d in faster)}%)" if faster else " (at every density pruned)"),
            Needs("lottery", model, ("ticket", "dense"), faster),
            FASTER,
            None,
            _every(faster, _faster),
        ),
        Claim(
            f"{stem}-reinit-below",
            f"{FC}, {figure}",
            f"{name}: randomly reinitialised tickets are less accurate than the winning tickets"
            + (f" ({', '.join(f'{d:g}' for d in reinit)}%)" if reinit else " (at every density pruned)"),
            Needs("lottery", model, ("ticket", "reinit"), reinit, ("reinit",)),
            REINIT,
            None,
            _every(reinit, _above_reinit),
        ),
    ]


@functools.cache
def claims_registry() -> dict[str, Claim]:
    """The claims, by id (built at first use: their margins are lth.statistics')."""
    return {
        c.id: c
        for c in [
            *_fc_claims(
                "lenet300_100",
                "LeNet-300-100",
                "Figure 3 and Section 2 (MNIST)",
                (51.3, 21.1, 7.0, 3.6),
                (51.3, 21.1),
                (21.1, 7.0, 3.6),
            ),
            *_fc_claims("conv2", "Conv-2", "Figure 5 and Section 3 (CIFAR-10)", (), (), ()),
            Claim(
                "study-ticket-leads",
                STUDY,
                "lenet5 with tfmot: from 10% down to 2% the lottery ticket is more accurate than the pruned network "
                "and than random reinitialisation",
                Needs("tfmot", "lenet5", ("ticket", "pruned", "reinit"), (10.0, 5.0, 2.0), ("reinit",)),
                "at 10, 5 and 2%: ticket − pruned > 0 and ticket − reinit > 0, one-sided paired t-tests; "
                "Holm over the six",
                None,
                _every((10.0, 5.0, 2.0), _leads),
            ),
            Claim(
                "study-meet-at-1pct",
                STUDY,
                "lenet5 with tfmot: at 1% the lottery ticket and random reinitialisation meet "
                "(equal within the margin)",
                Needs("tfmot", "lenet5", ("ticket", "reinit"), (1.0,), ("reinit",)),
                f"equivalence (two one-sided paired t-tests, TOST): −margin < ticket − reinit < +margin, margin "
                f"{100 * statistics.MARGIN:g} points; Holm over the two",
                statistics.MARGIN,
                _every((1.0,), _meet),
            ),
            Claim(
                "lmc-lenet300-dense-stable",
                f"{LMC}, Section 3 (LeNet on MNIST)",
                "LeNet-300-100's dense network is stable (error barrier under 2 points between two copies trained with "
                "different data orders) at every rewind point k tested, from k = 0",
                Needs("instability", "lenet300_100", ("dense",)),
                f"at each k: the error barrier < {100 * STABLE_BARRIER:g} points, one-sided t-test over seeds; Holm "
                "over the rewind points",
                STABLE_BARRIER,
                _stable_dense,
                data="instability",
            ),
            Claim(
                "lmc-lenet300-tickets-stable",
                f"{LMC}, Section 4 (IMP tickets of LeNet)",
                "IMP tickets of LeNet-300-100 are stable at k = 0 (why resetting to theta0 finds them)",
                Needs("instability", "lenet300_100", ("ticket",)),
                f"at each ticket density: the error barrier at k = 0 < {100 * STABLE_BARRIER:g} points, one-sided "
                "t-test over seeds; Holm over the densities",
                STABLE_BARRIER,
                _stable_tickets,
                data="instability",
            ),
            Claim(
                "mark-layerwise-shuffle",
                f"{MARK}: the layerwise-shuffle sanity check",
                "SNIP, GraSP and SynFlow lose nothing when their mask is shuffled within each layer: random "
                "pruning at the method's per-layer densities is as good as the method",
                Needs("oneshot", "lenet300_100", PAI, (3.6,), ("random_prune",)),
                f"per method at 3.6%: shuffled − method > −margin ({100 * statistics.MARGIN:g} points), one-sided "
                "paired t-test; Holm over the methods",
                statistics.MARGIN,
                _every((3.6,), _unaffected_by("random_prune")),
            ),
            Claim(
                "mark-reinit",
                f"{MARK}: the reinitialisation sanity check",
                "SNIP, GraSP and SynFlow lose nothing when the kept weights are reinitialised",
                Needs("oneshot", "lenet300_100", PAI, (3.6,), ("reinit",)),
                f"per method at 3.6%: reinit − method > −margin ({100 * statistics.MARGIN:g} points), one-sided paired "
                "t-test; Holm over the methods",
                statistics.MARGIN,
                _every((3.6,), _unaffected_by("reinit")),
            ),
            Claim(
                "synflow-no-layer-collapse",
                f"{SYNFLOW}, Section 4 and Figure 1",
                "SynFlow avoids layer collapse where magnitude pruning at initialisation collapses (empties a layer)",
                Needs("oneshot", "lenet300_100", ("synflow", "magnitude_init"), (0.5,)),
                "at each density where magnitude at init emptied a layer: SynFlow empties none (counted per training) "
                "and synflow − magnitude_init > 0 in accuracy (one-sided paired t-test; Holm over the densities)",
                None,
                judge=_layer_collapse,
            ),
        ]
    }


CLAIMS = claims_registry()  # the registry, by id


# ---- evaluation ------------------------------------------------------------------------------------------------
def _series_of(claim: Claim, results: pd.DataFrame, instability: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """The series a claim applies to, each with its results (a lottery run's round 0 as `dense`; a tfmot or
    one-shot series with the dense runs that train the same way)."""
    needs = claim.needs
    if claim.data == "instability":
        frame = instability
        if frame.empty or "model" not in frame:
            return []
        frame = frame[frame["model"] == needs.model]
        if needs.dataset:
            frame = frame[frame["dataset"] == needs.dataset]
        frame = frame.assign(
            density_pct=(100 * frame["density"]).round(2),
            barrier=frame["barrier"].astype(float),
            early_stop_iteration=0,
            budget_limited=False,
        )
        frame["arm"] = frame["arm"] + "@" + frame["rewind_iteration"].astype(str)
        frame["series"] = frame["model"] + " " + frame["dataset"]
        return [(f"instability {name}", group) for name, group in frame.groupby("series", sort=True)]
    if results.empty or "experiment" not in results:
        return []
    frame = statistics.with_dense(results)
    frame = frame.assign(density_pct=(100 * frame["density"]).round(2))
    mine = frame[(frame["experiment"] == needs.experiment) & (frame["model"] == needs.model)]
    if needs.dataset:
        mine = mine[mine["dataset"] == needs.dataset]
    out = []
    for label, group in mine.groupby("label", sort=True):
        if not (group["arm"] == "dense").any() and "training" in frame:  # a baseline trains its dense network
            dense = frame[(frame["arm"] == "dense") & (frame["training"] == group["training"].iloc[0])]
            group = pd.concat([group, dense], ignore_index=True)
        out.append((str(label), group))
    return out


def _not_checked(claim: Claim) -> Evaluation:
    needs = claim.needs
    what = f"needs {needs.experiment} runs of {needs.model}" + (f" on {needs.dataset}" if needs.dataset else "")
    if needs.controls:
        what += f" with the {', '.join(needs.controls)} control{'s' * (len(needs.controls) > 1)}"
    if needs.densities:
        what += f" at {', '.join(f'{d:g}%' for d in needs.densities)}"
    what += f", {needs.seeds} seeds at least"
    return Evaluation(claim.id, "—", NOT_CHECKED, f"{NOT_CHECKED}: {what}", missing=(what,))


def evaluate_claim(claim: Claim, results: pd.DataFrame, instability: pd.DataFrame | None = None) -> list[Evaluation]:
    """The claim judged on every series of the results it applies to (one Evaluation each), or one *not checked*
    evaluation saying which runs it needs."""
    instability = pd.DataFrame() if instability is None else instability
    series = _series_of(claim, results, instability)
    if not series:
        return [_not_checked(claim)]
    out = []
    for name, frame in series:
        if claim.judge is not None:
            out.append(claim.judge(claim, name, frame))
            continue
        assert claim.questions is not None
        table, missing, runs = _ask(claim, frame, claim.questions(frame))
        out.append(_overall(claim, name, table, missing, runs))
    return out


def evaluate(results: pd.DataFrame, instability: pd.DataFrame | None = None, claims=None) -> list[Evaluation]:
    """Every claim of the registry (or `claims`) on the results: one Evaluation per claim and series."""
    return [e for claim in (claims or claims_registry().values()) for e in evaluate_claim(claim, results, instability)]


def table(evaluations: list[Evaluation]) -> pd.DataFrame:
    """One row per claim and series: its source, words, verdict, the verdict in words, seeds needed, what is
    missing, the runs used."""
    rows = []
    for e in evaluations:
        claim = claims_registry().get(e.claim)
        rows.append(
            {
                **e.row(),
                "statement": claim.words if claim else "",
                "source": claim.source if claim else "",
                "margin": claim.margin if claim else None,
            }
        )
    columns = [
        "claim",
        "series",
        "verdict",
        "words",
        "margin",
        "seeds_needed",
        "missing",
        "statement",
        "source",
        "runs",
    ]
    frame = pd.DataFrame(rows, columns=columns)
    frame["seeds_needed"] = frame["seeds_needed"].astype("Int64")
    return frame


README_BEGIN = "<!-- claims: generated by `python -m lth claims --readme`; do not edit by hand -->"
README_END = "<!-- end of generated claims -->"
COMMITTED_RESULTS = (  # the result sets the README reports, in docs/results/
    "docs/results/fashion-mnist",
    "docs/results/fashion-mnist-converged",
    "docs/results/fashion-mnist-methods",
    "docs/results/fashion-mnist-conv2",
)


def committed_results(root: Path | None = None) -> list[str]:
    """The committed result sets that exist (a set is committed when its run has finished)."""
    base = root or Path(__file__).resolve().parent.parent
    return [str(base / folder) for folder in COMMITTED_RESULTS if (base / folder).is_dir()]


def readme_table(evaluations: list[Evaluation]) -> str:
    """The README's table of claims: each claim's statement, the result set it was judged on, the verdict and
    its reason, as `lth claims` gives them (a test checks the README holds exactly this)."""
    lines = [README_BEGIN, "", "| claim | judged on | verdict |", "|---|---|---|"]
    for row in table(evaluations).itertuples():
        words = str(row.words).removeprefix(f"{row.verdict}: ").replace("|", "/")
        lines.append(f"| {row.statement} | {row.series} | **{row.verdict}**: {words} |")
    return "\n".join([*lines, "", README_END])


def evidence(evaluations: list[Evaluation]) -> pd.DataFrame:
    """Every question asked, one row each, with its claim and series."""
    parts = [e.evidence.assign(claim=e.claim, series=e.series) for e in evaluations if not e.evidence.empty]
    if not parts:
        return pd.DataFrame(columns=["claim", "series"])
    frame = pd.concat(parts, ignore_index=True)
    return frame[["claim", "series", *[c for c in frame.columns if c not in ("claim", "series")]]]


def registry() -> pd.DataFrame:
    """The claims as a table: id, source, words, the runs they need, the test and the margin."""
    return pd.DataFrame(
        [
            {
                "claim": c.id,
                "source": c.source,
                "statement": c.words,
                "needs": c.needs.words(),
                "test": c.test,
                "margin": c.margin,
            }
            for c in claims_registry().values()
        ]
    )


def to_json(evaluations: list[Evaluation]) -> list[dict]:
    """The evaluations as JSON-ready records, each with its questions."""

    def clean(value):
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if isinstance(value, np.generic):
            return clean(value.item())
        if value is pd.NA:
            return None
        return value

    out = []
    for e in evaluations:
        record = {k: clean(v) for k, v in e.row().items()}
        record["questions"] = [{k: clean(v) for k, v in r.items()} for r in e.evidence.to_dict("records")]
        out.append(record)
    return out


# ---- lth claims ------------------------------------------------------------------------------------------------
def load(args) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The results `lth claims` and `lth report` judge: --results files, else the store."""
    if getattr(args, "results", None):
        return read_exported(args.results)
    from lth.runs import RunStore

    return from_store(RunStore(args.cache_dir, create=False))


def run(args) -> int:
    """`lth claims`: every claim of the registry on the store (or --results), as a table (or JSON); --export
    writes it as new files."""
    from lth.errors import Explained
    from lth.fsutil import output_folder, write_new_files

    try:
        if args.export is not None:
            output_folder(args.export, create=False)  # a bad folder is refused before anything is computed
        if args.readme and not args.results:
            args.results = committed_results()
        results, instability = load(args)
    except (Explained, OSError, ValueError) as e:
        print(f"lth claims: error: {e}", file=sys.stderr)
        return 2
    evaluations = evaluate(results, instability)
    if args.readme:
        print(readme_table(evaluations))
        return 0
    shown = table(evaluations)
    if args.json:
        print(json.dumps(to_json(evaluations), indent=1))
    else:
        print(text(shown))
    if args.export is not None:
        from lth import export

        try:
            written = write_new_files(
                args.export,
                {
                    "claims.csv": export.table_bytes(shown, "csv"),
                    "claims_evidence.csv": export.table_bytes(evidence(evaluations), "csv"),
                    "claims.json": json.dumps(to_json(evaluations), indent=1).encode(),
                },
            )
        except (Explained, OSError) as e:
            print(f"lth claims: error: {e}", file=sys.stderr)
            return 2
        print(f"written: {', '.join(str(p) for p in written)}", file=sys.stderr)
    return 0


def text(shown: pd.DataFrame, width: int = 110) -> str:
    """The claims table as plain text: one block per claim and series (id, series, verdict, words wrapped)."""
    import textwrap

    from lth.runs.processes import printable

    lines = []
    for _, row in shown.iterrows():
        lines.append(f"{row['claim']}  [{row['series']}]  {row['verdict'].upper()}")
        lines += textwrap.wrap(printable(str(row["words"])), width, initial_indent="    ", subsequent_indent="    ")
    counts = shown["verdict"].value_counts()
    lines.append(", ".join(f"{counts.get(v, 0)} {v}" for v in VERDICTS))
    return "\n".join(lines)
