"""Tests of helgenom.core.acmg: ACMG/AMP 2015 evidence, overrides and combining.

Expectations come from Richards et al. 2015 (Table 5 and the criterion definitions)
and the ClinGen SVI recommendations, written out here, not derived from the code.
"""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helgenom.core.acmg import (
    ALLOWED_STRENGTHS,
    Classification,
    Criterion,
    Direction,
    Evidence,
    GeneInheritance,
    KnownVariant,
    Override,
    OverrideAction,
    ProteinChange,
    Strength,
    apply_overrides,
    ba1,
    bs1,
    bs2,
    combine,
    pm2,
    pm3,
    pm5,
    pp1,
    ps1,
    ps2_pm6,
    pvs1,
)
from helgenom.core.errors import FormatError, InvalidInputError

FAST = settings(
    max_examples=150, database=None, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
T0 = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.UTC)
VS, S, M, P = Strength.VERY_STRONG, Strength.STRONG, Strength.MODERATE, Strength.SUPPORTING


def ev(label: str) -> Evidence:
    """``PM2`` at its default strength or ``PM2_P`` / ``PP1_S`` at a modified one."""
    code, _, mod = label.partition("_")
    criterion = Criterion(code)
    strength = {"": criterion.default_strength, "VS": VS, "S": S, "M": M, "P": P}[mod]
    return Evidence(criterion, strength, f"test {label}", {})


# -- criteria ----------------------------------------------------------------------------


def test_criteria_are_the_28_of_2015_with_defaults() -> None:
    assert len(Criterion) == 28
    expected = {
        VS: ["PVS1"],
        S: ["PS1", "PS2", "PS3", "PS4", "BS1", "BS2", "BS3", "BS4"],
        M: ["PM1", "PM2", "PM3", "PM4", "PM5", "PM6"],
        P: ["PP1", "PP2", "PP3", "PP4", "PP5", *(f"BP{i}" for i in range(1, 8))],
        Strength.STAND_ALONE: ["BA1"],
    }
    for strength, codes in expected.items():
        for code in codes:
            assert Criterion(code).default_strength is strength
    assert {c for c in Criterion if c.direction is Direction.PATHOGENIC} == {
        c for c in Criterion if c.value.startswith("P")
    }
    assert sum(c.direction is Direction.BENIGN for c in Criterion) == 12


@pytest.mark.parametrize(
    ("code", "strength"),
    [
        (Criterion.PM2, Strength.STAND_ALONE),
        (Criterion.BS1, Strength.MODERATE),
        (Criterion.BP4, Strength.VERY_STRONG),
        (Criterion.BS1, Strength.STAND_ALONE),
        (Criterion.BA1, Strength.STRONG),
    ],
)
def test_evidence_rejects_impossible_strength(code: Criterion, strength: Strength) -> None:
    with pytest.raises(InvalidInputError):
        Evidence(code, strength, "rule", {})


def test_evidence_rejects_non_json_data_and_labels_modified_strength() -> None:
    with pytest.raises(InvalidInputError, match="JSON"):
        Evidence(Criterion.PM2, M, "rule", {"af": float("nan")})
    assert ev("PM2_P").label() == "PM2_Supporting"
    assert ev("PVS1_S").label() == "PVS1_Strong"
    assert ev("PM2").label() == "PM2"
    assert ev("PP1_S").asdict()["strength"] == "strong"


# -- combining (Table 5) -----------------------------------------------------------------

PATH, LP = Classification.PATHOGENIC, Classification.LIKELY_PATHOGENIC
VUS, LB, BEN = (
    Classification.UNCERTAIN_SIGNIFICANCE,
    Classification.LIKELY_BENIGN,
    Classification.BENIGN,
)

