"""Each comparison answers the question it is asked: held, not held or undetermined, on synthetic paired data
whose answer is known; Holm over a table; seeds needed from statsmodels' power; stars by the same rule; head to
head; budget-limited trainings."""

import math

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import TTestPower

from conftest import cli_in_process
from lth import figures, statistics

METRIC = "early_stop_test_accuracy"
DENSE = [0.900, 0.910, 0.920, 0.905, 0.915, 0.895, 0.912, 0.908]  # 8 seeds of the dense network
DENSE_STOP = [1000, 1100, 900, 1000, 1050, 950, 1000, 1020]
NOISE = [0.001, -0.001, 0.0005, -0.0005, 0.0015, -0.0015, 0.0, 0.0]  # seed-to-seed wobble of a paired difference
EARLIER = [-200, -250, -180, -220, -210, -190, -230, -200]  # the ticket stops about 210 iterations earlier


def _rows(
    arm, density, accs, stops, label="L", experiment="lottery", round_=1, training="t", finals=None, stopped=None
):
    rows = []
    for seed, (acc, stop) in enumerate(zip(accs, stops)):
        row = {
            "run_id": f"{label}{seed}",
            "experiment": experiment,
            "model": "m",
            "label": label,
            "series": label,
            "training": training,
            "arm": arm,
            "round": round_,
            "density": density,
            "seed": seed,
            METRIC: acc,
            "early_stop_iteration": stop,
        }
        if finals is not None:
            row["final_iteration"], row["stopped_early"] = finals[seed], stopped[seed] if stopped else False
        rows.append(row)
    return rows


def _ticket(density, shift, seeds=8, noise=NOISE, stop_shift=EARLIER, label="L"):
    """A ticket at `density` whose accuracy is dense's + shift (+ noise) on each seed."""
    accs = [d + shift + e for d, e in zip(DENSE[:seeds], noise[:seeds])]
    stops = [s + e for s, e in zip(DENSE_STOP[:seeds], stop_shift[:seeds])]
    return _rows("ticket", density, accs, stops, label=label)


def _dense(label="L"):
    return _rows("dense", 1.0, DENSE, DENSE_STOP, label=label, round_=0)


def _question(table, density, question):
    (row,) = table[(table["density_pct"] == density) & (table["question"] == question)].to_dict("records")
    return row


def test_clearly_better_equivalent_worse_and_undecided_get_their_words():
    results = pd.DataFrame(
        _dense()
        + _ticket(0.5, +0.02)  # 2 points above on every seed
        + _ticket(0.3, 0.0)  # a tie: within ±0.15 points
        + _ticket(0.1, -0.03)  # 3 points below
        + _ticket(0.05, 0.0, seeds=3, noise=[0.010, -0.008, 0.004])
    )  # 3 seeds, wide spread
    table = statistics.comparisons(results, METRIC)
    answers = {(r["density_pct"], r["question"]): r["verdict"] for r in table.to_dict("records")}
    assert answers == {
        (50.0, "more accurate than dense"): "held",
        (50.0, "as good as dense"): "held",
        (30.0, "more accurate than dense"): "undetermined",
        (30.0, "as good as dense"): "held",
        (10.0, "more accurate than dense"): "not held",
        (10.0, "as good as dense"): "not held",
        (5.0, "more accurate than dense"): "undetermined",
        (5.0, "as good as dense"): "undetermined",
        **{(d, "stops no later than dense"): "held" for d in (50.0, 30.0, 10.0)},
        (5.0, "stops no later than dense"): "held",
    }  # 3 seeds, all about 210 iterations earlier, little spread
    assert (table["margin"] == statistics.MARGIN).all() and statistics.MARGIN == 0.005
    undecided = _question(table, 5.0, "as good as dense")
    assert undecided["words"] == f"undetermined: about {undecided['seeds_needed']} seeds would decide it"
    assert _question(table, 50.0, "more accurate than dense")["words"] == "held"
    verdicts = statistics.verdicts(table).set_index("density_pct")
    assert verdicts["winning_ticket"].to_dict() == {50.0: "held", 30.0: "held", 10.0: "not held", 5.0: "undetermined"}
    assert verdicts.loc[50.0, "verdict"] == "held: a winning ticket, more accurate than dense and stopping no later"
    assert verdicts.loc[30.0, "verdict"] == (
        "held: a winning ticket, as good as dense within 0.5 points and stopping no later"
    )
    assert verdicts.loc[10.0, "verdict"] == "not held: less accurate than dense by more than 0.5 points"
    assert verdicts.loc[5.0, "verdict"].startswith(
        f"undetermined: about {verdicts.loc[5.0, 'seeds_needed']} seeds would decide it (as good as dense: "
        f"undetermined, stops no later: held)"
    )


