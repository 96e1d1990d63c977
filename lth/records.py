"""Checks of result records as the product writes them (results.json, a checkpoint round's records): a file
can hold any JSON, so each check returns what it accepts or raises Corrupt naming the field. Pure Python:
the experiments (resuming from a checkpoint) and the run store use the same checks."""

from __future__ import annotations

import math

from lth import paths
from lth.arms import NAMES as ARMS
from lth.errors import Explained

# The accuracies a result record reports, in words: what figures, tables and `lth compare --metric` offer.
METRICS = {
    "early_stop_test_accuracy": "test accuracy at early stop",
    "final_test_accuracy": "final test accuracy",
    "early_stop_val_accuracy": "validation accuracy at early stop",
}


class Corrupt(Explained, ValueError):
    """A store file whose content is not what the product writes; the message says what is wrong."""


def parse_json(data: bytes, what: str):
    """JSON from a file's bytes; Corrupt (naming `what`) for anything that is not JSON a reader can hold:
    bad UTF-8, bad syntax, or nesting so deep that decoding it would exhaust the stack."""
    import json

    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        reason = "nested too deeply" if isinstance(e, RecursionError) else str(e)[:80]
        raise Corrupt(f"{what} is not valid JSON ({reason})") from None


MAX_SECONDS = 10 * 365 * 86_400  # no training here lasts ten years: a larger time is no time this product measured


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def need(ok: bool, message: str) -> None:
    if not ok:
        raise Corrupt(message)


def obj(value, what: str) -> dict:
    need(isinstance(value, dict), f"{what} is not a JSON object")
    return value


def optional(record: dict, key: str, check, what: str) -> None:
    if record.get(key) is not None:
        need(check(record[key]), f"{what}: {key} is {record[key]!r}")


def _result_record(value, i: int, where: str = paths.RESULTS) -> dict:
    what = f"{where}: results[{i}]"
    record = obj(value, what)
    need(record.get("arm") in ARMS, f"{what}: arm is {record.get('arm')!r}")
    need(_is_int(record.get("round")) and record["round"] >= 0, f"{what}: round is {record.get('round')!r}")
    for key in ("density", "early_stop_test_accuracy", "final_test_accuracy"):
        need(_is_number(record.get(key)) and 0 <= record[key] <= 1, f"{what}: {key} is {record.get(key)!r}")
    for key in ("early_stop_iteration", "final_iteration"):
        need(_is_int(record.get(key)) and record[key] >= 0, f"{what}: {key} is {record.get(key)!r}")
    # every other number a record holds, by what it is: accuracies in [0, 1], losses and times finite and >= 0
    for key in ("early_stop_val_accuracy", "final_val_accuracy"):
        optional(record, key, lambda v: _is_number(v) and 0 <= v <= 1, what)
    optional(record, "early_stop_val_loss", lambda v: _is_number(v) and v >= 0, what)
    optional(record, "train_seconds", lambda v: _is_number(v) and 0 <= v <= MAX_SECONDS, what)
    if record.get("early_stop_iteration") == record.get("final_iteration"):  # one evaluation, one accuracy
        for early, final in (
            ("early_stop_test_accuracy", "final_test_accuracy"),
            ("early_stop_val_accuracy", "final_val_accuracy"),
        ):
            if record.get(early) is not None and record.get(final) is not None:
                need(record[early] == record[final], f"{what}: {early} and {final} differ at the same evaluation")
    optional(record, "stopped_early", lambda v: isinstance(v, bool), what)
    optional(
        record,
        "copy_test_accuracy",
        lambda v: isinstance(v, list) and len(v) == 2 and all(_is_number(x) and 0 <= x <= 1 for x in v),
        what,
    )
    for key in ("pruned_nonzero", "params", "nonzero_params", "dense_macs", "nonzero_macs", "h5_bytes", "gzip_bytes"):
        optional(record, key, lambda v: _is_int(v) and v >= 0, what)
    for part, whole in (("nonzero_params", "params"), ("nonzero_macs", "dense_macs")):  # counts that must agree
        if record.get(part) is not None and record.get(whole) is not None:
            need(record[part] <= record[whole], f"{what}: {part} ({record[part]}) exceeds {whole} ({record[whole]})")
    optional(record, "pruned_max_abs", lambda v: _is_number(v) and v >= 0, what)
    if record.get("pruned_max_abs") and not record.get("pruned_nonzero"):
        raise Corrupt(f"{what}: pruned_max_abs is {record['pruned_max_abs']!r} with no pruned weight non-zero")
    optional(
        record,
        "network_sha256",
        lambda v: isinstance(v, str) and len(v) == 64 and all(c in "0123456789abcdef" for c in v),
        what,
    )
    for key in ("criterion", "control"):
        optional(record, key, lambda v: isinstance(v, str), what)
    if "rewind_iteration" in record:  # an instability pair
        need(_is_int(record["rewind_iteration"]) and record["rewind_iteration"] >= 0, f"{what}: rewind_iteration")
        for key in ("alphas", "test_errors"):
            values = record.get(key)
            need(
                isinstance(values, list) and len(values) >= 2 and all(_is_number(v) and 0 <= v <= 1 for v in values),
                f"{what}: {key} is not a list of numbers from 0 to 1",
            )
        need(len(record["alphas"]) == len(record["test_errors"]), f"{what}: alphas and test_errors differ in length")
        need(
            _is_number(record.get("barrier")) and isinstance(record.get("stable"), bool),
            f"{what}: barrier or stable is missing",
        )
        # the verdicts are what the errors make under the paper's rule (lth.instability), never other words
        from lth import instability

        need(list(record["alphas"]) == list(instability.ALPHAS), f"{what}: alphas are not the line's points")
        need(
            abs(record["barrier"] - instability.barrier(record["test_errors"])) <= 1e-9,
            f"{what}: barrier {record['barrier']!r} is not the barrier of its test errors",
        )
        need(
            record["stable"] == instability.is_stable(record["barrier"]),
            f"{what}: stable is {record['stable']} beside a barrier of {record['barrier']:.4f} (stable means a "
            f"barrier under {instability.STABLE_BARRIER})",
        )
        ends = 1 - (record["test_errors"][0] + record["test_errors"][-1]) / 2
        need(
            abs(record["early_stop_test_accuracy"] - ends) <= 1e-9,
            f"{what}: its test accuracy is not the mean of the two copies' (the line's ends)",
        )
        if record.get("copy_test_accuracy") is not None:
            need(
                all(
                    abs(a - (1 - e)) <= 1e-9
                    for a, e in zip(record["copy_test_accuracy"], (record["test_errors"][0], record["test_errors"][-1]))
                ),
                f"{what}: copy_test_accuracy is not the line's ends",
            )
    layers = record.get("layer_density", {})
    need(
        isinstance(layers, dict)
        and all(isinstance(k, str) and _is_number(v) and 0 <= v <= 1 for k, v in layers.items()),
        f"{what}: layer_density is not a map of layer to a density from 0 to 1",
    )
    return record


def result_records(value, what: str) -> list:
    """A list of result records (results.json's, or a checkpoint round's)."""
    need(isinstance(value, list), f"{what}: not a list of records")
    for i, record in enumerate(value):
        _result_record(record, i, what)
    return value
