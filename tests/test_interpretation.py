"""Case analysis logic (core.interpretation) on hand-built family records."""

from __future__ import annotations

import datetime as dt

import pytest

from helgenom.core import acmg
from helgenom.core.errors import InvalidInputError
from helgenom.core.inheritance import ContigKind, InheritanceMode, SiteCall, Zygosity
from helgenom.core.interpretation import (
    AnalysisSettings,
    ClinvarHit,
    Family,
    GeneInfo,
    SiteRecord,
    analyse,
    compare_analyses,
    overall_of,
)
from helgenom.core.pedigree import Sex

HET, HOM, REF, HEMI = Zygosity.HET, Zygosity.HOM_ALT, Zygosity.HOM_REF, Zygosity.HEMI

GENES = {
    "SCN1A": GeneInfo("SCN1A", "HGNC:10585", "green", "AD", True),
    "CFTR": GeneInfo("CFTR", "HGNC:1884", "green", "AR", True),
    "PAH": GeneInfo("PAH", "HGNC:8582", "green", "AR", True),
    "OTC": GeneInfo("OTC", "HGNC:8512", "green", "XLR", True),
    "AMBER1": GeneInfo("AMBER1", None, "amber", "AD", True),
}
TRIO = Family(
    Sex.MALE, mother_affected=False, father_affected=False, trio=True, parentage_confirmed=True
)


def call(z: Zygosity, gq: int = 60, dp: int = 30, ab: float | None = None) -> SiteCall:
    if ab is None:
        ab = 0.5 if z is HET else (1.0 if z in (HOM, HEMI) else 0.0)
    return SiteCall(z, gq, dp, ab)


def site(
    vid: str,
    gene: str,
    child: Zygosity,
    mother: Zygosity | None,
    father: Zygosity | None,
    *,
    csq: tuple[str, ...] = ("stop_gained",),
    impact: str = "HIGH",
    af: float | None = None,
    clinvar: tuple[ClinvarHit, ...] = (),
    kind: ContigKind = ContigKind.AUTOSOME,
    gq: int = 60,
    ab: float | None = None,
) -> SiteRecord:
    contig, pos, ref, alt = vid.rsplit("-", 3)
    return SiteRecord(
        variant_id=vid,
        contig=contig,
        pos=int(pos),
        ref=ref,
        alt=alt,
        contig_kind=kind,
        in_par=False,
        proband=call(child, gq=gq, ab=ab),
        mother=None if mother is None else call(mother),
        father=None if father is None else call(father),
        gene=gene,
        consequences=csq,
        impact=impact,
        hgvs_c="c.1A>T",
        hgvs_p="p.(Lys1Ter)",
        frequencies={"national": None, "gnomad": af},
        clinvar=clinvar,
    )


PLANTED = [
    site("chr1-1000-C-T", "SCN1A", HET, REF, REF),  # de novo null in an AD LoF gene
    site("chr1-2000-G-A", "CFTR", HET, HET, REF),  # comp het, maternal
    site("chr1-2100-G-T", "CFTR", HET, REF, HET, csq=("frameshift_variant",)),  # paternal
    site("chr1-3000-A-G", "PAH", HOM, HET, HET),  # homozygous recessive
]
BACKGROUND = [
    site("chr1-5000-A-C", "SCN1A", HET, HET, REF, csq=("missense_variant",), impact="MODERATE"),
    site("chr1-6000-A-C", "PAH", HET, REF, HET, csq=("synonymous_variant",), impact="LOW"),
    site(
        "chr1-7000-A-T", "CFTR", HET, HET, REF, csq=("missense_variant",), impact="MODERATE", af=0.2
    ),
    site("chr1-8000-A-T", "NOTPANEL", HET, REF, REF),
]


