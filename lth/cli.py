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
            f"val {event['val_loss']:.4f}/{100 * event['val_accuracy']:.2f}%  "
            f"test {event['test_loss']:.4f}/{100 * event['test_accuracy']:.2f}%")


def cmd_run(args) -> int:
    from lth.data import DataError

    try:
        config = config_from_args(args)
        hparams.check_run(config, args.data_dir)
    except (DataError, hparams.ConfigError) as e:
        print(f"lth run: error: {e}", file=sys.stderr)
        return 2
    from lth.experiments import run_experiment  # imports TensorFlow: only once the input is known good

    def on_eval(event: dict) -> None:
        print(progress_line(event), file=sys.stderr, flush=True)

    try:
        summary = run_experiment(config, data_dir=args.data_dir, on_eval=on_eval)
    except Exception as e:  # a failure during training: say what, exit 1
        print(f"lth run: training failed: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    print(json.dumps(summary, allow_nan=True))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="python -m lth", description="Lottery Ticket Lab experiments")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    run = commands.add_parser("run", help="train in the foreground, print results as JSON")
    add_config_arguments(run)
    run.set_defaults(func=cmd_run)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)
