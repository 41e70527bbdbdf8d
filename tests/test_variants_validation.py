"""Allele counts of the genome database against independent tools.

Every single-sample file goes through the adapters (``read_sample_vcf`` ->
``VariantTables.append`` -> an engine's ``frequencies``); the counts must equal what
``bcftools +fill-tags`` (and ``plink2 --freq``) compute from the multi-sample VCF:

* a simulated cohort (msprime, gVCF reference blocks with coverage gaps; the merged
  VCF has ``./.`` inside the gaps, so bcftools' AN is helgenom's covered AN) on an
  autosome and on chrX outside the PARs (males hemizygous), per ALT allele: AC, AN,
  homozygotes and hemizygotes, overall and per sex and region (``fill-tags -S``), by a
  full DuckDB recompute, by the incremental ``FrequencyCounts`` and by Spark;
* the 1000 Genomes panel slice of the shared test data (``../shared/testdata``): the
  first :data:`PANEL_SAMPLES` samples split into single-sample files, ingested against
  the mini-reference padded with N to full chr22 coordinates.

The tools are the Debian ones (``/usr/bin/bcftools`` with its plugins, ``plink2`` on
PATH). Tests marked ``bcftools`` skip when bcftools or its fill-tags plugin is missing,
unless ``HELGENOM_REQUIRE_BCFTOOLS=1`` (then they fail); the plink2 comparison skips
without plink2 unless ``HELGENOM_REQUIRE_PLINK2=1``; the Spark test skips without
PySpark/Java unless ``HELGENOM_REQUIRE_SPARK=1``.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pysam
import pytest

from conftest import SHARED_TESTDATA
from helgenom.adapters.variants.cohort import Cohort, simulate_cohort
from helgenom.adapters.variants.duckdb_engine import DuckDbEngine
from helgenom.adapters.variants.engine import FrequencyCounts, VariantEngine
from helgenom.adapters.variants.schema import SAMPLES
from helgenom.adapters.variants.tables import Snapshot, VariantTables
from helgenom.adapters.variants.vcfin import IngestBatch, read_sample_vcf

BCFTOOLS = Path("/usr/bin/bcftools")
REQUIRE_BCFTOOLS = os.environ.get("HELGENOM_REQUIRE_BCFTOOLS") == "1"
REQUIRE_PLINK2 = os.environ.get("HELGENOM_REQUIRE_PLINK2") == "1"

PANEL = SHARED_TESTDATA / "nfcore" / "chr22_16.57-16.61Mb_fullcoords" / "1000GP.chr22.vcf.gz"
MINI_REFERENCE = SHARED_TESTDATA / "nfcore" / "chr22_40kb_local" / "reference" / "genome.fasta"
CHR22_LENGTH = 50_818_468
"""GRCh38 chr22 (the panel's coordinates)."""
MINI_OFFSET = 16_569_999
"""Full chr22 position = mini-reference position + this (MANIFEST.md)."""
PANEL_SAMPLES = int(os.environ.get("HELGENOM_PANEL_SAMPLES", "200"))
"""How many of the panel's 3,202 samples (the first ones) the panel test ingests."""

REGIONS = ("north", "south")
"""Regions given to the simulated samples (alternating); plain names, so that the
fill-tags group tags are AC_north, AN_south, ..."""

Counts = dict[tuple[str, str, str], tuple[int, int, int, int]]
"""(variant_id, group, group_value) -> (ac, an, hom, hemi)."""


# -- the external tools ------------------------------------------------------------------


def bcftools_missing() -> str | None:
    """Why the Debian bcftools with its fill-tags plugin cannot run (None: it can)."""
    if not os.access(BCFTOOLS, os.X_OK):
        return f"needs Debian bcftools at {BCFTOOLS} (apt-get install bcftools)"
    listed = subprocess.run(
        [str(BCFTOOLS), "plugin", "-l"], capture_output=True, text=True, check=False
    )
    if "fill-tags" not in listed.stdout + listed.stderr:
        return f"{BCFTOOLS} has no fill-tags plugin (set BCFTOOLS_PLUGINS or install bcftools)"
    return None


def require_bcftools() -> None:
    reason = bcftools_missing()
    if reason is not None:
        if REQUIRE_BCFTOOLS:
            pytest.fail(f"HELGENOM_REQUIRE_BCFTOOLS=1 but {reason}")
        pytest.skip(reason)


def require_plink2() -> str:
    found = shutil.which("plink2")
    if found is None:
        reason = "plink2 is not on PATH, so the plink2 --freq comparison is skipped"
        if REQUIRE_PLINK2:
            pytest.fail(f"HELGENOM_REQUIRE_PLINK2=1 but {reason}")
        pytest.skip(reason)
    return found


def pipeline(*commands: list[str]) -> str:
    """Run ``commands`` as a pipe (bash, pipefail); the last one's stdout."""
    script = "set -euo pipefail; " + " | ".join(shlex.join(c) for c in commands)
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"{script} failed: {done.stderr[-2000:]}"
    return done.stdout


def fill_tags(vcf: Path, groups: Mapping[str, tuple[str, ...]] | None, workdir: Path) -> Counts:
    """``bcftools +fill-tags -- -t AC,AN,AC_Hom,AC_Hemi [-S groups]`` of ``vcf``, per ALT.

    ``groups`` maps a sample to its groups (its sex, its region); the result has an
    ``overall``/``all`` entry per ALT and one per (kind, group) as helgenom names them.
    Helgenom counts a homozygote once and bcftools' AC_Hom its two alleles: hom is
    AC_Hom / 2 (diploid only; haploid carriers are AC_Hemi).
    """
    tags = "AC,AN,AC_Hom,AC_Hemi"
    kinds: dict[str, str] = {}
    command = [str(BCFTOOLS), "+fill-tags", str(vcf), "-Ou", "--", "-t", tags]
    if groups:
        listing = workdir / "fill-tags-groups.txt"
        listing.write_text(
            "".join(f"{sample}\t{','.join(names)}\n" for sample, names in groups.items()),
            encoding="ascii",
        )
        command += ["-S", str(listing)]
        for names in groups.values():
            kinds.update({names[0]: "sex", names[1]: "region"})
    suffixes = {("overall", "all"): ""} | {(kind, g): f"_{g}" for g, kind in kinds.items()}
    columns = [f"%{t}{s}" for s in suffixes.values() for t in ("AC", "AN", "AC_Hom", "AC_Hemi")]
    query = "%CHROM\t%POS\t%REF\t%ALT\t" + "\t".join(columns) + "\n"
    text = pipeline(command, [str(BCFTOOLS), "query", "-f", query])
    out: Counts = {}
    for line in text.splitlines():
        chrom, pos, ref, alts, *values = line.split("\t")
        alt_list = alts.split(",")
        for k, key in enumerate(suffixes):
            ac, an, ac_hom, ac_hemi = values[4 * k : 4 * k + 4]
            for j, alt in enumerate(alt_list):
                hom_alleles = int(ac_hom.split(",")[j])
                assert hom_alleles % 2 == 0
                out[(f"{chrom}-{pos}-{ref}-{alt}", *key)] = (
                    int(ac.split(",")[j]),
                    int(an),
                    hom_alleles // 2,
                    int(ac_hemi.split(",")[j]),
                )
    return out


def helgenom_counts(frequencies: pa.Table) -> Counts:
    return {
        (r["variant_id"], r["group"], r["group_value"]): (r["ac"], r["an"], r["hom"], r["hemi"])
        for r in frequencies.to_pylist()
    }


def assert_same_counts(found: Counts, expected: Counts, *, fields: int = 4) -> None:
    """Every helgenom row equals the tool's; every ALT the tool counts (AC > 0) is there.

    A site whose carriers all sit in coverage gaps is absent from helgenom (no call
    row); an ALT of a multi-allelic site may be present with AC 0 (a sample carried
    another ALT there). ``fields`` compares only the first values (2: AC and AN).
    """
    assert found, "helgenom counted nothing"
    unknown = sorted(set(found) - set(expected))
    assert not unknown, f"{len(unknown)} rows the tool does not have, e.g. {unknown[:3]}"
    differ = [
        (key, found[key][:fields], expected[key][:fields])
        for key in sorted(found)
        if found[key][:fields] != expected[key][:fields]
    ]
    assert not differ, f"{len(differ)} of {len(found)} rows differ (found, tool): {differ[:5]}"
    missing = sorted(
        key
        for key, value in expected.items()
        if key[1] == "overall" and value[0] > 0
        if key not in found
    )
    assert not missing, f"{len(missing)} ALT alleles with AC > 0 are missing: {missing[:5]}"


# -- ingest through the adapters ---------------------------------------------------------


@dataclass
class Loaded:
    """A cohort ingested sample by sample into Delta tables."""

    cohort: Cohort
    tables: VariantTables
    snapshot: Snapshot
    samples: pa.Table
    """Every sample (SAMPLES schema): sex as simulated, region alternating."""
    counts: FrequencyCounts
    """Updated after each group of samples (DuckDB)."""
    batches: list[IngestBatch]


def read_all(
    files: list[tuple[str, Path]],
    reference: Path,
    contigs: Mapping[str, int],
    workdir: Path,
) -> list[IngestBatch]:
    return [
        read_sample_vcf(
            path,
            sample_name=name,
            reference_fasta=reference,
            contigs=contigs,
            ingest_id=f"ING-{i:05d}",
            sample_id=name,
            workdir=workdir,
        )
        for i, (name, path) in enumerate(files)
    ]


def append(tables: VariantTables, batches: list[IngestBatch]) -> Snapshot:
    return tables.append(
        pa.concat_tables([b.variants for b in batches]),
        pa.concat_tables([b.calls for b in batches]),
        pa.concat_tables([b.ref_blocks for b in batches]),
    )


def ingest_cohort(cohort: Cohort, root: Path, *, groups: int = 2) -> Loaded:
    """Every per-sample gVCF through read_sample_vcf; appended and counted in ``groups``."""
    batches = read_all(
        list(zip(cohort.samples, cohort.sample_vcfs, strict=True)),
        cohort.reference_fasta,
        cohort.contigs,
        root / "work",
    )
    samples = pa.table(
        {
            "sample_id": list(cohort.samples),
            "sample_sex": list(cohort.sexes),
            "sample_region": [REGIONS[i % 2] for i in range(len(cohort.samples))],
        },
        schema=SAMPLES,
    )
    tables = VariantTables.create(root / "db")
    engine = DuckDbEngine(tables, threads=2)
    counts = FrequencyCounts(tables, engine)
    size = -(-len(batches) // groups)
    snapshot = tables.current()
    for start in range(0, len(batches), size):
        group = batches[start : start + size]
        snapshot = append(tables, group)
        counts.update_counts([b.sample_id for b in group], samples, snapshot)
    return Loaded(cohort, tables, snapshot, samples, counts, batches)


CASES: dict[str, dict[str, Any]] = {
    # seed 4 gives two multi-allelic sites (split by bcftools norm on ingest)
    "autosome": {"contig": "chr22", "samples": 40, "length": 200_000, "seed": 4},
    # chrX 1-10,000 lies before PAR1 (10,001-2,781,479): males are hemizygous
    "chrX": {"contig": "chrX", "samples": 40, "length": 10_000, "seed": 3},
}


def build_case(name: str, factory: pytest.TempPathFactory) -> Loaded:
    root = factory.mktemp(f"validation-{name}")
    cohort = simulate_cohort(root / "cohort", gvcf=True, gap_fraction=0.3, **CASES[name])
    return ingest_cohort(cohort, root)


@pytest.fixture(scope="module")
def autosome(tmp_path_factory: pytest.TempPathFactory) -> Loaded:
    return build_case("autosome", tmp_path_factory)


@pytest.fixture(scope="module")
def chrx(tmp_path_factory: pytest.TempPathFactory) -> Loaded:
    return build_case("chrX", tmp_path_factory)


@pytest.fixture(scope="module")
def tool_counts() -> dict[str, Counts]:
    """fill-tags counts per merged VCF, computed once per module."""
    return {}


def expected_of(loaded: Loaded, cache: dict[str, Counts], workdir: Path) -> Counts:
    key = str(loaded.cohort.merged_vcf)
    if key not in cache:
        groups = {
            row["sample_id"]: (row["sample_sex"], row["sample_region"])
            for row in loaded.samples.to_pylist()
        }
        cache[key] = fill_tags(loaded.cohort.merged_vcf, groups, workdir)
    return cache[key]


# -- simulated cohort ------------------------------------------------------------------


@pytest.mark.bcftools
@pytest.mark.parametrize("case", ["autosome", "chrX"])
def test_simulated_cohort_matches_bcftools_fill_tags(
    case: str, request: pytest.FixtureRequest, tool_counts: dict[str, Counts], tmp_path: Path
) -> None:
    require_bcftools()
    loaded: Loaded = request.getfixturevalue("autosome" if case == "autosome" else "chrx")
    expected = expected_of(loaded, tool_counts, tmp_path)
    engine = DuckDbEngine(loaded.tables, threads=2)
    try:
        full = engine.frequencies(loaded.snapshot, loaded.samples)
    finally:
        engine.close()
    found = helgenom_counts(full)
    assert_same_counts(found, expected)
    overall = {k: v for k, v in found.items() if k[1] == "overall"}
    # the cohort exercises what it is meant to: gaps lower AN, and the per-case features
    assert any(an < 2 * len(loaded.cohort.samples) for _ac, an, _h, _m in overall.values())
    if case == "chrX":
        assert sum(v[3] for v in overall.values()) > 0, "no hemizygous carrier counted"
        assert any(v[1] % 2 for v in overall.values()), "males should add 1 to AN"
    else:
        positions = [k[0].rsplit("-", 2)[0] for k in overall]
        assert len(positions) > len(set(positions)), "no multi-allelic site in the cohort"
        assert sum(v[2] for v in overall.values()) > 0
    # the incremental sums (two groups of samples) give the same answer
    assert helgenom_counts(loaded.counts.frequencies_from_counts()) == found
    # and the records read are the files' data lines
    for batch, path in zip(loaded.batches, loaded.cohort.sample_vcfs, strict=True):
        with pysam.VariantFile(str(path)) as vcf:
            assert batch.records == sum(1 for _ in vcf)


@pytest.mark.bcftools
def test_simulated_cohort_matches_plink2_freq(autosome: Loaded, tmp_path: Path) -> None:
    plink2 = require_plink2()
    out = tmp_path / "freq"
    done = subprocess.run(
        [
            plink2,
            "--vcf",
            str(autosome.cohort.merged_vcf),
            "--freq",
            "counts",
            "cols=+pos",
            "--threads",
            "1",
            "--memory",
            "1000",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    expected: Counts = {}
    contig = autosome.cohort.contig
    with Path(f"{out}.acount").open(encoding="ascii") as acount:
        header = acount.readline().lstrip("#").rstrip("\n").split("\t")
        for line in acount:
            row = dict(zip(header, line.rstrip("\n").split("\t"), strict=True))
            for alt, count in zip(row["ALT"].split(","), row["ALT_CTS"].split(","), strict=True):
                key = (f"{contig}-{row['POS']}-{row['REF']}-{alt}", "overall", "all")
                expected[key] = (int(count), int(row["OBS_CT"]), 0, 0)
    engine = DuckDbEngine(autosome.tables, threads=2)
    try:
        full = engine.frequencies(autosome.snapshot, autosome.samples, by=["overall"])
    finally:
        engine.close()
    assert_same_counts(helgenom_counts(full), expected, fields=2)


# -- Spark -------------------------------------------------------------------------------


@pytest.mark.spark
@pytest.mark.bcftools
def test_spark_matches_bcftools_fill_tags(
    autosome: Loaded, spark_session: Any, tool_counts: dict[str, Counts], tmp_path: Path
) -> None:
    require_bcftools()
    from helgenom.adapters.variants.spark_engine import SparkEngine

    expected = expected_of(autosome, tool_counts, tmp_path)
    spark: VariantEngine = SparkEngine(autosome.tables, session=spark_session)
    duck = DuckDbEngine(autosome.tables, threads=2)
    try:
        got = spark.frequencies(autosome.snapshot, autosome.samples)
        assert_same_counts(helgenom_counts(got), expected)
        assert got.equals(duck.frequencies(autosome.snapshot, autosome.samples))
    finally:
        spark.close()
        duck.close()


# -- the 1000 Genomes panel ----------------------------------------------------------------


def padded_chr22(target: Path) -> Path:
    """The chr22 mini-reference placed at its full coordinates in N (GRCh38 length)."""
    with pysam.FastaFile(str(MINI_REFERENCE)) as mini:
        bases = mini.fetch("chr22")
    sequence = "N" * MINI_OFFSET + bases + "N" * (CHR22_LENGTH - MINI_OFFSET - len(bases))
    assert len(sequence) == CHR22_LENGTH
    with target.open("w", encoding="ascii") as out:
        out.write(">chr22\n")
        out.write("\n".join(sequence[i : i + 60] for i in range(0, CHR22_LENGTH, 60)))
        out.write("\n")
    pysam.faidx(str(target))
    return target


@pytest.mark.bcftools
def test_1000_genomes_panel_matches_bcftools_fill_tags(tmp_path: Path) -> None:
    if not PANEL.exists() or not MINI_REFERENCE.exists():
        pytest.skip(f"needs the shared test data ({PANEL.parent}, {MINI_REFERENCE.parent})")
    require_bcftools()
    bcftools = str(BCFTOOLS)
    names = pipeline([bcftools, "query", "-l", str(PANEL)]).split()[:PANEL_SAMPLES]
    assert len(names) == PANEL_SAMPLES
    chosen = tmp_path / "samples.txt"
    chosen.write_text("".join(f"{n}\n" for n in names), encoding="ascii")
    split = tmp_path / "split"
    # one single-sample VCF per person, INFO dropped (it holds the panel's own counts)
    pipeline(
        [bcftools, "view", "-S", str(chosen), "-Ou", str(PANEL)],
        [bcftools, "annotate", "-x", "INFO", "-Ou", "-"],
        [bcftools, "+split", "-Oz", "-o", str(split), "-"],
    )
    files = [(n, split / f"{n}.vcf.gz") for n in names]
    reference = padded_chr22(tmp_path / "chr22.fa")
    batches = read_all(files, reference, {"chr22": CHR22_LENGTH}, tmp_path / "work")
    records = {b.records for b in batches}
    assert records == {903}, records
    assert all(b.records_normalised == 0 for b in batches)  # biallelic SNVs only
    tables = VariantTables.create(tmp_path / "db")
    snapshot = append(tables, batches)
    samples = pa.table(
        {"sample_id": names, "sample_sex": ["unknown"] * len(names)}
        | {"sample_region": ["unknown"] * len(names)},
        schema=SAMPLES,
    )
    engine = DuckDbEngine(tables, threads=2)
    try:
        found = helgenom_counts(engine.frequencies(snapshot, samples, by=["overall"]))
    finally:
        engine.close()
    text = pipeline(
        [bcftools, "view", "-S", str(chosen), "-Ou", str(PANEL)],
        [bcftools, "+fill-tags", "-Ou", "-", "--", "-t", "AC,AN,AC_Hom"],
        [bcftools, "query", "-f", "%CHROM\t%POS\t%REF\t%ALT\t%AC\t%AN\t%AC_Hom\n"],
    )
    expected: Counts = {}
    for line in text.splitlines():
        chrom, pos, ref, alt, ac, an, ac_hom = line.split("\t")
        expected[(f"{chrom}-{pos}-{ref}-{alt}", "overall", "all")] = (
            int(ac),
            int(an),
            int(ac_hom) // 2,
            0,
        )
    assert len(expected) == 903
    assert_same_counts(found, expected)
    # no GQ in the panel: every 0|0 record is a covered reference block, so AN is 2N
    assert {v[1] for v in found.values()} == {2 * PANEL_SAMPLES}
