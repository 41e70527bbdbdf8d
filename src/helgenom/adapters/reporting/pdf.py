"""The report as a PDF, made with reportlab.

A4 portrait, the base-14 Helvetica fonts (nothing embedded, nothing fetched). Every
page carries a header line (report id, version, status, patient pseudonym) and a
footer with the report's SHA-256 digest and the page number. The output is
byte-for-byte the same for the same document: the document is built with
``invariant=1``, which fixes the creation date and the file identifier.
"""

from __future__ import annotations

import html
import io
from collections.abc import Iterable, Sequence
from typing import Any

from helgenom.adapters.reporting.html import (
    FAMILY_HEAD,
    VARIANT_HEAD,
    family_rows,
    header_facts,
    order_facts,
    variant_row,
    when,
)
from helgenom.core.reports import (
    OVERALL_LABELS,
    STATUS_LABELS,
    ReportDocument,
    ReportedVariant,
    check_digest,
)

_MARGIN = 40.0
_VARIANT_WIDTHS = (42, 62, 52, 52, 52, 48, 40, 50, 34, 44, 39)
"""Column widths (points) of the variant tables, in :data:`VARIANT_HEAD` order."""


def _x(value: object) -> str:
    """``value`` escaped for reportlab's paragraph markup; None becomes an en dash."""
    return "\u2013" if value is None else html.escape(str(value), quote=False)


class _Styles:
    """The paragraph styles used in the report."""

    def __init__(self) -> None:
        from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet

        base = getSampleStyleSheet()
        self.title = ParagraphStyle("title", parent=base["Title"], fontSize=15, leading=18)
        self.h2 = ParagraphStyle(
            "h2", parent=base["Heading2"], fontSize=11.5, leading=14, spaceBefore=10
        )
        self.body = ParagraphStyle("body", parent=base["BodyText"], fontSize=9, leading=11.5)
        self.cell = ParagraphStyle("cell", parent=self.body, fontSize=7.5, leading=9)
        self.head = ParagraphStyle("head", parent=self.cell, fontName="Helvetica-Bold")
        self.strong = ParagraphStyle(
            "strong", parent=self.body, fontName="Helvetica-Bold", fontSize=10.5, leading=13
        )


def _grid(
    styles: _Styles,
    head: Sequence[str] | None,
    rows: Iterable[Sequence[object]],
    widths: Sequence[float],
) -> Any:
    from reportlab.lib import colors
    from reportlab.platypus import Paragraph, Table, TableStyle

    data: list[list[Any]] = []
    if head is not None:
        data.append([Paragraph(_x(h), styles.head) for h in head])
    data.extend([Paragraph(_x(c), styles.cell) for c in row] for row in rows)
    table = Table(data, colWidths=list(widths), repeatRows=1 if head is not None else 0)
    commands: list[tuple[Any, ...]] = [
        ("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LEFTPADDING", (0, 0), (-1, -1), 3),
        ("RIGHTPADDING", (0, 0), (-1, -1), 3),
    ]
    if head is not None:
        commands.append(("BACKGROUND", (0, 0), (-1, 0), colors.Color(0.92, 0.92, 0.92)))
    else:
        commands.append(("BACKGROUND", (0, 0), (0, -1), colors.Color(0.92, 0.92, 0.92)))
    table.setStyle(TableStyle(commands))
    return table


def _facts(styles: _Styles, rows: Iterable[tuple[str, object]], width: float) -> Any:
    return _grid(styles, None, rows, (130, width - 130))


def _variants(styles: _Styles, variants: Sequence[ReportedVariant]) -> list[Any]:
    from reportlab.platypus import Paragraph

    flow: list[Any] = [
        _grid(styles, VARIANT_HEAD, (variant_row(v) for v in variants), _VARIANT_WIDTHS)
    ]
    for variant in variants:
        if not variant.criteria:
            continue
        label = variant.hgvs_c or variant.variant_id
        flow.append(Paragraph(f"Evidence for <b>{_x(variant.gene)}</b> {_x(label)}:", styles.body))
        for criterion, sentence in zip(variant.criteria, variant.evidence, strict=True):
            flow.append(
                Paragraph(
                    f"<b>{_x(criterion)}</b>: {_x(sentence)}",
                    styles.body,
                    bulletText="\u2022",
                )
            )
    return flow


