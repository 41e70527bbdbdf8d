"""Beacon v2: query parsing, granularity, defences, response documents and the attack."""

from __future__ import annotations

import contextlib
import copy
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from helgenom.core.beacon import (
    API_VERSION,
    AlleleObservation,
    Audience,
    BeaconInfo,
    BeaconOrganization,
    BudgetLedger,
    DisclosedAllele,
    DisclosurePolicy,
    Granularity,
    IncludeResultsets,
    QueryKind,
    VariantKey,
    VariantQuery,
    allele_risk,
    cap_granularity,
    configuration_response,
    disclose_allele,
    entry_types_response,
    error_response,
    filtering_terms_response,
    g_variants_response,
    info_response,
    map_response,
    needs_carriers,
    normalise_contig,
    parse_get_query,
    parse_post_query,
    query_for_entry,
    sequence_id,
)
from helgenom.core.errors import (
    DisclosureRiskError,
    FormatError,
    InvalidInputError,
    QuotaExceededError,
)

SHARED_TESTDATA = Path(__file__).resolve().parents[2] / "shared" / "testdata"
BEACON_SCHEMAS = SHARED_TESTDATA / "beacon-v2"
RAW = "https://raw.githubusercontent.com/ga4gh-beacon/beacon-v2/main"
VRS_13 = "https://w3id.org/ga4gh/schema/vrs/1.3/vrs.json"

CONTIGS = (*(f"chr{i}" for i in range(1, 23)), "chrX", "chrY", "chrM")
BEACON = BeaconInfo(
    beacon_id="dk.example.helgenom.beacon",
    name="helgenom test beacon",
    organization=BeaconOrganization(id="dk.example", name="Example genome centre"),
    base_url="https://beacon.example.org/api",
    contigs=CONTIGS,
    welcome_url="https://beacon.example.org",
)
POLICY = DisclosurePolicy()


class FakeClock:
    """Seconds that move only when told."""

    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def get(**params: str) -> VariantQuery:
    return parse_get_query(params, contigs=CONTIGS)


def post(parameters: dict[str, Any], **query: Any) -> VariantQuery:
    body = {"meta": {"apiVersion": "v2.0"}, "query": {"requestParameters": parameters, **query}}
    return parse_post_query(body, contigs=CONTIGS)


# -- parsing ------------------------------------------------------------------------------------


def test_get_sequence_query_is_zero_based() -> None:
    q = get(referenceName="22", start="16570122", referenceBases="a", alternateBases="G")
    assert q.kind is QueryKind.SEQUENCE
    assert (q.contig, q.start, q.end) == ("chr22", 16570122, 16570123)
    assert q.variant_id == "chr22-16570123-A-G"
    assert q.region == "chr22:16570122-16570123"
    assert q.matches("chr22-16570123-A-G")
    assert not q.matches("chr22-16570122-A-G")
    assert not q.matches("chr22-16570123-A-T")
    assert q.granularity is Granularity.BOOLEAN
    assert (q.skip, q.limit, q.include_resultsets) == (0, 10, IncludeResultsets.HIT)


def test_get_range_query_and_control_parameters() -> None:
    q = get(
        referenceName="chr1",
        start="999",
        end="2000",
        variantType="snp",
        requestedGranularity="record",
        skip="2",
        limit="5",
        includeResultsetResponses="ALL",
        testMode="true",
    )
    assert q.kind is QueryKind.RANGE
    assert (q.start, q.end, q.variant_type) == (999, 2000, "SNP")
    assert (q.granularity, q.skip, q.limit, q.offset) == (Granularity.RECORD, 2, 5, 10)
    assert q.test_mode
    assert q.include_resultsets is IncludeResultsets.ALL
    assert q.positions == (1, 2000)
    assert q.matches("chr1-1000-A-G")  # 0-based 999
    assert q.matches("chr1-2000-C-T")  # 0-based 1999, last base of [999, 2000)
    assert not q.matches("chr1-2001-C-T")
    assert not q.matches("chr1-999-C-T")
    assert not q.matches("chr1-1500-CA-C")  # a deletion, not an SNP
    assert get(referenceName="1", start="0", end="10", limit="0").limit == 100


def test_post_query_flat_and_nested() -> None:
    flat = post(
        {"referenceName": "X", "start": [100], "alternateBases": "T", "assemblyId": "GRCh38.p14"},
        requestedGranularity="count",
        pagination={"skip": 1, "limit": 20},
    )
    nested = post({"g_variant": {"referenceName": "chrX", "start": 100, "alternateBases": "T"}})
    assert flat.contig == nested.contig == "chrX"
    assert flat.start == nested.start == 100
    assert flat.reference_bases is None
    assert flat.variant_id is None
    assert flat.matches("chrX-101-G-T")
    assert flat.matches("chrX-101-C-T")
    assert (flat.granularity, flat.skip, flat.limit) == (Granularity.COUNT, 1, 20)
    assert flat.request_summary()["requestParameters"]["g_variant"]["start"] == [100]


