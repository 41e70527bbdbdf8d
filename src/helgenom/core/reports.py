"""The clinical genetic report as data: what a clinical geneticist signs.

A :class:`ReportDocument` is everything the requesting department receives about one
case: the patient (by person pseudonym only), the order, the indication and panel, the
phenotype (HPO terms), the sequenced family, the reported variants with their ACMG
classification and evidence, secondary findings, methods, data versions, limitations
and the signers. The renderings (FHIR ``Bundle``, HTML, PDF) live in
:mod:`helgenom.adapters.reporting`; all of them are made from this one document.

Every field is checked when the document is built; a bad value raises
:class:`~helgenom.core.errors.InvalidInputError` naming the field and the fix. The
patient is named only by the ``hp-...`` pseudonym and the order identifiers: a number
shaped like a CPR number anywhere in the document is refused.

:func:`canonical_json` gives one byte string per document (sorted keys, no
whitespace, UTF-8, datetimes in ISO 8601 UTC); :func:`report_digest` is its SHA-256,
printed on every rendering so a reader can check that the PDF, the HTML and the FHIR
Bundle show the same signed content.

Conventions
-----------
* Positions are 1-based, as in VCF and HGVS (a report is an output edge).
* ``ref``/``alt`` are the normalised alleles of the variant key ``contig-pos-ref-alt``.
* Classifications, zygosities and inheritance modes use the values of
  :class:`~helgenom.core.acmg.Classification`,
  :class:`~helgenom.core.inheritance.Zygosity` and
  :class:`~helgenom.core.inheritance.InheritanceMode`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from helgenom.core import canonical
from helgenom.core.acmg import Classification
from helgenom.core.errors import FormatError, InvalidInputError
from helgenom.core.inheritance import InheritanceMode, Zygosity
from helgenom.core.pedigree import Sex
from helgenom.core.pseudonyms import is_person_pseudonym

FORMAT_VERSION = 1
"""Version of the :func:`document_to_dict` form."""

STATUSES: tuple[str, ...] = ("final", "amended", "corrected")
"""Report statuses (the matching FHIR ``DiagnosticReport.status`` codes)."""
OVERALL_INTERPRETATIONS: tuple[str, ...] = ("positive", "negative", "inconclusive")
"""Overall interpretations of a report."""
CLASSIFICATIONS: tuple[str, ...] = tuple(c.value for c in Classification)
"""ACMG classes, from benign to pathogenic."""
ZYGOSITIES: tuple[str, ...] = (Zygosity.HET.value, Zygosity.HOM_ALT.value, Zygosity.HEMI.value)
"""Zygosities a reported variant can have in the proband."""
INHERITANCE_MODES: tuple[str, ...] = tuple(m.value for m in InheritanceMode)
"""Inheritance modes a reported variant can fit."""
ORIGINS: tuple[str, ...] = ("de novo", "maternal", "paternal", "biparental", "unknown")
"""Where the proband's allele came from, as established in the family."""
RELATIONSHIPS: tuple[str, ...] = ("proband", "mother", "father")
"""A family member's place in the report."""
SEXES: tuple[str, ...] = tuple(s.value for s in Sex)
"""Sex of a family member."""

STATUS_LABELS: Mapping[str, str] = {
    "final": "Final",
    "amended": "Amended",
    "corrected": "Corrected",
}
"""Printed names of the report statuses."""
OVERALL_LABELS: Mapping[str, str] = {
    "positive": "Positive",
    "negative": "Negative",
    "inconclusive": "Inconclusive",
}
"""Printed names of the overall interpretations."""
CLASSIFICATION_LABELS: Mapping[str, str] = {
    "pathogenic": "Pathogenic",
    "likely_pathogenic": "Likely pathogenic",
    "uncertain_significance": "Uncertain significance",
    "likely_benign": "Likely benign",
    "benign": "Benign",
}
"""Printed names of the ACMG classes."""
ZYGOSITY_LABELS: Mapping[str, str] = {
    "het": "Heterozygous",
    "hom_alt": "Homozygous",
    "hemi": "Hemizygous",
}
"""Printed names of the zygosities."""
INHERITANCE_LABELS: Mapping[str, str] = {
    "de_novo": "De novo",
    "autosomal_dominant": "Autosomal dominant",
    "autosomal_recessive_homozygous": "Autosomal recessive (homozygous)",
    "compound_heterozygous": "Autosomal recessive (compound heterozygous)",
    "x_linked_hemizygous": "X-linked (hemizygous)",
    "x_linked_recessive_homozygous": "X-linked recessive (homozygous)",
}
"""Printed names of the inheritance modes."""

