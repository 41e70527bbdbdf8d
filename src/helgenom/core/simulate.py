"""Simulated diploid genomes and paired-end reads, for testing the secondary analysis.

Everything here is pure and seeded (standard library :mod:`random` only): the same
arguments and seed give the same reference, variants, reads and the same bytes in
every file written (gzip headers carry no time stamp).

The path of a simulation::

    random_reference(...)          contig name -> sequence (or bring your own)
      -> plant_variants(...)       SNVs and 1-10 bp indels, het and hom, normalised
      -> haplotypes(...)           two haplotype sequences per contig (diploid)
      -> iter_read_pairs(...)      150 bp pairs from both haplotypes: insert size
                                   ~ N(mean, sd), 0.1 % substitution errors,
                                   binned Illumina-like Phred qualities, duplicates
      -> write_fasta / write_fastq_pair / write_truth_vcf

:func:`simulate_sample` runs the whole path and writes the files.

Truth variants are in VCF conventions (1-based ``pos``; indels with their anchor
base, left-aligned and trimmed: the form ``bcftools norm -f ref`` gives), so calls
and truth compare by ``(contig, pos, ref, alt)``. Variants are planted apart from
each other (``spacing``) and from contig ends (``margin``) so that every one of them
has one normal form.
"""

from __future__ import annotations

import gzip
import math
import os
import random
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from helgenom.core.errors import InvalidInputError

BASES = "ACGT"
_COMPLEMENT = str.maketrans("ACGTNacgtn", "TGCANtgcan")
_TRANSITION = {"A": "G", "G": "A", "C": "T", "T": "C"}
QUALITY_BINS = ((37, 0.94), (23, 0.045), (12, 0.015))
"""Binned base qualities (NovaSeq style) and how often each is drawn for a correct base."""
ERROR_QUALITY_BINS = ((37, 0.4), (23, 0.3), (12, 0.3))
"""The same bins, drawn for a base carrying a sequencing error (errors skew low)."""


def reverse_complement(sequence: str) -> str:
    """The reverse complement of a DNA sequence (``N`` stays ``N``)."""
    return sequence.translate(_COMPLEMENT)[::-1]


@dataclass(frozen=True, slots=True)
class TruthVariant:
    """A planted variant, in normalised VCF form."""

    contig: str
    """Contig name."""
    pos: int
    """1-based position of the first reference base (the anchor base for indels)."""
    ref: str
    """Reference allele (upper case)."""
    alt: str
    """Alternate allele (upper case)."""
    genotype: str
    """Phased diploid genotype: ``0|1``, ``1|0`` (heterozygous) or ``1|1`` (homozygous)."""

    @property
    def key(self) -> tuple[str, int, str, str]:
        """``(contig, pos, ref, alt)``: how calls are matched against the truth."""
        return (self.contig, self.pos, self.ref, self.alt)

    @property
    def is_snv(self) -> bool:
        """Whether it is a single-nucleotide variant."""
        return len(self.ref) == 1 and len(self.alt) == 1

    @property
    def is_indel(self) -> bool:
        """Whether it inserts or deletes bases."""
        return len(self.ref) != len(self.alt)

    @property
    def is_het(self) -> bool:
        """Whether only one haplotype carries it."""
        return self.genotype in ("0|1", "1|0")

    def on_haplotype(self, haplotype: int) -> bool:
        """Whether haplotype 0 or 1 carries the alternate allele."""
        return self.genotype.split("|")[haplotype] == "1"


@dataclass(frozen=True, slots=True)
class ReadPair:
    """One simulated fragment read from both ends."""

    name: str
    """Read name shared by both mates (without ``/1``, ``/2``)."""
    seq1: str
    """Read 1 sequence, 5' to 3'."""
    qual1: str
    """Read 1 Phred+33 qualities."""
    seq2: str
    """Read 2 sequence, 5' to 3'."""
    qual2: str
    """Read 2 Phred+33 qualities."""


@dataclass(frozen=True, slots=True)
class SimulatedSample:
    """Files and truth of :func:`simulate_sample`."""

    reference_path: Path
    """The reference FASTA."""
    r1_path: Path
    """Read 1 FASTQ (gzip)."""
    r2_path: Path
    """Read 2 FASTQ (gzip)."""
    truth_vcf_path: Path
    """The planted variants as a VCF (plain text, one sample)."""
    truth: tuple[TruthVariant, ...]
    """The planted variants, sorted by contig (reference order) and position."""
    read_pairs: int
    """Number of read pairs written."""