TABLE5 = [
    # (evidence, class, rule prefix)
    ("PVS1 PS2", PATH, "Pathogenic (i)(a)"),  # published worked example
    ("PVS1 PM1 PM2", PATH, "Pathogenic (i)(b)"),
    ("PVS1 PM2 PP3", PATH, "Pathogenic (i)(c)"),
    ("PVS1 PP3 PP4", PATH, "Pathogenic (i)(d)"),
    ("PS1 PS3", PATH, "Pathogenic (ii)"),
    ("PS3 PM1 PM2 PM5", PATH, "Pathogenic (iii)(a)"),
    ("PS3 PM1 PM2 PP3 PP4", PATH, "Pathogenic (iii)(b)"),
    ("PS3 PM2 PP1 PP2 PP3 PP4", PATH, "Pathogenic (iii)(c)"),
    ("PVS1 PM2", LP, "Likely pathogenic (i)"),
    ("PS2 PM2", LP, "Likely pathogenic (ii)"),
    ("PS2 PM2 PP3", LP, "Likely pathogenic (ii)"),  # 1 strong + 1 moderate (+ PP)
    ("PS2 PM1 PM2", LP, "Likely pathogenic (ii)"),
    ("PS3 PP3 PP4", LP, "Likely pathogenic (iii)"),
    ("PM1 PM2 PM5", LP, "Likely pathogenic (iv)"),
    ("PM1 PM2 PP3 PP4", LP, "Likely pathogenic (v)"),
    ("PM2 PP1 PP2 PP3 PP4", LP, "Likely pathogenic (vi)"),
    ("BA1", BEN, "Benign (i)"),
    ("BS1 BS2", BEN, "Benign (ii)"),
    ("BS1 BP4", LB, "Likely benign (i)"),
    ("BP4 BP7", LB, "Likely benign (ii)"),
    ("", VUS, "Uncertain significance (i)"),
    ("PVS1", VUS, "Uncertain significance (i)"),
    ("PVS1 PP3", VUS, "Uncertain significance (i)"),  # the known gap of Table 5
    ("PS2", VUS, "Uncertain significance (i)"),
    ("PM2 PP3 PP4", VUS, "Uncertain significance (i)"),
    ("BS1", VUS, "Uncertain significance (i)"),
    ("BP4", VUS, "Uncertain significance (i)"),
    ("PS1 PS3 BS1 BS2", VUS, "Uncertain significance (ii)"),
    ("PVS1 PS2 BA1", VUS, "Uncertain significance (ii)"),
    ("PM1 PM2 PM5 BP4 BP7", VUS, "Uncertain significance (ii)"),
    # one side meets no rule: it does not overturn the other
    ("PVS1 PS2 BP4", PATH, "Pathogenic (i)(a)"),
    ("BS1 BS2 PP3", BEN, "Benign (ii)"),
    ("BA1 PS2", BEN, "Benign (i)"),
    # modified strengths count at their applied strength
    ("PVS1 PM2_P", VUS, "Uncertain significance (i)"),
    ("PVS1 PM2_P PP3", PATH, "Pathogenic (i)(d)"),
    ("PS2 PP1_S", PATH, "Pathogenic (ii)"),
    ("PM2 PP1_M PM1", LP, "Likely pathogenic (iv)"),
    ("PVS1_S PM2", LP, "Likely pathogenic (ii)"),
    ("PVS1 PS2_VS", PATH, "Pathogenic (i)(a)"),  # a second very strong counts as strong
    ("PS3_P PS4_P", VUS, "Uncertain significance (i)"),
]


@pytest.mark.parametrize(
    ("labels", "expected", "rule"), TABLE5, ids=[t[0] or "none" for t in TABLE5]
)
def test_table5(labels: str, expected: Classification, rule: str) -> None:
    result = combine([ev(label) for label in labels.split()])
    assert result.classification is expected
    assert result.rule.startswith(rule)


def test_conflict_names_both_rules() -> None:
    result = combine([ev(x) for x in ["PS1", "PS3", "BS1", "BS2"]])
    assert result.pathogenic_rule == "Pathogenic (ii): >=2 strong"
    assert result.benign_rule == "Benign (ii): >=2 strong"
    assert "conflicting" in result.rule


def test_combine_rejects_duplicate_criteria() -> None:
    with pytest.raises(InvalidInputError, match="PM2"):
        combine([ev("PM2"), ev("PM2_P")])


