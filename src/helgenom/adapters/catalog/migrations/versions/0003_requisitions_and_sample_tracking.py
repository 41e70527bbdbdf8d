"""requisitions from FHIR, the indication catalogue and sample tracking

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_PG_FUNCTION = """
CREATE OR REPLACE FUNCTION helgenom_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'table % is append-only', TG_TABLE_NAME;
END;
$$ LANGUAGE plpgsql
"""


def upgrade() -> None:
    op.create_table(
        "indications",
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("gene_panel", sa.String(length=200), nullable=False),
        sa.Column("departments", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("loaded_by", sa.String(length=64), nullable=False),
        sa.Column("format_version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("code", "version", name=op.f("pk_indications")),
    )
    op.create_table(
        "sample_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("sample_id", sa.String(length=40), nullable=False),
        sa.Column("from_state", sa.String(length=16), nullable=True),
        sa.Column("to_state", sa.String(length=16), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["sample_id"], ["samples.id"], name=op.f("fk_sample_events_sample_id_samples")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sample_events")),
    )
    op.create_index(op.f("ix_sample_events_sample_id"), "sample_events", ["sample_id"])

    # New, nullable columns: plain ADD COLUMN on both backends (SQLite accepts an inline
    # REFERENCES clause on a column whose default is NULL), so no table is rebuilt.
    op.add_column("requisitions", sa.Column("indication_version", sa.Integer(), nullable=True))
    op.add_column("requisitions", sa.Column("priority", sa.String(length=8), nullable=True))
    op.add_column("requisitions", sa.Column("relationship", sa.String(length=16), nullable=True))
    op.add_column("requisitions", sa.Column("order_key", sa.String(length=255), nullable=True))
    if op.get_bind().dialect.name == "sqlite":
        op.execute(
            "ALTER TABLE requisitions ADD COLUMN proband_requisition_id VARCHAR(40) "
            "CONSTRAINT fk_requisitions_proband_requisition_id_requisitions "
            "REFERENCES requisitions (id)"
        )
    else:
        op.add_column(
            "requisitions",
            sa.Column("proband_requisition_id", sa.String(length=40), nullable=True),
        )
        op.create_foreign_key(
            op.f("fk_requisitions_proband_requisition_id_requisitions"),
            "requisitions",
            "requisitions",
            ["proband_requisition_id"],
            ["id"],
        )
    op.create_index(
        "ux_requisitions_order_key",
        "requisitions",
        ["department_code", "order_key"],
        unique=True,
    )

    # Samples made before sample tracking get their creation as the first event.
    op.execute(
        "INSERT INTO sample_events (sample_id, from_state, to_state, at, actor, reason) "
        "SELECT id, NULL, state, created_at, 'helgenom', 'recorded before sample tracking' "
        "FROM samples"
    )
    _append_only("sample_events")
    _append_only("indications")


def _append_only(table: str) -> None:
    """Refuse UPDATE and DELETE on ``table``: history is added to, never rewritten."""
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute(_PG_FUNCTION)
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION helgenom_append_only()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION helgenom_append_only()"
        )
    elif dialect == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, 'table {table} is append-only'); END"
            )


def downgrade() -> None:
    op.drop_index("ux_requisitions_order_key", table_name="requisitions")
    with op.batch_alter_table("requisitions", schema=None) as batch_op:
        batch_op.drop_column("proband_requisition_id")
        batch_op.drop_column("order_key")
        batch_op.drop_column("relationship")
        batch_op.drop_column("priority")
        batch_op.drop_column("indication_version")
    op.drop_index(op.f("ix_sample_events_sample_id"), table_name="sample_events")
    op.drop_table("sample_events")
    op.drop_table("indications")
