"""Command line: `python -m lth run ...` trains in the foreground and prints the results as JSON.

Exit status: 0 success, 2 invalid arguments or bad data (one line, no traceback), 1 training failure.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
from typing import Any

from lth import hparams, models
from lth.data.datasets import DATASETS
from lth.records import METRICS
from lth.runs.executors import NAMES as EXECUTOR_NAMES

METRIC_NAMES = tuple(METRICS)


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
    """Comma-separated items; an empty item between others ('a,,b', 'a,') is refused, not dropped."""
    items = [v.strip() for v in value.split(",")]
    if any(items) and not all(items):
        raise argparse.ArgumentTypeError(f"{value[:40]!r} has an empty item")
    return tuple(v for v in items if v)


def _finite(value: str) -> float:
    number = float(value)
    if not math.isfinite(number):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {value!r}")
    return number


_finite.__name__ = "float"  # argparse names the type in its message: "invalid float value"


def _distinct(convert, what: str):
    """A parser of a comma-separated list of `what` (each item through `convert`): an empty list or an item
    listed twice is refused, in one line."""

    def parse(value: str) -> tuple:
        if "" in [v.strip() for v in value.split(",")] and value.strip(", "):
            raise argparse.ArgumentTypeError(f"{value[:40]!r} has an empty item")
        try:
            items = tuple(convert(v) for v in _names(value))
        except (ValueError, argparse.ArgumentTypeError):
            raise argparse.ArgumentTypeError(f"expected comma-separated {what}, got {value[:40]!r}") from None
        if not items:
            raise argparse.ArgumentTypeError(f"expected comma-separated {what}, got nothing")
        if len(set(items)) != len(items):
            raise argparse.ArgumentTypeError(f"{value[:40]!r} lists a value twice")
        return items

    return parse


_ints = _distinct(int, "whole numbers")
_floats = _distinct(_finite, "numbers")
_distinct_names = _distinct(str, "names")


PARSERS = {
    "int": int,
    "float": _finite,
    "str": str,
    "names": _names,
    "rewind": _rewind,
    "ints": _ints,
    "floats": _floats,
    "runid": str,
    "model": str,
    "dataset": str,
}


def add_config_arguments(p: argparse.ArgumentParser) -> None:
    """One option per RunConfig field, from the field's own type, choices and help."""
    defaults = hparams.RunConfig()
    for f in dataclasses.fields(hparams.RunConfig):
        if f.name in hparams.DERIVED:  # set from the user's file and network, not typed
            continue
        meta = f.metadata
        default = getattr(defaults, f.name)
        shown = f" (default {default})" if default not in (None, ()) else ""
        p.add_argument(
            hparams.flag(f.name),
            dest=f.name,
            type=PARSERS[meta["kind"]],
            choices=meta["choices"] if meta["kind"] == "str" else None,
            help=(meta["help"] + shown).replace("%", "%%"),
        )  # argparse formats help with %
    p.add_argument(
        "--data-dir",
        help="folder with the dataset's four IDX files (default: $LTH_MNIST_DIR, "
        "$LTH_FASHION_MNIST_DIR, Debian's Fashion-MNIST folder)",
    )
    p.add_argument(
        "--data-file",
        help="your own data: an .npz with x_train, y_train, x_test, y_test (integer labels 0..K-1); --dataset names it",
    )
    add_store_argument(p)
    add_executor_arguments(p)


def add_store_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("--cache-dir", help="run store folder (default: $LTH_CACHE_DIR or ./cache)")


def add_executor_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--executor",
        choices=EXECUTOR_NAMES,
        help="where runs train: local processes (default) or a Ray cluster ($LTH_EXECUTOR)",
    )
    p.add_argument("--ray-address", help="Ray cluster address (default: auto, i.e. $RAY_ADDRESS or a local cluster)")


def config_from_args(args: argparse.Namespace) -> hparams.RunConfig:
    """The options given (None: not given, the field's default applies), with the user's own data and network
    described (hparams.complete)."""
    given = {
        f.name: getattr(args, f.name)
        for f in dataclasses.fields(hparams.RunConfig)
        if getattr(args, f.name, None) is not None
    }
    config = hparams.RunConfig(**given)
    if getattr(args, "data_file", None) and not config.own_data:
        raise hparams.ConfigError(
            f"--data-file is your own data: name it with --dataset NAME (not the built-in {config.dataset})"
        )
    return hparams.complete(config, getattr(args, "data_file", None))