def test_indels_match_in_vcf_and_trimmed_form() -> None:
    deletion = "chr2-100-CAT-C"  # 0-based anchor 99; deleted AT at 100-101
    vcf = get(referenceName="2", start="99", referenceBases="CAT", alternateBases="C")
    trimmed = get(referenceName="2", start="100", referenceBases="AT", alternateBases="")
    dashed = get(referenceName="2", start="100", referenceBases="AT", alternateBases="-")
    assert vcf.variant_id == deletion
    assert trimmed.variant_id is None
    assert trimmed.positions == (100, 101)
    assert all(q.matches(deletion) for q in (vcf, trimmed, dashed))
    insertion = "chr2-100-C-CGG"
    assert get(referenceName="2", start="100", referenceBases="", alternateBases="GG").matches(
        insertion
    )
    wildcard = get(referenceName="2", start="99", referenceBases="C", alternateBases="NGG")
    assert wildcard.matches(insertion)
    assert not wildcard.matches("chr2-100-C-CGGA")
    # a range from 0-based 101 overlaps the deletion whose reference span is [99, 102)
    overlap = get(referenceName="2", start="101", end="150", variantType="DEL")
    assert overlap.matches(deletion)
    assert not overlap.matches(insertion)
    assert get(referenceName="2", start="101", end="150", variantType="INDEL").matches(deletion)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("1", "chr1"),
        ("chr1", "chr1"),
        ("Chr1", "chr1"),
        ("x", "chrX"),
        ("MT", "chrM"),
        ("chrMT", "chrM"),
        ("NC_000022.11", "chr22"),
        ("refseq:NC_000009.12", "chr9"),
    ],
)
def test_contig_names_are_normalised(name: str, expected: str) -> None:
    assert normalise_contig(name, CONTIGS) == expected


def test_contig_names_without_chr_prefix_instance() -> None:
    assert normalise_contig("chr7", ("7", "X", "MT")) == "7"
    assert normalise_contig("chrM", ("7", "X", "MT")) == "MT"
    with pytest.raises(InvalidInputError, match=r"referenceName 'chr99'.*use one of chr1, chr2"):
        normalise_contig("chr99", CONTIGS)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"start": "1", "alternateBases": "A"}, "referenceName: is missing"),
        ({"referenceName": "1", "alternateBases": "A"}, "start: is missing"),
        ({"referenceName": "1", "start": "-5", "alternateBases": "A"}, "start: '-5' is not"),
        ({"referenceName": "1", "start": "5,9", "end": "20,30"}, "start: bracket queries"),
        ({"referenceName": "1", "start": "50", "end": "50"}, "end: 50 is not after start 50"),
        ({"referenceName": "1", "start": "5"}, "alternateBases: is missing"),
        ({"referenceName": "1", "start": "5", "alternateBases": "Z"}, "alternateBases: 'Z'"),
        ({"referenceName": "1", "start": "5", "alternateBases": "A", "geneId": "BRCA2"}, "geneId"),
        ({"referenceName": "1", "start": "5", "alternateBases": "A", "foo": "1"}, "foo: is not"),
        (
            {"referenceName": "1", "start": "5", "alternateBases": "A", "assemblyId": "hg19"},
            "assemblyId: 'hg19' is not the assembly of this beacon; send assemblyId=GRCh38",
        ),
        ({"referenceName": "1", "start": "5", "end": "9", "variantType": "DUP"}, "variantType"),
        (
            {"referenceName": "1", "start": "5", "alternateBases": "A", "limit": "1000"},
            "limit: 1000 is more than this beacon's 100; page with skip",
        ),
        (
            {"referenceName": "1", "start": "5", "alternateBases": "A", "skip": "x"},
            "skip: 'x' is not a non-negative integer",
        ),
        (
            {
                "referenceName": "1",
                "start": "5",
                "alternateBases": "A",
                "requestedGranularity": "a",
            },
            "requestedGranularity: 'a' is not allowed; use one of boolean, count, record",
        ),
        (
            {"referenceName": "1", "start": "5", "alternateBases": "A", "filters": "HP:1"},
            "filters: this beacon has no filtering terms",
        ),
        ({"referenceName": "chr99", "start": "5", "alternateBases": "A"}, "referenceName 'chr99'"),
    ],
)
def test_bad_get_queries_name_the_parameter_and_the_fix(
    params: dict[str, str], message: str
) -> None:
    with pytest.raises(InvalidInputError, match="^" + message.replace("(", r"\(")) as info:
        parse_get_query(params, contigs=CONTIGS)
    assert ";" in str(info.value) or "use one of" in str(info.value)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"meta": {"apiVersion": "v1.0"}, "query": {}}, "meta.apiVersion"),
        ({"meta": {}}, "query: is missing"),
        ({"query": {"requestParameters": [1]}}, "query.requestParameters: is missing or not"),
        ({"query": {"requestParameters": {}, "sort": 1}}, "query.sort: is not a Beacon query"),
        (
            {"query": {"requestParameters": {"referenceName": "1", "start": "a"}}},
            "start: 'a' is not a non-negative integer",
        ),
        (
            {
                "query": {
                    "requestParameters": {"referenceName": 1, "start": 5, "alternateBases": "A"}
                }
            },
            "referenceName: 1 is not a contig name",
        ),
        (
            {
                "query": {
                    "requestParameters": {"referenceName": "1", "start": 5, "alternateBases": "A"},
                    "pagination": {"limit": -1},
                }
            },
            "limit: -1 is not a non-negative integer",
        ),
    ],
)
def test_bad_post_queries(body: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInputError, match="^" + message):
        parse_post_query(body, contigs=CONTIGS)


