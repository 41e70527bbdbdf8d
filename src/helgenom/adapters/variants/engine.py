"""The query interface of the genome database, shared by every engine, and incremental counts.

:class:`VariantEngine` answers the questions the services layer asks of the tables of
:class:`~helgenom.adapters.variants.tables.VariantTables`, always at a given
:class:`~helgenom.adapters.variants.tables.Snapshot`. Its public methods check their
arguments and shape the answers (sorting, types, the frequency roll-up) in one place;
each engine (:mod:`~.duckdb_engine`, :mod:`~.spark_engine`) implements only a few
hooks that read rows, with the same SQL text (:func:`cells_sql`), so both engines
give identical answers. Nothing here checks access or consent: the services layer
passes the samples a query may count.

Frequency rules (per variant ``v`` at ``contig:pos`` and sample ``s`` in ``samples``)
-----------------------------------------------------------------------------------
* Evidence: a call row of ``s`` at ``contig:pos`` (for ``v`` or for another ALT of
  the same position) with GQ >= :data:`~.schema.MIN_GQ`, or a reference block of
  ``s`` covering ``pos`` with minimum GQ >= ``MIN_GQ``. A null GQ counts; a call with a
  low GQ is ignored (neither coverage nor carrier). ``s`` is covered when it has
  evidence.
* Ploidy: 2 on autosomes (``1``..``22``, with or without ``chr``) and in the X PARs
  (GRCh38 PAR1 ``10,001-2,781,479``, PAR2 ``155,701,383-156,030,895``); 1 on chrM;
  X outside the PARs: 1 for males, 2 for females; Y outside the PARs: 1 for males, 0
  for females (not counted); Y PARs: 0 for females. Otherwise (unknown sex on X/Y,
  males in the Y PARs, other contigs) the largest ploidy the evidence records.
* Per covered sample with ploidy > 0: ``an += ploidy``; ``ac += min(alt copies of v,
  ploidy)``; ``hom += 1`` when alt copies == ploidy == 2; ``hemi += 1`` when ploidy
  is 1 on X or Y and the sample carries ``v``; ``n_samples += 1``.
* ``af = ac / an``, None when ``an`` is 0.

Incremental counts
------------------
:class:`FrequencyCounts` keeps the per-(variant, sex, region) sums in a Delta table
``counts`` next to the variant tables, so that adding samples costs a read of the new
samples' rows plus an interval look-up of the old samples' rows at the new sites, and
a query subtracts the contributions of excluded (opted-out) samples on the fly.
"""

from __future__ import annotations

import abc
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, TypeAlias

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from deltalake import CommitProperties, DeltaTable, write_deltalake
from deltalake.exceptions import CommitFailedError, DeltaError

from helgenom.adapters.variants.schema import MIN_GQ, SAMPLES, TABLES, VARIANTS
from helgenom.adapters.variants.tables import (
    ID_PATTERN,
    TABLE_NAMES,
    Snapshot,
    VariantTables,
    check_contig,
    check_ids,
    check_layout,
    conform,
    create_table,
    open_table,
)
from helgenom.core.errors import (
    ConflictError,
    FormatError,
    IntegrityError,
    InvalidInputError,
    NotFoundError,
    StorageUnavailableError,
)

GROUPINGS: Final = ("overall", "sex", "region")
"""The groupings :meth:`VariantEngine.frequencies` can report, in output order."""

SEXES: Final = ("male", "female", "unknown")
"""The values of ``sample_sex``."""

OVERALL: Final = "all"
"""``group_value`` of the ``overall`` grouping."""

GENOTYPE_STATES: Final = ("hom_ref", "het", "hom_alt", "hemi", "other_alt", "no_call")
"""What :meth:`VariantEngine.genotypes` reports per site."""

PAR_X: Final = ((10_001, 2_781_479), (155_701_383, 156_030_895))
"""GRCh38 pseudo-autosomal regions of chrX (1-based, inclusive)."""

PAR_Y: Final = ((10_001, 2_781_479), (56_887_903, 57_217_415))
"""GRCh38 pseudo-autosomal regions of chrY (1-based, inclusive)."""

DEFAULT_BIN_SIZE: Final = 10_000
"""Bases per bin when reference blocks are joined to sites (see :func:`cells_sql`)."""

MAX_LISTED_IDS: Final = 256
"""Above this many ids a look-up joins a table of ids instead of listing bound parameters."""

SITES = pa.schema(
    [
        pa.field("variant_id", pa.string(), nullable=False),
        pa.field("variant_contig", pa.string(), nullable=False),
        pa.field("variant_pos", pa.int64(), nullable=False),
    ]
)
"""The sites a frequency computation runs over."""

CELLS = pa.schema(
    [
        pa.field("variant_id", pa.string(), nullable=False),
        pa.field("sample_sex", pa.string(), nullable=False),
        pa.field("sample_region", pa.string(), nullable=False),
        pa.field("ac", pa.int64(), nullable=False),
        pa.field("an", pa.int64(), nullable=False),
        pa.field("hom", pa.int64(), nullable=False),
        pa.field("hemi", pa.int64(), nullable=False),
        pa.field("n_samples", pa.int64(), nullable=False),
    ]
)
"""Sums per variant, sex and region (only cells with a covered sample); also the
schema of the ``counts`` table."""

FREQUENCIES = pa.schema(
    [
        pa.field("variant_id", pa.string(), nullable=False),
        pa.field("group", pa.string(), nullable=False),
        pa.field("group_value", pa.string(), nullable=False),
        pa.field("ac", pa.int64(), nullable=False),
        pa.field("an", pa.int64(), nullable=False),
        pa.field("af", pa.float64(), nullable=True),
        pa.field("hom", pa.int64(), nullable=False),
        pa.field("hemi", pa.int64(), nullable=False),
        pa.field("n_samples", pa.int64(), nullable=False),
    ]
)
"""One row per variant and group: ``group`` is ``overall`` (``group_value`` ``all``),
``sex`` or ``region``; ``n_samples`` the covered samples counted in ``an``. Every
sex and region present in the samples appears for every variant."""

STORED_SCHEMAS: Final[dict[str, pa.Schema]] = {**TABLES, "counts": CELLS}
"""The schemas of the tables engines read, by table name."""

COUNTED_SAMPLES = pa.schema([pa.field("sample_id", pa.string(), nullable=False)])
"""The samples whose contributions the ``counts`` table holds (ids only)."""

COUNTS_FORMAT_VERSION: Final = 1
"""Version of :meth:`CountsState.asdict` (stored in each ``counts`` commit)."""

_VARIANT_ID = re.compile(
    r"^([A-Za-z0-9][A-Za-z0-9._]{0,63})-([1-9][0-9]{0,10})-([A-Za-z]+)-([A-Za-z*]+)$"
)
_STATE_KEY = "helgenom_counts"
_SUM_COLUMNS = ("ac", "an", "hom", "hemi", "n_samples")


@dataclass(frozen=True, slots=True)
class Region:
    """A genomic interval, 1-based and inclusive."""

    contig: str
    """Contig name, with or without ``chr`` (``X`` matches ``chrX`` and ``X``)."""
    start: int
    """First position (>= 1)."""
    end: int
    """Last position (>= start)."""

    def __post_init__(self) -> None:
        check_contig(self.contig)
        if not isinstance(self.start, int) or not isinstance(self.end, int):
            raise InvalidInputError("region start and end must be integers")
        if self.start < 1 or self.end < self.start:
            raise InvalidInputError(
                f"region {self.contig}:{self.start}-{self.end} is not valid: need 1 <= start <= end"
            )

    def contig_names(self) -> tuple[str, ...]:
        """The names the contig may be stored under (``X`` and ``chrX``)."""
        bare = self.contig[3:] if self.contig.lower().startswith("chr") else self.contig
        return (bare, f"chr{bare}") if bare else (self.contig,)


@dataclass(frozen=True, slots=True)
class Carrier:
    """One sample carrying an ALT allele (see :meth:`VariantEngine.carriers`)."""

    sample_id: str
    """The sample."""
    call_gt: str
    """Its genotype as stored (``0/1``, ``1|1``, ``1``)."""
    call_gq: int | None
    """Genotype quality (None when the file gave none)."""
    call_dp: int | None
    """Read depth (None when the file gave none)."""


@dataclass(frozen=True, slots=True)
class Genotype:
    """What one sample's data says at one site (see :meth:`VariantEngine.genotypes`)."""

    variant_id: str
    """The site asked for."""
    state: str
    """One of :data:`GENOTYPE_STATES`."""
    call_gt: str | None
    """The stored genotype of the call that decided the state (None for a ref block or none)."""
    gq: int | None
    """GQ of that call, or minimum GQ of the reference block."""
    dp: int | None
    """DP of that call, or minimum DP of the reference block."""


