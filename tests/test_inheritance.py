"""Tests of helgenom.core.inheritance and helgenom.core.pedigree.

A named corpus of family patterns, written out from the rules of Mendelian
inheritance (not from the implementation), plus property tests that a mode is
never reported when its defining parental pattern is broken.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from helgenom.core.errors import FormatError, InvalidInputError
from helgenom.core.inheritance import (
    Certainty,
    ContigKind,
    InheritanceMode,
    Phase,
    QualityFilter,
    SiteCall,
    VariantCalls,
    Zygosity,
    classify_variant,
    compound_heterozygous_pairs,
    mendelian_error,
)
from helgenom.core.pedigree import Pedigree, Phenotype, Sex

FAST = settings(
    max_examples=300, database=None, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

Z = {z.value: z for z in Zygosity}
A, X, Y, MT = ContigKind.AUTOSOME, ContigKind.X, ContigKind.Y, ContigKind.MT
MALE, FEMALE = Sex.MALE, Sex.FEMALE
DN, AR, XLH, XLR, AD = (
    InheritanceMode.DE_NOVO,
    InheritanceMode.AUTOSOMAL_RECESSIVE_HOMOZYGOUS,
    InheritanceMode.X_LINKED_HEMIZYGOUS,
    InheritanceMode.X_LINKED_RECESSIVE_HOMOZYGOUS,
    InheritanceMode.AUTOSOMAL_DOMINANT,
)
FITS, POSS = Certainty.FITS, Certainty.POSSIBLE
CARRIER = {Zygosity.HET, Zygosity.HOM_ALT, Zygosity.HEMI}


def call(z: str | None) -> SiteCall | None:
    return None if z is None else SiteCall(Z[z])


def variant(
    child: str,
    mother: str | None,
    father: str | None,
    contig: ContigKind = A,
    vid: str = "v1",
    gene: str = "GENE1",
    **kw: object,
) -> VariantCalls:
    return VariantCalls(
        vid,
        gene,
        contig,
        SiteCall(Z[child]),
        call(mother),
        call(father),
        **kw,  # type: ignore[arg-type]
    )


# -- corpus: single-variant modes --------------------------------------------------------

# name: (child, mother, father, contig, sex, mother_affected, father_affected, expected)
CORPUS: dict[str, tuple[object, ...]] = {
    "de novo, both parents proven ref": (
        "het",
        "hom_ref",
        "hom_ref",
        A,
        FEMALE,
        False,
        False,
        {(DN, FITS), (AD, FITS)},
    ),
    "de novo with mother no_call is only possible": (
        "het",
        "no_call",
        "hom_ref",
        A,
        FEMALE,
        False,
        False,
        {(DN, POSS), (AD, POSS)},
    ),
    "de novo with father not sequenced (duo)": (
        "het",
        "hom_ref",
        None,
        A,
        MALE,
        False,
        None,
        {(DN, POSS), (AD, POSS)},
    ),
    "not de novo when father carries, unaffected": (
        "het",
        "hom_ref",
        "het",
        A,
        MALE,
        False,
        False,
        set(),
    ),
    "AD from affected mother": ("het", "het", "hom_ref", A, MALE, True, False, {(AD, FITS)}),
    "AD from carrier father of unknown status": (
        "het",
        "hom_ref",
        "het",
        A,
        MALE,
        False,
        None,
        {(AD, POSS)},
    ),
    "AR, both parents het": ("hom_alt", "het", "het", A, FEMALE, False, False, {(AR, FITS)}),
    "AR with a hom_alt parent is not AR": (
        "hom_alt",
        "hom_alt",
        "het",
        A,
        FEMALE,
        False,
        False,
        set(),
    ),
    "AR with a hom_ref parent (UPD/deletion) is not AR": (
        "hom_alt",
        "het",
        "hom_ref",
        A,
        FEMALE,
        False,
        False,
        set(),
    ),
    "AR with a parent no_call is possible": (
        "hom_alt",
        "het",
        "no_call",
        A,
        FEMALE,
        False,
        False,
        {(AR, POSS)},
    ),
    "X-linked son of a carrier mother": (
        "hemi",
        "het",
        "hom_ref",
        X,
        MALE,
        False,
        False,
        {(XLH, FITS)},
    ),
    "X-linked son, male hom_alt read as hemi": (
        "hom_alt",
        "het",
        "hom_ref",
        X,
        MALE,
        False,
        False,
        {(XLH, FITS)},
    ),
    "X-linked son, de novo": (
        "hemi",
        "hom_ref",
        "hom_ref",
        X,
        MALE,
        False,
        False,
        {(DN, FITS), (XLH, FITS)},
    ),
    "X-linked son, carrier father excludes": (
        "hemi",
        "het",
        "hemi",
        X,
        MALE,
        False,
        True,
        set(),
    ),
    "X-linked son, mother no_call": (
        "hemi",
        "no_call",
        "hom_ref",
        X,
        MALE,
        None,
        False,
        {(DN, POSS), (XLH, POSS)},
    ),
    "X-linked in a female: het daughter is not hemizygous": (
        "het",
        "het",
        "hom_ref",
        X,
        FEMALE,
        False,
        False,
        set(),
    ),
    "X-linked recessive daughter": (
        "hom_alt",
        "het",
        "hemi",
        X,
        FEMALE,
        False,
        True,
        {(XLR, FITS)},
    ),
    "X PAR behaves autosomally": ("hom_alt", "het", "het", X, MALE, False, False, {(AR, FITS)}),
    "chrY de novo in a son": ("hemi", "hom_ref", "hom_ref", Y, MALE, False, False, {(DN, FITS)}),
    "chrY inherited from father": ("hemi", "hom_ref", "hemi", Y, MALE, False, False, set()),
    "chrM heteroplasmic de novo": ("het", "hom_ref", "het", MT, FEMALE, False, False, {(DN, FITS)}),
    "child hom_ref gives nothing": ("hom_ref", "het", "het", A, MALE, True, True, set()),
    "singleton het": ("het", None, None, A, MALE, None, None, {(AD, POSS)}),
    "singleton hom_alt": ("hom_alt", None, None, A, MALE, None, None, {(AR, POSS)}),
    "singleton hemizygous son": ("hemi", None, None, X, MALE, None, None, {(XLH, POSS)}),
}


@pytest.mark.parametrize("name", list(CORPUS))
def test_corpus(name: str) -> None:
    child, mother, father, contig, sex, m_aff, f_aff, expected = CORPUS[name]
    in_par = name.startswith("X PAR")
    v = variant(child, mother, father, contig, in_par=in_par)  # type: ignore[arg-type]
    modes = classify_variant(
        v,
        child_sex=sex,  # type: ignore[arg-type]
        mother_affected=m_aff,  # type: ignore[arg-type]
        father_affected=f_aff,  # type: ignore[arg-type]
    )
    assert {(m.mode, m.certainty) for m in modes} == expected
    assert all(m.reason for m in modes)


def test_quality_filter_demotes_poorly_covered_parent() -> None:
    v = VariantCalls(
        "v1",
        "G",
        A,
        SiteCall(Zygosity.HET, gq=99, dp=40),
        SiteCall(Zygosity.HOM_REF, gq=99, dp=35),
        SiteCall(Zygosity.HOM_REF, gq=10, dp=3),
    )
    plain = classify_variant(v, child_sex=MALE)
    filtered = classify_variant(v, child_sex=MALE, quality=QualityFilter(min_gq=20, min_dp=10))
    assert (plain[0].mode, plain[0].certainty) == (DN, FITS)
    assert (filtered[0].mode, filtered[0].certainty) == (DN, POSS)
    assert "father not called" in filtered[0].reason


def test_parental_blocks_without_gq_count_by_their_depth() -> None:
    """bcftools writes no GQ in its depth-banded gVCF blocks: a parent's hom-ref block
    proves the de novo when deep enough, and not when shallow or without a depth."""
    quality = QualityFilter(min_gq=20, min_dp_without_gq=8)

    def de_novo(mother_dp: int | None) -> tuple[InheritanceMode, Certainty]:
        v = VariantCalls(
            "v1",
            "G",
            A,
            SiteCall(Zygosity.HET, gq=99, dp=40),
            SiteCall(Zygosity.HOM_REF, gq=None, dp=mother_dp),
            SiteCall(Zygosity.HOM_REF, gq=None, dp=25),
        )
        mode = classify_variant(v, child_sex=MALE, quality=quality)[0]
        return mode.mode, mode.certainty

    assert de_novo(12) == (DN, FITS)
    assert de_novo(8) == (DN, FITS)
    assert de_novo(5) == (DN, POSS)
    assert de_novo(None) == (DN, POSS)
    # without the rule a GQ-less block is a no-call, as before
    strict = QualityFilter(min_gq=20)
    assert strict.apply(SiteCall(Zygosity.HOM_REF, gq=None, dp=40)) is Zygosity.NO_CALL
    assert quality.apply(SiteCall(Zygosity.HOM_REF, gq=5, dp=40)) is Zygosity.NO_CALL


def test_invalid_inputs() -> None:
    with pytest.raises(InvalidInputError, match="hemi"):
        classify_variant(variant("hemi", "het", "het", A), child_sex=MALE)
    with pytest.raises(InvalidInputError, match="hemi"):
        classify_variant(variant("hemi", "het", "hom_ref", X), child_sex=FEMALE)
    with pytest.raises(InvalidInputError, match="sex"):
        classify_variant(variant("het", "het", "hom_ref", X), child_sex=Sex.UNKNOWN)
    with pytest.raises(InvalidInputError):
        SiteCall(Zygosity.HET, allele_balance=1.5)


# -- Mendelian errors --------------------------------------------------------------------

MENDEL = [
    # (child, mother, father, contig, sex, expected)
    ("het", "hom_ref", "hom_ref", A, MALE, True),  # de novo is a Mendelian error
    ("het", "het", "hom_ref", A, MALE, False),
    ("hom_alt", "het", "hom_ref", A, MALE, True),
    ("hom_alt", "het", "het", A, MALE, False),
    ("hom_ref", "hom_alt", "het", A, MALE, True),
    ("hom_alt", "hom_ref", "no_call", A, MALE, True),  # decided without the father
    ("het", "hom_ref", "no_call", A, MALE, None),
    ("no_call", "hom_ref", "hom_ref", A, MALE, None),
    # chrX, male child: the allele comes from the mother only
    ("hemi", "hom_ref", "hemi", X, MALE, True),
    ("hemi", "het", "hom_ref", X, MALE, False),
    ("hom_ref", "hom_alt", "hom_ref", X, MALE, True),
    ("het", "het", "hom_ref", X, MALE, True),  # a son has one X
    ("hemi", "het", "no_call", X, MALE, False),  # father irrelevant
    ("hemi", "no_call", "hom_ref", X, MALE, None),
    # chrX, female child
    ("het", "hom_ref", "hemi", X, FEMALE, False),
    ("hom_ref", "hom_ref", "hemi", X, FEMALE, True),  # father's X must be passed on
    ("hom_alt", "het", "hom_ref", X, FEMALE, True),
    ("het", "het", "hom_ref", X, Sex.UNKNOWN, None),
    # chrY
    ("hemi", "hom_ref", "hom_ref", Y, MALE, True),
    ("hemi", "hom_ref", "hemi", Y, MALE, False),
    ("hom_ref", "hom_alt", "hemi", Y, MALE, True),
    ("het", "hom_ref", "hemi", Y, MALE, True),
    ("het", "hom_ref", "hom_ref", Y, FEMALE, True),
    ("hom_ref", "hom_ref", "hemi", Y, FEMALE, False),
    # chrM: maternal
    ("hom_alt", "hom_ref", "hom_alt", MT, MALE, True),
    ("het", "hom_ref", "hom_ref", MT, MALE, False),
    ("hom_ref", "hom_alt", "hom_ref", MT, FEMALE, True),
]


@pytest.mark.parametrize(("child", "mother", "father", "contig", "sex", "expected"), MENDEL)
def test_mendelian_error(
    child: str, mother: str, father: str, contig: ContigKind, sex: Sex, expected: bool | None
) -> None:
    got = mendelian_error(SiteCall(Z[child]), call(mother), call(father), contig, sex)
    assert got is expected


def test_mendelian_error_in_par_is_autosomal() -> None:
    args = (SiteCall(Zygosity.HET), SiteCall(Zygosity.HOM_REF), SiteCall(Zygosity.HET), X, MALE)
    assert mendelian_error(*args) is True
    assert mendelian_error(*args, in_par=True) is False


# -- compound heterozygosity -------------------------------------------------------------


def pairs(*variants: VariantCalls) -> set[tuple[str, str, Certainty, Phase]]:
    return {
        (p.first, p.second, p.certainty, p.phase) for p in compound_heterozygous_pairs(variants)
    }


def test_comp_het_trans_from_both_parents() -> None:
    a = variant("het", "het", "hom_ref", vid="a")
    b = variant("het", "hom_ref", "het", vid="b")
    assert pairs(a, b) == {("a", "b", FITS, Phase.TRANS)}


def test_comp_het_cis_from_one_parent_is_excluded() -> None:
    a = variant("het", "het", "hom_ref", vid="a")
    b = variant("het", "het", "hom_ref", vid="b")
    assert pairs(a, b) == set()


def test_comp_het_excluded_when_parent_carries_both_or_is_hom_alt() -> None:
    a = variant("het", "het", "het", vid="a")
    b = variant("het", "het", "hom_ref", vid="b")
    assert pairs(a, b) == set()
    c = variant("het", "hom_alt", "hom_ref", vid="c")
    d = variant("het", "hom_ref", "het", vid="d")
    assert pairs(c, d) == set()


def test_comp_het_with_de_novo_is_phase_unknown() -> None:
    a = variant("het", "hom_ref", "hom_ref", vid="a")
    b = variant("het", "het", "hom_ref", vid="b")
    assert pairs(a, b) == {("a", "b", POSS, Phase.UNKNOWN)}


def test_comp_het_other_genes_and_zygosities_skipped() -> None:
    a = variant("het", "het", "hom_ref", vid="a", gene="G1")
    b = variant("het", "hom_ref", "het", vid="b", gene="G2")
    c = variant("hom_alt", "het", "het", vid="c", gene="G1")
    assert pairs(a, b, c) == set()


def test_comp_het_singleton_and_read_backed_phase() -> None:
    a = variant("het", None, None, vid="a")
    b = variant("het", None, None, vid="b")
    assert pairs(a, b) == {("a", "b", POSS, Phase.UNKNOWN)}
    ta = variant("het", None, None, vid="a", phase_set="ps1", haplotype=0)
    tb = variant("het", None, None, vid="b", phase_set="ps1", haplotype=1)
    assert pairs(ta, tb) == {("a", "b", FITS, Phase.TRANS)}
    cb = variant("het", None, None, vid="b", phase_set="ps1", haplotype=0)
    assert pairs(ta, cb) == set()


def test_comp_het_rejects_duplicate_ids() -> None:
    a = variant("het", "het", "hom_ref", vid="a")
    with pytest.raises(InvalidInputError, match="twice"):
        compound_heterozygous_pairs([a, a])


# -- properties --------------------------------------------------------------------------

ZYG_OR_NONE = st.sampled_from([*Zygosity, None])


def _valid(z: Zygosity | None, sex_linked: bool, may_be_hemi: bool) -> bool:
    return z is not Zygosity.HEMI or (sex_linked and may_be_hemi)


@FAST
@given(
    st.sampled_from(list(ContigKind)),
    st.booleans(),
    st.sampled_from([MALE, FEMALE]),
    st.sampled_from(list(Zygosity)),
    ZYG_OR_NONE,
    ZYG_OR_NONE,
    st.sampled_from([True, False, None]),
    st.sampled_from([True, False, None]),
)
def test_no_mode_without_its_parental_pattern(
    contig: ContigKind,
    in_par: bool,
    sex: Sex,
    c: Zygosity,
    m: Zygosity | None,
    f: Zygosity | None,
    m_aff: bool | None,
    f_aff: bool | None,
) -> None:
    eff = A if in_par and contig in (X, Y) else contig
    sex_linked = eff in (X, Y)
    assume(_valid(c, sex_linked, sex is MALE) and _valid(m, sex_linked, False))
    assume(_valid(f, sex_linked, True))
    v = VariantCalls(
        "v",
        "G",
        contig,
        SiteCall(c),
        None if m is None else SiteCall(m),
        None if f is None else SiteCall(f),
        in_par=in_par,
    )
    modes = {
        mc.mode: mc.certainty
        for mc in classify_variant(v, child_sex=sex, mother_affected=m_aff, father_affected=f_aff)
    }
    if sex_linked and sex is MALE and c is Zygosity.HOM_ALT:
        c = Zygosity.HEMI
    if sex_linked and f is Zygosity.HOM_ALT:
        f = Zygosity.HEMI
    if DN in modes:
        sources = {MT: [m], Y: [f]}.get(eff, [m, f])
        assert not any(z in CARRIER for z in sources), "de novo with a carrier parent"
        assert m is not None or f is not None, "de novo in a singleton"
        if modes[DN] is FITS:
            assert all(z is Zygosity.HOM_REF for z in sources)
    if AR in modes:
        assert eff is A
        assert c is Zygosity.HOM_ALT
        assert Zygosity.HOM_ALT not in (m, f)
        assert Zygosity.HOM_REF not in (m, f)
        if modes[AR] is FITS:
            assert m is Zygosity.HET
            assert f is Zygosity.HET
    if XLH in modes:
        assert eff is X
        assert sex is MALE
        assert c is Zygosity.HEMI
        assert f not in CARRIER
        assert m is not Zygosity.HOM_ALT
    if XLR in modes:
        assert eff is X
        assert sex is FEMALE
        assert c is Zygosity.HOM_ALT
        assert m not in (Zygosity.HOM_REF, Zygosity.HOM_ALT)
        assert f is not Zygosity.HOM_REF
    if AD in modes:
        assert eff is A
        assert c is Zygosity.HET
        no_carrier = m not in CARRIER and f not in CARRIER
        open_parent = any(
            (z in CARRIER or z in (None, Zygosity.NO_CALL)) and aff is not False
            for z, aff in ((m, m_aff), (f, f_aff))
        )
        assert no_carrier or open_parent
        if modes[AD] is FITS:
            assert (m, f) == (Zygosity.HOM_REF, Zygosity.HOM_REF) or any(
                z in CARRIER and aff is True for z, aff in ((m, m_aff), (f, f_aff))
            )


AUTO_PARENT = st.sampled_from(
    [Zygosity.HOM_REF, Zygosity.HET, Zygosity.HOM_ALT, Zygosity.NO_CALL, None]
)


@FAST
@given(st.lists(st.tuples(AUTO_PARENT, AUTO_PARENT), min_size=2, max_size=5))
def test_comp_het_never_from_one_parent(parents: list[tuple[Zygosity | None, ...]]) -> None:
    variants = [
        VariantCalls(
            f"v{i}",
            "G",
            A,
            SiteCall(Zygosity.HET),
            None if m is None else SiteCall(m),
            None if f is None else SiteCall(f),
        )
        for i, (m, f) in enumerate(parents)
    ]
    by_id = {v.variant_id: v for v in variants}
    for pair in compound_heterozygous_pairs(variants):
        a, b = by_id[pair.first], by_id[pair.second]
        zs = [None if x is None else x.zygosity for x in (a.mother, a.father, b.mother, b.father)]
        assert Zygosity.HOM_ALT not in zs
        assert not (zs[0] in CARRIER and zs[2] in CARRIER), "mother carries both"
        assert not (zs[1] in CARRIER and zs[3] in CARRIER), "father carries both"
        if pair.certainty is FITS:
            assert pair.phase is Phase.TRANS
            assert {zs[0], zs[2]} == {Zygosity.HET, Zygosity.HOM_REF}
            assert {zs[1], zs[3]} == {Zygosity.HET, Zygosity.HOM_REF}


# -- pedigree ----------------------------------------------------------------------------

PED = """\
# family individual father mother sex phenotype
FAM1\tchild\tdad\tmum\t1\t2
FAM1 dad 0 0 1 1
FAM1   mum   0   0   2   -9
FAM1 sib dad 0 2 0