_CONTIG = re.compile(r"chr(?:[1-9]|1[0-9]|2[0-2]|X|Y|M)")
_ALLELE = re.compile(r"[ACGTN]+")
_HGNC = re.compile(r"HGNC:[1-9][0-9]*")
_HPO = re.compile(r"HP:[0-9]{7}")
_DIGEST = re.compile(r"[0-9a-f]{64}")
_CPR_SHAPED = re.compile(r"(?<![0-9A-Za-z])[0-9]{6}[- ]?[0-9]{4}(?![0-9A-Za-z])")
"""A token of ten digits, or six and four digits: the shape of a CPR number."""


def _require_text(value: object, name: str) -> None:
    """Refuse a non-string or blank value, and a value with a CPR-shaped number."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidInputError(f"{name} must be a non-empty string")
    if _CPR_SHAPED.search(value):
        raise InvalidInputError(
            f"{name} contains a number shaped like a CPR number; a report names the patient "
            "by the person pseudonym only: remove the number"
        )


def _optional_text(value: object, name: str) -> None:
    """Like :func:`_require_text`, but None is allowed."""
    if value is not None:
        _require_text(value, name)


def _require_choice(value: object, allowed: Iterable[str], name: str) -> None:
    """Refuse a value outside ``allowed``."""
    options = tuple(allowed)
    if value not in options:
        raise InvalidInputError(
            f"{name} {value!r} is not allowed; use one of: {', '.join(options)}"
        )


def _require_aware(value: object, name: str) -> None:
    """Refuse anything but a timezone-aware datetime."""
    if not isinstance(value, dt.datetime):
        raise InvalidInputError(f"{name} must be a datetime")
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInputError(
            f"{name} is a naive datetime; give a timezone-aware one "
            "(e.g. datetime.now(timezone.utc))"
        )


def _require_tuple(value: object, name: str) -> None:
    """Refuse anything but a tuple (the dataclasses are immutable and hashable)."""
    if not isinstance(value, tuple):
        raise InvalidInputError(f"{name} must be a tuple, got {type(value).__name__}")


@dataclass(frozen=True, slots=True)
class Signer:
    """A person who signed the report."""

    name: str
    """Full name as printed on the report."""
    role: str
    """Role in signing, e.g. ``clinical geneticist`` or ``laboratory scientist``."""
    signed_at: dt.datetime
    """When they signed (timezone-aware)."""

    def __post_init__(self) -> None:
        _require_text(self.name, "signer name")
        _require_text(self.role, f"role of signer {self.name!r}")
        _require_aware(self.signed_at, f"signed_at of signer {self.name!r}")


@dataclass(frozen=True, slots=True)
class ReportedVariant:
    """One variant as reported, with its classification and the evidence for it."""

    variant_id: str
    """helgenom variant key (``contig-pos-ref-alt``) or another stable identifier."""
    contig: str
    """``chr1`` .. ``chr22``, ``chrX``, ``chrY`` or ``chrM``."""
    position: int
    """1-based position of the first reference base."""
    ref: str
    """Reference allele (A, C, G, T, N)."""
    alt: str
    """Alternate allele (A, C, G, T, N)."""
    gene: str
    """HGNC gene symbol."""
    hgnc_id: str | None
    """HGNC identifier, ``HGNC:1100``."""
    transcript: str | None
    """Versioned transcript, ``NM_007294.4`` or ``ENST00000357654.9``."""
    hgvs_c: str | None
    """Coding change, ``c.5266dup`` or ``NM_007294.4:c.5266dup``."""
    hgvs_p: str | None
    """Protein change, ``p.(Gln1756ProfsTer74)``."""
    consequences: tuple[str, ...]
    """Sequence Ontology terms on the transcript, ``missense_variant``."""
    zygosity: str
    """``het``, ``hom_alt`` or ``hemi`` in the proband."""
    inheritance: str | None
    """Inheritance mode the family's calls fit (:data:`INHERITANCE_MODES`)."""
    origin: str | None
    """Where the proband's allele came from (:data:`ORIGINS`)."""
    classification: str
    """ACMG class (:data:`CLASSIFICATIONS`)."""
    criteria: tuple[str, ...]
    """ACMG criteria applied, in ClinGen notation: ``PVS1``, ``PM2_Supporting``."""
    evidence: tuple[str, ...]
    """One readable sentence per criterion, in the same order."""
    secondary_finding: bool = False
    """Whether this is a secondary finding (unrelated to the indication)."""

    def __post_init__(self) -> None:
        _require_text(self.variant_id, "variant_id")
        where = f"variant {self.variant_id!r}"
        if not isinstance(self.contig, str) or not _CONTIG.fullmatch(self.contig):
            raise InvalidInputError(
                f"contig {self.contig!r} of {where} is not a contig name; use chr1..chr22, "
                "chrX, chrY or chrM"
            )
        if (
            isinstance(self.position, bool)
            or not isinstance(self.position, int)
            or self.position < 1
        ):
            raise InvalidInputError(
                f"position of {where} must be a 1-based integer (>= 1), got {self.position!r}"
            )
        for name, allele in (("ref", self.ref), ("alt", self.alt)):
            if not isinstance(allele, str) or not _ALLELE.fullmatch(allele):
                raise InvalidInputError(
                    f"{name} allele {allele!r} of {where} must be a non-empty string of "
                    "A, C, G, T, N"
                )
        if self.ref == self.alt:
            raise InvalidInputError(f"ref and alt of {where} are the same allele")
        _require_text(self.gene, f"gene of {where}")
        if self.hgnc_id is not None and (
            not isinstance(self.hgnc_id, str) or not _HGNC.fullmatch(self.hgnc_id)
        ):
            raise InvalidInputError(
                f"hgnc_id {self.hgnc_id!r} of {where} must look like 'HGNC:1100' or be None"
            )
        _optional_text(self.transcript, f"transcript of {where}")
        _optional_text(self.hgvs_c, f"hgvs_c of {where}")
        _optional_text(self.hgvs_p, f"hgvs_p of {where}")
        _require_tuple(self.consequences, f"consequences of {where}")
        for term in self.consequences:
            _require_text(term, f"consequence of {where}")
        _require_choice(self.zygosity, ZYGOSITIES, f"zygosity of {where}")
        if self.zygosity == Zygosity.HEMI and self.contig not in ("chrX", "chrY"):
            raise InvalidInputError(
                f"{where} is hemizygous on {self.contig}; hemizygous calls are reported on "
                "chrX or chrY only"
            )
        if self.inheritance is not None:
            _require_choice(self.inheritance, INHERITANCE_MODES, f"inheritance of {where}")
        if self.origin is not None:
            _require_choice(self.origin, ORIGINS, f"origin of {where}")
        _require_choice(self.classification, CLASSIFICATIONS, f"classification of {where}")
        _require_tuple(self.criteria, f"criteria of {where}")
        _require_tuple(self.evidence, f"evidence of {where}")
        for criterion in self.criteria:
            _require_text(criterion, f"criterion of {where}")
        for sentence in self.evidence:
            _require_text(sentence, f"evidence of {where}")
        if len(self.criteria) != len(self.evidence):
            raise InvalidInputError(
                f"{where} has {len(self.criteria)} criteria but {len(self.evidence)} evidence "
                "sentences; give one sentence per criterion, in the same order"
            )
        if not isinstance(self.secondary_finding, bool):
            raise InvalidInputError(f"secondary_finding of {where} must be True or False")

    @property
    def end(self) -> int:
        """1-based position of the last reference base."""
        return self.position + len(self.ref) - 1


