"""window profiles

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 18:52:49.588054
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import inprod.store.tables

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "window_profiles",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("endpoint", sa.String(length=200), nullable=False),
        sa.Column("model_name", sa.String(length=200), nullable=False),
        sa.Column("model_version", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("window_start", inprod.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("window_s", sa.Integer(), nullable=False),
        sa.Column("replica", sa.String(length=64), nullable=False),
        sa.Column("instances", sa.BigInteger(), nullable=False),
        sa.Column("profile", inprod.store.tables.JSONType(none_as_null=True), nullable=False),
        sa.Column("updated_at", inprod.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_window_profiles")),
        sa.UniqueConstraint(
            "endpoint",
            "model_name",
            "model_version",
            "role",
            "window_start",
            "window_s",
            "replica",
            name=op.f(
                "uq_window_profiles_endpoint_model_name_model_version_role_window_start_window_s_replica"
            ),
        ),
    )
    with op.batch_alter_table("window_profiles", schema=None) as batch_op:
        batch_op.create_index(
            "ix_window_profiles_endpoint_start", ["endpoint", "window_start"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("window_profiles", schema=None) as batch_op:
        batch_op.drop_index("ix_window_profiles_endpoint_start")

    op.drop_table("window_profiles")
