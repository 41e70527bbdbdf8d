"""Versioned copies of external annotation sources (ClinVar, population frequencies).

Each load of a VCF becomes a new, immutable version folder under a root::

    ROOT/clinvar/v0001/{data.parquet, protein.parquet?, manifest.json}
    ROOT/population/gnomad/v0001/{data.parquet, manifest.json}

A version is written into a hidden sibling folder and renamed into place (atomic on one
file system), so readers never see half a version. Loading a file whose SHA-256 (and
normalisation reference) equals an existing version's is a no-op that returns that version.

Multi-allelic records are split with ``bcftools norm -m -any``; with a reference FASTA the
alleles are also left-aligned and trimmed (``-f REF``, REF mismatches only warned about),
without one they are only split. Variant IDs are ``CONTIG-POS-REF-ALT`` with the contig named
as in the file (ClinVar's GRCh37 VCF says ``1``, not ``chr1``): callers must use the same
naming and build.

PS1/PM5 support: ClinVar's VCF carries no protein change (``MC`` is only the SO term and
``CLNHGVS`` is genomic). When :func:`load_clinvar` is given a reference FASTA and a GFF3 of
the same build it runs :func:`~helgenom.adapters.annotation.consequence.annotate` and stores
per-transcript residue changes in ``protein.parquet``; :func:`clinvar_at_residue` then finds
pathogenic variants at the same residue (PS1: same amino-acid change, PM5: a different one).
Without them only :func:`clinvar_at_position` (same genomic position) is available. Residue
matching uses the instance's transcripts, not ClinVar's, so it is as good as that GFF3.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pysam
import pysam.bcftools

from helgenom.core.errors import (
    ConflictError,
    FormatError,
    InvalidInputError,
    NotFoundError,
)

SOURCE_FORMAT_VERSION = 1
"""``format_version`` of every manifest written here."""

PATHOGENIC_TERMS = frozenset({"pathogenic", "likely_pathogenic", "pathogenic/likely_pathogenic"})
"""Normalised CLNSIG values counted as pathogenic (conflicting interpretations are not)."""

REVIEW_STARS: dict[str, int] = {
    "practice_guideline": 4,
    "reviewed_by_expert_panel": 3,
    "criteria_provided,_multiple_submitters,_no_conflicts": 2,
    "criteria_provided,_conflicting_interpretations": 1,
    "criteria_provided,_conflicting_classifications": 1,
    "criteria_provided,_single_submitter": 1,
}
"""ClinVar review status to gold stars (anything else: 0)."""

CLINVAR_SCHEMA = pa.schema(
    [
        pa.field("variant_id", pa.string(), nullable=False),
        pa.field("contig", pa.string(), nullable=False),
        pa.field("pos", pa.int64(), nullable=False),
        pa.field("ref", pa.string(), nullable=False),
        pa.field("alt", pa.string(), nullable=False),
        pa.field("clinvar_id", pa.string()),
        pa.field("allele_id", pa.string()),
        pa.field("clnsig", pa.string()),
        pa.field("pathogenic", pa.bool_(), nullable=False),
        pa.field("clnrevstat", pa.string()),
        pa.field("review_stars", pa.int8(), nullable=False),
        pa.field("clndn", pa.string()),
        pa.field("geneinfo", pa.string()),
        pa.field("gene", pa.string()),
        pa.field("mc", pa.list_(pa.string())),
        pa.field("clnhgvs", pa.string()),
    ]
)
"""Columns of ``clinvar/vNNNN/data.parquet``."""

PROTEIN_SCHEMA = pa.schema(
    [
        pa.field("variant_id", pa.string(), nullable=False),
        pa.field("gene", pa.string()),
        pa.field("transcript", pa.string()),
        pa.field("protein_position", pa.int64(), nullable=False),
        pa.field("aa_ref", pa.string(), nullable=False),
        pa.field("aa_alt", pa.string(), nullable=False),
        pa.field("hgvs_p", pa.string()),
    ]
)
"""Columns of ``clinvar/vNNNN/protein.parquet`` (single-residue changes only)."""

POPULATION_SCHEMA = pa.schema(
    [
        pa.field("variant_id", pa.string(), nullable=False),
        pa.field("contig", pa.string(), nullable=False),
        pa.field("pos", pa.int64(), nullable=False),
        pa.field("ref", pa.string(), nullable=False),
        pa.field("alt", pa.string(), nullable=False),
        pa.field("af", pa.float64()),
        pa.field("ac", pa.int64()),
        pa.field("an", pa.int64()),
        pa.field("nhomalt", pa.int64()),
    ]
)
"""Columns of ``population/NAME/vNNNN/data.parquet``."""

_NAME = re.compile(r"[a-z0-9][a-z0-9_\-]{0,63}")
_VERSION_DIR = re.compile(r"v(\d{4,})")
_SINGLE_AA = re.compile(r"^(\d+)([A-Z*])>\d+([A-Z*])$")


@dataclass(frozen=True, slots=True)
class SourceVersion:
    """One loaded version of an external source."""

    source: str
    """``clinvar`` or ``population/NAME``."""
    version: int
    """Version number (1, 2, …), the folder ``vNNNN``."""
    version_label: str
    """The release label given at load time (e.g. ``20191007``)."""
    path: Path
    """The version folder."""
    manifest: Mapping[str, Any]
    """The parsed ``manifest.json``."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _versions(folder: Path) -> list[tuple[int, Path]]:
    if not folder.is_dir():
        return []
    found = []
    for child in folder.iterdir():
        match = _VERSION_DIR.fullmatch(child.name)
        if match and (child / "manifest.json").is_file():
            found.append((int(match.group(1)), child))
    return sorted(found)


