"""Reading a FHIR R4 ``ServiceRequest`` for whole-genome sequencing.

Two passes over the same JSON object, both reporting every problem they find:

1. the FHIR schema, checked by ``fhir.resources`` (its R4B models, which read R4-shaped
   resources): structure, types, required elements, unknown elements;
2. helgenom's conventions, read from the raw object so that they are checked even when
   the schema pass failed: the codes ``fhir.resources`` does not check (status,
   intent, priority), the CPR numbers, the department, the indication, the family.

The conventions (also in the README, section "Requisitions"):

=====================  ======================================================================
element                convention
=====================  ======================================================================
``status``             ``active``
``intent``             ``order``
``priority``           ``routine``, ``urgent``, ``asap`` or ``stat`` (required)
``code``               a coding for whole-genome sequencing: ``http://loinc.org|86206-0`` or
                       ``urn:helgenom:service|WGS``
``identifier``         the placer's order number (system and value); without one, the
                       resource ``id``. Either names the order for duplicate detection.
``subject``            ``{"reference": "#id"}`` to a contained ``Patient``, or
                       ``{"identifier": ...}``; the CPR identifier has the system
                       ``urn:oid:1.2.208.176.1.2``
``requester``          ``{"identifier": {"system": "urn:helgenom:department",
                       "value": CODE}}``: the requesting department's helgenom code
``reasonCode[0]``      one coding with system ``urn:helgenom:indication``: the indication
                       code of the catalogue (other codings, ICD-10 or HPO, may sit beside it)
``reasonCode[*]``      codings with an HPO system (``http://purl.obolibrary.org/obo/hp.owl``
                       or ``http://human-phenotype-ontology.org``) and a code ``HP:NNNNNNN``:
                       the proband's phenotype, kept for the interpretation case
``supportingInfo``     for a trio: references ``#id`` to contained ``RelatedPerson``
                       resources, each with ``patient`` = the subject, a CPR identifier and
                       ``relationship`` from ``http://terminology.hl7.org/CodeSystem/
                       v3-RoleCode``: ``MTH``/``NMTH`` (mother) or ``FTH``/``NFTH`` (father).
                       Other supporting information is left alone.
=====================  ======================================================================
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from helgenom.core.cpr import parse_cpr
from helgenom.core.errors import InvalidCprError, Issue
from helgenom.core.requisitions import OrderedPerson, OrderFacts, Priority, Relationship

CPR_SYSTEM = "urn:oid:1.2.208.176.1.2"
"""The identifier system of the Danish CPR number."""
DEPARTMENT_SYSTEM = "urn:helgenom:department"
"""The identifier system of a helgenom department code."""
INDICATION_SYSTEM = "urn:helgenom:indication"
"""The code system of the indication catalogue."""
HPO_SYSTEMS = frozenset(
    {"http://purl.obolibrary.org/obo/hp.owl", "http://human-phenotype-ontology.org"}
)
"""Code systems of the Human Phenotype Ontology (the FHIR registry's and the older one)."""
_HPO_CODE = re.compile(r"HP:\d{7}")
SERVICE_SYSTEM = "urn:helgenom:service"
"""helgenom's code system for the ordered service."""
ROLE_CODE_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
"""HL7 v3 RoleCode: family relationships."""
WGS_CODES: frozenset[tuple[str, str]] = frozenset(
    {("http://loinc.org", "86206-0"), (SERVICE_SYSTEM, "WGS")}
)
"""Codings that name whole-genome sequencing."""
RELATIONSHIP_CODES: Mapping[str, Relationship] = {
    "MTH": Relationship.MOTHER,
    "NMTH": Relationship.MOTHER,
    "FTH": Relationship.FATHER,
    "NFTH": Relationship.FATHER,
}
"""v3 RoleCode codes accepted for the parents of a trio."""
MAX_ORDER_KEY_LENGTH = 255

ROOT = "ServiceRequest"

_STRUCTURE_ERRORS = frozenset(
    {
        "extra_forbidden",
        "model_type",
        "list_type",
        "dict_type",
        "json_invalid",
        "model_attributes_type",
    }
)


def _path(loc: tuple[int | str, ...], root: str = ROOT) -> str:
    """A pydantic location as a FHIRPath-like expression."""
    text = root
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part == "resource_type":
            text += ".resourceType"
        elif part.endswith("__ext"):
            text += "._" + part[: -len("__ext")]
        else:
            text += "." + part
    return text


def _clean(message: str) -> str:
    text = " ".join(message.replace("``", "'").split())
    return text.removeprefix("Value error, ")


def _is_resource_type(name: str) -> bool:
    from fhir.resources.R4B import get_fhir_model_class
    from fhir.resources.R4B.resource import Resource

    if not re.fullmatch(r"[A-Z][A-Za-z]{1,63}", name):
        return False
    try:
        model = get_fhir_model_class(name)
    except ValueError:
        return False
    return issubclass(model, Resource)


def schema_issues(document: Mapping[str, Any]) -> list[Issue]:
    """Every problem ``fhir.resources`` finds in the ServiceRequest (never the input values)."""
    from fhir.resources.R4B.servicerequest import ServiceRequest

    issues: list[Issue] = []
    data = dict(document)
    kept_index: list[int] = []
    contained = data.get("contained")
    if isinstance(contained, list):
        # fhir.resources fails outright on an unknown contained type: report it here and
        # let the schema pass check the rest.
        kept: list[Any] = []
        for i, item in enumerate(contained):
            where = f"{ROOT}.contained[{i}]"
            if not isinstance(item, dict):
                issues.append(Issue("error", "structure", where, "must be a FHIR resource"))
                continue
            kind = item.get("resourceType")
            if not isinstance(kind, str) or not _is_resource_type(kind):
                issues.append(
                    Issue(
                        "error",
                        "structure",
                        where + ".resourceType",
                        "a contained resource needs the resourceType of a FHIR R4 resource "
                        "(Patient, RelatedPerson, ...)",
                    )
                )
                continue
            kept.append(item)
            kept_index.append(i)
        data["contained"] = kept
    try:
        ServiceRequest.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors(include_url=False, include_input=False, include_context=False):
            loc = tuple(error["loc"])
            if len(loc) >= 2 and loc[0] == "contained" and isinstance(loc[1], int):
                loc = ("contained", kept_index[loc[1]], *loc[2:])
            kind = "required" if error["type"] == "missing" else "value"
            if error["type"] in _STRUCTURE_ERRORS or error["type"].endswith("_type"):
                kind = "structure"
            issues.append(Issue("error", kind, _path(loc), _clean(error["msg"])))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        # fhir.resources raises these for some malformed input instead of a ValidationError.
        issues.append(
            Issue(
                "error",
                "structure",
                ROOT,
                f"the resource could not be read as a FHIR ServiceRequest ({type(exc).__name__})",
            )
        )
    return issues


@dataclass
class _Reader:
    """helgenom's conventions, read defensively from the raw JSON object."""

    doc: Mapping[str, Any]
    issues: list[Issue] = field(default_factory=list)

    def problem(self, code: str, location: str, diagnostics: str) -> None:
        self.issues.append(Issue("error", code, location, diagnostics))

    # -- simple elements --------------------------------------------------------------------

    def code_value(self, name: str, allowed: tuple[str, ...], fix: str) -> str | None:
        value = self.doc.get(name)
        where = f"{ROOT}.{name}"
        if value is None:
            self.problem("required", where, f"{name} is missing: {fix}")
            return None
        if value not in allowed:
            shown = f", not {value!r}" if isinstance(value, str) and len(value) <= 40 else ""
            self.problem("code-invalid", where, f"{name} must be {fix}{shown}")
            return None
        return str(value)

    def service_code(self) -> None:
        where = f"{ROOT}.code"
        wanted = "http://loinc.org|86206-0 or urn:helgenom:service|WGS"
        code = self.doc.get("code")
        if code is None:
            self.problem(
                "required", where, f"code is missing: name whole-genome sequencing ({wanted})"
            )
            return
        codings = code.get("coding") if isinstance(code, dict) else None
        found = {
            (c.get("system"), c.get("code"))
            for c in (codings if isinstance(codings, list) else [])
            if isinstance(c, dict)
        }
        if not found & WGS_CODES:
            self.problem(
                "code-invalid",
                where + ".coding",
                f"helgenom sequences whole genomes: code.coding must hold {wanted}",
            )

    def order_key(self) -> str | None:
        identifiers = self.doc.get("identifier")
        if isinstance(identifiers, list) and identifiers:
            first = identifiers[0]
            where = f"{ROOT}.identifier[0]"
            system = first.get("system") if isinstance(first, dict) else None
            value = first.get("value") if isinstance(first, dict) else None
            if not isinstance(system, str) or not system or not isinstance(value, str) or not value:
                self.problem(
                    "required",
                    where,
                    "the order's identifier needs a system and a value (the placer's order number)",
                )
                return None
            key = f"{system}|{value}"
        elif isinstance(self.doc.get("id"), str) and self.doc["id"]:
            key = f"id|{self.doc['id']}"
        else:
            self.problem(
                "required",
                f"{ROOT}.identifier",
                "the order has neither identifier nor id: give identifier (the placer's order "
                "number, system and value) so that a resubmission is recognised",
            )
            return None
        if len(key) > MAX_ORDER_KEY_LENGTH:
            self.problem(
                "value",
                f"{ROOT}.identifier",
                f"the order's identifier is longer than {MAX_ORDER_KEY_LENGTH} characters",
            )
            return None
        return key

    def department(self) -> tuple[str | None, str]:
        where = f"{ROOT}.requester"
        fix = (
            f"give requester.identifier with system {DEPARTMENT_SYSTEM} and the department "
            "code as value"
        )
        requester = self.doc.get("requester")
        if requester is None:
            self.problem("required", where, f"requester is missing: {fix}")
            return None, where
        identifier = requester.get("identifier") if isinstance(requester, dict) else None
        where += ".identifier"
        if not isinstance(identifier, dict) or identifier.get("system") != DEPARTMENT_SYSTEM:
            self.problem("required", where, f"the requesting department is not named: {fix}")
            return None, where
        value = identifier.get("value")
        where += ".value"
        if not isinstance(value, str) or not value.strip():
            self.problem("required", where, f"the department code is missing: {fix}")
            return None, where
        return value.strip(), where

    def indication(self) -> tuple[str | None, str]:
        where = f"{ROOT}.reasonCode"
        fix = f"give reasonCode[0].coding with system {INDICATION_SYSTEM} and the indication code"
        reasons = self.doc.get("reasonCode")
        if not isinstance(reasons, list) or not reasons:
            if reasons is None or reasons == []:
                self.problem("required", where, f"the indication is missing: {fix}")
            return None, where
        first = reasons[0]
        codings = first.get("coding") if isinstance(first, dict) else None
        where += "[0].coding"
        matches = [
            (j, c)
            for j, c in enumerate(codings if isinstance(codings, list) else [])
            if isinstance(c, dict) and c.get("system") == INDICATION_SYSTEM
        ]
        if not matches:
            self.problem("required", where, f"no helgenom indication: {fix}")
            return None, where
        if len(matches) > 1:
            self.problem(
                "business-rule", where, "give exactly one indication (one urn:helgenom:indication)"
            )
            return None, where
        j, coding = matches[0]
        where = f"{where}[{j}].code"
        code = coding.get("code")
        if not isinstance(code, str) or not code.strip():
            self.problem("required", where, f"the indication code is empty: {fix}")
            return None, where
        return code.strip(), where

    def phenotypes(self) -> tuple[str, ...]:
        """HPO codes among the reasonCode codings (a malformed one is an issue)."""
        found: list[str] = []
        reasons = self.doc.get("reasonCode")
        for i, reason in enumerate(reasons if isinstance(reasons, list) else []):
            codings = reason.get("coding") if isinstance(reason, dict) else None
            for j, coding in enumerate(codings if isinstance(codings, list) else []):
                if not isinstance(coding, dict) or coding.get("system") not in HPO_SYSTEMS:
                    continue
                code = coding.get("code")
                if not isinstance(code, str) or not _HPO_CODE.fullmatch(code.strip()):
                    self.problem(
                        "value",
                        f"{ROOT}.reasonCode[{i}].coding[{j}].code",
                        "an HPO code must be HP: and seven digits (HP:0001250)",
                    )
                elif code.strip() not in found:
                    found.append(code.strip())
        return tuple(found)

    # -- persons -----------------------------------------------------------------------------

    def contained(self, reference: str) -> tuple[int, dict[str, Any]] | None:
        items = self.doc.get("contained")
        for i, item in enumerate(items if isinstance(items, list) else []):
            if isinstance(item, dict) and item.get("id") == reference[1:]:
                return i, item
        return None

    def cpr_of(self, identifiers: Any, where: str) -> tuple[Any, str] | None:
        """The parsed CPR among ``identifiers`` (a list or one identifier), else an issue."""
        listed = identifiers if isinstance(identifiers, list) else [identifiers]
        if identifiers is None:
            listed = []
        for k, identifier in enumerate(listed):
            if not isinstance(identifier, dict) or identifier.get("system") != CPR_SYSTEM:
                continue
            spot = (f"{where}[{k}]" if isinstance(identifiers, list) else where) + ".value"
            value = identifier.get("value")
            if not isinstance(value, str):
                self.problem("required", spot, "the CPR identifier has no value")
                return None
            try:
                return parse_cpr(value), spot
            except InvalidCprError as exc:
                self.problem("value", spot, str(exc))
                return None
        self.problem(
            "required",
            where,
            f"no CPR number: give an identifier with system {CPR_SYSTEM} and the CPR "
            "number as value",
        )
        return None

    def proband(self) -> tuple[OrderedPerson | None, str | None]:
        """The subject, and its reference (``#id``) when it is a contained Patient."""
        where = f"{ROOT}.subject"
        subject = self.doc.get("subject")
        if not isinstance(subject, dict):
            if subject is None:
                self.problem(
                    "required",
                    where,
                    "subject is missing: reference a contained Patient ('#id') with a CPR "
                    "identifier, or give subject.identifier",
                )
            return None, None
        reference = subject.get("reference")
        if reference is not None:
            if not isinstance(reference, str) or not reference.startswith("#"):
                self.problem(
                    "value",
                    where + ".reference",
                    "subject.reference must point to a contained Patient ('#id'); helgenom "
                    "does not fetch resources from other servers",
                )
                return None, None
            found = self.contained(reference)
            if found is None or found[1].get("resourceType") != "Patient":
                self.problem(
                    "not-found",
                    where + ".reference",
                    f"subject.reference {reference!r} names no contained Patient",
                )
                return None, reference
            i, patient = found
            parsed = self.cpr_of(patient.get("identifier"), f"{ROOT}.contained[{i}].identifier")
        else:
            parsed = self.cpr_of(subject.get("identifier"), where + ".identifier")
        if parsed is None:
            return None, reference
        return OrderedPerson(parsed[0], Relationship.PROBAND, parsed[1]), reference

    def family(self, subject_reference: str | None) -> list[OrderedPerson]:
        found: list[OrderedPerson] = []
        infos = self.doc.get("supportingInfo")
        seen: dict[Relationship, str] = {}
        for n, info in enumerate(infos if isinstance(infos, list) else []):
            reference = info.get("reference") if isinstance(info, dict) else None
            if not isinstance(reference, str) or not reference.startswith("#"):
                continue  # other supporting information, not a family member
            where = f"{ROOT}.supportingInfo[{n}].reference"
            target = self.contained(reference)
            if target is None:
                self.problem("not-found", where, f"{reference!r} names no contained resource")
                continue
            i, resource = target
            if resource.get("resourceType") != "RelatedPerson":
                continue
            base = f"{ROOT}.contained[{i}]"
            relationship = self.relationship(resource.get("relationship"), base)
            patient = resource.get("patient")
            patient_ref = patient.get("reference") if isinstance(patient, dict) else None
            if subject_reference is not None and patient_ref not in (None, subject_reference):
                self.problem(
                    "business-rule",
                    base + ".patient",
                    "a family member must be a relative of the subject: set patient.reference "
                    f"to {subject_reference!r}",
                )
            parsed = self.cpr_of(resource.get("identifier"), base + ".identifier")
            if relationship is not None:
                if relationship in seen:
                    self.problem(
                        "business-rule",
                        base + ".relationship",
                        f"the order names more than one {relationship.value} "
                        f"(also {seen[relationship]})",
                    )
                    continue
                seen[relationship] = base
            if parsed is not None and relationship is not None:
                found.append(OrderedPerson(parsed[0], relationship, parsed[1]))
        return found

    def relationship(self, concepts: Any, base: str) -> Relationship | None:
        for concept in concepts if isinstance(concepts, list) else []:
            codings = concept.get("coding") if isinstance(concept, dict) else None
            for coding in codings if isinstance(codings, list) else []:
                if isinstance(coding, dict) and coding.get("system") == ROLE_CODE_SYSTEM:
                    code = coding.get("code")
                    if isinstance(code, str) and code in RELATIONSHIP_CODES:
                        return RELATIONSHIP_CODES[code]
        self.problem(
            "code-invalid",
            base + ".relationship",
            f"a family member needs relationship {ROLE_CODE_SYSTEM} MTH (mother) or FTH (father)",
        )
        return None


def read_service_request(document: object) -> OrderFacts:
    """Read a whole-genome sequencing order; every problem becomes an issue.

    Parameters
    ----------
    document
        The parsed JSON of a FHIR R4 ``ServiceRequest``.

    Returns
    -------
    OrderFacts
        What could be read, and the issues (the order is acceptable when ``ok``; the
        catalogue's checks are the service's).
    """
    if not isinstance(document, dict):
        return OrderFacts(
            issues=(Issue("fatal", "structure", "", "the document must be a JSON object"),)
        )
    kind = document.get("resourceType")
    if kind != ROOT:
        shown = repr(kind) if isinstance(kind, str) and len(kind) <= 40 else "something else"
        return OrderFacts(
            issues=(
                Issue(
                    "fatal",
                    "structure",
                    "resourceType",
                    f"the document must be a FHIR ServiceRequest, not {shown}",
                ),
            )
        )
    reader = _Reader(document)
    reader.code_value("status", ("active",), "active (a new order)")
    reader.code_value("intent", ("order",), "order")
    priority = reader.code_value(
        "priority", tuple(p.value for p in Priority), "routine, urgent, asap or stat"
    )
    reader.service_code()
    order_key = reader.order_key()
    department, department_location = reader.department()
    indication, indication_location = reader.indication()
    hpo_terms = reader.phenotypes()
    proband, subject_reference = reader.proband()
    family = reader.family(subject_reference)
    persons = ([proband] if proband is not None else []) + family
    for index, person in enumerate(persons):
        for earlier in persons[:index]:
            if earlier.cpr.digits == person.cpr.digits:
                reader.problem(
                    "business-rule",
                    person.location,
                    f"the {person.relationship.value} has the same CPR number as the "
                    f"{earlier.relationship.value}",
                )
    own = {i.location for i in reader.issues}
    issues = [*reader.issues, *(i for i in schema_issues(document) if i.location not in own)]
    return OrderFacts(
        order_key=order_key,
        department=department,
        department_location=department_location,
        indication=indication,
        indication_location=indication_location,
        priority=Priority(priority) if priority is not None else None,
        hpo_terms=hpo_terms,
        persons=tuple(persons),
        issues=tuple(issues),
    )


__all__ = [
    "CPR_SYSTEM",
    "DEPARTMENT_SYSTEM",
    "INDICATION_SYSTEM",
    "RELATIONSHIP_CODES",
    "ROLE_CODE_SYSTEM",
    "SERVICE_SYSTEM",
    "WGS_CODES",
    "read_service_request",
    "schema_issues",
]
