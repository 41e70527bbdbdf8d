"""The national genome database as users reach it: ingest, frequencies for a purpose,
consent applied per query, releases, withdrawal, person-level queries and the CLI.

One simulated cohort (msprime, gVCF reference blocks with coverage gaps) serves every
test; each test gets its own instance (SQLite; PostgreSQL for the end-to-end test).
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pysam
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from conftest import World, make_cpr, require_spark
from helgenom.adapters.catalog.schema import audit_log, variant_commits, variant_ingests
from helgenom.adapters.variants.cohort import Cohort, simulate_cohort
from helgenom.cli.main import app
from helgenom.core.consent import ResearchChoice
from helgenom.core.errors import (
    ConflictError,
    FormatError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
)
from helgenom.core.models import Sex
from helgenom.services.platform import Platform
from helgenom.services.variants import BatchItem, FrequencySet, parse_batch_list

REGIONS = ("DK-84", "DK-85")


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> Cohort:
    return simulate_cohort(
        tmp_path_factory.mktemp("cohort"),
        samples=12,
        length=30_000,
        seed=11,
        gvcf=True,
        gap_fraction=0.25,
    )


@dataclass
class Enrolled:
    """The cohort's individuals as registered persons with samples."""

    cprs: list[str]
    sample_ids: list[str]
    items: list[BatchItem]


def enrol(world: World, cohort: Cohort, count: int | None = None) -> Enrolled:
    """Register persons (sex as simulated, alternating regions), requisitions and samples;
    load the cohort's reference."""
    p = world.platform
    clinician = p.context("clin-a")
    p.references.load(p.context("operator"), cohort.reference_fasta, build="SIM")
    cprs, sample_ids, items = [], [], []
    for i, (name, sex, vcf) in enumerate(
        zip(cohort.samples, cohort.sexes, cohort.sample_vcfs, strict=True)
    ):
        if count is not None and i >= count:
            break
        cpr = make_cpr(200 + i, Sex(sex))
        p.persons.register(clinician, cpr, region=REGIONS[i % 2])
        requisition = p.requisitions.create(clinician, cpr, indication="R59")
        from helgenom.core.models import SampleOrigin

        sample_id = p.samples.register(
            clinician, cpr, origin=SampleOrigin.CLINICAL, requisition=requisition
        )
        cprs.append(cpr)
        sample_ids.append(sample_id)
        items.append(BatchItem(sample_id, path=vcf, vcf_sample=name))
    return Enrolled(cprs, sample_ids, items)


def overall(rows: Sequence[dict[str, object]]) -> dict[str, tuple[object, ...]]:
    return {
        str(r["variant_id"]): (r["ac"], r["an"], r["hom"], r["hemi"])
        for r in rows
        if r["group"] == "overall"
    }


def truth_overall(cohort: Cohort) -> dict[str, tuple[int, int]]:
    """AC and AN per variant from the merged VCF (every sample covered: no gaps there)."""
    counts: dict[str, tuple[int, int]] = {}
    with pysam.VariantFile(str(cohort.merged_vcf)) as merged:
        for record in merged:
            for index, alt in enumerate(record.alts or (), start=1):
                ac = an = 0
                for sample in record.samples.values():
                    alleles = [a for a in sample["GT"] if a is not None]
                    an += len(alleles)
                    ac += sum(1 for a in alleles if a == index)
                counts[f"{record.chrom}-{record.pos}-{record.ref}-{alt}"] = (ac, an)
    return counts


def audit_rows(p: Platform, action: str) -> list[sa.Row[tuple[object, ...]]]:
    with p.catalog.engine.connect() as conn:
        return list(
            conn.execute(
                sa.select(audit_log).where(audit_log.c.action == action).order_by(audit_log.c.seq)
            ).all()
        )


# --- ingest ---------------------------------------------------------------------------------


