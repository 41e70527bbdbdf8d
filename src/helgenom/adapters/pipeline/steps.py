"""The pipeline steps: what each Snakemake rule runs.

Each rule of the Snakefile runs ``scripts/step.py``, which calls :func:`run_step`
with Snakemake's ``snakemake`` object. :func:`run_step` turns it into a
:class:`StepJob`, runs the step function named after the rule, and

* writes every output aside (``.partial.NAME``) and renames it into place only
  when the step succeeded, so a killed step never leaves a file under its final
  name (Snakemake's incomplete-marker then reruns it: ``--rerun-incomplete``);
* writes the step's provenance record (``provenance/STEP.json``: tools, versions,
  arguments, parameters, timing);
* on failure writes ``logs/STEP.error.json`` (step, tool, exit code, stderr tail,
  error kind) for the runner to raise as a typed error, and exits non-zero.

The step functions are plain functions of a :class:`StepJob` and a
:class:`~helgenom.adapters.pipeline.tools.ToolRunner`; they can be called without
Snakemake.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import socket
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mappy  # type: ignore[import-not-found,unused-ignore]

from helgenom.adapters.pipeline import layout
from helgenom.adapters.pipeline.alignment import PRESET, align_pairs
from helgenom.adapters.pipeline.callers import CallRequest, resolve_caller
from helgenom.adapters.pipeline.qc import build_qc, summarise_variants
from helgenom.adapters.pipeline.reference import ReferenceInfo, acgt_by_contig, file_sha256
from helgenom.adapters.pipeline.tools import (
    StepFailedError,
    ToolRunner,
    software_versions,
    tail,
)
from helgenom.core.errors import HelgenomError
from helgenom.core.version import __version__

PROVENANCE_FORMAT_VERSION = 1
"""Version of the provenance documents (per step and per run)."""
STEP_RECORD_VERSION = 1
MIN_QUAL = 20
"""Calls below this QUAL are kept with FILTER ``LowQual``."""
SORT_MEMORY = "768M"
"""Memory per samtools sort thread."""


@dataclass(frozen=True, slots=True)
class StepJob:
    """One step to run: Snakemake's job, in plain types."""

    step: str
    """Step (rule) name."""
    inputs: dict[str, Path]
    """Named inputs."""
    outputs: dict[str, Path]
    """Named outputs (final names; write them through :func:`aside`)."""
    threads: int
    """Threads the step may use."""
    config: Mapping[str, Any]
    """The run configuration (``run.json``)."""
    workdir: Path
    """The run folder."""

    @classmethod
    def from_snakemake(cls, smk: Any) -> StepJob:
        """Build from the ``snakemake`` object a ``script:`` gets."""
        workdir = Path.cwd()
        return cls(
            step=str(smk.rule),
            inputs={k: workdir / str(v) for k, v in smk.input.items()},
            outputs={k: workdir / str(v) for k, v in smk.output.items()},
            threads=int(smk.threads),
            config=dict(smk.config),
            workdir=workdir,
        )

    @property
    def sample_id(self) -> str:
        """The run's sample."""
        return str(self.config["sample_id"])

    @property
    def reference(self) -> ReferenceInfo:
        """The reference genome."""
        return ReferenceInfo.from_dict(self.config["reference"])

    def scratch(self) -> Path:
        """The step's (empty) folder for temporary files."""
        path = self.workdir / layout.scratch_dir(self.step)
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
        return path


def partial_path(path: Path) -> Path:
    """Where ``path`` is written before it is renamed into place (keeps the suffix)."""
    return path.with_name(f".partial.{path.name}")


@contextmanager
def aside(*paths: Path) -> Iterator[dict[Path, Path]]:
    """Yield final -> partial paths; rename all into place on success, else delete them."""
    partials = {path: partial_path(path) for path in paths}
    for path, partial in partials.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        partial.unlink(missing_ok=True)
    try:
        yield partials
    except BaseException:
        for partial in partials.values():
            partial.unlink(missing_ok=True)
        raise
    for path, partial in partials.items():
        if not partial.exists():
            raise StepFailedError(
                "publish", "helgenom", None, f"the step did not write {path.name}"
            )
        os.replace(partial, path)


