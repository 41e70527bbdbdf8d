"""The tamper-evident audit chain (pure part).

Every entry is MAC'd together with the previous entry's hash::

    hash_n = HMAC-SHA256(audit_key, canonical_json(entry_n) || hash_{n-1})

with ``hash_0`` the all-zero genesis. Changing, deleting, inserting or reordering an
entry breaks the chain from that entry on; without the audit key nobody can repair
it. Entries never hold CPR numbers or key material: subjects are pseudonyms.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import asdict, dataclass

from helgenom.core.canonical import canonical_json

GENESIS_HASH = "0" * 64
"""The ``previous hash`` of the first entry."""

FORMAT_VERSION = 1
"""Version of the entry's canonical form; part of every MAC."""


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One audit record, as chained."""

    seq: int
    """Position in the chain, 1, 2, 3, ... without gaps."""
    occurred_at: str
    """UTC time, ISO 8601 with microseconds and ``Z``."""
    actor: str
    """Principal name."""
    role: str
    """Principal role."""
    org: str
    """Principal organisation code."""
    purpose: str
    """Declared purpose."""
    action: str
    """What was attempted (``consent.read``, ...)."""
    resource: str
    """What it was attempted on (a type and id; never a CPR number)."""
    subjects: tuple[str, ...]
    """Person pseudonyms concerned."""
    decision: str
    """``allow`` or ``deny``."""
    reason: str
    """Why."""
    project: str | None = None
    """Research project, when acting for one."""

    def canonical(self) -> bytes:
        """The bytes that are MAC'd."""
        body = asdict(self)
        body["subjects"] = list(self.subjects)
        body["format_version"] = FORMAT_VERSION
        return canonical_json(body)


def _same(stored: str, expected: str) -> bool:
    """Constant-time equality that also copes with non-ASCII text in a tampered row."""
    return hmac.compare_digest(stored.encode("utf-8"), expected.encode("utf-8"))


def chain_hash(key: bytes, entry: AuditEntry, previous_hash: str) -> str:
    """Return the chained MAC of ``entry`` after ``previous_hash`` (hex)."""
    return hmac.new(
        key, entry.canonical() + previous_hash.encode("ascii"), hashlib.sha256
    ).hexdigest()


def head_mac(key: bytes, seq: int, head_hash: str) -> str:
    """MAC over the chain head, so the tail cannot be cut off unnoticed."""
    message = (
        b"helgenom/audit-head/v1\x00" + str(seq).encode("ascii") + b"\x00" + head_hash.encode()
    )
    return hmac.new(key, message, hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class ChainRecord:
    """An entry as stored: the entry plus its stored previous hash and hash."""

    entry: AuditEntry
    """The entry's fields."""
    previous_hash: str
    """Stored hash of the previous entry."""
    hash: str
    """Stored hash of this entry."""


@dataclass(frozen=True, slots=True)
class ChainVerification:
    """Result of verifying a chain."""

    ok: bool
    """Whether the whole chain is intact."""
    count: int
    """Entries checked."""
    first_bad_seq: int | None = None
    """The first sequence number where the chain breaks."""
    problem: str = ""
    """What is wrong there."""
    head_hash: str = GENESIS_HASH
    """Hash of the last good entry."""


def verify_chain(
    key: bytes,
    records: Iterable[ChainRecord],
    *,
    head: tuple[int, str, str] | None = None,
) -> ChainVerification:
    """Verify ``records`` (ordered by ``seq``) and, if given, the signed ``head``.

    ``head`` is ``(seq, hash, mac)`` as stored apart from the entries.
    """
    expected_seq = 1
    previous = GENESIS_HASH
    count = 0
    for record in records:
        seq = record.entry.seq
        if seq != expected_seq:
            what = "missing" if seq > expected_seq else "duplicated or reordered"
            return ChainVerification(
                False,
                count,
                expected_seq,
                f"entry {expected_seq} is {what} (found {seq})",
                previous,
            )
        if not _same(record.previous_hash, previous):
            return ChainVerification(
                False, count, seq, "previous-hash link broken (entry inserted or removed)", previous
            )
        if not _same(record.hash, chain_hash(key, record.entry, previous)):
            return ChainVerification(
                False, count, seq, "entry content does not match its MAC (modified)", previous
            )
        previous = record.hash
        count += 1
        expected_seq += 1
    if head is not None:
        head_seq, head_hash_value, mac = head
        if not _same(mac, head_mac(key, head_seq, head_hash_value)):
            # The stored head seq is untrusted here: all ``count`` entries verified, so the
            # first entry the log cannot vouch for is the next one.
            return ChainVerification(
                False, count, count + 1, "chain head record does not match its MAC", previous
            )
        if head_seq != count or head_hash_value != previous:
            first_bad = min(head_seq, count) + 1
            return ChainVerification(
                False,
                count,
                first_bad,
                f"chain ends at entry {count} but the head says {head_seq} (entries removed)",
                previous,
            )
    return ChainVerification(True, count, None, "", previous)