def test_entry_query() -> None:
    q = query_for_entry("chr22-16570123-A-G", contigs=CONTIGS)
    assert (q.variant_id, q.granularity) == ("chr22-16570123-A-G", Granularity.RECORD)
    with pytest.raises(InvalidInputError, match=r"^id: "):
        query_for_entry("rs123", contigs=CONTIGS)


def test_sequence_ids() -> None:
    assert sequence_id("chr22") == "refseq:NC_000022.11"
    assert sequence_id("1") == "refseq:NC_000001.11"
    assert sequence_id("MT") == "refseq:NC_012920.1"
    assert sequence_id("chr1_KI270706v1_random") == "GRCh38:chr1_KI270706v1_random"
    assert sequence_id("chr1", "GRCh37") == "GRCh37:chr1"


# -- granularity and defences -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("audience", "requested", "returned"),
    [
        (Audience.ANONYMOUS, Granularity.RECORD, Granularity.BOOLEAN),
        (Audience.ANONYMOUS, Granularity.COUNT, Granularity.BOOLEAN),
        (Audience.REGISTERED, Granularity.RECORD, Granularity.COUNT),
        (Audience.REGISTERED, Granularity.BOOLEAN, Granularity.BOOLEAN),
        (Audience.CONTROLLED, Granularity.RECORD, Granularity.RECORD),
        (Audience.CONTROLLED, Granularity.COUNT, Granularity.COUNT),
    ],
)
def test_granularity_is_capped_by_audience(
    audience: Audience, requested: Granularity, returned: Granularity
) -> None:
    assert cap_granularity(requested, audience) is returned


def test_allele_risk() -> None:
    assert allele_risk(0) == 0.0
    assert allele_risk(1) == pytest.approx(-math.log(1 - math.exp(-1)))
    assert allele_risk(1) > allele_risk(2) > allele_risk(3) > allele_risk(5) > 0
    assert allele_risk(1) == pytest.approx(0.4587, abs=1e-4)


def observation(ac: int, an: int = 1000, hom: int = 0, **carriers: int) -> AlleleObservation:
    return AlleleObservation("chr1-100-A-G", ac=ac, an=an, hom=hom, carriers=carriers)


def test_small_counts_are_not_shown() -> None:
    ledger = BudgetLedger(POLICY, FakeClock())
    common = disclose_allele(
        observation(12, hom=2), audience=Audience.CONTROLLED, user="u", policy=POLICY, ledger=ledger
    )
    assert (common.exists, common.allele_count, common.allele_number) == (True, 12, 1000)
    assert common.allele_frequency == pytest.approx(0.012)
    assert common.homozygotes is None  # 2 homozygotes: a small count
    five = disclose_allele(
        observation(5, hom=0), audience=Audience.ANONYMOUS, user="u", policy=POLICY, ledger=ledger
    )
    assert (five.exists, five.allele_count, five.homozygotes) == (True, 5, 0)
    # a nearly fixed allele: AN - AC = 3 reference alleles, a small count too
    fixed = disclose_allele(
        observation(997), audience=Audience.CONTROLLED, user="u", policy=POLICY, ledger=ledger
    )
    assert fixed.exists
    assert fixed.allele_count is None
    assert fixed.allele_frequency is None
    rare = disclose_allele(
        observation(3, a=1, b=2),
        audience=Audience.CONTROLLED,
        user="u",
        policy=POLICY,
        ledger=ledger,
    )
    assert rare == DisclosedAllele("chr1-100-A-G", exists=True)
    absent = disclose_allele(
        observation(0), audience=Audience.CONTROLLED, user="u", policy=POLICY, ledger=ledger
    )
    assert not absent.exists


def test_rare_alleles_are_concealed_from_anonymous_users() -> None:
    ledger = BudgetLedger(POLICY, FakeClock())
    for ac in (1, 4):
        hidden = disclose_allele(
            observation(ac), audience=Audience.ANONYMOUS, user="u", policy=POLICY, ledger=ledger
        )
        assert hidden == DisclosedAllele("chr1-100-A-G", exists=False)
    assert needs_carriers({"ac": 4}, POLICY)
    assert not needs_carriers({"ac": 5}, POLICY)
    assert not needs_carriers({"ac": 0}, POLICY)
    with pytest.raises(InvalidInputError, match="pass its carriers"):
        disclose_allele(
            observation(2), audience=Audience.REGISTERED, user="u", policy=POLICY, ledger=ledger
        )
    # a concealed allele and an absent one give the same document
    q = get(referenceName="1", start="99", alternateBases="G")
    concealed = disclose_allele(
        observation(1, p=1), audience=Audience.ANONYMOUS, user="u", policy=POLICY, ledger=ledger
    )
    absent = DisclosedAllele("chr1-100-A-G", exists=False)
    docs = [
        g_variants_response(q, [a], beacon=BEACON, audience=Audience.ANONYMOUS, policy=POLICY)
        for a in (concealed, absent)
    ]
    assert docs[0] == docs[1]
    assert docs[0]["responseSummary"] == {"exists": False}


