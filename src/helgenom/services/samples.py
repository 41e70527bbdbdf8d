"""Samples: registration, the operator's table, and tracking through the lab.

A sample moves through the states of :mod:`helgenom.core.samples`. Every move is
checked three ways, each denial audited:

1. the access policy (``sample.transition``: operators, stewards, and the care team of
   the person's department);
2. who may move a sample into the target state (:data:`TRANSITION_ROLES`), and for
   clinicians and geneticists that the sample's requisition is from their department;
3. the transition table (:func:`check_transition`), under a row lock, so two moves
   at once cannot both pass.

Each move appends a ``sample_events`` row (from, to, time, actor, reason) in the same
transaction as the state change and its audit entry. ``reads add`` checks the two
FASTQ files, stores them encrypted, and moves the sample to ``sequenced`` (through
``received`` when it was still ``ordered``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from helgenom.adapters.catalog.schema import projects, requisitions, sample_events, samples
from helgenom.core.access import Action
from helgenom.core.cpr import parse_cpr
from helgenom.core.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
)
from helgenom.core.fastq import FastqSummary, check_pair, inspect_fastq_gz
from helgenom.core.models import ObjectKind, RequestContext, Role, SampleOrigin
from helgenom.core.samples import (
    DEPARTMENT_ROLES,
    SampleState,
    check_reason,
    check_transition,
    parse_state,
    roles_for,
)
from helgenom.services.gate import Gate
from helgenom.services.identity import Vault, new_id
from helgenom.services.objects import ObjectService

SAMPLE_STATES = tuple(s.value for s in SampleState)
"""The sample states, for interfaces."""


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True, slots=True)
class SampleRow:
    """The operator's view of a sample: no CPR, no person pseudonym."""

    sample_id: str
    origin: SampleOrigin
    origin_project: str | None
    requisition_id: str | None
    department: str | None
    state: str
    created_at: dt.datetime
    relationship: str | None = None
    """Proband, mother or father for a submitted order; None otherwise."""
    priority: str | None = None
    """routine, urgent, asap or stat for a submitted order; None otherwise."""


@dataclass(frozen=True, slots=True)
class SampleEvent:
    """One entry of a sample's history."""

    sample_id: str
    from_state: SampleState | None
    """None for the sample's creation."""
    to_state: SampleState
    at: dt.datetime
    """When (UTC)."""
    actor: str
    """Who moved it (a principal name)."""
    reason: str | None


@dataclass(frozen=True, slots=True)
class ReadsAdded:
    """What ``reads add`` did."""

    sample_id: str
    object_ids: tuple[str, str]
    """The stored R1 and R2 objects."""
    reads: int
    """Read pairs in the run."""
    events: tuple[SampleEvent, ...]
    """The moves made: to received (if it was ordered) and to sequenced."""


@dataclass(frozen=True, slots=True)
class _SampleFacts:
    sample_id: str
    person: str
    state: SampleState
    department: str | None


def insert_sample(
    conn: Connection,
    *,
    sample_id: str,
    person: str,
    origin: SampleOrigin,
    actor: str,
    project: str | None = None,
    requisition: str | None = None,
    reason: str | None = None,
) -> None:
    """Insert a new sample in state ``ordered`` with its creation event."""
    now = _now()
    conn.execute(
        samples.insert().values(
            id=sample_id,
            person_pseudonym=person,
            origin=origin.value,
            origin_project=project,
            requisition_id=requisition,
            state=SampleState.ORDERED.value,
            created_at=now,
        )
    )
    conn.execute(
        sample_events.insert().values(
            sample_id=sample_id,
            from_state=None,
            to_state=SampleState.ORDERED.value,
            at=now,
            actor=actor,
            reason=reason,
        )
    )


def _event(row: Any) -> SampleEvent:
    return SampleEvent(
        sample_id=row.sample_id,
        from_state=None if row.from_state is None else SampleState(row.from_state),
        to_state=SampleState(row.to_state),
        at=row.at,
        actor=row.actor,
        reason=row.reason,
    )


