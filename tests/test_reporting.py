"""Tests of the clinical genetic report: the document (core) and its three renderings.

The example is a trio with a de novo pathogenic SCN1A variant, a compound heterozygous
pair in ALDH7A1, a KCNQ2 variant of uncertain significance and a BRCA2 secondary
finding. Expected codes are written out from the Genomics Reporting IG and LOINC
answer lists, not taken from the code under test.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import json
import re
import zlib
from typing import Any

import pytest

from helgenom.adapters.reporting import to_fhir_bundle, to_html, to_pdf
from helgenom.core.errors import FormatError, InvalidInputError
from helgenom.core.pseudonyms import is_person_pseudonym
from helgenom.core.reports import (
    FamilyMember,
    ReportDocument,
    ReportedVariant,
    Signer,
    canonical_json,
    document_from_dict,
    document_to_dict,
    report_digest,
)

UTC = dt.UTC
CET = dt.timezone(dt.timedelta(hours=1))
PSEUDONYM = "hp-q3v7mzk2xw5tbn4rc6yjd2hapl"
LOINC = "http://loinc.org"
CPR_SHAPED = re.compile(r"(?<![0-9A-Za-z])[0-9]{6}-?[0-9]{4}(?![0-9A-Za-z])")


def _variant(**fields: Any) -> ReportedVariant:
    base: dict[str, Any] = {
        "hgnc_id": None,
        "transcript": None,
        "hgvs_c": None,
        "hgvs_p": None,
        "consequences": (),
        "inheritance": None,
        "origin": None,
        "criteria": (),
        "evidence": (),
    }
    base.update(fields)
    return ReportedVariant(**base)


DE_NOVO = _variant(
    variant_id="chr2-166038500-G-A",
    contig="chr2",
    position=166_038_500,
    ref="G",
    alt="A",
    gene="SCN1A",
    hgnc_id="HGNC:10585",
    transcript="NM_001165963.4",
    hgvs_c="c.664C>T",
    hgvs_p="p.(Arg222Ter)",
    consequences=("stop_gained",),
    zygosity="het",
    inheritance="de_novo",
    origin="de novo",
    classification="pathogenic",
    criteria=("PVS1", "PS2", "PM2_Supporting"),
    evidence=(
        "Nonsense variant in a gene where loss of function causes Dravet syndrome.",
        "De novo in the proband; maternity and paternity confirmed by the trio calls.",
        "Absent from gnomAD v4.1.",
    ),
)
COMPHET_MATERNAL = _variant(
    variant_id="chr5-126558374-C-G",
    contig="chr5",
    position=126_558_374,
    ref="C",
    alt="G",
    gene="ALDH7A1",
    hgnc_id="HGNC:877",
    transcript="NM_001182.5",
    hgvs_c="c.1279G>C",
    hgvs_p="p.(Glu427Gln)",
    consequences=("missense_variant",),
    zygosity="het",
    inheritance="compound_heterozygous",
    origin="maternal",
    classification="pathogenic",
    criteria=("PS3", "PM3_Strong", "PM2_Supporting", "PP3"),
    evidence=(
        "Enzyme activity abolished in a well-established functional assay.",
        "In trans with pathogenic variants in several affected individuals.",
        "Absent from gnomAD v4.1.",
        "REVEL 0.93.",
    ),
)
COMPHET_PATERNAL = _variant(
    variant_id="chr5-126571020-TCA-T",
    contig="chr5",
    position=126_571_020,
    ref="TCA",
    alt="T",
    gene="ALDH7A1",
    hgnc_id="HGNC:877",
    transcript="NM_001182.5",
    hgvs_c="c.1551_1552del",
    hgvs_p="p.(Lys518ProfsTer5)",
    consequences=("frameshift_variant",),
    zygosity="het",
    inheritance="compound_heterozygous",
    origin="paternal",
    classification="likely_pathogenic",
    criteria=("PVS1", "PM2_Supporting"),
    evidence=(
        "Frameshift predicted to cause nonsense-mediated decay.",
        "Absent from gnomAD v4.1.",
    ),
)
VUS = _variant(
    variant_id="chr20-63406620-C-T",
    contig="chr20",
    position=63_406_620,
    ref="C",
    alt="T",
    gene="KCNQ2",
    hgnc_id="HGNC:6296",
    transcript="NM_172107.4",
    hgvs_c="c.1742G>A",
    hgvs_p="p.(Arg581Gln)",
    consequences=("missense_variant",),
    zygosity="het",
    inheritance="autosomal_dominant",
    origin="paternal",
    classification="uncertain_significance",
    criteria=("PM2_Supporting", "PP3"),
    evidence=("Absent from gnomAD v4.1.", "REVEL 0.71."),
)
SECONDARY = _variant(
    variant_id="chr13-32340300-CT-C",
    contig="chr13",
    position=32_340_300,
    ref="CT",
    alt="C",
    gene="BRCA2",
    hgnc_id="HGNC:1101",
    transcript="NM_000059.4",
    hgvs_c="c.5946del",
    hgvs_p="p.(Ser1982ArgfsTer22)",
    consequences=("frameshift_variant",),
    zygosity="het",
    inheritance="autosomal_dominant",
    origin="maternal",
    classification="pathogenic",
    criteria=("PVS1", "PS4", "PM2_Supporting"),
    evidence=(
        "Frameshift in a gene where loss of function causes hereditary breast cancer.",
        "Enriched in cases (ClinVar: many submitters, reviewed by expert panel).",
        "Rare in gnomAD v4.1.",
    ),
    secondary_finding=True,
)


def make_document(**changes: Any) -> ReportDocument:
    """The example trio report; keyword arguments replace fields."""
    fields: dict[str, Any] = {
        "report_id": "rp-2025-0042",
        "case_id": "case-0042",
        "version": 1,
        "status": "final",
        "issued_at": dt.datetime(2025, 3, 4, 10, 0, tzinfo=UTC),
        "patient_pseudonym": PSEUDONYM,
        "requisition_id": "rq-7f3a9c",
        "order_key": "urn:oid:1.2.208.176.1.5|HOSP-ORDER-000123",
        "department_code": "RH-PED-NEURO",
        "department_name": "Paediatric neurology, Rigshospitalet",
        "indication_code": "EPI-INF",
        "indication_name": "Early-onset epileptic encephalopathy",
        "panel_name": "Genetic epilepsy syndromes",
        "panel_version": "5.12",
        "hpo_terms": (
            ("HP:0001250", "Seizure"),
            ("HP:0001263", "Global developmental delay"),
        ),
        "family": (
            FamilyMember("sm-0001", "proband", "male", True),
            FamilyMember("sm-0002", "mother", "female", False),
            FamilyMember("sm-0003", "father", "male", False),
        ),
        "overall": "positive",
        "conclusion": (
            "A de novo pathogenic SCN1A variant explains the proband's Dravet syndrome. "
            "Biallelic ALDH7A1 variants (pyridoxine-dependent epilepsy) were also found."
        ),
        "variants": (DE_NOVO, COMPHET_MATERNAL, COMPHET_PATERNAL, VUS),
        "secondary_findings": (SECONDARY,),
        "methods": (
            "Whole-genome sequencing of the trio (PCR-free, 150 bp paired-end, 30x), "
            "alignment to GRCh38, joint calling, ACMG/AMP 2015 classification with ClinGen "
            "SVI modifications."
        ),
        "limitations": (
            "Repeat expansions, mosaicism below 20% and variants in segmental duplications "
            "may not be detected."
        ),
        "data_versions": (
            ("reference", "GRCh38"),
            ("clinvar", "2025-02"),
            ("gnomad", "4.1"),
            ("helgenom", "0.1.0"),
        ),
        "signers": (
            Signer("Ane Hansen", "clinical geneticist", dt.datetime(2025, 3, 4, 9, 10, tzinfo=UTC)),
            Signer(
                "Jonas Berg", "laboratory scientist", dt.datetime(2025, 3, 4, 10, 30, tzinfo=CET)
            ),
        ),
    }
    fields.update(changes)
    return ReportDocument(**fields)


@pytest.fixture(scope="module")
def doc() -> ReportDocument:
    return make_document()


@pytest.fixture(scope="module")
def bundle(doc: ReportDocument) -> dict[str, Any]:
    return to_fhir_bundle(doc, digest=report_digest(doc), signature="c2lnbmF0dXJl")


@pytest.fixture(scope="module")
def pdf(doc: ReportDocument) -> bytes:
    return to_pdf(doc, digest=report_digest(doc))


def pdf_text(data: bytes, *, flat: bool = False) -> str:
    """The text drawn by a reportlab PDF: one line per text line, string escapes removed.

    reportlab draws a line as one or more ``(...) Tj`` strings and moves to the next
    line with ``T*``. With ``flat``, lines are joined without a separator, so a word
    wrapped in a narrow table cell reads whole.
    """
    streams: list[str] = []
    for match in re.finditer(rb"<<(.*?)>>\s*stream\r?\n(.*?)endstream", data, re.S):
        header, raw = match.group(1), match.group(2).rstrip(b"\r\n")
        if b"/ASCII85Decode" in header:
            raw = base64.a85decode(raw.removesuffix(b"~>"), adobe=False)
        if b"/FlateDecode" in header:
            raw = zlib.decompress(raw)
        streams.append(raw.decode("latin-1"))
    lines: list[str] = []
    current: list[str] = []
    for token in re.finditer(r"\(((?:\\.|[^\\)])*)\)\s*Tj|T\*|ET", "\n".join(streams)):
        if token.group(1) is not None:
            current.append(re.sub(r"\\(.)", r"\1", token.group(1)))
        elif current:
            lines.append("".join(current))
            current = []
    return ("" if flat else "\n").join(lines)


def resources(bundle: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


def by_profile(bundle: dict[str, Any], profile: str) -> list[dict[str, Any]]:
    url = f"http://hl7.org/fhir/uv/genomics-reporting/StructureDefinition/{profile}"
    return [r for r in resources(bundle, "Observation") if url in r["meta"]["profile"]]


def component(obs: dict[str, Any], system: str, code: str) -> dict[str, Any]:
    found = [
        c
        for c in obs["component"]
        if any(x["system"] == system and x["code"] == code for x in c["code"]["coding"])
    ]
    assert len(found) == 1, (code, found)
    return found[0]


def answer(obs_component: dict[str, Any]) -> tuple[str, str]:
    coding = obs_component["valueCodeableConcept"]["coding"][0]
    return coding["system"], coding["code"]


def variant_observation(bundle: dict[str, Any], variant_id: str) -> dict[str, Any]:
    found = [
        r
        for r in by_profile(bundle, "variant")
        if r["identifier"] == [{"system": "urn:helgenom:variant", "value": variant_id}]
    ]
    assert len(found) == 1
    return found[0]


# --------------------------------------------------------------------------------------
# The document
# --------------------------------------------------------------------------------------


def test_example_pseudonym_has_the_platform_shape() -> None:
    assert is_person_pseudonym(PSEUDONYM)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"issued_at": dt.datetime(2025, 3, 4, 10, 0)}, "issued_at is a naive datetime"),
        ({"signers": ()}, "no signer"),
        ({"signers": ("Ane Hansen",)}, "signers must be Signer records"),
        ({"status": "preliminary"}, "status 'preliminary' is not allowed"),
        ({"overall": "maybe"}, "overall 'maybe' is not allowed"),
        ({"patient_pseudonym": "Jens Hansen"}, "person pseudonym"),
        ({"report_id": " "}, "report_id must be a non-empty string"),
        ({"version": 0}, "version must be an integer >= 1"),
        ({"status": "amended", "version": 2}, "needs version >= 2 and 'replaces'"),
        ({"replaces": "rp-2025-0001"}, "not 'final'"),
        ({"panel_version": None}, "panel_name and panel_version together"),
        ({"hpo_terms": (("HP:1", "Seizure"),)}, "HP:0001250"),
        ({"variants": (DE_NOVO, DE_NOVO)}, "reported twice"),
        ({"variants": (SECONDARY,), "secondary_findings": ()}, "secondary_finding=True"),
        (
            {"family": (FamilyMember("sm-0002", "mother", "female", False),)},
            "0 probands",
        ),
        ({"data_versions": (("reference", "GRCh38"), ("reference", "GRCh37"))}, "twice"),
    ],
)
def test_invalid_documents_are_rejected(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInputError, match=re.escape(message)):
        make_document(**changes)


def test_a_naive_signing_time_is_rejected() -> None:
    with pytest.raises(InvalidInputError, match="signed_at of signer 'Ane Hansen' is a naive"):
        Signer("Ane Hansen", "clinical geneticist", dt.datetime(2025, 3, 4, 9, 10))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"classification": "probably_bad"}, "classification of variant"),
        ({"zygosity": "hom"}, "zygosity of variant"),
        ({"inheritance": "mitochondrial"}, "inheritance of variant"),
        ({"origin": "grandmaternal"}, "origin of variant"),
        ({"contig": "2"}, "is not a contig name"),
        ({"position": 0}, "1-based integer"),
        ({"alt": "G"}, "same allele"),
        ({"ref": "g"}, "A, C, G, T, N"),
        ({"hgnc_id": "10585"}, "HGNC:1100"),
        ({"zygosity": "hemi"}, "hemizygous calls are reported on chrX or chrY only"),
        ({"evidence": ("only one sentence",)}, "one sentence per criterion"),
        ({"criteria": ["PVS1", "PS2", "PM2_Supporting"]}, "criteria of variant"),
    ],
)
def test_invalid_variants_are_rejected(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInputError, match=re.escape(message)):
        dataclasses.replace(DE_NOVO, **changes)


def test_unknown_classification_names_the_allowed_values() -> None:
    with pytest.raises(InvalidInputError) as caught:
        dataclasses.replace(DE_NOVO, classification="VUS")
    text = str(caught.value)
    assert "'VUS'" in text
    assert "uncertain_significance" in text
    assert "chr2-166038500-G-A" in text


def test_a_cpr_shaped_number_is_refused_without_echoing_it() -> None:
    number = "01" * 3 + "12" * 2
    for text in (f"Patient {number} has Dravet syndrome.", f"Patient {number[:6]}-{number[6:]}."):
        with pytest.raises(InvalidInputError, match="shaped like a CPR number") as caught:
            make_document(conclusion=text)
        assert number[:6] not in str(caught.value)


def test_canonical_json_is_stable_and_canonical(doc: ReportDocument) -> None:
    data = canonical_json(doc)
    assert data == canonical_json(make_document())
    parsed = json.loads(data)
    assert parsed["issued_at"] == "2025-03-04T10:00:00Z"
    assert parsed["signers"][1]["signed_at"] == "2025-03-04T09:30:00Z"
    assert data == json.dumps(
        parsed, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode("utf-8")
    assert b"\n" not in data
    assert data.startswith(b'{"case_id":"case-0042","conclusion":')
    assert re.fullmatch(r"[0-9a-f]{64}", report_digest(doc))


def test_digest_depends_on_content_not_on_timezone_spelling(doc: ReportDocument) -> None:
    same_instant = make_document(issued_at=dt.datetime(2025, 3, 4, 11, 0, tzinfo=CET))
    assert report_digest(same_instant) == report_digest(doc)
    assert report_digest(make_document(conclusion=doc.conclusion + " ")) != report_digest(doc)
    changed_variant = dataclasses.replace(VUS, classification="likely_benign")
    assert report_digest(
        make_document(variants=(DE_NOVO, COMPHET_MATERNAL, COMPHET_PATERNAL, changed_variant))
    ) != report_digest(doc)
    assert report_digest(make_document(version=2, status="amended", replaces="rp-1")) != (
        report_digest(doc)
    )


def test_dict_round_trip(doc: ReportDocument) -> None:
    data = json.loads(json.dumps(document_to_dict(doc)))
    assert data["format_version"] == 1
    back = document_from_dict(data)
    assert back == doc
    assert canonical_json(back) == canonical_json(doc)
    amended = make_document(
        report_id="rp-2025-0043", version=2, status="amended", replaces="rp-2025-0042"
    )
    assert document_from_dict(document_to_dict(amended)) == amended


@pytest.mark.parametrize(
    ("mutate", "error", "message"),
    [
        (lambda d: d.update(format_version=99), FormatError, "format_version 99"),
        (lambda d: d.pop("conclusion"), FormatError, "has no 'conclusion'"),
        (lambda d: d.update(version="1"), FormatError, "report.version must be an integer"),
        (
            lambda d: d["signers"][0].update(signed_at="yesterday"),
            FormatError,
            "report.signers[0].signed_at is not an ISO 8601 datetime",
        ),
        (
            lambda d: d["variants"][0].update(classification="VUS"),
            InvalidInputError,
            "classification of variant",
        ),
    ],
)
def test_from_dict_rejects_bad_input(
    doc: ReportDocument, mutate: Any, error: type[Exception], message: str
) -> None:
    data = json.loads(json.dumps(document_to_dict(doc)))
    mutate(data)
    with pytest.raises(error, match=re.escape(message)):
        document_from_dict(data)


# --------------------------------------------------------------------------------------
# FHIR
# --------------------------------------------------------------------------------------


def test_bundle_validates_with_fhir_resources(bundle: dict[str, Any]) -> None:
    from fhir.resources.R4B import get_fhir_model_class
    from fhir.resources.R4B.bundle import Bundle

    parsed = Bundle.model_validate(bundle)
    assert parsed.type == "collection"
    for entry in bundle["entry"]:
        resource = entry["resource"]
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    again = json.loads(parsed.model_dump_json())
    assert again["entry"][0]["resource"]["resourceType"] == "DiagnosticReport"


def test_bundle_is_deterministic(doc: ReportDocument, bundle: dict[str, Any]) -> None:
    again = to_fhir_bundle(doc, digest=report_digest(doc), signature="c2lnbmF0dXJl")
    assert again == bundle
    other = make_document(report_id="rp-2025-0099")
    other_bundle = to_fhir_bundle(other, digest=report_digest(other))
    assert other_bundle["id"] != bundle["id"]
    assert "signature" not in other_bundle


def test_diagnostic_report(doc: ReportDocument, bundle: dict[str, Any]) -> None:
    (report,) = resources(bundle, "DiagnosticReport")
    assert report["code"]["coding"] == [
        {"system": LOINC, "code": "51969-4", "display": "Genetic analysis report"}
    ]
    assert report["status"] == "final"
    assert report["category"][0]["coding"][0]["code"] == "GE"
    assert report["conclusion"] == doc.conclusion
    assert report["conclusionCode"][0]["coding"][0]["code"] == "LA6576-8"
    assert {"system": "urn:helgenom:report", "value": "rp-2025-0042"} in report["identifier"]
    assert {"system": "urn:helgenom:report-digest:sha256", "value": report_digest(doc)} in report[
        "identifier"
    ]
    html = base64.b64decode(report["presentedForm"][0]["data"]).decode("utf-8")
    assert report_digest(doc) in html
    notes = {
        e["valueAnnotation"]["extension"][0]["valueCodeableConcept"]["coding"][0]["code"]: e[
            "valueAnnotation"
        ]["text"]
        for e in report["extension"]
        if e["url"].endswith("genomic-report-note")
    }
    assert notes == {"test-methodology": doc.methods, "test-disclaimer": doc.limitations}


def test_observation_count_and_result_list(bundle: dict[str, Any]) -> None:
    observations = resources(bundle, "Observation")
    # 5 variants x (variant, molecular consequence, diagnostic implication) + overall.
    assert len(observations) == 5 * 3 + 1
    assert len(by_profile(bundle, "variant")) == 5
    assert len(by_profile(bundle, "diagnostic-implication")) == 5
    assert len(by_profile(bundle, "molecular-consequence")) == 5
    (report,) = resources(bundle, "DiagnosticReport")
    assert sorted(r["reference"] for r in report["result"]) == sorted(
        f"urn:uuid:{o['id']}" for o in observations
    )


def test_every_reference_resolves_inside_the_bundle(bundle: dict[str, Any]) -> None:
    urls = {e["fullUrl"] for e in bundle["entry"]}
    assert len(urls) == len(bundle["entry"])
    assert all(e["fullUrl"] == f"urn:uuid:{e['resource']['id']}" for e in bundle["entry"])
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if key == "reference":
                    found.append(item)
                else:
                    walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(bundle)
    assert len(found) > 30
    assert set(found) <= urls


@pytest.mark.parametrize(
    ("variant", "allelic_state", "significance", "origin"),
    [
        (DE_NOVO, "LA6706-1", "LA6668-3", ("urn:helgenom:variant-origin", "de_novo")),
        (COMPHET_MATERNAL, "LA6706-1", "LA6668-3", (LOINC, "LA26320-4")),
        (COMPHET_PATERNAL, "LA6706-1", "LA26332-9", (LOINC, "LA26321-2")),
        (VUS, "LA6706-1", "LA26333-7", (LOINC, "LA26321-2")),
        (SECONDARY, "LA6706-1", "LA6668-3", (LOINC, "LA26320-4")),
    ],
)
def test_variant_and_implication_codes(
    bundle: dict[str, Any],
    variant: ReportedVariant,
    allelic_state: str,
    significance: str,
    origin: tuple[str, str],
) -> None:
    obs = variant_observation(bundle, variant.variant_id)
    assert obs["code"]["coding"][0]["code"] == "69548-6"
    assert obs["valueCodeableConcept"]["coding"][0]["code"] == "LA9633-4"
    gene = component(obs, LOINC, "48018-6")["valueCodeableConcept"]["coding"][0]
    assert (gene["system"], gene["code"], gene["display"]) == (
        "http://www.genenames.org",
        variant.hgnc_id,
        variant.gene,
    )
    assert answer(component(obs, LOINC, "53034-5")) == (LOINC, allelic_state)
    assert answer(component(obs, LOINC, "48002-0")) == (LOINC, "LA6683-2")
    assert answer(component(obs, LOINC, "94186-4")) == origin
    assert answer(component(obs, LOINC, "62374-4")) == (LOINC, "LA26806-2")
    hgvs_c = component(obs, LOINC, "48004-6")["valueCodeableConcept"]["coding"][0]["code"]
    assert hgvs_c == f"{variant.transcript}:{variant.hgvs_c}"
    hgvs_p = component(obs, LOINC, "48005-3")["valueCodeableConcept"]["coding"][0]["code"]
    assert hgvs_p == variant.hgvs_p
    transcript = component(obs, LOINC, "51958-7")["valueCodeableConcept"]["coding"][0]
    assert transcript["code"] == variant.transcript
    assert component(obs, LOINC, "69547-8")["valueString"] == variant.ref
    assert component(obs, LOINC, "69551-0")["valueString"] == variant.alt
    span = component(obs, LOINC, "81254-5")["valueRange"]
    assert span["low"]["value"] == variant.position - 1
    assert span["high"]["value"] == variant.position - 1 + len(variant.ref)
    assert answer(component(obs, LOINC, "92822-6")) == (LOINC, "LA30100-4")
    secondary = [e for e in obs.get("extension", []) if e["url"].endswith("secondaryFinding")]
    assert bool(secondary) is variant.secondary_finding

    implications = [
        r
        for r in by_profile(bundle, "diagnostic-implication")
        if r["derivedFrom"] == [{"reference": f"urn:uuid:{obs['id']}"}]
    ]
    assert len(implications) == 1
    implication = implications[0]
    assert implication["code"]["coding"][0]["code"] == "diagnostic-implication"
    assert answer(component(implication, LOINC, "53037-8")) == (LOINC, significance)
    criteria = [
        c["valueCodeableConcept"]["coding"][0]["code"]
        for c in implication["component"]
        if c["code"]["coding"][0]["code"] == "acmg-criterion"
    ]
    assert criteria == list(variant.criteria)
    for criterion in variant.criteria:
        assert criterion in implication["note"][0]["text"]


def test_dna_change_types_and_consequences(bundle: dict[str, Any]) -> None:
    so = "http://www.sequenceontology.org"
    expected = {
        DE_NOVO.variant_id: "SO:0001483",  # SNV
        COMPHET_PATERNAL.variant_id: "SO:0000159",  # deletion
    }
    for variant_id, code in expected.items():
        obs = variant_observation(bundle, variant_id)
        assert answer(component(obs, LOINC, "48019-4")) == (so, code)
    consequences = {
        c["valueCodeableConcept"]["coding"][0]["code"]
        for r in by_profile(bundle, "molecular-consequence")
        for c in r["component"]
        if c["code"]["coding"][0]["code"] == "feature-consequence"
    }
    assert consequences == {"SO:0001587", "SO:0001583", "SO:0001589"}


def test_condition_inheritance_of_the_implications(bundle: dict[str, Any]) -> None:
    hpo = "http://human-phenotype-ontology.org"
    tbd = "http://hl7.org/fhir/uv/genomics-reporting/CodeSystem/tbd-codes-cs"
    modes = {}
    for implication in by_profile(bundle, "diagnostic-implication"):
        found = [
            answer(c)
            for c in implication["component"]
            if c["code"]["coding"][0]
            == {
                "system": tbd,
                "code": "condition-inheritance",
                "display": "Condition Inheritance",
            }
        ]
        modes[implication["derivedFrom"][0]["reference"]] = found
    by_variant = {
        v.variant_id: modes[f"urn:uuid:{variant_observation(bundle, v.variant_id)['id']}"]
        for v in (DE_NOVO, COMPHET_MATERNAL, VUS)
    }
    assert by_variant == {
        DE_NOVO.variant_id: [],
        COMPHET_MATERNAL.variant_id: [(hpo, "HP:0000007")],
        VUS.variant_id: [(hpo, "HP:0000006")],
    }


def test_overall_interpretation_observation(bundle: dict[str, Any]) -> None:
    overall = [
        r
        for r in resources(bundle, "Observation")
        if r["code"]["coding"][0]
        == {
            "system": LOINC,
            "code": "51968-6",
            "display": "Discrete variation analysis overall interpretation",
        }
    ]
    assert len(overall) == 1
    assert overall[0]["valueCodeableConcept"]["coding"][0]["code"] == "LA6576-8"
    for value, code in (("negative", "LA6577-6"), ("inconclusive", "LA9663-1")):
        other = make_document(overall=value)
        other_bundle = to_fhir_bundle(other, digest=report_digest(other))
        (report,) = resources(other_bundle, "DiagnosticReport")
        assert report["conclusionCode"][0]["coding"][0]["code"] == code


def test_patient_order_signers_and_signature(doc: ReportDocument, bundle: dict[str, Any]) -> None:
    (patient,) = resources(bundle, "Patient")
    assert patient["identifier"] == [{"system": "urn:helgenom:person", "value": PSEUDONYM}]
    assert set(patient) == {"resourceType", "id", "identifier"}
    (order,) = resources(bundle, "ServiceRequest")
    values = [i["value"] for i in order["identifier"]]
    assert values == ["rq-7f3a9c", doc.order_key]
    reasons = [c["coding"][0]["code"] for c in order["reasonCode"]]
    assert reasons == ["EPI-INF", "HP:0001250", "HP:0001263"]
    (department,) = resources(bundle, "Organization")
    assert department["identifier"][0]["value"] == "RH-PED-NEURO"
    practitioners = resources(bundle, "Practitioner")
    assert [p["name"][0]["text"] for p in practitioners] == ["Ane Hansen", "Jonas Berg"]
    (provenance,) = resources(bundle, "Provenance")
    assert [s["when"] for s in provenance["signature"]] == [
        "2025-03-04T09:10:00Z",
        "2025-03-04T09:30:00Z",
    ]
    assert bundle["identifier"] == {
        "system": "urn:helgenom:report-digest:sha256",
        "value": report_digest(doc),
    }
    signature = bundle["signature"]
    assert base64.b64decode(signature["data"]) == b"c2lnbmF0dXJl"
    assert signature["who"]["reference"] == f"urn:uuid:{practitioners[0]['id']}"
    assert signature["type"][0]["code"] == "1.2.840.10065.1.12.1.5"


def test_an_amendment_names_the_report_it_replaces() -> None:
    amended = make_document(
        report_id="rp-2025-0043", version=2, status="amended", replaces="rp-2025-0042"
    )
    bundle = to_fhir_bundle(amended, digest=report_digest(amended))
    (report,) = resources(bundle, "DiagnosticReport")
    assert report["status"] == "amended"
    (provenance,) = resources(bundle, "Provenance")
    assert provenance["entity"] == [
        {
            "role": "revision",
            "what": {
                "type": "DiagnosticReport",
                "identifier": {"system": "urn:helgenom:report", "value": "rp-2025-0042"},
            },
        }
    ]


def test_no_cpr_shaped_number_in_any_rendering(
    doc: ReportDocument, bundle: dict[str, Any], pdf: bytes
) -> None:
    assert CPR_SHAPED.search("patient 010101-1234.") is not None
    assert CPR_SHAPED.search("patient 0101011234.") is not None
    html = to_html(doc, digest=report_digest(doc))
    for text in (json.dumps(bundle), html, pdf_text(pdf)):
        assert CPR_SHAPED.search(text) is None


def test_renderers_refuse_a_digest_that_does_not_match(doc: ReportDocument) -> None:
    stale = report_digest(make_document(conclusion="Another conclusion."))
    for render in (to_html, to_pdf):
        with pytest.raises(InvalidInputError, match="is not the SHA-256 of report"):
            render(doc, digest=stale)
    with pytest.raises(InvalidInputError, match="is not the SHA-256 of report"):
        to_fhir_bundle(doc, digest=stale)
    with pytest.raises(InvalidInputError, match="64 lowercase hex"):
        to_html(doc, digest="abc")


# --------------------------------------------------------------------------------------
# HTML and PDF
# --------------------------------------------------------------------------------------


def test_html_is_self_contained_and_complete(doc: ReportDocument) -> None:
    digest = report_digest(doc)
    html = to_html(doc, digest=digest)
    assert html.startswith("<!DOCTYPE html>")
    for needle in ("<script", "<link", "src=", "@import", "url(", "http://", "https://"):
        assert needle not in html
    for needle in (digest, PSEUDONYM, "rq-7f3a9c", "Paediatric neurology", "HP:0001250"):
        assert needle in html
    for variant in doc.all_variants:
        assert variant.hgvs_c is not None
        assert variant.hgvs_p is not None
        assert variant.hgvs_c.replace(">", "&gt;") in html
        assert variant.hgvs_p in html
    assert "Secondary findings" in html
    for needle in ("Ane Hansen", "2025-03-04 09:10 UTC", "GRCh38", "5.12"):
        assert needle in html


def test_html_escapes_hostile_values() -> None:
    hostile = dataclasses.replace(VUS, gene='<script>alert("x")</script>')
    doc = make_document(
        variants=(DE_NOVO, hostile),
        conclusion='Result <b>bold</b> & "quoted"',
    )
    html = to_html(doc, digest=report_digest(doc))
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert "<b>bold</b>" not in html
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; &quot;quoted&quot;" in html
    pdf = to_pdf(doc, digest=report_digest(doc))
    assert '<script>alert("x")</script>' in pdf_text(pdf, flat=True)


def test_secondary_findings_section_only_when_there_are_any() -> None:
    doc = make_document(secondary_findings=())
    digest = report_digest(doc)
    html = to_html(doc, digest=digest)
    assert "Secondary findings" not in html
    assert "Secondary findings" not in pdf_text(to_pdf(doc, digest=digest))
    bundle = to_fhir_bundle(doc, digest=digest)
    assert len(resources(bundle, "Observation")) == 4 * 3 + 1
    assert "secondaryFinding" not in json.dumps(bundle)


def test_pdf_is_a_deterministic_pdf(doc: ReportDocument, pdf: bytes) -> None:
    assert pdf.startswith(b"%PDF-")
    assert pdf.rstrip().endswith(b"%%EOF")
    assert len(pdf) > 3000
    assert to_pdf(make_document(), digest=report_digest(doc)) == pdf
    other = make_document(conclusion="Another conclusion.")
    assert to_pdf(other, digest=report_digest(other)) != pdf


def test_pdf_contains_the_report(doc: ReportDocument, pdf: bytes) -> None:
    text = pdf_text(pdf, flat=True)
    digest = report_digest(doc)
    assert f"SHA-256 {digest}" in text
    pages = text.count(f"SHA-256 {digest}")
    assert pages >= 1
    assert text.count("Clinical genetic report rp-2025-0042, version 1, Final") == pages
    for needle in (PSEUDONYM, "rq-7f3a9c", "Paediatric neurology", "HP:0001250", "Ane Hansen"):
        assert needle in text
    for variant in doc.all_variants:
        assert variant.hgvs_c is not None
        assert variant.hgvs_p is not None
        assert variant.hgvs_c in text
        assert variant.hgvs_p in text
    assert "Secondary findings" in text
    assert "2025-03-04 09:30 UTC" in text
