"""Ingest of one sample's VCF or gVCF into the rows of the national genome database.

:func:`read_sample_vcf` reads a single-sample VCF/gVCF (plain or gzip/BGZF) in one
streaming pass that

1. validates the file (header and every record, see
   :mod:`~helgenom.adapters.variants.vcfheader` and
   :mod:`~helgenom.adapters.variants.vcfrecord`) plus what the instance needs: one
   sample column named as the sample is registered, contigs of the instance's build
   (same lengths), REF equal to the reference FASTA, nothing past a contig's end, a
   ``GT`` on every record;
2. turns homozygous-reference records (gVCF blocks with ``END``, ``0/0`` records) into
   ``ref_blocks`` rows and biallelic SNVs (already normal) into ``variants`` and
   ``calls`` rows directly; and
3. writes every other non-reference record (indels, MNVs, multi-allelic sites) in a
   reduced form (``GT:GQ:DP:AD`` plus the original genotype as ``INFO/OGT``) to a
   temporary VCF, which ``bcftools norm -m -any --multi-overlaps . -f REF`` splits,
   left-aligns and trims; a second pass turns its records into rows.

Rows follow :mod:`~helgenom.adapters.variants.schema` exactly. Rules worth knowing:

* A split multi-allelic genotype gives one call per ALT allele: ``call_alt_count``
  copies of that allele, ``call_other_count`` copies of the record's other ALT alleles
  (``1/2`` -> two calls 1+1), ``call_ploidy`` the called alleles of the original
  genotype; ``call_gt`` is bcftools' split genotype (other alleles written ``.``).
  Every call has a ``variants`` row, even one with ``call_alt_count`` 0.
* Symbolic (``<NON_REF>``, ``<*>``, ``<DEL>``), ``*`` and breakend alleles are never
  variants; a non-reference genotype made only of them gives no row.
* Records whose FILTER is neither ``PASS`` nor ``.`` give no row (the site counts as
  not covered) and are counted in :attr:`IngestBatch.records_filtered`.
* Fully missing genotypes (``./.``) give no row; missing alleles are left out of
  the ploidy. Sex and hemizygosity are not decided here.

Errors are :class:`~helgenom.core.errors.FormatError` naming the file, the line and
position, the problem and the fix, never a genotype or an allele. Temporary files
live in a private folder in ``workdir`` that is removed on success and failure.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import itertools
import os
import re
import shutil
import tempfile
import zlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, cast

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc
import pysam
import pysam.bcftools
import pysam.utils

from helgenom.adapters.variants import schema
from helgenom.adapters.variants.vcfcheck import (
    BLOCK_TYPES,
    CALL_TYPES,
    Chunk,
    ChunkScanner,
    NonRefCalls,
)
from helgenom.adapters.variants.vcfheader import HeaderParser, HeaderProblem, VcfHeader
from helgenom.adapters.variants.vcfrecord import (
    INT32_MAX,
    Genotype,
    RecordChecker,
    RecordProblem,
    parse_genotype,
)
from helgenom.core.errors import ConfigurationError, FormatError, redact_numbers

CHUNK_ROWS = 65_536
"""Rows collected in Python lists before they become one Arrow record batch."""
REFERENCE_WINDOW = 1 << 16
"""Bases of the reference FASTA fetched at a time for the REF check."""
SPARSE_GAP = 1024
"""A record more than this many bases after the last fetched window has its REF bases
fetched alone (copying the bases between costs more than another fetch)."""
MAX_PLOIDY = 127
"""Largest ploidy a row can hold (``int8``)."""

_ACGT = frozenset("ACGTacgt")
_UPPER_ACGT = frozenset("ACGT")
_SYMBOL_START = frozenset("<*[].")
_OGT = re.compile(r"(?:^|;)OGT=([^;]+)")
_BCFTOOLS_AT = re.compile(r" at (?P<ctg>[^\s:]+):(?P<pos>[0-9]+)")


@dataclass(frozen=True)
class IngestBatch:
    """The rows one sample file contributes, and what the ingest saw."""

    variants: pa.Table
    """Rows of :data:`schema.VARIANTS` (one per call)."""
    calls: pa.Table
    """Rows of :data:`schema.CALLS`."""
    ref_blocks: pa.Table
    """Rows of :data:`schema.REF_BLOCKS`."""
    sample_id: str
    """The sample the rows belong to."""
    ingest_id: str
    """The ingest that produced the rows."""
    sha256: str
    """SHA-256 (hex) of the input file's bytes as given (compressed or not)."""
    contigs: tuple[str, ...]
    """Contigs that records were on, in file order."""
    records: int
    """Data lines read."""
    records_normalised: int
    """Non-reference records passed through ``bcftools norm``."""
    records_filtered: int
    """Records skipped because FILTER was neither PASS nor '.'."""
    records_no_call: int
    """Records skipped because the genotype was fully missing."""
    records_symbolic: int
    """Non-reference records skipped because all their ALT alleles were symbolic,
    ``*`` or breakends."""
    vcf_version: str
    """``VCFv4.2`` etc."""

    def __reduce__(self) -> tuple[Callable[..., IngestBatch], tuple[Any, ...]]:
        # A worker process hands its batch to the parent: Arrow's IPC stream is several
        # times cheaper to write and read than pickling each column of the tables.
        fields = [getattr(self, field.name) for field in dataclasses.fields(self)]
        return _batch_from_ipc, (*(_to_ipc(table) for table in fields[:3]), *fields[3:])


