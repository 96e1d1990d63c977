"""Where a run is sent is decided by this machine's user, not by the store's files.

The executor and Ray address of a run (status.json) and of the store (settings.json) are signed with a
key kept outside the store (~/.config/lth/placement.key, readable by the user only). A worker sends a
run to a cluster only when the signature holds, so someone who can write into a (shared) store cannot
direct its runs, code and data to a cluster of their choosing."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

KEY_ENV = "LTH_PLACEMENT_KEY_FILE"


def _key_path() -> Path:
    return Path(os.environ.get(KEY_ENV) or Path.home() / ".config" / "lth" / "placement.key")


def _key() -> bytes:
    path = _key_path()
    try:
        return bytes.fromhex(path.read_text().strip())
    except (OSError, ValueError):
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_hex(32))
    return bytes.fromhex(path.read_text().strip())


def sign(*parts) -> str:
    message = "\x1f".join("" if p is None else str(p) for p in parts).encode()
    return hmac.new(_key(), message, hashlib.sha256).hexdigest()


def verify(signature, *parts) -> bool:
    return isinstance(signature, str) and hmac.compare_digest(signature, sign(*parts))
