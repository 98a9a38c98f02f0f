"""retraining policies

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 02:37:40.638572
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import inprod.store.tables

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "retraining_policies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("endpoint", sa.String(length=200), nullable=False),
        sa.Column("train", sa.String(length=400), nullable=False),
        sa.Column("triggers", inprod.store.tables.JSONType(none_as_null=True), nullable=False),
        sa.Column("approve", sa.String(length=20), nullable=False),
        sa.Column("settings", inprod.store.tables.JSONType(none_as_null=True), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("marks", inprod.store.tables.JSONType(none_as_null=True), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", inprod.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", inprod.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_retraining_policies")),
        sa.UniqueConstraint("endpoint", name=op.f("uq_retraining_policies_endpoint")),
    )
    with op.batch_alter_table("retraining_requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("policy_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("active_policy", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("updated_at", inprod.store.tables.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.create_index(
            batch_op.f("ix_retraining_requests_policy_id"), ["policy_id"], unique=False
        )
        batch_op.create_unique_constraint(
            batch_op.f("uq_retraining_requests_active_policy"), ["active_policy"]
        )


def downgrade() -> None:
    with op.batch_alter_table("retraining_requests", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_retraining_requests_active_policy"), type_="unique")
        batch_op.drop_index(batch_op.f("ix_retraining_requests_policy_id"))
        batch_op.drop_column("updated_at")
        batch_op.drop_column("active_policy")
        batch_op.drop_column("policy_id")

    op.drop_table("retraining_policies")
