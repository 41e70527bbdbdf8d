"""national genome database: variant table commits, ingests and named releases

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "variant_commits",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("snapshot", sa.Text(), nullable=False),
        sa.Column("committed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("committed_by", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("format_version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_variant_commits")),
    )
    op.create_table(
        "variant_releases",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("commit_seq", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["commit_seq"],
            ["variant_commits.seq"],
            name=op.f("fk_variant_releases_commit_seq_variant_commits"),
        ),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_variant_releases")),
    )
    op.create_table(
        "variant_ingests",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("sample_id", sa.String(length=40), nullable=False),
        sa.Column("input_sha256", sa.String(length=64), nullable=False),
        sa.Column("object_id", sa.String(length=40), nullable=True),
        sa.Column("source_name", sa.String(length=255), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("variants_new", sa.Integer(), nullable=True),
        sa.Column("calls", sa.Integer(), nullable=True),
        sa.Column("ref_blocks", sa.Integer(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_by", sa.String(length=64), nullable=False),
        sa.Column("committed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("commit_seq", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("format_version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["commit_seq"],
            ["variant_commits.seq"],
            name=op.f("fk_variant_ingests_commit_seq_variant_commits"),
        ),
        sa.ForeignKeyConstraint(
            ["sample_id"], ["samples.id"], name=op.f("fk_variant_ingests_sample_id_samples")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_variant_ingests")),
        sa.UniqueConstraint("sample_id", "input_sha256", name=op.f("uq_variant_ingests_sample_id")),
    )
    op.create_index(op.f("ix_variant_ingests_sample_id"), "variant_ingests", ["sample_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_variant_ingests_sample_id"), table_name="variant_ingests")
    op.drop_table("variant_ingests")
    op.drop_table("variant_releases")
    op.drop_table("variant_commits")
