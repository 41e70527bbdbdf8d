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

from helgenom.adapters.pipeline.qc import X_NAMES, Y_NAMES
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
    sex: str | None = None
    """``male`` or ``female`` as registered for the person (None: unknown, all diploid)."""


GRCH38_X_PARS = ((10_001, 2_781_479), (155_701_383, 156_030_895))
"""chrX's pseudo-autosomal regions in GRCh38 (1-based, inclusive): diploid in males."""
GRCH38_X_LENGTH = 156_040_895


def ploidy_lines(contigs: dict[str, int]) -> list[str]:
    """``bcftools call --ploidy-file`` lines for a reference (contig -> length): males
    haploid on chrX outside the pseudo-autosomal regions (GRCh38's when chrX has GRCh38's
    length; the whole contig otherwise) and on chrY; every other place diploid."""
    lines: list[str] = []
    for name in X_NAMES:
        length = contigs.get(name)
        if length is None:
            continue
        pars = GRCH38_X_PARS if length == GRCH38_X_LENGTH else ()
        start = 1
        for lo, hi in pars:
            if lo > start:
                lines.append(f"{name} {start} {lo - 1} M 1")
            start = hi + 1
        if start <= length:
            lines.append(f"{name} {start} {length} M 1")
    for name in Y_NAMES:
        if name in contigs:
            lines.append(f"{name} 1 {contigs[name]} M 1")
    lines.append("* * * M 2")
    lines.append("* * * F 2")
    return lines


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
    ploidy: list[str | Path] = []
    described = "2 (sex unknown)"
    if request.sex in ("male", "female"):
        contigs = {
            row.split("\t")[0]: int(row.split("\t")[1])
            for row in Path(f"{request.reference}.fai").read_text(encoding="ascii").splitlines()
        }
        ploidy_file = request.scratch / "ploidy.txt"
        ploidy_file.write_text("\n".join(ploidy_lines(contigs)) + "\n", encoding="ascii")
        samples_file = request.scratch / "samples.txt"
        code = "M" if request.sex == "male" else "F"
        samples_file.write_text(f"{request.sample_id}\t{code}\n", encoding="ascii")
        ploidy = ["--ploidy-file", ploidy_file, "--samples-file", samples_file]
        described = (
            "male: 1 on chrX outside the PARs and on chrY, else 2"
            if request.sex == "male"
            else "female: 2"
        )
    tools.bcftools(
        "call",
        "--multiallelic-caller",
        "--gvcf",
        GVCF_BANDS,
        "--annotate",
        "FORMAT/GQ",
        *ploidy,
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
        "ploidy": described,
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