def _threads_extra(job: StepJob) -> str:
    return str(max(0, job.threads - 1))


def step_align(job: StepJob, tools: ToolRunner) -> dict[str, Any]:
    """Map the read pairs with mappy into an unsorted, name-grouped BAM."""
    ref = job.reference
    with aside(job.outputs["bam"]) as out:
        summary = align_pairs(
            job.inputs["r1"],
            job.inputs["r2"],
            job.inputs["mmi"],
            ref.contigs,
            ref.build,
            job.sample_id,
            out[job.outputs["bam"]],
            threads=job.threads,
        )
    tools.record("mappy", str(mappy.__version__), [f"preset={PRESET}", "{r1}", "{r2}"])
    return {
        "preset": PRESET,
        "read_group": job.sample_id,
        "pairs": summary.pairs,
        "mapped_reads": summary.mapped_reads,
    }


def step_markdup(job: StepJob, tools: ToolRunner) -> dict[str, Any]:
    """fixmate -m, coordinate sort, markdup (duplicates flagged, not removed)."""
    scratch = job.scratch()
    fixmate, ordered = scratch / "fixmate.bam", scratch / "sorted.bam"
    extra = _threads_extra(job)
    tools.samtools("fixmate", "-m", "-@", extra, "-O", "bam", job.inputs["bam"], fixmate)
    tools.samtools(
        "sort", "-@", extra, "-m", SORT_MEMORY, "-T", scratch / "sort", "-O", "bam",
        "-o", ordered, fixmate,
    )  # fmt: skip
    fixmate.unlink()
    bam, stats = job.outputs["bam"], job.outputs["stats"]
    with aside(bam, stats) as out:
        tools.samtools("markdup", "-@", extra, "-s", "-f", out[stats], ordered, out[bam])
    shutil.rmtree(scratch, ignore_errors=True)
    return {"duplicates": "marked, not removed", "sort_memory_per_thread": SORT_MEMORY}


def step_cram(job: StepJob, tools: ToolRunner) -> dict[str, Any]:
    """CRAM against the reference, and its index."""
    cram, crai = job.outputs["cram"], job.outputs["crai"]
    extra = _threads_extra(job)
    with aside(cram, crai) as out:
        tools.samtools(
            "view", "-@", extra, "-C", "-T", job.inputs["fasta"], "-o", out[cram],
            job.inputs["bam"],
        )  # fmt: skip
        tools.samtools("index", "-@", extra, "-o", out[crai], out[cram])
    return {"format": "CRAM 3.0, reference not embedded"}


def step_call(job: StepJob, tools: ToolRunner) -> dict[str, Any]:
    """The configured caller: CRAM -> gVCF with reference blocks (bgzip + tabix)."""
    caller = resolve_caller(str(job.config["caller"]))
    gvcf, index = job.outputs["gvcf"], job.outputs["gvcf_index"]
    with aside(gvcf, index) as out:
        request = CallRequest(
            sample_id=job.sample_id,
            cram=job.inputs["cram"],
            reference=job.inputs["fasta"],
            gvcf=out[gvcf],
            gvcf_index=out[index],
            scratch=job.scratch(),
            threads=job.threads,
            sex=job.config.get("sex"),
        )
        params = caller.function(request, tools)
        if not out[gvcf].exists() or not out[index].exists():
            raise StepFailedError(
                job.step, caller.name, None, "the caller wrote no gVCF or no index"
            )
    shutil.rmtree(request.scratch, ignore_errors=True)
    return {"caller": caller.name, "description": caller.description, **params}


