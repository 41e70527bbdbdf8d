"""Canonical JSON: one byte string per value, for digests, MACs and the audit chain."""

from __future__ import annotations

import json
from typing import Any


def canonical_json(value: Any) -> bytes:
    """Serialise ``value`` as canonical JSON.

    Keys sorted, no insignificant whitespace, UTF-8, no NaN or infinity. Two equal
    values always give the same bytes, so the bytes can be hashed or MAC'd.

    Raises
    ------
    ValueError
        If ``value`` contains a float NaN or infinity.
    TypeError
        If ``value`` contains something JSON cannot represent.
    """
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")
