"""A simulated cohort of single-sample VCFs with known allele counts (for tests and benchmarks).

:func:`simulate_cohort` runs a coalescent simulation (msprime: ``sim_ancestry`` with a
constant population of 10,000 diploids and recombination 1e-8 per base, then
``sim_mutations`` at 1.25e-8 per base under JC69 on a discrete genome) and writes

* a reference FASTA of seeded random bases (or uses a given one) with its ``.fai``;
  at every site the ancestral allele is the reference base and derived alleles are
  mapped to the other bases by a per-site rotation of ACGT, so REF always matches
  the reference and multi-allelic sites stay multi-allelic;
* one bgzipped, tabix-indexed single-sample VCF per individual
  (``SAMPLE_0001.vcf.gz`` ...) with ``GT:GQ:DP:AD`` records for its non-reference
  genotypes and, with ``gvcf=True``, GATK-style reference blocks (``<NON_REF>``,
  ``INFO/END``, ``GQ``, ``DP``, ``MIN_DP``) over the rest of the contig; a fraction of
  samples (``gap_fraction``) get coverage gaps: intervals with neither a block nor a
  record, so that AN < 2N at the sites inside them;
* ``merged.vcf.gz``: every sample as one column, ``GT`` only, one record per site,
  ``./.`` (``.`` for haploid) inside a sample's gaps, for comparison with
  ``bcftools +fill-tags`` or plink2.

Genotypes are written unphased (``0/1``). On ``chrX``/``X`` males are hemizygous: their
first simulated haplotype is written as a haploid genotype (``0``/``1``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import msprime
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pysam

from helgenom.core.errors import InvalidInputError

POPULATION_SIZE = 10_000
"""Diploid effective population size of the simulation."""
RECOMBINATION_RATE = 1e-8
"""Per base per generation."""
MUTATION_RATE = 1.25e-8
"""Per base per generation."""
BASES = "ACGT"
"""Nucleotides, in the order used for the per-site allele rotation."""

TRUTH = pa.schema(
    [
        pa.field("variant_id", pa.string(), nullable=False),
        pa.field("variant_pos", pa.int64(), nullable=False),
        pa.field("variant_ref", pa.string(), nullable=False),
        pa.field("variant_alt", pa.string(), nullable=False),
        pa.field("ac", pa.int64(), nullable=False),
        pa.field("an", pa.int64(), nullable=False),
        pa.field("ac_observed", pa.int64(), nullable=False),
        pa.field("an_observed", pa.int64(), nullable=False),
    ]
)
"""Truth per ALT allele: ``ac``/``an`` over every simulated genotype (``an`` = 2 per
female or unknown sample, 1 per male on chrX); ``ac_observed``/``an_observed`` leave out
the samples whose coverage gap holds the site."""


@dataclass(frozen=True)
class Cohort:
    """The files of a simulated cohort and its truth."""

    folder: Path
    """Where everything was written."""
    reference_fasta: Path
    """The reference FASTA (indexed)."""
    contig: str
    """The simulated contig."""
    length: int
    """Simulated length in bases (positions 1..length)."""
    contig_length: int
    """Length of the contig in the reference (>= ``length``)."""
    samples: tuple[str, ...]
    """Sample names, ``SAMPLE_0001`` ..."""
    sexes: tuple[str, ...]
    """``male`` or ``female`` per sample."""
    sample_vcfs: tuple[Path, ...]
    """One bgzipped single-sample VCF per sample (with ``.tbi``)."""
    merged_vcf: Path
    """All samples in one bgzipped VCF (GT only)."""
    gvcf: bool
    """Whether the per-sample files carry reference blocks."""
    gaps: tuple[tuple[int, int, int], ...]
    """Coverage gaps ``(sample index, start, end)``, 1-based inclusive."""
    truth: pa.Table
    """Per-ALT allele counts, see :data:`TRUTH`."""

    @property
    def contigs(self) -> dict[str, int]:
        """The build of the cohort's reference, as ingest expects it."""
        return {self.contig: self.contig_length}


def _write_fasta(path: Path, contig: str, sequence: str) -> None:
    with path.open("w", encoding="ascii") as out:
        out.write(f">{contig}\n")
        for start in range(0, len(sequence), 60):
            out.write(sequence[start : start + 60])
            out.write("\n")
    pysam.faidx(str(path))


