"""Sample tracking: the transition table, who may move which sample, history, reads.

1. The pure transition table, against an expectation written out here, and its
   properties (hypothesis).
2. Every transition (from x to, 81 pairs) x every actor, on SQLite and PostgreSQL:
   allowed moves succeed, others are refused (PermissionDenied or Conflict), each with
   exactly one audit entry.
3. History, in order; the append-only event table; the migration's backfill.
4. ``reads add``: tiny generated gzip FASTQ pairs; every bad file refused with nothing
   stored; the CLI.
"""

from __future__ import annotations

import gzip
import io
import itertools
import json
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner, Result

from conftest import POSTGRES_ADMIN_URL, _pg_admin_engine, make_cpr, require_postgres
from helgenom.adapters.catalog import create_catalog
from helgenom.adapters.catalog.schema import audit_log, objects, sample_events, samples
from helgenom.cli import main as cli_main
from helgenom.cli.main import app
from helgenom.core.errors import (
    ConflictError,
    FormatError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
)
from helgenom.core.fastq import CHUNK_SIZE, check_pair, inspect_fastq_gz
from helgenom.core.models import Role, SampleOrigin
from helgenom.core.samples import (
    ALLOWED_TRANSITIONS,
    FINAL_STATES,
    TRANSITION_ROLES,
    SampleState,
    allowed_next,
    check_reason,
    check_transition,
    parse_state,
)
from helgenom.services.instance import init_instance
from helgenom.services.platform import Platform, open_platform

S = SampleState
STATES = [s.value for s in SampleState]

# =========================================================================== 1. the table

NEXT: dict[str, set[str]] = {
    "ordered": {"received", "cancelled"},
    "received": {"sequenced", "cancelled"},
    "sequenced": {"analysing", "cancelled"},
    "analysing": {"qc_passed", "qc_failed", "cancelled"},
    "qc_passed": {"interpreted", "cancelled"},
    "qc_failed": {"analysing", "cancelled"},  # re-analysis after a fix, or give up
    "interpreted": {"reported", "cancelled"},
    "reported": set(),
    "cancelled": set(),
}
"""The allowed moves, written out from the requirements (independent of the code's table)."""

MAIN_PATH = ["ordered", "received", "sequenced", "analysing", "qc_passed", "interpreted"]


def test_the_table_matches_the_requirements() -> None:
    assert {s.value: {t.value for t in ts} for s, ts in ALLOWED_TRANSITIONS.items()} == NEXT
    assert {s.value for s in FINAL_STATES} == {"reported", "cancelled"}


@given(st.sampled_from(SampleState), st.sampled_from(SampleState))
def test_check_transition_accepts_exactly_the_table(current: S, target: S) -> None:
    if target.value in NEXT[current.value]:
        check_transition(current, target)
        return
    with pytest.raises(ConflictError) as caught:
        check_transition(current, target)
    message = str(caught.value)
    assert current.value in message
    assert target.value in message
    for allowed in NEXT[current.value]:
        assert allowed in message, "the error names the allowed next states"
    if not NEXT[current.value]:
        assert "final" in message