def data_location(args, config: hparams.RunConfig) -> str | None:
    """Where the run's data is read from: your .npz (--data-file) or the IDX folder (--data-dir)."""
    if config.own_data:
        if args.data_dir:
            raise hparams.ConfigError("--data-dir is for the built-in datasets' IDX files; give --data-file FILE.npz")
        # absolute: the run's worker starts in another folder and reads the file the user meant
        return os.path.abspath(os.path.expanduser(args.data_file)) if args.data_file else args.data_file
    return args.data_dir


def _print_progress(event: dict) -> None:
    from lth.runs.supervise import progress_line

    print(progress_line(event), file=sys.stderr, flush=True)


def _fail(command: str, message) -> int:
    if isinstance(message, BrokenPipeError):  # the reader went away (`| head`): main ends quietly
        raise message
    if isinstance(message, OSError) and not isinstance(message, PermissionError) and message.strerror:
        shown = str(message.filename or "")  # a name of thousands of characters is not repeated whole
        message = f"{message.strerror}: {shown[:80] + '…' if len(shown) > 80 else shown}"
    print(f"lth {command}: error: {message}", file=sys.stderr)
    return 2


# Bad input of any kind: one line, exit 2, nothing queued.
def _input_errors():
    """What a command reports in one line, exit 2: explained failures and the file system's refusals
    (a name too long, no permission, a read-only disk...) of the paths the user gave."""
    from lth.errors import Explained

    return Explained, OSError


def _store(args):
    """The run store. No command creates its folder here: one that only reads (or finds nothing to change)
    creates none, and a submission (run, submit, sweep, preset) makes it only once every check has passed
    (lth.runs.queue.submit_all), so a refused command leaves nothing behind."""
    from lth.runs import RunStore

    return RunStore(args.cache_dir, create=False)


def _round_of(args, store) -> int | None:
    """--round, or by default the sparsest round of --arm the run keeps a network of (None: it keeps none)."""
    from lth.runs import kept as kept_networks

    return args.round if args.round is not None else kept_networks.sparsest_round(store, args.run_id, args.arm)


def _corrupt(args, store) -> int | None:
    """The exit status of a command refused because its run is corrupt (the list's verdict, and why), or None."""
    from lth.runs import tables as run_tables

    row = run_tables.run_row(store, args.run_id)
    if row["state"] == "corrupt":
        return _fail(args.command, f"run {args.run_id} is corrupt: {row['error']}")
    return None


def _submit(args, command: str):
    """Check the input and submit it to the store; returns (store, Submission) or an exit code."""
    from lth.runs import submit

    try:
        store = _store(args)
        config = config_from_args(args)
        return store, submit(
            config,
            data_dir=data_location(args, config),
            store=store,
            download=True,
            start=command == "submit",
            executor=args.executor,
            ray_address=args.ray_address,
        )
    except _input_errors() as e:
        return _fail(command, e)


def cmd_run(args) -> int:
    """Train in the foreground through the store: a cached run prints its results at once."""
    from lth.runs import RunState, claim_foreground, executors, schedule, wait
    from lth.runs.queue import Outcome

    submitted = _submit(args, "run")
    if isinstance(submitted, int):
        return submitted
    store, submission = submitted
    print(submission.message, file=sys.stderr, flush=True)
    if submission.outcome != Outcome.CACHED:
        from lth.runs.supervise import storage_problem

        try:
            if claim_foreground(submission.run_id, store):
                print(f"run {submission.run_id}: training in this process", file=sys.stderr, flush=True)
                name = store.raw_status(submission.run_id).get("executor") or "local"
                status = executors.execute(name, submission.run_id, store, on_eval=_print_progress)
                schedule(store)
            else:  # another process (a worker, another terminal) trains it: follow it
                status = wait(submission.run_id, store, on_eval=_print_progress)
        except OSError as e:  # a full disk even for the final status: the run is failed on the next read
            problem = storage_problem(e, submission.run_id, store.path(submission.run_id))
            if problem is None:
                raise
            print(f"lth run: run {submission.run_id} failed: {problem}", file=sys.stderr)
            return 1
        if status["state"] != RunState.DONE:
            print(f"lth run: run {submission.run_id} {status['state']}: {status.get('error')}", file=sys.stderr)
            return 1
    summary = {**store.results(submission.run_id), "cached": submission.outcome == Outcome.CACHED}
    print(json.dumps(summary))
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
    try:
        store = _store(args)
        if hasattr(args, "run_id"):
            store.check_id(args.run_id)  # before any path or lock is made from it
        return action(store)
    except _input_errors() as e:
        return _fail(args.command, e)


