"""Renderings of the clinical genetic report (:class:`helgenom.core.reports.ReportDocument`).

* :mod:`.fhir_report`: an HL7 FHIR R4 ``Bundle`` following the Genomics Reporting IG,
  validated with ``fhir.resources``;
* :mod:`.html`: one self-contained, escaped HTML page;
* :mod:`.pdf`: a PDF made with reportlab (the ``annotation`` extra), the same bytes for
  the same document.

Each takes the document and its digest (:func:`helgenom.core.reports.report_digest`)
and refuses a digest that does not match the document.
"""

from __future__ import annotations

from helgenom.adapters.reporting.fhir_report import to_fhir_bundle
from helgenom.adapters.reporting.html import to_html
from helgenom.adapters.reporting.pdf import to_pdf

__all__ = ["to_fhir_bundle", "to_html", "to_pdf"]
