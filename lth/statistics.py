"""Statistics over seeds for the Compare page, `lth compare` and the exports: per series, arm and density the
mean, std and 95% confidence interval; and comparisons paired by seed, each answering the question it is asked
in three words: `held`, `not held` or `undetermined`.

The questions, with d = A − B per seed (a one-sided paired t-test, scipy.stats.ttest_rel with `alternative`,
the boundary shifted onto B):
- "more accurate than B": held when d > 0 is shown; not held when d < 0 is shown (B is more accurate);
- "as good as B" (non-inferiority within the margin): held when d > −margin is shown; not held when
  d < −margin is shown (worse by more than the margin);
- "stops no later than B" (early-stop iteration): held when d < EARLY_STOP_MARGIN × B's mean is shown; not
  held when the opposite is shown (later by more than that).
Shown: the p-value Holm-adjusted over every question of the table (statsmodels multipletests' Holm formula;
columns `p_value`, `p_holm`) is below ALPHA; the opposite one-sided tests form their own Holm family
(`p_against_holm`). Otherwise undetermined, with how many seeds would decide it at the observed paired
spread (`seeds_needed`: the fewest seeds at which statsmodels' TTestPower.power, one-sided, reaches 0.8, at
ALPHA divided by the table's number of questions, the strictest Holm step). A verdict resting on trainings whose minimum
validation loss came at their last evaluation (budget-limited) says so in its words.

Winning ticket at a density of a series: "as good as dense" and "stops no later than dense" both held (not
held if either is not held; undetermined otherwise). Stars: filled, a winning ticket that is also held "more
accurate than dense"; hollow, a winning ticket within the margin; none otherwise (undetermined or worse).

Where every seed differs by the same amount (early stops are on the evaluation grid) a t-test is undefined:
a sign test (scipy binomtest, 0.5^n) answers, and `seeds_needed` is the n where 0.5^n falls below the level.

MARGIN, half a point of test accuracy: the seed-to-seed spread of the dense network itself. Its std over
seeds is 0.16-0.38 points in this project's full-scale runs (README), so two seeds of the same unpruned
network differ by 0.2-0.5 points in std: a gap below half a point is what training the dense network again
with another seed can give, not a loss one can lay on pruning. EARLY_STOP_MARGIN, 10% of the reference's
early-stop iteration: a quarter of the speed-up Frankle & Carbin call learning faster (early stop about 38%
earlier).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import special as scipy_special
from scipy import stats as scipy_stats
from statsmodels.stats.power import TTestPower

from lth.hparams import EXPERIMENTS

CONFIDENCE = 0.95  # the intervals shown (two-sided, unadjusted: descriptive)
ALPHA = 0.05  # family-wise error rate of the verdicts (Holm over a table's questions)
POWER = 0.8  # the power `seeds_needed` asks for
MARGIN = 0.005  # accuracy: half a point (see the module's docstring for why)
EARLY_STOP_MARGIN = 0.10  # early stop: 10% of the reference's mean early-stop iteration
SEEDS_CAP = 1_000_000  # `seeds_needed` beyond this (a difference next to the boundary) is stored as this
HELD, NOT_HELD, UNDETERMINED = "held", "not held", "undetermined"
WINNING_RULE = (
    f"a winning ticket: as good as the dense network within a margin of {100 * MARGIN:g} points of "
    f"accuracy (one-sided paired t-test against −margin) and stopping no later (within "
    f"{100 * EARLY_STOP_MARGIN:g}% of the dense network's early-stop iteration), each shown at "
    f"Holm-adjusted p < {ALPHA:g} over the table; a filled star: also more accurate than dense "
    f"(one-sided test against 0); a hollow star: within the margin; no star: undetermined or worse. "
    f"Every verdict is held, not held or undetermined; an undetermined one says about how many seeds "
    f"would decide it at the observed spread"
)


def interval(values) -> tuple[float, float, float, int]:
    """Mean and 95% t-interval of `values` (NaN bounds below two values), and n."""
    values = np.asarray(values, float)
    n = len(values)
    mean = float(values.mean()) if n else math.nan
    if n < 2:
        return mean, math.nan, math.nan, n
    sem = float(values.std(ddof=1)) / math.sqrt(n)
    if sem == 0.0:
        return mean, mean, mean, n
    half = float(scipy_special.stdtrit(n - 1, 0.5 + CONFIDENCE / 2)) * sem  # Student's t quantile (scipy)
    return mean, mean - half, mean + half, n


def _no_spread(diff: np.ndarray) -> bool:
    """Every pair differs by the same amount (up to floating-point noise: accuracies are on a 1e-4 grid and
    early-stop iterations are integers), where a t-test is undefined."""
    return float(np.ptp(diff)) <= 1e-9 * max(1.0, float(np.abs(diff).max()))


def one_sided(a, b, boundary: float, direction: str) -> tuple[float, float]:
    """The one-sided paired t-test (by position) of the claim a − b > boundary (`direction` "greater") or
    a − b < boundary ("less"), and of its opposite: (p of the claim, p of the opposite). See `one_sided_many`."""
    p_for, p_against = one_sided_many([(np.asarray(a, float), np.asarray(b, float), boundary, direction)])
    return float(p_for[0]), float(p_against[0])


def one_sided_many(claims: list[tuple[np.ndarray, np.ndarray, float, str]]) -> tuple[np.ndarray, np.ndarray]:
    """`one_sided` for many claims (a, b, boundary, direction) at once: (p of each claim, p of its opposite),
    NaN below two pairs. The claims with the same number of pairs and direction go to scipy.stats.ttest_rel
    together (one call over the rows of a matrix), which is what makes a table of hundreds of questions cheap.
    Where every pair differs by the same amount there is no spread for a t-test: a sign test (scipy binomtest:
    every seed on the claimed side, 0.5^n) answers, and a difference exactly on the boundary decides nothing."""
    p_for = np.full(len(claims), math.nan)
    p_against = np.full(len(claims), math.nan)
    batches: dict[tuple[int, str], list[int]] = {}
    for i, (a, b, boundary, direction) in enumerate(claims):
        n = len(a)
        if n < 2:
            continue
        diff = a - b
        if not _no_spread(diff):
            batches.setdefault((n, direction), []).append(i)
            continue
        shift = float(diff.mean()) - boundary
        if abs(shift) <= 1e-9 * max(1.0, abs(boundary)):
            p_for[i] = p_against[i] = 1.0
            continue
        sign = float(scipy_stats.binomtest(n, n, 0.5, alternative="greater").pvalue)
        p_for[i], p_against[i] = (sign, 1.0) if (shift > 0) == (direction == "greater") else (1.0, sign)
    for (_, direction), rows in batches.items():
        a_rows = np.stack([claims[i][0] for i in rows])
        b_rows = np.stack([claims[i][1] + claims[i][2] for i in rows])  # the boundary shifted onto B
        test = scipy_stats.ttest_rel(a_rows, b_rows, axis=1, alternative=direction)
        below = scipy_special.stdtr(test.df, test.statistic)  # Student's t CDF (scipy): the statistic's other tail
        p_for[rows] = test.pvalue
        p_against[rows] = 1.0 - below if direction == "less" else below
    return p_for, p_against


def holm(p_values) -> np.ndarray:
    """Holm's step-down adjustment of a family of p-values; NaN ones stay NaN and do not count. The formula of
    statsmodels' `multipletests(method="holm")` (the tests check them equal), whose Holm branch forces a full
    garbage collection on every call: 50 ms each, seconds for a page of tables."""
    p = np.asarray(p_values, float)
    adjusted = np.full(p.shape, math.nan)
    tested = np.flatnonzero(~np.isnan(p))
    if len(tested):
        order = np.argsort(p[tested], kind="mergesort")
        steps = p[tested][order] * np.arange(len(tested), 0, -1)
        adjusted[tested[order]] = np.minimum(np.maximum.accumulate(steps), 1.0)
    return adjusted


def seeds_needed(effect_size: float, n: int, alpha: float = ALPHA, power: float = POWER) -> int | None:
    """How many seeds would decide a question at this standardised paired effect; see `seeds_needed_many`."""
    return seeds_needed_many([effect_size], [n], alpha, power)[0]


def seeds_needed_many(effect_sizes, ns, alpha: float = ALPHA, power: float = POWER) -> list[int | None]:
    """How many seeds would decide each question at its standardised paired effect ((mean difference − boundary)
    / std of the differences): the fewest pairs at which statsmodels' one-sided t-test power (TTestPower.power,
    what its solve_power inverts) reaches `power`, at least one more than the `n` that did not decide it and at
    most SEEDS_CAP. Found by bisection over whole numbers of seeds, every question at once (power grows with
    the number of pairs). An infinite effect (every seed differs by the same amount) is sized for the sign test;
    None where there is nothing to size (under 2 seeds, no effect)."""
    effects = np.abs(np.asarray(effect_sizes, float))
    ns = np.asarray(ns, int)
    out: list[int | None] = [None] * len(effects)
    sized = []
    for i, (effect, n) in enumerate(zip(effects, ns)):
        if n < 2 or np.isnan(effect) or effect == 0:
            continue
        if np.isinf(effect):  # no spread so far: the sign test decides once 0.5^n < alpha
            out[i] = max(math.floor(math.log2(1 / alpha)) + 1, int(n) + 1)
        else:
            sized.append(i)
    if not sized:
        return out
    effect = effects[sized]
    low = ns[sized] + 1  # the answer lies in [low, high]: power(high) >= power, or high is the cap
    high = np.full(len(sized), SEEDS_CAP)
    analysis = TTestPower()

    def enough(nobs: np.ndarray) -> np.ndarray:
        return analysis.power(effect_size=effect, nobs=nobs, alpha=alpha, alternative="larger") >= power

    done = enough(low)
    high[done] = low[done]
    while np.any(low < high):
        middle = (low + high) // 2
        reached = enough(middle)
        high = np.where(reached, middle, high)
        low = np.where(reached, low, middle + 1)
    for i, seeds in zip(sized, high):
        out[i] = int(seeds)
    return out


def budget_limited(results: pd.DataFrame) -> pd.Series:
    """Per training: its minimum validation loss came at its last evaluation (early_stop_iteration ==
    final_iteration) and it did not stop early, so it was still improving when the budget ended and its
    accuracy may say more about the budget than about the network. False where the record does not tell."""
    if results.empty or "final_iteration" not in results or "early_stop_iteration" not in results:
        return pd.Series(False, index=results.index, dtype=bool)
    stopped = results["stopped_early"].eq(True) if "stopped_early" in results else False
    return (results["early_stop_iteration"] == results["final_iteration"]) & ~stopped


def with_dense(results: pd.DataFrame) -> pd.DataFrame:
    """The results with each run's own dense training named `dense` (a lottery run's round 0 is the dense network
    from theta0: its plan's `dense_record`) and each training marked `budget_limited` (see `budget_limited`)."""
    frame = results.copy()
    frame["budget_limited"] = budget_limited(frame)
    for name, plan in EXPERIMENTS.items():
        if plan.dense_record is not None and plan.dense_record[0] != "dense":
            arm, round_ = plan.dense_record
            own = (frame["experiment"] == name) & (frame["arm"] == arm) & (frame["round"] == round_)
            frame.loc[own, "arm"] = "dense"
    return frame


