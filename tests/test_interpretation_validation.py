"""Trio checks and phenopacket ranks (adapters.annotation.trio_validation).

The first tests use small hand-written VCFs. The others run on the shared test data
(``../shared/testdata``) and are skipped where a file is absent; more roots can be named in
``HELGENOM_EXTRA_TESTDATA`` (paths separated by ``os.pathsep``, searched after the kit), e.g.
a folder holding the kit's ``slivar_grch37/`` and ``nf-cmgg/`` sets when a snapshot of the
kit lacks them. The expected counts were measured on the kit files (sha256 as in
``FILES.tsv``).
"""

from __future__ import annotations

import json
import os
import statistics
from collections import Counter
from pathlib import Path

import pytest

from helgenom.adapters.annotation import trio_validation as tv
from helgenom.core.errors import InvalidInputError, NotFoundError
from helgenom.core.inheritance import Certainty, ContigKind, Phase, QualityFilter, Zygosity
from helgenom.core.pedigree import Sex, Trio

SHARED_TESTDATA = Path(__file__).resolve().parents[2] / "shared" / "testdata"
ROOTS = [
    SHARED_TESTDATA,
    *(Path(p) for p in os.environ.get("HELGENOM_EXTRA_TESTDATA", "").split(os.pathsep) if p),
]
PANEL = "nfcore/chr22_16.57-16.61Mb_fullcoords/1000GP.chr22.vcf.gz"


def kit_file(relative: str) -> Path:
    """The path of a kit file, or skip the test when no root has it."""
    for root in ROOTS:
        if (root / relative).exists():
            return root / relative
    pytest.skip(f"needs shared test data {relative} (under {SHARED_TESTDATA})")


# --- hand-written VCFs --------------------------------------------------------------------

HEADER = """##fileformat=VCFv4.2
##contig=<ID=chr1,length=1000000>
##contig=<ID=chrX,length=156040895>
##contig=<ID=chrM,length=16569>
##FILTER=<ID=PASS,Description="All filters passed">
##FILTER=<ID=LowQual,Description="Low quality">
##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">
##FORMAT=<ID=GQ,Number=1,Type=Integer,Description="Genotype quality">
##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Read depth">
"""
COLUMNS = "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tkid\tdad\tmum\n"


def write_vcf(path: Path, rows: list[tuple[str, int, str, str, str, str, str, str]]) -> Path:
    """Rows of (contig, pos, ref, alt, filter, kid, dad, mum) as a VCF with GT:GQ:DP."""
    body = "".join(
        f"{c}\t{p}\t.\t{r}\t{a}\t50\t{f}\t.\tGT:GQ:DP\t{k}\t{d}\t{m}\n"
        for c, p, r, a, f, k, d, m in rows
    )
    path.write_text(HEADER + COLUMNS + body)
    return path


def son() -> list[Trio]:
    """The trio of the hand-written VCFs: kid (a son), dad, mum."""
    return [tv.make_trio("kid", "dad", "mum", child_sex=Sex.MALE, family="f")]


GOOD = "99:30"


def test_planted_autosomal_error_is_counted(tmp_path: Path) -> None:
    vcf = write_vcf(
        tmp_path / "a.vcf",
        [
            ("chr1", 100, "A", "G", "PASS", f"0/1:{GOOD}", f"0/1:{GOOD}", f"0/0:{GOOD}"),
            ("chr1", 200, "C", "T", "PASS", f"1/1:{GOOD}", f"0/1:{GOOD}", f"0/1:{GOOD}"),
            ("chr1", 300, "G", "A", "PASS", f"0/0:{GOOD}", f"0/0:{GOOD}", f"0/0:{GOOD}"),
            # planted: a hom_alt child of a hom_ref father
            ("chr1", 400, "T", "C", "PASS", f"1/1:{GOOD}", f"0/0:{GOOD}", f"0/1:{GOOD}"),
            ("chr1", 500, "CA", "C", "PASS", f"0/1:{GOOD}", f"1/1:{GOOD}", f"0/0:{GOOD}"),
        ],
    )
    result = tv.validate_trios(vcf, son()).trios[0]
    snv, indel, total = result.by_kind["snv"], result.by_kind["indel"], result.total
    assert (snv.sites, snv.called, snv.informative, snv.errors_called) == (4, 4, 3, 1)
    assert (indel.sites, indel.called, indel.errors_called) == (1, 1, 0)
    assert result.error_sites == ("chr1-400-T-C",)
    assert total.error_rate == pytest.approx(1 / 4)
    assert total.mendelian_errors == 1
    assert total.undecided == 0
    assert total.de_novo_raw == total.de_novo == 0