def step_vcf(job: StepJob, tools: ToolRunner) -> dict[str, Any]:
    """Variant sites of the gVCF, split to biallelic, left-aligned, LowQual soft-filtered."""
    scratch = job.scratch()
    alt, normed, split = scratch / "alt.bcf", scratch / "norm.bcf", scratch / "split.bcf"
    fasta = job.inputs["fasta"]
    tools.bcftools("view", "--include", 'GT="alt"', "-Ob", "-o", alt, job.inputs["gvcf"])
    tools.bcftools(
        "norm", "--multiallelics", "-any", "--fasta-ref", fasta, "--check-ref", "e",
        "-Ob", "-o", normed, alt,
    )  # fmt: skip
    tools.bcftools("view", "--include", 'GT="alt"', "-Ob", "-o", split, normed)
    vcf, index = job.outputs["vcf"], job.outputs["vcf_index"]
    with aside(vcf, index) as out:
        tools.bcftools(
            "filter", "--soft-filter", "LowQual", "--exclude", f"QUAL<{MIN_QUAL}",
            "-Oz", "-o", out[vcf], split,
        )  # fmt: skip
        tools.bcftools("index", "--tbi", "--output", out[index], out[vcf])
    shutil.rmtree(scratch, ignore_errors=True)
    return {"normalisation": "bcftools norm -m -any -f REF", "low_qual_below": MIN_QUAL}


def step_qc(job: StepJob, tools: ToolRunner) -> dict[str, Any]:
    """QC metrics (see :mod:`helgenom.adapters.pipeline.qc`)."""
    ref = job.reference
    fasta, cram = job.inputs["fasta"], job.inputs["cram"]
    stats = tools.samtools(
        "stats", "-d", "-@", _threads_extra(job), "--reference", fasta, cram, capture=True
    )
    coverage = tools.samtools("coverage", "--reference", fasta, cram, capture=True)
    document = build_qc(
        sample_id=job.sample_id,
        build=ref.build,
        contig_lengths={c.name: c.length for c in ref.contigs},
        acgt_length=ref.acgt_length,
        stats_text=stats,
        coverage_text=coverage,
        markdup_text=job.inputs["markdup_stats"].read_text(encoding="utf-8"),
        variants=summarise_variants(job.inputs["vcf"]),
        contig_acgt=acgt_by_contig(ref),
    )
    qc = job.outputs["qc"]
    with aside(qc) as out:
        out[qc].write_text(json.dumps(document, indent=2, sort_keys=True) + "\n", "utf-8")
    return {"duplicates_excluded_from_coverage": True}


