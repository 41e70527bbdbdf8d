"""reference genomes, pipeline runs and their QC metrics

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-10
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reference_genomes",
        sa.Column("build", sa.String(length=64), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("source_sha256", sa.String(length=64), nullable=False),
        sa.Column("contigs", sa.Text(), nullable=False),
        sa.Column("contig_count", sa.Integer(), nullable=False),
        sa.Column("total_length", sa.BigInteger(), nullable=False),
        sa.Column("acgt_length", sa.BigInteger(), nullable=False),
        sa.Column("folder", sa.Text(), nullable=False),
        sa.Column("mappy_version", sa.String(length=32), nullable=False),
        sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("loaded_by", sa.String(length=64), nullable=False),
        sa.Column("format_version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("build", name=op.f("pk_reference_genomes")),
    )
    op.create_index(
        op.f("ix_reference_genomes_source_sha256"), "reference_genomes", ["source_sha256"]
    )
    op.create_table(
        "pipeline_runs",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("sample_id", sa.String(length=40), nullable=False),
        sa.Column("reference_build", sa.String(length=64), nullable=False),
        sa.Column("reference_sha256", sa.String(length=64), nullable=False),
        sa.Column("caller", sa.String(length=200), nullable=False),
        sa.Column("executor", sa.String(length=16), nullable=False),
        sa.Column("cores", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("workdir", sa.String(length=64), nullable=False),
        sa.Column("resumed_from", sa.String(length=40), nullable=True),
        sa.Column("input_objects", sa.Text(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_by", sa.String(length=64), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("executed_steps", sa.Text(), nullable=True),
        sa.Column("error_step", sa.String(length=32), nullable=True),
        sa.Column("error_tool", sa.String(length=100), nullable=True),
        sa.Column("error_exit_code", sa.Integer(), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("output_objects", sa.Text(), nullable=True),
        sa.Column("qc_status", sa.String(length=16), nullable=True),
        sa.Column("qc_reason", sa.Text(), nullable=True),
        sa.Column("format_version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["sample_id"], ["samples.id"], name=op.f("fk_pipeline_runs_sample_id_samples")
        ),
        sa.ForeignKeyConstraint(
            ["reference_build"],
            ["reference_genomes.build"],
            name=op.f("fk_pipeline_runs_reference_build_reference_genomes"),
        ),
        sa.ForeignKeyConstraint(
            ["resumed_from"],
            ["pipeline_runs.id"],
            name=op.f("fk_pipeline_runs_resumed_from_pipeline_runs"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pipeline_runs")),
    )
    op.create_index(op.f("ix_pipeline_runs_sample_id"), "pipeline_runs", ["sample_id"])
    op.create_table(
        "qc_metrics",
        sa.Column("run_id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=100), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("observed", sa.String(length=100), nullable=False),
        sa.Column("threshold", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["pipeline_runs.id"], name=op.f("fk_qc_metrics_run_id_pipeline_runs")
        ),
        sa.PrimaryKeyConstraint("run_id", "name", name=op.f("pk_qc_metrics")),
    )


def downgrade() -> None:
    op.drop_table("qc_metrics")
    op.drop_index(op.f("ix_pipeline_runs_sample_id"), table_name="pipeline_runs")
    op.drop_table("pipeline_runs")
    op.drop_index(op.f("ix_reference_genomes_source_sha256"), table_name="reference_genomes")
    op.drop_table("reference_genomes")
