"""The sequencing service: reference genomes, pipeline runs, products, QC, resumption.

One simulated female genome (chr1 20 kb + chrX 10 kb, 25x paired reads) serves every
run; the instances are per test (SQLite, and PostgreSQL for the basic run). The QC
rules and the report renderer are tested without a run.
"""

from __future__ import annotations

import json
import re
import stat
import xml.etree.ElementTree as ET
from pathlib import Path

import pysam
import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from conftest import World
from helgenom.adapters.catalog.schema import audit_log, pipeline_runs, qc_metrics, samples
from helgenom.adapters.pipeline import StepFailedError
from helgenom.adapters.pipeline.distributions import QcDistributions
from helgenom.adapters.pipeline.qcreport import (
    balance_bars,
    build_report,
    coverage_bars,
    insert_bars,
    render_html,
)
from helgenom.adapters.pipeline.worker import WorkerRequest, error_from_record, error_record
from helgenom.cli.main import app
from helgenom.core.cpr import parse_cpr
from helgenom.core.errors import (
    ConfigurationError,
    ConflictError,
    FormatError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    PipelineError,
    StorageUnavailableError,
)
from helgenom.core.models import ObjectKind, Sex
from helgenom.core.quality import QcStatus, QcThresholds, evaluate_qc
from helgenom.core.samples import SampleState
from helgenom.core.simulate import SimulatedSample, simulate_sample
from helgenom.services.pipeline import OUTPUT_KINDS, RunStatus
from helgenom.services.platform import Platform, open_platform

BUILD = "SIM-FEMALE"
CONTIGS = (("chr1", 20_000), ("chrX", 10_000))


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> SimulatedSample:
    """A female genome (no chrY; chrX at autosomal depth) sequenced at 25x."""
    return simulate_sample(
        tmp_path_factory.mktemp("sim"), contigs=CONTIGS, snvs=30, indels=8, depth=25.0, seed=7
    )


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """SQLite unless a test asks for both catalog backends (indirect parametrisation)."""
    return str(getattr(request, "param", "sqlite"))


BOTH_BACKENDS = pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)


# --- helpers ------------------------------------------------------------------------------


def pseudonym(world: World, cpr: str) -> str:
    return world.platform.persons.vault.pseudonym(parse_cpr(cpr))


def sample_of(world: World, cpr: str) -> str:
    with world.platform.catalog.engine.connect() as conn:
        return str(
            conn.execute(
                sa.select(samples.c.id).where(samples.c.person_pseudonym == pseudonym(world, cpr))
            ).scalar_one()
        )


def state_of(p: Platform, sample_id: str) -> str:
    with p.catalog.engine.connect() as conn:
        return str(
            conn.execute(sa.select(samples.c.state).where(samples.c.id == sample_id)).scalar_one()
        )


def sequenced(world: World, cpr: str, sim: SimulatedSample) -> str:
    """The person's sample with the simulated reads added (sequenced)."""
    p = world.platform
    sample_id = sample_of(world, cpr)
    p.samples.add_reads(p.context("operator"), sample_id, sim.r1_path, sim.r2_path)
    return sample_id


def load_reference(world: World, sim: SimulatedSample) -> None:
    p = world.platform
    p.references.load(p.context("operator"), sim.reference_path, build=BUILD)


def audit_seq(p: Platform) -> int:
    with p.catalog.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.max(audit_log.c.seq))).scalar_one() or 0)


def audit_since(p: Platform, seq: int) -> list[sa.Row[tuple[object, ...]]]:
    with p.catalog.engine.connect() as conn:
        return list(
            conn.execute(
                sa.select(audit_log).where(audit_log.c.seq > seq).order_by(audit_log.c.seq)
            ).all()
        )


def runs_of(p: Platform, sample_id: str) -> list[sa.Row[tuple[object, ...]]]:
    with p.catalog.engine.connect() as conn:
        return list(
            conn.execute(
                sa.select(pipeline_runs)
                .where(pipeline_runs.c.sample_id == sample_id)
                .order_by(pipeline_runs.c.started_at)
            ).all()
        )


def work_folders(p: Platform) -> list[Path]:
    work = p.settings.home / "work"
    return sorted(work.iterdir()) if work.exists() else []


def pass_snvs(vcf: Path) -> set[tuple[str, int, str, str]]:
    with pysam.VariantFile(str(vcf)) as calls:
        return {
            (r.chrom, r.pos, r.ref or "", (r.alts or ("",))[0])
            for r in calls
            if list(r.filter.keys()) == ["PASS"] and len(r.ref or "") == 1
        }


# --- reference genomes ------------------------------------------------------------------------


