"""Precision and recall of a call set against a truth set (GIAB-style validation).

Both files are read allele by allele (multi-allelic records split); a called allele
is a true positive when the truth has the same position, REF and ALT, after the
called positions are shifted by ``offset`` (a mini-reference's coordinates onto the
full chromosome's). Only PASS calls count. Comparison is restricted to an evaluation
window, by default the called contig minus one read length at each end: reads
overhanging the end of a mini-reference are clipped there and pile up mismatches that
are artefacts of the cut, not calls anyone would make on the whole chromosome.

There is no haplotype-aware matching (as hap.py or vcfeval do): an indel written
differently in the two files counts as one false positive and one false negative.
SNVs and indels are scored separately; genotype concordance is reported for the true
positives.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pysam

EDGE_MARGIN = 150
"""Bases left out at each end of a (mini-)reference contig: one read length."""


@dataclass(frozen=True, slots=True, order=True)
class Allele:
    """One ALT allele of a record, in truth (full-chromosome) coordinates."""

    contig: str
    pos: int
    ref: str
    alt: str

    @property
    def kind(self) -> str:
        """``snv`` (same length, one base) or ``indel`` (anything else)."""
        return "snv" if len(self.ref) == len(self.alt) == 1 else "indel"


@dataclass(frozen=True, slots=True)
class Score:
    """True and false positives and negatives of one variant kind."""

    kind: str
    """``snv``, ``indel`` or ``all``."""
    true_positives: int
    false_positives: int
    false_negatives: int
    genotype_matches: int
    """True positives whose genotype (allele counts) also matches."""

    @property
    def precision(self) -> float | None:
        """TP / (TP + FP); None without calls."""
        called = self.true_positives + self.false_positives
        return self.true_positives / called if called else None

    @property
    def recall(self) -> float | None:
        """TP / (TP + FN); None without truth."""
        truth = self.true_positives + self.false_negatives
        return self.true_positives / truth if truth else None

    @property
    def f1(self) -> float | None:
        """Harmonic mean of precision and recall."""
        p, r = self.precision, self.recall
        return None if p is None or r is None or p + r == 0 else 2 * p * r / (p + r)


@dataclass(frozen=True, slots=True)
class Comparison:
    """A call set scored against a truth set in one window."""

    contig: str
    start: int
    """First position of the window (truth coordinates, 1-based)."""
    end: int
    """Last position of the window (inclusive)."""
    scores: dict[str, Score]
    """By kind: ``snv``, ``indel`` and ``all``."""
    false_positives: tuple[Allele, ...]
    false_negatives: tuple[Allele, ...]


def _alleles(path: Path, offset: int, pass_only: bool) -> Iterator[tuple[Allele, tuple[int, ...]]]:
    """ALT alleles of the first sample's non-reference genotypes, with the genotype."""
    with pysam.VariantFile(str(path)) as records:
        for record in records:
            filters = list(record.filter.keys())
            if pass_only and filters not in ([], ["PASS"]):
                continue
            sample = record.samples[0] if len(record.samples) else None
            gt = tuple(a for a in (sample["GT"] if sample is not None else ()) if a is not None)
            for index, alt in enumerate(record.alts or (), start=1):
                if alt.startswith("<") or alt == "*" or (gt and index not in gt):
                    continue
                allele = Allele(record.chrom, record.pos + offset, record.ref or "", alt)
                yield allele, tuple(sorted(1 if a == index else 0 for a in gt))


def compare_to_truth(
    called_vcf: Path,
    truth_vcf: Path,
    *,
    offset: int = 0,
    start: int | None = None,
    end: int | None = None,
    contig_length: int | None = None,
) -> Comparison:
    """Score the PASS calls of ``called_vcf`` against ``truth_vcf``.

    ``offset`` is added to every called position. The window is ``[start, end]`` in
    truth coordinates; by default the called contig (``contig_length`` from the called
    file's header) minus :data:`EDGE_MARGIN` at each end.

    Raises
    ------
    ValueError
        The called file names no contig length and no window was given, or it holds
        several contigs.
    """
    called = dict(_alleles(called_vcf, offset, pass_only=True))
    contigs = {a.contig for a in called}
    with pysam.VariantFile(str(called_vcf)) as header_file:
        header_contigs = dict(header_file.header.contigs.items())
    if len(contigs) > 1 or (not contigs and len(header_contigs) != 1):
        raise ValueError(f"{called_vcf} calls on several contigs: compare one at a time")
    contig = str(next(iter(contigs)) if contigs else next(iter(header_contigs)))
    if start is None or end is None:
        length = contig_length or header_contigs[contig].length
        if length is None:
            raise ValueError(f"{called_vcf} gives no length for {contig}: pass start and end")
        start = offset + 1 + EDGE_MARGIN if start is None else start
        end = offset + length - EDGE_MARGIN if end is None else end

    def inside(allele: Allele) -> bool:
        return allele.contig == contig and start <= allele.pos <= end

    called = {a: gt for a, gt in called.items() if inside(a)}
    truth = {a: gt for a, gt in _alleles(truth_vcf, 0, pass_only=False) if inside(a)}
    scores = {}
    for kind in ("snv", "indel", "all"):
        mine = {a for a in called if kind in ("all", a.kind)}
        real = {a for a in truth if kind in ("all", a.kind)}
        hits = mine & real
        scores[kind] = Score(
            kind,
            true_positives=len(hits),
            false_positives=len(mine - real),
            false_negatives=len(real - mine),
            genotype_matches=sum(1 for a in hits if called[a] == truth[a]),
        )
    return Comparison(
        contig=contig,
        start=start,
        end=end,
        scores=scores,
        false_positives=tuple(sorted(set(called) - set(truth))),
        false_negatives=tuple(sorted(set(truth) - set(called))),
    )


__all__ = ["EDGE_MARGIN", "Allele", "Comparison", "Score", "compare_to_truth"]