def to_pdf(doc: ReportDocument, *, digest: str) -> bytes:
    """The report as PDF bytes; the same document always gives the same bytes.

    Raises
    ------
    InvalidInputError
        If ``digest`` is not :func:`helgenom.core.reports.report_digest` of ``doc``.
    """
    from reportlab.lib.pagesizes import A4
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer

    check_digest(doc, digest)
    styles = _Styles()
    width = A4[0] - 2 * _MARGIN
    buffer = io.BytesIO()
    template = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=_MARGIN,
        rightMargin=_MARGIN,
        topMargin=_MARGIN + 14,
        bottomMargin=_MARGIN + 14,
        title=f"Clinical genetic report {doc.report_id}",
        author="helgenom",
        subject=f"Report {doc.report_id} version {doc.version}",
        creator="helgenom",
        invariant=1,
    )
    status = STATUS_LABELS.get(doc.status, doc.status)

    def decorate(canvas: Any, _template: Any) -> None:
        canvas.saveState()
        canvas.setFont("Helvetica", 7.5)
        top = A4[1] - _MARGIN + 4
        canvas.drawString(
            _MARGIN,
            top,
            f"Clinical genetic report {doc.report_id}, version {doc.version}, {status}; "
            f"patient {doc.patient_pseudonym}",
        )
        canvas.drawString(_MARGIN, _MARGIN - 4, f"SHA-256 {digest}")
        canvas.drawRightString(A4[0] - _MARGIN, _MARGIN - 4, f"page {canvas.getPageNumber()}")
        canvas.restoreState()

    story: list[Any] = [
        Paragraph(_x(f"Clinical genetic report {doc.report_id}"), styles.title),
        _facts(
            styles,
            header_facts(doc) + order_facts(doc),
            width,
        ),
        Paragraph("Phenotype (HPO)", styles.h2),
        _grid(styles, ("HPO term", "Label"), doc.hpo_terms, (90, width - 90))
        if doc.hpo_terms
        else Paragraph("None given.", styles.body),
        Paragraph("Family", styles.h2),
        _grid(
            styles,
            FAMILY_HEAD,
            family_rows(doc),
            (width * 0.4, width * 0.2, width * 0.2, width * 0.2),
        )
        if doc.family
        else Paragraph("No family members sequenced.", styles.body),
        Paragraph("Result", styles.h2),
        Paragraph(
            f"Overall interpretation: {_x(OVERALL_LABELS.get(doc.overall, doc.overall))}",
            styles.strong,
        ),
        Paragraph(_x(doc.conclusion), styles.body),
        Paragraph("Reported variants", styles.h2),
    ]
    if doc.variants:
        story.extend(_variants(styles, doc.variants))
    else:
        story.append(Paragraph("No variants reported.", styles.body))
    if doc.secondary_findings:
        story.append(Paragraph("Secondary findings", styles.h2))
        story.extend(_variants(styles, doc.secondary_findings))
    story += [
        Paragraph("Methods", styles.h2),
        Paragraph(_x(doc.methods), styles.body),
        Paragraph("Data versions", styles.h2),
        _grid(styles, ("Data or software", "Version"), doc.data_versions, (200, width - 200)),
        Paragraph("Limitations", styles.h2),
        Paragraph(_x(doc.limitations), styles.body),
        Paragraph("Signed by", styles.h2),
        _grid(
            styles,
            ("Name", "Role", "Signed"),
            ((s.name, s.role, when(s.signed_at)) for s in doc.signers),
            (width * 0.4, width * 0.3, width * 0.3),
        ),
        Spacer(1, 8),
        Paragraph(f"SHA-256 of the signed report: {_x(digest)}", styles.cell),
    ]
    template.build(story, onFirstPage=decorate, onLaterPages=decorate)
    return buffer.getvalue()


__all__ = ["to_pdf"]