def test_seeds_needed_is_statsmodels_power_at_the_strictest_holm_step_and_decides_at_that_many_seeds():
    noise = [0.004, -0.004, 0.003]  # ticket − dense: +0.2, −0.6, +0.1 points over -0.5: the boundary of as good as
    results = pd.DataFrame(_dense() + _ticket(0.5, -0.002, seeds=3, noise=noise))
    table = statistics.comparisons(results, METRIC)
    row = _question(table, 50.0, "as good as dense")
    assert row["verdict"] == "undetermined"
    diff = np.array([t - d for t, d in zip(results[results["arm"] == "ticket"][METRIC], DENSE)])
    effect = (diff.mean() + statistics.MARGIN) / diff.std(ddof=1)
    expected = TTestPower().solve_power(effect_size=effect, alpha=0.05 / len(table), power=0.8, alternative="larger")
    assert row["seeds_needed"] == max(math.ceil(expected), 4) and row["seeds_needed"] >= row["n"] + 1 == 4
    assert isinstance(row["seeds_needed"], (int, np.integer))
    # a large effect that n seeds did not decide (a strict Holm step) needs at least one more seed, not fewer
    assert TTestPower().power(effect_size=10.0, nobs=3, alpha=0.05, alternative="larger") > 0.8
    assert statistics.seeds_needed(10.0, 5) == 6 and statistics.seeds_needed(0.0, 5) is None
    assert statistics.seeds_needed(10.0, 2) == 3  # where statsmodels' root finder gives up (NaN): counted
    # that many seeds with the same mean difference and spread decide it: as good as dense, held
    n = int(row["seeds_needed"])
    pattern = np.resize([1.0, -1.0], n) if n % 2 == 0 else np.r_[np.resize([1.0, -1.0], n - 1), 0.0]
    spread = diff.std(ddof=1) / pattern.std(ddof=1)
    wider = pd.DataFrame(
        _rows("dense", 1.0, [0.9] * n, [1000] * n, round_=0)
        + _rows("ticket", 0.5, list(0.9 + diff.mean() + spread * pattern), [800] * n)
    )
    assert _question(statistics.comparisons(wider, METRIC), 50.0, "as good as dense")["verdict"] == "held"
    # a wider spread needs more seeds
    noisier = pd.DataFrame(_dense() + _ticket(0.5, -0.002, seeds=3, noise=[2 * e for e in noise]))
    assert _question(statistics.comparisons(noisier, METRIC), 50.0, "as good as dense")["seeds_needed"] > n