def test_ingest_commits_once_and_a_repeat_changes_nothing(world: World, cohort: Cohort) -> None:
    p = world.platform
    enrolled = enrol(world, cohort, 3)
    operator = p.context("operator")
    item = enrolled.items[0]
    first = p.variants.ingest(operator, item.sample_id, path=item.path, vcf_sample=item.vcf_sample)
    assert first.status == "committed"
    assert first.calls > 0
    assert first.ref_blocks > 0
    assert first.variants_new > 0
    again = p.variants.ingest(operator, item.sample_id, path=item.path, vcf_sample=item.vcf_sample)
    assert (again.status, again.ingest_id, again.commit_seq) == (
        "unchanged",
        first.ingest_id,
        first.commit_seq,
    )
    with p.catalog.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(variant_commits)).scalar() == 1
    other = enrolled.items[1]
    with pytest.raises(ConflictError, match="ingested from another file"):
        p.variants.ingest(operator, item.sample_id, path=other.path, vcf_sample=other.vcf_sample)
    entries = audit_rows(p, "variant.ingest")
    assert [e.decision for e in entries] == ["allow", "allow"]
    assert "commit 1" in entries[0].reason
    assert "nothing changed" in entries[1].reason
    for actor in ("clin-a", "researcher", "steward"):
        with pytest.raises(PermissionDeniedError):
            p.variants.ingest(
                p.context(actor), item.sample_id, path=item.path, vcf_sample=item.vcf_sample
            )


def test_a_bad_file_is_rejected_and_nothing_is_written(
    world: World, cohort: Cohort, tmp_path: Path
) -> None:
    p = world.platform
    enrolled = enrol(world, cohort, 1)
    operator = p.context("operator")
    sample_id = enrolled.sample_ids[0]
    with pytest.raises(FormatError, match="SAMPLE_0001"):
        p.variants.ingest(operator, sample_id, path=cohort.sample_vcfs[0])  # name differs
    broken = tmp_path / "broken.vcf"
    text = gzip.decompress(cohort.sample_vcfs[0].read_bytes()).decode()
    broken.write_text(
        text.replace(f"\t{cohort.contig}\t", "\tchrNOPE\t", 1).replace(
            f"\n{cohort.contig}\t", "\nchrNOPE\t", 1
        )
    )
    with pytest.raises(FormatError):
        p.variants.ingest(operator, sample_id, path=broken, vcf_sample="SAMPLE_0001")
    with pytest.raises(NotFoundError, match="no file"):
        p.variants.ingest(operator, sample_id, path=tmp_path / "absent.vcf")
    with pytest.raises(InvalidInputError, match="exactly one"):
        p.variants.ingest(operator, sample_id)
    with p.catalog.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(variant_commits)).scalar() == 0
        committed = conn.execute(
            sa.select(sa.func.count())
            .select_from(variant_ingests)
            .where(variant_ingests.c.status == "committed")
        ).scalar()
    assert committed == 0
    with pytest.raises(NotFoundError, match="empty"):
        p.variants.lookup(operator, ["chr22-100-A-G"])
    leftovers = list((world.platform.settings.home / "work").glob("variants-*"))
    assert leftovers == []


