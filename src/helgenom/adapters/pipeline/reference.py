"""Reference genomes prepared once: a canonical FASTA, its indexes and checksums.

:func:`prepare_reference` turns a FASTA file (plain or gzip/bgzip) into a folder::

    dest/
      genome.fa        the sequences, rewritten with 60 bases per line and LF endings
      genome.fa.fai    samtools faidx index (pysam)
      genome.mmi       minimap2 index, short-read preset (mappy)
      genome.dict      a SAM header: one @SQ line per contig with LN, M5, AS, UR
      reference.json   :class:`ReferenceInfo` (format_version, build, contigs, checksums)

The folder is built aside (``.{dest}.partial-*``) and renamed into place, so a
reference is either complete or absent. Preparing the same FASTA into the same
folder again is recognised by the SHA-256 of the source and returns the existing
folder without rebuilding anything.

Checksums: ``sha256`` of the stored ``genome.fa`` and of the source file, and per
contig the MD5 of the upper-case sequence, as in the SAM/CRAM ``M5`` tag (so CRAM
readers can check they decode against the right sequence).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import re
import secrets
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, NamedTuple

import mappy  # type: ignore[import-not-found,unused-ignore]
import pysam
import pysam.utils

from helgenom.adapters.pipeline.tools import tool_failure
from helgenom.core.errors import ConflictError, FormatError, IntegrityError, NotFoundError

REFERENCE_FORMAT_VERSION = 1
"""Version of ``reference.json``; :meth:`ReferenceInfo.from_dict` checks it first."""
FASTA_NAME = "genome.fa"
MMI_NAME = "genome.mmi"
DICT_NAME = "genome.dict"
MANIFEST_NAME = "reference.json"
LINE_WIDTH = 60
INDEX_PRESET = "sr"
"""minimap2 preset the index is built for (short reads)."""

_CONTIG_NAME = re.compile(r"[0-9A-Za-z!#$%&+./:;?@^_|~-][0-9A-Za-z!#$%&*+./:;=?@^_|~-]*")
"""Valid reference sequence names (SAM specification, section 1.2.1)."""
_SEQUENCE_LETTERS = b"ACGTRYKMSWBDHVNacgtrykmswbdhvn"
_GZIP_MAGIC = b"\x1f\x8b"


class Contig(NamedTuple):
    """One reference sequence."""

    name: str
    """Sequence name (the first word of the FASTA header)."""
    length: int
    """Length in bases."""
    md5: str
    """MD5 (hex) of the upper-case sequence: the SAM/CRAM ``M5`` tag."""


@dataclass(frozen=True, slots=True)
class ReferenceInfo:
    """A prepared reference genome (see :func:`prepare_reference`)."""

    build: str
    """Genome build name, e.g. ``GRCh38`` (the ``AS`` tag of the SAM header)."""
    contigs: tuple[Contig, ...]
    """The sequences in file order."""
    sha256: str
    """SHA-256 (hex) of the stored ``genome.fa``."""
    source_sha256: str
    """SHA-256 (hex) of the FASTA file it was prepared from (as given, maybe gzip)."""
    acgt_length: int
    """Bases that are A, C, G or T (either case): the denominator for coverage."""
    fasta_path: Path
    """The canonical FASTA."""
    fai_path: Path
    """Its samtools faidx index."""
    mmi_path: Path
    """The minimap2 index (preset :data:`INDEX_PRESET`)."""
    dict_path: Path
    """A SAM header with one ``@SQ`` line per contig."""
    mappy_version: str
    """mappy (minimap2) version that built the index."""
    format_version: int = REFERENCE_FORMAT_VERSION
    """Version of this record's dictionary form."""

    @property
    def total_length(self) -> int:
        """Sum of the contig lengths."""
        return sum(c.length for c in self.contigs)

    @property
    def folder(self) -> Path:
        """The folder holding the reference files."""
        return self.fasta_path.parent

    def contig_names(self) -> list[str]:
        """Contig names in file order."""
        return [c.name for c in self.contigs]

    def asdict(self) -> dict[str, Any]:
        """A JSON-ready dictionary (paths as strings, contigs as lists)."""
        return {
            "format_version": self.format_version,
            "build": self.build,
            "contigs": [[c.name, c.length, c.md5] for c in self.contigs],
            "sha256": self.sha256,
            "source_sha256": self.source_sha256,
            "acgt_length": self.acgt_length,
            "fasta_path": str(self.fasta_path),
            "fai_path": str(self.fai_path),
            "mmi_path": str(self.mmi_path),
            "dict_path": str(self.dict_path),
            "mappy_version": self.mappy_version,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ReferenceInfo:
        """Read :meth:`asdict` output back, checking ``format_version`` first.

        Raises
        ------
        FormatError
            Unknown format version or missing fields.
        """
        version = data.get("format_version")
        if version != REFERENCE_FORMAT_VERSION:
            raise FormatError(
                f"reference record has format_version {version!r}; this helgenom reads version "
                f"{REFERENCE_FORMAT_VERSION}: prepare the reference again with prepare_reference"
            )
        try:
            return cls(
                build=str(data["build"]),
                contigs=tuple(
                    Contig(str(n), int(length), str(m)) for n, length, m in data["contigs"]
                ),
                sha256=str(data["sha256"]),
                source_sha256=str(data["source_sha256"]),
                acgt_length=int(data["acgt_length"]),
                fasta_path=Path(data["fasta_path"]),
                fai_path=Path(data["fai_path"]),
                mmi_path=Path(data["mmi_path"]),
                dict_path=Path(data["dict_path"]),
                mappy_version=str(data["mappy_version"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise FormatError(
                f"reference record is incomplete or malformed ({type(exc).__name__}: {exc}): "
                "prepare the reference again"
            ) from exc

    def rebased(self, folder: Path) -> ReferenceInfo:
        """The same reference with its file paths inside ``folder`` (after a move)."""
        return ReferenceInfo(
            build=self.build,
            contigs=self.contigs,
            sha256=self.sha256,
            source_sha256=self.source_sha256,
            acgt_length=self.acgt_length,
            fasta_path=folder / FASTA_NAME,
            fai_path=folder / f"{FASTA_NAME}.fai",
            mmi_path=folder / MMI_NAME,
            dict_path=folder / DICT_NAME,
            mappy_version=self.mappy_version,
        )


def file_sha256(path: Path) -> str:
    """SHA-256 (hex) of a file, streamed."""
    with path.open("rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()


def _acgt(upper: bytes) -> int:
    """Bases of an upper-cased sequence line that are A, C, G or T."""
    return upper.count(b"A") + upper.count(b"C") + upper.count(b"G") + upper.count(b"T")


ACGT_CACHE_NAME = "acgt_by_contig.json"
"""Beside the canonical FASTA: its A/C/G/T bases per contig (written on first use)."""


def acgt_by_contig(info: ReferenceInfo) -> dict[str, int]:
    """Bases that are A, C, G or T per contig of a prepared reference: the denominators of
    per-contig depth (N padding, as in GRCh38's gaps or a padded test genome, holds no
    reads). Counted once from the canonical FASTA and kept beside it (atomically; a
    stale or unreadable copy is counted again).
    """
    cache = info.folder / ACGT_CACHE_NAME
    try:
        data = json.loads(cache.read_text(encoding="utf-8"))
        if data.get("sha256") == info.sha256:
            return {str(k): int(v) for k, v in data["contigs"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass
    counts: dict[str, int] = {}
    name: str | None = None
    with info.fasta_path.open("rb") as fasta:
        for line in fasta:
            if line.startswith(b">"):
                name = line[1:].split()[0].decode("ascii")
                counts[name] = 0
            elif name is not None:
                counts[name] += _acgt(line.upper())
    tmp = cache.with_name(f".{ACGT_CACHE_NAME}.{secrets.token_hex(4)}")
    try:
        tmp.write_text(json.dumps({"sha256": info.sha256, "contigs": counts}), encoding="utf-8")
        tmp.replace(cache)
    except OSError:
        tmp.unlink(missing_ok=True)  # a read-only reference: count again next time
    return counts


def _open_source(path: Path) -> gzip.GzipFile | io.BufferedReader:
    with path.open("rb") as probe:
        magic = probe.read(2)
    if magic == _GZIP_MAGIC:
        return gzip.open(path, "rb")
    return path.open("rb")


@dataclass
class _ParsedFasta:
    contigs: list[Contig]
    acgt_length: int


def _canonical_fasta(source: Path, out: IO[bytes]) -> _ParsedFasta:
    """Check ``source`` and write it to ``out`` with 60 bases per line; md5 per contig."""
    contigs: list[Contig] = []
    seen: set[str] = set()
    name: str | None = None
    md5 = hashlib.md5(usedforsecurity=False)
    length = 0
    acgt = 0
    pending = bytearray()

    def finish(line_number: int) -> None:
        nonlocal pending
        if name is None:
            return
        if length == 0:
            raise FormatError(
                f"FASTA contig {name} (ending before line {line_number}) has no sequence: "
                "remove it or give its bases"
            )
        if pending:
            out.write(bytes(pending) + b"\n")
            pending = bytearray()
        contigs.append(Contig(name, length, md5.hexdigest()))

    line_number = 0
    try:
        with _open_source(source) as stream:
            for line_number, raw in enumerate(stream, start=1):
                line = raw.rstrip(b"\r\n")
                if line.startswith(b">"):
                    finish(line_number)
                    words = line[1:].split()
                    if not words:
                        raise FormatError(f"FASTA line {line_number}: a header without a name")
                    candidate = words[0].decode("ascii", errors="replace")
                    if not _CONTIG_NAME.fullmatch(candidate):
                        raise FormatError(
                            f"FASTA line {line_number}: contig name {candidate!r} is not a valid "
                            "SAM reference name (letters, digits and !#$%&+./:;?@^_|~-; "
                            "no leading * or =)"
                        )
                    if candidate in seen:
                        raise FormatError(
                            f"FASTA line {line_number}: contig name {candidate} appears twice: "
                            "contig names must be unique"
                        )
                    seen.add(candidate)
                    name = candidate
                    md5 = hashlib.md5(usedforsecurity=False)
                    length = 0
                    out.write(b">" + line[1:] + b"\n")
                    continue
                line = line.strip()
                if not line:
                    continue
                if name is None:
                    raise FormatError(
                        f"FASTA line {line_number}: sequence before the first '>' header: "
                        "is this a FASTA file?"
                    )
                bad = line.translate(None, _SEQUENCE_LETTERS)
                if bad:
                    raise FormatError(
                        f"FASTA line {line_number} (contig {name}): character {chr(bad[0])!r} is "
                        "not a nucleotide letter (ACGTN or an IUPAC code)"
                    )
                upper = line.upper()
                md5.update(upper)
                length += len(line)
                acgt += _acgt(upper)
                pending += line
                if len(pending) >= LINE_WIDTH:
                    cut = len(pending) - len(pending) % LINE_WIDTH
                    block = pending[:cut]
                    out.write(
                        b"".join(
                            block[i : i + LINE_WIDTH] + b"\n" for i in range(0, cut, LINE_WIDTH)
                        )
                    )
                    del pending[:cut]
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        if isinstance(exc, FileNotFoundError):
            raise NotFoundError(f"FASTA file {source} does not exist") from exc
        raise FormatError(
            f"cannot read FASTA {source.name} ({type(exc).__name__}): a corrupt or truncated "
            "file? copy it again"
        ) from exc
    finish(line_number + 1)
    if not contigs:
        raise FormatError(f"{source.name} holds no sequences: a FASTA file starts with '>name'")
    return _ParsedFasta(contigs, acgt)


def _sam_dictionary(contigs: list[Contig], build: str, fasta: Path) -> str:
    lines = ["@HD\tVN:1.6"]
    lines += [
        f"@SQ\tSN:{c.name}\tLN:{c.length}\tM5:{c.md5}\tAS:{build}\tUR:file:{fasta}" for c in contigs
    ]
    return "\n".join(lines) + "\n"


def load_reference(folder: Path) -> ReferenceInfo:
    """The reference prepared in ``folder``.

    Raises
    ------
    NotFoundError
        No ``reference.json`` or an index file is missing.
    FormatError
        The record is of another format version or malformed.
    """
    manifest = folder / MANIFEST_NAME
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise NotFoundError(
            f"{folder} holds no prepared reference ({MANIFEST_NAME} is missing): run "
            "prepare_reference first"
        ) from None
    except json.JSONDecodeError as exc:
        raise FormatError(f"{manifest} is not valid JSON: prepare the reference again") from exc
    info = ReferenceInfo.from_dict(data).rebased(folder.resolve())
    for path in (info.fasta_path, info.fai_path, info.mmi_path, info.dict_path):
        if not path.is_file():
            raise NotFoundError(
                f"reference file {path.name} is missing from {folder}: prepare the reference "
                "again into a new folder"
            )
    return info


def verify_reference(info: ReferenceInfo) -> None:
    """Re-read the stored FASTA and compare its SHA-256 with the record.

    Raises
    ------
    IntegrityError
        The FASTA changed since it was prepared.
    """
    actual = file_sha256(info.fasta_path)
    if actual != info.sha256:
        raise IntegrityError(
            f"reference {info.build} at {info.folder} changed since it was prepared (SHA-256 "
            f"{actual[:12]}... instead of {info.sha256[:12]}...): prepare it again"
        )


def prepare_reference(
    fasta: Path, dest: Path, build: str, *, index_threads: int = 3
) -> ReferenceInfo:
    """Prepare ``fasta`` as genome build ``build`` in folder ``dest`` (see module doc).

    Parameters
    ----------
    fasta
        A FASTA file, plain or gzip/bgzip-compressed.
    dest
        The folder to create (or an empty one). If it already holds this FASTA, the
        existing reference is returned without rebuilding.
    build
        Genome build name, e.g. ``GRCh38``.
    index_threads
        Threads for building the minimap2 index.

    Raises
    ------
    FormatError
        The FASTA does not parse: text before the first header, an empty or invalid
        contig name, a name given twice, a contig without bases, a character that is
        not a nucleotide letter. The message names the line.
    ConflictError
        ``dest`` holds a different reference or other files.
    ToolFailedError
        Building an index failed.
    """
    if not build or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", build):
        raise FormatError(f"build name {build!r} must be letters, digits, '.', '_' or '-'")
    if not fasta.is_file():
        raise NotFoundError(f"FASTA file {fasta} does not exist")
    source_sha256 = file_sha256(fasta)
    dest = dest.resolve()
    if dest.exists():
        existing = _reusable(dest, source_sha256, build)
        if existing is not None:
            return existing
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = dest.parent / f".{dest.name}.partial-{secrets.token_hex(4)}"
    staging.mkdir()
    try:
        info = _build(fasta, staging, dest, build, source_sha256, index_threads)
        if dest.exists():
            dest.rmdir()  # empty (checked by _reusable); a non-empty folder raised there
        staging.rename(dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return info


def _reusable(dest: Path, source_sha256: str, build: str) -> ReferenceInfo | None:
    if not dest.is_dir():
        raise ConflictError(f"{dest} exists and is not a folder: choose another destination")
    if not (dest / MANIFEST_NAME).exists():
        if any(dest.iterdir()):
            raise ConflictError(
                f"{dest} is not empty and holds no prepared reference: choose a new or empty folder"
            )
        return None
    info = load_reference(dest)
    if info.source_sha256 != source_sha256:
        raise ConflictError(
            f"{dest} already holds reference {info.build} prepared from another FASTA (SHA-256 "
            f"{info.source_sha256[:12]}...): choose another folder for this one"
        )
    if info.build != build:
        raise ConflictError(
            f"{dest} holds this FASTA prepared as build {info.build}, not {build}: use the "
            "existing build name or another folder"
        )
    return info


def _build(
    fasta: Path, staging: Path, dest: Path, build: str, source_sha256: str, threads: int
) -> ReferenceInfo:
    stored = staging / FASTA_NAME
    with stored.open("wb") as out:
        parsed = _canonical_fasta(fasta, out)
    try:
        pysam.faidx(str(stored))
    except pysam.utils.SamtoolsError as exc:
        raise tool_failure("prepare_reference", "samtools faidx", exc) from exc
    aligner = mappy.Aligner(
        fn_idx_in=str(stored),
        preset=INDEX_PRESET,
        fn_idx_out=str(staging / MMI_NAME),
        n_threads=max(1, threads),
    )
    if not aligner or not (staging / MMI_NAME).is_file():
        raise tool_failure(
            "prepare_reference", "mappy", None, "minimap2 could not build an index of the FASTA"
        )
    del aligner
    (staging / DICT_NAME).write_text(
        _sam_dictionary(parsed.contigs, build, dest / FASTA_NAME), encoding="utf-8"
    )
    info = ReferenceInfo(
        build=build,
        contigs=tuple(parsed.contigs),
        sha256=file_sha256(stored),
        source_sha256=source_sha256,
        acgt_length=parsed.acgt_length,
        fasta_path=dest / FASTA_NAME,
        fai_path=dest / f"{FASTA_NAME}.fai",
        mmi_path=dest / MMI_NAME,
        dict_path=dest / DICT_NAME,
        mappy_version=str(mappy.__version__),
    )
    manifest = json.dumps(info.asdict(), indent=2, sort_keys=True) + "\n"
    (staging / MANIFEST_NAME).write_text(manifest, encoding="utf-8")
    return info


__all__ = [
    "REFERENCE_FORMAT_VERSION",
    "Contig",
    "ReferenceInfo",
    "file_sha256",
    "load_reference",
    "prepare_reference",
    "verify_reference",
]