def test_reference_load_registers_once_and_refuses_another_fasta(
    world: World, sim: SimulatedSample, tmp_path: Path
) -> None:
    p = world.platform
    operator = p.context("operator")
    before = audit_seq(p)
    first = p.references.load(operator, sim.reference_path, build=BUILD)
    assert first.created
    record = first.record
    assert record.folder == p.settings.home / "references" / BUILD
    assert [(name, length) for name, length, _ in record.contigs] == list(CONTIGS)
    assert record.total_length == record.acgt_length == 30_000
    assert (record.folder / "genome.fa").is_file()
    assert (record.folder / "genome.mmi").is_file()
    index_time = (record.folder / "genome.mmi").stat().st_mtime_ns

    again = p.references.load(operator, sim.reference_path, build=BUILD)
    assert not again.created
    assert again.record == record
    assert (record.folder / "genome.mmi").stat().st_mtime_ns == index_time
    entries = audit_since(p, before)
    assert [(e.action, e.decision) for e in entries] == [("reference.load", "allow")] * 2
    assert "no-op" in entries[1].reason
    assert all(e.resource == f"reference/{BUILD}" for e in entries)

    other = tmp_path / "other.fa"
    other.write_text(">chr1\n" + "ACGT" * 500 + "\n")
    with pytest.raises(ConflictError, match="another build name"):
        p.references.load(operator, other, build=BUILD)
    with pytest.raises(InvalidInputError, match="build name"):
        p.references.load(operator, other, build="../x")
    with pytest.raises(NotFoundError, match="does not exist"):
        p.references.load(operator, tmp_path / "missing.fa", build="X1")
    with pytest.raises(PermissionDeniedError):
        p.references.load(p.context("clin-a"), other, build="X2")
    assert [r.build for r in p.references.list_references()] == [BUILD]

    admin = p.references.load(p.context(), other, build="OTHER-1")
    assert admin.created
    assert [r.build for r in p.references.list_references()] == ["OTHER-1", BUILD]
    with pytest.raises(InvalidInputError, match="give --build"):
        p.references.resolve(None)
    assert p.references.resolve(BUILD)[1].sha256 == record.sha256


def test_run_is_refused_before_anything_changes(world: World, sim: SimulatedSample) -> None:
    p = world.platform
    sample_id = sample_of(world, world.patient_a)
    operator = p.context("operator")
    with pytest.raises(ConflictError, match="is ordered"):
        p.pipeline.run(operator, sample_id)
    sample_id = sequenced(world, world.patient_a, sim)
    with pytest.raises(NotFoundError, match="no reference genome is registered"):
        p.pipeline.run(operator, sample_id)
    load_reference(world, sim)
    with pytest.raises(InvalidInputError, match="unknown variant caller"):
        p.pipeline.run(operator, sample_id, caller="gatk")
    with pytest.raises(InvalidInputError, match="executor"):
        p.pipeline.run(operator, sample_id, executor="kubernetes")
    with pytest.raises(NotFoundError, match="no reference genome NOPE"):
        p.pipeline.run(operator, sample_id, build="NOPE")
    for actor in ("clin-a", "gen-a", "steward"):
        before = audit_seq(p)
        with pytest.raises(PermissionDeniedError):
            p.pipeline.run(p.context(actor), sample_id)
        (entry,) = audit_since(p, before)
        assert (entry.action, entry.decision, entry.actor) == ("pipeline.run", "deny", actor)
        assert json.loads(entry.subjects) == [pseudonym(world, world.patient_a)]
    assert state_of(p, sample_id) == "sequenced"
    assert runs_of(p, sample_id) == []
    with pytest.raises(PermissionDeniedError):
        p.pipeline.qc(p.context("gen-b"), sample_id)  # another department's sample
    with pytest.raises(NotFoundError, match="no finished pipeline run"):
        p.pipeline.qc(p.context("gen-a"), sample_id)


# --- a full run -------------------------------------------------------------------------------


