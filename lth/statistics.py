"""Statistics over seeds for the Compare page and its exports: per series, arm and density the mean, std
and 95% confidence interval; the ticket against each control and against the dense network, paired by seed
(mean difference, its 95% CI, a paired t-test's p-value from scipy); and the winning-ticket verdict.

Winning ticket (at one density of one series): its test accuracy is not below the dense network's beyond
the 95% interval (the upper end of the paired difference's CI is at least 0) and it stops early no later
(the lower end of the early-stop difference's CI is at most 0). Below 3 seeds there is no verdict: with 2
the t-interval is 12.7 standard errors wide each way and would call almost any ticket a winner.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats

from lth.hparams import EXPERIMENTS

CONFIDENCE = 0.95
VERDICT_SEEDS = 3  # fewer seeds: no verdict (the interval is too wide to mean anything)
WINNING_RULE = ("a winning ticket: test accuracy not below the dense network's beyond the 95% interval of the "
                "paired difference (its upper end ≥ 0) and early stop no later (the lower end of the early-stop "
                f"difference's interval ≤ 0); no verdict below {VERDICT_SEEDS} seeds. A filled star: its accuracy "
                "interval lies above 0 (more accurate than dense); a hollow star: the interval includes 0 (not "
                "detectably worse, which is not the same as as good)")


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
    low, high = scipy_stats.t.interval(CONFIDENCE, n - 1, loc=mean, scale=sem)
    return mean, float(low), float(high), n


def paired(a, b) -> dict:
    """a - b paired by position: mean difference, its 95% CI, the paired t-test's p-value, n."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    diff = a - b
    mean, low, high, n = interval(diff)
    if n >= 2 and np.ptp(diff) > 0:
        p = float(scipy_stats.ttest_rel(a, b).pvalue)
    elif n >= 2:  # every seed differs by the same amount: no spread, the test is undefined
        p = 0.0 if mean != 0 else 1.0
    else:
        p = math.nan
    return {"diff": mean, "ci_low": low, "ci_high": high, "p_value": p, "n": n}


def with_dense(results: pd.DataFrame) -> pd.DataFrame:
    """The results with each run's own dense training named `dense` (a lottery run's round 0 is the dense network
    from theta0: its plan's `dense_record`)."""
    frame = results.copy()
    for name, plan in EXPERIMENTS.items():
        if plan.dense_record is not None and plan.dense_record[0] != "dense":
            arm, round_ = plan.dense_record
            own = (frame["experiment"] == name) & (frame["arm"] == arm) & (frame["round"] == round_)
            frame.loc[own, "arm"] = "dense"
    return frame


