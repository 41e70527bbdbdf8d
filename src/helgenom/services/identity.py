"""Identity: persons (the vault) and their consent.

Requisitions are in :mod:`helgenom.services.requisitions`, samples in
:mod:`helgenom.services.samples`.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from helgenom.adapters.catalog.schema import (
    consent_events,
    persons,
    principals,
    requisitions,
)
from helgenom.adapters.keys import SecretBytes
from helgenom.adapters.vault import CprCipher
from helgenom.core.access import Action
from helgenom.core.consent import (
    ConsentEvent,
    ConsentState,
    ResearchChoice,
    derive_state,
)
from helgenom.core.cpr import Cpr, parse_cpr
from helgenom.core.errors import InvalidInputError, NotFoundError, PermissionDeniedError
from helgenom.core.models import RequestContext, Role, Sex
from helgenom.core.pseudonyms import person_pseudonym
from helgenom.services.gate import Gate

_REGION_RE = re.compile(r"^[A-Za-z][A-Za-z0-9 _.-]{0,63}$")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def new_id(prefix: str) -> str:
    """A random, non-personal identifier such as ``REQ-7K2M9Q4X``."""
    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    return prefix + "-" + "".join(secrets.choice(alphabet) for _ in range(10))


@dataclass(frozen=True, slots=True)
class PersonView:
    """What an entitled user sees of a person (no CPR)."""

    pseudonym: str
    sex: Sex
    birth_year: int
    region: str | None
    requisitions: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Registration:
    """Result of registering a person."""

    pseudonym: str
    created: bool


@dataclass(frozen=True, slots=True)
class PersonRef:
    """A person as named to a caller: the pseudonym only."""

    pseudonym: str


@dataclass(frozen=True, slots=True)
class ConsentView:
    """A person's consent: current state and full history."""

    pseudonym: str
    state: ConsentState
    history: tuple[ConsentEvent, ...]


class Vault:
    """CPR <-> person pseudonym. Used by services only, never by interfaces."""

    def __init__(self, pseudonym_key: SecretBytes, cpr_key: SecretBytes) -> None:
        self._pseudonym_key = pseudonym_key
        self._cipher = CprCipher(cpr_key)

    def __repr__(self) -> str:
        return "Vault(<keys redacted>)"

    def pseudonym(self, cpr: Cpr) -> str:
        """The person pseudonym of ``cpr``."""
        return person_pseudonym(self._pseudonym_key.reveal(), cpr.digits)

    def exists(self, conn: Connection, pseudonym: str) -> bool:
        """Whether a person with ``pseudonym`` is registered."""
        row = conn.execute(
            sa.select(persons.c.pseudonym).where(persons.c.pseudonym == pseudonym)
        ).first()
        return row is not None

    def require(self, conn: Connection, pseudonym: str) -> None:
        """Raise NotFoundError unless the person is registered."""
        if not self.exists(conn, pseudonym):
            raise NotFoundError(
                "no person is registered with this CPR number; register them first with "
                "helgenom person register --cpr CPR"
            )

    def register(self, conn: Connection, cpr: Cpr, region: str | None) -> Registration:
        """Insert the person if new (idempotent). An existing person is never changed here."""
        pseudonym = self.pseudonym(cpr)
        if self.exists(conn, pseudonym):
            return Registration(pseudonym, created=False)
        conn.execute(
            persons.insert().values(
                pseudonym=pseudonym,
                cpr_ciphertext=self._cipher.encrypt(cpr.digits, pseudonym),
                sex=cpr.sex.value,
                birth_year=cpr.birth_date.year,
                region=region,
                created_at=_now(),
            )
        )
        return Registration(pseudonym, created=True)

    def reveal(self, conn: Connection, pseudonym: str) -> Cpr:
        """Decrypt the CPR of ``pseudonym`` (only after the gate allowed it)."""
        row = conn.execute(
            sa.select(persons.c.cpr_ciphertext).where(persons.c.pseudonym == pseudonym)
        ).first()
        if row is None:
            raise NotFoundError(f"no person with pseudonym {pseudonym}")
        return parse_cpr(self._cipher.decrypt(str(row.cpr_ciphertext), pseudonym))