def cmd_status(args) -> int:
    def action(store):
        store.folder(args.run_id)  # no such run, or a link: one line
        refused = _corrupt(args, store)
        if refused is not None:
            return refused
        status = store.status(args.run_id)
        print(
            json.dumps(
                {"run_id": args.run_id, **status, "heartbeat": store.heartbeat(args.run_id)},
                indent=2,
                sort_keys=True,
                default=str,
            )
        )
        return 0

    return _store_command(args, action)


def cmd_list(args) -> int:
    from lth.runs import schedule
    from lth.runs import settings as store_settings
    from lth.runs import tables as run_tables
    from lth.runs.processes import printable

    def action(store):
        schedule(store)
        for problem in store_settings.read(store).problems:
            print(f"lth list: warning: {problem}", file=sys.stderr)
        runs = run_tables.runs_frame(store)
        if args.json:
            print(runs.to_json(orient="records"))
        elif runs.empty:
            print(printable(f"no runs in {store.root}; start one with `python -m lth submit ...`"))
        else:
            shown = runs[["run_id", "state", "experiment", "model", "dataset", "seed", "progress", "device", "error"]]
            shown = shown.astype(object).where(shown.notna(), "-")  # one mark for what is missing
            print("\n".join(map(printable, shown.to_string(index=False).splitlines())))  # no control characters
        return 0

    return _store_command(args, action)


def cmd_cancel(args) -> int:
    from lth.runs import cancel

    def action(store):
        status = cancel(args.run_id, store)
        print(f"run {args.run_id} {status['state']}")
        return 0

    return _store_command(args, action)


def cmd_resume(args) -> int:
    from lth.runs import resume

    def action(store):
        print(resume(args.run_id, store, executor=args.executor, ray_address=args.ray_address).message)
        return 0

    return _store_command(args, action)


def cmd_delete(args) -> int:
    def action(store):
        print(store.delete(args.run_id))
        return 0

    return _store_command(args, action)


def cmd_export_model(args) -> int:
    """Write one kept network of a finished run as a model file that plain TensorFlow loads."""
    from lth.runs import kept as kept_networks

    def action(store):
        from lth.fsutil import output_file
        from lth.networks import EXPORT_SUFFIX

        if store.finished_results(args.run_id) is None:  # list's notion of a usable run (corrupt: raised)
            return _fail(
                args.command,
                f"run {args.run_id} is {store.status(args.run_id)['state']}: only a finished "
                f"run's networks are exported",
            )
        round_ = _round_of(args, store)
        if round_ is None:
            return _fail(args.command, f"run {args.run_id} keeps no network of arm {args.arm}")
        network = kept_networks.network(store, args.run_id, args.arm, round_)  # refused here before TensorFlow loads
        output_file(args.out, EXPORT_SUFFIX[args.format])
        from lth import model_export

        print(model_export.save(network, args.format, args.out))
        return 0

    return _store_command(args, action)


def cmd_compression(args) -> int:
    """The compression report of a finished run (from its results; no TensorFlow)."""
    from lth.networks import compression_table

    def action(store):
        plan = store.config(args.run_id).plan  # a corrupt config is refused here, in one line
        if not plan.keeps_networks:  # no run of it ever has a report: running it again cannot help
            return _fail(
                args.command,
                f"run {args.run_id}: the {plan.name} experiment ({plan.title}) keeps no "
                f"networks, so its runs have no compression report",
            )
        summary = store.finished_results(args.run_id)
        if summary is None:
            return _fail(
                args.command, f"run {args.run_id} has no results yet (state {store.status(args.run_id)['state']})"
            )
        table = compression_table(summary["results"])
        if table.empty:
            return _fail(
                args.command,
                f"run {args.run_id} was made before the compression report existed; delete "
                f"it (`lth delete {args.run_id}`) and run it again to get one",
            )
        print(table.to_json(orient="records") if args.json else table.to_string(index=False))
        return 0

    return _store_command(args, action)


