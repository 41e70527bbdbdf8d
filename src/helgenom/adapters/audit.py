"""The audit log in the catalog: chained appends under a lock, streaming verification.

Appenders serialise on the single ``audit_head`` row (``SELECT ... FOR UPDATE`` on
PostgreSQL; SQLite transactions are ``BEGIN IMMEDIATE``), so concurrent processes
always extend one chain. The head row carries its own MAC so that cutting entries
off the end of the log is detected too.
"""

from __future__ import annotations

import datetime as dt
import hmac
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from helgenom.adapters.catalog import Catalog
from helgenom.adapters.catalog.schema import audit_head, audit_log, audit_subjects
from helgenom.adapters.keys import SecretBytes
from helgenom.core.audit import (
    GENESIS_HASH,
    AuditEntry,
    ChainRecord,
    ChainVerification,
    chain_hash,
    head_mac,
    verify_chain,
)
from helgenom.core.errors import IntegrityError

BROKEN_LINK = "tampered-audit-head".ljust(64, "!")
"""Stored as ``previous_hash`` of an entry appended after a head that fails its MAC.

Not hex, so it never equals a real hash: the break stays visible at that entry instead
of being re-signed away by the next append.
"""


def utc_timestamp(moment: dt.datetime | None = None) -> str:
    """ISO 8601 UTC with microseconds and ``Z``, as stored in the chain."""
    moment = (moment or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True, slots=True)
class AuditDraft:
    """An entry before it gets its place in the chain."""

    actor: str
    role: str
    org: str
    purpose: str
    action: str
    resource: str
    subjects: tuple[str, ...]
    decision: str
    reason: str
    project: str | None = None


