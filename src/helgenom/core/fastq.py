"""Cheap checks of gzip-compressed FASTQ files before they are stored.

:func:`inspect_fastq_gz` reads one stream once: it checks the gzip magic, checks the
first record closely (``@`` header, sequence, ``+`` line, a quality string as long
as the sequence), then counts lines to the end in 1 MiB chunks (constant memory). A
paired-end run's two files must hold the same number of reads (:func:`check_pair`).

Messages name the file by its label (``R1``/``R2``) and the problem, never the
content of a read or the file name (which may carry a person's number).
"""

from __future__ import annotations

import gzip
import zlib
from dataclasses import dataclass
from typing import BinaryIO

from helgenom.core.errors import FormatError, InvalidInputError

GZIP_MAGIC = b"\x1f\x8b"
CHUNK_SIZE = 1 << 20
_SEQUENCE_LETTERS = frozenset(b"ACGTUNRYKMSWBDHVacgtunrykmswbdhv.")
_MIN_QUALITY, _MAX_QUALITY = 33, 126


@dataclass(frozen=True, slots=True)
class FastqSummary:
    """What a check of one FASTQ file found."""

    records: int
    """Number of reads (records of four lines)."""
    first_read_length: int
    """Length of the first read's sequence."""


def check_first_record(lines: list[bytes], label: str) -> int:
    """Check the first four lines of a FASTQ file; returns the first sequence's length.

    Raises
    ------
    FormatError
        The lines are not a FASTQ record; the message says which line and why.
    """
    if not lines or not lines[0]:
        raise FormatError(f"{label} holds no reads: the decompressed file is empty")
    where = f"{label} is not FASTQ: in the first record,"
    if len(lines) < 4 or not lines[3]:
        raise FormatError(f"{where} the file ends before the four lines of a record")
    header, sequence, plus, quality = (line.rstrip(b"\r\n") for line in lines[:4])
    if not header.startswith(b"@") or len(header) < 2:
        raise FormatError(f"{where} line 1 must be a header starting with '@' and a read name")
    if not sequence:
        raise FormatError(f"{where} line 2 (the sequence) is empty")
    if any(b not in _SEQUENCE_LETTERS for b in sequence):
        raise FormatError(
            f"{where} line 2 (the sequence) may hold only nucleotide letters (ACGTN and IUPAC "
            "codes)"
        )
    if not plus.startswith(b"+"):
        raise FormatError(f"{where} line 3 must start with '+'")
    if len(quality) != len(sequence):
        raise FormatError(
            f"{where} the quality (line 4) has {len(quality)} characters but the sequence has "
            f"{len(sequence)}: they must be equally long"
        )
    if any(not _MIN_QUALITY <= b <= _MAX_QUALITY for b in quality):
        raise FormatError(f"{where} line 4 (the quality) may hold only the characters '!' to '~'")
    return len(sequence)


def inspect_fastq_gz(stream: BinaryIO, label: str) -> FastqSummary:
    """Check a gzip-compressed FASTQ stream and count its reads.

    Parameters
    ----------
    stream
        The compressed bytes, read once from the start.
    label
        How messages name the file, e.g. ``R1``.

    Raises
    ------
    FormatError
        Not gzip, a corrupt or truncated gzip stream, a first record that is not FASTQ,
        or a line count that is not a multiple of four.
    """
    magic = stream.read(2)
    if magic != GZIP_MAGIC:
        raise FormatError(
            f"{label} is not gzip-compressed: give the sequencer's .fastq.gz file "
            "(compress a plain FASTQ with gzip or bgzip)"
        )
    try:
        stream.seek(0)
        with gzip.GzipFile(fileobj=stream, mode="rb") as reader:
            first = [reader.readline() for _ in range(4)]
            length = check_first_record(first, label)
            newlines = sum(line.count(b"\n") for line in first)
            last = first[-1]
            while chunk := reader.read(CHUNK_SIZE):
                newlines += chunk.count(b"\n")
                last = chunk
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise FormatError(
            f"{label} is a corrupt or truncated gzip file ({type(exc).__name__}); "
            "copy it again from the sequencer"
        ) from exc
    lines = newlines + (0 if last.endswith(b"\n") else 1)
    if lines % 4:
        raise FormatError(
            f"{label} ends in the middle of a record: {lines} lines is not a multiple of four "
            "(a truncated file?)"
        )
    return FastqSummary(records=lines // 4, first_read_length=length)


def check_pair(first: FastqSummary, second: FastqSummary) -> None:
    """Raise unless two files of a paired-end run hold the same number of reads."""
    if first.records != second.records:
        raise InvalidInputError(
            f"R1 holds {first.records} reads but R2 holds {second.records}: give the two files "
            "of one paired-end run (every read in R1 has its mate in R2)"
        )


__all__ = ["FastqSummary", "check_first_record", "check_pair", "inspect_fastq_gz"]