def test_holm_matches_the_textbook_example_and_the_verdicts_use_the_adjusted_p_values():
    assert statistics.holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert np.isnan(statistics.holm([0.01, math.nan])[1]) and statistics.holm([0.01, math.nan])[0] == 0.01
    rng = np.random.default_rng(0)  # statsmodels' Holm on families of every size, ties and ones included
    for size in (1, 2, 3, 7, 40):
        p = np.round(rng.uniform(0, 0.2, size), 2)
        np.testing.assert_allclose(statistics.holm(p), multipletests(p, method="holm")[1], rtol=0, atol=1e-15)
    # three densities where the ticket is a little more accurate: each raw one-sided p < 0.05, not after Holm
    modest = [0.004, 0.001, 0.006, -0.001, 0.003]
    results = pd.DataFrame(
        _rows("dense", 1.0, DENSE[:5], DENSE_STOP[:5], round_=0)
        + sum((_ticket(d, 0.0, seeds=5, noise=modest) for d in (0.5, 0.3, 0.1)), [])
    )
    table = statistics.comparisons(results, METRIC)
    assert table["p_holm"].tolist() == pytest.approx(multipletests(table["p_value"], method="holm")[1].tolist())
    better = table[table["question"] == "more accurate than dense"]
    assert (better["p_value"] < 0.05).all() and (better["p_holm"] >= 0.05).all()
    assert set(better["verdict"]) == {"undetermined"}
    alone = pd.DataFrame(_rows("dense", 1.0, DENSE[:5], DENSE_STOP[:5], round_=0) + _ticket(0.5, 0.0, 5, modest))
    head = statistics.head_to_head(alone, "ticket", "dense")  # a table of two questions: Holm multiplies by 2, 1
    assert _question(head, 50.0, "more accurate than dense")["verdict"] == "held"


def test_stars_follow_the_rule_in_the_figure_and_the_table():
    results = pd.DataFrame(
        _dense()
        + _ticket(0.5, +0.02)  # more accurate, earlier: filled
        + _ticket(0.3, 0.0)  # within the margin, earlier: hollow
        + _ticket(0.2, +0.02, stop_shift=[400 + e for e in EARLIER])  # more accurate, but later
        + _ticket(0.05, 0.0, seeds=3, noise=[0.010, -0.008, 0.004])
    )  # undetermined
    verdicts = statistics.verdicts(statistics.comparisons(results, METRIC))
    assert verdicts.set_index("density_pct")["star"].to_dict() == {
        50.0: "filled",
        30.0: "hollow",
        20.0: "none",
        5.0: "none",
    }
    late = verdicts.set_index("density_pct").loc[20.0]
    assert late["winning_ticket"] == "not held" and late["more_accurate"] == "held"
    assert late["verdict"] == (
        f"not held: stops later than dense by more than {0.1 * np.mean(DENSE_STOP):,.0f} iterations"
    )
    fig = figures.accuracy_vs_density(results, verdicts=verdicts)
    stars = {t.name: (list(t.x), t.marker.symbol) for t in fig.data if t.name and t.name.startswith("winning")}
    assert stars == {
        "winning ticket: more accurate than dense": ([50.0], "star"),
        "winning ticket: as good as dense (within the margin)": ([30.0], "star-open"),
    }
    assert statistics.star("held", "not held") == "hollow" and statistics.star("undetermined", "held") == "none"
    assert statistics.winning("held", "undetermined") == "undetermined"
    assert statistics.winning("undetermined", "not held") == "not held"


def test_the_margin_is_a_parameter_shown_beside_every_verdict():
    results = pd.DataFrame(_dense() + _ticket(0.5, -0.003))  # 0.3 points below dense on every seed, ±0.15
    default = statistics.comparisons(results, METRIC)
    assert _question(default, 50.0, "as good as dense")["verdict"] == "held"  # within half a point
    strict = statistics.comparisons(results, METRIC, margin=0.001)
    assert _question(strict, 50.0, "as good as dense")["verdict"] == "not held"  # not within a tenth of a point
    assert (strict["margin"] == 0.001).all()
    verdicts = statistics.verdicts(strict)
    assert verdicts["margin"].tolist() == [0.001]
    assert verdicts["verdict"].tolist() == ["not held: less accurate than dense by more than 0.1 points"]