def step_provenance(job: StepJob, tools: ToolRunner) -> dict[str, Any]:
    """Merge the step records with checksums of every product into one document."""
    _ = tools
    steps = []
    for name in layout.STEPS[:-1]:
        record_path = job.inputs[f"step_{name}"]
        steps.append(json.loads(record_path.read_text(encoding="utf-8")))
    products = {}
    for name in layout.RESULT_NAMES:
        if name == "provenance":
            continue
        path = job.inputs[name]
        products[name] = {
            "path": str(path.relative_to(job.workdir)),
            "sha256": file_sha256(path),
            "size": path.stat().st_size,
        }
    ref = job.reference
    document = {
        "format_version": PROVENANCE_FORMAT_VERSION,
        "pipeline": "helgenom secondary analysis",
        "pipeline_version": __version__,
        "sample_id": job.sample_id,
        "caller": job.config["caller"],
        "reference": {
            "build": ref.build,
            "sha256": ref.sha256,
            "source_sha256": ref.source_sha256,
            "contigs": len(ref.contigs),
            "index": {"tool": "mappy", "version": ref.mappy_version, "preset": PRESET},
        },
        "inputs": job.config.get("inputs", {}),
        "software": software_versions(),
        "steps": steps,
        "outputs": products,
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    final = job.outputs["provenance"]
    with aside(final) as out:
        out[final].write_text(json.dumps(document, indent=2, sort_keys=True) + "\n", "utf-8")
    return {}


STEP_FUNCTIONS: dict[str, Callable[[StepJob, ToolRunner], dict[str, Any]]] = {
    "align": step_align,
    "markdup": step_markdup,
    "cram": step_cram,
    "call": step_call,
    "vcf": step_vcf,
    "qc": step_qc,
    "provenance": step_provenance,
}
"""Step name -> function."""

_PRIMARY_TOOL = {
    "align": "mappy",
    "markdup": "samtools",
    "cram": "samtools",
    "call": "caller",
    "vcf": "bcftools",
    "qc": "samtools",
    "provenance": "helgenom",
}


def _labels(job: StepJob) -> dict[str, str]:
    labels = {str(job.reference.fasta_path): "{reference}"}
    for key in ("r1", "r2"):
        if key in job.inputs:
            labels[str(job.inputs[key])] = "{" + key + "}"
    return labels


def execute_step(job: StepJob) -> dict[str, Any]:
    """Run one step and write its provenance record; returns the record.

    Raises
    ------
    StepFailedError, HelgenomError
        The step failed; nothing was published under a final name.
    """
    log_path = job.workdir / layout.step_log(job.step)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    tools = ToolRunner(job.step, job.workdir, _labels(job), log_path)
    started, clock = dt.datetime.now(dt.UTC), time.monotonic()
    tools.log(f"# step {job.step} started {started.isoformat(timespec='seconds')}")
    params = STEP_FUNCTIONS[job.step](job, tools)
    record = {
        "format_version": STEP_RECORD_VERSION,
        "step": job.step,
        "started_at": started.isoformat(timespec="seconds"),
        "seconds": round(time.monotonic() - clock, 3),
        "threads": job.threads,
        "host": socket.gethostname(),
        "software": software_versions(),
        "tool_calls": tools.calls,
        "params": params,
    }
    if "step" in job.outputs:
        target = job.outputs["step"]
        with aside(target) as out:
            out[target].write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", "utf-8")
    tools.log(f"# step {job.step} finished in {record['seconds']} s")
    return record


def failure_record(step: str, error: BaseException) -> dict[str, Any]:
    """What ``logs/STEP.error.json`` holds for ``error``."""
    if isinstance(error, StepFailedError):
        return {**error.asdict(), "kind": "tool_failed", "message": str(error)}
    if isinstance(error, HelgenomError):
        return {
            "step": step,
            "tool": _PRIMARY_TOOL.get(step, "helgenom"),
            "exit_code": None,
            "stderr_tail": str(error),
            "kind": type(error).__name__,
            "code": error.code,
            "message": str(error),
        }
    return {
        "step": step,
        "tool": _PRIMARY_TOOL.get(step, "helgenom"),
        "exit_code": None,
        "stderr_tail": tail(traceback.format_exc()),
        "kind": "internal",
        "message": f"{type(error).__name__}: {error}",
    }


def _stderr_to_log(log_path: Path) -> None:
    """Point file descriptor 2 of this (step) process at the step's log.

    htslib writes warnings and errors straight to stderr, past pysam's capture; in
    the log they are kept with the step and can be quoted in its error.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    sys.stderr.flush()
    descriptor = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.dup2(descriptor, 2)
    os.close(descriptor)


def run_step(smk: Any) -> None:
    """Entry point of ``scripts/step.py``: run the rule's step, record a failure, exit 1."""
    job = StepJob.from_snakemake(smk)
    error_path = job.workdir / layout.step_error(job.step)
    error_path.unlink(missing_ok=True)
    _stderr_to_log(job.workdir / layout.step_log(job.step))
    # Without REF_PATH, htslib asks the EBI reference server for a sequence it cannot
    # find by MD5: keep a wrong reference a local error, and the run offline.
    os.environ.setdefault("REF_PATH", str(job.workdir / "work" / "no-ref-cache" / "%s"))
    try:
        execute_step(job)
    except Exception as exc:
        record = failure_record(job.step, exc)
        error_path.parent.mkdir(parents=True, exist_ok=True)
        error_path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        print(traceback.format_exc(), file=sys.stderr)
        print(f"helgenom step {job.step} failed: {record['message']}", file=sys.stderr)
        sys.stderr.flush()
        raise SystemExit(1) from exc


__all__ = [
    "PROVENANCE_FORMAT_VERSION",
    "STEP_FUNCTIONS",
    "StepJob",
    "aside",
    "execute_step",
    "failure_record",
    "partial_path",
    "run_step",
]