@dataclass(frozen=True, slots=True)
class VariantKey:
    """A variant id split into its parts (``CONTIG-POS-REF-ALT``)."""

    variant_id: str
    """The id as given."""
    contig: str
    """Its contig."""
    pos: int
    """Its 1-based position."""

    @classmethod
    def parse(cls, variant_id: str) -> VariantKey:
        """Split ``variant_id``.

        Raises
        ------
        InvalidInputError
            The id is not ``CONTIG-POS-REF-ALT`` (``chr22-16570123-A-G``).
        """
        match = _VARIANT_ID.match(variant_id) if isinstance(variant_id, str) else None
        if match is None:
            raise InvalidInputError(
                f"variant id {variant_id!r} is not valid: use CONTIG-POS-REF-ALT "
                "such as chr22-16570123-A-G"
            )
        return cls(variant_id, match.group(1), int(match.group(2)))


@dataclass(frozen=True, slots=True)
class Bounds:
    """Per contig, the smallest and largest position of a set of sites (evidence filter)."""

    spans: tuple[tuple[str, int, int], ...]
    """(contig, first position, last position), sorted by contig."""

    @classmethod
    def of(cls, sites: pa.Table, limit: int = 32) -> Bounds | None:
        """The bounds of ``sites`` (SITES schema); None when empty or over ``limit`` contigs."""
        if not len(sites):
            return None
        grouped = sites.group_by("variant_contig", use_threads=False).aggregate(
            [("variant_pos", "min"), ("variant_pos", "max")]
        )
        if grouped.num_rows > limit:
            return None
        spans = sorted(
            zip(
                grouped.column("variant_contig").to_pylist(),
                grouped.column("variant_pos_min").to_pylist(),
                grouped.column("variant_pos_max").to_pylist(),
                strict=True,
            )
        )
        return cls(tuple((str(c), int(lo), int(hi)) for c, lo, hi in spans))

    def sql(self, kind: str) -> tuple[str, dict[str, Any]]:
        """An ``AND (...)`` filter on calls (``kind`` ``c``) or blocks (``b``), with parameters.

        The SQL holds placeholders only; contigs and positions are bound parameters.
        """
        terms: list[str] = []
        params: dict[str, Any] = {}
        for i, (contig, lo, hi) in enumerate(self.spans):
            params[f"bc{i}"] = contig
            params[f"blo{i}"] = lo
            params[f"bhi{i}"] = hi
            if kind == "c":
                terms.append(f"(call_contig = $bc{i} AND call_pos BETWEEN $blo{i} AND $bhi{i})")
            else:
                terms.append(
                    f"(block_contig = $bc{i} AND block_start <= $bhi{i} AND block_end >= $blo{i})"
                )
        return " AND (" + " OR ".join(terms) + ")", params


def _contig_in(column: str, names: Sequence[str]) -> str:
    quoted = ", ".join(f"'{n}'" for n in names)  # constants of this module only
    return f"{column} IN ({quoted})"


def _in_ranges(column: str, ranges: Sequence[tuple[int, int]]) -> str:
    return " OR ".join(f"({column} BETWEEN {lo} AND {hi})" for lo, hi in ranges)


def contig_class_sql(contig: str = "variant_contig", pos: str = "variant_pos") -> str:
    """SQL (DuckDB and Spark) classifying a site: ``auto``, ``x``, ``x_par``, ``y``, ``y_par``,
    ``m`` or ``other``. Built from this module's constants only."""
    autosomes = [str(i) for i in range(1, 23)]
    autosomes += [f"chr{a}" for a in autosomes]
    return (
        f"CASE WHEN {_contig_in(contig, autosomes)} THEN 'auto' "
        f"WHEN {_contig_in(contig, ('X', 'chrX'))} THEN "
        f"CASE WHEN {_in_ranges(pos, PAR_X)} THEN 'x_par' ELSE 'x' END "
        f"WHEN {_contig_in(contig, ('Y', 'chrY'))} THEN "
        f"CASE WHEN {_in_ranges(pos, PAR_Y)} THEN 'y_par' ELSE 'y' END "
        f"WHEN {_contig_in(contig, ('M', 'MT', 'chrM', 'chrMT'))} THEN 'm' "
        "ELSE 'other' END"
    )


_PLOIDY_SQL = (
    "CASE cls WHEN 'auto' THEN 2 WHEN 'x_par' THEN 2 WHEN 'm' THEN 1 "
    "WHEN 'x' THEN CASE sample_sex WHEN 'male' THEN 1 WHEN 'female' THEN 2 ELSE rec END "
    "WHEN 'y' THEN CASE sample_sex WHEN 'male' THEN 1 WHEN 'female' THEN 0 ELSE rec END "
    "WHEN 'y_par' THEN CASE sample_sex WHEN 'female' THEN 0 ELSE rec END "
    "ELSE rec END"
)


def cells_sql(call_filter: str = "", block_filter: str = "") -> str:
    """The per-(variant, sex, region) sums of the module rules, as one SQL text.

    Relations are ``{v}`` (sites: variant_id, variant_contig, variant_pos), ``{c}``
    (calls), ``{b}`` (ref blocks) and ``{s}`` (samples); ``{series}`` is the engine's
    set-returning expression for the bins a block spans (:attr:`VariantEngine.series_sql`).
    Parameters: ``$min_gq``, ``$bin`` (bin size) and those of the filters; engines
    turn ``$name`` into their own parameter markers.

    Blocks are matched to sites by an equi-join on (contig, bin of ``bin`` bases) plus
    the interval test, not by a range join per contig: each block is repeated once per
    bin it spans, each site falls in one bin, so every (site, block) pair meets once.
    """
    return f"""
WITH
s AS (SELECT sample_id, sample_sex, sample_region FROM {{s}}),
v AS (
  SELECT variant_id, variant_contig, variant_pos, {contig_class_sql()} AS cls,
         CAST(FLOOR(variant_pos / $bin) AS BIGINT) AS bin
  FROM {{v}}
),
c AS (
  SELECT c.sample_id, c.variant_id, c.call_contig, c.call_pos, c.call_ploidy, c.call_alt_count
  FROM {{c}} c
  WHERE (c.call_gq IS NULL OR c.call_gq >= $min_gq){call_filter}
),
b AS (
  SELECT b.sample_id, b.block_contig, b.block_start, b.block_end, b.block_ploidy,
         {{series}} AS bin
  FROM {{b}} b
  WHERE (b.block_min_gq IS NULL OR b.block_min_gq >= $min_gq){block_filter}
),
ev AS (
  SELECT v.variant_id, v.cls, c.sample_id, CAST(c.call_ploidy AS INT) AS rec,
         CASE WHEN c.variant_id = v.variant_id THEN CAST(c.call_alt_count AS INT) ELSE 0 END
           AS alt
  FROM v JOIN c ON c.call_contig = v.variant_contig AND c.call_pos = v.variant_pos
  UNION ALL
  SELECT v.variant_id, v.cls, b.sample_id, CAST(b.block_ploidy AS INT) AS rec, 0 AS alt
  FROM v JOIN b ON b.block_contig = v.variant_contig AND b.bin = v.bin
   AND b.block_start <= v.variant_pos AND b.block_end >= v.variant_pos
),
per AS (
  SELECT ev.variant_id, ev.cls, s.sample_sex, s.sample_region,
         MAX(ev.rec) AS rec, MAX(ev.alt) AS alt
  FROM ev JOIN s ON ev.sample_id = s.sample_id
  GROUP BY ev.variant_id, ev.cls, ev.sample_id, s.sample_sex, s.sample_region
),
pl AS (
  SELECT variant_id, cls, sample_sex, sample_region, alt, {_PLOIDY_SQL} AS ploidy FROM per
),
g AS (
  SELECT variant_id, cls, sample_sex, sample_region, LEAST(alt, ploidy) AS ac, ploidy
  FROM pl WHERE ploidy > 0
)
SELECT variant_id, sample_sex, sample_region,
       CAST(SUM(ac) AS BIGINT) AS ac,
       CAST(SUM(ploidy) AS BIGINT) AS an,
       CAST(SUM(CASE WHEN ac = 2 AND ploidy = 2 THEN 1 ELSE 0 END) AS BIGINT) AS hom,
       CAST(SUM(CASE WHEN ac >= 1 AND ploidy = 1 AND cls IN ('x', 'y', 'y_par') THEN 1 ELSE 0 END)
            AS BIGINT) AS hemi,
       CAST(COUNT(*) AS BIGINT) AS n_samples
FROM g
GROUP BY variant_id, sample_sex, sample_region
"""  # noqa: S608 - built from this module's constants; values are bound parameters


