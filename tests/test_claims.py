"""The claims registry (lth.claims): known answers on synthetic paired results, `lth claims` on the committed
result sets. Nothing here trains."""

import json

import numpy as np
import pandas as pd
import pytest

from conftest import ROOT, cli_in_process
from lth import claims, statistics

COMMITTED = [
    ROOT / "docs" / "results" / "fashion-mnist",
    ROOT / "docs" / "results" / "fashion-mnist-converged",
    ROOT / "docs" / "results" / "fashion-mnist-methods",
    ROOT / "docs" / "results" / "analysis",
    ROOT / "docs" / "results" / "frankle-carbin-lenet300_results.csv",
    ROOT / "docs" / "results" / "original-study_results.csv",
]
LADDER = {0: 1.0, 3: 0.513, 7: 0.211, 12: 0.07, 15: 0.036}


def lottery(ticket_gap: float, seeds: int = 5, noise: float = 0.0005, reinit: bool = True, stop_gap: int = -2000):
    """A lottery series: the dense network (round 0) at 0.89 and the ticket at 0.89 + ticket_gap at each ladder
    density, reinit one point below the ticket; each seed's dense accuracy differs (the pairing removes it)."""
    rng = np.random.default_rng(0)
    rows = []
    for seed in range(seeds):
        base = 0.89 + 0.004 * rng.standard_normal()
        for round_, density in LADDER.items():
            arms = ["ticket"] + (["reinit"] if reinit and round_ else [])
            for arm in arms:
                accuracy = base if round_ == 0 else base + ticket_gap + noise * rng.standard_normal()
                stop = 10_000 if round_ == 0 else 10_000 + stop_gap + int(200 * rng.standard_normal())
                if arm == "reinit":
                    accuracy -= 0.01
                rows.append(
                    {
                        "run_id": f"{seed:016x}",
                        "experiment": "lottery",
                        "model": "lenet300_100",
                        "dataset": "fashion-mnist",
                        "seed": seed,
                        "label": "lottery lenet300_100 fashion-mnist it50000",
                        "training": "abc123",
                        "arm": arm,
                        "round": round_,
                        "density": density,
                        "early_stop_test_accuracy": accuracy,
                        "early_stop_iteration": stop,
                        "final_iteration": 50_000,
                        "stopped_early": False,
                    }
                )
    return pd.DataFrame(rows)


def judge(claim_id: str, results: pd.DataFrame) -> claims.Evaluation:
    (evaluation,) = claims.evaluate_claim(claims.CLAIMS[claim_id], results)
    return evaluation


def test_the_verdict_words_are_the_statistics_ones():
    assert (claims.HELD, claims.NOT_HELD, claims.UNDETERMINED) == (
        statistics.HELD,
        statistics.NOT_HELD,
        statistics.UNDETERMINED,
    )
    assert set(claims.VERDICTS) == {"held", "not held", "undetermined", "not checked"}


def test_every_claim_names_its_source_words_needs_test_and_margin():
    ids = set(claims.CLAIMS)
    for stem in ("fc-lenet300100", "fc-conv2"):
        assert {f"{stem}-as-accurate", f"{stem}-learn-faster", f"{stem}-reinit-below"} <= ids
    assert {"study-ticket-leads", "study-meet-at-1pct", "lmc-lenet300-dense-stable", "mark-layerwise-shuffle"} <= ids
    assert {"mark-reinit", "synflow-no-layer-collapse", "lmc-lenet300-tickets-stable"} <= ids
    table = claims.registry()
    assert table[["source", "statement", "needs", "test"]].map(bool).all().all()
    assert table.set_index("claim").loc["fc-lenet300100-as-accurate", "margin"] == statistics.MARGIN


def test_clearly_better_is_held():
    evaluation = judge("fc-lenet300100-as-accurate", lottery(+0.01))
    assert evaluation.verdict == "held", evaluation.words
    assert set(evaluation.evidence["verdict"]) == {"held"} and len(evaluation.evidence) == 4  # 51.3 ... 3.6%
    assert evaluation.run_ids and evaluation.evidence["p_holm"].ge(evaluation.evidence["p_value"]).all()
    assert judge("fc-lenet300100-reinit-below", lottery(0.0)).verdict == "held"
    assert judge("fc-lenet300100-learn-faster", lottery(0.0, stop_gap=-3000)).verdict == "held"


def test_within_the_margin_is_held_as_good_as():
    evaluation = judge("fc-lenet300100-as-accurate", lottery(-0.001, seeds=8, noise=0.0003))
    assert evaluation.verdict == "held", evaluation.words
    assert (evaluation.evidence["accuracy_diff"] < 0).all()  # below dense, but within half a point


