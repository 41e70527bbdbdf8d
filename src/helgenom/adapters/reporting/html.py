"""The report as one self-contained HTML page.

No external CSS, scripts, fonts or images: the style sheet is inline, so the page reads
the same offline and in an e-mail archive. Every value from the document is
HTML-escaped. The secondary findings section appears only when there are any. The
report's SHA-256 digest is printed in the header and the footer.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Iterable, Sequence

from helgenom.core.reports import (
    CLASSIFICATION_LABELS,
    INHERITANCE_LABELS,
    OVERALL_LABELS,
    STATUS_LABELS,
    ZYGOSITY_LABELS,
    ReportDocument,
    ReportedVariant,
    check_digest,
)

_STYLE = """
body { font-family: Helvetica, Arial, sans-serif; font-size: 10.5pt; color: #111;
       max-width: 60em; margin: 1.5em auto; padding: 0 1em; line-height: 1.35; }
h1 { font-size: 16pt; margin: 0 0 .3em 0; }
h2 { font-size: 12pt; margin: 1.4em 0 .4em 0; border-bottom: 1px solid #999; }
table { border-collapse: collapse; width: 100%; margin: .3em 0; }
th, td { border: 1px solid #bbb; padding: .25em .4em; text-align: left; vertical-align: top; }
th { background: #eee; font-weight: bold; }
table.facts th { width: 14em; }
.overall { font-weight: bold; font-size: 12pt; }
.digest, code { font-family: "Courier New", monospace; word-break: break-all; }
ul.evidence { margin: .2em 0 .6em 1.2em; padding: 0; }
footer { margin-top: 2em; border-top: 1px solid #999; padding-top: .4em; font-size: 9pt; }
""".strip()


def _e(value: object) -> str:
    """``value`` as escaped HTML text (quotes too); None becomes an en dash."""
    if value is None:
        return "\u2013"
    return html.escape(str(value), quote=True)


def when(value: dt.datetime) -> str:
    """A datetime as ``2025-03-04 09:30 UTC``."""
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _facts(rows: Iterable[tuple[str, object]]) -> str:
    body = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in rows)
    return f'<table class="facts">{body}</table>'


def _table(head: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    header = "".join(f"<th>{_e(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table>"


def variant_row(variant: ReportedVariant) -> tuple[str, ...]:
    """The table cells of one variant (shared by the HTML and PDF renderings)."""
    return (
        variant.gene,
        f"{variant.contig}:{variant.position} {variant.ref}>{variant.alt}",
        variant.transcript or "\u2013",
        variant.hgvs_c or "\u2013",
        variant.hgvs_p or "\u2013",
        ", ".join(variant.consequences) or "\u2013",
        ZYGOSITY_LABELS.get(variant.zygosity, variant.zygosity),
        INHERITANCE_LABELS.get(variant.inheritance, variant.inheritance)
        if variant.inheritance
        else "\u2013",
        variant.origin or "\u2013",
        CLASSIFICATION_LABELS.get(variant.classification, variant.classification),
        ", ".join(variant.criteria) or "\u2013",
    )


VARIANT_HEAD: tuple[str, ...] = (
    "Gene",
    "Position (1-based)",
    "Transcript",
    "HGVS c.",
    "HGVS p.",
    "Consequence",
    "Zygosity",
    "Inheritance",
    "Origin",
    "Classification",
    "ACMG criteria",
)
"""Column names of the variant tables."""


def header_facts(doc: ReportDocument) -> list[tuple[str, object]]:
    """The report's identity: id, version, status, issue time, what it replaces, case."""
    return [
        ("Report", doc.report_id),
        ("Version", doc.version),
        ("Status", STATUS_LABELS.get(doc.status, doc.status)),
        ("Issued", when(doc.issued_at)),
        ("Replaces", doc.replaces),
        ("Case", doc.case_id),
    ]


def order_facts(doc: ReportDocument) -> list[tuple[str, object]]:
    """The patient and the order: pseudonym, requisition, department, indication, panel."""
    return [
        ("Patient (pseudonym)", doc.patient_pseudonym),
        ("Requisition", doc.requisition_id),
        ("Order key", doc.order_key),
        ("Requesting department", f"{doc.department_name} ({doc.department_code})"),
        (
            "Indication",
            f"{doc.indication_name or ''} ({doc.indication_code})".strip()
            if doc.indication_code
            else doc.indication_name,
        ),
        (
            "Gene panel",
            f"{doc.panel_name} version {doc.panel_version}" if doc.panel_name else None,
        ),
    ]


FAMILY_HEAD = ("Sample", "Relationship", "Sex", "Affected")
"""Columns of the family table."""


def family_rows(doc: ReportDocument) -> list[tuple[str, str, str, str]]:
    """One row per family member, in :data:`FAMILY_HEAD` order."""
    return [
        (
            m.sample_id,
            m.relationship,
            m.sex,
            "unknown" if m.affected is None else ("yes" if m.affected else "no"),
        )
        for m in doc.family
    ]


def _variants(variants: Sequence[ReportedVariant]) -> str:
    parts = [_table(VARIANT_HEAD, (variant_row(v) for v in variants))]
    for variant in variants:
        if not variant.criteria:
            continue
        items = "".join(
            f"<li><b>{_e(c)}</b>: {_e(s)}</li>"
            for c, s in zip(variant.criteria, variant.evidence, strict=True)
        )
        label = variant.hgvs_c or variant.variant_id
        parts.append(
            f"<p>Evidence for <b>{_e(variant.gene)}</b> {_e(label)}:</p>"
            f'<ul class="evidence">{items}</ul>'
        )
    return "".join(parts)


def to_html(doc: ReportDocument, *, digest: str) -> str:
    """The report as a self-contained HTML page.

    Raises
    ------
    InvalidInputError
        If ``digest`` is not :func:`helgenom.core.reports.report_digest` of ``doc``.
    """
    check_digest(doc, digest)
    title = f"Clinical genetic report {doc.report_id}"
    header = _facts(header_facts(doc))
    order = _facts(order_facts(doc))
    sections = [
        f"<h1>{_e(title)}</h1>",
        header,
        "<h2>Patient and order</h2>",
        order,
        "<h2>Phenotype (HPO)</h2>",
        _table(("HPO term", "Label"), doc.hpo_terms) if doc.hpo_terms else "<p>None given.</p>",
        "<h2>Family</h2>",
        _table(FAMILY_HEAD, family_rows(doc))
        if doc.family
        else "<p>No family members sequenced.</p>",
        "<h2>Result</h2>",
        f'<p class="overall">Overall interpretation: '
        f"{_e(OVERALL_LABELS.get(doc.overall, doc.overall))}</p>",
        f"<p>{_e(doc.conclusion)}</p>",
        "<h2>Reported variants</h2>",
        _variants(doc.variants) if doc.variants else "<p>No variants reported.</p>",
    ]
    if doc.secondary_findings:
        sections += [
            '<h2 id="secondary-findings">Secondary findings</h2>',
            _variants(doc.secondary_findings),
        ]
    sections += [
        "<h2>Methods</h2>",
        f"<p>{_e(doc.methods)}</p>",
        "<h2>Data versions</h2>",
        _table(("Data or software", "Version"), doc.data_versions),
        "<h2>Limitations</h2>",
        f"<p>{_e(doc.limitations)}</p>",
        "<h2>Signed by</h2>",
        _table(
            ("Name", "Role", "Signed"),
            ((s.name, s.role, when(s.signed_at)) for s in doc.signers),
        ),
    ]
    footer = (
        f"<footer>Report {_e(doc.report_id)} version {_e(doc.version)}. "
        f'SHA-256 of the signed report: <span class="digest">{_e(digest)}</span></footer>'
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f"<title>{_e(title)}</title><style>{_STYLE}</style></head>"
        f"<body>{''.join(sections)}{footer}</body></html>\n"
    )


__all__ = [
    "FAMILY_HEAD",
    "VARIANT_HEAD",
    "family_rows",
    "header_facts",
    "order_facts",
    "to_html",
    "variant_row",
    "when",
]
