"""Secondary analysis of one sample: reference preparation and the Snakemake workflow.

::

    prepare_reference(fasta, dest, build) -> ReferenceInfo      (once per genome build)
    run_pipeline(sample_id, r1, r2, reference, workdir) -> PipelineResult
        align (mappy) -> fixmate/sort/markdup -> CRAM + crai -> caller (gVCF)
        -> normalised VCF -> QC JSON -> provenance JSON

No catalog and no access control here: the services layer decides who may run a
pipeline, decrypts the reads into the run folder, and stores the products.
"""

from helgenom.adapters.pipeline.callers import BUILTIN_CALLERS, Caller, CallRequest
from helgenom.adapters.pipeline.reference import (
    Contig,
    ReferenceInfo,
    load_reference,
    prepare_reference,
    verify_reference,
)
from helgenom.adapters.pipeline.runner import PipelineResult, run_pipeline
from helgenom.adapters.pipeline.tools import StepFailedError

__all__ = [
    "BUILTIN_CALLERS",
    "CallRequest",
    "Caller",
    "Contig",
    "PipelineResult",
    "ReferenceInfo",
    "StepFailedError",
    "load_reference",
    "prepare_reference",
    "run_pipeline",
    "verify_reference",
]