FAM2 child 0 0 2 2
"""


def test_pedigree_parse_and_trios() -> None:
    ped = Pedigree.from_text(PED)
    assert len(ped.individuals) == 5
    child = ped.get("child", "FAM1")
    assert (child.father, child.mother, child.sex, child.affected) == ("dad", "mum", MALE, True)
    assert ped.get("mum").phenotype is Phenotype.UNKNOWN
    assert ped.get("sib").phenotype is Phenotype.UNKNOWN
    trios = ped.trios()
    assert [(t.child.individual, t.father.individual, t.mother.individual) for t in trios] == [
        ("child", "dad", "mum")
    ]
    assert {c.individual for c in ped.children_of(ped.get("dad"))} == {"child", "sib"}
    assert Pedigree.from_dict(ped.asdict()) == ped
    assert Pedigree.from_text(ped.to_text()) == ped
    with pytest.raises(InvalidInputError, match="several families"):
        ped.get("child")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("F a 0 0 1\n", "line 1: expected 6 columns"),
        ("F a 0 0 3 1\n", "line 1: sex '3'"),
        ("F a 0 0 1 5\n", "line 1: phenotype '5'"),
        ("F a b 0 1 1\n", "line 1: father 'b' is not listed"),
        ("F a 0 0 1 1\nF a 0 0 1 1\n", "line 2: .*already listed at line 1"),
        ("F m 0 0 2 1\nF a m 0 1 1\n", "line 2: father 'm' has sex 2"),
        ("F d 0 0 1 1\nF a 0 d 1 1\n", "line 2: mother 'd' has sex 1"),
        ("F a a 0 1 1\n", "its own father"),
        ("F a b 0 1 1\nF b a 0 1 1\n", "its own ancestor"),
    ],
)
def test_pedigree_errors(text: str, message: str) -> None:
    with pytest.raises(FormatError, match=message):
        Pedigree.from_text(text)


def test_pedigree_from_dict_rejects_unknown_version() -> None:
    with pytest.raises(FormatError, match="format_version"):
        Pedigree.from_dict({"format_version": 99, "individuals": []})
    with pytest.raises(FormatError, match=r"individuals\[0\]"):
        Pedigree.from_dict({"format_version": 1, "individuals": [{"family": "F"}]})


def test_ped_with_empty_tab_fields_reads_them_as_unknown() -> None:
    from helgenom.core.pedigree import Pedigree

    text = "F\tkid\tdad\tmum\t1\t2\nF\tdad\t\t\t1\t1\nF\tmum\t\t\t2\t1\n"
    ped = Pedigree.from_text(text)
    assert ped.get("dad").father is None
    assert [t.child.individual for t in ped.trios()] == ["kid"]