def cmd_analyze(args) -> int:
    """Figures (PNG, SVG, HTML) and data (CSV) of one run into a folder: an instability run's error along
    the line and barriers; otherwise the masks and weights of one kept network."""
    from lth.runs import tables as run_tables

    def action(store):
        from lth import analysis, export, figures
        from lth.fsutil import output_folder

        _, config = store.config_and_record(args.run_id)
        refused = _corrupt(args, store)  # a run the list shows corrupt is analysed by nobody
        if refused is not None:
            return refused
        output_folder(args.export, create=False)  # a bad folder is refused before anything is computed
        if config.experiment == "instability":
            frame = run_tables.instability_frame(store, [args.run_id])
            if frame.empty:
                return _fail(args.command, f"instability run {args.run_id} has not finished")
            stem = args.run_id
            figs = {
                "error_along_line": figures.instability_error_curves(frame),
                "barrier_vs_k": figures.instability_barrier_vs_k(frame),
                "barrier_vs_density": figures.instability_barrier_vs_density(frame),
            }
            tables = {"instability": frame}
        else:
            if args.other_seed is not None:
                store.check_id(args.other_seed)
            round_ = _round_of(args, store)
            if round_ is None:
                return _fail(args.command, f"run {args.run_id} keeps no network of arm {args.arm}")
            notes: list[str] = []  # what could not be pictured, and why
            figs, tables = analysis.run_analysis(store, args.run_id, args.arm, round_, args.other_seed, notes)
            for note in notes:
                print(f"lth analyze: {note}", file=sys.stderr)
            if not figs and not tables:
                return _fail(
                    args.command,
                    f"{args.arm} round {round_} of run {args.run_id} is a dense network "
                    f"without a mask: there is nothing to analyse; choose a pruned arm "
                    f"and round of a run that prunes (--arm ticket --round R)",
                )
            stem = f"{args.run_id}_{args.arm}_r{round_:02d}"
        out = output_folder(args.export)  # made only now: a refused analysis leaves no folder behind
        formats = export.write_bundle(
            out,
            {f"{stem}_{name}": fig for name, fig in figs.items()},
            {f"{stem}_{name}": table for name, table in tables.items()},
        )
        print(f"{len(figs)} figures ({', '.join(formats)}) and {len(tables)} tables in {out}")
        return 0

    return _store_command(args, action)


def cmd_compare(args) -> int:
    """Statistics over seeds of the finished runs (filtered): the winning-ticket verdict per density, the
    ticket against dense and each control paired by seed, each question held, not held or undetermined (with
    --margin as the accuracy margin); --head-to-head A B: two series against each other at each density; with
    --export the figure and tables."""
    from lth.runs import tables as run_tables

    def action(store):
        from lth import figures, statistics
        from lth.fsutil import output_folder

        margin = statistics.MARGIN if args.margin is None else args.margin
        if not 0 <= margin < 1:  # NaN fails both
            return _fail(
                args.command,
                f"--margin {args.margin}: an accuracy difference, from 0 to below 1 (0.005 = half a point)",
            )
        if args.export is not None:  # a bad folder is refused before any output; made only once all is checked
            output_folder(args.export, create=False)
        results = run_tables.results_frame(store)
        if args.model and models.is_builder(args.model):  # results name a user's network by its function
            args.model = args.model.rpartition(":")[2]
        for column in ("experiment", "model", "dataset"):
            wanted = getattr(args, column)
            if wanted and not results.empty:
                results = results[results[column] == wanted]
        if results.empty:
            return _fail(args.command, "no finished runs match")
        head_to_head = None
        if args.head_to_head:
            try:
                a, b = args.head_to_head
                head_to_head = statistics.head_to_head(results, a, b, args.metric, margin=margin)
            except ValueError as e:
                return _fail(args.command, f"--head-to-head: {e}")
        out = output_folder(args.export) if args.export is not None else None
        comparison = statistics.comparisons(results, args.metric, margin=margin)
        verdicts = statistics.verdicts(comparison)
        methods = statistics.method_comparisons(results, args.metric, margin=margin)
        if verdicts.empty:
            print("no lottery ticket to judge in these runs")
        else:
            print(
                verdicts[
                    [
                        "label",
                        "density_pct",
                        "n",
                        "winning_ticket",
                        "star",
                        "margin",
                        "accuracy_diff",
                        "seeds_needed",
                        "verdict",
                    ]
                ].to_string(index=False)
            )
        print(f"({statistics.WINNING_RULE})", file=sys.stderr)
        shown_columns = [
            "n",
            "accuracy_diff",
            "accuracy_ci_low",
            "accuracy_ci_high",
            "margin",
            "p_value",
            "p_holm",
            "verdict",
            "seeds_needed",
            "words",
        ]
        if not comparison.empty:  # every question asked of the ticket, against dense and each control
            print(comparison[["label", "density_pct", "against", "question"] + shown_columns].to_string(index=False))
        if not methods.empty:  # one-shot criteria against their controls, dense and the IMP ticket
            print(
                methods[["label", "method", "density_pct", "against", "question"] + shown_columns].to_string(
                    index=False
                )
            )
        if head_to_head is not None:
            print(
                head_to_head[["a", "density_pct", "question"] + shown_columns].to_string(index=False)
                if not head_to_head.empty
                else f"{args.head_to_head[0]} and {args.head_to_head[1]} share no seed at any density: nothing to pair"
            )
        if out is not None:
            from lth import export

            stats = figures.aggregate(results, args.metric)
            shown = {
                "accuracy_vs_density": figures.accuracy_vs_density(results, args.metric, stats=stats, verdicts=verdicts)
            }
            tables = {
                "comparisons": comparison,
                "verdicts": verdicts,
                "summary_over_seeds": statistics.summary(results, args.metric),
            }
            if not methods.empty:
                shown["layer_density_vs_density"] = figures.layer_density_vs_density(
                    results[results["experiment"] == "oneshot"]
                )
                tables["method_comparisons"] = methods
            if head_to_head is not None:
                tables["head_to_head"] = head_to_head
            export.write_bundle(out, shown, tables)
            print(f"figures and tables written to {out}", file=sys.stderr)
        return 0

    return _store_command(args, action)


