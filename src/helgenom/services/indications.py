"""The indication catalogue: what may be ordered, with which gene panel, by which departments.

The catalogue is loaded from a JSON file (``helgenom indication load FILE``)::

    {
      "format_version": 1,
      "indications": [
        {"code": "R59", "name": "Early onset or syndromic epilepsy",
         "gene_panel": "PanelApp 402 v4.1", "departments": ["RH-KG", "OUH-KG"]},
        {"code": "R14", "name": "...", "gene_panel": "...", "departments": ["RH-KG"],
         "active": false}
      ]
    }

Every indication is versioned: loading an entry that differs from the current version
of its code adds version n+1; an identical entry changes nothing; versions are never
changed or deleted (the table is append-only), and codes absent from a file stay as
they are. ``"active": false`` withdraws an indication (a new version that cannot be
ordered). Requisitions record the code and the version they were checked against.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError as DbIntegrityError

from helgenom.adapters.catalog import Catalog
from helgenom.adapters.catalog.schema import indications, organisations
from helgenom.core.access import Action
from helgenom.core.errors import ConflictError, InvalidInputError
from helgenom.core.models import OrgKind, RequestContext
from helgenom.services.gate import Gate

INDICATION_FORMAT_VERSION = 1
"""Version of the catalogue file format and of each stored entry."""
MAX_CATALOGUE_BYTES = 4 << 20
"""Largest catalogue file read."""

_CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")
_FIELDS = frozenset({"code", "name", "gene_panel", "departments", "active"})


@dataclass(frozen=True, slots=True)
class Indication:
    """One version of an indication."""

    code: str
    """Catalogue code, e.g. ``R59``."""
    version: int
    """1 for the first definition, then one more per change."""
    name: str
    """What the indication is."""
    gene_panel: str
    """The gene panel analysed for it (a reference such as ``PanelApp 402 v4.1``)."""
    departments: tuple[str, ...]
    """Codes of the departments that may order it."""
    active: bool
    """False when withdrawn: it can no longer be ordered."""
    loaded_at: dt.datetime
    """When this version was loaded (UTC)."""
    loaded_by: str
    """Who loaded it."""


@dataclass(frozen=True, slots=True)
class LoadedIndication:
    """What loading did to one code."""

    code: str
    version: int
    status: str
    """``new``, ``updated`` or ``unchanged``."""


def _row(row: Any) -> Indication:
    return Indication(
        code=row.code,
        version=int(row.version),
        name=row.name,
        gene_panel=row.gene_panel,
        departments=tuple(json.loads(row.departments)),
        active=bool(row.active),
        loaded_at=row.loaded_at,
        loaded_by=row.loaded_by,
    )


def current_indication(conn: Connection, code: str) -> Indication | None:
    """The newest version of ``code``, or None when the catalogue has no such code."""
    row = conn.execute(
        sa.select(indications)
        .where(indications.c.code == code)
        .order_by(indications.c.version.desc())
        .limit(1)
    ).first()
    return None if row is None else _row(row)


def _parse_document(document: Mapping[str, Any] | str | bytes) -> Mapping[str, Any]:
    if isinstance(document, str | bytes):
        if len(document) > MAX_CATALOGUE_BYTES:
            raise InvalidInputError(
                f"the indication catalogue is larger than {MAX_CATALOGUE_BYTES} bytes"
            )
        try:
            parsed = json.loads(document)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            where = (
                f" at line {exc.lineno} column {exc.colno}"
                if isinstance(exc, json.JSONDecodeError)
                else ""
            )
            raise InvalidInputError(
                f"the indication catalogue is not valid JSON{where}: fix the file"
            ) from None
    else:
        parsed = document
    if not isinstance(parsed, Mapping):
        raise InvalidInputError(
            'the indication catalogue must be a JSON object {"format_version": 1, '
            '"indications": [...]}'
        )
    return parsed


def _entries(parsed: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Validate the catalogue's shape; every problem named at once."""
    version = parsed.get("format_version")
    if version != INDICATION_FORMAT_VERSION:
        raise InvalidInputError(
            f"indication catalogue format_version {version!r} is not supported: this helgenom "
            f'reads format_version {INDICATION_FORMAT_VERSION} (add "format_version": '
            f"{INDICATION_FORMAT_VERSION})"
        )
    extra = set(parsed) - {"format_version", "indications"}
    problems: list[str] = []
    if extra:
        problems.append(f"unknown keys {sorted(extra)} (only format_version, indications)")
    items = parsed.get("indications")
    if not isinstance(items, list) or not items:
        raise InvalidInputError(
            "the indication catalogue needs a non-empty list under indications"
            + (f"; also {problems[0]}" if problems else "")
        )
    entries: list[dict[str, Any]] = []
    seen: set[str] = set()
    for n, item in enumerate(items):
        where = f"indications[{n}]"
        if not isinstance(item, dict):
            problems.append(f"{where} must be an object")
            continue
        unknown = set(item) - _FIELDS
        if unknown:
            problems.append(f"{where} has unknown keys {sorted(unknown)}")
        code = item.get("code")
        if not isinstance(code, str) or not _CODE_RE.match(code):
            problems.append(f"{where}.code must be 1-32 letters, digits, '_', '.' or '-'")
        elif code in seen:
            problems.append(f"{where}.code {code} appears twice")
        else:
            seen.add(code)
            where = f"{where} ({code})"
        for name in ("name", "gene_panel"):
            value = item.get(name)
            if not isinstance(value, str) or not value.strip() or len(value.strip()) > 200:
                problems.append(f"{where}.{name} must be text of 1-200 characters")
        departments = item.get("departments")
        if (
            not isinstance(departments, list)
            or not departments
            or not all(isinstance(d, str) and d for d in departments)
        ):
            problems.append(f"{where}.departments must be a non-empty list of department codes")
        active = item.get("active", True)
        if not isinstance(active, bool):
            problems.append(f"{where}.active must be true or false")
        entries.append(item)
    if problems:
        raise InvalidInputError("the indication catalogue is not valid: " + "; ".join(problems))
    return entries