def random_reference(
    contigs: Mapping[str, int] | Sequence[tuple[str, int]], *, seed: int, gc: float = 0.41
) -> dict[str, str]:
    """A random reference: contig name -> upper-case sequence with GC content ``gc``."""
    items = list(contigs.items()) if isinstance(contigs, Mapping) else list(contigs)
    if not items:
        raise InvalidInputError("give at least one contig (name, length) to simulate")
    if not 0.0 < gc < 1.0:
        raise InvalidInputError(f"gc must be between 0 and 1, not {gc}")
    rng = random.Random(seed)  # noqa: S311 - simulation, not security
    weights = [(1 - gc) / 2, gc / 2, gc / 2, (1 - gc) / 2]
    reference: dict[str, str] = {}
    for name, length in items:
        if length < 1:
            raise InvalidInputError(f"contig {name} must be at least 1 bp long, not {length}")
        if name in reference:
            raise InvalidInputError(f"contig name {name} is given twice: names must be unique")
        reference[name] = "".join(rng.choices(BASES, weights, k=length))
    return reference


def _deletion_span(seq: str, start: int, length: int) -> tuple[int, int]:
    """Leftmost start of an equivalent deletion of ``seq[start:start+length]``, and its
    rightmost end (the region any representation of it may touch)."""
    left = start
    while left > 1 and seq[left - 1] == seq[left + length - 1]:
        left -= 1
    right = start
    while right + length < len(seq) and seq[right] == seq[right + length]:
        right += 1
    return left, right + length


def _insertion_shift(seq: str, start: int, inserted: str) -> tuple[int, str, int]:
    """Left-align an insertion of ``inserted`` before ``seq[start]``: (start, inserted, right
    end of the region its equivalent representations touch)."""
    right = start
    rotated = inserted
    while right < len(seq) and seq[right] == rotated[0]:
        rotated = rotated[1:] + rotated[0]
        right += 1
    while start > 1 and seq[start - 1] == inserted[-1]:
        inserted = inserted[-1] + inserted[:-1]
        start -= 1
    return start, inserted, right


