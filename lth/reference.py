"""The settings and command-line reference of the documentation, generated from the code: every setting's
declaration (lth.hparams.RunConfig: help, type, range, choices, the experiments it applies to) and every
command's help (lth.cli). `python -m lth.reference` writes docs/reference.md; the tests check that the
committed page is what the code generates, so the two cannot disagree."""

from __future__ import annotations

import dataclasses
import io
import sys
from collections.abc import Mapping
from contextlib import redirect_stdout
from pathlib import Path

PAGE = Path(__file__).resolve().parent.parent / "docs" / "reference.md"


def _shown(value) -> str:
    if isinstance(value, tuple):
        return ",".join(map(str, value)) if value else "(none)"
    return "(none)" if value is None else str(value)


def _range(meta: Mapping) -> str:
    if meta["choices"] is not None:
        return ", ".join(map(str, meta["choices"]))
    low, high = meta["low"], meta["high"]
    if low is None and high is None:
        return ""
    left = "" if low is None else f"{low:,}" + (" <" if meta["open_low"] else " ≤")
    right = "" if high is None else ("< " if meta["open_high"] else "≤ ") + f"{high:,}"
    return f"{left} x {right}".strip()


def settings_table() -> str:
    from lth.hparams import ALL, RunConfig, flag

    rows = ["| option | form field | default | values | applies to | what it is |", "|---|---|---|---|---|---|"]
    for f in dataclasses.fields(RunConfig):
        meta = f.metadata
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        applies = "every experiment" if tuple(meta["experiments"]) == tuple(ALL) else ", ".join(meta["experiments"])
        cells = [
            f"`{flag(f.name)}`",
            meta["label"],
            f"`{_shown(default)}`",
            _range(meta),
            applies,
            meta["help"].replace("|", "\\|"),
        ]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def commands_help() -> str:
    import os

    from lth import cli

    os.environ["COLUMNS"] = "110"  # argparse wraps at the terminal's width: one width wherever it is generated
    parser = cli.build_parser()
    commands = next(a for a in parser._actions if isinstance(a, cli.argparse._SubParsersAction))
    parts = []
    for name, sub in commands.choices.items():
        if sub.description == "==SUPPRESS==" or name == "worker":  # internal
            continue
        buffer = io.StringIO()
        with redirect_stdout(buffer):
            sub.print_help()
        text = buffer.getvalue().replace("usage: ", "", 1)
        parts.append(f"### `lth {name}`\n\n```\n{text.rstrip()}\n```\n")
    return "\n".join(parts)


def page() -> str:
    return (
        "# Reference\n\nGenerated from the code by `python -m lth.reference` (a test checks this page is what "
        "the code generates).\n\n## Settings\n\nEvery setting of a run: the same declaration makes the CLI "
        "option, the dashboard's form field (its label, range and default), the checks and the run id (a "
        "setting that does not apply to an experiment is refused there and left out of its id).\n\n"
        f"{settings_table()}\n\n## Commands\n\n{commands_help()}"
    )


def main() -> int:
    PAGE.write_text(page())
    print(PAGE)
    return 0


if __name__ == "__main__":
    sys.exit(main())