@dataclass(frozen=True, slots=True)
class FamilyMember:
    """A sequenced member of the proband's family (the proband included)."""

    sample_id: str
    """helgenom sample identifier."""
    relationship: str
    """``proband``, ``mother`` or ``father``."""
    sex: str
    """``male``, ``female`` or ``unknown``."""
    affected: bool | None
    """Affection status; None when unknown."""

    def __post_init__(self) -> None:
        _require_text(self.sample_id, "family member sample_id")
        where = f"family member {self.sample_id!r}"
        _require_choice(self.relationship, RELATIONSHIPS, f"relationship of {where}")
        _require_choice(self.sex, SEXES, f"sex of {where}")
        if self.affected is not None and not isinstance(self.affected, bool):
            raise InvalidInputError(f"affected of {where} must be True, False or None")


@dataclass(frozen=True, slots=True)
class ReportDocument:
    """A signed clinical genetic report for one case, as data."""

    report_id: str
    """Identifier of this version of the report."""
    case_id: str
    """The interpretation case the report comes from."""
    version: int
    """1 for the first report of the case, then 2, 3 ... for each amendment."""
    status: str
    """``final``, ``amended`` or ``corrected``."""
    issued_at: dt.datetime
    """When the report was released (timezone-aware)."""
    patient_pseudonym: str
    """The patient's person pseudonym (``hp-...``); never a CPR number."""
    requisition_id: str
    """helgenom requisition the report answers."""
    order_key: str | None
    """The hospital's order key (``system|value`` of the ServiceRequest identifier)."""
    department_code: str
    """Code of the requesting department."""
    department_name: str
    """Name of the requesting department."""
    indication_code: str | None
    """Indication code of the catalogue."""
    indication_name: str | None
    """Indication name."""
    panel_name: str | None
    """Gene panel the analysis was restricted to."""
    panel_version: str | None
    """Version of that panel."""
    hpo_terms: tuple[tuple[str, str], ...]
    """The proband's phenotype as ``(HP:0001250, "Seizure")`` pairs."""
    family: tuple[FamilyMember, ...]
    """Sequenced family members, the proband included (empty when not recorded)."""
    overall: str
    """``positive``, ``negative`` or ``inconclusive``."""
    conclusion: str
    """The conclusion in words."""
    variants: tuple[ReportedVariant, ...]
    """Variants reported for the indication."""
    secondary_findings: tuple[ReportedVariant, ...]
    """Secondary findings (the patient chose to receive them)."""
    methods: str
    """Methods in words: sequencing, alignment, calling, filtering, classification."""
    limitations: str
    """Limitations of the analysis in words."""
    data_versions: tuple[tuple[str, str], ...]
    """``(name, version)`` of reference data and software: ``("reference", "GRCh38")``."""
    signers: tuple[Signer, ...]
    """Who signed, in signing order; at least one."""
    replaces: str | None = None
    """``report_id`` of the report this one amends or corrects."""

    def __post_init__(self) -> None:
        for name in ("report_id", "case_id", "requisition_id", "department_code"):
            _require_text(getattr(self, name), name)
        _require_text(self.department_name, "department_name")
        if isinstance(self.version, bool) or not isinstance(self.version, int) or self.version < 1:
            raise InvalidInputError(f"version must be an integer >= 1, got {self.version!r}")
        _require_choice(self.status, STATUSES, "status")
        _require_aware(self.issued_at, "issued_at")
        if not isinstance(self.patient_pseudonym, str) or not is_person_pseudonym(
            self.patient_pseudonym
        ):
            raise InvalidInputError(
                "patient_pseudonym must be a helgenom person pseudonym ('hp-' and 26 base32 "
                "characters); a report never names the patient otherwise"
            )
        for name in (
            "order_key",
            "indication_code",
            "indication_name",
            "panel_name",
            "panel_version",
            "replaces",
        ):
            _optional_text(getattr(self, name), name)
        if (self.panel_name is None) != (self.panel_version is None):
            raise InvalidInputError("give panel_name and panel_version together, or neither")
        _require_tuple(self.hpo_terms, "hpo_terms")
        for term in self.hpo_terms:
            if not isinstance(term, tuple) or len(term) != 2:
                raise InvalidInputError("each HPO term must be an (id, label) pair")
            if not isinstance(term[0], str) or not _HPO.fullmatch(term[0]):
                raise InvalidInputError(f"HPO id {term[0]!r} must look like 'HP:0001250'")
            _require_text(term[1], f"label of {term[0]}")
        self._check_family()
        _require_choice(self.overall, OVERALL_INTERPRETATIONS, "overall")
        _require_text(self.conclusion, "conclusion")
        self._check_variants()
        _require_text(self.methods, "methods")
        _require_text(self.limitations, "limitations")
        _require_tuple(self.data_versions, "data_versions")
        names: set[str] = set()
        for item in self.data_versions:
            if not isinstance(item, tuple) or len(item) != 2:
                raise InvalidInputError("each data version must be a (name, version) pair")
            _require_text(item[0], "data version name")
            _require_text(item[1], f"version of {item[0]!r}")
            if item[0] in names:
                raise InvalidInputError(f"data version {item[0]!r} is listed twice")
            names.add(item[0])
        _require_tuple(self.signers, "signers")
        if not self.signers:
            raise InvalidInputError(
                "the report has no signer; at least one clinical geneticist must sign it"
            )
        for signer in self.signers:
            if not isinstance(signer, Signer):
                raise InvalidInputError("signers must be Signer records")
        if self.status == "final":
            if self.replaces is not None:
                raise InvalidInputError(
                    "a report that replaces another is 'amended' or 'corrected', not 'final'"
                )
        else:
            if self.replaces is None or self.version < 2:
                raise InvalidInputError(
                    f"an {self.status} report needs version >= 2 and 'replaces' naming the "
                    "report it replaces"
                )
        if self.replaces == self.report_id:
            raise InvalidInputError("a report cannot replace itself")

    def _check_family(self) -> None:
        _require_tuple(self.family, "family")
        seen: set[str] = set()
        for member in self.family:
            if not isinstance(member, FamilyMember):
                raise InvalidInputError("family must hold FamilyMember records")
            if member.sample_id in seen:
                raise InvalidInputError(f"sample {member.sample_id!r} is listed twice in family")
            seen.add(member.sample_id)
        if self.family:
            for relationship in RELATIONSHIPS:
                count = sum(m.relationship == relationship for m in self.family)
                if relationship == "proband" and count != 1:
                    raise InvalidInputError(
                        f"family has {count} probands; list exactly one member with "
                        "relationship 'proband'"
                    )
                if count > 1:
                    raise InvalidInputError(f"family lists {count} members as {relationship}")

    def _check_variants(self) -> None:
        _require_tuple(self.variants, "variants")
        _require_tuple(self.secondary_findings, "secondary_findings")
        seen: set[str] = set()
        for group, flag in (("variants", False), ("secondary_findings", True)):
            for variant in getattr(self, group):
                if not isinstance(variant, ReportedVariant):
                    raise InvalidInputError(f"{group} must hold ReportedVariant records")
                if variant.secondary_finding is not flag:
                    raise InvalidInputError(
                        f"variant {variant.variant_id!r} is in {group} but has "
                        f"secondary_finding={variant.secondary_finding}; set "
                        f"secondary_finding={flag} or move it"
                    )
                if variant.variant_id in seen:
                    raise InvalidInputError(
                        f"variant {variant.variant_id!r} is reported twice; list it once"
                    )
                seen.add(variant.variant_id)

    @property
    def all_variants(self) -> tuple[ReportedVariant, ...]:
        """The reported variants, then the secondary findings."""
        return self.variants + self.secondary_findings

    def data_version(self, name: str) -> str | None:
        """The version of the named reference data or software, None when not listed."""
        for key, value in self.data_versions:
            if key == name:
                return value
        return None


