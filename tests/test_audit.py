"""Tests of the tamper-evident audit log.

* the pure chain (:mod:`helgenom.core.audit`): a chain verifies, and every single
  mutation (modify, delete, swap, insert a forgery, truncate) is found at the right
  sequence number (hypothesis);
* every gated call appends one entry with who, what, why and the decision;
* tampering with the catalog directly, on SQLite and PostgreSQL, past the append-only
  triggers: found at the right entry, and still found after further appends;
* ``helgenom audit verify``: exit 0 and "intact", exit 7 naming the first bad entry;
* no CPR number and no key material in any audit row;
* concurrent writers (processes) leave one valid chain.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime as dt
import json
import multiprocessing
import os
import re
import secrets
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Connection
from typer.testing import CliRunner

from conftest import World, make_cpr
from helgenom.adapters.catalog.schema import (
    audit_head,
    audit_log,
    audit_subjects,
    consent_events,
)
from helgenom.cli.main import app
from helgenom.core.audit import (
    GENESIS_HASH,
    AuditEntry,
    ChainRecord,
    ChainVerification,
    chain_hash,
    head_mac,
    verify_chain,
)
from helgenom.core.errors import IntegrityError, NotFoundError, PermissionDeniedError
from helgenom.core.models import Role, SampleOrigin
from helgenom.core.pseudonyms import is_person_pseudonym
from helgenom.services.instance import init_instance
from helgenom.services.platform import Platform, open_platform

FAST = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
UTC_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
ENTRY_FIELDS = tuple(f.name for f in dataclasses.fields(AuditEntry))
CHAIN_COLUMNS = ("previous_hash", "hash")


# ----------------------------------------------------------------------------- pure chain


def build_chain(
    key: bytes, entries: list[AuditEntry]
) -> tuple[list[ChainRecord], tuple[int, str, str]]:
    """Chain ``entries`` as the adapter does; returns the records and the signed head."""
    records: list[ChainRecord] = []
    previous = GENESIS_HASH
    for entry in entries:
        digest = chain_hash(key, entry, previous)
        records.append(ChainRecord(entry, previous, digest))
        previous = digest
    return records, (len(records), previous, head_mac(key, len(records), previous))


def plain_entry(seq: int, **fields: Any) -> AuditEntry:
    """A typical entry at ``seq``; ``fields`` override."""
    values: dict[str, Any] = {
        "seq": seq,
        "occurred_at": f"2026-01-01T00:00:00.{seq:06d}Z",
        "actor": "clin-a",
        "role": "clinician",
        "org": "DEP-A",
        "purpose": "clinical_care",
        "action": "person.read",
        "resource": f"person/hp-{seq}",
        "subjects": (f"hp-{seq}",),
        "decision": "allow",
        "reason": "requisition from department DEP-A",
        "project": None,
    }
    values.update(fields)
    return AuditEntry(**values)


def assert_broken_at(result: ChainVerification, seq: int) -> None:
    """The chain is reported broken at ``seq``, with every entry before it verified."""
    assert not result.ok, result
    assert result.first_bad_seq == seq, result
    assert result.count == seq - 1, result
    assert result.problem


KEY = bytes(range(32))
RandomChain = tuple[bytes, list[ChainRecord], tuple[int, str, str]]
"""A key, a valid chain under it, and its signed head."""
texts = st.text(max_size=12)
hashes = st.binary(min_size=32, max_size=32).map(bytes.hex)
keys = st.binary(min_size=32, max_size=32)


@st.composite
def entries_at(draw: st.DrawFn, seq: int) -> AuditEntry:
    return AuditEntry(
        seq=seq,
        occurred_at=draw(texts),
        actor=draw(texts),
        role=draw(st.sampled_from([r.value for r in Role])),
        org=draw(texts),
        purpose=draw(texts),
        action=draw(texts),
        resource=draw(texts),
        subjects=tuple(draw(st.lists(texts, max_size=3))),
        decision=draw(st.sampled_from(["allow", "deny", "error"])),
        reason=draw(texts),
        project=draw(st.none() | texts),
    )


@st.composite
def chains(draw: st.DrawFn, min_size: int = 1, max_size: int = 8) -> RandomChain:
    """A random key and a valid chain of 1-8 entries with its head."""
    size = draw(st.integers(min_size, max_size))
    key = draw(keys)
    records, head = build_chain(key, [draw(entries_at(seq)) for seq in range(1, size + 1)])
    return key, records, head


def test_chain_of_many_entries_verifies() -> None:
    records, head = build_chain(KEY, [plain_entry(seq) for seq in range(1, 201)])
    result = verify_chain(KEY, iter(records), head=head)
    assert result == ChainVerification(True, 200, None, "", records[-1].hash)


def test_empty_chain_with_genesis_head_verifies() -> None:
    head = (0, GENESIS_HASH, head_mac(KEY, 0, GENESIS_HASH))
    assert verify_chain(KEY, [], head=head) == ChainVerification(True, 0)


def test_chain_does_not_verify_under_another_key() -> None:
    records, head = build_chain(KEY, [plain_entry(seq) for seq in range(1, 4)])
    assert_broken_at(verify_chain(bytes(32), records, head=head), 1)


def test_every_field_and_the_format_version_are_macd() -> None:
    entry = plain_entry(1, project="PROJ-1")
    body = json.loads(entry.canonical())
    assert set(body) == {*ENTRY_FIELDS, "format_version"}
    assert body["format_version"] == 1
    base = chain_hash(KEY, entry, GENESIS_HASH)
    assert base != chain_hash(KEY, entry, "1" * 64)
    assert base != chain_hash(bytes(32), entry, GENESIS_HASH)
    for name in ENTRY_FIELDS:
        old = getattr(entry, name)
        new: Any = (
            old + 1 if isinstance(old, int) else ("x",) if isinstance(old, tuple) else f"{old}x"
        )
        assert chain_hash(KEY, dataclasses.replace(entry, **{name: new}), GENESIS_HASH) != base


@FAST
@given(chain=chains())
def test_random_chain_verifies(
    chain: RandomChain,
) -> None:
    key, records, head = chain
    result = verify_chain(key, records, head=head)
    assert result.ok
    assert result.count == len(records)
    assert result.head_hash == records[-1].hash


def _different(data: st.DataObject, old: Any, values: st.SearchStrategy[Any]) -> Any:
    return data.draw(values.filter(lambda new: new != old))


@FAST
@given(chain=chains(), data=st.data())
def test_modified_field_is_found(chain: RandomChain, data: st.DataObject) -> None:
    key, records, head = chain
    i = data.draw(st.integers(0, len(records) - 1), label="index")
    name = data.draw(st.sampled_from(ENTRY_FIELDS + CHAIN_COLUMNS), label="field")
    record = records[i]
    if name in CHAIN_COLUMNS:
        # Any text, not only hex: a tampered row may hold anything.
        new = _different(data, getattr(record, name), hashes | st.text(max_size=70))
        records[i] = dataclasses.replace(record, **{name: new})
    else:
        old = getattr(record.entry, name)
        strategy: st.SearchStrategy[Any] = {
            "seq": st.integers(-3, 20),
            "subjects": st.lists(texts, max_size=3).map(tuple),
            "project": st.none() | texts,
        }.get(name, texts)
        new = _different(data, old, strategy)
        records[i] = dataclasses.replace(
            record, entry=dataclasses.replace(record.entry, **{name: new})
        )
    assert_broken_at(verify_chain(key, records, head=head), i + 1)


@FAST
@given(chain=chains(), data=st.data())
def test_deleted_entry_is_found(chain: RandomChain, data: st.DataObject) -> None:
    key, records, head = chain
    i = data.draw(st.integers(0, len(records) - 1), label="index")
    del records[i]
    assert_broken_at(verify_chain(key, records, head=head), i + 1)


@FAST
@given(chain=chains(min_size=2), data=st.data())
def test_swapped_neighbours_are_found(chain: RandomChain, data: st.DataObject) -> None:
    key, records, head = chain
    i = data.draw(st.integers(0, len(records) - 2), label="index")
    renumber = data.draw(st.booleans(), label="renumber")
    first, second = records[i], records[i + 1]
    if renumber:  # keep seq in order, swap everything else
        first, second = (
            dataclasses.replace(first, entry=dataclasses.replace(first.entry, seq=i + 2)),
            dataclasses.replace(second, entry=dataclasses.replace(second.entry, seq=i + 1)),
        )
    records[i], records[i + 1] = second, first
    assert_broken_at(verify_chain(key, records, head=head), i + 1)


@FAST
@given(chain=chains(), data=st.data())
def test_inserted_forgery_is_found(chain: RandomChain, data: st.DataObject) -> None:
    key, records, head = chain
    i = data.draw(st.integers(0, len(records)), label="position")
    forged = data.draw(entries_at(i + 1), label="forged")
    wrong_key = data.draw(keys.filter(lambda k: k != key), label="wrong key")
    previous = records[i - 1].hash if i else GENESIS_HASH
    renumber = data.draw(st.booleans(), label="renumber later entries")
    later = records[i:]
    if renumber:
        later = [
            dataclasses.replace(r, entry=dataclasses.replace(r.entry, seq=r.entry.seq + 1))
            for r in later
        ]
    tampered = [
        *records[:i],
        ChainRecord(forged, previous, chain_hash(wrong_key, forged, previous)),
        *later,
    ]
    assert_broken_at(verify_chain(key, tampered, head=head), i + 1)


@FAST
@given(chain=chains(), data=st.data())
def test_truncated_tail_is_found(chain: RandomChain, data: st.DataObject) -> None:
    key, records, head = chain
    kept = data.draw(st.integers(0, len(records) - 1), label="entries kept")
    assert_broken_at(verify_chain(key, records[:kept], head=head), kept + 1)


@FAST
@given(chain=chains(), data=st.data())
def test_truncated_tail_with_rewritten_head_is_found(
    chain: RandomChain, data: st.DataObject
) -> None:
    """Without the key the head cannot be re-signed for the shorter chain."""
    key, records, head = chain
    kept = data.draw(st.integers(0, len(records) - 1), label="entries kept")
    new_hash = records[kept - 1].hash if kept else GENESIS_HASH
    wrong_key = data.draw(keys.filter(lambda k: k != key), label="wrong key")
    forged_mac = data.draw(st.sampled_from([head[2], head_mac(wrong_key, kept, new_hash)]))
    result = verify_chain(key, records[:kept], head=(kept, new_hash, forged_mac))
    assert_broken_at(result, kept + 1)


@FAST
@given(chain=chains(), data=st.data())
def test_modified_head_is_found(chain: RandomChain, data: st.DataObject) -> None:
    key, records, head = chain
    part = data.draw(st.integers(0, 2), label="head part")
    values: list[Any] = list(head)
    values[part] = _different(
        data, head[part], st.integers(0, 20) if part == 0 else hashes | st.text(max_size=70)
    )
    assert_broken_at(
        verify_chain(key, records, head=(values[0], values[1], values[2])), len(records) + 1
    )


# ----------------------------------------------------------------------------- catalog helpers


def audit_rows(conn: Connection) -> dict[int, dict[str, Any]]:
    """Every audit_log row by seq."""
    return {
        int(r.seq): dict(r._mapping)
        for r in conn.execute(sa.select(audit_log).order_by(audit_log.c.seq))
    }


def last_seq(p: Platform) -> int:
    with p.catalog.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.max(audit_log.c.seq))).scalar() or 0)


def bypass_append_only(conn: Connection) -> None:
    """What an attacker with database access does first."""
    for table in ("audit_log", "audit_subjects"):
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {table}_no_update")
            conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {table}_no_delete")
        else:
            conn.exec_driver_sql(f"ALTER TABLE {table} DISABLE TRIGGER USER")


def pseudonym(p: Platform, cpr: str) -> str:
    return p.persons.register(p.context("clin-a"), cpr).pseudonym


def run_activity(world: World) -> None:
    """Allowed, denied and failing calls by several roles, on top of the world's own."""
    p = world.platform
    person_a = pseudonym(p, world.patient_a)
    p.persons.show(p.context("clin-a"), world.patient_a)
    assert p.persons.reidentify(p.context("clin-a"), person_a) == world.patient_a
    p.consent.show(p.context("citizen"), world.citizen_cpr)
    p.audit.person_log(p.context("citizen"), world.citizen_cpr)
    p.research.cohort(p.context("researcher", project=world.project))
    denied: list[Callable[[], object]] = [
        lambda: p.consent.show(p.context("clin-b"), world.patient_a),
        lambda: p.persons.show(p.context("citizen2"), world.citizen_cpr),
        lambda: p.persons.reidentify(p.context("operator"), person_a),
        lambda: p.research.cohort(p.context("outsider", project=world.project)),
        lambda: p.audit.log(p.context("clin-a")),
    ]
    for call in denied:
        with pytest.raises(PermissionDeniedError):
            call()
    with pytest.raises(NotFoundError):  # allowed, then fails: an ``error`` entry
        p.samples.register(
            p.context("clin-a"), world.patient_a, origin=SampleOrigin.CLINICAL, requisition="REQ-0"
        )


