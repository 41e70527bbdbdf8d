"""The genome database engines: one conformance suite for DuckDB and Spark.

A hand-built corpus of named edge cases has hand-computed allele counts; a
hypothesis test compares DuckDB with a plain-Python reading of the rules on random
small tables; a random corpus of a few hundred samples must give identical answers
on both engines; incremental counts must equal a full recompute.

Spark tests are marked ``spark``: they skip when PySpark or Java is missing, unless
``HELGENOM_REQUIRE_SPARK=1`` (then they fail). One Spark session serves the whole
test session.
"""

from __future__ import annotations

import concurrent.futures as cf
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helgenom.adapters.variants.duckdb_engine import DuckDbEngine
from helgenom.adapters.variants.engine import (
    FrequencyCounts,
    Region,
    VariantEngine,
    VariantKey,
)
from helgenom.adapters.variants.schema import CALLS, MIN_GQ, REF_BLOCKS, SAMPLES, VARIANTS
from helgenom.adapters.variants.tables import Snapshot, VariantTables
from helgenom.core.errors import (
    ConflictError,
    FormatError,
    InvalidInputError,
    NotFoundError,
)

# -- building rows -------------------------------------------------------------------


def variant(contig: str, pos: int, ref: str, alt: str, ingest: str = "ing1") -> dict[str, Any]:
    kind = "snv" if len(ref) == len(alt) == 1 else "complex"
    return {
        "variant_id": f"{contig}-{pos}-{ref}-{alt}",
        "variant_contig": contig,
        "variant_pos": pos,
        "variant_end": pos + len(ref) - 1,
        "variant_ref": ref,
        "variant_alt": alt,
        "variant_type": kind,
        "ingest_id": ingest,
    }


def call(
    sample: str,
    variant_id: str,
    gt: str,
    *,
    alt: int,
    other: int = 0,
    ploidy: int = 2,
    gq: int | None = 50,
    dp: int | None = 30,
    ingest: str = "ing1",
) -> dict[str, Any]:
    key = VariantKey.parse(variant_id)
    return {
        "sample_id": sample,
        "variant_id": variant_id,
        "call_contig": key.contig,
        "call_pos": key.pos,
        "call_gt": gt,
        "call_ploidy": ploidy,
        "call_alt_count": alt,
        "call_other_count": other,
        "call_phased": "|" in gt,
        "call_gq": gq,
        "call_dp": dp,
        "call_ad_ref": None,
        "call_ad_alt": None,
        "ingest_id": ingest,
    }


def block(
    sample: str,
    contig: str,
    start: int,
    end: int,
    *,
    ploidy: int = 2,
    gq: int | None = 50,
    dp: int | None = 25,
    ingest: str = "ing1",
) -> dict[str, Any]:
    return {
        "sample_id": sample,
        "block_contig": contig,
        "block_start": start,
        "block_end": end,
        "block_ploidy": ploidy,
        "block_min_gq": gq,
        "block_min_dp": dp,
        "ingest_id": ingest,
    }


def tables_of(
    variants: list[dict[str, Any]], calls: list[dict[str, Any]], blocks: list[dict[str, Any]]
) -> tuple[pa.Table, pa.Table, pa.Table]:
    return (
        pa.Table.from_pylist(variants, schema=VARIANTS),
        pa.Table.from_pylist(calls, schema=CALLS),
        pa.Table.from_pylist(blocks, schema=REF_BLOCKS),
    )


def samples_of(rows: list[tuple[str, str, str]]) -> pa.Table:
    return pa.Table.from_pylist(
        [{"sample_id": s, "sample_sex": x, "sample_region": r} for s, x, r in rows], schema=SAMPLES
    )


# -- the hand-built corpus -----------------------------------------------------------

V_AUTO = (
    "chr1-1000-A-G"  # M1 het, F1 hom, M2 block GQ 20 (counts), F2 block GQ 19 (not), U1 null GQ
)
V_XNP = "chrX-5000000-C-T"  # X outside PAR: males hemizygous, one male called 1/1 (capped)
V_XPAR = "chrX-100000-G-A"  # X PAR1: diploid for males
V_Y = "chrY-3000000-T-C"  # Y outside PAR: a female's spurious block is not counted
V_MA_C = "chr2-2000-A-C"  # multi-allelic site split in two
V_MA_T = "chr2-2000-A-T"
V_MT = "chrM-500-A-G"  # haploid
V_LOWGQ = "chr3-300-G-T"  # a low-GQ call is ignored, a null-GQ call and block count
V_DROPPED = "chr4-400-C-G"  # only the sample left out of `samples` carries it

SAMPLE_ROWS = [
    ("M1", "male", "north"),
    ("M2", "male", "south"),
    ("F1", "female", "north"),
    ("F2", "female", "south"),
    ("U1", "unknown", "north"),
    ("NC", "female", "south"),  # no coverage anywhere: never in AN
]
DROPPED = ("DROP", "male", "north")  # has data, not handed to the queries


