"""Research projects: application, committee decision, consent-filtered cohorts."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from helgenom.adapters.catalog.schema import persons, project_members, projects, samples
from helgenom.adapters.keys import SecretBytes
from helgenom.core.access import Action
from helgenom.core.consent import decide_consent, derive_state
from helgenom.core.errors import ConflictError, InvalidInputError, NotFoundError
from helgenom.core.models import Purpose, RequestContext, Role, SampleOrigin, Sex
from helgenom.core.pseudonyms import project_pseudonym
from helgenom.services.directory import load_principal
from helgenom.services.gate import Gate
from helgenom.services.identity import load_consents

_CODE_RE = re.compile(r"^[A-Z][A-Z0-9-]{1,31}$")


@dataclass(frozen=True, slots=True)
class Project:
    """A research project and its approval."""

    code: str
    title: str
    status: str
    applicant: str
    expires_at: dt.datetime | None
    members: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CohortMember:
    """A person in a project's cohort, under the project's own pseudonym."""

    project_pseudonym: str
    sex: Sex
    birth_year: int
    origin: SampleOrigin


def check_project_code(code: str) -> str:
    """Validate a project code."""
    if not _CODE_RE.match(code):
        raise InvalidInputError(
            f"project code {code!r} is not valid: 2-32 upper-case letters, digits or '-', "
            "starting with a letter (for example GENE-HEART-01)"
        )
    return code


def _load_project(conn: Connection, code: str) -> Project:
    row = conn.execute(sa.select(projects).where(projects.c.code == code)).first()
    if row is None:
        raise NotFoundError(f"project {code} does not exist")
    members = conn.execute(
        sa.select(project_members.c.principal_name).where(project_members.c.project_code == code)
    ).all()
    return Project(
        row.code,
        row.title,
        row.status,
        row.applicant,
        row.expires_at,
        tuple(sorted(m.principal_name for m in members)),
    )


class ResearchService:
    """Projects and cohorts. Opted-out persons are excluded at query time."""

    def __init__(self, gate: Gate, pseudonym_key: SecretBytes) -> None:
        self.gate = gate
        self._key = pseudonym_key

    def apply(self, ctx: RequestContext, code: str, title: str) -> Project:
        """A researcher applies for a project (status ``applied``)."""
        check_project_code(code)
        if not title.strip():
            raise InvalidInputError("project title is empty: give --title TEXT")
        with self.gate.access(ctx, Action.PROJECT_APPLY, resource=f"project/{code}") as grant:
            if grant.conn.execute(
                sa.select(projects.c.code).where(projects.c.code == code)
            ).first():
                raise ConflictError(f"project {code} already exists")
            grant.conn.execute(
                projects.insert().values(
                    code=code,
                    title=title.strip(),
                    status="applied",
                    applicant=ctx.actor.name,
                    created_at=dt.datetime.now(dt.UTC),
                )
            )
            grant.conn.execute(
                project_members.insert().values(project_code=code, principal_name=ctx.actor.name)
            )
        return Project(code, title.strip(), "applied", ctx.actor.name, None, (ctx.actor.name,))

    def decide(
        self, ctx: RequestContext, code: str, *, approve: bool, expires_at: dt.datetime | None
    ) -> Project:
        """The access committee (a steward) approves or rejects a project."""
        if approve and expires_at is None:
            raise InvalidInputError("an approval needs an expiry date: give --expires YYYY-MM-DD")
        if expires_at is not None and expires_at <= dt.datetime.now(dt.UTC):
            raise InvalidInputError("the expiry date is in the past: give a future date")
        with self.gate.access(ctx, Action.PROJECT_DECIDE, resource=f"project/{code}") as grant:
            row = grant.conn.execute(sa.select(projects).where(projects.c.code == code)).first()
            if row is None:
                raise NotFoundError(f"project {code} does not exist")
            grant.conn.execute(
                projects.update()
                .where(projects.c.code == code)
                .values(
                    status="approved" if approve else "rejected",
                    decided_by=ctx.actor.name,
                    decided_at=dt.datetime.now(dt.UTC),
                    expires_at=expires_at,
                )
            )
            return _load_project(grant.conn, code)

    def add_member(self, ctx: RequestContext, code: str, name: str) -> Project:
        """Add a researcher to a project (steward)."""
        with self.gate.access(ctx, Action.PROJECT_DECIDE, resource=f"project/{code}") as grant:
            if (
                grant.conn.execute(
                    sa.select(projects.c.code).where(projects.c.code == code)
                ).first()
                is None
            ):
                raise NotFoundError(f"project {code} does not exist")
            member = load_principal(grant.conn, name)
            if member.role is not Role.RESEARCHER:
                raise InvalidInputError(f"{name} is a {member.role.value}, not a researcher")
            if (
                grant.conn.execute(
                    sa.select(project_members.c.principal_name)
                    .where(project_members.c.project_code == code)
                    .where(project_members.c.principal_name == name)
                ).first()
                is None
            ):
                grant.conn.execute(
                    project_members.insert().values(project_code=code, principal_name=name)
                )
            return _load_project(grant.conn, code)

    def list_projects(self, ctx: RequestContext, code: str | None = None) -> list[Project]:
        """Projects and their members."""
        with self.gate.access(ctx, Action.PROJECT_READ, resource="projects") as grant:
            query = sa.select(projects).order_by(projects.c.code)
            if code is not None:
                query = query.where(projects.c.code == code)
            if ctx.actor.role is Role.RESEARCHER:
                # Researchers see the projects they are members of; stewards see all.
                mine = sa.select(project_members.c.project_code).where(
                    project_members.c.principal_name == ctx.actor.name
                )
                query = query.where(projects.c.code.in_(mine))
            rows = grant.conn.execute(query).all()
            members = grant.conn.execute(sa.select(project_members)).all()
        by_project: dict[str, list[str]] = {}
        for m in members:
            by_project.setdefault(m.project_code, []).append(m.principal_name)
        return [
            Project(
                r.code,
                r.title,
                r.status,
                r.applicant,
                r.expires_at,
                tuple(sorted(by_project.get(r.code, []))),
            )
            for r in rows
        ]

    def cohort(self, ctx: RequestContext) -> list[CohortMember]:
        """Persons with samples whose consent allows this project, under project pseudonyms.

        Consent is evaluated now, for every person, so an opt-out recorded a moment ago
        already removes the person. Every included person is named in the audit entry.
        """
        project = ctx.project or ""
        # The gate decides (and audits) first: it denies any role but a researcher and
        # a context without a project, so the check below only guards the types.
        with self.gate.access(ctx, Action.RESEARCH_COHORT, resource=f"cohort/{project}") as grant:
            if ctx.purpose is not Purpose.RESEARCH or not project:
                raise InvalidInputError("a cohort is built for a project: give --project CODE")
            rows = grant.conn.execute(
                sa.select(
                    samples.c.person_pseudonym,
                    samples.c.origin,
                    samples.c.origin_project,
                    persons.c.sex,
                    persons.c.birth_year,
                )
                .select_from(samples.join(persons))
                .order_by(samples.c.person_pseudonym, samples.c.created_at)
            ).all()
            members: dict[str, CohortMember] = {}
            histories = load_consents(grant.conn, (r.person_pseudonym for r in rows))
            for r in rows:
                if r.person_pseudonym in members:
                    continue
                state = derive_state(histories[r.person_pseudonym])
                decision = decide_consent(
                    state,
                    Purpose.RESEARCH,
                    origin=SampleOrigin(r.origin),
                    origin_project=r.origin_project,
                    project=project,
                )
                if not decision.allowed:
                    continue
                grant.subjects.add(r.person_pseudonym)
                members[r.person_pseudonym] = CohortMember(
                    project_pseudonym(self._key.reveal(), project, r.person_pseudonym),
                    Sex(r.sex),
                    int(r.birth_year),
                    SampleOrigin(r.origin),
                )
            grant.note = f"{len(members)} persons included"
        return sorted(members.values(), key=lambda m: m.project_pseudonym)
