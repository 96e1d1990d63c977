"""Checks of the original study's converged preset, from its runs in the store (nothing is trained):

- per seed, the preset's expected time (what the Home page and `lth preset` show before Start) against the
  measured wall time of that seed's runs (first start to last end, the runs one after another);
- every training stopped by patience, none by the 200-pass cap;
- every pruned network at its target density (tfmot's schedule ended inside the training).

Usage: .venv/bin/python scripts/converged_check.py [--dataset fashion-mnist] [--cache-dir DIR]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lth import presets  # noqa: E402
from lth.runs import RunStore  # noqa: E402
from lth.runs.queue import check  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="fashion-mnist")
    parser.add_argument("--cache-dir")
    args = parser.parse_args()
    store = RunStore(args.cache_dir)
    preset = presets.PRESETS["original-study"]
    configs = preset.configs("converged", args.dataset)
    problems = 0
    for seed in preset.seeds("converged"):
        mine = [c for c in configs if c.seed == seed]
        ids = [check(c).run_id for c in mine]
        statuses = [store.status_or_none(r) or {} for r in ids]
        if not all(s.get("state") == "done" for s in statuses):
            print(f"seed {seed}: {sum(s.get('state') == 'done' for s in statuses)} of {len(ids)} runs done")
            continue
        estimate = preset.estimate_seconds("converged", mine)
        measured = sum(s["ended"] - s["started"] + (s.get("elapsed_before") or 0) for s in statuses)
        span = max(s["ended"] for s in statuses) - min(s["started"] for s in statuses)
        print(f"seed {seed}: estimated {estimate / 60:.1f} min, measured {measured / 60:.1f} min of training "
              f"runs ({span / 60:.1f} min first start to last end); estimate/measured {estimate / measured:.2f}")
        before = problems
        for run_id, config in zip(ids, mine):
            summary = store.finished_results(run_id)
            cap = config.total_iterations(55_000)
            for record in summary["results"]:
                where = f"seed {seed} {config.experiment} {config.target_density or 1:g} {record['arm']}"
                if not record["stopped_early"] or record["final_iteration"] >= cap:
                    problems += 1
                    print(f"  {where}: not stopped by patience (trained {record['final_iteration']} of {cap})")
                slack = config.plan.density_slack
                if config.experiment == "tfmot" and abs(record["density"] - config.target_density) > slack:
                    problems += 1
                    print(f"  {where}: density {record['density']:.4f}, target {config.target_density}")
        longest = max(r["final_iteration"] for run_id in ids for r in store.finished_results(run_id)["results"])
        if problems == before:
            print(f"  every training stopped by patience; the longest trained {longest:,} of {cap:,} iterations "
                  f"(the cap); every tfmot arm at its target density")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