def _to_ipc(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return cast(bytes, sink.getvalue().to_pybytes())


def _batch_from_ipc(variants: bytes, calls: bytes, blocks: bytes, *rest: Any) -> IngestBatch:
    tables = (pa.ipc.open_stream(data).read_all() for data in (variants, calls, blocks))
    return IngestBatch(*tables, *rest)


@dataclass(frozen=True)
class VcfSummary:
    """What :func:`check_vcf` found in a valid file."""

    vcf_version: str
    """``VCFv4.2`` etc."""
    samples: tuple[str, ...]
    """Sample column names."""
    records: int
    """Data lines."""
    contigs: tuple[str, ...]
    """Contigs that records were on, in file order."""
    sha256: str
    """SHA-256 (hex) of the file's bytes."""


class _HashingReader(io.RawIOBase):
    """A raw reader that hashes every byte read through it."""

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self.digest = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        n = self._raw.readinto(view)  # type: ignore[attr-defined]
        if n:
            self.digest.update(view[:n])
        return int(n or 0)

    def drain(self) -> str:
        """Hash the rest of the file and return the hex digest."""
        while chunk := self._raw.read(1 << 20):
            self.digest.update(chunk)
        return self.digest.hexdigest()


SMALL_GZIP = 8 << 20
"""Compressed files up to this size are read and decompressed whole (most per-sample
VCFs; gVCFs of whole genomes stream)."""


def _small_gzip(raw: IO[bytes]) -> tuple[bytes, str] | None:
    """The decompressed content and SHA-256 of a small, well-formed gzip/BGZF file at
    ``raw`` (whose position is left at 0); None for a large or damaged one, which the
    streaming reader then reads (and words the damage of)."""
    if os.fstat(raw.fileno()).st_size > SMALL_GZIP:
        return None  # not read twice: the streaming reader takes it from the start
    data = raw.read()
    raw.seek(0)
    digest = hashlib.sha256(data).hexdigest()
    parts: list[bytes] = []
    rest = memoryview(data)
    try:
        while rest:
            member = zlib.decompressobj(31)  # one gzip member (a BGZF block) at a time
            parts.append(member.decompress(rest))
            if not member.eof:
                return None
            tail = member.unused_data.lstrip(b"\0")  # gzip allows zero padding
            rest = memoryview(tail)
    except zlib.error:
        return None
    return b"".join(parts), digest


def _label(path: Path) -> str:
    """The file as named in messages (digit runs that may be a CPR number redacted)."""
    return redact_numbers(path.name)


class _VcfFile:
    """One pass over a VCF file: header, checked records, checksum."""

    def __init__(self, path: Path, known_contigs: Mapping[str, int] | None) -> None:
        self.path = path
        self.label = _label(path)
        self.known_contigs = known_contigs
        self._stack: list[io.IOBase | IO[bytes]] = []
        self._hashing: _HashingReader | None = None
        self._digest: str | None = None
        self._lines: Iterator[bytes] = iter(())
        self._stream: IO[bytes] | None = None
        self.lineno = 0
        self.header: VcfHeader | None = None
        self.checker: RecordChecker | None = None

    def open(self) -> VcfHeader:
        """Open the file and read its header.

        Raises
        ------
        FormatError
            The file is empty, BCF, not gzip/BGZF or plain text, or its header is invalid.
        """
        raw = self.path.open("rb")
        self._stack.append(raw)
        magic = raw.read(4)
        raw.seek(0)
        if not magic:
            raise FormatError(f"{self.label}: the file is empty; submit the VCF or gVCF file")
        whole = _small_gzip(raw) if magic[:2] == b"\x1f\x8b" else None
        if whole is not None:
            data, self._digest = whole
            stream: IO[bytes] = io.BytesIO(data)
            if data.startswith(b"BCF"):
                raise FormatError(
                    f"{self.label}: the file is BCF; submit VCF: convert it with "
                    "bcftools view -Oz -o sample.vcf.gz"
                )
        else:
            self._hashing = _HashingReader(raw)
            buffered = io.BufferedReader(self._hashing, 1 << 20)
            self._stack.append(buffered)
            stream = buffered
        if whole is None and magic[:2] == b"\x1f\x8b":
            gz = gzip.GzipFile(fileobj=buffered, mode="rb")
            self._stack.append(gz)
            try:
                head = gz.peek(4)[:4]
            except (OSError, EOFError, zlib.error) as exc:
                raise self._gzip_error(exc) from None
            if head.startswith(b"BCF"):
                raise FormatError(
                    f"{self.label}: the file is BCF; submit VCF: convert it with "
                    "bcftools view -Oz -o sample.vcf.gz"
                )
            # GzipFile reads lines in Python; a C reader over it reads them much faster.
            lines = io.BufferedReader(cast(Any, gz), 1 << 16)
            self._stack.append(lines)
            stream = lines
        self._stream = stream
        self._lines = iter(stream)
        parser = HeaderParser(self.known_contigs)
        while True:
            raw_line = self._next()
            if raw_line is None:
                if self.lineno == 0:
                    raise FormatError(f"{self.label}: the file is empty; submit a VCF file")
                raise FormatError(
                    f"{self.label}: the header has no #CHROM column line; the file is "
                    "truncated or not a VCF file"
                )
            text = self._text(raw_line)
            if text.startswith("#") and not text.startswith("##"):
                self.header = parser.columns(text)
                break
            parser.meta(text)
        self.checker = RecordChecker(self.header, self.known_contigs)
        return self.header

    def _gzip_error(self, exc: BaseException) -> FormatError:
        return FormatError(
            f"{self.label}: the file is not valid gzip/BGZF (near line {self.lineno}: "
            f"{type(exc).__name__}); the upload may be truncated: submit it again, or "
            "compress it with bgzip"
        )

    def _next(self) -> bytes | None:
        try:
            raw_line = next(self._lines)
        except StopIteration:
            return None
        except (OSError, EOFError, zlib.error) as exc:
            raise self._gzip_error(exc) from None
        self.lineno += 1
        return raw_line

    def _text(self, raw_line: bytes) -> str:
        if not raw_line.endswith(b"\n"):
            raise FormatError(
                f"{self.label}: line {self.lineno}: the last line does not end with a newline "
                "(the file may be truncated); submit the complete file"
            )
        try:
            text = raw_line.decode("utf-8")
        except UnicodeDecodeError:
            raise FormatError(
                f"{self.label}: line {self.lineno}: the line is not UTF-8 text; "
                "submit a text VCF (or gzip/BGZF-compressed VCF)"
            ) from None
        text = text[:-1]
        if text.endswith("\r"):
            text = text[:-1]
        return text

    def chunks(self) -> Iterator[tuple[int, list[str]]]:
        """Yield the data lines in chunks of about 1 MiB: ``(number of the chunk's first
        line, lines without their newline)``. Lines are not checked here.

        Raises
        ------
        FormatError
            The compression is broken, a line is not UTF-8 or the last line has no newline.
        """
        for chunk in self.blocks():
            yield chunk.first, chunk.lines()

    def blocks(self) -> Iterator[Chunk]:
        """Yield the data lines in chunks of about 1 MiB (see :class:`Chunk`). Lines are
        not checked here.

        Raises
        ------
        FormatError
            The compression is broken, a line is not UTF-8 or the last line has no newline.
        """
        stream = self._stream
        assert stream is not None
        while True:
            try:
                raw = stream.readlines(1 << 20)
            except (OSError, EOFError, zlib.error) as exc:
                raise self._gzip_error(exc) from None
            if not raw:
                return
            first = self.lineno + 1
            data = b"".join(raw)
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError as exc:
                line = first + data.count(b"\n", 0, exc.start)
                raise FormatError(
                    f"{self.label}: line {line}: the line is not UTF-8 text; submit a text "
                    "VCF (or gzip/BGZF-compressed VCF)"
                ) from None
            if not text.endswith("\n"):
                raise FormatError(
                    f"{self.label}: line {first + len(raw) - 1}: the last line does not end "
                    "with a newline (the file may be truncated); submit the complete file"
                )
            if "\r" in text:
                text = text.replace("\r\n", "\n")
                data = text.encode("utf-8")
            self.lineno += len(raw)
            yield Chunk(first, data, text, len(raw))

    def sha256(self) -> str:
        """The SHA-256 of the whole file (call after reading every record)."""
        if self._digest is not None:
            return self._digest
        assert self._hashing is not None
        return self._hashing.drain()

    def close(self) -> None:
        """Close every stream opened."""
        while self._stack:
            self._stack.pop().close()


@contextmanager
def _reading(path: Path, known_contigs: Mapping[str, int] | None) -> Iterator[_VcfFile]:
    """Open ``path`` for one pass; problems become FormatError naming the file."""
    vcf = _VcfFile(path, known_contigs)
    try:
        yield vcf
    except HeaderProblem as exc:
        raise FormatError(f"{vcf.label}: {redact_numbers(str(exc))}") from None
    except RecordProblem as exc:
        raise FormatError(f"{vcf.label}: {exc}") from None
    finally:
        vcf.close()


def check_vcf(
    path: str | os.PathLike[str], *, known_contigs: Mapping[str, int] | None = None
) -> VcfSummary:
    """Validate a VCF file (any number of samples) without ingesting it.

    Parameters
    ----------
    path
        The VCF (plain, gzip or BGZF).
    known_contigs
        Contig names exempt from the contig-name syntax rules (the instance's).

    Returns
    -------
    VcfSummary
        Version, samples, record count, contigs and checksum.

    Raises
    ------
    FormatError
        The file breaks the VCF format (see :mod:`vcfheader` and :mod:`vcfrecord`).
    """
    with _reading(Path(path), known_contigs) as vcf:
        header = vcf.open()
        seen: list[str] = []
        current = None
        count = 0
        checker = vcf.checker
        assert checker is not None
        check = checker.check
        for first, lines in vcf.chunks():
            for lineno, line in enumerate(lines, first):
                cols = line.split("\t")
                check(cols, lineno)
                if cols[0] != current:
                    current = cols[0]
                    if current not in seen:
                        seen.append(current)
            count += len(lines)
        digest = vcf.sha256()
    return VcfSummary(
        vcf_version=f"VCFv{header.version[0]}.{header.version[1]}",
        samples=header.samples,
        records=count,
        contigs=tuple(seen),
        sha256=digest,
    )


def variant_type(ref: str, alt: str) -> str:
    """``snv``, ``mnv``, ``ins``, ``del`` or ``complex`` for a normalised allele pair."""
    lr, la = len(ref), len(alt)
    if lr == la:
        return "snv" if lr == 1 else "mnv"
    if lr == 1 and alt[0] == ref:
        return "ins"
    if la == 1 and ref[0] == alt:
        return "del"
    return "complex"


def _count(text: str | None) -> int | None:
    """A non-negative 32-bit integer from a FORMAT value, else None."""
    if text is None or not text.isdigit() or not text.isascii() or len(text) > 10:
        return None
    value = int(text)
    return value if value <= INT32_MAX else None


_CALL_NAMES = (
    "contig",
    "pos",
    "ref",
    "alt",
    "type",
    "gt",
    "ploidy",
    "alt_count",
    "other_count",
    "phased",
    "gq",
    "dp",
    "ad_ref",
    "ad_alt",
)
_CALL_ROW = pa.struct(list(zip(_CALL_NAMES, CALL_TYPES, strict=True)))
"""The tuples :class:`_Rows` collects per call."""
_CALL_LINE_ROW = pa.struct([*zip(_CALL_NAMES, CALL_TYPES, strict=True), ("line", pa.int64())])
"""A call of the first pass and its line number."""
_BLOCK_NAMES = ("contig", "start", "end", "ploidy", "gq", "dp")
_BLOCK_ROW = pa.struct(list(zip(_BLOCK_NAMES, BLOCK_TYPES, strict=True)))
"""The tuples :class:`_Rows` collects per reference block."""
_BLOCK_LINE_ROW = pa.struct([*zip(_BLOCK_NAMES, BLOCK_TYPES, strict=True), ("line", pa.int64())])
"""A reference block of the first pass and its line number."""

_Columns = list[pa.Array]
"""The columns of some rows (:data:`CALL_TYPES` or :data:`BLOCK_TYPES`)."""


def _in_line_order(
    rows: list[tuple[Any, ...]], row_type: pa.StructType, fast: list[tuple[_Columns, pa.Array]]
) -> list[_Columns]:
    """The first pass's rows of a chunk in file order, as runs of columns: ``rows``
    made by the per-record path (tuples ending in the line number) and ``fast`` made by
    the bulk checks (columns and ascending line numbers)."""
    parts: list[tuple[_Columns, pa.Array]] = list(fast)
    if rows:
        *columns, lines = pa.array(rows, row_type).flatten()
        parts.append((columns, lines))
    if len(parts) <= 1:
        return [p[0] for p in parts]
    # runs that do not interleave are joined in the order of their lines, others sorted
    spans = sorted((p[1][0].as_py(), p[1][-1].as_py(), i) for i, p in enumerate(parts))
    if all(spans[k][1] < spans[k + 1][0] for k in range(len(spans) - 1)):
        ordered = [parts[i][0] for _first, _last, i in spans]
        return [[pa.concat_arrays(list(column)) for column in zip(*ordered, strict=True)]]
    lines = pa.concat_arrays([p[1] for p in parts])
    order = pc.sort_indices(lines)
    return [
        [pa.concat_arrays([p[0][i] for p in parts]).take(order) for i in range(len(parts[0][0]))]
    ]


class _Rows:
    """Rows of the three tables, collected per chunk and converted once per chunk.

    A call is the tuple ``(contig, pos, ref, alt, variant_type, gt, ploidy, alt_count,
    other_count, phased, gq, dp, ad_ref, ad_alt)``; ``variant_id`` and
    ``variant_end`` are computed by Arrow when a chunk is converted. The first pass
    adds the line number to its calls and blocks (:attr:`line_calls`,
    :attr:`line_blocks`) and merges them with the bulk checks' rows in file order at
    the end of each chunk of the file (:meth:`end_chunk`).
    """

    def __init__(self, sample_id: str, ingest_id: str) -> None:
        self.sample_id = sample_id
        self.ingest_id = ingest_id
        self.calls: list[tuple[Any, ...]] = []
        self.line_calls: list[tuple[Any, ...]] = []
        self.line_blocks: list[tuple[Any, ...]] = []
        self.variant_batches: list[pa.RecordBatch] = []
        self.call_batches: list[pa.RecordBatch] = []
        self.block_batches: list[pa.RecordBatch] = []

    def call(
        self,
        contig: str,
        pos: int,
        ref: str,
        alt: str,
        gt: str,
        ploidy: int,
        alt_count: int,
        other_count: int,
        phased: bool,
        gq: int | None,
        dp: int | None,
        ad_ref: int | None,
        ad_alt: int | None,
    ) -> None:
        """Add one call (and its variant)."""
        self.calls.append(
            (
                contig,
                pos,
                ref,
                alt,
                variant_type(ref, alt),
                gt,
                ploidy,
                alt_count,
                other_count,
                phased,
                gq,
                dp,
                ad_ref,
                ad_alt,
            )
        )
        if len(self.calls) >= CHUNK_ROWS:
            self.flush_calls()

    def end_chunk(
        self,
        calls: list[tuple[_Columns, pa.Array]],
        blocks: list[tuple[_Columns, pa.Array]],
    ) -> None:
        """Convert the first pass's rows of a chunk: those collected with their line
        numbers and the bulk checks' ``calls`` and ``blocks``, in file order."""
        for columns in _in_line_order(self.line_calls, _CALL_LINE_ROW, calls):
            self._add_calls(columns)
        self.line_calls.clear()
        for columns in _in_line_order(self.line_blocks, _BLOCK_LINE_ROW, blocks):
            self._add_blocks(columns)
        self.line_blocks.clear()

    def flush_calls(self) -> None:
        """Convert the collected calls to record batches (and empty the list in place)."""
        if not self.calls:
            return
        columns = pa.array(self.calls, _CALL_ROW).flatten()
        self.calls.clear()
        self._add_calls(columns)

    def _add_calls(self, columns: _Columns) -> None:
        (contig_a, pos_a, ref_a, alt_a, vtype_a, gt_a, ploidy_a, altc_a, otherc_a, phased_a,
         gq_a, dp_a, ad_ref_a, ad_alt_a) = columns  # fmt: skip
        n = len(contig_a)
        if not n:
            return
        ingest = pa.repeat(self.ingest_id, n)
        vid_a = pc.binary_join_element_wise(
            contig_a, pc.cast(pos_a, pa.string()), ref_a, alt_a, "-"
        )
        end_a = pc.subtract(pc.add(pos_a, pc.cast(pc.utf8_length(ref_a), pa.int64())), 1)
        self.variant_batches.append(
            pa.RecordBatch.from_arrays(
                [vid_a, contig_a, pos_a, end_a, ref_a, alt_a, vtype_a, ingest],
                schema=schema.VARIANTS,
            )
        )
        self.call_batches.append(
            pa.RecordBatch.from_arrays(
                [
                    pa.repeat(self.sample_id, n),
                    vid_a,
                    contig_a,
                    pos_a,
                    gt_a,
                    ploidy_a,
                    altc_a,
                    otherc_a,
                    phased_a,
                    gq_a,
                    dp_a,
                    ad_ref_a,
                    ad_alt_a,
                    ingest,
                ],
                schema=schema.CALLS,
            )
        )

    def _add_blocks(self, columns: _Columns) -> None:
        contig, start, end, ploidy, gq, dp = columns
        n = len(contig)
        if not n:
            return
        self.block_batches.append(
            pa.RecordBatch.from_arrays(
                [
                    pa.repeat(self.sample_id, n),
                    contig,
                    start,
                    end,
                    ploidy,
                    gq,
                    dp,
                    pa.repeat(self.ingest_id, n),
                ],
                schema=schema.REF_BLOCKS,
            )
        )

    def tables(self) -> tuple[pa.Table, pa.Table, pa.Table]:
        """The variants, calls and ref_blocks tables."""
        self.flush_calls()
        return (
            pa.Table.from_batches(self.variant_batches, schema=schema.VARIANTS),
            pa.Table.from_batches(self.call_batches, schema=schema.CALLS),
            pa.Table.from_batches(self.block_batches, schema=schema.REF_BLOCKS),
        )


class _Reference:
    """The instance's FASTA, read one window of bases at a time for the REF checks."""

    def __init__(self, fasta_path: Path, contigs: Mapping[str, int]) -> None:
        self._path = fasta_path
        self._fasta: pysam.FastaFile | None = None
        self.contigs = contigs
        self.contig = ""
        self.length = 0
        self._map: npt.NDArray[np.uint8] | None = None
        self._index: dict[str, tuple[int, int, int, int]] | None = None
        # A plain FASTA with a .fai read before by this process (an ingest batch parses
        # many files against one reference) needs no htslib handle; else open it now, so
        # that a missing or unreadable reference fails before any record is read.
        self._key = _fasta_key(fasta_path)
        cached = _FASTA_CACHE.get(self._key) if self._key is not None else None
        if cached is not None:
            self._index, self._map = cached
        else:
            self.fasta  # noqa: B018 - opens it, raising ConfigurationError

    @property
    def fasta(self) -> pysam.FastaFile:
        """The FASTA through htslib, opened on first use."""
        if self._fasta is None:
            try:
                self._fasta = pysam.FastaFile(str(self._path))
            except (OSError, ValueError) as exc:
                raise ConfigurationError(
                    f"the reference FASTA {self._path} cannot be opened ({type(exc).__name__}); "
                    "prepare the instance's reference (FASTA with .fai index)"
                ) from None
        return self._fasta

    def switch(self, contig: str) -> None:
        """Start reading ``contig``.

        Raises
        ------
        ConfigurationError
            The FASTA lacks the contig or has another length than the instance's build.
        """
        entry = self._index.get(contig) if self._map is not None and self._index else None
        try:
            length = entry[0] if entry is not None else self.fasta.get_reference_length(contig)
        except KeyError:
            raise ConfigurationError(
                f"the reference FASTA lacks contig {contig}, which the instance's build "
                "lists; prepare the reference again"
            ) from None
        if length != self.contigs[contig]:
            raise ConfigurationError(
                f"the reference FASTA has contig {contig} with {length} bases but the "
                f"instance's build says {self.contigs[contig]}; prepare the reference again"
            )
        self.contig, self.length = contig, length

    def window(self, start: int, size: int, *, sparse: bool = False) -> tuple[int, int, str]:
        """``(lo, hi, bases)``: bases ``[lo, hi)`` (0-based, as in the FASTA: maybe
        soft-masked) from ``start``, at least ``size`` and usually
        :data:`REFERENCE_WINDOW` long (just ``size`` when ``sparse``)."""
        hi = min(self.length, start + (size if sparse else max(REFERENCE_WINDOW, size)))
        return start, hi, self.fasta.fetch(self.contig, start, hi)

    def bases(self, contig: str, starts: npt.NDArray[np.int64]) -> npt.NDArray[np.uint8] | None:
        """The bytes of ``contig`` at 0-based ``starts`` (inside the contig), as in the
        FASTA (maybe soft-masked): read from a memory map of a plain FASTA through its
        ``.fai``, else fetched a window of bases at a time.

        Raises
        ------
        ConfigurationError
            The FASTA lacks the contig.
        """
        index = self._fai()
        entry = index.get(contig) if index is not None else None
        if entry is not None and self._map is not None:
            _length, offset, line_bases, line_width = entry
            where = offset + starts // line_bases * line_width + starts % line_bases
            return np.asarray(self._map[where], dtype=np.uint8)
        out = np.zeros(len(starts), dtype=np.uint8)
        if not len(starts):
            return out
        order = np.argsort(starts, kind="stable")
        ordered = starts[order]
        cuts = np.flatnonzero(np.diff(ordered) > REFERENCE_WINDOW) + 1
        found = np.empty(len(starts), dtype=np.uint8)
        for part in np.split(np.arange(len(starts)), cuts):
            lo, hi = int(ordered[part[0]]), int(ordered[part[-1]]) + 1
            try:
                text = self.fasta.fetch(contig, lo, hi)
            except (KeyError, ValueError):
                raise ConfigurationError(
                    f"the reference FASTA lacks contig {contig}, which the instance's build "
                    "lists; prepare the reference again"
                ) from None
            window = np.frombuffer(text.encode("ascii", "replace"), dtype=np.uint8)
            found[part] = window[ordered[part] - lo]
        out[order] = found
        return out

    def _fai(self) -> dict[str, tuple[int, int, int, int]] | None:
        """The FASTA's ``.fai`` (name -> length, offset, bases and bytes per line) and
        its memory map when the FASTA is plain text; None when unreadable."""
        if self._index is None:
            index: dict[str, tuple[int, int, int, int]] = {}
            try:
                with self._path.open("rb") as raw:
                    plain = raw.read(2) != b"\x1f\x8b"
                fai = Path(f"{self._path}.fai").read_text(encoding="utf-8")
                for row in fai.splitlines():
                    name, length, offset, line_bases, line_width = row.split("\t")[:5]
                    entry = (int(length), int(offset), int(line_bases), int(line_width))
                    if entry[2] <= 0 or entry[3] < entry[2]:
                        plain = False
                    index[name] = entry
                if plain and index:
                    self._map = np.memmap(self._path, dtype=np.uint8, mode="r")
                    size = len(self._map)
                    if any(o + (n - 1) // b * w + (n - 1) % b >= size for n, o, b, w in
                           index.values() if n > 0):  # fmt: skip
                        self._map = None
            except (OSError, ValueError, UnicodeDecodeError):
                self._map = None
            self._index = index
            if self._key is not None and self._map is not None:
                if len(_FASTA_CACHE) >= _FASTA_CACHE_SIZE:
                    _FASTA_CACHE.pop(next(iter(_FASTA_CACHE)))
                _FASTA_CACHE[self._key] = (index, self._map)
        return self._index

    def close(self) -> None:
        """Close the FASTA (a cached memory map stays with the cache)."""
        self._map = None
        if self._fasta is not None:
            self._fasta.close()
            self._fasta = None


_FASTA_CACHE_SIZE = 4
_FASTA_CACHE: dict[
    tuple[str, int, int, int], tuple[dict[str, tuple[int, int, int, int]], npt.NDArray[np.uint8]]
] = {}
"""Per process: the .fai index and memory map of plain FASTAs read before, by path, size,
modification time and the .fai's modification time (a changed file is read again)."""


def _fasta_key(path: Path) -> tuple[str, int, int, int] | None:
    try:
        fasta = path.stat()
        fai = Path(f"{path}.fai").stat()
    except OSError:
        return None
    return os.path.abspath(path), fasta.st_size, fasta.st_mtime_ns, fai.st_mtime_ns


def _compatible(found: str, ref: str) -> bool:
    """Whether ``ref`` agrees with reference bases ``found`` where both are A/C/G/T."""
    wanted = ref.upper()
    if len(found) != len(wanted):
        return False
    return all(
        a == b or a not in "ACGT" or b not in "ACGT" for a, b in zip(found, wanted, strict=True)
    )


_NORM_HEADER = (
    "##fileformat=VCFv4.2\n"
    '##INFO=<ID=OGT,Number=1,Type=String,Description="Genotype before splitting">\n'
    '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
    '##FORMAT=<ID=GQ,Number=1,Type=Integer,Description="Genotype quality">\n'
    '##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Read depth">\n'
    '##FORMAT=<ID=AD,Number=R,Type=Integer,Description="Allelic depths">\n'
)


def _plain_alt(allele: str) -> bool:
    return allele[0] not in _SYMBOL_START and allele[-1] not in "].["


def read_sample_vcf(
    path: str | os.PathLike[str],
    *,
    sample_name: str,
    reference_fasta: str | os.PathLike[str],
    contigs: Mapping[str, int],
    ingest_id: str,
    sample_id: str,
    workdir: str | os.PathLike[str],
) -> IngestBatch:
    """Validate and normalise one sample's VCF/gVCF into table rows (see module doc).

    Parameters
    ----------
    path
        The single-sample VCF or gVCF (plain, gzip or BGZF).
    sample_name
        The name the sample column must have.
    reference_fasta
        The instance's reference FASTA (with ``.fai``).
    contigs
        The instance's build: contig name -> length.
    ingest_id, sample_id
        Written into every row.
    workdir
        Folder for temporary files (a private sub-folder is made and removed).

    Returns
    -------
    IngestBatch
        The three tables, counts and the file's SHA-256.

    Raises
    ------
    FormatError
        The file is not a valid VCF, has not exactly one sample named ``sample_name``,
        uses a contig outside ``contigs`` or of another length, has a REF that differs
        from the reference, a record past a contig's end, or a record without GT.
    ConfigurationError
        The reference FASTA cannot be read or disagrees with ``contigs``.
    OSError
        The file cannot be opened or read (missing, permissions).
    """
    source = Path(path)
    label = _label(source)
    work = Path(workdir)
    work.mkdir(parents=True, exist_ok=True)
    reference: _Reference | None = None
    split = _Split(work, contigs, sample_name)
    try:
        reference = _Reference(Path(reference_fasta), contigs)
        rows = _Rows(sample_id, ingest_id)
        with _reading(source, contigs) as vcf:
            header = vcf.open()
            _check_header(header, label, sample_name, contigs)
            stats = _first_pass(vcf, label, contigs, reference, rows, split)
            digest = vcf.sha256()
        normalised = stats["normalised"]
        if normalised:
            if split.simple is not None:
                _split_alleles(split, rows)
            else:
                split_path = split.finish()
                norm_path = split_path.with_name("norm.vcf")
                _normalise(split_path, norm_path, Path(reference_fasta), label)
                _second_pass(norm_path, rows)
        variants, calls, blocks = rows.tables()
        _check_unique(calls, label)
        return IngestBatch(
            variants=variants,
            calls=calls,
            ref_blocks=blocks,
            sample_id=sample_id,
            ingest_id=ingest_id,
            sha256=digest,
            contigs=tuple(stats["contigs"]),
            records=stats["records"],
            records_normalised=normalised,
            records_filtered=stats["filtered"],
            records_no_call=stats["no_call"],
            records_symbolic=stats["symbolic"],
            vcf_version=f"VCFv{header.version[0]}.{header.version[1]}",
        )
    finally:
        if reference is not None:
            reference.close()
        split.close()


def _check_header(
    header: VcfHeader, label: str, sample_name: str, contigs: Mapping[str, int]
) -> None:
    if len(header.samples) != 1:
        raise FormatError(
            f"{label}: the file has {len(header.samples)} sample columns but a single-sample "
            "VCF is needed; extract the sample with bcftools view -s NAME"
        )
    found = header.samples[0]
    if found != sample_name:
        raise FormatError(
            f"{label}: the sample column is named {redact_numbers(found)!r} but the sample "
            f"is registered as {redact_numbers(sample_name)!r}; check that this is the "
            "right file for the sample, then rename the column (bcftools reheader -s)"
        )
    for name, length in header.contigs.items():
        if name in contigs and length is not None and length != contigs[name]:
            raise FormatError(
                f"{label}: the header declares contig {name} with length {length} but the "
                f"instance's reference build has {contigs[name]}; the file was made against "
                "another reference build: call the sample against the instance's reference"
            )


_AD2 = re.compile(r"([0-9]{1,9}),([0-9]{1,9})")
"""An AD value of two counts that :func:`_count` accepts as they are."""
_SplitRecord = tuple[str, int, str, list[str], str, Genotype, int | None, int | None, str]
"""A multi-allelic SNV the ingest splits itself: ``(chrom, pos, REF, ALT alleles,
GT text, genotype, GQ, DP, AD)`` (REF and ALT upper-cased, AD checked or ``.``)."""
SPLIT_MEMORY = 1 << 22
"""Characters of records for ``bcftools norm`` kept in memory before they are written
to the temporary file."""
SPLIT_SELF = 100_000
"""Most multi-allelic SNVs of a file split without ``bcftools norm``."""


class _Split:
    """The records that need splitting or normalising.

    Each record is written in the reduced form ``bcftools norm`` reads. When every
    record is a multi-allelic SNV (single-base REF equal to the reference, ALT alleles
    single bases, symbolic or ``*``), :func:`_split_alleles` splits them exactly as
    ``bcftools norm`` would and no temporary file is made; otherwise the text goes to
    a temporary VCF in a private folder of ``workdir`` (made on first need).

    The bulk checks' ``X,<NON_REF>`` records (:class:`NonRefCalls`) are such SNVs; they
    are kept in columns and written out only when the file is (they do not count
    towards :data:`SPLIT_SELF`: :func:`_split_alleles` splits them in columns).
    """

    def __init__(self, workdir: Path, contigs: Mapping[str, int], sample_name: str) -> None:
        self.workdir = workdir
        self.contigs = contigs
        self.sample_name = sample_name
        self.parts: list[str | NonRefCalls] = []
        self.size = 0
        self.simple: list[_SplitRecord] | None = []
        self.simple_lines: list[int] = []
        """Line numbers of :attr:`simple`."""
        self.fast: list[NonRefCalls] = []
        """The bulk checks' records, in file order."""
        self.tmp: Path | None = None
        self.path: Path | None = None
        self._file: IO[str] | None = None

    def add_chunk(
        self, pending: list[tuple[int, str, _SplitRecord | None]], fast: list[NonRefCalls]
    ) -> None:
        """Add the records of a chunk: ``pending`` of the per-record path (line number,
        text, fields as for :meth:`add`) and ``fast`` of the bulk checks, in file order."""
        if not fast:
            for line, text, simple in pending:
                self.add(text, simple, line)
            return
        items: list[tuple[int, str | NonRefCalls, _SplitRecord | None]] = list(pending)
        keys = [item[0] for item in pending]
        for calls in fast:
            # pieces of the bulk records between the per-record ones
            cuts = sorted({0, len(calls), *np.searchsorted(calls.lines, keys).tolist()})
            for lo, hi in itertools.pairwise(cuts):
                if lo < hi:
                    items.append((int(calls.lines[lo]), calls.slice(lo, hi), None))
        items.sort(key=lambda item: item[0])
        for line, item, simple in items:
            if isinstance(item, str):
                self.add(item, simple, line)
            else:
                self._add_fast(item)

    def _add_fast(self, calls: NonRefCalls) -> None:
        self.fast.append(calls)
        if self._file is not None:
            self._file.write(calls.text())
        else:
            self.parts.append(calls)

    def add(self, text: str, simple: _SplitRecord | None, line: int) -> None:
        """Add one record of line ``line`` (``simple``: its fields when the ingest can
        split it)."""
        if self.simple is not None:
            if simple is None or len(self.simple) >= SPLIT_SELF:
                self.simple = None
            else:
                self.simple.append(simple)
                self.simple_lines.append(line)
        if self._file is not None:
            self._file.write(text)
            return
        self.parts.append(text)
        self.size += len(text)
        if self.size > SPLIT_MEMORY:
            self._spill()

    def _spill(self) -> IO[str]:
        self.tmp = Path(tempfile.mkdtemp(prefix=".helgenom-ingest-", dir=self.workdir))
        self.path = self.tmp / "split.vcf"
        out = self._file = self.path.open("w", encoding="utf-8")
        out.write(_NORM_HEADER)
        for name, length in self.contigs.items():
            out.write(f"##contig=<ID={name},length={length}>\n")
        out.write(f"#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t{self.sample_name}\n")
        out.writelines(part if isinstance(part, str) else part.text() for part in self.parts)
        self.parts.clear()
        return out

    def finish(self) -> Path:
        """Write everything to the temporary VCF and return its path."""
        out = self._file if self._file is not None else self._spill()
        out.close()
        assert self.path is not None
        return self.path

    def close(self) -> None:
        """Close the file and remove the temporary folder (if any)."""
        if self._file is not None:
            self._file.close()
        if self.tmp is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)