def corpus_rows() -> tuple[pa.Table, pa.Table, pa.Table]:
    variants = [
        variant("chr1", 1000, "A", "G"),
        variant("chrX", 5_000_000, "C", "T"),
        variant("chrX", 100_000, "G", "A"),
        variant("chrY", 3_000_000, "T", "C"),
        variant("chr2", 2000, "A", "C"),
        variant("chr2", 2000, "A", "T"),
        variant("chrM", 500, "A", "G"),
        variant("chr3", 300, "G", "T"),
        variant("chr4", 400, "C", "G"),
    ]
    calls = [
        call("M1", V_AUTO, "0/1", alt=1, gq=50),
        call("F1", V_AUTO, "1/1", alt=2, gq=60),
        call("DROP", V_AUTO, "1/1", alt=2),
        call("M1", V_XNP, "1", alt=1, ploidy=1, gq=40),
        call("M2", V_XNP, "1/1", alt=2, gq=35),
        call("F1", V_XNP, "0/1", alt=1),
        call("U1", V_XNP, "1", alt=1, ploidy=1),
        call("M1", V_XPAR, "0/1", alt=1),
        call("M2", V_XPAR, "1/1", alt=2),
        call("M1", V_Y, "1", alt=1, ploidy=1),
        call("M1", V_MA_C, "1/2", alt=1, other=1, gq=45),
        call("M1", V_MA_T, "1/2", alt=1, other=1, gq=45),
        call("F1", V_MA_C, "0/2", alt=0, other=1),
        call("F1", V_MA_T, "0/2", alt=1),
        call("F2", V_MA_T, "2/2", alt=2),
        call("M1", V_MT, "1", alt=1, ploidy=1),
        call("F1", V_MT, "0/1", alt=1),
        call("M1", V_LOWGQ, "0/1", alt=1, gq=MIN_GQ - 15),
        call("F1", V_LOWGQ, "0/1", alt=1, gq=None),
        call("DROP", V_DROPPED, "0/1", alt=1),
    ]
    blocks = [
        block("M2", "chr1", 1, 1500, gq=MIN_GQ),
        block("M2", "chr2", 1, 5000, gq=30),
        block("M2", "chrY", 2_500_000, 3_500_000, ploidy=1),
        block("M2", "chrM", 1, 16569, ploidy=1),
        block("M2", "chr3", 1, 1000, gq=None),
        block("F1", "chrX", 90_000, 110_000),
        block("F1", "chrY", 2_900_000, 3_100_000, ploidy=1),
        block("F2", "chr1", 900, 1100, gq=MIN_GQ - 1),
        block("F2", "chrX", 4_000_000, 6_000_000, gq=40),
        block("U1", "chr1", 1, 2000, gq=None, dp=None),
    ]
    return tables_of(variants, calls, blocks)


# (variant, group, value) -> (ac, an, hom, hemi, n_samples); rows not listed are all 0.
EXPECTED: dict[tuple[str, str, str], tuple[int, int, int, int, int]] = {
    (V_AUTO, "overall", "all"): (3, 8, 1, 0, 4),
    (V_AUTO, "sex", "female"): (2, 2, 1, 0, 1),
    (V_AUTO, "sex", "male"): (1, 4, 0, 0, 2),
    (V_AUTO, "sex", "unknown"): (0, 2, 0, 0, 1),
    (V_AUTO, "region", "north"): (3, 6, 1, 0, 3),
    (V_AUTO, "region", "south"): (0, 2, 0, 0, 1),
    (V_XNP, "overall", "all"): (4, 7, 0, 3, 5),
    (V_XNP, "sex", "female"): (1, 4, 0, 0, 2),
    (V_XNP, "sex", "male"): (2, 2, 0, 2, 2),
    (V_XNP, "sex", "unknown"): (1, 1, 0, 1, 1),
    (V_XNP, "region", "north"): (3, 4, 0, 2, 3),
    (V_XNP, "region", "south"): (1, 3, 0, 1, 2),
    (V_XPAR, "overall", "all"): (3, 6, 1, 0, 3),
    (V_XPAR, "sex", "female"): (0, 2, 0, 0, 1),
    (V_XPAR, "sex", "male"): (3, 4, 1, 0, 2),
    (V_XPAR, "region", "north"): (1, 4, 0, 0, 2),
    (V_XPAR, "region", "south"): (2, 2, 1, 0, 1),
    (V_Y, "overall", "all"): (1, 2, 0, 1, 2),
    (V_Y, "sex", "male"): (1, 2, 0, 1, 2),
    (V_Y, "region", "north"): (1, 1, 0, 1, 1),
    (V_Y, "region", "south"): (0, 1, 0, 0, 1),
    (V_MA_C, "overall", "all"): (1, 8, 0, 0, 4),
    (V_MA_C, "sex", "female"): (0, 4, 0, 0, 2),
    (V_MA_C, "sex", "male"): (1, 4, 0, 0, 2),
    (V_MA_C, "region", "north"): (1, 4, 0, 0, 2),
    (V_MA_C, "region", "south"): (0, 4, 0, 0, 2),
    (V_MA_T, "overall", "all"): (4, 8, 1, 0, 4),
    (V_MA_T, "sex", "female"): (3, 4, 1, 0, 2),
    (V_MA_T, "sex", "male"): (1, 4, 0, 0, 2),
    (V_MA_T, "region", "north"): (2, 4, 0, 0, 2),
    (V_MA_T, "region", "south"): (2, 4, 1, 0, 2),
    (V_MT, "overall", "all"): (2, 3, 0, 0, 3),
    (V_MT, "sex", "female"): (1, 1, 0, 0, 1),
    (V_MT, "sex", "male"): (1, 2, 0, 0, 2),
    (V_MT, "region", "north"): (2, 2, 0, 0, 2),
    (V_MT, "region", "south"): (0, 1, 0, 0, 1),
    (V_LOWGQ, "overall", "all"): (1, 4, 0, 0, 2),
    (V_LOWGQ, "sex", "female"): (1, 2, 0, 0, 1),
    (V_LOWGQ, "sex", "male"): (0, 2, 0, 0, 1),
    (V_LOWGQ, "region", "north"): (1, 2, 0, 0, 1),
    (V_LOWGQ, "region", "south"): (0, 2, 0, 0, 1),
}
ALL_VARIANTS = [V_AUTO, V_XNP, V_XPAR, V_Y, V_MA_C, V_MA_T, V_MT, V_LOWGQ, V_DROPPED]
GROUP_VALUES = [
    ("overall", "all"),
    ("sex", "female"),
    ("sex", "male"),
    ("sex", "unknown"),
    ("region", "north"),
    ("region", "south"),
]


def expected_rows(variant_ids: list[str]) -> list[dict[str, Any]]:
    rows = []
    for vid in sorted(variant_ids):
        for group, value in GROUP_VALUES:
            ac, an, hom, hemi, n = EXPECTED.get((vid, group, value), (0, 0, 0, 0, 0))
            rows.append(
                {
                    "variant_id": vid,
                    "group": group,
                    "group_value": value,
                    "ac": ac,
                    "an": an,
                    "af": ac / an if an else None,
                    "hom": hom,
                    "hemi": hemi,
                    "n_samples": n,
                }
            )
    return rows


