"""Pseudonyms: keyed HMAC-SHA256 of a CPR number, and per-project derivations.

A person pseudonym is stable for one platform key and cannot be reversed without
the identity vault. Project pseudonyms are derived per research project so that
two projects cannot link their data: without the key, ``project_pseudonym(k, "A",
p)`` and ``project_pseudonym(k, "B", p)`` are unrelated.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

PERSON_PREFIX = "hp-"
PROJECT_PREFIX = "pp-"
_PSEUDONYM_RE = re.compile(r"^hp-[a-z2-7]{26}$")


def _b32(digest: bytes) -> str:
    return base64.b32encode(digest[:16]).decode("ascii").rstrip("=").lower()


def person_pseudonym(key: bytes, cpr_digits: str) -> str:
    """Return the person pseudonym for a ten-digit CPR number.

    ``hp-`` followed by 26 base32 characters (128 bits of HMAC-SHA256).
    """
    if len(key) < 32:
        raise ValueError("pseudonymisation key must be at least 32 bytes")
    mac = hmac.new(key, b"helgenom/person/v1\x00" + cpr_digits.encode("ascii"), hashlib.sha256)
    return PERSON_PREFIX + _b32(mac.digest())


def project_pseudonym(key: bytes, project_code: str, person: str) -> str:
    """Return the pseudonym of ``person`` (a person pseudonym) inside one project."""
    if len(key) < 32:
        raise ValueError("pseudonymisation key must be at least 32 bytes")
    project_key = hmac.new(
        key, b"helgenom/project/v1\x00" + project_code.encode("utf-8"), hashlib.sha256
    ).digest()
    mac = hmac.new(project_key, person.encode("ascii"), hashlib.sha256)
    return PROJECT_PREFIX + _b32(mac.digest())


def is_person_pseudonym(text: str) -> bool:
    """Whether ``text`` has the shape of a person pseudonym."""
    return _PSEUDONYM_RE.match(text) is not None
