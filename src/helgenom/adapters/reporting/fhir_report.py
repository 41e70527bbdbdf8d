"""The report as an HL7 FHIR R4 ``Bundle`` (Genomics Reporting IG, STU3 style).

One ``collection`` Bundle per report, with deterministic ids (UUID version 5 of the
report id and the part), every reference an ``urn:uuid:`` that resolves to an entry:

=========================  ==========================================================
entry                      content
=========================  ==========================================================
``DiagnosticReport``       profile ``genomic-report``; code LOINC 51969-4; status;
                           ``basedOn`` the order; ``result`` every Observation;
                           ``conclusion`` and ``conclusionCode`` (overall
                           interpretation); methods and limitations as the IG's
                           ``genomic-report-note``; panel, data versions and family as
                           helgenom extensions; identifiers: report id and digest
``Patient``                the person pseudonym only (never a CPR number)
``ServiceRequest``         the order: requisition id, the hospital's order key
                           (identifier type PLAC), indication and HPO terms
``Organization``           the requesting department
``Practitioner``           one per signer (name only)
``Observation`` variant    profile ``variant``, code LOINC 69548-6, value LA9633-4
                           Present; components below
``Observation`` molecular  profile ``molecular-consequence`` (tbd code), SO terms,
consequence                when the variant has consequences
``Observation`` diagnostic profile ``diagnostic-implication`` (tbd code); component
implication                LOINC 53037-8 with the ACMG class; ACMG criteria as
                           components and a note; condition inheritance (HPO)
``Observation`` overall    LOINC 51968-6 (the STU2 ``overall-interpretation``)
``Provenance``             one signature per signer (``when`` = signing time),
                           ``entity`` the replaced report for amendments
=========================  ==========================================================

Codes were checked against the Genomics Reporting IG 3.0.0 (STU3) sources, its STU2
pages and the FHIR R4 terminology. Where no published code was found, helgenom code
systems (``urn:helgenom:...``) are used; each such place is marked in a comment.

The digest (:func:`helgenom.core.reports.report_digest`) is carried as
``Bundle.identifier`` and as an identifier of the DiagnosticReport; a signature, when
given, becomes ``Bundle.signature`` (verification signature by the first signer, the
signature's UTF-8 bytes base64-encoded in ``data``).
"""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import ValidationError

from helgenom.adapters.reporting.html import to_html
from helgenom.core.errors import FhirValidationError, InvalidInputError, Issue
from helgenom.core.reports import (
    CLASSIFICATION_LABELS,
    INHERITANCE_LABELS,
    ReportDocument,
    ReportedVariant,
    check_digest,
)

# -- code systems ----------------------------------------------------------------------
LOINC = "http://loinc.org"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
DIAGNOSTIC_SERVICE = "http://terminology.hl7.org/CodeSystem/v2-0074"
IDENTIFIER_TYPE = "http://terminology.hl7.org/CodeSystem/v2-0203"
CHROMOSOME = "http://terminology.hl7.org/CodeSystem/chromosome-human"
SIGNATURE_TYPE = "urn:iso-astm:E1762-95:2013"
PARTICIPANT_TYPE = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
HGNC = "http://www.genenames.org"
HGVS = "http://varnomen.hgvs.org"
SEQUENCE_ONTOLOGY = "http://www.sequenceontology.org"
REFSEQ = "http://www.ncbi.nlm.nih.gov/refseq"
HPO = "http://human-phenotype-ontology.org"
IG = "http://hl7.org/fhir/uv/genomics-reporting"
TBD_CODES = f"{IG}/CodeSystem/tbd-codes-cs"
ANNOTATION_TYPES = f"{IG}/CodeSystem/coded-annotation-types-cs"
WGS_LOINC = "86206-0"
"""Whole-genome sequencing, as accepted on orders by :mod:`helgenom.adapters.fhir`."""