def plant_variants(
    reference: Mapping[str, str],
    *,
    snvs: int,
    indels: int,
    seed: int,
    hom_fraction: float = 1 / 3,
    max_indel_length: int = 10,
    spacing: int = 50,
    margin: int = 300,
    transition_fraction: float = 2 / 3,
) -> tuple[TruthVariant, ...]:
    """Choose ``snvs`` SNVs and ``indels`` indels at random, normalised, well apart.

    Parameters
    ----------
    reference
        Contig name -> sequence. Positions next to an ``N`` are never chosen.
    snvs, indels
        How many of each to plant (indels: half insertions, half deletions, lengths
        uniform in 1..``max_indel_length``).
    seed
        Seeds the choice; same seed, same variants.
    hom_fraction
        Share of homozygous (``1|1``) variants; the rest are heterozygous, on a random
        haplotype.
    spacing
        Minimum distance in bp between the regions two variants touch.
    margin
        Minimum distance from the contig ends.
    transition_fraction
        Share of SNVs that are transitions (2/3 gives a human-like Ti/Tv of about 2).

    Raises
    ------
    InvalidInputError
        Counts or lengths that do not fit into the reference.
    """
    if snvs < 0 or indels < 0:
        raise InvalidInputError("the numbers of SNVs and indels cannot be negative")
    if not 1 <= max_indel_length <= 50:
        raise InvalidInputError(f"max_indel_length must be 1 to 50, not {max_indel_length}")
    rng = random.Random(seed)  # noqa: S311 - simulation, not security
    names = [name for name, seq in reference.items() if len(seq) > 2 * margin + spacing]
    if not names and snvs + indels:
        raise InvalidInputError(
            f"no contig is longer than {2 * margin + spacing} bp: give a longer reference or a "
            "smaller margin"
        )
    lengths = [len(reference[name]) for name in names]
    capacity = sum(lengths) // (2 * spacing + 2 * max_indel_length)
    if snvs + indels > capacity:
        raise InvalidInputError(
            f"{snvs + indels} variants do not fit {spacing} bp apart into {sum(lengths)} bp of "
            f"reference: plant at most {capacity}"
        )
    kinds = ["snv"] * snvs + ["ins", "del"] * (indels // 2) + ["ins"] * (indels % 2)
    rng.shuffle(kinds)
    occupied: dict[str, list[tuple[int, int]]] = {name: [] for name in names}
    planted: list[tuple[str, int, TruthVariant]] = []
    for kind in kinds:
        for _attempt in range(10_000):
            name = rng.choices(names, lengths)[0]
            seq = reference[name].upper()
            start = rng.randrange(margin, len(seq) - margin)
            variant, span = _draw_variant(
                rng, seq, name, start, kind, max_indel_length, margin, transition_fraction
            )
            if variant is None:
                continue
            lo, hi = span[0] - spacing, span[1] + spacing
            if any(lo < b and a < hi for a, b in occupied[name]):
                continue
            occupied[name].append(span)
            genotype = "1|1" if rng.random() < hom_fraction else rng.choice(("0|1", "1|0"))
            planted.append((name, variant.pos, _with_genotype(variant, genotype)))
            break
        else:  # pragma: no cover - capacity check above makes this practically unreachable
            raise InvalidInputError("could not place all variants: plant fewer")
    order = {name: i for i, name in enumerate(reference)}
    planted.sort(key=lambda item: (order[item[0]], item[1]))
    return tuple(item[2] for item in planted)


def _with_genotype(variant: TruthVariant, genotype: str) -> TruthVariant:
    return TruthVariant(variant.contig, variant.pos, variant.ref, variant.alt, genotype)


def _draw_variant(
    rng: random.Random,
    seq: str,
    name: str,
    start: int,
    kind: str,
    max_indel_length: int,
    margin: int,
    transition_fraction: float,
) -> tuple[TruthVariant | None, tuple[int, int]]:
    """One variant near 0-based ``start`` and the region it touches, or None to retry."""
    if kind == "snv":
        base = seq[start]
        if base not in BASES:
            return None, (start, start + 1)
        if rng.random() < transition_fraction:
            alt = _TRANSITION[base]
        else:
            alt = rng.choice([b for b in BASES if b not in (base, _TRANSITION[base])])
        return TruthVariant(name, start + 1, base, alt, "0|1"), (start, start + 1)
    length = rng.randint(1, max_indel_length)
    if kind == "del":
        left, right = _deletion_span(seq, start, length)
        anchor = left - 1
        ref = seq[anchor : left + length]
        if left < margin or right > len(seq) - margin or any(b not in BASES for b in ref):
            return None, (anchor, right)
        return TruthVariant(name, anchor + 1, ref, ref[0], "0|1"), (anchor, right)
    inserted = "".join(rng.choices(BASES, k=length))
    left, inserted, right = _insertion_shift(seq, start, inserted)
    anchor = left - 1
    if left < margin or right > len(seq) - margin or seq[anchor] not in BASES:
        return None, (anchor, right)
    ref = seq[anchor]
    return TruthVariant(name, anchor + 1, ref, ref + inserted, "0|1"), (anchor, right + 1)


def haplotypes(
    reference: Mapping[str, str], variants: Iterable[TruthVariant]
) -> tuple[dict[str, str], dict[str, str]]:
    """The two haplotypes (contig -> sequence) carrying ``variants`` as their genotypes say.

    Raises
    ------
    InvalidInputError
        A variant's reference allele does not match the reference, or two overlap.
    """
    by_contig: dict[str, list[TruthVariant]] = {name: [] for name in reference}
    for v in variants:
        if v.contig not in by_contig:
            raise InvalidInputError(f"variant at {v.contig}:{v.pos} is on an unknown contig")
        by_contig[v.contig].append(v)
    result: tuple[dict[str, str], dict[str, str]] = ({}, {})
    for name, seq in reference.items():
        upper = seq.upper()
        for hap in (0, 1):
            parts: list[str] = []
            previous = 0
            for v in sorted(by_contig[name], key=lambda x: x.pos):
                start = v.pos - 1
                if upper[start : start + len(v.ref)] != v.ref:
                    raise InvalidInputError(
                        f"variant at {name}:{v.pos} has REF {v.ref} but the reference has "
                        f"{upper[start : start + len(v.ref)]}"
                    )
                if start < previous:
                    raise InvalidInputError(f"variants overlap at {name}:{v.pos}")
                if not v.on_haplotype(hap):
                    continue
                parts.append(seq[previous:start])
                parts.append(v.alt)
                previous = start + len(v.ref)
            parts.append(seq[previous:])
            result[hap][name] = "".join(parts)
    return result


def _draw_quality(rng: random.Random, bins: Sequence[tuple[int, float]]) -> int:
    return rng.choices([q for q, _ in bins], [w for _, w in bins])[0]


def _sequence_read(rng: random.Random, template: str, error_rate: float) -> tuple[str, str]:
    """Read ``template`` with substitution errors at ``error_rate``: (sequence, qualities)."""
    bases = list(template)
    errors: set[int] = set()
    if error_rate > 0:
        log_keep = math.log1p(-error_rate)
        position = -1
        while True:
            position += 1 + int(math.log(1.0 - rng.random()) / log_keep)
            if position >= len(bases):
                break
            errors.add(position)
            bases[position] = rng.choice([b for b in BASES if b != bases[position]])
    common = [q for q, _ in QUALITY_BINS]
    common_weights = [w for _, w in QUALITY_BINS]
    drawn = rng.choices(common, common_weights, k=len(bases))
    for position in errors:
        drawn[position] = _draw_quality(rng, ERROR_QUALITY_BINS)
    return "".join(bases), "".join(chr(q + 33) for q in drawn)


def iter_read_pairs(
    haplotype_pair: tuple[Mapping[str, str], Mapping[str, str]],
    *,
    depth: float,
    seed: int,
    read_length: int = 150,
    insert_mean: float = 350.0,
    insert_sd: float = 50.0,
    error_rate: float = 0.001,
    duplicate_fraction: float = 0.02,
    name_prefix: str = "sim",
) -> Iterator[ReadPair]:
    """Paired-end reads from both haplotypes at ``depth`` (mean coverage over the genome).

    Fragments start uniformly on a haplotype, have a normal length (at least
    ``read_length``), and are read from a random strand: read 1 from one end, read 2
    (reverse complemented) from the other. A share ``duplicate_fraction`` of pairs are
    PCR duplicates of an earlier fragment (same ends, fresh sequencing errors). Pairs
    come in random order, named ``{name_prefix}{n:08d}``.
    """
    if depth <= 0 or read_length < 20:
        raise InvalidInputError("depth must be positive and reads at least 20 bp long")
    if not 0 <= error_rate < 0.5 or not 0 <= duplicate_fraction < 1:
        raise InvalidInputError("error_rate must be in [0, 0.5) and duplicate_fraction in [0, 1)")
    rng = random.Random(seed)  # noqa: S311 - simulation, not security
    fragments: list[tuple[int, str, int, int, bool]] = []
    for hap, sequences in enumerate(haplotype_pair):
        for name, seq in sequences.items():
            if len(seq) < read_length:
                continue
            count = round(depth * len(seq) / (4 * read_length) * (1 - duplicate_fraction))
            for _ in range(count):
                size = round(rng.gauss(insert_mean, insert_sd))
                size = min(max(size, read_length), len(seq))
                start = rng.randrange(0, len(seq) - size + 1)
                fragments.append((hap, name, start, size, rng.random() < 0.5))
    duplicates = round(len(fragments) * duplicate_fraction / (1 - duplicate_fraction))
    if fragments:
        fragments.extend(rng.choice(fragments) for _ in range(duplicates))
    rng.shuffle(fragments)
    for index, (hap, name, start, size, forward) in enumerate(fragments):
        fragment = haplotype_pair[hap][name][start : start + size].upper()
        left = fragment[:read_length]
        right = reverse_complement(fragment[-read_length:])
        first, second = (left, right) if forward else (right, left)
        seq1, qual1 = _sequence_read(rng, first, error_rate)
        seq2, qual2 = _sequence_read(rng, second, error_rate)
        yield ReadPair(f"{name_prefix}{index:08d}", seq1, qual1, seq2, qual2)


def write_fasta(path: Path, reference: Mapping[str, str], *, width: int = 60) -> Path:
    """Write ``reference`` as FASTA with ``width`` bases per line (aside, then renamed)."""
    partial = path.with_name(f".{path.name}.partial")
    with partial.open("w", encoding="ascii", newline="\n") as out:
        for name, seq in reference.items():
            out.write(f">{name}\n")
            for i in range(0, len(seq), width):
                out.write(seq[i : i + width] + "\n")
    os.replace(partial, path)
    return path


def write_fastq_pair(r1_path: Path, r2_path: Path, pairs: Iterable[ReadPair]) -> int:
    """Write pairs as two gzip FASTQ files (names end ``/1`` and ``/2``); returns the count.

    The gzip streams carry no time stamp or file name, so equal reads give equal bytes.
    """
    partial1 = r1_path.with_name(f".{r1_path.name}.partial")
    partial2 = r2_path.with_name(f".{r2_path.name}.partial")
    count = 0
    with (
        partial1.open("wb") as raw1,
        partial2.open("wb") as raw2,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw1, mtime=0, compresslevel=6) as out1,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw2, mtime=0, compresslevel=6) as out2,
    ):
        for pair in pairs:
            out1.write(f"@{pair.name}/1\n{pair.seq1}\n+\n{pair.qual1}\n".encode("ascii"))
            out2.write(f"@{pair.name}/2\n{pair.seq2}\n+\n{pair.qual2}\n".encode("ascii"))
            count += 1
    os.replace(partial1, r1_path)
    os.replace(partial2, r2_path)
    return count


