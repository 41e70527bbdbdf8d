"""Tests of helgenom.adapters.annotation: consequences, sources, panels, phenotype ranking."""

from __future__ import annotations

import json
import random
import statistics
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from helgenom.adapters.annotation import consequence as csq
from helgenom.adapters.annotation import panels, sources
from helgenom.core.errors import FormatError, InvalidInputError, NotFoundError

SHARED_TESTDATA = Path(__file__).resolve().parents[2] / "shared" / "testdata"
CHR22 = SHARED_TESTDATA / "nfcore" / "chr22_40kb_local"
CLINVAR_KIT = SHARED_TESTDATA / "slivar_grch37" / "clinvar_20191007.vcf.gz"
PHENOPACKETS = SHARED_TESTDATA / "phenopackets" / "phenopacket-store" / "notebooks"

CDS1 = "ATG GCT CAA TGG AAA CTG GAA TCT GGC ACC GTT CGT GAT TTC AAC CCA ATC CAC TAC GCA"
CDS2 = "CTG GAA AAA GCT GTT CGT GAT TTC AAC CCA ATC CAC TAC GCA CAA TGG AAA CTG GAA TCT TAA"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A 600 bp contig ``t1`` with a 2-exon + strand gene GENE1 (CDS 111-170, 301-363)."""
    d = tmp_path_factory.mktemp("tiny")
    rng = random.Random(7)
    seq = [rng.choice("ACGT") for _ in range(600)]
    for start, s in ((111, CDS1.replace(" ", "")), (301, CDS2.replace(" ", "")),
                     (171, "GTAAGT"), (295, "TTTCAG")):  # fmt: skip
        seq[start - 1 : start - 1 + len(s)] = s
    genome = "".join(seq)
    (d / "ref.fa").write_text(
        ">t1\n" + "\n".join(genome[i : i + 60] for i in range(0, 600, 60)) + "\n"
    )
    rows = [
        ("gene", 101, 400, ".", "ID=gene:G1;Name=GENE1;biotype=protein_coding"),
        ("mRNA", 101, 400, ".", "ID=transcript:TX1;Parent=gene:G1;biotype=protein_coding"),
        ("exon", 101, 170, ".", "Parent=transcript:TX1"),
        ("five_prime_UTR", 101, 110, ".", "Parent=transcript:TX1"),
        ("CDS", 111, 170, "0", "ID=CDS:P1;Parent=transcript:TX1"),
        ("exon", 301, 400, ".", "Parent=transcript:TX1"),
        ("CDS", 301, 363, "0", "ID=CDS:P1;Parent=transcript:TX1"),
        ("three_prime_UTR", 364, 400, ".", "Parent=transcript:TX1"),
    ]
    (d / "a.gff3").write_text(
        "##gff-version 3\n"
        + "".join(f"t1\ttest\t{t}\t{s}\t{e}\t.\t+\t{p}\t{a}\n" for t, s, e, p, a in rows)
    )
    variants = [
        (114, "G", "C"),  # GCT>CCT Ala2Pro missense
        (116, "T", "C"),  # GCT>GCC synonymous
        (117, "C", "T"),  # CAA>TAA stop gained
        (320, genome[319:321], genome[319]),  # 1 bp deletion in exon 2: frameshift
        (500, genome[499], "A" if genome[499] != "A" else "C"),  # intergenic
    ]
    header = "##fileformat=VCFv4.2\n##contig=<ID=t1,length=600>\n"
    header += "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
    (d / "in.vcf").write_text(
        header + "".join(f"t1\t{p}\t.\t{r}\t{a}\t.\t.\t.\n" for p, r, a in variants)
    )
    return {"dir": d, "fasta": d / "ref.fa", "gff3": d / "a.gff3", "vcf": d / "in.vcf"}


# --- consequences -------------------------------------------------------------------------


def test_annotate_tiny_gene(tiny: dict[str, Path], tmp_path: Path) -> None:
    table = csq.annotate(tiny["vcf"], tiny["fasta"], tiny["gff3"], tmp_path / "w")
    rows = {r["variant_id"]: r for r in table.to_pylist()}
    assert table.schema.metadata[b"forced"] == b"false"
    mis, syn, stop = rows["t1-114-G-C"], rows["t1-116-T-C"], rows["t1-117-C-T"]
    assert (mis["consequence"], mis["impact"], mis["gene"], mis["transcript"]) == (
        ["missense_variant"],
        "MODERATE",
        "GENE1",
        "TX1",
    )
    assert (mis["hgvs_c"], mis["hgvs_p"], mis["amino_acid_change"]) == (
        "c.4G>C",
        "p.(Ala2Pro)",
        "2A>2P",
    )
    assert (syn["consequence"], syn["impact"], syn["hgvs_p"]) == (
        ["synonymous_variant"],
        "LOW",
        "p.(Ala2=)",
    )
    assert (stop["consequence"], stop["impact"], stop["hgvs_p"]) == (
        ["stop_gained"],
        "HIGH",
        "p.(Gln3Ter)",
    )
    fs = next(r for r in rows.values() if r["pos"] == 320)
    assert (fs["consequence"], fs["impact"], fs["hgvs_c"]) == (
        ["frameshift_variant"],
        "HIGH",
        "c.81del",
    )
    assert fs["hgvs_p"] is not None
    assert fs["hgvs_p"].endswith("fs)")
    inter = next(r for r in rows.values() if r["pos"] == 500)
    assert inter["consequence"] == ["intergenic_variant"]
    assert inter["gene"] is None


def test_hgvs_p_forms() -> None:
    assert csq.hgvs_p("5KL>5K", ["inframe_deletion"]) == "p.(Leu6del)"
    assert csq.hgvs_p("5K>5KLQ", ["inframe_insertion"]) == "p.(Lys5delinsLysLeuGln)"
    assert csq.hgvs_p("5KV>5KLV", ["inframe_insertion"]) == "p.(Lys5_Val6insLeu)"
    assert csq.hgvs_p("41*>41Q", ["stop_lost"]) == "p.(Ter41Glnext*?)"
    assert csq.hgvs_p("1M>1I", ["start_lost"]) == "p.(Met1?)"
    assert csq.hgvs_p("7RG>7WS", ["missense_variant"]) == "p.(Arg7_Gly8delinsTrpSer)"
    assert csq.hgvs_p("garbage", ["missense_variant"]) is None


def test_hgvs_c_minus_strand_and_indels() -> None:
    model = csq.TranscriptModel("T", "c", "-", ((10, 19), (30, 39)))
    assert model.cds_position(39) == 1
    assert model.cds_position(10) == 20
    assert model.cds_position(25) is None
    assert csq.hgvs_c(model, 39, "A", "G") == "c.1T>C"
    assert csq.hgvs_c(model, 35, "ACG", "A") == "c.3_4del"
    assert csq.hgvs_c(model, 35, "A", "AGG") == "c.4_5insCC"
    assert csq.hgvs_c(model, 25, "A", "G") is None  # intronic: not computed


def test_impact_table_covers_mapped_terms() -> None:
    for term in csq.BCFTOOLS_TO_SO.values():
        assert term in csq.SO_IMPACT, term


def test_check_gff3_errors(tiny: dict[str, Path], tmp_path: Path) -> None:
    result = csq.check_gff3(tiny["gff3"], tiny["fasta"])
    assert result.coding_transcripts == 1
    assert result.start_codons_ok == 1
    text = tiny["gff3"].read_text()
    (tmp_path / "chr.gff3").write_text(text.replace("t1\t", "chrX\t"))
    with pytest.raises(FormatError, match="not in the FASTA"):
        csq.check_gff3(tmp_path / "chr.gff3", tiny["fasta"])
    csq.shift_gff3(tiny["gff3"], tmp_path / "far.gff3", -10_000)
    with pytest.raises(FormatError, match="whole-chromosome coordinates"):
        csq.check_gff3(tmp_path / "far.gff3", tiny["fasta"])
    csq.shift_gff3(tiny["gff3"], tmp_path / "off.gff3", 3)
    with pytest.raises(FormatError, match="ATG"):
        csq.check_gff3(tmp_path / "off.gff3", tiny["fasta"])
    (tmp_path / "bad.gff3").write_text("t1\tx\tgene\t1\n")
    with pytest.raises(FormatError, match="line 1"):
        csq.check_gff3(tmp_path / "bad.gff3", tiny["fasta"])


@pytest.fixture(scope="module")
def chr22() -> Path:
    if not (CHR22 / "reference" / "genome.gff3").exists():
        pytest.skip(f"needs the shared test data at {CHR22}")
    return CHR22


def test_chr22_gff3_offset_and_annotation(chr22: Path, tmp_path: Path) -> None:
    ref = chr22 / "reference"
    fasta = tmp_path / "genome.fasta"
    fasta.write_bytes((ref / "genome.fasta").read_bytes())
    with pytest.raises(FormatError, match="whole-chromosome"):
        csq.check_gff3(ref / "genome.gff3", fasta)
    # the 16,572,026 offset of the kit's GTF does not fit the FASTA: no ATG start
    csq.shift_gff3(ref / "genome.gff3", tmp_path / "gtf_offset.gff3", 16_572_026, 40_001)
    with pytest.raises(FormatError, match="ATG"):
        csq.check_gff3(tmp_path / "gtf_offset.gff3", fasta)
    gff3 = tmp_path / "local.gff3"
    csq.shift_gff3(ref / "genome.gff3", gff3, csq.CHR22_40KB_GFF3_OFFSET, 40_001)
    assert csq.check_gff3(gff3, fasta).start_codons_ok == 1
    table = csq.annotate(chr22 / "variants" / "gnomAD.r2.1.1.vcf.gz", fasta, gff3, tmp_path / "w")
    cct8l2 = table.filter(table["gene"].is_valid()).to_pylist()
    coding = [r for r in cct8l2 if r["gene"] == "CCT8L2" and r["hgvs_p"]]
    assert len(coding) > 50
    assert all(r["hgvs_c"] and r["hgvs_c"].startswith("c.") for r in coding)
    assert {r["impact"] for r in coding} >= {"HIGH", "MODERATE", "LOW"}


# --- sources ------------------------------------------------------------------------------

CLINVAR_HEADER = """##fileformat=VCFv4.1
##reference=test
##contig=<ID=t1,length=600>
##INFO=<ID=ALLELEID,Number=1,Type=Integer,Description="allele id">
##INFO=<ID=CLNSIG,Number=.,Type=String,Description="significance">
##INFO=<ID=CLNREVSTAT,Number=.,Type=String,Description="review status">
##INFO=<ID=CLNDN,Number=.,Type=String,Description="disease name">
##INFO=<ID=GENEINFO,Number=1,Type=String,Description="gene">
##INFO=<ID=MC,Number=.,Type=String,Description="consequence">
##INFO=<ID=CLNHGVS,Number=.,Type=String,Description="hgvs">
#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO
"""


def _clinvar_vcf(path: Path, extra: str = "") -> Path:
    gi = "GENEINFO=GENE1:1"
    rows = [
        f"t1\t114\t1\tG\tC\t.\t.\tALLELEID=11;CLNSIG=Pathogenic;"
        f"CLNREVSTAT=reviewed_by_expert_panel;CLNDN=Test_syndrome;{gi};"
        f"MC=SO:0001583|missense_variant;CLNHGVS=t1:g.114G>C",
        f"t1\t115\t2\tC\tA,T\t.\t.\tALLELEID=12;CLNSIG=Likely_pathogenic;"
        f"CLNREVSTAT=criteria_provided,_single_submitter;{gi}",
        f"t1\t116\t3\tT\tC\t.\t.\tALLELEID=13;CLNSIG=Benign;"
        f"CLNREVSTAT=criteria_provided,_multiple_submitters,_no_conflicts;{gi}",
    ]
    path.write_text(CLINVAR_HEADER + "\n".join(rows) + "\n" + extra)
    return path


def test_load_clinvar_versions_and_queries(tiny: dict[str, Path], tmp_path: Path) -> None:
    root = tmp_path / "sources"
    vcf = _clinvar_vcf(tmp_path / "clinvar.vcf")
    v1 = sources.load_clinvar(vcf, root, "2024-01", tiny["fasta"], tiny["gff3"])
    assert v1.version == 1
    assert v1.path.name == "v0001"
    m = v1.manifest
    assert m["format_version"] == 1
    assert m["records_in"] == 3
    assert m["rows"] == 4
    assert m["contigs"] == ["t1"]
    assert len(m["source_sha256"]) == 64
    assert m["loaded_at"]
    assert sources.load_clinvar(vcf, root, "again", tiny["fasta"], tiny["gff3"]) == v1
    found = sources.clinvar_matches(root, None, ["t1-114-G-C", "t1-115-C-T", "t1-1-A-G"])
    assert found["variant_id"].to_pylist() == ["t1-114-G-C", "t1-115-C-T"]
    assert found["pathogenic"].to_pylist() == [True, True]
    assert found["review_stars"].to_pylist() == [3, 1]
    assert found["gene"].to_pylist() == ["GENE1", "GENE1"]
    at_pos = sources.clinvar_at_position(root, 1, "t1", 115)
    assert sorted(at_pos["alt"].to_pylist()) == ["A", "T"]
    # residue 2 (Ala): 114G>C Ala2Pro, 115C>A Ala2Asp, 115C>T Ala2Val pathogenic; 116 benign
    residue = sources.clinvar_at_residue(root, 1, "GENE1", 2)
    assert sorted(residue["aa_alt"].to_pylist()) == ["D", "P", "V"]
    # the benign 116T>C is synonymous: only single-residue changes are stored
    assert sources.clinvar_at_residue(root, 1, "GENE1", 2, pathogenic_only=False).num_rows == 3
    # a changed file is a new version; readers see both
    vcf2 = _clinvar_vcf(tmp_path / "clinvar2.vcf", "t1\t117\t4\tC\tT\t.\t.\tCLNSIG=Pathogenic\n")
    v2 = sources.load_clinvar(vcf2, root, "2024-02")
    assert v2.version == 2
    assert [v.version for v in sources.list_versions(root, "clinvar")] == [
        1,
        2,
    ]
    assert sources.clinvar_matches(root, 1, ["t1-117-C-T"]).num_rows == 0
    assert sources.clinvar_matches(root, 2, ["t1-117-C-T"]).num_rows == 1
    with pytest.raises(NotFoundError, match=r"protein\.parquet"):
        sources.clinvar_at_residue(root, 2, "GENE1", 2)
    with pytest.raises(NotFoundError):
        sources.clinvar_matches(root, 9, [])
    assert not [p for p in (root / "clinvar").iterdir() if p.name.startswith(".")]


def test_load_population_split(tmp_path: Path) -> None:
    vcf = tmp_path / "pop.vcf"
    vcf.write_text(
        "##fileformat=VCFv4.2\n##contig=<ID=t1,length=600>\n"
        '##INFO=<ID=AF,Number=A,Type=Float,Description="f">\n'
        '##INFO=<ID=AC,Number=A,Type=Integer,Description="c">\n'
        '##INFO=<ID=AN,Number=1,Type=Integer,Description="n">\n'
        '##INFO=<ID=nhomalt,Number=A,Type=Integer,Description="h">\n'
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
        "t1\t10\t.\tA\tC,G\t.\t.\tAF=0.1,0.02;AC=10,2;AN=100;nhomalt=1,0\n"
        "t1\t20\t.\tT\tA\t.\t.\tAF=0.5\n"
    )
    v = sources.load_population("testpop", vcf, tmp_path / "root", "r1")
    assert v.source == "population/testpop"
    assert v.manifest["rows"] == 3
    got = sources.population_frequencies(
        tmp_path / "root", "testpop", None, ["t1-10-A-G", "t1-20-T-A"]
    ).to_pylist()
    assert [(r["af"], r["ac"], r["an"], r["nhomalt"]) for r in got] == [
        (pytest.approx(0.02), 2, 100, 0),
        (0.5, None, None, None),
    ]
    with pytest.raises(InvalidInputError):
        sources.load_population("Bad Name", vcf, tmp_path / "root", "r1")
    (tmp_path / "broken.vcf").write_text("not a vcf\n")
    with pytest.raises(FormatError, match=r"broken\.vcf"):
        sources.load_population("x", tmp_path / "broken.vcf", tmp_path / "root", "r1")


def test_kit_population_and_clinvar(chr22: Path, tmp_path: Path) -> None:
    v = sources.load_population(
        "gnomad", chr22 / "variants" / "gnomAD.r2.1.1.vcf.gz", tmp_path, "r2.1.1"
    )
    assert v.manifest["rows"] >= 3500
    assert v.manifest["contigs"] == ["chr22"]
    table = pq.read_table(v.path / "data.parquet")
    assert table["af"].null_count == 0
    if not CLINVAR_KIT.exists():
        pytest.skip(f"ClinVar kit file {CLINVAR_KIT} is absent")
    cv = sources.load_clinvar(CLINVAR_KIT, tmp_path, "20191007")
    assert cv.manifest["records_in"] == 72
    assert cv.manifest["rows"] >= 72


# --- panels -------------------------------------------------------------------------------

EXAMPLE_PANEL = {
    "id": 9001,
    "name": "Test RASopathies",
    "version": "1.3",
    "linked_indications": ["R-TEST-1"],
    "genes": [
        {
            "gene_symbol": "LZTR1",
            "hgnc_id": "HGNC:6742",
            "confidence_level": "3",
            "mode_of_inheritance": "BOTH monoallelic and biallelic, autosomal or pseudoautosomal",
        },
        {
            "gene_data": {"gene_symbol": "HMGCS2", "hgnc_id": "HGNC:5008"},
            "confidence": "green",
            "mode_of_inheritance": "BIALLELIC, autosomal or pseudoautosomal",
            "mode_of_pathogenicity": "Loss-of-function variants cause this phenotype",
        },
        {
            "gene_symbol": "SMARCB1",
            "confidence": "amber",
            "mode_of_inheritance": "MONOALLELIC, autosomal or pseudoautosomal, imprinted "
            "status unknown",
        },
        {
            "gene_symbol": "OTC",
            "confidence_level": 1,
            "mode_of_inheritance": "X-LINKED: hemizygous mutation in males, biallelic "
            "mutations in females",
        },
    ],
}


def test_panel_parse_and_modes(tmp_path: Path) -> None:
    path = tmp_path / "panel.json"
    path.write_text(json.dumps(EXAMPLE_PANEL))
    panel = panels.load_panel(path)
    assert (panel.id, panel.version, panel.indications) == ("9001", "1.3", ("R-TEST-1",))
    modes = {g.gene_symbol: g.mode_of_inheritance for g in panel.genes}
    assert modes == {"LZTR1": "AD_AR", "HMGCS2": "AR", "SMARCB1": "AD", "OTC": "XLR"}
    assert panel.green_genes() == {"LZTR1", "HMGCS2"}
    assert [g.confidence for g in panel.genes] == ["green", "green", "amber", "red"]
    assert panel.genes[1].loss_of_function is True
    assert panel.genes[0].loss_of_function is None
    stored = panels.panel_to_json(panel)
    assert stored["format_version"] == 1
    assert panels.parse_panel(stored) == panel
    assert panels.canonical_mode("MITOCHONDRIAL") == "MT"
    assert panels.canonical_mode("X-LINKED: hemizygous mutation in males, monoallelic "
                                 "mutations in females may cause disease (may be less "
                                 "severe, later onset than males)") == "XLD"  # fmt: skip
    assert panels.canonical_mode("Unknown") == "unknown"
    assert panels.genes_in_panels([panel], green_only=False) == {
        "LZTR1",
        "HMGCS2",
        "SMARCB1",
        "OTC",
    }


def test_panel_errors_list_every_problem(tmp_path: Path) -> None:
    bad = {
        "name": "x",
        "version": "1",
        "genes": [
            {"gene_symbol": "A B", "confidence": "green"},
            {"gene_symbol": "LZTR1", "hgnc_id": "6742", "confidence": "blue"},
            {"gene_symbol": "OTC"},
        ],
    }
    with pytest.raises(FormatError) as info:
        panels.parse_panel(bad, "bad.json")
    text = str(info.value)
    for needle in ("'id' is missing", "genes[0].gene_symbol", "genes[1].hgnc_id",
                   "genes[1].confidence", "genes[2]", "bad.json"):  # fmt: skip
        assert needle in text
    (tmp_path / "p.json").write_text('{"id": 1,\n "name": }')
    with pytest.raises(FormatError, match="line 2"):
        panels.load_panel(tmp_path / "p.json")


# --- phenotype ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ranker() -> object:
    pytest.importorskip("pyhpo", reason="HPO ranking needs hpo3 (pip install 'hpo3>=1.5,<2')")
    from helgenom.adapters.annotation.phenotype import PhenotypeRanker

    return PhenotypeRanker()


def test_ranker_basics(ranker: object) -> None:
    from helgenom.adapters.annotation.phenotype import PhenotypeRanker, ontology

    assert isinstance(ranker, PhenotypeRanker)
    assert ontology() is ontology()
    ranked = ranker.rank(["HP:0001639", "HP:0000369", "HP:0004322"], ["LZTR1", "NOSUCHGENE"])
    assert [r.gene for r in ranked] == ["LZTR1", "NOSUCHGENE"]
    assert ranked[1].score == 0.0
    with pytest.raises(InvalidInputError):
        ranker.rank([])
    with pytest.raises(InvalidInputError):
        ranker.rank(["HP:9999999"])


def _cases(limit_per_gene: int) -> list[tuple[str, list[str]]]:
    cases = []
    for gene_dir in sorted(PHENOPACKETS.iterdir()):
        files = sorted((gene_dir / "phenopackets").glob("*.json"))[:limit_per_gene]
        for f in files:
            d = json.loads(f.read_text())
            terms = [p["type"]["id"] for p in d.get("phenotypicFeatures", [])
                     if not p.get("excluded")]  # fmt: skip
            if terms:
                cases.append((gene_dir.name, terms))
    return cases


def test_phenopacket_store_ranks(ranker: object, capsys: pytest.CaptureFixture[str]) -> None:
    from helgenom.adapters.annotation.phenotype import PhenotypeRanker

    assert isinstance(ranker, PhenotypeRanker)
    if not PHENOPACKETS.is_dir():
        pytest.skip(f"needs phenopacket-store cases at {PHENOPACKETS}")
    ranks = []
    for gene, terms in _cases(limit_per_gene=4):
        ranked = ranker.rank(terms)  # among all ~5,000 annotated genes
        ranks.append(next(r.rank for r in ranked if r.gene == gene))
    with capsys.disabled():
        print(f"\nphenopacket ranks of the causal gene among {len(ranker.gene_symbols)} genes: "
              f"{sorted(ranks)} median {statistics.median(ranks)}")  # fmt: skip
    assert len(ranks) >= 10
    assert statistics.median(ranks) <= 20  # measured 3.5 (12 cases, hpo3 1.5.1)
