"""Columns of the national genome database (format version 1).

Three tables hold what every ingested sample contributed; the catalog (not these
tables) knows who a sample belongs to, its sex, region and consent, so personal data
stays behind the services layer and consent is applied when a query runs.

``variants``
    One row per normalised site (biallelic, left-aligned, trimmed; REF checked
    against the reference FASTA). ``variant_id`` is ``CONTIG-POS-REF-ALT`` with a
    1-based position, the form users type (``chr22-16570123-A-G``).
``calls``
    One row per sample and non-reference genotype at a site: ``call_alt_count``
    copies of the ALT allele out of ``call_ploidy``. A genotype that carries another
    ALT of the original multi-allelic record counts as covered but not as a carrier
    of this one (``call_alt_count`` 0; ``call_other_count`` the other alleles).
``ref_blocks``
    One row per sample and interval called homozygous reference: gVCF reference
    blocks (``END``) and ``0/0`` records of a plain VCF, 1-based and inclusive, with
    their minimum GQ and DP (null when the file gives none).

Every row carries the ``ingest_id`` of the ingest that wrote it, so an ingest's
rows can be found (and an ingest interrupted before its catalog commit removed).
"""

from __future__ import annotations

import pyarrow as pa

FORMAT_VERSION = 1
"""Version of the table layout; stored in each table's metadata."""

VARIANTS = pa.schema(
    [
        pa.field("variant_id", pa.string(), nullable=False),
        pa.field("variant_contig", pa.string(), nullable=False),
        pa.field("variant_pos", pa.int64(), nullable=False),
        pa.field("variant_end", pa.int64(), nullable=False),
        pa.field("variant_ref", pa.string(), nullable=False),
        pa.field("variant_alt", pa.string(), nullable=False),
        pa.field("variant_type", pa.string(), nullable=False),
        pa.field("ingest_id", pa.string(), nullable=False),
    ]
)
"""``variant_end`` = pos + len(ref) - 1; ``variant_type`` is ``snv``, ``mnv``, ``ins``,
``del`` or ``complex``; ``ingest_id`` is the ingest that first saw the site."""

CALLS = pa.schema(
    [
        pa.field("sample_id", pa.string(), nullable=False),
        pa.field("variant_id", pa.string(), nullable=False),
        pa.field("call_contig", pa.string(), nullable=False),
        pa.field("call_pos", pa.int64(), nullable=False),
        pa.field("call_gt", pa.string(), nullable=False),
        pa.field("call_ploidy", pa.int8(), nullable=False),
        pa.field("call_alt_count", pa.int8(), nullable=False),
        pa.field("call_other_count", pa.int8(), nullable=False),
        pa.field("call_phased", pa.bool_(), nullable=False),
        pa.field("call_gq", pa.int32(), nullable=True),
        pa.field("call_dp", pa.int32(), nullable=True),
        pa.field("call_ad_ref", pa.int32(), nullable=True),
        pa.field("call_ad_alt", pa.int32(), nullable=True),
        pa.field("ingest_id", pa.string(), nullable=False),
    ]
)
"""``call_gt`` as written after normalisation (``0/1``, ``1|1``, ``1``);
``call_alt_count`` copies of this ALT; ``call_other_count`` copies of other ALTs of the
split record; missing alleles (``./1``) are not counted in ploidy."""

REF_BLOCKS = pa.schema(
    [
        pa.field("sample_id", pa.string(), nullable=False),
        pa.field("block_contig", pa.string(), nullable=False),
        pa.field("block_start", pa.int64(), nullable=False),
        pa.field("block_end", pa.int64(), nullable=False),
        pa.field("block_ploidy", pa.int8(), nullable=False),
        pa.field("block_min_gq", pa.int32(), nullable=True),
        pa.field("block_min_dp", pa.int32(), nullable=True),
        pa.field("ingest_id", pa.string(), nullable=False),
    ]
)
"""Inclusive 1-based interval ``[block_start, block_end]``."""

SAMPLES = pa.schema(
    [
        pa.field("sample_id", pa.string(), nullable=False),
        pa.field("sample_sex", pa.string(), nullable=False),
        pa.field("sample_region", pa.string(), nullable=False),
    ]
)
"""The samples a query may count, handed to an engine per query by the services
(after consent): ``sample_sex`` is ``male``, ``female`` or ``unknown``;
``sample_region`` a region code (``unknown`` when not known)."""

TABLES: dict[str, pa.Schema] = {"variants": VARIANTS, "calls": CALLS, "ref_blocks": REF_BLOCKS}
"""The stored tables by name."""

MIN_GQ = 20
"""A call or reference block covers a site for AN only with GQ at least this (a null
GQ, from a file that gives none, counts as covered)."""

__all__ = [
    "CALLS",
    "FORMAT_VERSION",
    "MIN_GQ",
    "REF_BLOCKS",
    "SAMPLES",
    "TABLES",
    "VARIANTS",
]