def test_chrx_outside_the_par_follows_the_sons_rules(tmp_path: Path) -> None:
    vcf = write_vcf(
        tmp_path / "x.vcf",
        [
            # het son outside the PAR: one X only, an error whatever the parents
            ("chrX", 5_000_000, "A", "G", "PASS", f"0/1:{GOOD}", f"1:{GOOD}", f"0/0:{GOOD}"),
            # hemizygous son whose allele can only have come from the father: an error
            ("chrX", 5_000_100, "C", "T", "PASS", f"1:{GOOD}", f"1:{GOOD}", f"0/0:{GOOD}"),
            # hom_ref son of an alt father: fine on chrX (a son's X is maternal)
            ("chrX", 5_000_200, "G", "A", "PASS", f"0:{GOOD}", f"1:{GOOD}", f"0/0:{GOOD}"),
            # the same het in PAR1 is autosomal and inherited from the father
            ("chrX", 100_000, "A", "G", "PASS", f"0/1:{GOOD}", f"1/1:{GOOD}", f"0/0:{GOOD}"),
        ],
    )
    result = tv.validate_trios(vcf, son()).trios[0]
    assert result.error_sites == ("chrX-5000000-A-G", "chrX-5000100-C-T")
    assert result.total.called == 4
    daughter = tv.make_trio("kid", "dad", "mum", child_sex=Sex.FEMALE)
    as_daughter = tv.validate_trios(vcf, [daughter]).trios[0]
    # a daughter's het at 5,000,000 is inherited; she cannot be hom_alt with a hom_ref
    # mother (5,000,100) nor hom_ref with a hemizygous alt father (5,000,200)
    assert as_daughter.error_sites == ("chrX-5000100-C-T", "chrX-5000200-G-A")


def test_no_calls_are_not_counted_as_errors(tmp_path: Path) -> None:
    vcf = write_vcf(
        tmp_path / "n.vcf",
        [
            ("chr1", 100, "A", "G", "PASS", "./.:.:.", f"0/0:{GOOD}", f"0/0:{GOOD}"),
            # the father may be het: open
            ("chr1", 200, "C", "T", "PASS", f"0/1:{GOOD}", "./.:.:.", f"0/0:{GOOD}"),
            # partial genotype counts as a no-call
            ("chr1", 300, "G", "A", "PASS", f"1/1:{GOOD}", "./1:.:.", f"0/1:{GOOD}"),
            # the mother alone already contradicts a hom_alt child
            ("chr1", 400, "T", "C", "PASS", f"1/1:{GOOD}", "./.:.:.", f"0/0:{GOOD}"),
        ],
    )
    result = tv.validate_trios(vcf, son()).trios[0]
    total = result.total
    assert (total.sites, total.called, total.informative) == (4, 0, 0)
    assert total.errors_called == 0
    assert total.error_rate is None
    assert total.undecided == 3
    assert total.mendelian_errors == 1  # chr1-400, decided without the father
    assert result.error_sites == ()
    assert total.de_novo == 0


