"""Requisitions from FHIR ServiceRequests and the versioned indication catalogue.

On SQLite and PostgreSQL (the ``world`` fixture): valid singleton and trio orders;
every invalid variant, alone and several at once, answered with every problem; CPR
numbers never echoed; department and role rules (audited); duplicates; indication
versions; the CLI's exit codes and OperationOutcome table. CPR numbers are made at
run time with ``make_cpr``.
"""

from __future__ import annotations

import copy
import json
import re
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fhir.resources.R4B.operationoutcome import OperationOutcome
from typer.testing import CliRunner, Result

from conftest import POSTGRES_ADMIN_URL, World, _pg_admin_engine, make_cpr, require_postgres
from helgenom.adapters.catalog.schema import (
    audit_log,
    indications,
    persons,
    requisitions,
    sample_events,
    samples,
)
from helgenom.cli import main as cli_main
from helgenom.cli.main import app
from helgenom.core.cpr import parse_cpr
from helgenom.core.errors import (
    ConflictError,
    FhirValidationError,
    InvalidInputError,
    Issue,
    PermissionDeniedError,
    redact_numbers,
)
from helgenom.core.models import Role, Sex
from helgenom.services.instance import init_instance
from helgenom.services.platform import Platform, open_platform

CPR_SYSTEM = "urn:oid:1.2.208.176.1.2"
ROLE_CODES = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"

CATALOGUE: dict[str, Any] = {
    "format_version": 1,
    "indications": [
        {
            "code": "R59",
            "name": "Early onset or syndromic epilepsy",
            "gene_panel": "panel-epilepsy v1",
            "departments": ["DEP-A", "DEP-B"],
        },
        {
            "code": "R14",
            "name": "Acutely unwell child, likely monogenic",
            "gene_panel": "panel-acute-paediatric v2",
            "departments": ["DEP-B"],
        },
        {
            "code": "R00",
            "name": "Withdrawn test indication",
            "gene_panel": "panel-none v1",
            "departments": ["DEP-A"],
            "active": False,
        },
    ],
}


# ----------------------------------------------------------------------------- builders


def order_id() -> str:
    """A fresh placer order number without long digit runs."""
    return "ORD-" + secrets.token_hex(4).translate(str.maketrans("0123456789", "ghijklmnop"))


def patient(resource_id: str, cpr: str) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": resource_id,
        "identifier": [{"system": CPR_SYSTEM, "value": cpr}],
    }


def relative(resource_id: str, cpr: str, code: str, of: str = "#pat") -> dict[str, Any]:
    return {
        "resourceType": "RelatedPerson",
        "id": resource_id,
        "patient": {"reference": of},
        "identifier": [{"system": CPR_SYSTEM, "value": cpr}],
        "relationship": [{"coding": [{"system": ROLE_CODES, "code": code}]}],
    }


def service_request(
    cpr: str,
    *,
    department: str = "DEP-A",
    indication: str = "R59",
    priority: str = "routine",
    identifier: str | None = None,
    mother: str | None = None,
    father: str | None = None,
) -> dict[str, Any]:
    """A valid WGS ServiceRequest following the README's conventions."""
    contained: list[dict[str, Any]] = [patient("pat", cpr)]
    supporting: list[dict[str, Any]] = []
    if mother is not None:
        contained.append(relative("mother", mother, "MTH"))
        supporting.append({"reference": "#mother"})
    if father is not None:
        contained.append(relative("father", father, "FTH"))
        supporting.append({"reference": "#father"})
    resource: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "id": "sr-" + secrets.token_hex(4),
        "identifier": [{"system": "urn:example:placer", "value": identifier or order_id()}],
        "status": "active",
        "intent": "order",
        "priority": priority,
        "code": {
            "coding": [
                {
                    "system": "http://loinc.org",
                    "code": "86206-0",
                    "display": "Whole genome sequence analysis",
                }
            ]
        },
        "subject": {"reference": "#pat"},
        "authoredOn": "2026-11-20T10:00:00+01:00",
        "requester": {
            "identifier": {"system": "urn:helgenom:department", "value": department},
            "display": "Department A",
        },
        "reasonCode": [
            {
                "coding": [
                    {"system": "urn:helgenom:indication", "code": indication},
                    {"system": "http://hl7.org/fhir/sid/icd-10", "code": "G40.9"},
                ]
            }
        ],
        "contained": contained,
    }
    if supporting:
        resource["supportingInfo"] = supporting
    return resource


# ----------------------------------------------------------------------------- helpers


