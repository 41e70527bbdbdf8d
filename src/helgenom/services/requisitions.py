"""Requisitions: orders for whole-genome sequencing from hospital departments.

``submit`` takes a FHIR R4 ``ServiceRequest`` (conventions in
:mod:`helgenom.adapters.fhir` and the README): it is checked against the FHIR schema,
helgenom's conventions and the indication catalogue, and every problem is reported at
once (:class:`FhirValidationError`, which renders an ``OperationOutcome``). A valid
order registers the person(s) and creates, in one transaction with its audit entry,
one requisition row and one ``ordered`` sample per person (proband, and mother and
father for a trio). Submitting the same order again (the same identifier, or the same
resource id when it has none, from the same department) is refused with
:class:`ConflictError` naming the requisition already made: a changed order is a new
order with a new identifier, and a retry after a lost answer learns the id it needs.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError as DbIntegrityError

from helgenom.adapters.catalog import Catalog
from helgenom.adapters.catalog.schema import organisations, requisitions
from helgenom.adapters.fhir import read_service_request
from helgenom.core.access import Action
from helgenom.core.cpr import parse_cpr
from helgenom.core.errors import (
    ConflictError,
    FhirValidationError,
    InvalidInputError,
    Issue,
    PermissionDeniedError,
    redact_numbers,
)
from helgenom.core.models import OrgKind, RequestContext, SampleOrigin
from helgenom.core.requisitions import OrderFacts, Priority, Relationship
from helgenom.services.gate import Gate
from helgenom.services.identity import Vault, new_id
from helgenom.services.indications import current_indication
from helgenom.services.samples import insert_sample

MAX_DOCUMENT_BYTES = 1 << 20
"""Largest ServiceRequest accepted (1 MiB)."""

_DEPARTMENT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True, slots=True)
class SubmittedSample:
    """A sample created by a submitted order."""

    sample_id: str
    requisition_id: str
    """The person's requisition row (the proband's is the order's requisition)."""
    relationship: Relationship


@dataclass(frozen=True, slots=True)
class Submission:
    """What a submitted order created."""

    requisition_id: str
    department: str
    indication: str
    indication_version: int
    priority: Priority
    samples: tuple[SubmittedSample, ...]
    """Proband first."""


def _load_json(document: Mapping[str, Any] | str | bytes) -> object:
    if not isinstance(document, str | bytes):
        return document
    if len(document) > MAX_DOCUMENT_BYTES:
        raise FhirValidationError(
            [
                Issue(
                    "fatal",
                    "too-costly",
                    "",
                    f"the document is larger than {MAX_DOCUMENT_BYTES} bytes",
                )
            ],
            "ServiceRequest",
        )
    try:
        return json.loads(document)
    except json.JSONDecodeError as exc:
        problem = f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
    except UnicodeDecodeError:
        problem = "not JSON: the file is not UTF-8 text"
    raise FhirValidationError([Issue("fatal", "structure", "", problem)], "ServiceRequest")


