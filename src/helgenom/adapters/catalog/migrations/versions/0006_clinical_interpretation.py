"""clinical interpretation: annotation sources, gene panels, cases, analyses, overrides, reports

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def _when(name: str, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    with op.batch_alter_table("requisitions") as batch:
        batch.add_column(sa.Column("hpo_terms", sa.Text(), nullable=True))
    op.create_table(
        "annotation_sources",
        sa.Column("source", sa.String(length=80), nullable=False),
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("label", sa.String(length=100), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("reference_build", sa.String(length=64), nullable=True),
        sa.Column("folder", sa.Text(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        _when("loaded_at"),
        sa.Column("loaded_by", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("source", "version", name=op.f("pk_annotation_sources")),
    )
    op.create_table(
        "gene_panels",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("version", sa.String(length=32), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("gene_count", sa.Integer(), nullable=False),
        _when("loaded_at"),
        sa.Column("loaded_by", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("name", "seq", name=op.f("pk_gene_panels")),
        sa.UniqueConstraint("name", "version", name=op.f("uq_gene_panels_name")),
    )
    op.create_table(
        "cases",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("requisition_id", sa.String(length=40), nullable=False),
        sa.Column("proband_sample_id", sa.String(length=40), nullable=False),
        sa.Column("person_pseudonym", sa.String(length=40), nullable=False),
        sa.Column("department_code", sa.String(length=32), nullable=False),
        sa.Column("indication", sa.String(length=64), nullable=True),
        sa.Column("panel_name", sa.String(length=200), nullable=True),
        sa.Column("family", sa.Text(), nullable=False),
        sa.Column("hpo_terms", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        _when("created_at"),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("format_version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["department_code"],
            ["organisations.code"],
            name=op.f("fk_cases_department_code_organisations"),
        ),
        sa.ForeignKeyConstraint(
            ["person_pseudonym"],
            ["persons.pseudonym"],
            name=op.f("fk_cases_person_pseudonym_persons"),
        ),
        sa.ForeignKeyConstraint(
            ["proband_sample_id"], ["samples.id"], name=op.f("fk_cases_proband_sample_id_samples")
        ),
        sa.ForeignKeyConstraint(
            ["requisition_id"],
            ["requisitions.id"],
            name=op.f("fk_cases_requisition_id_requisitions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cases")),
    )
    op.create_index(op.f("ix_cases_person_pseudonym"), "cases", ["person_pseudonym"])
    op.create_index("ux_cases_open_requisition", "cases", ["requisition_id"], unique=True)
    op.create_table(
        "case_analyses",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("case_id", sa.String(length=40), nullable=False),
        _when("analysed_at"),
        sa.Column("analysed_by", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("panel_version", sa.String(length=32), nullable=True),
        sa.Column("versions", sa.Text(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("candidates", sa.Text(), nullable=False),
        sa.Column("format_version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_case_analyses_case_id_cases")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_analyses")),
    )
    op.create_index(op.f("ix_case_analyses_case_id"), "case_analyses", ["case_id"])
    op.create_table(
        "case_overrides",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("case_id", sa.String(length=40), nullable=False),
        sa.Column("variant_id", sa.String(length=300), nullable=False),
        sa.Column("criterion", sa.String(length=16), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("strength", sa.String(length=16), nullable=True),
        sa.Column("justification", sa.Text(), nullable=False),
        _when("at"),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_case_overrides_case_id_cases")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_overrides")),
    )
    op.create_index(op.f("ix_case_overrides_case_id"), "case_overrides", ["case_id"])
    op.create_table(
        "case_reports",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("case_id", sa.String(length=40), nullable=False),
        sa.Column("analysis_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("overall", sa.String(length=16), nullable=False),
        sa.Column("conclusion", sa.Text(), nullable=False),
        sa.Column("variants", sa.Text(), nullable=False),
        sa.Column("signers", sa.Text(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=True),
        sa.Column("signature", sa.Text(), nullable=True),
        sa.Column("fhir_object", sa.String(length=40), nullable=True),
        sa.Column("html_object", sa.String(length=40), nullable=True),
        sa.Column("pdf_object", sa.String(length=40), nullable=True),
        _when("created_at"),
        _when("issued_at", nullable=True),
        sa.ForeignKeyConstraint(
            ["analysis_id"],
            ["case_analyses.id"],
            name=op.f("fk_case_reports_analysis_id_case_analyses"),
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_case_reports_case_id_cases")
        ),
        sa.ForeignKeyConstraint(
            ["fhir_object"], ["objects.id"], name=op.f("fk_case_reports_fhir_object_objects")
        ),
        sa.ForeignKeyConstraint(
            ["html_object"], ["objects.id"], name=op.f("fk_case_reports_html_object_objects")
        ),
        sa.ForeignKeyConstraint(
            ["pdf_object"], ["objects.id"], name=op.f("fk_case_reports_pdf_object_objects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_reports")),
        sa.UniqueConstraint("case_id", "version", name=op.f("uq_case_reports_case_id")),
    )
    op.create_index(op.f("ix_case_reports_case_id"), "case_reports", ["case_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_case_reports_case_id"), table_name="case_reports")
    op.drop_table("case_reports")
    op.drop_index(op.f("ix_case_overrides_case_id"), table_name="case_overrides")
    op.drop_table("case_overrides")
    op.drop_index(op.f("ix_case_analyses_case_id"), table_name="case_analyses")
    op.drop_table("case_analyses")
    op.drop_index("ux_cases_open_requisition", table_name="cases")
    op.drop_index(op.f("ix_cases_person_pseudonym"), table_name="cases")
    op.drop_table("cases")
    op.drop_table("gene_panels")
    op.drop_table("annotation_sources")
    with op.batch_alter_table("requisitions") as batch:
        batch.drop_column("hpo_terms")