def check_samples(samples: pa.Table) -> pa.Table:
    """``samples`` in the :data:`~.schema.SAMPLES` schema, checked.

    Raises
    ------
    InvalidInputError
        A column is missing, a sample id is malformed or repeated, or a sex is not
        ``male``, ``female`` or ``unknown``.
    """
    if not isinstance(samples, pa.Table):
        raise InvalidInputError("samples must be a pyarrow Table with the SAMPLES schema")
    samples = conform(samples, SAMPLES, "samples")
    ids = samples.column("sample_id")
    if len(ids):
        bad = pc.invert(pc.match_substring_regex(ids, ID_PATTERN.pattern))
        if pc.any(bad).as_py():
            check_ids(pc.filter(ids, bad).to_pylist()[:1], "sample id")
        if pc.count_distinct(ids).as_py() != len(ids):
            raise InvalidInputError("samples lists a sample_id more than once")
        sexes = set(pc.unique(samples.column("sample_sex")).to_pylist())
        if not sexes <= set(SEXES):
            raise InvalidInputError(
                f"sample_sex {sorted(sexes - set(SEXES))[0]!r} is not valid: use male, female "
                "or unknown"
            )
    return samples


def group_sizes(samples: pa.Table) -> dict[tuple[str, str], int]:
    """The number of samples per (sex, region)."""
    grouped = samples.group_by(["sample_sex", "sample_region"], use_threads=False).aggregate(
        [("sample_id", "count")]
    )
    return {
        (str(sex), str(region)): int(n)
        for sex, region, n in zip(
            grouped.column("sample_sex").to_pylist(),
            grouped.column("sample_region").to_pylist(),
            grouped.column("sample_id_count").to_pylist(),
            strict=True,
        )
    }


def sum_cells(*parts: pa.Table, signs: Sequence[int] | None = None) -> pa.Table:
    """Add (or, with sign -1, subtract) tables of :data:`CELLS`; sorted by key."""
    tables = []
    for i, part in enumerate(parts):
        part = conform(part, CELLS, "cells")
        if signs is not None and signs[i] < 0:
            for name in _SUM_COLUMNS:
                idx = part.schema.get_field_index(name)
                part = part.set_column(idx, CELLS.field(name), pc.negate(part.column(name)))
        tables.append(part)
    if not tables:
        return CELLS.empty_table()
    merged = pa.concat_tables(tables)
    keys = ["variant_id", "sample_sex", "sample_region"]
    summed = merged.group_by(keys, use_threads=False).aggregate([(n, "sum") for n in _SUM_COLUMNS])
    summed = summed.rename_columns(
        [f"{n}_sum" if n in _SUM_COLUMNS else n for n in summed.column_names]
    )
    out = pa.table({n: summed.column(n if n in keys else f"{n}_sum") for n in CELLS.names})
    return conform(out, CELLS, "cells").sort_by([(k, "ascending") for k in keys])


def rollup(
    variant_ids: Sequence[str] | pa.Array,
    cells: pa.Table,
    groups: Mapping[tuple[str, str], int],
    by: Sequence[str],
) -> pa.Table:
    """The :data:`FREQUENCIES` table of ``cells`` for every variant and group.

    Parameters
    ----------
    variant_ids
        The variants to report (each once).
    cells
        Sums per variant, sex and region (:data:`CELLS`).
    groups
        Samples per (sex, region); groups with a positive number are reported.
    by
        Groupings, a subset of :data:`GROUPINGS`.
    """
    ids = pa.array(sorted(set(pa.array(variant_ids, pa.string()).to_pylist())), pa.string())
    present = {key: n for key, n in groups.items() if n > 0}
    parts: list[pa.Table] = []
    for rank, grouping in enumerate(GROUPINGS):
        if grouping not in by:
            continue
        if grouping == "overall":
            values = [OVERALL]
            key = pa.array([OVERALL] * len(cells), pa.string())
        elif grouping == "sex":
            values = sorted({sex for sex, _ in present})
            key = cells.column("sample_sex")
        else:
            values = sorted({region for _, region in present})
            key = cells.column("sample_region")
        if not values:
            continue
        keyed = pa.table(
            {"variant_id": cells.column("variant_id"), "group_value": key}
        ).append_column("ac", cells.column("ac"))
        for name in _SUM_COLUMNS[1:]:
            keyed = keyed.append_column(name, cells.column(name))
        agg = keyed.group_by(["variant_id", "group_value"], use_threads=False).aggregate(
            [(n, "sum") for n in _SUM_COLUMNS]
        )
        grid = pa.table(
            {
                "variant_id": _repeat_each(ids, len(values)),
                "group_value": pa.array(values * len(ids), pa.string()),
                "_rank": pa.array([rank] * (len(ids) * len(values)), pa.int8()),
            }
        )
        joined = grid.join(agg, ["variant_id", "group_value"], join_type="left outer")
        cols: dict[str, Any] = {
            "variant_id": joined.column("variant_id"),
            "group": pa.array([grouping] * joined.num_rows, pa.string()),
            "group_value": joined.column("group_value"),
            "_rank": joined.column("_rank"),
        }
        for name in _SUM_COLUMNS:
            cols[name] = pc.fill_null(joined.column(f"{name}_sum"), 0).cast(pa.int64())
        parts.append(pa.table(cols))
    if not parts:
        return FREQUENCIES.empty_table()
    table = pa.concat_tables(parts).sort_by(
        [("variant_id", "ascending"), ("_rank", "ascending"), ("group_value", "ascending")]
    )
    an = table.column("an")
    af = pc.if_else(
        pc.greater(an, 0),
        pc.divide(
            table.column("ac").cast(pa.float64()), pc.max_element_wise(an, 1).cast(pa.float64())
        ),
        pa.scalar(None, pa.float64()),
    )
    out = {
        "variant_id": table.column("variant_id"),
        "group": table.column("group"),
        "group_value": table.column("group_value"),
        "ac": table.column("ac"),
        "an": an,
        "af": af,
        "hom": table.column("hom"),
        "hemi": table.column("hemi"),
        "n_samples": table.column("n_samples"),
    }
    return pa.Table.from_pydict(out, schema=FREQUENCIES)


def _repeat_each(values: pa.Array, times: int) -> pa.Array:
    return values.take(pa.array(np.repeat(np.arange(len(values), dtype=np.int64), times)))


def _check_by(by: Sequence[str]) -> tuple[str, ...]:
    chosen = tuple(by)
    if not chosen or not set(chosen) <= set(GROUPINGS):
        raise InvalidInputError(f"by must be a non-empty subset of {', '.join(GROUPINGS)}")
    return chosen


def _sort_variants(rows: pa.Table) -> pa.Table:
    rows = conform(rows, VARIANTS, "variants")
    return rows.sort_by(
        [("variant_contig", "ascending"), ("variant_pos", "ascending"), ("variant_id", "ascending")]
    )


def _site_table(rows: pa.Table) -> pa.Table:
    return pa.table(
        {
            "variant_id": rows.column("variant_id"),
            "variant_contig": rows.column("variant_contig"),
            "variant_pos": rows.column("variant_pos"),
        },
        schema=SITES,
    )


def _gq_ok(gq: Any) -> bool:
    return gq is None or int(gq) >= MIN_GQ


def decide_genotype(
    key: VariantKey, calls: list[dict[str, Any]], blocks: list[dict[str, Any]]
) -> Genotype:
    """The state of one site from the sample's call rows at its position and blocks covering it."""
    own = [c for c in calls if c["variant_id"] == key.variant_id]
    own_ok = [c for c in own if _gq_ok(c["call_gq"])]
    if own_ok:
        call = max(own_ok, key=lambda c: (c["call_alt_count"], c["call_other_count"], c["call_gt"]))
        alt, other, ploidy = call["call_alt_count"], call["call_other_count"], call["call_ploidy"]
        if alt == 0:
            state = "other_alt" if other > 0 else "hom_ref"
        elif ploidy == 1:
            state = "hemi"
        elif alt >= ploidy:
            state = "hom_alt"
        else:
            state = "het"
        return Genotype(key.variant_id, state, call["call_gt"], call["call_gq"], call["call_dp"])
    others = sorted(
        (c for c in calls if c["variant_id"] != key.variant_id and _gq_ok(c["call_gq"])),
        key=lambda c: c["variant_id"],
    )
    if others:
        call = others[0]
        return Genotype(
            key.variant_id, "other_alt", call["call_gt"], call["call_gq"], call["call_dp"]
        )
    good = sorted(
        (b for b in blocks if _gq_ok(b["block_min_gq"])),
        key=lambda b: (b["block_start"], b["block_end"]),
    )
    if good:
        block = good[0]
        return Genotype(
            key.variant_id, "hom_ref", None, block["block_min_gq"], block["block_min_dp"]
        )
    if own:
        call = own[0]
        return Genotype(
            key.variant_id, "no_call", call["call_gt"], call["call_gq"], call["call_dp"]
        )
    if blocks:
        block = sorted(blocks, key=lambda b: (b["block_start"], b["block_end"]))[0]
        return Genotype(
            key.variant_id, "no_call", None, block["block_min_gq"], block["block_min_dp"]
        )
    return Genotype(key.variant_id, "no_call", None, None, None)