def _gaps_between(
    starts: npt.NDArray[np.int64], ends: npt.NDArray[np.int64], length: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """0-based half-open ``(starts, ends)`` of the parts of ``[1, length]`` outside the
    1-based inclusive intervals ``[starts[k], ends[k]]``."""
    order = np.argsort(starts, kind="stable")
    s, e = starts[order], ends[order]
    reach = np.maximum.accumulate(e) if e.size else e
    first = np.concatenate(([1], reach + 1))
    last = np.concatenate((s - 1, [length]))
    keep = first <= last
    return first[keep] - 1, last[keep]


def simulate_cohort(
    folder: str | os.PathLike[str],
    *,
    samples: int,
    length: int,
    seed: int,
    contig: str = "chr22",
    sexes: Sequence[str] | None = None,
    reference_fasta: str | os.PathLike[str] | None = None,
    gvcf: bool = False,
    gap_fraction: float = 0.0,
) -> Cohort:
    """Simulate a cohort and write its files (see module doc).

    Parameters
    ----------
    folder
        Output folder (created).
    samples
        Number of diploid individuals.
    length
        Simulated bases (positions 1..length of ``contig``).
    seed
        Seed of every random choice (same seed, same files).
    contig
        Contig name written in the files.
    sexes
        ``male``/``female`` per sample; by default drawn at random (seeded).
    reference_fasta
        Use this indexed FASTA's ``contig`` instead of random bases (sites on N are
        dropped).
    gvcf
        Write reference blocks so the files are gVCFs.
    gap_fraction
        Fraction of samples given one to three coverage gaps (gVCF only).

    Returns
    -------
    Cohort
        Paths, sample names and sexes, gaps and the truth table.

    Raises
    ------
    InvalidInputError
        Arguments are out of range or inconsistent.
    """
    if samples < 1 or length < 1:
        raise InvalidInputError("simulate_cohort needs samples >= 1 and length >= 1")
    if not 0.0 <= gap_fraction <= 1.0:
        raise InvalidInputError("gap_fraction must be between 0 and 1")
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    if sexes is None:
        sex_list = tuple(str(s) for s in rng.choice(["female", "male"], size=samples))
    else:
        sex_list = tuple(sexes)
        if len(sex_list) != samples or not set(sex_list) <= {"male", "female"}:
            raise InvalidInputError("sexes must give male or female for every sample")
    haploid_male = contig in ("chrX", "X")

    if reference_fasta is None:
        fasta_path = out / "reference.fa"
        codes = rng.integers(0, 4, size=length)
        sequence = np.frombuffer(BASES.encode(), dtype=np.uint8)[codes].tobytes().decode()
        _write_fasta(fasta_path, contig, sequence)
        contig_length = length
    else:
        fasta_path = Path(reference_fasta)
        with pysam.FastaFile(str(fasta_path)) as fasta:
            if contig not in fasta.references:
                raise InvalidInputError(f"the reference FASTA has no contig {contig}")
            contig_length = fasta.get_reference_length(contig)
            if length > contig_length:
                raise InvalidInputError(
                    f"length {length} exceeds contig {contig} ({contig_length} bases)"
                )
            sequence = fasta.fetch(contig, 0, length).upper()

    ancestry = msprime.sim_ancestry(
        samples=samples,
        population_size=POPULATION_SIZE,
        recombination_rate=RECOMBINATION_RATE,
        sequence_length=length,
        random_seed=seed,
    )
    mutated = msprime.sim_mutations(
        ancestry,
        rate=MUTATION_RATE,
        model=msprime.JC69(),
        discrete_genome=True,
        random_seed=seed + 1,
    )

    positions: list[int] = []
    refs: list[str] = []
    alt_lists: list[list[str]] = []
    rows: list[npt.NDArray[np.int8]] = []
    for variant in mutated.variants():
        pos0 = int(variant.site.position)
        ref = sequence[pos0]
        if ref not in BASES:
            continue
        alleles = [a for a in variant.alleles if a is not None]
        shift = BASES.index(ref) - BASES.index(alleles[0])
        mapped = [BASES[(BASES.index(a) + shift) % 4] for a in alleles]
        codes_at_site = variant.genotypes.astype(np.int64)
        used = np.bincount(codes_at_site, minlength=len(mapped)) > 0
        keep = [0] + [j for j in range(1, len(mapped)) if used[j]]
        if len(keep) == 1:
            continue  # back mutations left no derived allele
        lookup = np.zeros(len(mapped), dtype=np.int8)
        lookup[keep] = np.arange(len(keep), dtype=np.int8)
        positions.append(pos0 + 1)
        refs.append(ref)
        alt_lists.append([mapped[j] for j in keep[1:]])
        rows.append(lookup[codes_at_site])
    n_sites = len(positions)
    genotypes = (
        np.vstack(rows) if rows else np.zeros((0, 2 * samples), dtype=np.int8)
    )  # sites x haplotypes
    pos_arr = np.array(positions, dtype=np.int64)

    male = np.array([s == "male" for s in sex_list])
    hap_a = genotypes[:, 0::2]
    hap_b = genotypes[:, 1::2].copy()
    if haploid_male:
        hap_b[:, male] = -1  # hemizygous: no second allele

    gaps: list[tuple[int, int, int]] = []
    in_gap = np.zeros((n_sites, samples), dtype=bool)
    if gvcf and gap_fraction > 0:
        n_gappy = round(gap_fraction * samples)
        for index in sorted(rng.choice(samples, size=n_gappy, replace=False).tolist()):
            for _ in range(int(rng.integers(1, 4))):
                size = max(1, length // 50)
                start = int(rng.integers(1, max(2, length - size + 2)))
                end = min(length, start + size - 1)
                gaps.append((index, start, end))
                in_gap[(pos_arr >= start) & (pos_arr <= end), index] = True

    names = tuple(f"SAMPLE_{i + 1:04d}" for i in range(samples))
    header_lines = [
        "##fileformat=VCFv4.2",
        f"##contig=<ID={contig},length={contig_length}>",
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
        '##FORMAT=<ID=GQ,Number=1,Type=Integer,Description="Genotype quality">',
        '##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Read depth">',
        '##FORMAT=<ID=AD,Number=R,Type=Integer,Description="Allelic depths">',
    ]
    if gvcf:
        header_lines += [
            '##ALT=<ID=NON_REF,Description="Any other allele">',
            '##INFO=<ID=END,Number=1,Type=Integer,Description="End of the block">',
            '##FORMAT=<ID=MIN_DP,Number=1,Type=Integer,Description="Minimum DP in the block">',
        ]
    header = "\n".join(header_lines) + "\n"
    site_prefix = [
        f"{contig}\t{p}\t.\t{r}\t{','.join(a)}{',<NON_REF>' if gvcf else ''}\t50\tPASS\t.\t"
        "GT:GQ:DP:AD\t"
        for p, r, a in zip(positions, refs, alt_lists, strict=True)
    ]
    alt_counts = [len(a) for a in alt_lists]

    paths: list[Path] = []
    for i, name in enumerate(names):
        a = hap_a[:, i]
        b = hap_b[:, i]
        hemi = bool(haploid_male and male[i])
        carrier = ((a > 0) | (b > 0)) & ~in_gap[:, i]
        idx = np.flatnonzero(carrier)
        dp = rng.poisson(30, size=idx.size) + 1
        gq = rng.integers(20, 100, size=idx.size)
        alt_reads = rng.binomial(dp, 0.5)
        x = a[idx].astype(np.int64)
        y = np.where(b[idx] < 0, x, b[idx]).astype(np.int64)  # hemizygous: one allele
        lo, hi = np.minimum(x, y), np.maximum(x, y)
        het = lo != hi
        ref_reads = np.where(het, dp - alt_reads, dp)
        hi_reads = np.where(het, alt_reads, dp)
        extra = ",0" if gvcf else ""
        gts = (
            [str(v) for v in x.tolist()]
            if hemi
            else [f"{p}/{q}" for p, q in zip(lo.tolist(), hi.tolist(), strict=True)]
        )
        lines: list[tuple[int, str]] = []
        for k, site in enumerate(idx.tolist()):
            n_alt = alt_counts[site]
            l_k, h_k = int(lo[k]), int(hi[k])
            if n_alt == 1:
                ad = f"{ref_reads[k] if l_k == 0 else 0},{hi_reads[k]}{extra}"
            else:
                counts = [0] * (n_alt + 1)
                counts[h_k] = int(hi_reads[k])
                if l_k != h_k:
                    counts[l_k] = int(ref_reads[k])
                ad = ",".join(map(str, counts)) + extra
            lines.append((positions[site], f"{site_prefix[site]}{gts[k]}:{gq[k]}:{dp[k]}:{ad}\n"))
        if gvcf:
            own = [(start, end) for gap_sample, start, end in gaps if gap_sample == i]
            excluded_starts = np.concatenate(
                (pos_arr[idx], np.array([g[0] for g in own], dtype=np.int64))
            )
            excluded_ends = np.concatenate(
                (pos_arr[idx], np.array([g[1] for g in own], dtype=np.int64))
            )
            starts, ends = _gaps_between(excluded_starts, excluded_ends, length)
            block_dp = rng.poisson(30, size=starts.size) + 1
            block_gq = rng.integers(20, 100, size=starts.size)
            zero = "0" if hemi else "0/0"
            for s, e, d, q in zip(
                starts.tolist(), ends.tolist(), block_dp.tolist(), block_gq.tolist(), strict=True
            ):
                lines.append(
                    (
                        s + 1,
                        f"{contig}\t{s + 1}\t.\t{sequence[s]}\t<NON_REF>\t.\t.\tEND={e}\t"
                        f"GT:GQ:DP:MIN_DP\t{zero}:{q}:{d}:{max(1, d - 5)}\n",
                    )
                )
            lines.sort(key=lambda item: item[0])
        plain = out / f"{name}.vcf"
        with plain.open("w", encoding="ascii") as vcf:
            vcf.write(header)
            vcf.write(f"#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t{name}\n")
            vcf.writelines(text for _, text in lines)
        paths.append(Path(pysam.tabix_index(str(plain), preset="vcf", force=True)))

    merged = _write_merged(
        out, header_lines[:3], contig, names, positions, refs, alt_lists, hap_a, hap_b, in_gap
    )
    truth = _truth(contig, positions, refs, alt_lists, hap_a, hap_b, in_gap)
    return Cohort(
        folder=out,
        reference_fasta=fasta_path,
        contig=contig,
        length=length,
        contig_length=contig_length,
        samples=names,
        sexes=sex_list,
        sample_vcfs=tuple(paths),
        merged_vcf=merged,
        gvcf=gvcf,
        gaps=tuple(gaps),
        truth=truth,
    )


def _write_merged(
    out: Path,
    header_lines: list[str],
    contig: str,
    names: tuple[str, ...],
    positions: list[int],
    refs: list[str],
    alt_lists: list[list[str]],
    hap_a: npt.NDArray[np.int8],
    hap_b: npt.NDArray[np.int8],
    in_gap: npt.NDArray[np.bool_],
) -> Path:
    """All samples in one VCF (GT only, ``./.`` inside gaps)."""
    top = int(max(hap_a.max(initial=0), hap_b.max(initial=0))) + 1
    table = np.empty((top + 1) * (top + 1), dtype=object)
    for x in range(-1, top):
        for y in range(-1, top):
            if y < 0:
                text = "." if x < 0 else str(x)
            else:
                lo, hi = (x, y) if x <= y else (y, x)
                text = f"{lo}/{hi}"
            table[(x + 1) * (top + 1) + (y + 1)] = text
    codes = (hap_a.astype(np.int64) + 1) * (top + 1) + (hap_b.astype(np.int64) + 1)
    strings = table[codes]
    missing = np.where(hap_b < 0, ".", "./.")
    strings[in_gap] = missing[in_gap]
    plain = out / "merged.vcf"
    with plain.open("w", encoding="ascii") as vcf:
        vcf.write("\n".join(header_lines) + "\n")
        vcf.write(
            "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t" + "\t".join(names) + "\n"
        )
        for k, (pos, ref, alts) in enumerate(zip(positions, refs, alt_lists, strict=True)):
            vcf.write(f"{contig}\t{pos}\t.\t{ref}\t{','.join(alts)}\t50\tPASS\t.\tGT\t")
            vcf.write("\t".join(strings[k].tolist()))
            vcf.write("\n")
    return Path(pysam.tabix_index(str(plain), preset="vcf", force=True))


def _truth(
    contig: str,
    positions: list[int],
    refs: list[str],
    alt_lists: list[list[str]],
    hap_a: npt.NDArray[np.int8],
    hap_b: npt.NDArray[np.int8],
    in_gap: npt.NDArray[np.bool_],
) -> pa.Table:
    """Per-ALT allele counts with and without the coverage gaps."""
    present_b = hap_b >= 0
    an_all = int(hap_a.shape[1] + present_b[0].sum()) if len(positions) else 0
    observed = ~in_gap
    ids: list[str] = []
    pos_out: list[int] = []
    ref_out: list[str] = []
    alt_out: list[str] = []
    ac: list[int] = []
    an: list[int] = []
    ac_obs: list[int] = []
    an_obs: list[int] = []
    for k, (pos, ref, alts) in enumerate(zip(positions, refs, alt_lists, strict=True)):
        a, b, seen = hap_a[k], hap_b[k], observed[k]
        site_an_obs = int(seen.sum() + (present_b[k] & seen).sum())
        for j, alt in enumerate(alts, start=1):
            copies = (a == j).astype(np.int64) + (b == j).astype(np.int64)
            ids.append(f"{contig}-{pos}-{ref}-{alt}")
            pos_out.append(pos)
            ref_out.append(ref)
            alt_out.append(alt)
            ac.append(int(copies.sum()))
            an.append(an_all)
            ac_obs.append(int(copies[seen].sum()))
            an_obs.append(site_an_obs)
    return pa.table(
        [ids, pos_out, ref_out, alt_out, ac, an, ac_obs, an_obs],
        schema=TRUTH,
    )


__all__ = [
    "BASES",
    "MUTATION_RATE",
    "POPULATION_SIZE",
    "RECOMBINATION_RATE",
    "TRUTH",
    "Cohort",
    "simulate_cohort",
]