@BOTH_BACKENDS
def test_run_stores_products_judges_qc_and_moves_the_sample(
    world: World, sim: SimulatedSample, tmp_path: Path
) -> None:
    p = world.platform
    operator = p.context("operator")
    sample_id = sequenced(world, world.patient_a, sim)
    load_reference(world, sim)
    person = pseudonym(world, world.patient_a)
    before = audit_seq(p)
    messages: list[str] = []
    outcome = p.pipeline.run(operator, sample_id, progress=messages.append)
    entries = audit_since(p, before)
    run = outcome.run

    assert outcome.sample_state.value == "qc_passed", outcome.verdict.reason
    assert run.status is RunStatus.SUCCEEDED
    assert run.executed_steps == ("align", "markdup", "cram", "call", "vcf", "qc", "provenance")
    assert run.reference_build == BUILD
    assert run.reference_sha256 == p.references.resolve(BUILD)[0].sha256
    assert run.qc_status == "passed"
    assert set(run.outputs) == set(OUTPUT_KINDS)
    assert run.resumed_from is None
    assert messages
    by_name = {c.name: c for c in outcome.verdict.checks}
    assert by_name["inferred_sex"].status is QcStatus.PASS
    assert by_name["inferred_sex"].observed == "female"
    assert by_name["mean_coverage"].status is QcStatus.PASS

    # every product is an encrypted object of the sample, with provenance
    reads = [r for r in p.objects.list(operator, sample_id=sample_id) if r.kind.value == "fastq"]
    records = {r.object_id: r for r in p.objects.list(operator, sample_id=sample_id)}
    for name, object_id in run.outputs.items():
        record = records[object_id]
        assert record.kind is OUTPUT_KINDS[name]
        prov = record.provenance
        assert (prov["source"], prov["run_id"], prov["product"]) == ("pipeline", run.run_id, name)
        assert prov["reference"] == {"build": BUILD, "sha256": run.reference_sha256}
        assert {i["object_id"] for i in prov["inputs"]} == {r.object_id for r in reads}
        assert {i["sha256"] for i in prov["inputs"]} == {r.plaintext_sha256 for r in reads}
        assert "samtools" in prov["software"]

    cram, crai = tmp_path / "out.cram", tmp_path / "out.cram.crai"
    p.objects.get(operator, run.outputs["cram"], cram)
    p.objects.get(operator, run.outputs["crai"], crai)
    fasta = p.references.resolve(BUILD)[1].fasta_path
    with pysam.AlignmentFile(str(cram), "rc", reference_filename=str(fasta)) as alignments:
        assert alignments.header.to_dict()["RG"][0]["SM"] == sample_id
        assert alignments.count("chrX", 1_000, 2_000) > 0
    vcf, tbi = tmp_path / "out.vcf.gz", tmp_path / "out.vcf.gz.tbi"
    p.objects.get(operator, run.outputs["vcf"], vcf)
    p.objects.get(operator, run.outputs["vcf_index"], tbi)
    truth = {v.key for v in sim.truth if v.is_snv}
    called = pass_snvs(vcf)
    assert len(called & truth) / len(truth) >= 0.9
    with pysam.VariantFile(str(vcf)) as calls:
        assert list(calls.header.samples) == [sample_id]
        assert len(list(calls.fetch("chr1"))) > 0  # the index works
    report = tmp_path / "report.json"
    p.objects.get(operator, run.outputs["qc_report_json"], report)
    document = json.loads(report.read_text())
    assert (document["format_version"], document["run_id"]) == (1, run.run_id)
    assert document["verdict"]["passed"] is True
    assert document["distributions"]["coverage"][0][0] == 0

    # the sample's history and the audit trail
    history = p.samples.history(operator, sample_id)
    assert [e.to_state.value for e in history[-2:]] == ["analysing", "qc_passed"]
    assert history[-2].reason == f"pipeline run {run.run_id} started"
    assert history[-1].reason is not None
    assert history[-1].reason.startswith(f"run {run.run_id}: QC passed")
    assert [e.action for e in entries] == (
        ["pipeline.run", "object.read", "object.read"]
        + ["object.put"] * 10  # the products
        + ["object.put"] * 3  # CRAM, VCF and gVCF registered for htsget
        + ["pipeline.run"]
    )
    assert {e.decision for e in entries} == {"allow"}
    assert all(json.loads(e.subjects) == [person] for e in entries)
    assert "analysing -> qc_passed" in entries[-1].reason
    assert work_folders(p) == []  # the decrypted reads are gone

    # reading runs and QC: operators, and geneticists of the ordering department
    assert [r.run_id for r in p.pipeline.status(operator)] == [run.run_id]
    gen_a = p.context("gen-a")
    assert [r.run_id for r in p.pipeline.status(gen_a, sample_id)] == [run.run_id]
    html = tmp_path / "qc.html"
    view = p.pipeline.qc(gen_a, sample_id, html_out=html)
    assert view.passed
    assert [c.name for c in view.checks] == [c.name for c in outcome.verdict.checks]
    assert [c.status for c in view.checks] == [c.status for c in outcome.verdict.checks]
    text = html.read_text()
    assert text.count("<svg") == 3
    assert "hp-" not in text
    assert world.patient_a not in text
    with pytest.raises(ConflictError, match="exists"):
        p.pipeline.qc(gen_a, sample_id, html_out=html)
    for actor in ("gen-b", "clin-a", "researcher"):
        with pytest.raises(PermissionDeniedError):
            p.pipeline.qc(p.context(actor), sample_id)
    with pytest.raises(PermissionDeniedError):
        p.pipeline.status(gen_a)  # every run: operators only


