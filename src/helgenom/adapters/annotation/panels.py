"""PanelApp-style gene panels: JSON shape, validation and canonical modes of inheritance.

Accepted JSON (a subset of the PanelApp API's panel document, so an exported panel loads)::

    {
      "id": 285, "name": "Intellectual disability", "version": "5.12",
      "relevant_disorders": ["R29"],            # or "linked_indications"
      "genes": [
        {"gene_symbol": "LZTR1", "hgnc_id": "HGNC:6742",
         "confidence": "green",                  # or "confidence_level": "3" (3/2/1)
         "mode_of_inheritance": "MONOALLELIC, autosomal or pseudoautosomal, ...",
         "mode_of_pathogenicity": "Loss-of-function variants (as defined in pop up message)
                                   DO NOT cause this phenotype - please provide details"}
      ]
    }

PanelApp's API nests the symbol and HGNC ID in ``gene_data``; that form is accepted too.
Every problem of a document is collected and reported in one :class:`FormatError`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from helgenom.core.errors import FormatError

PANEL_FORMAT_VERSION = 1
"""``format_version`` written by :func:`panel_to_json`."""

Confidence = Literal["green", "amber", "red"]
Mode = Literal["AD", "AR", "XL", "XLD", "XLR", "MT", "AD_AR", "unknown"]

_CONFIDENCE_LEVELS: dict[str, Confidence] = {
    "3": "green",
    "2": "amber",
    "1": "red",
    "0": "red",
    "4": "green",
}
_HGNC = re.compile(r"HGNC:\d+")
_SYMBOL = re.compile(r"[A-Za-z0-9][A-Za-z0-9\-._@]*")


@dataclass(frozen=True, slots=True)
class PanelGene:
    """One gene on a panel."""

    gene_symbol: str
    """HGNC symbol."""
    hgnc_id: str | None
    """``HGNC:NNNN`` when given."""
    confidence: Confidence
    """PanelApp rating: green (diagnostic grade), amber, red."""
    mode_of_inheritance: Mode
    """Canonical mode (see :func:`canonical_mode`)."""
    mode_of_inheritance_text: str
    """The panel's own wording."""
    loss_of_function: bool | None
    """True if the panel says loss-of-function causes the phenotype, False if it says it does
    not, None if it does not say."""


@dataclass(frozen=True, slots=True)
class Panel:
    """A versioned gene panel."""

    id: str
    """Panel ID (PanelApp's number, as text)."""
    name: str
    """Panel name."""
    version: str
    """Panel version, e.g. ``5.12``."""
    genes: tuple[PanelGene, ...]
    """Genes, in document order."""
    indications: tuple[str, ...]
    """Linked clinical indications (e.g. NHS test directory codes ``R29``)."""

    def green_genes(self) -> frozenset[str]:
        """Return the symbols of the diagnostic-grade (green) genes."""
        return frozenset(g.gene_symbol for g in self.genes if g.confidence == "green")


def canonical_mode(text: str | None) -> Mode:
    """Map PanelApp's free-text mode of inheritance to AD/AR/AD_AR/XL/XLD/XLR/MT/unknown.

    ``BIALLELIC`` -> AR, ``MONOALLELIC`` -> AD (also when imprinted), both -> AD_AR,
    ``X-LINKED: hemizygous mutation in males, biallelic mutations in females`` -> XLR,
    ``X-LINKED: hemizygous mutation in males, monoallelic mutations in females may cause
    disease`` -> XLD, other X-linked wording -> XL, ``MITOCHONDRIAL`` -> MT; also the short
    codes themselves.
    """
    if not text:
        return "unknown"
    t = text.strip().upper()
    if t in ("AD", "AR", "XL", "XLD", "XLR", "MT", "AD_AR"):
        return t  # type: ignore[return-value]
    if t.startswith("X-LINKED") or t.startswith("X LINKED"):
        if "BIALLELIC MUTATIONS IN FEMALES" in t:
            return "XLR"
        if "MONOALLELIC MUTATIONS IN FEMALES" in t:
            return "XLD"
        return "XL"
    if t.startswith("MITOCHONDRIAL"):
        return "MT"
    mono, bi = "MONOALLELIC" in t, "BIALLELIC" in t
    if mono and bi:
        return "AD_AR"
    if bi:
        return "AR"
    if mono:
        return "AD"
    return "unknown"


def _lof(text: str | None) -> bool | None:
    if not text:
        return None
    t = text.lower()
    if "loss-of-function" not in t and "loss of function" not in t:
        return None
    return " not " not in f" {t} " and "do not" not in t