def test_batch_ingest_resumes_after_an_interruption(
    world: World, cohort: Cohort, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = world.platform
    enrolled = enrol(world, cohort)
    operator = p.context("operator")
    listing = tmp_path / "batch.tsv"
    listing.write_text(
        "# sample\tfile\tvcf sample\n"
        + "".join(f"{i.sample_id}\t{i.path}\t{i.vcf_sample}\n" for i in enrolled.items)
    )
    items = parse_batch_list(listing)
    assert items == enrolled.items
    # The third group's catalog commit fails after its rows were written.
    from helgenom.services import variants as variants_module

    calls = {"n": 0}
    original = variants_module.VariantService._commit

    def failing(self, ctx, prepared, adapters):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 3:
            tables = self.tables()
            batch = prepared[0].batch
            tables.append(batch.variants, batch.calls, batch.ref_blocks)  # rows, no commit
            raise RuntimeError("killed before the catalog commit")
        return original(self, ctx, prepared, adapters)

    monkeypatch.setattr(variants_module.VariantService, "_commit", failing)
    with pytest.raises(RuntimeError, match="killed"):
        p.variants.ingest_batch(operator, items, workers=0, group_size=4)
    monkeypatch.setattr(variants_module.VariantService, "_commit", original)
    rows = p.variants.frequency(
        operator, region=f"{cohort.contig}:1-{cohort.length}", frequency_set="clinical"
    )
    assert rows.scope.samples_counted == 8  # two groups of four committed, the third not
    progress: list[tuple[int, int]] = []
    outcome = p.variants.ingest_batch(
        operator, items, workers=2, group_size=4, progress=lambda d, t: progress.append((d, t))
    )
    assert len(outcome.unchanged) == 8
    assert len(outcome.committed) == 4
    assert outcome.failed == []
    assert progress[-1] == (12, 12)
    report = p.variants.frequency(
        operator, region=f"{cohort.contig}:1-{cohort.length}", frequency_set="clinical"
    )
    assert report.scope.samples_counted == 12
    assert report.scope.method == "counts"
    # the incremental counts equal a full recompute over the same samples
    with p.catalog.engine.connect() as conn:
        commit = p.variants._last_commit(conn)
        facts = p.variants._sample_facts(conn, enrolled.sample_ids)
    assert commit is not None
    full = p.variants.engine().frequencies(
        commit.snapshot,
        p.variants._samples_table(list(facts.values())),
        region=(cohort.contig, 1, cohort.length),
    )
    assert full.to_pylist() == report.rows


def test_frequencies_match_the_truth_and_an_counts_only_covered_samples(
    world: World, cohort: Cohort
) -> None:
    p = world.platform
    enrolled = enrol(world, cohort)
    operator = p.context("operator")
    p.variants.ingest_batch(operator, enrolled.items, workers=0)
    report = p.variants.frequency(
        operator, region=f"{cohort.contig}:1-{cohort.length}", frequency_set="clinical"
    )
    found = overall(report.rows)
    truth = {r["variant_id"]: r for r in cohort.truth.to_pylist()}
    seen = {v for v, r in truth.items() if r["ac_observed"] > 0}
    assert set(found) == seen  # a site whose every carrier lacks coverage is not there
    lowered = 0
    for variant_id in seen:
        got_ac, got_an, _hom, _hemi = found[variant_id]
        row = truth[variant_id]
        assert (got_ac, got_an) == (row["ac_observed"], row["an_observed"]), variant_id
        lowered += row["an_observed"] < row["an"]
    assert lowered > 0, "a sample without coverage is not counted as hom-ref"
    # the merged VCF (./. in the gaps) gives the same AC/AN, as bcftools +fill-tags would
    assert {v: found[v][:2] for v in seen} == {v: truth_overall(cohort)[v] for v in seen}
    by_sex = {r["group_value"] for r in report.rows if r["group"] == "sex"}
    assert by_sex <= {"male", "female"}
    by_region = {r["group_value"] for r in report.rows if r["group"] == "region"}
    assert by_region == set(REGIONS)


def test_consent_changes_take_effect_on_the_next_query(world: World, cohort: Cohort) -> None:
    p = world.platform
    enrolled = enrol(world, cohort, 6)
    operator = p.context("operator")
    p.variants.ingest_batch(operator, enrolled.items, workers=0)
    where = f"{cohort.contig}:1-{cohort.length}"
    researcher = p.context("researcher")
    before = p.variants.frequency(researcher, region=where, frequency_set="research")
    assert (before.scope.samples_counted, before.scope.samples_excluded) == (6, 0)
    p.consent.set(p.context("clin-a"), enrolled.cprs[0], research=ResearchChoice.OPT_OUT)
    after = p.variants.frequency(researcher, region=where, frequency_set="research")
    assert (after.scope.samples_counted, after.scope.samples_excluded) == (5, 1)
    assert after.scope.consent_as_of is not None
    clinical = p.variants.frequency(p.context("gen-a"), region=where, frequency_set="clinical")
    assert clinical.scope.samples_counted == 6
    an_research = sum(r[1] for r in overall(after.rows).values())  # type: ignore[misc]
    an_clinical = sum(r[1] for r in overall(clinical.rows).values())  # type: ignore[misc]
    assert an_research < an_clinical
    with pytest.raises(PermissionDeniedError, match="research or public"):
        p.variants.frequency(researcher, region=where, frequency_set="clinical")
    entry = audit_rows(p, "variant.query")[-1]
    assert entry.decision == "deny"
    allowed = [e for e in audit_rows(p, "variant.query") if e.decision == "allow"]
    assert "1 excluded by consent" in allowed[-2].reason or "1 excluded" in allowed[1].reason


def test_release_reproduces_and_withdrawal_removes_from_research(
    world: World, cohort: Cohort
) -> None:
    p = world.platform
    enrolled = enrol(world, cohort, 6)
    operator = p.context("operator")
    steward = p.context("steward")
    p.variants.ingest_batch(operator, enrolled.items[:4], workers=0)
    release = p.variants.release(steward, "2026-11", note="first four")
    assert release.samples == 4
    with pytest.raises(ConflictError):
        p.variants.release(steward, "2026-11")
    with pytest.raises(PermissionDeniedError):
        p.variants.release(operator, "other")
    p.variants.ingest_batch(operator, enrolled.items[4:], workers=0)
    where = f"{cohort.contig}:1-{cohort.length}"
    now = p.variants.frequency(operator, region=where, frequency_set="clinical")
    then = p.variants.frequency(operator, region=where, frequency_set="clinical", release="2026-11")
    assert (now.scope.samples_counted, then.scope.samples_counted) == (6, 4)
    assert then.scope.release == "2026-11"
    assert then.scope.method == "recompute"
    again = p.variants.frequency(
        operator, region=where, frequency_set="clinical", release="2026-11"
    )
    assert again.rows == then.rows
    count = p.variants.withdraw(steward, enrolled.cprs[1])
    assert count == 1
    research_now = p.variants.frequency(operator, region=where, frequency_set="research")
    research_then = p.variants.frequency(
        operator, region=where, frequency_set="research", release="2026-11"
    )
    assert research_now.scope.samples_excluded == 1
    assert research_then.scope.samples_excluded == 1  # consent applies to old releases too
    with pytest.raises(InvalidInputError, match="only --from research"):
        p.variants.withdraw(steward, enrolled.cprs[1], use="clinical")
    with pytest.raises(NotFoundError, match="no release"):
        p.variants.frequency(operator, region=where, release="nope")
    assert [r.name for r in p.variants.releases(operator)] == ["2026-11"]
    (entry,) = audit_rows(p, "variant.withdraw")
    assert entry.decision == "allow"


def test_carriers_and_genotypes_show_only_what_the_asker_may_see(
    world: World, cohort: Cohort
) -> None:
    p = world.platform
    enrolled = enrol(world, cohort, 6)
    operator = p.context("operator")
    p.variants.ingest_batch(operator, enrolled.items, workers=0)
    where = f"{cohort.contig}:1-{cohort.length}"
    rows = p.variants.frequency(operator, region=where, frequency_set="clinical").rows
    common = max(overall(rows).items(), key=lambda kv: kv[1][0])[0]  # type: ignore[arg-type,return-value]
    geneticist = p.variants.carriers(p.context("gen-a"), common)
    assert geneticist.carriers, "DEP-A ordered every sample"
    assert {c.label for c in geneticist.carriers} <= set(enrolled.sample_ids)
    other_department = p.variants.carriers(p.context("gen-b"), common)
    assert other_department.carriers == []
    assert other_department.not_shown == len(geneticist.carriers)
    p.consent.set(p.context("clin-a"), enrolled.cprs[0], research=ResearchChoice.OPT_OUT)
    research = p.variants.carriers(p.context("researcher", project="PROJ-1"), common)
    assert all(c.label not in enrolled.sample_ids for c in research.carriers)
    with pytest.raises(PermissionDeniedError):
        p.variants.carriers(p.context("researcher"), common)  # no project
    with pytest.raises(PermissionDeniedError):
        p.variants.carriers(p.context("clin-a"), common)
    genotypes = p.variants.genotypes(
        operator, enrolled.sample_ids[0], [common, f"{cohort.contig}-5-A-C"]
    )
    states = [g["state"] for g in genotypes.genotypes]
    assert states[0] in {"het", "hom_alt", "hom_ref", "no_call"}
    assert states[1] in {"hom_ref", "no_call"}
    with pytest.raises(PermissionDeniedError):
        p.variants.genotypes(p.context("gen-b"), enrolled.sample_ids[0], [common])


def test_cli_tables_json_and_tsv(world: World, cohort: Cohort) -> None:
    p = world.platform
    enrolled = enrol(world, cohort, 4)
    home = str(p.settings.home)
    runner = CliRunner()

    def run(*args: str, user: str = "operator") -> str:
        result = runner.invoke(app, ["--home", home, "--as", user, *args])
        assert result.exit_code == 0, result.output
        return result.output

    for item in enrolled.items:
        assert "committed" in run(
            "variants",
            "ingest",
            item.sample_id,
            str(item.path),
            "--vcf-sample",
            str(item.vcf_sample),
        )
    where = f"{cohort.contig}:1-{cohort.length}"
    document = json.loads(run("variants", "region", where, "--format", "json"))
    assert document["rows"]
    first = document["rows"][0]["variant_id"]
    lookup = json.loads(run("variants", "lookup", first, "--format", "json"))
    assert [r["variant_id"] for r in lookup["rows"]] == [first]
    tsv = run("variants", "frequency", first, "--purpose", "clinical", "--format", "tsv")
    header, *lines = tsv.strip().splitlines()
    assert header.split("\t")[:4] == ["variant_id", "group", "group_value", "ac"]
    assert lines
    table = run("variants", "frequency", "--region", where, "--purpose", "research")
    assert "Allele frequencies" in table
    assert "4 samples counted" in table.replace("\n", " ")
    bad = runner.invoke(app, ["--home", home, "--as", "operator", "variants", "lookup", "chr22:1"])
    assert bad.exit_code == 2
    assert "CONTIG-POS-REF-ALT" in bad.output
    denied = runner.invoke(
        app,
        [
            "--home",
            home,
            "--as",
            "researcher",
            "variants",
            "frequency",
            first,
            "--purpose",
            "clinical",
        ],
    )
    assert denied.exit_code == 6
    assert FrequencySet.CLINICAL.value in denied.output


@pytest.mark.spark
def test_spark_engine_answers_as_duckdb(
    world: World, cohort: Cohort, instance_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``variant_engine = "spark"`` gives the service the same answers as DuckDB."""
    require_spark()
    from helgenom.services.platform import open_platform

    p = world.platform
    enrolled = enrol(world, cohort, 4)
    operator = p.context("operator")
    p.variants.ingest_batch(operator, enrolled.items, workers=0)
    p.consent.set(p.context("clin-a"), enrolled.cprs[0], research=ResearchChoice.OPT_OUT)
    where = f"{cohort.contig}:1-{cohort.length}"
    duck = p.variants.frequency(operator, region=where, frequency_set="research")
    duck_region = p.variants.region(operator, where)
    monkeypatch.setenv("HELGENOM_VARIANT_ENGINE", "spark")
    with open_platform(str(instance_home)) as spark_platform:
        assert spark_platform.variants.engine().name == "spark"
        spark_ctx = spark_platform.context("operator")
        spark = spark_platform.variants.frequency(spark_ctx, region=where, frequency_set="research")
        spark_region = spark_platform.variants.region(spark_ctx, where)
    assert spark.rows == duck.rows
    assert spark.scope == duck.scope
    assert spark_region.rows == duck_region.rows