# -- helgenom systems (no published code found for these elements) ---------------------
REPORT_SYSTEM = "urn:helgenom:report"
DIGEST_SYSTEM = "urn:helgenom:report-digest:sha256"
PERSON_SYSTEM = "urn:helgenom:person"
REQUISITION_SYSTEM = "urn:helgenom:requisition"
ORDER_KEY_SYSTEM = "urn:helgenom:order-key"
DEPARTMENT_SYSTEM = "urn:helgenom:department"
INDICATION_SYSTEM = "urn:helgenom:indication"
VARIANT_SYSTEM = "urn:helgenom:variant"
ELEMENT_SYSTEM = "urn:helgenom:report-element"
"""helgenom codes for Observation components the IG has no code for."""
INHERITANCE_SYSTEM = "urn:helgenom:inheritance-mode"
ORIGIN_SYSTEM = "urn:helgenom:variant-origin"
ACMG_SYSTEM = "urn:helgenom:acmg-criterion"
FINDING_KIND_SYSTEM = "urn:helgenom:finding-kind"
EXTENSION_BASE = "urn:helgenom:fhir:extension"

_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:helgenom:report")

# -- value maps ------------------------------------------------------------------------
ALLELIC_STATE: dict[str, tuple[str, str]] = {
    "het": ("LA6706-1", "Heterozygous"),
    "hom_alt": ("LA6705-3", "Homozygous"),
    "hemi": ("LA6707-9", "Hemizygous"),
}
"""LOINC answers of 53034-5 (answer list LL381-5)."""
CLINICAL_SIGNIFICANCE: dict[str, tuple[str, str]] = {
    "pathogenic": ("LA6668-3", "Pathogenic"),
    "likely_pathogenic": ("LA26332-9", "Likely pathogenic"),
    "uncertain_significance": ("LA26333-7", "Uncertain significance"),
    "likely_benign": ("LA26334-5", "Likely benign"),
    "benign": ("LA6675-8", "Benign"),
}
"""LOINC answers of 53037-8 (answer list LL4034-6)."""
OVERALL: dict[str, tuple[str, str]] = {
    "positive": ("LA6576-8", "Positive"),
    "negative": ("LA6577-6", "Negative"),
    "inconclusive": ("LA9663-1", "Inconclusive"),
}
"""LOINC answers of 51968-6 (answer list LL541-4)."""
VARIANT_ORIGIN: dict[str, tuple[str, str, str]] = {
    "maternal": (LOINC, "LA26320-4", "Maternal"),
    "paternal": (LOINC, "LA26321-2", "Paternal"),
    "unknown": (LOINC, "LA4489-6", "Unknown"),
    # LL5489-1 has no answer for these; the binding is extensible.
    "de novo": (ORIGIN_SYSTEM, "de_novo", "De novo"),
    "biparental": (ORIGIN_SYSTEM, "biparental", "Biparental"),
}
"""Codes for the variant-inheritance component (LOINC 94186-4)."""
CONDITION_INHERITANCE: dict[str, tuple[str, str]] = {
    "autosomal_dominant": ("HP:0000006", "Autosomal dominant inheritance"),
    "autosomal_recessive_homozygous": ("HP:0000007", "Autosomal recessive inheritance"),
    "compound_heterozygous": ("HP:0000007", "Autosomal recessive inheritance"),
    "x_linked_hemizygous": ("HP:0001417", "X-linked inheritance"),
    "x_linked_recessive_homozygous": ("HP:0001419", "X-linked recessive inheritance"),
}
"""HPO terms of the IG's ConditionInheritanceModeVS; a de novo call names no mode."""
ASSEMBLY: dict[str, tuple[str, str]] = {
    "GRCh38": ("LA26806-2", "GRCh38"),
    "GRCh37": ("LA14029-5", "GRCh37"),
}
"""LOINC answers of 62374-4 (answer list LL1040-6)."""
DNA_CHANGE_TYPE: dict[str, tuple[str, str]] = {
    "SNV": ("SO:0001483", "SNV"),
    "MNV": ("SO:0002007", "MNV"),
    "deletion": ("SO:0000159", "deletion"),
    "insertion": ("SO:0000667", "insertion"),
    "delins": ("SO:1000032", "delins"),
}
"""Sequence Ontology codes of the IG's DNAChangeTypeVS used for 48019-4."""
CONSEQUENCE_SO: dict[str, str] = {
    "transcript_ablation": "SO:0001893",
    "splice_acceptor_variant": "SO:0001574",
    "splice_donor_variant": "SO:0001575",
    "stop_gained": "SO:0001587",
    "frameshift_variant": "SO:0001589",
    "stop_lost": "SO:0001578",
    "start_lost": "SO:0002012",
    "inframe_insertion": "SO:0001821",
    "inframe_deletion": "SO:0001822",
    "missense_variant": "SO:0001583",
    "protein_altering_variant": "SO:0001818",
    "splice_region_variant": "SO:0001630",
    "synonymous_variant": "SO:0001819",
    "stop_retained_variant": "SO:0001567",
    "start_retained_variant": "SO:0002019",
    "coding_sequence_variant": "SO:0001580",
    "5_prime_UTR_variant": "SO:0001623",
    "3_prime_UTR_variant": "SO:0001624",
    "intron_variant": "SO:0001627",
    "upstream_gene_variant": "SO:0001631",
    "downstream_gene_variant": "SO:0001632",
    "intergenic_variant": "SO:0001628",
    "non_coding_transcript_exon_variant": "SO:0001792",
}
"""Sequence Ontology accessions of consequence terms (as in Ensembl's consequence table);
a term outside this table is sent as text."""