def _read_version(source: str, number: int, path: Path) -> SourceVersion:
    manifest_path = path / "manifest.json"
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise FormatError(
            f"manifest {manifest_path} cannot be read ({exc}); remove the version folder"
        ) from exc
    if manifest.get("format_version") != SOURCE_FORMAT_VERSION:
        raise FormatError(
            f"manifest {manifest_path} has format_version {manifest.get('format_version')!r}; "
            f"this helgenom reads {SOURCE_FORMAT_VERSION}: reload the source"
        )
    return SourceVersion(source, number, str(manifest["version_label"]), path, manifest)


def list_versions(root: Path, source: str) -> list[SourceVersion]:
    """Return every loaded version of a source (``clinvar`` or ``population/NAME``), oldest first.

    Raises
    ------
    FormatError
        If a manifest cannot be read or has another format_version.
    """
    return [_read_version(source, n, p) for n, p in _versions(root / source)]


def get_version(root: Path, source: str, version: int | None = None) -> SourceVersion:
    """Return one version of a source; None means the newest.

    Raises
    ------
    NotFoundError
        If the source or version was never loaded.
    """
    versions = list_versions(root, source)
    if not versions:
        raise NotFoundError(f"no version of {source} under {root}; load it first")
    if version is None:
        return versions[-1]
    for item in versions:
        if item.version == version:
            return item
    raise NotFoundError(
        f"{source} has no version {version} under {root} "
        f"(loaded: {', '.join(str(v.version) for v in versions)})"
    )


def _split(vcf: Path, reference_fasta: Path | None, workdir: Path) -> Path:
    out = workdir / "split.bcf"
    args = ["-m", "-any"]
    if reference_fasta is not None:
        args += ["-f", str(reference_fasta), "--check-ref", "w"]
    try:
        pysam.bcftools.norm(*args, "-Ob", "-o", str(out), str(vcf), catch_stdout=False)
    except pysam.utils.SamtoolsError as exc:
        raise FormatError(
            f"VCF {vcf} could not be split/normalised by bcftools norm ({exc}); check that it "
            "is a valid VCF and that the reference FASTA is the one it was made against"
        ) from exc
    return out


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value) if value else None
    return str(value)


def _first(value: object) -> object:
    if isinstance(value, tuple):
        return value[0] if value else None
    return value


def _int(value: object) -> int | None:
    first = _first(value)
    return None if first is None else int(str(first))


def _float(value: object) -> float | None:
    first = _first(value)
    return None if first is None else float(str(first))


