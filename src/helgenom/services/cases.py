"""Clinical interpretation: annotation sources, gene panels, cases, analysis, reports.

* :class:`AnnotationService` loads the public knowledge an analysis uses, each load a
  new version recorded in the catalog: gene models (GFF3 of the reference build),
  ClinVar, population frequencies, and PanelApp-style gene panels.
* :class:`CaseService` opens a case for a requisition (the proband and, from a PED file
  or the trio order, the parents), analyses it against the genome database (the
  family's calls and reference blocks), records the geneticist's ACMG overrides,
  signs the report (FHIR ``DiagnosticReport`` + HTML + PDF, encrypted in the object
  store, delivered to the requesting department only), and re-analyses signed cases
  when a new ClinVar or panel version is loaded.

Every step that touches a person is access-checked and audited through the gate; the
case's own department (not just any department with a requisition for the person) is
required for everything after creation.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import re
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from helgenom.adapters.catalog import Catalog
from helgenom.adapters.catalog.schema import (
    annotation_sources,
    case_analyses,
    case_overrides,
    case_reports,
    cases,
    gene_panels,
    indications,
    organisations,
    persons,
    requisitions,
    samples,
)
from helgenom.adapters.keys import KeyStore
from helgenom.core import acmg
from helgenom.core.access import Action
from helgenom.core.consent import derive_state
from helgenom.core.errors import (
    ConfigurationError,
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
)
from helgenom.core.interpretation import (
    ANALYSIS_FORMAT_VERSION,
    DEFAULT_SECONDARY_FINDINGS_GENES,
    AnalysisSettings,
    ClinvarHit,
    Family,
    GeneInfo,
    SiteRecord,
    classify,
    compare_analyses,
    overall_of,
)
from helgenom.core.models import ObjectKind, RequestContext
from helgenom.core.samples import SampleState
from helgenom.core.version import __version__
from helgenom.services.gate import Gate
from helgenom.services.identity import load_consent, new_id
from helgenom.services.objects import ObjectService
from helgenom.services.references import ReferenceService
from helgenom.services.samples import move_sample
from helgenom.services.variants import VariantService

CASE_FORMAT_VERSION = 1
"""``format_version`` of case rows."""

HPO_TERM = re.compile(r"HP:\d{7}")
POPULATION_NAME = re.compile(r"[a-z0-9][a-z0-9_\-]{0,63}")
MIN_JUSTIFICATION = 10
"""Shortest justification accepted for an ACMG override, in characters."""

REPORT_FORMATS = {"fhir": "fhir_object", "html": "html_object", "pdf": "pdf_object"}
"""Report renderings and the column holding each one's object id."""


def annotation_adapters() -> Any:
    """The annotation adapters, or a ConfigurationError naming the extra."""
    try:
        import helgenom.adapters.annotation as annotation
        import helgenom.adapters.annotation.casework
        import helgenom.adapters.annotation.genes
        import helgenom.adapters.annotation.panels
        import helgenom.adapters.annotation.sources  # noqa: F401 - attributes of the package
    except ImportError as exc:
        missing = (exc.name or "a module").split(".")[0]
        raise ConfigurationError(
            f"clinical interpretation needs the annotation extra ({missing} is not installed): "
            "pip install 'helgenom[annotation,variants]'"
        ) from None
    return annotation


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# -- records ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SourceRecord:
    """One loaded version of an annotation source."""

    source: str
    version: int
    label: str
    sha256: str
    reference_build: str | None
    summary: Mapping[str, Any]
    loaded_at: dt.datetime
    loaded_by: str
    created: bool = True


@dataclass(frozen=True, slots=True)
class PanelRecord:
    """One loaded version of a gene panel."""

    name: str
    seq: int
    version: str
    gene_count: int
    green: int
    indications: tuple[str, ...]
    loaded_at: dt.datetime
    loaded_by: str
    created: bool = True


@dataclass(frozen=True, slots=True)
class FamilyMember:
    """A sequenced member of a case's family."""

    sample_id: str
    relationship: str
    sex: str
    affected: bool | None
    person: str

    def asdict(self) -> dict[str, Any]:
        """JSON-ready form (stored in the catalog)."""
        return {
            "sample_id": self.sample_id,
            "relationship": self.relationship,
            "sex": self.sex,
            "affected": self.affected,
            "person": self.person,
        }


@dataclass(frozen=True, slots=True)
class CaseRecord:
    """An interpretation case."""

    case_id: str
    requisition_id: str
    proband_sample_id: str
    department: str
    indication: str | None
    panel_name: str | None
    family: tuple[FamilyMember, ...]
    hpo_terms: tuple[str, ...]
    status: str
    created_at: dt.datetime
    created_by: str


@dataclass(frozen=True, slots=True)
class AnalysisRecord:
    """One analysis of a case."""

    analysis_id: int
    case_id: str
    analysed_at: dt.datetime
    analysed_by: str
    reason: str
    versions: Mapping[str, Any]
    summary: Mapping[str, Any]
    candidates: tuple[Mapping[str, Any], ...]
    secondary_findings: tuple[Mapping[str, Any], ...]


@dataclass(frozen=True, slots=True)
class ReportRecord:
    """A report of a case (awaiting a second signature, or final)."""

    report_id: str
    case_id: str
    version: int
    status: str
    overall: str
    conclusion: str
    signers: tuple[Mapping[str, Any], ...]
    digest: str | None
    objects: Mapping[str, str | None]
    issued_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class ReanalysisChange:
    """A signed case whose answer changed with new knowledge."""

    case_id: str
    department: str
    changes: tuple[str, ...]
    recontact: bool
    """Whether the patient agreed to be contacted about new knowledge."""
    old_versions: Mapping[str, Any]
    new_versions: Mapping[str, Any]


@dataclass
class ReanalysisReport:
    """What a re-analysis run did."""

    analysed: list[str] = field(default_factory=list)
    unchanged_versions: list[str] = field(default_factory=list)
    changed: list[ReanalysisChange] = field(default_factory=list)


# -- annotation sources and panels -------------------------------------------------------------


def _source_record(row: Any, created: bool = True) -> SourceRecord:
    return SourceRecord(
        str(row.source),
        int(row.version),
        str(row.label),
        str(row.sha256),
        row.reference_build,
        json.loads(row.summary),
        row.loaded_at,
        str(row.loaded_by),
        created,
    )