def test_user_query_budget_with_fake_clock() -> None:
    clock = FakeClock()
    ledger = BudgetLedger(DisclosurePolicy(queries_per_window=3, window_seconds=60), clock)
    assert ledger.seconds_to_next_query("alice") == 0
    assert [ledger.charge_query("alice") for _ in range(3)] == [2, 1, 0]
    with pytest.raises(
        QuotaExceededError, match=r"\(3 queries per 60 s\) is spent: try again in 20 s"
    ) as spent:
        ledger.charge_query("alice")
    # rate limiting (HTTP 429), still one of the disclosure defences for callers that catch them
    assert spent.value.code == "quota_exceeded"
    assert isinstance(spent.value, DisclosureRiskError)
    assert spent.value.retry_after == 20  # one query refills in 60 s / 3, not the whole window
    clock.now += 5
    assert ledger.seconds_to_next_query("alice") == 15
    with pytest.raises(QuotaExceededError) as again:
        ledger.charge_query("alice")  # a refused query costs nothing
    assert again.value.retry_after == 15
    assert ledger.charge_query("bob") == 2  # another user has their own budget
    clock.now += 15
    assert ledger.queries_left("alice") == 1
    assert ledger.charge_query("alice") == 0
    clock.now += 3600
    assert ledger.queries_left("alice") == 3  # refills up to the window's size only


def test_person_budget_leaves_spent_carriers_out() -> None:
    policy = DisclosurePolicy(person_budget=1.0)
    ledger = BudgetLedger(policy, FakeClock())

    def ask(ac: int, user: str = "mallory", **carriers: int) -> bool:
        obs = observation(ac, **carriers)
        return disclose_allele(
            obs, audience=Audience.REGISTERED, user=user, policy=policy, ledger=ledger
        ).exists

    risk = allele_risk(1)
    assert ask(1, p1=1)
    assert ask(1, p1=1)
    assert ledger.person_remaining("p1") == pytest.approx(1.0 - 2 * risk)
    assert not ask(1, p1=1)  # cannot pay a third: left out, answered as absent
    assert ledger.is_spent("p1")
    assert not ask(1, user="trent", p1=1)  # one budget in total, for every user
    # a shared allele: p1 is left out, p2 is counted and pays the risk of AC 1
    assert ask(2, p1=1, p2=1)
    assert ledger.person_remaining("p2") == pytest.approx(1.0 - risk)
    assert ask(4, p1=2, p3=2)  # p1 left out: AC 2 counted, p3 pays its risk
    assert ledger.person_remaining("p3") == pytest.approx(1.0 - allele_risk(2))


def test_person_budget_per_user() -> None:
    policy = DisclosurePolicy(person_budget=0.5, person_budget_per_user=True)
    ledger = BudgetLedger(policy, FakeClock())
    carriers = {"p1": 1}
    obs = AlleleObservation("chr1-100-A-G", ac=1, an=100, carriers=carriers)

    def ask(user: str) -> bool:
        return disclose_allele(
            obs, audience=Audience.CONTROLLED, user=user, policy=policy, ledger=ledger
        ).exists

    assert ask("a")
    assert not ask("a")
    assert ask("b")


def test_ledger_round_trip() -> None:
    clock = FakeClock()
    policy = DisclosurePolicy(queries_per_window=2, window_seconds=10, person_budget=1.0)
    ledger = BudgetLedger(policy, clock)
    ledger.charge_query("alice")
    ledger.reveal({"p1": 1, "p2": 1}, "alice")
    data = json.loads(json.dumps(ledger.asdict()))
    again = BudgetLedger.from_dict(data, policy, clock)
    assert again.asdict() == ledger.asdict()
    assert again.queries_left("alice") == 1
    assert again.person_remaining("p1") == pytest.approx(1.0 - allele_risk(2))
    with pytest.raises(FormatError, match="format_version 2 is not 1"):
        BudgetLedger.from_dict({**data, "format_version": 2}, policy, clock)
    with pytest.raises(FormatError, match="malformed"):
        BudgetLedger.from_dict({"format_version": 1, "users": {}}, policy, clock)


def test_policy_validation() -> None:
    with pytest.raises(InvalidInputError, match="min_count"):
        DisclosurePolicy(min_count=0)
    with pytest.raises(InvalidInputError, match="person_budget"):
        DisclosurePolicy(person_budget=0)
    with pytest.raises(InvalidInputError, match="environment"):
        BeaconInfo("x", "x", BEACON.organization, "https://x", CONTIGS, environment="live")


# -- responses (structure) ----------------------------------------------------------------------


