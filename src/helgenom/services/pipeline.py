"""Secondary analysis of a sample: the pipeline run, its products and its QC verdict.

``pipeline run SAMPLE`` (operators) takes a sample that is ``sequenced`` (or
``qc_failed``, for a re-analysis) through::

    check access (pipeline.run), the sample's state, the reference, the caller
    one transaction: a pipeline_runs row (running) + sample -> analysing + audit entry
    decrypt the sample's R1/R2 FASTQ objects into HOME/work/RUN/inputs (mode 0700;
        each read audited as object.read)
    run_pipeline in a child process (Snakemake changes the working folder)
    judge the QC (thresholds from the settings; inferred sex against the CPR sex)
    write the QC report (JSON, HTML with plots) and store every product encrypted
        (CRAM, CRAI, gVCF, VCF, their TBI indexes, QC, provenance, QC report),
        each with provenance naming the run, reference, software and input checksums
    register the CRAM, VCF and gVCF with their indexes for htsget (see HTSGET_PRODUCTS;
        each audited as object.put; a later run of the sample takes the names over)
    one transaction: run succeeded + QC metrics + sample -> qc_passed | qc_failed
        (with the reason) + audit entry
    delete the plaintext work folder

A failing step marks the run ``failed`` (step, tool, exit code, stderr tail) and
leaves the sample ``analysing`` with its work folder in place: running
``pipeline run SAMPLE`` again resumes in the same folder from the failed step
(Snakemake keeps the finished ones). The products appear in the object store only
after the whole workflow finished, so a failed run never publishes a half-written
file. An interrupted run (Ctrl-C) is marked ``interrupted`` and resumes the same way.

``pipeline status [SAMPLE]`` lists runs; ``pipeline qc SAMPLE`` shows the QC verdict of
the newest finished run (operators, and geneticists of the ordering department).
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from helgenom.adapters.catalog import Catalog
from helgenom.adapters.catalog.schema import (
    objects,
    persons,
    pipeline_runs,
    qc_metrics,
    samples,
)
from helgenom.core.access import Action
from helgenom.core.errors import (
    ConflictError,
    HelgenomError,
    InvalidInputError,
    NotFoundError,
)
from helgenom.core.models import ObjectKind, RequestContext, Sex
from helgenom.core.quality import QcCheck, QcStatus, QcThresholds, QcVerdict, evaluate_qc
from helgenom.core.samples import MAX_REASON_LENGTH, SampleState
from helgenom.services.gate import Gate
from helgenom.services.htsget import HtsgetService
from helgenom.services.identity import new_id
from helgenom.services.objects import ObjectService
from helgenom.services.references import ReferenceRecord, ReferenceService, pipeline_adapters
from helgenom.services.samples import move_sample

RUN_RECORD_VERSION = 1
"""Version of a ``pipeline_runs`` row."""
EXECUTORS = ("local", "slurm")
DEFAULT_CALLER = "bcftools"
OUTPUT_KINDS: dict[str, ObjectKind] = {
    "cram": ObjectKind.CRAM,
    "crai": ObjectKind.CRAI,
    "gvcf": ObjectKind.GVCF,
    "gvcf_index": ObjectKind.TBI,
    "vcf": ObjectKind.VCF,
    "vcf_index": ObjectKind.TBI,
    "qc": ObjectKind.REPORT,
    "qc_report_json": ObjectKind.REPORT,
    "qc_report_html": ObjectKind.REPORT,
    "provenance": ObjectKind.OTHER,
}
"""Every product stored for a run, in storing order, and its object kind."""
HTSGET_PRODUCTS: dict[str, tuple[str, str]] = {
    "cram": ("crai", ""),
    "vcf": ("vcf_index", ""),
    "gvcf": ("gvcf_index", ".g"),
}
"""Products served over htsget once stored: product -> (its index product, the suffix of
its htsget name after the sample id). The names are those of the pipeline's files
(``SAMPLE.cram``, ``SAMPLE.vcf.gz``, ``SAMPLE.g.vcf.gz``) without the extension, so a
client asks for ``reads/SAMPLE`` (or ``reads/SAMPLE.cram``), ``variants/SAMPLE`` (or
``variants/SAMPLE.vcf.gz``) and ``variants/SAMPLE.g`` (or ``variants/SAMPLE.g.vcf.gz``)."""
RUNNABLE_STATES = frozenset({SampleState.SEQUENCED, SampleState.QC_FAILED, SampleState.ANALYSING})
"""A run starts from sequenced, re-analyses from qc_failed, resumes from analysing."""


class RunStatus(enum.StrEnum):
    """Where a pipeline run is."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    INTERRUPTED = "interrupted"