@st.composite
def evidence_sets(draw: st.DrawFn, direction: Direction | None = None) -> list[Evidence]:
    """A set of distinct criteria at strengths they may take."""
    pool = [c for c in Criterion if direction is None or c.direction is direction]
    codes = draw(st.lists(st.sampled_from(pool), unique=True, max_size=9))
    result = []
    for code in codes:
        choices = sorted(
            s
            for s in ALLOWED_STRENGTHS[code.direction]
            if (s is Strength.STAND_ALONE) == (code is Criterion.BA1)
        )
        result.append(Evidence(code, draw(st.sampled_from(choices)), "generated", {}))
    return result


@FAST
@given(evidence_sets(), st.sampled_from([c for c in Criterion if c.value.startswith("P")]))
def test_adding_pathogenic_evidence_never_makes_more_benign(
    items: list[Evidence], code: Criterion
) -> None:
    for strength in sorted(ALLOWED_STRENGTHS[Direction.PATHOGENIC]):
        base = [e for e in items if e.code is not code]
        before = combine(base).classification
        after = combine([*base, Evidence(code, strength, "added", {})]).classification
        assert after.rank >= before.rank


@FAST
@given(evidence_sets(), st.sampled_from([c for c in Criterion if c.value.startswith("B")]))
def test_adding_benign_evidence_never_makes_more_pathogenic(
    items: list[Evidence], code: Criterion
) -> None:
    base = [e for e in items if e.code is not code]
    strength = code.default_strength
    before = combine(base).classification
    after = combine([*base, Evidence(code, strength, "added", {})]).classification
    assert after.rank <= before.rank


@FAST
@given(evidence_sets(Direction.BENIGN))
def test_ba1_is_benign_on_benign_evidence(items: list[Evidence]) -> None:
    assert combine([ev("BA1")]).classification is BEN
    with_ba1 = [e for e in items if e.code is not Criterion.BA1] + [ev("BA1")]
    assert combine(with_ba1).classification is BEN


@FAST
@given(evidence_sets(Direction.PATHOGENIC), evidence_sets(Direction.BENIGN))
def test_both_sides_meeting_a_rule_is_uncertain(
    pathogenic: list[Evidence], benign: list[Evidence]
) -> None:
    p = combine(pathogenic).classification
    b = combine(benign).classification
    both = combine([*pathogenic, *benign]).classification
    if p in (PATH, LP) and b in (BEN, LB):
        assert both is VUS
    elif p in (PATH, LP):
        assert both is p
    elif b in (BEN, LB):
        assert both is b
    else:
        assert both is VUS


@FAST
@given(st.integers(2, 4), st.integers(2, 4))
def test_strong_pathogenic_against_strong_benign_is_uncertain(ns: int, nb: int) -> None:
    strong_p = [ev(c) for c in ("PS1", "PS2", "PS3", "PS4")[:ns]]
    strong_b = [ev(c) for c in ("BS1", "BS2", "BS3", "BS4")[:nb]]
    assert combine(strong_p + strong_b).classification is VUS


# -- evidence functions ------------------------------------------------------------------


@pytest.mark.parametrize(
    "term",
    [
        "stop_gained",
        "frameshift_variant",
        "splice_acceptor_variant",
        "splice_donor_variant",
        "start_lost",
        "exon_loss_variant",
    ],
)
def test_pvs1_triggers_on_null_variant_in_lof_gene(term: str) -> None:
    e = pvs1([term, "NMD_transcript_variant"], loss_of_function_mechanism=True)
    assert e is not None
    assert (e.code, e.strength) == (Criterion.PVS1, VS)
    assert e.data["null_consequences"] == [term]
    assert term in e.rule


def test_pvs1_does_not_trigger() -> None:
    assert pvs1(["missense_variant"], loss_of_function_mechanism=True) is None
    assert pvs1(["splice_region_variant"], loss_of_function_mechanism=True) is None
    assert pvs1(["stop_gained"], loss_of_function_mechanism=False) is None
    reduced = pvs1(["stop_gained"], loss_of_function_mechanism=True, strength=S)
    assert reduced is not None
    assert reduced.strength is S
    assert "decision tree" in reduced.rule