# --------------------------------------------------------------------------------------
# Canonical form
# --------------------------------------------------------------------------------------


def _iso(value: dt.datetime) -> str:
    """ISO 8601 in UTC with a ``Z`` suffix."""
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _variant_to_dict(variant: ReportedVariant) -> dict[str, Any]:
    return {
        "variant_id": variant.variant_id,
        "contig": variant.contig,
        "position": variant.position,
        "ref": variant.ref,
        "alt": variant.alt,
        "gene": variant.gene,
        "hgnc_id": variant.hgnc_id,
        "transcript": variant.transcript,
        "hgvs_c": variant.hgvs_c,
        "hgvs_p": variant.hgvs_p,
        "consequences": list(variant.consequences),
        "zygosity": variant.zygosity,
        "inheritance": variant.inheritance,
        "origin": variant.origin,
        "classification": variant.classification,
        "criteria": list(variant.criteria),
        "evidence": list(variant.evidence),
        "secondary_finding": variant.secondary_finding,
    }


def document_to_dict(doc: ReportDocument) -> dict[str, Any]:
    """A JSON-ready form of the document, with ``format_version``.

    Datetimes become ISO 8601 strings in UTC (``2025-03-04T09:30:00Z``); tuples become
    lists. :func:`document_from_dict` reverses it.
    """
    return {
        "format_version": FORMAT_VERSION,
        "report_id": doc.report_id,
        "case_id": doc.case_id,
        "version": doc.version,
        "status": doc.status,
        "issued_at": _iso(doc.issued_at),
        "patient_pseudonym": doc.patient_pseudonym,
        "requisition_id": doc.requisition_id,
        "order_key": doc.order_key,
        "department_code": doc.department_code,
        "department_name": doc.department_name,
        "indication_code": doc.indication_code,
        "indication_name": doc.indication_name,
        "panel_name": doc.panel_name,
        "panel_version": doc.panel_version,
        "hpo_terms": [[term_id, label] for term_id, label in doc.hpo_terms],
        "family": [
            {
                "sample_id": m.sample_id,
                "relationship": m.relationship,
                "sex": m.sex,
                "affected": m.affected,
            }
            for m in doc.family
        ],
        "overall": doc.overall,
        "conclusion": doc.conclusion,
        "variants": [_variant_to_dict(v) for v in doc.variants],
        "secondary_findings": [_variant_to_dict(v) for v in doc.secondary_findings],
        "methods": doc.methods,
        "limitations": doc.limitations,
        "data_versions": [[name, version] for name, version in doc.data_versions],
        "signers": [
            {"name": s.name, "role": s.role, "signed_at": _iso(s.signed_at)} for s in doc.signers
        ],
        "replaces": doc.replaces,
    }