class IndicationService:
    """Load (admins) and list (anyone) the versioned indication catalogue."""

    def __init__(self, catalog: Catalog, gate: Gate) -> None:
        self.catalog = catalog
        self.gate = gate

    def load(
        self, ctx: RequestContext, document: Mapping[str, Any] | str | bytes
    ) -> list[LoadedIndication]:
        """Load a catalogue: new or changed entries become new versions; the old are kept."""
        self.gate.authorise(ctx, Action.INDICATION_MANAGE, resource="indications")
        entries = _entries(_parse_document(document))
        with self.catalog.begin() as conn:
            known = {
                str(r.code)
                for r in conn.execute(
                    sa.select(organisations.c.code).where(
                        organisations.c.kind == OrgKind.DEPARTMENT.value
                    )
                )
            }
        unknown = sorted({d for e in entries for d in e["departments"]} - known)
        if unknown:
            raise InvalidInputError(
                f"the indication catalogue names departments that do not exist: "
                f"{', '.join(unknown)}; add them with helgenom org add, or fix the file"
            )
        results: list[LoadedIndication] = []
        with self.gate.access(ctx, Action.INDICATION_MANAGE, resource="indications") as grant:
            now = dt.datetime.now(dt.UTC)
            for entry in entries:
                code = entry["code"]
                departments = sorted(set(entry["departments"]))
                values = {
                    "name": entry["name"].strip(),
                    "gene_panel": entry["gene_panel"].strip(),
                    "departments": json.dumps(departments),
                    "active": entry.get("active", True),
                }
                latest = current_indication(grant.conn, code)
                if latest is not None and (
                    latest.name,
                    latest.gene_panel,
                    list(latest.departments),
                    latest.active,
                ) == (values["name"], values["gene_panel"], departments, values["active"]):
                    results.append(LoadedIndication(code, latest.version, "unchanged"))
                    continue
                version = 1 if latest is None else latest.version + 1
                try:
                    with grant.conn.begin_nested():
                        grant.conn.execute(
                            indications.insert().values(
                                code=code,
                                version=version,
                                loaded_at=now,
                                loaded_by=ctx.actor.name,
                                format_version=INDICATION_FORMAT_VERSION,
                                **values,
                            )
                        )
                except DbIntegrityError:
                    raise ConflictError(
                        f"indication {code} was changed by another load at the same time; "
                        "load the file again"
                    ) from None
                results.append(
                    LoadedIndication(code, version, "new" if latest is None else "updated")
                )
            counts = {s: sum(r.status == s for r in results) for s in ("new", "updated")}
            grant.note = (
                f"{counts['new']} new, {counts['updated']} updated, "
                f"{len(results) - counts['new'] - counts['updated']} unchanged"
            )
        return results

    def list_indications(self, *, all_versions: bool = False) -> list[Indication]:
        """The current version of every indication (or every version), by code."""
        with self.catalog.begin() as conn:
            rows = conn.execute(
                sa.select(indications).order_by(indications.c.code, indications.c.version)
            ).all()
        found = [_row(r) for r in rows]
        if all_versions:
            return found
        newest: dict[str, Indication] = {}
        for indication in found:
            newest[indication.code] = indication
        return list(newest.values())
