"""Quality control of a pipeline run: thresholds and the verdict on its QC metrics.

:func:`evaluate_qc` is a pure function of the run's QC document (the JSON of
:mod:`helgenom.adapters.pipeline.qc`), the thresholds (from the instance settings)
and the person's registered sex (from the CPR number). Each check comes out as

``pass`` / ``fail``
    the metric was measured and compared with its threshold;
``undetermined``
    the metric could not be measured (no chrX/chrY in the reference, too few
    heterozygous sites, no reads): reported as such, never a failure;
``info``
    reported, not judged (Ti/Tv, insert size, read count).

A run passes QC when no check fails. A sex mismatch fails with the reason
"possible sample swap"; a suspected contamination fails too.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from helgenom.core.errors import InvalidInputError
from helgenom.core.models import Sex

SAMPLE_SWAP = "possible sample swap"
"""The reason a sex mismatch gives (the start of the check's detail)."""


class QcStatus(enum.StrEnum):
    """The outcome of one check."""

    PASS = "pass"  # noqa: S105 - a QC outcome, not a password
    FAIL = "fail"
    UNDETERMINED = "undetermined"
    INFO = "info"


@dataclass(frozen=True, slots=True)
class QcThresholds:
    """Where a run fails QC (instance settings ``qc_*``)."""

    min_mapping_rate: float = 0.9
    """Mapped reads / all reads must be at least this."""
    max_duplicate_rate: float = 0.3
    """Duplicate reads / examined reads must be at most this."""
    min_mean_coverage: float = 20.0
    """Mean depth over the reference's A/C/G/T bases (duplicates excluded), at least."""
    min_fraction_ge_20x: float = 0.8
    """Share of A/C/G/T bases covered 20x or more, at least."""

    def __post_init__(self) -> None:
        for name in ("min_mapping_rate", "max_duplicate_rate", "min_fraction_ge_20x"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise InvalidInputError(f"QC threshold {name} is {value}: give a rate in 0..1")
        if not 0.0 <= self.min_mean_coverage < math.inf:
            raise InvalidInputError(
                f"QC threshold min_mean_coverage is {self.min_mean_coverage}: give a depth >= 0"
            )


@dataclass(frozen=True, slots=True)
class QcCheck:
    """One line of the QC verdict."""

    name: str
    """Stable metric name, e.g. ``mean_coverage``."""
    label: str
    """Human-readable name, e.g. ``mean coverage``."""
    value: float | None
    """The measured number, or None (undetermined, or a textual metric such as sex)."""
    observed: str
    """The measured value as shown, e.g. ``24.5x`` or ``female``."""
    threshold: str
    """The rule, e.g. ``>= 20x``; empty for informational metrics."""
    status: QcStatus
    """pass, fail, undetermined or info."""
    detail: str
    """One line: why it passed, failed or could not be determined."""


@dataclass(frozen=True, slots=True)
class QcVerdict:
    """Every check of a run, in display order."""

    checks: tuple[QcCheck, ...]

    @property
    def failures(self) -> tuple[QcCheck, ...]:
        """The failed checks."""
        return tuple(c for c in self.checks if c.status is QcStatus.FAIL)

    @property
    def passed(self) -> bool:
        """No check failed (undetermined ones do not count against the run)."""
        return not self.failures

    @property
    def reason(self) -> str:
        """One line: the failures, or how many checks passed and which were undetermined."""
        if self.failures:
            return "; ".join(c.detail for c in self.failures)
        undetermined = [c.label for c in self.checks if c.status is QcStatus.UNDETERMINED]
        judged = sum(c.status is QcStatus.PASS for c in self.checks)
        text = f"{judged} checks passed"
        if undetermined:
            text += f"; undetermined: {', '.join(undetermined)}"
        return text

    @property
    def summary(self) -> str:
        """``QC passed (...)`` or ``QC failed: ...``, for the sample's history."""
        return f"QC passed ({self.reason})" if self.passed else f"QC failed: {self.reason}"


def _number(metrics: Mapping[str, Any], key: str) -> float | None:
    value = metrics.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if math.isnan(value):
        return None
    return float(value)


def _limit_check(
    name: str,
    label: str,
    value: float | None,
    limit: float,
    *,
    at_least: bool,
    percent: bool = False,
) -> QcCheck:
    """Compare ``value`` with ``limit`` (a rate shown in percent, or a depth in x)."""

    def show(number: float) -> str:
        return f"{number * 100:.3g}%" if percent else f"{number:.4g}x"

    sign = ">=" if at_least else "<="
    threshold = f"{sign} {show(limit)}"
    if value is None:
        return QcCheck(
            name, label, None, "n/a", threshold, QcStatus.UNDETERMINED,
            f"{label} could not be determined",
        )  # fmt: skip
    ok = value >= limit if at_least else value <= limit
    if ok:
        return QcCheck(
            name, label, value, show(value), threshold, QcStatus.PASS,
            f"{label} {show(value)} {sign} {show(limit)}",
        )  # fmt: skip
    wrong = "<" if at_least else ">"
    return QcCheck(
        name, label, value, show(value), threshold, QcStatus.FAIL,
        f"{label} {show(value)} {wrong} {show(limit)}",
    )  # fmt: skip


def _sex_check(inferred: object, registered: Sex | None) -> QcCheck:
    text = str(inferred) if inferred is not None else "undetermined"
    threshold = "matches the CPR sex"
    label = "inferred sex"
    if text not in (Sex.MALE.value, Sex.FEMALE.value):
        why = text.partition(": ")[2] or "no call"
        return QcCheck(
            "inferred_sex", label, None, "undetermined", threshold, QcStatus.UNDETERMINED,
            f"sex could not be inferred from the reads ({why})",
        )  # fmt: skip
    if registered is None:
        return QcCheck(
            "inferred_sex", label, None, text, threshold, QcStatus.UNDETERMINED,
            f"the reads look {text}; the person's registered sex is unknown",
        )  # fmt: skip
    if text == registered.value:
        return QcCheck(
            "inferred_sex", label, None, text, threshold, QcStatus.PASS,
            f"the reads look {text}, as registered",
        )  # fmt: skip
    return QcCheck(
        "inferred_sex", label, None, text, threshold, QcStatus.FAIL,
        f"{SAMPLE_SWAP}: the reads look {text} but the person is registered {registered.value}",
    )  # fmt: skip


def _contamination_check(document: object) -> QcCheck:
    label = "contamination"
    threshold = "allele balance not overdispersed"
    info = document if isinstance(document, Mapping) else {}
    status = str(info.get("status", "not measured"))
    dispersion = info.get("dispersion")
    value = float(dispersion) if isinstance(dispersion, int | float) else None
    shown = f"dispersion {value:.3g}" if value is not None else "n/a"
    if status == "ok":
        return QcCheck(
            "contamination", label, value, shown, threshold, QcStatus.PASS,
            "heterozygous allele balance as expected for one person",
        )  # fmt: skip
    if status == "suspect":
        return QcCheck(
            "contamination", label, value, shown, threshold, QcStatus.FAIL,
            f"possible contamination: heterozygous allele balance is overdispersed ({shown})",
        )  # fmt: skip
    return QcCheck(
        "contamination", label, value, shown, threshold, QcStatus.UNDETERMINED,
        f"contamination could not be assessed ({status})",
    )  # fmt: skip


def _info(name: str, label: str, value: float | None, fmt: str) -> QcCheck:
    shown = "n/a" if value is None else format(value, fmt)
    status = QcStatus.INFO if value is not None else QcStatus.UNDETERMINED
    detail = f"{label} {shown}" if value is not None else f"{label} could not be determined"
    return QcCheck(name, label, value, shown, "", status, detail)


def evaluate_qc(
    metrics: Mapping[str, Any], thresholds: QcThresholds, registered_sex: Sex | None
) -> QcVerdict:
    """Judge a run's QC document (see module doc).

    Parameters
    ----------
    metrics
        The QC document (``mapping_rate``, ``duplicate_rate``, ``mean_coverage``,
        ``fraction_ge_20x``, ``inferred_sex``, ``contamination``, ...).
    thresholds
        Where to fail.
    registered_sex
        The person's sex from the CPR number, or None when unknown.
    """
    t = thresholds
    reads = metrics.get("reads")
    total = _number(reads, "total") if isinstance(reads, Mapping) else None
    checks = (
        _limit_check(
            "mapping_rate", "mapping rate", _number(metrics, "mapping_rate"),
            t.min_mapping_rate, at_least=True, percent=True,
        ),
        _limit_check(
            "duplicate_rate", "duplicate rate", _number(metrics, "duplicate_rate"),
            t.max_duplicate_rate, at_least=False, percent=True,
        ),
        _limit_check(
            "mean_coverage", "mean coverage", _number(metrics, "mean_coverage"),
            t.min_mean_coverage, at_least=True,
        ),
        _limit_check(
            "fraction_ge_20x", "bases at >= 20x", _number(metrics, "fraction_ge_20x"),
            t.min_fraction_ge_20x, at_least=True, percent=True,
        ),
        _sex_check(metrics.get("inferred_sex"), registered_sex),
        _contamination_check(metrics.get("contamination")),
        _info("reads", "reads", total, ",.0f"),
        _info("insert_size_median", "median insert size", _number(metrics, "insert_size_median"),
              ".0f"),
        _info("ti_tv", "Ti/Tv", _number(metrics, "ti_tv"), ".3g"),
        _info("het_hom_ratio", "het/hom-alt ratio", _number(metrics, "het_hom_ratio"), ".3g"),
    )  # fmt: skip
    return QcVerdict(checks)


__all__ = [
    "SAMPLE_SWAP",
    "QcCheck",
    "QcStatus",
    "QcThresholds",
    "QcVerdict",
    "evaluate_qc",
]