def cmd_preset(args) -> int:
    """Submit a preset's runs; with --wait follow them to the end; with --export write its figures. With
    --partial, export what is finished now: nothing is submitted and no store is created."""
    import time

    from lth import presets
    from lth.fsutil import output_folder
    from lth.runs import ACTIVE, RunState, RunStore, schedule, submit_all
    from lth.runs import tables as run_tables
    from lth.runs.queue import Outcome, check

    preset = presets.PRESETS[args.name]
    if args.partial and not args.export:
        return _fail("preset", "--partial exports what is finished now: it needs --export DIR")
    try:
        configs = preset.configs(args.budget, args.dataset)
        if args.export:
            output_folder(args.export, create=False)  # a bad folder is refused before anything is submitted
        if args.partial:  # nothing is submitted, resumed or started
            store = RunStore(args.cache_dir, create=False)
            run_ids = [check(c, args.data_dir, download=True).run_id for c in configs]
        else:
            store = _store(args)
            submissions = submit_all(
                configs,
                data_dir=args.data_dir,
                store=store,
                executor=args.executor,
                download=True,
                ray_address=args.ray_address,
            )
            run_ids = [s.run_id for s in submissions]
    except _input_errors() as e:
        return _fail("preset", str(e))
    except ValueError as e:  # a budget or dataset the preset does not have
        return _fail("preset", str(e))
    if not args.partial:
        minutes = preset.estimate_seconds(args.budget, configs) / 60
        outcomes = {o.value: sum(s.outcome == o for s in submissions) for o in Outcome}
        print(
            f"preset {preset.name} ({args.budget} budget, {configs[0].dataset}): {len(configs)} runs "
            f"({', '.join(f'{n} {o}' for o, n in outcomes.items() if n)}); about {minutes:.0f} min on a 2-core "
            f"CPU",
            file=sys.stderr,
        )
        print("\n".join(run_ids))
    if not (args.wait or args.export):
        return 0
    while not args.partial:
        states = [(store.status_or_none(r) or {}).get("state", RunState.CORRUPT) for r in run_ids]
        counts = {str(state): states.count(state) for state in set(states)}
        print(f"preset {preset.name}: {dict(sorted(counts.items()))}", file=sys.stderr, flush=True)
        if not any(state in ACTIVE for state in states):
            break
        schedule(store)
        time.sleep(10)
    if not args.partial and any(state != RunState.DONE for state in states):
        print(
            f"lth preset: {len(states) - states.count(RunState.DONE)} runs did not finish; see `lth list`",
            file=sys.stderr,
        )
        return 1
    results = run_tables.results_frame(store, run_ids, unfinished=args.partial)
    if results.empty:
        return _fail("preset", "no results yet to export")
    companion = presets.companion_results(preset.name, args.budget, args.dataset, store)
    if not companion.empty:
        import pandas as pd

        results = pd.concat([results, companion], ignore_index=True)
    elif presets.COMPANIONS.get(preset.name):  # say why the figures lack what they are meant to be read beside
        print(f"lth preset: {presets.missing_companion(preset.name, args.budget)}", file=sys.stderr)
    try:
        folder = output_folder(args.export)
    except _input_errors() as e:
        return _fail("preset", str(e))
    try:
        table = presets.export(preset.name, results, folder)
    except _input_errors() as e:  # a name already taken in the folder: nothing is overwritten
        return _fail("preset", str(e))
    print(table.to_markdown(index=False))
    print(f"figures and data written to {folder}", file=sys.stderr)
    return 0


