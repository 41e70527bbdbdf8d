"""Audit views: verify the chain, the citizen's "who used my data", the auditor's log."""

from __future__ import annotations

from dataclasses import dataclass

from helgenom.adapters.audit import SqlAuditLog
from helgenom.core.access import Action
from helgenom.core.audit import AuditEntry, ChainVerification
from helgenom.core.cpr import parse_cpr
from helgenom.core.models import RequestContext
from helgenom.services.gate import Gate
from helgenom.services.identity import Vault


@dataclass(frozen=True, slots=True)
class AccessLogLine:
    """One use of a person's data, as the citizen sees it."""

    occurred_at: str
    role: str
    organisation: str
    purpose: str
    action: str
    decision: str
    actor: str | None
    """Shown to auditors; citizens see role and organisation."""


class AuditService:
    """Reads of the audit log: itself access-checked and audited."""

    def __init__(self, gate: Gate, audit_log: SqlAuditLog, vault: Vault) -> None:
        self.gate = gate
        self.audit_log = audit_log
        self.vault = vault

    def verify(self, ctx: RequestContext) -> ChainVerification:
        """Verify the whole chain; the verification itself is then audited."""
        with self.gate.access(ctx, Action.AUDIT_VERIFY, resource="audit") as grant:
            result = self.audit_log.verify(grant.conn)
            grant.note = (
                f"chain intact, {result.count} entries"
                if result.ok
                else f"chain broken at entry {result.first_bad_seq}"
            )
        return result

    def person_log(self, ctx: RequestContext, cpr: str) -> list[AccessLogLine]:
        """Who used this person's data: role, organisation, time, purpose."""
        return self._person_log(ctx, self.vault.pseudonym(parse_cpr(cpr)))

    def own_log(self, ctx: RequestContext) -> list[AccessLogLine]:
        """Who used my data: a citizen's own access log (no CPR needed)."""
        from helgenom.services.identity import own_pseudonym

        return self._person_log(ctx, own_pseudonym(ctx, self.gate, Action.AUDIT_READ_PERSON))

    def _person_log(self, ctx: RequestContext, pseudonym: str) -> list[AccessLogLine]:
        with self.gate.access(
            ctx, Action.AUDIT_READ_PERSON, resource=f"audit/{pseudonym}", person=pseudonym
        ) as grant:
            self.vault.require(grant.conn, pseudonym)
            entries = self.audit_log.entries_for_person(grant.conn, pseudonym)
        show_actor = ctx.actor.role.value == "auditor"
        return [_line(e, show_actor) for e in entries]

    def log(self, ctx: RequestContext, *, limit: int = 50) -> list[AuditEntry]:
        """The newest entries of the whole log (auditors)."""
        with self.gate.access(ctx, Action.AUDIT_READ, resource="audit") as grant:
            return self.audit_log.entries(grant.conn, limit=limit)


def _line(entry: AuditEntry, show_actor: bool) -> AccessLogLine:
    return AccessLogLine(
        entry.occurred_at,
        entry.role,
        entry.org,
        entry.purpose,
        entry.action,
        entry.decision,
        entry.actor if show_actor else None,
    )