def test_planted_variants_are_found_and_ranked_top() -> None:
    result = analyse(PLANTED + BACKGROUND, GENES, TRIO, AnalysisSettings())
    ids = [c.record.variant_id for c in result.candidates]
    assert set(ids) == {p.variant_id for p in PLANTED}
    top = {c.record.variant_id: c for c in result.candidates}
    dn = top["chr1-1000-C-T"]
    assert InheritanceMode.DE_NOVO in {m.mode for m in dn.modes}
    assert {e.code for e in dn.evidence} >= {acmg.Criterion.PVS1, acmg.Criterion.PS2}
    assert dn.classification is acmg.Classification.PATHOGENIC
    assert dn.rank == 1
    ch = top["chr1-2000-G-A"]
    assert InheritanceMode.COMPOUND_HETEROZYGOUS in {m.mode for m in ch.modes}
    assert ch.partner == "chr1-2100-G-T"
    hom = top["chr1-3000-A-G"]
    assert [m.mode for m in hom.modes] == [InheritanceMode.AUTOSOMAL_RECESSIVE_HOMOZYGOUS]
    assert result.counts == {
        "input": 8,
        "quality": 8,
        "frequency": 7,
        "consequence": 6,
        "panel": 5,
        "inheritance": 4,
    }


@pytest.mark.parametrize(
    ("broken", "gone"),
    [
        # the father also carries the "de novo" variant (and is unaffected)
        (site("chr1-1000-C-T", "SCN1A", HET, REF, HET), "chr1-1000-C-T"),
        # both CFTR variants from the mother: in cis
        (
            site("chr1-2100-G-T", "CFTR", HET, HET, REF, csq=("frameshift_variant",)),
            "chr1-2100-G-T",
        ),
        # one parent hom-ref: the child cannot be homozygous by inheritance
        (site("chr1-3000-A-G", "PAH", HOM, HET, REF), "chr1-3000-A-G"),
    ],
)
def test_broken_patterns_are_not_reported(broken: SiteRecord, gone: str) -> None:
    records = [broken if p.variant_id == broken.variant_id else p for p in PLANTED]
    result = analyse(records, GENES, TRIO, AnalysisSettings())
    assert gone not in {c.record.variant_id for c in result.candidates}


def test_clinvar_pathogenic_kept_up_to_five_percent() -> None:
    plp = (ClinvarHit("VCV1", "pathogenic", True, 2),)
    common = site("chr1-2000-G-A", "CFTR", HOM, HET, HET, af=0.03, clinvar=plp)
    too_common = site("chr1-2200-G-A", "CFTR", HOM, HET, HET, af=0.06, clinvar=plp)
    plain = site("chr1-2300-G-A", "CFTR", HOM, HET, HET, af=0.03)
    result = analyse([common, too_common, plain], GENES, TRIO, AnalysisSettings())
    assert [c.record.variant_id for c in result.candidates] == ["chr1-2000-G-A"]
    assert acmg.Criterion.BS1 in {e.code for e in result.candidates[0].evidence}


def test_quality_filters_on_the_proband_call() -> None:
    low_gq = site("chr1-1000-C-T", "SCN1A", HET, REF, REF, gq=10)
    skewed = site("chr1-1001-C-T", "SCN1A", HET, REF, REF, ab=0.05)
    result = analyse([low_gq, skewed], GENES, TRIO, AnalysisSettings())
    assert result.counts["quality"] == 0
    relaxed = AnalysisSettings(min_gq=5, min_allele_balance=0.0)
    assert analyse([low_gq, skewed], GENES, TRIO, relaxed).counts["quality"] == 2


def test_amber_genes_only_on_request() -> None:
    amber = site("chr1-9000-C-T", "AMBER1", HET, REF, REF)
    assert analyse([amber], GENES, TRIO, AnalysisSettings()).candidates == ()
    wide = analyse([amber], GENES, TRIO, AnalysisSettings(green_only=False))
    assert [c.record.gene for c in wide.candidates] == ["AMBER1"]