class AnnotationService:
    """Loads versioned annotation sources and gene panels (public data; audited)."""

    def __init__(
        self, catalog: Catalog, gate: Gate, references: ReferenceService, root: Path
    ) -> None:
        self.catalog = catalog
        self.gate = gate
        self.references = references
        self.root = root
        """Folder of the source versions (``HOME/annotation``)."""

    def _record_source(
        self, ctx: RequestContext, version: Any, build: str | None, summary: Mapping[str, Any]
    ) -> SourceRecord:
        resource = f"annotation/{version.source}"
        with self.gate.access(ctx, Action.ANNOTATION_LOAD, resource=resource) as grant:
            existing = grant.conn.execute(
                sa.select(annotation_sources)
                .where(annotation_sources.c.source == version.source)
                .where(annotation_sources.c.version == version.version)
            ).first()
            if existing is not None:
                grant.note = f"{version.source} v{version.version} already loaded: no-op"
                return _source_record(existing, created=False)
            values = {
                "source": version.source,
                "version": version.version,
                "label": version.version_label,
                "sha256": str(version.manifest.get("source_sha256", "")),
                "reference_build": build,
                "folder": str(version.path),
                "summary": json.dumps(dict(summary), sort_keys=True),
                "loaded_at": _now(),
                "loaded_by": ctx.actor.name,
            }
            grant.conn.execute(annotation_sources.insert().values(**values))
            grant.note = f"{version.source} v{version.version} ({version.version_label})"
            row = grant.conn.execute(
                sa.select(annotation_sources)
                .where(annotation_sources.c.source == version.source)
                .where(annotation_sources.c.version == version.version)
            ).one()
        return _source_record(row)

    def load_genes(
        self, ctx: RequestContext, gff3: Path, *, label: str, build: str | None = None
    ) -> SourceRecord:
        """Load the gene models (GFF3) of a reference build as a new version."""
        self.gate.authorise(ctx, Action.ANNOTATION_LOAD, resource="annotation/genes")
        adapters = annotation_adapters()
        record, info = self.references.resolve(build)
        version = adapters.genes.load_gene_models(gff3, self.root, label, info.fasta_path)
        summary = {k: version.manifest.get(k) for k in ("genes", "coding_transcripts")}
        return self._record_source(ctx, version, record.build, summary)

    def load_clinvar(
        self, ctx: RequestContext, vcf: Path, *, label: str, build: str | None = None
    ) -> SourceRecord:
        """Load a ClinVar VCF as a new version (normalised against the reference; residue
        table from the current gene models, for PS1/PM5)."""
        self.gate.authorise(ctx, Action.ANNOTATION_LOAD, resource="annotation/clinvar")
        adapters = annotation_adapters()
        record, info = self.references.resolve(build)
        genes = self.current_source("genes", required=False)
        gff3 = None if genes is None else Path(genes.folder) / "genes.gff3"
        version = adapters.sources.load_clinvar(vcf, self.root, label, info.fasta_path, gff3)
        summary = {
            k: v for k, v in version.manifest.items() if isinstance(v, int) and k != "version"
        }
        return self._record_source(ctx, version, record.build, summary)

    def load_population(
        self, ctx: RequestContext, name: str, vcf: Path, *, label: str, build: str | None = None
    ) -> SourceRecord:
        """Load a population-frequency VCF as a new version of source ``population/NAME``."""
        if not POPULATION_NAME.fullmatch(name):
            raise InvalidInputError(
                f"population name {name!r}: use lower-case letters, digits, '-' or '_'"
            )
        self.gate.authorise(ctx, Action.ANNOTATION_LOAD, resource=f"annotation/population/{name}")
        adapters = annotation_adapters()
        record, info = self.references.resolve(build)
        version = adapters.sources.load_population(name, vcf, self.root, label, info.fasta_path)
        summary = {
            k: v for k, v in version.manifest.items() if isinstance(v, int) and k != "version"
        }
        return self._record_source(ctx, version, record.build, summary)

    def current_source(self, source: str, *, required: bool = True) -> _Source | None:
        """The newest version of ``source`` in the catalog."""
        with self.catalog.begin() as conn:
            row = conn.execute(
                sa.select(annotation_sources)
                .where(annotation_sources.c.source == source)
                .order_by(annotation_sources.c.version.desc())
                .limit(1)
            ).first()
        if row is None:
            if required:
                raise NotFoundError(_MISSING_SOURCE.get(source, f"no {source} is loaded"))
            return None
        return _Source(str(row.source), int(row.version), str(row.folder), row.reference_build)

    def populations(self) -> list[_Source]:
        """The newest version of every population source."""
        with self.catalog.begin() as conn:
            rows = conn.execute(
                sa.select(annotation_sources)
                .where(annotation_sources.c.source.like("population/%"))
                .order_by(annotation_sources.c.source, annotation_sources.c.version)
            ).all()
        latest: dict[str, _Source] = {}
        for r in rows:
            latest[str(r.source)] = _Source(
                str(r.source), int(r.version), str(r.folder), r.reference_build
            )
        return list(latest.values())

    def list_sources(self) -> list[SourceRecord]:
        """Every loaded version of every source."""
        with self.catalog.begin() as conn:
            rows = conn.execute(
                sa.select(annotation_sources).order_by(
                    annotation_sources.c.source, annotation_sources.c.version
                )
            ).all()
        return [_source_record(r, created=False) for r in rows]

    # -- panels ---------------------------------------------------------------------------

    def load_panel(self, ctx: RequestContext, path: Path) -> PanelRecord:
        """Load a PanelApp-style panel JSON; the same name and version again is a no-op.

        Raises
        ------
        NotFoundError
            No such file.
        FormatError, InvalidInputError
            Not a valid panel document (every problem listed).
        ConflictError
            The same name and version was loaded with other content.
        """
        self.gate.authorise(ctx, Action.PANEL_LOAD, resource="panel")
        adapters = annotation_adapters()
        panel = adapters.panels.load_panel(path)
        document = json.dumps(adapters.panels.panel_to_json(panel), sort_keys=True)
        digest = hashlib.sha256(document.encode()).hexdigest()
        with self.gate.access(ctx, Action.PANEL_LOAD, resource=f"panel/{panel.name}") as grant:
            same = grant.conn.execute(
                sa.select(gene_panels)
                .where(gene_panels.c.name == panel.name)
                .where(gene_panels.c.version == panel.version)
            ).first()
            if same is not None:
                if same.sha256 != digest:
                    raise ConflictError(
                        f"panel {panel.name!r} version {panel.version} is already loaded with "
                        "other genes: a version names one gene list; give the new list a new "
                        "version"
                    )
                grant.note = f"panel {panel.name} v{panel.version} already loaded: no-op"
                return _panel_record(same, created=False)
            seq = (
                grant.conn.execute(
                    sa.select(sa.func.max(gene_panels.c.seq)).where(
                        gene_panels.c.name == panel.name
                    )
                ).scalar()
                or 0
            ) + 1
            grant.conn.execute(
                gene_panels.insert().values(
                    name=panel.name,
                    seq=seq,
                    version=panel.version,
                    document=document,
                    sha256=digest,
                    gene_count=len(panel.genes),
                    loaded_at=_now(),
                    loaded_by=ctx.actor.name,
                )
            )
            grant.note = f"panel {panel.name} v{panel.version}: {len(panel.genes)} genes"
            row = grant.conn.execute(
                sa.select(gene_panels)
                .where(gene_panels.c.name == panel.name)
                .where(gene_panels.c.seq == seq)
            ).one()
        return _panel_record(row)

    def list_panels(self) -> list[PanelRecord]:
        """Every loaded panel version."""
        with self.catalog.begin() as conn:
            rows = conn.execute(
                sa.select(gene_panels).order_by(gene_panels.c.name, gene_panels.c.seq)
            ).all()
        return [_panel_record(r, created=False) for r in rows]


@dataclass(frozen=True, slots=True)
class _Source:
    source: str
    version: int
    folder: str
    build: str | None


_MISSING_SOURCE = {
    "genes": "no gene models are loaded: load the GFF3 of the reference build with helgenom "
    "annotation load genes FILE.gff3 --label NAME",
}


def _panel_record(row: Any, created: bool = True) -> PanelRecord:
    doc = json.loads(row.document)
    genes = doc.get("genes", [])
    return PanelRecord(
        str(row.name),
        int(row.seq),
        str(row.version),
        int(row.gene_count),
        sum(1 for g in genes if g.get("confidence") == "green"),
        tuple(doc.get("linked_indications", [])),
        row.loaded_at,
        str(row.loaded_by),
        created,
    )


# -- cases ------------------------------------------------------------------------------------


def _case_record(row: Any) -> CaseRecord:
    family = tuple(FamilyMember(**m) for m in json.loads(row.family))
    return CaseRecord(
        str(row.id),
        str(row.requisition_id),
        str(row.proband_sample_id),
        str(row.department_code),
        row.indication,
        row.panel_name,
        family,
        tuple(json.loads(row.hpo_terms)),
        str(row.status),
        row.created_at,
        str(row.created_by),
    )


def _analysis_record(row: Any) -> AnalysisRecord:
    stored = json.loads(row.candidates)
    return AnalysisRecord(
        int(row.id),
        str(row.case_id),
        row.analysed_at,
        str(row.analysed_by),
        str(row.reason),
        json.loads(row.versions),
        json.loads(row.summary),
        tuple(stored.get("candidates", [])),
        tuple(stored.get("secondary_findings", [])),
    )


def _report_record(row: Any) -> ReportRecord:
    return ReportRecord(
        str(row.id),
        str(row.case_id),
        int(row.version),
        str(row.status),
        str(row.overall),
        str(row.conclusion),
        tuple(json.loads(row.signers)),
        row.digest,
        {name: getattr(row, column) for name, column in REPORT_FORMATS.items()},
        row.issued_at,
    )


def check_hpo_terms(terms: Iterable[str]) -> tuple[str, ...]:
    """HPO ids in order, duplicates dropped.

    Raises
    ------
    InvalidInputError
        A term that is not ``HP:`` and seven digits.
    """
    out: list[str] = []
    for term in terms:
        t = term.strip()
        if not HPO_TERM.fullmatch(t):
            raise InvalidInputError(
                f"HPO term {t!r} is not an HPO id: write HP: and seven digits (HP:0001250)"
            )
        if t not in out:
            out.append(t)
    return tuple(out)


_ZYG = {"het": "het", "hom_alt": "hom_alt", "hemi": "hemi", "hom_ref": "hom_ref"}