def check_region(region: str | None) -> str | None:
    """Validate a region name."""
    if region is None:
        return None
    if not _REGION_RE.match(region):
        raise InvalidInputError(
            "region must be a short name of letters, digits, spaces or -_. "
            "(for example Hovedstaden)"
        )
    return region


def _consent_event(r: Any) -> ConsentEvent:
    return ConsentEvent(
        recorded_at=r.recorded_at,
        source=r.source,
        actor=r.actor,
        research=None if r.research is None else ResearchChoice(r.research),
        secondary_findings=r.secondary_findings,
        recontact=r.recontact,
    )


def load_consent(conn: Connection, pseudonym: str) -> tuple[ConsentEvent, ...]:
    """The consent history of ``pseudonym``, oldest first."""
    return load_consents(conn, [pseudonym])[pseudonym]


CONSENT_BATCH = 500
"""Persons per query of :func:`load_consents` (bound parameters stay well under limits)."""


def load_consents(
    conn: Connection, pseudonyms: Iterable[str]
) -> dict[str, tuple[ConsentEvent, ...]]:
    """The consent histories of many persons, oldest first, in a few queries (every
    person asked for is a key; one without events has an empty history)."""
    wanted = sorted(set(pseudonyms))
    found: dict[str, list[ConsentEvent]] = {p: [] for p in wanted}
    for start in range(0, len(wanted), CONSENT_BATCH):
        rows = conn.execute(
            sa.select(consent_events)
            .where(consent_events.c.person_pseudonym.in_(wanted[start : start + CONSENT_BATCH]))
            .order_by(consent_events.c.recorded_at, consent_events.c.id)
        ).all()
        for r in rows:
            found[r.person_pseudonym].append(_consent_event(r))
    return {p: tuple(events) for p, events in found.items()}


class PersonService:
    """Register persons, show them to entitled users, re-identify for clinical care."""

    def __init__(self, gate: Gate, vault: Vault) -> None:
        self.gate = gate
        self.vault = vault

    def register(self, ctx: RequestContext, cpr: str, region: str | None = None) -> PersonRef:
        """Register a person by CPR (idempotent); returns the pseudonym.

        The answer is the same whether or not the person was known, so registering
        reveals nothing about who is on the platform; the region is set only for a
        new person.
        """
        parsed = parse_cpr(cpr)
        region = check_region(region)
        pseudonym = self.vault.pseudonym(parsed)
        with self.gate.access(
            ctx, Action.PERSON_REGISTER, resource=f"person/{pseudonym}", person=pseudonym
        ) as grant:
            result = self.vault.register(grant.conn, parsed, region)
            grant.note = "new person" if result.created else "already registered"
            return PersonRef(result.pseudonym)

    def show(self, ctx: RequestContext, cpr: str) -> PersonView:
        """The person's pseudonym, sex, birth year, region and requisitions."""
        pseudonym = self.vault.pseudonym(parse_cpr(cpr))
        with self.gate.access(
            ctx, Action.PERSON_READ, resource=f"person/{pseudonym}", person=pseudonym
        ) as grant:
            row = grant.conn.execute(
                sa.select(persons).where(persons.c.pseudonym == pseudonym)
            ).first()
            if row is None:
                self.vault.require(grant.conn, pseudonym)
                raise AssertionError("unreachable")
            reqs = grant.conn.execute(
                sa.select(requisitions.c.id)
                .where(requisitions.c.person_pseudonym == pseudonym)
                .order_by(requisitions.c.created_at)
            ).all()
            return PersonView(
                pseudonym, Sex(row.sex), int(row.birth_year), row.region, tuple(r.id for r in reqs)
            )

    def reidentify(self, ctx: RequestContext, pseudonym: str) -> str:
        """The CPR number (``DDMMYY-SSSS``) of a person, for their own care team only."""
        with self.gate.access(
            ctx, Action.PERSON_REIDENTIFY, resource=f"person/{pseudonym}", person=pseudonym
        ) as grant:
            return self.vault.reveal(grant.conn, pseudonym).formatted()


_SOURCE_BY_ROLE = {Role.CITIZEN: "citizen", Role.CLINICIAN: "clinic"}


