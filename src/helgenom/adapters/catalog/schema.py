"""Catalog tables (SQLAlchemy Core). Alembic migrations create exactly these."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UtcDateTime(TypeDecorator[dt.datetime]):
    """A timezone-aware UTC datetime on every backend (SQLite stores naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; use UTC-aware datetimes")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(
        self, value: dt.datetime | None, dialect: Dialect
    ) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


instance_meta = Table(
    "instance_meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

organisations = Table(
    "organisations",
    metadata,
    Column("code", String(32), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)

principals = Table(
    "principals",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("role", String(16), nullable=False),
    Column("org_code", String(32), ForeignKey("organisations.code"), nullable=False),
    Column("person_pseudonym", String(40), ForeignKey("persons.pseudonym"), nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("created_by", String(64), nullable=True),
)

persons = Table(
    "persons",
    metadata,
    Column("pseudonym", String(40), primary_key=True),
    Column("cpr_ciphertext", Text, nullable=False),
    Column("sex", String(8), nullable=False),
    Column("birth_year", Integer, nullable=False),
    Column("region", String(64), nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
)

consent_events = Table(
    "consent_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "person_pseudonym", String(40), ForeignKey("persons.pseudonym"), nullable=False, index=True
    ),
    Column("recorded_at", UtcDateTime, nullable=False),
    Column("source", String(32), nullable=False),
    Column("actor", String(64), nullable=False),
    Column("research", String(16), nullable=True),
    Column("secondary_findings", Boolean, nullable=True),
    Column("recontact", Boolean, nullable=True),
)

requisitions = Table(
    "requisitions",
    metadata,
    Column("id", String(40), primary_key=True),
    Column(
        "person_pseudonym", String(40), ForeignKey("persons.pseudonym"), nullable=False, index=True
    ),
    Column("department_code", String(32), ForeignKey("organisations.code"), nullable=False),
    Column("indication", String(64), nullable=True),
    Column("status", String(16), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("created_by", String(64), nullable=False),
    Column("indication_version", Integer, nullable=True),
    Column("priority", String(8), nullable=True),
    Column("relationship", String(16), nullable=True),
    Column("order_key", String(255), nullable=True),
    Column("proband_requisition_id", String(40), ForeignKey("requisitions.id"), nullable=True),
    Column("hpo_terms", Text, nullable=True),
    Index("ux_requisitions_order_key", "department_code", "order_key", unique=True),
)
"""Orders from hospital departments: one row per sequenced person.

A submitted FHIR ServiceRequest gives one row for the proband (``relationship``
``proband``, ``order_key`` from the resource, for duplicate detection) and one per
family member of a trio (``proband_requisition_id`` names the proband's row), so the
requesting department's care team reaches every person of the order; ``hpo_terms`` is the
JSON list of the proband's HPO codes from the order (for the interpretation case). Rows made by
``requisition create`` leave the new columns empty.
"""

projects = Table(
    "projects",
    metadata,
    Column("code", String(32), primary_key=True),
    Column("title", String(300), nullable=False),
    Column("status", String(16), nullable=False),
    Column("applicant", String(64), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("decided_by", String(64), nullable=True),
    Column("decided_at", UtcDateTime, nullable=True),
    Column("expires_at", UtcDateTime, nullable=True),
)

project_members = Table(
    "project_members",
    metadata,
    Column("project_code", String(32), ForeignKey("projects.code"), primary_key=True),
    Column("principal_name", String(64), ForeignKey("principals.name"), primary_key=True),
)

samples = Table(
    "samples",
    metadata,
    Column("id", String(40), primary_key=True),
    Column(
        "person_pseudonym", String(40), ForeignKey("persons.pseudonym"), nullable=False, index=True
    ),
    Column("origin", String(16), nullable=False),
    Column("origin_project", String(32), ForeignKey("projects.code"), nullable=True),
    Column("requisition_id", String(40), ForeignKey("requisitions.id"), nullable=True),
    Column("state", String(16), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column(
        "seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False
    ),
    Column("occurred_at", String(32), nullable=False),
    Column("actor", String(64), nullable=False),
    Column("role", String(16), nullable=False),
    Column("org", String(32), nullable=False),
    Column("purpose", String(32), nullable=False),
    Column("action", String(64), nullable=False),
    Column("resource", String(200), nullable=False),
    Column("subjects", Text, nullable=False),
    Column("decision", String(8), nullable=False),
    Column("reason", Text, nullable=False),
    Column("project", String(32), nullable=True),
    Column("previous_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)

audit_subjects = Table(
    "audit_subjects",
    metadata,
    Column("person_pseudonym", String(40), primary_key=True),
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
)
"""Index of audit entries by person, for the citizen's "who used my data" view."""

audit_head = Table(
    "audit_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), nullable=False),
    Column("hash", String(64), nullable=False),
    Column("mac", String(64), nullable=False),
)

objects = Table(
    "objects",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("sample_id", String(40), ForeignKey("samples.id"), nullable=False, index=True),
    Column("person_pseudonym", String(40), ForeignKey("persons.pseudonym"), nullable=False),
    Column("plaintext_sha256", String(64), nullable=False),
    Column("plaintext_size", BigInteger, nullable=False),
    Column("ciphertext_sha256", String(64), nullable=False),
    Column("ciphertext_size", BigInteger, nullable=False),
    Column("header", LargeBinary, nullable=False),
    Column("key_id", String(32), nullable=False, index=True),
    Column("body_key", String(200), nullable=False),
    Column("state", String(16), nullable=False),
    Column("provenance", Text, nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("created_by", String(64), nullable=False),
    Column("deleted_at", UtcDateTime, nullable=True),
    Column("deleted_by", String(64), nullable=True),
    Column("format_version", Integer, nullable=False),
    Column("tag_sha256", String(64), nullable=True),
)
"""Every stored object: checksums, the Crypt4GH header (apart from the body), provenance.
``tag_sha256`` is the SHA-256 of the body's segment MACs in order (checked on every read;
objects stored before revision 0008 have none, and reads check ``ciphertext_sha256``)."""

indications = Table(
    "indications",
    metadata,
    Column("code", String(32), primary_key=True),
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("name", String(200), nullable=False),
    Column("gene_panel", String(200), nullable=False),
    Column("departments", Text, nullable=False),
    Column("active", Boolean, nullable=False),
    Column("loaded_at", UtcDateTime, nullable=False),
    Column("loaded_by", String(64), nullable=False),
    Column("format_version", Integer, nullable=False),
)
"""The indication catalogue, every version kept (append-only); ``departments`` is a JSON list."""

sample_events = Table(
    "sample_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("sample_id", String(40), ForeignKey("samples.id"), nullable=False, index=True),
    Column("from_state", String(16), nullable=True),
    Column("to_state", String(16), nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("actor", String(64), nullable=False),
    Column("reason", Text, nullable=True),
)
"""Every state change of a sample, oldest first by (at, id); append-only; creation has no from."""

reference_genomes = Table(
    "reference_genomes",
    metadata,
    Column("build", String(64), primary_key=True),
    Column("sha256", String(64), nullable=False),
    Column("source_sha256", String(64), nullable=False, index=True),
    Column("contigs", Text, nullable=False),
    Column("contig_count", Integer, nullable=False),
    Column("total_length", BigInteger, nullable=False),
    Column("acgt_length", BigInteger, nullable=False),
    Column("folder", Text, nullable=False),
    Column("mappy_version", String(32), nullable=False),
    Column("loaded_at", UtcDateTime, nullable=False),
    Column("loaded_by", String(64), nullable=False),
    Column("format_version", Integer, nullable=False),
)
"""Registered reference genomes (public data), one per build name.

``sha256`` is the prepared FASTA's checksum (what runs record), ``source_sha256`` the
loaded file's (how a re-load is recognised); ``contigs`` is a JSON list of
``{"name", "length", "md5"}``; ``folder`` holds the FASTA and its indexes, relative to
the instance folder when inside it.
"""

pipeline_runs = Table(
    "pipeline_runs",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("sample_id", String(40), ForeignKey("samples.id"), nullable=False, index=True),
    Column("reference_build", String(64), ForeignKey("reference_genomes.build"), nullable=False),
    Column("reference_sha256", String(64), nullable=False),
    Column("caller", String(200), nullable=False),
    Column("executor", String(16), nullable=False),
    Column("cores", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("workdir", String(64), nullable=False),
    Column("resumed_from", String(40), ForeignKey("pipeline_runs.id"), nullable=True),
    Column("input_objects", Text, nullable=False),
    Column("started_at", UtcDateTime, nullable=False),
    Column("started_by", String(64), nullable=False),
    Column("finished_at", UtcDateTime, nullable=True),
    Column("executed_steps", Text, nullable=True),
    Column("error_step", String(32), nullable=True),
    Column("error_tool", String(100), nullable=True),
    Column("error_exit_code", Integer, nullable=True),
    Column("error_message", Text, nullable=True),
    Column("output_objects", Text, nullable=True),
    Column("qc_status", String(16), nullable=True),
    Column("qc_reason", Text, nullable=True),
    Column("format_version", Integer, nullable=False),
)
"""Every attempt to analyse a sample: configuration, outcome, products.

``status`` is ``running``, ``succeeded``, ``failed`` or ``interrupted``. A failed run
keeps its work folder (``HOME/work/WORKDIR``); the next run of the sample resumes in
it (``resumed_from``). ``input_objects`` and ``output_objects`` are JSON (the FASTQ
objects read; product name -> object id), ``executed_steps`` a JSON list.
"""

qc_metrics = Table(
    "qc_metrics",
    metadata,
    Column("run_id", String(40), ForeignKey("pipeline_runs.id"), primary_key=True),
    Column("name", String(64), primary_key=True),
    Column("position", Integer, nullable=False),
    Column("label", String(100), nullable=False),
    Column("value", Float, nullable=True),
    Column("observed", String(100), nullable=False),
    Column("threshold", String(100), nullable=False),
    Column("status", String(16), nullable=False),
    Column("detail", Text, nullable=False),
)
"""The QC verdict of a finished run, one row per check (see :mod:`helgenom.core.quality`)."""

variant_commits = Table(
    "variant_commits",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("snapshot", Text, nullable=False),
    Column("committed_at", UtcDateTime, nullable=False),
    Column("committed_by", String(64), nullable=False),
    Column("reason", Text, nullable=False),
    Column("format_version", Integer, nullable=False),
)
"""The visible states of the genome database, oldest first; the last one is current.

``snapshot`` is the JSON of the table versions (see
:class:`helgenom.adapters.variants.tables.Snapshot`). Rows written to the tables after
the last commit (an interrupted ingest) are invisible: every query reads a snapshot.
"""

variant_ingests = Table(
    "variant_ingests",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("sample_id", String(40), ForeignKey("samples.id"), nullable=False, index=True),
    Column("input_sha256", String(64), nullable=False),
    Column("object_id", String(40), nullable=True),
    Column("source_name", String(255), nullable=False),
    Column("status", String(16), nullable=False),
    Column("variants_new", Integer, nullable=True),
    Column("calls", Integer, nullable=True),
    Column("ref_blocks", Integer, nullable=True),
    Column("started_at", UtcDateTime, nullable=False),
    Column("started_by", String(64), nullable=False),
    Column("committed_at", UtcDateTime, nullable=True),
    Column("commit_seq", Integer, ForeignKey("variant_commits.seq"), nullable=True),
    Column("error", Text, nullable=True),
    Column("format_version", Integer, nullable=False),
    UniqueConstraint("sample_id", "input_sha256"),
)
"""One per sample and input file: ``writing`` (rows may be in the tables, invisible),
``committed`` (visible from ``commit_seq`` on) or ``failed`` (its rows were removed)."""

variant_releases = Table(
    "variant_releases",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("commit_seq", Integer, ForeignKey("variant_commits.seq"), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("created_by", String(64), nullable=False),
    Column("note", Text, nullable=False),
)
"""Named snapshots: a study names the release it used and can query it again."""

annotation_sources = Table(
    "annotation_sources",
    metadata,
    Column("source", String(80), primary_key=True),
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("label", String(100), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("reference_build", String(64), nullable=True),
    Column("folder", Text, nullable=False),
    Column("summary", Text, nullable=False),
    Column("loaded_at", UtcDateTime, nullable=False),
    Column("loaded_by", String(64), nullable=False),
)
"""Every loaded version of an annotation source (public data), append-only.

``source`` is ``clinvar``, ``population/NAME`` or ``genes`` (the gene models, a GFF3 of
the instance's reference build); ``version`` numbers the loads of one source (the
folder ``vNNNN``); ``summary`` is a JSON object of counts. A case analysis names the
versions it used, and loading a new ClinVar version is what re-analysis looks for.
"""

gene_panels = Table(
    "gene_panels",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("version", String(32), nullable=False),
    Column("document", Text, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("gene_count", Integer, nullable=False),
    Column("loaded_at", UtcDateTime, nullable=False),
    Column("loaded_by", String(64), nullable=False),
    UniqueConstraint("name", "version"),
)
"""Gene panels (PanelApp-style), every version kept; the latest ``seq`` is current.

An indication names its panel (``indications.gene_panel``); ``document`` is the
normalised panel JSON (see :mod:`helgenom.adapters.annotation.panels`).
"""

cases = Table(
    "cases",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("requisition_id", String(40), ForeignKey("requisitions.id"), nullable=False),
    Column("proband_sample_id", String(40), ForeignKey("samples.id"), nullable=False),
    Column(
        "person_pseudonym", String(40), ForeignKey("persons.pseudonym"), nullable=False, index=True
    ),
    Column("department_code", String(32), ForeignKey("organisations.code"), nullable=False),
    Column("indication", String(64), nullable=True),
    Column("panel_name", String(200), nullable=True),
    Column("family", Text, nullable=False),
    Column("hpo_terms", Text, nullable=False),
    Column("status", String(32), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("created_by", String(64), nullable=False),
    Column("format_version", Integer, nullable=False),
    Index("ux_cases_open_requisition", "requisition_id", unique=True),
)
"""One interpretation case per requisition: the proband, the family and the phenotype.

``family`` is a JSON list of ``{"sample_id", "relationship", "sex", "affected",
"person"}`` (proband first); ``hpo_terms`` a JSON list of HPO ids; ``status`` is
``open``, ``analysed``, ``awaiting_second_signature`` or ``reported``.
"""

case_analyses = Table(
    "case_analyses",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("case_id", String(40), ForeignKey("cases.id"), nullable=False, index=True),
    Column("analysed_at", UtcDateTime, nullable=False),
    Column("analysed_by", String(64), nullable=False),
    Column("reason", String(32), nullable=False),
    Column("panel_version", String(32), nullable=True),
    Column("versions", Text, nullable=False),
    Column("summary", Text, nullable=False),
    Column("candidates", Text, nullable=False),
    Column("format_version", Integer, nullable=False),
)
"""Every analysis of a case (the latest is current), with the data versions it locked.

``versions`` names the panel version, the ClinVar, population and gene-model versions,
the genome-database commit and the settings; ``candidates`` is the ranked candidate
list (JSON) with each variant's evidence; ``reason`` is ``analyse`` or ``reanalyse``.
"""

case_overrides = Table(
    "case_overrides",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("case_id", String(40), ForeignKey("cases.id"), nullable=False, index=True),
    Column("variant_id", String(300), nullable=False),
    Column("criterion", String(16), nullable=False),
    Column("action", String(16), nullable=False),
    Column("strength", String(16), nullable=True),
    Column("justification", Text, nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Column("actor", String(64), nullable=False),
)
"""A geneticist's additions, removals and re-weightings of ACMG criteria, append-only."""

case_reports = Table(
    "case_reports",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("case_id", String(40), ForeignKey("cases.id"), nullable=False, index=True),
    Column("analysis_id", Integer, ForeignKey("case_analyses.id"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("status", String(32), nullable=False),
    Column("overall", String(16), nullable=False),
    Column("conclusion", Text, nullable=False),
    Column("variants", Text, nullable=False),
    Column("signers", Text, nullable=False),
    Column("digest", String(64), nullable=True),
    Column("signature", Text, nullable=True),
    Column("fhir_object", String(40), ForeignKey("objects.id"), nullable=True),
    Column("html_object", String(40), ForeignKey("objects.id"), nullable=True),
    Column("pdf_object", String(40), ForeignKey("objects.id"), nullable=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("issued_at", UtcDateTime, nullable=True),
    UniqueConstraint("case_id", "version"),
)
"""Reports of a case: ``awaiting_second_signature`` until enough geneticists signed,
then ``final`` with the digest, the platform's ES256 signature of it and the three
renderings in the encrypted object store (FHIR JSON, HTML, PDF)."""

htsget_objects = Table(
    "htsget_objects",
    metadata,
    Column("object_id", String(40), ForeignKey("objects.id"), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("format", String(8), nullable=False),
    Column("index_object_id", String(40), ForeignKey("objects.id"), nullable=True),
    Column("header_end", BigInteger, nullable=False),
    Column("header_voffset", BigInteger, nullable=False),
    Column("data_end", BigInteger, nullable=False),
    Column("reference_names", Text, nullable=False),
    Column("registered_at", UtcDateTime, nullable=False),
    Column("registered_by", String(64), nullable=False),
    Column("format_version", Integer, nullable=False),
    UniqueConstraint("name", "format"),
)
"""Objects served over GA4GH htsget: the id clients ask for (``name``; several formats may
share one), the format, the index object, and what the ticket needs from the file's
layout: where the header blocks end (``header_end``, a block boundary; ``header_voffset``,
the BGZF virtual offset of the first record), where the data ends before the EOF marker
(``data_end``) and the reference names in the order the index numbers them (JSON list)."""