def disclosed(*ids_and_counts: tuple[str, int]) -> list[DisclosedAllele]:
    ledger = BudgetLedger(POLICY, FakeClock())
    return [
        disclose_allele(
            AlleleObservation(v, ac=ac, an=2000, hom=ac // 10, carriers={"p": 1} if ac < 5 else {}),
            audience=Audience.CONTROLLED,
            user="u",
            policy=POLICY,
            ledger=ledger,
        )
        for v, ac in ids_and_counts
    ]


RANGE_ALLELES = (("chr1-1500-A-G", 40), ("chr1-1200-CT-C", 7), ("chr1-1300-G-T", 1))


def range_response(audience: Audience, **params: str) -> dict[str, Any]:
    q = get(referenceName="1", start="1000", end="2000", requestedGranularity="record", **params)
    alleles = disclosed(*RANGE_ALLELES)
    return g_variants_response(
        q, alleles, beacon=BEACON, audience=audience, policy=POLICY, source_version="release-1"
    )


def test_boolean_and_count_responses() -> None:
    boolean = range_response(Audience.ANONYMOUS)
    assert boolean["responseSummary"] == {"exists": True}
    assert boolean["meta"]["returnedGranularity"] == "boolean"
    assert boolean["meta"]["receivedRequestSummary"]["requestedGranularity"] == "record"
    assert "response" not in boolean
    count = range_response(Audience.REGISTERED)
    assert count["responseSummary"] == {"exists": True, "numTotalResults": 3}
    assert count["meta"]["apiVersion"] == API_VERSION
    assert "Counts from 1 to 4 are not shown" in count["info"]["disclosureControl"]


def test_record_response() -> None:
    doc = range_response(Audience.CONTROLLED)
    assert doc["meta"]["returnedGranularity"] == "record"
    (result_set,) = doc["response"]["resultSets"]
    assert (result_set["id"], result_set["exists"], result_set["resultsCount"]) == (
        "public",
        True,
        3,
    )
    records = {r["variantInternalId"]: r for r in result_set["results"]}
    assert list(records) == ["chr1-1200-CT-C", "chr1-1300-G-T", "chr1-1500-A-G"]
    snv = records["chr1-1500-A-G"]
    assert snv["variation"]["location"] == {
        "type": "SequenceLocation",
        "sequence_id": "refseq:NC_000001.11",
        "interval": {
            "type": "SequenceInterval",
            "start": {"type": "Number", "value": 1499},
            "end": {"type": "Number", "value": 1500},
        },
    }
    assert snv["variation"]["variantType"] == "SNP"
    (population,) = snv["frequencyInPopulations"]
    assert population["version"] == "release-1"
    assert population["frequencies"] == [
        {
            "population": "overall",
            "alleleFrequency": 0.02,
            "alleleCount": 40,
            "alleleNumber": 2000,
            "alleleCountHemizygous": 0,
        }
    ]  # 4 homozygotes: a small count, not shown
    assert records["chr1-1200-CT-C"]["variation"]["variantType"] == "DEL"
    assert (
        records["chr1-1200-CT-C"]["frequencyInPopulations"][0]["frequencies"][0]["alleleCount"] == 7
    )
    assert "frequencyInPopulations" not in records["chr1-1300-G-T"]  # AC 1 is not shown


def test_record_pagination_and_resultset_inclusion() -> None:
    page = range_response(Audience.CONTROLLED, skip="1", limit="2")
    (result_set,) = page["response"]["resultSets"]
    assert [r["variantInternalId"] for r in result_set["results"]] == ["chr1-1500-A-G"]
    assert result_set["resultsCount"] == 3
    assert page["meta"]["receivedRequestSummary"]["pagination"] == {"skip": 1, "limit": 2}
    assert range_response(Audience.CONTROLLED, includeResultsetResponses="MISS")["response"] == {
        "resultSets": []
    }
    assert range_response(Audience.CONTROLLED, includeResultsetResponses="NONE")["response"] == {
        "resultSets": []
    }
    q = get(referenceName="1", start="5", end="9", requestedGranularity="record",
            includeResultsetResponses="MISS")  # fmt: skip
    miss = g_variants_response(q, [], beacon=BEACON, audience=Audience.CONTROLLED, policy=POLICY)
    assert miss["responseSummary"] == {"exists": False, "numTotalResults": 0}
    assert miss["response"]["resultSets"][0]["results"] == []


def test_framework_documents_structure() -> None:
    info = info_response(BEACON)
    assert info["response"]["apiVersion"] == "v2.0.0"
    assert info["response"]["organization"] == {"id": "dk.example", "name": "Example genome centre"}
    assert info["meta"]["returnedSchemas"][0]["entityType"] == "info"
    config = configuration_response(BEACON)["response"]
    assert config["maturityAttributes"] == {"productionStatus": "DEV"}
    assert config["securityAttributes"]["securityLevels"] == ["PUBLIC", "REGISTERED", "CONTROLLED"]
    endpoints = map_response(BEACON)["response"]["endpointSets"]["genomicVariation"]
    assert endpoints["rootUrl"] == "https://beacon.example.org/api/g_variants"
    assert "genomicVariation" in entry_types_response(BEACON)["response"]["entryTypes"]
    assert filtering_terms_response(BEACON)["response"]["filteringTerms"] == []
    assert error_response(BEACON, 400, "start: is missing")["error"]["errorCode"] == 400


# -- responses against the Beacon v2 schemas ----------------------------------------------------

VRS_13_EXCERPT: dict[str, Any] = {
    "$id": VRS_13,
    "$schema": "http://json-schema.org/draft-07/schema",
    "definitions": {
        "CURIE": {"type": "string", "pattern": r"^\w[^:]*:.+$"},
        "Number": {
            "type": "object",
            "properties": {"type": {"const": "Number"}, "value": {"type": "integer"}},
            "required": ["type", "value"],
            "additionalProperties": False,
        },
        "IndefiniteRange": {
            "type": "object",
            "properties": {
                "type": {"const": "IndefiniteRange"},
                "value": {"type": "number"},
                "comparator": {"enum": ["<=", ">="]},
            },
            "required": ["type", "value", "comparator"],
            "additionalProperties": False,
        },
        "DefiniteRange": {
            "type": "object",
            "properties": {
                "type": {"const": "DefiniteRange"},
                "min": {"type": "number"},
                "max": {"type": "number"},
            },
            "required": ["type", "min", "max"],
            "additionalProperties": False,
        },
        "SequenceInterval": {
            "type": "object",
            "properties": {
                "type": {"const": "SequenceInterval"},
                "start": {"$ref": "#/definitions/_Coordinate"},
                "end": {"$ref": "#/definitions/_Coordinate"},
            },
            "required": ["type", "start", "end"],
            "additionalProperties": False,
        },
        "_Coordinate": {
            "oneOf": [
                {"$ref": "#/definitions/Number"},
                {"$ref": "#/definitions/IndefiniteRange"},
                {"$ref": "#/definitions/DefiniteRange"},
            ]
        },
        "SequenceLocation": {
            "type": "object",
            "properties": {
                "_id": {"$ref": "#/definitions/CURIE"},
                "type": {"const": "SequenceLocation"},
                "sequence_id": {"$ref": "#/definitions/CURIE"},
                "interval": {"$ref": "#/definitions/SequenceInterval"},
            },
            "required": ["type", "sequence_id", "interval"],
            "additionalProperties": False,
        },
        "ChromosomeLocation": {
            "type": "object",
            "properties": {"type": {"const": "ChromosomeLocation"}},
            "required": ["type", "species_id", "chr", "interval"],
        },
        "Location": {
            "oneOf": [
                {"$ref": "#/definitions/ChromosomeLocation"},
                {"$ref": "#/definitions/SequenceLocation"},
            ]
        },
        "Allele": {
            "type": "object",
            "properties": {"type": {"const": "Allele"}},
            "required": ["type", "location", "state"],
        },
        "Haplotype": {
            "type": "object",
            "properties": {"type": {"const": "Haplotype"}},
            "required": ["type", "members"],
        },
        "MolecularVariation": {
            "oneOf": [{"$ref": "#/definitions/Allele"}, {"$ref": "#/definitions/Haplotype"}]
        },
        "CopyNumberCount": {
            "type": "object",
            "properties": {"type": {"const": "CopyNumberCount"}},
            "required": ["type", "subject", "copies"],
        },
        "CopyNumberChange": {
            "type": "object",
            "properties": {"type": {"const": "CopyNumberChange"}},
            "required": ["type", "subject", "copy_change"],
        },
        "SystemicVariation": {
            "oneOf": [
                {"$ref": "#/definitions/CopyNumberCount"},
                {"$ref": "#/definitions/CopyNumberChange"},
            ]
        },
    },
}
"""The parts of the VRS 1.3 schema the Beacon genomicVariation model refers to (the
discriminating ``type`` of each class and the full SequenceLocation), written out so the
validation needs no network."""


@pytest.fixture(scope="module")
def schemas() -> Any:
    """A validator factory over the Beacon v2 schemas (skips without the shared data)."""
    if not BEACON_SCHEMAS.is_dir():
        pytest.skip(f"needs the Beacon v2 schemas at {BEACON_SCHEMAS}")
    import jsonschema
    import referencing
    from referencing.jsonschema import DRAFT7, DRAFT202012

    resources = []
    for path in sorted(BEACON_SCHEMAS.rglob("*.json")):
        contents = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(contents, dict):
            continue
        uri = f"{RAW}/{path.relative_to(BEACON_SCHEMAS).as_posix()}"
        contents = {**contents, "$id": uri}
        resources.append((uri, DRAFT202012.create_resource(contents)))
    resources.append((VRS_13, DRAFT7.create_resource(VRS_13_EXCERPT)))
    registry: referencing.Registry[Any] = referencing.Registry().with_resources(resources)

    def validate(document: Any, relative: str) -> None:
        uri = f"{RAW}/{relative}"
        schema = registry.contents(uri)
        validator = jsonschema.Draft202012Validator(schema, registry=registry)
        errors = sorted(validator.iter_errors(document), key=lambda e: list(e.path))
        assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:5])

    return validate