def move_sample(
    conn: Connection,
    actor: str,
    sample_id: str,
    targets: list[SampleState],
    reason: str | None,
) -> list[SampleEvent]:
    """Apply ``targets`` in order from the locked current state; append the events.

    The caller has checked who may make the move and audits it in the same
    transaction (``conn``).

    Raises
    ------
    NotFoundError
        No such sample.
    ConflictError
        A move is not in the transition table.
    """
    row = conn.execute(
        sa.select(samples.c.state).where(samples.c.id == sample_id).with_for_update()
    ).first()
    if row is None:
        raise NotFoundError(f"no sample {sample_id}; see helgenom sample status")
    current = SampleState(row.state)
    events: list[SampleEvent] = []
    for target in targets:
        check_transition(current, target)
        event = SampleEvent(sample_id, current, target, _now(), actor, reason)
        conn.execute(
            sample_events.insert().values(
                sample_id=sample_id,
                from_state=current.value,
                to_state=target.value,
                at=event.at,
                actor=event.actor,
                reason=reason,
            )
        )
        events.append(event)
        current = target
    conn.execute(samples.update().where(samples.c.id == sample_id).values(state=current.value))
    return events


class SampleService:
    """Samples and their origin (clinical, research project, voluntary), and their life."""

    def __init__(self, gate: Gate, vault: Vault, objects: ObjectService) -> None:
        self.gate = gate
        self.vault = vault
        self.objects = objects

    # -- registration and the operator's table ------------------------------------------------

    def register(
        self,
        ctx: RequestContext,
        cpr: str,
        *,
        origin: SampleOrigin,
        project: str | None = None,
        requisition: str | None = None,
    ) -> str:
        """Register a sample of a person; returns its id."""
        parsed = parse_cpr(cpr)
        pseudonym = self.vault.pseudonym(parsed)
        sample_id = new_id("S")
        with self.gate.access(
            ctx, Action.SAMPLE_REGISTER, resource=f"sample/{sample_id}", person=pseudonym
        ) as grant:
            conn = grant.conn
            if origin is SampleOrigin.CLINICAL:
                if ctx.actor.role is not Role.CLINICIAN or requisition is None:
                    raise InvalidInputError(
                        "a clinical sample comes from a clinician with a requisition: "
                        "give --requisition ID"
                    )
                req = conn.execute(
                    sa.select(requisitions).where(requisitions.c.id == requisition)
                ).first()
                if (
                    req is None
                    or req.person_pseudonym != pseudonym
                    or req.department_code != ctx.actor.org_code
                ):
                    raise NotFoundError(
                        f"requisition {requisition} is not one of your department's "
                        "requisitions for this person"
                    )
            elif ctx.actor.role is Role.CLINICIAN:
                raise InvalidInputError(
                    f"{origin.value} samples are registered by a data steward, not a clinician"
                )
            if origin is SampleOrigin.RESEARCH:
                if project is None:
                    raise InvalidInputError("a research-origin sample needs --project CODE")
                found = conn.execute(
                    sa.select(projects.c.code).where(projects.c.code == project)
                ).first()
                if found is None:
                    raise NotFoundError(f"project {project} does not exist")
            elif project is not None:
                raise InvalidInputError("--project is only for research-origin samples")
            # A clinical sample's person exists (the requisition registered them); a
            # research or voluntary participant is registered by the steward here, so
            # the answer never reveals whether the person was already known.
            self.vault.register(conn, parsed, None)
            insert_sample(
                conn,
                sample_id=sample_id,
                person=pseudonym,
                origin=origin,
                actor=ctx.actor.name,
                project=project,
                requisition=requisition,
            )
        return sample_id

    def status(self, ctx: RequestContext, state: str | None = None) -> list[SampleRow]:
        """The operator's sample table: no CPR numbers, no person pseudonyms."""
        if state is not None:
            state = parse_state(state).value
        with self.gate.access(ctx, Action.SAMPLE_LIST, resource="samples") as grant:
            query = (
                sa.select(
                    samples,
                    requisitions.c.department_code,
                    requisitions.c.relationship,
                    requisitions.c.priority,
                )
                .select_from(samples.outerjoin(requisitions))
                .order_by(samples.c.created_at, samples.c.id)
            )
            if state is not None:
                query = query.where(samples.c.state == state)
            rows = grant.conn.execute(query).all()
            grant.note = f"{len(rows)} samples listed"
            return [
                SampleRow(
                    r.id,
                    SampleOrigin(r.origin),
                    r.origin_project,
                    r.requisition_id,
                    r.department_code,
                    r.state,
                    r.created_at,
                    r.relationship,
                    r.priority,
                )
                for r in rows
            ]

    # -- tracking -------------------------------------------------------------------------------

    def _facts(self, sample_id: str) -> _SampleFacts:
        with self.gate.catalog.begin() as conn:
            row = conn.execute(
                sa.select(
                    samples.c.person_pseudonym, samples.c.state, requisitions.c.department_code
                )
                .select_from(samples.outerjoin(requisitions))
                .where(samples.c.id == sample_id)
            ).first()
        if row is None:
            raise NotFoundError(f"no sample {sample_id}; see helgenom sample status")
        return _SampleFacts(
            sample_id, str(row.person_pseudonym), SampleState(row.state), row.department_code
        )

    def _deny(self, ctx: RequestContext, facts: _SampleFacts, reason: str) -> None:
        self.gate.record(
            ctx,
            Action.SAMPLE_TRANSITION,
            f"sample/{facts.sample_id}",
            subjects={facts.person},
            decision="deny",
            reason=reason,
        )
        raise PermissionDeniedError(
            f"{ctx.actor.name} (role {ctx.actor.role.value}, {ctx.actor.org_code}) may not "
            f"move sample {facts.sample_id}: {reason}"
        )

    def _authorise(
        self, ctx: RequestContext, facts: _SampleFacts, targets: list[SampleState]
    ) -> None:
        """The policy, then who may move a sample into each target state (all audited)."""
        self.gate.authorise(
            ctx,
            Action.SAMPLE_TRANSITION,
            resource=f"sample/{facts.sample_id}",
            person=facts.person,
        )
        role = ctx.actor.role
        for target in targets:
            allowed = roles_for(target)
            if role not in allowed:
                who = " or ".join(sorted(r.value for r in allowed)) or "nobody"
                self._deny(
                    ctx,
                    facts,
                    f"role {role.value} may not mark a sample {target.value} (only: {who})",
                )
        if role in DEPARTMENT_ROLES and facts.department != ctx.actor.org_code:
            ordered_by = facts.department or "no department (not a clinical order)"
            self._deny(
                ctx,
                facts,
                f"the sample was ordered by {ordered_by}, not by {ctx.actor.org_code}",
            )

    def _move(
        self,
        conn: Connection,
        ctx: RequestContext,
        sample_id: str,
        targets: list[SampleState],
        reason: str | None,
    ) -> list[SampleEvent]:
        return move_sample(conn, ctx.actor.name, sample_id, targets, reason)

    def mark(
        self, ctx: RequestContext, sample_id: str, state: str, *, reason: str | None = None
    ) -> SampleEvent:
        """Move a sample to ``state``; validated, time-stamped and audited."""
        target = parse_state(state)
        reason = check_reason(target, reason)
        facts = self._facts(sample_id)
        self._authorise(ctx, facts, [target])
        with self.gate.access(
            ctx,
            Action.SAMPLE_TRANSITION,
            resource=f"sample/{sample_id}",
            person=facts.person,
        ) as grant:
            (event,) = self._move(grant.conn, ctx, sample_id, [target], reason)
            grant.note = f"{event.from_state} -> {event.to_state}"
        return event

    def history(self, ctx: RequestContext, sample_id: str) -> list[SampleEvent]:
        """Every state change of a sample, oldest first (no CPR, no person pseudonym)."""
        facts = self._facts(sample_id)
        with self.gate.access(
            ctx, Action.SAMPLE_READ, resource=f"sample/{sample_id}", person=facts.person
        ) as grant:
            rows = grant.conn.execute(
                sa.select(sample_events)
                .where(sample_events.c.sample_id == sample_id)
                .order_by(sample_events.c.at, sample_events.c.id)
            ).all()
            grant.note = f"{len(rows)} events"
        return [_event(r) for r in rows]

    # -- reads ---------------------------------------------------------------------------------

    def add_reads(
        self, ctx: RequestContext, sample_id: str, read1: Path, read2: Path
    ) -> ReadsAdded:
        """Store a paired-end run's two gzip FASTQ files and mark the sample sequenced.

        The files are checked first (gzip, a FASTQ first record, equal read counts);
        nothing is stored when a check fails. The sample must be ordered or received.
        """
        facts = self._facts(sample_id)
        self._authorise(ctx, facts, [SampleState.RECEIVED, SampleState.SEQUENCED])
        self._to_sequenced(facts.state, sample_id)
        summaries = (self._inspect(read1, "R1"), self._inspect(read2, "R2"))
        check_pair(*summaries)
        if _same_content(read1, read2):
            raise InvalidInputError(
                "R1 and R2 are the same file: give the two files of one paired-end run"
            )
        reads = summaries[0].records
        object_ids: list[str] = []
        for number, path in ((1, read1), (2, read2)):
            put = self.objects.put(
                ctx,
                path,
                sample_id=sample_id,
                kind=ObjectKind.FASTQ,
                provenance={"read": number, "reads": reads},
            )
            object_ids.append(put.record.object_id)
        with self.gate.access(
            ctx,
            Action.SAMPLE_TRANSITION,
            resource=f"sample/{sample_id}",
            person=facts.person,
        ) as grant:
            row = grant.conn.execute(
                sa.select(samples.c.state).where(samples.c.id == sample_id)
            ).one()
            targets = self._to_sequenced(SampleState(row.state), sample_id)
            events = self._move(
                grant.conn,
                ctx,
                sample_id,
                targets,
                f"reads added: {object_ids[0]} (R1), {object_ids[1]} (R2), {reads} pairs",
            )
            grant.note = " -> ".join([events[0].from_state or "", *(e.to_state for e in events)])
        return ReadsAdded(sample_id, (object_ids[0], object_ids[1]), reads, tuple(events))

    @staticmethod
    def _to_sequenced(state: SampleState, sample_id: str) -> list[SampleState]:
        if state is SampleState.ORDERED:
            return [SampleState.RECEIVED, SampleState.SEQUENCED]
        if state is SampleState.RECEIVED:
            return [SampleState.SEQUENCED]
        raise ConflictError(
            f"sample {sample_id} is {state.value}: reads are added to a sample that is ordered "
            "or received"
        )

    @staticmethod
    def _inspect(path: Path, label: str) -> FastqSummary:
        """Check one FASTQ file (gzip, first record) and count its reads."""
        try:
            with path.open("rb") as raw:
                return inspect_fastq_gz(raw, label)
        except OSError as exc:
            raise InvalidInputError(f"cannot read {label}: {exc.strerror}") from None


def _same_content(first: Path, second: Path) -> bool:
    """Whether two files are one file, or hold the same bytes (hashed only if sizes match)."""
    if first.samefile(second):
        return True
    if first.stat().st_size != second.stat().st_size:
        return False

    def digest(path: Path) -> str:
        with path.open("rb") as f:
            return hashlib.file_digest(f, "sha256").hexdigest()

    return digest(first) == digest(second)