def summary(results: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Per series, arm and density: n, mean, std and 95% CI of `metric` and of the early-stop iteration."""
    if results.empty:
        return pd.DataFrame()
    frame = with_dense(results).assign(density_pct=(100 * results["density"]).round(2))
    rows = []
    for (label, arm, density), group in frame.groupby(["label", "arm", "density_pct"], sort=False):
        acc = interval(group[metric])
        stop = interval(group["early_stop_iteration"])
        rows.append({"label": label, "arm": arm, "density_pct": density, "n": acc[3],
                     "mean": acc[0], "std": float(group[metric].std(ddof=1)) if acc[3] > 1 else math.nan,
                     "ci_low": acc[1], "ci_high": acc[2],
                     "early_stop_mean": stop[0], "early_stop_ci_low": stop[1], "early_stop_ci_high": stop[2]})
    return pd.DataFrame(rows).sort_values(["label", "arm", "density_pct"], ascending=[True, True, False],
                                          ignore_index=True)


def _dense_reference(frame: pd.DataFrame, group: pd.DataFrame) -> pd.DataFrame:
    """The dense network's results for a series: its own round 0 (lottery), or baseline runs that train
    the same way (same `training` key: model, data, budget, optimiser)."""
    own = group[group["arm"] == "dense"]
    if not own.empty:
        return own
    return frame[(frame["arm"] == "dense") & (frame["training"] == group["training"].iloc[0])]


def comparisons(results: pd.DataFrame, metric: str) -> pd.DataFrame:
    """The ticket against dense and every control at each density of each series, paired by seed,
    for `metric` and for the early-stop iteration; with the winning-ticket verdict."""
    if results.empty:
        return pd.DataFrame()
    frame = with_dense(results)
    frame = frame.assign(density_pct=(100 * frame["density"]).round(2))
    rows = []
    for label, group in frame.groupby("label", sort=False):
        tickets = group[group["arm"] == "ticket"]
        if tickets.empty:
            continue
        dense = _dense_reference(frame, group).drop_duplicates("seed").set_index("seed")
        for density, at in tickets.groupby("density_pct", sort=False):
            ticket = at.drop_duplicates("seed").set_index("seed")
            others = {"dense": dense}
            for arm in sorted(set(group["arm"]) - {"ticket", "dense"}):
                others[arm] = group[(group["arm"] == arm) & (group["density_pct"] == density)] \
                    .drop_duplicates("seed").set_index("seed")
            for arm, other in others.items():
                seeds = sorted(set(ticket.index) & set(other.index))
                if not seeds:
                    continue
                acc = paired(ticket.loc[seeds, metric], other.loc[seeds, metric])
                stop = paired(ticket.loc[seeds, "early_stop_iteration"], other.loc[seeds, "early_stop_iteration"])
                row = {"label": label, "density_pct": density, "against": arm, "n": acc["n"],
                       "accuracy_diff": acc["diff"], "accuracy_ci_low": acc["ci_low"],
                       "accuracy_ci_high": acc["ci_high"], "accuracy_p": acc["p_value"],
                       "early_stop_diff": stop["diff"], "early_stop_ci_low": stop["ci_low"],
                       "early_stop_ci_high": stop["ci_high"], "early_stop_p": stop["p_value"]}
                if arm == "dense":
                    row["winning_ticket"] = winning(acc, stop)
                rows.append(row)
    return pd.DataFrame(rows)


def winning(accuracy: dict, early_stop: dict) -> bool | None:
    """The verdict, or None with fewer than VERDICT_SEEDS seeds."""
    if accuracy["n"] < VERDICT_SEEDS:
        return None
    return bool(accuracy["ci_high"] >= 0 and early_stop["ci_low"] <= 0)


VERDICT_COLUMNS = ["label", "density_pct", "n", "verdict", "accuracy_diff", "accuracy_ci_low", "accuracy_ci_high",
                   "early_stop_diff", "early_stop_ci_low", "early_stop_ci_high", "winning_ticket"]


def verdict_words(row) -> str:
    """What a verdict means: a winning ticket whose accuracy interval lies above 0 is *more accurate*; one
    whose interval includes 0 is only *not detectably worse* (a star does not say "as good")."""
    if row["winning_ticket"] is None or pd.isna(row["winning_ticket"]):
        return f"no verdict (fewer than {VERDICT_SEEDS} seeds)"
    if not row["winning_ticket"]:
        return "not a winning ticket"
    return "winning: more accurate than dense" if row["accuracy_ci_low"] > 0 else \
        "winning: not detectably worse than dense"


def verdicts(comparison: pd.DataFrame) -> pd.DataFrame:
    """One row per series and density: the verdict in words (see `verdict_words`), the paired differences
    to the dense network with their 95% intervals, and whether the ticket there is a winning ticket."""
    if comparison.empty or "winning_ticket" not in comparison:
        return pd.DataFrame(columns=VERDICT_COLUMNS)
    against_dense = comparison[comparison["against"] == "dense"].reset_index(drop=True)
    against_dense = against_dense.assign(verdict=against_dense.apply(verdict_words, axis=1))
    return against_dense[VERDICT_COLUMNS]


def _close_density(a: float, b: float) -> bool:
    """The same point of the density axis: a one-shot density and the iterative ladder's step it names
    (0.211 and 21.07%) differ by well under 2%."""
    return abs(a - b) <= 0.02 * max(a, b)


def method_comparisons(results: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Every one-shot method (a criterion's plain mask) at each density, paired by seed, against: its own
    controls (random_prune = the layerwise shuffle, reinit, invert), the dense network, and the IMP ticket
    of a lottery run at that density that trains the same way (same `training` key) where one is there.
    A positive difference: the method is more accurate (or stops later) than what it is compared with."""
    from lth.arms import criterion_of, oneshot_arm

    if results.empty or "experiment" not in results or not results["experiment"].eq("oneshot").any():
        return pd.DataFrame()
    frame = with_dense(results)
    frame = frame.assign(density_pct=(100 * frame["density"]).round(2))
    imp = frame[(frame["experiment"] == "lottery") & (frame["arm"] == "ticket")]
    rows = []
    for (label, arm, density), at in frame[frame["experiment"] == "oneshot"].groupby(
            ["label", "arm", "density_pct"], sort=False):
        parts = criterion_of(arm)
        if parts is None or parts[1] is not None:
            continue
        name = parts[0]
        group = frame[frame["label"] == label]
        method = at.drop_duplicates("seed").set_index("seed")
        others = {}
        for control in ("random_prune", "reinit", "invert"):  # the comparison table's row order
            others[control] = group[(group["arm"] == oneshot_arm(name, control)) & (group["density_pct"] == density)]
        others["dense"] = _dense_reference(frame, group)
        same = imp[(imp["training"] == at["training"].iloc[0])
                   & imp["density_pct"].map(lambda d: _close_density(d, density))]
        others["IMP ticket"] = same
        for against, other in others.items():
            other = other.drop_duplicates("seed").set_index("seed")
            seeds = sorted(set(method.index) & set(other.index))
            if not seeds:
                continue
            acc = paired(method.loc[seeds, metric], other.loc[seeds, metric])
            stop = paired(method.loc[seeds, "early_stop_iteration"], other.loc[seeds, "early_stop_iteration"])
            rows.append({"label": label, "method": name, "density_pct": density, "against": against,
                         "n": acc["n"], "accuracy_diff": acc["diff"], "accuracy_ci_low": acc["ci_low"],
                         "accuracy_ci_high": acc["ci_high"], "accuracy_p": acc["p_value"],
                         "early_stop_diff": stop["diff"], "early_stop_ci_low": stop["ci_low"],
                         "early_stop_ci_high": stop["ci_high"], "early_stop_p": stop["p_value"]})
    return pd.DataFrame(rows)


def difference_words(row) -> str:
    """A paired difference in words: which side is more accurate, or neither detectably."""
    if row["n"] < 2 or pd.isna(row["accuracy_ci_low"]):
        return "fewer than 2 seeds"
    if row["accuracy_ci_low"] > 0:
        return "more accurate"
    if row["accuracy_ci_high"] < 0:
        return "less accurate"
    return "no detectable difference"