def _reachable(start: S) -> set[S]:
    seen, todo = {start}, [start]
    while todo:
        for nxt in ALLOWED_TRANSITIONS[todo.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def test_graph_properties() -> None:
    assert _reachable(S.ORDERED) == set(SampleState), "every state is reachable"
    for state in SampleState:
        assert state not in ALLOWED_TRANSITIONS[state], "no self-loops"
        assert S.ORDERED not in ALLOWED_TRANSITIONS[state], "nothing goes back to ordered"
        if state not in FINAL_STATES:
            assert S.CANCELLED in ALLOWED_TRANSITIONS[state], "cancel before reported"
            assert _reachable(state) & FINAL_STATES, "a final state stays reachable"
    assert allowed_next(S.ANALYSING) == (S.QC_PASSED, S.QC_FAILED, S.CANCELLED)


@given(st.lists(st.sampled_from(SampleState), max_size=40))
def test_any_accepted_walk_reports_only_after_the_whole_lab_path(targets: list[S]) -> None:
    """Replaying random moves, keeping the accepted ones: a report needs the full path."""
    state, path = S.ORDERED, [S.ORDERED.value]
    for target in targets:
        try:
            check_transition(state, target)
        except ConflictError:
            continue
        state = target
        path.append(state.value)
    if "reported" in path:
        assert path[-1] == "reported"
        order = [path.index(s) for s in MAIN_PATH]
        assert order == sorted(order)
        last_qc = max(i for i, s in enumerate(path) if s in ("qc_passed", "qc_failed"))
        assert path[last_qc] == "qc_passed", "the newest QC before the report passed"
    if "cancelled" in path:
        assert path[-1] == "cancelled"
        assert "reported" not in path


def test_who_moves_a_sample_into_each_state() -> None:
    assert {s.value: {r.value for r in rs} for s, rs in TRANSITION_ROLES.items()} == {
        "received": {"operator"},
        "sequenced": {"operator"},
        "analysing": {"operator"},
        "qc_passed": {"operator"},
        "qc_failed": {"operator"},
        "interpreted": {"geneticist"},
        "reported": {"geneticist"},
        "cancelled": {"clinician", "steward"},
    }


def test_parse_state_and_reasons() -> None:
    assert parse_state("qc_passed") is S.QC_PASSED
    with pytest.raises(InvalidInputError, match="choose one of ordered, received"):
        parse_state("done")
    assert check_reason(S.RECEIVED, None) is None
    assert check_reason(S.RECEIVED, "  ") is None
    assert check_reason(S.CANCELLED, " patient withdrew ") == "patient withdrew"
    for target in (S.CANCELLED, S.QC_FAILED):
        with pytest.raises(InvalidInputError, match="needs a reason"):
            check_reason(target, None)
    with pytest.raises(InvalidInputError, match="at most 500"):
        check_reason(S.RECEIVED, "x" * 501)
    with pytest.raises(InvalidInputError, match="one line"):
        check_reason(S.RECEIVED, "two\nlines")


# =========================================================================== shared lab


@dataclass
class Lab:
    """One instance per backend: departments, a user per role, a DEP-A patient."""

    platform: Platform
    home: Path
    patient: str
    """CPR of a patient with a DEP-A requisition."""
    requisition: str
    """That requisition."""
    person: str
    """The patient's pseudonym."""

    def sample(self, state: str = "ordered", requisition: str | None = "own") -> str:
        """A sample of the patient in ``state``, made directly in the catalog (no audit)."""
        sample_id = "S-T" + secrets.token_hex(5).upper()
        with self.platform.catalog.begin() as conn:
            conn.execute(
                samples.insert().values(
                    id=sample_id,
                    person_pseudonym=self.person,
                    origin="clinical" if requisition else "voluntary",
                    origin_project=None,
                    requisition_id=self.requisition if requisition == "own" else requisition,
                    state=state,
                    created_at=_now(),
                )
            )
        return sample_id

    def state(self, sample_id: str) -> str:
        with self.platform.catalog.engine.connect() as conn:
            return str(
                conn.execute(sa.select(samples.c.state).where(samples.c.id == sample_id)).scalar()
            )


def _now() -> Any:
    import datetime as dt

    return dt.datetime.now(dt.UTC)


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def lab(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    database_url: str | None = None
    admin_engine: sa.Engine | None = None
    db_name = f"helgenom_test_{secrets.token_hex(6)}"
    if request.param == "postgresql":
        require_postgres()
        admin_engine = _pg_admin_engine()
        with admin_engine.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{db_name}"'))
        database_url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{db_name}"
    home = tmp_path_factory.mktemp(f"lab-{request.param}") / "instance"
    try:
        init_instance(home, database_url=database_url)
        p = open_platform(str(home))
        try:
            admin = p.context()
            p.directory.add_org(admin, "DEP-A", "Department A")
            p.directory.add_org(admin, "DEP-B", "Department B")
            for name, role, org in [
                ("clin-a", Role.CLINICIAN, "DEP-A"),
                ("gen-a", Role.GENETICIST, "DEP-A"),
                ("clin-b", Role.CLINICIAN, "DEP-B"),
                ("gen-b", Role.GENETICIST, "DEP-B"),
                ("operator", Role.OPERATOR, "platform"),
                ("researcher", Role.RESEARCHER, "platform"),
                ("steward", Role.STEWARD, "platform"),
                ("auditor", Role.AUDITOR, "platform"),
            ]:
                p.directory.add_user(admin, name, role, org)
            p.directory.add_user(admin, "citizen", Role.CITIZEN, None, cpr=make_cpr(502))
            patient = make_cpr(501)
            requisition = p.requisitions.create(p.context("clin-a"), patient, "R59")
            person = p.persons.show(p.context("clin-a"), patient).pseudonym
            yield Lab(p, home, patient, requisition, person)
        finally:
            p.close()
    finally:
        if admin_engine is not None:
            with admin_engine.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)'))
            admin_engine.dispose()


def audit_count(p: Platform) -> int:
    with p.catalog.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(audit_log)).scalar_one())