def cmd_sweep(args) -> int:
    """Submit a grid of runs: experiments x seeds x target densities (or rounds); cached runs are skipped.
    Every run is checked before any is queued."""
    from lth.runs import submit_all

    try:
        base = config_from_args(args)
        experiments = args.experiments or (base.experiment,)
        # what a sweep varies must reach a run: nothing given is dropped in silence (the experiments each swept
        # setting applies to: its declaration's)
        density_experiments = hparams.setting_facets("target_density")["experiments"]
        rounds_experiments = hparams.setting_facets("rounds")["experiments"]
        takes_density = set(density_experiments) & set(experiments)
        takes_rounds = set(rounds_experiments) & set(experiments)
        if args.target_densities and not takes_density:
            return _fail(
                "sweep",
                f"--target-densities sweeps {' and '.join(density_experiments)} runs (a "
                f"{' or '.join(hparams.setting_facets('densities')['experiments'])} run takes "
                f"all its densities with --densities)",
            )
        if args.target_densities and base.target_density is not None:
            return _fail("sweep", "give --target-densities or --target-density, not both")
        if args.rounds_list and not takes_rounds:
            return _fail("sweep", f"--rounds-list sweeps {' and '.join(rounds_experiments)} runs")
        if args.rounds_list and args.target_densities and not takes_density - takes_rounds:
            return _fail(
                "sweep",
                f"give --target-densities or --rounds-list for {' and '.join(rounds_experiments)} runs, not both",
            )
        grid = []
        for experiment in experiments:
            for seed in args.seeds or (base.seed,):
                densities = (
                    (args.target_densities or (base.target_density,)) if experiment in takes_density else (None,)
                )
                for density in densities:
                    for rounds in (args.rounds_list or (base.rounds,)) if experiment in takes_rounds else (None,):
                        grid.append(
                            dataclasses.replace(
                                base.for_experiment(experiment),
                                seed=seed,
                                target_density=density if rounds is None else None,
                                rounds=rounds,
                            )
                        )
        submissions = submit_all(
            grid,
            data_dir=data_location(args, base),
            store=_store(args),
            executor=args.executor,
            download=True,
            ray_address=args.ray_address,
        )
    except _input_errors() as e:
        return _fail("sweep", str(e))
    outcomes: dict[str, int] = {}
    for submission in submissions:
        outcomes[submission.outcome] = outcomes.get(submission.outcome, 0) + 1
        print(submission.run_id)
    print(f"sweep: {len(grid)} runs: " + ", ".join(f"{n} {o}" for o, n in outcomes.items()), file=sys.stderr)
    return 0


def cmd_cluster(args) -> int:
    from lth.runs.executors import ExecutorError, unavailable

    problem = unavailable("ray")
    if problem:
        return _fail("cluster", problem)
    from lth.runs.executors.ray import cluster_info

    try:
        info = cluster_info(args.ray_address)
    except ExecutorError as e:
        return _fail("cluster", str(e))
    print(json.dumps(info, indent=2))
    return 0


def cmd_worker(args) -> int:
    from lth.runs.worker import run_worker

    return run_worker(args.run_id, _store(args))


