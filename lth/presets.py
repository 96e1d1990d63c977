"""The two reference experiments, each one click (dashboard) or one command (`python -m lth preset`).

A preset is a list of runs. The quick budget finishes in minutes on a 2-core CPU with the bundled
sample; the full budget trains on a complete dataset (Fashion-MNIST from Debian's package, or MNIST
where its files are present) at the paper's budget (Frankle & Carbin) or at one that finishes in about
an hour on a 2-core CPU (the original study).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from lth import hparams
from lth.hparams import RunConfig

ORIGINAL_DENSITIES = (0.5, 0.33, 0.2, 0.1, 0.05, 0.02, 0.01)
BUDGETS = ("quick", "full")
FULL_DATASETS = ("fashion-mnist", "mnist")  # the quick budget always uses the bundled sample


@dataclass(frozen=True)
class Preset:
    name: str
    title: str
    description: str
    budgets: dict  # budget -> shared settings (iterations, batch size, eval interval) and "seeds"

    def dataset(self, budget: str, dataset: str | None = None) -> str:
        if budget == "quick":
            if dataset not in (None, "mnist-sample"):
                raise ValueError("the quick budget runs on the bundled mnist-sample; choose --budget full "
                                 f"for {dataset}")
            return "mnist-sample"
        if dataset is None:
            return FULL_DATASETS[0]
        if dataset not in FULL_DATASETS:
            raise ValueError(f"the full budget runs on {' or '.join(FULL_DATASETS)}, not {dataset!r}")
        return dataset

    def seeds(self, budget: str) -> tuple[int, ...]:
        return tuple(self.budgets[budget]["seeds"])

    def configs(self, budget: str = "quick", dataset: str | None = None) -> list[RunConfig]:
        if budget not in self.budgets:
            raise ValueError(f"unknown budget {budget!r}; choose one of {', '.join(self.budgets)}")
        shared = {k: v for k, v in self.budgets[budget].items() if k != "seeds"}
        shared["dataset"] = self.dataset(budget, dataset)
        seeds = self.seeds(budget)
        if self.name == "original-study":
            runs = [RunConfig(experiment="baseline", model="lenet5", seed=s, **shared) for s in seeds]
            runs += [RunConfig(experiment="tfmot", model="lenet5", target_density=d, seed=s, **shared)
                     for d in ORIGINAL_DENSITIES for s in seeds]
            return runs
        return [RunConfig(experiment="lottery", model="lenet300_100", rounds=15, prune_rate=0.2,
                          output_prune_rate=0.1, controls=("reinit",), seed=s, **shared) for s in seeds]


PRESETS = {
    "original-study": Preset(
        name="original-study",
        title="Original study (lenet5, tfmot, three arms)",
        description=("lenet5, its two hidden Dense layers pruned with tfmot to 50, 33, 20, 10, 5, 2 and 1 % "
                     "density; per density the pruned network, the lottery ticket (its mask, reset to theta0) "
                     "and random reinit; plus a dense baseline. Batch 600 as in the study (its 100 steps per "
                     "epoch); the full budget is 300 iterations (3.3 passes over 55,000 images, about an hour on a "
                     "2-core CPU), 2 seeds."),
        budgets={
            "quick": {"iterations": 1500, "batch_size": 60, "eval_every": 100, "seeds": (0, 1, 2)},
            "full": {"iterations": 300, "batch_size": 600, "eval_every": 50, "seeds": (0, 1)},
        },
    ),
    "frankle-carbin-lenet300": Preset(
        name="frankle-carbin-lenet300",
        title="Frankle & Carbin LeNet-300-100 (lottery, 20%/10% per round)",
        description=("lenet300_100, iterative magnitude pruning removing 20% of each hidden layer and 10% of "
                     "the output layer per round down to 3.6% density, reset to theta0, random-reinit "
                     "control, Adam 1.2e-3, batch 60; 3 seeds. The full budget is the paper's: 50,000 "
                     "iterations, evaluated every 100."),
        budgets={
            "quick": {"iterations": 1500, "batch_size": 60, "eval_every": 100, "seeds": (0, 1, 2)},
            "full": {"iterations": 50_000, "batch_size": 60, "eval_every": 100, "seeds": (0, 1, 2)},
        },
    ),
}


# Costs measured with `python -m lth.bench` (and the same loop for lenet5) on the 2-core CPU this
# project is developed on: training microseconds per sample at batch 60, evaluation microseconds per
# image, seconds to start a worker (process, TensorFlow import) and per training (compilation, checkpoints).
CPU_TRAIN_US = {"lenet300_100": 10.5, "lenet5": 48.0}
CPU_EVAL_US = {"lenet300_100": 4.0, "lenet5": 16.0}
RUN_START_S = 8.0
TRAINING_OVERHEAD_S = 0.8


def estimate_seconds(configs: list[RunConfig], train_size: int, eval_size: int) -> float:
    """Expected wall time of the runs one after another on that 2-core CPU (a GPU is faster)."""
    total = 0.0
    for c in configs:
        iterations = c.total_iterations(train_size)
        trainings = hparams.planned_trainings(c)
        evaluations = math.ceil(iterations / c.eval_every)
        per_training = 1e-6 * (iterations * c.batch_size * CPU_TRAIN_US[c.model]
                               + evaluations * eval_size * CPU_EVAL_US[c.model])
        total += RUN_START_S + trainings * (per_training + TRAINING_OVERHEAD_S)
    return total


def preset_figures(name: str, results) -> dict:
    """The preset's figures from its runs' results: {file stem: plotly figure}."""
    from lth import figures

    stats = figures.aggregate(results, "early_stop_test_accuracy")
    out = {f"{name}_accuracy_vs_density": figures.accuracy_vs_density(results, stats=stats)}
    if name == "frankle-carbin-lenet300":
        out[f"{name}_early_stop_vs_density"] = figures.early_stop_vs_density(results, stats=stats)
    return out