def test_ps2_pm6() -> None:
    confirmed = ps2_pm6(de_novo=True, parentage_confirmed=True)
    assumed = ps2_pm6(de_novo=True, parentage_confirmed=False)
    assert confirmed is not None
    assert confirmed.code is Criterion.PS2
    assert assumed is not None
    assert assumed.code is Criterion.PM6
    assert assumed.data == {"de_novo": True, "parentage_confirmed": False}
    assert ps2_pm6(de_novo=False, parentage_confirmed=True) is None
    assert ps2_pm6(de_novo=True, parentage_confirmed=True, phenotype_consistent=False) is None


def test_pm2() -> None:
    absent = pm2({"national": None, "gnomad": 0.0})
    assert absent is not None
    assert absent.strength is M
    assert "absent" in absent.rule
    assert pm2({"national": 0.0, "gnomad": 1e-5}) is None
    rare = pm2({"national": 0.0, "gnomad": 1e-5}, threshold=1e-4)
    assert rare is not None
    assert rare.data["max_af"] == 1e-5
    svi = pm2({"gnomad": None}, strength=P)
    assert svi is not None
    assert svi.label() == "PM2_Supporting"
    with pytest.raises(InvalidInputError):
        pm2({})
    with pytest.raises(InvalidInputError):
        pm2({"gnomad": 1.5})


def test_ba1_and_bs1() -> None:
    assert ba1({"national": 0.06, "gnomad": 0.01}) is not None
    assert ba1({"national": 0.05}) is None  # strictly greater than 5 %
    assert ba1({"gnomad": None}) is None
    common = bs1({"gnomad": 0.002}, threshold=0.001)
    assert common is not None
    assert common.strength is S
    assert common.data["threshold"] == 0.001
    assert bs1({"gnomad": 0.0005}, threshold=0.001) is None
    with pytest.raises(InvalidInputError):
        bs1({"gnomad": 0.1}, threshold=-1.0)


def test_bs2() -> None:
    recessive = bs2(inheritance=GeneInheritance.RECESSIVE, healthy_homozygotes=2)
    assert recessive is not None
    assert recessive.data["healthy_homozygotes"] == 2
    assert bs2(inheritance=GeneInheritance.RECESSIVE, healthy_heterozygotes=50) is None
    assert bs2(inheritance=GeneInheritance.X_LINKED, healthy_hemizygotes=1) is not None
    assert bs2(inheritance=GeneInheritance.DOMINANT, healthy_heterozygotes=3) is None
    assert (
        bs2(inheritance=GeneInheritance.DOMINANT, healthy_heterozygotes=3, fully_penetrant=True)
        is not None
    )
    assert bs2(inheritance=GeneInheritance.X_LINKED, healthy_hemizygotes=1, min_count=2) is None
    with pytest.raises(InvalidInputError):
        bs2(inheritance=GeneInheritance.RECESSIVE, healthy_homozygotes=-1)


def test_pm3() -> None:
    e = pm3(gene_recessive=True, in_trans_with_pathogenic=True, partner="chr1-100-A-G")
    assert e is not None
    assert e.data == {"in_trans_with": "chr1-100-A-G"}
    assert pm3(gene_recessive=False, in_trans_with_pathogenic=True) is None
    assert pm3(gene_recessive=True, in_trans_with_pathogenic=False) is None


KNOWN = [
    KnownVariant("VCV1", "c.367C>T", "p.Arg123Cys", pathogenic=True),
    KnownVariant("VCV2", "c.368G>A", "p.(Arg123His)", pathogenic=True),
    KnownVariant("VCV3", "c.400G>A", "p.Gly134Ser", pathogenic=False),
    KnownVariant("VCV4", "c.500C>T", "p.Gln167Ter", pathogenic=True),
]


