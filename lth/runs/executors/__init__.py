"""Where a run trains, by name. Both the background worker and `lth run` look executors up here;
an executor module is imported only when a run uses it (Ray is optional)."""

from __future__ import annotations

import importlib
import importlib.util

from lth.errors import Explained

NAMES = ("local", "ray")
_MODULES = {"local": "lth.runs.executors.local", "ray": "lth.runs.executors.ray"}
RAY_MISSING = (
    "the Ray executor needs Ray, which is not installed: "
    "`.venv/bin/pip install -r requirements-ray.txt` (the local executor works without it)"
)


class ExecutorError(Explained, RuntimeError):
    """An executor that cannot be used (not installed, cluster unreachable); one line."""


def unavailable(name: str) -> str | None:
    """Why executor `name` cannot run here, or None (checked before a run is queued)."""
    if name not in NAMES:
        return f"unknown executor {name!r}; choose one of {', '.join(NAMES)}"
    if name == "ray" and importlib.util.find_spec("ray") is None:
        return RAY_MISSING
    return None


def unreachable(address: str) -> str | None:
    """Why no Ray cluster answers at `address` ("auto" is not checked), or None. Ray retries an unreachable
    address for minutes; a TCP connect says no in seconds, before anything is queued."""
    import os
    import socket

    if address == "auto":  # what Ray's own "auto" finds: $RAY_ADDRESS, else the local cluster's address file
        if os.environ.get("RAY_ADDRESS"):
            address = os.environ["RAY_ADDRESS"]
        else:
            try:
                with open("/tmp/ray/ray_current_cluster", encoding="utf-8") as f:
                    address = f.read().strip()
            except OSError:
                return (
                    "no Ray cluster was found on this machine (--ray-address auto): start one with `ray start "
                    "--head`, give --ray-address HOST:PORT, or choose 'this machine' (--executor local)"
                )
            if not address:
                return "no Ray cluster was found on this machine (--ray-address auto)"
    target = address.removeprefix("ray://")
    host, _, port = target.rpartition(":")
    if not host or not port.isdigit():
        return f"not a Ray address: {address!r} (expected HOST:PORT, ray://HOST:PORT or auto)"
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=3).close()
    except (OSError, ValueError, OverflowError) as e:
        return (
            f"cannot reach a Ray cluster at {address}: {getattr(e, 'strerror', None) or e}; start the cluster, "
            f"or choose 'this machine' on the Home page (or --executor local)"
        )
    return None


def execute(name: str, run_id: str, store, *, on_eval=None) -> dict:
    """Train run `run_id` (its status says running with this process's pid); returns the final status."""
    problem = unavailable(name)
    if problem:
        raise ExecutorError(problem)
    return importlib.import_module(_MODULES[name]).execute(run_id, store, on_eval=on_eval)