def test_de_novo_needs_good_parental_calls(tmp_path: Path) -> None:
    vcf = write_vcf(
        tmp_path / "d.vcf",
        [
            ("chr1", 100, "A", "G", "PASS", "0/1:60:30", "0/0:60:30", "0/0:60:30"),
            ("chr1", 200, "C", "T", "PASS", "0/1:60:30", "0/0:5:30", "0/0:60:30"),
            ("chr1", 300, "G", "A", "PASS", "0/1:60:30", "0/0:60:30", "0/0:60:4"),
            ("chr1", 400, "T", "C", "PASS", "0/1:8:30", "0/0:60:30", "0/0:60:30"),
            ("chr1", 500, "A", "C", "LowQual", "0/1:60:30", "0/0:60:30", "0/0:60:30"),
            # hemizygous son, both parents reference: de novo on chrX
            ("chrX", 5_000_000, "A", "G", "PASS", "1:60:30", "0:60:30", "0/0:60:30"),
        ],
    )
    validation = tv.validate_trios(vcf, son())
    assert validation.quality == QualityFilter(min_gq=20, min_dp=10)
    result = validation.trios[0]
    assert result.total.de_novo_raw == 6
    assert result.de_novo_sites == ("chr1-100-A-G", "chr1-500-A-C", "chrX-5000000-A-G")
    assert result.total.mendelian_errors == 6  # de novo calls break Mendel's rules too
    strict = tv.validate_trios(vcf, son(), pass_only=True).trios[0]
    assert strict.de_novo_sites == ("chr1-100-A-G", "chrX-5000000-A-G")
    assert strict.total.sites == 5
    unfiltered = tv.validate_trios(vcf, son(), quality=None).trios[0]
    assert unfiltered.total.de_novo == 6


def test_quality_filter_is_dropped_without_gq_dp(tmp_path: Path) -> None:
    vcf = tmp_path / "gt.vcf"
    vcf.write_text(
        "##fileformat=VCFv4.2\n##contig=<ID=chr1,length=1000>\n"
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tkid\tdad\tmum\n"
        "chr1\t10\t.\tA\tG\t.\t.\t.\tGT\t0|1\t0|0\t0|0\n"
    )
    validation = tv.validate_trios(vcf, son())
    assert validation.quality == QualityFilter()
    assert validation.trios[0].de_novo_sites == ("chr1-10-A-G",)
    assert "no GQ/DP" in validation.format_table(plain=True)


def test_multiallelic_records_are_split_and_symbolic_alleles_skipped(tmp_path: Path) -> None:
    vcf = write_vcf(
        tmp_path / "m.vcf",
        [
            ("chr1", 100, "A", "G,T", "PASS", f"1/2:{GOOD}", f"1/1:{GOOD}", f"2/2:{GOOD}"),
            ("chr1", 200, "C", "T,<NON_REF>", "PASS", f"0/1:{GOOD}", f"0/1:{GOOD}", f"0/0:{GOOD}"),
            ("chr1", 300, "G", "A,*", "PASS", f"1/2:{GOOD}", f"0/1:{GOOD}", f"0/2:{GOOD}"),
            # mother 2/2 carries no G: a G/T child needs the G from the father
            ("chr1", 400, "A", "G,T", "PASS", f"1/2:{GOOD}", f"0/0:{GOOD}", f"2/2:{GOOD}"),
        ],
    )
    result = tv.validate_trios(vcf, son()).trios[0]
    assert result.total.sites == 6
    assert result.error_sites == ("chr1-400-A-G",)


def test_zygosity_and_contig_helpers() -> None:
    assert tv.zygosity((0, 2), 2) is Zygosity.HET
    assert tv.zygosity((1, 2), 2) is Zygosity.HET
    assert tv.zygosity((2, 2), 1) is Zygosity.HOM_REF
    assert tv.zygosity((1,), 1) is Zygosity.HOM_ALT
    assert tv.zygosity((None,), 1) is Zygosity.NO_CALL
    assert tv.zygosity(None, 1) is Zygosity.NO_CALL
    assert tv.contig_kind("X") is ContigKind.X
    assert tv.contig_kind("chrMT") is ContigKind.MT
    assert tv.contig_kind("chr22") is ContigKind.AUTOSOME
    assert tv.in_par(ContigKind.X, 2_700_000, "GRCh38")
    assert not tv.in_par(ContigKind.X, 2_700_000, "GRCh37")
    assert tv.variant_kind("AC", "GT") == "indel"
    with pytest.raises(InvalidInputError, match="build"):
        tv.in_par(ContigKind.X, 1, "hg18")


def test_bad_inputs_name_the_fix(tmp_path: Path) -> None:
    vcf = write_vcf(tmp_path / "b.vcf", [])
    with pytest.raises(NotFoundError, match="nobody"):
        tv.validate_trios(vcf, [tv.make_trio("kid", "nobody", "mum", child_sex=Sex.MALE)])
    with pytest.raises(NotFoundError):
        tv.validate_trios(tmp_path / "absent.vcf", son())
    with pytest.raises(InvalidInputError, match="no trio"):
        tv.validate_trios(vcf, [])
    with pytest.raises(InvalidInputError, match="build"):
        tv.validate_trios(vcf, son(), build="hg19")