class SqlAuditLog:
    """The audit chain stored in the catalog's ``audit_log`` table."""

    def __init__(self, catalog: Catalog, key: SecretBytes) -> None:
        self.catalog = catalog
        self._key = key

    def __repr__(self) -> str:
        return f"SqlAuditLog({self.catalog!r})"

    def initialise(self, conn: Connection) -> None:
        """Create the head row of an empty chain (once, at ``helgenom init``)."""
        exists = conn.execute(sa.select(audit_head.c.id).where(audit_head.c.id == 1)).first()
        if exists is None:
            conn.execute(
                audit_head.insert().values(
                    id=1,
                    seq=0,
                    hash=GENESIS_HASH,
                    mac=head_mac(self._key.reveal(), 0, GENESIS_HASH),
                )
            )

    def append(self, conn: Connection, drafts: Sequence[AuditDraft]) -> list[int]:
        """Append entries inside the caller's transaction; returns their sequence numbers."""
        key = self._key.reveal()
        head = conn.execute(
            sa.select(audit_head.c.seq, audit_head.c.hash, audit_head.c.mac)
            .where(audit_head.c.id == 1)
            .with_for_update()
        ).first()
        if head is None:
            raise IntegrityError(
                "audit chain head is missing: the catalog was not initialised by helgenom init, "
                "or the head row was deleted (tampering); no further access is possible until "
                "the catalog is restored from backup and an auditor has investigated"
            )
        seq, previous = int(head.seq), str(head.hash)
        # Tampering must neither be hidden by the next append nor block it: never extend
        # (and so re-sign) a head that fails its MAC, never reuse a stored seq number.
        stored = [audit_log.c.seq]
        if not hmac.compare_digest(head_mac(key, seq, previous).encode(), str(head.mac).encode()):
            previous = BROKEN_LINK
            stored.append(audit_subjects.c.seq)  # rows of entries cut off with the head
        for column in stored:
            seq = max(seq, int(conn.execute(sa.select(sa.func.max(column))).scalar() or 0))
        rows: list[dict[str, object]] = []
        subject_rows: list[dict[str, object]] = []
        numbers: list[int] = []
        for draft in drafts:
            seq += 1
            entry = AuditEntry(
                seq=seq,
                occurred_at=utc_timestamp(),
                actor=draft.actor,
                role=draft.role,
                org=draft.org,
                purpose=draft.purpose,
                action=draft.action,
                resource=draft.resource,
                subjects=tuple(sorted(set(draft.subjects))),
                decision=draft.decision,
                reason=draft.reason,
                project=draft.project,
            )
            digest = chain_hash(key, entry, previous)
            rows.append(
                {
                    "seq": seq,
                    "occurred_at": entry.occurred_at,
                    "actor": entry.actor,
                    "role": entry.role,
                    "org": entry.org,
                    "purpose": entry.purpose,
                    "action": entry.action,
                    "resource": entry.resource,
                    "subjects": json.dumps(list(entry.subjects)),
                    "decision": entry.decision,
                    "reason": entry.reason,
                    "project": entry.project,
                    "previous_hash": previous,
                    "hash": digest,
                }
            )
            subject_rows.extend({"person_pseudonym": s, "seq": seq} for s in entry.subjects)
            numbers.append(seq)
            previous = digest
        if not rows:
            return []
        conn.execute(audit_log.insert(), rows)
        if subject_rows:
            conn.execute(audit_subjects.insert(), subject_rows)
        conn.execute(
            audit_head.update()
            .where(audit_head.c.id == 1)
            .values(seq=seq, hash=previous, mac=head_mac(key, seq, previous))
        )
        return numbers

    @staticmethod
    def _record(row: sa.Row[tuple[object, ...]]) -> ChainRecord:
        m = row._mapping
        try:
            subjects = tuple(json.loads(str(m["subjects"])))
        except (json.JSONDecodeError, TypeError):  # TypeError: valid JSON, not a list
            subjects = ("<unparseable>",)
        entry = AuditEntry(
            seq=int(str(m["seq"])),
            occurred_at=str(m["occurred_at"]),
            actor=str(m["actor"]),
            role=str(m["role"]),
            org=str(m["org"]),
            purpose=str(m["purpose"]),
            action=str(m["action"]),
            resource=str(m["resource"]),
            subjects=subjects,
            decision=str(m["decision"]),
            reason=str(m["reason"]),
            project=None if m["project"] is None else str(m["project"]),
        )
        return ChainRecord(entry, str(m["previous_hash"]), str(m["hash"]))

    def iter_records(self, conn: Connection, *, batch: int = 5000) -> Iterator[ChainRecord]:
        """All records in sequence order, read in batches (constant memory)."""
        last = 0
        while True:
            rows = conn.execute(
                sa.select(audit_log)
                .where(audit_log.c.seq > last)
                .order_by(audit_log.c.seq)
                .limit(batch)
            ).all()
            if not rows:
                return
            for row in rows:
                yield self._record(row)
            last = int(rows[-1].seq)

    def verify(self, conn: Connection | None = None) -> ChainVerification:
        """Verify the whole chain and its signed head (in ``conn``, or a new transaction)."""
        if conn is None:
            with self.catalog.begin() as new_conn:
                return self.verify(new_conn)
        head_row = conn.execute(
            sa.select(audit_head.c.seq, audit_head.c.hash, audit_head.c.mac).where(
                audit_head.c.id == 1
            )
        ).first()
        head = (
            None if head_row is None else (int(head_row.seq), str(head_row.hash), str(head_row.mac))
        )
        result = verify_chain(self._key.reveal(), self.iter_records(conn), head=head)
        if result.ok and head is None:
            return ChainVerification(
                False,
                result.count,
                result.count + 1,
                "chain head record is missing",
                result.head_hash,
            )
        if result.ok:
            bad = self._check_subject_index(conn)
            if bad is not None:
                return ChainVerification(
                    False,
                    bad - 1,
                    bad,
                    "the person index (who used my data) does not match the entry",
                    result.head_hash,
                )
        return result

    def _iter_index(self, conn: Connection, *, batch: int = 20000) -> Iterator[tuple[int, str]]:
        last: tuple[int, str] = (0, "")
        while True:
            rows = conn.execute(
                sa.select(audit_subjects.c.seq, audit_subjects.c.person_pseudonym)
                .where(
                    sa.or_(
                        audit_subjects.c.seq > last[0],
                        sa.and_(
                            audit_subjects.c.seq == last[0],
                            audit_subjects.c.person_pseudonym > last[1],
                        ),
                    )
                )
                .order_by(audit_subjects.c.seq, audit_subjects.c.person_pseudonym)
                .limit(batch)
            ).all()
            if not rows:
                return
            for row in rows:
                yield int(row.seq), str(row.person_pseudonym)
            last = (int(rows[-1].seq), str(rows[-1].person_pseudonym))

    def _check_subject_index(self, conn: Connection) -> int | None:
        """The first seq whose index rows differ from its (verified) subjects, if any."""
        index = self._iter_index(conn)
        pending = next(index, None)
        for record in self.iter_records(conn):
            seq = record.entry.seq
            if pending is not None and pending[0] < seq:
                return pending[0]  # an index row for an entry that does not name it
            found: list[str] = []
            while pending is not None and pending[0] == seq:
                found.append(pending[1])
                pending = next(index, None)
            if found != sorted(set(record.entry.subjects)):
                return seq
        return None if pending is None else pending[0]

    def entries_for_person(self, conn: Connection, pseudonym: str) -> list[AuditEntry]:
        """Entries that name ``pseudonym`` as a subject, oldest first."""
        rows = conn.execute(
            sa.select(audit_log)
            .join(audit_subjects, audit_subjects.c.seq == audit_log.c.seq)
            .where(audit_subjects.c.person_pseudonym == pseudonym)
            .order_by(audit_log.c.seq)
        ).all()
        return [self._record(row).entry for row in rows]

    def entries(
        self, conn: Connection, *, since_seq: int = 0, limit: int = 100
    ) -> list[AuditEntry]:
        """The newest ``limit`` entries after ``since_seq``, oldest first."""
        rows = conn.execute(
            sa.select(audit_log)
            .where(audit_log.c.seq > since_seq)
            .order_by(audit_log.c.seq.desc())
            .limit(limit)
        ).all()
        return [self._record(row).entry for row in reversed(rows)]