def _first_pass(
    vcf: _VcfFile,
    label: str,
    contigs: Mapping[str, int],
    reference: _Reference,
    rows: _Rows,
    split: _Split,
) -> dict[str, Any]:
    """Check every record; emit blocks and SNV calls; collect the rest for splitting.

    Lines of the common shapes are checked and turned into rows a chunk at a time by
    :class:`~helgenom.adapters.variants.vcfcheck.ChunkScanner` (its ``X,<NON_REF>``
    records join the loop's records for the split in file order, at the end of each
    chunk); it hands every other line (and every line with a problem) to the loop
    below, in file order. There the
    common cases are written out inline, and lines of the most common shape are checked
    by :meth:`~helgenom.adapters.variants.vcfrecord.RecordChecker.check_simple`.
    """
    checker = vcf.checker
    assert checker is not None
    scanner = ChunkScanner(checker, contigs, reference.bases)
    check = checker.check
    simple = checker.check_simple
    seen: list[str] = []
    current = ""
    length = 0
    records = filtered = no_call = symbolic = normalised = 0
    add_call = rows.line_calls.append
    add_block = rows.line_blocks.append
    ad2 = _AD2.fullmatch
    ref_lo = ref_hi = 0
    ref_seq = ""
    lineno = 0
    pending: list[tuple[int, str, _SplitRecord | None]] = []
    """The chunk's records for the split, merged with the bulk checks' at its end."""
    add_split = pending.append

    def fail(problem: str, fix: str) -> FormatError:
        return FormatError(f"{label}: line {lineno} ({checker.where}): {problem}; {fix}")

    for chunk in vcf.blocks():
        records += chunk.count
        for lineno, line in scanner.lines(chunk):
            got = simple(line, lineno)
            if got is None:
                cols = line.split("\t")
                check(cols, lineno)
                chrom = cols[0]
                pos = checker.pos
                ref = cols[3]
                alt = ""
                filt = cols[6]
                values = checker.values0
                gt = checker.gt0
                end = checker.end
            else:
                chrom, pos, ref, alt, filt, values, gt, end = got
            if chrom != current:
                if chrom not in contigs:
                    raise fail(
                        f"contig {redact_numbers(chrom)} is not in the instance's reference build",
                        "call the sample against the instance's reference (check chr "
                        "prefixes and the build)",
                    )
                current = chrom
                length = contigs[chrom]
                reference.switch(chrom)
                ref_lo = ref_hi = 0
                if chrom not in seen:
                    seen.append(chrom)
            nref = len(ref)
            last = pos + nref - 1
            if pos < 1 or last > length or (end is not None and (end > length or end < pos)):
                _position_problem(fail, pos, end, last, length)
            start = pos - 1
            if start < ref_lo or start + nref > ref_hi:
                # Far from the last window (sparse records): fetch just the record's bases.
                ref_lo, ref_hi, ref_seq = reference.window(
                    start, nref, sparse=start - ref_hi > SPARSE_GAP
                )
            found = ref_seq[start - ref_lo : start - ref_lo + nref]
            if found != ref:
                found = found.upper()
                if found != ref.upper() and not _compatible(found, ref):
                    raise fail(
                        "REF differs from the instance's reference sequence",
                        "call the sample against the instance's reference build (bcftools "
                        "norm --check-ref shows every mismatch)",
                    )
            plan = checker.plan
            if plan is None or not plan.has_gt:
                raise fail("the record has no GT", "give every record a GT (first FORMAT key)")
            if filt != "PASS" and filt != ".":
                filtered += 1
                continue
            if gt is None or gt.called == 0:
                no_call += 1
                continue
            if gt.called > MAX_PLOIDY:
                raise fail("the genotype has more than 127 alleles", "check the GT values")
            nvalues = len(values)
            # GQ and DP are reserved Integer fields: after the checks a value is '.', a
            # negative number or a 32-bit count.
            i = plan.gq
            gq = int(values[i]) if 0 <= i < nvalues and values[i].isdigit() else None
            i = plan.dp
            dp = int(values[i]) if 0 <= i < nvalues and values[i].isdigit() else None
            if gt.nonref == 0:
                i = plan.min_dp
                if 0 <= i < nvalues and (min_dp := _count(values[i])) is not None:
                    dp = min_dp
                add_block(
                    (
                        chrom,
                        pos,
                        last if end is None or end < last else end,
                        gt.called,
                        gq,
                        dp,
                        lineno,
                    )
                )
                continue
            i = plan.ad
            ad = values[i] if 0 <= i < nvalues else "."
            if alt in _UPPER_ACGT:  # a simple line (ref and alt upper-cased)
                alts = [alt]
            else:
                alts = checker.alts
                if gt.top > len(alts):
                    raise fail(
                        "the GT refers to an ALT allele that the record does not list",
                        "write the ALT alleles the genotype carries",
                    )
                alt = alts[0]
                if nref == 1 and len(alts) == 1 and alt in _ACGT:
                    ref = ref.upper()
                    alt = alt.upper()
                else:
                    alt = ""
            if alt:
                ad_ref = ad_alt = None
                if ad != ".":
                    if (m := ad2(ad)) is not None:
                        ad_ref, ad_alt = int(m[1]), int(m[2])
                    else:
                        parts = ad.split(",")
                        if len(parts) == 2:
                            ad_ref, ad_alt = _count(parts[0]), _count(parts[1])
                add_call(
                    (
                        chrom,
                        pos,
                        ref,
                        alt,
                        "snv",
                        values[0],
                        gt.called,
                        gt.nonref,
                        0,
                        gt.phased,
                        gq,
                        dp,
                        ad_ref,
                        ad_alt,
                        lineno,
                    )
                )
                continue
            if not any(_plain_alt(a) for a in alts) or any(
                a[0] in "[]." or a[-1] in "[]." for a in alts
            ):
                symbolic += 1
                continue
            normalised += 1
            if ad != "." and (
                ad.count(",") != len(alts) or not all(_count(p) is not None for p in ad.split(","))
            ):
                ad = "."
            gt_text = values[0]
            if gt_text[0] in "|/":
                gt_text = gt_text[1:]  # VCF 4.4 haploid phasing, unknown to bcftools
            upper_ref = ref.upper()
            upper_alts = [a.upper() for a in alts]
            add_split(
                (
                    lineno,
                    f"{chrom}\t{pos}\t.\t{upper_ref}\t{','.join(upper_alts)}\t.\t.\t"
                    f"OGT={values[0]}\tGT:GQ:DP:AD\t{gt_text}:{'.' if gq is None else gq}:"
                    f"{'.' if dp is None else dp}:{ad}\n",
                    (chrom, pos, upper_ref, upper_alts, gt_text, gt, gq, dp, ad)
                    if nref == 1
                    and upper_ref in _UPPER_ACGT
                    and found.upper() == upper_ref
                    and all(a in _ACGT or a[0] == "<" or a == "*" for a in alts)
                    else None,
                )
            )
        rows.end_chunk(*scanner.take())
        split.add_chunk(pending, scanner.take_splits())
        pending.clear()
    return {
        "records": records,
        "normalised": normalised + scanner.normalised,
        "filtered": filtered + scanner.filtered,
        "no_call": no_call + scanner.no_call,
        "symbolic": symbolic + scanner.symbolic,
        "contigs": seen,
    }