FRAMEWORK = "framework/json/responses"
MODEL = "models/json/beacon-v2-default-model/genomicVariations"


def test_model_examples_validate(schemas: Any) -> None:
    """The registry resolves the model and the VRS excerpt: the model's MIN example passes
    (the MID example gives ``variantAlternativeIds`` as strings, which its schema refuses)."""
    example = json.loads(
        (BEACON_SCHEMAS / MODEL / "examples/genomicVariant-MIN-example.json").read_text()
    )
    schemas(example, f"{MODEL}/defaultSchema.json")
    broken = copy.deepcopy(example)
    del broken["variation"]["location"]["interval"]
    with pytest.raises(AssertionError):
        schemas(broken, f"{MODEL}/defaultSchema.json")


@pytest.mark.parametrize(
    ("build", "schema"),
    [
        (info_response, "beaconInfoResponse.json"),
        (configuration_response, "beaconConfigurationResponse.json"),
        (map_response, "beaconMapResponse.json"),
        (entry_types_response, "beaconEntryTypesResponse.json"),
        (filtering_terms_response, "beaconFilteringTermsResponse.json"),
        (lambda b: error_response(b, 400, "start: is missing"), "beaconErrorResponse.json"),
    ],
)
def test_framework_documents_validate(schemas: Any, build: Any, schema: str) -> None:
    schemas(build(BEACON), f"{FRAMEWORK}/{schema}")