@pytest.fixture
def orders(world: World) -> World:
    """The world with the indication catalogue loaded."""
    p = world.platform
    p.indications.load(p.context(), json.dumps(CATALOGUE))
    return world


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def catalogue_only(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Platform]:
    """One instance per backend for the tests of refused orders (which write nothing)."""
    database_url: str | None = None
    admin_engine: sa.Engine | None = None
    db_name = f"helgenom_test_{secrets.token_hex(6)}"
    if request.param == "postgresql":
        require_postgres()
        admin_engine = _pg_admin_engine()
        with admin_engine.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{db_name}"'))
        database_url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{db_name}"
    home = tmp_path_factory.mktemp(f"orders-{request.param}") / "instance"
    try:
        init_instance(home, database_url=database_url)
        p = open_platform(str(home))
        try:
            admin = p.context()
            for code in ("DEP-A", "DEP-B"):
                p.directory.add_org(admin, code, f"Department {code[-1]}")
            p.directory.add_user(admin, "clin-a", Role.CLINICIAN, "DEP-A")
            p.indications.load(admin, json.dumps(CATALOGUE))
            yield p
        finally:
            p.close()
    finally:
        if admin_engine is not None:
            with admin_engine.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)'))
            admin_engine.dispose()


def pseudonym(p: Platform, cpr: str) -> str:
    return p.persons.vault.pseudonym(parse_cpr(cpr))


def counts(p: Platform) -> dict[str, int]:
    with p.catalog.engine.connect() as conn:
        return {
            t.name: int(conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one())
            for t in (persons, requisitions, samples, sample_events)
        }


def audit_rows(p: Platform) -> list[Any]:
    with p.catalog.engine.connect() as conn:
        return list(conn.execute(sa.select(audit_log).order_by(audit_log.c.seq)).all())


def cpr_forms(cpr: str) -> list[str]:
    digits = re.sub(r"\D", "", cpr)
    return [cpr, digits, f"{digits[:6]}-{digits[6:]}"]


def assert_no_cpr(text: str, *cprs: str) -> None:
    for cpr in cprs:
        for form in cpr_forms(cpr):
            assert form not in text, "a CPR number appears"


def rejected(p: Platform, actor: str, document: object) -> FhirValidationError:
    """Submit ``document``; it must be refused with nothing written."""
    before = counts(p)
    with pytest.raises(FhirValidationError) as caught:
        p.requisitions.submit(p.context(actor), document)  # type: ignore[arg-type]
    assert counts(p) == before, "an invalid order wrote something"
    return caught.value


def locations(exc: FhirValidationError) -> dict[str, str]:
    return {i.location: i.code for i in exc.issues}


# ----------------------------------------------------------------------------- valid orders


def test_singleton_order_creates_requisition_person_and_sample(orders: World) -> None:
    p = orders.platform
    cpr = make_cpr(201)
    before = counts(p)
    result = p.requisitions.submit(
        p.context("clin-a"), json.dumps(service_request(cpr, priority="urgent"))
    )
    assert result.requisition_id.startswith("REQ-")
    assert (result.department, result.indication, result.indication_version) == (
        "DEP-A",
        "R59",
        1,
    )
    assert result.priority.value == "urgent"
    (sample,) = result.samples
    assert sample.relationship.value == "proband"
    assert sample.requisition_id == result.requisition_id
    after = counts(p)
    assert after["persons"] == before["persons"] + 1
    assert after["requisitions"] == before["requisitions"] + 1
    assert after["samples"] == before["samples"] + 1

    view = p.persons.show(p.context("clin-a"), cpr)
    assert view.requisitions == (result.requisition_id,)
    rows = {r.sample_id: r for r in p.samples.status(p.context("operator"))}
    row = rows[sample.sample_id]
    assert (row.state, row.department, row.origin.value) == ("ordered", "DEP-A", "clinical")
    assert (row.relationship, row.priority) == ("proband", "urgent")
    (created,) = p.samples.history(p.context("operator"), sample.sample_id)
    assert (created.from_state, created.to_state.value, created.actor) == (
        None,
        "ordered",
        "clin-a",
    )
    entry = audit_rows(p)[-1]
    assert (entry.action, entry.decision, entry.actor) == ("sample.read", "allow", "operator")
    submit_entry = next(e for e in reversed(audit_rows(p)) if e.action == "requisition.create")
    assert submit_entry.decision == "allow"
    assert submit_entry.resource == f"requisition/{result.requisition_id}"
    assert json.loads(submit_entry.subjects) == [pseudonym(p, cpr)]
    assert "R59 v1" in submit_entry.reason