def last_entry(p: Platform) -> Any:
    with p.catalog.engine.connect() as conn:
        return conn.execute(sa.select(audit_log).order_by(audit_log.c.seq.desc()).limit(1)).one()


# =========================================================================== 2. the matrix

ACTORS: dict[str, str] = {
    "operator": "operator",
    "geneticist-own": "gen-a",
    "geneticist-other": "gen-b",
    "clinician-own": "clin-a",
    "clinician-other": "clin-b",
    "steward": "steward",
    "admin": "admin",
    "researcher": "researcher",
    "citizen": "citizen",
    "auditor": "auditor",
}
MOVERS: dict[str, set[str]] = {
    "operator": {"received", "sequenced", "analysing", "qc_passed", "qc_failed"},
    "geneticist-own": {"interpreted", "reported"},
    "geneticist-other": set(),
    "clinician-own": {"cancelled"},
    "clinician-other": set(),
    "steward": {"cancelled"},
    "admin": set(),
    "researcher": set(),
    "citizen": set(),
    "auditor": set(),
}
"""Which states each actor may move a DEP-A sample into (from the requirements)."""


@pytest.mark.parametrize("actor", sorted(ACTORS))
def test_every_transition_for_every_actor(lab: Lab, actor: str) -> None:
    p = lab.platform
    ctx = p.context(ACTORS[actor])
    for current in STATES:
        for target in STATES:
            sample_id = lab.sample(current)
            before = audit_count(p)
            label = f"{actor}: {current} -> {target}"
            if target not in MOVERS[actor]:
                with pytest.raises(PermissionDeniedError):
                    p.samples.mark(ctx, sample_id, target, reason="matrix")
                expected, decision = current, "deny"
            elif target not in NEXT[current]:
                with pytest.raises(ConflictError):
                    p.samples.mark(ctx, sample_id, target, reason="matrix")
                expected, decision = current, "error"
            else:
                event = p.samples.mark(ctx, sample_id, target, reason="matrix")
                assert (event.from_state, event.to_state) == (S(current), S(target)), label
                assert event.actor == ACTORS[actor]
                expected, decision = target, "allow"
            assert lab.state(sample_id) == expected, label
            assert audit_count(p) == before + 1, f"{label}: exactly one audit entry"
            entry = last_entry(p)
            assert (entry.action, entry.decision) == ("sample.transition", decision), label
            assert entry.resource == f"sample/{sample_id}"
            assert json.loads(entry.subjects) == [lab.person]


def test_the_sample_department_counts_not_only_the_person(lab: Lab) -> None:
    """A DEP-A geneticist may not move DEP-B's sample of a person DEP-A also treats."""
    p = lab.platform
    other = p.requisitions.create(p.context("clin-b"), lab.patient, "R14")
    sample_id = lab.sample("qc_passed", requisition=other)
    with pytest.raises(PermissionDeniedError, match="ordered by DEP-B, not by DEP-A"):
        p.samples.mark(p.context("gen-a"), sample_id, "interpreted")
    assert last_entry(p).decision == "deny"
    p.samples.mark(p.context("gen-b"), sample_id, "interpreted")
    voluntary = lab.sample("ordered", requisition=None)
    with pytest.raises(PermissionDeniedError, match="not a clinical order"):
        p.samples.mark(p.context("clin-a"), voluntary, "cancelled", reason="x")
    p.samples.mark(p.context("steward"), voluntary, "cancelled", reason="participant withdrew")