def _uid(doc: ReportDocument, part: str) -> str:
    """Deterministic resource id: UUID 5 of the report id and the part name."""
    return str(uuid.uuid5(_NAMESPACE, f"{doc.report_id}\x00{part}"))


def _url(resource_id: str) -> str:
    return f"urn:uuid:{resource_id}"


def _ref(resource_id: str, display: str | None = None) -> dict[str, Any]:
    ref: dict[str, Any] = {"reference": _url(resource_id)}
    if display:
        ref["display"] = display
    return ref


def _coding(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    coding = {"system": system, "code": code}
    if display:
        coding["display"] = display
    return coding


def _concept(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    concept: dict[str, Any] = {"coding": [_coding(system, code, display)]}
    if display:
        concept["text"] = display
    return concept


def _component(code: dict[str, Any], **value: Any) -> dict[str, Any]:
    return {"code": code, **value}


def _loinc(code: str, display: str | None = None) -> dict[str, Any]:
    return _concept(LOINC, code, display)


def _helgenom_element(code: str, display: str) -> dict[str, Any]:
    # helgenom code: the IG defines no code for this component.
    return _concept(ELEMENT_SYSTEM, code, display)


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _categories() -> list[dict[str, Any]]:
    return [
        _concept(OBSERVATION_CATEGORY, "laboratory", "Laboratory"),
        _concept(DIAGNOSTIC_SERVICE, "GE", "Genetics"),
    ]


def dna_change_type(ref: str, alt: str) -> str:
    """``SNV``, ``MNV``, ``deletion``, ``insertion`` or ``delins`` for a VCF-style allele pair."""
    if len(ref) == len(alt):
        return "SNV" if len(ref) == 1 else "MNV"
    if len(alt) < len(ref) and (ref.startswith(alt) or ref.endswith(alt)):
        return "deletion"
    if len(ref) < len(alt) and (alt.startswith(ref) or alt.endswith(ref)):
        return "insertion"
    return "delins"


def full_hgvs_c(variant: ReportedVariant) -> str | None:
    """The coding HGVS with its transcript (``NM_007294.4:c.5266dup``) when known."""
    if variant.hgvs_c is None:
        return None
    if ":" in variant.hgvs_c or variant.transcript is None:
        return variant.hgvs_c
    return f"{variant.transcript}:{variant.hgvs_c}"


class _Builder:
    """Builds the entries of one report's Bundle."""

    def __init__(self, doc: ReportDocument, digest: str) -> None:
        self.doc = doc
        self.digest = digest
        self.patient_id = _uid(doc, "patient")
        self.order_id = _uid(doc, "service-request")
        self.department_id = _uid(doc, "department")
        self.report_id = _uid(doc, "diagnostic-report")
        self.signer_ids = [_uid(doc, f"signer/{i}") for i in range(len(doc.signers))]
        self.observations: list[dict[str, Any]] = []

    # -- shared parts ----------------------------------------------------------------

    def _observation(
        self, part: str, profile: str, code: dict[str, Any], **fields: Any
    ) -> dict[str, Any]:
        resource: dict[str, Any] = {
            "resourceType": "Observation",
            "id": _uid(self.doc, part),
            "meta": {"profile": [f"{IG}/StructureDefinition/{profile}"]},
            "status": self.doc.status,
            "category": _categories(),
            "code": code,
            "subject": _ref(self.patient_id),
            "issued": _iso(self.doc.issued_at),
            "performer": [_ref(i) for i in self.signer_ids],
            **fields,
        }
        self.observations.append(resource)
        return resource

    # -- resources ---------------------------------------------------------------------

    def patient(self) -> dict[str, Any]:
        return {
            "resourceType": "Patient",
            "id": self.patient_id,
            "identifier": [{"system": PERSON_SYSTEM, "value": self.doc.patient_pseudonym}],
        }

    def department(self) -> dict[str, Any]:
        return {
            "resourceType": "Organization",
            "id": self.department_id,
            "identifier": [{"system": DEPARTMENT_SYSTEM, "value": self.doc.department_code}],
            "name": self.doc.department_name,
        }

    def practitioners(self) -> list[dict[str, Any]]:
        return [
            {"resourceType": "Practitioner", "id": pid, "name": [{"text": signer.name}]}
            for pid, signer in zip(self.signer_ids, self.doc.signers, strict=True)
        ]

    def service_request(self) -> dict[str, Any]:
        doc = self.doc
        identifiers: list[dict[str, Any]] = [
            {"system": REQUISITION_SYSTEM, "value": doc.requisition_id}
        ]
        if doc.order_key is not None:
            identifiers.append(
                {
                    "type": _concept(IDENTIFIER_TYPE, "PLAC", "Placer Identifier"),
                    "system": ORDER_KEY_SYSTEM,
                    "value": doc.order_key,
                }
            )
        reasons: list[dict[str, Any]] = []
        if doc.indication_code is not None:
            reasons.append(_concept(INDICATION_SYSTEM, doc.indication_code, doc.indication_name))
        elif doc.indication_name is not None:
            reasons.append({"text": doc.indication_name})
        reasons.extend(_concept(HPO, term, label) for term, label in doc.hpo_terms)
        resource: dict[str, Any] = {
            "resourceType": "ServiceRequest",
            "id": self.order_id,
            "identifier": identifiers,
            "status": "completed",
            "intent": "order",
            "code": _loinc(WGS_LOINC),
            "subject": _ref(self.patient_id),
            "requester": _ref(self.department_id, doc.department_name),
        }
        if reasons:
            resource["reasonCode"] = reasons
        return resource

    def variant(self, index: int, variant: ReportedVariant) -> dict[str, Any]:
        doc = self.doc
        components: list[dict[str, Any]] = []
        gene = (
            _concept(HGNC, variant.hgnc_id, variant.gene)
            if variant.hgnc_id is not None
            else {"text": variant.gene}
        )
        components.append(
            _component(_loinc("48018-6", "Gene studied [ID]"), valueCodeableConcept=gene)
        )
        assembly = ASSEMBLY.get(doc.data_version("reference") or "")
        if assembly is not None:
            components.append(
                _component(
                    _loinc("62374-4", "Human reference sequence assembly version"),
                    valueCodeableConcept=_loinc(*assembly),
                )
            )
        if variant.contig != "chrM":
            # The IG binds 48000-4 to LOINC LL2938-0; HL7's chromosome-human codes are used
            # because the LOINC answer codes could not all be confirmed.
            name = variant.contig.removeprefix("chr")
            components.append(
                _component(
                    _loinc("48000-4"),
                    valueCodeableConcept=_concept(CHROMOSOME, name, f"chromosome {name}"),
                )
            )
        if variant.transcript is not None:
            transcript: dict[str, Any] = (
                _concept(REFSEQ, variant.transcript, variant.transcript)
                if variant.transcript.startswith(("NM_", "NR_", "XM_", "XR_"))
                else {"text": variant.transcript}
            )
            components.append(
                _component(
                    _loinc("51958-7", "Transcript reference sequence [ID]"),
                    valueCodeableConcept=transcript,
                )
            )
        coding_hgvs = full_hgvs_c(variant)
        if coding_hgvs is not None:
            components.append(
                _component(
                    _loinc("48004-6", "DNA change (c.HGVS)"),
                    valueCodeableConcept=_concept(HGVS, coding_hgvs, coding_hgvs),
                )
            )
        if variant.hgvs_p is not None:
            components.append(
                _component(
                    _loinc("48005-3", "Amino acid change (pHGVS)"),
                    valueCodeableConcept=_concept(HGVS, variant.hgvs_p, variant.hgvs_p),
                )
            )
        change = DNA_CHANGE_TYPE[dna_change_type(variant.ref, variant.alt)]
        components.extend(
            [
                _component(
                    _loinc("48019-4", "DNA change type"),
                    valueCodeableConcept=_concept(SEQUENCE_ONTOLOGY, *change),
                ),
                _component(
                    _loinc("48002-0", "Genomic source class [Type]"),
                    valueCodeableConcept=_loinc("LA6683-2", "Germline"),
                ),
                _component(
                    _loinc("53034-5", "Allelic state"),
                    valueCodeableConcept=_loinc(*ALLELIC_STATE[variant.zygosity]),
                ),
                _component(
                    _loinc("92822-6", "Genomic coordinate system [Type]"),
                    valueCodeableConcept=_loinc("LA30100-4", "0-based interval counting"),
                ),
                _component(
                    _loinc("81254-5", "Variant exact start-end"),
                    valueRange={
                        "low": {"value": variant.position - 1},
                        "high": {"value": variant.end},
                    },
                ),
                _component(_loinc("69547-8", "Genomic ref allele [ID]"), valueString=variant.ref),
                _component(_loinc("69551-0", "Genomic alt allele [ID]"), valueString=variant.alt),
            ]
        )
        if variant.origin is not None:
            system, code, display = VARIANT_ORIGIN[variant.origin]
            components.append(
                _component(
                    _loinc("94186-4"),
                    valueCodeableConcept=_concept(system, code, display),
                )
            )
        if variant.inheritance is not None:
            components.append(
                _component(
                    _helgenom_element("inheritance-mode", "Inheritance mode in the family"),
                    valueCodeableConcept=_concept(
                        INHERITANCE_SYSTEM,
                        variant.inheritance,
                        INHERITANCE_LABELS.get(variant.inheritance, variant.inheritance),
                    ),
                )
            )
        fields: dict[str, Any] = {
            "identifier": [{"system": VARIANT_SYSTEM, "value": variant.variant_id}],
            "valueCodeableConcept": _loinc("LA9633-4", "Present"),
            "method": _loinc("LA26398-0", "Sequencing"),
            "component": components,
        }
        if variant.secondary_finding:
            # The extension is the IG's; no published code for the kind of secondary finding
            # was found, so a helgenom code names it.
            fields["extension"] = [
                {
                    "url": "http://hl7.org/fhir/StructureDefinition/observation-secondaryFinding",
                    "valueCodeableConcept": _concept(
                        FINDING_KIND_SYSTEM, "secondary", "Secondary finding"
                    ),
                }
            ]
        return self._observation(
            f"variant/{index}",
            "variant",
            _loinc("69548-6", "Genetic variant assessment"),
            **fields,
        )

    def molecular_consequence(
        self, index: int, variant: ReportedVariant, variant_id: str
    ) -> dict[str, Any]:
        components: list[dict[str, Any]] = []
        coding_hgvs = full_hgvs_c(variant)
        if coding_hgvs is not None:
            components.append(
                _component(
                    _loinc("48004-6", "DNA change (c.HGVS)"),
                    valueCodeableConcept=_concept(HGVS, coding_hgvs, coding_hgvs),
                )
            )
        if variant.hgvs_p is not None:
            components.append(
                _component(
                    _loinc("48005-3", "Amino acid change (pHGVS)"),
                    valueCodeableConcept=_concept(HGVS, variant.hgvs_p, variant.hgvs_p),
                )
            )
        for term in variant.consequences:
            so = CONSEQUENCE_SO.get(term)
            value = _concept(SEQUENCE_ONTOLOGY, so, term) if so is not None else {"text": term}
            components.append(
                _component(
                    _concept(TBD_CODES, "feature-consequence", "Feature Consequence"),
                    valueCodeableConcept=value,
                )
            )
        return self._observation(
            f"molecular-consequence/{index}",
            "molecular-consequence",
            _concept(TBD_CODES, "molecular-consequence", "Molecular Consequence"),
            derivedFrom=[_ref(variant_id)],
            component=components,
        )

    def implication(self, index: int, variant: ReportedVariant, variant_id: str) -> dict[str, Any]:
        components: list[dict[str, Any]] = [
            _component(
                _loinc("53037-8", "Genetic variation clinical significance [Imp]"),
                valueCodeableConcept=_loinc(*CLINICAL_SIGNIFICANCE[variant.classification]),
            )
        ]
        mode = CONDITION_INHERITANCE.get(variant.inheritance or "")
        if mode is not None:
            components.append(
                _component(
                    _concept(TBD_CODES, "condition-inheritance", "Condition Inheritance"),
                    valueCodeableConcept=_concept(HPO, *mode),
                )
            )
        for criterion, sentence in zip(variant.criteria, variant.evidence, strict=True):
            components.append(
                _component(
                    _helgenom_element("acmg-criterion", "ACMG/AMP criterion applied"),
                    valueCodeableConcept={
                        "coding": [_coding(ACMG_SYSTEM, criterion, criterion)],
                        "text": sentence,
                    },
                )
            )
        label = CLASSIFICATION_LABELS[variant.classification]
        criteria = ", ".join(variant.criteria) or "none"
        return self._observation(
            f"diagnostic-implication/{index}",
            "diagnostic-implication",
            _concept(TBD_CODES, "diagnostic-implication", "Diagnostic Implication"),
            derivedFrom=[_ref(variant_id)],
            component=components,
            note=[{"text": f"{label}. ACMG/AMP criteria: {criteria}."}],
        )

    def overall(self) -> dict[str, Any]:
        return self._observation(
            "overall-interpretation",
            "overall-interpretation",
            _loinc("51968-6", "Discrete variation analysis overall interpretation"),
            valueCodeableConcept=_loinc(*OVERALL[self.doc.overall]),
        )

    def _extensions(self) -> list[dict[str, Any]]:
        doc = self.doc

        def note(kind: str, display: str, text: str) -> dict[str, Any]:
            return {
                "url": f"{IG}/StructureDefinition/genomic-report-note",
                "valueAnnotation": {
                    "extension": [
                        {
                            "url": f"{IG}/StructureDefinition/annotation-code",
                            "valueCodeableConcept": _concept(ANNOTATION_TYPES, kind, display),
                        }
                    ],
                    "text": text,
                },
            }

        def pair(url: str, items: Iterable[tuple[str, Any]]) -> dict[str, Any]:
            return {"url": url, "extension": [{"url": k, **v} for k, v in items]}

        # helgenom extensions: the IG has no element for these.
        extensions = [
            note("test-methodology", "Test Methodology", doc.methods),
            note("test-disclaimer", "Test Disclaimer", doc.limitations),
        ]
        if doc.panel_name is not None and doc.panel_version is not None:
            extensions.append(
                pair(
                    f"{EXTENSION_BASE}:gene-panel",
                    [
                        ("name", {"valueString": doc.panel_name}),
                        ("version", {"valueString": doc.panel_version}),
                    ],
                )
            )
        for name, version in doc.data_versions:
            extensions.append(
                pair(
                    f"{EXTENSION_BASE}:data-version",
                    [("name", {"valueString": name}), ("version", {"valueString": version})],
                )
            )
        for member in doc.family:
            items: list[tuple[str, Any]] = [
                ("sample", {"valueString": member.sample_id}),
                ("relationship", {"valueCode": member.relationship}),
                ("sex", {"valueCode": member.sex}),
            ]
            if member.affected is not None:
                items.append(("affected", {"valueBoolean": member.affected}))
            extensions.append(pair(f"{EXTENSION_BASE}:family-member", items))
        return extensions

    def diagnostic_report(self, results: Sequence[dict[str, Any]]) -> dict[str, Any]:
        doc = self.doc
        html = to_html(doc, digest=self.digest)
        return {
            "resourceType": "DiagnosticReport",
            "id": self.report_id,
            "meta": {"profile": [f"{IG}/StructureDefinition/genomic-report"]},
            "extension": self._extensions(),
            "identifier": [
                {"system": REPORT_SYSTEM, "value": doc.report_id},
                {"system": DIGEST_SYSTEM, "value": self.digest},
            ],
            "basedOn": [_ref(self.order_id)],
            "status": doc.status,
            "category": [_concept(DIAGNOSTIC_SERVICE, "GE", "Genetics")],
            "code": _loinc("51969-4", "Genetic analysis report"),
            "subject": _ref(self.patient_id),
            "issued": _iso(doc.issued_at),
            "resultsInterpreter": [
                _ref(pid, s.name) for pid, s in zip(self.signer_ids, doc.signers, strict=True)
            ],
            "result": [_ref(r["id"]) for r in results],
            "conclusion": doc.conclusion,
            "conclusionCode": [_loinc(*OVERALL[doc.overall])],
            "presentedForm": [
                {
                    "contentType": "text/html; charset=utf-8",
                    "data": base64.b64encode(html.encode("utf-8")).decode("ascii"),
                    "title": f"Clinical genetic report {doc.report_id} v{doc.version}",
                }
            ],
        }

    def provenance(self) -> dict[str, Any]:
        doc = self.doc
        resource: dict[str, Any] = {
            "resourceType": "Provenance",
            "id": _uid(doc, "provenance"),
            "target": [_ref(self.report_id)],
            "recorded": _iso(doc.issued_at),
            "agent": [
                {
                    "type": _concept(PARTICIPANT_TYPE, "attester", "Attester"),
                    "role": [{"text": signer.role}],
                    "who": _ref(pid, signer.name),
                }
                for pid, signer in zip(self.signer_ids, doc.signers, strict=True)
            ],
            "signature": [
                {
                    "type": [
                        _coding(SIGNATURE_TYPE, "1.2.840.10065.1.12.1.5", "Verification Signature")
                    ],
                    "when": _iso(signer.signed_at),
                    "who": _ref(pid, signer.name),
                }
                for pid, signer in zip(self.signer_ids, doc.signers, strict=True)
            ],
        }
        if doc.replaces is not None:
            resource["entity"] = [
                {
                    "role": "revision",
                    "what": {
                        "type": "DiagnosticReport",
                        "identifier": {"system": REPORT_SYSTEM, "value": doc.replaces},
                    },
                }
            ]
        return resource

    def bundle(self, signature: str | None) -> dict[str, Any]:
        doc = self.doc
        for index, variant in enumerate(doc.all_variants):
            variant_resource = self.variant(index, variant)
            if variant.consequences:
                self.molecular_consequence(index, variant, variant_resource["id"])
            self.implication(index, variant, variant_resource["id"])
        self.overall()
        resources = [
            self.diagnostic_report(self.observations),
            self.patient(),
            self.service_request(),
            self.department(),
            *self.practitioners(),
            *self.observations,
            self.provenance(),
        ]
        bundle: dict[str, Any] = {
            "resourceType": "Bundle",
            "id": _uid(doc, "bundle"),
            "identifier": {"system": DIGEST_SYSTEM, "value": self.digest},
            "type": "collection",
            "timestamp": _iso(doc.issued_at),
            "entry": [{"fullUrl": _url(r["id"]), "resource": r} for r in resources],
        }
        if signature is not None:
            bundle["signature"] = {
                "type": [
                    _coding(SIGNATURE_TYPE, "1.2.840.10065.1.12.1.5", "Verification Signature")
                ],
                "when": _iso(max(s.signed_at for s in doc.signers)),
                "who": _ref(self.signer_ids[0], doc.signers[0].name),
                "data": base64.b64encode(signature.encode("utf-8")).decode("ascii"),
            }
        return bundle


def _walk_references(value: Any, path: str) -> Iterable[tuple[str, str]]:
    """Every ``reference`` string in a JSON value, with where it is."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "reference" and isinstance(item, str):
                yield path, item
            else:
                yield from _walk_references(item, f"{path}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _walk_references(item, f"{path}[{i}]")


def bundle_issues(bundle: dict[str, Any]) -> list[Issue]:
    """Every problem ``fhir.resources`` (R4B models) finds, and every dangling reference."""
    from fhir.resources.R4B import get_fhir_model_class
    from fhir.resources.R4B.bundle import Bundle

    issues: list[Issue] = []
    entries = bundle.get("entry", [])
    for i, entry in enumerate(entries):
        resource = entry["resource"]
        where = f"Bundle.entry[{i}].resource"
        try:
            get_fhir_model_class(resource["resourceType"]).model_validate(resource)
        except ValidationError as exc:
            for error in exc.errors(include_url=False, include_input=False):
                loc = ".".join(str(p) for p in error["loc"])
                issues.append(Issue("error", "structure", f"{where}.{loc}", error["msg"]))
    try:
        Bundle.model_validate(bundle)
    except ValidationError as exc:
        for error in exc.errors(include_url=False, include_input=False):
            loc = ".".join(str(p) for p in error["loc"])
            issues.append(Issue("error", "structure", f"Bundle.{loc}", error["msg"]))
    known = {entry["fullUrl"] for entry in entries}
    for path, reference in _walk_references(bundle, "Bundle"):
        if reference not in known:
            issues.append(
                Issue("error", "not-found", path, "the reference does not resolve in the Bundle")
            )
    return issues


def to_fhir_bundle(
    doc: ReportDocument, *, digest: str, signature: str | None = None
) -> dict[str, Any]:
    """The report as a FHIR R4 ``collection`` Bundle (a JSON-ready dict).

    Parameters
    ----------
    doc
        The signed report.
    digest
        :func:`helgenom.core.reports.report_digest` of ``doc``.
    signature
        A signature over the digest (text, e.g. base64 or a JWS), carried in
        ``Bundle.signature``; None for an unsigned Bundle.

    Raises
    ------
    InvalidInputError
        If ``digest`` is not the document's digest or ``signature`` is empty.
    FhirValidationError
        If a resource fails ``fhir.resources`` validation or a reference does not
        resolve; every problem is listed.
    """
    check_digest(doc, digest)
    if signature is not None and not signature.strip():
        raise InvalidInputError("signature is empty; pass None for an unsigned Bundle")
    bundle = _Builder(doc, digest).bundle(signature)
    issues = bundle_issues(bundle)
    if issues:
        raise FhirValidationError(issues, "report Bundle")
    return bundle


__all__ = [
    "ALLELIC_STATE",
    "CLINICAL_SIGNIFICANCE",
    "OVERALL",
    "bundle_issues",
    "dna_change_type",
    "full_hgvs_c",
    "to_fhir_bundle",
]