def _methods():
    """Two one-shot methods of one series (synflow 2 points above snip on every seed) and an IMP series that
    trains the same way, at the iterative ladder's 21.07% where the one-shot run asked 21.1%."""
    snip = [d - 0.01 + e for d, e in zip(DENSE, NOISE)]
    return pd.DataFrame(
        _rows("dense", 1.0, DENSE, DENSE_STOP, label="O", experiment="oneshot", round_=0)
        + _rows("snip", 0.211, snip, DENSE_STOP, label="O", experiment="oneshot")
        + _rows(
            "synflow",
            0.211,
            [s + 0.02 + e for s, e in zip(snip, NOISE[::-1])],
            DENSE_STOP,
            label="O",
            experiment="oneshot",
        )
        + _rows("snip", 0.036, [s - 0.05 for s in snip], DENSE_STOP, label="O", experiment="oneshot")
        + _rows(
            "synflow",
            0.036,
            [s - 0.03 + e for s, e in zip(snip, NOISE[::-1])],
            DENSE_STOP,
            label="O",
            experiment="oneshot",
        )
        + _rows("ticket", 1.0, DENSE, DENSE_STOP, label="L", round_=0)  # round 0: IMP's dense network
        + _rows("ticket", 0.2107, [d + 0.002 + e for d, e in zip(DENSE, NOISE)], DENSE_STOP, label="L", round_=7)
    )


def test_head_to_head_answers_a_planted_difference_at_each_density():
    results = _methods()
    duel = statistics.head_to_head(results, "synflow", "snip", METRIC)
    assert set(duel["density_pct"]) == {21.1, 3.6}
    assert set(duel[duel["question"] == "more accurate than snip"]["verdict"]) == {"held"}
    assert duel["accuracy_diff"].tolist() == pytest.approx([0.02] * 4)
    reverse = statistics.head_to_head(results, "snip", "synflow", METRIC)
    assert set(reverse["verdict"]) == {"not held"}  # 2 points below: neither more accurate nor as good
    assert reverse["accuracy_diff"].tolist() == pytest.approx([-0.02] * 4)
    assert reverse["p_holm"].tolist() == pytest.approx(multipletests(reverse["p_value"], method="holm")[1].tolist())
    # across series: the one-shot 21.1% meets IMP's 21.07%; a method 1.2 points below the IMP ticket
    cross = statistics.head_to_head(results, "O · synflow", "L · ticket", METRIC)
    assert cross["b_density_pct"].tolist() == [21.07, 21.07]
    assert _question(cross, 21.1, "as good as L · ticket")["verdict"] == "held"  # +0.8 points
    with pytest.raises(ValueError, match="several series"):
        statistics.head_to_head(results, "dense", "snip", METRIC)  # O's dense and L's round 0
    with pytest.raises(ValueError, match="no series 'grasp'"):
        statistics.head_to_head(results, "grasp", "snip", METRIC)
    assert "O · synflow" in statistics.series_names(results) and "L · dense" in statistics.series_names(results)


def test_method_comparisons_ask_one_question_each():
    table = statistics.method_comparisons(_methods(), METRIC).set_index(["method", "density_pct", "against"])
    assert table.loc[("synflow", 21.1, "dense"), "question"] == "as good as dense"
    assert table.loc[("synflow", 21.1, "IMP ticket"), "question"] == "as good as IMP ticket"
    assert table.loc[("snip", 3.6, "dense"), "verdict"] == "not held"  # 6 points below dense
    assert statistics.difference_words(table.loc[("snip", 3.6, "dense")]) == "as good as dense: not held"