def test_trio_order_creates_three_persons_and_samples(orders: World) -> None:
    p = orders.platform
    child, mother, father = make_cpr(211), make_cpr(212), make_cpr(213, Sex.MALE)
    document = service_request(child, mother=mother, father=father, priority="stat")
    result = p.requisitions.submit(p.context("clin-a"), document)
    assert [s.relationship.value for s in result.samples] == ["proband", "mother", "father"]
    assert len({s.sample_id for s in result.samples}) == 3
    with p.catalog.engine.connect() as conn:
        rows = {
            r.id: r
            for r in conn.execute(
                sa.select(requisitions).where(
                    sa.or_(
                        requisitions.c.id == result.requisition_id,
                        requisitions.c.proband_requisition_id == result.requisition_id,
                    )
                )
            )
        }
    assert len(rows) == 3
    proband = rows[result.requisition_id]
    assert (proband.relationship, proband.proband_requisition_id) == ("proband", None)
    assert proband.order_key == f"urn:example:placer|{document['identifier'][0]['value']}"
    for s in result.samples[1:]:
        member = rows[s.requisition_id]
        assert member.proband_requisition_id == result.requisition_id
        assert member.relationship == s.relationship.value
        assert member.order_key is None
        assert (member.indication, member.indication_version, member.priority) == ("R59", 1, "stat")
    # The requesting department's care team reaches every person of the order ...
    for cpr in (child, mother, father):
        assert p.persons.show(p.context("gen-a"), cpr).pseudonym == pseudonym(p, cpr)
    # ... and another department's does not.
    with pytest.raises(PermissionDeniedError):
        p.persons.show(p.context("gen-b"), mother)
    entry = next(e for e in reversed(audit_rows(p)) if e.action == "requisition.create")
    assert set(json.loads(entry.subjects)) == {pseudonym(p, c) for c in (child, mother, father)}


def test_subject_by_identifier_and_natural_parent_codes(orders: World) -> None:
    p = orders.platform
    child, mother = make_cpr(221), make_cpr(222)
    document = service_request(child, mother=mother)
    document["subject"] = {"identifier": {"system": CPR_SYSTEM, "value": child}}
    document["contained"] = [relative("mother", mother, "NMTH", of="#nobody")]
    result = p.requisitions.submit(p.context("clin-a"), document)
    assert [s.relationship.value for s in result.samples] == ["proband", "mother"]


def test_an_already_registered_person_can_be_ordered_again(orders: World) -> None:
    p = orders.platform
    first = p.requisitions.submit(p.context("clin-a"), service_request(orders.patient_a))
    second = p.requisitions.submit(p.context("clin-a"), service_request(orders.patient_a))
    assert first.requisition_id != second.requisition_id
    view = p.persons.show(p.context("clin-a"), orders.patient_a)
    assert {first.requisition_id, second.requisition_id} <= set(view.requisitions)


def test_other_supporting_info_is_left_alone(orders: World) -> None:
    p = orders.platform
    document = service_request(make_cpr(231))
    document["contained"].append(
        {
            "resourceType": "Observation",
            "id": "note",
            "status": "final",
            "code": {"text": "seizures since age 2"},
        }
    )
    document["supportingInfo"] = [{"reference": "#note"}, {"reference": "DocumentReference/1"}]
    result = p.requisitions.submit(p.context("clin-a"), document)
    assert len(result.samples) == 1


# ----------------------------------------------------------------------------- invalid orders

Mutation = Callable[[dict[str, Any]], None]


