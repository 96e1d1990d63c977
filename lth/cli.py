"""Command line: `python -m lth run ...` trains in the foreground and prints the results as JSON.

Exit status: 0 success, 2 invalid arguments or bad data (one line, no traceback), 1 training failure.
"""
from __future__ import annotations

import argparse
import json
import sys

from lth import hparams, models
from lth.data.datasets import DATASETS


class OneLineParser(argparse.ArgumentParser):
    def error(self, message):  # argparse prints the whole usage; one line says enough
        self.exit(2, f"{self.prog}: error: {message}\n")


def _rewind(value: str):
    if value == "init":
        return value
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected 'init' or an iteration, got {value!r}") from None


def _names(value: str) -> tuple[str, ...]:
    return tuple(v.strip() for v in value.split(",") if v.strip())


def add_config_arguments(p: argparse.ArgumentParser) -> None:
    d = hparams.RunConfig()
    p.add_argument("--experiment", choices=hparams.EXPERIMENTS, default=d.experiment)
    p.add_argument("--model", choices=tuple(models.MODELS), default=d.model)
    p.add_argument("--dataset", choices=DATASETS, default=d.dataset)
    p.add_argument("--data-dir", help="folder with the four MNIST IDX files (default: $LTH_MNIST_DIR)")
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--iterations", type=int, help=f"training steps (default {hparams.DEFAULT_ITERATIONS})")
    budget.add_argument("--epochs", type=float, help="training length in passes over the training set")
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--optimizer", choices=hparams.OPTIMIZERS, default=d.optimizer)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--eval-every", type=int, default=d.eval_every, help="iterations between evaluations")
    p.add_argument("--patience", type=int, help="stop after this many evaluations without a lower validation loss")
    p.add_argument("--rounds", type=int, help=f"lottery pruning rounds (default {hparams.DEFAULT_ROUNDS})")
    p.add_argument("--target-density", type=float, help="fraction of prunable weights kept at the end")
    p.add_argument("--prune-rate", type=float, default=d.prune_rate, help="fraction removed per round")
    p.add_argument("--output-prune-rate", type=float, default=d.output_prune_rate)
    p.add_argument("--scope", choices=hparams.SCOPES, default=d.scope)
    p.add_argument("--prunable", type=_names, help="comma-separated layers to prune (default: the model's)")
    p.add_argument("--rewind", type=_rewind, default=d.rewind, help="'init' (theta0) or an iteration k")
    p.add_argument("--controls", type=_names, default=(), help="comma-separated: reinit,random_prune")
    p.add_argument("--cache-dir", help="run store folder (default: $LTH_CACHE_DIR or ./cache)")
    add_executor_arguments(p)


def add_executor_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--executor", choices=("local", "ray"),
                   help="where runs train: local processes (default) or a Ray cluster ($LTH_EXECUTOR)")
    p.add_argument("--ray-address", help="Ray cluster address (default: auto, i.e. $RAY_ADDRESS or a local cluster)")


def config_from_args(args: argparse.Namespace) -> hparams.RunConfig:
    return hparams.RunConfig(
        experiment=args.experiment, model=args.model, dataset=args.dataset,
        iterations=args.iterations, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
        optimizer=args.optimizer, seed=args.seed, eval_every=args.eval_every, patience=args.patience,
        rounds=args.rounds, target_density=args.target_density, prune_rate=args.prune_rate,
        output_prune_rate=args.output_prune_rate, scope=args.scope, prunable=args.prunable,
        rewind=args.rewind, controls=args.controls,
    )


def progress_line(event: dict) -> str:
    return (f"[{event['arm']} round {event['round']} density {100 * event['density']:.1f}%] "
            f"it {event['iteration']}/{event['total_iterations']}  "
            f"train {event['train_loss']:.4f}/{100 * event['train_accuracy']:.2f}%  "
            f"val {event['val_loss']:.4f}/{100 * event['val_accuracy']:.2f}%"
            + (f"  test {event['test_loss']:.4f}/{100 * event['test_accuracy']:.2f}%"
               if event.get("test_accuracy") is not None else ""))


def _print_progress(event: dict) -> None:
    print(progress_line(event), file=sys.stderr, flush=True)


def _fail(command: str, message: str) -> int:
    print(f"lth {command}: error: {message}", file=sys.stderr)
    return 2


def _submit(args, command: str):
    """Check the input and submit it to the store; returns (store, Submission) or an exit code."""
    from lth.data import DataError
    from lth.runner import submit
    from lth.store import RunStore

    from lth.store import StoreError

    store = RunStore(args.cache_dir)
    try:
        return store, submit(config_from_args(args), data_dir=args.data_dir, store=store,
                             start=command == "submit", executor=args.executor, ray_address=args.ray_address)
    except (DataError, hparams.ConfigError, StoreError) as e:
        return _fail(command, str(e))


