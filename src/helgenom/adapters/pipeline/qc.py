"""Quality-control metrics of one sample's run, as a versioned JSON document.

Sources (two passes over the CRAM, one over the VCF):

* ``samtools markdup -s`` statistics: duplicate rate (duplicates / reads examined);
* ``samtools stats -d`` (duplicates excluded): mapping rate, proper pairs, insert
  sizes, the per-base depth histogram (fraction of A/C/G/T bases at >= 10, 20, 30x);
* ``samtools coverage`` (duplicates excluded): mean depth, per contig and overall
  (over A/C/G/T bases), and the chrX/chrY-to-autosome depth ratios for sex;
* the normalised VCF (PASS records): SNV and indel counts, Ti/Tv, het/hom-alt
  ratio, and the spread of the allele balance at heterozygous SNVs.

The contamination indicator compares that spread with what binomial sampling alone
gives at the observed depths (``dispersion`` = observed / expected standard
deviation; about 1 in a clean sample). DNA from a second person widens it. It is
an indicator, not an estimate: ``suspect`` above :data:`DISPERSION_SUSPECT`.

The parsers and the metric functions are pure and take text or numbers.
"""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pysam

QC_FORMAT_VERSION = 1
"""Version of the QC JSON document."""
DISPERSION_SUSPECT = 1.5
"""Allele-balance dispersion above which contamination is suspected."""
MIN_HET_SITES = 20
"""Heterozygous SNVs (depth >= :data:`MIN_HET_DEPTH`) needed for the indicator."""
MIN_HET_DEPTH = 10
_TRANSITIONS = frozenset({("A", "G"), ("G", "A"), ("C", "T"), ("T", "C")})
_AUTOSOME = re.compile(r"(?:chr)?([1-9]|[1-9][0-9])")
X_NAMES = ("chrX", "X")
"""Names chrX goes by."""
Y_NAMES = ("chrY", "Y")
"""Names chrY goes by."""


@dataclass(frozen=True, slots=True)
class SamtoolsStats:
    """The parts of ``samtools stats`` output the QC uses."""

    summary: dict[str, float]
    """``SN`` lines: key (without the colon) -> value."""
    insert_sizes: list[tuple[int, int]]
    """``IS`` lines: (insert size, pairs)."""
    coverage: list[tuple[int, int]]
    """``COV`` lines: (depth, reference bases at that depth)."""


def parse_samtools_stats(text: str) -> SamtoolsStats:
    """Parse ``samtools stats`` output."""
    summary: dict[str, float] = {}
    inserts: list[tuple[int, int]] = []
    coverage: list[tuple[int, int]] = []
    for line in text.splitlines():
        fields = line.split("\t")
        if fields[0] == "SN" and len(fields) >= 3:
            try:
                summary[fields[1].rstrip(":")] = float(fields[2])
            except ValueError:
                continue
        elif fields[0] == "IS" and len(fields) >= 3:
            inserts.append((int(fields[1]), int(fields[2])))
        elif fields[0] == "COV" and len(fields) >= 4:
            coverage.append((int(fields[2]), int(fields[3])))
    return SamtoolsStats(summary, inserts, coverage)


def parse_markdup_stats(text: str) -> dict[str, int]:
    """Parse the statistics file of ``samtools markdup -s -f`` (``KEY: value`` lines)."""
    result: dict[str, int] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and value.strip().isdigit():
            result[key.strip()] = int(value.strip())
    return result


@dataclass(frozen=True, slots=True)
class ContigCoverage:
    """One row of ``samtools coverage``."""

    length: int
    """Contig length."""
    reads: int
    """Reads overlapping the contig."""
    covered_bases: int
    """Bases with depth >= 1."""
    mean_depth: float
    """Mean depth over the contig."""


def parse_samtools_coverage(text: str) -> dict[str, ContigCoverage]:
    """Parse ``samtools coverage`` output: contig -> row."""
    rows: dict[str, ContigCoverage] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        fields = line.split("\t")
        rows[fields[0]] = ContigCoverage(
            length=int(fields[2]) - int(fields[1]) + 1,
            reads=int(fields[3]),
            covered_bases=int(fields[4]),
            mean_depth=float(fields[6]),
        )
    return rows


def histogram_median(histogram: Iterable[tuple[int, int]]) -> float | None:
    """Median of a histogram of (value, count) pairs; None when empty."""
    items = sorted((v, c) for v, c in histogram if c > 0)
    total = sum(c for _, c in items)
    if total == 0:
        return None
    lower_rank, upper_rank = (total - 1) // 2, total // 2
    seen = 0
    lower: int | None = None
    for value, count in items:
        if lower is None and seen + count > lower_rank:
            lower = value
        if seen + count > upper_rank:
            return (lower + value) / 2 if lower is not None else float(value)
        seen += count
    return None  # pragma: no cover - unreachable with total > 0


def fraction_at_least(coverage: Iterable[tuple[int, int]], depth: int, bases: int) -> float:
    """Share of ``bases`` reference bases with depth >= ``depth``."""
    if bases <= 0:
        return 0.0
    return min(1.0, sum(c for d, c in coverage if d >= depth) / bases)


