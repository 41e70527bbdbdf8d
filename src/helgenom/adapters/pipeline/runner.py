"""Running the secondary-analysis workflow of one sample through Snakemake's Python API.

:func:`run_pipeline` is the one entry point::

    result = run_pipeline("S1", r1, r2, reference, workdir, cores=2)
    result.outputs["cram"], result.qc["mapping_rate"], result.provenance["steps"]

It stages the reads into the run folder (by checksum, so a repeated call keeps
them and their time stamps), writes ``run.json``, holds an exclusive lock on the
folder, and asks Snakemake for the products. Snakemake runs only what is missing
or out of date: a repeated call after success runs nothing; after a failure or an
interruption it reruns the failed or incomplete steps and what depends on them
(``--rerun-incomplete``), never the finished steps before them.

A failing step comes back as :class:`~helgenom.adapters.pipeline.tools.StepFailedError`
(a ``ToolFailedError``: step, tool, exit code, stderr tail), or as the typed error
the step raised (``FormatError`` for unreadable reads, ``ToolNotFoundError`` for a
caller's missing program).

Not thread-safe: Snakemake changes the process's working folder while it runs.
Run one pipeline per process (a worker), as a cluster would.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from helgenom.adapters.pipeline import layout
from helgenom.adapters.pipeline.callers import DEFAULT_CALLER, resolve_caller
from helgenom.adapters.pipeline.reference import ReferenceInfo, file_sha256
from helgenom.adapters.pipeline.slurm import (
    SLURM_LOG_DIR,
    SlurmSettings,
    SlurmWorkflow,
    active_jobs,
    check_cluster,
    slurm_workflow,
)
from helgenom.adapters.pipeline.tools import StepFailedError
from helgenom.core import errors
from helgenom.core.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PipelineError,
)

SNAKEFILE = Path(__file__).resolve().parent / "workflow" / "Snakefile"
"""The workflow, shipped as package data."""
RUN_FORMAT_VERSION = 1
"""Version of ``run.json``."""
EXECUTORS = ("local", "slurm")
LOCK_NAME = ".helgenom-run.lock"


@dataclass(frozen=True, slots=True)
class PipelineResult:
    """What a finished run produced."""

    outputs: dict[str, Path]
    """Product name (``cram``, ``crai``, ``gvcf``, ``gvcf_index``, ``vcf``,
    ``vcf_index``, ``qc``, ``provenance``) -> absolute path."""
    qc: dict[str, Any]
    """The QC document (see :mod:`helgenom.adapters.pipeline.qc`)."""
    provenance: dict[str, Any]
    """The provenance document: software, versions, parameters, checksums."""
    executed_steps: tuple[str, ...]
    """Steps this call ran, in workflow order (empty when everything was up to date)."""


@contextlib.contextmanager
def _exclusive(workdir: Path) -> Iterator[None]:
    """Hold an exclusive lock on the run folder (released by the kernel if we die)."""
    with (workdir / LOCK_NAME).open("a") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConflictError(
                f"another pipeline run is using {workdir}: wait for it to finish"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def stage_reads(workdir: Path, r1: Path, r2: Path) -> dict[str, dict[str, Any]]:
    """Copy the reads into ``workdir/inputs`` unless the same bytes are already there.

    Returns label -> ``{"sha256", "size"}`` (never the original file names, which may
    carry a person's number).
    """
    manifest_path = workdir / layout.INPUT_MANIFEST
    try:
        manifest: dict[str, Any] = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        manifest = {}
    staged: dict[str, dict[str, Any]] = {}
    for key, source in (("r1", r1), ("r2", r2)):
        label = key.upper()
        if not source.is_file():
            raise NotFoundError(f"{label} reads file does not exist: give the FASTQ file")
        target = workdir / layout.STAGED_READS[key]
        target.parent.mkdir(parents=True, exist_ok=True)
        same_file = target.exists() and os.path.samefile(source, target)
        digest = file_sha256(source)
        known = manifest.get(label, {})
        if not same_file and not (target.exists() and known.get("sha256") == digest):
            partial = target.with_name(f".partial.{target.name}")
            shutil.copyfile(source, partial)
            os.replace(partial, target)
        staged[label] = {"sha256": digest, "size": target.stat().st_size}
    if staged != manifest:
        partial = manifest_path.with_name(f".partial.{manifest_path.name}")
        partial.write_text(json.dumps(staged, indent=2, sort_keys=True) + "\n", "utf-8")
        os.replace(partial, manifest_path)
    return staged


def _write_config(workdir: Path, config: dict[str, Any]) -> Path:
    path = workdir / layout.RUN_CONFIG
    text = json.dumps(config, indent=2, sort_keys=True) + "\n"
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        partial = path.with_name(f".partial.{path.name}")
        partial.write_text(text, encoding="utf-8")
        os.replace(partial, path)
    return path


def _snakemake(
    workdir: Path,
    config_path: Path,
    cores: int,
    executor: str,
    slurm: SlurmWorkflow | None = None,
) -> list[str]:
    """Run the workflow; returns the files Snakemake planned to (re)create.

    ``slurm`` (with ``executor="slurm"``) adds the Slurm plugin's settings; without
    it the call is the local one.
    """
    from snakemake.api import SnakemakeApi  # type: ignore[import-untyped,unused-ignore]
    from snakemake.scheduling.greedy import (  # type: ignore[import-untyped,unused-ignore]
        SchedulerSettings as GreedySchedulerSettings,
    )
    from snakemake.settings.types import (  # type: ignore[import-untyped,unused-ignore]
        ConfigSettings,
        DAGSettings,
        ExecutionSettings,
        OutputSettings,
        Quietness,
        ResourceSettings,
        SchedulingSettings,
        WorkflowSettings,
    )

    planned: list[str] = []
    resources: dict[str, Any] = {"cores": cores} if slurm is None else slurm.resource_settings
    execution: dict[str, Any] = {} if slurm is None else slurm.execution_settings
    execute: dict[str, Any] = {} if slurm is None else slurm.execute_workflow
    running = contextlib.nullcontext() if slurm is None else slurm.running()
    cache_parent = None if slurm is None else slurm.source_cache_parent
    # A fresh source cache per run: Snakemake keeps serving a cached Snakefile and
    # scripts from a reused cache folder, and leaks its own temporary one.
    with (
        tempfile.TemporaryDirectory(
            prefix="helgenom-snakemake-", dir=cache_parent
        ) as runtime_cache,
        SnakemakeApi(OutputSettings(quiet={Quietness.ALL})) as api,
        running,
    ):
        workflow = api.workflow(
            resource_settings=ResourceSettings(**resources),
            config_settings=ConfigSettings(configfiles=[config_path]),
            workflow_settings=WorkflowSettings(runtime_source_cache_path=Path(runtime_cache)),
            snakefile=SNAKEFILE,
            workdir=workdir,
        )
        dag = workflow.dag(DAGSettings(force_incomplete=True))
        dag.execute_workflow(
            executor=executor,
            # The folder lock above guarantees one run per folder; Snakemake's own lock
            # would survive a killed run and block its resumption.
            execution_settings=ExecutionSettings(lock=False, **execution),
            scheduling_settings=SchedulingSettings(scheduler="greedy"),
            scheduler_settings=GreedySchedulerSettings(),
            updated_files=planned,
            **execute,
        )
    return planned


_ERROR_TYPES: dict[str, type[errors.HelgenomError]] = {
    name: getattr(errors, name)
    for name in errors.__all__
    if isinstance(getattr(errors, name), type)
    and issubclass(getattr(errors, name), errors.HelgenomError)
}


def _step_failure(
    workdir: Path, cause: BaseException, slurm: SlurmWorkflow | None = None
) -> errors.HelgenomError:
    """The typed error of the first failed step, from its ``logs/STEP.error.json``."""
    for step in layout.STEPS:
        path = workdir / layout.step_error(step)
        if not path.exists():
            continue
        record = json.loads(path.read_text(encoding="utf-8"))
        kind = str(record.get("kind", ""))
        if kind in ("tool_failed", "internal"):
            return StepFailedError(
                str(record.get("step", step)),
                str(record.get("tool", "unknown")),
                record.get("exit_code"),
                str(record.get("stderr_tail", "")),
            )
        error_type = _ERROR_TYPES.get(kind, PipelineError)
        if error_type is errors.FhirValidationError:
            error_type = PipelineError
        return error_type(f"pipeline step {step} failed: {record.get('message', '')}")
    if slurm is not None:
        reported = slurm.failure_summary()
        return PipelineError(
            f"the pipeline failed before or between steps on Slurm ({reported or cause}): "
            f"see the Slurm job logs in {workdir}/{SLURM_LOG_DIR} and the logs in "
            f"{workdir}/logs (a job Slurm refused or cancelled leaves no step log)"
        )
    return PipelineError(
        f"the pipeline failed before or between steps ({cause}): see the logs in {workdir}/logs "
        f"and {workdir}/.snakemake/log"
    )


def _executed(planned: list[str], sample_id: str) -> tuple[str, ...]:
    files = {str(Path(p)) for p in planned}
    steps = [s for s in layout.STEPS[:-1] if layout.step_record(s) in files]
    if layout.result_paths(sample_id)["provenance"] in files:
        steps.append("provenance")
    return tuple(steps)


def run_pipeline(
    sample_id: str,
    r1: Path,
    r2: Path,
    reference: ReferenceInfo,
    workdir: Path,
    *,
    caller: str = DEFAULT_CALLER,
    cores: int = 2,
    executor: str = "local",
    slurm: SlurmSettings | None = None,
    sex: str | None = None,
) -> PipelineResult:
    """Align, mark duplicates, call and QC one sample's paired reads in ``workdir``.

    Parameters
    ----------
    sample_id
        Names the read group (``SM``) and the products.
    r1, r2
        Gzip FASTQ of read 1 and read 2 (mates paired by file order).
    reference
        A prepared reference (:func:`~helgenom.adapters.pipeline.reference.prepare_reference`).
    workdir
        The run folder; a repeated call with the same folder resumes.
    caller
        ``bcftools`` or a plug-in ``package.module:function``
        (see :mod:`helgenom.adapters.pipeline.callers`).
    cores
        Cores for the whole run (steps use up to all of them).
    executor
        ``local`` (steps run in this process's machine) or ``slurm`` (every step but
        provenance runs as a Slurm job; see :mod:`helgenom.adapters.pipeline.slurm`).
        Both give the same products and resume the same way.
    slurm
        Partition, account, per-step resources and status checks for
        ``executor="slurm"`` (default :class:`SlurmSettings`: the cluster's default
        partition, no account); ignored by the local executor.
    sex
        ``male`` or ``female`` as registered (None: unknown): a male's chrX outside the
        pseudo-autosomal regions and chrY are called haploid.

    Raises
    ------
    InvalidInputError
        A bad sample id, caller, core count or executor.
    NotFoundError
        A reads file or a reference file is missing.
    ConflictError
        Another run holds ``workdir`` (with ``executor="slurm"`` also: Slurm jobs of an
        earlier, killed run are still queued or running there).
    ToolFailedError
        A step's tool failed (:class:`StepFailedError`: step, tool, exit code, stderr).
    FormatError
        The reads cannot be read as a FASTQ pair.
    PipelineError
        Anything else stopped the workflow; with ``executor="slurm"`` also a missing
        executor plugin or Slurm client, an unreachable controller, or an unknown or
        unusable partition (checked before anything runs).
    """
    layout.check_sample_id(sample_id)
    if cores < 1:
        raise InvalidInputError(f"cores must be at least 1, not {cores}")
    if executor not in EXECUTORS:
        raise InvalidInputError(f"unknown executor {executor!r}: choose one of local, slurm")
    resolve_caller(caller)
    for path in (reference.fasta_path, reference.fai_path, reference.mmi_path):
        if not path.is_file():
            raise NotFoundError(
                f"reference file {path.name} of build {reference.build} is missing from "
                f"{path.parent}: prepare the reference again"
            )
    if executor == "slurm":
        slurm = slurm or SlurmSettings()
        check_cluster(slurm)
    else:
        slurm = None
    workdir = workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    with _exclusive(workdir):
        inputs = stage_reads(workdir, r1, r2)
        config = {
            "format_version": RUN_FORMAT_VERSION,
            "sample_id": sample_id,
            "r1": layout.STAGED_READS["r1"],
            "r2": layout.STAGED_READS["r2"],
            "inputs": inputs,
            "reference": reference.asdict(),
            "caller": caller,
            "threads": cores,
        }
        if sex is not None:
            config["sex"] = sex
        config_path = _write_config(workdir, config)
        plan = None
        if slurm is not None:
            still_running = active_jobs(workdir)
            if still_running:
                raise ConflictError(
                    f"Slurm jobs {', '.join(still_running)} of an earlier run are still "
                    f"queued or running in {workdir}: wait for them or cancel them (scancel)"
                )
            plan = slurm_workflow(slurm, reference, cores, workdir)
        for step in layout.STEPS:
            (workdir / layout.step_error(step)).unlink(missing_ok=True)
        try:
            planned = _snakemake(workdir, config_path, cores, executor, plan)
        except Exception as exc:
            raise _step_failure(workdir, exc, plan) from exc
    outputs = {name: workdir / rel for name, rel in layout.result_paths(sample_id).items()}
    missing = [name for name, path in outputs.items() if not path.is_file()]
    if missing:
        raise PipelineError(
            f"the pipeline finished without {', '.join(missing)}: see the logs in {workdir}/logs"
        )
    qc = json.loads(outputs["qc"].read_text(encoding="utf-8"))
    provenance = json.loads(outputs["provenance"].read_text(encoding="utf-8"))
    return PipelineResult(outputs, qc, provenance, _executed(planned, sample_id))


__all__ = ["SNAKEFILE", "PipelineResult", "SlurmSettings", "run_pipeline", "stage_reads"]