def verify(p: Platform) -> ChainVerification:
    return p.audit.verify(p.context("auditor"))


# ----------------------------------------------------------------------------- entries


def test_allowed_denied_and_failed_calls_each_append_one_entry(world: World) -> None:
    p = world.platform
    person_a = pseudonym(p, world.patient_a)
    before = last_seq(p)
    started = dt.datetime.now(dt.UTC)
    p.persons.show(p.context("clin-a"), world.patient_a)
    with pytest.raises(PermissionDeniedError):
        p.persons.show(p.context("clin-b"), world.patient_a)
    with pytest.raises(NotFoundError):
        p.samples.register(
            p.context("clin-a"), world.patient_a, origin=SampleOrigin.CLINICAL, requisition="REQ-0"
        )
    with p.catalog.begin() as conn:
        entries = p.gate.audit_log.entries(conn, since_seq=before)
    assert [e.seq for e in entries] == [before + 1, before + 2, before + 3]
    allowed, denied, failed = entries
    assert (allowed.actor, allowed.role, allowed.org, allowed.purpose) == (
        "clin-a",
        "clinician",
        "DEP-A",
        "clinical_care",
    )
    assert (allowed.action, allowed.resource, allowed.subjects) == (
        "person.read",
        f"person/{person_a}",
        (person_a,),
    )
    assert (allowed.decision, allowed.reason) == ("allow", "requisition from department DEP-A")
    assert (denied.actor, denied.org, denied.action, denied.subjects, denied.decision) == (
        "clin-b",
        "DEP-B",
        "person.read",
        (person_a,),
        "deny",
    )
    assert "DEP-B" in denied.reason
    assert (failed.action, failed.decision) == ("sample.register", "error")
    assert failed.reason.endswith("failed with not_found")
    for entry in entries:
        assert UTC_TIME.match(entry.occurred_at), entry.occurred_at
        moment = dt.datetime.strptime(entry.occurred_at, "%Y-%m-%dT%H:%M:%S.%fZ")
        assert started - dt.timedelta(seconds=1) <= moment.replace(tzinfo=dt.UTC)
        assert moment.replace(tzinfo=dt.UTC) <= dt.datetime.now(dt.UTC)
    with p.catalog.begin() as conn:
        indexed = p.gate.audit_log.entries_for_person(conn, person_a)
    assert {before + 1, before + 2} <= {e.seq for e in indexed}
    assert verify(p).ok