@dataclass(frozen=True, slots=True)
class TableRef:
    """A stored table at a version, as a relation of an engine query."""

    table: str
    """``variants``, ``calls``, ``ref_blocks`` or ``counts`` (see :data:`STORED_SCHEMAS`)."""
    version: int
    """The Delta version read."""
    since: int | None = None
    """Read only the files added after this version (None: every file)."""


Source: TypeAlias = pa.Table | TableRef
"""What a relation of an engine query is."""

_VARIANT_COLUMNS = ", ".join(VARIANTS.names)


def _markers(prefix: str, count: int) -> str:
    return ", ".join(f"${prefix}{i}" for i in range(count))


FAMILY_BIN_SIZE: Final = 1_000
"""Bases per bin of the family query's block-to-site join: a whole genome's proband
variants meet a few dozen blocks per bin instead of hundreds."""

FAMILY_SITES = pa.schema(
    [
        pa.field("variant_id", pa.string()),
        pa.field("variant_contig", pa.string()),
        pa.field("variant_pos", pa.int64()),
        pa.field("call_gt", pa.string()),
        pa.field("call_ploidy", pa.int8()),
        pa.field("call_alt_count", pa.int8()),
        pa.field("call_phased", pa.bool_()),
        pa.field("call_gq", pa.int32()),
        pa.field("call_dp", pa.int32()),
        pa.field("call_ad_ref", pa.int32()),
        pa.field("call_ad_alt", pa.int32()),
    ]
)
"""The proband's columns of :meth:`VariantEngine.family_sites` (relatives' follow)."""


def _relative_sql(i: int) -> tuple[str, str, str]:
    """Select list, joins and nothing else for relative ``i`` of :func:`family_sites_sql`."""
    state = (
        f"CASE WHEN o{i}.alt IS NOT NULL THEN "
        f"CASE WHEN o{i}.alt = 0 THEN CASE WHEN o{i}.other > 0 THEN 'other_alt' ELSE 'hom_ref' END "
        f"WHEN o{i}.ploidy = 1 THEN 'hemi' WHEN o{i}.alt >= o{i}.ploidy THEN 'hom_alt' "
        f"ELSE 'het' END "
        f"WHEN x{i}.n IS NOT NULL THEN 'other_alt' "
        f"WHEN v{i}.variant_id IS NOT NULL THEN 'hom_ref' ELSE 'no_call' END"
    )
    select = (
        f", {state} AS r{i}_state, "
        f"COALESCE(o{i}.gq, x{i}.gq, v{i}.gq) AS r{i}_gq, "
        f"COALESCE(o{i}.dp, x{i}.dp, v{i}.dp) AS r{i}_dp"
    )
    joins = (
        f" LEFT JOIN own o{i} ON o{i}.variant_id = k.variant_id AND o{i}.sample_id = $rel{i}"
        f" LEFT JOIN oth x{i} ON x{i}.variant_id = k.variant_id AND x{i}.sample_id = $rel{i}"
        f" LEFT JOIN cov v{i} ON v{i}.variant_id = k.variant_id AND v{i}.sample_id = $rel{i}"
    )
    return select, joins, f"$rel{i}"


def family_sites_sql(relatives: int, region_join: str = "") -> str:
    """SQL (DuckDB and Spark) of :meth:`VariantEngine.family_sites` for ``relatives`` relatives.

    Relations ``{c}`` (calls), ``{b}`` (ref blocks) and optionally ``{r}`` (regions, joined
    by ``region_join``); ``{series}`` as in :func:`cells_sql`. Parameters ``$proband``,
    ``$rel0``..., ``$min_gq``, ``$bin``.
    """
    parts = [_relative_sql(i) for i in range(relatives)]
    select = "".join(p[0] for p in parts)
    joins = "".join(p[1] for p in parts)
    members = ", ".join(p[2] for p in parts) or "NULL"
    return f"""
WITH
k AS (
  SELECT c.variant_id, c.call_contig AS variant_contig, c.call_pos AS variant_pos, c.call_gt,
         c.call_ploidy, c.call_alt_count, c.call_phased, c.call_gq, c.call_dp, c.call_ad_ref,
         c.call_ad_alt, CAST(FLOOR(c.call_pos / $bin) AS BIGINT) AS bin
  FROM {{c}} c {region_join}
  WHERE c.sample_id = $proband AND c.call_alt_count > 0
),
pc AS (
  SELECT c.sample_id, c.variant_id, c.call_contig, c.call_pos, c.call_alt_count,
         c.call_other_count, c.call_ploidy, c.call_gq, c.call_dp
  FROM {{c}} c
  WHERE c.sample_id IN ({members}) AND (c.call_gq IS NULL OR c.call_gq >= $min_gq)
),
pb AS (
  SELECT b.sample_id, b.block_contig, b.block_start, b.block_end, b.block_min_gq,
         b.block_min_dp, {{series}} AS bin
  FROM {{b}} b
  WHERE b.sample_id IN ({members}) AND (b.block_min_gq IS NULL OR b.block_min_gq >= $min_gq)
),
own AS (
  SELECT k.variant_id, pc.sample_id, MAX(CAST(pc.call_alt_count AS INT)) AS alt,
         MAX(CAST(pc.call_other_count AS INT)) AS other,
         MAX(CAST(pc.call_ploidy AS INT)) AS ploidy, MAX(pc.call_gq) AS gq,
         MAX(pc.call_dp) AS dp
  FROM k JOIN pc ON pc.variant_id = k.variant_id
  GROUP BY k.variant_id, pc.sample_id
),
oth AS (
  SELECT k.variant_id, pc.sample_id, COUNT(*) AS n, MAX(pc.call_gq) AS gq, MAX(pc.call_dp) AS dp
  FROM k JOIN pc ON pc.call_contig = k.variant_contig AND pc.call_pos = k.variant_pos
   AND pc.variant_id <> k.variant_id
  GROUP BY k.variant_id, pc.sample_id
),
cov AS (
  SELECT k.variant_id, pb.sample_id, MIN(pb.block_min_gq) AS gq, MIN(pb.block_min_dp) AS dp
  FROM k JOIN pb ON pb.block_contig = k.variant_contig AND pb.bin = k.bin
   AND pb.block_start <= k.variant_pos AND pb.block_end >= k.variant_pos
  GROUP BY k.variant_id, pb.sample_id
)
SELECT k.variant_id, k.variant_contig, k.variant_pos, k.call_gt, k.call_ploidy,
       k.call_alt_count, k.call_phased, k.call_gq, k.call_dp, k.call_ad_ref,
       k.call_ad_alt{select}
FROM k{joins}
ORDER BY k.variant_contig, k.variant_pos, k.variant_id
"""  # noqa: S608 - built from this module's constants; values are bound parameters


