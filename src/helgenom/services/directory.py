"""Organisations and principals, and resolving the acting principal."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError as DbIntegrityError

from helgenom.adapters.catalog import Catalog
from helgenom.adapters.catalog.schema import instance_meta, organisations, principals
from helgenom.core.access import Action
from helgenom.core.cpr import parse_cpr
from helgenom.core.errors import ConflictError, InvalidInputError, NotFoundError
from helgenom.core.models import PLATFORM_ORG_CODE, OrgKind, Principal, RequestContext, Role
from helgenom.services.gate import Gate
from helgenom.services.identity import Vault

_ORG_CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")
_NAME_RE = re.compile(r"^[a-z][a-z0-9_.-]{0,63}$")


@dataclass(frozen=True, slots=True)
class Organisation:
    """A hospital department or the platform."""

    code: str
    name: str
    kind: OrgKind


@dataclass(frozen=True, slots=True)
class PrincipalRow:
    """A principal as listed to admins (no CPR; citizens show as bound)."""

    name: str
    role: Role
    org_code: str
    bound_to_person: bool
    created_at: dt.datetime


def check_org_code(code: str) -> str:
    """Validate a department code."""
    if not _ORG_CODE_RE.match(code):
        raise InvalidInputError(
            f"department code {code!r} is not valid: use 1-32 letters, digits, '_', '.' or '-'"
        )
    return code


def check_name(name: str) -> str:
    """Validate a principal name."""
    if not _NAME_RE.match(name):
        raise InvalidInputError(
            "user name is not valid: use 1-64 lower-case letters, digits, "
            "'_', '.' or '-', starting with a letter"
        )
    return name


def parse_role(text: str) -> Role:
    """Parse a role name with a helpful error."""
    try:
        return Role(text)
    except ValueError:
        roles = ", ".join(r.value for r in Role)
        raise InvalidInputError(f"unknown role {text!r}: choose one of {roles}") from None


def load_principal(conn: Connection, name: str) -> Principal:
    """Load principal ``name``."""
    row = conn.execute(sa.select(principals).where(principals.c.name == name)).first()
    if row is None:
        raise NotFoundError(
            f"no user named {name!r} on this instance; list users with helgenom user list, "
            "add one with helgenom user add"
        )
    return Principal(row.name, Role(row.role), row.org_code, row.person_pseudonym)


class DirectoryService:
    """Organisations (departments) and principals (users)."""

    def __init__(self, catalog: Catalog, gate: Gate, vault: Vault) -> None:
        self.catalog = catalog
        self.gate = gate
        self.vault = vault

    def first_admin(self) -> str:
        """The name of the instance's first admin."""
        with self.catalog.begin() as conn:
            row = conn.execute(
                sa.select(instance_meta.c.value).where(instance_meta.c.key == "first_admin")
            ).first()
        if row is None:
            raise NotFoundError("this instance has no first admin; re-run helgenom init --force")
        return str(row.value)

    def principal(self, name: str) -> Principal:
        """Resolve the acting principal by name (embedded profile)."""
        with self.catalog.begin() as conn:
            return load_principal(conn, name)

    def add_org(self, ctx: RequestContext, code: str, name: str) -> Organisation:
        """Add a hospital department."""
        check_org_code(code)
        if not name.strip():
            raise InvalidInputError("department name is empty: give --name NAME")
        with self.gate.access(ctx, Action.ORG_MANAGE, resource=f"org/{code}") as grant:
            exists = grant.conn.execute(
                sa.select(organisations.c.code).where(organisations.c.code == code)
            ).first()
            if exists is not None:
                raise ConflictError(f"organisation {code} already exists")
            grant.conn.execute(
                organisations.insert().values(
                    code=code,
                    name=name.strip(),
                    kind=OrgKind.DEPARTMENT.value,
                    created_at=dt.datetime.now(dt.UTC),
                )
            )
        return Organisation(code, name.strip(), OrgKind.DEPARTMENT)

    def list_orgs(self) -> list[Organisation]:
        """All organisations (not personal data)."""
        with self.catalog.begin() as conn:
            rows = conn.execute(sa.select(organisations).order_by(organisations.c.code)).all()
        return [Organisation(r.code, r.name, OrgKind(r.kind)) for r in rows]

    def add_user(
        self,
        ctx: RequestContext,
        name: str,
        role: Role,
        org_code: str | None,
        cpr: str | None = None,
    ) -> Principal:
        """Create a principal. A citizen is bound to one CPR (registered if new)."""
        check_name(name)
        parsed = None
        if role is Role.CITIZEN:
            if cpr is None:
                raise InvalidInputError("a citizen user is bound to one person: give --cpr CPR")
            parsed = parse_cpr(cpr)
            org_code = org_code or PLATFORM_ORG_CODE
        elif cpr is not None:
            raise InvalidInputError("--cpr is only for citizen users")
        if org_code is None:
            raise InvalidInputError(f"a {role.value} belongs to an organisation: give --org CODE")
        pseudonym = self.vault.pseudonym(parsed) if parsed is not None else None
        with self.gate.access(
            ctx, Action.PRINCIPAL_MANAGE, resource=f"principal/{name}", person=None
        ) as grant:
            conn = grant.conn
            org = conn.execute(
                sa.select(organisations.c.kind).where(organisations.c.code == org_code)
            ).first()
            if org is None:
                raise NotFoundError(
                    f"organisation {org_code} does not exist; add it with helgenom org add"
                )
            if role in (Role.CLINICIAN, Role.GENETICIST) and org.kind != OrgKind.DEPARTMENT.value:
                raise InvalidInputError(
                    f"a {role.value} belongs to a hospital department, not {org_code}"
                )
            if parsed is not None and pseudonym is not None:
                self.vault.register(conn, parsed, None)
                grant.subjects.add(pseudonym)
                bound = conn.execute(
                    sa.select(principals.c.name).where(principals.c.person_pseudonym == pseudonym)
                ).first()
                if bound is not None:
                    raise ConflictError("this person already has a citizen user")
            try:
                with conn.begin_nested():
                    conn.execute(
                        principals.insert().values(
                            name=name,
                            role=role.value,
                            org_code=org_code,
                            person_pseudonym=pseudonym,
                            created_at=dt.datetime.now(dt.UTC),
                            created_by=ctx.actor.name,
                        )
                    )
            except DbIntegrityError:
                raise ConflictError(f"a user named {name!r} already exists") from None
        return Principal(name, role, org_code, pseudonym)

    def list_users(self, ctx: RequestContext) -> list[PrincipalRow]:
        """All principals (admins only)."""
        with self.gate.access(ctx, Action.PRINCIPAL_MANAGE, resource="principals") as grant:
            rows = grant.conn.execute(sa.select(principals).order_by(principals.c.name)).all()
        return [
            PrincipalRow(
                r.name, Role(r.role), r.org_code, r.person_pseudonym is not None, r.created_at
            )
            for r in rows
        ]