def test_mark_input_errors(lab: Lab) -> None:
    p = lab.platform
    sample_id = lab.sample()
    with pytest.raises(InvalidInputError, match="unknown sample state"):
        p.samples.mark(p.context("operator"), sample_id, "done")
    with pytest.raises(InvalidInputError, match="needs a reason"):
        p.samples.mark(p.context("clin-a"), sample_id, "cancelled")
    with pytest.raises(NotFoundError, match="no sample S-NOPE"):
        p.samples.mark(p.context("operator"), "S-NOPE", "received")
    with pytest.raises(NotFoundError):
        p.samples.history(p.context("operator"), "S-NOPE")
    assert lab.state(sample_id) == "ordered"


# =========================================================================== 3. history


def test_history_in_order_through_a_qc_failure(lab: Lab) -> None:
    p = lab.platform
    patient = make_cpr(503)  # only DEP-A treats this person
    requisition = p.requisitions.create(p.context("clin-a"), patient, "R59")
    sample_id = p.samples.register(
        p.context("clin-a"), patient, origin=SampleOrigin.CLINICAL, requisition=requisition
    )
    moves = [
        ("operator", "received", None),
        ("operator", "sequenced", None),
        ("operator", "analysing", None),
        ("operator", "qc_failed", "coverage 12x < 30x"),
        ("operator", "analysing", "re-run with fixed adapter trimming"),
        ("operator", "qc_passed", None),
        ("gen-a", "interpreted", None),
        ("gen-a", "reported", "report signed"),
    ]
    for actor, target, reason in moves:
        p.samples.mark(p.context(actor), sample_id, target, reason=reason)
    for reader in ("operator", "clin-a", "gen-a"):
        history = p.samples.history(p.context(reader), sample_id)
        targets = [S.ORDERED, *(S(t) for _, t, _ in moves)]
        assert [(e.from_state, e.to_state) for e in history] == list(
            zip([None, *targets[:-1]], targets, strict=True)
        )
        assert [e.actor for e in history] == ["clin-a", *(a for a, _, _ in moves)]
        assert [e.reason for e in history[1:]] == [r for _, _, r in moves]
        assert all(a.at <= b.at for a, b in itertools.pairwise(history))
        assert "hp-" not in repr(history)
    assert last_entry(p).action == "sample.read"
    with pytest.raises(ConflictError, match="final state"):
        p.samples.mark(p.context("clin-a"), sample_id, "cancelled", reason="too late")
    for reader in ("clin-b", "gen-b", "researcher", "citizen", "auditor", "steward", "admin"):
        with pytest.raises(PermissionDeniedError):
            p.samples.history(p.context(reader), sample_id)


def test_sample_events_are_append_only(lab: Lab) -> None:
    p = lab.platform
    sample_id = lab.sample()
    p.samples.mark(p.context("operator"), sample_id, "received")
    for statement in (
        sample_events.update().values(actor="mallory"),
        sample_events.delete().where(sample_events.c.sample_id == sample_id),
    ):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), p.catalog.engine.begin() as c:
            c.execute(statement)


def test_status_filters_by_a_known_state(lab: Lab) -> None:
    p = lab.platform
    sample_id = lab.sample("qc_failed")
    rows = p.samples.status(p.context("operator"), "qc_failed")
    assert sample_id in {r.sample_id for r in rows}
    assert {r.state for r in rows} == {"qc_failed"}
    with pytest.raises(InvalidInputError, match="unknown sample state"):
        p.samples.status(p.context("operator"), "bogus")


