"""htsget objects: the ids, formats and indexes of objects served over GA4GH htsget

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "htsget_objects",
        sa.Column("object_id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("format", sa.String(length=8), nullable=False),
        sa.Column("index_object_id", sa.String(length=40), nullable=True),
        sa.Column("header_end", sa.BigInteger(), nullable=False),
        sa.Column("header_voffset", sa.BigInteger(), nullable=False),
        sa.Column("data_end", sa.BigInteger(), nullable=False),
        sa.Column("reference_names", sa.Text(), nullable=False),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("registered_by", sa.String(length=64), nullable=False),
        sa.Column("format_version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["object_id"], ["objects.id"], name=op.f("fk_htsget_objects_object_id_objects")
        ),
        sa.ForeignKeyConstraint(
            ["index_object_id"],
            ["objects.id"],
            name=op.f("fk_htsget_objects_index_object_id_objects"),
        ),
        sa.PrimaryKeyConstraint("object_id", name=op.f("pk_htsget_objects")),
        sa.UniqueConstraint("name", "format", name=op.f("uq_htsget_objects_name")),
    )


def downgrade() -> None:
    op.drop_table("htsget_objects")