class VariantEngine(abc.ABC):
    """Queries over :class:`~.tables.VariantTables` at a snapshot (see module doc).

    Every method raises :class:`~helgenom.core.errors.NotFoundError` when a version
    of the snapshot does not exist, and
    :class:`~helgenom.core.errors.StorageUnavailableError` when the store cannot be
    read.
    """

    name: str = "engine"
    """Short name of the engine (``duckdb``, ``spark``)."""

    series_sql: str = (
        "UNNEST(generate_series(CAST(FLOOR(b.block_start / $bin) AS BIGINT), "
        "CAST(FLOOR(b.block_end / $bin) AS BIGINT)))"
    )
    """The engine's SQL for the bins a reference block spans (one row per bin)."""

    def __init__(self, tables: VariantTables, *, bin_size: int = DEFAULT_BIN_SIZE) -> None:
        if not isinstance(bin_size, int) or bin_size < 1:
            raise InvalidInputError(f"bin_size must be a positive integer, not {bin_size!r}")
        self.tables = tables
        """The tables read."""
        self.bin_size = bin_size
        """Bases per bin of the block-to-site join (speed only; answers do not depend on it)."""

    # -- public queries ------------------------------------------------------------

    def lookup(self, snapshot: Snapshot, variant_ids: Sequence[str]) -> pa.Table:
        """The :data:`~.schema.VARIANTS` rows of the ids that exist, by contig and position.

        Raises
        ------
        InvalidInputError
            An id is not ``CONTIG-POS-REF-ALT``.
        """
        if isinstance(variant_ids, str):
            raise InvalidInputError("variant_ids must be a list of ids, not one string")
        keys = list({k.variant_id: k for k in map(VariantKey.parse, variant_ids)}.values())
        if not keys:
            return VARIANTS.empty_table()
        return _sort_variants(self._lookup_rows(snapshot, keys))

    def region(self, snapshot: Snapshot, contig: str, start: int, end: int) -> pa.Table:
        """The :data:`~.schema.VARIANTS` rows overlapping ``[start, end]`` (1-based, inclusive).

        A variant overlaps when ``variant_pos <= end`` and ``variant_end >= start``;
        ``X`` also finds ``chrX`` rows and the reverse.

        Raises
        ------
        InvalidInputError
            A malformed contig, or not ``1 <= start <= end``.
        """
        where = Region(contig, start, end)
        return _sort_variants(self._region_rows(snapshot, where))

    def frequencies(
        self,
        snapshot: Snapshot,
        samples: pa.Table,
        *,
        variant_ids: Sequence[str] | None = None,
        region: Region | tuple[str, int, int] | None = None,
        by: Sequence[str] = GROUPINGS,
    ) -> pa.Table:
        """Allele counts and frequencies per variant and group (:data:`FREQUENCIES`).

        Only the samples in ``samples`` count; with neither ``variant_ids`` nor
        ``region``, every variant of the snapshot (a full recompute).

        Raises
        ------
        InvalidInputError
            Both ``variant_ids`` and ``region`` given, a malformed id, region or
            samples table, or ``by`` not a subset of :data:`GROUPINGS`.
        """
        chosen = _check_by(by)
        samples = check_samples(samples)
        sites = self.resolve_sites(snapshot, variant_ids=variant_ids, region=region)
        ids = (
            sites.column("variant_id")
            if sites is not None
            else self.tables.read("variants", snapshot.variants).column("variant_id")
        )
        cells = self.cells(snapshot, samples, sites=sites)
        return rollup(ids, cells, group_sizes(samples), chosen)

    def resolve_sites(
        self,
        snapshot: Snapshot,
        *,
        variant_ids: Sequence[str] | None = None,
        region: Region | tuple[str, int, int] | None = None,
    ) -> pa.Table | None:
        """The :data:`SITES` of the ids or region at the snapshot (None: every variant).

        Raises
        ------
        InvalidInputError
            Both given, or a malformed id or region.
        """
        if variant_ids is not None and region is not None:
            raise InvalidInputError("give variant_ids or region, not both")
        if variant_ids is not None:
            return _site_table(self.lookup(snapshot, variant_ids))
        if region is not None:
            where = region if isinstance(region, Region) else Region(*region)
            return _site_table(self.region(snapshot, where.contig, where.start, where.end))
        return None

    def cells(
        self,
        snapshot: Snapshot,
        samples: pa.Table,
        *,
        sites: pa.Table | None = None,
        evidence: Snapshot | None = None,
        since: Snapshot | None = None,
    ) -> pa.Table:
        """Per-(variant, sex, region) sums (:data:`CELLS`) of the module rules, sorted.

        The building block of :meth:`frequencies` and :class:`FrequencyCounts`.

        Parameters
        ----------
        snapshot
            Whose variants are the sites when ``sites`` is None.
        samples
            The samples counted (:data:`~.schema.SAMPLES`).
        sites
            The sites (:data:`SITES`); None for every variant at ``snapshot``.
        evidence
            Whose calls and ref blocks are read (default ``snapshot``).
        since
            Read only calls and ref blocks in files added after this snapshot.

        Raises
        ------
        InvalidInputError
            A malformed samples or sites table.
        """
        samples = check_samples(samples)
        if sites is not None:
            sites = conform(sites, SITES, "sites")
        if not len(samples) or (sites is not None and not len(sites)):
            return CELLS.empty_table()
        raw = self._cells(snapshot, samples, sites, evidence or snapshot, since)
        return sum_cells(raw)

    def carriers(self, snapshot: Snapshot, variant_id: str, samples: pa.Table) -> list[Carrier]:
        """The samples in ``samples`` with at least one copy of the ALT, by sample id.

        Every carrier call is listed whatever its GQ (the GQ is reported).

        Raises
        ------
        InvalidInputError
            A malformed id or samples table.
        NotFoundError
            The variant is not in the snapshot.
        """
        samples = check_samples(samples)
        rows = self.lookup(snapshot, [variant_id])
        if not len(rows):
            raise NotFoundError(f"variant {variant_id} is not in the database")
        if not len(samples):
            return []
        key = VariantKey(
            variant_id,
            rows.column("variant_contig")[0].as_py(),
            rows.column("variant_pos")[0].as_py(),
        )
        found = self._carrier_rows(snapshot, key, samples).to_pylist()
        found.sort(key=lambda r: (r["sample_id"], r["call_gt"]))
        return [Carrier(r["sample_id"], r["call_gt"], r["call_gq"], r["call_dp"]) for r in found]

    def genotypes(self, snapshot: Snapshot, sample_id: str, sites: Sequence[str]) -> list[Genotype]:
        """What ``sample_id``'s data says at each site, in the order given.

        A site that is not in the variants table is placed by its id, so a sample
        can be ``hom_ref`` at a site nobody carries.

        Raises
        ------
        InvalidInputError
            A malformed sample id or variant id.
        """
        check_ids([sample_id], "sample id")
        if isinstance(sites, str):
            raise InvalidInputError("sites must be a list of variant ids, not one string")
        keys = [VariantKey.parse(s) for s in sites]
        if not keys:
            return []
        known = self.lookup(snapshot, [k.variant_id for k in keys])
        placed = {
            r["variant_id"]: VariantKey(r["variant_id"], r["variant_contig"], r["variant_pos"])
            for r in known.select(["variant_id", "variant_contig", "variant_pos"]).to_pylist()
        }
        keys = [placed.get(k.variant_id, k) for k in keys]
        site_table = pa.table(
            {
                "variant_id": [k.variant_id for k in keys],
                "variant_contig": [k.contig for k in keys],
                "variant_pos": [k.pos for k in keys],
            },
            schema=SITES,
        )
        calls, blocks = self._sample_rows(snapshot, sample_id, site_table)
        call_rows = calls.to_pylist()
        block_rows = blocks.to_pylist()
        out = []
        for key in keys:
            at = [
                c for c in call_rows if c["call_contig"] == key.contig and c["call_pos"] == key.pos
            ]
            cover = [
                b
                for b in block_rows
                if b["block_contig"] == key.contig and b["block_start"] <= key.pos <= b["block_end"]
            ]
            out.append(decide_genotype(key, at, cover))
        return out

    def family_sites(
        self,
        snapshot: Snapshot,
        proband: str,
        relatives: Sequence[str] = (),
        regions: Sequence[tuple[str, int, int]] | None = None,
    ) -> pa.Table:
        """Every site where ``proband`` carries an ALT allele, with the relatives' states there.

        One row per proband call with ``call_alt_count > 0`` (in ``regions`` when given:
        ``(contig, start, end)``, 1-based inclusive), in the columns of
        :data:`FAMILY_SITES`, plus ``r{i}_state``, ``r{i}_gq``, ``r{i}_dp`` for the i-th
        relative: what that relative's data says at the site, by the rules of
        :meth:`genotypes` (``het``, ``hom_alt``, ``hemi``, ``hom_ref`` proven by a call or a
        reference block with GQ >= :data:`~.schema.MIN_GQ`, ``other_alt`` or ``no_call``),
        computed in one query for the whole genome rather than site by site.

        Raises
        ------
        InvalidInputError
            A malformed sample id or region.
        """
        check_ids([proband, *relatives], "sample id")
        if len({proband, *relatives}) != 1 + len(relatives):
            raise InvalidInputError("a family's samples must be different samples")
        bin_size = min(self.bin_size, FAMILY_BIN_SIZE)
        params: dict[str, Any] = {"proband": proband, "min_gq": MIN_GQ, "bin": bin_size}
        relations: dict[str, Source] = {
            "c": TableRef("calls", snapshot.calls),
            "b": TableRef("ref_blocks", snapshot.ref_blocks),
        }
        region_join = ""
        if regions is not None:
            rows = [(check_contig(c), int(a), int(b)) for c, a, b in regions]
            if any(a < 1 or b < a for _, a, b in rows):
                raise InvalidInputError("a region needs 1 <= start <= end")
            relations["r"] = pa.table(
                {
                    "r_contig": pa.array([r[0] for r in rows], pa.string()),
                    "r_start": pa.array([r[1] for r in rows], pa.int64()),
                    "r_end": pa.array([r[2] for r in rows], pa.int64()),
                }
            )
            region_join = (
                "JOIN (SELECT DISTINCT * FROM {r}) r ON r.r_contig = c.call_contig "
                "AND c.call_pos BETWEEN r.r_start AND r.r_end"
            )
        for i, rel in enumerate(relatives):
            params[f"rel{i}"] = rel
        sql = family_sites_sql(len(relatives), region_join).replace("{series}", self.series_sql)
        return self._execute(sql, params, relations)

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the engine's resources (no-op unless an engine holds some)."""

    def __enter__(self) -> VariantEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reading rows (shared SQL; engines only execute it) ----------------------------

    def _lookup_rows(self, snapshot: Snapshot, keys: list[VariantKey]) -> pa.Table:
        contigs = sorted({k.contig for k in keys})
        params: dict[str, Any] = {f"c{i}": c for i, c in enumerate(contigs)}
        relations: dict[str, Source] = {"v": TableRef("variants", snapshot.variants)}
        if len(keys) <= MAX_LISTED_IDS:
            params.update({f"i{i}": k.variant_id for i, k in enumerate(keys)})
            ids = _markers("i", len(keys))
        else:
            relations["ids"] = pa.table({"variant_id": pa.array([k.variant_id for k in keys])})
            ids = "SELECT variant_id FROM {ids}"
        sql = (
            f"SELECT {_VARIANT_COLUMNS} FROM {{v}} "  # noqa: S608 - constant SQL; values are bound parameters
            f"WHERE variant_contig IN ({_markers('c', len(contigs))}) AND variant_id IN ({ids})"
        )
        return self._execute(sql, params, relations)

    def _region_rows(self, snapshot: Snapshot, region: Region) -> pa.Table:
        names = region.contig_names()
        params: dict[str, Any] = {f"c{i}": c for i, c in enumerate(names)}
        params.update({"start": region.start, "end": region.end})
        sql = (
            f"SELECT {_VARIANT_COLUMNS} FROM {{v}} "  # noqa: S608 - constant SQL; values are bound parameters
            f"WHERE variant_contig IN ({_markers('c', len(names))}) "
            "AND variant_pos <= $end AND variant_end >= $start"
        )
        return self._execute(sql, params, {"v": TableRef("variants", snapshot.variants)})

    def _cells(
        self,
        snapshot: Snapshot,
        samples: pa.Table,
        sites: pa.Table | None,
        evidence: Snapshot,
        since: Snapshot | None,
    ) -> pa.Table:
        params: dict[str, Any] = {"min_gq": MIN_GQ, "bin": self.bin_size}
        call_filter = block_filter = ""
        bounds = Bounds.of(sites) if sites is not None else None
        if bounds is not None:
            call_filter, extra = bounds.sql("c")
            block_filter, _ = bounds.sql("b")
            params.update(extra)
        relations: dict[str, Source] = {
            "v": sites if sites is not None else TableRef("variants", snapshot.variants),
            "c": TableRef("calls", evidence.calls, None if since is None else since.calls),
            "b": TableRef(
                "ref_blocks", evidence.ref_blocks, None if since is None else since.ref_blocks
            ),
            "s": samples,
        }
        sql = cells_sql(call_filter, block_filter).replace("{series}", self.series_sql)
        return self._execute(sql, params, relations)

    def _carrier_rows(self, snapshot: Snapshot, key: VariantKey, samples: pa.Table) -> pa.Table:
        sql = (
            "SELECT c.sample_id, c.call_gt, c.call_gq, c.call_dp FROM {c} c "
            "JOIN {s} s ON c.sample_id = s.sample_id "
            "WHERE c.call_contig = $contig AND c.call_pos = $pos AND c.variant_id = $vid "
            "AND c.call_alt_count > 0"
        )
        params = {"contig": key.contig, "pos": key.pos, "vid": key.variant_id}
        relations: dict[str, Source] = {"c": TableRef("calls", snapshot.calls), "s": samples}
        return self._execute(sql, params, relations)

    def _sample_rows(
        self, snapshot: Snapshot, sample_id: str, sites: pa.Table
    ) -> tuple[pa.Table, pa.Table]:
        bounds = Bounds.of(sites, limit=1_000_000)
        assert bounds is not None  # sites is not empty
        call_filter, params = bounds.sql("c")
        block_filter, _ = bounds.sql("b")
        params["sid"] = sample_id
        calls = self._execute(
            "SELECT variant_id, call_contig, call_pos, call_gt, call_ploidy, call_alt_count, "  # noqa: S608 - constant SQL; values are bound parameters
            f"call_other_count, call_gq, call_dp FROM {{c}} WHERE sample_id = $sid{call_filter}",
            params,
            {"c": TableRef("calls", snapshot.calls)},
        )
        blocks = self._execute(
            "SELECT block_contig, block_start, block_end, block_min_gq, block_min_dp "  # noqa: S608 - constant SQL; values are bound parameters
            f"FROM {{b}} WHERE sample_id = $sid{block_filter}",
            params,
            {"b": TableRef("ref_blocks", snapshot.ref_blocks)},
        )
        return calls, blocks

    # -- what engines read ------------------------------------------------------------

    def files_of(self, ref: TableRef) -> list[str]:
        """The Parquet file URIs of ``ref`` (only those added after ``ref.since`` when set).

        Raises
        ------
        NotFoundError
            No such table or version.
        """
        uris = sorted(self.tables.table(ref.table, ref.version).file_uris())
        if ref.since is not None:
            old = set(self.tables.table(ref.table, ref.since).file_uris())
            uris = [u for u in uris if u not in old]
        return uris

    @staticmethod
    def schema_of(table: str) -> pa.Schema:
        """The schema of a stored table (``variants``, ``calls``, ``ref_blocks``, ``counts``).

        Raises
        ------
        InvalidInputError
            Another name.
        """
        try:
            return STORED_SCHEMAS[table]
        except KeyError:
            raise InvalidInputError(f"no stored table {table!r}") from None

    # -- engine hook -----------------------------------------------------------------

    @abc.abstractmethod
    def _execute(
        self, sql: str, params: dict[str, Any], relations: Mapping[str, Source]
    ) -> pa.Table:
        """Run ``sql`` and return its result as a pyarrow Table.

        ``sql`` names relations as ``{name}`` (format fields) and parameters as
        ``$name``; ``relations`` maps each name to a pyarrow Table or a
        :class:`TableRef` (a stored table at a version). ``params`` are bound
        parameters, never interpolated.
        """