class CaseService:
    """Interpretation cases (see module doc)."""

    def __init__(
        self,
        catalog: Catalog,
        gate: Gate,
        keys: KeyStore,
        objects: ObjectService,
        references: ReferenceService,
        variants: VariantService,
        annotation: AnnotationService,
        workdir: Path,
        *,
        second_signer: bool = False,
        secondary_genes: Iterable[str] | None = None,
        ranker: Callable[[], Any] | None = None,
    ) -> None:
        self.catalog = catalog
        self.gate = gate
        self.keys = keys
        self.objects = objects
        self.references = references
        self.variants = variants
        self.annotation = annotation
        self.workdir = workdir
        self.second_signer = second_signer
        """Whether a report needs two geneticists' signatures."""
        self.secondary_genes = (
            frozenset(secondary_genes)
            if secondary_genes is not None
            else DEFAULT_SECONDARY_FINDINGS_GENES
        )
        self._ranker_factory = ranker
        self._ranker: Any = None

    # -- helpers --------------------------------------------------------------------------

    def _ranker_instance(self) -> Any:
        if self._ranker is None:
            if self._ranker_factory is not None:
                self._ranker = self._ranker_factory()
            else:
                from helgenom.adapters.annotation.phenotype import PhenotypeRanker

                self._ranker = PhenotypeRanker()
        return self._ranker

    def _case_row(self, conn: Connection, case_id: str) -> Any:
        row = conn.execute(sa.select(cases).where(cases.c.id == case_id)).first()
        if row is None:
            raise NotFoundError(f"no case {case_id}: see helgenom case list")
        return row

    def _case_facts(self, case_id: str) -> Any:
        with self.catalog.begin() as conn:
            return self._case_row(conn, case_id)

    def _authorise_case(self, ctx: RequestContext, action: Action, row: Any) -> None:
        """Policy check for the proband, then the case's own department (denied: audited)."""
        resource = f"case/{row.id}"
        self.gate.authorise(ctx, action, resource=resource, person=row.person_pseudonym)
        if ctx.actor.org_code != row.department_code:
            reason = f"case {row.id} belongs to another department"
            self.gate.record(
                ctx,
                action,
                resource,
                decision="deny",
                reason=reason,
                subjects={row.person_pseudonym},
            )
            raise PermissionDeniedError(f"{reason}: only the requesting department may see it")

    def _latest_analysis(self, conn: Connection, case_id: str) -> Any:
        return conn.execute(
            sa.select(case_analyses)
            .where(case_analyses.c.case_id == case_id)
            .order_by(case_analyses.c.id.desc())
            .limit(1)
        ).first()

    def _panel(
        self, conn: Connection, case: Any, locked: tuple[str, int] | None = None
    ) -> tuple[Any, Any] | None:
        """(panel row, Panel) of the case's panel: the ``locked`` (name, seq), else the newest
        version, by name or by linked indication."""
        adapters = annotation_adapters()
        row = None
        if locked is not None:
            row = conn.execute(
                sa.select(gene_panels)
                .where(gene_panels.c.name == locked[0])
                .where(gene_panels.c.seq == locked[1])
            ).first()
        if row is None and case.panel_name:
            row = conn.execute(
                sa.select(gene_panels)
                .where(gene_panels.c.name == case.panel_name)
                .order_by(gene_panels.c.seq.desc())
                .limit(1)
            ).first()
        if row is None and case.indication:
            for candidate in conn.execute(
                sa.select(gene_panels).order_by(gene_panels.c.name, gene_panels.c.seq.desc())
            ).all():
                doc = json.loads(candidate.document)
                if case.indication in doc.get("linked_indications", []):
                    row = candidate
                    break
        if row is None:
            return None
        return row, adapters.panels.parse_panel(json.loads(row.document), source=row.name)

    # -- create ---------------------------------------------------------------------------

    def create(
        self,
        ctx: RequestContext,
        requisition_id: str,
        *,
        ped_text: str | None = None,
        hpo_terms: Sequence[str] = (),
        panel: str | None = None,
    ) -> CaseRecord:
        """Open the case of a requisition: proband, parents (PED or trio order), HPO terms
        (``hpo_terms``, else those the order carried).

        Raises
        ------
        NotFoundError
            No such requisition, or a sample named in the PED does not exist.
        InvalidInputError
            No sample for the requisition yet, a bad PED or HPO term, a PED sex that
            contradicts the person's CPR-derived sex.
        ConflictError
            The requisition already has a case.
        PermissionDeniedError
            Not the requesting department's clinician or geneticist.
        """
        terms = check_hpo_terms(hpo_terms)
        with self.catalog.begin() as conn:
            req = conn.execute(
                sa.select(requisitions).where(requisitions.c.id == requisition_id)
            ).first()
        if req is None:
            raise NotFoundError(f"no requisition {requisition_id}")
        if not terms and req.hpo_terms:
            terms = check_hpo_terms(json.loads(req.hpo_terms))
        resource = f"requisition/{requisition_id}"
        self.gate.authorise(ctx, Action.CASE_CREATE, resource=resource, person=req.person_pseudonym)
        if ctx.actor.org_code != req.department_code:
            reason = f"requisition {requisition_id} is from another department"
            self.gate.record(
                ctx,
                Action.CASE_CREATE,
                resource,
                decision="deny",
                reason=reason,
                subjects={req.person_pseudonym},
            )
            raise PermissionDeniedError(reason)
        with self.gate.access(
            ctx, Action.CASE_CREATE, resource=resource, person=req.person_pseudonym
        ) as grant:
            conn = grant.conn
            if conn.execute(
                sa.select(cases.c.id).where(cases.c.requisition_id == requisition_id)
            ).first():
                raise ConflictError(
                    f"requisition {requisition_id} already has a case: see helgenom case list"
                )
            proband = self._sample_of(conn, requisition_id)
            if proband is None:
                raise InvalidInputError(
                    f"requisition {requisition_id} has no sample yet: register the sample "
                    "(helgenom sample register) before opening its case"
                )
            family = self._family(conn, req, proband, ped_text)
            for member in family[1:]:
                grant.subjects.add(member.person)
            indication = req.indication
            panel_name = panel
            if panel_name is None and indication:
                ind = conn.execute(
                    sa.select(indications.c.gene_panel)
                    .where(indications.c.code == indication)
                    .order_by(indications.c.version.desc())
                    .limit(1)
                ).first()
                panel_name = None if ind is None else str(ind.gene_panel)
            case_id = new_id("CASE")
            conn.execute(
                cases.insert().values(
                    id=case_id,
                    requisition_id=requisition_id,
                    proband_sample_id=proband,
                    person_pseudonym=req.person_pseudonym,
                    department_code=req.department_code,
                    indication=indication,
                    panel_name=panel_name,
                    family=json.dumps([m.asdict() for m in family]),
                    hpo_terms=json.dumps(list(terms)),
                    status="open",
                    created_at=_now(),
                    created_by=ctx.actor.name,
                    format_version=CASE_FORMAT_VERSION,
                )
            )
            kind = "trio" if len(family) == 3 else ("duo" if len(family) == 2 else "singleton")
            grant.note = f"case {case_id} ({kind}, {len(terms)} HPO terms)"
            row = self._case_row(conn, case_id)
        return _case_record(row)

    @staticmethod
    def _sample_of(conn: Connection, requisition_id: str) -> str | None:
        row = conn.execute(
            sa.select(samples.c.id)
            .where(samples.c.requisition_id == requisition_id)
            .where(samples.c.state != SampleState.CANCELLED.value)
            .order_by(samples.c.created_at.desc(), samples.c.id)
            .limit(1)
        ).first()
        return None if row is None else str(row.id)

    @staticmethod
    def _person_of(conn: Connection, sample_id: str) -> tuple[str, str] | None:
        row = conn.execute(
            sa.select(samples.c.person_pseudonym, persons.c.sex)
            .select_from(samples.join(persons))
            .where(samples.c.id == sample_id)
        ).first()
        return None if row is None else (str(row.person_pseudonym), str(row.sex))

    def _family(
        self, conn: Connection, req: Any, proband: str, ped_text: str | None
    ) -> list[FamilyMember]:
        facts = self._person_of(conn, proband)
        assert facts is not None
        if ped_text is None:
            members = [FamilyMember(proband, "proband", facts[1], True, facts[0])]
            linked = conn.execute(
                sa.select(requisitions.c.id, requisitions.c.relationship)
                .where(requisitions.c.proband_requisition_id == req.id)
                .where(requisitions.c.status != "cancelled")
            ).all()
            for link in sorted(linked, key=lambda r: str(r.relationship)):
                sample = self._sample_of(conn, str(link.id))
                if sample is None or link.relationship not in ("mother", "father"):
                    continue
                person = self._person_of(conn, sample)
                assert person is not None
                members.append(
                    FamilyMember(sample, str(link.relationship), person[1], None, person[0])
                )
            return _ordered(members)
        from helgenom.core.pedigree import Pedigree

        pedigree = Pedigree.from_text(ped_text)
        try:
            child = pedigree.get(proband)
        except (NotFoundError, InvalidInputError):
            raise InvalidInputError(
                f"the PED file has no individual {proband} (the requisition's sample): name "
                "the family's helgenom sample ids in column 2"
            ) from None
        members = [self._member(conn, child, "proband", req)]
        for relationship, parent in (
            ("mother", pedigree.mother_of(child)),
            ("father", pedigree.father_of(child)),
        ):
            if parent is not None:
                members.append(self._member(conn, parent, relationship, req))
        return _ordered(members)

    def _member(self, conn: Connection, ind: Any, relationship: str, req: Any) -> FamilyMember:
        from helgenom.services.gate import requisition_departments

        found = self._person_of(conn, ind.individual)
        if found is None:
            raise NotFoundError(
                f"PED individual {ind.individual} is not a helgenom sample: register the "
                "family member's sample first and name it by its sample id"
            )
        person, sex = found
        if relationship != "proband" and req.department_code not in requisition_departments(
            conn, person
        ):
            raise PermissionDeniedError(
                f"sample {ind.individual} belongs to a person without a requisition from "
                f"department {req.department_code}: order the family member's sequencing first"
            )
        ped_sex = ind.sex.value
        if ped_sex != "unknown" and sex in ("male", "female") and ped_sex != sex:
            raise InvalidInputError(
                f"the PED file gives sample {ind.individual} sex {ped_sex} but the person's "
                f"registered sex is {sex}: correct the PED file"
            )
        sex_used = sex if sex in ("male", "female") else ped_sex
        return FamilyMember(ind.individual, relationship, sex_used, ind.affected, person)

    # -- read -----------------------------------------------------------------------------

    def show(self, ctx: RequestContext, case_id: str) -> tuple[CaseRecord, AnalysisRecord | None]:
        """The case and its latest analysis (the department's clinicians and geneticists)."""
        row = self._case_facts(case_id)
        self._authorise_case(ctx, Action.CASE_READ, row)
        with self.gate.access(
            ctx, Action.CASE_READ, resource=f"case/{case_id}", person=row.person_pseudonym
        ) as grant:
            analysis = self._latest_analysis(grant.conn, case_id)
            grant.note = "case and candidates" if analysis is not None else "case"
        return _case_record(row), None if analysis is None else _analysis_record(analysis)

    def list_cases(self, ctx: RequestContext) -> list[CaseRecord]:
        """The cases of the actor's own department (its clinicians and geneticists)."""
        from helgenom.core.access import POLICY

        if ctx.actor.role not in POLICY[Action.CASE_READ]:
            reason = f"role {ctx.actor.role.value} may not {Action.CASE_READ.value}"
            self.gate.record(ctx, Action.CASE_READ, "cases", decision="deny", reason=reason)
            raise PermissionDeniedError(reason)
        with self.catalog.begin() as conn:
            rows = conn.execute(
                sa.select(cases)
                .where(cases.c.department_code == ctx.actor.org_code)
                .order_by(cases.c.created_at, cases.c.id)
            ).all()
        self.gate.record(
            ctx,
            Action.CASE_READ,
            "cases",
            subjects={str(r.person_pseudonym) for r in rows},
            decision="allow",
            reason=f"{len(rows)} case(s) of department {ctx.actor.org_code}",
        )
        return [_case_record(r) for r in rows]

    # -- analyse --------------------------------------------------------------------------

    def analyse(
        self,
        ctx: RequestContext,
        case_id: str,
        *,
        settings: AnalysisSettings | None = None,
        reason: str = "analyse",
        latest_panel: bool = False,
        progress: Callable[[str], None] | None = None,
    ) -> AnalysisRecord:
        """Analyse the case against the genome database and the current knowledge.

        The first analysis locks the panel version in use; a later ``analyse`` keeps it
        (``latest_panel`` moves to the newest version), re-analysis always takes the newest.

        Raises
        ------
        NotFoundError
            No such case, no panel, no gene models, or a family sample not ingested.
        PermissionDeniedError
            Not a geneticist of the case's department.
        """
        row = self._case_facts(case_id)
        self._authorise_case(ctx, Action.CASE_ANALYSE, row)
        chosen = settings or AnalysisSettings()
        locked = None
        if reason == "analyse" and not latest_panel:
            with self.catalog.begin() as conn:
                previous = self._latest_analysis(conn, case_id)
            if previous is not None:
                panel = json.loads(previous.versions).get("panel", {})
                locked = (str(panel["name"]), int(panel["seq"])) if panel else None
        result, versions, summary = self._run_analysis(
            row, chosen, progress or (lambda _: None), locked
        )
        with self.gate.access(
            ctx, Action.CASE_ANALYSE, resource=f"case/{case_id}", person=row.person_pseudonym
        ) as grant:
            family = json.loads(row.family)
            grant.subjects.update(m["person"] for m in family)
            inserted = grant.conn.execute(
                case_analyses.insert().values(
                    case_id=case_id,
                    analysed_at=_now(),
                    analysed_by=ctx.actor.name,
                    reason=reason,
                    panel_version=versions.get("panel", {}).get("version"),
                    versions=json.dumps(versions, sort_keys=True),
                    summary=json.dumps(summary, sort_keys=True),
                    candidates=json.dumps(result, sort_keys=True),
                    format_version=ANALYSIS_FORMAT_VERSION,
                )
            )
            if reason == "analyse" and row.status == "open":
                grant.conn.execute(
                    cases.update().where(cases.c.id == case_id).values(status="analysed")
                )
            grant.note = (
                f"{reason}: {summary['counts'].get('input', 0)} proband variants in panel "
                f"genes, {len(result['candidates'])} candidates"
            )
            key = inserted.inserted_primary_key
            assert key is not None
            analysis_id = key[0]
            stored = grant.conn.execute(
                sa.select(case_analyses).where(case_analyses.c.id == analysis_id)
            ).one()
        return _analysis_record(stored)

    def _run_analysis(
        self,
        case: Any,
        settings: AnalysisSettings,
        progress: Callable[[str], None],
        locked: tuple[str, int] | None = None,
    ) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        """The analysis itself (no catalog writes): candidates, versions, summary."""
        from helgenom.core import interpretation

        adapters = annotation_adapters()
        family = [FamilyMember(**m) for m in json.loads(case.family)]
        proband = family[0]
        mother = next((m for m in family if m.relationship == "mother"), None)
        father = next((m for m in family if m.relationship == "father"), None)
        relatives = [m for m in (mother, father) if m is not None]
        with self.catalog.begin() as conn:
            found = self._panel(conn, case, locked)
            if found is None:
                raise NotFoundError(
                    f"no gene panel for case {case.id} (panel {case.panel_name or 'none'}, "
                    f"indication {case.indication or 'none'}): load it with helgenom panel load "
                    "FILE.json"
                )
            panel_row, panel = found
            commit, sexes, _ = self.variants.family_view(conn, [m.sample_id for m in family])
            consent = derive_state(load_consent(conn, proband.person))
        genes_source = self.annotation.current_source("genes")
        assert genes_source is not None
        clinvar = self.annotation.current_source("clinvar", required=False)
        populations = self.annotation.populations()
        _, info = self.references.resolve(genes_source.build)
        gene_info = {
            g.gene_symbol: GeneInfo(
                g.gene_symbol, g.hgnc_id, g.confidence, g.mode_of_inheritance, g.loss_of_function
            )
            for g in panel.genes
            if g.confidence != "red"
        }
        allowed = {"green"} if settings.green_only else {"green", "amber"}
        wanted = {s for s, g in gene_info.items() if g.confidence in allowed}
        screen_secondary = consent.secondary_findings
        secondary = set(self.secondary_genes) if screen_secondary else set()
        genes_version = adapters.sources.get_version(
            self.annotation.root, "genes", genes_source.version
        )
        spans = adapters.genes.gene_spans(genes_version)
        missing_genes = sorted(wanted - set(spans))
        chosen_spans = {g: s for g, s in spans.items() if g in wanted | secondary}

        progress("reading the family's calls")
        engine = self.variants.engine()
        sites = engine.family_sites(
            commit.snapshot, proband.sample_id, [m.sample_id for m in relatives]
        )
        unexplained, informative = adapters.casework.unexplained_fraction(sites, len(relatives))
        fraction = unexplained / informative if informative else None
        parentage = fraction is not None and fraction <= settings.parentage_max_unexplained
        in_genes = adapters.casework.restrict_to_genes(sites, chosen_spans)
        ids = sorted(set(in_genes.column("variant_id").to_pylist()))

        progress(f"annotating {len(ids)} variants in {len(chosen_spans)} genes")
        with tempfile.TemporaryDirectory(dir=self._work()) as tmp:
            csq = adapters.casework.consequences(
                ids, info.fasta_path, adapters.genes.gff3_path(genes_version), Path(tmp)
            )
        progress("frequencies and ClinVar")
        national = {}
        if ids:
            with self.catalog.begin() as conn:
                national = self.variants.national_frequencies(
                    conn, commit, ids, [m.sample_id for m in family]
                )
        external: dict[str, dict[str, dict[str, Any]]] = {}
        for pop in populations:
            name = pop.source.split("/", 1)[1]
            external[name] = adapters.casework.population_afs(
                self.annotation.root, name, pop.version, ids
            )
        hits = (
            adapters.casework.clinvar_hits(self.annotation.root, clinvar.version, ids)
            if clinvar is not None
            else {}
        )
        records = self._records(
            in_genes, csq, national, external, hits, clinvar, relatives, sexes, adapters
        )
        ranker_scores: dict[str, float] = {}
        terms = json.loads(case.hpo_terms)
        if terms:
            progress("ranking genes by phenotype")
            ranked = self._ranker_instance().rank(
                terms, sorted({r.gene for r in records if r.gene})
            )
            ranker_scores = {g.gene: g.score for g in ranked}
        overrides = self._overrides(case.id)
        proband_sex = _sex(proband.sex)
        fam = Family(
            proband_sex=proband_sex,
            mother_affected=None if mother is None else mother.affected,
            father_affected=None if father is None else father.affected,
            trio=mother is not None and father is not None,
            parentage_confirmed=parentage,
        )
        result = interpretation.analyse(
            records,
            gene_info,
            fam,
            settings,
            phenotype_scores=ranker_scores,
            overrides=overrides,
            secondary_genes=frozenset(secondary),
        )
        candidates = []
        for c in result.candidates:
            item = c.asdict()
            item["hgnc_id"] = gene_info[c.record.gene or ""].hgnc_id
            candidates.append(item)
        secondary_items = [c.asdict() for c in result.secondary_findings]
        versions = {
            "panel": {"name": panel_row.name, "version": panel_row.version, "seq": panel_row.seq},
            "genes": genes_source.version,
            "clinvar": None if clinvar is None else clinvar.version,
            "populations": {p.source.split("/", 1)[1]: p.version for p in populations},
            "variant_commit": commit.seq,
            "reference": genes_source.build,
            "settings": settings.asdict(),
            "helgenom": __version__,
        }
        summary = {
            "counts": dict(result.counts),
            "proband_variants_genome_wide": sites.num_rows,
            "unexplained_by_parents": unexplained,
            "parents_called": informative,
            "unexplained_fraction": fraction,
            "parentage_confirmed": parentage,
            "genes_without_model": missing_genes,
            "secondary_findings_screened": screen_secondary,
            "hpo_terms": terms,
        }
        return {"candidates": candidates, "secondary_findings": secondary_items}, versions, summary

    def _work(self) -> Path:
        self.workdir.mkdir(mode=0o700, parents=True, exist_ok=True)
        return self.workdir

    def _records(
        self,
        in_genes: Any,
        csq: Mapping[tuple[str, str], Mapping[str, Any]],
        national: Mapping[str, tuple[int, int]],
        external: Mapping[str, Mapping[str, Mapping[str, Any]]],
        hits: Mapping[str, list[Mapping[str, Any]]],
        clinvar: _Source | None,
        relatives: Sequence[FamilyMember],
        sexes: Mapping[str, str],
        adapters: Any,
    ) -> list[SiteRecord]:
        from helgenom.adapters.variants.engine import PAR_X, PAR_Y
        from helgenom.core.inheritance import ContigKind, SiteCall, Zygosity

        out: list[SiteRecord] = []
        seen: set[tuple[str, str]] = set()
        residue_cache: dict[tuple[str, int], list[dict[str, Any]]] = {}
        for row in in_genes.to_pylist():
            vid, gene = row["variant_id"], row["span_gene"]
            if (vid, gene) in seen:
                continue
            seen.add((vid, gene))
            contig, pos, ref, alt = adapters.casework.split_id(vid)
            ann = csq.get((vid, gene)) or {}
            alt_count, ploidy = int(row["call_alt_count"]), int(row["call_ploidy"])
            if ploidy == 1:
                zyg = Zygosity.HEMI
            elif alt_count >= ploidy:
                zyg = Zygosity.HOM_ALT
            else:
                zyg = Zygosity.HET
            ad_ref, ad_alt = row["call_ad_ref"], row["call_ad_alt"]
            ab = (
                ad_alt / (ad_ref + ad_alt)
                if ad_ref is not None and ad_alt is not None and ad_ref + ad_alt > 0
                else None
            )
            proband = SiteCall(zyg, row["call_gq"], row["call_dp"], ab)
            parent_calls: dict[str, SiteCall | None] = {"mother": None, "father": None}
            for i, member in enumerate(relatives):
                state = str(row[f"r{i}_state"])
                z = Zygosity(_ZYG.get(state, "no_call"))
                if z is Zygosity.HEMI and member.relationship == "mother":
                    z = Zygosity.NO_CALL
                parent_calls[member.relationship] = SiteCall(z, row[f"r{i}_gq"], row[f"r{i}_dp"])
            kind = _contig_kind(contig, ContigKind)
            par = PAR_X if kind is ContigKind.X else PAR_Y if kind is ContigKind.Y else ()
            in_par = any(a <= pos <= b for a, b in par)
            freqs: dict[str, float | None] = {}
            ac_an = national.get(vid)
            freqs["national"] = ac_an[0] / ac_an[1] if ac_an and ac_an[1] > 0 else None
            homs = 0
            for name, table in external.items():
                hit = table.get(vid)
                freqs[name] = None if hit is None or hit.get("af") is None else float(hit["af"])
                if hit is not None and hit.get("nhomalt"):
                    homs += int(hit["nhomalt"])
            clin = tuple(
                ClinvarHit(
                    str(h.get("clinvar_id") or h.get("variant_id")),
                    str(h.get("clnsig") or ""),
                    bool(h.get("pathogenic")),
                    h.get("review_stars"),
                )
                for h in hits.get(vid, [])
            )
            known: tuple[acmg.KnownVariant, ...] = ()
            position = adapters.casework.protein_position(ann.get("amino_acid_change"))
            if clinvar is not None and position is not None and ann.get("hgvs_p"):
                key = (gene, position)
                if key not in residue_cache:
                    residue_cache[key] = adapters.casework.clinvar_residue(
                        self.annotation.root, clinvar.version, gene, position, ann.get("transcript")
                    )
                known = tuple(
                    acmg.KnownVariant(
                        str(k["variant_id"]),
                        str(k["variant_id"]),
                        str(k.get("hgvs_p") or ""),
                        bool(k.get("pathogenic")),
                    )
                    for k in residue_cache[key]
                    if k["variant_id"] != vid and k.get("hgvs_p")
                )
            out.append(
                SiteRecord(
                    variant_id=vid,
                    contig=contig,
                    pos=pos,
                    ref=ref,
                    alt=alt,
                    contig_kind=kind,
                    in_par=in_par,
                    proband=proband,
                    mother=parent_calls["mother"],
                    father=parent_calls["father"],
                    gene=gene,
                    transcript=ann.get("transcript"),
                    consequences=tuple(ann.get("consequence") or ()),
                    impact=str(ann.get("impact") or "MODIFIER"),
                    hgvs_c=ann.get("hgvs_c"),
                    hgvs_p=ann.get("hgvs_p"),
                    frequencies=freqs,
                    population_homozygotes=homs,
                    clinvar=clin,
                    residue_known=known,
                )
            )
        return out

    def _overrides(
        self, case_id: str, conn: Connection | None = None
    ) -> dict[str, list[acmg.Override]]:
        query = (
            sa.select(case_overrides)
            .where(case_overrides.c.case_id == case_id)
            .order_by(case_overrides.c.id)
        )
        if conn is not None:
            rows = conn.execute(query).all()
        else:
            with self.catalog.begin() as own:
                rows = own.execute(query).all()
        out: dict[str, list[acmg.Override]] = {}
        for r in rows:
            out.setdefault(str(r.variant_id), []).append(
                acmg.Override(
                    acmg.Criterion(r.criterion),
                    acmg.OverrideAction(r.action),
                    None if r.strength is None else acmg.Strength(r.strength),
                    str(r.justification),
                    str(r.actor),
                    r.at,
                )
            )
        return out

    # -- classification overrides ---------------------------------------------------------

    def classify(
        self,
        ctx: RequestContext,
        case_id: str,
        variant_id: str,
        criterion: str,
        *,
        action: str = "add",
        strength: str | None = None,
        justification: str,
    ) -> Mapping[str, Any]:
        """Add, remove or re-weight an ACMG criterion of a candidate, with a justification.

        The candidate's classification is recombined at once; the override is kept
        (append-only) and applies to every later analysis of the case.

        Raises
        ------
        InvalidInputError
            Unknown criterion, action or strength; too short a justification; a variant
            that is not a candidate of the latest analysis.
        """
        try:
            code = acmg.Criterion(criterion.upper())
        except ValueError:
            raise InvalidInputError(
                f"unknown ACMG criterion {criterion!r}: one of "
                f"{', '.join(c.value for c in acmg.Criterion)}"
            ) from None
        try:
            act = acmg.OverrideAction(action)
        except ValueError:
            raise InvalidInputError(
                f"unknown action {action!r}: add, remove or change_strength"
            ) from None
        try:
            weight = None if strength is None else acmg.Strength(strength)
        except ValueError:
            raise InvalidInputError(
                f"unknown strength {strength!r}: one of {', '.join(s.value for s in acmg.Strength)}"
            ) from None
        if len(justification.strip()) < MIN_JUSTIFICATION:
            raise InvalidInputError(
                f"give a justification of at least {MIN_JUSTIFICATION} characters: it is kept "
                "with the classification and in the audit log"
            )
        row = self._case_facts(case_id)
        self._authorise_case(ctx, Action.CASE_CLASSIFY, row)
        now = _now()
        override = acmg.Override(code, act, weight, justification.strip(), ctx.actor.name, now)
        with self.gate.access(
            ctx, Action.CASE_CLASSIFY, resource=f"case/{case_id}", person=row.person_pseudonym
        ) as grant:
            analysis = self._latest_analysis(grant.conn, case_id)
            if analysis is None:
                raise InvalidInputError(
                    f"case {case_id} has not been analysed: run helgenom case analyse first"
                )
            stored = json.loads(analysis.candidates)
            items = [*stored.get("candidates", []), *stored.get("secondary_findings", [])]
            target = next((c for c in items if c["variant_id"] == variant_id), None)
            if target is None:
                raise InvalidInputError(
                    f"{variant_id} is not a candidate of case {case_id}'s latest analysis"
                )
            previous = self._overrides(case_id, grant.conn).get(variant_id, [])
            automatic = [_evidence(e) for e in target["automatic_evidence"]]
            try:
                final, combined = classify(automatic, [*previous, override])
            except InvalidInputError as exc:
                raise InvalidInputError(f"cannot apply the override: {exc}") from None
            grant.conn.execute(
                case_overrides.insert().values(
                    case_id=case_id,
                    variant_id=variant_id,
                    criterion=code.value,
                    action=act.value,
                    strength=None if weight is None else weight.value,
                    justification=override.justification,
                    at=now,
                    actor=ctx.actor.name,
                )
            )
            before = target["classification"]
            target["evidence"] = [e.asdict() for e in final]
            target["criteria"] = [e.label() for e in final]
            target["classification"] = combined.classification.value
            target["rule"] = combined.rule
            stored["candidates"] = _rerank(stored.get("candidates", []))
            grant.conn.execute(
                case_analyses.update()
                .where(case_analyses.c.id == analysis.id)
                .values(candidates=json.dumps(stored, sort_keys=True))
            )
            grant.note = (
                f"{variant_id}: {act.value} {code.value}"
                + (f" ({weight.value})" if weight else "")
                + f"; {before} -> {combined.classification.value}; justification: "
                + override.justification[:200]
            )
        return dict(target)

    # -- sign and report ------------------------------------------------------------------

    def _check_family_qc(self, case: Any) -> None:
        """No report is signed on a genome that failed QC: a failed coverage, mapping or
        sex check can hide a variant, fake a de novo or belong to another person.

        Raises
        ------
        ConflictError
            A family member's sample is ``qc_failed`` (the message names the member, its
            sample and the way on).
        """
        family = json.loads(case.family)
        with self.catalog.begin() as conn:
            rows = conn.execute(
                sa.select(samples.c.id, samples.c.state).where(
                    samples.c.id.in_([m["sample_id"] for m in family])
                )
            ).all()
        states: dict[str, str] = {str(r.id): str(r.state) for r in rows}
        failed = [m for m in family if states.get(m["sample_id"]) == SampleState.QC_FAILED.value]
        if failed:
            names = ", ".join(f"{m['relationship']} {m['sample_id']}" for m in failed)
            raise ConflictError(
                f"case {case.id} cannot be signed: {names} failed QC (see helgenom pipeline qc "
                "SAMPLE); sequence the sample again, or open the case without that member"
            )

    def sign(
        self,
        ctx: RequestContext,
        case_id: str,
        *,
        conclusion: str | None = None,
        variants: Sequence[str] | None = None,
    ) -> ReportRecord:
        """Sign the case's report; with a second signer configured, the second signature
        (another geneticist) issues it.

        The issued report is rendered as a FHIR ``DiagnosticReport`` bundle, HTML and PDF,
        stored encrypted for the proband's sample, and the sample moves to ``reported``.

        Raises
        ------
        InvalidInputError
            Not analysed yet; a chosen variant that is not a candidate.
        ConflictError
            Already reported, or the same geneticist signing twice.
        """
        row = self._case_facts(case_id)
        self._authorise_case(ctx, Action.CASE_SIGN, row)
        if row.status == "reported":
            raise ConflictError(f"case {case_id} is already reported: see helgenom case report")
        now = _now()
        signer = {
            "name": ctx.actor.name,
            "role": ctx.actor.role.value,
            "signed_at": now.isoformat(),
        }
        with self.catalog.begin() as conn:
            draft = conn.execute(
                sa.select(case_reports)
                .where(case_reports.c.case_id == case_id)
                .where(case_reports.c.status == "awaiting_second_signature")
            ).first()
            analysis = self._latest_analysis(conn, case_id)
        if analysis is None:
            raise InvalidInputError(
                f"case {case_id} has not been analysed: run helgenom case analyse"
            )
        self._check_family_qc(row)
        if draft is not None:
            signers = json.loads(draft.signers)
            if any(s["name"] == ctx.actor.name for s in signers):
                raise ConflictError(
                    f"{ctx.actor.name} already signed the report of case {case_id}: the second "
                    "signature must come from another geneticist"
                )
            return self._issue(ctx, row, draft, [*signers, signer])
        stored = _analysis_record(analysis)
        chosen = _choose_variants(stored.candidates, variants)
        overall = overall_of(c["classification"] for c in chosen).value
        text = conclusion or _default_conclusion(chosen, overall)
        with self.gate.access(
            ctx, Action.CASE_SIGN, resource=f"case/{case_id}", person=row.person_pseudonym
        ) as grant:
            version = (
                grant.conn.execute(
                    sa.select(sa.func.max(case_reports.c.version)).where(
                        case_reports.c.case_id == case_id
                    )
                ).scalar()
                or 0
            ) + 1
            report_id = new_id("RPT")
            grant.conn.execute(
                case_reports.insert().values(
                    id=report_id,
                    case_id=case_id,
                    analysis_id=stored.analysis_id,
                    version=version,
                    status="awaiting_second_signature",
                    overall=overall,
                    conclusion=text,
                    variants=json.dumps([c["variant_id"] for c in chosen]),
                    signers=json.dumps([signer]),
                    created_at=now,
                )
            )
            if self.second_signer:
                grant.conn.execute(
                    cases.update()
                    .where(cases.c.id == case_id)
                    .values(status="awaiting_second_signature")
                )
                grant.note = f"report {report_id} v{version} signed; awaiting a second signer"
            else:
                grant.note = f"report {report_id} v{version} signed"
            draft = grant.conn.execute(
                sa.select(case_reports).where(case_reports.c.id == report_id)
            ).one()
        if self.second_signer:
            return _report_record(draft)
        return self._issue(ctx, row, draft, [signer])

    def _issue(
        self,
        ctx: RequestContext,
        case: Any,
        draft: Any,
        signers: list[dict[str, Any]],
    ) -> ReportRecord:
        """Render, sign, store and deliver the report; move the sample to reported."""
        from helgenom.adapters.reporting import fhir_report, html, pdf
        from helgenom.core import reports

        with self.catalog.begin() as conn:
            analysis = _analysis_record(
                conn.execute(
                    sa.select(case_analyses).where(case_analyses.c.id == draft.analysis_id)
                ).one()
            )
            department = conn.execute(
                sa.select(organisations.c.name).where(organisations.c.code == case.department_code)
            ).scalar()
            req = conn.execute(
                sa.select(requisitions).where(requisitions.c.id == case.requisition_id)
            ).one()
            indication_name = None
            if case.indication:
                indication_name = conn.execute(
                    sa.select(indications.c.name)
                    .where(indications.c.code == case.indication)
                    .order_by(indications.c.version.desc())
                    .limit(1)
                ).scalar()
            consent = derive_state(load_consent(conn, case.person_pseudonym))
        chosen_ids = json.loads(draft.variants)
        by_id = {c["variant_id"]: c for c in analysis.candidates}
        chosen = [by_id[v] for v in chosen_ids if v in by_id]
        secondary = list(analysis.secondary_findings) if consent.secondary_findings else []
        issued = _now()
        doc = reports.ReportDocument(
            report_id=str(draft.id),
            case_id=str(case.id),
            version=int(draft.version),
            status="final",
            issued_at=issued,
            patient_pseudonym=str(case.person_pseudonym),
            requisition_id=str(case.requisition_id),
            order_key=req.order_key,
            department_code=str(case.department_code),
            department_name=str(department or case.department_code),
            indication_code=case.indication,
            indication_name=indication_name,
            panel_name=analysis.versions.get("panel", {}).get("name"),
            panel_version=analysis.versions.get("panel", {}).get("version"),
            hpo_terms=tuple((t, _hpo_label(t)) for t in json.loads(case.hpo_terms)),
            family=tuple(
                reports.FamilyMember(m["sample_id"], m["relationship"], m["sex"], m["affected"])
                for m in json.loads(case.family)
            ),
            overall=str(draft.overall),
            conclusion=str(draft.conclusion),
            variants=tuple(_reported(c, reports) for c in chosen),
            secondary_findings=tuple(_reported(c, reports) for c in secondary),
            methods=_methods(analysis),
            limitations=_LIMITATIONS,
            data_versions=_data_versions(analysis.versions),
            signers=tuple(
                reports.Signer(s["name"], s["role"], dt.datetime.fromisoformat(s["signed_at"]))
                for s in signers
            ),
        )
        digest = reports.report_digest(doc)
        signature = self._sign_digest(digest)
        with tempfile.TemporaryDirectory(dir=self._work()) as tmp:
            folder = Path(tmp)
            paths = {
                "fhir": folder / f"{draft.id}.fhir.json",
                "html": folder / f"{draft.id}.html",
                "pdf": folder / f"{draft.id}.pdf",
            }
            bundle = fhir_report.to_fhir_bundle(doc, digest=digest, signature=signature)
            paths["fhir"].write_text(json.dumps(bundle, indent=2, sort_keys=True), encoding="utf-8")
            paths["html"].write_text(html.to_html(doc, digest=digest), encoding="utf-8")
            paths["pdf"].write_bytes(pdf.to_pdf(doc, digest=digest))
            stored: dict[str, str] = {}
            for name, path in paths.items():
                put = self.objects.put(
                    ctx,
                    path,
                    sample_id=str(case.proband_sample_id),
                    kind=ObjectKind.REPORT,
                    provenance={
                        "source": "clinical report",
                        "case_id": str(case.id),
                        "report_id": str(draft.id),
                        "report_version": int(draft.version),
                        "rendering": name,
                        "digest": digest,
                    },
                    action=Action.CASE_SIGN,
                )
                stored[name] = put.record.object_id
        with self.gate.access(
            ctx, Action.CASE_SIGN, resource=f"case/{case.id}", person=case.person_pseudonym
        ) as grant:
            grant.conn.execute(
                case_reports.update()
                .where(case_reports.c.id == draft.id)
                .values(
                    status="final",
                    signers=json.dumps(signers),
                    digest=digest,
                    signature=signature,
                    fhir_object=stored["fhir"],
                    html_object=stored["html"],
                    pdf_object=stored["pdf"],
                    issued_at=issued,
                )
            )
            grant.conn.execute(
                cases.update().where(cases.c.id == case.id).values(status="reported")
            )
            state = grant.conn.execute(
                sa.select(samples.c.state).where(samples.c.id == case.proband_sample_id)
            ).scalar()
            targets = {
                SampleState.QC_PASSED.value: [SampleState.INTERPRETED, SampleState.REPORTED],
                SampleState.INTERPRETED.value: [SampleState.REPORTED],
            }.get(str(state), [])
            if targets:
                move_sample(
                    grant.conn,
                    ctx.actor.name,
                    str(case.proband_sample_id),
                    targets,
                    f"report {draft.id} issued",
                )
            grant.note = (
                f"report {draft.id} v{draft.version} issued ({doc.overall}, "
                f"{len(doc.variants)} variant(s), signed by {len(signers)}); digest {digest[:16]}"
                + ("" if targets else f"; sample stays {state}")
            )
            row = grant.conn.execute(
                sa.select(case_reports).where(case_reports.c.id == draft.id)
            ).one()
        return _report_record(row)

    def _sign_digest(self, digest: str) -> str:
        """The instance's ES256 signature of a report digest (base64)."""
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec

        pem = self.keys.load_token_signing_pem().reveal()
        key = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ConfigurationError("the token-signing key is not an EC key")
        signature = key.sign(bytes.fromhex(digest), ec.ECDSA(hashes.SHA256()))
        return base64.b64encode(signature).decode("ascii")

    def reports(self, ctx: RequestContext, case_id: str) -> list[ReportRecord]:
        """The reports of a case (the requesting department)."""
        row = self._case_facts(case_id)
        self._authorise_case(ctx, Action.REPORT_READ, row)
        with self.gate.access(
            ctx, Action.REPORT_READ, resource=f"case/{case_id}", person=row.person_pseudonym
        ) as grant:
            rows = grant.conn.execute(
                sa.select(case_reports)
                .where(case_reports.c.case_id == case_id)
                .order_by(case_reports.c.version)
            ).all()
            grant.note = f"{len(rows)} report(s) listed"
        return [_report_record(r) for r in rows]

    def report(
        self,
        ctx: RequestContext,
        case_id: str,
        out: Path,
        *,
        fmt: str = "pdf",
        version: int | None = None,
        force: bool = False,
    ) -> ReportRecord:
        """Decrypt an issued report to ``out`` for the requesting department (audited)."""
        if fmt not in REPORT_FORMATS:
            raise InvalidInputError(f"unknown report format {fmt!r}: pdf, html or fhir")
        row = self._case_facts(case_id)
        self._authorise_case(ctx, Action.REPORT_READ, row)
        with self.catalog.begin() as conn:
            query = (
                sa.select(case_reports)
                .where(case_reports.c.case_id == case_id)
                .where(case_reports.c.status == "final")
            )
            if version is not None:
                query = query.where(case_reports.c.version == version)
            found = conn.execute(query.order_by(case_reports.c.version.desc()).limit(1)).first()
        if found is None:
            raise NotFoundError(
                f"case {case_id} has no issued report"
                + (f" version {version}" if version is not None else "")
                + ": it is issued when the geneticist(s) sign (helgenom case sign)"
            )
        record = _report_record(found)
        object_id = record.objects[fmt]
        assert object_id is not None
        self.objects.get(ctx, object_id, out, force=force, action=Action.REPORT_READ)
        return record

    # -- re-analysis ----------------------------------------------------------------------

    def reanalyse(
        self,
        ctx: RequestContext,
        *,
        case_id: str | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> ReanalysisReport:
        """Re-run the signed cases of the actor's department whose knowledge changed.

        A case is re-run when the current panel, ClinVar or population versions differ
        from those of the analysis its last report was signed on; it is listed when a
        classification or the top of the candidate list changed, with whether the
        patient agreed to be recontacted.
        """
        with self.catalog.begin() as conn:
            query = sa.select(cases).where(cases.c.status == "reported")
            query = query.where(cases.c.department_code == ctx.actor.org_code)
            if case_id is not None:
                query = query.where(cases.c.id == case_id)
            rows = conn.execute(query.order_by(cases.c.id)).all()
        if case_id is not None and not rows:
            row = self._case_facts(case_id)
            self._authorise_case(ctx, Action.CASE_ANALYSE, row)
            raise InvalidInputError(f"case {case_id} has no issued report to re-analyse")
        report = ReanalysisReport()
        for row in rows:
            self._authorise_case(ctx, Action.CASE_ANALYSE, row)
            with self.catalog.begin() as conn:
                signed = conn.execute(
                    sa.select(case_analyses)
                    .join(case_reports, case_reports.c.analysis_id == case_analyses.c.id)
                    .where(case_reports.c.case_id == row.id)
                    .where(case_reports.c.status == "final")
                    .order_by(case_reports.c.version.desc())
                    .limit(1)
                ).first()
                panel = self._panel(conn, row)
            if signed is None:
                continue
            old = _analysis_record(signed)
            current = {
                "panel": None if panel is None else (panel[0].name, panel[0].version),
                "clinvar": getattr(
                    self.annotation.current_source("clinvar", required=False), "version", None
                ),
                "populations": {p.source: p.version for p in self.annotation.populations()},
            }
            before = {
                "panel": (old.versions["panel"]["name"], old.versions["panel"]["version"]),
                "clinvar": old.versions.get("clinvar"),
                "populations": {
                    f"population/{k}": v for k, v in old.versions.get("populations", {}).items()
                },
            }
            if current == before:
                report.unchanged_versions.append(str(row.id))
                continue
            if progress:
                progress(f"re-analysing {row.id}")
            settings = AnalysisSettings.from_dict(old.versions.get("settings", {}))
            new = self.analyse(ctx, str(row.id), settings=settings, reason="reanalyse")
            report.analysed.append(str(row.id))
            changes = compare_analyses(old.candidates, new.candidates)
            if changes:
                with self.catalog.begin() as conn:
                    consent = derive_state(load_consent(conn, row.person_pseudonym))
                report.changed.append(
                    ReanalysisChange(
                        str(row.id),
                        str(row.department_code),
                        tuple(changes),
                        consent.recontact,
                        {k: old.versions.get(k) for k in ("panel", "clinvar", "populations")},
                        {k: new.versions.get(k) for k in ("panel", "clinvar", "populations")},
                    )
                )
        return report


# -- module helpers ----------------------------------------------------------------------------


def _ordered(members: list[FamilyMember]) -> list[FamilyMember]:
    order = {"proband": 0, "mother": 1, "father": 2}
    return sorted(members, key=lambda m: order.get(m.relationship, 9))


def _sex(text: str) -> Any:
    from helgenom.core.pedigree import Sex

    try:
        return Sex(text)
    except ValueError:
        return Sex.UNKNOWN


def _contig_kind(contig: str, kinds: Any) -> Any:
    name = contig[3:] if contig.startswith("chr") else contig
    if name == "X":
        return kinds.X
    if name == "Y":
        return kinds.Y
    if name in ("M", "MT"):
        return kinds.MT
    return kinds.AUTOSOME


def _evidence(data: Mapping[str, Any]) -> acmg.Evidence:
    return acmg.Evidence(
        acmg.Criterion(data["code"]),
        acmg.Strength(data["strength"]),
        str(data["rule"]),
        dict(data.get("data", {})),
    )


def _rerank(candidates: list[dict[str, Any]]) -> list[dict[str, Any]]:
    from helgenom.core.interpretation import rank_key

    ordered = sorted(
        candidates,
        key=lambda c: rank_key(
            c["classification"],
            (m["certainty"] for m in c.get("modes", [])),
            float(c.get("phenotype_score") or 0.0),
            str(c.get("impact") or ""),
            c["variant_id"],
        ),
    )
    for i, c in enumerate(ordered):
        c["rank"] = i + 1
    return ordered


def _choose_variants(
    candidates: Sequence[Mapping[str, Any]], chosen: Sequence[str] | None
) -> list[Mapping[str, Any]]:
    by_id = {c["variant_id"]: c for c in candidates}
    if chosen is not None:
        missing = [v for v in chosen if v not in by_id]
        if missing:
            raise InvalidInputError(
                f"{', '.join(missing)} are not candidates of the latest analysis: choose among "
                "helgenom case candidates CASE"
            )
        return [by_id[v] for v in chosen]
    picked = [c for c in candidates if c["classification"] in ("pathogenic", "likely_pathogenic")]
    if not picked:
        picked = [c for c in candidates[:3] if c["classification"] == "uncertain_significance"]
    return picked


def _default_conclusion(chosen: Sequence[Mapping[str, Any]], overall: str) -> str:
    if not chosen:
        return (
            "No pathogenic, likely pathogenic or uncertain variant was found in the genes of "
            "the panel that fits the family's inheritance pattern."
        )
    parts = []
    for c in chosen:
        modes = ", ".join(m["mode"].replace("_", " ") for m in c.get("modes", []))
        change = c.get("hgvs_p") or c.get("hgvs_c") or c["variant_id"]
        parts.append(
            f"{c.get('gene')} {change} ({c['zygosity']}, {modes or 'mode not determined'}): "
            f"{c['classification'].replace('_', ' ')}"
        )
    lead = {
        "positive": "A genetic diagnosis is supported.",
        "inconclusive": "Variants of uncertain significance were found.",
    }.get(overall, "No diagnosis.")
    return lead + " " + "; ".join(parts) + "."


def _reported(c: Mapping[str, Any], reports: Any) -> Any:
    modes = c.get("modes", [])
    mode = modes[0]["mode"] if modes else None
    mother, father = c.get("mother"), c.get("father")
    carriers = ("het", "hom_alt", "hemi")
    if mode == "de_novo":
        origin = "de novo"
    elif mother in carriers and father in carriers:
        origin = "biparental"
    elif mother in carriers:
        origin = "maternal"
    elif father in carriers:
        origin = "paternal"
    else:
        origin = "unknown"
    return reports.ReportedVariant(
        variant_id=c["variant_id"],
        contig=c["contig"],
        position=int(c["pos"]),
        ref=c["ref"],
        alt=c["alt"],
        gene=c.get("gene") or "",
        hgnc_id=c.get("hgnc_id"),
        transcript=c.get("transcript"),
        hgvs_c=c.get("hgvs_c"),
        hgvs_p=c.get("hgvs_p"),
        consequences=tuple(c.get("consequences", [])),
        zygosity=c["zygosity"] if c["zygosity"] in ("het", "hom_alt", "hemi") else "het",
        inheritance=mode if mode != "x_linked_recessive_homozygous" else "x_linked_hemizygous",
        origin=origin,
        classification=c["classification"],
        criteria=tuple(c.get("criteria", [])),
        evidence=tuple(str(e["rule"]) for e in c.get("evidence", [])),
        secondary_finding=bool(c.get("secondary_finding")),
    )


def _hpo_label(term: str) -> str:
    try:
        from helgenom.adapters.annotation.phenotype import ontology

        return str(ontology().get_hpo_object(term).name)
    except Exception:
        return term


def _methods(analysis: AnalysisRecord) -> str:
    s = analysis.versions.get("settings", {})
    return (
        "Whole-genome sequencing; calls and reference blocks from the national genome "
        "database (variant commit "
        f"{analysis.versions.get('variant_commit')}). Consequences by bcftools csq on the "
        "instance's gene models; national frequencies with the family left out; ClinVar and "
        "population frequencies as loaded. Filters: allele frequency <= "
        f"{s.get('max_af')} (ClinVar pathogenic <= {s.get('max_af_clinvar')}), impact "
        f"{'/'.join(s.get('impacts', []))}, proband GQ >= {s.get('min_gq')}, DP >= "
        f"{s.get('min_dp')}, allele balance {s.get('min_allele_balance')}-"
        f"{s.get('max_allele_balance')}; panel genes "
        f"({'green' if s.get('green_only', True) else 'green and amber'}); inheritance by the "
        "family's genotypes (de novo needs both parents proven homozygous reference by "
        "coverage). Variants classified by the ACMG/AMP 2015 rules; HPO similarity ranks genes."
    )


_LIMITATIONS = (
    "Only the genes of the panel (and, when consented, the secondary-findings genes) were "
    "interpreted. Structural variants, repeat expansions, low-level mosaicism and regions "
    "without coverage are not assessed. Classifications reflect the knowledge versions named "
    "in this report and may change; re-analysis is run when new versions are loaded."
)


def _data_versions(versions: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    out = [
        ("reference", str(versions.get("reference"))),
        ("gene models", f"v{versions.get('genes')}"),
        (
            "panel",
            f"{versions.get('panel', {}).get('name')} {versions.get('panel', {}).get('version')}",
        ),
        ("clinvar", "none" if versions.get("clinvar") is None else f"v{versions['clinvar']}"),
    ]
    for name, v in sorted(versions.get("populations", {}).items()):
        out.append((f"population {name}", f"v{v}"))
    out.append(("genome database commit", str(versions.get("variant_commit"))))
    out.append(("helgenom", str(versions.get("helgenom"))))
    return tuple(out)


__all__ = [
    "CASE_FORMAT_VERSION",
    "REPORT_FORMATS",
    "AnalysisRecord",
    "AnalysisSettings",
    "AnnotationService",
    "CaseRecord",
    "CaseService",
    "FamilyMember",
    "PanelRecord",
    "ReanalysisChange",
    "ReanalysisReport",
    "ReportRecord",
    "SourceRecord",
    "annotation_adapters",
    "check_hpo_terms",
]
