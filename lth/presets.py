"""The two reference experiments, each one click (dashboard) or one command (`python -m lth preset`).

A preset is a list of runs. The quick budget finishes in minutes on a 2-core CPU with the bundled
sample; the full budget trains on a complete dataset (Fashion-MNIST from Debian's package, or MNIST
where its files are present) at the paper's budget (Frankle & Carbin) or at a short fixed one (the
original study); the original study's converged budget trains every arm until its validation loss stops
improving.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from lth.hparams import RunConfig
from lth.runs import tables as run_tables

ORIGINAL_DENSITIES = (0.5, 0.33, 0.2, 0.1, 0.05, 0.02, 0.01)
BUDGETS = ("quick", "full", "converged")  # every preset has quick and full; "converged" where it says so
# Settings of a budget that are not RunConfig fields: the seeds, the tfmot schedule's length (tfmot runs
# only), the lottery rounds of a preset whose runs set them, and the measured mean length of a training,
# which the time estimate uses where patience ends it.
BUDGET_ONLY = ("seeds", "schedule_length", "rounds", "expected_iterations")
BUDGET_LABELS = {
    "quick": "quick (bundled sample, 2-core CPU)",
    "full": "full (a complete dataset)",
    "converged": "converged (a complete dataset, every training to its minimum validation loss)",
}
FULL_DATASETS = ("fashion-mnist", "mnist")  # the quick budget always uses the bundled sample


@dataclass(frozen=True)
class Preset:
    name: str
    title: str
    description: str
    budgets: dict  # budget -> shared settings (iterations, batch size, eval interval) and "seeds"
    runs: Callable[[int, dict, dict], list[RunConfig]]  # (seed, shared settings, budget) -> one seed's runs

    def dataset(self, budget: str, dataset: str | None = None) -> str:
        if budget == "quick":
            if dataset not in (None, "mnist-sample"):
                raise ValueError(
                    f"the quick budget runs on the bundled mnist-sample; choose --budget full for {dataset}"
                )
            return "mnist-sample"
        if dataset is None:
            return FULL_DATASETS[0]
        if dataset not in FULL_DATASETS:
            raise ValueError(f"the full budget runs on {' or '.join(FULL_DATASETS)}, not {dataset!r}")
        return dataset

    def seeds(self, budget: str) -> tuple[int, ...]:
        return tuple(self.budgets[budget]["seeds"])

    def expected_iterations(self, budget: str) -> int | None:
        return self.budgets[budget].get("expected_iterations")

    def estimate_seconds(self, budget: str, configs: list[RunConfig]) -> float:
        from lth.data.datasets import SPECS

        return estimate_seconds(
            configs, *SPECS[configs[0].dataset].sizes, expected_iterations=self.expected_iterations(budget)
        )

    def budget_summary(self, budget: str) -> str:
        """The budget's training length, batch and evaluation interval in words."""
        b = self.budgets[budget]
        length = (
            f"{b['iterations']:,} iterations per training"
            if "iterations" in b
            else f"until the validation loss stops improving ({b['patience']} evaluations without a new "
            f"minimum; at most {b['epochs']:,} epochs)"
        )
        return (
            f"{length} · batch {b['batch_size']} · learning rate {b.get('lr', 1.2e-3):g} · evaluated every "
            f"{b['eval_every']:,} iterations"
        )

    def configs(self, budget: str = "quick", dataset: str | None = None) -> list[RunConfig]:
        if budget not in self.budgets:
            raise ValueError(f"unknown budget {budget!r}; choose one of {', '.join(self.budgets)}")
        shared = {k: v for k, v in self.budgets[budget].items() if k not in BUDGET_ONLY}
        shared["dataset"] = self.dataset(budget, dataset)
        runs = []
        for seed in self.seeds(budget):  # seed by seed, so one seed's runs finish together
            runs += self.runs(seed, shared, self.budgets[budget])
        return runs


def _original_study_runs(seed: int, shared: dict, budget: dict) -> list[RunConfig]:
    return [RunConfig(experiment="baseline", model="lenet5", seed=seed, **shared)] + [
        RunConfig(
            experiment="tfmot",
            model="lenet5",
            target_density=d,
            seed=seed,
            schedule_length=budget.get("schedule_length"),
            **shared,
        )
        for d in ORIGINAL_DENSITIES
    ]