def _split_alleles(split: _Split, rows: _Rows) -> None:
    """Rows of multi-allelic SNVs, as ``bcftools norm -m -any --multi-overlaps .``
    and :func:`_second_pass` give them: one record per ALT allele in order, the split
    genotype keeping ``0``, writing ``1`` for that allele and ``.`` for the others
    (separators kept), AD reduced to the REF and that allele's counts. The records of
    the per-record path and the bulk checks' (:class:`NonRefCalls`, split alike) are
    merged in file order."""
    assert split.simple is not None
    made: list[tuple[Any, ...]] = []
    add_call = made.append
    for line, (chrom, pos, ref, alts, gt_text, gt, gq, dp, ad) in zip(
        split.simple_lines, split.simple, strict=True
    ):
        seps = [c for c in gt_text if c in "|/"]
        counts = None if ad == "." else ad.split(",")
        for allele, alt in enumerate(alts, 1):
            if not _plain_alt(alt):
                continue
            out = ["0" if a == 0 else "1" if a == allele else "." for a in gt.alleles]
            split_gt = out[0] + "".join(sep + text for sep, text in zip(seps, out[1:], strict=True))
            alt_count = gt.alleles.count(allele)
            add_call(
                (
                    chrom,
                    pos,
                    ref,
                    alt,
                    variant_type(ref, alt),
                    split_gt,
                    gt.called,
                    alt_count,
                    gt.nonref - alt_count,
                    gt.phased,
                    gq,
                    dp,
                    None if counts is None else _count(counts[0]),
                    None if counts is None else _count(counts[allele]),
                    line,
                )
            )
    fast = [calls.columns() for calls in split.fast]
    for columns in _in_line_order(made, _CALL_LINE_ROW, fast):
        rows._add_calls(columns)