def test_clearly_worse_is_not_held_and_says_where():
    evaluation = judge("fc-lenet300100-as-accurate", lottery(-0.03))
    assert evaluation.verdict == "not held"
    assert "ticket as good as dense at 3.6%" in evaluation.words and "-3.00 points" in evaluation.words


def test_too_few_seeds_to_tell_is_undetermined_with_the_seeds_needed():
    evaluation = judge("fc-lenet300100-as-accurate", lottery(-0.003, seeds=3, noise=0.004))
    assert evaluation.verdict == "undetermined", evaluation.words
    assert evaluation.seeds_needed is not None and evaluation.seeds_needed > 3
    assert f"about {evaluation.seeds_needed:,} seeds would decide it" in evaluation.words


def test_a_missing_control_or_seed_is_not_checked_and_says_what_is_missing():
    evaluation = judge("fc-lenet300100-reinit-below", lottery(0.0, reinit=False))
    assert evaluation.verdict == "not checked"
    assert "needs a reinit control at 3.6%" in evaluation.words
    one = judge("fc-lenet300100-as-accurate", lottery(0.0, seeds=1))
    assert one.verdict == "not checked" and "needs 1 more seed" in one.words
    (nothing,) = claims.evaluate_claim(claims.CLAIMS["fc-conv2-as-accurate"], lottery(0.0))
    assert nothing.verdict == "not checked" and "needs lottery runs of conv2" in nothing.words


def test_an_empty_store_leaves_every_claim_not_checked(tmp_path):
    from lth.runs import RunStore

    evaluations = claims.evaluate(*claims.from_store(RunStore(tmp_path / "none", create=False)))
    assert {e.claim for e in evaluations} == set(claims.CLAIMS)
    assert {e.verdict for e in evaluations} == {"not checked"}


def test_exported_results_are_read_once_each():
    results, instability = claims.read_exported(COMMITTED)
    assert not results.duplicated(["run_id", "arm", "round"]).any()
    assert results["training"].notna().all() and not instability.empty
    with pytest.raises(ValueError, match="no such file"):
        claims.read_exported([ROOT / "no-such-folder"])


def test_lth_claims_on_the_committed_results_lists_every_claim_with_its_verdict(capsys, tmp_path):
    code, out, err = cli_in_process(capsys, "claims", "--results", *COMMITTED, "--export", tmp_path / "out")
    assert code == 0, err
    for claim_id in claims.CLAIMS:
        assert claim_id in out
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["claims.csv", "claims.json", "claims_evidence.csv"]
    table = pd.read_csv(tmp_path / "out" / "claims.csv")
    assert set(table["claim"]) == set(claims.CLAIMS) and table["verdict"].isin(claims.VERDICTS).all()
    verdicts = table.set_index(["claim", "series"])["verdict"]
    # what the committed numbers say under the three-word rule
    assert verdicts["synflow-no-layer-collapse", "oneshot lenet300_100 fashion-mnist it50000"] == "held"
    assert verdicts["study-ticket-leads", "tfmot lenet5 fashion-mnist 200 epochs"] == "not held"
    assert verdicts["fc-lenet300100-as-accurate", "lottery lenet300_100 fashion-mnist it50000"] == "undetermined"
    assert verdicts["lmc-lenet300-dense-stable", "instability lenet300_100 mnist-sample"] == "not checked"
    # nothing is overwritten
    code, _, err = cli_in_process(capsys, "claims", "--results", *COMMITTED, "--export", tmp_path / "out")
    assert code == 2 and "already holds" in err


def test_lth_claims_json(capsys):
    code, out, _ = cli_in_process(capsys, "claims", "--results", ROOT / "docs" / "results" / "fashion-mnist", "--json")
    assert code == 0
    records = json.loads(out)
    assert {r["claim"] for r in records} == set(claims.CLAIMS)
    assert all(r["verdict"] in claims.VERDICTS for r in records)
    assert any(r["questions"] for r in records)


def test_the_readmes_verdicts_are_the_generated_ones():
    """Every verdict word in the README's table of claims is what `lth claims --readme` makes of the committed
    result sets today: a new result, or a changed rule, changes the README or fails here."""
    results, instability = claims.read_exported(claims.committed_results())
    block = claims.readme_table(claims.evaluate(results, instability))
    readme = (ROOT / "README.md").read_text()
    assert block in readme, "README.md's claims are stale: python -m lth claims --readme"
    assert readme.count(claims.README_BEGIN) == 1