def parse_panel(data: Mapping[str, Any], source: str = "panel") -> Panel:
    """Validate a panel document and return a :class:`Panel`.

    Parameters
    ----------
    data
        Parsed JSON object.
    source
        File name or description for error messages.

    Returns
    -------
    Panel
        The panel.

    Raises
    ------
    FormatError
        Listing every problem found (missing fields, bad confidence, bad HGNC ID, duplicates).
    """
    problems: list[str] = []
    if not isinstance(data, Mapping):
        raise FormatError(f"{source}: a panel must be a JSON object")
    for key in ("id", "name", "version"):
        value = data.get(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            problems.append(f"'{key}' is missing")
        elif not isinstance(value, str | int | float):
            problems.append(f"'{key}' must be a string or number")
    raw_ind = data.get("linked_indications", data.get("relevant_disorders", []))
    if not isinstance(raw_ind, list) or not all(isinstance(i, str) for i in raw_ind):
        problems.append("'linked_indications' must be a list of strings")
        raw_ind = []
    raw_genes = data.get("genes")
    genes: list[PanelGene] = []
    if not isinstance(raw_genes, list) or not raw_genes:
        problems.append("'genes' must be a non-empty list")
        raw_genes = []
    seen: set[str] = set()
    for i, entry in enumerate(raw_genes):
        where = f"genes[{i}]"
        if not isinstance(entry, Mapping):
            problems.append(f"{where} must be an object")
            continue
        nested = entry.get("gene_data")
        gene_data: Mapping[str, Any] = nested if isinstance(nested, Mapping) else {}
        symbol = entry.get("gene_symbol", entry.get("entity_name", gene_data.get("gene_symbol")))
        hgnc = entry.get("hgnc_id", gene_data.get("hgnc_id"))
        if not isinstance(symbol, str) or not _SYMBOL.fullmatch(symbol):
            problems.append(f"{where}.gene_symbol {symbol!r} is missing or not a gene symbol")
            symbol = None
        elif symbol in seen:
            problems.append(f"{where}.gene_symbol {symbol!r} is listed twice")
        if hgnc is not None and (not isinstance(hgnc, str) or not _HGNC.fullmatch(hgnc)):
            problems.append(f"{where}.hgnc_id {hgnc!r} is not of the form HGNC:1234")
            hgnc = None
        confidence: Confidence | None = None
        if "confidence" in entry:
            c = str(entry["confidence"]).lower()
            if c in ("green", "amber", "red"):
                confidence = c  # type: ignore[assignment]
            else:
                problems.append(f"{where}.confidence {entry['confidence']!r}: use green/amber/red")
        elif "confidence_level" in entry:
            confidence = _CONFIDENCE_LEVELS.get(str(entry["confidence_level"]))
            if confidence is None:
                problems.append(
                    f"{where}.confidence_level {entry['confidence_level']!r}: use 3, 2 or 1"
                )
        else:
            problems.append(f"{where}: 'confidence' (green/amber/red) or 'confidence_level'")
        moi = entry.get("mode_of_inheritance")
        if moi is not None and not isinstance(moi, str):
            problems.append(f"{where}.mode_of_inheritance must be a string")
            moi = None
        mop = entry.get("mode_of_pathogenicity", entry.get("mechanism"))
        lof_flag = entry.get("loss_of_function")
        if symbol is None or confidence is None:
            continue
        seen.add(symbol)
        genes.append(
            PanelGene(
                symbol,
                hgnc,
                confidence,
                canonical_mode(moi),
                moi or "",
                lof_flag
                if isinstance(lof_flag, bool)
                else _lof(mop if isinstance(mop, str) else None),
            )
        )
    if problems:
        raise FormatError(
            f"{source}: {len(problems)} problem(s) in the panel: " + "; ".join(problems)
        )
    return Panel(
        str(data["id"]), str(data["name"]), str(data["version"]), tuple(genes), tuple(raw_ind)
    )


def load_panel(path: Path) -> Panel:
    """Read and validate a panel JSON file.

    Raises
    ------
    FormatError
        If the file is not JSON (naming line and column) or not a valid panel.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise FormatError(
            f"panel file {path}, line {exc.lineno}, column {exc.colno}: not JSON ({exc.msg}); "
            "fix the syntax"
        ) from exc
    return parse_panel(data, str(path))


def panel_to_json(panel: Panel) -> dict[str, Any]:
    """Return the canonical JSON form of a panel (with ``format_version``) for storage."""
    return {
        "format_version": PANEL_FORMAT_VERSION,
        "id": panel.id,
        "name": panel.name,
        "version": panel.version,
        "linked_indications": list(panel.indications),
        "genes": [
            {
                "gene_symbol": g.gene_symbol,
                "hgnc_id": g.hgnc_id,
                "confidence": g.confidence,
                "mode_of_inheritance": g.mode_of_inheritance_text,
                "canonical_mode": g.mode_of_inheritance,
                "loss_of_function": g.loss_of_function,
            }
            for g in panel.genes
        ],
    }


def genes_in_panels(panels: Sequence[Panel], green_only: bool = True) -> frozenset[str]:
    """Return the union of gene symbols of several panels (green only by default)."""
    out: set[str] = set()
    for panel in panels:
        out |= panel.green_genes() if green_only else {g.gene_symbol for g in panel.genes}
    return frozenset(out)