def add_claims_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cache-dir", help="run store folder (default: $LTH_CACHE_DIR or ./cache)")
    parser.add_argument(
        "--results",
        nargs="+",
        metavar="PATH",
        help="judge exported results instead of the store: *_results.csv / *_instability.csv files or folders "
        "holding them (docs/results/fashion-mnist ...)",
    )
    parser.add_argument("--export", metavar="DIR", help="write claims.csv, claims_evidence.csv and claims.json here")
    parser.add_argument("--json", action="store_true", help="print the evaluations as JSON")
    parser.add_argument(
        "--readme",
        action="store_true",
        help="print the README's table of claims (judged on --results, default the committed result sets)",
    )


def cmd_claims(args) -> int:
    """`lth claims` (lth.claims: scipy and statsmodels are imported only when it runs)."""
    from lth import claims

    return claims.run(args)


def add_report_arguments(parser: argparse.ArgumentParser) -> None:
    chosen = parser.add_mutually_exclusive_group()
    chosen.add_argument("--preset", help="the runs of a preset (with --budget and --dataset)")
    chosen.add_argument("--runs", nargs="+", metavar="ID", help="these runs of the store")
    chosen.add_argument(
        "--results", nargs="+", metavar="PATH", help="exported results (*_results.csv files or folders) instead"
    )
    parser.add_argument("--budget", default="full", help="with --preset (default full)")
    parser.add_argument("--dataset", help="with --preset: its data set (default: the budget's)")
    parser.add_argument("--cache-dir", help="run store folder (default: $LTH_CACHE_DIR or ./cache)")
    parser.add_argument("--export", metavar="DIR", required=True, help="write report.html and report.pdf here")
    parser.add_argument("--no-pdf", action="store_true", help="the HTML file only")


