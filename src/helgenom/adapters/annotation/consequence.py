"""Per-transcript variant consequences with ``bcftools csq`` (run through pysam).

:func:`annotate` splits multi-allelic records and left-aligns them (``bcftools norm -m -any
-f REF``), runs ``bcftools csq`` and returns one row per variant and transcript with SO terms,
an Ensembl impact rank and ``c.``/``p.`` notation.

Choices (documented because they change the output):

* ``--local-csq``: every VCF record is annotated on its own, as VEP does. The default,
  haplotype-aware mode merges nearby variants on the same haplotype (two SNVs in one codon
  become one amino-acid change, a frameshift rescued by a second indel is reported as such);
  that needs phased genotypes and gives per-haplotype rather than per-variant answers.
* ``--samples -``: genotypes are ignored and the consequences go to ``INFO/BCSQ`` for every
  ALT allele, so ``--phase`` (``-p a`` etc.) does not matter; it only steers how unphased
  heterozygous genotypes form haplotypes in the haplotype-aware mode.
* ``--force`` is only added when bcftools refuses the GFF3 in a sanity check (for example a
  transcript clipped at the end of a mini-reference); the table's schema metadata then says
  ``forced: true``.

What is approximate:

* ``hgvs_c`` is computed here from the GFF3 CDS model (bcftools prints only a genomic change
  such as ``114G>C``) and only for changes that lie wholly in the CDS; UTR and intronic
  positions (``c.-12``, ``c.*5``, ``c.100+1``) are left empty. Indels are not shifted to their
  3'-most position and duplications are written as insertions (HGVS wants ``dup``).
* ``hgvs_p`` is built from bcftools' amino-acid change (``2A>2P`` becomes ``p.(Ala2Pro)``) in
  the parenthesised "predicted" form; frameshifts use the short form ``p.(Phe28fs)``, stop
  losses ``p.(Ter41Glnext*?)``, start losses ``p.(Met1?)``, and in-frame indels are not
  3'-shifted. No transcript or protein accession prefix is added.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pysam
import pysam.bcftools

from helgenom.core.errors import FormatError, ToolFailedError

CHR22_40KB_GFF3_OFFSET = 16_569_999
"""Offset of the test kit's ``chr22_40kb_local`` FASTA (local = full - offset). Measured: with
it the CCT8L2 CDS reads ATG...TAG; the kit's GTF is shifted by 16,572,026 instead, which does
not fit the FASTA (its CDS then starts with AGA)."""

IMPACT_ORDER = ("HIGH", "MODERATE", "LOW", "MODIFIER")
"""Impact ranks, most severe first."""

SO_IMPACT: dict[str, str] = {
    **dict.fromkeys(
        (
            "transcript_ablation",
            "splice_acceptor_variant",
            "splice_donor_variant",
            "stop_gained",
            "frameshift_variant",
            "stop_lost",
            "start_lost",
            "transcript_amplification",
            "feature_elongation",
            "feature_truncation",
        ),
        "HIGH",
    ),
    **dict.fromkeys(
        (
            "inframe_insertion",
            "inframe_deletion",
            "missense_variant",
            "protein_altering_variant",
        ),
        "MODERATE",
    ),
    **dict.fromkeys(
        (
            "splice_donor_5th_base_variant",
            "splice_region_variant",
            "splice_donor_region_variant",
            "splice_polypyrimidine_tract_variant",
            "incomplete_terminal_codon_variant",
            "start_retained_variant",
            "stop_retained_variant",
            "synonymous_variant",
        ),
        "LOW",
    ),
    **dict.fromkeys(
        (
            "coding_sequence_variant",
            "mature_miRNA_variant",
            "5_prime_UTR_variant",
            "3_prime_UTR_variant",
            "non_coding_transcript_exon_variant",
            "intron_variant",
            "NMD_transcript_variant",
            "non_coding_transcript_variant",
            "coding_transcript_variant",
            "upstream_gene_variant",
            "downstream_gene_variant",
            "TFBS_ablation",
            "TFBS_amplification",
            "TF_binding_site_variant",
            "regulatory_region_ablation",
            "regulatory_region_amplification",
            "regulatory_region_variant",
            "intergenic_variant",
            "sequence_variant",
        ),
        "MODIFIER",
    ),
}
"""Impact of each SO consequence term, after Ensembl's "calculated variant consequences"
table (release 110 and later, where feature_elongation/-truncation are HIGH)."""

BCFTOOLS_TO_SO: dict[str, str] = {
    "missense": "missense_variant",
    "synonymous": "synonymous_variant",
    "stop_gained": "stop_gained",
    "stop_lost": "stop_lost",
    "stop_retained": "stop_retained_variant",
    "start_lost": "start_lost",
    "start_retained": "start_retained_variant",
    "frameshift": "frameshift_variant",
    "inframe_deletion": "inframe_deletion",
    "inframe_insertion": "inframe_insertion",
    "inframe_altering": "protein_altering_variant",
    "splice_acceptor": "splice_acceptor_variant",
    "splice_donor": "splice_donor_variant",
    "splice_region": "splice_region_variant",
    "5_prime_utr": "5_prime_UTR_variant",
    "3_prime_utr": "3_prime_UTR_variant",
    "non_coding": "non_coding_transcript_exon_variant",
    "intron": "intron_variant",
    "intergenic": "intergenic_variant",
    "coding_sequence": "coding_sequence_variant",
    "feature_elongation": "feature_elongation",
}
"""bcftools csq consequence names to SO terms (unknown names pass through unchanged)."""

AA3: dict[str, str] = {
    "A": "Ala", "R": "Arg", "N": "Asn", "D": "Asp", "C": "Cys", "Q": "Gln", "E": "Glu",
    "G": "Gly", "H": "His", "I": "Ile", "L": "Leu", "K": "Lys", "M": "Met", "F": "Phe",
    "P": "Pro", "S": "Ser", "T": "Thr", "W": "Trp", "Y": "Tyr", "V": "Val", "*": "Ter",
    "U": "Sec", "X": "Xaa",
}  # fmt: skip
"""One-letter to three-letter amino-acid codes (``*`` is ``Ter``)."""

TRANSCRIPT_FEATURE_TYPES = frozenset(
    {
        "gene",
        "ncRNA_gene",
        "pseudogene",
        "mRNA",
        "transcript",
        "lnc_RNA",
        "ncRNA",
        "miRNA",
        "snRNA",
        "snoRNA",
        "rRNA",
        "pseudogenic_transcript",
        "unconfirmed_transcript",
        "exon",
        "CDS",
        "five_prime_UTR",
        "three_prime_UTR",
    }
)
"""GFF3 feature types :func:`shift_gff3` keeps by default (what ``bcftools csq`` reads)."""

CONSEQUENCE_SCHEMA = pa.schema(
    [
        pa.field("variant_id", pa.string(), nullable=False),
        pa.field("contig", pa.string(), nullable=False),
        pa.field("pos", pa.int64(), nullable=False),
        pa.field("ref", pa.string(), nullable=False),
        pa.field("alt", pa.string(), nullable=False),
        pa.field("gene", pa.string()),
        pa.field("transcript", pa.string()),
        pa.field("biotype", pa.string()),
        pa.field("strand", pa.string()),
        pa.field("consequence_raw", pa.string()),
        pa.field("consequence", pa.list_(pa.string()), nullable=False),
        pa.field("impact", pa.string(), nullable=False),
        pa.field("amino_acid_change", pa.string()),
        pa.field("dna_change", pa.string()),
        pa.field("hgvs_c", pa.string()),
        pa.field("hgvs_p", pa.string()),
    ]
)
"""Columns of the table :func:`annotate` returns."""

_AA_CHANGE = re.compile(r"^(\d+)([A-Z*]+)(?:>(\d+)([A-Z*]+))?$")
_COMPLEMENT = str.maketrans("ACGTNacgtn", "TGCANtgcan")


@dataclass(frozen=True, slots=True)
class TranscriptModel:
    """The coding part of one transcript, as read from a GFF3."""

    transcript: str
    """Transcript ID without the Ensembl ``transcript:`` prefix, as bcftools prints it."""
    contig: str
    """Contig name."""
    strand: str
    """``+`` or ``-``."""
    cds: tuple[tuple[int, int], ...]
    """CDS segments, 1-based inclusive, sorted by genomic position."""

    def cds_position(self, pos: int) -> int | None:
        """Return the 1-based ``c.`` position of a genomic position, or None outside the CDS."""
        offset = 0
        segments = self.cds if self.strand == "+" else tuple(reversed(self.cds))
        for start, end in segments:
            if start <= pos <= end:
                inner = pos - start if self.strand == "+" else end - pos
                return offset + inner + 1
            offset += end - start + 1
        return None


@dataclass(frozen=True, slots=True)
class Gff3Check:
    """What :func:`check_gff3` found."""

    contigs: tuple[str, ...]
    """Contigs the GFF3 uses."""
    features: int
    """Number of feature lines."""
    coding_transcripts: int
    """Transcripts with at least one CDS line inside the FASTA."""
    start_codons_ok: int
    """Coding transcripts whose CDS begins with ATG in the FASTA."""


@dataclass(frozen=True, slots=True)
class _Feature:
    line_no: int
    contig: str
    type: str
    start: int
    end: int
    strand: str
    attributes: dict[str, str]


def _parse_attributes(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in text.strip().split(";"):
        if "=" in part:
            key, value = part.split("=", 1)
            out[key.strip()] = value.strip()
    return out


def _iter_gff3(path: Path) -> Iterator[_Feature]:
    """Yield the feature lines of a GFF3 file.

    Raises
    ------
    FormatError
        If a line does not have nine tab-separated columns or integer coordinates.
    """
    with path.open(encoding="utf-8") as handle:
        for line_no, raw in enumerate(handle, start=1):
            line = raw.rstrip("\n")
            if not line or line.startswith("#"):
                if line.startswith("##FASTA"):
                    return
                continue
            cols = line.split("\t")
            if len(cols) != 9:
                raise FormatError(
                    f"GFF3 file {path}, line {line_no}: {len(cols)} tab-separated columns, "
                    "expected 9; fix the line (tabs inside attributes must be %09-escaped)"
                )
            try:
                start, end = int(cols[3]), int(cols[4])
            except ValueError:
                raise FormatError(
                    f"GFF3 file {path}, line {line_no}: start/end {cols[3]!r}/{cols[4]!r} are "
                    "not integers; fix the coordinates"
                ) from None
            yield _Feature(
                line_no, cols[0], cols[2], start, end, cols[6], _parse_attributes(cols[8])
            )


def _strip_prefix(value: str) -> str:
    return value.split(":", 1)[1] if ":" in value else value


def read_transcript_models(gff3_path: Path) -> dict[str, TranscriptModel]:
    """Read the CDS segments of every transcript in a GFF3 (Ensembl style ``Parent=``).

    Parameters
    ----------
    gff3_path
        GFF3 file.

    Returns
    -------
    dict
        Transcript ID (without ``transcript:``) to its model; only transcripts with CDS.

    Raises
    ------
    FormatError
        If the file is not tab-separated GFF3, or a CDS has a strand other than ``+``/``-``.
    """
    segments: dict[str, list[tuple[int, int]]] = {}
    where: dict[str, tuple[str, str]] = {}
    for feature in _iter_gff3(gff3_path):
        if feature.type != "CDS":
            continue
        if feature.strand not in ("+", "-"):
            raise FormatError(
                f"GFF3 file {gff3_path}, line {feature.line_no}: CDS strand "
                f"{feature.strand!r}; a CDS needs '+' or '-'"
            )
        for parent in feature.attributes.get("Parent", "").split(","):
            if not parent:
                continue
            tx = _strip_prefix(parent)
            segments.setdefault(tx, []).append((feature.start, feature.end))
            where[tx] = (feature.contig, feature.strand)
    return {
        tx: TranscriptModel(tx, where[tx][0], where[tx][1], tuple(sorted(segs)))
        for tx, segs in segments.items()
    }


def check_gff3(gff3_path: Path, reference_fasta: Path) -> Gff3Check:
    """Check that a GFF3 fits a FASTA: contigs present, coordinates in range, ATG starts.

    A GFF3 in whole-chromosome coordinates used with a local slice of a chromosome makes
    ``bcftools csq`` run silently with no annotation; this check turns that into an error.

    Parameters
    ----------
    gff3_path
        GFF3 file.
    reference_fasta
        FASTA file (a ``.fai`` index is created next to it when missing).

    Returns
    -------
    Gff3Check
        Summary of what was found.

    Raises
    ------
    FormatError
        If a contig of the GFF3 is not in the FASTA, a feature runs past the end of its
        contig, or no coding transcript starts with ATG (a wrong coordinate offset).
    """
    fasta = pysam.FastaFile(str(reference_fasta))
    try:
        lengths = dict(zip(fasta.references, fasta.lengths, strict=True))
        contigs: list[str] = []
        features = 0
        for feature in _iter_gff3(gff3_path):
            features += 1
            if feature.contig not in contigs:
                contigs.append(feature.contig)
            if feature.contig not in lengths:
                raise FormatError(
                    f"GFF3 file {gff3_path}, line {feature.line_no}: contig "
                    f"{feature.contig!r} is not in the FASTA {reference_fasta} (which has "
                    f"{', '.join(sorted(lengths)[:5])}); rename the contigs to match"
                )
            if feature.end > lengths[feature.contig]:
                raise FormatError(
                    f"GFF3 file {gff3_path}, line {feature.line_no}: feature ends at "
                    f"{feature.end}, past the end of {feature.contig} ({lengths[feature.contig]} "
                    f"bp in {reference_fasta}); the GFF3 is probably in whole-chromosome "
                    "coordinates while the FASTA is a local slice: shift and clip it with "
                    "shift_gff3(..., offset) (offset = full - local coordinate)"
                )
        models = read_transcript_models(gff3_path)
        ok = 0
        for model in models.values():
            if model.strand == "+":
                start, _ = model.cds[0]
                codon = fasta.fetch(model.contig, start - 1, start + 2).upper()
            else:
                _, end = model.cds[-1]
                codon = _revcomp(fasta.fetch(model.contig, end - 3, end).upper())
            ok += codon == "ATG"
        if models and ok == 0:
            raise FormatError(
                f"GFF3 file {gff3_path}: none of its {len(models)} coding transcripts starts "
                f"with ATG in {reference_fasta}; the coordinates are probably offset from the "
                "FASTA's: shift the GFF3 with shift_gff3(..., offset) by the right offset"
            )
        return Gff3Check(tuple(contigs), features, len(models), ok)
    finally:
        fasta.close()


def shift_gff3(
    source: Path,
    dest: Path,
    offset: int,
    contig_length: int | None = None,
    keep_types: Iterable[str] | None = TRANSCRIPT_FEATURE_TYPES,
) -> int:
    """Write a copy of a GFF3 with coordinates moved down by ``offset`` and clipped.

    Features that end up wholly outside ``1..contig_length`` are dropped; features that
    overlap an end are clipped (a clipped CDS may lack its start or stop codon).

    Parameters
    ----------
    source
        GFF3 in whole-chromosome coordinates.
    dest
        Where to write the shifted GFF3.
    offset
        Full coordinate minus local coordinate (``CHR22_40KB_GFF3_OFFSET`` for the test kit).
    contig_length
        Length of the local contig to clip at; None for no clipping at the right end.
    keep_types
        Feature types to keep (default: those ``bcftools csq`` reads, which also drops the
        kit's malformed ``biological_region`` lines); None keeps all.

    Returns
    -------
    int
        Number of feature lines written.

    Raises
    ------
    FormatError
        If a feature line is malformed.
    """
    keep = None if keep_types is None else frozenset(keep_types)
    written = 0
    with source.open(encoding="utf-8") as handle, dest.open("w", encoding="utf-8") as out:
        out.write("##gff-version 3\n")
        for line_no, raw in enumerate(handle, start=1):
            line = raw.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            cols = line.split("\t")
            if len(cols) != 9:
                raise FormatError(
                    f"GFF3 file {source}, line {line_no}: {len(cols)} columns, expected 9"
                )
            if keep is not None and cols[2] not in keep:
                continue
            try:
                start, end = int(cols[3]) - offset, int(cols[4]) - offset
            except ValueError:
                raise FormatError(
                    f"GFF3 file {source}, line {line_no}: start/end are not integers"
                ) from None
            start = max(start, 1)
            if contig_length is not None:
                end = min(end, contig_length)
            if start > end:
                continue
            cols[3], cols[4] = str(start), str(end)
            out.write("\t".join(cols) + "\n")
            written += 1
    return written


def _revcomp(seq: str) -> str:
    return seq.translate(_COMPLEMENT)[::-1]


def hgvs_c(model: TranscriptModel, pos: int, ref: str, alt: str) -> str | None:
    """Return the ``c.`` notation of a VCF allele on a transcript, or None if not wholly in CDS.

    Indels are not 3'-shifted and duplications are written as insertions (approximate).
    """
    # trim the shared prefix (VCF padding) and suffix
    while ref and alt and ref[0] == alt[0]:
        ref, alt, pos = ref[1:], alt[1:], pos + 1
    while ref and alt and ref[-1] == alt[-1]:
        ref, alt = ref[:-1], alt[:-1]
    minus = model.strand == "-"
    if not ref:  # insertion between pos-1 and pos
        left, right = model.cds_position(pos - 1), model.cds_position(pos)
        if left is None or right is None or abs(left - right) != 1:
            return None
        lo, hi = sorted((left, right))
        return f"c.{lo}_{hi}ins{_revcomp(alt) if minus else alt}"
    first, last = model.cds_position(pos), model.cds_position(pos + len(ref) - 1)
    if first is None or last is None or abs(last - first) != len(ref) - 1:
        return None
    lo, hi = sorted((first, last))
    span = f"{lo}" if lo == hi else f"{lo}_{hi}"
    if not alt:
        return f"c.{span}del"
    if len(ref) == 1 and len(alt) == 1:
        if minus:
            ref, alt = _revcomp(ref), _revcomp(alt)
        return f"c.{lo}{ref}>{alt}"
    return f"c.{span}delins{_revcomp(alt) if minus else alt}"


def hgvs_p(amino_acid_change: str, consequences: Sequence[str]) -> str | None:
    """Map a bcftools amino-acid change (``2A>2P``) to predicted ``p.`` notation.

    Parameters
    ----------
    amino_acid_change
        The sixth BCSQ field: ``POS REF[>POS ALT]`` in one-letter codes.
    consequences
        The SO terms of the same entry (to tell frameshifts and stop losses apart).

    Returns
    -------
    str or None
        E.g. ``p.(Ala2Pro)``, ``p.(Ala2=)``, ``p.(Gln3Ter)``, ``p.(Phe28fs)``; None if the
        change cannot be parsed.
    """
    match = _AA_CHANGE.match(amino_acid_change)
    if match is None:
        return None
    pos, ref = int(match.group(1)), match.group(2)
    alt = match.group(4)

    def three(seq: str) -> str:
        return "".join(AA3.get(a, "Xaa") for a in seq)

    if alt is None or ref == alt:
        return f"p.({three(ref[0])}{pos}=)" if len(ref) == 1 else "p.(=)"
    if "start_lost" in consequences:
        return f"p.({three(ref[0])}{pos}?)"
    # trim common prefix
    k = 0
    while k < min(len(ref), len(alt)) and ref[k] == alt[k]:
        k += 1
    if "frameshift_variant" in consequences:
        if k >= len(ref):
            return None
        return f"p.({three(ref[k])}{pos + k}fs)"
    if "stop_lost" in consequences and ref[k : k + 1] == "*" and k < len(alt):
        return f"p.(Ter{pos + k}{three(alt[k])}ext*?)"
    r, a, start = ref[k:], alt[k:], pos + k
    while r and a and r[-1] == a[-1]:
        r, a = r[:-1], a[:-1]
    if not r and a:  # insertion after start-1
        if k == 0:
            return None
        if k >= len(ref):  # next residue unknown: write as delins of the last one
            last = ref[k - 1]
            return f"p.({three(last)}{start - 1}delins{three(last + a)})"
        return f"p.({three(ref[k - 1])}{start - 1}_{three(ref[k])}{start}ins{three(a)})"
    if r and not a:
        if len(r) == 1:
            return f"p.({three(r)}{start}del)"
        return f"p.({three(r[0])}{start}_{three(r[-1])}{start + len(r) - 1}del)"
    if len(r) == 1 and len(a) == 1:
        return f"p.({three(r)}{start}{three(a)})"
    if not r:
        return None
    end = f"_{three(r[-1])}{start + len(r) - 1}" if len(r) > 1 else ""
    return f"p.({three(r[0])}{start}{end}delins{three(a)})"


def _worst_impact(terms: Sequence[str]) -> str:
    ranks = [IMPACT_ORDER.index(SO_IMPACT.get(t, "MODIFIER")) for t in terms]
    return IMPACT_ORDER[min(ranks)] if ranks else "MODIFIER"


def _run(tool: str, *args: str) -> None:
    try:
        getattr(pysam.bcftools, tool)(*args, catch_stdout=False)
    except pysam.utils.SamtoolsError as exc:
        raise ToolFailedError(f"bcftools {tool} failed: {exc}") from exc


_CSQ_CHILD = "import sys, pysam.bcftools\npysam.bcftools.csq(*sys.argv[1:], catch_stdout=False)\n"


def _run_csq_isolated(*args: str) -> None:
    """Run ``bcftools csq`` through pysam in a child Python process.

    pysam's in-process ``bcftools csq`` keeps state between calls: after one run, a later run
    on another file can fail with "The file is not sorted, chr22:114 comes before chr22:1"
    (seen with pysam 0.24.1). A fresh interpreter per call avoids that (~0.3 s overhead).
    """
    proc = subprocess.run(  # noqa: S603 - fixed interpreter and script, arguments are paths
        [sys.executable, "-c", _CSQ_CHILD, *args],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise ToolFailedError(f"bcftools csq failed: {proc.stderr.strip()[-2000:]}")


def annotate(vcf_path: Path, reference_fasta: Path, gff3_path: Path, workdir: Path) -> pa.Table:
    """Annotate every ALT allele of a VCF with per-transcript consequences.

    Parameters
    ----------
    vcf_path
        VCF/BCF (plain or bgzipped); genotypes are ignored.
    reference_fasta
        FASTA the VCF was called against (``.fai`` created next to it when missing).
    gff3_path
        Ensembl-style GFF3 in the FASTA's coordinates (checked with :func:`check_gff3`).
    workdir
        Folder for the intermediate files (created if missing).

    Returns
    -------
    pyarrow.Table
        Rows of :data:`CONSEQUENCE_SCHEMA`; variants outside all transcripts get one row with
        ``intergenic_variant``. Schema metadata holds the bcftools arguments and ``forced``.

    Raises
    ------
    FormatError
        If the GFF3 does not fit the FASTA.
    ToolFailedError
        If ``bcftools norm`` or ``bcftools csq`` fails (e.g. REF does not match the FASTA).
    """
    workdir.mkdir(parents=True, exist_ok=True)
    if not Path(f"{reference_fasta}.fai").exists():
        pysam.faidx(str(reference_fasta))
    check_gff3(gff3_path, reference_fasta)
    models = read_transcript_models(gff3_path)
    normalised = workdir / "normalised.bcf"
    _run("norm", "-m", "-any", "-f", str(reference_fasta), "-Ob", "-o", str(normalised),
         str(vcf_path))  # fmt: skip
    out = workdir / "csq.vcf"
    base = ["-f", str(reference_fasta), "-g", str(gff3_path), "--local-csq", "-s", "-", "-Ov"]
    forced = False
    try:
        _run_csq_isolated(*base, "-o", str(out), str(normalised))
    except ToolFailedError as exc:
        if "--force" not in str(exc):
            raise
        forced = True
        _run_csq_isolated(*base, "--force", "-o", str(out), str(normalised))
    table = pa.Table.from_pylist(list(_rows(out, models)), schema=CONSEQUENCE_SCHEMA)
    meta = {
        b"bcftools_csq_args": " ".join([*base[4:], *(["--force"] if forced else [])]).encode(),
        b"forced": b"true" if forced else b"false",
    }
    return table.replace_schema_metadata(meta)


def _rows(bcf: Path, models: dict[str, TranscriptModel]) -> Iterator[dict[str, object]]:
    with pysam.VariantFile(str(bcf), index_filename=None) as vf:
        for rec in vf:
            alt = rec.alts[0] if rec.alts else "."
            if alt.startswith("<") or alt in ("*", "."):
                continue  # symbolic (gVCF <NON_REF>, SVs), spanning deletion, or no ALT
            base: dict[str, object] = {
                "variant_id": f"{rec.chrom}-{rec.pos}-{rec.ref}-{alt}",
                "contig": rec.chrom,
                "pos": rec.pos,
                "ref": rec.ref,
                "alt": alt,
            }
            entries = rec.info.get("BCSQ") if "BCSQ" in rec.info else None
            emitted = False
            for entry in entries or ():
                fields = str(entry).split("|")
                raw = fields[0]
                if raw.startswith("@"):  # points to a compound record (haplotype mode)
                    continue
                raw = raw.lstrip("*")
                terms = [BCFTOOLS_TO_SO.get(t, t) for t in raw.split("&") if t]
                padded = [f or None for f in fields] + [None] * (7 - len(fields))
                tx = padded[2]
                aa, dna = padded[5], padded[6]
                model = models.get(tx) if tx else None
                c_dot = hgvs_c(model, rec.pos, rec.ref or "", alt) if model else None
                yield {
                    **base,
                    "gene": padded[1],
                    "transcript": tx,
                    "biotype": padded[3],
                    "strand": padded[4],
                    "consequence_raw": raw,
                    "consequence": terms,
                    "impact": _worst_impact(terms),
                    "amino_acid_change": aa,
                    "dna_change": dna,
                    "hgvs_c": c_dot,
                    "hgvs_p": hgvs_p(aa, terms) if aa else None,
                }
                emitted = True
            if not emitted:
                yield {
                    **base,
                    "gene": None,
                    "transcript": None,
                    "biotype": None,
                    "strand": None,
                    "consequence_raw": None,
                    "consequence": ["intergenic_variant"],
                    "impact": "MODIFIER",
                    "amino_acid_change": None,
                    "dna_change": None,
                    "hgvs_c": None,
                    "hgvs_p": None,
                }