def test_x_linked_hemizygous_son() -> None:
    otc = site("chrX-40000000-C-T", "OTC", HEMI, HET, REF, kind=ContigKind.X)
    result = analyse([otc], GENES, TRIO, AnalysisSettings())
    assert [m.mode for m in result.candidates[0].modes] == [InheritanceMode.X_LINKED_HEMIZYGOUS]


def test_secondary_findings_only_when_asked() -> None:
    plp = (ClinvarHit("VCV2", "pathogenic", True, 3),)
    brca = site("chr1-50000-C-T", "BRCA2", HET, HET, REF, clinvar=plp)
    assert analyse([brca], GENES, TRIO, AnalysisSettings()).secondary_findings == ()
    found = analyse([brca], GENES, TRIO, AnalysisSettings(), secondary_genes=frozenset({"BRCA2"}))
    assert [c.record.gene for c in found.secondary_findings] == ["BRCA2"]
    assert found.secondary_findings[0].secondary_finding


def test_singleton_gets_possible_modes_and_pm6_never_ps2() -> None:
    single = Family(Sex.FEMALE)
    rec = site("chr1-1000-C-T", "SCN1A", HET, None, None)
    result = analyse([rec], GENES, single, AnalysisSettings())
    (cand,) = result.candidates
    assert {m.certainty.value for m in cand.modes} == {"possible"}
    assert acmg.Criterion.PS2 not in {e.code for e in cand.evidence}


def test_overrides_change_the_classification() -> None:
    at = dt.datetime(2026, 11, 27, tzinfo=dt.UTC)
    rec = site(
        "chr1-5000-A-C", "SCN1A", HET, REF, REF, csq=("missense_variant",), impact="MODERATE"
    )
    plain = analyse([rec], GENES, TRIO, AnalysisSettings()).candidates[0]
    add = acmg.Override(
        acmg.Criterion.PS3,
        acmg.OverrideAction.ADD,
        None,
        "functional study shows loss of channel activity",
        "gen1",
        at,
    )
    changed = analyse(
        [rec], GENES, TRIO, AnalysisSettings(), overrides={rec.variant_id: [add]}
    ).candidates[0]
    assert changed.classification.rank > plain.classification.rank
    assert "PS3" in [e.label() for e in changed.evidence]


def test_ranking_uses_phenotype_when_class_ties() -> None:
    a = site("chr1-2000-G-A", "CFTR", HOM, HET, HET)
    b = site("chr1-3000-A-G", "PAH", HOM, HET, HET)
    result = analyse(
        [a, b], GENES, TRIO, AnalysisSettings(), phenotype_scores={"PAH": 3.0, "CFTR": 0.5}
    )
    assert [c.record.gene for c in result.candidates] == ["PAH", "CFTR"]


def test_settings_are_checked_and_round_trip() -> None:
    with pytest.raises(InvalidInputError, match="max_af"):
        AnalysisSettings(max_af=2.0)
    with pytest.raises(InvalidInputError, match="impacts"):
        AnalysisSettings(impacts=("SEVERE",))
    with pytest.raises(InvalidInputError, match="unknown analysis settings"):
        AnalysisSettings.from_dict({"max_fa": 0.1})
    s = AnalysisSettings(max_af=0.001, impacts=("HIGH",))
    assert AnalysisSettings.from_dict(s.asdict()) == s


def test_overall_and_comparison() -> None:
    assert overall_of(["benign", "pathogenic"]).value == "positive"
    assert overall_of(["uncertain_significance"]).value == "inconclusive"
    assert overall_of([]).value == "negative"
    old = [{"variant_id": "v1", "gene": "G", "classification": "uncertain_significance"}]
    new = [{"variant_id": "v1", "gene": "G", "classification": "pathogenic"}]
    assert compare_analyses(old, new) == ["v1 (G): uncertain_significance -> pathogenic"]
    assert compare_analyses(old, old) == []
    assert compare_analyses(old, []) == ["v1 (G) is no longer a candidate"]