def cmd_report(args) -> int:
    """`lth report` (lth.report)."""
    from lth import report

    return report.run(args)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="python -m lth", description="Lottery Ticket Lab experiments")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    run = commands.add_parser("run", help="train in the foreground (through the run store), print results as JSON")
    add_config_arguments(run)
    run.set_defaults(func=cmd_run)
    submit = commands.add_parser("submit", help="queue a run in the background; prints its run id")
    add_config_arguments(submit)
    submit.set_defaults(func=cmd_submit)
    for name, func, text in [
        ("status", cmd_status, "print a run's status record as JSON"),
        ("cancel", cmd_cancel, "stop a queued or running run"),
        ("resume", cmd_resume, "continue a failed or cancelled run (on the executor chosen now)"),
        ("delete", cmd_delete, "delete a run's folder"),
        ("worker", cmd_worker, None),
    ]:
        options: dict[str, Any] = {"help": text} if text else {}  # worker: internal, no help
        sub = commands.add_parser(name, **options)
        sub.add_argument("run_id")
        add_store_argument(sub)
        if name == "resume":
            add_executor_arguments(sub)
        sub.set_defaults(func=func)
    from lth.networks import ARMS, EXPORT_FORMATS

    export = commands.add_parser(
        "export-model",
        help="write a trained network (weights at early stop, pruned "
        "weights zero) as a model file plain TensorFlow loads",
    )
    export.add_argument("run_id")
    export.add_argument("--arm", choices=ARMS, required=True)
    export.add_argument(
        "--round",
        type=int,
        help="lottery round, or a oneshot run's density (1: the densest); 0 for "
        "the dense network (default: the arm's sparsest kept round)",
    )
    export.add_argument("--format", choices=EXPORT_FORMATS, default="keras")
    export.add_argument("--out", required=True, help="file (folder for savedmodel); never overwritten")
    add_store_argument(export)
    export.set_defaults(func=cmd_export_model)
    compression = commands.add_parser(
        "compression",
        help="a run's compression report: non-zero parameters, multiply-accumulates, file bytes, gzip'ed bytes",
    )
    compression.add_argument("run_id")
    compression.add_argument("--json", action="store_true")
    add_store_argument(compression)
    compression.set_defaults(func=cmd_compression)
    compare = commands.add_parser(
        "compare",
        help="statistics over seeds: winning-ticket verdict per density, "
        "ticket against dense and controls paired by seed",
    )
    compare.add_argument("--experiment", choices=hparams.ALL)
    compare.add_argument("--model", help="a built-in network, or your builder (file.py:function or its function name)")
    compare.add_argument("--dataset", help=f"{', '.join(DATASETS)} or the name you gave your data")
    compare.add_argument("--metric", default=METRIC_NAMES[0], choices=METRIC_NAMES)
    compare.add_argument(
        "--margin",
        type=float,
        metavar="M",
        help='accuracy margin of "as good as" (a fraction: 0.005 = half a point, the default)',
    )
    compare.add_argument(
        "--head-to-head",
        nargs=2,
        metavar=("A", "B"),
        help='two series against each other at each density, paired by seed: "label · arm" '
        "or an arm name that only one series has (synflow snip)",
    )
    compare.add_argument("--export", metavar="DIR")
    add_store_argument(compare)
    compare.set_defaults(func=cmd_compare)
    analyze = commands.add_parser(
        "analyze",
        help="figures of one run: masks and weights of a kept network (mask "
        "image, densities, weight histograms, overlaps), or an "
        "instability run's error along the line and barriers",
    )
    analyze.add_argument("run_id")
    analyze.add_argument("--arm", choices=ARMS, default="ticket")
    analyze.add_argument("--round", type=int, help="default: the sparsest kept round")
    analyze.add_argument("--other-seed", metavar="RUN_ID", help="a run equal but for the seed: mask overlap")
    analyze.add_argument("--export", metavar="DIR", required=True)
    add_store_argument(analyze)
    analyze.set_defaults(func=cmd_analyze)
    sweep = commands.add_parser("sweep", help="submit a grid of runs (seeds x densities x experiments)")
    add_config_arguments(sweep)
    sweep.add_argument("--seeds", type=_ints, help="e.g. 0,1,2")
    sweep.add_argument(
        "--target-densities",
        type=_floats,
        help="target densities, e.g. 0.5,0.2,0.1 ("
        + " and ".join(hparams.setting_facets("target_density")["experiments"])
        + "; a "
        + " or ".join(hparams.setting_facets("densities")["experiments"])
        + " run takes them all: --densities)",
    )
    sweep.add_argument(
        "--rounds-list",
        type=_ints,
        help=" and ".join(hparams.setting_facets("rounds")["experiments"])
        + " rounds, e.g. 5,10,15 (instead of --target-densities)",
    )
    sweep.add_argument("--experiments", type=_distinct_names, help="e.g. baseline,tfmot (default: --experiment)")
    sweep.set_defaults(func=cmd_sweep)
    claims = commands.add_parser("claims", help="the published claims judged on the store's runs (or --results)")
    add_claims_arguments(claims)
    claims.set_defaults(func=cmd_claims)
    report = commands.add_parser("report", help="one self-contained HTML report and a PDF of a preset or runs")
    add_report_arguments(report)
    report.set_defaults(func=cmd_report)
    cluster = commands.add_parser("cluster", help="show the Ray cluster's nodes, CPUs and GPUs as JSON")
    cluster.add_argument("--ray-address")
    cluster.set_defaults(func=cmd_cluster)
    from lth.presets import BUDGETS, PRESETS

    preset = commands.add_parser("preset", help="start a reference experiment: all of its runs")
    preset.add_argument("name", choices=list(PRESETS))
    preset.add_argument(
        "--budget",
        choices=BUDGETS,
        default="quick",
        help="quick: bundled sample, minutes on a CPU; full: a complete dataset, the papers' "
        "iterations; converged (original-study): every training until its validation loss "
        "stops improving",
    )
    preset.add_argument(
        "--dataset",
        choices=DATASETS,
        help="full and converged budgets: fashion-mnist (default) or mnist; quick: the bundled mnist-sample",
    )
    preset.add_argument("--data-dir")
    add_store_argument(preset)
    preset.add_argument("--wait", action="store_true", help="follow the runs until they end")
    preset.add_argument("--export", metavar="DIR", help="when done, write the figures (PNG, SVG) and data here")
    preset.add_argument(
        "--partial",
        action="store_true",
        help="with --export: export now what is finished (completed lottery rounds too); submits nothing",
    )
    add_executor_arguments(preset)
    preset.set_defaults(func=cmd_preset)
    listing = commands.add_parser("list", help="list the runs in the store")
    listing.add_argument("--json", action="store_true")
    add_store_argument(listing)
    listing.set_defaults(func=cmd_list)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code = args.func(args)
        sys.stdout.flush()
        return code
    except BrokenPipeError:  # `lth list | head`: the reader has what it wanted
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 0