def cmd_run(args) -> int:
    """Train in the foreground through the store: a cached run prints its results at once."""
    from lth import runner

    submitted = _submit(args, "run")
    if isinstance(submitted, int):
        return submitted
    store, submission = submitted
    print(submission.message, file=sys.stderr, flush=True)
    if submission.outcome != "cached":
        if runner.claim_foreground(submission.run_id, store):
            print(f"run {submission.run_id}: training in this process", file=sys.stderr, flush=True)
            if store.raw_status(submission.run_id).get("executor") == "ray":
                from lth.ray_executor import execute_on_ray

                status = execute_on_ray(submission.run_id, store, on_eval=_print_progress)
            else:
                status = runner.execute(submission.run_id, store, on_eval=_print_progress)
            runner.schedule(store)
        else:  # another process (a worker, another terminal) trains it: follow it
            status = runner.wait(submission.run_id, store, on_eval=_print_progress)
        if status["state"] != "done":
            print(f"lth run: run {submission.run_id} {status['state']}: {status.get('error')}", file=sys.stderr)
            return 1
    summary = store.results(submission.run_id)
    summary["cached"] = submission.outcome == "cached"
    print(json.dumps(summary, allow_nan=True))
    return 0


def cmd_submit(args) -> int:
    submitted = _submit(args, "submit")
    if isinstance(submitted, int):
        return submitted
    _, submission = submitted
    print(submission.message, file=sys.stderr)
    print(submission.run_id)
    return 0


def _store_command(args, action) -> int:
    from lth.store import RunStore, StoreError

    try:
        return action(RunStore(args.cache_dir))
    except StoreError as e:
        return _fail(args.command, str(e))


def cmd_status(args) -> int:
    def action(store):
        status = store.status(args.run_id)
        print(json.dumps({"run_id": args.run_id, **status, "heartbeat": store.heartbeat(args.run_id)},
                         indent=2, sort_keys=True))
        return 0
    return _store_command(args, action)


def cmd_list(args) -> int:
    from lth.runner import schedule

    def action(store):
        schedule(store)
        runs = store.runs()
        if args.json:
            print(runs.to_json(orient="records"))
        elif runs.empty:
            print(f"no runs in {store.root}; start one with `python -m lth submit ...`")
        else:
            shown = runs[["run_id", "state", "experiment", "model", "dataset", "seed", "progress", "device", "error"]]
            print(shown.to_string(index=False))
        return 0
    return _store_command(args, action)


def cmd_cancel(args) -> int:
    from lth.runner import cancel

    def action(store):
        status = cancel(args.run_id, store)
        print(f"run {args.run_id} {status['state']}")
        return 0
    return _store_command(args, action)


def cmd_resume(args) -> int:
    from lth.runner import resume

    def action(store):
        print(resume(args.run_id, store).message)
        return 0
    return _store_command(args, action)


def cmd_delete(args) -> int:
    def action(store):
        store.delete(args.run_id)
        print(f"run {args.run_id} deleted")
        return 0
    return _store_command(args, action)


def cmd_preset(args) -> int:
    """Submit a preset's runs; with --wait follow them to the end; with --export write its figures."""
    import time

    from lth import presets, runner
    from lth.data import DataError, load_dataset
    from lth.store import RunStore, StoreError

    preset = presets.PRESETS[args.name]
    store = RunStore(args.cache_dir)
    try:
        configs = preset.configs(args.budget, args.dataset)
    except ValueError as e:
        return _fail("preset", str(e))
    try:
        data = load_dataset(configs[0].dataset, args.data_dir)
        submissions = [runner.submit(c, data_dir=args.data_dir, store=store, executor=args.executor,
                                     ray_address=args.ray_address) for c in configs]
    except (DataError, hparams.ConfigError, StoreError) as e:
        return _fail("preset", str(e))
    minutes = presets.estimate_seconds(configs, len(data.y_train), len(data.y_val) + len(data.y_test)) / 60
    outcomes = {o: sum(s.outcome == o for s in submissions) for o in ("cached", "attached", "queued", "resumed")}
    print(f"preset {preset.name} ({args.budget} budget, {configs[0].dataset}): {len(configs)} runs "
          f"({', '.join(f'{n} {o}' for o, n in outcomes.items() if n)}); about {minutes:.0f} min on a 2-core CPU",
          file=sys.stderr)
    run_ids = [s.run_id for s in submissions]
    print("\n".join(run_ids))
    if not (args.wait or args.export):
        return 0
    while True:
        states = [store.status(r)["state"] for r in run_ids]
        counts = {state: states.count(state) for state in sorted(set(states))}
        print(f"preset {preset.name}: {counts}", file=sys.stderr, flush=True)
        if all(state not in ("queued", "running") for state in states):
            break
        runner.schedule(store)
        time.sleep(10)
    if any(state != "done" for state in states):
        print(f"lth preset: {len(states) - states.count('done')} runs did not finish; see `lth list`", file=sys.stderr)
        return 1
    if args.export:
        from pathlib import Path

        from lth import export

        folder = Path(args.export)
        folder.mkdir(parents=True, exist_ok=True)
        results = store.results_frame(run_ids)
        for stem, fig in presets.preset_figures(preset.name, results).items():
            for fmt in ("png", "svg"):
                (folder / f"{stem}.{fmt}").write_bytes(export.figure_bytes(fig, fmt))
        (folder / f"{preset.name}_results.csv").write_bytes(export.table_bytes(results, "csv"))
        print(f"figures and data written to {folder}", file=sys.stderr)
    return 0