def test_qc_threshold_from_settings_fails_then_reanalysis_passes(
    world: World, sim: SimulatedSample, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = world.platform
    sample_id = sequenced(world, world.patient_a, sim)
    load_reference(world, sim)
    monkeypatch.setenv("HELGENOM_QC_MIN_MEAN_COVERAGE", "100")
    with open_platform(str(p.settings.home)) as strict:
        failed = strict.pipeline.run(strict.context("operator"), sample_id)
    monkeypatch.delenv("HELGENOM_QC_MIN_MEAN_COVERAGE")
    assert failed.sample_state.value == "qc_failed"
    assert failed.run.status is RunStatus.SUCCEEDED  # the run worked; the sample failed QC
    assert failed.run.qc_status == "failed"
    (failure,) = failed.verdict.failures
    assert failure.name == "mean_coverage"
    assert re.fullmatch(r"mean coverage [\d.]+x < 100x", failure.detail), failure.detail
    history = p.samples.history(p.context("operator"), sample_id)
    assert history[-1].to_state.value == "qc_failed"
    assert history[-1].reason is not None
    assert "QC failed: mean coverage" in history[-1].reason
    with p.catalog.engine.connect() as conn:
        metric = conn.execute(
            sa.select(qc_metrics)
            .where(qc_metrics.c.run_id == failed.run.run_id)
            .where(qc_metrics.c.name == "mean_coverage")
        ).one()
    assert (metric.status, metric.threshold) == ("fail", ">= 100x")

    again = p.pipeline.run(p.context("operator"), sample_id)  # default thresholds
    assert again.sample_state.value == "qc_passed"
    assert again.run.resumed_from is None  # the first run succeeded: a fresh analysis
    assert again.run.executed_steps[0] == "align"
    history = p.samples.history(p.context("operator"), sample_id)
    assert [e.to_state.value for e in history[-4:]] == [
        "analysing",
        "qc_failed",
        "analysing",
        "qc_passed",
    ]
    assert [r.qc_status for r in p.pipeline.status(p.context("operator"), sample_id)] == [
        "failed",
        "passed",
    ]


def test_sex_mismatch_fails_qc_as_a_possible_sample_swap(
    world: World, sim: SimulatedSample
) -> None:
    """Female reads under a male person's sample (patient_b, DEP-B)."""
    p = world.platform
    sample_id = sequenced(world, world.patient_b, sim)
    load_reference(world, sim)
    outcome = p.pipeline.run(p.context("operator"), sample_id)
    assert outcome.sample_state.value == "qc_failed"
    (failure,) = outcome.verdict.failures
    assert failure.name == "inferred_sex"
    assert failure.detail.startswith("possible sample swap")
    history = p.samples.history(p.context("operator"), sample_id)
    assert history[-1].reason is not None
    assert "possible sample swap" in history[-1].reason
    view = p.pipeline.qc(p.context("gen-b"), sample_id)
    assert not view.passed
    assert "possible sample swap" in view.reason


def test_an_interrupted_run_is_recorded_and_the_next_one_resumes_its_folder(
    world: World, sim: SimulatedSample, monkeypatch: pytest.MonkeyPatch
) -> None:
    import helgenom.adapters.pipeline.worker as worker

    p = world.platform
    sample_id = sequenced(world, world.patient_a, sim)
    load_reference(world, sim)

    def interrupted(request: worker.WorkerRequest) -> worker.WorkerOutcome:
        assert stat.S_IMODE(request.workdir.stat().st_mode) == 0o700
        assert request.r1.read_bytes() == sim.r1_path.read_bytes()
        raise KeyboardInterrupt

    monkeypatch.setattr(worker, "run_in_worker", interrupted)
    with pytest.raises(KeyboardInterrupt):
        p.pipeline.run(p.context("operator"), sample_id)
    (first,) = runs_of(p, sample_id)
    assert (first.status, first.error_message.split(":")[0]) == ("interrupted", "interrupted")
    assert state_of(p, sample_id) == "analysing"

    def failing(request: worker.WorkerRequest) -> worker.WorkerOutcome:
        raise PipelineError("the cluster went away")

    monkeypatch.setattr(worker, "run_in_worker", failing)
    with pytest.raises(PipelineError, match="cluster") as caught:
        p.pipeline.run(p.context("operator"), sample_id)
    assert any("resume" in note for note in caught.value.__notes__)
    first, second = runs_of(p, sample_id)
    assert second.resumed_from == first.id
    assert second.workdir == first.workdir
    assert second.status == "failed"
    assert work_folders(p) == [p.settings.home / "work" / first.workdir]


def test_failing_step_exits_10_then_the_cli_resumes_from_it(
    world: World, sim: SimulatedSample, tmp_path: Path
) -> None:
    """End to end through the CLI: reads, reference, a failing step, a resumed run, QC."""
    p = world.platform
    home = p.settings.home
    sample_id = sample_of(world, world.patient_a)
    runner = CliRunner()

    def cli(*args: str) -> tuple[int, str]:
        env = {"HELGENOM_HOME": str(home), "HELGENOM_USER": "operator"}
        result = runner.invoke(app, list(args), env=env)
        return result.exit_code, " ".join(re.sub("[\u2500-\u257f]", " ", result.output).split())

    code, _ = cli("reads", "add", sample_id, str(sim.r1_path), str(sim.r2_path))
    assert code == 0
    code, text = cli("reference", "load", str(sim.reference_path), "--build", BUILD)
    assert code == 0, text
    assert f"Reference genome {BUILD}" in text
    code, text = cli("reference", "list")
    assert BUILD in text

    fai = home / "references" / BUILD / "genome.fa.fai"
    good_index = fai.read_bytes()
    fai.write_text("chr1\t12\t6\t60\t61\nchrX\t12\t30\t60\t61\n")  # wrong lengths: CRAM fails
    code, text = cli("pipeline", "run", sample_id, "--cores", "2")
    assert code == 10, text
    assert "Pipeline step failed" in text
    assert "step cram" in text
    assert "tool samtools view" in text
    assert "exit code 1" in text
    assert f"helgenom pipeline run {sample_id} again to resume" in text
    assert "Traceback" not in text
    (failed,) = runs_of(p, sample_id)
    assert (failed.status, failed.error_step, failed.error_tool, failed.error_exit_code) == (
        "failed",
        "cram",
        "samtools view",
        1,
    )
    assert state_of(p, sample_id) == "analysing"
    operator = p.context("operator")
    assert {r.kind.value for r in p.objects.list(operator, sample_id=sample_id)} == {"fastq"}
    workdir = home / "work" / failed.workdir
    assert stat.S_IMODE(workdir.stat().st_mode) == 0o700
    assert (workdir / "results" / f"{sample_id}.cram").exists() is False
    assert not list(workdir.rglob(".partial.*"))
    code, text = cli("pipeline", "status", sample_id)
    assert code == 0, text
    assert "failed" in text  # (the 80-column test console folds the ids)
    assert "cram:" in text

    fai.write_bytes(good_index)
    code, text = cli("pipeline", "run", sample_id)
    assert code == 0, text
    assert f"resumed in the work folder of {failed.id}" in text
    assert "qc_passed" in text
    failed, resumed = runs_of(p, sample_id)
    steps = json.loads(resumed.executed_steps)
    assert steps[0] == "cram"
    assert "align" not in steps
    assert "markdup" not in steps
    assert resumed.resumed_from == failed.id
    assert state_of(p, sample_id) == "qc_passed"
    assert work_folders(p) == []

    report = tmp_path / "qc.html"
    code, text = cli("pipeline", "qc", sample_id, "-o", str(report))
    assert code == 0, text
    assert "mean coverage" in text
    assert "QC passed" in text
    assert report.read_text().count("<svg") == 3
    code, text = cli("--as", "clin-a", "pipeline", "run", sample_id)
    assert code == 6
    code, text = cli("--as", "gen-a", "pipeline", "qc", sample_id)
    assert code == 0, text


# --- the products over htsget -----------------------------------------------------------------


def htsget_slice(p: Platform, user: str, endpoint: str, ident: str, **params: str) -> bytes:
    """The bytes of an htsget ticket's blocks (data ranges fetched through the service)."""
    ctx = p.context(user)
    ticket = p.htsget.ticket(ctx, endpoint, ident, params=params)
    parts = []
    for block in ticket.blocks:
        if block.inline is not None:
            parts.append(block.inline)
        else:
            assert block.object_id is not None
            parts.append(p.htsget.block(ctx, block.object_id, block.start, block.end).data)
    return b"".join(parts)


def read_set(path: Path, fasta: Path, region: tuple[str, int, int] | None = None) -> set[str]:
    """Reads of a CRAM (all, or those pysam's index query finds for ``region``)."""
    with pysam.AlignmentFile(str(path), "rc", reference_filename=str(fasta)) as f:
        reads = f.fetch(*region) if region else f.fetch(until_eof=True)
        return {f"{r.query_name}/{r.flag}/{r.reference_name}:{r.reference_start}" for r in reads}


def overlapping_reads(path: Path, fasta: Path, region: tuple[str, int, int]) -> set[str]:
    """Reads of a whole (slice) file that overlap ``region``, without using an index."""
    contig, start, end = region
    with pysam.AlignmentFile(str(path), "rc", reference_filename=str(fasta)) as f:
        return {
            f"{r.query_name}/{r.flag}/{r.reference_name}:{r.reference_start}"
            for r in f.fetch(until_eof=True)
            if r.reference_name == contig
            and r.reference_start < end
            and (r.reference_end or r.reference_start + 1) > start
        }


def variant_set(path: Path, region: tuple[str, int, int] | None = None) -> set[str]:
    with pysam.VariantFile(str(path)) as f:
        records = f.fetch(*region) if region else f
        return {f"{r.chrom}:{r.pos}:{r.stop}:{r.ref}:{r.alts}" for r in records}


def overlapping_variants(path: Path, region: tuple[str, int, int]) -> set[str]:
    contig, start, end = region
    with pysam.VariantFile(str(path)) as f:
        return {
            f"{r.chrom}:{r.pos}:{r.stop}:{r.ref}:{r.alts}"
            for r in f
            if r.chrom == contig and r.start < end and r.stop > start
        }


def test_products_are_served_over_htsget_and_a_resumed_run_registers_them_again(
    world: World, sim: SimulatedSample, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run registers its CRAM, VCF and gVCF; a run that failed after registering
    resumes without redoing a step, stores the same objects and registers them again;
    tickets for regions give what pysam finds in the decrypted files."""
    from helgenom.services.pipeline import PipelineService

    p = world.platform
    operator = p.context("operator")
    sample_id = sequenced(world, world.patient_a, sim)
    load_reference(world, sim)

    def lost(*_args: object, **_kwargs: object) -> SampleState:
        raise StorageUnavailableError("the catalog went away")

    with monkeypatch.context() as patch:
        patch.setattr(PipelineService, "_finish", lost)
        with pytest.raises(StorageUnavailableError):
            p.pipeline.run(operator, sample_id)
    (failed,) = runs_of(p, sample_id)
    assert failed.status == "failed"
    first = {(h.name, h.format.value): h.object_id for h in p.htsget.list(operator)}
    assert set(first) == {(sample_id, "CRAM"), (sample_id, "VCF"), (f"{sample_id}.g", "VCF")}

    before = audit_seq(p)
    outcome = p.pipeline.run(operator, sample_id)  # resumes: nothing left to compute
    run = outcome.run
    assert run.status is RunStatus.SUCCEEDED
    assert run.resumed_from == failed.id
    assert run.executed_steps == ()
    assert outcome.htsget == {"cram": sample_id, "vcf": sample_id, "gvcf": f"{sample_id}.g"}
    registrations = [
        e for e in audit_since(p, before) if e.action == "object.put" and "htsget" in e.reason
    ]
    assert len(registrations) == 3
    assert not any("replacing" in e.reason for e in registrations)  # the same objects
    served = {(h.name, h.format.value): h for h in p.htsget.list(operator, sample_id=sample_id)}
    assert {k: h.object_id for k, h in served.items()} == first
    assert served[(sample_id, "CRAM")].object_id == run.outputs["cram"]
    assert served[(sample_id, "CRAM")].index_object_id == run.outputs["crai"]
    assert served[(sample_id, "VCF")].object_id == run.outputs["vcf"]
    assert served[(sample_id, "VCF")].index_object_id == run.outputs["vcf_index"]
    assert served[(f"{sample_id}.g", "VCF")].object_id == run.outputs["gvcf"]
    assert served[(f"{sample_id}.g", "VCF")].index_object_id == run.outputs["gvcf_index"]

    # reads: a CRAM slice holds every read pysam finds in the region of the decrypted CRAM
    fasta = p.references.resolve(BUILD)[1].fasta_path
    cram = tmp_path / "whole.cram"
    p.objects.get(operator, run.outputs["cram"], cram)
    p.objects.get(operator, run.outputs["crai"], Path(f"{cram}.crai"))
    region = ("chrX", 4_000, 4_600)
    piece = tmp_path / "slice.cram"
    piece.write_bytes(
        htsget_slice(
            p, "gen-a", "reads", f"{sample_id}.cram", referenceName="chrX", start="4000", end="4600"
        )
    )
    expected = read_set(cram, fasta, region)
    assert expected
    assert overlapping_reads(piece, fasta, region) == expected
    assert read_set(piece, fasta) <= read_set(cram, fasta)

    # variants: the VCF and the gVCF (reference blocks), by name and by name.vcf.gz
    for product, ident, region in (
        ("vcf", sample_id, ("chr1", 0, 12_000)),
        ("gvcf", f"{sample_id}.g.vcf.gz", ("chrX", 2_000, 2_500)),
    ):
        whole = tmp_path / f"whole-{product}.vcf.gz"
        p.objects.get(operator, run.outputs[product], whole)
        p.objects.get(operator, run.outputs[f"{product}_index"], Path(f"{whole}.tbi"))
        piece = tmp_path / f"slice-{product}.vcf.gz"
        contig, start, end = region
        piece.write_bytes(
            htsget_slice(
                p,
                "gen-a",
                "variants",
                ident,
                referenceName=contig,
                start=str(start),
                end=str(end),
            )
        )
        expected = variant_set(whole, region)
        assert expected, product
        assert overlapping_variants(piece, region) == expected, product
        assert variant_set(piece) < variant_set(whole), product
        with pysam.VariantFile(str(piece)) as f:
            assert list(f.header.samples) == [sample_id]

    # a newer object of the sample may take a name over; another sample's may not
    vcf_piece = tmp_path / "slice-vcf.vcf.gz"
    newer = p.objects.put(operator, vcf_piece, sample_id=sample_id, kind=ObjectKind.VCF)
    with pytest.raises(ConflictError, match="already names"):
        p.htsget.register(operator, newer.record.object_id, index_object_id=None, name=sample_id)
    taken = p.htsget.register(
        operator, newer.record.object_id, index_object_id=None, name=sample_id, replace=True
    )
    assert taken.object_id == newer.record.object_id
    other = p.objects.put(
        operator, vcf_piece, sample_id=sample_of(world, world.patient_b), kind=ObjectKind.VCF
    )
    with pytest.raises(ConflictError, match="already names"):
        p.htsget.register(
            operator, other.record.object_id, index_object_id=None, name=sample_id, replace=True
        )
    names = {(h.name, h.format.value): h.object_id for h in p.htsget.list(operator)}
    assert names[(sample_id, "VCF")] == newer.record.object_id
    assert run.outputs["vcf"] not in names.values()  # still stored, no longer served
    with pytest.raises(PermissionDeniedError):
        p.htsget.list(p.context("gen-a"))


# --- QC rules ---------------------------------------------------------------------------------

GOOD = {
    "mapping_rate": 0.99,
    "duplicate_rate": 0.05,
    "mean_coverage": 32.0,
    "fraction_ge_20x": 0.95,
    "inferred_sex": "female",
    "contamination": {"status": "ok", "dispersion": 1.02},
    "reads": {"total": 1000},
    "insert_size_median": 350,
    "ti_tv": 2.1,
    "het_hom_ratio": 1.6,
}


@pytest.mark.parametrize(
    ("change", "failing"),
    [
        ({}, None),
        ({"mapping_rate": 0.8999}, "mapping_rate"),
        ({"mapping_rate": 0.9}, None),
        ({"duplicate_rate": 0.3001}, "duplicate_rate"),
        ({"duplicate_rate": 0.3}, None),
        ({"mean_coverage": 19.99}, "mean_coverage"),
        ({"fraction_ge_20x": 0.79}, "fraction_ge_20x"),
        ({"inferred_sex": "male"}, "inferred_sex"),
        ({"contamination": {"status": "suspect", "dispersion": 2.4}}, "contamination"),
    ],
)
def test_qc_thresholds(change: dict[str, object], failing: str | None) -> None:
    verdict = evaluate_qc({**GOOD, **change}, QcThresholds(), Sex.FEMALE)
    assert [c.name for c in verdict.failures] == ([failing] if failing else [])
    assert verdict.passed is (failing is None)
    if failing == "inferred_sex":
        assert verdict.reason == (
            "possible sample swap: the reads look male but the person is registered female"
        )


def test_what_cannot_be_determined_is_reported_not_failed() -> None:
    metrics = {
        **GOOD,
        "mapping_rate": None,
        "duplicate_rate": None,
        "inferred_sex": "undetermined: no chrX/chrY in reference",
        "contamination": {"status": "insufficient data: 3 heterozygous SNVs with depth >= 10"},
        "ti_tv": None,
    }
    verdict = evaluate_qc(metrics, QcThresholds(), Sex.MALE)
    assert verdict.passed
    undetermined = {c.name for c in verdict.checks if c.status is QcStatus.UNDETERMINED}
    assert undetermined == {
        "mapping_rate",
        "duplicate_rate",
        "inferred_sex",
        "contamination",
        "ti_tv",
    }
    assert "no chrX/chrY in reference" in {c.name: c for c in verdict.checks}["inferred_sex"].detail
    assert verdict.summary.startswith("QC passed (2 checks passed; undetermined: mapping rate")
    assert evaluate_qc({**GOOD, "inferred_sex": "male"}, QcThresholds(), None).passed


def test_qc_thresholds_are_validated() -> None:
    with pytest.raises(InvalidInputError, match="min_mapping_rate"):
        QcThresholds(min_mapping_rate=90)
    with pytest.raises(InvalidInputError, match="min_mean_coverage"):
        QcThresholds(min_mean_coverage=-1)


@given(
    st.dictionaries(
        st.sampled_from(sorted(GOOD)),
        st.none() | st.floats(allow_nan=True) | st.text(max_size=8) | st.integers(),
    ),
    st.sampled_from([Sex.MALE, Sex.FEMALE, None]),
)
def test_evaluate_qc_never_crashes_and_never_fails_an_unmeasured_metric(
    change: dict[str, object], sex: Sex | None
) -> None:
    metrics = {**GOOD, **change}
    verdict = evaluate_qc(metrics, QcThresholds(), sex)
    assert len(verdict.checks) == 10
    for check in verdict.checks:
        if check.status is QcStatus.FAIL and check.name not in ("inferred_sex", "contamination"):
            assert check.value is not None
        if check.value is None and check.name in ("mapping_rate", "mean_coverage"):
            assert check.status is QcStatus.UNDETERMINED


# --- the report and the worker's error channel --------------------------------------------


def test_report_renders_valid_svg_and_escapes_text() -> None:
    verdict = evaluate_qc(GOOD, QcThresholds(), Sex.FEMALE)
    distributions = QcDistributions(
        coverage=((0, 100), (10, 50), (20, 300), (31, 500), (200, 3)),
        insert_sizes=((300, 10), (350, 40), (400, 12)),
        allele_balances=(0.41, 0.5, 0.52, 0.97),
    )
    report = build_report(
        run_id="RUN-1",
        sample_id="S-<b>",
        reference={"build": "B", "sha256": "0" * 64},
        caller="bcftools",
        verdict=verdict,
        metrics=GOOD,
        distributions=distributions,
        provenance={"software": {"samtools": "1.21"}, "pipeline_version": "0.1.0"},
        inputs=[{"label": "R1", "object_id": "obj-x", "sha256": "1" * 64}],
    )
    assert json.loads(json.dumps(report)) == report
    page = render_html(report)
    assert "S-&lt;b&gt;" in page
    assert "<b>" not in page
    svgs = re.findall(r"<svg.*?</svg>", page, re.DOTALL)
    assert len(svgs) == 3
    for svg in svgs:
        root = ET.fromstring(svg)
        width, height = float(root.get("width", 0)), float(root.get("height", 0))
        for rect in root.iter("{http://www.w3.org/2000/svg}rect"):
            x, y, h = (float(rect.get(k, 0)) for k in ("x", "y", "height"))
            assert 0 <= x <= width
            assert y >= 0
            assert y + h <= height + 0.5
    empty = QcDistributions((), (), ())
    assert "no data" in render_html({**report, "distributions": empty.asdict()})
    bars = coverage_bars(distributions.coverage, 32.0)
    assert bars[-1][0] == 95.5  # depths above 3x the mean share the last bar
    assert abs(sum(b[2] for b in bars) - 1) < 1e-9
    assert [b[2] for b in balance_bars([0.0, 0.5, 1.0], bins=4)] == [1, 0, 1, 1]
    assert sum(b[2] for b in insert_bars(distributions.insert_sizes)) <= 62
    with pytest.raises(FormatError, match="format_version"):
        QcDistributions.from_dict({"format_version": 9})


def test_worker_errors_come_back_typed(tmp_path: Path) -> None:
    step = StepFailedError("cram", "samtools view", 1, "[E::fai] bad index")
    again = error_from_record(json.loads(json.dumps(error_record(step))), tmp_path)
    assert isinstance(again, StepFailedError)
    assert (again.step, again.tool, again.exit_code, again.stderr_tail) == (
        "cram",
        "samtools view",
        1,
        "[E::fai] bad index",
    )
    assert isinstance(error_from_record(error_record(FormatError("bad R1")), tmp_path), FormatError)
    try:
        raise RuntimeError("boom")
    except RuntimeError as exc:
        internal = error_from_record(error_record(exc), tmp_path / "worker.log")
    assert type(internal) is PipelineError
    assert "RuntimeError: boom" in str(internal)
    assert "worker.log" in str(internal)


def test_demo_without_the_pipeline_extra_skips_the_pipeline_part(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import helgenom.services.demo as demo

    monkeypatch.setattr(demo, "PIPELINE_MODULES", ("helgenom_no_such_module",))
    report = demo.run_demo(tmp_path / "demo")
    assert report.pipeline is None
    assert "pip install 'helgenom[pipeline]'" in report.pipeline_skipped
    assert report.verification is not None
    assert report.verification.ok


def test_slurm_options_come_from_settings_and_are_checked(
    world: World, sim: SimulatedSample, instance_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = world.platform
    operator = p.context("operator")
    load_reference(world, sim)
    sample_id = sequenced(world, world.patient_a, sim)
    with pytest.raises(InvalidInputError, match="only applies with --executor slurm"):
        p.pipeline.run(operator, sample_id, partition="genomics")
    with pytest.raises(InvalidInputError, match="Slurm account 'a b' is not a valid name"):
        p.pipeline.run(operator, sample_id, executor="slurm", account="a b")
    assert state_of(p, sample_id) == "sequenced"
    assert runs_of(p, sample_id) == []
    monkeypatch.setenv("HELGENOM_SLURM_PARTITION", "genomics")
    monkeypatch.setenv("HELGENOM_SLURM_ACCOUNT", "ngc-wgs")
    monkeypatch.setenv("HELGENOM_SLURM_MAX_JOBS", "8")
    with open_platform(str(instance_home)) as again:
        assert again.pipeline.slurm_options == {
            "partition": "genomics",
            "account": "ngc-wgs",
            "max_jobs": 8,
            "status_command": "squeue",
        }
    monkeypatch.setenv("HELGENOM_SLURM_STATUS_COMMAND", "qstat")
    with pytest.raises(ConfigurationError, match="slurm_status_command"):
        open_platform(str(instance_home))


def test_worker_request_carries_the_slurm_settings(tmp_path: Path) -> None:
    request = WorkerRequest(
        sample_id="S-1",
        r1=tmp_path / "r1.fq.gz",
        r2=tmp_path / "r2.fq.gz",
        reference_folder=tmp_path / "ref",
        workdir=tmp_path / "run",
        caller="bcftools",
        cores=2,
        executor="slurm",
        slurm={"partition": "genomics", "account": "ngc-wgs", "max_jobs": 8},
    )
    again = WorkerRequest.from_dict(json.loads(json.dumps(request.asdict())))
    assert again == request
    with pytest.raises(FormatError, match="format_version"):
        WorkerRequest.from_dict({**request.asdict(), "format_version": 1})
