"""Versioned gene models: the instance's GFF3, checked against its reference, and gene spans.

A load copies the GFF3 into a new immutable version folder beside the other sources::

    ROOT/genes/v0001/{genes.gff3, genes.parquet, manifest.json}

``genes.parquet`` holds one row per protein-coding gene (symbol, Ensembl-style id,
contig, span, strand, coding transcripts); case analysis restricts the family's calls
to the spans of the panel's genes and runs ``bcftools csq`` with ``genes.gff3``.
Loading a file whose SHA-256 equals an existing version's returns that version.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from helgenom.adapters.annotation.consequence import _iter_gff3, check_gff3
from helgenom.adapters.annotation.sources import (
    SOURCE_FORMAT_VERSION,
    SourceVersion,
    get_version,
    list_versions,
)
from helgenom.adapters.pipeline.reference import file_sha256
from helgenom.core.errors import ConflictError, InvalidInputError, NotFoundError

SOURCE = "genes"
"""Source name of the gene models."""

GENES_SCHEMA = pa.schema(
    [
        pa.field("gene", pa.string(), nullable=False),
        pa.field("gene_id", pa.string(), nullable=False),
        pa.field("contig", pa.string(), nullable=False),
        pa.field("start", pa.int64(), nullable=False),
        pa.field("end", pa.int64(), nullable=False),
        pa.field("strand", pa.string(), nullable=False),
        pa.field("transcripts", pa.list_(pa.string()), nullable=False),
    ]
)
"""One row per gene with at least one coding transcript; 1-based inclusive span."""


@dataclass(frozen=True, slots=True)
class GeneSpan:
    """Where a gene lies."""

    gene: str
    """Gene symbol (the GFF3 ``Name``)."""
    contig: str
    """Contig name."""
    start: int
    """First base (1-based)."""
    end: int
    """Last base (inclusive)."""
    strand: str
    """``+`` or ``-``."""


def _strip(value: str) -> str:
    return value.split(":", 1)[1] if ":" in value else value


def gene_table(gff3: Path) -> pa.Table:
    """The protein-coding genes of a GFF3 (Ensembl style: gene -> mRNA -> CDS ``Parent``s).

    Raises
    ------
    FormatError
        The file is not tab-separated GFF3.
    """
    genes: dict[str, dict[str, object]] = {}
    tx_gene: dict[str, str] = {}
    coding: set[str] = set()
    for f in _iter_gff3(gff3):
        ident = f.attributes.get("ID", "")
        if f.type == "gene" or (ident.startswith("gene:") and "Parent" not in f.attributes):
            key = _strip(ident) if ident else f"line{f.line_no}"
            genes[key] = {
                "gene": f.attributes.get("Name") or _strip(ident),
                "gene_id": key,
                "contig": f.contig,
                "start": f.start,
                "end": f.end,
                "strand": f.strand,
            }
        elif f.type == "CDS":
            for parent in f.attributes.get("Parent", "").split(","):
                if parent:
                    coding.add(_strip(parent))
        elif "Parent" in f.attributes and ident:
            parent = f.attributes["Parent"].split(",")[0]
            tx_gene[_strip(ident)] = _strip(parent)
    by_gene: dict[str, list[str]] = {}
    for tx in sorted(coding):
        gene = tx_gene.get(tx)
        if gene in genes:
            by_gene.setdefault(gene, []).append(tx)
    rows = [dict(genes[g], transcripts=txs) for g, txs in sorted(by_gene.items())]
    return pa.Table.from_pylist(rows, schema=GENES_SCHEMA)


def load_gene_models(
    gff3: Path, root: Path, version_label: str, reference_fasta: Path
) -> SourceVersion:
    """Check ``gff3`` against ``reference_fasta`` and store it as a new version.

    Raises
    ------
    NotFoundError
        ``gff3`` does not exist.
    InvalidInputError
        It holds no protein-coding gene, or the label is empty.
    FormatError
        It does not fit the FASTA (contigs, coordinates; see
        :func:`~helgenom.adapters.annotation.consequence.check_gff3`).
    """
    if not version_label or "/" in version_label:
        raise InvalidInputError(f"version label {version_label!r} must be non-empty, no '/'")
    if not gff3.is_file():
        raise NotFoundError(f"GFF3 file {gff3} does not exist")
    digest = file_sha256(gff3)
    for existing in list_versions(root, SOURCE):
        if existing.manifest.get("source_sha256") == digest:
            return existing
    check = check_gff3(gff3, reference_fasta)
    table = gene_table(gff3)
    if table.num_rows == 0:
        raise InvalidInputError(
            f"GFF3 file {gff3} has no protein-coding gene (gene -> mRNA -> CDS with Parent "
            "links, Ensembl style): give the gene models of the reference build"
        )
    folder = root / SOURCE
    folder.mkdir(parents=True, exist_ok=True)
    staging = folder / f".staging-{uuid.uuid4().hex}"
    staging.mkdir()
    try:
        shutil.copyfile(gff3, staging / "genes.gff3")
        pq.write_table(table, staging / "genes.parquet")
        manifest: dict[str, object] = {
            "format_version": SOURCE_FORMAT_VERSION,
            "source": SOURCE,
            "version_label": version_label,
            "source_file": gff3.name,
            "source_sha256": digest,
            "reference": reference_fasta.name,
            "genes": table.num_rows,
            "coding_transcripts": check.coding_transcripts,
            "start_codons_ok": check.start_codons_ok,
            "contigs": list(check.contigs),
            "loaded_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
        for _ in range(100):
            versions = list_versions(root, SOURCE)
            number = versions[-1].version + 1 if versions else 1
            manifest["version"] = number
            (staging / "manifest.json").write_text(
                json.dumps(manifest, indent=2, sort_keys=True), encoding="utf-8"
            )
            target = folder / f"v{number:04d}"
            try:
                os.rename(staging, target)
            except OSError:
                continue
            return get_version(root, SOURCE, number)
        raise ConflictError(f"could not allocate a version folder under {folder}")
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def gene_spans(version: SourceVersion) -> dict[str, GeneSpan]:
    """Gene symbol -> span, from a loaded version (the first gene of a repeated symbol)."""
    table = pq.read_table(version.path / "genes.parquet")
    out: dict[str, GeneSpan] = {}
    for row in table.to_pylist():
        out.setdefault(
            row["gene"],
            GeneSpan(row["gene"], row["contig"], row["start"], row["end"], row["strand"]),
        )
    return out


def gff3_path(version: SourceVersion) -> Path:
    """The stored GFF3 of a loaded version."""
    return version.path / "genes.gff3"


__all__ = [
    "GENES_SCHEMA",
    "SOURCE",
    "GeneSpan",
    "gene_spans",
    "gene_table",
    "gff3_path",
    "load_gene_models",
]