@pytest.mark.parametrize(
    "backend_name", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def test_migration_backfills_creation_events(
    backend_name: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """Samples made before revision 0003 get their creation as the first event."""
    if backend_name == "sqlite":
        url = f"sqlite:///{tmp_path / 'catalog.db'}"
    else:
        url = str(request.getfixturevalue("postgres_database_url"))
    catalog = create_catalog(url)
    try:
        with catalog.begin() as conn:
            command.upgrade(catalog._alembic_config(conn), "0002")
            created = "2026-01-01 00:00:00"
            conn.execute(
                sa.text(
                    "INSERT INTO organisations (code, name, kind, created_at) "
                    "VALUES ('DEP-A', 'A', 'department', :t)"
                ),
                {"t": created},
            )
            conn.execute(
                sa.text(
                    "INSERT INTO persons (pseudonym, cpr_ciphertext, sex, birth_year, created_at) "
                    "VALUES ('hp-x', 'c', 'female', 1970, :t)"
                ),
                {"t": created},
            )
            conn.execute(
                sa.text(
                    "INSERT INTO samples (id, person_pseudonym, origin, state, created_at) "
                    "VALUES ('S-OLD', 'hp-x', 'voluntary', 'received', :t)"
                ),
                {"t": created},
            )
        catalog.upgrade()
        assert catalog.current_revision() == catalog.head_revision()
        with catalog.engine.connect() as conn:
            (event,) = conn.execute(sa.select(sample_events)).all()
        assert (event.sample_id, event.from_state, event.to_state) == ("S-OLD", None, "received")
        assert event.reason == "recorded before sample tracking"
    finally:
        catalog.dispose()


# =========================================================================== 4. reads


def fastq(reads: int, *, length: int = 12, mate: int = 1, newline: bytes = b"\n") -> bytes:
    bases = b"ACGTN"
    records = []
    for i in range(reads):
        seq = bytes(bases[(i + j) % 5] for j in range(length))
        records.append(
            b"@read%d/%d%s%s%s+%s%s%s"
            % (i, mate, newline, seq, newline, newline, b"I" * length, newline)
        )
    return b"".join(records)


def gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Path, Path]:
    r1, r2 = tmp_path / "run_R1.fastq.gz", tmp_path / "run_R2.fastq.gz"
    r1.write_bytes(gz(fastq(5, mate=1)))
    r2.write_bytes(gz(fastq(5, mate=2)))
    return r1, r2


def stored(p: Platform, sample_id: str) -> int:
    with p.catalog.engine.connect() as conn:
        return int(
            conn.execute(
                sa.select(sa.func.count())
                .select_from(objects)
                .where(objects.c.sample_id == sample_id)
            ).scalar_one()
        )


def test_reads_add_stores_both_files_and_marks_the_sample_sequenced(
    lab: Lab, pair: tuple[Path, Path], tmp_path: Path
) -> None:
    p = lab.platform
    sample_id = lab.sample("ordered")
    before = audit_count(p)
    result = p.samples.add_reads(p.context("operator"), sample_id, *pair)
    with p.catalog.engine.connect() as conn:
        entries = conn.execute(
            sa.select(audit_log.c.action, audit_log.c.decision)
            .where(audit_log.c.seq > before)
            .order_by(audit_log.c.seq)
        ).all()
    assert [tuple(e) for e in entries] == [
        ("object.put", "allow"),
        ("object.put", "allow"),
        ("sample.transition", "allow"),
    ]
    assert result.reads == 5
    assert [(e.from_state, e.to_state) for e in result.events] == [
        (S.ORDERED, S.RECEIVED),
        (S.RECEIVED, S.SEQUENCED),
    ]
    assert lab.state(sample_id) == "sequenced"
    records = {r.object_id: r for r in p.objects.list(p.context("operator"), sample_id=sample_id)}
    assert set(records) == set(result.object_ids)
    for number, object_id in enumerate(result.object_ids, start=1):
        record = records[object_id]
        assert record.kind.value == "fastq"
        assert (record.provenance["read"], record.provenance["reads"]) == (number, 5)
        out = tmp_path / f"back{number}.fastq.gz"
        p.objects.get(p.context("operator"), object_id, out)
        assert out.read_bytes() == pair[number - 1].read_bytes()
    history = p.samples.history(p.context("operator"), sample_id)
    assert [e.to_state.value for e in history] == ["received", "sequenced"]
    assert all("reads added" in (e.reason or "") for e in history)


def test_reads_add_from_received_records_one_event(lab: Lab, pair: tuple[Path, Path]) -> None:
    p = lab.platform
    sample_id = lab.sample("received")
    result = p.samples.add_reads(p.context("operator"), sample_id, *pair)
    assert [(e.from_state, e.to_state) for e in result.events] == [(S.RECEIVED, S.SEQUENCED)]


BAD_READS: dict[str, tuple[bytes, bytes, type[Exception], str]] = {
    "not-gzip": (fastq(3), gz(fastq(3)), FormatError, "R1 is not gzip-compressed"),
    "empty": (gz(b""), gz(fastq(3)), FormatError, "R1 holds no reads"),
    "no-at-header": (
        gz(fastq(3).replace(b"@", b">", 1)),
        gz(fastq(3)),
        FormatError,
        "line 1 must be a header",
    ),
    "short-quality": (
        gz(fastq(3)),
        gz(fastq(3).replace(b"IIIIIIIIIIII", b"IIII", 1)),
        FormatError,
        "R2 is not FASTQ: in the first record, the quality (line 4) has 4 characters but the "
        "sequence has 12",
    ),
    "no-plus": (
        gz(fastq(3).replace(b"\n+\n", b"\n-\n", 1)),
        gz(fastq(3)),
        FormatError,
        "line 3 must start with '+'",
    ),
    "digits-in-sequence": (
        gz(fastq(3).replace(b"ACGTNACGTNAC", b"ACGT12345678", 1)),
        gz(fastq(3)),
        FormatError,
        "nucleotide letters",
    ),
    "truncated-record": (
        gz(fastq(3)),
        gz(fastq(3).rsplit(b"\n", 2)[0] + b"\n"),
        FormatError,
        "R2 ends in the middle of a record: 11 lines",
    ),
    "truncated-gzip": (gz(fastq(300))[:-30], gz(fastq(300)), FormatError, "R1 is a corrupt"),
    "mismatched-counts": (
        gz(fastq(4)),
        gz(fastq(3)),
        InvalidInputError,
        "R1 holds 4 reads but R2 holds 3",
    ),
    "same-content": (gz(fastq(3)), gz(fastq(3)), InvalidInputError, "the same file"),
}


@pytest.mark.parametrize("name", sorted(BAD_READS))
def test_bad_reads_are_refused_with_nothing_stored(lab: Lab, tmp_path: Path, name: str) -> None:
    p = lab.platform
    first, second, error, phrase = BAD_READS[name]
    r1, r2 = tmp_path / "a.fastq.gz", tmp_path / "b.fastq.gz"
    r1.write_bytes(first)
    r2.write_bytes(second)
    sample_id = lab.sample("ordered")
    before = audit_count(p)
    with pytest.raises(error) as caught:
        p.samples.add_reads(p.context("operator"), sample_id, r1, r2)
    assert phrase in str(caught.value)
    assert "a.fastq.gz" not in str(caught.value), "file names are not echoed"
    assert stored(p, sample_id) == 0
    assert lab.state(sample_id) == "ordered"
    assert audit_count(p) == before


def test_reads_add_refusals(lab: Lab, pair: tuple[Path, Path], tmp_path: Path) -> None:
    p = lab.platform
    sample_id = lab.sample("ordered")
    with pytest.raises(InvalidInputError, match="R1 and R2 are the same file"):
        p.samples.add_reads(p.context("operator"), sample_id, pair[0], pair[0])
    with pytest.raises(InvalidInputError, match="cannot read R2"):
        p.samples.add_reads(p.context("operator"), sample_id, pair[0], tmp_path / "missing")
    for actor in ("gen-a", "clin-a", "steward", "admin"):
        before = audit_count(p)
        with pytest.raises(PermissionDeniedError):
            p.samples.add_reads(p.context(actor), sample_id, *pair)
        assert audit_count(p) == before + 1
        assert last_entry(p).decision == "deny"
    for state in ("sequenced", "qc_passed", "cancelled"):
        done = lab.sample(state)
        with pytest.raises(ConflictError, match=f"is {state}: reads are added to a sample"):
            p.samples.add_reads(p.context("operator"), done, *pair)
        assert stored(p, done) == 0
    assert stored(p, sample_id) == 0


# ----------------------------------------------------------------------------- FASTQ core


@settings(max_examples=60)
@given(
    reads=st.integers(1, 40),
    length=st.integers(1, 60),
    crlf=st.booleans(),
    final_newline=st.booleans(),
    members=st.integers(1, 3),
)
def test_fastq_counting(
    reads: int, length: int, crlf: bool, final_newline: bool, members: int
) -> None:
    newline = b"\r\n" if crlf else b"\n"
    data = fastq(reads, length=length, newline=newline)
    if not final_newline:
        data = data[: -len(newline)]
    # Several gzip members (as bgzip writes) are one stream.
    cut = [len(data) * k // members for k in range(members + 1)]
    compressed = b"".join(gz(data[a:b]) for a, b in itertools.pairwise(cut))
    summary = inspect_fastq_gz(io.BytesIO(compressed), "R1")
    assert (summary.records, summary.first_read_length) == (reads, length)


def test_fastq_counting_across_chunks() -> None:
    data = fastq(CHUNK_SIZE // 20, length=8)
    assert inspect_fastq_gz(io.BytesIO(gz(data)), "R1").records == CHUNK_SIZE // 20
    one, other = (inspect_fastq_gz(io.BytesIO(gz(fastq(n))), "R") for n in (2, 3))
    check_pair(one, one)
    with pytest.raises(InvalidInputError):
        check_pair(one, other)


# ----------------------------------------------------------------------------- CLI

runner = CliRunner()


@pytest.fixture
def cli(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> Any:
    for var in ("HELGENOM_HOME", "HELGENOM_USER", "HELGENOM_DATABASE_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(cli_main.out, "_width", 240)
    monkeypatch.setattr(cli_main.err, "_width", 240)

    def run(*args: str) -> Result:
        return runner.invoke(app, ["--home", str(lab.home), *args], env={"HELGENOM_USER": None})

    return run


def flat(text: str) -> str:
    return " ".join(re.sub("[\u2500-\u257f]", " ", text).split())


def test_cli_sample_mark_and_history(lab: Lab, cli: Any) -> None:
    sample_id = lab.sample("ordered")
    result = cli("--as", "operator", "sample", "mark", sample_id, "received")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"sample {sample_id}: ordered -> received"
    result = cli("--as", "operator", "sample", "mark", sample_id, "reported")
    assert result.exit_code == 6, result.output
    assert "role operator may not mark a sample reported (only: geneticist)" in result.stderr
    result = cli("--as", "operator", "sample", "mark", sample_id, "analysing")
    assert result.exit_code == 4, result.output
    assert "from received it may move to: sequenced, cancelled" in flat(result.stderr)
    result = cli("--as", "operator", "sample", "mark", sample_id, "finished")
    assert result.exit_code == 2
    result = cli("--as", "clin-a", "sample", "mark", sample_id, "cancelled")
    assert result.exit_code == 2
    assert "needs a reason" in result.stderr
    result = cli(
        "--as", "clin-a", "sample", "mark", sample_id, "cancelled", "--reason", "duplicate"
    )
    assert result.exit_code == 0, result.output
    result = cli("--as", "clin-a", "sample", "history", sample_id)
    assert result.exit_code == 0, result.output
    text = flat(result.stdout)
    assert re.search(r"ordered received operator .* received cancelled clin-a duplicate", text)
    assert lab.patient not in result.output


def test_cli_reads_add(lab: Lab, cli: Any, pair: tuple[Path, Path], tmp_path: Path) -> None:
    sample_id = lab.sample("ordered")
    result = cli("--as", "operator", "reads", "add", sample_id, str(pair[0]), str(pair[1]))
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert re.fullmatch(r"stored obj-\w+ \(R1\) and obj-\w+ \(R2\): 5 read pairs", lines[0])
    assert lines[1] == f"sample {sample_id}: ordered -> received -> sequenced"
    result = cli("--as", "operator", "sample", "status", "--state", "sequenced")
    assert sample_id in result.stdout
    bad = tmp_path / "bad.fastq.gz"
    bad.write_bytes(b"plain text")
    other = lab.sample("ordered")
    result = cli("--as", "operator", "reads", "add", other, str(bad), str(pair[1]))
    assert result.exit_code == 2
    assert "R1 is not gzip-compressed" in result.stderr
    result = cli("--as", "operator", "reads", "add", sample_id, str(pair[0]), str(pair[1]))
    assert result.exit_code == 4
    result = cli("--as", "gen-a", "reads", "add", other, str(pair[0]), str(pair[1]))
    assert result.exit_code == 6