def canonical_json(doc: ReportDocument) -> bytes:
    """The document as canonical JSON: sorted keys, no whitespace, UTF-8, UTC datetimes."""
    return canonical.canonical_json(document_to_dict(doc))


def report_digest(doc: ReportDocument) -> str:
    """Hex SHA-256 of :func:`canonical_json`: the report's content digest."""
    return hashlib.sha256(canonical_json(doc)).hexdigest()


def check_digest(doc: ReportDocument, digest: str) -> None:
    """Refuse a digest that is not :func:`report_digest` of ``doc``.

    The renderings print the digest they are given; this keeps a stale or mistyped
    digest off a signed report.

    Raises
    ------
    InvalidInputError
        If ``digest`` is not 64 lowercase hex characters or not the document's digest.
    """
    if not isinstance(digest, str) or not _DIGEST.fullmatch(digest):
        raise InvalidInputError(
            "digest must be 64 lowercase hex characters: pass report_digest(doc)"
        )
    if digest != report_digest(doc):
        raise InvalidInputError(
            f"digest {digest[:12]}... is not the SHA-256 of report {doc.report_id!r}; pass "
            "report_digest(doc) of the document being rendered"
        )


# --------------------------------------------------------------------------------------
# Reading the dict form back
# --------------------------------------------------------------------------------------


