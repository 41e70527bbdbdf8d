"""The QC report of a run: a JSON document and a self-contained HTML page.

:func:`build_report` assembles the document (``format_version``, run, sample,
reference, caller, verdict with every check, the QC metrics, the distributions,
software versions and input checksums); :func:`render_html` turns it into one
HTML file with inline SVG plots (no scripts, no external files, no plotting
library): the depth-of-coverage distribution, the allele-balance histogram at
heterozygous SNVs and the insert-size distribution.

Neither holds personal data: samples are named by their sample id.
"""

from __future__ import annotations

import datetime as dt
import html
import math
from collections.abc import Mapping, Sequence
from typing import Any

from helgenom.adapters.pipeline.distributions import QcDistributions
from helgenom.core.quality import QcVerdict

QC_REPORT_FORMAT_VERSION = 1
"""Version of the QC report document."""
_STATUS_COLOURS = {
    "pass": "#1a7f37",
    "fail": "#c62828",
    "undetermined": "#8a6d00",
    "info": "#555555",
}


def build_report(
    *,
    run_id: str,
    sample_id: str,
    reference: Mapping[str, Any],
    caller: str,
    verdict: QcVerdict,
    metrics: Mapping[str, Any],
    distributions: QcDistributions,
    provenance: Mapping[str, Any],
    inputs: Sequence[Mapping[str, Any]],
) -> dict[str, Any]:
    """The QC report document of a run (JSON-ready)."""
    return {
        "format_version": QC_REPORT_FORMAT_VERSION,
        "kind": "helgenom.qc_report",
        "run_id": run_id,
        "sample_id": sample_id,
        "reference": dict(reference),
        "caller": caller,
        "verdict": {
            "passed": verdict.passed,
            "reason": verdict.reason,
            "summary": verdict.summary,
            "checks": [
                {
                    "name": c.name,
                    "label": c.label,
                    "value": c.value,
                    "observed": c.observed,
                    "threshold": c.threshold,
                    "status": c.status.value,
                    "detail": c.detail,
                }
                for c in verdict.checks
            ],
        },
        "metrics": dict(metrics),
        "distributions": distributions.asdict(),
        "software": dict(provenance.get("software", {})),
        "pipeline_version": provenance.get("pipeline_version"),
        "inputs": [dict(i) for i in inputs],
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


# --- plots -----------------------------------------------------------------------------

Bar = tuple[float, float, float]
"""(x from, x to, height)."""


def _nice_ticks(low: float, high: float, count: int = 4) -> list[float]:
    """Round tick values (steps of 1, 2, 2.5 or 5 times a power of ten) in [low, high]."""
    if high <= low:
        return [low]
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.ceil(low / step - 1e-9)
    return [k * step for k in range(first, math.floor(high / step + 1e-9) + 1)]


def _fmt(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}"


_INK, _MUTED, _FAINT, _BAR, _MARK = "#1f2328", "#57606a", "#eaeef2", "#3b7dd8", "#c62828"


def _el(tag: str, text: str | None = None, **attrs: object) -> str:
    """One SVG element; attribute names with ``_`` become ``-`` (``font_size``)."""
    rendered = " ".join(
        f'{name.rstrip("_").replace("_", "-")}="{html.escape(str(value))}"'
        for name, value in attrs.items()
    )
    if text is None:
        return f"<{tag} {rendered}/>"
    return f"<{tag} {rendered}>{html.escape(text)}</{tag}>"


def svg_bars(
    bars: Sequence[Bar],
    *,
    title: str,
    x_label: str,
    y_label: str,
    marker: tuple[float, str] | None = None,
    width: int = 560,
    height: int = 240,
) -> str:
    """A bar chart as an inline, self-styled ``<svg>`` element (bars ``(x0, x1, height)``)."""
    left, right, top, bottom = 64, 16, 28, 44
    plot_w, plot_h = width - left - right, height - top - bottom
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{html.escape(title)}" '
        'font-family="sans-serif">',
        _el("text", title, x=width / 2, y=16, text_anchor="middle", font_size=13,
            font_weight=600, fill=_INK),
    ]  # fmt: skip
    if not bars or max(b[2] for b in bars) <= 0:
        parts.append(
            _el("text", "no data", x=width / 2, y=height / 2, text_anchor="middle",
                font_size=13, fill=_MUTED)
        )  # fmt: skip
        return "".join(parts) + "</svg>"
    x_min, x_max = min(b[0] for b in bars), max(b[1] for b in bars)
    span = (x_max - x_min) or 1.0
    y_ticks = _nice_ticks(0.0, max(b[2] for b in bars))
    y_top = max(y_ticks[-1], max(b[2] for b in bars)) or 1.0

    def sx(x: float) -> float:
        return round(left + (x - x_min) / span * plot_w, 1)

    def sy(y: float) -> float:
        return round(top + plot_h - y / y_top * plot_h, 1)

    for tick in y_ticks:
        parts.append(
            _el("line", x1=left, x2=left + plot_w, y1=sy(tick), y2=sy(tick), stroke=_FAINT)
        )
        parts.append(
            _el("text", _fmt(tick), x=left - 6, y=sy(tick) + 4, text_anchor="end", font_size=10,
                fill=_MUTED)
        )  # fmt: skip
    for x0, x1, value in bars:
        if value > 0:
            width_px = round(max(0.8, sx(x1) - sx(x0) - 0.6), 1)
            parts.append(
                _el("rect", x=sx(x0), y=sy(value), width=width_px,
                    height=round(top + plot_h - sy(value), 1), fill=_BAR)
            )  # fmt: skip
    for tick in _nice_ticks(x_min, x_max, 5):
        parts.append(
            _el("text", _fmt(tick), x=sx(tick), y=top + plot_h + 16, text_anchor="middle",
                font_size=10, fill=_MUTED)
        )  # fmt: skip
    if marker is not None and x_min <= marker[0] <= x_max:
        x = sx(marker[0])
        parts.append(
            _el("line", x1=x, x2=x, y1=top, y2=top + plot_h, stroke=_MARK,
                stroke_dasharray="4 3")
        )  # fmt: skip
        parts.append(_el("text", marker[1], x=x + 4, y=top + 12, font_size=10, fill=_MARK))
    parts.append(
        _el("line", x1=left, x2=left + plot_w, y1=top + plot_h, y2=top + plot_h, stroke=_MUTED)
    )
    parts.append(
        _el("text", x_label, x=left + plot_w / 2, y=height - 6, text_anchor="middle",
            font_size=11, fill=_INK)
    )  # fmt: skip
    middle = top + plot_h / 2
    parts.append(
        _el("text", y_label, x=14, y=middle, text_anchor="middle", font_size=11, fill=_INK,
            transform=f"rotate(-90 14 {middle})")
    )  # fmt: skip
    parts.append("</svg>")
    return "".join(parts)