def _records(split: Path) -> Iterator[tuple[pysam.VariantRecord, str]]:
    with pysam.VariantFile(str(split), index_filename=None) as vf:
        for rec in vf:
            alt = rec.alts[0] if rec.alts else None
            if alt is None or alt.startswith("<") or alt == "*":
                continue
            yield rec, alt


def _info(rec: pysam.VariantRecord, key: str) -> object:
    return rec.info.get(key)


def _clinvar_rows(split: Path) -> Iterator[dict[str, object]]:
    for rec, alt in _records(split):
        clnsig = _text(_info(rec, "CLNSIG"))
        terms = {t.strip().lower() for t in re.split(r"[,|]", clnsig or "") if t.strip()}
        revstat = _text(_info(rec, "CLNREVSTAT"))
        geneinfo = _text(_info(rec, "GENEINFO"))
        mc = _info(rec, "MC")
        yield {
            "variant_id": f"{rec.chrom}-{rec.pos}-{rec.ref}-{alt}",
            "contig": rec.chrom,
            "pos": rec.pos,
            "ref": rec.ref,
            "alt": alt,
            "clinvar_id": rec.id,
            "allele_id": _text(_info(rec, "ALLELEID")),
            "clnsig": clnsig,
            "pathogenic": bool(terms & PATHOGENIC_TERMS),
            "clnrevstat": revstat,
            "review_stars": REVIEW_STARS.get((revstat or "").lower(), 0),
            "clndn": _text(_info(rec, "CLNDN")),
            "geneinfo": geneinfo,
            "gene": geneinfo.split(":", 1)[0] if geneinfo else None,
            "mc": [str(m) for m in mc] if isinstance(mc, tuple) else ([str(mc)] if mc else None),
            "clnhgvs": _text(_info(rec, "CLNHGVS")),
        }


def _population_rows(split: Path) -> Iterator[dict[str, object]]:
    for rec, alt in _records(split):
        yield {
            "variant_id": f"{rec.chrom}-{rec.pos}-{rec.ref}-{alt}",
            "contig": rec.chrom,
            "pos": rec.pos,
            "ref": rec.ref,
            "alt": alt,
            "af": _float(_info(rec, "AF")),
            "ac": _int(_info(rec, "AC")),
            "an": _int(_info(rec, "AN")),
            "nhomalt": _int(_info(rec, "nhomalt")),
        }


def _reference_line(vcf: Path) -> str | None:
    with pysam.VariantFile(str(vcf)) as vf:
        for record in vf.header.records:
            if record.key in ("reference", "assembly") and record.value:
                return str(record.value)
    return None