def test_pedigree_with_empty_parent_fields(tmp_path: Path) -> None:
    ped = tmp_path / "p.ped"
    ped.write_text("F\tmum\t\t\t2\t1\nF\tdad\t\t\t1\t1\nF\tkid\tdad\tmum\t1\t2\n")
    trios = tv.load_pedigree(ped).trios()
    assert [(t.child.individual, t.father.individual, t.mother.individual) for t in trios] == [
        ("kid", "dad", "mum")
    ]
    assert trios[0].child.sex is Sex.MALE


def test_tables_and_json(tmp_path: Path) -> None:
    vcf = write_vcf(
        tmp_path / "t.vcf",
        [("chr1", 100, "A", "G", "PASS", f"1/1:{GOOD}", f"0/0:{GOOD}", f"0/1:{GOOD}")],
    )
    validation = tv.validate_trios(vcf, son())
    text = validation.format_table(plain=True)
    assert text.splitlines()[1].split("\t")[:3] == ["family", "child", "kind"]
    assert len(text.splitlines()) == 2 + 3
    assert validation.format_table().row_count == 3
    data = json.loads(json.dumps(validation.asdict()))
    assert data["format_version"] == tv.FORMAT_VERSION
    assert data["trios"][0]["all"]["errors_called"] == 1
    assert data["trios"][0]["all"]["error_rate"] == 1.0


CSQ_HEADER = (
    '##INFO=<ID=CSQ,Number=.,Type=String,Description="Consequence annotations from Ensembl '
    'VEP. Format: Allele|Consequence|IMPACT|SYMBOL">\n'
)


def test_compound_heterozygous_pairs_from_vep_annotation(tmp_path: Path) -> None:
    vcf = tmp_path / "c.vcf"
    up2 = "G|upstream_gene_variant|MODIFIER|GENE2"
    rows = [
        # a paternal and a maternal het in GENE1: in trans
        (100, "G|missense_variant|MODERATE|GENE1", "0/1", "0/1", "0/0"),
        (200, f"G|stop_gained|HIGH|GENE1,{up2}", "0/1", "0/0", "0/1"),
        # upstream of GENE2 only: not in GENE2, so no GENE2 pair with 400
        (300, up2, "0/1", "0/1", "0/0"),
        (400, "G|intron_variant|MODIFIER|GENE2", "0/1", "0/0", "0/1"),
    ]
    lines = [
        f"chr1\t{p}\t.\tA\tG\t50\tPASS\tCSQ={csq}\tGT:GQ:DP\t"
        + "\t".join(f"{gt}:{GOOD}" for gt in (k, d, m))
        + "\n"
        for p, csq, k, d, m in rows
    ]
    vcf.write_text(HEADER + CSQ_HEADER + COLUMNS + "".join(lines))
    findings = tv.find_compound_heterozygous(vcf, son())
    assert [(f.child, f.pair.gene, f.pair.first, f.pair.second) for f in findings] == [
        ("kid", "GENE1", "chr1-100-A-G", "chr1-200-A-G")
    ]
    assert findings[0].pair.certainty is Certainty.FITS
    assert findings[0].pair.phase is Phase.TRANS


# --- shared test data: trios --------------------------------------------------------------


def test_thousand_genomes_panel_trios_are_mendelian() -> None:
    panel = kit_file(PANEL)
    validation = tv.validate_trios(panel, tv.thousand_genomes_trios())
    by_child = {t.child: t for t in validation.trios}
    assert set(by_child) == {"NA12878", "NA19240"}
    assert validation.quality == QualityFilter()  # GT only: no GQ/DP filter
    informative = {"NA12878": 78, "NA19240": 86}
    for child, result in by_child.items():
        total = result.total
        assert (total.sites, total.called, total.undecided) == (903, 903, 0)
        assert total.informative == informative[child]
        # duohmm-phased panel: Mendelian consistent by construction
        assert total.errors_called == 0
        assert total.de_novo_raw == 0
    # negative control: each child with the other family's parents
    swapped = tv.validate_trios(
        panel,
        [
            tv.make_trio("NA12878", "NA19239", "NA19238", child_sex=Sex.FEMALE),
            tv.make_trio("NA19240", "NA12891", "NA12892", child_sex=Sex.FEMALE),
        ],
    )
    wrong = [t.total for t in swapped.trios]
    assert [c.errors_called for c in wrong] == [24, 22]
    # with 0 errors in 164 informative sites the true trios' rate is below 3/164 (95 %,
    # rule of three); unrelated parents give more than ten times that
    for counts in wrong:
        assert counts.error_rate is not None
        assert counts.error_rate > 10 * 3 / 164