def test_verification_is_itself_audited(world: World) -> None:
    p = world.platform
    result = verify(p)
    assert result.ok
    assert result.count == last_seq(p) - 1
    with p.catalog.begin() as conn:
        (entry,) = p.gate.audit_log.entries(conn, since_seq=result.count)
    assert (entry.actor, entry.action, entry.decision) == ("auditor", "audit.verify", "allow")
    assert f"chain intact, {result.count} entries" in entry.reason
    with pytest.raises(PermissionDeniedError):
        p.audit.verify(p.context("clin-a"))
    assert verify(p).ok


# ----------------------------------------------------------------------------- tampering


@dataclass
class Chain:
    """The stored chain just before tampering."""

    rows: dict[int, dict[str, Any]]
    """Every row by seq."""

    @property
    def n(self) -> int:
        return max(self.rows)

    @property
    def mid(self) -> int:
        """An entry in the middle that differs from its successor."""
        k = self.n // 2
        while self.content(k) == self.content(k + 1):
            k += 1
        return k

    @property
    def deny(self) -> int:
        """The first ``deny`` entry after the first few."""
        return min(s for s, r in self.rows.items() if r["decision"] == "deny" and s > 3)

    @property
    def with_subjects(self) -> int:
        """An entry in the second half that names a person."""
        return min(s for s, r in self.rows.items() if r["subjects"] != "[]" and s > self.n // 2)

    def content(self, seq: int) -> dict[str, Any]:
        return {k: v for k, v in self.rows[seq].items() if k not in ("seq", *CHAIN_COLUMNS)}


def _set(conn: Connection, seq: int, **values: Any) -> None:
    conn.execute(audit_log.update().where(audit_log.c.seq == seq).values(**values))


def _shift_from(conn: Connection, seq: int) -> None:
    """Renumber entries ``seq``.. one up (in two steps: no transient key clash)."""
    conn.execute(
        audit_log.update().where(audit_log.c.seq >= seq).values(seq=audit_log.c.seq + 1_000_000)
    )
    conn.execute(
        audit_log.update().where(audit_log.c.seq >= 1_000_000).values(seq=audit_log.c.seq - 999_999)
    )


def _forged(seq: int, previous_hash: str) -> dict[str, Any]:
    """A plausible entry MAC'd with a key the attacker made up."""
    entry = AuditEntry(
        seq=seq,
        occurred_at="2026-01-01T00:00:00.000000Z",
        actor="mallory",
        role="auditor",
        org="platform",
        purpose="audit",
        action="audit.read",
        resource="audit",
        subjects=(),
        decision="allow",
        reason="role auditor may audit.read",
    )
    row = dataclasses.asdict(entry)
    row["subjects"] = "[]"
    return {
        **row,
        "previous_hash": previous_hash,
        "hash": chain_hash(secrets.token_bytes(32), entry, previous_hash),
    }


def modify_decision(conn: Connection, c: Chain) -> int:
    _set(conn, c.deny, decision="allow")
    return c.deny


def modify_actor(conn: Connection, c: Chain) -> int:
    _set(conn, c.mid, actor="someone-else")
    return c.mid


def hide_subject(conn: Connection, c: Chain) -> int:
    _set(conn, c.with_subjects, subjects="[]")
    return c.with_subjects


def drop_index_row(conn: Connection, c: Chain) -> int:
    """Hide an access from the person's "who used my data" view (index only)."""
    seq = c.with_subjects
    conn.execute(audit_subjects.delete().where(audit_subjects.c.seq == seq))
    return seq


def add_index_row(conn: Connection, c: Chain) -> int:
    """Make an access appear in another person's view (index only)."""
    seq = c.mid
    conn.execute(audit_subjects.insert().values(person_pseudonym="hp-" + "a" * 26, seq=seq))
    return seq


def subjects_not_a_list(conn: Connection, c: Chain) -> int:
    _set(conn, c.mid, subjects="0")
    return c.mid


def non_ascii_hash(conn: Connection, c: Chain) -> int:
    _set(conn, c.mid, hash="é" * 64)
    return c.mid


def modify_last_hash(conn: Connection, c: Chain) -> int:
    _set(conn, c.n, hash="f" * 64)
    return c.n


def delete_middle(conn: Connection, c: Chain) -> int:
    conn.execute(audit_log.delete().where(audit_log.c.seq == c.mid))
    return c.mid


def delete_tail(conn: Connection, c: Chain) -> int:
    conn.execute(audit_log.delete().where(audit_log.c.seq > c.n - 3))
    return c.n - 2


def delete_all(conn: Connection, c: Chain) -> int:
    conn.execute(audit_log.delete())
    return 1


def insert_renumbered(conn: Connection, c: Chain) -> int:
    _shift_from(conn, c.mid)
    conn.execute(audit_log.insert().values(**_forged(c.mid, c.rows[c.mid - 1]["hash"])))
    return c.mid


def insert_into_gap(conn: Connection, c: Chain) -> int:
    conn.execute(audit_log.delete().where(audit_log.c.seq == c.mid))
    conn.execute(audit_log.insert().values(**_forged(c.mid, c.rows[c.mid - 1]["hash"])))
    return c.mid


def replay_entry(conn: Connection, c: Chain) -> int:
    """A genuine entry copied to the next position: its MAC is valid, its link is not."""
    _shift_from(conn, c.mid + 1)
    conn.execute(audit_log.insert().values(**{**c.rows[c.mid], "seq": c.mid + 1}))
    return c.mid + 1


def append_forged(conn: Connection, c: Chain) -> int:
    conn.execute(audit_log.insert().values(**_forged(c.n + 1, c.rows[c.n]["hash"])))
    return c.n + 1


def swap_rows(conn: Connection, c: Chain) -> int:
    """Reorder: rows k and k+1 trade everything but their seq."""
    k = c.mid
    first, second = c.rows[k], c.rows[k + 1]
    _set(conn, k, **{n: v for n, v in second.items() if n != "seq"})
    _set(conn, k + 1, **{n: v for n, v in first.items() if n != "seq"})
    return k


def swap_contents(conn: Connection, c: Chain) -> int:
    """Reorder the entries but keep the stored hashes in place."""
    k = c.mid
    _set(conn, k, **c.content(k + 1))
    _set(conn, k + 1, **c.content(k))
    return k


def modify_head_hash(conn: Connection, c: Chain) -> int:
    conn.execute(audit_head.update().values(hash=c.rows[c.n - 1]["hash"]))
    return c.n + 1


def rewind_head_seq(conn: Connection, c: Chain) -> int:
    conn.execute(audit_head.update().values(seq=c.n - 1))
    return c.n + 1


def truncate_and_rewrite_head(conn: Connection, c: Chain) -> int:
    """Cut off the last entries and make the head point at the new end (no key needed)."""
    kept = c.n - 3
    conn.execute(audit_log.delete().where(audit_log.c.seq > kept))
    conn.execute(audit_head.update().values(seq=kept, hash=c.rows[kept]["hash"]))
    return kept + 1


TAMPERINGS: list[Callable[[Connection, Chain], int]] = [
    modify_decision,
    modify_actor,
    hide_subject,
    drop_index_row,
    add_index_row,
    subjects_not_a_list,
    non_ascii_hash,
    modify_last_hash,
    delete_middle,
    delete_tail,
    delete_all,
    insert_renumbered,
    insert_into_gap,
    replay_entry,
    append_forged,
    swap_rows,
    swap_contents,
    modify_head_hash,
    rewind_head_seq,
    truncate_and_rewrite_head,
]


def tamper(p: Platform, how: Callable[[Connection, Chain], int]) -> int:
    """Bypass the triggers and tamper as ``how`` does; returns the expected first bad seq."""
    with p.catalog.engine.begin() as conn:
        chain = Chain(audit_rows(conn))
        bypass_append_only(conn)
        return how(conn, chain)


@pytest.mark.parametrize("how", TAMPERINGS, ids=lambda f: f.__name__)
def test_tampering_is_found_at_the_first_bad_entry(
    world: World, how: Callable[[Connection, Chain], int]
) -> None:
    p = world.platform
    run_activity(world)
    intact = verify(p)
    assert intact.ok, intact
    assert intact.count == last_seq(p) - 1  # all but the verification's own entry
    assert intact.count > 30
    expected = tamper(p, how)
    assert_broken_at(verify(p), expected)
    # Later appends (the verification above, any gated call) never hide the break.
    with pytest.raises(PermissionDeniedError):
        p.consent.show(p.context("clin-b"), world.patient_a)
    p.persons.show(p.context("clin-a"), world.patient_a)
    assert_broken_at(verify(p), expected)
    assert_broken_at(p.gate.audit_log.verify(), expected)


def test_deleted_head_record_is_found(world: World) -> None:
    p = world.platform
    n = last_seq(p)
    with p.catalog.engine.begin() as conn:
        conn.execute(audit_head.delete())
    result = p.gate.audit_log.verify()
    assert_broken_at(result, n + 1)
    assert "head" in result.problem
    # Nothing can be appended without a head, not even the verification's own entry.
    with pytest.raises(IntegrityError, match="head is missing"):
        verify(p)
    with pytest.raises(IntegrityError, match="head is missing"):
        p.persons.show(p.context("clin-a"), world.patient_a)


def test_append_only_triggers_refuse_update_and_delete(world: World) -> None:
    p = world.platform
    before = verify(p)
    assert before.ok

    def execute(statement: str) -> None:
        with p.catalog.engine.begin() as conn:
            conn.exec_driver_sql(statement)

    with p.catalog.engine.connect() as conn:
        consents = conn.execute(sa.select(consent_events)).all()
    assert len(consents) == 1
    for table in ("audit_log", "consent_events"):
        for statement in (
            f"UPDATE {table} SET actor = 'mallory'",
            f"DELETE FROM {table}",
            f"DELETE FROM {table} WHERE actor = 'clin-a'",
        ):
            with pytest.raises(sa.exc.DBAPIError, match="append-only"):
                execute(statement)
    for statement in (
        "UPDATE audit_subjects SET person_pseudonym = 'hp-x'",
        "DELETE FROM audit_subjects",
    ):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"):
            execute(statement)
    if p.catalog.backend == "postgresql":
        for table in ("audit_log", "audit_subjects", "consent_events"):
            with pytest.raises(sa.exc.DBAPIError, match="append-only"):
                execute(f"TRUNCATE {table} CASCADE")
    execute(
        "INSERT INTO consent_events (person_pseudonym, recorded_at, source, actor) "
        "SELECT person_pseudonym, recorded_at, source, 'x' FROM consent_events"
    )
    with p.catalog.engine.connect() as conn:
        assert conn.execute(sa.select(consent_events)).all()[0] == consents[0]
    after = p.gate.audit_log.verify()
    assert after.ok
    assert after.count == before.count + 1  # the verification's own entry


# ----------------------------------------------------------------------------- CLI


def cli(home: Path, *args: str) -> Any:
    env = {"COLUMNS": "200", "HELGENOM_USER": None, "HELGENOM_HOME": None}
    return CliRunner().invoke(app, ["--home", str(home), *args], env=env)


@pytest.mark.parametrize(
    "how", [modify_actor, insert_renumbered, truncate_and_rewrite_head], ids=lambda f: f.__name__
)
def test_cli_audit_verify(
    world: World, instance_home: Path, how: Callable[[Connection, Chain], int]
) -> None:
    ok = cli(instance_home, "--as", "auditor", "audit", "verify")
    assert ok.exit_code == 0, ok.output
    assert "intact" in ok.stdout
    assert f"{last_seq(world.platform) - 1} entries" in ok.stdout
    denied = cli(instance_home, "--as", "clin-a", "audit", "verify")
    assert denied.exit_code == 6, denied.output
    expected = tamper(world.platform, how)
    for _ in range(2):  # the first run's own audit entry must not hide the break
        broken = cli(instance_home, "--as", "auditor", "audit", "verify")
        assert broken.exit_code == 7, broken.output
        assert "intact" not in broken.output
        message = " ".join(broken.stderr.split())  # undo Rich's line wrapping
        assert f"audit chain BROKEN at sequence {expected}:" in message
        assert f"({expected - 1} entries verified before it)" in message


VERIFY_AS_AUDITOR = ("--as", "auditor", "audit", "verify")


def test_cli_audit_verify_as_a_process(world: World, instance_home: Path) -> None:
    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "helgenom", "--home", str(instance_home), *VERIFY_AS_AUDITOR],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env={**os.environ, "COLUMNS": "200"},
        )

    ok = run()
    assert (ok.returncode, ok.stderr) == (0, "")
    assert "audit chain intact" in ok.stdout
    expected = tamper(world.platform, delete_middle)
    broken = run()
    assert broken.returncode == 7
    assert f"BROKEN at sequence {expected}:" in " ".join(broken.stderr.split())
    assert "Traceback" not in broken.stderr