def _load(
    kind: str,
    vcf: Path,
    root: Path,
    version_label: str,
    reference_fasta: Path | None,
    build_tables: Any,
) -> SourceVersion:
    if not version_label or "/" in version_label:
        raise InvalidInputError(f"version label {version_label!r} must be non-empty, no '/'")
    if not vcf.is_file():
        raise NotFoundError(f"VCF {vcf} does not exist")
    digest = _sha256(vcf)
    ref_name = reference_fasta.name if reference_fasta is not None else None
    for existing in list_versions(root, kind):
        if (
            existing.manifest.get("source_sha256") == digest
            and existing.manifest.get("normalised_against") == ref_name
        ):
            return existing
    folder = root / kind
    folder.mkdir(parents=True, exist_ok=True)
    staging = folder / f".staging-{uuid.uuid4().hex}"
    staging.mkdir()
    try:
        with tempfile.TemporaryDirectory(dir=staging) as tmp:
            split = _split(vcf, reference_fasta, Path(tmp))
            with pysam.VariantFile(str(vcf)) as raw:
                records_in = sum(1 for _ in raw)
            counts: dict[str, int] = build_tables(split, staging, Path(tmp))
            contigs = sorted(
                {
                    str(c)
                    for c in pq.read_table(staging / "data.parquet", columns=["contig"])
                    .column("contig")
                    .unique()
                    .to_pylist()
                }
            )
        manifest = {
            "format_version": SOURCE_FORMAT_VERSION,
            "source": kind,
            "version_label": version_label,
            "source_file": vcf.name,
            "source_sha256": digest,
            "normalised_against": ref_name,
            "split_multiallelic": True,
            "records_in": records_in,
            **counts,
            "reference_header": _reference_line(vcf),
            "contigs": contigs,
            "loaded_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
        for attempt in range(100):
            number = (_versions(folder)[-1][0] + 1) if _versions(folder) else 1
            manifest["version"] = number
            (staging / "manifest.json").write_text(
                json.dumps(manifest, indent=2, sort_keys=True), encoding="utf-8"
            )
            target = folder / f"v{number:04d}"
            try:
                os.rename(staging, target)  # atomic; fails if a concurrent load took the name
            except OSError:
                if attempt == 99:
                    raise
                continue
            return _read_version(kind, number, target)
        raise ConflictError(f"could not allocate a version folder under {folder}")
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def load_clinvar(
    vcf: Path,
    root: Path,
    version_label: str,
    reference_fasta: Path | None = None,
    gff3: Path | None = None,
) -> SourceVersion:
    """Load a ClinVar VCF as a new version under ``ROOT/clinvar``.

    Parameters
    ----------
    vcf
        NCBI ClinVar VCF (``CLNSIG``, ``CLNREVSTAT``, ``CLNDN``, ``GENEINFO``, ``MC``, …).
    root
        Folder holding all sources.
    version_label
        Release label, e.g. ``20191007``.
    reference_fasta
        FASTA of the VCF's build: alleles are then left-aligned, otherwise only split.
    gff3
        GFF3 of the same build (needs ``reference_fasta``): residue changes are stored for
        :func:`clinvar_at_residue` (PS1/PM5).

    Returns
    -------
    SourceVersion
        The new version, or the existing one when the same file was loaded before.

    Raises
    ------
    FormatError
        If the VCF cannot be parsed or normalised.
    InvalidInputError
        If the label is empty, or ``gff3`` is given without ``reference_fasta``.
    NotFoundError
        If the VCF does not exist.
    """
    if gff3 is not None and reference_fasta is None:
        raise InvalidInputError("load_clinvar: a gff3 needs the reference_fasta of its build")

    def build(split: Path, out: Path, tmp: Path) -> dict[str, int]:
        table = pa.Table.from_pylist(list(_clinvar_rows(split)), schema=CLINVAR_SCHEMA)
        pq.write_table(table, out / "data.parquet")
        counts = {"rows": table.num_rows, "pathogenic_rows": sum(table["pathogenic"].to_pylist())}
        if gff3 is not None and reference_fasta is not None:
            protein = _protein_table(split, reference_fasta, gff3, tmp)
            pq.write_table(protein, out / "protein.parquet")
            counts["protein_rows"] = protein.num_rows
        return counts

    return _load("clinvar", vcf, root, version_label, reference_fasta, build)


def _protein_table(split: Path, reference_fasta: Path, gff3: Path, tmp: Path) -> pa.Table:
    from helgenom.adapters.annotation.consequence import annotate

    csq = annotate(split, reference_fasta, gff3, tmp / "csq")
    rows = []
    for row in csq.to_pylist():
        match = _SINGLE_AA.match(row["amino_acid_change"] or "")
        if match is None:
            continue
        rows.append(
            {
                "variant_id": row["variant_id"],
                "gene": row["gene"],
                "transcript": row["transcript"],
                "protein_position": int(match.group(1)),
                "aa_ref": match.group(2),
                "aa_alt": match.group(3),
                "hgvs_p": row["hgvs_p"],
            }
        )
    return pa.Table.from_pylist(rows, schema=PROTEIN_SCHEMA)


def load_population(
    name: str, vcf: Path, root: Path, version_label: str, reference_fasta: Path | None = None
) -> SourceVersion:
    """Load a population-frequency VCF (``AF``, ``AC``, ``AN``, ``nhomalt``) as a new version.

    Parameters
    ----------
    name
        Source name, lower case (``gnomad``, ``dk_reference``).
    vcf
        Sites VCF; missing INFO fields become nulls.
    root
        Folder holding all sources.
    version_label
        Release label, e.g. ``r2.1.1``.
    reference_fasta
        FASTA of the VCF's build: alleles are then left-aligned, otherwise only split.

    Returns
    -------
    SourceVersion
        The new version, or the existing one when the same file was loaded before.

    Raises
    ------
    FormatError
        If the VCF cannot be parsed or normalised.
    InvalidInputError
        If the name or label is not acceptable.
    NotFoundError
        If the VCF does not exist.
    """
    if not _NAME.fullmatch(name):
        raise InvalidInputError(f"population source name {name!r}: use [a-z0-9_-], max 64")

    def build(split: Path, out: Path, tmp: Path) -> dict[str, int]:
        table = pa.Table.from_pylist(list(_population_rows(split)), schema=POPULATION_SCHEMA)
        pq.write_table(table, out / "data.parquet")
        return {"rows": table.num_rows}

    return _load(f"population/{name}", vcf, root, version_label, reference_fasta, build)


def _query(sql: str, params: Sequence[object]) -> pa.Table:
    con = duckdb.connect(":memory:")
    try:
        result: pa.Table = con.sql(sql, params=list(params)).to_arrow_table()
        return result
    finally:
        con.close()


def _parquet(version: SourceVersion, name: str) -> str:
    path = version.path / name
    if not path.is_file():
        raise NotFoundError(
            f"{version.source} v{version.version} has no {name}; reload it with a reference "
            "FASTA and GFF3 to get residue-level matches"
        )
    return str(path)


def clinvar_matches(root: Path, version: int | None, variant_ids: Sequence[str]) -> pa.Table:
    """Return ClinVar rows whose allele equals one of ``variant_ids`` (CONTIG-POS-REF-ALT).

    Raises
    ------
    NotFoundError
        If the version does not exist.
    """
    v = get_version(root, "clinvar", version)
    return _query(
        "SELECT * FROM read_parquet(?) WHERE list_contains(?, variant_id) ORDER BY variant_id",
        [_parquet(v, "data.parquet"), list(variant_ids)],
    )


def clinvar_at_position(
    root: Path, version: int | None, contig: str, pos: int, pathogenic_only: bool = True
) -> pa.Table:
    """Return ClinVar alleles starting at a genomic position (other alleles of the same site).

    Raises
    ------
    NotFoundError
        If the version does not exist.
    """
    v = get_version(root, "clinvar", version)
    return _query(
        "SELECT * FROM read_parquet(?) WHERE contig = ? AND pos = ? AND (pathogenic OR NOT ?) "
        "ORDER BY variant_id",
        [_parquet(v, "data.parquet"), contig, pos, pathogenic_only],
    )


def clinvar_at_residue(
    root: Path,
    version: int | None,
    gene: str,
    protein_position: int,
    transcript: str | None = None,
    pathogenic_only: bool = True,
) -> pa.Table:
    """Return ClinVar variants changing the same residue (for ACMG PS1 and PM5).

    Rows carry ``aa_ref``/``aa_alt``: a row with the query variant's ``aa_alt`` but another
    ``variant_id`` supports PS1; a row with another ``aa_alt`` supports PM5.

    Raises
    ------
    NotFoundError
        If the version does not exist or was loaded without a GFF3.
    """
    v = get_version(root, "clinvar", version)
    return _query(
        "SELECT p.*, c.clnsig, c.pathogenic, c.review_stars, c.clndn "
        "FROM read_parquet(?) p JOIN read_parquet(?) c USING (variant_id) "
        "WHERE p.gene = ? AND p.protein_position = ? AND (? IS NULL OR p.transcript = ?) "
        "AND (c.pathogenic OR NOT ?) ORDER BY variant_id",
        [
            _parquet(v, "protein.parquet"),
            _parquet(v, "data.parquet"),
            gene,
            protein_position,
            transcript,
            transcript,
            pathogenic_only,
        ],
    )


def population_frequencies(
    root: Path, name: str, version: int | None, variant_ids: Sequence[str]
) -> pa.Table:
    """Return AF/AC/AN/nhomalt of ``variant_ids`` in one population source version.

    Raises
    ------
    NotFoundError
        If the source or version does not exist.
    """
    v = get_version(root, f"population/{name}", version)
    return _query(
        "SELECT * FROM read_parquet(?) WHERE list_contains(?, variant_id) ORDER BY variant_id",
        [_parquet(v, "data.parquet"), list(variant_ids)],
    )
