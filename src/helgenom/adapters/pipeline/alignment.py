"""Paired-end alignment with mappy (minimap2), written as unsorted BAM with pysam.

mappy maps a pair and returns hits; it does not write SAM. :func:`align_pairs`
builds the records itself:

* mates are taken from file order (R1 file -> first segment), whatever the read
  names end in (``/1``, ``/2`` are removed; some files have them swapped);
* the primary hit of each mate is written; secondary and supplementary hits are
  not (no chimeric records yet);
* mapped reads: reverse-complemented sequence and reversed qualities on the minus
  strand, soft clips from ``q_st``/``q_en``, MAPQ, ``NM``;
* mate fields (RNEXT, PNEXT, mate-reverse flag) and TLEN (positive for the
  leftmost mate); the proper-pair flag for mates on one contig facing each other
  within :data:`MAX_PROPER_INSERT`;
* an unmapped read is kept, placed at its mate's position when the mate mapped
  (as BWA does), with flag 0x4 and no CIGAR;
* every record carries the read group (``RG:Z:<sample id>``).

Mates are written next to each other (``GO:query``), which is what
``samtools fixmate`` needs. mappy holds the GIL while mapping, so this runs on one
thread; ``threads`` only speeds up BAM compression.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mappy  # type: ignore[import-not-found,unused-ignore]
import pysam

from helgenom.adapters.pipeline.reference import Contig
from helgenom.core.errors import FormatError, NotFoundError

PRESET = "sr"
"""minimap2 preset for short paired reads."""
MAX_PROPER_INSERT = 1000
"""Largest fragment (bp) of a properly paired FR pair."""

FLAG_PAIRED = 0x1
FLAG_PROPER = 0x2
FLAG_UNMAPPED = 0x4
FLAG_MATE_UNMAPPED = 0x8
FLAG_REVERSE = 0x10
FLAG_MATE_REVERSE = 0x20
FLAG_READ1 = 0x40
FLAG_READ2 = 0x80
CIGAR_SOFT_CLIP = 4


@dataclass(frozen=True, slots=True)
class AlignmentSummary:
    """What :func:`align_pairs` did."""

    pairs: int
    """Read pairs read from the FASTQ files."""
    mapped_reads: int
    """Reads with a primary alignment."""


def strip_mate_suffix(name: str) -> str:
    """A read name without a trailing ``/1`` or ``/2``."""
    if len(name) > 2 and name[-2] == "/" and name[-1] in "12":
        return name[:-2]
    return name


def read_group_header(sample_id: str) -> dict[str, str]:
    """The ``@RG`` line of a sample (ID and SM are the sample id)."""
    return {"ID": sample_id, "SM": sample_id, "LB": sample_id, "PL": "ILLUMINA"}


def bam_header(contigs: Sequence[Contig], build: str, sample_id: str) -> dict[str, Any]:
    """The SAM header of the aligned reads: contigs with M5 and AS, read group, program."""
    return {
        "HD": {"VN": "1.6", "SO": "unsorted", "GO": "query"},
        "SQ": [{"SN": c.name, "LN": c.length, "M5": c.md5, "AS": build} for c in contigs],
        "RG": [read_group_header(sample_id)],
        "PG": [
            {
                "ID": "mappy",
                "PN": "mappy",
                "VN": str(mappy.__version__),
                "CL": f"mappy.Aligner(preset={PRESET}).map(R1, R2)",
            }
        ],
    }


def _primary(hits: list[Any], read_num: int) -> Any | None:
    for hit in hits:
        if hit.read_num == read_num and hit.is_primary:
            return hit
    return None


def _record(
    header: pysam.AlignmentHeader,
    name: str,
    sequence: str,
    quality: str | None,
    hit: Any | None,
    mate: Any | None,
    first: bool,
    read_group: str,
) -> pysam.AlignedSegment:
    record = pysam.AlignedSegment(header)
    record.query_name = name
    flag = FLAG_PAIRED | (FLAG_READ1 if first else FLAG_READ2)
    if hit is None:
        flag |= FLAG_UNMAPPED
        record.query_sequence = sequence
        if quality is not None:
            record.query_qualities = pysam.qualitystring_to_array(quality)
        if mate is not None:
            record.reference_id = header.get_tid(mate.ctg)
            record.reference_start = mate.r_st
    else:
        length = len(sequence)
        if hit.strand < 0:
            flag |= FLAG_REVERSE
            sequence = mappy.revcomp(sequence)
            quality = quality[::-1] if quality is not None else None
            lead, trail = length - hit.q_en, hit.q_st
        else:
            lead, trail = hit.q_st, length - hit.q_en
        cigar = [(op, size) for size, op in hit.cigar]
        if lead:
            cigar.insert(0, (CIGAR_SOFT_CLIP, lead))
        if trail:
            cigar.append((CIGAR_SOFT_CLIP, trail))
        record.query_sequence = sequence
        if quality is not None:
            record.query_qualities = pysam.qualitystring_to_array(quality)
        record.reference_id = header.get_tid(hit.ctg)
        record.reference_start = hit.r_st
        record.cigartuples = cigar
        record.mapping_quality = hit.mapq
        record.set_tag("NM", hit.NM)
    if mate is None:
        flag |= FLAG_MATE_UNMAPPED
        if hit is not None:
            record.next_reference_id = record.reference_id
            record.next_reference_start = record.reference_start
    else:
        if mate.strand < 0:
            flag |= FLAG_MATE_REVERSE
        record.next_reference_id = header.get_tid(mate.ctg)
        record.next_reference_start = mate.r_st
        if hit is not None and hit.ctg == mate.ctg:
            size = max(hit.r_en, mate.r_en) - min(hit.r_st, mate.r_st)
            leftmost = hit.r_st < mate.r_st or (hit.r_st == mate.r_st and first)
            record.template_length = size if leftmost else -size
            forward, reverse = (hit, mate) if hit.strand > 0 else (mate, hit)
            if (
                hit.strand != mate.strand
                and forward.r_st <= reverse.r_en
                and size <= MAX_PROPER_INSERT
            ):
                flag |= FLAG_PROPER
    record.flag = flag
    record.set_tag("RG", read_group)
    return record


def align_pairs(
    r1: Path,
    r2: Path,
    index: Path,
    contigs: Sequence[Contig],
    build: str,
    sample_id: str,
    out_bam: Path,
    *,
    threads: int = 1,
) -> AlignmentSummary:
    """Align a FASTQ pair against a minimap2 index into an unsorted, name-grouped BAM.

    Raises
    ------
    NotFoundError
        The index cannot be loaded.
    FormatError
        The files do not hold the same number of reads, a pair's names differ (after
        removing ``/1`` and ``/2``), or a record has no qualities.
    """
    aligner = mappy.Aligner(str(index), preset=PRESET)
    if not aligner:
        raise NotFoundError(f"cannot load the minimap2 index {index.name}: prepare the reference")
    header = pysam.AlignmentHeader.from_dict(bam_header(contigs, build, sample_id))
    try:
        return _align(aligner, header, r1, r2, sample_id, out_bam, threads)
    except OSError as exc:
        raise FormatError(
            f"cannot read R1 or R2 ({type(exc).__name__}: {exc}): a corrupt or truncated FASTQ "
            "file? copy it again"
        ) from exc


def _align(
    aligner: Any,
    header: pysam.AlignmentHeader,
    r1: Path,
    r2: Path,
    sample_id: str,
    out_bam: Path,
    threads: int,
) -> AlignmentSummary:
    buffer = mappy.ThreadBuffer()
    pairs = mapped = 0
    with (
        pysam.FastxFile(str(r1)) as reads1,
        pysam.FastxFile(str(r2)) as reads2,
        pysam.AlignmentFile(str(out_bam), "wb", header=header, threads=max(1, threads)) as out,
    ):
        for first, second in itertools.zip_longest(reads1, reads2):
            if first is None or second is None:
                longer = "R1" if second is None else "R2"
                raise FormatError(
                    f"{longer} holds more reads than the other file ({pairs} pairs read): give "
                    "the two files of one paired-end run"
                )
            pairs += 1
            name = strip_mate_suffix(first.name or "")
            if strip_mate_suffix(second.name or "") != name:
                raise FormatError(
                    f"read pair {pairs}: the names in R1 and R2 differ (after removing /1 and /2): "
                    "the files are not the two halves of one run, or are not in the same order"
                )
            if first.quality is None or second.quality is None:
                raise FormatError(f"read pair {pairs} has no base qualities: give FASTQ, not FASTA")
            seq1, seq2 = first.sequence or "", second.sequence or ""
            hits = list(aligner.map(seq1, seq2, buf=buffer)) if seq1 and seq2 else []
            hit1, hit2 = _primary(hits, 1), _primary(hits, 2)
            out.write(_record(header, name, seq1, first.quality, hit1, hit2, True, sample_id))
            out.write(_record(header, name, seq2, second.quality, hit2, hit1, False, sample_id))
            mapped += (hit1 is not None) + (hit2 is not None)
    if pairs == 0:
        raise FormatError("R1 and R2 hold no reads")
    return AlignmentSummary(pairs=pairs, mapped_reads=mapped)


__all__ = [
    "AlignmentSummary",
    "align_pairs",
    "bam_header",
    "read_group_header",
    "strip_mate_suffix",
]