def _frankle_carbin_runs(seed: int, shared: dict, budget: dict) -> list[RunConfig]:
    return [
        RunConfig(
            experiment="lottery",
            model="lenet300_100",
            rounds=15,
            prune_rate=0.2,
            output_prune_rate=0.1,
            controls=("reinit",),
            seed=seed,
            **shared,
        )
    ]


# Frankle & Carbin's Conv-2 (their Figure 5) at a budget this 2-core CPU can give it: the paper trains 20,000
# iterations a round and prunes to about 2%; at 1.21 ms per training sample (measured, lth.models) one such
# training takes about 25 minutes, so the full budget trains 1,250 iterations a round (about 1.4 passes over
# Fashion-MNIST's 55,000 training images) for 7 rounds (overall density 21.3%: fully connected 21.0%, conv
# layers 47.6%, the output 47.9%), each surviving mask reset to theta0 and, in a second run per seed, rewound
# to iteration 100 (late rewinding); the random-reinit control at every round; 3 seeds. 90 trainings,
# estimated 2.9 hours here. Fixed before its runs.
CONV2_REWIND = 100


def _frankle_carbin_conv2_runs(seed: int, shared: dict, budget: dict) -> list[RunConfig]:
    return [
        RunConfig(
            experiment="lottery",
            model="conv2",
            rounds=budget["rounds"],
            prune_rate=0.2,
            output_prune_rate=0.1,
            controls=("reinit",),
            rewind=rewind,
            seed=seed,
            **shared,
        )
        for rewind in ("init", CONV2_REWIND)
    ]


# The pruning-methods preset, designed to fit this 2-core CPU (about 54 s per training at the paper's budget,
# measured below): which criterion trains at which density with which controls. Global scope, as the
# pruning-at-initialization papers prune (a layer can collapse). IMP itself comes from the Frankle & Carbin
# preset (same model, data, seeds and budget), at 51.3, 21.1, 7.0 and 3.6%: every criterion trains at those
# ladder points and at 0.5% (layer collapse). The sanity checks (random_prune = the layerwise shuffle,
# reinit, invert) run at 3.6% for the three pruning-at-initialization methods and for one-shot magnitude
# pruning after training (the ticket's kind of mask); a control at every density would triple the run.
# 44 trainings per seed (the dense one twice: both runs with `magnitude` need it), 132 in all, estimated
# about 2 hours: what this session could give the run (the 3 hours would not finish inside it).
METHODS_PLAN = (
    # (criteria, densities, controls)
    (("synflow", "snip", "grasp", "magnitude"), (0.036,), ("random_prune", "reinit", "invert")),
    (("synflow", "snip", "grasp", "magnitude"), (0.513, 0.211, 0.070, 0.005), ()),
    (("magnitude_init", "random"), (0.513, 0.211, 0.070, 0.036, 0.005), ()),
)


def _pruning_methods_runs(seed: int, shared: dict, budget: dict) -> list[RunConfig]:
    return [
        RunConfig(
            experiment="oneshot",
            model="lenet300_100",
            scope="global",
            criteria=names,
            densities=points,
            controls=controls,
            seed=seed,
            **shared,
        )
        for names, points, controls in METHODS_PLAN
    ]


