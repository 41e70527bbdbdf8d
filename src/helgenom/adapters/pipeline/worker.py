"""One pipeline run in a child process: ``python -m helgenom.adapters.pipeline.worker``.

Snakemake changes the working folder of the process it runs in, so a service never
calls :func:`~helgenom.adapters.pipeline.runner.run_pipeline` in its own process.
:func:`run_in_worker` writes the request into the run folder, starts a child
Python on it and reads back its answer::

    RUN/worker/request.json   sample, reads, reference folder, caller, cores, executor
    RUN/worker/result.json    the PipelineResult and the QC distributions, or the error
    RUN/worker/worker.log     the child's stdout and stderr (Snakemake's own messages)

The child also reads the QC distributions (:mod:`helgenom.adapters.pipeline.distributions`)
from the finished products. A failure in the child comes back as the same typed
error (:class:`~helgenom.adapters.pipeline.tools.StepFailedError` with step, tool,
exit code and stderr tail; ``FormatError``; ``ToolNotFoundError``; ...); a child
that dies without an answer as a ``PipelineError`` quoting the end of its log.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from helgenom.adapters.pipeline.distributions import QcDistributions, read_distributions
from helgenom.adapters.pipeline.reference import load_reference
from helgenom.adapters.pipeline.runner import PipelineResult, SlurmSettings, run_pipeline
from helgenom.adapters.pipeline.tools import StepFailedError, tail
from helgenom.core import errors
from helgenom.core.errors import FormatError, HelgenomError, PipelineError

WORKER_FORMAT_VERSION = 2
"""Version of ``request.json`` and ``result.json``."""
WORKER_DIR = "worker"
REQUEST_NAME = "request.json"
RESULT_NAME = "result.json"
LOG_NAME = "worker.log"


@dataclass(frozen=True, slots=True)
class WorkerRequest:
    """What the child runs: the arguments of ``run_pipeline``."""

    sample_id: str
    """Names the read group and the products."""
    r1: Path
    """Read 1 (gzip FASTQ)."""
    r2: Path
    """Read 2 (gzip FASTQ)."""
    reference_folder: Path
    """A prepared reference (``load_reference`` reads it)."""
    workdir: Path
    """The run folder (a repeated run in it resumes)."""
    caller: str
    """Variant caller name."""
    cores: int
    """Cores for the run."""
    executor: str
    """``local`` or ``slurm``."""
    slurm: dict[str, Any] | None = None
    """With ``executor="slurm"``: keyword arguments of
    :class:`~helgenom.adapters.pipeline.slurm.SlurmSettings` (partition, account, ...);
    None: the cluster's defaults."""
    sex: str | None = None
    """``male`` or ``female`` as registered, for the caller's ploidy (None: unknown)."""

    def asdict(self) -> dict[str, Any]:
        """A JSON-ready dict with ``format_version``."""
        return {
            "format_version": WORKER_FORMAT_VERSION,
            "sample_id": self.sample_id,
            "r1": str(self.r1),
            "r2": str(self.r2),
            "reference_folder": str(self.reference_folder),
            "workdir": str(self.workdir),
            "caller": self.caller,
            "cores": self.cores,
            "executor": self.executor,
            "slurm": self.slurm,
            "sex": self.sex,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WorkerRequest:
        """Inverse of :meth:`asdict`; raises ``FormatError`` for another version."""
        _check_version(data, "worker request")
        return cls(
            sample_id=str(data["sample_id"]),
            r1=Path(data["r1"]),
            r2=Path(data["r2"]),
            reference_folder=Path(data["reference_folder"]),
            workdir=Path(data["workdir"]),
            caller=str(data["caller"]),
            cores=int(data["cores"]),
            executor=str(data["executor"]),
            slurm=None if data.get("slurm") is None else dict(data["slurm"]),
            sex=None if data.get("sex") is None else str(data["sex"]),
        )


@dataclass(frozen=True, slots=True)
class WorkerOutcome:
    """What a successful child answered."""

    result: PipelineResult
    """The products, QC and provenance of the run."""
    distributions: QcDistributions
    """Histograms for the QC report."""


def _check_version(data: dict[str, Any], what: str) -> None:
    version = data.get("format_version")
    if version != WORKER_FORMAT_VERSION:
        raise FormatError(
            f"{what} has format_version {version!r}; this helgenom reads {WORKER_FORMAT_VERSION}"
        )


def _write_json(path: Path, document: dict[str, Any]) -> None:
    partial = path.with_name(f".partial.{path.name}")
    partial.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(partial, path)


_ERROR_TYPES: dict[str, type[HelgenomError]] = {
    name: getattr(errors, name)
    for name in errors.__all__
    if isinstance(getattr(errors, name), type)
    and issubclass(getattr(errors, name), HelgenomError)
    and name != "FhirValidationError"
}


def error_record(error: BaseException) -> dict[str, Any]:
    """How the child reports ``error``."""
    if isinstance(error, StepFailedError):
        return {"type": "StepFailedError", "message": str(error), **error.asdict()}
    if isinstance(error, HelgenomError):
        return {"type": type(error).__name__, "code": error.code, "message": str(error)}
    return {
        "type": "internal",
        "message": f"{type(error).__name__}: {error}",
        "traceback": tail(traceback.format_exc()),
    }


def error_from_record(record: dict[str, Any], log_path: Path) -> HelgenomError:
    """The typed error the child reported (inverse of :func:`error_record`)."""
    kind = str(record.get("type", ""))
    message = str(record.get("message", ""))
    if kind == "StepFailedError":
        code = record.get("exit_code")
        return StepFailedError(
            str(record.get("step", "unknown")),
            str(record.get("tool", "unknown")),
            int(code) if isinstance(code, int) else None,
            str(record.get("stderr_tail", "")),
        )
    error_type = _ERROR_TYPES.get(kind)
    if error_type is not None:
        return error_type(message)
    return PipelineError(
        f"the pipeline worker failed ({message}): see {log_path}\n{record.get('traceback', '')}"
    )


def run_in_worker(request: WorkerRequest) -> WorkerOutcome:
    """Run the pipeline of ``request`` in a child Python and return its answer.

    Raises
    ------
    StepFailedError, HelgenomError
        What ``run_pipeline`` (or reading the distributions) raised in the child.
    PipelineError
        The child died without an answer.
    """
    folder = request.workdir / WORKER_DIR
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    request_path, result_path, log_path = (
        folder / REQUEST_NAME,
        folder / RESULT_NAME,
        folder / LOG_NAME,
    )
    result_path.unlink(missing_ok=True)
    _write_json(request_path, request.asdict())
    with log_path.open("ab") as log:
        completed = subprocess.run(  # noqa: S603 - our own module, no shell
            [sys.executable, "-m", __name__, str(request_path)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=request.workdir,
            check=False,
        )
    try:
        answer: dict[str, Any] = json.loads(result_path.read_text(encoding="utf-8"))
        _check_version(answer, "worker result")
    except (FileNotFoundError, json.JSONDecodeError):
        log_tail = tail(log_path.read_bytes()[-8000:]) if log_path.exists() else ""
        raise PipelineError(
            f"the pipeline worker exited with code {completed.returncode} without an answer: "
            f"see {log_path}" + (f"\n{log_tail}" if log_tail else "")
        ) from None
    if not answer.get("ok"):
        raise error_from_record(dict(answer.get("error", {})), log_path)
    result = PipelineResult(
        outputs={name: Path(path) for name, path in answer["outputs"].items()},
        qc=dict(answer["qc"]),
        provenance=dict(answer["provenance"]),
        executed_steps=tuple(answer["executed_steps"]),
    )
    return WorkerOutcome(result, QcDistributions.from_dict(answer["distributions"]))


def work(request: WorkerRequest) -> dict[str, Any]:
    """The child's work: run the pipeline, read the distributions; the answer document."""
    # As in the steps: htslib must never fetch a reference sequence from the network.
    os.environ.setdefault("REF_PATH", str(request.workdir / "work" / "no-ref-cache" / "%s"))
    try:
        reference = load_reference(request.reference_folder)
        slurm = None if request.slurm is None else SlurmSettings(**request.slurm)
        result = run_pipeline(
            request.sample_id,
            request.r1,
            request.r2,
            reference,
            request.workdir,
            caller=request.caller,
            cores=request.cores,
            executor=request.executor,
            slurm=slurm,
            sex=request.sex,
        )
        distributions = read_distributions(
            result.outputs["cram"],
            result.outputs["vcf"],
            reference.fasta_path,
            reference.acgt_length,
            threads=request.cores,
        )
    except Exception as exc:
        return {"format_version": WORKER_FORMAT_VERSION, "ok": False, "error": error_record(exc)}
    return {
        "format_version": WORKER_FORMAT_VERSION,
        "ok": True,
        "outputs": {name: str(path) for name, path in result.outputs.items()},
        "qc": result.qc,
        "provenance": result.provenance,
        "executed_steps": list(result.executed_steps),
        "distributions": distributions.asdict(),
    }


def main(argv: list[str] | None = None) -> int:
    """Entry point of the child: ``python -m helgenom.adapters.pipeline.worker REQUEST``."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m helgenom.adapters.pipeline.worker REQUEST.json", file=sys.stderr)
        return 2
    request_path = Path(args[0])
    request = WorkerRequest.from_dict(json.loads(request_path.read_text(encoding="utf-8")))
    answer = work(request)
    _write_json(request_path.with_name(RESULT_NAME), answer)
    return 0


__all__ = [
    "WORKER_FORMAT_VERSION",
    "WorkerOutcome",
    "WorkerRequest",
    "error_from_record",
    "error_record",
    "run_in_worker",
]


if __name__ == "__main__":
    raise SystemExit(main())