def test_justhusky_counts_and_sex_rules() -> None:
    vcf = kit_file("nfcore/misc/justhusky_minimal.vcf.gz")
    pedigree = tv.load_pedigree(kit_file("nfcore/misc/justhusky.ped"))
    result = tv.validate_trios(vcf, pedigree, build="GRCh37").trios[0]
    total = result.total
    assert (result.child, result.child_sex) == ("hugelymodelbat", Sex.MALE)
    assert (total.sites, total.called, total.errors_called) == (3304, 3151, 36)
    assert (total.mendelian_errors, total.undecided) == (46, 119)
    assert (result.by_kind["snv"].errors_called, result.by_kind["indel"].errors_called) == (17, 19)
    assert (total.de_novo_raw, total.de_novo) == (11, 4)
    assert total.error_rate is not None
    assert total.error_rate < 0.02
    # outside the PAR the son has no error on chrX; his het on chrY is one
    sex_chrom = [s for s in result.error_sites if s.startswith(("X-", "Y-"))]
    assert sex_chrom == ["X-1242727-AACAC-A", "Y-9340831-A-AACAC"]
    assert tv.in_par(ContigKind.X, 1_242_727, "GRCh37")
    # the same son read as a daughter breaks chrX: hom_ref with an alt father and so on
    trio = pedigree.trios()[0]
    daughter = tv.make_trio(
        trio.child.individual, trio.father.individual, trio.mother.individual, child_sex=Sex.FEMALE
    )
    as_daughter = tv.validate_trios(vcf, [daughter], build="GRCh37").trios[0]
    x_errors = [s for s in as_daughter.error_sites if s.startswith("X-")]
    assert len(x_errors) == 46


def test_giab_ashkenazim_exome_trio() -> None:
    vcf = kit_file("slivar_grch37/ashk-trio.vcf.gz")
    pedigree = tv.load_pedigree(kit_file("slivar_grch37/ashk-trio.ped"))
    result = tv.validate_trios(vcf, pedigree, build="GRCh37").trios[0]
    total, snv, indel = result.total, result.by_kind["snv"], result.by_kind["indel"]
    assert (result.child, result.father, result.mother) == ("HG002", "HG003", "HG004")
    assert (total.sites, total.called, total.informative) == (9940, 9885, 9885)
    assert (snv.errors_called, indel.errors_called, total.mendelian_errors) == (42, 46, 91)
    # MANIFEST: 38 sites with a non-ref child and hom_ref parents; 31 of them het
    assert total.de_novo_raw == 31
    assert total.de_novo == 17
    passing = tv.validate_trios(vcf, pedigree, build="GRCh37", pass_only=True).trios[0]
    assert (passing.total.sites, passing.total.errors_called, passing.total.de_novo) == (
        9133,
        52,
        9,
    )
    assert passing.by_kind["snv"].error_rate is not None
    assert passing.by_kind["snv"].error_rate < 0.002  # measured 10 / 8,032
    assert snv.error_rate is not None
    assert indel.error_rate is not None
    assert indel.error_rate > 5 * snv.error_rate  # indel calls are the noisier ones


def test_nf_cmgg_ashkenazim_trio_mostly_uncalled() -> None:
    vcf = kit_file("nf-cmgg/chr21_22-23Mb_local_AJtrio/vcf/Ashkenazim.vcf.gz")
    pedigree = tv.load_pedigree(kit_file("nf-cmgg/chr21_22-23Mb_local_AJtrio/test.ped"))
    result = tv.validate_trios(vcf, pedigree).trios[0]
    total = result.total
    assert (result.child, result.child_sex) == ("NA24385", Sex.MALE)
    # 1,764 records, 10 of them with a '*' allele only
    assert (total.sites, total.called, total.undecided) == (1754, 16, 1738)
    assert total.errors_called == total.mendelian_errors == total.de_novo_raw == 0