PRESETS = {
    "original-study": Preset(
        name="original-study",
        title="Original study (lenet5, tfmot, three arms)",
        description=(
            "lenet5, its two hidden Dense layers pruned with tfmot to 50, 33, 20, 10, 5, 2 and 1 % "
            "density; per density the pruned network, the lottery ticket (its mask, reset to theta0) "
            "and random reinit; plus a dense baseline. Full and converged: batch 600 as in the study (its 100 "
            "steps per epoch); quick: batch 60 on the bundled sample. Full: 300 iterations (3.3 passes over "
            "55,000 images; undertrained), 2 seeds. "
            "Converged: the study's Adam 0.01, every arm trained until its validation loss stops "
            "improving (patience 10 passes, at most 200), pruning from 20% to 60% of the expected "
            "length, 3 seeds."
        ),
        budgets={
            "quick": {"iterations": 1500, "batch_size": 60, "eval_every": 100, "seeds": (0, 1, 2)},
            "full": {"iterations": 300, "batch_size": 600, "eval_every": 50, "seeds": (0, 1)},
            # Every arm trains until its validation loss stops improving. The study's Adam 0.01 and batch 600:
            # on seed 0 (Fashion-MNIST) the dense network reached 89.5% at 0.01 (minimum validation loss at
            # iteration 637, stopped at 1,547) and 90.5% at 1.2e-3 (3,367; 4,277), and the tfmot arms train
            # at 0.01 without failing, so the study's rate is kept (README, "The original study, converged").
            # One evaluation per pass (55,000 // 600 = 91 iterations), patience 10 passes, a cap of 200
            # passes that no training reaches. tfmot prunes from 20% to 60% of the expected training
            # length, which patience leaves unknown beforehand: the dense network's trained length in that
            # pilot, 1,547 iterations, so pruning ends at iteration 939 and the pruned network is selected
            # from there on. expected_iterations, for the time estimate only: the mean trained length of a
            # training in seeds 0 and 1 of the preset's own runs (2,734 and 2,656; lengths do not depend on the
            # machine's load). Fixed before the runs it was the pilot's mean (3,230: dense 1,547; tfmot at 2%
            # 2,184, 4,914, 4,277), which made the estimate 31% high on the clean run of seed 2.
            "converged": {
                "epochs": 200,
                "batch_size": 600,
                "lr": 0.01,
                "eval_every": 91,
                "patience": 10,
                "schedule_length": 1547,
                "expected_iterations": 2695,
                "seeds": (0, 1, 2),
            },
        },
        runs=_original_study_runs,
    ),
    "frankle-carbin-lenet300": Preset(
        name="frankle-carbin-lenet300",
        title="Frankle & Carbin LeNet-300-100 (lottery, 20%/10% per round)",
        description=(
            "lenet300_100, iterative magnitude pruning removing 20% of each hidden layer and 10% of "
            "the output layer per round down to 3.6% density, reset to theta0, random-reinit "
            "control, Adam 1.2e-3, batch 60; 3 seeds. The full budget is the paper's: 50,000 "
            "iterations, evaluated every 100."
        ),
        budgets={
            "quick": {"iterations": 1500, "batch_size": 60, "eval_every": 100, "seeds": (0, 1, 2)},
            "full": {"iterations": 50_000, "batch_size": 60, "eval_every": 100, "seeds": (0, 1, 2)},
        },
        runs=_frankle_carbin_runs,
    ),
    "frankle-carbin-conv2": Preset(
        name="frankle-carbin-conv2",
        title="Frankle & Carbin Conv-2 (lottery, conv 10% / fully connected 20% / output 10% per round)",
        description=(
            "conv2 (64-64 3x3 convolutions, pooled, then 256-256-10), iterative magnitude pruning at the "
            "paper's per-kind rates, each round's survivors reset to theta0 and, in a second run per seed, "
            f"rewound to iteration {CONV2_REWIND} (late rewinding); random-reinit control at every round; "
            "Adam 1.2e-3, batch 60; 3 seeds. Full: 6 rounds (fully connected at 26% density, conv at 53%) of "
            "1,000 iterations each, evaluated every 250: a budget this 2-core CPU finishes in about 2 hours "
            "(what one working session can give it), 5% of the paper's 20,000 iterations a round."
        ),
        budgets={
            "quick": {"iterations": 200, "batch_size": 60, "eval_every": 50, "rounds": 2, "seeds": (0, 1, 2)},
            "full": {"iterations": 1000, "batch_size": 60, "eval_every": 250, "rounds": 6, "seeds": (0, 1, 2)},
        },
        runs=_frankle_carbin_conv2_runs,
    ),
    "pruning-methods": Preset(
        name="pruning-methods",
        title="Pruning methods on one density axis (lenet300_100, one-shot criteria and sanity checks)",
        description=(
            "lenet300_100 pruned once, globally, by SynFlow, SNIP, GraSP, magnitude at init, random and "
            "magnitude after training (reset to theta0) at 51.3, 21.1, 7.0, 3.6 and 0.5% density; at 3.6% "
            "SynFlow, SNIP, GraSP and magnitude also with their layerwise shuffle (random_prune), reinit "
            "and inverted scores. Trained as the Frankle & Carbin preset trains (Adam 1.2e-3, batch "
            "60), whose runs give iterative magnitude pruning (IMP) on the same axis; 3 seeds. Full: the "
            "paper's 50,000 iterations, evaluated every 100."
        ),
        budgets={
            "quick": {"iterations": 1500, "batch_size": 60, "eval_every": 100, "seeds": (0, 1, 2)},
            "full": {"iterations": 50_000, "batch_size": 60, "eval_every": 100, "seeds": (0, 1, 2)},
        },
        runs=_pruning_methods_runs,
    ),
}


