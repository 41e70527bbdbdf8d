"""The access gate: decide, audit, then act. The one choke point for personal data.

Services open ``with gate.access(ctx, action, ...) as grant:`` around every piece of
work that touches personal data. The gate gathers the facts the policy needs,
calls the pure policy, and

* when denied, appends a ``deny`` entry in its own transaction and raises
  :class:`PermissionDeniedError`;
* when allowed, yields a :class:`Grant` whose connection the service uses; the
  ``allow`` entry (with every person the service touched) is appended in the same
  transaction, so data is never read or changed without its audit entry;
* when the work fails, rolls it back to a savepoint and appends an ``error``
  entry naming the error code (``internal_error`` for anything unexpected).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import NoReturn

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from helgenom.adapters.audit import AuditDraft, SqlAuditLog
from helgenom.adapters.catalog import Catalog
from helgenom.adapters.catalog.schema import project_members, projects, requisitions
from helgenom.core.access import (
    Action,
    ProjectFacts,
    SubjectFacts,
    decide_access,
    describe_visa,
    visa_grant,
)
from helgenom.core.consent import Decision
from helgenom.core.errors import HelgenomError, PermissionDeniedError
from helgenom.core.models import RequestContext


@dataclass
class Grant:
    """Permission to act, with the open transaction and the persons touched."""

    conn: Connection
    """The transaction to do the work in."""
    decision: Decision
    """Why access was allowed."""
    subjects: set[str] = field(default_factory=set)
    """Person pseudonyms whose data the work reads or changes (add as you go)."""
    note: str = ""
    """Extra, non-personal detail for the audit reason (e.g. counts)."""


def requisition_departments(conn: Connection, person: str) -> frozenset[str]:
    """Codes of departments holding an active requisition for ``person``."""
    return requisition_departments_of(conn, [person])[person]


_IN_CHUNK = 500
"""Values per ``IN (...)`` list (SQLite limits the bound parameters of a statement)."""


def requisition_departments_of(
    conn: Connection, persons: Sequence[str]
) -> dict[str, frozenset[str]]:
    """:func:`requisition_departments` of many persons in one query (per 500 persons);
    a person without an active requisition maps to the empty set."""
    found: dict[str, set[str]] = {person: set() for person in persons}
    unique = sorted(found)
    for start in range(0, len(unique), _IN_CHUNK):
        rows = conn.execute(
            sa.select(requisitions.c.person_pseudonym, requisitions.c.department_code)
            .where(requisitions.c.person_pseudonym.in_(unique[start : start + _IN_CHUNK]))
            .where(requisitions.c.status != "cancelled")
            .distinct()
        ).all()
        for r in rows:
            found[str(r.person_pseudonym)].add(str(r.department_code))
    return {person: frozenset(codes) for person, codes in found.items()}


def project_facts(conn: Connection, code: str) -> ProjectFacts | None:
    """The facts about project ``code``, or None when it does not exist."""
    row = conn.execute(sa.select(projects).where(projects.c.code == code)).first()
    if row is None:
        return None
    members = conn.execute(
        sa.select(project_members.c.principal_name).where(project_members.c.project_code == code)
    ).all()
    return ProjectFacts(
        code=code,
        approved=row.status == "approved",
        expires_at=row.expires_at,
        members=frozenset(str(m.principal_name) for m in members),
    )


class Gate:
    """Decides every access, writes its audit entry, and hands out the transaction."""

    def __init__(self, catalog: Catalog, audit_log: SqlAuditLog) -> None:
        self.catalog = catalog
        self.audit_log = audit_log

    def _draft(
        self,
        ctx: RequestContext,
        action: Action,
        resource: str,
        subjects: set[str],
        decision: str,
        reason: str,
    ) -> AuditDraft:
        visa = visa_grant(ctx, ctx.project, dt.datetime.now(dt.UTC)) if ctx.project else None
        if visa is not None and describe_visa(visa) not in reason:
            # Any entry of a request that presented a visa for its project says so.
            reason = f"{reason}; {describe_visa(visa)} presented for project {visa.project}"
        return AuditDraft(
            actor=ctx.actor.name,
            role=ctx.actor.role.value,
            org=ctx.actor.org_code,
            purpose=ctx.purpose.value,
            action=action.value,
            resource=resource,
            subjects=tuple(sorted(subjects)),
            decision=decision,
            reason=reason,
            project=ctx.project,
        )

    def record(
        self,
        ctx: RequestContext,
        action: Action,
        resource: str,
        *,
        subjects: set[str] | None = None,
        decision: str,
        reason: str,
    ) -> None:
        """Append one entry in its own transaction."""
        with self.catalog.begin() as conn:
            self.audit_log.append(
                conn, [self._draft(ctx, action, resource, subjects or set(), decision, reason)]
            )

    def authorise(
        self,
        ctx: RequestContext,
        action: Action,
        *,
        resource: str,
        person: str | None = None,
    ) -> None:
        """A pre-check before long work (an upload): raises, audited, if denied.

        Writes nothing when allowed: the work then finishes inside :meth:`access`,
        which decides again and writes the ``allow`` entry with the result.
        """
        with self.catalog.begin() as conn:
            decision = self._decide(conn, ctx, action, person)
        if not decision.allowed:
            self._deny(ctx, action, resource, person, decision)

    def authorise_many(
        self,
        ctx: RequestContext,
        action: Action,
        checks: Sequence[tuple[str, str | None]],
    ) -> None:
        """:meth:`authorise` for many ``(resource, person)`` pairs at once (a batch).

        Gathers the facts in one transaction (one query for every person's
        departments) and decides each pair in order with the same policy; the first
        denied pair is audited and raised exactly as :meth:`authorise` would, and the
        pairs after it are not decided. Writes nothing when every pair is allowed.
        """
        if not checks:
            return
        with self.catalog.begin() as conn:
            departments = requisition_departments_of(
                conn, [person for _resource, person in checks if person is not None]
            )
            project = project_facts(conn, ctx.project) if ctx.project else None
        for resource, person in checks:
            subject = None if person is None else SubjectFacts(person, departments[person])
            decision = decide_access(ctx, action, subject, project)
            if not decision.allowed:
                self._deny(ctx, action, resource, person, decision)

    @staticmethod
    def _decide(
        conn: Connection,
        ctx: RequestContext,
        action: Action,
        person: str | None,
        now: dt.datetime | None = None,
    ) -> Decision:
        """Gather the facts the policy needs and ask it."""
        subject = None
        if person is not None:
            subject = SubjectFacts(person, requisition_departments(conn, person))
        project = project_facts(conn, ctx.project) if ctx.project else None
        return decide_access(ctx, action, subject, project, now=now)

    def _deny(
        self,
        ctx: RequestContext,
        action: Action,
        resource: str,
        person: str | None,
        decision: Decision,
    ) -> NoReturn:
        """Audit a denial in its own transaction, then raise it."""
        self.record(
            ctx,
            action,
            resource,
            subjects={person} if person else set(),
            decision="deny",
            reason=decision.reason,
        )
        raise PermissionDeniedError(
            f"{ctx.actor.name} (role {ctx.actor.role.value}, {ctx.actor.org_code}) may not "
            f"{action.value} for purpose {ctx.purpose.value}: {decision.reason}"
        )

    @contextmanager
    def access(
        self,
        ctx: RequestContext,
        action: Action,
        *,
        resource: str,
        person: str | None = None,
        now: dt.datetime | None = None,
    ) -> Iterator[Grant]:
        """Decide ``action`` for ``ctx`` on ``person``; yield a :class:`Grant` if allowed."""
        subjects = {person} if person else set()
        failure: Exception | None = None
        with self.catalog.begin() as conn:
            decision = self._decide(conn, ctx, action, person, now)
            if decision.allowed:
                grant = Grant(conn, decision, set(subjects))
                try:
                    with conn.begin_nested():
                        yield grant
                except Exception as exc:
                    # The work was rolled back to the savepoint; record the attempt.
                    failure = exc
                    code = exc.code if isinstance(exc, HelgenomError) else "internal_error"
                    reason = f"{decision.reason}; failed with {code}"
                    self.audit_log.append(
                        conn, [self._draft(ctx, action, resource, subjects, "error", reason)]
                    )
                else:
                    reason = decision.reason + (f"; {grant.note}" if grant.note else "")
                    self.audit_log.append(
                        conn,
                        [self._draft(ctx, action, resource, grant.subjects, "allow", reason)],
                    )
                    return
        if failure is not None:
            raise failure
        self._deny(ctx, action, resource, person, decision)