class RequisitionService:
    """Orders for sequencing from a hospital department."""

    def __init__(self, catalog: Catalog, gate: Gate, vault: Vault) -> None:
        self.catalog = catalog
        self.gate = gate
        self.vault = vault

    def create(self, ctx: RequestContext, cpr: str, indication: str | None = None) -> str:
        """Create a requisition from the clinician's own department; registers the person.

        The quick path without a FHIR document or a sample; ``indication`` is kept as
        given (not checked against the catalogue). Hospitals use :meth:`submit`.
        """
        parsed = parse_cpr(cpr)
        pseudonym = self.vault.pseudonym(parsed)
        requisition_id = new_id("REQ")
        with self.gate.access(
            ctx,
            Action.REQUISITION_CREATE,
            resource=f"requisition/{requisition_id}",
            person=pseudonym,
        ) as grant:
            org = grant.conn.execute(
                sa.select(organisations.c.kind).where(organisations.c.code == ctx.actor.org_code)
            ).first()
            if org is None or org.kind != OrgKind.DEPARTMENT.value:
                raise InvalidInputError(
                    f"{ctx.actor.org_code} is not a hospital department; requisitions come "
                    "from departments"
                )
            self.vault.register(grant.conn, parsed, None)
            grant.conn.execute(
                requisitions.insert().values(
                    id=requisition_id,
                    person_pseudonym=pseudonym,
                    department_code=ctx.actor.org_code,
                    indication=indication,
                    status="active",
                    created_at=_now(),
                    created_by=ctx.actor.name,
                )
            )
        return requisition_id

    def _catalogue_issues(self, facts: OrderFacts) -> tuple[list[Issue], int | None]:
        """The indication catalogue's checks; returns the issues and the version checked."""
        issues: list[Issue] = []
        if facts.indication is None:
            return issues, None
        where = facts.indication_location
        code = facts.indication
        with self.catalog.begin() as conn:
            found = current_indication(conn, code)
        shown = redact_numbers(code[:40])
        if found is None:
            issues.append(
                Issue(
                    "error",
                    "not-found",
                    where,
                    f"unknown indication {shown!r}: see helgenom indication list",
                )
            )
            return issues, None
        if not found.active:
            issues.append(
                Issue(
                    "error",
                    "business-rule",
                    where,
                    f"indication {code} was withdrawn (version {found.version}) and cannot be "
                    "ordered",
                )
            )
        if facts.department is not None and facts.department not in found.departments:
            issues.append(
                Issue(
                    "error",
                    "business-rule",
                    where,
                    f"department {facts.department} may not order indication {code} "
                    f"(version {found.version} allows: {', '.join(found.departments)})",
                )
            )
        return issues, found.version

    def submit(self, ctx: RequestContext, document: Mapping[str, Any] | str | bytes) -> Submission:
        """Accept a FHIR ServiceRequest for whole-genome sequencing from a clinician.

        Raises
        ------
        PermissionDeniedError
            The actor is not a clinician, or the order names another department.
        FhirValidationError
            The resource is not a valid order; every problem is listed.
        ConflictError
            The same order was submitted before.
        """
        requisition_id = new_id("REQ")
        resource = f"requisition/{requisition_id}"
        self.gate.authorise(ctx, Action.REQUISITION_CREATE, resource=resource)
        facts = read_service_request(_load_json(document))
        issues = list(facts.issues)
        department = facts.department
        if department is not None and not _DEPARTMENT_RE.match(department):
            issues.append(
                Issue(
                    "error",
                    "value",
                    facts.department_location,
                    "a department code is 1-32 letters, digits, '_', '.' or '-'",
                )
            )
            department = None
        if department is not None and department != ctx.actor.org_code:
            reason = (
                f"the order is from department {redact_numbers(department)}, not "
                f"{ctx.actor.org_code}: a clinician orders for their own department only"
            )
            self.gate.record(
                ctx, Action.REQUISITION_CREATE, resource, decision="deny", reason=reason
            )
            raise PermissionDeniedError(
                f"{ctx.actor.name} (role {ctx.actor.role.value}, {ctx.actor.org_code}) may not "
                f"{Action.REQUISITION_CREATE.value}: {reason}"
            )
        catalogue, version = self._catalogue_issues(facts)
        issues.extend(catalogue)
        if any(i.is_error for i in issues):
            raise FhirValidationError(issues, "ServiceRequest")
        # No error issue: everything was read.
        assert department is not None
        assert facts.indication is not None
        assert facts.priority is not None
        assert version is not None
        assert facts.persons
        proband = self.vault.pseudonym(facts.persons[0].cpr)
        created: list[SubmittedSample] = []
        with self.gate.access(
            ctx, Action.REQUISITION_CREATE, resource=resource, person=proband
        ) as grant:
            conn = grant.conn
            org = conn.execute(
                sa.select(organisations.c.kind).where(organisations.c.code == department)
            ).first()
            if org is None or org.kind != OrgKind.DEPARTMENT.value:
                raise InvalidInputError(
                    f"{department} is not a hospital department; requisitions come from departments"
                )
            earlier = conn.execute(
                sa.select(requisitions.c.id)
                .where(requisitions.c.department_code == department)
                .where(requisitions.c.order_key == facts.order_key)
            ).first()
            if earlier is not None:
                raise ConflictError(
                    f"this ServiceRequest was already submitted as requisition {earlier.id} "
                    "(same identifier): nothing was changed; a changed order needs a new "
                    "identifier"
                )
            now = _now()
            for person in facts.persons:
                pseudonym = self.vault.pseudonym(person.cpr)
                self.vault.register(conn, person.cpr, None)
                grant.subjects.add(pseudonym)
                is_proband = person.relationship is Relationship.PROBAND
                row_id = requisition_id if is_proband else new_id("REQ")
                try:
                    with conn.begin_nested():
                        conn.execute(
                            requisitions.insert().values(
                                id=row_id,
                                person_pseudonym=pseudonym,
                                department_code=department,
                                indication=facts.indication,
                                indication_version=version,
                                status="active",
                                created_at=now,
                                created_by=ctx.actor.name,
                                priority=facts.priority.value,
                                relationship=person.relationship.value,
                                order_key=facts.order_key if is_proband else None,
                                proband_requisition_id=None if is_proband else requisition_id,
                                hpo_terms=(
                                    json.dumps(list(facts.hpo_terms))
                                    if is_proband and facts.hpo_terms
                                    else None
                                ),
                            )
                        )
                except DbIntegrityError:
                    raise ConflictError(
                        "this ServiceRequest was submitted twice at the same time: nothing was "
                        "changed by this request; submit it again to learn the requisition id"
                    ) from None
                sample_id = new_id("S")
                insert_sample(
                    conn,
                    sample_id=sample_id,
                    person=pseudonym,
                    origin=SampleOrigin.CLINICAL,
                    actor=ctx.actor.name,
                    requisition=row_id,
                    reason=f"ordered by requisition {requisition_id}",
                )
                created.append(SubmittedSample(sample_id, row_id, person.relationship))
            grant.note = (
                f"{len(created)} person(s), indication {facts.indication} v{version}, "
                f"priority {facts.priority.value}"
            )
        return Submission(
            requisition_id=requisition_id,
            department=department,
            indication=facts.indication,
            indication_version=version,
            priority=facts.priority,
            samples=tuple(created),
        )
