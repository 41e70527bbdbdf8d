"""Variant callers, pluggable: a caller turns a CRAM into a bgzipped, indexed gVCF.

The ``call`` step looks its caller up by name. Built in:

``bcftools``
    ``bcftools mpileup -g BANDS | bcftools call -m -g BANDS`` (through pysam, with
    an intermediate BCF file instead of a pipe): a multiallelic-model gVCF whose
    non-variant stretches are reference blocks (``ALT`` ``.``, ``INFO/END``,
    ``MIN_DP``), banded by depth.

Any other caller is named ``package.module:function`` (importable on every node
that runs the step). The function takes a :class:`CallRequest` and a
:class:`~helgenom.adapters.pipeline.tools.ToolRunner` (for pysam tools and
provenance), writes ``request.gvcf`` and ``request.gvcf_index``, and returns its
parameters (recorded in the provenance). An external program is found with
:func:`~helgenom.adapters.pipeline.tools.require_executable`, which raises
``ToolNotFoundError`` when it is missing.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from helgenom.adapters.pipeline.tools import ToolRunner
from helgenom.core.errors import InvalidInputError

DEFAULT_CALLER = "bcftools"
GVCF_BANDS = "1,10,20"
"""Depth bands of reference blocks: a block never mixes sites below and above 10 or 20."""
MIN_MAPPING_QUALITY = 20
MIN_BASE_QUALITY = 20
MAX_DEPTH = 1000


@dataclass(frozen=True, slots=True)
class CallRequest:
    """What a caller gets."""

    sample_id: str
    """Sample id (the read group's SM)."""
    cram: Path
    """Duplicate-marked, coordinate-sorted alignments (indexed)."""
    reference: Path
    """The reference FASTA (indexed)."""
    gvcf: Path
    """Where to write the bgzipped gVCF."""
    gvcf_index: Path
    """Where its tabix index must end up (``gvcf`` + ``.tbi``)."""
    scratch: Path
    """A folder for intermediate files (emptied by nobody; inside the run folder)."""
    threads: int
    """Threads the step may use."""


CallerFunction = Callable[[CallRequest, ToolRunner], dict[str, Any]]
"""A caller: writes the gVCF and its index, returns its parameters."""


@dataclass(frozen=True, slots=True)
class Caller:
    """A named caller."""

    name: str
    """The name used in the pipeline configuration."""
    description: str
    """One line for listings and provenance."""
    function: CallerFunction
    """What runs."""


def call_bcftools(request: CallRequest, tools: ToolRunner) -> dict[str, Any]:
    """bcftools mpileup + call -m as a gVCF with reference blocks (see module doc)."""
    pileup = request.scratch / f"{request.sample_id}.pileup.bcf"
    extra_threads = str(max(0, request.threads - 1))
    tools.bcftools(
        "mpileup",
        "--fasta-ref",
        request.reference,
        "--gvcf",
        GVCF_BANDS,
        "--annotate",
        "FORMAT/AD,FORMAT/DP",
        "--min-MQ",
        MIN_MAPPING_QUALITY,
        "--min-BQ",
        MIN_BASE_QUALITY,
        "--max-depth",
        MAX_DEPTH,
        "--threads",
        extra_threads,
        "--output-type",
        "b",
        "--output",
        pileup,
        request.cram,
    )
    tools.bcftools(
        "call",
        "--multiallelic-caller",
        "--gvcf",
        GVCF_BANDS,
        "--annotate",
        "FORMAT/GQ",
        "--threads",
        extra_threads,
        "--output-type",
        "z",
        "--output",
        request.gvcf,
        pileup,
    )
    tools.bcftools("index", "--tbi", "--output", request.gvcf_index, request.gvcf)
    pileup.unlink(missing_ok=True)
    return {
        "model": "multiallelic (call -m)",
        "gvcf_bands": GVCF_BANDS,
        "min_mapping_quality": MIN_MAPPING_QUALITY,
        "min_base_quality": MIN_BASE_QUALITY,
        "max_depth": MAX_DEPTH,
        "ploidy": 2,
    }


BUILTIN_CALLERS: dict[str, Caller] = {
    "bcftools": Caller(
        "bcftools", "bcftools mpileup + call -m, gVCF with depth-banded blocks", call_bcftools
    ),
}
"""Callers known by name."""


def resolve_caller(name: str) -> Caller:
    """The caller called ``name``: a built-in name or ``package.module:function``.

    Raises
    ------
    InvalidInputError
        Unknown name, or a ``module:function`` that cannot be imported or called.
    """
    if name in BUILTIN_CALLERS:
        return BUILTIN_CALLERS[name]
    known = ", ".join(sorted(BUILTIN_CALLERS))
    if ":" not in name:
        raise InvalidInputError(
            f"unknown variant caller {name!r}: choose one of {known}, or name a plug-in as "
            "package.module:function"
        )
    module_name, _, attribute = name.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise InvalidInputError(
            f"variant caller plug-in {name!r} cannot be imported ({exc}): install its package "
            f"or choose one of {known}"
        ) from exc
    target = getattr(module, attribute, None)
    if isinstance(target, Caller):
        return target
    if not callable(target):
        raise InvalidInputError(
            f"variant caller plug-in {name!r}: {module_name} has no function {attribute}"
        )
    return Caller(name, (target.__doc__ or name).strip().splitlines()[0], target)


__all__ = [
    "BUILTIN_CALLERS",
    "DEFAULT_CALLER",
    "CallRequest",
    "Caller",
    "CallerFunction",
    "call_bcftools",
    "resolve_caller",
]
