"""Statistics over seeds, checked against values computed by hand."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from lth import figures, statistics


def test_paired_difference_interval_and_p_values_match_a_hand_computation():
    a, b = np.array([0.90, 0.92, 0.91]), np.array([0.89, 0.90, 0.90])
    mean, low, high, n = statistics.interval(a - b)
    # differences 0.01, 0.02, 0.01: mean 1/75, sd 1/(100 sqrt 3), sem 1/300, t = 4 with 2 degrees of freedom
    assert mean == pytest.approx(0.04 / 3) and n == 3
    t_975_df2 = 4.302652729911275  # t table
    assert low == pytest.approx(0.04 / 3 - t_975_df2 / 300)
    assert high == pytest.approx(0.04 / 3 + t_975_df2 / 300)
    # Student's t with 2 df has the closed-form cdf 1/2 + t / (2 sqrt(2 + t^2)): P(T > 4) = (1 - 4 / sqrt(18)) / 2
    upper = (1 - 4 / math.sqrt(18)) / 2
    assert statistics.one_sided(a, b, 0.0, "greater") == pytest.approx((upper, 1 - upper))
    assert statistics.one_sided(a, b, 0.0, "less") == pytest.approx((1 - upper, upper))
    # the boundary moves the statistic: d − 0.02 has mean −1/150, t = −2, P(T < −2) = (1 − 2 / sqrt(6)) / 2
    assert statistics.one_sided(a, b, 0.02, "less")[0] == pytest.approx((1 - 2 / math.sqrt(6)) / 2)


def test_many_claims_at_once_are_each_the_single_test_whatever_their_size_direction_or_spread():
    rng = np.random.default_rng(3)
    claims = []
    for n in (1, 2, 3, 3, 5, 8, 8):
        for direction in ("greater", "less"):
            a = rng.normal(0.9, 0.01, n)
            claims.append((a, a - rng.normal(0.0, 0.01, n), float(rng.choice([0.0, -0.005])), direction))
    claims.append((np.array([0.9, 0.8, 0.7]), np.array([0.85, 0.75, 0.65]), 0.0, "greater"))  # no spread: sign test
    claims.append((np.array([0.9, 0.8]), np.array([0.9, 0.8]), 0.0, "less"))  # on the boundary: decides nothing
    p_for, p_against = statistics.one_sided_many(claims)
    for i, (a, b, boundary, direction) in enumerate(claims):
        if len(a) < 2:
            assert math.isnan(p_for[i]) and math.isnan(p_against[i])
            continue
        expected = scipy_stats.ttest_rel(a, b + boundary, alternative=direction).pvalue
        if statistics._no_spread(a - b):
            expected = {True: 0.125, False: 1.0}[boundary == 0 and a[0] != b[0]]
        assert p_for[i] == pytest.approx(expected, rel=1e-12)
        if len(a) >= 2 and not statistics._no_spread(a - b):
            opposite = {"greater": "less", "less": "greater"}[direction]
            assert p_against[i] == pytest.approx(
                scipy_stats.ttest_rel(a, b + boundary, alternative=opposite).pvalue, rel=1e-9
            )


def test_one_seed_has_no_interval_and_equal_shifts_no_spread():
    single = statistics.interval(np.array([0.9]) - np.array([0.8]))
    assert single[0] == pytest.approx(0.1) and math.isnan(single[1]) and single[3] == 1
    assert all(math.isnan(p) for p in statistics.one_sided([0.9], [0.8], 0.0, "greater"))
    shifted = statistics.interval(np.array([0.9, 0.8]) - np.array([0.85, 0.75]))
    assert shifted[1] == pytest.approx(0.05) == shifted[2]


def _rows(arm, round_, density, accs, stops, experiment="lottery", label="L", training="t"):
    return [
        {
            "run_id": f"r{seed}",
            "experiment": experiment,
            "model": "m",
            "label": label,
            "series": label,
            "training": training,
            "arm": arm,
            "round": round_,
            "density": density,
            "seed": seed,
            "early_stop_test_accuracy": acc,
            "early_stop_iteration": stop,
        }
        for seed, (acc, stop) in enumerate(zip(accs, stops))
    ]


def test_winning_ticket_verdict_and_its_stars_on_the_figure():
    wobble = [0.001, -0.001, 0.0005, -0.0005, 0.0015, -0.0015]  # 6 seeds; differences are not all equal
    dense = [0.90, 0.91, 0.92, 0.905, 0.915, 0.895]
    results = pd.DataFrame(
        _rows("ticket", 0, 1.0, dense, [1000, 1100, 900, 1000, 1050, 950])  # round 0: the dense network
        + _rows(
            "ticket", 1, 0.5, [d + 0.01 + w for d, w in zip(dense, wobble)], [800, 880, 700, 790, 860, 730]
        )  # 1 point above dense, ~200 iterations earlier: wins
        + _rows("reinit", 1, 0.5, [d - 0.02 for d in dense], [1200, 1280, 1100, 1190, 1260, 1130])
        + _rows("ticket", 2, 0.1, [d - 0.10 + w for d, w in zip(dense, wobble)], [800, 880, 700, 790, 860, 730])
    )  # 10 points below dense: loses
    comparison = statistics.comparisons(results, "early_stop_test_accuracy")
    asked = {(r.density_pct, r.against, r.question) for r in comparison.itertuples()}
    assert asked == {
        (d, "dense", q)
        for d in (50.0, 10.0)
        for q in ("more accurate than dense", "as good as dense", "stops no later than dense")
    } | {(50.0, "reinit", "more accurate than reinit")}
    reinit = comparison[comparison["against"] == "reinit"].iloc[0]
    assert reinit["accuracy_diff"] == pytest.approx(0.03) and reinit["verdict"] == "held"
    assert reinit["early_stop_diff"] == pytest.approx(-400)
    verdicts = statistics.verdicts(comparison).set_index("density_pct")
    assert verdicts["winning_ticket"].to_dict() == {50.0: "held", 10.0: "not held"}
    assert verdicts["star"].to_dict() == {50.0: "filled", 10.0: "none"}
    fig = figures.accuracy_vs_density(results, verdicts=statistics.verdicts(comparison))
    stars = [t for t in fig.data if t.name and t.name.startswith("winning ticket")]
    ticket_mean = sum(d + 0.01 + w for d, w in zip(dense, wobble)) / 6
    assert len(stars) == 1 and list(stars[0].x) == [50.0] and list(stars[0].y) == pytest.approx([ticket_mean])


def test_a_tfmot_series_is_compared_with_baselines_that_train_the_same_way():
    results = pd.DataFrame(
        _rows("dense", 0, 1.0, [0.90, 0.91], [300, 300], experiment="baseline", label="B")
        + _rows("dense", 0, 1.0, [0.50, 0.50], [300, 300], experiment="baseline", label="B2", training="other")
        + _rows("ticket", 0, 0.2, [0.89, 0.90], [300, 250], experiment="tfmot", label="T")
        + _rows("pruned", 0, 0.2, [0.91, 0.92], [300, 300], experiment="tfmot", label="T")
    )
    comparison = (
        statistics.comparisons(results, "early_stop_test_accuracy").drop_duplicates("against").set_index("against")
    )  # one row per question: the differences repeat on each
    assert comparison.loc["dense", "accuracy_diff"] == pytest.approx(-0.01)  # not the other baseline's 0.50
    assert comparison.loc["pruned", "accuracy_diff"] == pytest.approx(-0.02)
    summary = statistics.summary(results, "early_stop_test_accuracy")
    ticket = summary[(summary["label"] == "T") & (summary["arm"] == "ticket")].iloc[0]
    assert ticket["n"] == 2 and ticket["mean"] == pytest.approx(0.895)
    assert ticket["ci_high"] - ticket["mean"] == pytest.approx(12.706204736 * 0.005, rel=1e-6)


def test_two_seeds_far_below_dense_are_undetermined_never_a_winner():
    results = pd.DataFrame(
        _rows("ticket", 0, 1.0, [0.90, 0.91], [1000, 1100]) + _rows("ticket", 1, 0.5, [0.80, 0.86], [800, 900])
    )  # 7.5 points below dense
    verdicts = statistics.verdicts(statistics.comparisons(results, "early_stop_test_accuracy"))
    assert verdicts["winning_ticket"].tolist() == ["undetermined"]  # the old rule's interval called it a winner
    assert verdicts["verdict"].iloc[0].startswith(f"undetermined: about {verdicts['seeds_needed'].iloc[0]} seeds")
    assert verdicts["seeds_needed"].iloc[0] >= 3
    fig = figures.accuracy_vs_density(results, verdicts=verdicts)
    assert not [t for t in fig.data if t.name and t.name.startswith("winning ticket")]


def test_a_star_says_whether_the_ticket_is_better_or_as_good_within_the_margin():
    wobble = [0.001, -0.001, 0.0005, -0.0005, 0.0015, -0.0015]
    dense = [0.90, 0.91, 0.92, 0.905, 0.915, 0.895]
    earlier = [800, 880, 700, 790, 860, 730]
    results = pd.DataFrame(
        _rows("ticket", 0, 1.0, dense, [1000, 1100, 900, 1000, 1050, 950])
        + _rows("ticket", 1, 0.5, [d + 0.02 + w for d, w in zip(dense, wobble)], earlier)  # 2 points above
        + _rows("ticket", 2, 0.2, [d + w for d, w in zip(dense, wobble)], earlier)
    )  # ±0.15 points: a tie
    verdicts = statistics.verdicts(statistics.comparisons(results, "early_stop_test_accuracy"))
    words = verdicts.set_index("density_pct")["verdict"].to_dict()
    assert words == {
        50.0: "held: a winning ticket, more accurate than dense and stopping no later",
        20.0: "held: a winning ticket, as good as dense within 0.5 points and stopping no later",
    }
    tie = verdicts.set_index("density_pct").loc[20.0]
    assert tie["accuracy_ci_low"] < 0 < tie["accuracy_ci_high"] and tie["more_accurate"] == "undetermined"
    assert tie["as_good_as"] == "held" and tie["margin"] == 0.005
    fig = figures.accuracy_vs_density(results, verdicts=verdicts)
    stars = {t.name: (list(t.x), t.marker.symbol) for t in fig.data if t.name and t.name.startswith("winning")}
    assert stars == {
        "winning ticket: more accurate than dense": ([50.0], "star"),
        "winning ticket: as good as dense (within the margin)": ([20.0], "star-open"),
    }


def test_arm_colours_do_not_depend_on_the_filter_and_dense_baselines_differ():
    both = pd.DataFrame(
        _rows("dense", 0, 1.0, [0.90, 0.91, 0.92], [300, 300, 300], experiment="baseline", label="A", training="a")
        + _rows("dense", 0, 1.0, [0.80, 0.81, 0.82], [300, 300, 300], experiment="baseline", label="B", training="b")
        + _rows("reinit", 0, 0.5, [0.85, 0.86, 0.87], [300, 300, 300], experiment="tfmot", label="T", training="a")
        + _rows("ticket", 0, 0.5, [0.88, 0.89, 0.90], [300, 300, 300], experiment="tfmot", label="T", training="a")
    )

    def lines(results):
        fig = figures.accuracy_vs_density(results)
        return [(t.name, t.line.color, t.line.dash) for t in fig.data if t.showlegend is not False]

    def hue(colour: str) -> str:  # which family a colour belongs to: its largest channel
        r, g, b = (int(v) for v in colour[colour.index("(") + 1 : -1].split(","))
        return "rgb"[max(range(3), key=lambda i: (r, g, b)[i])] if len({r, g, b}) > 1 else "grey"

    everything = lines(both)
    assert [name.split(" · ")[0] for name, *_ in everything] == [
        "dense baseline",
        "dense baseline",
        "lottery ticket",
        "random reinit",
    ]  # arms in one order
    dense = [(colour, dash) for name, colour, dash in everything if name.startswith("dense")]
    assert dense[0] != dense[1]  # two baselines are told apart
    colours = {name.split(" · ")[0]: hue(colour) for name, colour, _ in everything if "rgb" in colour}
    assert colours["lottery ticket"] == "b" and colours["random reinit"] == "r"
    only_t = lines(both[both["label"] == "T"])  # filtered down to one series: the same families
    assert {name.split(" · ")[0]: colour for name, colour, _ in only_t} == {
        "lottery ticket": figures.ARM_COLORS["ticket"],
        "random reinit": figures.ARM_COLORS["reinit"],
    }


def _method_results():
    """Two seeds of a one-shot series (snip and its shuffle; magnitude_init emptying fc1 in one seed) beside an
    IMP lottery series that trains the same way."""
    import pandas as pd

    rows = []
    for seed, (snip, shuffled, imp, cut) in enumerate([(0.80, 0.78, 0.85, 0.0), (0.82, 0.79, 0.86, 0.01)]):
        common = {"seed": seed, "model": "lenet300_100", "training": "t1", "early_stop_iteration": 100}
        rows += [
            {
                **common,
                "experiment": "oneshot",
                "label": "oneshot",
                "series": "s1",
                "arm": "snip",
                "round": 1,
                "density": 0.036,
                "early_stop_test_accuracy": snip,
                "density_fc1": 0.03,
                "density_out": 0.2,
            },
            {
                **common,
                "experiment": "oneshot",
                "label": "oneshot",
                "series": "s1",
                "arm": "snip-random_prune",
                "round": 1,
                "density": 0.036,
                "early_stop_test_accuracy": shuffled,
                "density_fc1": 0.03,
                "density_out": 0.2,
            },
            {
                **common,
                "experiment": "oneshot",
                "label": "oneshot",
                "series": "s1",
                "arm": "magnitude_init",
                "round": 1,
                "density": 0.036,
                "early_stop_test_accuracy": 0.1 if cut == 0 else 0.7,
                "density_fc1": cut,
                "density_out": 0.5,
            },
            {
                **common,
                "experiment": "lottery",
                "label": "lottery",
                "series": "s2",
                "arm": "ticket",
                "round": 15,
                "density": 0.0358,
                "early_stop_test_accuracy": imp,
                "density_fc1": 0.035,
                "density_out": 0.206,
            },
            {
                **common,
                "experiment": "lottery",
                "label": "lottery",
                "series": "s2",
                "arm": "ticket",
                "round": 0,
                "density": 1.0,
                "early_stop_test_accuracy": 0.88,
            },
        ]
    return pd.DataFrame(rows)


def test_methods_are_paired_with_their_controls_and_the_imp_ticket_at_the_same_density():
    from lth import statistics

    table = statistics.method_comparisons(_method_results(), "early_stop_test_accuracy")
    table = table.set_index(["method", "against"])
    assert table.loc[("snip", "random_prune"), "accuracy_diff"] == pytest.approx(0.025)  # (0.02 + 0.03) / 2
    assert table.loc[("snip", "IMP ticket"), "accuracy_diff"] == pytest.approx(-0.045)  # 3.6% matches 3.58%
    assert table.loc[("snip", "dense"), "accuracy_diff"] == pytest.approx(-0.07)  # IMP's round 0 trains the same way
    assert ("snip-random_prune", "IMP ticket") not in table.index  # controls are compared with, not compared
    assert table.loc[("snip", "random_prune"), "question"] == "more accurate than random_prune"
    # two seeds 4.5 points below IMP (within the margin? not with this spread): undetermined, and how many decide
    words = statistics.difference_words(table.loc[("snip", "IMP ticket")])
    needed = table.loc[("snip", "IMP ticket"), "seeds_needed"]
    assert words == f"as good as IMP ticket: undetermined: about {needed} seeds would decide it"


def test_layer_collapse_is_marked_on_the_accuracy_figure():
    from lth import figures

    results = _method_results()
    assert figures.collapsed(results).sum() == 1
    fig = figures.accuracy_vs_density(results)
    (marks,) = [t for t in fig.data if t.name == "layer collapse (a layer kept no weight)"]
    assert list(marks.x) == [3.6] and marks.customdata[0][0] == 1 and marks.customdata[0][1] == 2  # 1 of 2 seeds
    layers = figures.layer_density_vs_density(results[results["experiment"] == "oneshot"])
    fc1 = next(t for t in layers.data if t.name == "magnitude_init · fc1")
    assert fc1.y[0] == pytest.approx(0.5)  # the mean of 0 and 1%: an emptied layer pulls its line down