def coverage_bars(coverage: Sequence[tuple[int, int]], mean: float | None) -> list[Bar]:
    """Share of bases per depth, up to about three times the mean (the rest in the last bar)."""
    total = sum(n for _, n in coverage)
    if total <= 0:
        return []
    deepest = max(d for d, n in coverage if n > 0)
    cap = min(deepest, max(10, math.ceil(3 * (mean or 0)))) if mean else deepest
    shares: dict[int, float] = {}
    for depth, bases in coverage:
        key = min(depth, cap)
        shares[key] = shares.get(key, 0.0) + bases / total
    return [(d - 0.5, d + 0.5, shares.get(d, 0.0)) for d in range(0, cap + 1)]


def balance_bars(balances: Sequence[float], bins: int = 20) -> list[Bar]:
    """Heterozygous SNVs per allele-balance bin over [0, 1]."""
    counts = [0] * bins
    for value in balances:
        counts[min(bins - 1, max(0, int(value * bins)))] += 1
    return [(i / bins, (i + 1) / bins, float(c)) for i, c in enumerate(counts)]


def insert_bars(histogram: Sequence[tuple[int, int]], max_bars: int = 60) -> list[Bar]:
    """Read pairs per insert-size bin, between the 0.5th and 99.5th percentile."""
    items = sorted((s, n) for s, n in histogram if n > 0)
    total = sum(n for _, n in items)
    if total == 0:
        return []
    low = high = items[0][0]
    seen = 0
    for size, count in items:
        if seen < 0.005 * total:
            low = size
        seen += count
        if seen <= 0.995 * total:
            high = size
    high = max(high, low + 1)
    width = max(1, math.ceil((high - low + 1) / max_bars))
    counts: dict[int, int] = {}
    for size, count in items:
        if low <= size <= high:
            key = (size - low) // width
            counts[key] = counts.get(key, 0) + count
    return [
        (low + k * width, low + (k + 1) * width, float(counts.get(k, 0)))
        for k in range((high - low) // width + 1)
    ]


# --- the page --------------------------------------------------------------------------

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem;color:#1f2328;
max-width:64rem}
h1{font-size:1.5rem;margin-bottom:.2rem}h2{font-size:1.15rem;margin-top:2rem}
.sub{color:#57606a;margin-top:0}
.verdict{padding:.7rem 1rem;border-radius:6px;font-weight:600;margin:1rem 0}
.passed{background:#dafbe1;color:#1a7f37}.failed{background:#ffebe9;color:#c62828}
table{border-collapse:collapse;margin:.5rem 0}td,th{padding:.3rem .7rem;
border-bottom:1px solid #d0d7de;text-align:left;vertical-align:top}th{background:#f6f8fa}
.status{font-weight:600}.plots{display:flex;flex-wrap:wrap;gap:1rem}
code{font-size:.85rem}footer{margin-top:2rem;color:#57606a;font-size:.85rem}
"""


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value))


def render_html(report: Mapping[str, Any]) -> str:
    """The report document as one self-contained HTML page (see module doc)."""
    verdict = report["verdict"]
    metrics = report.get("metrics", {})
    distributions = QcDistributions.from_dict(report["distributions"])
    reference = report.get("reference", {})
    mean = metrics.get("mean_coverage")
    rows = []
    for check in verdict["checks"]:
        colour = _STATUS_COLOURS.get(check["status"], "#555555")
        rows.append(
            f"<tr><td>{_e(check['label'])}</td><td>{_e(check['observed'])}</td>"
            f"<td>{_e(check['threshold'])}</td>"
            f'<td class="status" style="color:{colour}">{_e(check["status"])}</td>'
            f"<td>{_e(check['detail'])}</td></tr>"
        )
    balances = distributions.allele_balances
    plots = [
        svg_bars(
            coverage_bars(distributions.coverage, mean if isinstance(mean, int | float) else None),
            title="Depth of coverage (duplicates excluded)",
            x_label="depth",
            y_label="share of bases",
            marker=(20.0, "20x"),
        ),
        svg_bars(
            balance_bars(balances),
            title=f"Allele balance at heterozygous SNVs (n={len(balances)})",
            x_label="alternate reads / all reads",
            y_label="SNVs",
            marker=(0.5, "0.5"),
        ),
        svg_bars(
            insert_bars(distributions.insert_sizes),
            title="Insert size",
            x_label="insert size (bp)",
            y_label="read pairs",
            marker=(
                (float(metrics["insert_size_median"]), "median")
                if isinstance(metrics.get("insert_size_median"), int | float)
                else None
            ),
        ),
    ]
    software = "".join(
        f"<tr><td>{_e(name)}</td><td>{_e(version)}</td></tr>"
        for name, version in sorted(report.get("software", {}).items())
    )
    inputs = "".join(
        f"<tr><td>{_e(i.get('label'))}</td><td><code>{_e(i.get('object_id'))}</code></td>"
        f"<td><code>{_e(i.get('sha256'))}</code></td></tr>"
        for i in report.get("inputs", [])
    )
    state = "passed" if verdict["passed"] else "failed"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>QC report {_e(report["sample_id"])} ({_e(report["run_id"])})</title>
<style>{_CSS}</style></head><body>
<h1>QC report: sample {_e(report["sample_id"])}</h1>
<p class="sub">run {_e(report["run_id"])} &middot; reference {_e(reference.get("build"))}
&middot; caller {_e(report.get("caller"))} &middot; {_e(report.get("created_at"))}</p>
<div class="verdict {state}">{_e(verdict["summary"])}</div>
<h2>Checks</h2>
<table><tr><th>metric</th><th>value</th><th>threshold</th><th>status</th><th>detail</th></tr>
{"".join(rows)}</table>
<h2>Distributions</h2>
<div class="plots">{"".join(plots)}</div>
<h2>Provenance</h2>
<table><tr><th>reference</th><td>{_e(reference.get("build"))}</td></tr>
<tr><th>reference SHA-256</th><td><code>{_e(reference.get("sha256"))}</code></td></tr>
<tr><th>pipeline</th><td>helgenom {_e(report.get("pipeline_version"))}</td></tr></table>
<table><tr><th>input</th><th>object</th><th>SHA-256</th></tr>{inputs}</table>
<table><tr><th>software</th><th>version</th></tr>{software}</table>
<footer>helgenom QC report, format version {_e(report["format_version"])}.
No personal data: the sample is named by its id.</footer>
</body></html>
"""


__all__ = [
    "QC_REPORT_FORMAT_VERSION",
    "balance_bars",
    "build_report",
    "coverage_bars",
    "insert_bars",
    "render_html",
    "svg_bars",
]