def _field(data: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in data:
        raise FormatError(f"{where} has no {key!r}; give every field of the report form")
    return data[key]


def _str(data: Mapping[str, Any], key: str, where: str) -> str:
    value = _field(data, key, where)
    if not isinstance(value, str):
        raise FormatError(f"{where}.{key} must be a string, got {type(value).__name__}")
    return value


def _opt_str(data: Mapping[str, Any], key: str, where: str) -> str | None:
    value = _field(data, key, where)
    if value is not None and not isinstance(value, str):
        raise FormatError(f"{where}.{key} must be a string or null, got {type(value).__name__}")
    return value


def _int(data: Mapping[str, Any], key: str, where: str) -> int:
    value = _field(data, key, where)
    if isinstance(value, bool) or not isinstance(value, int):
        raise FormatError(f"{where}.{key} must be an integer, got {type(value).__name__}")
    return value


def _bool(data: Mapping[str, Any], key: str, where: str) -> bool:
    value = _field(data, key, where)
    if not isinstance(value, bool):
        raise FormatError(f"{where}.{key} must be true or false, got {type(value).__name__}")
    return value


def _opt_bool(data: Mapping[str, Any], key: str, where: str) -> bool | None:
    value = _field(data, key, where)
    if value is not None and not isinstance(value, bool):
        raise FormatError(f"{where}.{key} must be true, false or null")
    return value


def _list(data: Mapping[str, Any], key: str, where: str) -> list[Any]:
    value = _field(data, key, where)
    if not isinstance(value, list):
        raise FormatError(f"{where}.{key} must be a list, got {type(value).__name__}")
    return value


def _strings(data: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
    items = _list(data, key, where)
    if not all(isinstance(item, str) for item in items):
        raise FormatError(f"{where}.{key} must be a list of strings")
    return tuple(items)


def _pairs(data: Mapping[str, Any], key: str, where: str) -> tuple[tuple[str, str], ...]:
    pairs: list[tuple[str, str]] = []
    for item in _list(data, key, where):
        if (
            not isinstance(item, list)
            or len(item) != 2
            or not all(isinstance(part, str) for part in item)
        ):
            raise FormatError(f"{where}.{key} must be a list of [string, string] pairs")
        pairs.append((item[0], item[1]))
    return tuple(pairs)


def _datetime(data: Mapping[str, Any], key: str, where: str) -> dt.datetime:
    text = _str(data, key, where)
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError:
        raise FormatError(
            f"{where}.{key} is not an ISO 8601 datetime; write it like 2025-03-04T09:30:00Z"
        ) from None


def _mapping(item: object, where: str) -> Mapping[str, Any]:
    if not isinstance(item, Mapping):
        raise FormatError(f"{where} must be an object")
    return item


def _variant_from_dict(item: object, where: str) -> ReportedVariant:
    data = _mapping(item, where)
    return ReportedVariant(
        variant_id=_str(data, "variant_id", where),
        contig=_str(data, "contig", where),
        position=_int(data, "position", where),
        ref=_str(data, "ref", where),
        alt=_str(data, "alt", where),
        gene=_str(data, "gene", where),
        hgnc_id=_opt_str(data, "hgnc_id", where),
        transcript=_opt_str(data, "transcript", where),
        hgvs_c=_opt_str(data, "hgvs_c", where),
        hgvs_p=_opt_str(data, "hgvs_p", where),
        consequences=_strings(data, "consequences", where),
        zygosity=_str(data, "zygosity", where),
        inheritance=_opt_str(data, "inheritance", where),
        origin=_opt_str(data, "origin", where),
        classification=_str(data, "classification", where),
        criteria=_strings(data, "criteria", where),
        evidence=_strings(data, "evidence", where),
        secondary_finding=_bool(data, "secondary_finding", where),
    )


def document_from_dict(data: Mapping[str, Any]) -> ReportDocument:
    """Rebuild a document from :func:`document_to_dict` output.

    Raises
    ------
    FormatError
        If the format version is not supported or a field is missing or has the
        wrong type.
    InvalidInputError
        If the values fail the document's checks.
    """
    where = "report"
    data = _mapping(data, where)
    version = data.get("format_version")
    if version != FORMAT_VERSION:
        raise FormatError(
            f"report format_version {version!r} is not supported; expected {FORMAT_VERSION}"
        )
    family: list[FamilyMember] = []
    for index, item in enumerate(_list(data, "family", where)):
        at = f"{where}.family[{index}]"
        member = _mapping(item, at)
        family.append(
            FamilyMember(
                sample_id=_str(member, "sample_id", at),
                relationship=_str(member, "relationship", at),
                sex=_str(member, "sex", at),
                affected=_opt_bool(member, "affected", at),
            )
        )
    signers: list[Signer] = []
    for index, item in enumerate(_list(data, "signers", where)):
        at = f"{where}.signers[{index}]"
        signer = _mapping(item, at)
        signers.append(
            Signer(
                name=_str(signer, "name", at),
                role=_str(signer, "role", at),
                signed_at=_datetime(signer, "signed_at", at),
            )
        )
    return ReportDocument(
        report_id=_str(data, "report_id", where),
        case_id=_str(data, "case_id", where),
        version=_int(data, "version", where),
        status=_str(data, "status", where),
        issued_at=_datetime(data, "issued_at", where),
        patient_pseudonym=_str(data, "patient_pseudonym", where),
        requisition_id=_str(data, "requisition_id", where),
        order_key=_opt_str(data, "order_key", where),
        department_code=_str(data, "department_code", where),
        department_name=_str(data, "department_name", where),
        indication_code=_opt_str(data, "indication_code", where),
        indication_name=_opt_str(data, "indication_name", where),
        panel_name=_opt_str(data, "panel_name", where),
        panel_version=_opt_str(data, "panel_version", where),
        hpo_terms=_pairs(data, "hpo_terms", where),
        family=tuple(family),
        overall=_str(data, "overall", where),
        conclusion=_str(data, "conclusion", where),
        variants=tuple(
            _variant_from_dict(item, f"{where}.variants[{i}]")
            for i, item in enumerate(_list(data, "variants", where))
        ),
        secondary_findings=tuple(
            _variant_from_dict(item, f"{where}.secondary_findings[{i}]")
            for i, item in enumerate(_list(data, "secondary_findings", where))
        ),
        methods=_str(data, "methods", where),
        limitations=_str(data, "limitations", where),
        data_versions=_pairs(data, "data_versions", where),
        signers=tuple(signers),
        replaces=_opt_str(data, "replaces", where),
    )


__all__ = [
    "CLASSIFICATIONS",
    "CLASSIFICATION_LABELS",
    "FORMAT_VERSION",
    "INHERITANCE_LABELS",
    "INHERITANCE_MODES",
    "ORIGINS",
    "OVERALL_INTERPRETATIONS",
    "OVERALL_LABELS",
    "RELATIONSHIPS",
    "SEXES",
    "STATUSES",
    "STATUS_LABELS",
    "ZYGOSITIES",
    "ZYGOSITY_LABELS",
    "FamilyMember",
    "ReportDocument",
    "ReportedVariant",
    "Signer",
    "canonical_json",
    "check_digest",
    "document_from_dict",
    "document_to_dict",
    "report_digest",
]