def test_full_info_validates(schemas: Any) -> None:
    full = BeaconInfo(
        beacon_id="dk.example.beacon",
        name="Full",
        organization=BeaconOrganization(
            "dk.example",
            "Example",
            "A centre",
            "Street 1",
            "https://e.org",
            "https://e.org/c",
            "https://e.org/logo.png",
        ),
        base_url="https://e.org/api",
        contigs=CONTIGS,
        environment="prod",
        welcome_url="https://e.org",
        alternative_url="https://e.org/alt",
        create_date_time="2025-01-01T00:00:00Z",
        update_date_time="2025-06-01T00:00:00Z",
    )
    schemas(info_response(full), f"{FRAMEWORK}/beaconInfoResponse.json")
    assert configuration_response(full)["response"]["maturityAttributes"]["productionStatus"] == (
        "PROD"
    )


@pytest.mark.parametrize(
    ("audience", "schema"),
    [
        (Audience.ANONYMOUS, "beaconBooleanResponse.json"),
        (Audience.REGISTERED, "beaconCountResponse.json"),
        (Audience.CONTROLLED, "beaconResultsetsResponse.json"),
    ],
)
def test_g_variants_responses_validate(schemas: Any, audience: Audience, schema: str) -> None:
    doc = range_response(audience)
    schemas(doc, f"{FRAMEWORK}/{schema}")
    for result_set in doc.get("response", {}).get("resultSets", []):
        assert result_set["results"]
        for record in result_set["results"]:
            schemas(record, f"{MODEL}/defaultSchema.json")


def test_request_bodies_validate(schemas: Any) -> None:
    """The POST bodies this beacon reads are valid Beacon request bodies."""
    body = {
        "meta": {"apiVersion": "v2.0.0"},
        "query": {
            "requestParameters": {
                "g_variant": {"referenceName": "22", "start": [16570122], "alternateBases": "G"}
            },
            "requestedGranularity": "count",
            "pagination": {"skip": 0, "limit": 10},
        },
    }
    schemas(body, "framework/json/requests/beaconRequestBody.json")
    q = parse_post_query(copy.deepcopy(body), contigs=CONTIGS)
    assert q.variant_id is None
    assert q.matches("chr22-16570123-A-G")
    summary = q.request_summary()
    schemas(summary, f"{FRAMEWORK}/sections/beaconReceivedRequestSummary.json")


# -- the membership attack ----------------------------------------------------------------------


def test_membership_attack_power_with_and_without_defences() -> None:
    from helgenom.adapters.beacon_attack import (
        Defences,
        attack_power,
        simulate_genotypes,
        split_population,
    )

    genotypes = simulate_genotypes(800, sites=8_000, seed=11)
    assert genotypes.shape == (800, 8_000)
    assert set(range(3)) >= {int(v) for v in genotypes.max(axis=0)}
    setup = split_population(genotypes, members=400, outsiders=100, panel=300, seed=12)
    runs = {
        "none": (Defences(), "rarest"),
        "suppression": (Defences("suppression", suppression=True), "rarest"),
        "person budget 1": (Defences("person budget", person_budget=1.0), "rarest"),
        "user budget 50, random order": (Defences("user budget", user_queries=50), "random"),
        "none, random order": (Defences(), "random"),
    }
    power: dict[str, float] = {}
    for label, (defences, order) in runs.items():
        result = attack_power(setup, defences, targets=60, order=order, seed=3)
        assert result.false_positive_rate <= 0.05
        power[label] = result.power
        print(
            f"beacon attack, 400 members, 8,000 sites, {label}: power {result.power:.2f} "
            f"at FPR {result.false_positive_rate:.2f}, {result.queries:.0f} queries/target"
        )
    assert power["none"] > 0.8
    assert power["none, random order"] > 0.8
    assert power["suppression"] < 0.2
    assert power["person budget 1"] < 0.5
    assert power["user budget 50, random order"] < 0.6


# -- the budgets over HTTP: 429 for the asker's own budget, nothing for a person's ---------------


@dataclass
class BeaconWorld:
    """A populated SQLite instance whose public set holds a simulated cohort."""

    world: Any
    home: Path
    rare: str
    """A variant carried once (AC 1) in the public set."""
    common: str
    """A variant with AC and AN - AC of at least 8."""


@pytest.fixture(scope="module")
def beacon_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BeaconWorld]:
    from conftest import build_world
    from helgenom.adapters.variants.cohort import simulate_cohort
    from helgenom.services.instance import init_instance
    from helgenom.services.platform import open_platform
    from test_variants_service import enrol

    folder = tmp_path_factory.mktemp("beacon-http")
    init_instance(folder / "instance")
    p = open_platform(str(folder / "instance"))
    try:
        world = build_world(p)
        cohort = simulate_cohort(folder / "cohort", samples=12, length=30_000, seed=11, gvcf=True)
        p.variants.ingest_batch(p.context("operator"), enrol(world, cohort).items, workers=0)
        rows = p.variants.frequency(
            p.context("clin-a"), region=f"{cohort.contig}:1-30000", frequency_set="public",
            by=["overall"],
        ).rows  # fmt: skip
        common = next(r for r in rows if r["ac"] >= 8 and r["an"] - r["ac"] >= 8)
        rare = next(r for r in rows if r["ac"] == 1)
        yield BeaconWorld(
            world, folder / "instance", str(rare["variant_id"]), str(common["variant_id"])
        )
    finally:
        p.close()


