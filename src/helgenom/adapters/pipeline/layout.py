"""Where a run keeps its files: one sample per run folder, paths relative to it.

::

    RUN/
      run.json                       the run's configuration (Snakemake config file)
      inputs/R1.fastq.gz, R2...      staged reads (+ manifest.json with checksums)
      work/                          intermediates (aligned BAM, duplicate-marked BAM)
      results/SAMPLE.cram (+.crai)   alignments against the reference
      results/SAMPLE.g.vcf.gz (+.tbi) gVCF with reference blocks
      results/SAMPLE.vcf.gz (+.tbi)  normalised variant calls (PASS / LowQual)
      results/SAMPLE.qc.json         QC metrics
      results/SAMPLE.provenance.json software, versions, parameters, checksums
      provenance/STEP.json           per-step records, merged into the above
      logs/STEP.log                  tool commands and stderr
      logs/STEP.error.json           why a step failed (read by the runner)
      .snakemake/                    Snakemake's metadata (what is complete)

The Snakefile, the steps and the runner all take their paths from here.
"""

from __future__ import annotations

import re

from helgenom.core.errors import InvalidInputError

RUN_CONFIG = "run.json"
INPUTS_DIR = "inputs"
INPUT_MANIFEST = "inputs/manifest.json"
STAGED_READS = {"r1": "inputs/R1.fastq.gz", "r2": "inputs/R2.fastq.gz"}
STEPS = ("align", "markdup", "cram", "call", "vcf", "qc", "provenance")
"""The steps (Snakemake rules) in order."""
RESULT_NAMES = (
    "cram",
    "crai",
    "gvcf",
    "gvcf_index",
    "vcf",
    "vcf_index",
    "qc",
    "provenance",
)
"""Keys of :func:`result_paths`, the run's products."""
_SAMPLE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def check_sample_id(sample_id: str) -> str:
    """Return ``sample_id`` if it is usable in file names and read groups.

    Raises
    ------
    InvalidInputError
        Not 1-64 letters, digits, ``.``, ``_`` or ``-`` starting with a letter or digit.
    """
    if not _SAMPLE_ID.fullmatch(sample_id):
        raise InvalidInputError(
            f"sample id {sample_id!r} cannot name pipeline files: use 1-64 letters, digits, "
            "'.', '_' or '-', starting with a letter or digit"
        )
    return sample_id


def result_paths(sample_id: str) -> dict[str, str]:
    """The run's products, relative to the run folder."""
    base = f"results/{sample_id}"
    return {
        "cram": f"{base}.cram",
        "crai": f"{base}.cram.crai",
        "gvcf": f"{base}.g.vcf.gz",
        "gvcf_index": f"{base}.g.vcf.gz.tbi",
        "vcf": f"{base}.vcf.gz",
        "vcf_index": f"{base}.vcf.gz.tbi",
        "qc": f"{base}.qc.json",
        "provenance": f"{base}.provenance.json",
    }


def work_paths(sample_id: str) -> dict[str, str]:
    """Intermediate files, relative to the run folder."""
    return {
        "aligned": f"work/{sample_id}.aligned.bam",
        "markdup": f"work/{sample_id}.markdup.bam",
        "markdup_stats": f"work/{sample_id}.markdup.txt",
    }


def step_record(step: str) -> str:
    """The provenance record a step writes."""
    return f"provenance/{step}.json"


def step_log(step: str) -> str:
    """The log a step appends its tool commands and stderr to."""
    return f"logs/{step}.log"


def step_error(step: str) -> str:
    """Where a failing step records why (not a Snakemake output: it survives the failure)."""
    return f"logs/{step}.error.json"


def scratch_dir(step: str) -> str:
    """A step's folder for temporary files."""
    return f"work/tmp/{step}"


__all__ = [
    "INPUT_MANIFEST",
    "RESULT_NAMES",
    "RUN_CONFIG",
    "STAGED_READS",
    "STEPS",
    "check_sample_id",
    "result_paths",
    "scratch_dir",
    "step_error",
    "step_log",
    "step_record",
    "work_paths",
]