def test_slivar_compound_het_case_is_found() -> None:
    vcf = kit_file("slivar_grch37/comphet-test-case.vcf")
    pedigree = tv.load_pedigree(kit_file("slivar_grch37/comphet-test-case.ped"))
    findings = tv.find_compound_heterozygous(vcf, pedigree)
    assert [(f.child, f.pair.gene) for f in findings] == [("SID_3", "PPIL1"), ("SID_4", "PPIL1")]
    for f in findings:
        assert (f.pair.first, f.pair.second) == ("chr4-68559353-T-C", "chr4-68717963-G-A")
        assert (f.pair.certainty, f.pair.phase) == (Certainty.FITS, Phase.TRANS)
        assert "paternal" in f.pair.reason
        assert "maternal" in f.pair.reason


# --- shared test data: phenopackets -------------------------------------------------------


@pytest.fixture(scope="module")
def ranker() -> object:
    pytest.importorskip("pyhpo", reason="HPO ranking needs hpo3 (pip install 'hpo3>=1.5,<2')")
    from helgenom.adapters.annotation.phenotype import PhenotypeRanker

    return PhenotypeRanker()


@pytest.fixture(scope="module")
def phenopackets() -> tuple[tv.PhenopacketCase, ...]:
    return tv.load_phenopackets(kit_file("phenopackets/phenopacket-store"))


def test_phenopackets_load(phenopackets: tuple[tv.PhenopacketCase, ...]) -> None:
    assert len(phenopackets) == 114
    assert Counter(g for c in phenopackets for g in c.genes) == {
        "HMGCS2": 40,
        "LZTR1": 38,
        "SMARCB1": 36,
    }
    assert all(c.terms for c in phenopackets)
    assert sum(c.excluded for c in phenopackets) == 1498


def test_phenopacket_ranks_among_decoys(
    ranker: object, phenopackets: tuple[tv.PhenopacketCase, ...]
) -> None:
    from helgenom.adapters.annotation.phenotype import PhenotypeRanker

    assert isinstance(ranker, PhenotypeRanker)
    ranking = tv.rank_phenopackets(phenopackets, ranker, all_genes=False)
    assert len(ranking.cases) == 114
    assert ranking.skipped == ()
    assert all(c.rank is None for c in ranking.cases)
    # measured (hpo3 1.5, seed 0): top-1 89, top-5 112, top-10 114
    assert ranking.top(1, decoys=True) >= 80
    assert ranking.top(10, decoys=True) == 114
    assert ranking.median(decoys=True) == 1
    summary = ranking.summary(decoys=True)
    assert summary["SMARCB1"]["top1"] < summary["HMGCS2"]["top1"]
    assert "causal + 99 random" in ranking.format_table(plain=True)


@pytest.mark.slow
def test_phenopacket_ranks_among_all_genes(
    ranker: object, phenopackets: tuple[tv.PhenopacketCase, ...]
) -> None:
    from helgenom.adapters.annotation.phenotype import PhenotypeRanker

    assert isinstance(ranker, PhenotypeRanker)
    subset = phenopackets[::6]  # 19 cases, ~25 s; the benchmark ranks all 114
    ranking = tv.rank_phenopackets(subset, ranker)
    assert ranking.genes_ranked == len(ranker.gene_symbols) > 5000
    ranks = [c.rank for c in ranking.cases]
    assert None not in ranks
    # the decoy figure read off the full ranking equals the fast one
    fast = tv.rank_phenopackets(subset, ranker, all_genes=False)
    assert [c.rank_in_candidates for c in fast.cases] == [
        c.rank_in_candidates for c in ranking.cases
    ]
    median = ranking.median()
    assert median is not None
    assert median <= 10
    assert ranking.top(50) >= 0.75 * len(subset)  # measured 16 of 19, median 2
    hmgcs2 = [c.rank for c in ranking.cases if c.gene == "HMGCS2" and c.rank is not None]
    assert statistics.median(hmgcs2) <= 3