# -- incremental counts ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CountsState:
    """What the ``counts`` table holds: the sums of every sample of one snapshot."""

    snapshot: Snapshot | None
    """The snapshot counted (None before the first update)."""
    counts_version: int
    """Version of the ``counts`` table holding the sums (-1 before the first update)."""
    samples_version: int
    """Version of the ``counted_samples`` table listing the samples counted."""
    groups: tuple[tuple[str, str, int], ...]
    """(sex, region, number of samples counted), sorted."""

    @property
    def n_samples(self) -> int:
        """The number of samples counted."""
        return sum(n for _, _, n in self.groups)

    def group_sizes(self) -> dict[tuple[str, str], int]:
        """The samples counted per (sex, region)."""
        return {(sex, region): n for sex, region, n in self.groups}

    def asdict(self) -> dict[str, Any]:
        """A JSON-ready dict with ``format_version`` (stored in the ``counts`` commit)."""
        return {
            "format_version": COUNTS_FORMAT_VERSION,
            "snapshot": None if self.snapshot is None else self.snapshot.asdict(),
            "counts_version": self.counts_version,
            "samples_version": self.samples_version,
            "groups": [list(g) for g in self.groups],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CountsState:
        """Inverse of :meth:`asdict`.

        Raises
        ------
        FormatError
            Another ``format_version``, or a malformed document.
        """
        version = data.get("format_version")
        if version != COUNTS_FORMAT_VERSION:
            raise FormatError(
                f"frequency counts have format_version {version!r}; this helgenom reads "
                f"version {COUNTS_FORMAT_VERSION}"
            )
        try:
            snap = data["snapshot"]
            return cls(
                snapshot=None if snap is None else Snapshot.from_dict(snap),
                counts_version=int(data["counts_version"]),
                samples_version=int(data["samples_version"]),
                groups=tuple((str(s), str(r), int(n)) for s, r, n in data["groups"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise FormatError(f"frequency counts are malformed: {exc}") from None


class FrequencyCounts:
    """Allele-count sums kept up to date per ingest, in Delta tables beside the variant tables.

    ``<root>/counts`` holds :data:`CELLS` rows (sums per variant, sex and region of
    every counted sample); ``<root>/counted_samples`` lists the counted sample ids.
    Each update ends with one ``counts`` commit whose metadata records the
    :class:`CountsState` (snapshot counted, versions, samples per group): that commit
    is the visibility point, as the catalog's snapshot is for the variant tables.

    The services layer calls :meth:`update_counts` after each ingest commit and
    :meth:`remove_samples` after each :meth:`~.tables.VariantTables.delete_samples`,
    one at a time, in the order of the snapshots. Sex and region are not stored per
    sample: callers pass them (from the catalog) in ``samples`` tables.
    """

    def __init__(self, tables: VariantTables, engine: VariantEngine) -> None:
        self.tables = tables
        """The variant tables counted."""
        self.engine = engine
        """The engine that computes contributions."""

    # -- state -----------------------------------------------------------------------

    def state(self) -> CountsState:
        """The latest committed state (snapshot None when nothing was counted yet).

        Raises
        ------
        IntegrityError
            The ``counts`` table has commits but none records a state, or was not
            written by this layout version.
        FormatError
            The recorded state has another format version.
        """
        try:
            table = open_table(self.tables.uri("counts"), self.tables.storage_options, None)
        except NotFoundError:
            return CountsState(None, -1, -1, ())
        check_layout(table, "counts")
        for entry in table.history():
            blob = entry.get(_STATE_KEY)
            if blob is not None:
                try:
                    data = dict(json.loads(blob))
                except (TypeError, ValueError) as exc:
                    raise FormatError(f"frequency counts state is malformed: {exc}") from None
                data["counts_version"] = int(entry["version"])
                return CountsState.from_dict(data)
        if table.version() > 0:
            raise IntegrityError("the counts table has no recorded state: rebuild it")
        return CountsState(None, -1, -1, ())

    def counted_samples(self, state: CountsState | None = None) -> list[str]:
        """The ids of the samples counted in ``state`` (default the latest), sorted."""
        state = state or self.state()
        if state.samples_version < 0:
            return []
        table = self._table("counted_samples", COUNTED_SAMPLES, state.samples_version)
        ids = table.to_pyarrow_table(columns=["sample_id"]).column("sample_id")
        return sorted(str(i) for i in ids.to_pylist())

    # -- updates ---------------------------------------------------------------------

    def update_counts(
        self, new_sample_ids: Sequence[str], samples: pa.Table, snapshot: Snapshot
    ) -> CountsState:
        """Add the contributions of samples ingested since the counted snapshot.

        Reads the new samples' calls and ref blocks (only the files added since the
        counted snapshot) against every variant of ``snapshot``, and the old samples'
        calls and ref blocks at the positions of the variants new since then; never
        the whole tables.

        Parameters
        ----------
        new_sample_ids
            Every sample whose rows were appended after the counted snapshot.
        samples
            Sex and region (:data:`~.schema.SAMPLES`) of every counted sample and of
            the new ones.
        snapshot
            The snapshot after the ingest (recorded by the services layer).

        Raises
        ------
        InvalidInputError
            A new sample is missing from ``samples``, a counted sample is missing from
            ``samples``, or rows of a sample not in ``new_sample_ids`` were appended.
        ConflictError
            A new sample is already counted, ``snapshot`` is older than the counted
            one, or rows present at the counted snapshot were rewritten (a deletion
            needs :meth:`remove_samples` first).
        """
        new_ids = check_ids(new_sample_ids, "sample id")
        samples = check_samples(samples)
        state = self.state()
        old = state.snapshot
        if old is not None:
            _check_not_older(snapshot, old)
        counted = set(self.counted_samples(state))
        given = set(samples.column("sample_id").to_pylist())
        again = sorted(set(new_ids) & counted)
        if again:
            raise ConflictError(f"{len(again)} sample(s) are already counted, e.g. {again[0]}")
        if not set(new_ids) <= given:
            raise InvalidInputError("samples must give the sex and region of every new sample")
        if not counted <= given:
            raise InvalidInputError(
                f"samples lacks {len(counted - given)} counted sample(s): pass every counted "
                "sample (their coverage at new sites is added)"
            )
        if old is not None:
            for name in ("calls", "ref_blocks"):
                before = set(self.tables.table(name, old.version(name)).file_uris())
                after = set(self.tables.table(name, snapshot.version(name)).file_uris())
                if not before <= after:
                    raise ConflictError(
                        f"{name} rows counted at the last snapshot were rewritten since; "
                        "call remove_samples for deletions first, or rebuild the counts"
                    )
        self._check_appended(snapshot, old, set(new_ids))
        new_table = _select_samples(samples, new_ids)
        parts = [self.engine.cells(snapshot, new_table, evidence=snapshot, since=old)]
        if old is not None and counted:
            new_sites = _new_sites(self.tables, old, snapshot)
            if len(new_sites):
                old_table = _select_samples(samples, sorted(counted))
                parts.append(self.engine.cells(snapshot, old_table, sites=new_sites, evidence=old))
        delta = sum_cells(*parts)
        sizes = state.group_sizes()
        for key, n in group_sizes(new_table).items():
            sizes[key] = sizes.get(key, 0) + n
        return self._commit(
            state, snapshot, delta, sizes, add_ids=new_ids, remove_ids=[], drop_variants=[]
        )

    def remove_samples(
        self, sample_ids: Sequence[str], samples: pa.Table, snapshot: Snapshot
    ) -> CountsState:
        """Subtract the contributions of samples deleted since the counted snapshot.

        Their contributions are read at the counted snapshot (time travel); variants
        gone from ``snapshot`` lose their counts.

        Parameters
        ----------
        sample_ids
            The samples deleted by :meth:`~.tables.VariantTables.delete_samples`.
        samples
            Their sex and region (:data:`~.schema.SAMPLES`), as counted.
        snapshot
            The snapshot after the deletion.

        Raises
        ------
        InvalidInputError
            A sample is not counted, or missing from ``samples``.
        ConflictError
            Rows were appended since the counted snapshot (call
            :meth:`update_counts` in snapshot order), the samples still have rows, or
            nothing was counted yet.
        """
        ids = check_ids(sample_ids, "sample id")
        samples = check_samples(samples)
        state = self.state()
        old = state.snapshot
        if old is None:
            raise ConflictError("nothing is counted yet: nothing to remove")
        _check_not_older(snapshot, old)
        counted = set(self.counted_samples(state))
        missing = sorted(set(ids) - counted)
        if missing:
            raise InvalidInputError(f"{len(missing)} sample(s) are not counted, e.g. {missing[0]}")
        removed = _select_samples(samples, ids)
        if removed.num_rows != len(ids):
            raise InvalidInputError("samples must give the sex and region of every removed sample")
        for name in ("calls", "ref_blocks"):
            for entry in self.tables.table(name, snapshot.version(name)).history():
                if (
                    old.version(name) < entry["version"] <= snapshot.version(name)
                    and entry.get("operation") == "WRITE"
                ):
                    raise ConflictError(
                        f"{name} had rows appended since the counted snapshot: update the "
                        "counts in snapshot order"
                    )
            present = self.tables.dataset(name, snapshot.version(name)).to_table(
                columns=["sample_id"]
            )
            if pc.any(pc.is_in(present.column("sample_id"), value_set=pa.array(ids))).as_py():
                raise ConflictError(f"the samples still have {name} rows at the snapshot")
        old_variants = self.tables.read("variants", old.variants).column("variant_id")
        now = self.tables.read("variants", snapshot.variants).column("variant_id")
        gone = pc.filter(old_variants, pc.invert(pc.is_in(old_variants, value_set=now)))
        if not pc.all(pc.is_in(now, value_set=old_variants)).as_py():
            raise ConflictError("variants were added since the counted snapshot: update first")
        delta = sum_cells(self.engine.cells(old, removed, evidence=old), signs=[-1])
        sizes = state.group_sizes()
        for key, n in group_sizes(removed).items():
            sizes[key] = sizes.get(key, 0) - n
        return self._commit(
            state,
            snapshot,
            delta,
            sizes,
            add_ids=[],
            remove_ids=ids,
            drop_variants=[str(v) for v in gone.to_pylist()],
        )

    # -- queries ---------------------------------------------------------------------

    def frequencies_from_counts(
        self,
        *,
        variant_ids: Sequence[str] | None = None,
        region: Region | tuple[str, int, int] | None = None,
        by: Sequence[str] = GROUPINGS,
        exclude: pa.Table | None = None,
    ) -> pa.Table:
        """:meth:`VariantEngine.frequencies` of the counted samples minus ``exclude``.

        Reads the sums at the counted snapshot and subtracts the contributions of the
        excluded samples (opted-out persons), computed on the fly; equal to a full
        recompute over the counted samples that are not excluded.

        Raises
        ------
        NotFoundError
            Nothing is counted yet.
        InvalidInputError
            An excluded sample is not counted, or a malformed argument.
        """
        chosen = _check_by(by)
        state = self.state()
        snap = state.snapshot
        if snap is None:
            raise NotFoundError("no frequency counts yet: run update_counts after an ingest")
        sites = self.engine.resolve_sites(snap, variant_ids=variant_ids, region=region)
        if sites is None:
            ids = self.tables.read("variants", snap.variants).column("variant_id")
        else:
            ids = sites.column("variant_id")
        stored = self._stored(state.counts_version, sites)
        sizes = state.group_sizes()
        if exclude is not None:
            exclude = check_samples(exclude)
            counted = set(self.counted_samples(state))
            outside = sorted(set(exclude.column("sample_id").to_pylist()) - counted)
            if outside:
                raise InvalidInputError(
                    f"{len(outside)} excluded sample(s) are not counted, e.g. {outside[0]}"
                )
            minus = self.engine.cells(snap, exclude, sites=sites)
            stored = sum_cells(stored, minus, signs=[1, -1])
            for key, n in group_sizes(exclude).items():
                sizes[key] = sizes.get(key, 0) - n
        return rollup(ids, stored, sizes, chosen)

    # -- storage ---------------------------------------------------------------------

    def _stored(self, version: int, sites: pa.Table | None) -> pa.Table:
        columns = ", ".join(CELLS.names)
        ref = TableRef("counts", version)
        if sites is None:
            rows = self.engine._execute(f"SELECT {columns} FROM {{k}}", {}, {"k": ref})  # noqa: S608 - constant SQL; values are bound parameters
        else:
            ids = pa.table({"variant_id": sites.column("variant_id")})
            rows = self.engine._execute(
                f"SELECT {columns} FROM {{k}} WHERE variant_id IN (SELECT variant_id FROM {{ids}})",  # noqa: S608 - constant SQL; values are bound parameters
                {},
                {"k": ref, "ids": ids},
            )
        return conform(rows, CELLS, "counts")

    def _table(self, name: str, schema: pa.Schema, version: int | None = None) -> DeltaTable:
        uri = self.tables.uri(name)
        options = self.tables.storage_options
        try:
            table = open_table(uri, options, version)
        except NotFoundError:
            if version is not None:
                raise
            return create_table(uri, name, schema, None, options)
        check_layout(table, name)
        return table

    def _check_appended(self, snapshot: Snapshot, old: Snapshot | None, new_ids: set[str]) -> None:
        # Rows appended since the counted snapshot must all belong to the new samples
        # (the first update: every row). Reads only the sample_id column of new files.
        for name in ("calls", "ref_blocks"):
            since = None if old is None else old.version(name)
            data = self.tables.dataset(name, snapshot.version(name), since=since)
            present = pc.unique(data.to_table(columns=["sample_id"]).column("sample_id"))
            extra = sorted(set(present.to_pylist()) - new_ids)
            if extra:
                raise InvalidInputError(
                    f"{name} rows of {len(extra)} sample(s) not in new_sample_ids were appended "
                    f"since the counted snapshot, e.g. {extra[0]}: pass every new sample"
                )

    def _commit(
        self,
        state: CountsState,
        snapshot: Snapshot,
        delta: pa.Table,
        sizes: dict[tuple[str, str], int],
        *,
        add_ids: list[str],
        remove_ids: list[str],
        drop_variants: list[str],
    ) -> CountsState:
        samples_table = self._table("counted_samples", COUNTED_SAMPLES)
        if state.samples_version >= 0 and samples_table.version() != state.samples_version:
            # An update interrupted between its two commits: forget its sample list.
            _guard(lambda: samples_table.restore(state.samples_version), "counted_samples")
            samples_table = self._table("counted_samples", COUNTED_SAMPLES)
        uri = self.tables.uri("counted_samples")
        options = self.tables.storage_options or None
        if add_ids:
            rows = pa.table({"sample_id": pa.array(add_ids, pa.string())}, schema=COUNTED_SAMPLES)
            _guard(lambda: write_deltalake(uri, rows, mode="append", storage_options=options), uri)
        if remove_ids:
            keys = pa.table(
                {"sample_id": pa.array(remove_ids, pa.string())}, schema=COUNTED_SAMPLES
            )
            _guard(
                lambda: (
                    samples_table.merge(
                        keys, "t.sample_id = s.sample_id", source_alias="s", target_alias="t"
                    )
                    .when_matched_delete()
                    .execute()
                ),
                uri,
            )
        samples_version = self._table("counted_samples", COUNTED_SAMPLES).version()
        counts = self._table("counts", CELLS)
        new_state = CountsState(
            snapshot=snapshot,
            counts_version=-1,
            samples_version=samples_version,
            groups=tuple(sorted((s, r, n) for (s, r), n in sizes.items() if n > 0)),
        )
        record = new_state.asdict()
        del record["counts_version"]  # the version of the commit that carries the record
        blob = json.dumps(record, sort_keys=True)
        props = CommitProperties(custom_metadata={_STATE_KEY: blob})
        source = delta.append_column("drop", pa.array([False] * len(delta), pa.bool_()))
        if drop_variants:
            sites = pa.table({"variant_id": pa.array(drop_variants, pa.string())})
            stored = self._stored(counts.version(), sites)
            dropping = stored.append_column("drop", pa.array([True] * len(stored), pa.bool_()))
            keep = pc.invert(
                pc.is_in(source.column("variant_id"), value_set=dropping.column("variant_id"))
            )
            source = pa.concat_tables([source.filter(keep), dropping])
        if len(source):
            sums = {name: f"t.{name} + s.{name}" for name in _SUM_COLUMNS}
            zero = " AND ".join(f"t.{name} + s.{name} = 0" for name in _SUM_COLUMNS)
            _guard(
                lambda: (
                    counts.merge(
                        source,
                        "t.variant_id = s.variant_id AND t.sample_sex = s.sample_sex "
                        "AND t.sample_region = s.sample_region",
                        source_alias="s",
                        target_alias="t",
                        commit_properties=props,
                    )
                    .when_matched_delete(predicate=f"s.drop OR ({zero})")
                    .when_matched_update(sums)
                    .when_not_matched_insert(
                        {name: f"s.{name}" for name in CELLS.names}, predicate="NOT s.drop"
                    )
                    .execute()
                ),
                "counts",
            )
        else:
            uri_counts = self.tables.uri("counts")
            _guard(
                lambda: write_deltalake(
                    uri_counts,
                    CELLS.empty_table(),
                    mode="append",
                    storage_options=options,
                    commit_properties=props,
                ),
                "counts",
            )
        committed = self.state()
        if committed.snapshot != snapshot or committed.samples_version != samples_version:
            raise ConflictError("the counts table was changed by another writer during the update")
        return committed


def _guard(action: Any, what: str) -> None:
    try:
        action()
    except CommitFailedError as exc:
        raise ConflictError(f"{what} was changed by another writer: {exc}") from None
    except (DeltaError, OSError) as exc:
        raise StorageUnavailableError(f"{what} cannot be written: {exc}") from None


def _check_not_older(snapshot: Snapshot, old: Snapshot) -> None:
    if any(snapshot.version(n) < old.version(n) for n in TABLE_NAMES):
        raise ConflictError(
            f"snapshot {snapshot.asdict()} is older than the counted one {old.asdict()}"
        )


def _select_samples(samples: pa.Table, ids: Sequence[str]) -> pa.Table:
    return samples.filter(
        pc.is_in(samples.column("sample_id"), value_set=pa.array(ids, pa.string()))
    )


def _new_sites(tables: VariantTables, old: Snapshot, new: Snapshot) -> pa.Table:
    columns = ["variant_id", "variant_contig", "variant_pos"]
    before = tables.dataset("variants", old.variants).to_table(columns=["variant_id"])
    after = tables.dataset("variants", new.variants).to_table(columns=columns)
    fresh = pc.invert(pc.is_in(after.column("variant_id"), value_set=before.column("variant_id")))
    return conform(after.filter(fresh), SITES, "sites")


__all__ = [
    "CELLS",
    "COUNTS_FORMAT_VERSION",
    "FAMILY_SITES",
    "FREQUENCIES",
    "GENOTYPE_STATES",
    "GROUPINGS",
    "PAR_X",
    "PAR_Y",
    "SEXES",
    "SITES",
    "Carrier",
    "CountsState",
    "FrequencyCounts",
    "Genotype",
    "Region",
    "Source",
    "TableRef",
    "VariantEngine",
    "VariantKey",
    "cells_sql",
    "check_samples",
    "family_sites_sql",
    "rollup",
]
