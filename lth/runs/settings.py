"""The store's settings (settings.json): concurrency and where runs train. Each value is checked; the
executor's placement is signed by this machine's user, so a file edited elsewhere cannot send runs away."""

from __future__ import annotations

from dataclasses import dataclass, field

from lth import paths
from lth.fsutil import write_json_atomic
from lth.runs import executors, schema, trust
from lth.runs.schema import Corrupt
from lth.runs.store import MAX_JSON_BYTES, StoreError

RAY_MAX_IN_FLIGHT = 16  # Ray runs supervised at once from this machine (one light process each)
SETTING_CHECKS = {
    "max_concurrent": (
        lambda v: isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 64,
        "a whole number from 1 to 64",
    ),
    "ray_max_in_flight": (
        lambda v: isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 1024,
        "a whole number from 1 to 1024",
    ),
    "executor": (lambda v: v in executors.NAMES, " or ".join(executors.NAMES)),
    "ray_address": (lambda v: isinstance(v, str) and 0 < len(v) < 256, "a Ray address"),
    "placement_sig": (lambda v: isinstance(v, str), "a signature"),
}
PLACEMENT_KEYS = ("executor", "ray_address")


@dataclass
class Settings:
    values: dict = field(default_factory=dict)  # only the valid ones
    problems: list[str] = field(default_factory=list)  # what was ignored and why

    def get(self, key: str, default=None):
        return self.values.get(key, default)


def read(store) -> Settings:
    path = store.root / paths.SETTINGS
    settings = Settings()
    try:
        if path.is_symlink() or (path.exists() and not path.is_file()):
            settings.problems.append(f"{paths.SETTINGS} is not a regular file; ignored")
            return settings
        if not path.exists():
            return settings
        value = schema.parse_json(path.read_bytes()[:MAX_JSON_BYTES], f"{paths.SETTINGS}")
    except (OSError, Corrupt) as e:
        settings.problems.append(f"{paths.SETTINGS} is unreadable ({str(e)[:60]}); defaults used")
        return settings
    if not isinstance(value, dict):
        settings.problems.append(f"{paths.SETTINGS} is not a JSON object; defaults used")
        return settings
    for key, item in value.items():
        check = SETTING_CHECKS.get(key)
        if check is None:
            settings.problems.append(f"{paths.SETTINGS}: unknown setting {key!r} ignored")
        elif not check[0](item):
            settings.problems.append(f"{paths.SETTINGS}: {key} must be {check[1]}, not {item!r}; default used")
        else:
            settings.values[key] = item
    placement = [settings.values.get(k) for k in PLACEMENT_KEYS]
    if any(placement) and not trust.verify(settings.values.get("placement_sig"), "settings", *placement):
        settings.problems.append(
            f"{paths.SETTINGS}: the executor setting is not signed by this machine's user "
            "(edited outside the product?); local is used until it is set again"
        )
        for key in PLACEMENT_KEYS:
            settings.values.pop(key, None)
    settings.values.pop("placement_sig", None)
    return settings


def write(store, **changes) -> None:
    store.require_writable()
    for key, value in changes.items():
        check = SETTING_CHECKS.get(key)
        if check is None or not check[0](value):
            raise StoreError(f"setting {key} must be {check[1] if check else 'known'}, not {value!r}")
    values = {**read(store).values, **changes}
    placement = [values.get(k) for k in PLACEMENT_KEYS]
    if any(placement):
        values["placement_sig"] = trust.sign("settings", *placement)
    write_json_atomic(store.root / paths.SETTINGS, values)
