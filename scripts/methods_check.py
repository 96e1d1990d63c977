"""The pruning-methods preset's published statements checked on its runs (nothing is trained), with IMP from
the Frankle & Carbin preset (its runs in the store, else its committed results), and its time estimate:

1. IMP at least as accurate as every pruning-at-initialization method at moderate density (51.3, 21.1, 7.0%);
2. SNIP, GraSP and SynFlow do not lose accuracy under the layerwise shuffle or reinit; IMP's tickets do (IMP's
   reinit control, and one-shot magnitude pruning's shuffle and reinit);
3. SynFlow avoids layer collapse where SNIP or magnitude at init collapse (if it happens here at all);
4. random pruning at the per-layer densities of the best method (its shuffle) against that method;
and per seed, the preset's estimate (shown before Start) against the measured training time of its runs.

Usage: .venv/bin/python scripts/methods_check.py [--dataset fashion-mnist] [--budget full] [--cache-dir DIR]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lth import figures, presets, statistics  # noqa: E402
from lth.runs import RunStore  # noqa: E402
from lth.runs import tables as run_tables  # noqa: E402
from lth.runs.queue import check  # noqa: E402

AT_INIT = ("synflow", "snip", "grasp", "magnitude_init", "random")
METRIC = "early_stop_test_accuracy"


def pts(row, key="accuracy") -> str:
    return (f"{100 * row[f'{key}_diff']:+.2f} points [{100 * row[f'{key}_ci_low']:+.2f}, "
            f"{100 * row[f'{key}_ci_high']:+.2f}]")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="fashion-mnist")
    parser.add_argument("--budget", default="full")
    parser.add_argument("--cache-dir")
    args = parser.parse_args()
    store = RunStore(args.cache_dir, create=False)
    preset = presets.PRESETS["pruning-methods"]
    configs = preset.configs(args.budget, args.dataset)
    ids = [check(c).run_id for c in configs]

    print("## Time: the preset's estimate against the measured training time of its runs")
    for seed in preset.seeds(args.budget):
        mine = [(c, r) for c, r in zip(configs, ids) if c.seed == seed]
        statuses = [store.status_or_none(r) or {} for _, r in mine]
        done = sum(s.get("state") == "done" for s in statuses)
        if done < len(mine):
            print(f"seed {seed}: {done} of {len(mine)} runs done")
            continue
        estimate = preset.estimate_seconds(args.budget, [c for c, _ in mine])
        measured = sum(s["ended"] - s["started"] + (s.get("elapsed_before") or 0) for s in statuses)
        print(f"seed {seed}: estimated {estimate / 60:.1f} min, measured {measured / 60:.1f} min; "
              f"estimate / measured {estimate / measured:.2f}")

    results = run_tables.results_frame(store, ids)
    if results.empty:
        print("no finished runs")
        return 1
    imp = presets.companion_results("pruning-methods", args.budget, args.dataset, store)
    both = pd.concat([results, imp], ignore_index=True)
    comparison = statistics.method_comparisons(both, METRIC)
    seeds = results["seed"].nunique()
    source = imp["source"].iloc[0] if not imp.empty else "none"
    print(f"\n{results['run_id'].nunique()} runs, {len(results)} trainings, {seeds} seeds; IMP from: {source}")

    def rows(method, against, density=None):
        frame = comparison[(comparison["method"] == method) & (comparison["against"] == against)]
        return frame if density is None else frame[frame["density_pct"].round(1) == density]

    print("\n## 1. IMP at least as accurate as every pruning-at-initialization method at moderate density")
    print("(method − IMP ticket, paired by seed, 95% interval)")
    for density in (51.3, 21.1, 7.0, 3.6):
        for method in AT_INIT + ("magnitude",):
            for _, row in rows(method, "IMP ticket", density).iterrows():
                words = statistics.difference_words(row)
                verdict = {"less accurate": "IMP more accurate", "more accurate": "the method more accurate than IMP",
                           "no detectable difference": "no detectable difference"}.get(words, words)
                print(f"  {density:>4}% {method:15s} {pts(row)}: {verdict}")

    print("\n## 2. Sanity checks at 3.6%: method − control (a positive difference: the control loses accuracy)")
    for method in ("synflow", "snip", "grasp", "magnitude"):
        for control in ("random_prune", "reinit", "invert"):
            for _, row in rows(method, control, 3.6).iterrows():
                print(f"  {method:10s} vs {control:12s} {pts(row)}: the method {statistics.difference_words(row)}")
    imp_controls = statistics.comparisons(imp, METRIC) if not imp.empty else pd.DataFrame()
    if not imp_controls.empty:
        for _, row in imp_controls[imp_controls["against"] == "reinit"].iterrows():
            if round(row["density_pct"], 1) in (51.3, 21.1, 7.0, 3.6):
                print(f"  IMP ticket vs reinit at {row['density_pct']:.1f}%: {pts(row)}: the ticket "
                      f"{statistics.difference_words(row)}")

    print("\n## 3. Layer collapse: trainings whose mask emptied a layer (of all trainings at that point)")
    cut = results.assign(collapsed=figures.collapsed(results), density_pct=(100 * results["density"]).round(1))
    table = cut[cut["arm"] != "dense"].groupby(["arm", "density_pct"])["collapsed"].agg(["sum", "count"])
    collapsed = table[table["sum"] > 0]
    if collapsed.empty:
        print("  none: no criterion emptied a layer at these densities")
    for (arm, density), row in collapsed.iterrows():
        layers = cut[(cut["arm"] == arm) & (cut["density_pct"] == density) & cut["collapsed"]]
        empty = sorted({c.removeprefix("density_") for c in figures.layer_columns(layers) if (layers[c] == 0).any()})
        mean = 100 * cut[(cut["arm"] == arm) & (cut["density_pct"] == density)][METRIC].mean()
        print(f"  {arm:22s} at {density:>4}%: {int(row['sum'])} of {int(row['count'])} ({', '.join(empty)} "
              f"empty); accuracy {mean:.2f}%")

    print("\n## 4. Random pruning at the per-layer densities of the best pruning-at-initialization method (3.6%)")
    at = results[(results["density"].round(3) == 0.036) & results["arm"].isin(AT_INIT)]
    best = at.groupby("arm")[METRIC].mean().sort_values(ascending=False)
    print("  at-init methods at 3.6% (mean test accuracy): "
          + ", ".join(f"{a} {100 * v:.2f}%" for a, v in best.items()))
    checked = [m for m in best.index if not rows(m, "random_prune", 3.6).empty]  # the methods with a shuffle
    for _, row in rows(checked[0], "random_prune", 3.6).iterrows():
        print(f"  the best of those with the sanity checks: {checked[0]}; {checked[0]} − its layerwise shuffle "
              f"{pts(row)}: the method {statistics.difference_words(row)}")
    for _, row in rows("random", "IMP ticket", 3.6).iterrows():
        print(f"  uniform random (global) − IMP ticket {pts(row)}")

    print("\n## Mean test accuracy at early stop (%) per method and density (seeds)")
    grid = results.assign(density_pct=(100 * results["density"]).round(1)).pivot_table(
        index="arm", columns="density_pct", values=METRIC, aggfunc="mean")
    print((100 * grid[sorted(grid.columns, reverse=True)]).round(2).to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main())