@dataclass
class VariantSummary:
    """Counts over the PASS records of a single-sample VCF."""

    records: int = 0
    """All records."""
    passed: int = 0
    """Records with FILTER PASS."""
    snvs: int = 0
    indels: int = 0
    other: int = 0
    """MNPs and symbolic alleles."""
    transitions: int = 0
    transversions: int = 0
    het: int = 0
    hom_alt: int = 0
    het_snv_depths: list[tuple[int, int]] = field(default_factory=list)
    """(reference reads, alternate reads) at heterozygous PASS SNVs with AD."""

    @property
    def ti_tv(self) -> float | None:
        """Transitions / transversions among PASS SNVs."""
        return self.transitions / self.transversions if self.transversions else None

    @property
    def het_hom_ratio(self) -> float | None:
        """Heterozygous / homozygous-alternate PASS calls."""
        return self.het / self.hom_alt if self.hom_alt else None


def summarise_variants(vcf_path: Path) -> VariantSummary:
    """Count the calls of a normalised (biallelic) single-sample VCF."""
    summary = VariantSummary()
    with pysam.VariantFile(str(vcf_path)) as vcf:
        sample = next(iter(vcf.header.samples), None)
        for record in vcf:
            summary.records += 1
            if list(record.filter.keys()) not in ([], ["PASS"]):
                continue
            summary.passed += 1
            ref, alt = record.ref or "", (record.alts or ("",))[0]
            if len(ref) == 1 and len(alt) == 1 and alt.isalpha():
                summary.snvs += 1
                if (ref.upper(), alt.upper()) in _TRANSITIONS:
                    summary.transitions += 1
                else:
                    summary.transversions += 1
            elif len(ref) != len(alt) and alt.isalpha():
                summary.indels += 1
            else:
                summary.other += 1
            if sample is None:
                continue
            call = record.samples[sample]
            alleles = [a for a in (call.get("GT") or ()) if a is not None]
            if len(alleles) != 2 or not any(alleles):
                continue
            if alleles[0] != alleles[1]:
                summary.het += 1
                depths = call.get("AD") if "AD" in record.format else None
                if (
                    len(ref) == 1
                    and len(alt) == 1
                    and depths
                    and len(depths) >= 2
                    and depths[0] is not None
                    and depths[1] is not None
                ):
                    summary.het_snv_depths.append((int(depths[0]), int(depths[1])))
            else:
                summary.hom_alt += 1
    return summary


def contamination_indicator(depths: Sequence[tuple[int, int]]) -> dict[str, Any]:
    """The allele-balance spread at heterozygous SNVs (see module doc)."""
    usable = [(r, a) for r, a in depths if r + a >= MIN_HET_DEPTH]
    result: dict[str, Any] = {"het_snvs": len(usable), "min_depth": MIN_HET_DEPTH}
    if len(usable) < MIN_HET_SITES:
        result["status"] = (
            f"insufficient data: {len(usable)} heterozygous SNVs with depth >= {MIN_HET_DEPTH} "
            f"(needs {MIN_HET_SITES})"
        )
        return result
    balances = [a / (r + a) for r, a in usable]
    observed = statistics.pstdev(balances)
    expected = math.sqrt(statistics.fmean(0.25 / (r + a) for r, a in usable))
    dispersion = observed / expected if expected else math.inf
    result.update(
        {
            "allele_balance_median": round(statistics.median(balances), 4),
            "allele_balance_sd": round(observed, 4),
            "expected_sd": round(expected, 4),
            "dispersion": round(dispersion, 3),
            "status": "suspect" if dispersion > DISPERSION_SUSPECT else "ok",
        }
    )
    return result


def infer_sex(mean_depth: Mapping[str, float], lengths: Mapping[str, int]) -> dict[str, Any]:
    """Sex from chrX and chrY depth relative to the autosomes, when the reference has them."""
    x_name = next((n for n in X_NAMES if n in lengths), None)
    y_name = next((n for n in Y_NAMES if n in lengths), None)
    result: dict[str, Any] = {"x_autosome_ratio": None, "y_autosome_ratio": None}
    if x_name is None and y_name is None:
        result["inferred_sex"] = "undetermined: no chrX/chrY in reference"
        return result
    autosomes = [n for n in lengths if _AUTOSOME.fullmatch(n)]
    autosome_length = sum(lengths[n] for n in autosomes)
    if not autosome_length:
        result["inferred_sex"] = "undetermined: no autosomes in reference to compare with"
        return result
    baseline = sum(mean_depth.get(n, 0.0) * lengths[n] for n in autosomes) / autosome_length
    if baseline <= 0:
        result["inferred_sex"] = "undetermined: no autosomal coverage"
        return result
    x_ratio = mean_depth.get(x_name, 0.0) / baseline if x_name else None
    y_ratio = mean_depth.get(y_name, 0.0) / baseline if y_name else None
    result["x_autosome_ratio"] = None if x_ratio is None else round(x_ratio, 3)
    result["y_autosome_ratio"] = None if y_ratio is None else round(y_ratio, 3)
    male_x = x_ratio is None or x_ratio < 0.75
    female_x = x_ratio is None or x_ratio >= 0.75
    if y_ratio is not None:
        if y_ratio >= 0.1 and male_x:
            sex = "male"
        elif y_ratio < 0.05 and female_x and x_ratio is not None:
            sex = "female"
        else:
            sex = "undetermined: ambiguous chrX/chrY depth"
    elif x_ratio is not None and x_ratio >= 0.8:
        sex = "female"
    elif x_ratio is not None and x_ratio <= 0.6:
        sex = "male"
    else:
        sex = "undetermined: ambiguous chrX depth (no chrY in reference)"
    result["inferred_sex"] = sex
    return result