def test_budget_limited_trainings_are_counted_and_named_in_the_verdict():
    finals = [1500] * 8
    dense = _rows("dense", 1.0, DENSE, DENSE_STOP, round_=0, finals=finals)
    stops = [1500, 1500, 1500, 1500, 800, 900, 850, 820]  # 3 peaked at their last evaluation; seed 3 stopped
    ticket = _rows(
        "ticket",
        0.5,
        [d + 0.02 + e for d, e in zip(DENSE, NOISE)],
        stops,
        finals=finals,
        stopped=[False, False, False, True, True, True, True, True],
    )
    results = pd.DataFrame(dense + ticket)
    assert statistics.budget_limited(results).sum() == 3
    assert statistics.with_dense(results)["budget_limited"].sum() == 3
    summary = statistics.summary(results, METRIC).set_index("arm")
    assert summary.loc["ticket", "budget_limited_n"] == 3 and summary.loc["dense", "budget_limited_n"] == 0
    table = statistics.comparisons(results, METRIC)
    note = " (3 of 16 trainings peaked at their last evaluation: the budget, not the method, may decide this)"
    assert (table["budget_limited_trainings"] == 3).all()
    assert _question(table, 50.0, "more accurate than dense")["words"] == "held" + note
    assert statistics.verdicts(table)["verdict"].iloc[0].endswith(note)
    assert statistics.budget_limited(pd.DataFrame(_dense())).sum() == 0  # records without the columns: unknown


def test_fewer_than_two_seeds_and_no_spread():
    results = pd.DataFrame(_dense() + _ticket(0.5, 0.02, seeds=1))
    row = _question(statistics.comparisons(results, METRIC), 50.0, "more accurate than dense")
    assert row["verdict"] == "undetermined" and pd.isna(row["seeds_needed"])
    assert row["words"] == "undetermined: a paired test needs at least 2 seeds"
    # every seed exactly 1 point above: no spread for a t-test, a sign test (0.5^n) answers
    assert statistics.one_sided([0.91, 0.92, 0.93], [0.90, 0.91, 0.92], 0.0, "greater") == (0.125, 1.0)
    assert statistics.one_sided([0.90, 0.91], [0.90, 0.91], 0.0, "greater") == (1.0, 1.0)  # on the boundary
    flat = pd.DataFrame(_dense() + _ticket(0.5, 0.01, seeds=3, noise=[0, 0, 0]))
    row = _question(statistics.comparisons(flat, METRIC), 50.0, "more accurate than dense")
    assert row["verdict"] == "undetermined" and row["p_value"] == pytest.approx(0.125)
    assert row["seeds_needed"] == math.floor(math.log2(3 / 0.05)) + 1  # 0.5^n below alpha / 3 questions


@pytest.mark.trains
def test_lth_compare_prints_verdicts_head_to_head_and_takes_a_margin(capsys, monkeypatch, tmp_path):
    from lth.runs import tables

    monkeypatch.setattr(tables, "results_frame", lambda store, *a, **k: _methods().assign(dataset="d"))
    code, out, err = cli_in_process(
        capsys,
        "compare",
        "--cache-dir",
        tmp_path,
        "--head-to-head",
        "synflow",
        "snip",
        "--margin",
        "0.01",
        "--export",
        tmp_path / "out",
    )
    assert code == 0, err
    assert "more accurate than snip" in out and "held" in out and "winning ticket" in err
    exported = pd.read_csv(tmp_path / "out" / "head_to_head.csv")
    assert set(exported["margin"]) == {0.01} and set(
        exported[exported["question"] == "more accurate than snip"]["verdict"]
    ) == {"held"}
    assert {"p_value", "p_holm", "seeds_needed", "margin", "verdict"} <= set(
        pd.read_csv(tmp_path / "out" / "comparisons.csv").columns
    )
    code, _, err = cli_in_process(capsys, "compare", "--cache-dir", tmp_path, "--margin", "-1")
    assert code == 2 and "--margin -1.0" in err
    code, _, err = cli_in_process(
        capsys, "compare", "--cache-dir", tmp_path, "--head-to-head", "grasp", "snip", "--export", tmp_path / "refused"
    )
    assert code == 2 and "no series 'grasp'" in err and not (tmp_path / "refused").exists()