def summary(results: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Per series, arm and density: n, mean, std and 95% CI of `metric` and of the early-stop iteration, and
    how many of the trainings are budget-limited (`budget_limited_n`: their best evaluation was their last)."""
    if results.empty:
        return pd.DataFrame()
    frame = with_dense(results).assign(density_pct=(100 * results["density"]).round(2))
    rows = []
    for (label, arm, density), group in frame.groupby(["label", "arm", "density_pct"], sort=False):
        acc = interval(group[metric])
        stop = interval(group["early_stop_iteration"])
        rows.append(
            {
                "label": label,
                "arm": arm,
                "density_pct": density,
                "n": acc[3],
                "mean": acc[0],
                "std": float(group[metric].std(ddof=1)) if acc[3] > 1 else math.nan,
                "ci_low": acc[1],
                "ci_high": acc[2],
                "early_stop_mean": stop[0],
                "early_stop_ci_low": stop[1],
                "early_stop_ci_high": stop[2],
                "budget_limited_n": int(group["budget_limited"].sum()),
            }
        )
    return pd.DataFrame(rows).sort_values(
        ["label", "arm", "density_pct"], ascending=[True, True, False], ignore_index=True
    )


def _dense_reference(frame: pd.DataFrame, group: pd.DataFrame) -> pd.DataFrame:
    """The dense network's results for a series: its own round 0 (lottery), or baseline runs that train
    the same way (same `training` key: model, data, budget, optimiser)."""
    own = group[group["arm"] == "dense"]
    if not own.empty:
        return own
    return frame[(frame["arm"] == "dense") & (frame["training"] == group["training"].iloc[0])]


def _paired_questions(
    a: pd.DataFrame, b: pd.DataFrame, metric: str, questions, head: dict, margin: float
) -> list[dict]:
    """The questions asked of A against B at one point, paired by seed (`a` and `b` indexed by seed), one row
    each, before the table's Holm adjustment: the paired differences of `metric` and of the early-stop
    iteration with their 95% intervals, and per question its one-sided p-value (and its opposite's).
    `questions`: (words, quantity "accuracy" or "early stop", boundary, direction); an early-stop boundary is a
    fraction of B's mean early-stop iteration."""
    # the common seeds in order, by position: pandas label lookups were most of a table's cost
    seeds, in_a, in_b = np.intersect1d(a.index.to_numpy(), b.index.to_numpy(), return_indices=True)
    if not len(seeds):
        return []
    values = {
        quantity: (a[column].to_numpy(float)[in_a], b[column].to_numpy(float)[in_b])
        for quantity, column in (("accuracy", metric), ("early stop", "early_stop_iteration"))
    }
    acc = interval(np.subtract(*values["accuracy"]))
    stop = interval(np.subtract(*values["early stop"]))
    limited = int(a["budget_limited"].to_numpy()[in_a].sum() + b["budget_limited"].to_numpy()[in_b].sum())
    common = {
        **head,
        "n": acc[3],
        "accuracy_diff": acc[0],
        "accuracy_ci_low": acc[1],
        "accuracy_ci_high": acc[2],
        "early_stop_diff": stop[0],
        "early_stop_ci_low": stop[1],
        "early_stop_ci_high": stop[2],
        "margin": margin,
    }
    rows = []
    for words, quantity, boundary, direction in questions:
        a_values, b_values = values[quantity]
        if quantity == "early stop":
            boundary = boundary * float(b_values.mean())
        rows.append(
            {
                **common,
                "question": words,
                "early_stop_margin": boundary if quantity == "early stop" else math.nan,
                "budget_limited_trainings": limited,
                "trainings": 2 * len(seeds),
                "_claim": (a_values, b_values, boundary, direction),
            }
        )
    return rows


def _effect(claim: tuple[np.ndarray, np.ndarray, float, str], undecidable: bool) -> float:
    """A claim's standardised paired effect, (mean difference − boundary) / std of the differences: NaN below
    two pairs or where the difference sits on the boundary, ±inf where every pair differs by the same amount."""
    a, b, boundary, _ = claim
    diff = a - b
    if len(diff) < 2:
        return math.nan
    shift = float(diff.mean()) - boundary
    if _no_spread(diff):
        return math.nan if undecidable else math.copysign(math.inf, shift)
    return shift / float(diff.std(ddof=1))


QUESTION_COLUMNS = [
    "question",
    "n",
    "accuracy_diff",
    "accuracy_ci_low",
    "accuracy_ci_high",
    "early_stop_diff",
    "early_stop_ci_low",
    "early_stop_ci_high",
    "margin",
    "early_stop_margin",
    "p_value",
    "p_holm",
    "p_against_holm",
    "verdict",
    "seeds_needed",
    "budget_limited_trainings",
    "trainings",
    "words",
]


def budget_words(limited: int, trainings: int) -> str:
    """What a verdict says when it rests on budget-limited trainings ("" when none is)."""
    if not limited:
        return ""
    return (
        f" ({limited} of {trainings} trainings peaked at their last evaluation: the budget, not the method, "
        f"may decide this)"
    )


def undetermined_words(n: int, seeds) -> str:
    """An undetermined verdict in words: how many seeds would decide it."""
    if n < 2:
        return "undetermined: a paired test needs at least 2 seeds"
    if seeds is None or pd.isna(seeds):
        return "undetermined: the difference sits on the boundary; no number of seeds would decide it at this spread"
    if seeds > 10_000:
        return "undetermined: more than 10,000 seeds would be needed to decide it at this spread"
    return f"undetermined: about {int(seeds):,} seeds would decide it"


def decide(rows: list[dict], lead: list[str], alpha: float = ALPHA) -> pd.DataFrame:
    """A table's questions decided together: Holm over all of them (`p_holm`; the opposite one-sided tests in
    their own family, `p_against_holm`), the verdict in three words, `seeds_needed` for an undetermined one
    (at alpha / the number of questions: the strictest Holm step) and the verdict in words."""
    if not rows:
        return pd.DataFrame(columns=lead + QUESTION_COLUMNS)
    frame = pd.DataFrame(rows)
    claims = list(frame.pop("_claim"))
    frame["p_value"], frame["p_against"] = one_sided_many(claims)
    frame["p_holm"] = holm(frame["p_value"])
    frame["p_against_holm"] = holm(frame["p_against"])
    level = alpha / max(int(frame["p_value"].notna().sum()), 1)
    frame["verdict"] = np.select(
        [frame["p_holm"] < alpha, frame["p_against_holm"] < alpha], [HELD, NOT_HELD], UNDETERMINED
    ).astype(object)
    open_questions = np.flatnonzero(frame["verdict"].to_numpy() == UNDETERMINED)
    effects = [_effect(claims[i], frame["p_value"].iat[i] == frame["p_against"].iat[i] == 1.0) for i in open_questions]
    needed: list[int | None] = [None] * len(frame)
    for i, seeds in zip(open_questions, seeds_needed_many(effects, frame["n"].to_numpy()[open_questions], level)):
        needed[i] = seeds
    frame["seeds_needed"] = pd.array(needed, dtype="Int64")
    frame["words"] = [
        (undetermined_words(n, seeds) if verdict == UNDETERMINED else verdict) + budget_words(limited, trainings)
        for n, seeds, verdict, limited, trainings in zip(
            frame["n"], frame["seeds_needed"], frame["verdict"], frame["budget_limited_trainings"], frame["trainings"]
        )
    ]
    return frame[lead + QUESTION_COLUMNS]


def comparisons(
    results: pd.DataFrame, metric: str, margin: float = MARGIN, early_stop_margin: float = EARLY_STOP_MARGIN
) -> pd.DataFrame:
    """The ticket against dense and every control at each density of each series, paired by seed, one row per
    question: against dense "more accurate than dense", "as good as dense" (within `margin`) and "stops no
    later than dense" (within `early_stop_margin` of dense's early-stop iteration); against each control "more
    accurate than <control>". Decided together (Holm over the table): see the module's docstring."""
    lead = ["label", "density_pct", "against"]
    if results.empty:
        return pd.DataFrame()
    frame = with_dense(results)
    frame = frame.assign(density_pct=(100 * frame["density"]).round(2))
    # only what the questions read: slicing every column of the results per group is most of the cost
    needed = ["label", "arm", "seed", "training", "density_pct", metric, "early_stop_iteration", "budget_limited"]
    frame = frame[list(dict.fromkeys(needed))]
    rows = []
    for label, group in frame.groupby("label", sort=False):
        if not group["arm"].eq("ticket").any():
            continue
        dense = _dense_reference(frame, group).drop_duplicates("seed").set_index("seed")
        points = {  # each arm at each density, by seed: looked up, not filtered again per question
            key: at.drop_duplicates("seed").set_index("seed")
            for key, at in group.groupby(["arm", "density_pct"], sort=False)
        }
        others = sorted(set(group["arm"]) - {"ticket", "dense"})
        for (arm, density), ticket in points.items():
            if arm != "ticket":
                continue
            rows += _paired_questions(
                ticket,
                dense,
                metric,
                [
                    ("more accurate than dense", "accuracy", 0.0, "greater"),
                    ("as good as dense", "accuracy", -margin, "greater"),
                    ("stops no later than dense", "early stop", early_stop_margin, "less"),
                ],
                {"label": label, "density_pct": density, "against": "dense"},
                margin,
            )
            for other_arm in others:
                if (other_arm, density) not in points:
                    continue
                rows += _paired_questions(
                    ticket,
                    points[(other_arm, density)],
                    metric,
                    [(f"more accurate than {other_arm}", "accuracy", 0.0, "greater")],
                    {"label": label, "density_pct": density, "against": other_arm},
                    margin,
                )
    return decide(rows, lead)


VERDICT_COLUMNS = [
    "label",
    "density_pct",
    "n",
    "winning_ticket",
    "star",
    "verdict",
    "margin",
    "accuracy_diff",
    "accuracy_ci_low",
    "accuracy_ci_high",
    "more_accurate",
    "more_accurate_p_holm",
    "as_good_as",
    "as_good_as_p_holm",
    "early_stop_diff",
    "early_stop_ci_low",
    "early_stop_ci_high",
    "early_stop_margin",
    "stops_no_later",
    "stops_no_later_p_holm",
    "seeds_needed",
    "budget_limited_trainings",
    "trainings",
]
_PARTS = {
    "more accurate than dense": "more_accurate",
    "as good as dense": "as_good_as",
    "stops no later than dense": "stops_no_later",
}


def winning(as_good_as: str, stops_no_later: str) -> str:
    """The winning-ticket verdict from its two parts: held when both are, not held when either is not."""
    if NOT_HELD in (as_good_as, stops_no_later):
        return NOT_HELD
    return HELD if as_good_as == stops_no_later == HELD else UNDETERMINED


def star(winning_ticket: str, more_accurate: str) -> str:
    """The figure's mark: "filled" (a winning ticket, more accurate than dense), "hollow" (a winning ticket
    within the margin) or "none"."""
    if winning_ticket != HELD:
        return "none"
    return "filled" if more_accurate == HELD else "hollow"


def verdict_words(row) -> str:
    """A winning-ticket verdict in words (a row of `verdicts`)."""
    points = f"{100 * row['margin']:g} points"
    if row["winning_ticket"] == HELD:
        text = (
            "held: a winning ticket, more accurate than dense and stopping no later"
            if row["star"] == "filled"
            else f"held: a winning ticket, as good as dense within {points} and stopping no later"
        )
    elif row["winning_ticket"] == NOT_HELD:
        why = []
        if row["as_good_as"] == NOT_HELD:
            why.append(f"less accurate than dense by more than {points}")
        if row["stops_no_later"] == NOT_HELD:
            why.append(f"stops later than dense by more than {row['early_stop_margin']:,.0f} iterations")
        text = "not held: " + "; ".join(why)
    else:
        parts = f"as good as dense: {row['as_good_as']}, stops no later: {row['stops_no_later']}"
        text = f"{undetermined_words(row['n'], row['seeds_needed'])} ({parts})"
    return text + budget_words(row["budget_limited_trainings"], row["trainings"])


def verdicts(comparison: pd.DataFrame) -> pd.DataFrame:
    """One row per series and density: the winning-ticket verdict (`winning_ticket`: held, not held or
    undetermined; see `winning`), its star, the verdict in words, the margin, the paired differences to the
    dense network with their 95% intervals, and each part's verdict with its Holm-adjusted p-value."""
    if comparison is None or comparison.empty or "question" not in comparison:
        return pd.DataFrame(columns=VERDICT_COLUMNS)
    dense = comparison[comparison["against"] == "dense"]
    rows = []
    for (label, density), group in dense.groupby(["label", "density_pct"], sort=False):
        parts = {_PARTS[q]: r for q, r in zip(group["question"], group.to_dict("records")) if q in _PARTS}
        if len(parts) < len(_PARTS):
            continue
        first = parts["as_good_as"]
        row = {
            "label": label,
            "density_pct": density,
            "n": first["n"],
            "margin": first["margin"],
            **{
                k: first[k]
                for k in (
                    "accuracy_diff",
                    "accuracy_ci_low",
                    "accuracy_ci_high",
                    "early_stop_diff",
                    "early_stop_ci_low",
                    "early_stop_ci_high",
                    "budget_limited_trainings",
                    "trainings",
                )
            },
            "early_stop_margin": parts["stops_no_later"]["early_stop_margin"],
        }
        for name, part in parts.items():
            row[name], row[f"{name}_p_holm"] = part["verdict"], part["p_holm"]
        row["winning_ticket"] = winning(row["as_good_as"], row["stops_no_later"])
        row["star"] = star(row["winning_ticket"], row["more_accurate"])
        needed = [
            parts[k]["seeds_needed"] for k in ("as_good_as", "stops_no_later") if parts[k]["verdict"] == UNDETERMINED
        ]
        row["seeds_needed"] = (
            None
            if row["winning_ticket"] != UNDETERMINED or any(pd.isna(v) for v in needed)
            else max(int(v) for v in needed)
        )
        row["verdict"] = verdict_words(row)
        rows.append(row)
    table = pd.DataFrame(rows, columns=VERDICT_COLUMNS)
    table["seeds_needed"] = table["seeds_needed"].astype("Int64")
    return table


def _close_density(a, b):
    """The same point of the density axis: a one-shot density and the iterative ladder's step it names
    (0.211 and 21.07%) differ by well under 2%. Elementwise where `a` is an array of densities."""
    return np.abs(a - b) <= 0.02 * np.maximum(a, b)


def method_comparisons(results: pd.DataFrame, metric: str, margin: float = MARGIN) -> pd.DataFrame:
    """Every one-shot method (a criterion's plain mask) at each density, paired by seed, against: its own
    controls (random_prune = the layerwise shuffle, reinit, invert), the dense network, and the IMP ticket
    of a lottery run at that density that trains the same way (same `training` key) where one is there.
    One question per comparison: "more accurate than <control>" (a sanity check passes when held), "as good as
    dense" and "as good as IMP ticket" (within `margin`); decided together (Holm over the table). A positive
    difference: the method is more accurate (or stops later) than what it is compared with."""
    from lth.arms import criterion_of, oneshot_arm

    lead = ["label", "method", "density_pct", "against"]
    if results.empty or "experiment" not in results or not results["experiment"].eq("oneshot").any():
        return pd.DataFrame()
    frame = with_dense(results)
    frame = frame.assign(density_pct=(100 * frame["density"]).round(2))
    imp = frame[(frame["experiment"] == "lottery") & (frame["arm"] == "ticket")]
    imp_densities = imp["density_pct"].to_numpy(float)
    oneshot = frame[frame["experiment"] == "oneshot"]
    # each series' rows and each (arm, density) of it looked up, not filtered again per method and density
    oneshot_labels = set(oneshot["label"])
    series = {label: group for label, group in frame.groupby("label", sort=False) if label in oneshot_labels}
    points = {key: at for key, at in oneshot.groupby(["label", "arm", "density_pct"], sort=False)}
    empty = frame.iloc[:0]
    rows = []
    for (label, arm, density), at in points.items():
        parts = criterion_of(arm)
        if parts is None or parts[1] is not None:
            continue
        name = parts[0]
        group = series[label]
        method = at.drop_duplicates("seed").set_index("seed")
        others = {}
        for control in ("random_prune", "reinit", "invert"):  # the comparison table's row order
            others[control] = points.get((label, oneshot_arm(name, control), density), empty)
        others["dense"] = _dense_reference(frame, group)
        close = _close_density(imp_densities, density)
        others["IMP ticket"] = imp[(imp["training"] == at["training"].iloc[0]).to_numpy() & close]
        for against, other in others.items():
            question = (
                (f"as good as {against}", "accuracy", -margin, "greater")
                if against in ("dense", "IMP ticket")
                else (f"more accurate than {against}", "accuracy", 0.0, "greater")
            )
            rows += _paired_questions(
                method,
                other.drop_duplicates("seed").set_index("seed"),
                metric,
                [question],
                {"label": label, "method": name, "density_pct": density, "against": against},
                margin,
            )
    return decide(rows, lead)


def difference_words(row) -> str:
    """A comparison's answer in words: its question and verdict ("more accurate than reinit: held",
    "as good as dense: undetermined: about 9 seeds would decide it")."""
    return f"{row['question']}: {row['words']}"


def series_names(results: pd.DataFrame) -> list[str]:
    """The series a head-to-head comparison can choose from: "<label> · <arm>" (each run's own dense network
    named `dense`), in the order of the results."""
    if results.empty:
        return []
    frame = with_dense(results)
    return list(dict.fromkeys(frame["label"].astype(str) + " · " + frame["arm"].astype(str)))


def _chosen(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    """The results of one series: "<label> · <arm>", or an arm name that only one label has."""
    full = frame["label"].astype(str) + " · " + frame["arm"].astype(str)
    rows = frame[full == name]
    if rows.empty:
        rows = frame[frame["arm"] == name]
        if rows["label"].nunique() > 1:
            raise ValueError(
                f"{name!r} is an arm of several series; name one as “label · arm”: "
                + ", ".join(sorted(set(full[frame["arm"] == name])))
            )
    if rows.empty:
        raise ValueError(f"no series {name!r} in these results; choose one of: " + ", ".join(dict.fromkeys(full)))
    return rows


def head_to_head(
    results: pd.DataFrame, a: str, b: str, metric: str = "early_stop_test_accuracy", margin: float = MARGIN
) -> pd.DataFrame:
    """Any two series (methods, arms) against each other at each density of `a`, paired by seed, with the same
    rule: "more accurate than B" and "as good as B" (within `margin`), decided together (Holm over the table).
    A series is "<label> · <arm>" (see `series_names`) or an arm name only one label has; B is taken at the same
    point of the density axis (a one-shot 21.1% meets the iterative 21.07%); a dense network (100% only) meets
    every density of the other. ValueError when a name matches no series or several."""
    lead = ["a", "b", "density_pct", "b_density_pct"]
    if results.empty:
        return pd.DataFrame(columns=lead + QUESTION_COLUMNS)
    frame = with_dense(results)
    frame = frame.assign(density_pct=(100 * frame["density"]).round(2))
    first, second = _chosen(frame, a), _chosen(frame, b)
    a_densities = sorted(set(first["density_pct"]), reverse=True)
    b_densities = sorted(set(second["density_pct"]), reverse=True)
    if a_densities == [100.0] and b_densities != [100.0]:  # a dense network meets every density of the other
        points = [(100.0, d) for d in b_densities]
    elif b_densities == [100.0]:
        points = [(d, 100.0) for d in a_densities]
    else:
        points = [
            (d, min(close, key=lambda c: abs(c - d)))
            for d in a_densities
            if (close := [c for c in b_densities if _close_density(c, d)])
        ]
    rows = []
    for density, other_density in points:
        one = first[first["density_pct"] == density].drop_duplicates("seed").set_index("seed")
        other = second[second["density_pct"] == other_density].drop_duplicates("seed").set_index("seed")
        rows += _paired_questions(
            one,
            other,
            metric,
            [
                (f"more accurate than {b}", "accuracy", 0.0, "greater"),
                (f"as good as {b}", "accuracy", -margin, "greater"),
            ],
            {"a": a, "b": b, "density_pct": density, "b_density_pct": other_density},
            margin,
        )
    return decide(rows, lead)
