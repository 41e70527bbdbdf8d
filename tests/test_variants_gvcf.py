"""Real HaplotypeCaller gVCFs (nf-core chr22 test data): AN follows their reference blocks.

Two samples (testN, testT) are ingested into one database; at every site one of them
carries, the other counts in AN only when its own gVCF covers the position with a block
(or call) of GQ >= 20. The expectation is read straight from the raw gVCF with pysam,
independently of the ingest code.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pysam
import pytest

from helgenom.adapters.variants.duckdb_engine import DuckDbEngine
from helgenom.adapters.variants.schema import MIN_GQ, SAMPLES
from helgenom.adapters.variants.tables import VariantTables
from helgenom.adapters.variants.vcfin import read_sample_vcf

CHR22 = Path(__file__).resolve().parents[2] / "shared" / "testdata" / "nfcore" / "chr22_40kb_local"
GVCFS = {"testN": "test.genome.vcf.gz", "testT": "test2.genome.vcf.gz"}


@pytest.fixture
def kit() -> Path:
    folder = CHR22 / "variants" / "calls_chr22local"
    if not all((folder / name).exists() for name in GVCFS.values()):
        pytest.skip(f"needs the shared test-data kit at {CHR22} (../shared/testdata)")
    return CHR22


def covered_with_gq(gvcf: Path, pos: int) -> bool:
    """Whether the raw gVCF has a record covering ``pos`` with GQ >= MIN_GQ (block or call)."""
    with pysam.VariantFile(str(gvcf)) as records:
        for record in records.fetch("chr22", pos - 1, pos):
            end = record.stop  # END for blocks, the REF span for calls
            if not record.start < pos <= end:
                continue
            sample = record.samples[0]
            gt = [a for a in (sample.get("GT") or ()) if a is not None]
            gq = sample.get("GQ")
            if gt and (gq is None or gq >= MIN_GQ):
                return True
    return False


def test_an_reflects_the_gvcf_reference_blocks(kit: Path, tmp_path: Path) -> None:
    batches = [
        read_sample_vcf(
            kit / "variants" / "calls_chr22local" / name,
            sample_name=sample,
            reference_fasta=kit / "reference" / "genome.fasta",
            contigs={"chr22": 40_001},
            ingest_id=f"ING-{sample}",
            sample_id=sample,
            workdir=tmp_path,
        )
        for sample, name in GVCFS.items()
    ]
    tables = VariantTables.create(tmp_path / "db")
    snapshot = tables.append(
        pa.concat_tables([b.variants for b in batches]),
        pa.concat_tables([b.calls for b in batches]),
        pa.concat_tables([b.ref_blocks for b in batches]),
    )
    samples = pa.table(
        {
            "sample_id": list(GVCFS),
            "sample_sex": ["unknown", "unknown"],
            "sample_region": ["unknown", "unknown"],
        },
        schema=SAMPLES,
    )
    engine = DuckDbEngine(tables)
    rows = engine.frequencies(snapshot, samples, by=["overall"]).to_pylist()
    engine.close()
    assert rows
    checked = partial = 0
    for row in rows:
        pos = int(str(row["variant_id"]).split("-")[1])
        expected = sum(
            2
            for sample, name in GVCFS.items()
            if covered_with_gq(kit / "variants" / "calls_chr22local" / name, pos)
        )
        assert row["an"] == expected, row
        checked += 1
        partial += expected < 4
    assert checked >= 5
    assert partial >= 1, "at least one site where a sample lacks confident coverage"