# ----------------------------------------------------------------------------- no CPR, no keys


def key_material(keys_path: Path) -> set[str]:
    """Every key file's content as text, hex and base64, whole and per line."""
    needles: set[str] = set()
    for path in sorted(keys_path.iterdir()):
        content = path.read_bytes()
        needles |= {content.hex(), base64.b64encode(content).decode()}
        for line in content.decode("ascii").splitlines():
            line = line.strip()
            if len(line) < 16 or line.startswith(("-----", "HELGENOM-KEY")):
                continue
            needles.add(line)
            try:
                raw = base64.b64decode(line, validate=True)
            except binascii.Error:
                continue
            needles |= {
                raw.hex(),
                base64.b64encode(raw).decode(),
                base64.urlsafe_b64encode(raw).decode().rstrip("="),
            }
    return needles


def test_audit_rows_hold_no_cpr_and_no_key_material(world: World, instance_home: Path) -> None:
    p = world.platform
    run_activity(world)
    assert verify(p).ok
    cprs = {world.patient_a, world.patient_b, world.citizen_cpr, world.opted_out, make_cpr(5)}
    cpr_forms = cprs | {c.replace("-", "") for c in cprs}
    secrets_ = key_material(instance_home / "keys")
    assert len(secrets_) > 20
    with p.catalog.engine.connect() as conn:
        tables = {
            t.name: [dict(r._mapping) for r in conn.execute(sa.select(t))]
            for t in (audit_log, audit_subjects, audit_head)
        }
    assert len(tables["audit_log"]) > 30
    assert tables["audit_subjects"]
    for name, rows in tables.items():
        for row in rows:
            for column, value in row.items():
                text = str(value)
                for form in cpr_forms:
                    assert form not in text, (name, column)
                for needle in secrets_:
                    assert needle not in text, (name, column)
                    assert needle.upper() not in text, (name, column)
                if column not in ("hash", "previous_hash", "mac"):  # hex may hold digit runs
                    assert not re.search(r"(?<!\d)\d{6}-?\d{4}(?!\d)", text), (name, column)
    for row in tables["audit_subjects"]:
        assert is_person_pseudonym(row["person_pseudonym"])
    for row in tables["audit_log"]:
        assert all(is_person_pseudonym(s) for s in json.loads(row["subjects"]))