def test_protein_change_parse() -> None:
    assert ProteinChange.parse("NP_000001.1:p.R123C") == ProteinChange("Arg", 123, "Cys")
    assert ProteinChange.parse("p.(Arg123Cys)") == ProteinChange("Arg", 123, "Cys")
    assert ProteinChange.parse("p.Gln167Ter") is None
    assert ProteinChange.parse("p.Arg123=") is None
    assert ProteinChange.parse("p.Arg123Arg") is None
    assert ProteinChange.parse("p.Arg123fs") is None


def test_ps1() -> None:
    e = ps1("c.367C>A", "p.Arg123Cys", KNOWN)  # other nucleotide, same amino acid
    assert e is not None
    assert e.data["matches"] == [{"accession": "VCV1", "hgvs_c": "c.367C>T"}]
    assert ps1("c.367C>T", "p.Arg123Cys", KNOWN) is None  # the same variant
    assert ps1("c.401G>A", "p.Gly134Ser", KNOWN) is None  # known, but not pathogenic
    assert ps1("c.367C>A", "p.R123S", KNOWN) is None
    with pytest.raises(FormatError):
        ps1("c.500C>T", "p.Gln167Ter", KNOWN)


def test_pm5() -> None:
    e = pm5("p.Arg123Ser", KNOWN)
    assert e is not None
    assert {m["accession"] for m in e.data["matches"]} == {"VCV1", "VCV2"}
    assert pm5("p.Arg123Cys", KNOWN) is None  # same change known pathogenic: PS1, not PM5
    assert pm5("p.Gly134Asp", KNOWN) is None  # residue's known change is not pathogenic
    assert pm5("p.Leu200Pro", KNOWN) is None
    with pytest.raises(FormatError):
        pm5("p.Arg123fs", KNOWN)


@pytest.mark.parametrize(
    ("meioses", "strength"),
    [(0, None), (2, None), (3, P), (4, P), (5, M), (6, M), (7, S), (12, S)],
)
def test_pp1_clingen_thresholds(meioses: int, strength: Strength | None) -> None:
    e = pp1(informative_meioses=meioses)
    assert (e.strength if e else None) is strength
    if e is not None:
        assert e.data["informative_meioses"] == meioses


def test_pp1_withheld_on_discordance() -> None:
    assert pp1(informative_meioses=8, discordant=1) is None
    with pytest.raises(InvalidInputError):
        pp1(informative_meioses=-1)


# -- overrides ---------------------------------------------------------------------------


def override(code: str, action: str, strength: Strength | None = None, why: str = "x") -> Override:
    return Override(Criterion(code), OverrideAction(action), strength, why, "dr.hansen", T0)


def test_overrides_add_remove_change() -> None:
    auto = (ev("PVS1"), ev("PM2"), ev("PP3"))
    result = apply_overrides(
        auto,
        [
            override("PM2", "change_strength", P, "ClinGen SVI 2020: PM2 at supporting"),
            override("PP3", "remove", why="PVS1 already counts the predicted null effect"),
            override("PS2", "add", why="de novo confirmed by Sanger in both parents"),
        ],
    )
    by_code = {e.code: e for e in result}
    assert set(by_code) == {Criterion.PVS1, Criterion.PM2, Criterion.PS2}
    assert by_code[Criterion.PM2].strength is P
    assert "ClinGen SVI 2020" in by_code[Criterion.PM2].rule
    assert by_code[Criterion.PM2].data["overrides"][0]["actor"] == "dr.hansen"
    assert by_code[Criterion.PS2].strength is S
    assert combine(result).classification is PATH


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ([override("PM2", "change_strength", P, why="  ")], "justification"),
        ([override("PM2", "add")], "already applied"),
        ([override("PS2", "remove")], "not applied"),
        ([override("PM2", "change_strength")], "no strength"),
        ([override("PM2", "change_strength", Strength.STAND_ALONE)], "stand"),
        (
            [
                Override(
                    Criterion.PM2, OverrideAction.REMOVE, None, "why", "dr", T0.replace(tzinfo=None)
                )
            ],
            "timezone",
        ),
        ([Override(Criterion.PM2, OverrideAction.REMOVE, None, "why", " ", T0)], "actor"),
    ],
)
def test_overrides_rejected(overrides: list[Override], message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        apply_overrides([ev("PM2")], overrides)