def _set(path: str, value: Any) -> Mutation:
    def mutate(d: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = d
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        if value is _DELETE:
            del node[int(last) if last.isdigit() else last]
        else:
            node[int(last) if last.isdigit() else last] = value

    return mutate


def _drop(*keys: str) -> Mutation:
    def mutate(d: dict[str, Any]) -> None:
        for key in keys:
            del d[key]

    return mutate


_DELETE = object()
R = "ServiceRequest"
PAT_CPR = f"{R}.contained[0].identifier[0].value"

INVALID: dict[str, tuple[Mutation, str, str]] = {
    # name: (mutation, location, issue code)
    "status-missing": (_set("status", _DELETE), f"{R}.status", "required"),
    "status-draft": (_set("status", "draft"), f"{R}.status", "code-invalid"),
    "intent-plan": (_set("intent", "plan"), f"{R}.intent", "code-invalid"),
    "priority-missing": (_set("priority", _DELETE), f"{R}.priority", "required"),
    "priority-unknown": (_set("priority", "whenever"), f"{R}.priority", "code-invalid"),
    "priority-a-number": (_set("priority", 3), f"{R}.priority", "code-invalid"),
    "code-missing": (_set("code", _DELETE), f"{R}.code", "required"),
    "code-not-wgs": (
        _set("code.coding.0.code", "81247-9"),
        f"{R}.code.coding",
        "code-invalid",
    ),
    "no-identifier-no-id": (
        _drop("identifier", "id"),
        f"{R}.identifier",
        "required",
    ),
    "identifier-without-system": (
        _set("identifier.0.system", _DELETE),
        f"{R}.identifier[0]",
        "required",
    ),
    "requester-missing": (_set("requester", _DELETE), f"{R}.requester", "required"),
    "requester-wrong-system": (
        _set("requester.identifier.system", "urn:example:hospital"),
        f"{R}.requester.identifier",
        "required",
    ),
    "department-bad-code": (
        _set("requester.identifier.value", "DEP A!"),
        f"{R}.requester.identifier.value",
        "value",
    ),
    "reason-missing": (_set("reasonCode", _DELETE), f"{R}.reasonCode", "required"),
    "reason-without-helgenom-coding": (
        _set("reasonCode.0.coding.0.system", "urn:example:other"),
        f"{R}.reasonCode[0].coding",
        "required",
    ),
    "indication-unknown": (
        _set("reasonCode.0.coding.0.code", "R999"),
        f"{R}.reasonCode[0].coding[0].code",
        "not-found",
    ),
    "indication-not-for-department": (
        _set("reasonCode.0.coding.0.code", "R14"),
        f"{R}.reasonCode[0].coding[0].code",
        "business-rule",
    ),
    "indication-withdrawn": (
        _set("reasonCode.0.coding.0.code", "R00"),
        f"{R}.reasonCode[0].coding[0].code",
        "business-rule",
    ),
    "subject-missing": (_set("subject", _DELETE), f"{R}.subject", "required"),
    "subject-external-reference": (
        _set("subject.reference", "Patient/123"),
        f"{R}.subject.reference",
        "value",
    ),
    "subject-dangling-reference": (
        _set("subject.reference", "#nobody"),
        f"{R}.subject.reference",
        "not-found",
    ),
    "patient-without-cpr": (
        _set("contained.0.identifier.0.system", "urn:example:mrn"),
        f"{R}.contained[0].identifier",
        "required",
    ),
    "cpr-malformed": (_set("contained.0.identifier.0.value", "12345"), PAT_CPR, "value"),
    "cpr-impossible-date": (
        _set("contained.0.identifier.0.value", "320190-1234"),
        PAT_CPR,
        "value",
    ),
    "cpr-not-text": (_set("contained.0.identifier.0.value", 1234), PAT_CPR, "required"),
    "unknown-element": (_set("colour", "blue"), f"{R}.colour", "structure"),
    "bad-date": (_set("authoredOn", "yesterday"), f"{R}.authoredOn", "value"),
    "unknown-contained-type": (
        lambda d: d["contained"].append({"resourceType": "Pokemon", "id": "x"}),
        f"{R}.contained[1].resourceType",
        "structure",
    ),
    "supporting-info-dangling": (
        _set("supportingInfo", [{"reference": "#ghost"}]),
        f"{R}.supportingInfo[0].reference",
        "not-found",
    ),
}

FAMILY_INVALID: dict[str, tuple[Mutation, str, str]] = {
    "relationship-sister": (
        _set("contained.1.relationship.0.coding.0.code", "SIS"),
        f"{R}.contained[1].relationship",
        "code-invalid",
    ),
    "two-mothers": (
        _set("contained.2.relationship.0.coding.0.code", "MTH"),
        f"{R}.contained[2].relationship",
        "business-rule",
    ),
    "relative-of-someone-else": (
        _set("contained.1.patient.reference", "#other"),
        f"{R}.contained[1].patient",
        "business-rule",
    ),
    "relative-without-cpr": (
        _set("contained.2.identifier", []),
        f"{R}.contained[2].identifier",
        "required",
    ),
}


@pytest.mark.parametrize("name", sorted(INVALID))
def test_each_invalid_variant_is_rejected_with_its_problem(
    catalogue_only: Platform, name: str
) -> None:
    p = catalogue_only
    mutate, location, code = INVALID[name]
    document = service_request(make_cpr(300))
    mutate(document)
    exc = rejected(p, "clin-a", document)
    assert locations(exc).get(location) == code, exc.issues
    assert location in str(exc)
    outcome = exc.operation_outcome()
    OperationOutcome.model_validate(outcome)  # a real FHIR OperationOutcome
    assert any(location in i.get("expression", []) for i in outcome["issue"])


@pytest.mark.parametrize("name", sorted(FAMILY_INVALID))
def test_each_invalid_family_variant_is_rejected(catalogue_only: Platform, name: str) -> None:
    p = catalogue_only
    mutate, location, code = FAMILY_INVALID[name]
    document = service_request(make_cpr(310), mother=make_cpr(311), father=make_cpr(312, Sex.MALE))
    mutate(document)
    exc = rejected(p, "clin-a", document)
    assert locations(exc).get(location) == code, exc.issues


def test_same_person_twice_in_one_order(catalogue_only: Platform) -> None:
    p = catalogue_only
    cpr = make_cpr(320)
    exc = rejected(p, "clin-a", service_request(cpr, mother=cpr))
    assert locations(exc)[f"{R}.contained[1].identifier[0].value"] == "business-rule"
    assert_no_cpr(str(exc), cpr)


def test_every_problem_is_listed_at_once(catalogue_only: Platform) -> None:
    p = catalogue_only
    bad_cpr = "320190-1234"  # a day that does not exist
    document = service_request(bad_cpr, mother=make_cpr(331), father=make_cpr(332, Sex.MALE))
    document["status"] = "draft"
    document["intent"] = 7
    del document["priority"]
    document["reasonCode"][0]["coding"][0]["code"] = "R999"
    document["contained"][1]["relationship"][0]["coding"][0]["code"] = "SIS"
    document["colour"] = "blue"
    del document["code"]
    exc = rejected(p, "clin-a", document)
    assert locations(exc) == {
        f"{R}.status": "code-invalid",
        f"{R}.intent": "code-invalid",
        f"{R}.priority": "required",
        f"{R}.code": "required",
        f"{R}.reasonCode[0].coding[0].code": "not-found",
        PAT_CPR: "value",
        f"{R}.contained[1].relationship": "code-invalid",
        f"{R}.colour": "structure",
    }
    assert all(i.severity == "error" and i.diagnostics for i in exc.issues)
    assert "8 problems" in str(exc)
    outcome = OperationOutcome.model_validate(exc.operation_outcome())
    assert len(outcome.issue) == 8
    assert_no_cpr(str(exc) + json.dumps(exc.operation_outcome()), bad_cpr)


def test_documents_that_are_not_service_requests(catalogue_only: Platform) -> None:
    p = catalogue_only
    for document, phrase in [
        (b"{not json", "not JSON"),
        ("[1, 2]", "JSON object"),
        ({"resourceType": "Patient"}, "must be a FHIR ServiceRequest, not 'Patient'"),
        (b"{\xc3\x28}", "not UTF-8"),
        (b" " * (1 << 20) + b"{}", "larger than"),
    ]:
        exc = rejected(p, "clin-a", document)
        assert len(exc.issues) == 1
        assert phrase in exc.issues[0].diagnostics
        assert exc.issues[0].severity == "fatal"


# ----------------------------------------------------------------------------- no CPR echoed


def test_a_cpr_number_is_never_echoed(catalogue_only: Platform) -> None:
    """Invalid CPRs in the CPR field and valid CPRs typed into other fields stay unseen."""
    p = catalogue_only
    impossible = "320190-1234"
    valid = make_cpr(341)
    misplaced = make_cpr(342)
    too_long = make_cpr(347).replace("-", "") + "567"  # a CPR with digits appended
    document = service_request(impossible, mother=too_long)
    document["status"] = misplaced
    document["priority"] = valid.replace("-", "")
    document["reasonCode"][0]["coding"][0]["code"] = valid
    document["identifier"][0]["value"] = 1234567890  # wrong type, a number
    document["authoredOn"] = misplaced
    exc = rejected(p, "clin-a", document)
    text = str(exc) + repr(exc.issues) + json.dumps(exc.operation_outcome())
    assert_no_cpr(text, impossible, valid, misplaced, too_long, "1234567890")
    assert len(exc.issues) >= 6
    log = "\n".join(repr(tuple(r)) for r in audit_rows(p))
    assert_no_cpr(log, impossible, valid, misplaced)


def test_a_department_that_looks_like_a_cpr_is_not_echoed(orders: World) -> None:
    p = orders.platform
    cpr = make_cpr(343)
    document = service_request(make_cpr(344), department=cpr.replace("-", ""))
    with pytest.raises(PermissionDeniedError) as caught:
        p.requisitions.submit(p.context("clin-a"), document)
    assert_no_cpr(str(caught.value) + audit_rows(p)[-1].reason, cpr)


def test_redact_numbers() -> None:
    cpr = make_cpr(345)
    for text in (cpr, cpr.replace("-", ""), f"x{cpr}y", f"{cpr[:2]} {cpr[2:4]} {cpr[4:]}"):
        assert_no_cpr(redact_numbers(text), cpr)
    assert redact_numbers("R59 v2 at 2026-11-20, ORD-12345") == "R59 v2 at 2026-11-20, ORD-12345"


def test_issue_diagnostics_are_redacted_by_the_error_itself() -> None:
    cpr = make_cpr(346)
    exc = FhirValidationError([Issue("error", "value", "X.y", f"bad {cpr}")], "ServiceRequest")
    assert_no_cpr(str(exc) + repr(exc.issues) + json.dumps(exc.operation_outcome()), cpr)


# ----------------------------------------------------------------------------- who may order


def test_a_clinician_of_another_department_is_denied_and_audited(orders: World) -> None:
    p = orders.platform
    before, entries = counts(p), len(audit_rows(p))
    cpr = make_cpr(351)
    with pytest.raises(PermissionDeniedError, match="own department"):
        p.requisitions.submit(p.context("clin-b"), service_request(cpr, department="DEP-A"))
    assert counts(p) == before
    rows = audit_rows(p)
    assert len(rows) == entries + 1
    entry = rows[-1]
    assert (entry.action, entry.decision, entry.actor) == ("requisition.create", "deny", "clin-b")
    assert "DEP-A" in entry.reason
    assert json.loads(entry.subjects) == []


def test_the_department_rule_comes_before_validation(orders: World) -> None:
    p = orders.platform
    document = service_request("320190-1234", department="DEP-A")
    document["status"] = "draft"
    with pytest.raises(PermissionDeniedError):
        p.requisitions.submit(p.context("clin-b"), document)


@pytest.mark.parametrize("actor", ["operator", "gen-a", "admin", "steward", "citizen", "auditor"])
def test_only_clinicians_submit(orders: World, actor: str) -> None:
    p = orders.platform
    before, entries = counts(p), len(audit_rows(p))
    with pytest.raises(PermissionDeniedError):
        # Denied before the document is even read: an invalid one is denied the same way.
        p.requisitions.submit(p.context(actor), b"{not json")
    assert counts(p) == before
    rows = audit_rows(p)
    assert len(rows) == entries + 1
    assert (rows[-1].decision, rows[-1].action) == ("deny", "requisition.create")


def test_clinician_of_department_b_orders_what_b_may(orders: World) -> None:
    p = orders.platform
    result = p.requisitions.submit(
        p.context("clin-b"), service_request(make_cpr(352), department="DEP-B", indication="R14")
    )
    assert (result.department, result.indication) == ("DEP-B", "R14")


# ----------------------------------------------------------------------------- duplicates


def test_resubmitting_the_same_order_is_a_conflict(orders: World) -> None:
    """Same identifier from the same department: refused, naming the first requisition."""
    p = orders.platform
    document = service_request(make_cpr(361), mother=make_cpr(362))
    first = p.requisitions.submit(p.context("clin-a"), document)
    before, entries = counts(p), len(audit_rows(p))
    again = copy.deepcopy(document)
    again["priority"] = "stat"  # a changed order with the same identifier is still the same one
    with pytest.raises(ConflictError, match=first.requisition_id):
        p.requisitions.submit(p.context("clin-a"), again)
    assert counts(p) == before
    rows = audit_rows(p)
    assert len(rows) == entries + 1
    assert rows[-1].decision == "error"
    assert "conflict" in rows[-1].reason


def test_an_order_without_identifier_is_keyed_by_its_id(orders: World) -> None:
    p = orders.platform
    document = service_request(make_cpr(363))
    del document["identifier"]
    p.requisitions.submit(p.context("clin-a"), document)
    with pytest.raises(ConflictError):
        p.requisitions.submit(p.context("clin-a"), document)
    document["id"] = "another-id"
    p.requisitions.submit(p.context("clin-a"), document)


def test_the_same_order_number_from_another_department_is_another_order(orders: World) -> None:
    p = orders.platform
    number = order_id()
    first = p.requisitions.submit(
        p.context("clin-a"), service_request(make_cpr(364), identifier=number)
    )
    second = p.requisitions.submit(
        p.context("clin-b"),
        service_request(make_cpr(365), department="DEP-B", identifier=number),
    )
    assert first.requisition_id != second.requisition_id


# ----------------------------------------------------------------------------- indications


def _catalogue(*entries: dict[str, Any]) -> str:
    return json.dumps({"format_version": 1, "indications": list(entries)})


def test_indication_versions(world: World) -> None:
    p = world.platform
    admin = p.context()
    entry = {"code": "R59", "name": "Epilepsy", "gene_panel": "panel v1", "departments": ["DEP-A"]}
    assert [
        (r.code, r.version, r.status) for r in p.indications.load(admin, _catalogue(entry))
    ] == [("R59", 1, "new")]
    assert p.indications.load(admin, _catalogue(entry))[0].status == "unchanged"
    first = p.requisitions.submit(p.context("clin-a"), service_request(make_cpr(371)))
    assert first.indication_version == 1

    changed = {**entry, "gene_panel": "panel v2", "departments": ["DEP-B", "DEP-A", "DEP-A"]}
    (loaded,) = p.indications.load(admin, _catalogue(changed))
    assert (loaded.version, loaded.status) == (2, "updated")
    second = p.requisitions.submit(p.context("clin-a"), service_request(make_cpr(372)))
    assert second.indication_version == 2

    (current,) = p.indications.list_indications()
    assert (current.version, current.gene_panel, current.departments) == (
        2,
        "panel v2",
        ("DEP-A", "DEP-B"),
    )
    assert [i.version for i in p.indications.list_indications(all_versions=True)] == [1, 2]
    with p.catalog.engine.connect() as conn:
        recorded = dict(
            conn.execute(
                sa.select(requisitions.c.id, requisitions.c.indication_version).where(
                    requisitions.c.id.in_([first.requisition_id, second.requisition_id])
                )
            ).all()
        )
    assert recorded == {first.requisition_id: 1, second.requisition_id: 2}

    # Withdrawing is a new version too; the old ones stay.
    p.indications.load(admin, _catalogue({**changed, "active": False}))
    exc = rejected(p, "clin-a", service_request(make_cpr(373)))
    assert "withdrawn (version 3)" in str(exc)
    assert [i.version for i in p.indications.list_indications(all_versions=True)] == [1, 2, 3]


def test_indication_versions_are_append_only(world: World) -> None:
    p = world.platform
    p.indications.load(p.context(), json.dumps(CATALOGUE))
    with pytest.raises(sa.exc.DatabaseError), p.catalog.begin() as conn:
        conn.execute(indications.update().values(gene_panel="tampered"))
    with pytest.raises(sa.exc.DatabaseError), p.catalog.begin() as conn:
        conn.execute(indications.delete())


@pytest.mark.parametrize(
    ("document", "phrases"),
    [
        ("{", ["not valid JSON at line 1"]),
        ("[]", ["must be a JSON object"]),
        ('{"indications": []}', ["format_version None is not supported"]),
        ('{"format_version": 2, "indications": []}', ["format_version 2"]),
        ('{"format_version": 1, "indications": []}', ["non-empty list"]),
        (
            _catalogue(
                {"code": "bad code!", "name": "", "gene_panel": "p", "departments": []},
                {"code": "R1", "name": "n", "gene_panel": "p", "departments": ["DEP-A"]},
                {"code": "R1", "name": "n", "gene_panel": "p", "departments": ["DEP-A"], "x": 1},
                {"code": "R2", "name": "n", "gene_panel": "p", "departments": "DEP-A"},
                {
                    "code": "R3",
                    "name": "n",
                    "gene_panel": "p",
                    "departments": ["DEP-A"],
                    "active": 1,
                },
            ),
            [
                "indications[0].code",
                "indications[0].name",
                "indications[0].departments",
                "indications[2].code R1 appears twice",
                "unknown keys ['x']",
                "indications[3] (R2).departments",
                "indications[4] (R3).active",
            ],
        ),
        (
            _catalogue({"code": "R1", "name": "n", "gene_panel": "p", "departments": ["NOPE"]}),
            ["departments that do not exist: NOPE"],
        ),
        (
            _catalogue({"code": "R1", "name": "n", "gene_panel": "p", "departments": ["platform"]}),
            ["departments that do not exist: platform"],
        ),
    ],
)
def test_invalid_catalogues_are_refused_whole(
    world: World, document: str, phrases: list[str]
) -> None:
    p = world.platform
    with pytest.raises(InvalidInputError) as caught:
        p.indications.load(p.context(), document)
    for phrase in phrases:
        assert phrase in str(caught.value)
    assert p.indications.list_indications(all_versions=True) == []


@pytest.mark.parametrize("actor", ["clin-a", "operator", "steward", "auditor"])
def test_only_admins_load_the_catalogue(world: World, actor: str) -> None:
    p = world.platform
    entries = len(audit_rows(p))
    with pytest.raises(PermissionDeniedError):
        p.indications.load(p.context(actor), json.dumps(CATALOGUE))
    rows = audit_rows(p)
    assert len(rows) == entries + 1
    assert (rows[-1].action, rows[-1].decision) == ("indication.manage", "deny")
    assert p.indications.list_indications() == []


def test_loading_is_audited(world: World) -> None:
    p = world.platform
    p.indications.load(p.context(), json.dumps(CATALOGUE))
    entry = audit_rows(p)[-1]
    assert (entry.action, entry.decision, entry.resource) == (
        "indication.manage",
        "allow",
        "indications",
    )
    assert "3 new, 0 updated, 0 unchanged" in entry.reason


# ----------------------------------------------------------------------------- CLI

runner = CliRunner()


@pytest.fixture
def cli_home(orders: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    for var in ("HELGENOM_HOME", "HELGENOM_USER", "HELGENOM_DATABASE_URL"):
        monkeypatch.delenv(var, raising=False)
    # Wide tables, so that long locations are not folded across lines.
    monkeypatch.setattr(cli_main.out, "_width", 240)
    monkeypatch.setattr(cli_main.err, "_width", 240)
    return orders.platform.settings.home


def run(home: Path, *args: str) -> Result:
    return runner.invoke(
        app, ["--home", str(home), *args], env={"COLUMNS": "200", "HELGENOM_USER": None}
    )


def flat(text: str) -> str:
    return " ".join(re.sub("[\u2500-\u257f]", " ", text).split())


def write(tmp_path: Path, document: object) -> Path:
    path = tmp_path / f"order-{secrets.token_hex(3)}.json"
    path.write_text(json.dumps(document))
    return path


def test_cli_submit_prints_the_ids(cli_home: Path, tmp_path: Path) -> None:
    document = service_request(make_cpr(401), mother=make_cpr(402))
    result = run(
        cli_home, "--as", "clin-a", "requisition", "submit", str(write(tmp_path, document))
    )
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert re.fullmatch(r"requisition REQ-\w+: indication R59 v1, priority routine", lines[0])
    assert re.fullmatch(r"sample S-\w+ \(proband, requisition REQ-\w+\)", lines[1])
    assert re.fullmatch(r"sample S-\w+ \(mother, requisition REQ-\w+\)", lines[2])

    document = service_request(make_cpr(403))
    result = run(
        cli_home,
        "--as",
        "clin-a",
        "requisition",
        "submit",
        str(write(tmp_path, document)),
        "--json",
    )
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert answer["indication"] == {"code": "R59", "version": 1}
    assert [s["relationship"] for s in answer["samples"]] == ["proband"]


def test_cli_invalid_order_exits_2_with_the_outcome_table(cli_home: Path, tmp_path: Path) -> None:
    bad_cpr = "320190-1234"
    document = service_request(bad_cpr)
    document["status"] = "draft"
    document["reasonCode"][0]["coding"][0]["code"] = "R999"
    result = run(
        cli_home, "--as", "clin-a", "requisition", "submit", str(write(tmp_path, document))
    )
    assert result.exit_code == 2, result.output
    text = flat(result.stderr)
    assert "OperationOutcome: 3 problems in the ServiceRequest" in text
    for location in (f"{R}.status", PAT_CPR, f"{R}.reasonCode[0].coding[0].code"):
        assert location in text
    assert "unknown indication 'R999'" in text
    assert "error (fhir_invalid): the ServiceRequest is not valid (3 problems)" in text
    assert "Traceback" not in result.output
    assert_no_cpr(result.output, bad_cpr)

    result = run(
        cli_home,
        "--as",
        "clin-a",
        "requisition",
        "submit",
        str(write(tmp_path, document)),
        "--json",
    )
    assert result.exit_code == 2
    outcome = OperationOutcome.model_validate(json.loads(result.stdout))
    assert len(outcome.issue) == 3
    assert_no_cpr(result.output, bad_cpr)


def test_cli_denied_exits_6_and_conflict_exits_4(cli_home: Path, tmp_path: Path) -> None:
    path = write(tmp_path, service_request(make_cpr(411)))
    result = run(cli_home, "--as", "clin-b", "requisition", "submit", str(path))
    assert result.exit_code == 6, result.output
    assert "error (permission_denied)" in result.stderr
    assert run(cli_home, "--as", "clin-a", "requisition", "submit", str(path)).exit_code == 0
    result = run(cli_home, "--as", "clin-a", "requisition", "submit", str(path))
    assert result.exit_code == 4, result.output
    assert "already submitted as requisition REQ-" in result.stderr
    result = run(
        cli_home, "--as", "clin-a", "requisition", "submit", str(tmp_path / "missing.json")
    )
    assert result.exit_code == 2
    assert "cannot read" in result.stderr


def test_cli_indication_load_and_list(cli_home: Path, tmp_path: Path) -> None:
    catalogue = tmp_path / "catalogue.json"
    catalogue.write_text(
        _catalogue(
            {"code": "R59", "name": "Epilepsy", "gene_panel": "panel v9", "departments": ["DEP-A"]}
        )
    )
    result = run(cli_home, "indication", "load", str(catalogue))
    assert result.exit_code == 0, result.output
    assert "R59 2 updated" in flat(result.stdout)
    result = run(cli_home, "--as", "clin-a", "indication", "list")
    assert result.exit_code == 0, result.output
    text = flat(result.stdout)
    assert "R59 2 Epilepsy panel v9 DEP-A yes" in text
    assert "R00" in text
    assert "withdrawn" in text
    result = run(cli_home, "--as", "clin-a", "indication", "list", "--all")
    assert "R59 1 Early onset" in flat(result.stdout)
    result = run(cli_home, "--as", "clin-a", "indication", "load", str(catalogue))
    assert result.exit_code == 6
    catalogue.write_text('{"format_version": 9}')
    result = run(cli_home, "indication", "load", str(catalogue))
    assert result.exit_code == 2
    assert "format_version 9 is not supported" in result.stderr