def _position_problem(
    fail: Callable[[str, str], FormatError], pos: int, end: int | None, last: int, length: int
) -> None:
    """Raise the error for a record outside its contig.

    Raises
    ------
    FormatError
        Always.
    """
    if pos < 1:
        raise fail("POS 0 is not a position of the genome", "use 1-based positions")
    if end is not None and end < pos:
        raise fail("INFO/END is before POS", "correct END (the last base of the record)")
    raise fail(
        f"the record reaches past the end of the contig ({length} bases)",
        "check that the file was made against the instance's reference build",
    )


def _normalise(source: Path, target: Path, fasta: Path, label: str) -> None:
    """Split, left-align and trim with ``bcftools norm``.

    Raises
    ------
    FormatError
        bcftools rejects a record (the message keeps only the kind and position).
    """
    try:
        pysam.bcftools.norm(
            "-m",
            "-any",
            "--multi-overlaps",
            ".",
            "-f",
            str(fasta),
            "-c",
            "w",
            "--no-version",
            "-Ov",
            "-o",
            str(target),
            str(source),
            catch_stdout=False,
        )
    except pysam.utils.SamtoolsError as exc:
        # bcftools' own words may quote alleles: keep only the position.
        match = _BCFTOOLS_AT.search(str(exc.value))
        where = f" at {redact_numbers(match['ctg'])}:{match['pos']}" if match else ""
        raise FormatError(
            f"{label}: bcftools norm could not normalise the file{where}; correct the "
            "record (bcftools norm -m -any -f REF shows the details on the file)"
        ) from None


