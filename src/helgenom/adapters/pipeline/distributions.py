"""The distributions behind a run's QC metrics, for plots: read after the run.

The QC document of the ``qc`` step (:mod:`helgenom.adapters.pipeline.qc`) keeps
summaries; the QC report plots the distributions they come from:

* depth of coverage: reference bases per depth (``samtools stats -d`` ``COV``
  lines, duplicates excluded; depth 0 is the rest of the A/C/G/T bases);
* insert size: read pairs per insert size (``IS`` lines);
* allele balance: alternate / (reference + alternate) reads at each heterozygous
  PASS SNV of the normalised VCF with depth >= :data:`~helgenom.adapters.pipeline.qc.MIN_HET_DEPTH`.

:func:`read_distributions` reads them from the products of a finished run (one
more ``samtools stats`` pass over the CRAM and one pass over the VCF).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pysam.samtools
import pysam.utils

from helgenom.adapters.pipeline.qc import (
    MIN_HET_DEPTH,
    parse_samtools_stats,
    summarise_variants,
)
from helgenom.adapters.pipeline.tools import tool_failure
from helgenom.core.errors import FormatError

DISTRIBUTIONS_FORMAT_VERSION = 1
"""Version of :meth:`QcDistributions.asdict`."""


@dataclass(frozen=True, slots=True)
class QcDistributions:
    """Histograms of one run (see module doc)."""

    coverage: tuple[tuple[int, int], ...]
    """(depth, reference A/C/G/T bases at that depth), depth ascending, from 0."""
    insert_sizes: tuple[tuple[int, int], ...]
    """(insert size, read pairs), ascending."""
    allele_balances: tuple[float, ...]
    """Alternate-allele fraction at each heterozygous PASS SNV (depth >= 10)."""

    def asdict(self) -> dict[str, Any]:
        """A JSON-ready dict with ``format_version``."""
        return {
            "format_version": DISTRIBUTIONS_FORMAT_VERSION,
            "coverage": [list(pair) for pair in self.coverage],
            "insert_sizes": [list(pair) for pair in self.insert_sizes],
            "allele_balances": list(self.allele_balances),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> QcDistributions:
        """Inverse of :meth:`asdict`.

        Raises
        ------
        FormatError
            Another ``format_version``, or a malformed document.
        """
        version = data.get("format_version")
        if version != DISTRIBUTIONS_FORMAT_VERSION:
            raise FormatError(
                f"QC distributions have format_version {version!r}; this helgenom reads "
                f"version {DISTRIBUTIONS_FORMAT_VERSION}"
            )
        try:
            return cls(
                coverage=tuple((int(d), int(n)) for d, n in data["coverage"]),
                insert_sizes=tuple((int(s), int(n)) for s, n in data["insert_sizes"]),
                allele_balances=tuple(float(b) for b in data["allele_balances"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise FormatError(f"QC distributions are malformed: {exc}") from exc


def read_distributions(
    cram: Path, vcf: Path, fasta: Path, acgt_length: int, *, threads: int = 1
) -> QcDistributions:
    """Read the histograms of a finished run from its CRAM and VCF.

    Raises
    ------
    StepFailedError
        ``samtools stats`` failed (step ``qc_report``).
    """
    try:
        text = pysam.samtools.stats(
            "-d", "-@", str(max(0, threads - 1)), "--reference", str(fasta), str(cram)
        )
    except pysam.utils.SamtoolsError as exc:
        raise tool_failure("qc_report", "samtools stats", exc) from exc
    if isinstance(text, list):  # pysam's type stub; it returns the text
        text = "".join(text)
    stats = parse_samtools_stats(str(text))
    covered: dict[int, int] = {}
    for depth, bases in stats.coverage:
        covered[depth] = covered.get(depth, 0) + bases
    covered[0] = covered.get(0, 0) + max(0, acgt_length - sum(covered.values()))
    variants = summarise_variants(vcf)
    balances = tuple(
        round(alt / (ref + alt), 4)
        for ref, alt in variants.het_snv_depths
        if ref + alt >= MIN_HET_DEPTH
    )
    return QcDistributions(
        coverage=tuple(sorted(covered.items())),
        insert_sizes=tuple(sorted((s, n) for s, n in stats.insert_sizes if n > 0)),
        allele_balances=balances,
    )


__all__ = [
    "DISTRIBUTIONS_FORMAT_VERSION",
    "QcDistributions",
    "read_distributions",
]
