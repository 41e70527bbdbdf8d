"""A synthetic genome with real gene symbols and a family trio with planted causal variants.

Test and demo data for clinical interpretation (trio analysis, ACMG classification, reports,
re-analysis), generated here so that tests need no outside files.

:func:`simulate_gene_genome` writes, into one folder,

* ``genome.fa`` (+ ``.fai``): ``chr1`` (an autosome of seeded random bases, 400 kb by default)
  and ``chrX``, whose first :data:`X_N_PREFIX` bases are ``N`` (they cover GRCh38's PAR1,
  ``chrX:10,001-2,781,479``, so every ``chrX`` base with sequence lies outside the PAR and a
  male is hemizygous there) followed by ``x_length`` random bases;
* ``genes.gff3``: Ensembl-style gene / mRNA / exon / CDS / UTR lines for ten protein-coding
  genes with real HGNC symbols and IDs (synthetic sequences and Ensembl-like IDs
  ``ENSG9...``): multi-exon, on both strands, ATG start, no internal stop, a stop codon,
  ``GT...AG`` introns;
* ``panel.json`` and ``panel_v2.json``: a PanelApp-style panel in two versions (v2 upgrades
  KCNQ2 from amber to green and adds CDKL5);
* ``clinvar.vcf.gz`` and ``clinvar_v2.vcf.gz`` (+ ``.tbi``): ClinVar-style records
  (``CLNSIG``, ``CLNREVSTAT``, ``CLNDN``, ``GENEINFO``, ``MC``, ``CLNHGVS``, ...), among them
  a pathogenic missense with the same amino-acid change as a planted missense (PS1) and one
  with another change at the residue of a second planted missense (PM5); in v2 the planted
  VUS is reclassified pathogenic;
* ``population.vcf.gz`` (+ ``.tbi``): gnomAD-like ``AC``/``AN``/``AF``/``nhomalt`` for the
  designed common and rare variants and for ``population_sites`` random background sites.

:func:`simulate_trio` writes a child and its parents as bgzipped, tabix-indexed gVCFs
(``{sample}.g.vcf.gz``: GATK-style ``<NON_REF>`` reference blocks with ``END`` and
``MIN_DP``; variant records ``GT:GQ:DP:AD``) and ``trio.ped``:

* background variants (90 % SNVs with a 2:1 transition bias, 10 % 1-4 bp indels written
  left-aligned and trimmed) outside exons: parental haplotypes are drawn from an allele
  frequency spectrum (65 % rare, 35 % common; het/hom about 1.7 per person) and the child gets
  one haplotype of each parent with crossovers (about 1.1 per 100 Mb per meiosis); on chrX a
  son receives only his mother's X;
* the designed variants with the genotypes of their pattern (see :data:`PATTERNS` and
  :func:`simulate_trio`), optionally broken;
* per person a few coverage gaps (no record at all) and low-GQ regions (GQ 5-19), never
  inside a gene (so every planted site is covered with GQ >= 20 in every person); everything
  else is a variant record or a reference block, so each base of a contig is exactly one of
  record, reference block or gap (the ``N`` prefix of chrX is a gap);
* ``background_truth.parquet``: every background site with the three alt-allele counts
  (-1 where the person has a gap).

Speed: lines are built as NUL-padded byte matrices with numpy (NULs removed with
``bytes.translate``), compressed in BGZF blocks by a thread pool while the next lines are
built (zlib releases the GIL; level 1 by default), and the ``.tbi`` index is written from the
lines' offsets instead of a second pass over the file. Four million variants per person
(``autosome_length`` 120 Mb) take about a minute for the trio on two cores and under 1 GB.

Choices worth knowing: variant records carry ``ALT`` ``X,<NON_REF>`` as GATK writes them
(``nonref_alt=False`` writes plain ``ALT``); the Ensembl-style IDs (``ENSG9...``,
``ENST9...``) are synthetic, the symbols, HGNC and NCBI Gene IDs real; ClinVar IDs start at
9,100,001; bcftools csq reports no transcript for intronic variants.
"""

from __future__ import annotations

import json
import math
import os
import struct
import zlib
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq
import pysam

from helgenom.core.errors import InvalidInputError
from helgenom.core.pedigree import Individual, Pedigree, Phenotype, Sex
from helgenom.core.simulate import TruthVariant, haplotypes

AUTOSOME = "chr1"
"""Name of the autosome."""
CHR_X = "chrX"
"""Name of the X chromosome."""
PAR1 = (10_001, 2_781_479)
"""GRCh38 PAR1 on chrX (1-based, inclusive)."""
X_N_PREFIX = 2_800_000
"""Bases of ``N`` at the start of chrX (past PAR1's end)."""
DEFAULT_AUTOSOME_LENGTH = 400_000
"""Default length of chr1."""
DEFAULT_X_LENGTH = 200_000
"""Default bases of sequence on chrX after the ``N`` prefix."""
MIN_AUTOSOME_LENGTH = 340_000
"""chr1 must hold the gene layout."""
MIN_X_LENGTH = 120_000
"""The sequenced part of chrX must hold the gene layout."""
PATTERNS = frozenset({"de_novo", "compound_het", "homozygous", "x_linked"})
"""Patterns that ``simulate_trio(broken=...)`` can break."""
BASE_FREQUENCIES = (0.295, 0.205, 0.205, 0.295)
"""A, C, G, T composition of the random sequence."""
CROSSOVERS_PER_100MB = 1.1
"""Mean crossovers per meiosis per 100 Mb."""
POPULATION_AN = 152_312
"""``AN`` written to the population VCF (a gnomAD-genomes-sized sample)."""

_BASES = b"ACGT"
_COMPLEMENT = str.maketrans("ACGTN", "TGCAN")
_STOPS = ("TAA", "TAG", "TGA")
_SENSE = tuple(a + b + c for a in "ACGT" for b in "ACGT" for c in "ACGT" if a + b + c not in _STOPS)
_CODE = {"A": 0, "C": 1, "G": 2, "T": 3}
_AA = dict(
    zip(
        (a + b + c for a in "TCAG" for b in "TCAG" for c in "TCAG"),
        "FFLLSSSSYY**CC*WLLLLPPPPHHQQRRRRIIIMTTTTNNKKSSRRVVVVAAAADDEEGGGG",
        strict=True,
    )
)
_SO_MC = {
    "missense_variant": "SO:0001583|missense_variant",
    "stop_gained": "SO:0001587|nonsense",
    "frameshift_variant": "SO:0001589|frameshift_variant",
    "synonymous_variant": "SO:0001819|synonymous_variant",
    "intron_variant": "SO:0001627|intron_variant",
}


# --- public data classes -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GeneModel:
    """One simulated protein-coding gene with its single (canonical) transcript."""

    symbol: str
    """HGNC symbol."""
    hgnc_id: str
    """``HGNC:NNNN``."""
    ncbi_gene_id: int
    """NCBI Gene ID (as in ClinVar's ``GENEINFO``)."""
    gene_id: str
    """Synthetic Ensembl-like gene ID (``ENSG9...``)."""
    transcript: str
    """Synthetic Ensembl-like transcript ID (``ENST9...``), as bcftools csq prints it."""
    contig: str
    """Contig."""
    start: int
    """First base of the gene (1-based)."""
    end: int
    """Last base of the gene (inclusive)."""
    strand: str
    """``+`` or ``-``."""
    exons: tuple[tuple[int, int], ...]
    """Exons, 1-based inclusive, in genomic order."""
    cds: tuple[tuple[int, int], ...]
    """CDS segments, 1-based inclusive, in genomic order."""


@dataclass(frozen=True, slots=True)
class DesignedVariant:
    """A variant designed into the genome (planted in the trio, or only in ClinVar)."""

    name: str
    """Short name, e.g. ``de_novo_scn1a``."""
    gene: str
    """Gene symbol."""
    contig: str
    """Contig."""
    pos: int
    """1-based position (anchor base for indels)."""
    ref: str
    """REF allele (normalised: left-aligned, trimmed)."""
    alt: str
    """ALT allele."""
    consequence: str
    """SO term bcftools csq gives (``stop_gained``, ``missense_variant``, ...)."""
    pattern: str
    """``de_novo``, ``compound_het``, ``homozygous``, ``x_linked``, ``secondary``, ``common``
    (planted in the trio) or ``clinvar_only`` (not carried by the family)."""
    mode: str | None
    """The :class:`~helgenom.core.inheritance.InheritanceMode` value the pattern gives,
    or None (secondary, common and ClinVar-only variants)."""
    protein_position: int | None
    """Residue number for single-codon changes (missense, stop, synonymous)."""
    aa_ref: str | None
    """Reference amino acid (one letter) for single-codon changes."""
    aa_alt: str | None
    """Alternate amino acid (one letter, ``*`` for stop) for single-codon changes."""
    clinvar_id: str | None
    """ClinVar variation ID (the VCF ID column), when in ClinVar."""
    clnsig: str | None
    """``CLNSIG`` in ``clinvar.vcf.gz`` (None: not in ClinVar v1)."""
    clnsig_v2: str | None
    """``CLNSIG`` in ``clinvar_v2.vcf.gz``."""
    af: float | None
    """``AF`` in ``population.vcf.gz`` (None: absent)."""

    @property
    def variant_id(self) -> str:
        """``CONTIG-POS-REF-ALT``."""
        return f"{self.contig}-{self.pos}-{self.ref}-{self.alt}"


@dataclass(frozen=True)
class GeneGenome:
    """The files and facts of a simulated gene genome."""

    folder: Path
    """Where everything was written."""
    fasta: Path
    """``genome.fa`` (with ``.fai``)."""
    gff3: Path
    """``genes.gff3``."""
    panel: Path
    """``panel.json`` (version 1)."""
    panel_v2: Path
    """``panel_v2.json``."""
    clinvar: Path
    """``clinvar.vcf.gz`` (tabix-indexed)."""
    clinvar_v2: Path
    """``clinvar_v2.vcf.gz``."""
    population: Path
    """``population.vcf.gz``."""
    contigs: dict[str, int]
    """Contig name -> length, in FASTA order."""
    sequenced: dict[str, tuple[int, int]]
    """Contig -> first and last base that is not ``N``."""
    genes: dict[str, GeneModel]
    """Symbol -> gene model."""
    panel_genes: tuple[str, ...]
    """Symbols on panel version 1."""
    panel_v2_genes: tuple[str, ...]
    """Symbols on panel version 2."""
    designed: tuple[DesignedVariant, ...]
    """Every designed variant (planted and ClinVar-only)."""
    clinvar_ids: dict[str, str]
    """Designed variant name -> ClinVar ID, for those in ClinVar."""
    seed: int
    """The seed used."""

    def variant(self, name: str) -> DesignedVariant:
        """Return a designed variant by name.

        Raises
        ------
        KeyError
            If there is no such variant.
        """
        for item in self.designed:
            if item.name == name:
                return item
        raise KeyError(name)


@dataclass(frozen=True, slots=True)
class PlantedVariant:
    """A designed variant as planted in one trio."""

    variant: DesignedVariant
    """The design (position, alleles, consequence, ClinVar and population facts)."""
    genotypes: tuple[str, str, str]
    """GT of child, mother, father as the pattern sets it (``0/0`` or ``0`` means a
    covering reference block)."""
    broken: bool
    """Whether the pattern was broken (its mode must then not be found)."""

    @property
    def variant_id(self) -> str:
        """``CONTIG-POS-REF-ALT``."""
        return self.variant.variant_id

    @property
    def name(self) -> str:
        """The design's name."""
        return self.variant.name

    @property
    def gene(self) -> str:
        """Gene symbol."""
        return self.variant.gene

    @property
    def pattern(self) -> str:
        """The design's pattern."""
        return self.variant.pattern

    @property
    def mode(self) -> str | None:
        """The inheritance mode the pattern gives when not broken."""
        return self.variant.mode

    @property
    def consequence(self) -> str:
        """Expected SO consequence."""
        return self.variant.consequence


@dataclass(frozen=True)
class TrioTruth:
    """The files and truth of a simulated trio."""

    folder: Path
    """Where the files were written."""
    reference_fasta: Path
    """The genome's FASTA."""
    contigs: dict[str, int]
    """Contig -> length (the build the gVCFs declare)."""
    sample_ids: tuple[str, str, str]
    """Child, mother, father."""
    child_sex: str
    """``male`` or ``female``."""
    pedigree: Path
    """``trio.ped`` (child affected, parents unaffected)."""
    gvcfs: dict[str, Path]
    """Sample ID -> bgzipped, tabix-indexed gVCF."""
    planted: tuple[PlantedVariant, ...]
    """The planted designed variants."""
    broken: frozenset[str]
    """The patterns that were broken."""
    background_truth: Path
    """``background_truth.parquet``: contig, pos, ref, alt, af, child, mother, father
    (alt-allele counts; -1 inside the person's gap), population (bool)."""
    variant_records: dict[str, int]
    """Sample ID -> variant records written (background and planted)."""
    gaps: dict[str, tuple[tuple[str, int, int], ...]]
    """Sample ID -> coverage gaps ``(contig, start, end)`` 1-based inclusive (chrX's ``N``
    prefix included)."""
    low_gq: dict[str, tuple[tuple[str, int, int], ...]]
    """Sample ID -> regions whose blocks and calls have GQ below 20."""

    def planted_variant(self, name: str) -> PlantedVariant:
        """Return a planted variant by its design name.

        Raises
        ------
        KeyError
            If no planted variant has that name.
        """
        for item in self.planted:
            if item.name == name:
                return item
        raise KeyError(name)