class ConsentService:
    """Consent choices: append-only history, current state derived at every query."""

    def __init__(self, gate: Gate, vault: Vault) -> None:
        self.gate = gate
        self.vault = vault

    def set(
        self,
        ctx: RequestContext,
        cpr: str,
        *,
        research: ResearchChoice | None = None,
        secondary_findings: bool | None = None,
        recontact: bool | None = None,
    ) -> ConsentView:
        """Record a decision; it takes effect on the very next query."""
        if research is None and secondary_findings is None and recontact is None:
            raise InvalidInputError(
                "nothing to record: give --research, --secondary-findings or --recontact"
            )
        return self._set(
            ctx,
            self.vault.pseudonym(parse_cpr(cpr)),
            research=research,
            secondary_findings=secondary_findings,
            recontact=recontact,
        )

    def set_own(
        self,
        ctx: RequestContext,
        *,
        research: ResearchChoice | None = None,
        secondary_findings: bool | None = None,
        recontact: bool | None = None,
    ) -> ConsentView:
        """A citizen records their own decision (no CPR needed: the principal is bound)."""
        if research is None and secondary_findings is None and recontact is None:
            raise InvalidInputError(
                "nothing to record: give research, secondary_findings or recontact"
            )
        return self._set(
            ctx,
            own_pseudonym(ctx, self.gate, Action.CONSENT_WRITE),
            research=research,
            secondary_findings=secondary_findings,
            recontact=recontact,
        )

    def _set(
        self,
        ctx: RequestContext,
        pseudonym: str,
        *,
        research: ResearchChoice | None,
        secondary_findings: bool | None,
        recontact: bool | None,
    ) -> ConsentView:
        with self.gate.access(
            ctx, Action.CONSENT_WRITE, resource=f"consent/{pseudonym}", person=pseudonym
        ) as grant:
            self.vault.require(grant.conn, pseudonym)
            grant.conn.execute(
                consent_events.insert().values(
                    person_pseudonym=pseudonym,
                    recorded_at=_now(),
                    source=_SOURCE_BY_ROLE.get(ctx.actor.role, ctx.actor.role.value),
                    actor=ctx.actor.name,
                    research=None if research is None else research.value,
                    secondary_findings=secondary_findings,
                    recontact=recontact,
                )
            )
            history = load_consent(grant.conn, pseudonym)
            state = derive_state(history)
            grant.note = f"consent now v{state.version}"
            return ConsentView(pseudonym, state, history)

    def show(self, ctx: RequestContext, cpr: str) -> ConsentView:
        """The current state and the full history."""
        return self._show(ctx, self.vault.pseudonym(parse_cpr(cpr)))

    def show_own(self, ctx: RequestContext) -> ConsentView:
        """A citizen's own consent (the principal's bound person)."""
        return self._show(ctx, own_pseudonym(ctx, self.gate, Action.CONSENT_READ))

    def _show(self, ctx: RequestContext, pseudonym: str) -> ConsentView:
        with self.gate.access(
            ctx, Action.CONSENT_READ, resource=f"consent/{pseudonym}", person=pseudonym
        ) as grant:
            self.vault.require(grant.conn, pseudonym)
            history = load_consent(grant.conn, pseudonym)
            return ConsentView(pseudonym, derive_state(history), history)


def own_pseudonym(ctx: RequestContext, gate: Gate, action: Action) -> str:
    """The person a citizen principal is bound to (a denial is audited).

    Raises
    ------
    PermissionDeniedError
        The principal is not bound to a person (not a citizen).
    """
    if ctx.actor.person_pseudonym is None:
        reason = f"{ctx.actor.name} is not bound to a person: only citizens have their own data"
        gate.record(ctx, action, "own", decision="deny", reason=reason)
        raise PermissionDeniedError(reason)
    return ctx.actor.person_pseudonym


def principal_person(conn: Connection, name: str) -> str | None:
    """The person a citizen principal is bound to."""
    row = conn.execute(
        sa.select(principals.c.person_pseudonym).where(principals.c.name == name)
    ).first()
    return None if row is None else row.person_pseudonym
