"""Seeds derived for one purpose each (an arm, a round, a criterion's draw), so that every random choice of a
run follows from its seed and what the choice is for, and no two purposes share a stream. Pure Python."""

from __future__ import annotations

import hashlib
import json


def derive_seed(seed: int, *parts) -> int:
    """A seed for one purpose (arm, round), independent of every other purpose's."""
    digest = hashlib.sha256(json.dumps([seed, *parts]).encode()).digest()
    return int.from_bytes(digest[:4], "big") >> 1