# --- the designed genes and variants -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _GeneSpec:
    symbol: str
    hgnc_id: str
    ncbi_gene_id: int
    description: str
    contig: str
    offset: int
    strand: str
    exons: int
    codons: int


_GENES: tuple[_GeneSpec, ...] = (
    _GeneSpec("SCN1A", "HGNC:10585", 6323, "sodium voltage-gated channel alpha subunit 1",
              AUTOSOME, 20_000, "-", 8, 420),
    _GeneSpec("CFTR", "HGNC:1884", 1080, "CF transmembrane conductance regulator",
              AUTOSOME, 60_000, "+", 7, 380),
    _GeneSpec("PAH", "HGNC:8582", 5053, "phenylalanine hydroxylase",
              AUTOSOME, 100_000, "-", 6, 300),
    _GeneSpec("KCNQ2", "HGNC:6296", 3785, "potassium voltage-gated channel subfamily Q member 2",
              AUTOSOME, 140_000, "-", 6, 320),
    _GeneSpec("SCN2A", "HGNC:10588", 6326, "sodium voltage-gated channel alpha subunit 2",
              AUTOSOME, 180_000, "+", 7, 400),
    _GeneSpec("BRCA2", "HGNC:1101", 675, "BRCA2 DNA repair associated",
              AUTOSOME, 220_000, "+", 8, 450),
    _GeneSpec("LDLR", "HGNC:6547", 3949, "low density lipoprotein receptor",
              AUTOSOME, 260_000, "+", 6, 280),
    _GeneSpec("ACTB", "HGNC:132", 60, "actin beta", AUTOSOME, 300_000, "-", 5, 200),
    _GeneSpec("OTC", "HGNC:8512", 5009, "ornithine transcarbamylase",
              CHR_X, X_N_PREFIX + 30_000, "+", 6, 250),
    _GeneSpec("CDKL5", "HGNC:11411", 6792, "cyclin dependent kinase like 5",
              CHR_X, X_N_PREFIX + 80_000, "+", 7, 350),
)  # fmt: skip
"""The genes: offset is the 1-based start of the gene on its contig."""


@dataclass(frozen=True, slots=True)
class _Design:
    name: str
    gene: str
    region: str  # "exon" or "intron"
    number: int  # exon or intron number (1-based, transcript order)
    kind: str  # "snv", "del1", "ins1"
    codon: str | None  # reference codon to write (SNVs in a CDS); None: keep (partner)
    codon_pos: int  # 1..3 within the codon (SNVs in a CDS)
    alt: str  # alternate base in transcript orientation (SNVs)
    consequence: str
    pattern: str
    clnsig: str | None = None
    clnrevstat: str | None = None
    clnsig_v2: str | None = None
    clnrevstat_v2: str | None = None
    clndn: str | None = None
    af: float | None = None
    partner_of: str | None = None  # shares the codon of this design


_EXPERT = "reviewed_by_expert_panel"
_MULTI = "criteria_provided,_multiple_submitters,_no_conflicts"
_SINGLE = "criteria_provided,_single_submitter"

_DESIGNS: tuple[_Design, ...] = (
    _Design("de_novo_scn1a", "SCN1A", "exon", 3, "snv", "CAG", 1, "T", "stop_gained",
            "de_novo"),
    _Design("common_scn1a_intron", "SCN1A", "intron", 4, "snv", None, 0, "", "intron_variant",
            "common", "Benign", _MULTI, "Benign", _MULTI, "not_specified", 0.081),
    _Design("common_cftr_synonymous", "CFTR", "exon", 2, "snv", "CTG", 3, "A",
            "synonymous_variant", "common", "Likely_benign", _SINGLE, "Likely_benign", _SINGLE,
            "not_specified", 0.352),
    _Design("comphet_cftr_missense", "CFTR", "exon", 3, "snv", "AGG", 3, "T",
            "missense_variant", "compound_het", "Uncertain_significance", _SINGLE,
            "Pathogenic", _MULTI, "Cystic_fibrosis"),
    _Design("ps1_cftr_missense", "CFTR", "exon", 3, "snv", None, 3, "C", "missense_variant",
            "clinvar_only", "Pathogenic", _EXPERT, "Pathogenic", _EXPERT, "Cystic_fibrosis",
            partner_of="comphet_cftr_missense"),
    _Design("comphet_cftr_frameshift", "CFTR", "exon", 5, "del1", None, 0, "",
            "frameshift_variant", "compound_het"),
    _Design("hom_pah_stop", "PAH", "exon", 2, "snv", "CGA", 1, "T", "stop_gained",
            "homozygous", "Pathogenic/Likely_pathogenic", _MULTI, "Pathogenic/Likely_pathogenic",
            _MULTI, "Phenylketonuria", 0.00038),
    _Design("common_pah_missense", "PAH", "exon", 4, "snv", "GTC", 1, "A", "missense_variant",
            "common", "Benign", _MULTI, "Benign", _MULTI, "Phenylketonuria", 0.218),
    _Design("de_novo_kcnq2_missense", "KCNQ2", "exon", 3, "snv", "GCT", 1, "C",
            "missense_variant", "de_novo"),
    _Design("conflicting_kcnq2_missense", "KCNQ2", "exon", 5, "snv", "GAG", 3, "C",
            "missense_variant", "clinvar_only", "Conflicting_classifications_of_pathogenicity",
            "criteria_provided,_conflicting_classifications",
            "Conflicting_classifications_of_pathogenicity",
            "criteria_provided,_conflicting_classifications",
            "Developmental_and_epileptic_encephalopathy_7"),
    _Design("benign_scn2a_synonymous", "SCN2A", "exon", 2, "snv", "GCC", 3, "T",
            "synonymous_variant", "clinvar_only", "Benign", _MULTI, "Benign", _MULTI,
            "not_specified", 0.124),
    _Design("secondary_brca2_frameshift", "BRCA2", "exon", 4, "ins1", None, 0, "",
            "frameshift_variant", "secondary", "Pathogenic", _EXPERT, "Pathogenic", _EXPERT,
            "Hereditary_breast_ovarian_cancer_syndrome", 0.0000131),
    _Design("ldlr_stop", "LDLR", "exon", 3, "snv", "TGG", 3, "A", "stop_gained",
            "clinvar_only", "Pathogenic", _MULTI, "Pathogenic", _MULTI,
            "Hypercholesterolemia,_familial,_1"),
    _Design("x_linked_otc_missense", "OTC", "exon", 3, "snv", "CGG", 2, "A",
            "missense_variant", "x_linked"),
    _Design("pm5_otc_missense", "OTC", "exon", 3, "snv", None, 1, "T", "missense_variant",
            "clinvar_only", "Pathogenic", _MULTI, "Pathogenic", _MULTI,
            "Ornithine_carbamoyltransferase_deficiency", partner_of="x_linked_otc_missense"),
)  # fmt: skip
"""The designed variants (codons and alleles in transcript orientation)."""

_MODES = {
    "de_novo": "de_novo",
    "compound_het": "compound_heterozygous",
    "homozygous": "autosomal_recessive_homozygous",
    "x_linked": "x_linked_hemizygous",
}
"""Pattern -> :class:`~helgenom.core.inheritance.InheritanceMode` value."""

_MONO = "MONOALLELIC, autosomal or pseudoautosomal, imprinted status unknown"
_BI = "BIALLELIC, autosomal or pseudoautosomal"
_XLR = "X-LINKED: hemizygous mutation in males, biallelic mutations in females"
_XLD = (
    "X-LINKED: hemizygous mutation in males, monoallelic mutations in females may cause "
    "disease (may be less severe, later onset than males)"
)
_LOF = "Loss-of-function variants cause this phenotype"
_NOT_LOF = (
    "Loss-of-function variants (as defined in pop up message) DO NOT cause this phenotype - "
    "please provide details in the comments"
)

_PANEL_V1: tuple[tuple[str, str, str, str, str, str], ...] = (
    ("SCN1A", "3", _MONO, _LOF, "Incomplete", "Dravet syndrome, OMIM:607208"),
    ("CFTR", "3", _BI, _LOF, "Complete", "Cystic fibrosis, OMIM:219700"),
    ("PAH", "3", _BI, _LOF, "Complete", "Phenylketonuria, OMIM:261600"),
    ("OTC", "3", _XLR, _LOF, "Complete", "Ornithine transcarbamylase deficiency, OMIM:311250"),
    ("KCNQ2", "2", _MONO, "", "Incomplete",
     "Developmental and epileptic encephalopathy 7, OMIM:613720"),
    ("SCN2A", "1", _MONO, _NOT_LOF, "Complete",
     "Developmental and epileptic encephalopathy 11, OMIM:613721"),
)  # fmt: skip
"""Panel v1: symbol, confidence level (3 green, 2 amber, 1 red), mode of inheritance,
mode of pathogenicity, penetrance, phenotype."""
_PANEL_V2_CHANGES: tuple[tuple[str, str, str, str, str, str], ...] = (
    ("KCNQ2", "3", _MONO, "", "Incomplete",
     "Developmental and epileptic encephalopathy 7, OMIM:613720"),
    ("CDKL5", "3", _XLD, _LOF, "Complete",
     "Developmental and epileptic encephalopathy 2, OMIM:300672"),
)  # fmt: skip
"""Panel v2 changes: KCNQ2 upgraded amber -> green, CDKL5 added (green)."""


# --- small helpers ---------------------------------------------------------------------------


def _revcomp(seq: str) -> str:
    return seq.translate(_COMPLEMENT)[::-1]


def _rng(seed: int, *stream: int) -> np.random.Generator:
    return np.random.default_rng([seed, *stream])


def _translate(cds: str) -> str:
    return "".join(_AA.get(cds[i : i + 3], "X") for i in range(0, len(cds) - 2, 3))


def _transition(base: str) -> str:
    return {"A": "G", "G": "A", "C": "T", "T": "C"}[base]


def _draw_af(rng: np.random.Generator, n: int) -> npt.NDArray[np.float64]:
    """Allele frequencies: 65 % rare (log-uniform 5e-4..0.05), 35 % common (0.05..0.85)."""
    rare = rng.random(n) < 0.65
    low = 10.0 ** rng.uniform(math.log10(5e-4), math.log10(0.05), n)
    high = rng.uniform(0.05, 0.85, n)
    out: npt.NDArray[np.float64] = np.where(rare, low, high)
    return out