def cmd_sweep(args) -> int:
    """Submit a grid of runs: experiments x seeds x target densities (or rounds); cached runs are skipped."""
    import dataclasses

    from lth.data import DataError
    from lth.runner import submit
    from lth.store import RunStore, StoreError

    base = config_from_args(args)
    grid = []
    for experiment in args.experiments or (base.experiment,):
        for seed in args.seeds or (base.seed,):
            densities = (args.densities or (base.target_density,)) if experiment != "baseline" else (None,)
            for density in densities:
                for rounds in ((args.rounds_list or (base.rounds,)) if experiment == "lottery" else (None,)):
                    grid.append(dataclasses.replace(
                        base, experiment=experiment, seed=seed,
                        target_density=density if rounds is None else None, rounds=rounds,
                        controls=base.controls if experiment == "lottery" else (),
                        rewind=base.rewind if experiment == "lottery" else "init",
                        prunable=base.prunable if experiment != "baseline" else None))
    store = RunStore(args.cache_dir)
    outcomes = {}
    try:
        for config in grid:
            submission = submit(config, data_dir=args.data_dir, store=store, executor=args.executor,
                                ray_address=args.ray_address)
            outcomes[submission.outcome] = outcomes.get(submission.outcome, 0) + 1
            print(submission.run_id)
    except (DataError, hparams.ConfigError, StoreError) as e:
        return _fail("sweep", str(e))
    print(f"sweep: {len(grid)} runs: " + ", ".join(f"{n} {o}" for o, n in outcomes.items()), file=sys.stderr)
    return 0


def cmd_cluster(args) -> int:
    from lth.ray_executor import ExecutorError, cluster_info

    try:
        info = cluster_info(args.ray_address)
    except ExecutorError as e:
        return _fail("cluster", str(e))
    print(json.dumps(info, indent=2))
    return 0


def cmd_worker(args) -> int:
    from lth.runner import run_worker
    from lth.store import RunStore

    return run_worker(args.run_id, RunStore(args.cache_dir))


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="python -m lth", description="Lottery Ticket Lab experiments")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    run = commands.add_parser("run", help="train in the foreground (through the run store), print results as JSON")
    add_config_arguments(run)
    run.set_defaults(func=cmd_run)
    submit = commands.add_parser("submit", help="queue a run in the background; prints its run id")
    add_config_arguments(submit)
    submit.set_defaults(func=cmd_submit)
    for name, func, text in [("status", cmd_status, "print a run's status record as JSON"),
                             ("cancel", cmd_cancel, "stop a queued or running run"),
                             ("resume", cmd_resume, "continue a failed or cancelled run"),
                             ("delete", cmd_delete, "delete a run's folder"),
                             ("worker", cmd_worker, argparse.SUPPRESS)]:
        sub = commands.add_parser(name, help=text)
        sub.add_argument("run_id")
        sub.add_argument("--cache-dir")
        sub.set_defaults(func=func)
    sweep = commands.add_parser("sweep", help="submit a grid of runs (seeds x densities x experiments)")
    add_config_arguments(sweep)
    sweep.add_argument("--seeds", type=lambda v: tuple(int(x) for x in _names(v)), help="e.g. 0,1,2")
    sweep.add_argument("--densities", type=lambda v: tuple(float(x) for x in _names(v)),
                       help="target densities, e.g. 0.5,0.2,0.1 (tfmot and lottery)")
    sweep.add_argument("--rounds-list", type=lambda v: tuple(int(x) for x in _names(v)),
                       help="lottery rounds, e.g. 5,10,15 (instead of --densities)")
    sweep.add_argument("--experiments", type=_names, help="e.g. baseline,tfmot (default: --experiment)")
    sweep.set_defaults(func=cmd_sweep)
    cluster = commands.add_parser("cluster", help="show the Ray cluster's nodes, CPUs and GPUs as JSON")
    cluster.add_argument("--ray-address")
    cluster.set_defaults(func=cmd_cluster)
    from lth.presets import BUDGETS, PRESETS

    preset = commands.add_parser("preset", help="start a reference experiment: all of its runs")
    preset.add_argument("name", choices=list(PRESETS))
    preset.add_argument("--budget", choices=BUDGETS, default="quick",
                        help="quick: bundled sample, minutes on a CPU; full: full MNIST, the papers' iterations")
    preset.add_argument("--dataset", choices=DATASETS,
                        help="full budget: fashion-mnist (default) or mnist; quick: the bundled mnist-sample")
    preset.add_argument("--data-dir")
    preset.add_argument("--cache-dir")
    preset.add_argument("--wait", action="store_true", help="follow the runs until they end")
    preset.add_argument("--export", metavar="DIR", help="when done, write the figures (PNG, SVG) and data here")
    add_executor_arguments(preset)
    preset.set_defaults(func=cmd_preset)
    listing = commands.add_parser("list", help="list the runs in the store")
    listing.add_argument("--json", action="store_true")
    listing.add_argument("--cache-dir")
    listing.set_defaults(func=cmd_list)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)