def _second_pass(norm_path: Path, rows: _Rows) -> None:
    """Rows from the normalised records written by ``bcftools norm``."""
    genotypes: dict[str, Genotype | None] = {}

    def genotype(text: str) -> Genotype | None:
        try:
            return genotypes[text]
        except KeyError:
            parsed = parse_genotype(text)
            if len(genotypes) < 4096:
                genotypes[text] = parsed
            return parsed

    add_call = rows.call
    with norm_path.open("r", encoding="utf-8") as norm:
        for line in norm:
            if line.startswith("#"):
                continue
            cols = line.rstrip("\n").split("\t")
            chrom, pos_text, _, ref, alt, _, _, info, fmt, sample = cols[:10]
            if not _plain_alt(alt):
                continue
            keys = fmt.split(":")
            values = sample.split(":")
            field = dict(zip(keys, values, strict=False))
            gt_text = field.get("GT", ".")
            split_gt = genotype(gt_text)
            ogt = _OGT.search(info)
            original = genotype(ogt[1]) if ogt else split_gt
            if split_gt is None or original is None or original.called == 0:
                continue
            alt_count = sum(1 for a in split_gt.alleles if a == 1)
            ad_ref = ad_alt = None
            ad = field.get("AD", ".")
            if ad != ".":
                parts = ad.split(",")
                if len(parts) == 2:
                    ad_ref, ad_alt = _count(parts[0]), _count(parts[1])
            add_call(
                chrom,
                int(pos_text),
                ref.upper(),  # realigned alleles come from the FASTA, maybe soft-masked
                alt.upper(),
                gt_text,
                original.called,
                alt_count,
                original.nonref - alt_count,
                original.phased,
                _count(field.get("GQ")),
                _count(field.get("DP")),
                ad_ref,
                ad_alt,
            )


def _check_unique(calls: pa.Table, label: str) -> None:
    """Two records must not normalise to the same variant.

    Raises
    ------
    FormatError
        A variant is called twice; the message names its position only.
    """
    if calls.num_rows == 0:
        return
    ids = calls.column("variant_id")
    if pc.count_distinct(ids).as_py() == calls.num_rows:
        return
    counts = calls.group_by(["variant_id", "call_contig", "call_pos"]).aggregate(
        [("variant_id", "count")]
    )
    dup = counts.filter(pc.greater(counts["variant_id_count"], 1)).slice(0, 1).to_pylist()[0]
    raise FormatError(
        f"{label}: two records describe the same variant at {dup['call_contig']}:"
        f"{dup['call_pos']} after normalisation (left-alignment or splitting); remove "
        "the duplicate record"
    )


__all__ = [
    "CHUNK_ROWS",
    "IngestBatch",
    "VcfSummary",
    "check_vcf",
    "read_sample_vcf",
    "variant_type",
]
