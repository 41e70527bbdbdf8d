"""The data side of a case analysis: gene spans, consequences, ClinVar and population lookups.

The services hand in the family's sites (from
:meth:`helgenom.adapters.variants.engine.VariantEngine.family_sites`) and get back plain
rows; :mod:`helgenom.core.interpretation` does the interpretation.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pysam

from helgenom.adapters.annotation import consequence, sources
from helgenom.adapters.annotation.genes import GeneSpan
from helgenom.core.errors import NotFoundError

SPAN_PADDING = 20
"""Bases around a gene kept with it (splice regions reach 8 bp into the intron)."""

_IMPACT_RANK = {name: i for i, name in enumerate(consequence.IMPACT_ORDER)}
_AA = re.compile(r"^(\d+)([A-Z*])>(\d+)([A-Z*])$")


def restrict_to_genes(
    sites: pa.Table, spans: Mapping[str, GeneSpan], padding: int = SPAN_PADDING
) -> pa.Table:
    """The rows of ``sites`` inside the spans (plus ``padding``), with a ``span_gene`` column.

    A site inside two genes appears once per gene.
    """
    if not spans or sites.num_rows == 0:
        return sites.append_column("span_gene", pa.array([], pa.string())).slice(0, 0)
    genes = pa.table(
        {
            "span_gene": [s.gene for s in spans.values()],
            "span_contig": [s.contig for s in spans.values()],
            "span_start": [max(1, s.start - padding) for s in spans.values()],
            "span_end": [s.end + padding for s in spans.values()],
        }
    )
    con = duckdb.connect(":memory:")
    try:
        con.register("sites", sites)
        con.register("genes", genes)
        result: pa.Table = con.sql(
            "SELECT s.*, g.span_gene FROM sites s JOIN genes g "
            "ON s.variant_contig = g.span_contig "
            "AND s.variant_pos BETWEEN g.span_start AND g.span_end "
            "ORDER BY s.variant_contig, s.variant_pos, s.variant_id, g.span_gene"
        ).to_arrow_table()
    finally:
        con.close()
    return result


def split_id(variant_id: str) -> tuple[str, int, str, str]:
    """``CONTIG-POS-REF-ALT`` -> its parts (the contig may itself contain ``-``)."""
    contig, pos, ref, alt = variant_id.rsplit("-", 3)
    return contig, int(pos), ref, alt


def write_sites_vcf(variant_ids: Sequence[str], reference_fasta: Path, path: Path) -> Path:
    """A sites-only VCF of the variants (contigs from the FASTA index), sorted."""
    if not Path(f"{reference_fasta}.fai").exists():
        pysam.faidx(str(reference_fasta))
    contigs: list[tuple[str, int]] = []
    for line in Path(f"{reference_fasta}.fai").read_text(encoding="utf-8").splitlines():
        name, length = line.split("\t")[:2]
        contigs.append((name, int(length)))
    order = {name: i for i, (name, _) in enumerate(contigs)}
    parts = sorted(
        {split_id(v) for v in variant_ids},
        key=lambda p: (order.get(p[0], 1 << 30), p[1], p[2], p[3]),
    )
    lines = ["##fileformat=VCFv4.2"]
    lines += [f"##contig=<ID={n},length={n_len}>" for n, n_len in contigs]
    lines.append("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO")
    lines += [f"{c}\t{p}\t.\t{r}\t{a}\t.\t.\t." for c, p, r, a in parts]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def consequences(
    variant_ids: Sequence[str], reference_fasta: Path, gff3: Path, workdir: Path
) -> dict[tuple[str, str], dict[str, Any]]:
    """The most severe consequence of each variant per gene: (variant_id, gene) -> row.

    Rows are those of :data:`~helgenom.adapters.annotation.consequence.CONSEQUENCE_SCHEMA`
    (``bcftools csq``); a variant outside every transcript has the gene ``None``.
    """
    if not variant_ids:
        return {}
    workdir.mkdir(parents=True, exist_ok=True)
    vcf = write_sites_vcf(variant_ids, reference_fasta, workdir / "sites.vcf")
    table = consequence.annotate(vcf, reference_fasta, gff3, workdir / "csq")
    best: dict[tuple[str, str], dict[str, Any]] = {}
    for row in table.to_pylist():
        key = (row["variant_id"], row["gene"] or "")
        held = best.get(key)
        rank = _IMPACT_RANK.get(row["impact"], 9)
        if (
            held is None
            or rank < _IMPACT_RANK.get(held["impact"], 9)
            or (
                rank == _IMPACT_RANK.get(held["impact"], 9)
                and (row["transcript"] or "") < (held["transcript"] or "")
            )
        ):
            best[key] = row
    return best


def protein_position(amino_acid_change: str | None) -> int | None:
    """The residue of a single amino-acid change (``123R>123C``), else None."""
    if not amino_acid_change:
        return None
    match = _AA.match(amino_acid_change)
    return int(match.group(1)) if match else None


def clinvar_hits(
    root: Path, version: int, variant_ids: Sequence[str]
) -> dict[str, list[dict[str, Any]]]:
    """ClinVar rows of the same alleles, by variant id."""
    if not variant_ids:
        return {}
    out: dict[str, list[dict[str, Any]]] = {}
    for row in sources.clinvar_matches(root, version, list(variant_ids)).to_pylist():
        out.setdefault(row["variant_id"], []).append(row)
    return out


def clinvar_residue(
    root: Path, version: int, gene: str, position: int, transcript: str | None
) -> list[dict[str, Any]]:
    """Pathogenic ClinVar variants changing the same residue (none without a protein table)."""
    try:
        table = sources.clinvar_at_residue(root, version, gene, position, transcript)
    except NotFoundError:
        return []
    return list(table.to_pylist())


def population_afs(
    root: Path, name: str, version: int, variant_ids: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """AF/AC/AN/nhomalt of the variants in one population source, by variant id."""
    if not variant_ids:
        return {}
    table = sources.population_frequencies(root, name, version, list(variant_ids))
    return {r["variant_id"]: r for r in table.to_pylist()}


def unexplained_fraction(sites: pa.Table, relatives: int) -> tuple[int, int]:
    """(proband sites not explained by the parents, sites with both parents called).

    A site is unexplained when both parents are proven hom-ref (de novo looking) or the
    proband is homozygous while a parent is proven hom-ref: what a wrong parent gives
    in large numbers, and a handful of true de novo variants and errors otherwise.
    """
    if relatives < 2 or sites.num_rows == 0:
        return 0, 0
    m, f = sites.column("r0_state"), sites.column("r1_state")
    called = pc.and_(pc.not_equal(m, "no_call"), pc.not_equal(f, "no_call"))
    both_ref = pc.and_(pc.equal(m, "hom_ref"), pc.equal(f, "hom_ref"))
    hom = pc.greater_equal(
        pc.cast(sites.column("call_alt_count"), pa.int16()),
        pc.cast(sites.column("call_ploidy"), pa.int16()),
    )
    diploid = pc.equal(pc.cast(sites.column("call_ploidy"), pa.int16()), 2)
    hom_vs_ref = pc.and_(
        pc.and_(hom, diploid), pc.or_(pc.equal(m, "hom_ref"), pc.equal(f, "hom_ref"))
    )
    bad = pc.and_(called, pc.or_(both_ref, hom_vs_ref))
    return int(pc.sum(pc.cast(bad, pa.int64())).as_py() or 0), int(
        pc.sum(pc.cast(called, pa.int64())).as_py() or 0
    )


__all__ = [
    "SPAN_PADDING",
    "clinvar_hits",
    "clinvar_residue",
    "consequences",
    "population_afs",
    "protein_position",
    "restrict_to_genes",
    "split_id",
    "unexplained_fraction",
    "write_sites_vcf",
]