def _rate(numerator: float, denominator: float) -> float | None:
    return round(numerator / denominator, 6) if denominator else None


def build_qc(
    *,
    sample_id: str,
    build: str,
    contig_lengths: Mapping[str, int],
    acgt_length: int,
    stats_text: str,
    coverage_text: str,
    markdup_text: str,
    variants: VariantSummary,
    contig_acgt: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """Assemble the QC document from the tools' outputs (see module doc).

    ``contig_acgt`` (A/C/G/T bases per contig) makes the per-contig depths that infer
    the sex depths over sequence, not over N padding (``samtools coverage`` divides by
    the whole contig)."""
    stats = parse_samtools_stats(stats_text)
    sn = stats.summary
    markdup = parse_markdup_stats(markdup_text)
    coverage = parse_samtools_coverage(coverage_text)
    total = sn.get("raw total sequences", 0.0)
    duplicates_filtered = sn.get("filtered sequences", 0.0)
    mapped = sn.get("reads mapped", 0.0) + duplicates_filtered
    examined = markdup.get("EXAMINED", 0)
    duplicates = markdup.get("DUPLICATE TOTAL", 0)
    depth_sum = sum(row.mean_depth * row.length for row in coverage.values())
    mean_coverage = depth_sum / acgt_length if acgt_length else 0.0
    per_contig = {name: round(row.mean_depth, 3) for name, row in coverage.items()}
    fractions = {
        f"fraction_ge_{d}x": round(fraction_at_least(stats.coverage, d, acgt_length), 6)
        for d in (10, 20, 30)
    }
    if contig_acgt:
        sequenced = {n: contig_acgt.get(n, row.length) for n, row in coverage.items()}
        depths = {
            n: row.mean_depth * row.length / sequenced[n] if sequenced[n] else 0.0
            for n, row in coverage.items()
        }
        sex = infer_sex(depths, {n: contig_acgt.get(n, 0) for n in contig_lengths})
    else:
        sex = infer_sex({n: r.mean_depth for n, r in coverage.items()}, contig_lengths)
    contamination = contamination_indicator(variants.het_snv_depths)
    insert_median = histogram_median(stats.insert_sizes)
    ti_tv, het_hom = variants.ti_tv, variants.het_hom_ratio
    return {
        "format_version": QC_FORMAT_VERSION,
        "sample_id": sample_id,
        "reference_build": build,
        "mapping_rate": _rate(mapped, total),
        "duplicate_rate": _rate(duplicates, examined),
        "mean_coverage": round(mean_coverage, 3),
        "fraction_ge_20x": fractions["fraction_ge_20x"],
        "insert_size_median": insert_median,
        "ti_tv": None if ti_tv is None else round(ti_tv, 4),
        "het_hom_ratio": None if het_hom is None else round(het_hom, 4),
        "contamination": contamination,
        "inferred_sex": sex["inferred_sex"],
        "reads": {
            "total": int(total),
            "mapped": int(mapped),
            "properly_paired_rate": _rate(
                sn.get("reads properly paired", 0.0), sn.get("sequences", 0.0)
            ),
            "duplicates": duplicates,
            "mismatch_rate": sn.get("error rate"),
        },
        "insert_size": {
            "median": insert_median,
            "mean": sn.get("insert size average"),
            "sd": sn.get("insert size standard deviation"),
        },
        "coverage": {
            "mean": round(mean_coverage, 3),
            **fractions,
            "acgt_bases": acgt_length,
            "per_contig_mean": per_contig,
        },
        "variants": {
            "records": variants.records,
            "pass": variants.passed,
            "snvs": variants.snvs,
            "indels": variants.indels,
            "other": variants.other,
            "transitions": variants.transitions,
            "transversions": variants.transversions,
            "het": variants.het,
            "hom_alt": variants.hom_alt,
        },
        "sex": sex,
    }


__all__ = [
    "QC_FORMAT_VERSION",
    "ContigCoverage",
    "SamtoolsStats",
    "VariantSummary",
    "build_qc",
    "contamination_indicator",
    "fraction_at_least",
    "histogram_median",
    "infer_sex",
    "parse_markdup_stats",
    "parse_samtools_coverage",
    "parse_samtools_stats",
    "summarise_variants",
]
