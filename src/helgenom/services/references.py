"""Reference genomes: registered once per build, indexed once, used by every run.

``reference load FASTA --build NAME`` prepares the FASTA (canonical copy, samtools
and minimap2 indexes, per-contig MD5s, SHA-256) into ``HOME/references/NAME/`` and
records a ``reference_genomes`` row. A build name means one genome for the life of
the instance, because runs and their products name the build:

* loading the same FASTA again under the same build is a no-op;
* a different FASTA under a registered build is refused (``ConflictError``): load it
  under another build name.

Reference genomes are public data, so the files are kept in plain form; loading one
is still access-checked (admins and operators) and audited.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError as DbIntegrityError

from helgenom.adapters.catalog import Catalog
from helgenom.adapters.catalog.schema import reference_genomes
from helgenom.core.access import Action
from helgenom.core.errors import (
    ConfigurationError,
    ConflictError,
    IntegrityError,
    InvalidInputError,
    NotFoundError,
)
from helgenom.core.models import RequestContext
from helgenom.services.gate import Gate

if TYPE_CHECKING:
    from helgenom.adapters.pipeline.reference import ReferenceInfo

REFERENCE_RECORD_VERSION = 1
"""Version of a ``reference_genomes`` row."""
DEFAULT_BUILD = "GRCh38"
_BUILD = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def pipeline_adapters() -> Any:
    """The pipeline adapter package, or a ConfigurationError naming the missing extra."""
    try:
        import helgenom.adapters.pipeline as pipeline
        import helgenom.adapters.pipeline.qcreport
        import helgenom.adapters.pipeline.worker  # noqa: F401 - attributes of the package
    except ImportError as exc:
        missing = (exc.name or "a module").split(".")[0]
        raise ConfigurationError(
            f"the secondary-analysis pipeline needs the pipeline extra ({missing} is not "
            "installed): pip install 'helgenom[pipeline]'"
        ) from None
    return pipeline


@dataclass(frozen=True, slots=True)
class ReferenceRecord:
    """A registered reference genome."""

    build: str
    """Build name, e.g. ``GRCh38``."""
    sha256: str
    """SHA-256 of the prepared FASTA (what runs record)."""
    source_sha256: str
    """SHA-256 of the file that was loaded."""
    contigs: tuple[tuple[str, int, str], ...]
    """(name, length, MD5 of the upper-case sequence) per contig, in file order."""
    total_length: int
    """Bases over all contigs."""
    acgt_length: int
    """A/C/G/T bases (what coverage is measured over)."""
    folder: Path
    """Where the FASTA and its indexes are."""
    loaded_at: dt.datetime
    loaded_by: str


@dataclass(frozen=True, slots=True)
class ReferenceLoad:
    """What ``reference load`` did."""

    record: ReferenceRecord
    created: bool
    """False when the same FASTA was already registered under the build (a no-op)."""


def check_build(build: str) -> str:
    """Return ``build`` if it is a usable build name, else raise InvalidInputError."""
    if not _BUILD.fullmatch(build):
        raise InvalidInputError(
            f"build name {build!r} is not usable: give 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit (e.g. GRCh38)"
        )
    return build


class ReferenceService:
    """Registering and finding reference genomes."""

    def __init__(self, catalog: Catalog, gate: Gate, home: Path) -> None:
        self.catalog = catalog
        self.gate = gate
        self.home = home
        self.references_path = home / "references"

    def _record(self, row: Any) -> ReferenceRecord:
        folder = Path(row.folder)
        return ReferenceRecord(
            build=row.build,
            sha256=row.sha256,
            source_sha256=row.source_sha256,
            contigs=tuple(
                (str(c["name"]), int(c["length"]), str(c["md5"])) for c in json.loads(row.contigs)
            ),
            total_length=int(row.total_length),
            acgt_length=int(row.acgt_length),
            folder=folder if folder.is_absolute() else self.home / folder,
            loaded_at=row.loaded_at,
            loaded_by=row.loaded_by,
        )

    def _row(self, build: str) -> Any:
        with self.catalog.begin() as conn:
            return conn.execute(
                sa.select(reference_genomes).where(reference_genomes.c.build == build)
            ).first()

    def load(
        self,
        ctx: RequestContext,
        fasta: Path,
        *,
        build: str = DEFAULT_BUILD,
        progress: Callable[[str], None] | None = None,
    ) -> ReferenceLoad:
        """Register ``fasta`` as genome build ``build`` (admins, operators; audited).

        Raises
        ------
        InvalidInputError, FormatError
            A bad build name, or a FASTA that does not parse (the message names the line).
        NotFoundError
            ``fasta`` does not exist.
        ConflictError
            ``build`` is registered from a different FASTA: use another build name.
        """
        check_build(build)
        resource = f"reference/{build}"
        self.gate.authorise(ctx, Action.REFERENCE_LOAD, resource=resource)
        pipeline = pipeline_adapters()
        if not fasta.is_file():
            raise NotFoundError(f"FASTA file {fasta} does not exist")
        source_sha256 = pipeline.reference.file_sha256(fasta)
        existing = self._row(build)
        if existing is not None:
            if existing.source_sha256 != source_sha256:
                raise ConflictError(
                    f"build {build} is already registered from another FASTA (SHA-256 "
                    f"{existing.source_sha256[:12]}..., this one {source_sha256[:12]}...): a "
                    "build name means one genome, because runs name it; load this FASTA under "
                    "another build name (--build NAME)"
                )
            record = self._record(existing)
            if not (record.folder / pipeline.reference.MANIFEST_NAME).is_file():
                # The files went missing: prepare them again from the same FASTA.
                self._prepare(pipeline, fasta, record.folder, build, progress)
                note = "same FASTA already registered; missing files prepared again"
            else:
                note = "same FASTA already registered: no-op"
            with self.gate.access(ctx, Action.REFERENCE_LOAD, resource=resource) as grant:
                grant.note = note
            return ReferenceLoad(record, created=False)
        folder = self.references_path / build
        info = self._prepare(pipeline, fasta, folder, build, progress)
        values = {
            "build": build,
            "sha256": info.sha256,
            "source_sha256": info.source_sha256,
            "contigs": json.dumps(
                [{"name": c.name, "length": c.length, "md5": c.md5} for c in info.contigs]
            ),
            "contig_count": len(info.contigs),
            "total_length": sum(c.length for c in info.contigs),
            "acgt_length": info.acgt_length,
            "folder": str(_relative_to(info.folder, self.home)),
            "mappy_version": info.mappy_version,
            "loaded_at": dt.datetime.now(dt.UTC),
            "loaded_by": ctx.actor.name,
            "format_version": REFERENCE_RECORD_VERSION,
        }
        try:
            with self.gate.access(ctx, Action.REFERENCE_LOAD, resource=resource) as grant:
                grant.conn.execute(reference_genomes.insert().values(**values))
                grant.note = (
                    f"{len(info.contigs)} contigs, {values['total_length']} bp, "
                    f"sha256 {info.sha256[:12]}..."
                )
                row = grant.conn.execute(
                    sa.select(reference_genomes).where(reference_genomes.c.build == build)
                ).one()
        except DbIntegrityError:
            raise ConflictError(
                f"build {build} was registered by someone else meanwhile: run the command again"
            ) from None
        return ReferenceLoad(self._record(row), created=True)

    @staticmethod
    def _prepare(
        pipeline: Any,
        fasta: Path,
        folder: Path,
        build: str,
        progress: Callable[[str], None] | None,
    ) -> ReferenceInfo:
        if progress is not None:
            progress(f"preparing {fasta.name} as {build}: canonical FASTA, indexes, checksums")
        folder.parent.mkdir(parents=True, exist_ok=True)
        info: ReferenceInfo = pipeline.prepare_reference(fasta, folder, build)
        return info

    def list_references(self) -> list[ReferenceRecord]:
        """Every registered reference genome, by build name (public data: no access check)."""
        with self.catalog.begin() as conn:
            rows = conn.execute(
                sa.select(reference_genomes).order_by(reference_genomes.c.build)
            ).all()
        return [self._record(r) for r in rows]

    def resolve(self, build: str | None) -> tuple[ReferenceRecord, ReferenceInfo]:
        """The reference a run uses, its files checked against the catalog.

        ``build`` None means the only registered reference.

        Raises
        ------
        NotFoundError
            No such build, no reference at all, or its files are missing.
        InvalidInputError
            Several references and no ``build`` given.
        IntegrityError
            The prepared FASTA no longer has the registered SHA-256.
        """
        references = self.list_references()
        if build is None:
            if not references:
                raise NotFoundError(
                    "no reference genome is registered: load one with helgenom reference load "
                    "FASTA --build NAME"
                )
            if len(references) > 1:
                names = ", ".join(r.build for r in references)
                raise InvalidInputError(f"several reference genomes ({names}): give --build NAME")
            record = references[0]
        else:
            found = [r for r in references if r.build == build]
            if not found:
                names = ", ".join(r.build for r in references) or "none"
                raise NotFoundError(
                    f"no reference genome {build} (registered: {names}); load it with helgenom "
                    f"reference load FASTA --build {build}"
                )
            record = found[0]
        pipeline = pipeline_adapters()
        info: ReferenceInfo = pipeline.load_reference(record.folder)
        if info.sha256 != record.sha256 or info.build != record.build:
            raise IntegrityError(
                f"the files in {record.folder} are not reference {record.build} as registered "
                f"(SHA-256 {info.sha256[:12]}... instead of {record.sha256[:12]}...): restore "
                "them, or load the FASTA again"
            )
        pipeline.verify_reference(info)
        return record, info


def _relative_to(path: Path, base: Path) -> Path:
    try:
        return path.resolve().relative_to(base.resolve())
    except ValueError:
        return path.resolve()


__all__ = [
    "DEFAULT_BUILD",
    "ReferenceLoad",
    "ReferenceRecord",
    "ReferenceService",
    "check_build",
    "pipeline_adapters",
]