@contextlib.contextmanager
def beacon_client(bw: BeaconWorld, policy: DisclosurePolicy) -> Iterator[Any]:
    """The API of ``bw`` whose beacon applies ``policy``, on a fresh budget ledger."""
    from fastapi.testclient import TestClient

    from helgenom.api.app import create_app
    from helgenom.services.beacon import LEDGER_NAME

    (bw.home / "beacon" / LEDGER_NAME).unlink(missing_ok=True)
    with TestClient(create_app(str(bw.home))) as client:
        client.app.state.platform.beacon.policy = policy  # type: ignore[attr-defined]
        yield client


def sequence_params(variant_id: str, granularity: str = "count") -> dict[str, str]:
    contig, pos, ref, alt = variant_id.rsplit("-", 3)
    return {
        "referenceName": contig,
        "start": str(int(pos) - 1),
        "referenceBases": ref,
        "alternateBases": alt,
        "requestedGranularity": granularity,
    }


def bearer(bw: BeaconWorld, user: str) -> dict[str, str]:
    from helgenom.services.tokens import parse_ttl

    p = bw.world.platform
    return {"Authorization": f"Bearer {p.tokens.issue(p.context(), user, parse_ttl('15m')).token}"}


def test_spent_query_budget_is_429_with_retry_after(
    beacon_world: BeaconWorld, request: pytest.FixtureRequest
) -> None:
    bw = beacon_world
    policy = DisclosurePolicy(queries_per_window=2, window_seconds=600)  # one query per 300 s
    params = sequence_params(bw.common)
    contig, pos, ref, alt = bw.common.rsplit("-", 3)
    body = {
        "meta": {"apiVersion": "v2.0.0"},
        "query": {
            "requestParameters": {
                "referenceName": contig,
                "start": [int(pos) - 1],
                "referenceBases": ref,
                "alternateBases": alt,
            }
        },
    }
    with beacon_client(bw, policy) as client:
        assert client.get("/beacon/g_variants", params=params).status_code == 200
        assert client.post("/beacon/g_variants", json=body).status_code == 200
        for spent in (
            client.get("/beacon/g_variants", params=params),
            client.post("/beacon/g_variants", json=body),
        ):
            assert spent.status_code == 429, spent.text
            assert 290 <= int(spent.headers["retry-after"]) <= 300
            doc = spent.json()
            assert doc["error"]["errorCode"] == 429
            assert (
                "query budget (2 queries per 600 s) is spent: try again in"
                in (doc["error"]["errorMessage"])
            )
            assert "responseSummary" not in doc  # refused before any data was read
            if BEACON_SCHEMAS.is_dir():
                request.getfixturevalue("schemas")(doc, f"{FRAMEWORK}/beaconErrorResponse.json")
        # budgets are per asker: a registered user has their own, then is refused alike
        clin = bearer(bw, "clin-a")
        got = [client.get("/beacon/g_variants", params=params, headers=clin) for _ in range(3)]
        assert [r.status_code for r in got] == [200, 200, 429]
        assert got[0].json()["responseSummary"] == {"exists": True, "numTotalResults": 1}
        assert "retry-after" in got[2].headers
        # a query that does not parse is refused before it is charged (400, not 429)
        assert client.get("/beacon/g_variants", params={"start": "1"}).status_code == 400
        # the framework documents are not charged
        assert client.get("/beacon/info").status_code == 200


def test_spent_person_budget_is_no_error_and_tells_nothing(beacon_world: BeaconWorld) -> None:
    """A carrier whose budget is spent is left out: 200 and the answer for an absent allele,
    never 403 (a refusal would tell that the allele has a protected carrier)."""
    bw = beacon_world
    policy = DisclosurePolicy(person_budget=0.5)  # a singleton's risk is 0.46: one answer
    key = VariantKey.parse(bw.rare)
    absent = VariantKey(key.contig, key.pos, key.ref, "N" if key.alt != "N" else "A").variant_id
    with beacon_client(bw, policy) as client:
        gen = bearer(bw, "gen-a")
        first = client.get("/beacon/g_variants", params=sequence_params(bw.rare), headers=gen)
        assert first.status_code == 200
        assert first.json()["responseSummary"] == {"exists": True, "numTotalResults": 1}
        for user in ("gen-a", "clin-b"):  # one budget for every asker
            later = client.get(
                "/beacon/g_variants", params=sequence_params(bw.rare), headers=bearer(bw, user)
            )
            none = client.get(
                "/beacon/g_variants", params=sequence_params(absent), headers=bearer(bw, user)
            )
            assert later.status_code == none.status_code == 200
            assert "retry-after" not in later.headers
            left_out, really_absent = later.json(), none.json()
            assert left_out["responseSummary"] == {"exists": False, "numTotalResults": 0}
            assert left_out["responseSummary"] == really_absent["responseSummary"]
            assert left_out["info"] == really_absent["info"]
            assert "error" not in left_out