# ----------------------------------------------------------------------------- concurrency

CONCURRENT_CALLS = 25


def _concurrent_worker(home: str, worker: int, calls: int, start: Any, results: Any) -> None:
    """One process: alternate allowed registrations and denied consent reads."""
    try:
        with open_platform(home) as p:
            clinician, other_department = p.context("clin-a"), p.context("clin-b")
            start.wait(timeout=60)
            allowed = denied = 0
            for i in range(calls):
                if i % 2 == 0:
                    p.persons.register(clinician, make_cpr(1000 + worker * calls + i))
                    allowed += 1
                else:
                    try:
                        p.consent.show(other_department, make_cpr(1))
                    except PermissionDeniedError:
                        denied += 1
            results.put((worker, allowed, denied, ""))
    except BaseException as exc:
        results.put((worker, 0, 0, repr(exc)))
        raise


@pytest.mark.parametrize(
    ("database", "workers"),
    [("sqlite", 4), pytest.param("postgresql", 8, marks=pytest.mark.postgres)],
)
def test_concurrent_writers_leave_one_chain(
    tmp_path: Path, request: pytest.FixtureRequest, database: str, workers: int
) -> None:
    url = None if database == "sqlite" else str(request.getfixturevalue("postgres_database_url"))
    home = tmp_path / "instance"
    init_instance(home, database_url=url)
    with open_platform(str(home)) as p:
        admin = p.context()
        p.directory.add_org(admin, "DEP-A", "Department A")
        p.directory.add_org(admin, "DEP-B", "Department B")
        p.directory.add_user(admin, "clin-a", Role.CLINICIAN, "DEP-A")
        p.directory.add_user(admin, "clin-b", Role.CLINICIAN, "DEP-B")
        p.directory.add_user(admin, "auditor", Role.AUDITOR, "platform")
        p.requisitions.create(p.context("clin-a"), make_cpr(1), indication="R59")
        before = last_seq(p)

    mp = multiprocessing.get_context("spawn")
    start, results = mp.Barrier(workers), mp.Queue()
    processes = [
        mp.Process(target=_concurrent_worker, args=(str(home), w, CONCURRENT_CALLS, start, results))
        for w in range(workers)
    ]
    for process in processes:
        process.start()
    outcomes = sorted(results.get(timeout=120) for _ in processes)
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0
    assert [o[3] for o in outcomes] == [""] * workers, outcomes
    allowed = sum(o[1] for o in outcomes)
    denied = sum(o[2] for o in outcomes)
    assert (allowed, denied) == (workers * 13, workers * 12)

    with open_platform(str(home)) as p:
        expected = before + workers * CONCURRENT_CALLS
        result = p.gate.audit_log.verify()
        assert result.ok, result
        assert result.count == expected
        with p.catalog.engine.connect() as conn:
            rows = list(audit_rows(conn).values())
            head = conn.execute(sa.select(audit_head)).one()
        assert [r["seq"] for r in rows] == list(range(1, expected + 1))
        assert len({r["previous_hash"] for r in rows}) == expected
        assert (int(head.seq), head.hash) == (expected, rows[-1]["hash"])
        new = rows[before:]
        assert sum(r["actor"] == "clin-a" and r["decision"] == "allow" for r in new) == allowed
        assert sum(r["actor"] == "clin-b" and r["decision"] == "deny" for r in new) == denied
        assert p.audit.verify(p.context("auditor")).ok