def write_truth_vcf(
    path: Path,
    reference: Mapping[str, str],
    variants: Iterable[TruthVariant],
    *,
    sample: str = "TRUTH",
) -> Path:
    """Write the truth as a sorted VCF 4.2 with one sample's phased genotypes."""
    order = {name: i for i, name in enumerate(reference)}
    lines = ["##fileformat=VCFv4.2", "##source=helgenom.core.simulate"]
    lines += [f"##contig=<ID={name},length={len(seq)}>" for name, seq in reference.items()]
    lines.append('##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">')
    lines.append("\t".join(["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO"]))
    lines[-1] += f"\tFORMAT\t{sample}"
    for v in sorted(variants, key=lambda x: (order[x.contig], x.pos)):
        lines.append(f"{v.contig}\t{v.pos}\t.\t{v.ref}\t{v.alt}\t.\tPASS\t.\tGT\t{v.genotype}")
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text("\n".join(lines) + "\n", encoding="ascii")
    os.replace(partial, path)
    return path


def simulate_sample(
    out_dir: Path,
    *,
    reference: Mapping[str, str] | None = None,
    contigs: Sequence[tuple[str, int]] = (("chr1", 30_000), ("chr2", 15_000)),
    snvs: int = 40,
    indels: int = 16,
    depth: float = 30.0,
    seed: int = 1,
    read_length: int = 150,
    insert_mean: float = 350.0,
    insert_sd: float = 50.0,
    error_rate: float = 0.001,
    duplicate_fraction: float = 0.02,
    hom_fraction: float = 1 / 3,
    prefix: str = "sim",
) -> SimulatedSample:
    """Simulate a diploid sample and write its files into ``out_dir``.

    Writes ``{prefix}.fa`` (the reference: drawn at random from ``contigs`` unless
    ``reference`` is given), ``{prefix}_R1.fastq.gz``, ``{prefix}_R2.fastq.gz`` and
    ``{prefix}.truth.vcf``. Everything derives from ``seed``.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    ref = dict(reference) if reference is not None else random_reference(contigs, seed=seed)
    truth = plant_variants(ref, snvs=snvs, indels=indels, seed=seed + 1, hom_fraction=hom_fraction)
    pair = haplotypes(ref, truth)
    reads = iter_read_pairs(
        pair,
        depth=depth,
        seed=seed + 2,
        read_length=read_length,
        insert_mean=insert_mean,
        insert_sd=insert_sd,
        error_rate=error_rate,
        duplicate_fraction=duplicate_fraction,
    )
    fasta = write_fasta(out_dir / f"{prefix}.fa", ref)
    r1, r2 = out_dir / f"{prefix}_R1.fastq.gz", out_dir / f"{prefix}_R2.fastq.gz"
    count = write_fastq_pair(r1, r2, reads)
    vcf = write_truth_vcf(out_dir / f"{prefix}.truth.vcf", ref, truth)
    return SimulatedSample(fasta, r1, r2, vcf, truth, count)


__all__ = [
    "ReadPair",
    "SimulatedSample",
    "TruthVariant",
    "haplotypes",
    "iter_read_pairs",
    "plant_variants",
    "random_reference",
    "reverse_complement",
    "simulate_sample",
    "write_fasta",
    "write_fastq_pair",
    "write_truth_vcf",
]