# Costs on the 2-core CPU this project is developed on: each model's own (per training sample, per evaluated
# image, per evaluation call) are its ModelSpec's `cpu` (lth.models); here the seconds to start a worker
# (process, TensorFlow import) and per training (compilation, checkpoints). Tests evaluate the test set only
# at new best validation losses (about 25 per training at the paper's interval) and every 1,000 iterations.
NEW_BEST_EVALUATIONS = 25
RUN_START_S = 8.0
TRAINING_OVERHEAD_S = 2.5


def training_seconds(
    config: RunConfig, train_size: int, val_size: int, test_size: int, expected_iterations: int | None = None
) -> float:
    """Expected seconds of one training of `config` on that CPU. With patience the budget is a cap and
    the length is not known beforehand: `expected_iterations` (a measured mean) stands in, else the cap."""
    from lth.hparams import test_curve_every

    iterations = config.total_iterations(train_size)
    if config.patience is not None and expected_iterations is not None:
        iterations = min(iterations, expected_iterations)
    evaluations = math.ceil(iterations / config.eval_every)
    tests = min(evaluations, iterations // test_curve_every(config.eval_every) + NEW_BEST_EVALUATIONS)
    cost = config.spec.cpu
    per_image = 1e-6 * cost.eval_us
    return (
        1e-6 * iterations * config.batch_size * cost.train_us
        + evaluations * (val_size * per_image + cost.eval_call_s)
        + tests * test_size * per_image
        + TRAINING_OVERHEAD_S
    )


def estimate_seconds(
    configs: list[RunConfig], train_size: int, val_size: int, test_size: int, expected_iterations: int | None = None
) -> float:
    """Expected wall time of the runs one after another on that 2-core CPU (a GPU is faster)."""
    return sum(
        RUN_START_S + c.plan.trainings() * training_seconds(c, train_size, val_size, test_size, expected_iterations)
        for c in configs
    )


def duration_words(seconds: float) -> str:
    """An expected duration as a person says it: "under a minute", "about 12 min", "about 2.5 hours"."""
    if seconds < 60:
        return "under a minute"
    if seconds < 90 * 60:
        return f"about {seconds / 60:.0f} min"
    return f"about {seconds / 3600:.1f} hours"


def preset_figures(name: str, results) -> dict:
    """The preset's figures from its runs' results: {file stem: plotly figure}."""
    from lth import figures, statistics

    stats = figures.aggregate(results, "early_stop_test_accuracy")
    verdicts = statistics.verdicts(statistics.comparisons(results, "early_stop_test_accuracy"))
    out = {f"{name}_accuracy_vs_density": figures.accuracy_vs_density(results, stats=stats, verdicts=verdicts)}
    if name.startswith("frankle-carbin"):
        out[f"{name}_early_stop_vs_density"] = figures.early_stop_vs_density(results, stats=stats)
    if name == "pruning-methods":  # many series: tall figures; the collapse at 0.5% would flatten the rest
        out[f"{name}_accuracy_vs_density"].update_layout(height=820)
        above = results[(results["density"] >= 0.03) & ~results["arm"].str.endswith("-invert")]
        zoom = figures.accuracy_vs_density(above, verdicts=verdicts)
        zoom.update_layout(
            height=820,
            title={
                "text": "test accuracy at early stop vs density, from 3.6% up, "
                "without the inverted controls (mean over seeds, ±1 std)"
            },
        )
        out[f"{name}_accuracy_vs_density_from_3.6pct"] = zoom
        out[f"{name}_layer_density"] = figures.layer_density_vs_density(results[results["experiment"] == "oneshot"])
        out[f"{name}_layer_density"].update_layout(height=820)
    return out


# Results of another preset a preset is read beside (pruning-methods: iterative magnitude pruning), and where
# they were committed for runs no longer in the store.
COMPANIONS = {"pruning-methods": "frankle-carbin-lenet300"}
COMMITTED = {
    (
        "frankle-carbin-lenet300",
        "full",
        "fashion-mnist",
    ): "docs/results/fashion-mnist/frankle-carbin-lenet300_results.csv"
}


def companion_results(name: str, budget: str, dataset: str | None, store):
    """The companion preset's results for the same budget and data: from the store where its runs finished
    there, else from the results committed with this project (an empty frame where neither exists); column
    `source` says which."""
    from pathlib import Path

    import pandas as pd

    from lth.errors import Explained
    from lth.runs.queue import check

    other = COMPANIONS.get(name)
    if other is None or budget not in PRESETS[other].budgets:
        return pd.DataFrame()
    configs = PRESETS[other].configs(budget, dataset)
    try:
        ids = [check(c, None, download=False).run_id for c in configs]
    except (Explained, OSError):  # the data is not here: nothing of the store can match it
        ids = []
    found = run_tables.results_frame(store, ids) if ids else pd.DataFrame()
    if not found.empty and found["run_id"].nunique() == len(ids):
        return found.assign(source="store")
    committed = COMMITTED.get((other, budget, configs[0].dataset))
    path = Path(__file__).resolve().parent.parent / committed if committed else None
    if path is not None and path.is_file():
        return pd.read_csv(path).assign(source=committed)
    return found.assign(source="store") if not found.empty else found


def missing_companion(name: str, budget: str) -> str:
    """What a preset's export says when its companion's results are neither in the store nor committed."""
    other = COMPANIONS[name]
    return (
        f"no finished {other} runs of the {budget} budget on this data, in this store or committed with the "
        f"project: the export leaves them out (`lth preset {other} --budget {budget} --wait` makes them)"
    )


def export(name: str, results, folder):
    """The preset's figures (PNG, SVG), results (CSV), paired comparisons (CSV) and table (markdown) written
    to `folder`; returns the table."""
    from lth import export as files
    from lth import statistics

    comparison = (
        statistics.method_comparisons(results, "early_stop_test_accuracy")
        if name == "pruning-methods"
        else statistics.comparisons(results, "early_stop_test_accuracy")
    )
    table = density_table(name, results)
    files.write_bundle(
        folder,
        preset_figures(name, results),
        {f"{name}_results": results, f"{name}_comparisons": comparison},
        ("png", "svg"),
        extra={f"{name}_table.md": (table.to_markdown(index=False) + "\n").encode()},
    )
    return table


# The densities of the paper's table (Frankle & Carbin, LeNet-300-100): lottery rounds 0, 3, 7, 9, 12, 15.
TABLE_ROUNDS = (0, 3, 7, 9, 12, 15)


def density_table(name: str, results):
    """Test accuracy at early stop (mean ± std over seeds, with n) and early-stop iteration per arm at the
    preset's table densities: the paper's for Frankle & Carbin, the targets for the original study."""
    import pandas as pd

    if results.empty:
        return pd.DataFrame()
    from lth import statistics

    frame = statistics.with_dense(results)  # round 0 of a lottery run is the dense network
    if name in ("frankle-carbin-lenet300", "pruning-methods"):  # the lottery runs' rounds at the paper's points
        frame = frame[(frame["experiment"] != "lottery") | frame["round"].isin(TABLE_ROUNDS)]
    frame = frame.assign(density_pct=(100 * frame["density"]).round(1))
    rows = []
    # a companion preset's arms are named by their method (IMP ticket); runs that train the same network
    # twice (two one-shot runs of a seed each train its dense network) count it once per seed
    methods = frame["experiment"].nunique() > 1
    frame = frame.assign(
        arm=[f"IMP {a}" if methods and e == "lottery" else a for a, e in zip(frame["arm"], frame["experiment"])]
    )
    # a preset of several lottery series (Conv-2: reset to theta0 and late rewinding) keeps them apart: the
    # part of each label that tells it from the others names its rows
    several = frame.loc[frame["experiment"] == "lottery", "label"].nunique() > 1
    frame = frame.assign(series=[label.partition(" [")[2].rstrip("]") if several else "" for label in frame["label"]])
    for (series, density, arm), group in frame.groupby(["series", "density_pct", "arm"], sort=False):
        group = group.drop_duplicates("seed")
        acc, stop = group["early_stop_test_accuracy"], group["early_stop_iteration"]
        rows.append(
            {
                **({"series": series} if several else {}),
                "density %": density,
                "arm": arm,
                "seeds": len(group),
                "test accuracy % (mean ± std)": f"{100 * acc.mean():.2f} ± {100 * acc.std(ddof=1):.2f}"
                if len(group) > 1
                else f"{100 * acc.mean():.2f}",
                "early-stop iteration (mean ± std)": f"{stop.mean():,.0f} ± {stop.std(ddof=1):,.0f}"
                if len(group) > 1
                else f"{stop.mean():,.0f}",
            }
        )
    from lth.arms import NAMES

    table = pd.DataFrame(rows)
    table["order"] = table["arm"].map({a: i for i, a in enumerate(NAMES)}).fillna(len(NAMES))
    keys = (["series"] if several else []) + ["density %", "order"]
    return table.sort_values(keys, ascending=[True] * several + [False, True]).drop(columns="order")