# -- a random corpus (numpy, seeded) --------------------------------------------------

CONTIGS = (
    ("chr1", 40_000_000),
    ("chr2", 40_000_000),
    ("chrX", 156_040_895),
    ("chrY", 57_227_415),
    ("chrM", 16_569),
)
BASES = np.array(list("ACGT"))


def random_sites(n: int, seed: int) -> list[tuple[str, int, str, str]]:
    """(contig, pos, ref, alt) sorted; about 10 % share a position with another ALT."""
    rng = np.random.default_rng(seed)
    weights = np.array([0.35, 0.25, 0.25, 0.1, 0.05])
    picked = rng.choice(len(CONTIGS), n, p=weights)
    sites: set[tuple[str, int, str, str]] = set()
    for index, (contig, length) in enumerate(CONTIGS):
        count = int((picked == index).sum())
        positions = rng.integers(1, length, count)
        if contig == "chrX":  # a third in PAR1, a few at its edges
            par = rng.random(count) < 0.3
            positions[par] = rng.integers(10_001 - 2, 2_781_479 + 3, int(par.sum()))
        if contig == "chrY":
            positions[: max(1, count // 5)] = rng.integers(10_001, 2_781_479, max(1, count // 5))
        for pos in positions:
            ref_i = int(rng.integers(0, 4))
            alt_i = (ref_i + 1 + int(rng.integers(0, 3))) % 4
            sites.add((contig, int(pos), str(BASES[ref_i]), str(BASES[alt_i])))
            if rng.random() < 0.1:
                other = (alt_i + 1) % 4 if (alt_i + 1) % 4 != ref_i else (alt_i + 2) % 4
                sites.add((contig, int(pos), str(BASES[ref_i]), str(BASES[other])))
    return sorted(sites)


def site_ploidy(contig: str, pos: np.ndarray, sex: str, unknown_x: int) -> np.ndarray:
    par_x = ((pos >= 10_001) & (pos <= 2_781_479)) | ((pos >= 155_701_383) & (pos <= 156_030_895))
    if contig == "chrM":
        return np.ones_like(pos)
    if contig == "chrX":
        haploid = 1 if sex == "male" else (2 if sex == "female" else unknown_x)
        return np.where(par_x, 2, haploid)
    if contig == "chrY":
        return np.full_like(pos, 0 if sex == "female" else 1)
    return np.full_like(pos, 2)


@dataclass
class Corpus:
    variants: pa.Table
    calls: pa.Table
    blocks: pa.Table
    samples: pa.Table


def random_corpus(
    n_samples: int,
    sites: list[tuple[str, int, str, str]],
    seed: int,
    *,
    first: int = 0,
    ingest: str = "ing1",
) -> Corpus:
    """Samples ``first..first+n`` over ``sites``: carriers, reference blocks between
    non-reference positions, a few uncovered sites, low and null GQs."""
    rng = np.random.default_rng(seed)
    freq = {s: float(min(0.5, rng.beta(0.3, 3.0))) for s in sites}
    by_contig: dict[str, list[tuple[str, int, str, str]]] = {}
    for s in sites:
        by_contig.setdefault(s[0], []).append(s)
    lengths = dict(CONTIGS)
    calls: dict[str, list[Any]] = {name: [] for name in CALLS.names}
    blocks: dict[str, list[Any]] = {name: [] for name in REF_BLOCKS.names}
    samples = []
    carried: set[str] = set()

    def gq() -> int | None:
        r = rng.random()
        return (
            None
            if r < 0.04
            else (int(rng.integers(5, MIN_GQ)) if r < 0.08 else int(rng.integers(MIN_GQ, 99)))
        )

    for i in range(n_samples):
        sid = f"S{first + i:05d}"
        sex = str(rng.choice(["male", "female", "unknown"], p=[0.47, 0.47, 0.06]))
        samples.append((sid, sex, f"R{int(rng.integers(0, 5))}"))
        unknown_x = int(rng.integers(1, 3))
        for contig, contig_sites in by_contig.items():
            if contig == "chrY" and sex == "female":
                continue
            positions = np.array([s[1] for s in contig_sites], dtype=np.int64)
            ploidy = site_ploidy(contig, positions, sex, unknown_x)
            draws = rng.random(len(contig_sites))
            freqs = np.array([freq[s] for s in contig_sites])
            carrier = draws < freqs
            uncovered = (~carrier) & (rng.random(len(contig_sites)) < 0.04)
            nonref_pos: set[int] = set()
            for k in np.nonzero(carrier)[0]:
                site = contig_sites[k]
                p = int(ploidy[k])
                alt = 1 if p == 1 or rng.random() > freqs[k] else 2
                gt = "1" if p == 1 else ("1/1" if alt == 2 else "0/1")
                vid = f"{site[0]}-{site[1]}-{site[2]}-{site[3]}"
                carried.add(vid)
                row = call(sid, vid, gt, alt=alt, ploidy=p, gq=gq(), ingest=ingest)
                row["call_dp"] = int(rng.integers(5, 60))
                for name, value in row.items():
                    calls[name].append(value)
                nonref_pos.add(site[1])
            nonref_pos.update(int(positions[k]) for k in np.nonzero(uncovered)[0])
            # reference blocks: maximal runs between non-reference positions
            start = 1
            for stop in [*sorted(nonref_pos), lengths[contig] + 1]:
                if stop - 1 >= start:
                    inside = positions[(positions >= start) & (positions <= stop - 1)]
                    if len(inside):
                        ploidy_here = int(site_ploidy(contig, inside[:1], sex, unknown_x)[0]) or 1
                        row = block(
                            sid, contig, start, stop - 1, ploidy=ploidy_here, gq=gq(), ingest=ingest
                        )
                        row["block_min_dp"] = int(rng.integers(5, 40))
                        for name, value in row.items():
                            blocks[name].append(value)
                start = stop + 1
    variants = [
        variant(c, p, r, a, ingest) for c, p, r, a in sites if f"{c}-{p}-{r}-{a}" in carried
    ]
    return Corpus(
        pa.Table.from_pylist(variants, schema=VARIANTS),
        pa.Table.from_pydict(calls, schema=CALLS),
        pa.Table.from_pydict(blocks, schema=REF_BLOCKS),
        samples_of(samples),
    )


# -- fixtures ---------------------------------------------------------------------------


ENGINES = ["duckdb", pytest.param("spark", marks=pytest.mark.spark)]


def make_engine(kind: str, tables: VariantTables, request: pytest.FixtureRequest) -> VariantEngine:
    if kind == "duckdb":
        return DuckDbEngine(tables, threads=2)
    from helgenom.adapters.variants.spark_engine import SparkEngine

    return SparkEngine(tables, session=request.getfixturevalue("spark_session"))


@dataclass
class Loaded:
    tables: VariantTables
    snapshot: Snapshot


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Loaded:
    tables = VariantTables.create(tmp_path_factory.mktemp("corpus") / "db")
    snapshot = tables.append(*corpus_rows())
    return Loaded(tables, snapshot)


@pytest.fixture(scope="module", params=ENGINES)
def engine(request: pytest.FixtureRequest, corpus: Loaded) -> Iterator[VariantEngine]:
    eng = make_engine(request.param, corpus.tables, request)
    yield eng
    eng.close()


SAMPLES_T = samples_of(SAMPLE_ROWS)


# -- conformance: the hand-built corpus ------------------------------------------------


def test_frequencies_match_hand_computed_counts(engine: VariantEngine, corpus: Loaded) -> None:
    got = engine.frequencies(corpus.snapshot, SAMPLES_T)
    assert got.to_pylist() == expected_rows(ALL_VARIANTS)


def test_frequencies_of_ids_and_region(engine: VariantEngine, corpus: Loaded) -> None:
    snap = corpus.snapshot
    by_ids = engine.frequencies(
        snap, SAMPLES_T, variant_ids=[V_XNP, V_Y, "chr9-1-A-C"], by=["overall"]
    )
    assert by_ids.to_pylist() == [r for r in expected_rows([V_XNP, V_Y]) if r["group"] == "overall"]
    # X and chrX name the same contig; the region holds PAR1 and not the non-PAR site
    by_region = engine.frequencies(snap, SAMPLES_T, region=("X", 1, 3_000_000), by=["sex"])
    assert by_region.to_pylist() == [r for r in expected_rows([V_XPAR]) if r["group"] == "sex"]


def test_sample_left_out_is_not_counted(engine: VariantEngine, corpus: Loaded) -> None:
    with_dropped = samples_of([*SAMPLE_ROWS, DROPPED])
    rows = engine.frequencies(
        corpus.snapshot, with_dropped, variant_ids=[V_DROPPED, V_AUTO], by=["overall"]
    )
    assert [(r["variant_id"], r["ac"], r["an"], r["hom"]) for r in rows.to_pylist()] == [
        (V_AUTO, 5, 10, 2),
        (V_DROPPED, 1, 2, 0),
    ]
    # without it, the site only it carries has AN 0 and no frequency
    alone = engine.frequencies(corpus.snapshot, SAMPLES_T, variant_ids=[V_DROPPED], by=["overall"])
    assert alone.to_pylist()[0]["af"] is None
    assert alone.to_pylist()[0]["an"] == 0


def test_lookup_and_region(engine: VariantEngine, corpus: Loaded) -> None:
    snap = corpus.snapshot
    rows = engine.lookup(snap, [V_MA_T, V_AUTO, "chr9-5-A-C", V_MA_C])
    assert rows.schema == VARIANTS
    assert rows.column("variant_id").to_pylist() == [V_AUTO, V_MA_C, V_MA_T]
    assert engine.region(snap, "chr2", 2000, 2000).column("variant_id").to_pylist() == [
        V_MA_C,
        V_MA_T,
    ]
    assert engine.region(snap, "2", 1, 1999).num_rows == 0
    assert engine.region(snap, "M", 1, 16569).column("variant_id").to_pylist() == [V_MT]
    with pytest.raises(InvalidInputError):
        engine.region(snap, "chr1'; DROP TABLE x; --", 1, 2)
    with pytest.raises(InvalidInputError):
        engine.region(snap, "chr1", 10, 5)
    with pytest.raises(InvalidInputError):
        engine.lookup(snap, ["chr1-10-A"])


def test_carriers(engine: VariantEngine, corpus: Loaded) -> None:
    snap = corpus.snapshot
    assert [
        (c.sample_id, c.call_gt, c.call_gq) for c in engine.carriers(snap, V_AUTO, SAMPLES_T)
    ] == [
        ("F1", "1/1", 60),
        ("M1", "0/1", 50),
    ]
    # every carrier call is listed with its GQ, low or missing
    assert [(c.sample_id, c.call_gq) for c in engine.carriers(snap, V_LOWGQ, SAMPLES_T)] == [
        ("F1", None),
        ("M1", MIN_GQ - 15),
    ]
    assert engine.carriers(snap, V_DROPPED, SAMPLES_T) == []
    with pytest.raises(NotFoundError):
        engine.carriers(snap, "chr9-1-A-C", SAMPLES_T)


GENOTYPES = {
    "M1": [(V_AUTO, "het"), (V_XNP, "hemi"), (V_MA_C, "het"), (V_LOWGQ, "no_call")],
    "M2": [(V_AUTO, "hom_ref"), (V_XPAR, "hom_alt"), (V_MA_T, "hom_ref"), (V_XNP, "hom_alt")],
    "F1": [(V_AUTO, "hom_alt"), (V_MA_C, "other_alt"), (V_LOWGQ, "het"), (V_Y, "hom_ref")],
    "F2": [(V_AUTO, "no_call"), (V_MA_C, "other_alt"), (V_XNP, "hom_ref")],
    "U1": [(V_XNP, "hemi"), ("chr1-1200-A-C", "hom_ref"), ("chr1-2001-A-C", "no_call")],
    "NC": [(V_AUTO, "no_call")],
}


def test_genotypes(engine: VariantEngine, corpus: Loaded) -> None:
    for sample, expected in GENOTYPES.items():
        got = engine.genotypes(corpus.snapshot, sample, [v for v, _ in expected])
        assert [(g.variant_id, g.state) for g in got] == expected, sample
    m2 = engine.genotypes(corpus.snapshot, "M2", [V_AUTO])[0]
    assert (m2.call_gt, m2.gq, m2.dp) == (None, MIN_GQ, 25)  # from its reference block
    f2 = engine.genotypes(corpus.snapshot, "F2", [V_AUTO])[0]
    assert f2.gq == MIN_GQ - 1  # the block too weak to call


def test_duckdb_queries_from_many_threads_agree(corpus: Loaded) -> None:
    """The API answers in a thread pool over one engine: concurrent queries must not
    collide on the views they create, and each must give the single-thread answer."""
    engine = DuckDbEngine(corpus.tables, threads=2)
    try:
        alone = engine.frequencies(corpus.snapshot, SAMPLES_T).to_pylist()
        looked = engine.lookup(corpus.snapshot, [V_AUTO, V_MA_C]).to_pylist()

        def work(i: int) -> bool:
            if i % 2:
                return bool(engine.frequencies(corpus.snapshot, SAMPLES_T).to_pylist() == alone)
            return bool(engine.lookup(corpus.snapshot, [V_AUTO, V_MA_C]).to_pylist() == looked)

        with cf.ThreadPoolExecutor(max_workers=8) as pool:
            assert all(pool.map(work, range(64)))
    finally:
        engine.close()


def test_bad_arguments(corpus: Loaded) -> None:
    engine = DuckDbEngine(corpus.tables)
    snap = corpus.snapshot
    with pytest.raises(InvalidInputError, match="not both"):
        engine.frequencies(snap, SAMPLES_T, variant_ids=[V_AUTO], region=("chr1", 1, 2))
    with pytest.raises(InvalidInputError, match="sample_sex"):
        engine.frequencies(snap, samples_of([("A", "M", "x")]))
    with pytest.raises(InvalidInputError, match="more than once"):
        engine.frequencies(snap, samples_of([("A", "male", "x"), ("A", "male", "x")]))
    with pytest.raises(InvalidInputError, match="by must"):
        engine.frequencies(snap, SAMPLES_T, by=["age"])
    with pytest.raises(InvalidInputError, match="sample id"):
        engine.genotypes(snap, "x' OR 1=1", [V_AUTO])
    with pytest.raises(NotFoundError):
        engine.lookup(Snapshot(variants=99, calls=0, ref_blocks=0), [V_AUTO])
    assert Region("chrX", 1, 2).contig_names() == ("X", "chrX")
    engine.close()


# -- snapshots, deletion, interrupted ingests ------------------------------------------


def test_snapshot_round_trip_and_version_check() -> None:
    snap = Snapshot(variants=3, calls=4, ref_blocks=5)
    assert Snapshot.from_dict(snap.asdict()) == snap
    with pytest.raises(FormatError, match="format_version"):
        Snapshot.from_dict({**snap.asdict(), "format_version": 2})
    with pytest.raises(FormatError):
        Snapshot.from_dict({"format_version": 1, "variants": 1, "calls": "2", "ref_blocks": 3})
    with pytest.raises(InvalidInputError):
        Snapshot(variants=-1, calls=0, ref_blocks=0)


def test_snapshot_isolation_delete_and_time_travel(tmp_path: Path) -> None:
    tables = VariantTables.create(tmp_path / "db")
    engine = DuckDbEngine(tables)
    empty = tables.current()
    assert empty == Snapshot(0, 0, 0)
    v, c, b = corpus_rows()
    early = pa.compute.is_in(c.column("variant_id"), value_set=v.column("variant_id").slice(0, 4))
    first = tables.append(v.slice(0, 4), c.filter(early), b)
    # the second ingest repeats some sites: they are stored once
    second = tables.append(v, c.filter(pa.compute.invert(early)), b.slice(0, 0))
    assert engine.lookup(first, [V_MA_C]).num_rows == 0
    assert engine.lookup(second, [V_MA_C]).num_rows == 1
    assert engine.lookup(empty, [V_AUTO]).num_rows == 0
    # variants are stored once however often they are appended
    assert tables.read("variants", second.variants).num_rows == len(ALL_VARIANTS)
    assert len(tables.files(second)["variants"]) >= 1
    assert set(tables.files(second, since=first)["calls"]).isdisjoint(tables.files(first)["calls"])

    # reading a table at an old snapshot is unaffected by later appends
    assert engine.carriers(first, V_AUTO, samples_of([DROPPED])) == [
        engine.carriers(second, V_AUTO, samples_of([DROPPED]))[0]
    ]

    after = tables.delete_samples(["DROP"])
    everyone = samples_of([*SAMPLE_ROWS, DROPPED])
    assert [c.sample_id for c in engine.carriers(after, V_AUTO, everyone)] == ["F1", "M1"]
    assert engine.lookup(after, [V_DROPPED]).num_rows == 0  # no site left behind
    assert engine.lookup(after, [V_AUTO]).num_rows == 1
    # time travel to the snapshot before the deletion still works
    assert [c.sample_id for c in engine.carriers(second, V_AUTO, everyone)] == ["DROP", "F1", "M1"]
    assert engine.lookup(second, [V_DROPPED]).num_rows == 1
    with pytest.raises(InvalidInputError):
        tables.delete_samples(["bad id'"])
    engine.close()


def test_interrupted_ingest_is_invisible_and_discarded(tmp_path: Path) -> None:
    tables = VariantTables.create(tmp_path / "db")
    engine = DuckDbEngine(tables)
    v, c, b = corpus_rows()
    recorded = tables.append(v, c, b)
    extra = tables_of(
        [variant("chr5", 50, "A", "T", "ing2")],
        [call("Z1", "chr5-50-A-T", "0/1", alt=1, ingest="ing2")],
        [block("Z1", "chr1", 1, 5000, ingest="ing2")],
    )
    # an ingest that wrote its rows but never reached the catalog
    tables.append(*extra)
    assert engine.lookup(recorded, ["chr5-50-A-T"]).num_rows == 0
    cleaned = tables.discard_after(recorded)
    assert engine.lookup(cleaned, ["chr5-50-A-T"]).num_rows == 0
    assert engine.frequencies(cleaned, SAMPLES_T).equals(engine.frequencies(recorded, SAMPLES_T))
    # removing an ingest by id: its rows go, sites other ingests carry stay
    again = tables.append(*extra)
    assert engine.lookup(again, ["chr5-50-A-T"]).num_rows == 1
    removed = tables.remove_ingests(["ing2"])
    assert engine.lookup(removed, ["chr5-50-A-T"]).num_rows == 0
    assert tables.read("calls", removed.calls).num_rows == c.num_rows
    assert tables.read("ref_blocks", removed.ref_blocks).num_rows == b.num_rows
    engine.close()


def test_append_rejects_bad_batches(tmp_path: Path) -> None:
    tables = VariantTables.create(tmp_path / "db")
    v, c, b = corpus_rows()
    with pytest.raises(InvalidInputError, match="not in the variants batch"):
        tables.append(v.slice(1), c, b)
    with pytest.raises(InvalidInputError, match="lacks column"):
        tables.append(v.drop_columns(["variant_end"]), c, b)
    with pytest.raises(InvalidInputError, match="contig"):
        tables.append(*tables_of([variant("chr 1", 5, "A", "C")], [], []))
    with pytest.raises(InvalidInputError, match="end before"):
        tables.append(v, c, pa.Table.from_pylist([block("M1", "chr1", 10, 5)], schema=REF_BLOCKS))
    with pytest.raises(ConflictError):
        VariantTables.create(tmp_path / "db")
    with pytest.raises(NotFoundError):
        VariantTables(tmp_path / "missing")
    assert tables.current() == Snapshot(0, 0, 0)


# -- a plain-Python reading of the rules, against DuckDB --------------------------------


def reference_frequencies(
    variants: list[dict[str, Any]],
    calls: list[dict[str, Any]],
    blocks: list[dict[str, Any]],
    samples: list[tuple[str, str, str]],
) -> list[dict[str, Any]]:
    def ok(gq: int | None) -> bool:
        return gq is None or gq >= MIN_GQ

    def in_par(pos: int, pars: tuple[tuple[int, int], ...]) -> bool:
        return any(lo <= pos <= hi for lo, hi in pars)

    x_par = ((10_001, 2_781_479), (155_701_383, 156_030_895))
    y_par = ((10_001, 2_781_479), (56_887_903, 57_217_415))
    totals: dict[tuple[str, str, str], list[int]] = {}
    for v in variants:
        bare = v["variant_contig"].removeprefix("chr")
        pos = v["variant_pos"]
        for sid, sex, region in samples:
            here = [
                c
                for c in calls
                if c["sample_id"] == sid
                and c["call_contig"] == v["variant_contig"]
                and c["call_pos"] == pos
                and ok(c["call_gq"])
            ]
            cover = [
                b
                for b in blocks
                if b["sample_id"] == sid
                and b["block_contig"] == v["variant_contig"]
                and b["block_start"] <= pos <= b["block_end"]
                and ok(b["block_min_gq"])
            ]
            if not here and not cover:
                continue
            recorded = max([c["call_ploidy"] for c in here] + [b["block_ploidy"] for b in cover])
            alt = max(
                [c["call_alt_count"] for c in here if c["variant_id"] == v["variant_id"]] or [0]
            )
            sex_chrom = False
            if bare in {str(i) for i in range(1, 23)}:
                ploidy = 2
            elif bare == "X":
                if in_par(pos, x_par):
                    ploidy = 2
                else:
                    sex_chrom = True
                    ploidy = {"male": 1, "female": 2}.get(sex, recorded)
            elif bare == "Y":
                sex_chrom = True
                if sex == "female":
                    ploidy = 0
                elif sex == "male" and not in_par(pos, y_par):
                    ploidy = 1
                else:
                    ploidy = recorded
            elif bare in ("M", "MT"):
                ploidy = 1
            else:
                ploidy = recorded
            if ploidy <= 0:
                continue
            ac = min(alt, ploidy)
            adds = [
                ac,
                ploidy,
                int(ac == 2 and ploidy == 2),
                int(ac >= 1 and ploidy == 1 and sex_chrom),
                1,
            ]
            for key in (("overall", "all"), ("sex", sex), ("region", region)):
                cell = totals.setdefault((v["variant_id"], *key), [0, 0, 0, 0, 0])
                for i, n in enumerate(adds):
                    cell[i] += n
    groups = [("overall", "all")]
    groups += [("sex", s) for s in sorted({s for _, s, _ in samples})]
    groups += [("region", r) for r in sorted({r for _, _, r in samples})]
    rows = []
    for vid in sorted(v["variant_id"] for v in variants):
        for group, value in groups:
            ac, an, hom, hemi, n = totals.get((vid, group, value), [0, 0, 0, 0, 0])
            rows.append(
                {
                    "variant_id": vid,
                    "group": group,
                    "group_value": value,
                    "ac": ac,
                    "an": an,
                    "af": ac / an if an else None,
                    "hom": hom,
                    "hemi": hemi,
                    "n_samples": n,
                }
            )
    return rows


POSITIONS = {
    "chr1": [100, 101, 5000],
    "X": [10_000, 10_001, 2_781_479, 2_781_480, 155_701_383, 70_000_000],
    "chrY": [10_000, 10_001, 3_000_000],
    "chrM": [7],
    "chrUn_KI270302v1": [40],
}


@st.composite
def small_corpora(
    draw: st.DrawFn,
) -> tuple[list[Any], list[Any], list[Any], list[tuple[str, str, str]]]:
    contigs = sorted(POSITIONS)
    site_keys = draw(
        st.lists(
            st.tuples(
                st.sampled_from(contigs), st.integers(0, 5), st.sampled_from(["C", "G", "T"])
            ),
            min_size=1,
            max_size=6,
            unique_by=lambda k: (k[0], k[1] % len(POSITIONS[k[0]]), k[2]),
        )
    )
    variants = []
    for contig, index, alt in site_keys:
        pos = POSITIONS[contig][index % len(POSITIONS[contig])]
        variants.append(variant(contig, pos, "A", alt))
    n = draw(st.integers(1, 5))
    samples = [
        (
            f"s{i}",
            draw(st.sampled_from(["male", "female", "unknown"])),
            draw(st.sampled_from(["r1", "r2"])),
        )
        for i in range(n)
    ]
    gqs = st.sampled_from([None, 5, MIN_GQ - 1, MIN_GQ, 60])
    calls, blocks = [], []
    for sid, _, _ in samples:
        for v in variants:
            kind = draw(st.sampled_from(["none", "call", "block", "both"]))
            if kind in ("call", "both"):
                ploidy = draw(st.integers(1, 2))
                alt = draw(st.integers(0, ploidy))
                other = draw(st.integers(0, ploidy - alt))
                if alt + other == 0:
                    alt = 1
                alleles = ["1"] * alt + ["2"] * other + ["0"] * (ploidy - alt - other)
                calls.append(
                    call(
                        sid,
                        v["variant_id"],
                        "/".join(sorted(alleles)),
                        alt=alt,
                        other=other,
                        ploidy=ploidy,
                        gq=draw(gqs),
                    )
                )
            if kind in ("block", "both"):
                before, after = draw(st.integers(0, 3)), draw(st.integers(0, 3))
                pos = v["variant_pos"]
                if draw(st.booleans()):  # covers the site
                    start, end = max(1, pos - before), pos + after
                else:  # ends just before it
                    start, end = max(1, pos - before - 1), pos - 1
                blocks.append(
                    block(
                        sid,
                        v["variant_contig"],
                        start,
                        end,
                        ploidy=draw(st.integers(1, 2)),
                        gq=draw(gqs),
                    )
                )
    counted = [s for s in samples if draw(st.booleans())] or samples[:1]
    return variants, calls, blocks, counted


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_corpora())
def test_duckdb_matches_plain_python_reference(data: tuple[Any, Any, Any, Any]) -> None:
    variants, calls, blocks, samples = data
    with tempfile.TemporaryDirectory() as tmp:
        tables = VariantTables.create(Path(tmp) / "db", partition_by_contig=False)
        snap = tables.append(*tables_of(variants, calls, blocks))
        engine = DuckDbEngine(tables, threads=1)
        got = engine.frequencies(snap, samples_of(samples)).to_pylist()
        engine.close()
        # tiny bins: blocks span many bins of the block-to-site join, answers do not change
        binned = DuckDbEngine(tables, threads=1, bin_size=2)
        assert binned.frequencies(snap, samples_of(samples)).to_pylist() == got
        binned.close()
    assert got == reference_frequencies(variants, calls, blocks, samples)


# -- a random corpus: both engines give the same answers ------------------------------


@pytest.fixture(scope="module")
def random_db(tmp_path_factory: pytest.TempPathFactory) -> tuple[Loaded, Corpus]:
    sites = random_sites(240, seed=7)
    data = random_corpus(300, sites, seed=11)
    tables = VariantTables.create(tmp_path_factory.mktemp("random") / "db")
    snap = tables.append(data.variants, data.calls, data.blocks)
    return Loaded(tables, snap), data


@pytest.mark.spark
def test_engines_agree_on_random_corpus(
    random_db: tuple[Loaded, Corpus], request: pytest.FixtureRequest
) -> None:
    loaded, data = random_db
    snap = loaded.snapshot
    duck = make_engine("duckdb", loaded.tables, request)
    spark = make_engine("spark", loaded.tables, request)
    chosen = data.samples.slice(0, 250)  # 50 samples are not handed over
    full = duck.frequencies(snap, chosen)
    assert full.num_rows > 0
    assert sum(full.column("hemi").to_pylist()) > 0
    assert spark.frequencies(snap, chosen).equals(full)
    ids = data.variants.column("variant_id").to_pylist()
    some = ids[::17]
    assert spark.lookup(snap, some).equals(duck.lookup(snap, some))
    assert spark.region(snap, "chrX", 1, 3_000_000).equals(duck.region(snap, "chrX", 1, 3_000_000))
    assert spark.frequencies(snap, chosen, region=("chr2", 1, 20_000_000)).equals(
        duck.frequencies(snap, chosen, region=("chr2", 1, 20_000_000))
    )
    assert spark.carriers(snap, ids[3], chosen) == duck.carriers(snap, ids[3], chosen)
    sample = chosen.column("sample_id")[5].as_py()
    assert spark.genotypes(snap, sample, some) == duck.genotypes(snap, sample, some)
    duck.close()
    spark.close()


# -- incremental counts ------------------------------------------------------------------


def test_incremental_counts_equal_full_recompute(tmp_path: Path) -> None:
    sites = random_sites(150, seed=3)
    tables = VariantTables.create(tmp_path / "db")
    engine = DuckDbEngine(tables, threads=2)
    counts = FrequencyCounts(tables, engine)
    assert counts.state().snapshot is None
    batches = [
        random_corpus(40, sites, seed=20 + i, first=40 * i, ingest=f"ing{i}") for i in range(3)
    ]
    everyone = pa.concat_tables([b.samples for b in batches])
    seen = SAMPLES.empty_table()
    for batch in batches:
        snap = tables.append(batch.variants, batch.calls, batch.blocks)
        seen = pa.concat_tables([seen, batch.samples])
        state = counts.update_counts(batch.samples.column("sample_id").to_pylist(), seen, snap)
        assert state.snapshot == snap
        assert state.n_samples == seen.num_rows
        # new sites of this batch were counted for the old samples too
        assert counts.frequencies_from_counts().equals(engine.frequencies(snap, seen))
    assert tables.read("variants", snap.variants).num_rows > batches[0].variants.num_rows

    # opted-out samples are subtracted on the fly
    excluded = everyone.take([0, 7, 45, 100, 119])
    remaining = everyone.filter(
        pa.compute.invert(
            pa.compute.is_in(everyone.column("sample_id"), value_set=excluded.column("sample_id"))
        )
    )
    assert counts.frequencies_from_counts(exclude=excluded).equals(
        engine.frequencies(snap, remaining)
    )
    region = ("chrX", 1, 80_000_000)
    assert counts.frequencies_from_counts(region=region, exclude=excluded, by=["sex"]).equals(
        engine.frequencies(snap, remaining, region=region, by=["sex"])
    )

    # a withdrawal: rows deleted, counts corrected from the old snapshot
    gone = ["S00003", "S00050"]
    after = tables.delete_samples(gone)
    left = everyone.filter(
        pa.compute.invert(pa.compute.is_in(everyone.column("sample_id"), value_set=pa.array(gone)))
    )
    with pytest.raises(ConflictError, match="rewritten"):
        counts.update_counts([], everyone, after)
    counts.remove_samples(gone, everyone, after)
    assert counts.frequencies_from_counts().equals(engine.frequencies(after, left))
    assert counts.counted_samples() == sorted(left.column("sample_id").to_pylist())
    engine.close()


def test_counts_refuse_inconsistent_updates(tmp_path: Path) -> None:
    sites = random_sites(40, seed=5)
    tables = VariantTables.create(tmp_path / "db")
    engine = DuckDbEngine(tables, threads=1)
    counts = FrequencyCounts(tables, engine)
    with pytest.raises(NotFoundError):
        counts.frequencies_from_counts()
    one = random_corpus(5, sites, seed=1)
    two = random_corpus(5, sites, seed=2, first=5, ingest="ing2")
    snap = tables.append(one.variants, one.calls, one.blocks)
    with pytest.raises(InvalidInputError, match="not in new_sample_ids"):
        counts.update_counts(one.samples.column("sample_id").to_pylist()[1:], one.samples, snap)
    counts.update_counts(one.samples.column("sample_id").to_pylist(), one.samples, snap)
    with pytest.raises(ConflictError, match="already counted"):
        counts.update_counts(["S00000"], one.samples, snap)
    snap2 = tables.append(two.variants, two.calls, two.blocks)
    with pytest.raises(InvalidInputError, match="counted sample"):
        counts.update_counts(two.samples.column("sample_id").to_pylist(), two.samples, snap2)
    with pytest.raises(InvalidInputError, match="not counted"):
        counts.frequencies_from_counts(exclude=two.samples)
    with pytest.raises(ConflictError, match="appended"):
        counts.remove_samples(["S00000"], one.samples, snap2)
    engine.close()


# -- family sites (case analysis) ----------------------------------------------------------


def _family_states(
    engine: VariantEngine, snap: Snapshot, proband: str, relatives: list[str]
) -> list[Any]:
    table = engine.family_sites(snap, proband, relatives)
    return [
        (r["variant_id"], *(r[f"r{i}_state"] for i in range(len(relatives))))
        for r in table.to_pylist()
    ]


def _expected_family(
    engine: VariantEngine, snap: Snapshot, proband: str, relatives: list[str]
) -> list[Any]:
    calls = engine.tables.read("calls", snap.calls).to_pylist()
    carried = sorted(
        (c["call_contig"], c["call_pos"], c["variant_id"])
        for c in calls
        if c["sample_id"] == proband and c["call_alt_count"] > 0
    )
    ids = [vid for _, _, vid in carried]
    states = [
        [g.state for g in engine.genotypes(snap, rel, ids)] if ids else [] for rel in relatives
    ]
    return [(vid, *(s[k] for s in states)) for k, vid in enumerate(ids)]


def test_family_sites_agree_with_genotypes(engine: VariantEngine, corpus: Loaded) -> None:
    for proband, relatives in (("F1", ["M1", "F2"]), ("M1", ["M2", "U1"]), ("U1", [])):
        got = _family_states(engine, corpus.snapshot, proband, relatives)
        assert got == _expected_family(engine, corpus.snapshot, proband, relatives), proband
        assert got, proband


def test_family_sites_regions_and_errors(corpus: Loaded) -> None:
    engine = DuckDbEngine(corpus.tables)
    snap = corpus.snapshot
    whole = engine.family_sites(snap, "F1", ["M1"])
    chr1 = engine.family_sites(snap, "F1", ["M1"], regions=[("chr1", 1, 10_000_000)])
    assert chr1.num_rows == sum(
        1 for c in whole.column("variant_contig").to_pylist() if c == "chr1"
    )
    assert engine.family_sites(snap, "F1", ["M1"], regions=[]).num_rows == 0
    with pytest.raises(InvalidInputError, match="different samples"):
        engine.family_sites(snap, "F1", ["F1"])
    with pytest.raises(InvalidInputError, match="start"):
        engine.family_sites(snap, "F1", [], regions=[("chr1", 5, 1)])
    with pytest.raises(InvalidInputError, match="sample id"):
        engine.family_sites(snap, "x' OR 1=1", [])


@pytest.mark.spark
def test_family_sites_engines_agree_on_random_corpus(
    random_db: tuple[Loaded, Corpus], request: pytest.FixtureRequest
) -> None:
    loaded, data = random_db
    duck = make_engine("duckdb", loaded.tables, request)
    spark = make_engine("spark", loaded.tables, request)
    ids = data.samples.column("sample_id").to_pylist()
    for proband, rels in ((ids[0], ids[1:3]), (ids[7], [ids[8]])):
        expected = _expected_family(duck, loaded.snapshot, proband, rels)
        assert _family_states(duck, loaded.snapshot, proband, rels) == expected
        assert _family_states(spark, loaded.snapshot, proband, rels) == expected
        assert len(expected) > 10
    duck.close()
    spark.close()