RESUMABLE = frozenset({RunStatus.RUNNING, RunStatus.FAILED, RunStatus.INTERRUPTED})
"""A new run of the sample resumes in the work folder of a run left in these states
(a run still going holds the folder's lock, so the new one is refused)."""


@dataclass(frozen=True, slots=True)
class RunError:
    """Why a run failed."""

    code: str
    """The error code (``tool_failed``, ``format_error``, ...)."""
    step: str | None
    """The pipeline step, when a step failed."""
    tool: str | None
    """The tool, e.g. ``samtools view``."""
    exit_code: int | None
    """The tool's exit code."""
    message: str
    """The message, with the tool's stderr tail."""


@dataclass(frozen=True, slots=True)
class PipelineRun:
    """A pipeline run as the catalog knows it (no person, no CPR)."""

    run_id: str
    sample_id: str
    status: RunStatus
    reference_build: str
    reference_sha256: str
    caller: str
    executor: str
    cores: int
    started_at: dt.datetime
    started_by: str
    finished_at: dt.datetime | None
    executed_steps: tuple[str, ...]
    """Steps this run executed (a resumed run skips the finished ones)."""
    inputs: tuple[dict[str, Any], ...]
    """The FASTQ objects read: ``{"read", "object_id", "sha256", "size"}``."""
    outputs: dict[str, str]
    """Product name -> object id (see :data:`OUTPUT_KINDS`)."""
    error: RunError | None
    qc_status: str | None
    """``passed`` or ``failed`` once the run succeeded."""
    qc_reason: str | None
    resumed_from: str | None
    """The earlier run whose work folder this run resumed in."""


@dataclass(frozen=True, slots=True)
class RunOutcome:
    """What ``pipeline run`` did."""

    run: PipelineRun
    verdict: QcVerdict
    sample_state: SampleState
    """The sample's state afterwards (qc_passed or qc_failed, unless moved meanwhile)."""
    htsget: dict[str, str] = field(default_factory=dict)
    """Product (see :data:`HTSGET_PRODUCTS`) -> the htsget name it is served as."""


@dataclass(frozen=True, slots=True)
class QcView:
    """The QC verdict of a sample's newest finished run."""

    run_id: str
    sample_id: str
    reference_build: str
    passed: bool
    reason: str
    checks: tuple[QcCheck, ...]
    report_objects: dict[str, str]
    """``qc_report_html``, ``qc_report_json``, ``qc`` -> object id."""
    html_path: Path | None
    """Where the HTML report was written, when asked for."""


@dataclass(frozen=True, slots=True)
class _Facts:
    sample_id: str
    person: str
    state: SampleState


@dataclass(frozen=True, slots=True)
class _Input:
    read: int
    object_id: str
    sha256: str
    size: int

    def asdict(self) -> dict[str, Any]:
        return {
            "read": self.read,
            "object_id": self.object_id,
            "sha256": self.sha256,
            "size": self.size,
        }


def _loads(text: str | None, default: Any) -> Any:
    return json.loads(text) if text else default