def _merge_intervals(
    starts: npt.NDArray[np.int64], ends: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Sorted, merged (overlapping or touching) 1-based inclusive intervals."""
    if starts.size == 0:
        return starts.astype(np.int64), ends.astype(np.int64)
    order = np.argsort(starts, kind="stable")
    s, e = starts[order].astype(np.int64), ends[order].astype(np.int64)
    reach = np.maximum.accumulate(e)
    new = np.ones(s.size, dtype=bool)
    new[1:] = s[1:] > reach[:-1] + 1
    group = np.cumsum(new) - 1
    out_s = s[new]
    out_e = np.zeros(out_s.size, dtype=np.int64)
    np.maximum.at(out_e, group, e)
    return out_s, out_e


def _hits(
    starts: npt.NDArray[np.int64],
    ends: npt.NDArray[np.int64],
    iv_starts: npt.NDArray[np.int64],
    iv_ends: npt.NDArray[np.int64],
) -> npt.NDArray[np.bool_]:
    """Which ``[starts, ends]`` intersect one of the merged intervals ``[iv_starts, iv_ends]``."""
    if iv_starts.size == 0:
        return np.zeros(starts.size, dtype=bool)
    idx = np.searchsorted(iv_starts, ends, side="right") - 1
    safe = np.maximum(idx, 0)
    out: npt.NDArray[np.bool_] = (idx >= 0) & (iv_ends[safe] >= starts)
    return out


def _complement(
    starts: npt.NDArray[np.int64], ends: npt.NDArray[np.int64], length: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """1-based inclusive parts of ``[1, length]`` outside the (possibly overlapping)
    intervals."""
    order = np.argsort(starts, kind="stable")
    s, e = starts[order], ends[order]
    reach = np.maximum.accumulate(e) if e.size else e
    first = np.concatenate((np.array([1], dtype=np.int64), reach + 1))
    last = np.concatenate((s - 1, np.array([length], dtype=np.int64)))
    keep = first <= last
    return first[keep].astype(np.int64), last[keep].astype(np.int64)


# --- the genome ------------------------------------------------------------------------------


@dataclass
class _BuiltGene:
    spec: _GeneSpec
    transcript_seq: str
    exons_t: list[tuple[int, int]]  # transcript coordinates, half-open, transcript order
    cds_t: list[tuple[int, int]]
    introns_t: list[tuple[int, int]]
    codon_index: dict[str, int] = field(default_factory=dict)
    placed: dict[str, tuple[int, str, str]] = field(default_factory=dict)  # name -> t, ref, alt

    @property
    def length(self) -> int:
        return len(self.transcript_seq)

    def genomic(self, t: int) -> int:
        """1-based genomic position of transcript offset ``t``."""
        if self.spec.strand == "+":
            return self.spec.offset + t
        return self.spec.offset + self.length - 1 - t

    def genomic_span(self, span: tuple[int, int]) -> tuple[int, int]:
        a, b = span
        x, y = self.genomic(a), self.genomic(b - 1)
        return (min(x, y), max(x, y))

    def cds_to_t(self, c: int) -> int:
        """Transcript offset of CDS offset ``c`` (0-based)."""
        for start, end in self.cds_t:
            if c < end - start:
                return start + c
            c -= end - start
        raise ValueError("CDS offset past the end")


def _build_gene(spec: _GeneSpec, rng: np.random.Generator) -> _BuiltGene:
    """Lay out one gene in transcript orientation, with its designed codons."""
    n = spec.exons
    cds_len = 3 * spec.codons
    floor = 90
    weights = rng.dirichlet(np.ones(n))
    parts = [floor + int(w * (cds_len - floor * n)) for w in weights]
    parts[-1] += cds_len - sum(parts)
    utr5 = int(rng.integers(40, 160))
    utr3 = int(rng.integers(150, 600))
    introns = [int(x) for x in rng.integers(300, 2500, n - 1)]
    codon_ids = rng.integers(0, len(_SENSE), spec.codons)
    codons = [_SENSE[int(i)] for i in codon_ids]
    codons[0] = "ATG"
    codons[-1] = _STOPS[int(rng.integers(0, 3))]
    # exon CDS ranges in CDS coordinates
    bounds = np.cumsum([0, *parts])
    gene = _BuiltGene(spec, "", [], [], [])
    for design in _DESIGNS:
        if design.gene != spec.symbol or design.region != "exon" or design.kind != "snv":
            continue
        if design.partner_of is not None:
            continue
        a, b = int(bounds[design.number - 1]), int(bounds[design.number])
        first, last = -(-a // 3), b // 3 - 1
        index = (first + last) // 2
        assert design.codon is not None
        assert 0 < index < spec.codons - 1
        codons[index] = design.codon
        gene.codon_index[design.name] = index
    cds = "".join(codons)
    pieces: list[str] = []
    cursor = 0
    for k in range(n):
        exon_start = cursor
        if k == 0:
            pieces.append("".join(_random_bases(rng, utr5)))
            cursor += utr5
        cds_start = cursor
        pieces.append(cds[int(bounds[k]) : int(bounds[k + 1])])
        cursor += parts[k]
        gene.cds_t.append((cds_start, cursor))
        if k == n - 1:
            pieces.append("".join(_random_bases(rng, utr3)))
            cursor += utr3
        gene.exons_t.append((exon_start, cursor))
        if k < n - 1:
            size = introns[k]
            body = "".join(_random_bases(rng, size - 6 - 12))
            pieces.append("GTAAGT" + body + "CTTTTCTTTCAG")
            gene.introns_t.append((cursor, cursor + size))
            cursor += size
    gene.transcript_seq = "".join(pieces)
    _place_designs(gene)
    return gene


def _random_bases(rng: np.random.Generator, n: int) -> list[str]:
    codes = rng.choice(4, size=n, p=BASE_FREQUENCIES)
    return ["ACGT"[int(c)] for c in codes]


def _place_designs(gene: _BuiltGene) -> None:
    """Find the transcript offset, REF and ALT (transcript orientation) of each design."""
    seq = gene.transcript_seq
    for design in _DESIGNS:
        if design.gene != gene.spec.symbol:
            continue
        if design.region == "intron":
            a, b = gene.introns_t[design.number - 1]
            t = (a + b) // 2
            gene.placed[design.name] = (t, seq[t], _transition(seq[t]))
            continue
        if design.kind == "snv":
            owner = design.partner_of or design.name
            index = gene.codon_index[owner]
            t = gene.cds_to_t(3 * index + design.codon_pos - 1)
            gene.placed[design.name] = (t, seq[t], design.alt)
            continue
        if gene.spec.strand != "+":
            raise AssertionError("indel designs are laid out on + strand genes only")
        a, b = gene.cds_t[design.number - 1]
        t = (a + b) // 2
        if design.kind == "del1":
            while seq[t - 1] == seq[t]:  # left-aligned: the anchor differs from the deleted base
                t += 1
            gene.placed[design.name] = (t - 1, seq[t - 1 : t + 1], seq[t - 1])
        else:  # ins1 after the anchor at t, the inserted base differs from the anchor
            inserted = next(x for x in "ACGT" if x not in (seq[t], seq[t + 1]))
            gene.placed[design.name] = (t, seq[t], seq[t] + inserted)


def _expected_protein(gene: _BuiltGene, design: _Design) -> tuple[int, str, str] | None:
    """Residue, reference and alternate amino acid of a single-codon change (checked)."""
    if design.region != "exon" or design.kind != "snv":
        return None
    owner = design.partner_of or design.name
    index = gene.codon_index[owner]
    codon = "".join(gene.transcript_seq[gene.cds_to_t(3 * index + i)] for i in range(3))
    mutated = list(codon)
    mutated[design.codon_pos - 1] = design.alt
    aa_ref, aa_alt = _AA[codon], _AA["".join(mutated)]
    kind = (
        "synonymous_variant"
        if aa_ref == aa_alt
        else "stop_gained"
        if aa_alt == "*"
        else "missense_variant"
    )
    if kind != design.consequence:
        raise AssertionError(f"design {design.name}: {codon}>{''.join(mutated)} is {kind}")
    return index + 1, aa_ref, aa_alt


def _contig_codes(
    rng: np.random.Generator, length: int, chunk: int = 16_000_000
) -> npt.NDArray[np.uint8]:
    """Random bases (ASCII) of the given length with :data:`BASE_FREQUENCIES`, in chunks."""
    per_mille = [round(f * 1000) for f in BASE_FREQUENCIES]
    lookup = np.repeat(np.frombuffer(_BASES, dtype=np.uint8), per_mille)
    out = np.empty(length, dtype=np.uint8)
    for start in range(0, length, chunk):
        size = min(chunk, length - start)
        out[start : start + size] = lookup[rng.integers(0, lookup.size, size, dtype=np.uint16)]
    return out


def _write_fasta(path: Path, contigs: Sequence[tuple[str, npt.NDArray[np.uint8]]]) -> None:
    width = 60
    with path.open("wb") as out:
        for name, seq in contigs:
            out.write(f">{name}\n".encode())
            full = seq.size // width
            step = 1_000_000
            for row in range(0, full, step):
                rows = min(step, full - row)
                body = np.empty((rows, width + 1), dtype=np.uint8)
                body[:, :width] = seq[row * width : (row + rows) * width].reshape(rows, width)
                body[:, width] = 10
                out.write(body.tobytes())
            rest = seq[full * width :]
            if rest.size:
                out.write(rest.tobytes() + b"\n")
    pysam.faidx(str(path))


def simulate_gene_genome(
    out_dir: Path,
    *,
    seed: int = 1,
    autosome_length: int = DEFAULT_AUTOSOME_LENGTH,
    x_length: int = DEFAULT_X_LENGTH,
    population_sites: int = 400,
) -> GeneGenome:
    """Write a synthetic genome with real gene symbols, its annotation and sources.

    Parameters
    ----------
    out_dir
        Output folder (created).
    seed
        Seed of every random choice: the same seed and sizes give the same bytes.
    autosome_length
        Length of ``chr1`` (at least :data:`MIN_AUTOSOME_LENGTH`); e.g. 120 Mb for 4 million
        background variants per person.
    x_length
        Bases of sequence on ``chrX`` after its ``N`` prefix (at least :data:`MIN_X_LENGTH`).
    population_sites
        Random background SNVs listed in ``population.vcf.gz`` (the trio draws its genotypes
        at them from their ``AF``).

    Returns
    -------
    GeneGenome
        Paths, contig lengths, gene models, panel genes and the designed variants.

    Raises
    ------
    InvalidInputError
        If a length is below the minimum or ``population_sites`` is negative.
    """
    if autosome_length < MIN_AUTOSOME_LENGTH:
        raise InvalidInputError(f"autosome_length must be at least {MIN_AUTOSOME_LENGTH}")
    if x_length < MIN_X_LENGTH:
        raise InvalidInputError(f"x_length must be at least {MIN_X_LENGTH}")
    if population_sites < 0:
        raise InvalidInputError("population_sites must be >= 0")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    gene_rng = _rng(seed, 1)
    built = {spec.symbol: _build_gene(spec, gene_rng) for spec in _GENES}

    chr1 = _contig_codes(_rng(seed, 2), autosome_length)
    chrx = np.full(X_N_PREFIX + x_length, ord("N"), dtype=np.uint8)
    chrx[X_N_PREFIX:] = _contig_codes(_rng(seed, 3), x_length)
    sequences = {AUTOSOME: chr1, CHR_X: chrx}
    for gene in built.values():
        seq = gene.transcript_seq if gene.spec.strand == "+" else _revcomp(gene.transcript_seq)
        start = gene.spec.offset - 1
        sequences[gene.spec.contig][start : start + len(seq)] = np.frombuffer(
            seq.encode("ascii"), dtype=np.uint8
        )
    fasta = out / "genome.fa"
    _write_fasta(fasta, [(AUTOSOME, chr1), (CHR_X, chrx)])
    contigs = {AUTOSOME: autosome_length, CHR_X: X_N_PREFIX + x_length}
    sequenced = {AUTOSOME: (1, autosome_length), CHR_X: (X_N_PREFIX + 1, X_N_PREFIX + x_length)}

    models = {symbol: _model(gene, i + 1) for i, (symbol, gene) in enumerate(built.items())}
    gff3 = out / "genes.gff3"
    _write_gff3(gff3, contigs, built, models)

    designed = _designed(built)
    clinvar_ids = {d.name: d.clinvar_id for d in designed if d.clinvar_id is not None}
    forbidden = _forbidden(models, designed)
    pop_sites = _population_sites(_rng(seed, 4), sequences, sequenced, forbidden, population_sites)
    population = _write_population(out / "population.vcf", contigs, designed, pop_sites)
    clinvar = _write_clinvar(out / "clinvar.vcf", contigs, designed, version=1)
    clinvar_v2 = _write_clinvar(out / "clinvar_v2.vcf", contigs, designed, version=2)
    panel, panel_v2 = out / "panel.json", out / "panel_v2.json"
    v1, v2 = _panels(models)
    panel.write_text(json.dumps(v1, indent=2) + "\n", encoding="utf-8")
    panel_v2.write_text(json.dumps(v2, indent=2) + "\n", encoding="utf-8")
    return GeneGenome(
        folder=out,
        fasta=fasta,
        gff3=gff3,
        panel=panel,
        panel_v2=panel_v2,
        clinvar=clinvar,
        clinvar_v2=clinvar_v2,
        population=population,
        contigs=contigs,
        sequenced=sequenced,
        genes=models,
        panel_genes=tuple(g[0] for g in _PANEL_V1),
        panel_v2_genes=tuple(g["gene_data"]["gene_symbol"] for g in v2["genes"]),
        designed=designed,
        clinvar_ids=clinvar_ids,
        seed=seed,
    )


def _model(gene: _BuiltGene, number: int) -> GeneModel:
    spec = gene.spec
    return GeneModel(
        symbol=spec.symbol,
        hgnc_id=spec.hgnc_id,
        ncbi_gene_id=spec.ncbi_gene_id,
        gene_id=f"ENSG{90_000_000_000 + number:011d}",
        transcript=f"ENST{90_000_000_000 + number:011d}",
        contig=spec.contig,
        start=spec.offset,
        end=spec.offset + gene.length - 1,
        strand=spec.strand,
        exons=tuple(sorted(gene.genomic_span(e) for e in gene.exons_t)),
        cds=tuple(sorted(gene.genomic_span(c) for c in gene.cds_t)),
    )


def _write_gff3(
    path: Path,
    contigs: Mapping[str, int],
    built: Mapping[str, _BuiltGene],
    models: Mapping[str, GeneModel],
) -> None:
    lines = ["##gff-version 3"]
    lines += [f"##sequence-region   {name} 1 {length}" for name, length in contigs.items()]
    order = {AUTOSOME: 0, CHR_X: 1}
    for model in sorted(models.values(), key=lambda m: (order[m.contig], m.start)):
        gene = built[model.symbol]
        number = model.gene_id[-11:]
        tx = f"transcript:{model.transcript}"
        protein = f"ENSP{number}"
        strand = model.strand
        rows: list[tuple[int, int, str, str, str]] = []
        desc = f"{gene.spec.description} [Source:HGNC Symbol%3BAcc:{gene.spec.hgnc_id}]"
        rows.append((model.start, model.end, "gene", ".",
                     f"ID=gene:{model.gene_id};Name={model.symbol};biotype=protein_coding;"
                     f"description={desc};gene_id={model.gene_id};logic_name=helgenom_simtrio;"
                     "version=1"))  # fmt: skip
        rows.append((model.start, model.end, "mRNA", ".",
                     f"ID={tx};Parent=gene:{model.gene_id};Name={model.symbol}-201;"
                     f"biotype=protein_coding;tag=Ensembl_canonical;"
                     f"transcript_id={model.transcript};version=1"))  # fmt: skip
        cds_done = 0
        for rank, (exon_t, cds_t) in enumerate(zip(gene.exons_t, gene.cds_t, strict=True), 1):
            ex = gene.genomic_span(exon_t)
            rows.append((*ex, "exon", ".",
                         f"Parent={tx};Name=ENSE{number}{rank:02d};constitutive=1;"
                         f"exon_id=ENSE{number}{rank:02d};rank={rank};version=1"))  # fmt: skip
            phase = (3 - cds_done % 3) % 3
            cds_done += cds_t[1] - cds_t[0]
            rows.append((*gene.genomic_span(cds_t), "CDS", str(phase),
                         f"ID=CDS:{protein};Parent={tx};protein_id={protein}"))  # fmt: skip
            if exon_t[0] < cds_t[0]:
                rows.append((*gene.genomic_span((exon_t[0], cds_t[0])), "five_prime_UTR", ".",
                             f"Parent={tx}"))  # fmt: skip
            if cds_t[1] < exon_t[1]:
                rows.append((*gene.genomic_span((cds_t[1], exon_t[1])), "three_prime_UTR",
                             ".", f"Parent={tx}"))  # fmt: skip
        type_order = {"exon": 0, "five_prime_UTR": 1, "CDS": 2, "three_prime_UTR": 3}
        head, body = rows[:2], sorted(rows[2:], key=lambda r: (r[0], type_order[r[2]], r[1]))
        for start, end, kind, phase_text, attrs in head + body:
            lines.append(
                f"{model.contig}\thelgenom\t{kind}\t{start}\t{end}\t.\t{strand}\t{phase_text}\t"
                f"{attrs}"
            )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _designed(built: Mapping[str, _BuiltGene]) -> tuple[DesignedVariant, ...]:
    out: list[DesignedVariant] = []
    clinvar_number = 0
    for design in _DESIGNS:
        gene = built[design.gene]
        t, ref_t, alt_t = gene.placed[design.name]
        protein = _expected_protein(gene, design)
        if design.kind == "snv":
            pos = gene.genomic(t)
            ref = ref_t if gene.spec.strand == "+" else _revcomp(ref_t)
            alt = alt_t if gene.spec.strand == "+" else _revcomp(alt_t)
        else:
            pos, ref, alt = gene.genomic(t), ref_t, alt_t
        clinvar_id = None
        if design.clnsig is not None or design.clnsig_v2 is not None:
            clinvar_number += 1
            clinvar_id = str(9_100_000 + clinvar_number)
        out.append(
            DesignedVariant(
                name=design.name,
                gene=design.gene,
                contig=gene.spec.contig,
                pos=pos,
                ref=ref,
                alt=alt,
                consequence=design.consequence,
                pattern=design.pattern,
                mode=_MODES.get(design.pattern),
                protein_position=protein[0] if protein else None,
                aa_ref=protein[1] if protein else None,
                aa_alt=protein[2] if protein else None,
                clinvar_id=clinvar_id,
                clnsig=design.clnsig,
                clnsig_v2=design.clnsig_v2,
                af=design.af,
            )
        )
    return tuple(out)


_Intervals = dict[str, tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]]


def _forbidden(models: Mapping[str, GeneModel], designed: Sequence[DesignedVariant]) -> _Intervals:
    """Per contig, merged intervals where no background variant may lie: every exon +-10 bp
    and every designed variant +-30 bp."""
    out: _Intervals = {}
    for contig in (AUTOSOME, CHR_X):
        starts: list[int] = []
        ends: list[int] = []
        for model in models.values():
            if model.contig == contig:
                starts += [a - 10 for a, _ in model.exons]
                ends += [b + 10 for _, b in model.exons]
        for item in designed:
            if item.contig == contig:
                starts.append(item.pos - 30)
                ends.append(item.pos + len(item.ref) + 30)
        out[contig] = _merge_intervals(
            np.array(starts, dtype=np.int64), np.array(ends, dtype=np.int64)
        )
    return out


@dataclass
class _PopulationSites:
    contig: str
    pos: npt.NDArray[np.int64]
    ref: list[str]
    alt: list[str]
    af: npt.NDArray[np.float64]


_TI = np.array([2, 3, 0, 1], dtype=np.uint8)  # A<->G, C<->T (codes)
_TV = np.array([[1, 3], [0, 2], [1, 3], [0, 2]], dtype=np.uint8)
_ASCII_TO_CODE = np.full(256, 255, dtype=np.uint8)
for _i, _b in enumerate(_BASES):
    _ASCII_TO_CODE[_b] = _i


def _snv_alts(rng: np.random.Generator, ref_codes: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    """Alternate base codes: transitions twice as often as transversions."""
    n = ref_codes.size
    kind = rng.integers(0, 4, n)  # 0,1: transition; 2,3: one of the transversions
    tv = _TV[ref_codes, (kind % 2)]
    out: npt.NDArray[np.uint8] = np.where(kind < 2, _TI[ref_codes], tv).astype(np.uint8)
    return out


def _population_sites(
    rng: np.random.Generator,
    sequences: Mapping[str, npt.NDArray[np.uint8]],
    sequenced: Mapping[str, tuple[int, int]],
    forbidden: _Intervals,
    count: int,
) -> list[_PopulationSites]:
    total = sum(hi - lo + 1 for lo, hi in sequenced.values())
    out: list[_PopulationSites] = []
    for contig in (AUTOSOME, CHR_X):
        lo, hi = sequenced[contig]
        n = round(count * (hi - lo + 1) / total)
        cand = np.unique(rng.integers(lo + 50, hi - 50, size=3 * n + 10)).astype(np.int64)
        cand = cand[~_hits(cand, cand, *forbidden[contig])]
        spaced = np.ones(cand.size, dtype=bool)
        spaced[1:] = np.diff(cand) >= 10
        cand = cand[spaced]
        if cand.size > n:
            cand = np.sort(rng.choice(cand, size=n, replace=False))
        codes = _ASCII_TO_CODE[sequences[contig][cand - 1]]
        alts = _snv_alts(rng, codes)
        af = _draw_af(rng, cand.size)
        out.append(
            _PopulationSites(
                contig,
                cand,
                [chr(_BASES[c]) for c in codes.tolist()],
                [chr(_BASES[c]) for c in alts.tolist()],
                af,
            )
        )
    return out


def _vcf_index(plain: Path) -> Path:
    return Path(pysam.tabix_index(str(plain), preset="vcf", force=True))


def _af_text(af: float) -> str:
    return f"{af:.6g}"


def _write_population(
    plain: Path,
    contigs: Mapping[str, int],
    designed: Sequence[DesignedVariant],
    sites: Sequence[_PopulationSites],
) -> Path:
    header = [
        "##fileformat=VCFv4.2",
        "##source=helgenom.simtrio (synthetic gnomAD-like population frequencies)",
        "##reference=genome.fa",
        *(f"##contig=<ID={name},length={length}>" for name, length in contigs.items()),
        '##INFO=<ID=AC,Number=A,Type=Integer,Description="Alternate allele count">',
        '##INFO=<ID=AN,Number=1,Type=Integer,Description="Total number of alleles">',
        '##INFO=<ID=AF,Number=A,Type=Float,Description="Alternate allele frequency">',
        '##INFO=<ID=nhomalt,Number=A,Type=Integer,Description="Homozygous individuals">',
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO",
    ]
    rows: list[tuple[int, int, str, str, str, float]] = []
    order = {AUTOSOME: 0, CHR_X: 1}
    for item in designed:
        if item.af is not None:
            rows.append((order[item.contig], item.pos, item.contig, item.ref, item.alt, item.af))
    for group in sites:
        for pos, ref, alt, af in zip(
            group.pos.tolist(), group.ref, group.alt, group.af.tolist(), strict=True
        ):
            rows.append((order[group.contig], pos, group.contig, ref, alt, af))
    rows.sort()
    body = []
    for _, pos, contig, ref, alt, af in rows:
        ac = max(1, round(af * POPULATION_AN))
        hom = round(af * af * POPULATION_AN / 2)
        body.append(
            f"{contig}\t{pos}\t.\t{ref}\t{alt}\t.\tPASS\t"
            f"AC={ac};AN={POPULATION_AN};AF={_af_text(ac / POPULATION_AN)};nhomalt={hom}"
        )
    plain.write_text("\n".join(header + body) + "\n", encoding="ascii")
    return _vcf_index(plain)


def _clnhgvs(item: DesignedVariant) -> str:
    if len(item.ref) == len(item.alt) == 1:
        return f"{item.contig}:g.{item.pos}{item.ref}>{item.alt}"
    if len(item.ref) > len(item.alt):
        first, last = item.pos + 1, item.pos + len(item.ref) - 1
        span = f"{first}" if first == last else f"{first}_{last}"
        return f"{item.contig}:g.{span}del"
    return f"{item.contig}:g.{item.pos}_{item.pos + 1}ins{item.alt[1:]}"


def _write_clinvar(
    plain: Path, contigs: Mapping[str, int], designed: Sequence[DesignedVariant], version: int
) -> Path:
    header = [
        "##fileformat=VCFv4.1",
        f"##fileDate=2025-0{version}-01",
        "##source=ClinVar (helgenom.simtrio synthetic release)",
        "##reference=genome.fa",
        *(f"##contig=<ID={name},length={length}>" for name, length in contigs.items()),
        '##ID=<Description="ClinVar Variation ID">',
        '##INFO=<ID=ALLELEID,Number=1,Type=Integer,Description="the ClinVar Allele ID">',
        '##INFO=<ID=CLNDN,Number=.,Type=String,Description="ClinVar\'s preferred disease name">',
        '##INFO=<ID=CLNHGVS,Number=.,Type=String,Description="Top-level (primary assembly, '
        'alt, or patch) HGVS expression.">',
        '##INFO=<ID=CLNREVSTAT,Number=.,Type=String,Description="ClinVar review status">',
        '##INFO=<ID=CLNSIG,Number=.,Type=String,Description="Clinical significance">',
        '##INFO=<ID=CLNVC,Number=1,Type=String,Description="Variant type">',
        '##INFO=<ID=GENEINFO,Number=1,Type=String,Description="Gene(s) for the variant '
        'reported as gene symbol:gene id">',
        '##INFO=<ID=MC,Number=.,Type=String,Description="comma separated list of molecular '
        'consequence in the form of Sequence Ontology ID|molecular_consequence">',
        '##INFO=<ID=ORIGIN,Number=.,Type=String,Description="Allele origin (1 germline)">',
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO",
    ]
    genes = {spec.symbol: spec for spec in _GENES}
    designs = {d.name: d for d in _DESIGNS}
    order = {AUTOSOME: 0, CHR_X: 1}
    rows: list[tuple[int, int, str, str]] = []
    for item in designed:
        design = designs[item.name]
        clnsig = design.clnsig if version == 1 else design.clnsig_v2
        revstat = design.clnrevstat if version == 1 else design.clnrevstat_v2
        if clnsig is None or item.clinvar_id is None:
            continue
        kind = (
            "single_nucleotide_variant"
            if len(item.ref) == len(item.alt)
            else "Deletion"
            if len(item.ref) > len(item.alt)
            else "Insertion"
        )
        info = ";".join(
            [
                f"ALLELEID={int(item.clinvar_id) + 100_000}",
                f"CLNDN={design.clndn or 'not_provided'}",
                f"CLNHGVS={_clnhgvs(item)}",
                f"CLNREVSTAT={revstat}",
                f"CLNSIG={clnsig}",
                f"CLNVC={kind}",
                f"GENEINFO={item.gene}:{genes[item.gene].ncbi_gene_id}",
                f"MC={_SO_MC[item.consequence]}",
                "ORIGIN=1",
            ]
        )
        rows.append(
            (
                order[item.contig],
                item.pos,
                item.alt,
                f"{item.contig}\t{item.pos}\t{item.clinvar_id}\t{item.ref}\t{item.alt}\t.\t.\t"
                f"{info}",
            )
        )
    rows.sort()
    plain.write_text("\n".join(header + [r[3] for r in rows]) + "\n", encoding="ascii")
    return _vcf_index(plain)


def _panels(models: Mapping[str, GeneModel]) -> tuple[dict[str, Any], dict[str, Any]]:
    def entry(row: tuple[str, str, str, str, str, str]) -> dict[str, Any]:
        symbol, level, moi, mop, penetrance, phenotype = row
        spec = next(s for s in _GENES if s.symbol == symbol)
        rating = {"3": "Green", "2": "Amber", "1": "Red"}[level]
        return {
            "gene_data": {
                "hgnc_id": spec.hgnc_id,
                "gene_symbol": symbol,
                "gene_name": spec.description,
                "hgnc_symbol": symbol,
                "biotype": "protein_coding",
                "ensembl_genes": {"GRCh38": {"helgenom-sim": {"ensembl_id": models[
                    symbol].gene_id, "location": f"{models[symbol].contig}:"
                    f"{models[symbol].start}-{models[symbol].end}"}}},
            },
            "entity_type": "gene",
            "entity_name": symbol,
            "confidence_level": level,
            "penetrance": penetrance,
            "mode_of_pathogenicity": mop,
            "mode_of_inheritance": moi,
            "phenotypes": [phenotype],
            "evidence": [f"Expert Review {rating}"],
            "publications": [],
            "tags": [],
        }  # fmt: skip

    base: dict[str, Any] = {
        "id": 9901,
        "hash_id": None,
        "name": "Paediatric epilepsy and inborn errors of metabolism (helgenom synthetic)",
        "disease_group": "Neurology and neurodevelopmental disorders",
        "disease_sub_group": "Epilepsy",
        "status": "public",
        "relevant_disorders": ["Epileptic encephalopathy", "R-SIM-1"],
        "types": [{"name": "Rare Disease 100K", "slug": "rare-disease-100k"}],
    }
    v1 = {**base, "version": "2.3", "version_created": "2025-01-15T10:00:00Z"}
    v1["genes"] = [entry(row) for row in _PANEL_V1]
    changed = {row[0]: row for row in _PANEL_V2_CHANGES}
    v2 = {**base, "version": "2.4", "version_created": "2025-06-02T10:00:00Z"}
    v2["genes"] = [entry(changed.get(row[0], row)) for row in _PANEL_V1] + [
        entry(row) for row in _PANEL_V2_CHANGES if row[0] not in {r[0] for r in _PANEL_V1}
    ]
    return v1, v2


# --- fast text: zero-padded byte matrices --------------------------------------------------


def _digit_table() -> npt.NDArray[np.uint8]:
    """Rows 0..99,999: the decimal digits right-aligned in 5 bytes, leading positions NUL;
    rows 100,000..199,999: the same zero-padded (``00042``); the last row all NUL."""
    x = np.arange(100_000)[:, None]
    powers = 10 ** np.arange(4, -1, -1)
    digits = (x // powers) % 10 + ord("0")
    used = x >= powers
    used[:, -1] = True
    plain = np.where(used, digits, 0)
    return np.concatenate((plain, digits, np.zeros((1, 5), dtype=np.int64))).astype(np.uint8)


_DIGITS = _digit_table()
"""Decimal digits (see :func:`_digit_table`)."""
_PADDED = 100_000
"""Offset of the zero-padded rows of :data:`_DIGITS`."""
_NUL = 200_000
"""Row of :data:`_DIGITS` that is all NUL."""


def _text_table(texts: Sequence[bytes]) -> npt.NDArray[np.uint8]:
    """The texts as rows of a NUL-padded byte matrix."""
    width = max(len(t) for t in texts)
    table = np.zeros((len(texts), width), dtype=np.uint8)
    for i, text in enumerate(texts):
        table[i, : len(text)] = np.frombuffer(text, dtype=np.uint8)
    return table


class _Line:
    """Fields of a block of text lines as NUL-padded byte matrices; :meth:`text` joins them
    and deletes the NUL bytes (every real byte is printable ASCII)."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.mats: list[npt.NDArray[np.uint8]] = []

    def const(self, text: bytes) -> None:
        """The same bytes on every line."""
        arr = np.frombuffer(text, dtype=np.uint8)
        self.mats.append(np.broadcast_to(arr, (self.n, arr.size)))

    def table(self, table: npt.NDArray[np.uint8], rows: npt.NDArray[np.int64]) -> None:
        """Row ``rows[i]`` of ``table`` on line ``i``."""
        self.mats.append(table[rows])

    def number(self, values: npt.NDArray[np.int64]) -> None:
        """Positive integers below 10**10."""
        high, low = np.divmod(values, 100_000)
        has_high = high > 0
        self.mats.append(_DIGITS[np.where(has_high, high, _NUL)])
        self.mats.append(_DIGITS[np.where(has_high, low + _PADDED, low)])

    def bytes_field(self, mat: npt.NDArray[np.uint8]) -> None:
        """NUL-padded strings."""
        self.mats.append(mat)

    def text(self) -> bytes:
        """The lines."""
        return np.concatenate(self.mats, axis=1).tobytes().translate(None, b"\0")


class _Bgzf:
    """A BGZF writer compressing 64 KiB blocks in a thread pool while the caller goes on
    (zlib releases the GIL); blocks are written in order, so the output is deterministic.

    Every block but the last holds exactly :attr:`BLOCK` bytes of text, so the virtual
    offset of a text offset follows from the compressed block sizes (see
    :class:`_TabixIndex`)."""

    BLOCK = 0xFF00
    EOF = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")
    IN_FLIGHT = 256

    def __init__(self, path: Path, pool: ThreadPoolExecutor, level: int) -> None:
        self.path = path
        self.handle: BinaryIO = path.open("wb")
        self.pool = pool
        self.level = level
        self.pending = b""
        self.offset = 0
        """Text bytes written so far."""
        self.sizes: list[int] = []
        """Compressed size of every block written."""
        self.queue: deque[Future[bytes]] = deque()

    def write(self, data: bytes) -> None:
        """Append text."""
        self.offset += len(data)
        data = self.pending + data if self.pending else data
        full = len(data) - len(data) % self.BLOCK
        for start in range(0, full, self.BLOCK):
            self.queue.append(
                self.pool.submit(_bgzf_block, data[start : start + self.BLOCK], self.level)
            )
        self.pending = data[full:]
        self._drain(len(self.queue) > self.IN_FLIGHT)

    def _drain(self, wait: bool) -> None:
        while self.queue and (wait or self.queue[0].done()):
            block = self.queue.popleft().result()
            self.handle.write(block)
            self.sizes.append(len(block))
            wait = wait and len(self.queue) > self.IN_FLIGHT // 2

    def close(self) -> None:
        """Write the last block and the EOF marker."""
        if self.pending:
            self.queue.append(self.pool.submit(_bgzf_block, self.pending, self.level))
            self.pending = b""
        while self.queue:
            self._drain(True)
        self.handle.write(self.EOF)
        self.handle.close()

    def abort(self) -> None:
        """Drop the unwritten blocks, close and remove the file."""
        for future in self.queue:
            future.cancel()
        self.queue.clear()
        self.handle.close()
        self.path.unlink(missing_ok=True)


def _bgzf_block(data: bytes, level: int) -> bytes:
    """One BGZF block (gzip member with the ``BC`` extra field) holding ``data``."""
    deflater = zlib.compressobj(level, zlib.DEFLATED, -15)
    body = deflater.compress(data) + deflater.flush()
    if len(body) > 65_536 - 26:
        deflater = zlib.compressobj(0, zlib.DEFLATED, -15)
        body = deflater.compress(data) + deflater.flush()
    head = struct.pack("<BBBBIBBHBBHH", 31, 139, 8, 4, 0, 0, 255, 6, 66, 67, 2, len(body) + 25)
    return head + body + struct.pack("<II", zlib.crc32(data), len(data))


def _reg2bin(beg: npt.NDArray[np.int64], end: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """The UCSC/htslib bin (min_shift 14, 5 levels) of 0-based half-open intervals."""
    last = end - 1
    out = np.zeros(beg.size, dtype=np.int64)
    done = np.zeros(beg.size, dtype=bool)
    for shift, offset in ((14, 4681), (17, 585), (20, 73), (23, 9), (26, 1)):
        same = ~done & ((beg >> shift) == (last >> shift))
        out[same] = offset + (beg[same] >> shift)
        done |= same
    return out


class _TabixIndex:
    """A tabix (``.tbi``) index for a VCF written by :class:`_Bgzf`, built from the lines'
    text offsets while they are written (no second pass over the file).

    Bins hold one chunk per run of consecutive records in the same bin; the linear index
    holds, per 16 kb window, the first record overlapping it (empty windows take the
    previous window's offset, or the first record's before any record); the pseudo-bin
    37450 holds the contig's offsets and record count, as htslib writes it."""

    META_BIN = 37450

    def __init__(self) -> None:
        self.names: list[str] = []
        self.runs: dict[str, list[npt.NDArray[np.int64]]] = {}
        self.windows: dict[str, list[tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]]] = {}
        self.counts: dict[str, int] = {}
        self.last_end: dict[str, int] = {}

    def add(
        self,
        contig: str,
        beg: npt.NDArray[np.int64],
        end: npt.NDArray[np.int64],
        start_u: npt.NDArray[np.int64],
        end_u: npt.NDArray[np.int64],
    ) -> None:
        """Add records (0-based ``beg``, exclusive ``end``) with their text offsets."""
        if beg.size == 0:
            return
        if contig not in self.runs:
            self.names.append(contig)
            self.runs[contig] = []
            self.windows[contig] = []
            self.counts[contig] = 0
            self.last_end[contig] = 0
        bins = _reg2bin(beg, end)
        first = np.flatnonzero(np.concatenate(([True], bins[1:] != bins[:-1])))
        last = np.concatenate((first[1:], [bins.size])) - 1
        self.runs[contig].append(np.stack((bins[first], start_u[first], end_u[last]), axis=1))
        # every 16 kb window a record overlaps, in record order: the first occurrence of a
        # window is the earliest record overlapping it
        first_w, last_w = beg >> 14, (end - 1) >> 14
        spans = last_w - first_w + 1
        owner = np.repeat(np.arange(beg.size), spans)
        step = np.arange(owner.size) - np.repeat(np.cumsum(spans) - spans, spans)
        window, index = np.unique(first_w[owner] + step, return_index=True)
        self.windows[contig].append((window, start_u[owner[index]]))
        self.counts[contig] += int(beg.size)
        self.last_end[contig] = max(self.last_end[contig], int(end.max()))

    def write(self, path: Path, sizes: Sequence[int], level: int) -> None:
        """Write the index for a file whose blocks have compressed ``sizes``."""
        cum = np.concatenate(([0], np.cumsum(np.array(sizes, dtype=np.int64))))
        block = _Bgzf.BLOCK

        def voff(u: npt.NDArray[np.int64]) -> npt.NDArray[np.uint64]:
            out: npt.NDArray[np.uint64] = (cum[u // block].astype(np.uint64) << np.uint64(16)) | (
                u % block
            ).astype(np.uint64)
            return out

        names = b"".join(name.encode("ascii") + b"\0" for name in self.names)
        parts = [b"TBI\1", struct.pack("<8i", len(self.names), 2, 1, 2, 0, ord("#"), 0,
                                          len(names)), names]  # fmt: skip
        for name in self.names:
            runs = np.concatenate(self.runs[name])
            v_beg, v_end = voff(runs[:, 1]), voff(runs[:, 2])
            chunks: dict[int, list[tuple[int, int]]] = {}
            for bin_id, a, b in zip(runs[:, 0].tolist(), v_beg.tolist(), v_end.tolist(),
                                    strict=True):  # fmt: skip
                found = chunks.setdefault(bin_id, [])
                if found and found[-1][1] == a:
                    found[-1] = (found[-1][0], b)
                else:
                    found.append((a, b))
            chunks[self.META_BIN] = [
                (int(v_beg.min()), int(v_end.max())),
                (self.counts[name], 0),
            ]
            parts.append(struct.pack("<i", len(chunks)))
            for bin_id in sorted(chunks):
                pairs = chunks[bin_id]
                parts.append(struct.pack("<Ii", bin_id, len(pairs)))
                parts.append(np.array(pairs, dtype="<u8").tobytes())
            n_intv = ((self.last_end[name] - 1) >> 14) + 1
            linear = np.full(n_intv, np.iinfo(np.int64).max, dtype=np.int64)
            for window, start in self.windows[name]:
                np.minimum.at(linear, window, start)
            # an empty window takes the previous window's offset (the first record's before)
            seen = np.where(linear == np.iinfo(np.int64).max, -1, np.arange(n_intv))
            previous = np.maximum.accumulate(seen)
            first_record = int(runs[:, 1].min())
            source = np.where(previous >= 0, linear[np.maximum(previous, 0)], first_record)
            offsets = voff(source)
            parts.append(struct.pack("<i", n_intv))
            parts.append(offsets.astype("<u8").tobytes())
        parts.append(struct.pack("<Q", 0))
        data = b"".join(parts)
        with path.open("wb") as out:
            for i in range(0, len(data), block):
                out.write(_bgzf_block(data[i : i + block], level))
            out.write(_Bgzf.EOF)


# --- the trio --------------------------------------------------------------------------------


_WIDTH = 5
"""Longest REF/ALT of a site (4 bp indels plus the anchor base)."""
_Array = npt.NDArray[np.int64]


@dataclass
class _Sites:
    """The family's variant sites on one contig, sorted by position."""

    contig: str
    pos: _Array
    end: _Array
    ref: npt.NDArray[np.uint8]  # (n, _WIDTH) ASCII, NUL padded
    alt: npt.NDArray[np.uint8]
    counts: npt.NDArray[np.int8]  # (n, 3): child, mother, father alt-allele counts
    af: npt.NDArray[np.float32]  # population AF, nan when novel
    kind: npt.NDArray[np.int8]  # 0 background, 1 population site, 2 designed


def _read_contig(fasta: Path, contig: str) -> npt.NDArray[np.uint8]:
    """The bases of one contig (upper case ASCII), read through its ``.fai`` entry."""
    for line in Path(f"{fasta}.fai").read_text(encoding="ascii").splitlines():
        name, length_text, offset_text, bases_text, width_text = line.split("\t")[:5]
        if name == contig:
            break
    else:
        raise InvalidInputError(f"contig {contig} is not in {fasta}.fai")
    length, offset = int(length_text), int(offset_text)
    per_line, width = int(bases_text), int(width_text)
    full = length // per_line
    rest = length - full * per_line
    raw = np.memmap(fasta, dtype=np.uint8, mode="r", offset=offset,
                    shape=(full * width + rest,))  # fmt: skip
    seq = np.empty(length, dtype=np.uint8)
    seq[: full * per_line].reshape(full, per_line)[:] = raw[: full * width].reshape(full, width)[
        :, :per_line
    ]
    seq[full * per_line :] = raw[full * width :]
    del raw
    lower = seq >= ord("a")
    seq[lower] -= 32
    return seq


def _family_haplotypes(
    rng: np.random.Generator, target: int, x_linked: bool
) -> npt.NDArray[np.uint8]:
    """Parental haplotypes (mother 0/1, father 2/3) of sites where a parent carries an ALT,
    drawn until the mother carries ``target`` of them."""
    chunks: list[npt.NDArray[np.uint8]] = []
    carried = 0
    size = max(1000, min(2_000_000, 5 * target))
    while carried < target:
        af = _draw_af(rng, size)
        haps = (rng.random((size, 4)) < af[:, None]).astype(np.uint8)
        del af
        if x_linked:
            haps[:, 3] = 0
        haps = haps[haps.any(axis=1)]
        mother = (haps[:, 0] | haps[:, 1]).astype(bool)
        room = target - carried
        if int(mother.sum()) > room:
            last = int(np.flatnonzero(mother)[room - 1])
            haps, mother = haps[: last + 1], mother[: last + 1]
        carried += int(mother.sum())
        chunks.append(haps)
    if not chunks:
        return np.zeros((0, 4), dtype=np.uint8)
    return np.concatenate(chunks)


def _crossovers(rng: np.random.Generator, length: int) -> tuple[int, _Array]:
    """A meiosis: the haplotype transmitted at position 1 and the crossover positions."""
    n_xo = int(rng.poisson(CROSSOVERS_PER_100MB * length / 1e8))
    return int(rng.integers(0, 2)), np.sort(rng.integers(1, length + 1, n_xo))


def _child_counts(
    haps: npt.NDArray[np.uint8],
    pos: _Array,
    meioses: tuple[tuple[int, _Array], tuple[int, _Array]],
    x_linked: bool,
    male_child: bool,
) -> npt.NDArray[np.int8]:
    """Alt-allele counts (child, mother, father) from parental haplotypes and meioses."""
    n = pos.size
    rows = np.arange(n)
    (m_first, m_xo), (f_first, f_xo) = meioses
    t_m = (m_first + np.searchsorted(m_xo, pos, side="right")) % 2
    t_f = (f_first + np.searchsorted(f_xo, pos, side="right")) % 2
    counts = np.empty((n, 3), dtype=np.int8)
    from_mother = haps[rows, t_m]
    counts[:, 1] = haps[:, 0] + haps[:, 1]
    if x_linked:
        counts[:, 2] = haps[:, 2]
        counts[:, 0] = from_mother if male_child else from_mother + haps[:, 2]
    else:
        counts[:, 2] = haps[:, 2] + haps[:, 3]
        counts[:, 0] = from_mother + haps[rows, 2 + t_f]
    return counts


def _background_sites(
    rng: np.random.Generator,
    contig: str,
    seq: npt.NDArray[np.uint8],
    span: tuple[int, int],
    target: int,
    forbidden: tuple[_Array, _Array],
) -> tuple[_Array, _Array, npt.NDArray[np.uint8], npt.NDArray[np.uint8], npt.NDArray[np.uint8]]:
    """Positions, ends, REF, ALT and parental haplotypes of the novel background sites."""
    haps = _family_haplotypes(rng, target, contig == CHR_X)
    n = int(haps.shape[0])
    lo, hi = span
    draw = rng.random(n)
    is_del: npt.NDArray[np.bool_] = (draw >= 0.90) & (draw < 0.95)
    is_ins: npt.NDArray[np.bool_] = draw >= 0.95
    del draw
    indel_len: npt.NDArray[np.int8] = rng.integers(1, 5, n, dtype=np.int8)
    ref_len = np.where(is_del, indel_len + 1, 1).astype(np.int8)
    mean_gap = (hi - lo - 10) / max(n, 1) - float(ref_len.mean() if n else 1) - 1.0
    if n and mean_gap < 1.5:
        raise InvalidInputError(
            f"{n} background sites do not fit on {contig} ({hi - lo + 1} bases with sequence); "
            "lower background or raise autosome_length (about 30 bases per variant)"
        )
    step = rng.geometric(1.0 / max(mean_gap * 0.97, 1.0), n).astype(np.int64)
    step += ref_len
    end: _Array = lo + np.cumsum(step)
    del step
    pos: _Array = end - ref_len + 1
    keep = (end <= hi - 5) & ~_hits(pos, end, *forbidden)
    pos, haps = pos[keep], haps[keep]
    is_del, is_ins, indel_len = is_del[keep], is_ins[keep], indel_len[keep]
    del keep, end, ref_len
    n = pos.size
    # a deletion is left-aligned only if its anchor differs from its last deleted base;
    # otherwise it becomes an SNV
    anchor = seq[pos - 1]
    last = seq[np.minimum(pos - 1 + indel_len, seq.size - 1)]
    is_del &= anchor != last
    del last
    ref_len = np.where(is_del, indel_len + 1, 1)
    end = pos + ref_len - 1
    ref = np.zeros((n, _WIDTH), dtype=np.uint8)
    for k in range(_WIDTH):
        ref[:, k] = np.where(k < ref_len, seq[np.minimum(pos - 1 + k, seq.size - 1)], 0)
    del ref_len
    letters = np.frombuffer(_BASES, dtype=np.uint8)
    codes = _ASCII_TO_CODE[anchor]
    alt = np.zeros((n, _WIDTH), dtype=np.uint8)
    snv = ~is_del & ~is_ins
    alt[:, 0] = np.where(snv, letters[_snv_alts(rng, codes)], anchor)
    ins_len = np.where(is_ins, indel_len, 0)
    inserted = rng.integers(0, 4, (n, _WIDTH - 1), dtype=np.uint8)
    rows = np.arange(n)
    last_idx = np.maximum(ins_len - 1, 0)
    last_code = inserted[rows, last_idx]
    # the last inserted base must differ from the anchor (left-aligned)
    inserted[rows, last_idx] = np.where(last_code == codes, (last_code + 1) % 4, last_code)
    for k in range(1, _WIDTH):
        alt[:, k] = np.where(k <= ins_len, letters[inserted[:, k - 1]], 0)
    return pos, end, ref, alt, haps


def _strings_matrix(values: Sequence[str]) -> npt.NDArray[np.uint8]:
    mat = np.zeros((len(values), _WIDTH), dtype=np.uint8)
    for i, text in enumerate(values):
        raw = text.encode("ascii")
        if len(raw) > _WIDTH:
            raise AssertionError(f"allele {text} is longer than {_WIDTH} bases")
        mat[i, : len(raw)] = np.frombuffer(raw, dtype=np.uint8)
    return mat


def _read_population(
    path: Path, skip: Iterable[str]
) -> dict[str, list[tuple[int, str, str, float]]]:
    skipped = set(skip)
    out: dict[str, list[tuple[int, str, str, float]]] = {AUTOSOME: [], CHR_X: []}
    with pysam.VariantFile(str(path)) as vcf:
        for rec in vcf:
            alt = rec.alts[0] if rec.alts else ""
            if f"{rec.chrom}-{rec.pos}-{rec.ref}-{alt}" in skipped:
                continue
            value = rec.info.get("AF")
            af = float(value[0] if isinstance(value, tuple) else value)
            out.setdefault(rec.chrom, []).append((rec.pos, rec.ref or "", alt, af))
    return out


def _pattern_counts(item: DesignedVariant, broken: bool, male: bool) -> tuple[int, int, int] | None:
    """Alt-allele counts (child, mother, father) of a planted design, or None if not planted."""
    name = item.name
    if item.pattern == "de_novo":
        return (1, 0, 1) if broken else (1, 0, 0)
    if name == "comphet_cftr_missense":
        return (1, 1, 0)
    if name == "comphet_cftr_frameshift":
        return (1, 1, 0) if broken else (1, 0, 1)
    if item.pattern == "homozygous":
        return (1, 1, 0) if broken else (2, 1, 1)
    if item.pattern == "x_linked":
        if not male:
            return None
        return (0, 1, 0) if broken else (1, 1, 0)
    if item.pattern == "secondary":
        return (1, 1, 0)
    if name == "common_cftr_synonymous":
        return (2, 1, 2)
    if name == "common_pah_missense":
        return (1, 1, 0)
    if name == "common_scn1a_intron":
        return (1, 0, 1)
    return None


def _gt_text(count: int, ploidy: int) -> str:
    if ploidy == 1:
        return str(count)
    return {0: "0/0", 1: "0/1", 2: "1/1"}[count]


def _special_intervals(
    rng: np.random.Generator,
    span: tuple[int, int],
    genes: Sequence[GeneModel],
    count: int,
    size: tuple[int, int],
    avoid: tuple[_Array, _Array],
) -> tuple[_Array, _Array]:
    """Non-overlapping random intervals in ``span`` away from genes (+-2 kb) and ``avoid``."""
    lo, hi = span
    starts = rng.integers(lo + 100, hi - size[1] - 100, 3 * count).astype(np.int64)
    ends = starts + rng.integers(size[0], size[1], 3 * count)
    g_s = np.array([g.start - 2000 for g in genes], dtype=np.int64)
    g_e = np.array([g.end + 2000 for g in genes], dtype=np.int64)
    near = _hits(starts, ends, *_merge_intervals(g_s, g_e))
    near |= _hits(starts, ends, avoid[0] - 1, avoid[1] + 1)
    picked_s: list[int] = []
    picked_e: list[int] = []
    for s, e in zip(starts[~near].tolist(), ends[~near].tolist(), strict=True):
        if len(picked_s) == count:
            break
        if all(e < ps - 1 or s > pe + 1 for ps, pe in zip(picked_s, picked_e, strict=True)):
            picked_s.append(s)
            picked_e.append(e)
    order = np.argsort(picked_s)
    return (
        np.array(picked_s, dtype=np.int64)[order],
        np.array(picked_e, dtype=np.int64)[order],
    )


TRUTH_SCHEMA = pa.schema(
    [
        pa.field("contig", pa.string(), nullable=False),
        pa.field("pos", pa.int64(), nullable=False),
        pa.field("ref", pa.string(), nullable=False),
        pa.field("alt", pa.string(), nullable=False),
        pa.field("af", pa.float32()),
        pa.field("population", pa.bool_(), nullable=False),
        pa.field("child", pa.int8(), nullable=False),
        pa.field("mother", pa.int8(), nullable=False),
        pa.field("father", pa.int8(), nullable=False),
    ]
)
"""Columns of ``background_truth.parquet``: every background site the family carries
(novel or from ``population.vcf.gz``), ``af`` null when novel, alt-allele counts of child,
mother and father (-1 where the person has a coverage gap)."""


def simulate_trio(
    genome: GeneGenome,
    out_dir: Path,
    *,
    seed: int = 1,
    background: int = 2000,
    child_sex: str = "male",
    broken: frozenset[str] = frozenset(),
    sample_ids: tuple[str, str, str] = ("child", "mother", "father"),
    nonref_alt: bool = True,
    compress_level: int = 1,
) -> TrioTruth:
    """Write a trio's gVCFs with background and planted variants, and its pedigree.

    Planted patterns (child, mother, father; hemizygous calls on chrX are written ``0``/``1``):

    * ``de_novo`` (``de_novo_scn1a`` stop gained, ``de_novo_kcnq2_missense``): ``0/1``,
      ``0/0``, ``0/0``; broken: the father is ``0/1`` too (inherited).
    * ``compound_het`` (CFTR ``comphet_cftr_missense`` from the mother and
      ``comphet_cftr_frameshift`` from the father); broken: the mother carries both (in cis)
      and the father neither.
    * ``homozygous`` (``hom_pah_stop``): ``1/1``, ``0/1``, ``0/1``; broken: the father is
      ``0/0`` and the child ``0/1``.
    * ``x_linked`` (``x_linked_otc_missense``, planted only for a son): ``1``, ``0/1``, ``0``;
      broken: the son does not carry it (``0``), the mother still does.
    * ``secondary`` (``secondary_brca2_frameshift``, ClinVar pathogenic): ``0/1`` from the
      mother; never broken.
    * ``common`` (AF > 5 %, benign in ClinVar): CFTR synonymous ``1/1``/``0/1``/``1/1``,
      PAH missense ``0/1``/``0/1``/``0/0``, SCN1A intron ``0/1``/``0/0``/``0/1``.

    ``0/0`` (``0``) means a covering reference block with GQ >= 20.

    Parameters
    ----------
    genome
        From :func:`simulate_gene_genome`.
    out_dir
        Output folder (created).
    seed
        Seed of every random choice (same genome, seed and arguments: same bytes).
    background
        Background variant records per parent (the child gets about as many); millions are
        fine with about 30 bases of ``autosome_length`` per variant.
    child_sex
        ``male`` or ``female``.
    broken
        Patterns to break (a subset of :data:`PATTERNS`).
    sample_ids
        Names of child, mother and father (VCF sample columns, PED IDs, file names).
    nonref_alt
        Write variant records with ``ALT`` ``X,<NON_REF>`` and a third AD value, as GATK
        does (False: plain ``ALT``).
    compress_level
        zlib level of the BGZF blocks (1, the default, is about four times faster than 6,
        bgzip's, for 25 % larger files).

    Returns
    -------
    TrioTruth
        Paths, planted variants, gaps and low-GQ regions.

    Raises
    ------
    InvalidInputError
        If an argument is out of range or the background does not fit the genome.
    """
    if child_sex not in ("male", "female"):
        raise InvalidInputError("child_sex must be 'male' or 'female'")
    unknown = set(broken) - PATTERNS
    if unknown:
        raise InvalidInputError(
            f"unknown patterns to break: {sorted(unknown)}; use {sorted(PATTERNS)}"
        )
    if background < 0:
        raise InvalidInputError("background must be >= 0")
    if len(set(sample_ids)) != 3 or not all(
        s and s != "0" and not any(c.isspace() or c in "/\\" for c in s) for s in sample_ids
    ):
        raise InvalidInputError("sample_ids must be three distinct names without spaces or '/'")
    if not 0 <= compress_level <= 9:
        raise InvalidInputError("compress_level must be between 0 and 9")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    male = child_sex == "male"

    planted: list[PlantedVariant] = []
    designed_counts: dict[str, tuple[int, int, int]] = {}
    for item in genome.designed:
        is_broken = item.pattern in broken
        counts = _pattern_counts(item, is_broken, male)
        if counts is None:
            continue
        ploidy = _ploidies(item.contig, male)
        gts = tuple(_gt_text(c, p) for c, p in zip(counts, ploidy, strict=True))
        planted.append(PlantedVariant(item, (gts[0], gts[1], gts[2]), is_broken))
        designed_counts[item.name] = counts

    population = _read_population(genome.population, {d.variant_id for d in genome.designed})
    forbidden = _forbidden(genome.genes, genome.designed)
    total_span = sum(hi - lo + 1 for lo, hi in genome.sequenced.values())
    genes = list(genome.genes.values())
    paths = {name: out / f"{name}.g.vcf.gz" for name in sample_ids}
    gaps: dict[str, list[tuple[str, int, int]]] = {name: [] for name in sample_ids}
    low: dict[str, list[tuple[str, int, int]]] = {name: [] for name in sample_ids}
    records = dict.fromkeys(sample_ids, 0)
    truth_path = out / "background_truth.parquet"
    with (
        ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool,
        pq.ParquetWriter(truth_path, TRUTH_SCHEMA) as truth,
    ):
        writers = {name: _Bgzf(paths[name], pool, compress_level) for name in sample_ids}
        indexes = {name: _TabixIndex() for name in sample_ids}
        try:
            for name, writer in writers.items():
                writer.write(_header(genome.contigs, name, nonref_alt).encode("ascii"))
            for number, (contig, length) in enumerate(genome.contigs.items()):
                seq = _read_contig(genome.fasta, contig)
                span = genome.sequenced[contig]
                sites = _contig_sites(
                    _rng(seed, 10, number), contig, seq, span,
                    round(background * (span[1] - span[0] + 1) / total_span), length,
                    forbidden[contig], population.get(contig, []), genome.designed,
                    designed_counts, male,
                )  # fmt: skip
                contig_genes = [g for g in genes if g.contig == contig]
                in_gap = np.zeros((sites.pos.size, 3), dtype=bool)
                for k, name in enumerate(sample_ids):
                    rng = _rng(seed, 20 + k, number)
                    gap_iv, low_iv = _coverage(rng, span, length, contig_genes)
                    gaps[name] += [(contig, a, b) for a, b in zip(*map(list, gap_iv), strict=True)]
                    low[name] += [(contig, a, b) for a, b in zip(*map(list, low_iv), strict=True)]
                    in_gap[:, k] = _hits(sites.pos, sites.end, *gap_iv)
                    records[name] += _write_person(
                        writers[name], indexes[name], rng, seq, length, sites, k,
                        _ploidies(contig, male)[k], gap_iv, low_iv, nonref_alt,
                    )  # fmt: skip
                truth.write_table(_truth_table(sites, in_gap))
                del sites, seq, in_gap
        except BaseException:
            for writer in writers.values():
                writer.abort()
            raise
        for name, writer in writers.items():
            writer.close()
            indexes[name].write(Path(f"{paths[name]}.tbi"), writer.sizes, compress_level)

    pedigree = out / "trio.ped"
    child, mother, father = sample_ids
    ped = Pedigree(
        (
            Individual("FAM1", child, father, mother,
                       Sex.MALE if male else Sex.FEMALE, Phenotype.AFFECTED),
            Individual("FAM1", mother, None, None, Sex.FEMALE, Phenotype.UNAFFECTED),
            Individual("FAM1", father, None, None, Sex.MALE, Phenotype.UNAFFECTED),
        )
    )  # fmt: skip
    pedigree.write_text(ped.to_text(), encoding="utf-8")
    return TrioTruth(
        folder=out,
        reference_fasta=genome.fasta,
        contigs=dict(genome.contigs),
        sample_ids=sample_ids,
        child_sex=child_sex,
        pedigree=pedigree,
        gvcfs=paths,
        planted=tuple(planted),
        broken=frozenset(broken),
        background_truth=truth_path,
        variant_records=records,
        gaps={k: tuple(v) for k, v in gaps.items()},
        low_gq={k: tuple(v) for k, v in low.items()},
    )


def _coverage(
    rng: np.random.Generator, span: tuple[int, int], length: int, genes: Sequence[GeneModel]
) -> tuple[tuple[_Array, _Array], tuple[_Array, _Array]]:
    """One person's coverage gaps (with the contig's ``N`` ends) and low-GQ regions."""
    extent = span[1] - span[0]
    none = (np.zeros(0, np.int64), np.zeros(0, np.int64))
    g_s, g_e = _special_intervals(rng, span, genes, 2 + extent // 5_000_000, (300, 3000), none)
    low = _special_intervals(rng, span, genes, 3 + extent // 2_000_000, (100, 1500), (g_s, g_e))
    outside = [(a, b) for a, b in ((1, span[0] - 1), (span[1] + 1, length)) if a <= b]
    gap_s = np.concatenate((np.array([a for a, _ in outside], dtype=np.int64), g_s))
    gap_e = np.concatenate((np.array([b for _, b in outside], dtype=np.int64), g_e))
    return _merge_intervals(gap_s, gap_e), low


def _ploidies(contig: str, male_child: bool) -> tuple[int, int, int]:
    if contig == CHR_X:
        return (1 if male_child else 2, 2, 1)
    return (2, 2, 2)


def _header(contigs: Mapping[str, int], sample: str, nonref_alt: bool) -> str:
    lines = [
        "##fileformat=VCFv4.2",
        '##ALT=<ID=NON_REF,Description="Represents any possible alternative allele not '
        'already represented at this location by REF and ALT">',
        '##FILTER=<ID=PASS,Description="All filters passed">',
        '##FORMAT=<ID=AD,Number=R,Type=Integer,Description="Allelic depths for the ref and alt '
        'alleles in the order listed">',
        '##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Approximate read depth">',
        '##FORMAT=<ID=GQ,Number=1,Type=Integer,Description="Genotype Quality">',
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
        '##FORMAT=<ID=MIN_DP,Number=1,Type=Integer,Description="Minimum DP observed within the '
        'GVCF block">',
        '##INFO=<ID=END,Number=1,Type=Integer,Description="Stop position of the interval">',
        f"##source=helgenom.simtrio (nonref_alt={str(nonref_alt).lower()})",
        *(f"##contig=<ID={name},length={length}>" for name, length in contigs.items()),
        "##reference=genome.fa",
        f"#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t{sample}",
    ]
    return "\n".join(lines) + "\n"


def _contig_sites(
    rng: np.random.Generator,
    contig: str,
    seq: npt.NDArray[np.uint8],
    span: tuple[int, int],
    target: int,
    length: int,
    forbidden: tuple[_Array, _Array],
    population: Sequence[tuple[int, str, str, float]],
    designed: Sequence[DesignedVariant],
    designed_counts: Mapping[str, tuple[int, int, int]],
    male_child: bool,
) -> _Sites:
    """Background, population and designed sites of one contig with the family's counts."""
    x_linked = contig == CHR_X
    meioses = (_crossovers(rng, length), _crossovers(rng, length))
    pop_pos = np.array([p[0] for p in population], dtype=np.int64)
    pop_af = np.array([p[3] for p in population], dtype=np.float64)
    pop_haps = (rng.random((pop_pos.size, 4)) < pop_af[:, None]).astype(np.uint8)
    if x_linked:
        pop_haps[:, 3] = 0
    pop_counts = _child_counts(pop_haps, pop_pos, meioses, x_linked, male_child)
    # the background keeps 3 bases away from every population site
    f_s, f_e = _merge_intervals(
        np.concatenate((forbidden[0], pop_pos - 3)), np.concatenate((forbidden[1], pop_pos + 3))
    )
    pos, end, ref, alt, haps = _background_sites(rng, contig, seq, span, target, (f_s, f_e))
    counts = _child_counts(haps, pos, meioses, x_linked, male_child)
    del haps
    # the few population sites the family carries and the planted designs are inserted
    carried = np.flatnonzero(pop_counts.any(axis=1))
    chosen = [d for d in designed if d.contig == contig and d.name in designed_counts]
    e_pos = np.concatenate((pop_pos[carried], [d.pos for d in chosen])).astype(np.int64)
    picked = [population[i] for i in carried.tolist()]
    e_ref = _strings_matrix([p[1] for p in picked] + [d.ref for d in chosen])
    e_alt = _strings_matrix([p[2] for p in picked] + [d.alt for d in chosen])
    e_counts = np.concatenate(
        (pop_counts[carried], np.array([designed_counts[d.name] for d in chosen],
                                       dtype=np.int8).reshape(-1, 3))
    ).astype(np.int8)  # fmt: skip
    e_af = np.concatenate(
        (pop_af[carried], [np.nan if d.af is None else d.af for d in chosen])
    ).astype(np.float32)
    e_kind = np.concatenate(
        (np.ones(carried.size, dtype=np.int8), np.full(len(chosen), 2, dtype=np.int8))
    )
    e_end = e_pos + (e_ref > 0).sum(axis=1) - 1
    order = np.argsort(e_pos, kind="stable")
    at = np.searchsorted(pos, e_pos[order])
    return _Sites(
        contig,
        np.insert(pos, at, e_pos[order]),
        np.insert(end, at, e_end[order]),
        np.insert(ref, at, e_ref[order], axis=0),
        np.insert(alt, at, e_alt[order], axis=0),
        np.insert(counts, at, e_counts[order], axis=0),
        np.insert(np.full(pos.size, np.nan, dtype=np.float32), at, e_af[order]),
        np.insert(np.zeros(pos.size, dtype=np.int8), at, e_kind[order]),
    )


def _truth_table(sites: _Sites, in_gap: npt.NDArray[np.bool_]) -> pa.Table:
    keep = sites.kind < 2
    counts = np.where(in_gap, -1, sites.counts)[keep].astype(np.int8)
    n = int(keep.sum())
    af = sites.af[keep]
    return pa.table(
        [
            pa.DictionaryArray.from_arrays(np.zeros(n, dtype=np.int8), [sites.contig]).cast(
                pa.string()
            ),
            pa.array(sites.pos[keep]),
            pa.array(sites.ref[keep].view(f"S{_WIDTH}").ravel()).cast(pa.string()),
            pa.array(sites.alt[keep].view(f"S{_WIDTH}").ravel()).cast(pa.string()),
            pa.array(af, mask=np.isnan(af)),
            pa.array(sites.kind[keep] == 1),
            pa.array(counts[:, 0]),
            pa.array(counts[:, 1]),
            pa.array(counts[:, 2]),
        ],
        schema=TRUTH_SCHEMA,
    )


_CHUNK = 200_000
"""Lines built at a time."""
_GT_COLON = _text_table((b"0/0:", b"0/1:", b"1/1:", b"0:", b"1:"))
"""Genotypes by code (``0/0``, ``0/1``, ``1/1``, ``0``, ``1``), with the colon after them."""
_COLON = _text_table([f"{v}:".encode() for v in range(1000)])
"""0..999 followed by a colon."""
_PLAIN = _text_table([f"{v}".encode() for v in range(1000)])
"""0..999."""
_BLOCK_TAIL = 1000
"""Row of the tail tables that ends a reference block's line."""
_TAIL_NONREF = _text_table([f",{v},0\n".encode() for v in range(1000)] + [b"\n"])
"""The end of a variant line (ALT read count, 0 for ``<NON_REF>``), or of a block's."""
_TAIL_PLAIN = _text_table([f",{v}\n".encode() for v in range(1000)] + [b"\n"])
"""The end of a variant line without ``<NON_REF>``, or of a block's."""


def _write_person(
    writer: _Bgzf,
    index: _TabixIndex,
    rng: np.random.Generator,
    seq: npt.NDArray[np.uint8],
    length: int,
    sites: _Sites,
    k: int,
    ploidy: int,
    gap_iv: tuple[_Array, _Array],
    low_iv: tuple[_Array, _Array],
    nonref_alt: bool,
) -> int:
    """Write one person's records and blocks of one contig; return the variant records."""
    contig = sites.contig
    var_idx = np.flatnonzero((sites.counts[:, k] > 0) & ~_hits(sites.pos, sites.end, *gap_iv))
    v_pos, v_end = sites.pos[var_idx], sites.end[var_idx]
    # reference blocks: everything outside records and gaps, cut at low-GQ borders and at
    # random points (about one per 3 kb)
    b_s, b_e = _complement(
        np.concatenate((v_pos, gap_iv[0])), np.concatenate((v_end, gap_iv[1])), length
    )
    cuts = np.unique(
        np.concatenate((low_iv[0], low_iv[1] + 1, rng.integers(1, length + 1, length // 3000 + 1)))
    )
    owner = np.maximum(np.searchsorted(b_s, cuts, side="right") - 1, 0)
    inside = (cuts > b_s[owner]) & (cuts <= b_e[owner])
    starts = np.sort(np.concatenate((b_s, cuts[inside])))
    block_of = np.searchsorted(b_s, starts, side="right") - 1
    ends = b_e[block_of]
    ends[:-1] = np.where(block_of[1:] == block_of[:-1], starts[1:] - 1, ends[:-1])
    del b_s, b_e, cuts, owner, inside, block_of
    # per-record values
    n_v, n_b = var_idx.size, starts.size
    v_low = _hits(v_pos, v_pos, *low_iv)
    v_gq = np.where(v_low, rng.integers(5, 20, n_v), rng.integers(25, 100, n_v))
    v_gq = np.where(sites.kind[var_idx] == 2, 99, v_gq).astype(np.int16)
    v_dp = np.clip(np.where(v_low, rng.poisson(7, n_v), rng.poisson(32, n_v)), 4, 999)
    del v_low
    count = sites.counts[var_idx, k]
    het = (count == 1) & (ploidy == 2)
    alt_reads = np.where(het, rng.binomial(v_dp, 0.5), v_dp - rng.binomial(v_dp, 0.01))
    alt_reads = np.where(het, np.clip(alt_reads, 1, v_dp - 1), alt_reads).astype(np.int16)
    ref_reads = (v_dp - alt_reads).astype(np.int16)
    v_dp = v_dp.astype(np.int16)
    qual = np.clip(alt_reads.astype(np.int32) * 12 + 10, 10, 99_999)
    v_gt = np.where(ploidy == 1, 4, np.where(count == 2, 2, 1)).astype(np.int8)
    del count, het
    b_low = _hits(starts, starts, *low_iv)
    b_gq = np.where(b_low, rng.integers(5, 20, n_b), rng.integers(20, 100, n_b)).astype(np.int16)
    b_dp = np.clip(np.where(b_low, rng.poisson(6, n_b), rng.poisson(30, n_b)), 0, 999)
    b_min = np.maximum(b_dp - rng.integers(0, 8, n_b), 0).astype(np.int16)
    b_dp = b_dp.astype(np.int16)
    b_gt = 3 if ploidy == 1 else 0
    del b_low
    # lines in position order: row r is variant order[r] or block order[r] - n_v
    row_pos = np.concatenate((v_pos, starts))
    order = np.argsort(row_pos, kind="stable")
    row_pos = row_pos[order]
    nul_site = sites.pos.size
    ref_ext = np.concatenate((sites.ref, np.zeros((1, _WIDTH), dtype=np.uint8)))
    alt_ext = np.concatenate((sites.alt, np.zeros((1, _WIDTH), dtype=np.uint8)))
    chrom = contig.encode("ascii") + b"\t"
    # variant: ALT ",<NON_REF>" TAB QUAL TAB "PASS" ...; block: "<NON_REF>" ... "END=" END ...
    before_number = _text_table(
        (b",<NON_REF>\t" if nonref_alt else b"\t", b"<NON_REF>\t.\t.\tEND=")
    )
    after_number = _text_table((b"\tPASS\t.\tGT:GQ:DP:AD\t", b"\tGT:GQ:DP:MIN_DP\t"))
    tails = _TAIL_NONREF if nonref_alt else _TAIL_PLAIN
    for lo in range(0, order.size, _CHUNK):
        part = order[lo : lo + _CHUNK]
        pos = row_pos[lo : lo + _CHUNK]
        is_var = part < n_v
        block = (~is_var).astype(np.int64)
        vi = np.where(is_var, part, 0) if n_v else None
        bi = np.where(is_var, 0, part - n_v)

        def pick(
            v: npt.NDArray[Any], b: npt.NDArray[Any] | int, vi: _Array | None = vi,
            bi: _Array = bi, is_var: npt.NDArray[np.bool_] = is_var,
        ) -> _Array:  # fmt: skip
            other = b[bi] if isinstance(b, np.ndarray) else np.full(bi.size, b)
            if vi is None:
                return other.astype(np.int64)
            out: _Array = np.where(is_var, v[vi], other).astype(np.int64)
            return out

        if vi is None:
            site = np.full(pos.size, nul_site)
        else:
            site = np.where(is_var, var_idx[vi], nul_site)
        ref = ref_ext[site]
        ref[:, 0] = np.where(is_var, ref[:, 0], seq[pos - 1])
        line = _Line(pos.size)
        line.const(chrom)
        line.number(pos)
        line.const(b"\t.\t")
        line.bytes_field(ref)
        line.const(b"\t")
        line.bytes_field(alt_ext[site])
        line.table(before_number, block)
        line.number(pick(qual, ends))
        line.table(after_number, block)
        line.table(_GT_COLON, pick(v_gt, b_gt))
        line.table(_COLON, pick(v_gq, b_gq))
        line.table(_COLON, pick(v_dp, b_dp))
        line.table(_PLAIN, pick(ref_reads, b_min))
        line.table(tails, pick(alt_reads, _BLOCK_TAIL))
        text = line.text()
        newlines = np.flatnonzero(np.frombuffer(text, dtype=np.uint8) == 10).astype(np.int64)
        line_end = writer.offset + newlines + 1
        line_start = np.concatenate(([writer.offset], line_end[:-1]))
        index.add(contig, pos - 1, pick(v_end, ends), line_start, line_end)
        writer.write(text)
    return int(n_v)


def member_haplotypes(
    truth: TrioTruth, sample_id: str, *, seed: int = 1
) -> tuple[dict[str, str], dict[str, str]]:
    """The two haplotypes of one trio member, to simulate their reads from.

    The member carries the genotypes of the truth: the planted designs
    (:attr:`TrioTruth.planted`) and every background site of ``background_truth.parquet``
    (a heterozygote on a haplotype drawn from ``seed``). Sequence is given only outside the
    member's coverage gaps (:attr:`TrioTruth.gaps`, chrX's ``N`` prefix included), as
    pieces named ``CONTIG:START-END`` (1-based, inclusive), so reads have nothing to come
    from inside a gap. A hemizygous contig (chrX of a male) is on haplotype 0 only: give
    the pair to :func:`helgenom.core.simulate.iter_read_pairs`, and that contig gets half
    the depth.

    Raises
    ------
    InvalidInputError
        If ``sample_id`` is not a member of the trio.
    """
    if sample_id not in truth.sample_ids:
        raise InvalidInputError(
            f"{sample_id} is not in the trio: give one of {', '.join(truth.sample_ids)}"
        )
    member = truth.sample_ids.index(sample_id)
    role = ("child", "mother", "father")[member]
    male_child = truth.child_sex == "male"
    pieces: dict[str, str] = {}
    spans: dict[str, list[tuple[int, int, str]]] = {}
    with pysam.FastaFile(str(truth.reference_fasta)) as fasta:
        for contig, length in truth.contigs.items():
            seq = fasta.fetch(contig).upper()
            gaps = sorted((a, b) for c, a, b in truth.gaps[sample_id] if c == contig)
            start = 1
            for a, b in [*gaps, (length + 1, length + 1)]:
                if a > start:
                    name = f"{contig}:{start}-{a - 1}"
                    pieces[name] = seq[start - 1 : a - 1]
                    spans.setdefault(contig, []).append((start, a - 1, name))
                start = max(start, b + 1)
    rows = pq.read_table(
        truth.background_truth, columns=["contig", "pos", "ref", "alt", role]
    ).to_pylist()
    carried = [(r["contig"], r["pos"], r["ref"], r["alt"], int(r[role])) for r in rows]
    for item in truth.planted:
        v = item.variant
        carried.append((v.contig, v.pos, v.ref, v.alt, item.genotypes[member].count("1")))
    rng = np.random.default_rng([seed, member])
    hemizygous = {c for c in truth.contigs if _ploidies(c, male_child)[member] == 1}
    variants: list[TruthVariant] = []
    for contig, pos, ref, alt, count in carried:
        if count <= 0:
            continue  # not carried, or inside the member's gap (-1)
        for start, end, name in spans.get(contig, []):
            if start <= pos and pos + len(ref) - 1 <= end:
                if count == 2:
                    genotype = "1|1"
                elif contig in hemizygous:
                    genotype = "1|0"
                else:
                    genotype = ("0|1", "1|0")[int(rng.integers(0, 2))]
                variants.append(TruthVariant(name, pos - start + 1, ref, alt, genotype))
                break
    first, second = haplotypes(pieces, variants)
    for contig in hemizygous:
        for _start, _end, name in spans.get(contig, []):
            del second[name]
    return first, second


__all__ = [
    "AUTOSOME",
    "CHR_X",
    "PAR1",
    "PATTERNS",
    "TRUTH_SCHEMA",
    "X_N_PREFIX",
    "DesignedVariant",
    "GeneGenome",
    "GeneModel",
    "PlantedVariant",
    "TrioTruth",
    "member_haplotypes",
    "simulate_gene_genome",
    "simulate_trio",
]
