"""Training-speed benchmark: `python -m lth.bench` (or `make bench`).

Prints microseconds per training sample, and the ratio to dense tf_keras `model.fit`, measured in this
one run on the same data (60,000 samples: the bundled training images repeated) for: dense `fit`;
tfmot `prune_low_magnitude` + `fit`; the product's loop dense and masked at 21.1% and 3.6% density.
Also the cost of one evaluation (validation 5,000 + test 10,000 images) relative to the training
between two evaluations at the default interval, the peak memory of the process, and the dashboard's
compare-page load with 500 synthetic finished runs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import tempfile
import time
from typing import cast

import numpy as np

from lth import models, paths, pruning
from lth.data import Dataset, load_dataset
from lth.device import cpu_name, training_device
from lth.hparams import RunConfig
from lth.plans.lottery import LotteryPlan
from lth.runs import tables as run_tables
from lth.tf_setup import keras, tf
from lth.training import BatchOrder, Trainer

TRAIN_SAMPLES = 60_000
DENSITIES = (0.211, 0.036)  # rounds 7 and 15 of the paper's ladder


def bench_dataset() -> Dataset:
    sample = load_dataset("mnist-sample")
    images = np.concatenate([sample.x_train, sample.x_val])
    labels = np.concatenate([sample.y_train, sample.y_val])
    reps = -(-TRAIN_SAMPLES // len(labels))
    return Dataset(
        name="bench",
        source="bundled sample repeated",
        fingerprint="bench",
        x_train=np.tile(images, (reps, 1, 1, 1))[:TRAIN_SAMPLES],
        y_train=np.tile(labels, reps)[:TRAIN_SAMPLES],
        x_val=np.tile(sample.x_val, (10, 1, 1, 1)),
        y_val=np.tile(sample.y_val, 10),  # 5,000 as in the paper
        x_test=sample.x_test,
        y_test=sample.y_test,
    )


def _timed(run, samples: int, repeats: int) -> float:
    """Best of `repeats` timings of `run()` in microseconds per sample (after one warm-up run)."""
    run()
    best = min(_seconds(run) for _ in range(repeats))
    return 1e6 * best / samples


def _seconds(run) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def keras_fit(data: Dataset, model_name: str, batch: int, steps: int, repeats: int, prune: bool) -> float:
    model = models.build(model_name, 0)
    callbacks = []
    if prune:
        import tensorflow_model_optimization as tfmot

        schedule = tfmot.sparsity.keras.ConstantSparsity(1 - DENSITIES[1], begin_step=0, frequency=100)
        model = tfmot.sparsity.keras.prune_low_magnitude(model, pruning_schedule=schedule)
        callbacks = [tfmot.sparsity.keras.UpdatePruningStep()]
    model.compile(
        optimizer=keras.optimizers.Adam(1.2e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    n = steps * batch
    x, y = data.x_train[:n], data.y_train[:n]
    return _timed(
        lambda: model.fit(x, y, batch_size=batch, epochs=1, verbose=0, shuffle=True, callbacks=callbacks), n, repeats
    )


def product_loop(
    data: Dataset, model_name: str, batch: int, steps: int, repeats: int, density: float | None, device: str
) -> tuple[float, Trainer]:
    config = RunConfig(experiment="lottery", model=model_name)
    model = models.build(model_name, 0)
    layers = config.prunable_layers if density else ()
    trainer = Trainer(
        model,
        data,
        optimizer="adam",
        lr=1.2e-3,
        batch_size=batch,
        masked_layers=layers,
        device=device,
        jit=config.spec.xla,
    )
    masks = None
    if density:
        rng = np.random.default_rng(0)
        shapes = config.prunable_shapes()
        masks = pruning.random_masks_like(
            {n: (rng.random(s) < density).astype(np.float32) for n, s in shapes.items()}, rng
        )
    trainer.reset(model.get_weights(), masks)
    order = BatchOrder(len(data.y_train), batch, 0)
    batches = order.take(steps)
    with tf.device(device):
        return _timed(lambda: trainer.train_steps(batches), steps * batch, repeats), trainer


def sparse_candidate(data: Dataset, batch: int, steps: int, repeats: int, density: float, device: str) -> float:
    """The sparse formulation tried for masked layers: only the surviving weights are variables
    (gathered non-zeros); y[:, j] = sum over kept (i, j) of x[:, i] * w_ij via gather and segment sum,
    XLA-compiled, Adam on the non-zeros only. LeNet-300-100 with all three layers at `density`."""
    rng = np.random.default_rng(0)
    shapes = list(RunConfig().spec.kernel_shapes.values())
    layers = []
    with tf.device(device):
        x_all = tf.constant(data.x_train.reshape(len(data.y_train), -1))
        y_all = tf.constant(data.y_train)
        for fan_in, fan_out in shapes:
            rows, cols = np.nonzero(rng.random((fan_in, fan_out)) < density)
            layers.append(
                (
                    tf.constant(rows.astype(np.int32)),
                    tf.constant(cols.astype(np.int32)),
                    fan_out,
                    tf.Variable(rng.normal(0, 0.05, len(rows)).astype(np.float32)),
                    tf.Variable(np.zeros(fan_out, np.float32)),
                )
            )
        variables = [v for layer in layers for v in layer[3:]]
        optimizer = keras.optimizers.Adam(1.2e-3)
        optimizer.build(variables)

    def forward(h):
        for k, (rows, cols, fan_out, values, bias) in enumerate(layers):
            products = tf.gather(h, rows, axis=1) * values  # [batch, kept]
            h = tf.transpose(tf.math.unsorted_segment_sum(tf.transpose(products), cols, fan_out)) + bias
            h = tf.nn.relu(h) if k < len(layers) - 1 else h
        return h

    @tf.function(jit_compile=True)
    def train(batches):
        for i in tf.range(tf.shape(batches)[0]):
            x, y = tf.gather(x_all, batches[i]), tf.gather(y_all, batches[i])
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(y, forward(x)))
            optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    batches = BatchOrder(len(data.y_train), batch, 0).take(steps)
    with tf.device(device):
        return _timed(lambda: train(batches).numpy(), steps * batch, repeats)


def compare_page_seconds(runs: int = 500) -> dict:
    """Load 500 synthetic finished lottery runs and build the compare page's figures and tables."""
    from lth import figures
    from lth.fsutil import write_json_atomic
    from lth.hparams import run_id
    from lth.runs import RunState, RunStore

    rng = np.random.default_rng(0)
    ladder = cast(LotteryPlan, RunConfig(experiment="lottery").plan).density_ladder()
    with tempfile.TemporaryDirectory() as root:
        store = RunStore(root)
        for i in range(runs):
            # records a worker could have written (lth.runs.schema refuses others): evaluations every 250
            iterations = 1000 * (1 + i // 5)
            config = RunConfig(
                experiment="lottery", seed=i % 5, iterations=iterations, eval_every=250, controls=("reinit",)
            )
            rid = run_id(config, "0123456789abcdef")
            records = [
                {
                    "arm": arm,
                    "round": step["round"],
                    "density": step["density"],
                    "layer_density": step["layer_density"],
                    "early_stop_iteration": iterations * int(rng.integers(1, 5)) // 4,
                    "early_stop_test_accuracy": float(rng.uniform(0.9, 0.99)),
                    "final_test_accuracy": float(rng.uniform(0.9, 0.99)),
                    "early_stop_val_loss": 0.1,
                    "early_stop_val_accuracy": 0.97,
                    "final_iteration": iterations,
                    "final_val_accuracy": 0.97,
                    "stopped_early": False,
                    "train_seconds": 1.0,
                }
                for step in ladder
                for arm in (("ticket", "reinit") if step["round"] else ("ticket",))
            ]
            store.create(rid, config, data_dir=None, fingerprint="0123456789abcdef", planned_evaluations=1)
            store.update_status(rid, state=RunState.DONE, started=1.0, ended=2.0)
            write_json_atomic(
                store.path(rid) / paths.RESULTS,
                {
                    "config": config.canonical(),
                    "device": {"name": "CPU", "kind": "CPU", "warning": None},
                    "results": records,
                    "run_id": rid,
                    "seconds": 1.0,
                    "iterations": config.iterations,
                },
            )
        start = time.perf_counter()
        results = run_tables.results_frame(store)
        load = time.perf_counter() - start
        stats = figures.aggregate(results, "early_stop_test_accuracy")  # as the compare page does
        figures.accuracy_vs_density(results, stats=stats)
        figures.early_stop_vs_density(results, stats=stats)
        figures.layer_density_table(results)
        total = time.perf_counter() - start
        start = time.perf_counter()
        run_tables.runs_frame(store)
        listing = time.perf_counter() - start
    return {
        "runs": runs,
        "results_rows": len(results),
        "load_s": load,
        "load_and_figures_s": total,
        "run_table_s": listing,
    }


def overfitting_dataset() -> Dataset:
    """The sample's 4,500 training images with evaluation sets of the full sizes (validation 5,000: the
    sample's 500 repeated; test 10,000): a training that overfits within a few thousand iterations, as a
    full-length training on 55,000 images does within its 50,000, so new best validation losses stop
    early in both."""
    sample = load_dataset("mnist-sample")
    return Dataset(
        name="bench-eval",
        source="bundled sample, validation repeated",
        fingerprint="bench",
        x_train=sample.x_train,
        y_train=sample.y_train,
        x_val=np.tile(sample.x_val, (10, 1, 1, 1)),
        y_val=np.tile(sample.y_val, 10),
        x_test=sample.x_test,
        y_test=sample.y_test,
    )


def evaluation_cost(data: Dataset, iterations: int = 5000, eval_every: int = 100) -> dict:
    """Training LeNet-300-100 at the paper's evaluation interval, three ways, same seed: no evaluation,
    validation and test at every evaluation (before), and test only where a number is reported plus a
    coarse live curve (now). The reported early-stop test accuracy must be the same both ways."""
    config = RunConfig()
    trainer = Trainer(
        models.build(config.model, 0), data, optimizer="adam", lr=1.2e-3, batch_size=60, jit=config.spec.xla
    )
    start_weights = trainer.model.get_weights()

    def train(**kwargs):
        trainer.reset(start_weights)
        start = time.perf_counter()
        result = trainer.fit(iterations=iterations, data_seed=0, **kwargs)
        return time.perf_counter() - start, result

    train(eval_every=iterations)  # compile both pieces once
    train(eval_every=eval_every)
    bare, _ = min((train(eval_every=iterations) for _ in range(2)), key=lambda r: r[0])
    before, old = min((train(eval_every=eval_every, test_every=eval_every) for _ in range(2)), key=lambda r: r[0])
    now, new = min((train(eval_every=eval_every) for _ in range(2)), key=lambda r: r[0])
    tests = sum(r["test_accuracy"] is not None for r in new.history)
    return {
        "iterations": iterations,
        "eval_every": eval_every,
        "no_evaluation_s": bare,
        "test_every_evaluation_s": before,
        "test_where_reported_s": now,
        "overhead_before": before / bare - 1,
        "overhead_now": now / bare - 1,
        "test_evaluations_now": tests,
        "evaluations": len(new.history),
        "same_reported_numbers": (old.early_stop_iteration, old.early_stop_test_accuracy, old.final_test_accuracy)
        == (new.early_stop_iteration, new.early_stop_test_accuracy, new.final_test_accuracy),
    }


def markdown_table(rows: list[dict], machine: dict) -> str:
    lines = [
        f"Machine: {machine['cpu']}, {machine['cores']} cores, training on {machine['device']}, "
        f"TensorFlow {machine['tensorflow']}."
    ]
    for model in dict.fromkeys(r["model"] for r in rows):
        mine = [r for r in rows if r["model"] == model]
        batches = sorted({r["batch"] for r in mine})
        modes = [r["mode"] for r in mine if r["batch"] == batches[0] and r["mode"] != "evaluation"]
        lines += [
            "",
            f"{model}:",
            "",
            "| " + " | ".join(["mode"] + [f"batch {b}: us/sample (x fit)" for b in batches]) + " |",
            "| --- |" + " --- |" * len(batches),
        ]
        for mode in modes:
            cells = []
            for b in batches:
                r = next(r for r in mine if r["batch"] == b and r["mode"] == mode)
                cells.append(f"{r['us_per_sample']:.2f} (x{r['ratio_to_fit']:.2f})")
            lines.append(f"| {mode} | " + " | ".join(cells) + " |")
        cells = [
            f"{1e3 * r['seconds']:.0f} ms = {100 * r['fraction_of_training']:.1f}% of training"
            for b in batches
            for r in mine
            if r["batch"] == b and r["mode"] == "evaluation"
        ]
        lines.append("| one evaluation (val 5,000 + test 10,000) | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def bench_model(data: Dataset, model: str, batch: int, repeats: int, device) -> list[dict]:
    """One model at one batch size: every mode's us/sample and its ratio to dense `fit`; one evaluation."""
    steps = TRAIN_SAMPLES // batch
    figures_us = {
        "keras fit, dense": keras_fit(data, model, batch, steps, repeats, prune=False),
        "tfmot prune_low_magnitude fit": keras_fit(data, model, batch, steps, repeats, prune=True),
    }
    dense_us, trainer = product_loop(data, model, batch, steps, repeats, None, device.tf_device)
    figures_us["lth loop, dense"] = dense_us
    for density in DENSITIES:
        masked_us, _ = product_loop(data, model, batch, steps, repeats, density, device.tf_device)
        figures_us[f"lth loop, masked {100 * density:.1f}%"] = masked_us
    if model == "lenet300_100":
        figures_us["sparse candidate, 3.6% (not used)"] = sparse_candidate(
            data, batch, steps, repeats, DENSITIES[1], device.tf_device
        )
    eval_s = min(_seconds(lambda: (trainer.evaluate("val"), trainer.evaluate("test"))) for _ in range(repeats))
    reference = figures_us["keras fit, dense"]
    rows = []
    print(f"\n{model}, batch {batch}: microseconds per training sample (ratio to dense keras fit; lower is faster)")
    for name, us in figures_us.items():
        print(f"  {name:34s} {us:8.2f} us   x{us / reference:5.2f}")
        rows.append({"model": model, "batch": batch, "mode": name, "us_per_sample": us, "ratio_to_fit": us / reference})
    train_between = RunConfig().eval_every * batch * figures_us["lth loop, dense"] * 1e-6
    print(
        f"  sparsity gain at 3.6%: dense loop / masked loop = "
        f"{figures_us['lth loop, dense'] / figures_us['lth loop, masked 3.6%']:.2f}x"
    )
    print(
        f"  one evaluation (val 5,000 + test 10,000): {1e3 * eval_s:.1f} ms = "
        f"{100 * eval_s / train_between:.1f}% of the training between two evaluations "
        f"(every {RunConfig().eval_every} iterations)"
    )
    rows.append(
        {
            "model": model,
            "batch": batch,
            "mode": "evaluation",
            "seconds": eval_s,
            "fraction_of_training": eval_s / train_between,
        }
    )
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lth.bench", description=__doc__.splitlines()[0])
    # the conv nets train 20-50x slower per sample than the LeNets: measured when asked (--models conv2)
    default_models = "lenet300_100,lenet5"
    parser.add_argument(
        "--models",
        default=default_models,
        help=f"comma-separated models of {', '.join(models.MODELS)} (default: {default_models})",
    )
    parser.add_argument("--batch-sizes", default="60,600")
    parser.add_argument("--repeats", type=int, default=3, help="timings per figure; the best is kept")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    parser.add_argument("--markdown", action="store_true", help="also print the figures as a README table")
    parser.add_argument(
        "--eval-cost",
        action="store_true",
        help="only measure the cost of evaluating every 100 iterations, before and now",
    )
    args = parser.parse_args(argv)
    if args.eval_cost:
        cost = evaluation_cost(overfitting_dataset())
        print(
            f"LeNet-300-100, {cost['iterations']} iterations at batch 60, evaluated every {cost['eval_every']} "
            f"(validation 5,000 images):\n"
            f"  no evaluation                      {cost['no_evaluation_s']:6.2f} s\n"
            f"  test (10,000) at every evaluation  {cost['test_every_evaluation_s']:6.2f} s  "
            f"(+{100 * cost['overhead_before']:.0f}%)\n"
            f"  test where reported + every 1,000  {cost['test_where_reported_s']:6.2f} s  "
            f"(+{100 * cost['overhead_now']:.0f}%; {cost['test_evaluations_now']} of {cost['evaluations']} "
            f"evaluations ran the test set)\n"
            f"  reported numbers identical: {cost['same_reported_numbers']}"
        )
        if args.json:
            from lth.fsutil import output_file, write_new_file

            write_new_file(output_file(args.json, what="--json"), json.dumps(cost, indent=2).encode(), "--json")
        return 0

    device = training_device()
    data = bench_dataset()
    machine = {
        "cpu": cpu_name(),
        "cores": os.cpu_count(),
        "device": device.name,
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
    }
    print(f"machine: {machine['cpu']}, {machine['cores']} cores; training on {device.name}; TF {tf.__version__}")
    # As a run trains: deterministic ops (lth.runner.run_experiment enables them), so every figure,
    # fit's included, is measured under them; fit's shuffle then needs a global seed.
    tf.config.experimental.enable_op_determinism()
    tf.random.set_seed(0)
    rows = []
    for model in args.models.split(","):
        models.get_spec(model)
        for batch in [int(b) for b in args.batch_sizes.split(",")]:
            rows += bench_model(data, model, batch, args.repeats, device)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak memory of the process: {peak_mb:.0f} MB")
    page = compare_page_seconds()
    print(
        f"compare page with {page['runs']} finished runs ({page['results_rows']} results): load "
        f"{page['load_s']:.2f} s, load + figures {page['load_and_figures_s']:.2f} s; "
        f"run table {page['run_table_s']:.2f} s"
    )
    if args.markdown:
        print(markdown_table(rows, machine))
    if args.json:
        from lth.fsutil import output_file, write_new_file

        write_new_file(
            output_file(args.json, what="--json"),
            json.dumps(
                {"machine": machine, "rows": rows, "peak_memory_mb": peak_mb, "compare_page": page}, indent=2
            ).encode(),
            "--json",
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