def _run(row: Any) -> PipelineRun:
    error = None
    if row.status in (RunStatus.FAILED, RunStatus.INTERRUPTED) and row.error_message:
        code, _, message = str(row.error_message).partition(": ")
        error = RunError(code, row.error_step, row.error_tool, row.error_exit_code, message)
    return PipelineRun(
        run_id=row.id,
        sample_id=row.sample_id,
        status=RunStatus(row.status),
        reference_build=row.reference_build,
        reference_sha256=row.reference_sha256,
        caller=row.caller,
        executor=row.executor,
        cores=int(row.cores),
        started_at=row.started_at,
        started_by=row.started_by,
        finished_at=row.finished_at,
        executed_steps=tuple(_loads(row.executed_steps, [])),
        inputs=tuple(_loads(row.input_objects, [])),
        outputs=dict(_loads(row.output_objects, {})),
        error=error,
        qc_status=row.qc_status,
        qc_reason=row.qc_reason,
        resumed_from=row.resumed_from,
    )


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class PipelineService:
    """Pipeline runs of samples: start, resume, store the products, judge the QC."""

    def __init__(
        self,
        catalog: Catalog,
        gate: Gate,
        objects: ObjectService,
        references: ReferenceService,
        htsget: HtsgetService,
        work_path: Path,
        thresholds: QcThresholds,
        default_cores: int = 2,
        slurm_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.catalog = catalog
        self.gate = gate
        self.objects = objects
        self.references = references
        self.htsget = htsget
        """Registers the run's CRAM, VCF and gVCF for htsget."""
        self.work_path = work_path
        """Run folders (``HOME/work``), mode 0700: they hold decrypted reads."""
        self.thresholds = thresholds
        self.default_cores = default_cores
        self.slurm_options: dict[str, Any] = dict(slurm_options or {})
        """The instance's Slurm settings (``SlurmSettings`` keywords: partition, account, ...)."""

    def _slurm_options(
        self, executor: str, partition: str | None, account: str | None
    ) -> dict[str, Any] | None:
        """The run's Slurm settings: the instance's, with ``partition``/``account`` overriding."""
        if executor != "slurm":
            if partition is not None or account is not None:
                raise InvalidInputError(
                    "a Slurm partition or account only applies with --executor slurm"
                )
            return None
        options = {k: v for k, v in self.slurm_options.items() if v is not None}
        if partition is not None:
            options["partition"] = partition
        if account is not None:
            options["account"] = account
        return options

    # -- facts ------------------------------------------------------------------------------

    def _facts(self, sample_id: str) -> _Facts:
        with self.catalog.begin() as conn:
            row = conn.execute(
                sa.select(samples.c.person_pseudonym, samples.c.state).where(
                    samples.c.id == sample_id
                )
            ).first()
        if row is None:
            raise NotFoundError(f"no sample {sample_id}; see helgenom sample status")
        return _Facts(sample_id, str(row.person_pseudonym), SampleState(row.state))

    @staticmethod
    def _inputs(conn: Connection, sample_id: str) -> tuple[_Input, _Input]:
        """The sample's newest stored R1 and R2 FASTQ objects (by provenance ``read``)."""
        rows = conn.execute(
            sa.select(
                objects.c.id,
                objects.c.plaintext_sha256,
                objects.c.plaintext_size,
                objects.c.provenance,
            )
            .where(objects.c.sample_id == sample_id)
            .where(objects.c.kind == ObjectKind.FASTQ.value)
            .where(objects.c.state == "stored")
            .order_by(objects.c.created_at, objects.c.id)
        ).all()
        found: dict[int, _Input] = {}
        for row in rows:
            read = _loads(row.provenance, {}).get("read")
            if read in (1, 2):
                found[read] = _Input(read, row.id, row.plaintext_sha256, int(row.plaintext_size))
        if set(found) != {1, 2}:
            raise NotFoundError(
                f"sample {sample_id} has no stored pair of reads (R1 and R2): add them with "
                f"helgenom reads add {sample_id} R1.fastq.gz R2.fastq.gz"
            )
        return found[1], found[2]

    def _resumable(
        self, conn: Connection, sample_id: str, reference_sha256: str, caller: str
    ) -> Any | None:
        """The sample's newest run, when a new run with this configuration resumes it
        (same reference and caller, its work folder still there)."""
        row = conn.execute(
            sa.select(pipeline_runs)
            .where(pipeline_runs.c.sample_id == sample_id)
            .order_by(pipeline_runs.c.started_at.desc(), pipeline_runs.c.id.desc())
            .limit(1)
        ).first()
        if (
            row is None
            or row.status not in RESUMABLE
            or row.reference_sha256 != reference_sha256
            or row.caller != caller
            or not (self.work_path / str(row.workdir)).is_dir()
        ):
            return None
        return row

    # -- run --------------------------------------------------------------------------------

    def run(
        self,
        ctx: RequestContext,
        sample_id: str,
        *,
        build: str | None = None,
        caller: str = DEFAULT_CALLER,
        executor: str = "local",
        cores: int | None = None,
        partition: str | None = None,
        account: str | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> RunOutcome:
        """Analyse a sample's reads (operators; see module doc).

        Raises
        ------
        PermissionDeniedError
            Not an operator (audited).
        NotFoundError
            No such sample, no stored R1/R2 pair, no such reference build.
        ConflictError
            The sample is not sequenced, qc_failed or analysing; or another run of the
            sample holds its work folder.
        InvalidInputError
            A bad executor, caller or core count; several references and no ``build``.
        PipelineError
            A step failed (``StepFailedError``: step, tool, exit code, stderr tail); the
            run is marked failed, the sample stays analysing, a new run resumes.
        """
        say = progress or (lambda _message: None)
        if executor not in EXECUTORS:
            raise InvalidInputError(f"unknown executor {executor!r}: choose one of local, slurm")
        cores = self.default_cores if cores is None else cores
        if cores < 1:
            raise InvalidInputError(f"cores must be at least 1, not {cores}")
        slurm = self._slurm_options(executor, partition, account)
        facts = self._facts(sample_id)
        resource = f"sample/{sample_id}"
        self.gate.authorise(ctx, Action.PIPELINE_RUN, resource=resource, person=facts.person)
        if facts.state not in RUNNABLE_STATES:
            raise ConflictError(
                f"sample {sample_id} is {facts.state.value}: the pipeline runs on a sequenced "
                "sample (add its reads with helgenom reads add), re-analyses a qc_failed one "
                "and resumes an analysing one"
            )
        pipeline = pipeline_adapters()
        if slurm is not None:
            pipeline.slurm.SlurmSettings.from_dict(slurm)  # names and values checked up front
        pipeline.layout.check_sample_id(sample_id)
        pipeline.callers.resolve_caller(caller)
        say("checking the reference genome")
        reference, info = self.references.resolve(build)

        run_id = new_id("RUN")
        with self.gate.access(
            ctx, Action.PIPELINE_RUN, resource=resource, person=facts.person
        ) as grant:
            conn = grant.conn
            inputs = self._inputs(conn, sample_id)
            previous = self._resumable(conn, sample_id, reference.sha256, caller)
            workdir_name = run_id if previous is None else str(previous.workdir)
            conn.execute(
                pipeline_runs.insert().values(
                    id=run_id,
                    sample_id=sample_id,
                    reference_build=reference.build,
                    reference_sha256=reference.sha256,
                    caller=caller,
                    executor=executor,
                    cores=cores,
                    status=RunStatus.RUNNING.value,
                    workdir=workdir_name,
                    resumed_from=None if previous is None else previous.id,
                    input_objects=json.dumps([i.asdict() for i in inputs]),
                    started_at=_now(),
                    started_by=ctx.actor.name,
                    format_version=RUN_RECORD_VERSION,
                )
            )
            state = SampleState(
                conn.execute(
                    sa.select(samples.c.state).where(samples.c.id == sample_id)
                ).scalar_one()
            )
            moved = ""
            if state is not SampleState.ANALYSING:
                move_sample(
                    conn,
                    ctx.actor.name,
                    sample_id,
                    [SampleState.ANALYSING],
                    f"pipeline run {run_id} started",
                )
                moved = f"; {state.value} -> analysing"
            resumed = "" if previous is None else f", resuming run {previous.id}"
            where = ""
            if slurm is not None:
                where = ", Slurm partition " + str(slurm.get("partition") or "(default)")
                if slurm.get("account"):
                    where += f", account {slurm['account']}"
            grant.note = (
                f"run {run_id} started ({reference.build}, {caller}{where}{resumed}){moved}"
            )

        workdir = self.work_path / workdir_name
        phase = "preparing the work folder"
        try:
            self._prepare_workdir(workdir)
            phase = "decrypting the reads"
            say("decrypting the reads into the private work folder")
            r1, r2 = self._decrypt_inputs(ctx, inputs, workdir, pipeline)
            phase = "running the workflow"
            registered = self._registered_sex(facts.person)
            say(
                "running the workflow (align, mark duplicates, CRAM, call, VCF, QC)"
                + ("" if previous is None else f", resuming in the work folder of {previous.id}")
            )
            outcome = pipeline.worker.run_in_worker(
                pipeline.worker.WorkerRequest(
                    sample_id=sample_id,
                    r1=r1,
                    r2=r2,
                    reference_folder=info.folder,
                    workdir=workdir,
                    caller=caller,
                    cores=cores,
                    executor=executor,
                    slurm=slurm,
                    sex=None if registered is None else registered.value,
                )
            )
            phase = "storing the products"
            say("judging the QC and storing the products encrypted")
            verdict = evaluate_qc(outcome.result.qc, self.thresholds, registered)
            stored = self._store_products(
                ctx, run_id, sample_id, reference, caller, inputs, workdir, outcome, verdict
            )
            phase = "registering the products for htsget"
            served = self._serve(ctx, sample_id, stored)
            phase = "recording the outcome"
            final_state = self._finish(ctx, run_id, facts, workdir_name, outcome, verdict, stored)
        except BaseException as exc:
            self._fail(ctx, run_id, facts, workdir, exc, phase)
            raise
        self._remove_workdirs(sample_id)
        return RunOutcome(self._get_run(run_id), verdict, final_state, served)

    def _prepare_workdir(self, workdir: Path) -> None:
        self.work_path.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.work_path.chmod(0o700)
        workdir.mkdir(mode=0o700, exist_ok=True)
        workdir.chmod(0o700)

    def _decrypt_inputs(
        self, ctx: RequestContext, inputs: tuple[_Input, _Input], workdir: Path, pipeline: Any
    ) -> tuple[Path, Path]:
        """Decrypt R1 and R2 where the runner stages them, unless already there (a resume)."""
        layout = pipeline.layout
        manifest_path = workdir / layout.INPUT_MANIFEST
        try:
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError):
            manifest = {}
        paths: list[Path] = []
        for item in inputs:
            label = f"R{item.read}"
            target = workdir / layout.STAGED_READS[label.lower()]
            target.parent.mkdir(mode=0o700, exist_ok=True)
            known = manifest.get(label, {})
            same = (
                target.is_file()
                and known.get("sha256") == item.sha256
                and target.stat().st_size == item.size
            )
            if not same:
                # Re-writing a staged read would make Snakemake redo every step.
                self.objects.get(ctx, item.object_id, target, force=True)
            paths.append(target)
        return paths[0], paths[1]

    def _registered_sex(self, person: str) -> Sex | None:
        with self.catalog.begin() as conn:
            sex = conn.execute(
                sa.select(persons.c.sex).where(persons.c.pseudonym == person)
            ).scalar_one_or_none()
        return Sex(sex) if sex in (Sex.MALE.value, Sex.FEMALE.value) else None

    def _store_products(
        self,
        ctx: RequestContext,
        run_id: str,
        sample_id: str,
        reference: ReferenceRecord,
        caller: str,
        inputs: tuple[_Input, _Input],
        workdir: Path,
        outcome: Any,
        verdict: QcVerdict,
    ) -> dict[str, str]:
        """Write the QC report, then store every product encrypted; name -> object id."""
        qcreport = pipeline_adapters().qcreport
        result = outcome.result
        input_docs = [
            {"label": f"R{i.read}", "object_id": i.object_id, "sha256": i.sha256, "size": i.size}
            for i in inputs
        ]
        report = qcreport.build_report(
            run_id=run_id,
            sample_id=sample_id,
            reference={"build": reference.build, "sha256": reference.sha256},
            caller=caller,
            verdict=verdict,
            metrics=result.qc,
            distributions=outcome.distributions,
            provenance=result.provenance,
            inputs=input_docs,
        )
        report_dir = workdir / "report"
        report_dir.mkdir(mode=0o700, exist_ok=True)
        paths: dict[str, Path] = dict(result.outputs)
        paths["qc_report_json"] = report_dir / f"{sample_id}.qc-report.json"
        paths["qc_report_json"].write_text(
            json.dumps(report, indent=2, sort_keys=True) + "\n", encoding="utf-8"
        )
        paths["qc_report_html"] = report_dir / f"{sample_id}.qc-report.html"
        paths["qc_report_html"].write_text(qcreport.render_html(report), encoding="utf-8")
        common = {
            "source": "pipeline",
            "run_id": run_id,
            "pipeline": result.provenance.get("pipeline", "helgenom secondary analysis"),
            "pipeline_version": result.provenance.get("pipeline_version"),
            "caller": caller,
            "reference": {"build": reference.build, "sha256": reference.sha256},
            "software": result.provenance.get("software", {}),
            "inputs": [i.asdict() for i in inputs],
        }
        stored: dict[str, str] = {}
        for name, kind in OUTPUT_KINDS.items():
            put = self.objects.put(
                ctx,
                paths[name],
                sample_id=sample_id,
                kind=kind,
                provenance={**common, "product": name},
            )
            stored[name] = put.record.object_id
        return stored

    def _serve(self, ctx: RequestContext, sample_id: str, stored: dict[str, str]) -> dict[str, str]:
        """Register the stored CRAM, VCF and gVCF with their indexes for htsget (one
        ``object.put`` entry each); product -> htsget name. An earlier run's products of the
        sample give up the names; registering the same objects again changes nothing."""
        served: dict[str, str] = {}
        for product, (index, suffix) in HTSGET_PRODUCTS.items():
            record = self.htsget.register(
                ctx,
                stored[product],
                index_object_id=stored[index],
                name=f"{sample_id}{suffix}",
                replace=True,
            )
            served[product] = record.name
        return served

    def _finish(
        self,
        ctx: RequestContext,
        run_id: str,
        facts: _Facts,
        workdir_name: str,
        outcome: Any,
        verdict: QcVerdict,
        stored: dict[str, str],
    ) -> SampleState:
        """One transaction: run succeeded, QC metrics, the sample's move, the audit entry."""
        qc_status = "passed" if verdict.passed else "failed"
        reason = f"run {run_id}: {verdict.summary}"
        if len(reason) > MAX_REASON_LENGTH:
            reason = reason[: MAX_REASON_LENGTH - 3] + "..."
        with self.gate.access(
            ctx, Action.PIPELINE_RUN, resource=f"sample/{facts.sample_id}", person=facts.person
        ) as grant:
            conn = grant.conn
            conn.execute(
                pipeline_runs.update()
                .where(pipeline_runs.c.id == run_id)
                .values(
                    status=RunStatus.SUCCEEDED.value,
                    finished_at=_now(),
                    executed_steps=json.dumps(list(outcome.result.executed_steps)),
                    output_objects=json.dumps(stored),
                    qc_status=qc_status,
                    qc_reason=verdict.summary,
                )
            )
            conn.execute(
                qc_metrics.insert(),
                [
                    {
                        "run_id": run_id,
                        "name": c.name,
                        "position": position,
                        "label": c.label,
                        "value": c.value,
                        "observed": c.observed[:100],
                        "threshold": c.threshold[:100],
                        "status": c.status.value,
                        "detail": c.detail,
                    }
                    for position, c in enumerate(verdict.checks)
                ],
            )
            self._close_stale(conn, workdir_name, run_id)
            current = SampleState(
                conn.execute(
                    sa.select(samples.c.state).where(samples.c.id == facts.sample_id)
                ).scalar_one()
            )
            target = SampleState.QC_PASSED if verdict.passed else SampleState.QC_FAILED
            if current is SampleState.ANALYSING:
                move_sample(conn, ctx.actor.name, facts.sample_id, [target], reason)
                moved = f"analysing -> {target.value}"
                current = target
            else:
                moved = f"sample is {current.value} (moved meanwhile): left as it is"
            grant.note = f"run {run_id} succeeded; QC {qc_status}; {moved}"
        return current

    @staticmethod
    def _close_stale(conn: Connection, workdir_name: str, run_id: str) -> None:
        """Earlier runs still marked running in this work folder were killed: say so."""
        conn.execute(
            pipeline_runs.update()
            .where(pipeline_runs.c.workdir == workdir_name)
            .where(pipeline_runs.c.status == RunStatus.RUNNING.value)
            .where(pipeline_runs.c.id != run_id)
            .values(
                status=RunStatus.INTERRUPTED.value,
                finished_at=_now(),
                error_message="interrupted: the run stopped without recording an outcome",
            )
        )

    def _fail(
        self,
        ctx: RequestContext,
        run_id: str,
        facts: _Facts,
        workdir: Path,
        error: BaseException,
        phase: str,
    ) -> None:
        """Record a failed (or interrupted) run; the sample stays analysing."""
        locked_out = isinstance(error, ConflictError) and phase == "running the workflow"
        interrupted = not isinstance(error, Exception)
        code = error.code if isinstance(error, HelgenomError) else "internal_error"
        if interrupted:
            code = "interrupted"
        values: dict[str, Any] = {
            "status": (RunStatus.INTERRUPTED if interrupted else RunStatus.FAILED).value,
            "finished_at": _now(),
            "error_step": getattr(error, "step", None),
            "error_tool": getattr(error, "tool", None),
            "error_exit_code": getattr(error, "exit_code", None),
            "error_message": f"{code}: {error}"[:4000],
        }
        with self.catalog.begin() as conn:
            conn.execute(
                pipeline_runs.update().where(pipeline_runs.c.id == run_id).values(**values)
            )
            if not locked_out:
                self._close_stale(conn, workdir.name, run_id)
        where = f" at step {values['error_step']}" if values["error_step"] else f" while {phase}"
        self.gate.record(
            ctx,
            Action.PIPELINE_RUN,
            f"sample/{facts.sample_id}",
            subjects={facts.person},
            decision="error",
            reason=f"run {run_id} {values['status']}: {code}{where}; sample stays analysing",
        )
        if locked_out:
            error.add_note(
                f"run {run_id} was not started: another run of sample {facts.sample_id} is "
                "using its work folder; see helgenom pipeline status"
            )
        elif isinstance(error, Exception):
            error.add_note(
                f"run {run_id} failed{where}; sample {facts.sample_id} stays analysing and its "
                f"work folder is kept ({workdir}): fix the cause, then run helgenom pipeline "
                f"run {facts.sample_id} again to resume from the failed step"
            )

    def _remove_workdirs(self, sample_id: str) -> None:
        """Delete the plaintext work folders of the sample's runs (after a success)."""
        with self.catalog.begin() as conn:
            names = {
                str(r.workdir)
                for r in conn.execute(
                    sa.select(pipeline_runs.c.workdir).where(pipeline_runs.c.sample_id == sample_id)
                )
            }
        for name in sorted(names):
            path = self.work_path / name
            if path.is_dir():
                shutil.rmtree(path)

    def _get_run(self, run_id: str) -> PipelineRun:
        with self.catalog.begin() as conn:
            row = conn.execute(sa.select(pipeline_runs).where(pipeline_runs.c.id == run_id)).one()
        return _run(row)

    # -- read -------------------------------------------------------------------------------

    def status(self, ctx: RequestContext, sample_id: str | None = None) -> list[PipelineRun]:
        """Pipeline runs, oldest first: all (operators) or one sample's (and its care team's
        geneticists)."""
        query = sa.select(pipeline_runs).order_by(pipeline_runs.c.started_at, pipeline_runs.c.id)
        if sample_id is None:
            with self.gate.access(ctx, Action.PIPELINE_READ, resource="pipeline_runs") as grant:
                rows = grant.conn.execute(query).all()
                grant.note = f"{len(rows)} runs listed"
            return [_run(r) for r in rows]
        facts = self._facts(sample_id)
        with self.gate.access(
            ctx, Action.PIPELINE_READ, resource=f"sample/{sample_id}", person=facts.person
        ) as grant:
            rows = grant.conn.execute(query.where(pipeline_runs.c.sample_id == sample_id)).all()
            grant.note = f"{len(rows)} runs listed"
        return [_run(r) for r in rows]

    def qc(
        self,
        ctx: RequestContext,
        sample_id: str,
        *,
        html_out: Path | None = None,
        force: bool = False,
    ) -> QcView:
        """The QC verdict of the sample's newest finished run; optionally its HTML report.

        Raises
        ------
        NotFoundError
            No such sample, or no finished run yet.
        ConflictError
            ``html_out`` exists and ``force`` is not set.
        """
        facts = self._facts(sample_id)
        with self.gate.access(
            ctx, Action.PIPELINE_READ, resource=f"sample/{sample_id}", person=facts.person
        ) as grant:
            run = grant.conn.execute(
                sa.select(pipeline_runs)
                .where(pipeline_runs.c.sample_id == sample_id)
                .where(pipeline_runs.c.status == RunStatus.SUCCEEDED.value)
                .order_by(pipeline_runs.c.finished_at.desc(), pipeline_runs.c.id.desc())
                .limit(1)
            ).first()
            if run is None:
                raise NotFoundError(
                    f"sample {sample_id} has no finished pipeline run yet: see helgenom pipeline "
                    "status"
                )
            rows = grant.conn.execute(
                sa.select(qc_metrics)
                .where(qc_metrics.c.run_id == run.id)
                .order_by(qc_metrics.c.position)
            ).all()
            grant.note = f"QC of run {run.id}"
        checks = tuple(
            QcCheck(r.name, r.label, r.value, r.observed, r.threshold, QcStatus(r.status), r.detail)
            for r in rows
        )
        outputs = dict(_loads(run.output_objects, {}))
        reports = {
            k: v for k, v in outputs.items() if k in ("qc", "qc_report_json", "qc_report_html")
        }
        if html_out is not None:
            self.objects.get(ctx, reports["qc_report_html"], html_out, force=force)
        return QcView(
            run_id=run.id,
            sample_id=sample_id,
            reference_build=run.reference_build,
            passed=run.qc_status == "passed",
            reason=run.qc_reason or "",
            checks=checks,
            report_objects=reports,
            html_path=html_out,
        )


__all__ = [
    "DEFAULT_CALLER",
    "EXECUTORS",
    "HTSGET_PRODUCTS",
    "OUTPUT_KINDS",
    "PipelineRun",
    "PipelineService",
    "QcView",
    "RunError",
    "RunOutcome",
    "RunStatus",
]
